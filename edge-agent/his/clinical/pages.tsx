/** Pages of the doctor's and nurse's workstations (server-rendered, zh-CN first). */
import type { Child } from 'hono/jsx';
import { raw } from 'hono/html';
import type { RecordPayload } from '../../../contracts/index.ts';
import { Layout, type PageCtx } from '../../web/layout.tsx';
import { FREQUENCY, ROUTE, VITALS, doseUnits, parseSpec, rabiesActions, type DrugInfo, type Frequency, type Route } from './domain.ts';
import type { ExecTaskRow, QueueRow, VisitView } from './service.ts';
import { localDate, localStamp } from '../time.ts';
import { bwipJs } from '../../../contracts/runtime/lazy-libs.ts';

export const L = (ctx: PageCtx, zh: string, en: string) => (ctx.lang === 'en' ? en : zh);
const SEX: Record<string, [string, string]> = { '1': ['男', 'M'], '2': ['女', 'F'], '0': ['未知', '?'], '9': ['未说明', '-'] };
const sexOf = (ctx: PageCtx, s: string) => L(ctx, SEX[s]?.[0] ?? s, SEX[s]?.[1] ?? s);
export function age(birthDate: string, today: string): number | null {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(birthDate)) return null;
  let a = Number(today.slice(0, 4)) - Number(birthDate.slice(0, 4));
  if (today.slice(5) < birthDate.slice(5)) a--;
  return a;
}
const local = (iso: string | null | undefined) => (iso ? localStamp(iso).slice(0, 16) : '');
const yuan = (fen: number) => (fen / 100).toFixed(2);
/** UCUM units as staff write them. */
const UNIT_ZH: Record<string, string> = { Cel: '℃', 'mm[Hg]': 'mmHg', '/min': '次/分', 'kg/m2': 'kg/m²' };
export const unitText = (u: string) => UNIT_ZH[u] ?? u;

const STYLE = `
.cw-bar { display:flex; gap:18px; align-items:center; flex-wrap:wrap; background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 16px; margin-bottom:14px; }
.cw-bar .name { font-size:20px; font-weight:700; }
.cw-grid { display:grid; grid-template-columns: 1fr 1fr; gap:14px; }
.cw-grid .card { margin-bottom:0; }
.cw-wide { grid-column: 1 / -1; }
textarea { font:inherit; width:100%; padding:6px 8px; border:1px solid #b8c2cc; border-radius:5px; }
.field-error { color:var(--bad); font-size:13px; display:block; margin-top:2px; }
.inline { display:flex; gap:8px; flex-wrap:wrap; align-items:flex-end; }
.inline label { display:flex; flex-direction:column; font-size:13px; color:#3e4c59; }
.inline input, .inline select { width:auto; min-width:70px; }
.btn { display:inline-block; background:var(--blue); color:#fff; border:0; border-radius:5px; padding:6px 14px; font:inherit; cursor:pointer; text-decoration:none; }
.btn.small { padding:2px 10px; font-size:13px; } .btn.grey { background:#7b8794; } .btn.red { background:var(--bad); } .btn.green { background:var(--ok); }
.vbp { background:#e3f2fd; color:#0d47a1; border:1px solid #90caf9; border-radius:4px; padding:0 6px; font-size:12px; margin-left:4px; }
.warn-text { color:var(--warn); }
.remind { background:#fff4e5; border:1px solid #f0b429; border-radius:8px; padding:10px 16px; margin-bottom:14px; }
.labels { display:flex; flex-wrap:wrap; gap:10px; }
.btl { width:300px; border:1px dashed #52606d; border-radius:6px; padding:8px 10px; background:#fff; page-break-inside:avoid; }
.btl .bc svg { width:100%; height:56px; }
.btl .t { font-weight:700; }
.chart svg { max-width:100%; height:auto; }
@media print { header, .noprint, [data-testid=critical-banner] { display:none !important; } main { margin:0; max-width:none; } .btl { border:1px solid #000; } }
`;

export function barcodeSvg(text: string, height = 9): string {
  try {
    return bwipJs().toSVG({ bcid: 'code128', text, height, includetext: true, textxalign: 'center' });
  } catch {
    return `<svg xmlns="http://www.w3.org/2000/svg"><text y="14">${text.replace(/[<&>]/g, '')}</text></svg>`;
  }
}

function Shell(props: { ctx: PageCtx; title: string; children?: Child }) {
  return (
    <Layout ctx={props.ctx} title={props.title}>
      <style>{raw(STYLE)}</style>
      {props.children}
    </Layout>
  );
}

function Msg(props: { error?: string | undefined; notice?: string | undefined }) {
  return (
    <>
      {props.error && <div class="error" role="alert" data-testid="error">{props.error}</div>}
      {props.notice && <div class="notice" data-testid="notice">{props.notice}</div>}
    </>
  );
}

const FieldErr = (props: { errors?: Record<string, string> | undefined; name: string }) =>
  props.errors?.[props.name] ? <span class="field-error" data-testid={`err-${props.name}`}>{props.errors[props.name]}</span> : null;

const STATUS: Record<string, [string, string, string]> = {
  registered: ['候诊', 'waiting', 'warn'], 'in-visit': ['就诊中', 'in visit', 'ok'], finished: ['已完成', 'finished', ''],
};

// ------------------------------------------------------------------ doctor's queue

