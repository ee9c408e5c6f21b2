/** Lab pages (zh-CN first): review and release, result detail with corrections, file import, manual entry, trend. */
import { raw } from 'hono/html';
import type { DeviceProfile } from '../../device-drivers/index.ts';
import { Layout, type PageCtx } from '../web/layout.tsx';
import type { ImportOutcome, LabRow, LabVersion } from './lab.ts';
import { fmt } from './pages.tsx';

const L = (ctx: PageCtx, zh: string, en: string) => (ctx.lang === 'en' ? en : zh);
const row = 'display:flex;gap:8px;align-items:center;flex-wrap:wrap';

function Msg(props: { error?: string | undefined; notice?: string | undefined; errors?: string[] | undefined }) {
  return (
    <>
      {props.error && <div class="error" role="alert" data-testid="error">{props.error}</div>}
      {props.errors && props.errors.length > 0 && <div class="error" role="alert" data-testid="error"><ul>{props.errors.map((e) => <li>{e}</li>)}</ul></div>}
      {props.notice && <div class="notice" data-testid="notice">{props.notice}</div>}
    </>
  );
}

const STATUS_ZH: Record<string, [string, string, string]> = { preliminary: ['待审核', 'preliminary', 'warn'], final: ['已发布', 'final', 'ok'], corrected: ['已更正', 'corrected', 'ok'] };
const SOURCE_ZH: Record<string, [string, string]> = { device: ['仪器', 'analyser'], import: ['文件导入', 'file import'], manual: ['手工录入', 'manual'] };

export function LabNav(props: { ctx: PageCtx; pending?: number }) {
  const ctx = props.ctx;
  return (
    <p class="hint" data-testid="lab-nav">
      <a href="/devices/lab">{L(ctx, '结果审核', 'Review')}{props.pending !== undefined ? `（${props.pending}）` : ''}</a> · <a href="/devices/lab/import">{L(ctx, '文件导入', 'File import')}</a> ·{' '}
      <a href="/devices/lab/manual">{L(ctx, '手工录入', 'Manual entry')}</a> · <a href="/devices/trend">{L(ctx, '趋势图', 'Trends')}</a> · <a href="/devices">{L(ctx, '设备管理', 'Devices')}</a>
    </p>
  );
}

function Flags(props: { ctx: PageCtx; r: LabRow }) {
  const { r, ctx } = props;
  return <>{r.flag && r.flag !== 'N' ? <b style={r.critical ? 'color:#c62828' : 'color:#ef6c00'}>{r.flag}</b> : ''} {r.critical && <span class="badge bad">{L(ctx, '危急值', 'critical')}</span>} {r.implausible && <span class="badge warn">{L(ctx, '不合理', 'implausible')}</span>}</>;
}

function Status(props: { ctx: PageCtx; s: string }) {
  const [zh, en, cls] = STATUS_ZH[props.s] ?? [props.s, props.s, 'warn'];
  return <span class={`badge ${cls}`} data-testid="lab-status">{L(props.ctx, zh, en)}</span>;
}

export function LabReviewPage(props: { ctx: PageCtx; pending: LabRow[]; released: LabRow[]; canRelease: boolean; error?: string | undefined; errors?: string[] | undefined; notice?: string | undefined }) {
  const { ctx } = props;
  return (
    <Layout ctx={ctx} title={L(ctx, '检验结果审核', 'Lab result review')}>
      <div class="card">
        <h1>{L(ctx, '检验结果审核', 'Lab result review')}</h1>
        <LabNav ctx={ctx} pending={props.pending.length} />
        <p class="hint">{L(ctx, '仪器、文件导入和手工录入的结果均为“待审核”（以初步结果同步到区平台）；审核发布后成为正式结果。未关联居民的结果需先关联。', 'Results from analysers, imports and manual entry are preliminary (replicated as preliminary) until a technician releases them. Unbound results must be bound first.')}</p>
        <Msg error={props.error} errors={props.errors} notice={props.notice} />
        <form method="post" action="/devices/lab/approve">
          <table data-testid="pending-table">
            <thead><tr><th>{props.canRelease && <input type="checkbox" aria-label="all" data-check-all="input[name=id]" data-testid="check-all" />}</th>
              <th>{L(ctx, '居民', 'Resident')}</th><th>{L(ctx, '标本号', 'Specimen')}</th><th>{L(ctx, '项目', 'Test')}</th><th>{L(ctx, '结果', 'Result')}</th><th>{L(ctx, '来源', 'Source')}</th><th>{L(ctx, '检测时间', 'Measured')}</th></tr></thead>
            <tbody>{props.pending.map((r) => (
              <tr data-result-id={r.id}>
                <td>{props.canRelease && <input type="checkbox" name="id" value={r.id} disabled={!r.residentId} aria-label={`${r.display} ${r.value}`} />}</td>
                <td>{r.residentName ?? <a href="/devices/unbound">{L(ctx, '（未关联）', '(unbound)')}</a>}</td>
                <td>{r.specimenId ?? '-'}</td><td>{r.display}</td>
                <td><a href={`/devices/lab/${r.id}`}>{r.value} {r.unit}</a> <Flags ctx={ctx} r={r} /></td>
                <td>{L(ctx, ...(SOURCE_ZH[r.source] ?? [r.source, r.source]))}<div class="hint">{r.deviceName}</div></td>
                <td>{fmt(r.at)}</td>
              </tr>
            ))}</tbody>
          </table>
          {props.pending.length === 0 && <p class="hint" data-testid="no-pending">{L(ctx, '没有待审核的结果。', 'Nothing to review.')}</p>}
          {props.canRelease && props.pending.length > 0 && <button class="primary" type="submit" data-testid="approve">{L(ctx, '审核发布所选结果', 'Release selected results')}</button>}
        </form>
      </div>
      <div class="card">
        <h1>{L(ctx, '最近发布', 'Recently released')}</h1>
        <table data-testid="released-table">
          <thead><tr><th>{L(ctx, '居民', 'Resident')}</th><th>{L(ctx, '标本号', 'Specimen')}</th><th>{L(ctx, '项目', 'Test')}</th><th>{L(ctx, '结果', 'Result')}</th><th>{L(ctx, '状态', 'Status')}</th><th>{L(ctx, '审核人', 'Released by')}</th><th>{L(ctx, '审核时间', 'Released at')}</th></tr></thead>
          <tbody>{props.released.map((r) => (
            <tr data-result-id={r.id}>
              <td>{r.residentName ?? '-'}</td><td>{r.specimenId ?? '-'}</td><td>{r.display}</td>
              <td><a href={`/devices/lab/${r.id}`}>{r.value} {r.unit}</a> <Flags ctx={ctx} r={r} /></td>
              <td><Status ctx={ctx} s={r.status} /></td><td>{r.reviewedByName ?? '-'}</td><td>{r.reviewedAt ? fmt(r.reviewedAt) : '-'}</td>
            </tr>
          ))}</tbody>
        </table>
      </div>
    </Layout>
  );
}