export function QueuePage(props: { ctx: PageCtx; date: string; rows: QueueRow[]; error?: string; notice?: string }) {
  const { ctx } = props;
  const waiting = props.rows.filter((r) => r.status === 'registered').length;
  return (
    <Shell ctx={ctx} title={L(ctx, '医生工作站', "Doctor's workstation")}>
      <div class="card">
        <h1>{L(ctx, '医生工作站 · 今日候诊', "Doctor's workstation · today's queue")} <span class="hint">{props.date}</span></h1>
        <Msg error={props.error} notice={props.notice} />
        <div class="grid">
          <div class="stat"><div class="label">{L(ctx, '候诊', 'Waiting')}</div><div class="value" data-testid="waiting">{waiting}</div></div>
          <div class="stat"><div class="label">{L(ctx, '就诊中', 'In visit')}</div><div class="value">{props.rows.filter((r) => r.status === 'in-visit').length}</div></div>
          <div class="stat"><div class="label">{L(ctx, '已完成', 'Finished')}</div><div class="value">{props.rows.filter((r) => r.status === 'finished').length}</div></div>
        </div>
        <form method="post" action="/clinic/doctor/call-next" class="noprint">
          <button class="primary" type="submit" data-testid="call-next" disabled={waiting === 0}>{L(ctx, '叫下一位', 'Call next patient')}</button>
        </form>
      </div>
      <div class="card">
        <table data-testid="queue">
          <thead><tr><th>{L(ctx, '序号', 'No.')}</th><th>{L(ctx, '姓名', 'Name')}</th><th>{L(ctx, '性别', 'Sex')}</th><th>{L(ctx, '年龄', 'Age')}</th><th>{L(ctx, '状态', 'Status')}</th><th></th></tr></thead>
          <tbody>
            {props.rows.length === 0 && <tr><td colspan={6} class="hint">{L(ctx, '今日暂无挂号患者', 'No patients registered today')}</td></tr>}
            {props.rows.map((r) => {
              const st = STATUS[r.status] ?? [r.status, r.status, ''];
              return (
                <tr data-testid={`queue-row-${r.queueNo}`}>
                  <td>{r.queueNo}</td>
                  <td>{r.name}{r.openAlerts > 0 && <span class="badge bad" style="margin-left:6px">{L(ctx, '危急值', 'critical')}</span>}</td>
                  <td>{sexOf(ctx, r.sex)}</td>
                  <td>{age(r.birthDate, props.date) ?? ''}</td>
                  <td><span class={`badge ${st[2]}`} style={st[2] ? '' : 'background:#7b8794'}>{L(ctx, st[0], st[1])}</span></td>
                  <td>
                    {r.status === 'registered' && <form method="post" action={`/clinic/doctor/visit/${r.registrationId}/start`} style="display:inline"><button class="btn small" type="submit">{L(ctx, '接诊', 'See')}</button></form>}
                    {r.status === 'in-visit' && <a class="btn small" href={`/clinic/visit/${r.registrationId}`}>{L(ctx, '继续就诊', 'Continue')}</a>}
                    {r.status === 'finished' && r.visitStatus && <a class="btn small grey" href={`/clinic/visit/${r.registrationId}`}>{L(ctx, '查看', 'View')}</a>}
                    {' '}<a href={`/clinic/residents/${encodeURIComponent(r.residentId)}/history`}>{L(ctx, '历史', 'History')}</a>
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
    </Shell>
  );
}

// ------------------------------------------------------------------ visit

export interface VisitPageProps {
  ctx: PageCtx;
  today: string;
  v: VisitView;
  alerts: { id: string; summary: string; raisedAt: string; ackedAt: string | null; ackedByName: string | null; readBack: string | null }[];
  icdResults?: { code: string; name: string; notifiable: string | null }[];
  icdQuery?: string;
  drugResults?: (DrugInfo & { stock: { actual: number; available: number } })[];
  drugQuery?: string;
  chosenDrug?: DrugInfo | null;
  rxForm?: Record<string, string>;
  labItems: { code: string; name: string; priceFen: number }[];
  procedures: { code: string; modality: string; zh: string; en: string }[];
  vitals?: Record<string, { value: number; unit: string; at: string }>;
  /** statuses of the signed orders (by order id) and of the prescription */
  orderStatuses?: Record<string, string>;
  prescriptionStatus?: string | null;
  charges?: { item_name: string; quantity: number; unit: string; amount_fen: number; status: string; category: string }[];
  imagingOrders?: { orderId: string; accessionNumber: string }[];
  error?: string;
  notice?: string;
  errors?: Record<string, string>;
}

export function PatientBar(props: { ctx: PageCtx; v: VisitView; today: string; vitals?: Record<string, { value: number; unit: string; at: string }> }) {
  const { ctx, v } = props;
  const vt = props.vitals ?? {};
  const vitalsText = VITALS.filter((d) => vt[d.code] && d.key !== 'diastolic').map((d) => d.key === 'systolic' && vt['8462-4']
    ? `${L(ctx, '血压', 'BP')} ${vt[d.code]!.value}/${vt['8462-4']!.value}mmHg` : `${L(ctx, d.zh, d.en)} ${vt[d.code]!.value}${unitText(d.unit)}`).join(' · ');
  const st = STATUS[v.registration.status] ?? [v.registration.status, v.registration.status, ''];
  return (
    <div class="cw-bar" data-testid="patient-bar">
      <span class="name">{v.resident.name}</span>
      <span>{sexOf(ctx, v.resident.sex)} · {age(v.resident.birthDate, props.today) ?? '?'}{L(ctx, '岁', ' y')}</span>
      <span class="hint">{L(ctx, '证件号', 'ID')} {v.resident.idNumber}</span>
      <span class="hint">{L(ctx, '序号', 'No.')} {v.registration.queue_no}</span>
      <span class={`badge ${st[2]}`} style={st[2] ? '' : 'background:#7b8794'}>{L(ctx, st[0], st[1])}</span>
      {vitalsText && <span class="hint" data-testid="today-vitals">{L(ctx, '今日体征', 'Today')}：{vitalsText}</span>}
      {v.visit.status === 'signed' && <span class="badge ok" data-testid="signed-badge">{L(ctx, '已签名', 'signed')} {local(v.visit.signed_at)}</span>}
      <a href={`/clinic/residents/${encodeURIComponent(v.resident.residentId)}/history`} style="margin-left:auto">{L(ctx, '既往史与检验趋势', 'History and trends')}</a>
      <a href="/clinic/doctor">{L(ctx, '返回候诊列表', 'Back to queue')}</a>
    </div>
  );
}

export function AlertsCard(props: { ctx: PageCtx; alerts: VisitPageProps['alerts']; action: string }) {
  const { ctx } = props;
  if (props.alerts.length === 0) return null;
  return (
    <div class="card" data-testid="visit-alerts" style="border-color:#c0392b">
      <h1 style="color:#c0392b">{L(ctx, '危急值', 'Critical values')}</h1>
      <table>
        <thead><tr><th>{L(ctx, '时间', 'Time')}</th><th>{L(ctx, '内容', 'Value')}</th><th>{L(ctx, '确认', 'Acknowledgement')}</th></tr></thead>
        <tbody>{props.alerts.map((a) => (
          <tr>
            <td>{local(a.raisedAt)}</td><td>{a.summary}</td>
            <td>{a.ackedAt ? <span data-testid="alert-acked">{a.ackedByName} {local(a.ackedAt)}：{a.readBack}</span> : (
              <form method="post" action={`${props.action}/${a.id}/ack`} class="inline">
                <input name="readBack" data-testid="alert-readback" placeholder={L(ctx, '复述：患者、项目、数值、处理', 'Read back: patient, test, value, action')} style="min-width:320px" required />
                <button class="btn red small" type="submit" data-testid="alert-ack">{L(ctx, '确认危急值', 'Acknowledge')}</button>
              </form>
            )}</td>
          </tr>
        ))}</tbody>
      </table>
    </div>
  );
}

function VoidOrder(props: { ctx: PageCtx; base: string; o: { lineId: string; orderId: string | null }; status: string | undefined }) {
  const { ctx } = props;
  if (!props.o.orderId || !props.status) return null;
  if (props.status === 'cancelled') return <span class="badge bad" data-testid={`void-${props.o.lineId}`}>{L(ctx, '已撤销', 'withdrawn')}</span>;
  // Under way or done (images received, the examination completed): no longer withdrawable.
  if (props.status === 'completed') return <span class="badge ok" data-testid={`order-state-${props.o.lineId}`}>{L(ctx, '已完成', 'completed')}</span>;
  if (props.status === 'in-progress') return <span class="badge warn" data-testid={`order-state-${props.o.lineId}`}>{L(ctx, '进行中', 'in progress')}</span>;
  return (
    <form method="post" action={`${props.base}/orders/${props.o.lineId}/void`} style="display:inline" class="noprint">
      <button class="btn small red" type="submit" data-testid="void-order">{L(ctx, '撤销', 'Withdraw')}</button>
    </form>
  );
}

function Specimen(props: { id: string }) {
  return <span class="bc" style="display:inline-block;width:190px" data-testid={`specimen-${props.id}`}>{raw(barcodeSvg(props.id, 7))}</span>;
}

export function VisitPage(props: VisitPageProps) {
  const { ctx, v } = props;
  const signed = v.visit.status === 'signed';
  const base = `/clinic/visit/${v.visit.registration_id}`;
  const e = props.errors ?? {};
  const f = props.rxForm ?? {};
  const chosen = props.chosenDrug ?? null;
  const units = chosen ? doseUnits(parseSpec(chosen.spec, chosen.unit), chosen.unit) : [];
  return (
    <Shell ctx={ctx} title={`${L(ctx, '就诊', 'Visit')} · ${v.resident.name}`}>
      <PatientBar ctx={ctx} v={v} today={props.today} vitals={props.vitals} />
      <Msg error={props.error} notice={props.notice} />
      <AlertsCard ctx={ctx} alerts={props.alerts} action={`${base}/alerts`} />
      {v.reminders.length > 0 && (
        <div class="remind" data-testid="infectious-reminder">
          <b>{L(ctx, '传染病报告提醒', 'Notifiable disease')}：</b>
          {v.reminders.map((r) => {
            const filed = v.reports.some((x) => x.kind === 'notifiable' && x.icd10Code === r.code.toUpperCase());
            return (
              <div>
                {r.code} {r.disease.zh}（{r.disease.cls === 'A' ? '甲类' : r.disease.cls === 'B' ? '乙类' : '丙类'}），{L(ctx, `须在 ${r.disease.hours} 小时内网络直报`, `report within ${r.disease.hours} h`)}
                {filed ? <span class="badge ok" style="margin-left:8px">{L(ctx, '已填报告卡', 'reported')}</span> : (
                  <form method="post" action={`${base}/reports`} class="inline" style="display:inline-flex;margin-left:8px">
                    <input type="hidden" name="kind" value="notifiable" /><input type="hidden" name="icd10Code" value={r.code} />
                    <label>{L(ctx, '发病日期', 'Onset')}<input type="date" name="onsetDate" value={props.today} /></label>
                    <button class="btn small red" type="submit" data-testid={`report-${r.code}`}>{L(ctx, '填写传染病报告卡', 'File the report card')}</button>
                  </form>
                )}
              </div>
            );
          })}
        </div>
      )}
      <div class="cw-grid">
        {/* SOAP note */}
        <div class="card">
          <h1>{L(ctx, '门诊病历', 'Visit note')}</h1>
          <form method="post" action={`${base}/note`} class="stack">
            <label for="chiefComplaint">{L(ctx, '主诉', 'Chief complaint')}</label>
            <textarea id="chiefComplaint" name="chiefComplaint" rows={2} disabled={signed}>{v.visit.chief_complaint}</textarea>
            <FieldErr errors={e} name="chiefComplaint" />
            <label for="subjective">{L(ctx, 'S 现病史', 'S Subjective')}</label>
            <textarea id="subjective" name="subjective" rows={3} disabled={signed}>{v.visit.subjective}</textarea>
            <label for="objective">{L(ctx, 'O 体格检查', 'O Objective')}</label>
            <textarea id="objective" name="objective" rows={2} disabled={signed}>{v.visit.objective}</textarea>
            <label for="assessment">{L(ctx, 'A 评估', 'A Assessment')}</label>
            <textarea id="assessment" name="assessment" rows={2} disabled={signed}>{v.visit.assessment}</textarea>
            <label for="plan">{L(ctx, 'P 处理意见', 'P Plan')}</label>
            <textarea id="plan" name="plan" rows={2} disabled={signed}>{v.visit.plan}</textarea>
            {!signed && <button class="btn" type="submit" data-testid="save-note" style="margin-top:8px">{L(ctx, '保存病历', 'Save note')}</button>}
          </form>
        </div>

        {/* diagnoses */}
        <div class="card" id="dx">
          <h1>{L(ctx, '诊断（ICD-10）', 'Diagnoses (ICD-10)')}</h1>
          <table data-testid="diagnoses">
            <tbody>
              {v.diagnoses.length === 0 && <tr><td class="hint">{L(ctx, '尚无诊断', 'No diagnosis yet')}</td></tr>}
              {v.diagnoses.map((d) => (
                <tr><td>{d.code}</td><td>{d.name}{d.primary && <span class="badge ok" style="margin-left:6px">{L(ctx, '主要诊断', 'primary')}</span>}</td>
                  <td>{!signed && <form method="post" action={`${base}/diagnoses/delete`} style="display:inline"><input type="hidden" name="code" value={d.code} /><button class="btn small grey" type="submit">{L(ctx, '删除', 'Remove')}</button></form>}</td></tr>
              ))}
            </tbody>
          </table>
          <FieldErr errors={e} name="diagnosis" />
          {!signed && (
            <>
              <form method="get" action={`${base}#dx`} class="inline" style="margin-top:10px">
                <label>{L(ctx, '搜索诊断（名称或编码）', 'Search (name or code)')}<input name="iq" value={props.icdQuery ?? ''} data-testid="icd-search" /></label>
                <button class="btn grey" type="submit">{L(ctx, '搜索', 'Search')}</button>
              </form>
              {props.icdResults && (
                <table data-testid="icd-results">
                  <tbody>
                    {props.icdResults.length === 0 && <tr><td class="hint">{L(ctx, '无匹配诊断', 'No match')}</td></tr>}
                    {props.icdResults.map((r) => (
                      <tr><td>{r.code}</td><td>{r.name}{r.notifiable && <span class="badge bad" style="margin-left:6px">{L(ctx, '法定传染病', 'notifiable')}</span>}</td>
                        <td><form method="post" action={`${base}/diagnoses`}><input type="hidden" name="diagnosis" value={r.code} /><button class="btn small" type="submit" data-testid={`add-dx-${r.code}`}>{L(ctx, '添加', 'Add')}</button></form></td></tr>
                    ))}
                  </tbody>
                </table>
              )}
              <form method="post" action={`${base}/diagnoses`} class="inline" style="margin-top:6px">
                <label>{L(ctx, '直接输入编码', 'Code')}<input name="diagnosis" data-testid="dx-code" /></label>
                <button class="btn grey" type="submit">{L(ctx, '添加', 'Add')}</button>
              </form>
            </>
          )}
        </div>

        {/* prescription */}
        <div class="card cw-wide" id="rx">
          <h1>{L(ctx, '处方', 'Prescription')}</h1>
          <table data-testid="rx-lines">
            <thead><tr><th>#</th><th>{L(ctx, '药品', 'Drug')}</th><th>{L(ctx, '规格', 'Spec')}</th><th>{L(ctx, '用法用量', 'Dosage')}</th><th>{L(ctx, '天数', 'Days')}</th><th>{L(ctx, '数量', 'Qty')}</th><th>{L(ctx, '可用库存', 'Available')}</th><th></th></tr></thead>
            <tbody>
              {v.rx.length === 0 && <tr><td colspan={8} class="hint">{L(ctx, '尚未开药', 'No drugs yet')}</td></tr>}
              {v.rx.map((r, i) => (
                <tr>
                  <td>{i + 1}{r.line.group !== undefined && <span class="hint"> {L(ctx, `组${r.line.group}`, `g${r.line.group}`)}</span>}</td>
                  <td>{r.line.drugName}{r.line.volumeProcurement && <span class="vbp" title={L(ctx, '国家集中带量采购', 'volume-based procurement')}>{L(ctx, '集采', 'VBP')}</span>}</td>
                  <td>{r.line.spec}</td>
                  <td>{r.line.dose}{r.line.doseUnit} {L(ctx, ROUTE[r.line.route].zh, ROUTE[r.line.route].en)} {L(ctx, FREQUENCY[r.line.frequency].zh, FREQUENCY[r.line.frequency].en)}</td>
                  <td>{r.line.days}</td>
                  <td>{r.line.quantity}{r.line.unit}</td>
                  <td>{r.stock ? <span class={r.stock.available < r.line.quantity ? 'warn-text' : ''}>{r.stock.available}{r.line.unit}{r.stock.available < r.line.quantity ? L(ctx, '（库存不足）', ' (short)') : ''}</span> : ''}</td>
                  <td>{!signed && <form method="post" action={`${base}/rx/${r.lineId}/delete`} style="display:inline"><button class="btn small grey" type="submit">{L(ctx, '删除', 'Remove')}</button></form>}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {signed && props.prescriptionStatus === 'cancelled' && <p><span class="badge bad" data-testid="rx-void">{L(ctx, '处方已作废', 'prescription void')}</span></p>}
          {signed && props.prescriptionStatus === 'active' && (
            <form method="post" action={`${base}/rx/void`} class="noprint" style="margin-top:8px">
              <button class="btn small red" type="submit" data-testid="void-rx">{L(ctx, '作废处方（未缴费时）', 'Void the prescription (before payment)')}</button>
            </form>
          )}
          <FieldErr errors={e} name="prescription" />
          {!signed && (
            <>
              <form method="get" action={`${base}#rx`} class="inline" style="margin-top:10px">
                <label>{L(ctx, '搜索药品（名称或编码）', 'Search drugs (name or code)')}<input name="dq" value={props.drugQuery ?? ''} data-testid="drug-search" /></label>
                <button class="btn grey" type="submit">{L(ctx, '搜索', 'Search')}</button>
              </form>
              {props.drugResults && (
                <table data-testid="drug-results">
                  <thead><tr><th>{L(ctx, '编码', 'Code')}</th><th>{L(ctx, '药品', 'Drug')}</th><th>{L(ctx, '规格', 'Spec')}</th><th>{L(ctx, '单价', 'Price')}</th><th>{L(ctx, '可用/实际库存', 'Available / actual')}</th><th></th></tr></thead>
                  <tbody>
                    {props.drugResults.length === 0 && <tr><td colspan={6} class="hint">{L(ctx, '无匹配药品', 'No match')}</td></tr>}
                    {props.drugResults.map((d) => (
                      <tr><td>{d.code}</td><td>{d.name}{d.volumeProcurement && <span class="vbp">{L(ctx, '集采', 'VBP')}</span>}</td><td>{d.spec}</td><td>{yuan(d.priceFen)}/{d.unit}</td>
                        <td class={d.stock.available <= 0 ? 'warn-text' : ''}>{d.stock.available} / {d.stock.actual} {d.unit}</td>
                        <td><a class="btn small" href={`${base}?drug=${d.code}#rx`} data-testid={`choose-${d.code}`}>{L(ctx, '选用', 'Choose')}</a></td></tr>
                    ))}
                  </tbody>
                </table>
              )}
              <form method="post" action={`${base}/rx`} class="inline" style="margin-top:10px" data-testid="rx-form">
                <label>{L(ctx, '药品编码或名称', 'Drug code or name')}<input name="drug" id="rx-drug" value={f.drug ?? chosen?.code ?? ''} style="min-width:200px" /><FieldErr errors={e} name="drug" />
                  {chosen && <span class="hint">{chosen.name} {chosen.spec}{chosen.volumeProcurement && <span class="vbp">{L(ctx, '集采', 'VBP')}</span>}</span>}</label>
                <label>{L(ctx, '单次剂量', 'Dose')}<input name="dose" id="rx-dose" value={f.dose ?? ''} size={5} /><FieldErr errors={e} name="dose" /></label>
                <label>{L(ctx, '单位', 'Unit')}
                  {units.length > 0
                    ? <select name="doseUnit" id="rx-unit">{units.map((u) => <option value={u} selected={f.doseUnit === u}>{u}</option>)}</select>
                    : <input name="doseUnit" id="rx-unit" value={f.doseUnit ?? ''} size={4} placeholder="mg" />}
                  <FieldErr errors={e} name="doseUnit" /></label>
                <label>{L(ctx, '频次', 'Frequency')}<select name="frequency" id="rx-frequency">{(Object.keys(FREQUENCY) as Frequency[]).map((k) => <option value={k} selected={(f.frequency ?? 'qd') === k}>{`${k} ${L(ctx, FREQUENCY[k].zh, FREQUENCY[k].en)}`}</option>)}</select><FieldErr errors={e} name="frequency" /></label>
                <label>{L(ctx, '途径', 'Route')}<select name="route" id="rx-route">{(Object.keys(ROUTE) as Route[]).map((k) => <option value={k} selected={(f.route ?? chosen?.route ?? 'po') === k}>{L(ctx, ROUTE[k].zh, ROUTE[k].en)}</option>)}</select><FieldErr errors={e} name="route" /></label>
                <label>{L(ctx, '天数', 'Days')}<input name="days" id="rx-days" value={f.days ?? '1'} size={3} /><FieldErr errors={e} name="days" /></label>
                <label>{L(ctx, '数量（空=自动计算）', 'Qty (blank = computed)')}<input name="quantity" id="rx-quantity" value={f.quantity ?? ''} size={4} /><FieldErr errors={e} name="quantity" /></label>
                <label>{L(ctx, '组号', 'Group')}<input name="group" id="rx-group" value={f.group ?? ''} size={2} /><FieldErr errors={e} name="group" /></label>
                <button class="btn" type="submit" data-testid="add-rx">{L(ctx, '加入处方', 'Add')}</button>
              </form>
              <p class="hint">{L(ctx, '数量按 单次剂量×频次×天数 换算为整盒/整瓶；静脉、肌注每次用量按整支/整瓶计。同组号的静脉用药合并为一瓶输注。', 'Quantity = dose × frequency × days in whole packs; IV/IM doses use whole ampoules/bottles. Lines with one group number run in one bottle.')}</p>
            </>
          )}
        </div>

        {/* lab */}
        <div class="card" id="lab">
          <h1>{L(ctx, '检验申请', 'Lab orders')}</h1>
          <table data-testid="lab-lines">
            <tbody>
              {v.orders.filter((o) => o.kind === 'lab').length === 0 && <tr><td class="hint">{L(ctx, '无', 'None')}</td></tr>}
              {v.orders.filter((o) => o.kind === 'lab').map((o) => (
                <tr><td>{o.itemName}</td><td><Specimen id={o.specimenId!} /></td>
                  <td>{!signed && <form method="post" action={`${base}/orders/${o.lineId}/delete`}><button class="btn small grey" type="submit">{L(ctx, '删除', 'Remove')}</button></form>}
                    <VoidOrder ctx={ctx} base={base} o={o} status={o.orderId ? props.orderStatuses?.[o.orderId] : undefined} /></td></tr>
              ))}
            </tbody>
          </table>
          {v.orders.some((o) => o.kind === 'lab') && <a href={`${base}/specimens`} class="noprint">{L(ctx, '打印标本条码', 'Print specimen labels')}</a>}
          <FieldErr errors={e} name="lab" /><FieldErr errors={e} name="order" />
          {!signed && (
            <form method="post" action={`${base}/labs`} class="inline" style="margin-top:8px">
              <label>{L(ctx, '检验项目', 'Test')}<select name="item" data-testid="lab-item">{props.labItems.map((i) => <option value={i.code}>{`${i.name}（${yuan(i.priceFen)}元）`}</option>)}</select></label>
              <button class="btn" type="submit" data-testid="add-lab">{L(ctx, '申请检验', 'Order')}</button>
            </form>
          )}
        </div>

        {/* imaging */}
        <div class="card" id="img">
          <h1>{L(ctx, '检查申请（B超/DR）', 'Imaging orders (US/DR)')}</h1>
          <table data-testid="imaging-lines">
            <tbody>
              {v.orders.filter((o) => o.kind === 'imaging').length === 0 && <tr><td class="hint">{L(ctx, '无', 'None')}</td></tr>}
              {v.orders.filter((o) => o.kind === 'imaging').map((o) => {
                const acc = props.imagingOrders?.find((x) => x.orderId === o.orderId)?.accessionNumber;
                return (
                  <tr><td>{o.modality}</td><td>{o.itemName}</td><td>{acc ? <a href="/imaging" data-testid="accession">{L(ctx, '检查号', 'Accession')} {acc}</a> : ''}</td>
                    <td>{!signed && <form method="post" action={`${base}/orders/${o.lineId}/delete`}><button class="btn small grey" type="submit">{L(ctx, '删除', 'Remove')}</button></form>}
                      <VoidOrder ctx={ctx} base={base} o={o} status={o.orderId ? props.orderStatuses?.[o.orderId] : undefined} /></td></tr>
                );
              })}
            </tbody>
          </table>
          <FieldErr errors={e} name="imaging" />
          {!signed && (
            <form method="post" action={`${base}/imaging`} class="inline" style="margin-top:8px">
              <label>{L(ctx, '检查项目', 'Procedure')}<select name="procedure" data-testid="imaging-procedure">{props.procedures.map((p) => <option value={p.code}>{`${p.modality} · ${L(ctx, p.zh, p.en)}`}</option>)}</select></label>
              <button class="btn" type="submit" data-testid="add-imaging">{L(ctx, '申请检查', 'Order')}</button>
            </form>
          )}
        </div>

        {/* registers */}
        <div class="card cw-wide" id="reg">
          <h1>{L(ctx, '发热 / 腹泻 / 犬伤登记', 'Fever / diarrhoea / dog-bite registers')}</h1>
          {v.reports.length > 0 && (
            <table data-testid="reports">
              <tbody>{v.reports.map((r) => (
                <tr><td>{REPORT_ZH[r.kind] ?? r.kind}</td><td>{reportSummary(r.payload)}</td><td>{local(r.createdAt)}</td></tr>
              ))}</tbody>
            </table>
          )}
          <FieldErr errors={e} name="kind" />
          <div class="grid" style="margin-top:8px">
            <form method="post" action={`${base}/reports`} class="stack" data-testid="fever-form">
              <input type="hidden" name="kind" value="fever" /><b>{L(ctx, '发热登记', 'Fever')}</b>
              <label>{L(ctx, '体温 ℃', 'Temperature °C')}<input name="temperature" /><FieldErr errors={e} name="temperature" /></label>
              <label>{L(ctx, '发病日期', 'Onset')}<input type="date" name="onsetDate" value={props.today} /><FieldErr errors={e} name="onsetDate" /></label>
              <label>{L(ctx, '流行病学史 / 症状', 'Epidemiology / symptoms')}<input name="notes" /></label>
              <button class="btn small" type="submit">{L(ctx, '登记', 'Register')}</button>
            </form>
            <form method="post" action={`${base}/reports`} class="stack" data-testid="diarrhoea-form">
              <input type="hidden" name="kind" value="diarrhoea" /><b>{L(ctx, '腹泻登记', 'Diarrhoea')}</b>
              <label>{L(ctx, '每日次数', 'Stools per day')}<input name="stoolsPerDay" /><FieldErr errors={e} name="stoolsPerDay" /></label>
              <label>{L(ctx, '性状', 'Character')}<select name="stoolCharacter"><option value="watery">水样便</option><option value="loose">稀便</option><option value="mucus">黏液便</option><option value="bloody">脓血便</option><option value="other">其他</option></select></label>
              <label>{L(ctx, '发病日期', 'Onset')}<input type="date" name="onsetDate" value={props.today} /></label>
              <button class="btn small" type="submit">{L(ctx, '登记', 'Register')}</button>
            </form>
            <form method="post" action={`${base}/reports`} class="stack" data-testid="dogbite-form">
              <input type="hidden" name="kind" value="dog_bite" /><b>{L(ctx, '犬伤登记', 'Dog bite')}</b>
              <label>{L(ctx, '动物', 'Animal')}<select name="animal"><option value="dog">犬</option><option value="cat">猫</option><option value="other">其他</option></select></label>
              <label>{L(ctx, '暴露分级', 'Exposure grade')}<select name="exposureGrade"><option value="">--</option><option value="I">Ⅰ级</option><option value="II">Ⅱ级</option><option value="III">Ⅲ级</option></select><FieldErr errors={e} name="exposureGrade" /></label>
              <label>{L(ctx, '伤口部位', 'Wound site')}<input name="woundSite" /></label>
              <label>{L(ctx, '暴露日期', 'Date')}<input type="date" name="onsetDate" value={props.today} /></label>
              <button class="btn small" type="submit">{L(ctx, '登记', 'Register')}</button>
              <span class="hint">{L(ctx, 'Ⅱ级：处理伤口+接种疫苗；Ⅲ级：另加被动免疫制剂', 'II: wound care + vaccine; III: + immunoglobulin')}</span>
            </form>
          </div>
        </div>

        {/* sign */}
        <div class="card cw-wide">
          {signed ? (
            <>
              <h1>{L(ctx, '本次就诊费用（待收费）', 'Charges of this visit')}</h1>
              <table data-testid="visit-charges">
                <thead><tr><th>{L(ctx, '项目', 'Item')}</th><th>{L(ctx, '数量', 'Qty')}</th><th>{L(ctx, '金额（元）', 'Amount')}</th><th>{L(ctx, '状态', 'Status')}</th></tr></thead>
                <tbody>{(props.charges ?? []).map((c) => <tr><td>{c.item_name}</td><td>{c.quantity}{c.unit}</td><td>{yuan(c.amount_fen)}</td><td>{c.status === 'paid' ? L(ctx, '已收费', 'paid') : c.status === 'pending' ? L(ctx, '待收费', 'pending') : c.status === 'cancelled' ? L(ctx, '已取消', 'cancelled') : c.status}</td></tr>)}</tbody>
              </table>
              <p class="hint">{L(ctx, '请患者到收费处缴费；注射/输液缴费后到护士站执行。', 'The patient pays at the cashier; injections and infusions are then given at the nurse station.')}</p>
            </>
          ) : (
            <form method="post" action={`${base}/sign`}>
              <h1>{L(ctx, '签名并完成就诊', 'Sign and finish')}</h1>
              <p class="hint">{L(ctx, `签名后病历、处方和申请单将生效并生成待收费项目（处方 ${v.rx.length} 行，检验 ${v.orders.filter((o) => o.kind === 'lab').length} 项，检查 ${v.orders.filter((o) => o.kind === 'imaging').length} 项），不能再修改。`, `Signing makes the note, prescription and orders effective and creates the pending charges; they cannot be changed afterwards.`)}</p>
              {(() => {
                const unfiled = v.reminders.filter((r) => !v.reports.some((x) => x.kind === 'notifiable' && x.icd10Code === r.code.toUpperCase()));
                const stockShort = v.rx.filter((r) => r.stock && r.stock.available < r.line.quantity);
                return (
                  <>
                    {unfiled.length > 0 && <p class="warn-text" data-testid="sign-warning-report">{L(ctx, `注意：${unfiled.map((r) => r.disease.zh).join('、')} 尚未填写传染病报告卡。`, 'Note: the notifiable-disease report card is not filed yet.')}</p>}
                    {stockShort.length > 0 && <p class="warn-text" data-testid="sign-warning-stock">{L(ctx, `注意：${stockShort.map((r) => r.line.drugName).join('、')} 可用库存不足，药房可能无法发药。`, 'Note: not enough stock for some drugs.')}</p>}
                  </>
                );
              })()}
              <button class="primary" type="submit" data-testid="sign">{L(ctx, '签名', 'Sign')}</button>
            </form>
          )}
        </div>
      </div>
    </Shell>
  );
}

const REPORT_ZH: Record<string, string> = { fever: '发热登记', diarrhoea: '腹泻登记', dog_bite: '犬伤登记', notifiable: '传染病报告卡' };
const GRADE_ZH: Record<string, string> = { I: 'Ⅰ级', II: 'Ⅱ级', III: 'Ⅲ级' };
function reportSummary(p: RecordPayload<'infectious_report'>): string {
  if (p.kind === 'fever') return `体温 ${p.temperature}℃，发病 ${p.onsetDate}`;
  if (p.kind === 'diarrhoea') return `每日 ${p.stoolsPerDay} 次，发病 ${p.onsetDate}`;
  if (p.kind === 'dog_bite') {
    const a = rabiesActions(p.exposureGrade!);
    return `暴露${GRADE_ZH[p.exposureGrade!]}，${[a.woundCare && '伤口处置', a.vaccine && '狂犬病疫苗', a.immunoglobulin && '被动免疫制剂'].filter(Boolean).join('+') || '无需处置'}`;
  }
  return `${p.icd10Code} ${p.diseaseName ?? ''}（${p.diseaseClass === 'A' ? '甲类' : p.diseaseClass === 'B' ? '乙类' : '丙类'}，${p.reportWithinHours}小时内直报）`;
}

export function SpecimenLabels(props: { ctx: PageCtx; v: VisitView }) {
  const { ctx, v } = props;
  return (
    <Shell ctx={ctx} title={L(ctx, '标本条码', 'Specimen labels')}>
      <p class="noprint"><button class="btn" type="button" data-print>{L(ctx, '打印', 'Print')}</button> <a href={`/clinic/visit/${v.visit.registration_id}`}>{L(ctx, '返回', 'Back')}</a></p>
      <div class="labels">
        {v.orders.filter((o) => o.kind === 'lab').map((o) => (
          <div class="btl"><div class="t">{v.resident.name} {sexOf(ctx, v.resident.sex)} {age(v.resident.birthDate, localDate())}{L(ctx, '岁', 'y')}</div>
            <div>{o.itemName}</div><div class="bc">{raw(barcodeSvg(o.specimenId!))}</div></div>
        ))}
      </div>
    </Shell>
  );
}

// ------------------------------------------------------------------ history

const MAX_POINTS = 24;

/**
 * Trend charts are drawn in the browser by ECharts served from the package
 * (`/clinic/assets/echarts.min.js`, no CDN): server-side rendering costs ~70 ms of CPU per
 * chart, which 20 staff sessions on 2 cores cannot afford. Data travels in `data-chart`.
 */
/** Draws every `[data-chart]` trend of the history page (served as /clinic/assets/trend-charts.js: the CSP allows no inline script). */
export const CHART_INIT = `document.querySelectorAll('[data-chart]').forEach(function (el) {
  var d = JSON.parse(el.getAttribute('data-chart'));
  var c = echarts.init(el, null, { renderer: 'svg' });
  c.setOption({ animation: false,
    title: { text: d.title, textStyle: { fontSize: 13 } },
    grid: { left: 48, right: 16, top: 36, bottom: 28 },
    tooltip: { trigger: 'axis' },
    xAxis: { type: 'category', data: d.x },
    yAxis: { type: 'value', scale: true },
    series: [{ type: 'line', data: d.y, label: { show: d.y.length <= 12, fontSize: 11 }, symbolSize: 6 }] });
  el.setAttribute('data-rendered', '1');
});`;

export function chartData(title: string, unit: string, all: { at: string; value: number }[]): string {
  const points = all.slice(-MAX_POINTS);
  return JSON.stringify({ title: `${title}${unit ? `（${unit}）` : ''}`, x: points.map((p) => local(p.at).slice(5, 16)), y: points.map((p) => p.value) });
}

export function HistoryPage(props: {
  ctx: PageCtx;
  resident: { residentId: string; name: string; sex: string; birthDate: string; idNumber: string };
  today: string;
  h: {
    visits: { registration_id: string; started_at: string; status: string; chief_complaint: string; doctor_name: string | null; doctor_username: string; diagnoses: { code: string; name: string }[] }[];
    labs: RecordPayload<'lab_result'>[];
    readings: RecordPayload<'observation'>[];
    studies: { study_instance_uid: string; modality: string | null; study_date: string | null; description: string | null; accession_number: string | null; n: number }[];
    imagingOrders: { order_id: string; accession_number: string; modality: string; display: string; status: string; scheduled_date: string }[];
  };
  alerts: VisitPageProps['alerts'];
}) {
  const { ctx, h, resident } = props;
  // Trend charts: numeric results per test, oldest first, tests with the most results first.
  const byTest = new Map<string, { name: string; unit: string; points: { at: string; value: number }[] }>();
  for (const r of [...h.labs].reverse()) {
    const v = Number(r.value);
    if (!Number.isFinite(v)) continue;
    const e = byTest.get(r.testCode) ?? { name: r.testName, unit: r.unit ?? '', points: [] };
    e.points.push({ at: r.resultedAt, value: v });
    byTest.set(r.testCode, e);
  }
  const charts = [...byTest.entries()].sort((a, b) => b[1].points.length - a[1].points.length).slice(0, 6);
  return (
    <Shell ctx={ctx} title={`${L(ctx, '居民诊疗史', 'History')} · ${resident.name}`}>
      <div class="cw-bar"><span class="name">{resident.name}</span><span>{sexOf(ctx, resident.sex)} · {age(resident.birthDate, props.today) ?? '?'}{L(ctx, '岁', ' y')}</span><span class="hint">{resident.idNumber}</span></div>
      <AlertsCard ctx={ctx} alerts={props.alerts} action={`/clinic/residents/${encodeURIComponent(resident.residentId)}/alerts`} />
      <div class="card">
        <h1>{L(ctx, '既往就诊', 'Past visits')}</h1>
        <table data-testid="past-visits">
          <thead><tr><th>{L(ctx, '日期', 'Date')}</th><th>{L(ctx, '医生', 'Doctor')}</th><th>{L(ctx, '主诉', 'Complaint')}</th><th>{L(ctx, '诊断', 'Diagnoses')}</th><th></th></tr></thead>
          <tbody>
            {h.visits.length === 0 && <tr><td colspan={5} class="hint">{L(ctx, '无', 'None')}</td></tr>}
            {h.visits.map((v) => <tr><td>{local(v.started_at).slice(0, 10)}</td><td>{v.doctor_name ?? v.doctor_username}</td><td>{v.chief_complaint}</td><td>{v.diagnoses.map((d) => `${d.name}（${d.code}）`).join('；')}</td>
              <td><a href={`/clinic/visit/${v.registration_id}`}>{L(ctx, '病历', 'Note')}</a></td></tr>)}
          </tbody>
        </table>
      </div>
      <div class="card" data-testid="lab-trends">
        <h1>{L(ctx, '检验结果趋势', 'Lab trends')} <span class="hint">{L(ctx, `（每项最近 ${MAX_POINTS} 次）`, `(latest ${MAX_POINTS} per test)`)}</span></h1>
        {charts.length === 0 && <p class="hint">{L(ctx, '暂无数值型检验结果', 'No numeric results yet')}</p>}
        <div class="grid">{charts.map(([code, c]) => <div class="chart" data-testid={`trend-${code}`} data-chart={chartData(c.name, c.unit, c.points)} style="width:100%;max-width:520px;height:220px"></div>)}</div>
        {charts.length > 0 && <><script src="/clinic/assets/echarts.min.js"></script><script src="/clinic/assets/trend-charts.js"></script></>}
        {h.labs.length > 0 && (
          <table>
            <thead><tr><th>{L(ctx, '时间', 'Time')}</th><th>{L(ctx, '项目', 'Test')}</th><th>{L(ctx, '结果', 'Result')}</th><th>{L(ctx, '参考范围', 'Range')}</th><th>{L(ctx, '标本', 'Specimen')}</th></tr></thead>
            <tbody>{h.labs.slice(0, 30).map((r) => <tr><td>{local(r.resultedAt)}</td><td>{r.testName}</td><td class={r.flag && r.flag !== 'N' ? 'warn-text' : ''}>{r.value} {r.unit ?? ''} {r.flag && r.flag !== 'N' ? r.flag : ''}</td><td>{r.referenceRange ?? ''}</td><td>{r.specimenId}</td></tr>)}</tbody>
          </table>
        )}
      </div>
      <div class="card">
        <h1>{L(ctx, '影像检查', 'Imaging')}</h1>
        <table data-testid="history-images">
          <tbody>
            {h.studies.length === 0 && h.imagingOrders.length === 0 && <tr><td class="hint">{L(ctx, '无', 'None')}</td></tr>}
            {h.studies.map((s) => <tr><td>{s.modality}</td><td>{s.study_date}</td><td>{s.description}</td><td>{s.n} {L(ctx, '幅', 'images')}</td><td><a href={`/imaging/studies/${s.study_instance_uid}`}>{L(ctx, '查看影像', 'View images')}</a></td></tr>)}
            {h.imagingOrders.filter((o) => !h.studies.some((s) => s.accession_number === o.accession_number)).map((o) => <tr><td>{o.modality}</td><td>{o.scheduled_date}</td><td>{o.display}</td><td>{L(ctx, '检查号', 'Accession')} {o.accession_number}</td><td>{L(ctx, '待检查', 'awaiting images')}</td></tr>)}
          </tbody>
        </table>
      </div>
      <div class="card">
        <h1>{L(ctx, '体征与设备读数', 'Vital signs and device readings')}</h1>
        <table data-testid="history-readings">
          <thead><tr><th>{L(ctx, '时间', 'Time')}</th><th>{L(ctx, '项目', 'Item')}</th><th>{L(ctx, '数值', 'Value')}</th><th>{L(ctx, '来源', 'Source')}</th></tr></thead>
          <tbody>
            {h.readings.length === 0 && <tr><td colspan={4} class="hint">{L(ctx, '无', 'None')}</td></tr>}
            {h.readings.slice(0, 40).map((o) => <tr><td>{local(o.effectiveAt)}</td><td>{o.display}</td><td class={o.interpretation && o.interpretation !== 'N' ? 'warn-text' : ''}>{o.value} {unitText(o.unit)}</td><td>{o.deviceId ? L(ctx, `设备 ${o.deviceId}`, `device ${o.deviceId}`) : L(ctx, '护士录入', 'nurse')}</td></tr>)}
          </tbody>
        </table>
      </div>
    </Shell>
  );
}

// ------------------------------------------------------------------ nurse

export function NursePage(props: { ctx: PageCtx; date: string; tasks: ExecTaskRow[]; error?: string; notice?: string; barcode?: string; patient?: string }) {
  const { ctx } = props;
  const pending = props.tasks.filter((t) => t.status === 'pending');
  const done = props.tasks.filter((t) => t.status === 'done');
  const orders = [...new Map(pending.map((t) => [t.orderId, t])).values()];
  const drugs = (t: ExecTaskRow) => t.drugs.map((d) => `${d.drugName} ${d.dose}${d.doseUnit}`).join(' + ');
  return (
    <Shell ctx={ctx} title={L(ctx, '护士工作站', 'Nurse station')}>
      <div class="card">
        <h1>{L(ctx, '护士工作站 · 注射输液执行', 'Nurse station · injections and infusions')} <span class="hint">{props.date}</span></h1>
        <Msg error={props.error} notice={props.notice} />
        <form method="post" action="/clinic/nurse/scan" class="inline" data-testid="scan-form">
          <label>{L(ctx, '扫描瓶签条码', 'Scan the label')}<input name="barcode" id="barcode" autofocus value={props.barcode ?? ''} style="min-width:220px" /></label>
          <label>{L(ctx, '患者腕带/证件号（可选，核对身份）', 'Patient wristband / ID (optional check)')}<input name="patient" id="patient" value={props.patient ?? ''} style="min-width:220px" /></label>
          <button class="btn green" type="submit" data-testid="confirm-exec">{L(ctx, '确认执行', 'Confirm')}</button>
        </form>
        <p class="hint"><a href="/clinic/nurse/vitals">{L(ctx, '录入生命体征', 'Enter vital signs')}</a></p>
      </div>
      <div class="card">
        <h1>{L(ctx, '待执行', 'To give')} ({pending.length})</h1>
        <table data-testid="pending-tasks">
          <thead><tr><th>{L(ctx, '患者', 'Patient')}</th><th>{L(ctx, '药品', 'Drugs')}</th><th>{L(ctx, '途径', 'Route')}</th><th>{L(ctx, '次数', 'Dose no.')}</th><th>{L(ctx, '计划日期', 'Planned')}</th><th>{L(ctx, '条码', 'Barcode')}</th><th>{L(ctx, '缴费', 'Paid')}</th></tr></thead>
          <tbody>
            {pending.length === 0 && <tr><td colspan={7} class="hint">{L(ctx, '暂无待执行项目', 'Nothing to give')}</td></tr>}
            {pending.map((t) => (
              <tr data-testid={`task-${t.barcode}`}><td>{t.residentName}</td><td>{drugs(t)}</td><td>{ROUTE[t.route as Route]?.zh ?? t.route}</td><td>{t.sequence}/{t.total}</td><td>{t.plannedDate}</td><td>{t.barcode}</td>
                <td>{t.paid ? <span class="badge ok">{L(ctx, '已缴费', 'paid')}</span> : <span class="badge warn">{L(ctx, '未缴费', 'unpaid')}</span>}</td></tr>
            ))}
          </tbody>
        </table>
        {orders.length > 0 && <p>{L(ctx, '打印瓶签：', 'Print labels: ')}{orders.map((t) => <a href={`/clinic/nurse/labels/${t.orderId}`} style="margin-right:12px" data-testid={`labels-${t.orderId}`}>{t.residentName} · {t.drugs[0]!.drugName}</a>)}</p>}
      </div>
      <div class="card">
        <h1>{L(ctx, '已执行', 'Given')} ({done.length})</h1>
        <table data-testid="done-tasks">
          <thead><tr><th>{L(ctx, '患者', 'Patient')}</th><th>{L(ctx, '药品', 'Drugs')}</th><th>{L(ctx, '次数', 'Dose no.')}</th><th>{L(ctx, '执行人', 'By')}</th><th>{L(ctx, '执行时间', 'At')}</th></tr></thead>
          <tbody>{done.map((t) => <tr><td>{t.residentName}</td><td>{drugs(t)}</td><td>{t.sequence}/{t.total}</td><td>{t.executedByName}（{t.executedBy}）</td><td>{local(t.executedAt)}</td></tr>)}</tbody>
        </table>
      </div>
    </Shell>
  );
}

export function LabelsPage(props: { ctx: PageCtx; tasks: ExecTaskRow[]; resident: { name: string; sex: string; birthDate: string } | null; today: string }) {
  const { ctx } = props;
  return (
    <Shell ctx={ctx} title={L(ctx, '瓶签', 'Labels')}>
      <p class="noprint"><button class="btn" type="button" data-print>{L(ctx, '打印瓶签', 'Print')}</button> <a href="/clinic/nurse">{L(ctx, '返回', 'Back')}</a></p>
      <div class="labels" data-testid="labels">
        {props.tasks.map((t) => (
          <div class="btl" data-testid={`label-${t.barcode}`}>
            <div class="t">{t.residentName} {props.resident ? `${sexOf(ctx, props.resident.sex)} ${age(props.resident.birthDate, props.today) ?? ''}${L(ctx, '岁', 'y')}` : ''}</div>
            {t.drugs.map((d) => <div>{d.drugName} {d.dose}{d.doseUnit}</div>)}
            <div>{ROUTE[t.route as Route]?.zh ?? t.route} · {FREQUENCY[t.frequency as Frequency]?.zh ?? t.frequency} · {L(ctx, `第${t.sequence}/${t.total}次`, `dose ${t.sequence}/${t.total}`)} · {t.plannedDate}</div>
            <div class="bc">{raw(barcodeSvg(t.barcode))}</div>
            {t.status === 'done' && <div class="hint">{L(ctx, '已执行', 'given')} {t.executedByName} {local(t.executedAt)}</div>}
          </div>
        ))}
      </div>
    </Shell>
  );
}

export function VitalsPage(props: {
  ctx: PageCtx; resident: { residentId: string; name: string; sex: string; birthDate: string } | null; query: string; today: string;
  fromDevice: Record<string, { value: number; at: string; deviceId: string }>; form: Record<string, string>; recent: RecordPayload<'observation'>[];
  error?: string; notice?: string; errors?: Record<string, string>;
}) {
  const { ctx, resident } = props;
  const deviceCount = Object.keys(props.fromDevice).length;
  return (
    <Shell ctx={ctx} title={L(ctx, '生命体征录入', 'Vital signs')}>
      <div class="card">
        <h1>{L(ctx, '生命体征录入', 'Vital signs')}</h1>
        <Msg error={props.error} notice={props.notice} />
        <form method="get" action="/clinic/nurse/vitals" class="inline">
          <label>{L(ctx, '居民编号或身份证号', 'Resident id or ID number')}<input name="resident" value={props.query} data-testid="vitals-resident" style="min-width:240px" /></label>
          <button class="btn grey" type="submit">{L(ctx, '查找', 'Find')}</button>
        </form>
      </div>
      {resident && (
        <div class="card">
          <div class="cw-bar"><span class="name">{resident.name}</span><span>{sexOf(ctx, resident.sex)} · {age(resident.birthDate, props.today) ?? '?'}{L(ctx, '岁', ' y')}</span>
            {deviceCount > 0 && <span class="badge ok" data-testid="from-device">{L(ctx, `已带入今日设备读数 ${deviceCount} 项`, `${deviceCount} device reading(s) of today filled in`)}</span>}</div>
          <form method="post" action={`/clinic/nurse/vitals?resident=${encodeURIComponent(resident.residentId)}`} class="inline" data-testid="vitals-form">
            {VITALS.map((d) => {
              const dev = props.fromDevice[d.code];
              return (
                <label>{`${d.zh}（${unitText(d.unit)}）`}
                  <input name={d.key} id={`v-${d.key}`} size={6} value={props.form[d.key] ?? (dev ? String(dev.value) : '')} />
                  {dev && !props.form[d.key] && <span class="hint">{L(ctx, '设备', 'device')} {local(dev.at).slice(11)}</span>}
                  <FieldErr errors={props.errors} name={d.key} />
                </label>
              );
            })}
            <button class="btn" type="submit" data-testid="save-vitals">{L(ctx, '保存', 'Save')}</button>
          </form>
          <FieldErr errors={props.errors} name="form" />
          <h1 style="margin-top:14px">{L(ctx, '近期记录', 'Recent')}</h1>
          <table data-testid="recent-vitals">
            <tbody>{props.recent.slice(0, 20).map((o) => <tr><td>{local(o.effectiveAt)}</td><td>{o.display}</td><td>{o.value} {unitText(o.unit)}</td><td>{o.deviceId ? L(ctx, '设备', 'device') : L(ctx, '录入', 'entered')}</td></tr>)}</tbody>
          </table>
        </div>
      )}
    </Shell>
  );
}