export function LabResultPage(props: { ctx: PageCtx; r: LabRow; versions: LabVersion[]; canCorrect: boolean; error?: string | undefined; notice?: string | undefined }) {
  const { ctx, r } = props;
  return (
    <Layout ctx={ctx} title={`${r.display} ${r.value}`}>
      <div class="card">
        <h1>{r.display} <span data-testid="result-value">{r.value} {r.unit}</span> <Flags ctx={ctx} r={r} /> <Status ctx={ctx} s={r.status} /></h1>
        <LabNav ctx={ctx} />
        <Msg error={props.error} notice={props.notice} />
        <p>{L(ctx, '居民', 'Resident')}：{r.residentName ?? L(ctx, '（未关联）', '(unbound)')} · {L(ctx, '标本号', 'Specimen')}：{r.specimenId ?? '-'} · {L(ctx, '检测时间', 'Measured')}：{fmt(r.at)} · {L(ctx, '来源', 'Source')}：{r.deviceName}
          {r.residentId && <> · <a href={`/devices/trend?resident=${encodeURIComponent(r.residentId)}&code=${encodeURIComponent(r.code)}`} data-testid="trend-link">{L(ctx, '趋势图', 'Trend')}</a></>}</p>
        <h2>{L(ctx, '版本记录', 'Versions')}</h2>
        <table data-testid="versions-table">
          <thead><tr><th>{L(ctx, '版本', 'Version')}</th><th>{L(ctx, '状态', 'Status')}</th><th>{L(ctx, '结果', 'Result')}</th><th>{L(ctx, '操作人', 'By')}</th><th>{L(ctx, '时间', 'At')}</th><th>{L(ctx, '更正原因', 'Reason')}</th></tr></thead>
          <tbody>
            <tr><td>1</td><td><Status ctx={ctx} s="preliminary" /></td><td>{props.versions[0]?.status === 'final' ? `${props.versions[0].value} ${props.versions[0].unit}` : props.versions.length ? '' : `${r.value} ${r.unit}`}</td><td>{r.deviceName}</td><td>{fmt(r.receivedAt)}</td><td></td></tr>
            {props.versions.map((v) => <tr><td>{v.version}</td><td><Status ctx={ctx} s={v.status} /></td><td>{v.value} {v.unit} {v.flag && v.flag !== 'N' ? v.flag : ''}</td><td>{v.byName}</td><td>{fmt(v.at)}</td><td>{v.reason ?? ''}</td></tr>)}
          </tbody>
        </table>
      </div>
      {props.canCorrect && (r.status === 'final' || r.status === 'corrected') && (
        <div class="card">
          <h1>{L(ctx, '更正结果', 'Correct the result')}</h1>
          <p class="hint">{L(ctx, '更正会生成新版本（状态“已更正”）并同步到区平台；原结果保留在版本记录中。', 'A correction is a new version (status corrected), replicated to central; the previous value stays in the versions.')}</p>
          <form method="post" action={`/devices/lab/${r.id}/correct`} class="stack" data-testid="correct-form">
            <label for="value">{L(ctx, '更正后的结果', 'Corrected value')}（{r.unit}）</label><input id="value" name="value" required style="width:200px" />
            <label for="reason">{L(ctx, '更正原因', 'Reason')}</label><input id="reason" name="reason" required />
            <button class="primary" type="submit" data-testid="correct">{L(ctx, '提交更正', 'Submit correction')}</button>
          </form>
        </div>
      )}
    </Layout>
  );
}

export function ProfileSelect(props: { ctx: PageCtx; profiles: DeviceProfile[]; selected?: string | undefined; autosubmit?: boolean }) {
  return (
    <select id="profileId" name="profileId" {...(props.autosubmit ? { 'data-autosubmit': true } : {})}>
      {props.profiles.map((p) => <option value={p.id} selected={p.id === props.selected}>{props.ctx.lang === 'en' ? p.name : p.nameZh ?? p.name}</option>)}
    </select>
  );
}

export function LabImportPage(props: { ctx: PageCtx; profiles: DeviceProfile[]; selected?: string | undefined; fileName?: string | undefined; outcome?: ImportOutcome | undefined; error?: string | undefined }) {
  const { ctx, outcome } = props;
  const p = props.profiles.find((x) => x.id === props.selected) ?? props.profiles[0];
  return (
    <Layout ctx={ctx} title={L(ctx, '检验结果文件导入', 'Import lab results')}>
      <div class="card">
        <h1>{L(ctx, '检验结果文件导入', 'Import lab results')}</h1>
        <LabNav ctx={ctx} />
        <p class="hint">{L(ctx, '适用于没有通讯接口的检验设备。支持 Excel（.xlsx）和 CSV（UTF-8 或 GBK）。第一行为表头：', 'For analysers without an interface. Excel (.xlsx) or CSV (UTF-8 or GBK). First row is the header:')}
          <b>标本号</b>、<b>项目代码</b>、<b>结果</b>（{L(ctx, '必填', 'required')}），患者号/身份证号、单位、检测时间（{L(ctx, '选填', 'optional')}）。
          {L(ctx, '有错误的行不导入并逐行列出；同一文件重复导入不会产生重复结果。', 'Rows with errors are listed and skipped; importing the same file again creates no duplicates.')}</p>
        <Msg error={props.error} />
        <form method="post" action="/devices/lab/import" enctype="multipart/form-data" class="stack" data-testid="import-form">
          <label for="profileId">{L(ctx, '检验设备模板', 'Analyser profile')}</label><ProfileSelect ctx={ctx} profiles={props.profiles} selected={p?.id} />
          <label for="file">{L(ctx, '文件', 'File')}</label><input id="file" name="file" type="file" accept=".xlsx,.csv,text/csv" required />
          <button class="primary" type="submit" data-testid="import">{L(ctx, '导入', 'Import')}</button>
        </form>
        {p && <p class="hint">{L(ctx, '项目代码', 'Test codes')}（{p.nameZh ?? p.name}）：{p.quantities.map((q) => `${q.astm?.testId ?? q.key} ${q.displayZh ?? q.display}（${q.unit}）`).join('，')}</p>}
      </div>
      {outcome && (
        <div class="card" data-testid="import-result">
          <h1>{L(ctx, '导入结果', 'Import result')}{props.fileName ? `：${props.fileName}` : ''}</h1>
          <p data-testid="import-summary">{L(ctx, `共 ${outcome.total} 行：导入 ${outcome.imported} 行，重复 ${outcome.duplicates} 行，错误 ${outcome.errors.length} 处；其中待关联居民 ${outcome.unbound} 行，危急值 ${outcome.critical} 个。导入的结果在“结果审核”中待审核。`,
            `${outcome.total} rows: ${outcome.imported} imported, ${outcome.duplicates} duplicates, ${outcome.errors.length} errors; ${outcome.unbound} unbound, ${outcome.critical} critical. Imported results wait for review.`)}</p>
          {outcome.errors.length > 0 && (
            <table data-testid="import-errors">
              <thead><tr><th>{L(ctx, '行', 'Row')}</th><th>{L(ctx, '列', 'Column')}</th><th>{L(ctx, '说明', 'Problem')}</th></tr></thead>
              <tbody>{outcome.errors.map((e) => <tr><td>{e.row || '-'}</td><td>{e.col || '-'}</td><td>{e.message}</td></tr>)}</tbody>
            </table>
          )}
        </div>
      )}
    </Layout>
  );
}

export function LabManualPage(props: { ctx: PageCtx; profiles: DeviceProfile[]; selected?: string | undefined; residents: { residentId: string; name: string; idNumber: string }[];
  form?: Record<string, string> | undefined; errors?: string[] | undefined; notice?: string | undefined }) {
  const { ctx } = props;
  const p = props.profiles.find((x) => x.id === props.selected) ?? props.profiles[0];
  const f = props.form ?? {};
  return (
    <Layout ctx={ctx} title={L(ctx, '检验结果手工录入', 'Manual entry')}>
      <div class="card">
        <h1>{L(ctx, '检验结果手工录入', 'Manual entry of lab results')}</h1>
        <LabNav ctx={ctx} />
        <Msg errors={props.errors} notice={props.notice} />
        <form method="get" action="/devices/lab/manual" style={row}><label for="profileId">{L(ctx, '检验设备模板', 'Analyser profile')}</label><ProfileSelect ctx={ctx} profiles={props.profiles} selected={p?.id} autosubmit /></form>
        {p && (
          <form method="post" action="/devices/lab/manual" class="stack" data-testid="manual-form">
            <input type="hidden" name="profileId" value={p.id} />
            <div style={row}>
              <span><label for="specimenId">{L(ctx, '标本号', 'Specimen')}</label><input id="specimenId" name="specimenId" value={f.specimenId ?? ''} required style="width:180px" /></span>
              <span><label for="patientId">{L(ctx, '居民编号或身份证号（无检验申请时）', 'Resident id or ID number (without a lab order)')}</label><input id="patientId" name="patientId" list="residents" value={f.patientId ?? ''} style="width:240px" /></span>
              <span><label for="at">{L(ctx, '检测时间', 'Measured at')}</label><input id="at" name="at" type="datetime-local" value={f.at ?? ''} /></span>
            </div>
            <datalist id="residents">{props.residents.map((r) => <option value={r.residentId}>{r.name} {r.idNumber}</option>)}</datalist>
            <table data-testid="manual-values">
              <thead><tr><th>{L(ctx, '项目', 'Test')}</th><th>{L(ctx, '结果', 'Result')}</th><th>{L(ctx, '单位', 'Unit')}</th><th>{L(ctx, '参考范围', 'Reference')}</th></tr></thead>
              <tbody>{p.quantities.map((q) => (
                <tr><td><label for={`v-${q.key}`}>{ctx.lang === 'en' ? q.display : q.displayZh ?? q.display}</label></td>
                  <td><input id={`v-${q.key}`} name={`v.${q.key}`} value={f[`v.${q.key}`] ?? ''} style="width:120px" inputmode="decimal" /></td>
                  <td>{q.unit}</td><td>{q.normal ? `${q.normal.low ?? ''}-${q.normal.high ?? ''}` : ''}</td></tr>
              ))}</tbody>
            </table>
            <button class="primary" type="submit" data-testid="manual-save">{L(ctx, '保存（待审核）', 'Save (to review)')}</button>
          </form>
        )}
      </div>
    </Layout>
  );
}

export function TrendPage(props: { ctx: PageCtx; residents: { residentId: string; name: string; idNumber: string }[]; resident?: { residentId: string; name: string } | undefined;
  codes: { code: string; display: string; n: number }[]; code?: string | undefined; svg?: string | undefined; points: { at: string; value: number; status: string | null; flag: string | null; unit: string }[]; error?: string | undefined }) {
  const { ctx } = props;
  return (
    <Layout ctx={ctx} title={L(ctx, '检验与体征趋势', 'Trends')}>
      <div class="card">
        <h1>{L(ctx, '检验与体征趋势', 'Lab and vital-sign trends')}{props.resident ? `：${props.resident.name}` : ''}</h1>
        <LabNav ctx={ctx} />
        <Msg error={props.error} />
        <form method="get" action="/devices/trend" style={row} data-testid="trend-form">
          <input name="resident" id="resident" list="residents" value={props.resident?.residentId ?? ''} placeholder={L(ctx, '居民编号或身份证号', 'Resident id or ID number')} style="width:240px" />
          <datalist id="residents">{props.residents.map((r) => <option value={r.residentId}>{r.name} {r.idNumber}</option>)}</datalist>
          {props.codes.length > 0 && <select name="code" id="code" data-autosubmit>{props.codes.map((c) => <option value={c.code} selected={c.code === props.code}>{c.display}（{c.n}）</option>)}</select>}
          <button class="primary" type="submit" style="margin-top:0">{L(ctx, '查看', 'Show')}</button>
        </form>
        {props.svg && <div data-testid="trend-chart" style="margin-top:12px">{raw(props.svg)}</div>}
        {props.points.length > 0 && (
          <table data-testid="trend-table">
            <thead><tr><th>{L(ctx, '时间', 'Time')}</th><th>{L(ctx, '结果', 'Value')}</th><th>{L(ctx, '判读', 'Flag')}</th><th>{L(ctx, '状态', 'Status')}</th></tr></thead>
            <tbody>{[...props.points].reverse().map((p) => <tr><td>{fmt(p.at)}</td><td>{p.value} {p.unit}</td><td>{p.flag ?? ''}</td><td>{p.status ? <Status ctx={ctx} s={p.status} /> : ''}</td></tr>)}</tbody>
          </table>
        )}
      </div>
    </Layout>
  );
}
