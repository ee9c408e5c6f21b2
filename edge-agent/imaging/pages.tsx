/** Imaging pages (zh-CN first): worklist, study view, reconciliation, DICOM devices. */
import type { Child } from 'hono/jsx';
import type { ClinicReport } from './reports.ts';
import type { RefusalRow } from './refusals.ts';
import { Layout, type PageCtx } from '../web/layout.tsx';
import { isAwaitingImages, isoDay, type DeviceRow, type InstanceRow, type OrderRow, type StudyRow } from './repo.ts';
import { canPreview, transferSyntaxName } from '../../contracts/dicom/render.ts';
import { rankCandidates, type Candidate, type CandidateReason } from './reconcile-candidates.ts';
import type { StorageStatus } from './storage.ts';

export const L = (ctx: PageCtx, zh: string, en: string) => (ctx.lang === 'en' ? en : zh);

export const PROCEDURES: { code: string; modality: 'US' | 'DX' | 'CR'; zh: string; en: string }[] = [
  { code: 'US-ABD', modality: 'US', zh: '腹部超声（肝胆胰脾）', en: 'Abdominal ultrasound' },
  { code: 'US-THY', modality: 'US', zh: '甲状腺超声', en: 'Thyroid ultrasound' },
  { code: 'US-CAR', modality: 'US', zh: '颈动脉超声', en: 'Carotid ultrasound' },
  { code: 'DX-CHEST', modality: 'DX', zh: '胸部正位片（DR）', en: 'Chest PA (DR)' },
  { code: 'DX-LSPINE', modality: 'DX', zh: '腰椎正侧位片（DR）', en: 'Lumbar spine AP/lat (DR)' },
];

const SOP_NAMES: Record<string, string> = {
  '1.2.840.10008.5.1.4.1.1.6.1': 'US', '1.2.840.10008.5.1.4.1.1.3.1': 'US multi-frame', '1.2.840.10008.5.1.4.1.1.1.1': 'DX presentation',
  '1.2.840.10008.5.1.4.1.1.1.1.1': 'DX processing', '1.2.840.10008.5.1.4.1.1.1': 'CR', '1.2.840.10008.5.1.4.1.1.7': 'Secondary Capture',
};
const size = (n: number) => (n > 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`);
const time = (iso: string | null) => (iso ? new Date(iso).toLocaleString('zh-CN', { hour12: false, timeZone: 'Asia/Shanghai' }) : '');
/** A transfer syntax as the clinic reads it: the codec names stay as they are, "uncompressed" in the page's language. */
const tsText = (ctx: PageCtx, uid: string) => { const n = transferSyntaxName(uid); return n === 'uncompressed' ? L(ctx, '未压缩', 'uncompressed') : n; };
const sexText = (ctx: PageCtx, s: string | null) => (s === '1' || s === 'M' ? L(ctx, '男', 'M') : s === '2' || s === 'F' ? L(ctx, '女', 'F') : '');

/** How many studies wait on 待核对: shown on every imaging page, so nobody has to go and look. */
export interface ImagingNav { reconcilePending?: number }

function SubNav(props: { ctx: PageCtx; nav?: ImagingNav | undefined }) {
  const { ctx } = props;
  const pending = props.nav?.reconcilePending ?? 0;
  const items: [string, string, Child?][] = [
    ['/imaging', L(ctx, '工作列表', 'Worklist')],
    ['/imaging/reconcile', L(ctx, '待核对', 'Reconciliation'), pending > 0 ? <span class="badge bad" data-testid="reconcile-count" title={L(ctx, `${pending} 个检查待核对`, `${pending} studies to reconcile`)} style="margin-left:4px">{pending}</span> : undefined],
    ['/imaging/devices', L(ctx, 'DICOM 设备', 'DICOM devices')],
  ];
  return (
    <>
      <style>{'.badge, td button, th { white-space: nowrap; } td select { min-width: 220px; } .subnav a { margin-right: 18px; } .subnav a.current { font-weight: 600; text-decoration: none; color: inherit; }'}</style>
      <p class="hint subnav" data-testid="imaging-subnav">{items.map(([h, t, extra]) => <a href={h} class={ctx.path === h ? 'current' : undefined} aria-current={ctx.path === h ? 'page' : undefined}>{t}{extra}</a>)}</p>
    </>
  );
}

const gb = (n: number | null) => (n === null ? '—' : n >= 10 * 1024 ** 3 ? `${Math.round(n / 1024 ** 3)} GB` : n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GB` : `${Math.round(n / 1024 ** 2)} MB`);

/**
 * The image disk when it needs a person: below the reserve (new images refused) or below the
 * eviction line (uploaded images being removed; or nothing left to remove: all wait for upload).
 */
export function StorageBanner(props: { ctx: PageCtx; st: StorageStatus | undefined }) {
  const { ctx, st } = props;
  if (!st || (st.state !== 'refusing' && st.state !== 'low')) return null;
  if (st.state === 'refusing') {
    return (
      <div class="error" role="alert" data-testid="storage-banner" data-state="refusing">
        {L(ctx, `影像存储空间不足：可用 ${gb(st.free)}，低于预留的 ${gb(st.reserve)}。设备发来的新影像暂被拒收（设备会保留并稍后自动重发），已收到的影像不受影响。`,
          `Image storage full: ${gb(st.free)} free, below the ${gb(st.reserve)} reserve. New images from the devices are refused for now (the devices keep them and resend); images already received are safe.`)}
        {st.pending.n > 0
          ? L(ctx, ` 本机有 ${st.pending.n} 个影像（${gb(st.pending.bytes)}）等待上传到区影像中心，上传后会自动清理出空间：请检查与区影像中心的连接。`, ` ${st.pending.n} images (${gb(st.pending.bytes)}) wait for upload to the district archive and will be removed from here once uploaded: check the connection to the archive.`)
          : L(ctx, ' 本机已没有可清理的影像：请联系设备技术员检查磁盘。', ' No images left to remove here: ask the device technician to check the disk.')}
      </div>
    );
  }
  return (
    <div class="notice" role="status" data-testid="storage-banner" data-state="low">
      {st.local.n > 0
        ? L(ctx, `影像存储空间偏低（可用 ${gb(st.free)}）：已上传到区影像中心的影像正从本机清理，仍可在区影像中心调阅。`, `Image storage low (${gb(st.free)} free): images already at the district archive are being removed from this appliance; they can still be viewed from the archive.`)
        : L(ctx, `影像存储空间偏低（可用 ${gb(st.free)}）：本机影像都在等待上传，暂无可清理的影像；低于 ${gb(st.reserve)} 时将拒收新影像。请检查与区影像中心的连接。`, `Image storage low (${gb(st.free)} free): every image here waits for upload, none can be removed; below ${gb(st.reserve)} new images are refused. Check the connection to the archive.`)}
    </div>
  );
}

/** The image disk in one line: free, the refusal line, what is here by state, what was removed. */
export function StorageLine(props: { ctx: PageCtx; st: StorageStatus | undefined }) {
  const { ctx, st } = props;
  if (!st) return null;
  const kept = st.keepDays > 0 ? L(ctx, `；已上传满 ${st.keepDays} 天的影像也会清理`, `; uploaded images are also removed after ${st.keepDays} days`) : '';
  return (
    <p class="hint" data-testid="storage" data-state={st.state}>
      {L(ctx, `本机影像存储：可用 ${gb(st.free)}（共 ${gb(st.total)}；低于 ${gb(st.evictBelow)} 时清理已上传的影像，低于 ${gb(st.reserve)} 时拒收新影像${kept}）。本机现有：待上传 ${st.pending.n} 个（${gb(st.pending.bytes)}），已上传 ${st.local.n} 个（${gb(st.local.bytes)}）；已从本机清理 ${st.evicted.n} 个（${gb(st.evicted.bytes)}，在区影像中心，可调阅）。`,
        `Image storage: ${gb(st.free)} free of ${gb(st.total)} (uploaded images are removed below ${gb(st.evictBelow)}, new images refused below ${gb(st.reserve)}${kept}). Here: ${st.pending.n} waiting for upload (${gb(st.pending.bytes)}), ${st.local.n} uploaded (${gb(st.local.bytes)}); removed from here: ${st.evicted.n} (${gb(st.evicted.bytes)}, at the district archive).`)}
      {st.lastSweep ? L(ctx, ` 最近清理：${time(st.lastSweep.at)}，${st.lastSweep.evicted} 个。`, ` Last removal: ${time(st.lastSweep.at)}, ${st.lastSweep.evicted}.`) : ''}
      {st.refused > 0 ? L(ctx, ` 因空间不足拒收 ${st.refused} 次（最近 ${time(st.lastRefusalAt)}）。`, ` Refused for space ${st.refused} times (last ${time(st.lastRefusalAt)}).`) : ''}
      {st.lastError ? L(ctx, ` 错误：${st.lastError}`, ` Error: ${st.lastError}`) : ''}
    </p>
  );
}

export function OrderStatus(props: { ctx: PageCtx; o: { status: string; instances: number; forwarded: number } }) {
  const { ctx, o } = props;
  if (o.status === 'cancelled') return <span class="badge bad">{L(ctx, '已取消', 'cancelled')}</span>;
  if (o.status === 'completed') return <span class="badge ok" data-status="completed">{L(ctx, `检查完成 · ${o.instances} 张${o.forwarded < o.instances ? `（已上传 ${o.forwarded}）` : ''}`, `completed · ${o.instances} image(s)${o.forwarded < o.instances ? ` (uploaded ${o.forwarded})` : ''}`)}</span>;
  if (o.instances === 0) return <span class="badge warn" data-status="scheduled">{L(ctx, '已预约', 'scheduled')}</span>;
  if (o.forwarded < o.instances) return <span class="badge warn" style="background:#1d5fa7" data-status="received">{L(ctx, `已收图 ${o.instances} 张（已上传 ${o.forwarded}）`, `received ${o.instances} (uploaded ${o.forwarded})`)}</span>;
  return <span class="badge ok" data-status="forwarded">{L(ctx, `已上传 ${o.forwarded} 张`, `uploaded ${o.forwarded}`)}</span>;
}

/** What the device reported of the examination (MPPS), beside the order's own status. */
export function DeviceStep(props: { ctx: PageCtx; o: { status: string; mpps: string | null; mppsListed: number; mppsReceived: number } }) {
  const { ctx, o } = props;
  if (!o.mpps) return null;
  const [step, reason] = o.mpps.split('\u001f');
  if (o.mppsReceived < o.mppsListed) {
    return <span class="badge bad" data-mpps="missing" title={L(ctx, '设备报告的图像尚未全部收到：请在设备上重新发送', 'Not every image the device reported has arrived: send them again from the device')}>
      {L(ctx, `设备记录 ${o.mppsListed} 张，已收到 ${o.mppsReceived} 张`, `device made ${o.mppsListed}, received ${o.mppsReceived}`)}</span>;
  }
  if (step === 'IN PROGRESS') return <span class="badge" style="background:#1d5fa7" data-mpps="in-progress" title={L(ctx, '设备已通过 MPPS 报告开始检查', 'The device reported the examination started (MPPS)')}>{L(ctx, '设备：检查中', 'device: in progress')}</span>;
  if (step === 'COMPLETED') {
    if (o.status === 'completed') return null; // the order says it already
    return <span class="badge warn" data-mpps="completed" title={L(ctx, '设备已报告检查完成，图像到达后自动完成', 'The device reported the examination completed; the order completes when its images arrive')}>{L(ctx, '设备已完成，等待图像', 'device done, awaiting images')}</span>;
  }
  if (step === 'DISCONTINUED') return <span class="badge bad" data-mpps="discontinued">{L(ctx, `设备：已中止${reason ? `（${reason}）` : ''}`, `device: discontinued${reason ? ` (${reason})` : ''}`)}</span>;
  return null;
}

export function WorklistPage(props: { ctx: PageCtx; nav?: ImagingNav; date: string; orders: OrderRow[]; studies: StudyRow[]; devices: DeviceRow[]; fwd: { pending: number; done: number; pendingBytes: number; lastError: string | null }; storage?: StorageStatus; error?: string; notice?: string; listError?: string; listNotice?: string; canOrder: boolean; canComplete?: boolean }) {
  const { ctx } = props;
  return (
    <Layout ctx={ctx} title={L(ctx, '影像', 'Imaging')}>
      <SubNav ctx={ctx} nav={props.nav} />
      <StorageBanner ctx={ctx} st={props.storage} />
      <div class="card">
        <h1>{L(ctx, `影像工作列表（${props.date}）`, `Imaging worklist (${props.date})`)}</h1>
        {props.listError && <div class="error" role="alert">{props.listError}</div>}
        {props.listNotice && <div class="notice">{props.listNotice}</div>}
        <table data-testid="worklist">
          <thead><tr><th>{L(ctx, '预约时间', 'Time')}</th><th>{L(ctx, '检查号', 'Accession')}</th><th>{L(ctx, '姓名', 'Name')}</th><th>{L(ctx, '性别', 'Sex')}</th><th>{L(ctx, '检查项目', 'Procedure')}</th><th>{L(ctx, '设备', 'Device')}</th><th>{L(ctx, '状态', 'Status')}</th>{(props.canOrder || props.canComplete) && <th></th>}</tr></thead>
          <tbody>{props.orders.map((o) => (
            <tr data-accession={o.accessionNumber}>
              <td>{o.scheduledTime ? `${o.scheduledTime.slice(0, 2)}:${o.scheduledTime.slice(2, 4)}` : '—'}</td>
              <td>{o.instances > 0 ? <a href={`/imaging/studies/${o.studyInstanceUid}`}>{o.accessionNumber}</a> : o.accessionNumber}</td>
              <td>{o.residentName ?? o.residentId}</td><td>{sexText(ctx, o.residentSex)}</td><td>{o.display}</td><td>{o.stationAe ?? L(ctx, `任一${o.modality}设备`, `any ${o.modality}`)}</td>
              <td><OrderStatus ctx={ctx} o={o} /> <DeviceStep ctx={ctx} o={o} /></td>
              {(props.canOrder || props.canComplete) && <td>{props.canOrder && isAwaitingImages(o.status) && o.instances === 0 && (
                <form method="post" action={`/imaging/orders/${o.orderId}/cancel`} data-confirm={L(ctx, `取消申请 ${o.accessionNumber}（${o.residentName ?? o.residentId}，${o.display}）？`, `Cancel order ${o.accessionNumber}?`)}>
                  <button type="submit" data-testid={`cancel-${o.accessionNumber}`}>{L(ctx, '取消申请', 'Cancel')}</button>
                </form>
              )}{props.canComplete && o.status === 'in-progress' && o.instances > 0 && (
                <form method="post" action={`/imaging/orders/${o.orderId}/complete`} data-confirm={L(ctx, `检查 ${o.accessionNumber}（${o.residentName ?? o.residentId}，${o.display}）已做完，共 ${o.instances} 张图像？`, `Examination ${o.accessionNumber} done, ${o.instances} image(s)?`)}>
                  <button type="submit" data-testid={`complete-${o.accessionNumber}`}>{L(ctx, '检查完成', 'Complete')}</button>
                </form>
              )}</td>}
            </tr>
          ))}</tbody>
        </table>
        {props.orders.length === 0 && <p class="hint">{L(ctx, '当天没有影像检查预约。', 'No imaging orders for this day.')}</p>}
        <p class="hint" data-testid="forwarding">{L(ctx, `上传到区影像中心：待上传 ${props.fwd.pending} 个（${size(props.fwd.pendingBytes)}），已上传 ${props.fwd.done} 个。`, `Upload to the district archive: ${props.fwd.pending} waiting (${size(props.fwd.pendingBytes)}), ${props.fwd.done} uploaded.`)}
          {props.fwd.pending > 0 && props.fwd.lastError ? L(ctx, ` 最近错误：${props.fwd.lastError}（将自动重试）`, ` Last error: ${props.fwd.lastError} (retrying)`) : ''}</p>
        <StorageLine ctx={ctx} st={props.storage} />
      </div>
      {props.canOrder && (
        <div class="card" id="new-order">
          <h1>{L(ctx, '新建影像检查申请', 'New imaging order')}</h1>
          {props.error && <div class="error" role="alert">{props.error}</div>}
          {props.notice && <div class="notice">{props.notice}</div>}
          <form method="post" action="/imaging/orders" class="stack">
            <label for="resident">{L(ctx, '居民（身份证号或居民编号）', 'Resident (ID number or resident id)')}</label><input id="resident" name="resident" required />
            <label for="procedure">{L(ctx, '检查项目', 'Procedure')}</label>
            <select id="procedure" name="procedure">{PROCEDURES.map((p) => <option value={p.code}>{`${p.modality} · ${L(ctx, p.zh, p.en)}`}</option>)}</select>
            <label for="station">{L(ctx, '检查设备', 'Device')}</label>
            <select id="station" name="station"><option value="">{L(ctx, '该类型任一设备', 'any device of the modality')}</option>{props.devices.filter((d) => d.enabled).map((d) => <option value={d.aeTitle}>{`${d.aeTitle}（${d.modality} ${d.room ?? ''}）`}</option>)}</select>
            <label for="sdate">{L(ctx, '预约日期', 'Date')}</label><input id="sdate" name="date" type="date" value={props.date} required />
            <label for="stime">{L(ctx, '预约时间', 'Time')}</label><input id="stime" name="time" type="time" />
            <button class="primary" type="submit">{L(ctx, '提交申请', 'Create order')}</button>
          </form>
        </div>
      )}
      <div class="card">
        <h1>{L(ctx, '最近收到的检查', 'Recently received studies')}</h1>
        <StudyTable ctx={ctx} studies={props.studies} />
      </div>
    </Layout>
  );
}

function StudyTable(props: { ctx: PageCtx; studies: StudyRow[]; action?: (s: StudyRow) => Child }) {
  const { ctx } = props;
  return (
    <table data-testid="studies">
      <thead><tr><th>{L(ctx, '收到时间', 'Received')}</th><th>{L(ctx, '图像中的姓名 / ID', 'Name / ID in images')}</th><th>{L(ctx, '检查号', 'Accession')}</th><th>{L(ctx, '类型', 'Mod.')}</th><th>{L(ctx, '设备', 'Station')}</th><th>{L(ctx, '图像', 'Images')}</th><th>{L(ctx, '匹配', 'Match')}</th>{props.action && <th></th>}</tr></thead>
      <tbody>{props.studies.map((s) => (
        <tr data-study={s.studyInstanceUid}>
          <td>{time(s.lastReceivedAt)}</td>
          <td><a href={`/imaging/studies/${s.studyInstanceUid}`}>{s.patientName ?? '—'}</a><br /><span class="hint">{s.patientId ?? ''}</span></td>
          <td>{s.accessionNumber ?? '—'}</td><td>{s.modality ?? ''}</td><td>{s.stationAe ?? ''}</td>
          <td><OrderStatus ctx={ctx} o={{ status: 'x', instances: s.instances, forwarded: s.forwarded }} /></td>
          <td>{s.orderId ? <span class="badge ok">{matchText(ctx, s.matchKind)}</span> : <span class="badge bad" title={s.matchReason ?? ''}>{matchText(ctx, s.matchKind)}</span>}<br /><span class="hint">{s.orderId ? '' : reasonText(ctx, s.matchReason)}</span></td>
          {props.action && <td>{props.action(s)}</td>}
        </tr>
      ))}</tbody>
    </table>
  );
}

/** The matcher's reasons (device-drivers, English) in the page language. */
function reasonText(ctx: PageCtx, r: string | null): string {
  if (!r || ctx.lang === 'en') return r ?? '';
  const rules: [RegExp, (m: RegExpExecArray) => string][] = [
    [/^no open imaging order for patient (.+)$/, (m) => `没有患者ID ${m[1]} 的待检影像申请`],
    [/^no accession number and no PatientID$/, () => '图像中没有检查号和患者ID'],
    [/^no order with accession (.+), no PatientID$/, (m) => `没有检查号为 ${m[1]} 的申请，且图像中没有患者ID`],
    [/^accession (.+) matches, study UID differs$/, (m) => `检查号 ${m[1]} 相符，但 Study UID 不同`],
    [/^(\d+) orders share accession (.+?)( and the study UID)?$/, (m) => `${m[1]} 个申请使用同一检查号 ${m[2]}`],
    [/^(\d+) open (\w+) orders for patient (.+)$/, (m) => `患者 ${m[3]} 有 ${m[1]} 个待检 ${m[2]} 申请，无法自动确定`],
  ];
  for (const [re, f] of rules) {
    const m = re.exec(r);
    if (m) return f(m);
  }
  return r;
}

function matchText(ctx: PageCtx, k: string): string {
  const m: Record<string, [string, string]> = {
    'accession+study': ['检查号+UID', 'accession+UID'], accession: ['检查号', 'accession'], patient: ['患者ID', 'patient ID'], manual: ['人工核对', 'manual'], ambiguous: ['有歧义', 'ambiguous'], none: ['未匹配', 'unmatched'],
  };
  return L(ctx, ...(m[k] ?? [k, k]));
}

export function StudyPage(props: { ctx: PageCtx; nav?: ImagingNav; study: StudyRow; order: OrderRow | null; instances: InstanceRow[]; reports?: ClinicReport[] }) {
  const { ctx, study: s } = props;
  return (
    <Layout ctx={ctx} title={L(ctx, '检查详情', 'Study')}>
      <SubNav ctx={ctx} nav={props.nav} />
      <div class="card">
        <h1>{L(ctx, '检查详情', 'Study')} · {s.patientName ?? ''}</h1>
        <div class="grid">
          <div class="stat"><div class="label">{L(ctx, '居民', 'Resident')}</div><div class="value" style="font-size:18px">{props.order?.residentName ?? L(ctx, '未关联', 'not linked')}</div></div>
          <div class="stat"><div class="label">{L(ctx, '检查项目', 'Procedure')}</div><div class="value" style="font-size:18px">{props.order?.display ?? s.description ?? '—'}</div></div>
          <div class="stat"><div class="label">{L(ctx, '检查号', 'Accession')}</div><div class="value" style="font-size:18px">{s.accessionNumber ?? '—'}</div></div>
          <div class="stat"><div class="label">{L(ctx, '状态', 'Status')}</div><div class="value" style="font-size:18px"><OrderStatus ctx={ctx} o={{ status: 'x', instances: s.instances, forwarded: s.forwarded }} /></div></div>
        </div>
        <p class="hint">Study Instance UID: {s.studyInstanceUid} · {L(ctx, '设备', 'station')} {s.stationAe ?? ''} · {L(ctx, '图像中的患者ID', 'PatientID in images')} {s.patientId ?? ''} · {L(ctx, '匹配方式', 'match')} {matchText(ctx, s.matchKind)}{s.resolvedBy ? ` (${s.resolvedBy})` : ''}</p>
      </div>
      <ReportCard ctx={ctx} reports={props.reports ?? []} studyUid={s.studyInstanceUid} />
      <div class="card">
        <h1>{L(ctx, `图像（${props.instances.length}）`, `Images (${props.instances.length})`)}</h1>
        <div style="display:flex;flex-wrap:wrap;gap:14px" data-testid="thumbnails">
          {props.instances.map((i) => {
            return (
              <figure style="margin:0;width:210px;border:1px solid #d9dee6;border-radius:6px;padding:6px;background:#fafbfc">
                {canPreview(i.transferSyntaxUid)
                  ? <a href={`/imaging/instances/${i.sopInstanceUid}/preview.png?size=1024`} target="_blank" rel="noopener" title={L(ctx, '查看大图', 'Open large')}><img src={`/imaging/instances/${i.sopInstanceUid}/preview.png`} alt={`#${i.instanceNumber ?? ''}`} loading="lazy" style="width:196px;height:196px;object-fit:contain;background:#000" /></a>
                  : <div style="width:196px;height:196px;background:#333;color:#fff;display:flex;align-items:center;justify-content:center;text-align:center;font-size:13px;padding:10px" data-testid="no-preview">{L(ctx, `${transferSyntaxName(i.transferSyntaxUid)} 压缩图像暂不支持预览（原图已保存并上传）`, `${transferSyntaxName(i.transferSyntaxUid)}: no preview (original stored and uploaded)`)}</div>}
                <figcaption class="hint">{`#${i.instanceNumber ?? '?'} · ${SOP_NAMES[i.sopClassUid] ?? i.sopClassUid}${i.numberOfFrames && i.numberOfFrames > 1 ? ` · ${i.numberOfFrames}帧` : ''} · ${size(i.size)}`}<br />
                  <span data-testid="ts">{tsText(ctx, i.transferSyntaxUid)}</span> · {i.fwdState === 'done' ? (i.evictedAt
                    ? <span style="color:#1f8a4c" data-testid="evicted" title={L(ctx, `${time(i.evictedAt)} 从本机清理；图像从区影像中心调阅`, `removed from this appliance ${time(i.evictedAt)}; shown from the district archive`)}>{L(ctx, '在区影像中心', 'at the archive')}</span>
                    : <span style="color:#1f8a4c">{L(ctx, '已上传', 'uploaded')}</span>) : <span style="color:#b7791f">{L(ctx, '待上传', 'waiting')}{i.fwdAttempts ? ` (${i.fwdAttempts})` : ''}</span>}<br />
                  <span title={i.sha256}>sha256 {i.sha256.slice(0, 12)}…</span></figcaption>
              </figure>
            );
          })}
        </div>
      </div>
    </Layout>
  );
}

const REPORT_STATUS: Record<string, [string, string]> = { preliminary: ['初步报告', 'preliminary'], final: ['正式报告', 'final'], amended: ['修订报告', 'amended'] };

/** The district radiologist's report (诊断报告), latest version first; earlier versions listed below it. */
function ReportCard(props: { ctx: PageCtx; reports: ClinicReport[]; studyUid?: string }) {
  const { ctx } = props;
  const latest = props.reports[props.reports.length - 1];
  if (!latest) {
    return <div class="card" data-testid="report"><h1>{L(ctx, '诊断报告', 'Report')}</h1><p class="hint">{L(ctx, '区医院尚未出具报告（图像上传后由上级医院阅片）。', 'No report from the district hospital yet.')}</p></div>;
  }
  const st = REPORT_STATUS[latest.status] ?? [latest.status, latest.status];
  return (
    <div class="card" data-testid="report">
      <h1>{L(ctx, '诊断报告', 'Report')} <span class="hint">{L(ctx, st[0], st[1])} · v{latest.version}</span>
        {latest.positive ? <span style="margin-left:10px;color:#fff;background:#c53030;border-radius:4px;padding:2px 8px;font-size:13px">{L(ctx, '阳性', 'positive')}</span> : <span style="margin-left:10px;color:#fff;background:#1f8a4c;border-radius:4px;padding:2px 8px;font-size:13px">{L(ctx, '阴性', 'negative')}</span>}</h1>
      <p><b>{L(ctx, '检查所见：', 'Findings: ')}</b>{latest.findings}</p>
      <p><b>{L(ctx, '诊断意见：', 'Impression: ')}</b>{latest.impression}</p>
      <p class="hint">{L(ctx, '报告医生', 'Radiologist')} {latest.radiologist} · {time(latest.reportedAt)}</p>
      {props.studyUid && <p><a class="btn" href={`/imaging/studies/${props.studyUid}/report`} data-testid="print-report">{L(ctx, '打印报告单', 'Print the report')}</a></p>}
      {props.reports.length > 1 && <p class="hint">{L(ctx, '历史版本：', 'Earlier versions: ')}{props.reports.slice(0, -1).map((r) => `v${r.version} ${L(ctx, (REPORT_STATUS[r.status] ?? [r.status])[0]!, r.status)}：${r.impression}`).join('；')}</p>}
    </div>
  );
}

export function ReconcilePage(props: { ctx: PageCtx; nav?: ImagingNav; studies: StudyRow[]; orders: OrderRow[]; error?: string; notice?: string }) {
  const { ctx } = props;
  return (
    <Layout ctx={ctx} title={L(ctx, '待核对检查', 'Reconciliation')}>
      <SubNav ctx={ctx} nav={props.nav} />
      <div class="card">
        <h1>{L(ctx, `待核对检查（${props.studies.length}）`, `Studies to reconcile (${props.studies.length})`)}</h1>
        <p class="hint">{L(ctx, '以下检查无法按“检查号+Study UID”或“患者ID”唯一对应到影像申请，请核对图像中的姓名后关联到正确的申请。', 'These studies could not be matched to exactly one order by accession + Study UID or by PatientID. Check the name in the images and link the right order.')}</p>
        {props.error && <div class="error" role="alert">{props.error}</div>}
        {props.notice && <div class="notice">{props.notice}</div>}
        <StudyTable ctx={ctx} studies={props.studies} action={(s) => <LinkForm ctx={ctx} study={s} orders={props.orders} />} />
        {props.studies.length === 0 && <p class="hint">{L(ctx, '没有待核对的检查。', 'Nothing to reconcile.')}</p>}
      </div>
    </Layout>
  );
}

const REASON_TEXT: Record<CandidateReason, [string, string]> = {
  id: ['患者ID', 'patient ID'], name: ['姓名', 'name'], birth: ['出生日期', 'birth date'], modality: ['检查类型', 'modality'], date: ['日期', 'date'],
};

function orderLabel(ctx: PageCtx, c: Candidate): string {
  const o = c.order;
  const date = isoDay(o.scheduledDate);
  const same = c.reasons.length > 0 ? L(ctx, `（${c.reasons.map((r) => REASON_TEXT[r][0]).join('、')}相符）`, ` (same ${c.reasons.map((r) => REASON_TEXT[r][1]).join(', ')})`) : '';
  return `${o.accessionNumber} · ${o.residentName ?? o.residentId} · ${o.display} · ${date}${same}`;
}

/**
 * Link one study to an order: the orders naming the same person first, nothing pre-selected
 * (a slip would file the images under another patient), and a way out when no order is open.
 */
function LinkForm(props: { ctx: PageCtx; study: StudyRow; orders: OrderRow[] }) {
  const { ctx, study } = props;
  if (props.orders.length === 0) {
    return <span class="hint" data-testid="no-open-orders">{L(ctx, '没有待检的影像申请可关联。', 'No open imaging order to link.')}<br /><a href="/imaging#new-order">{L(ctx, '先新建申请', 'Create an order first')}</a></span>;
  }
  const { likely, others } = rankCandidates(study, props.orders);
  return (
    <form method="post" action="/imaging/reconcile" style="display:flex;gap:6px">
      <input type="hidden" name="study" value={study.studyInstanceUid} />
      <select name="order" required style="max-width:300px" aria-label={L(ctx, '关联到申请', 'Link to order')}>
        <option value="" selected>{L(ctx, '请选择申请…', 'Choose an order…')}</option>
        {likely.length > 0 && <optgroup label={L(ctx, '可能是同一患者', 'Likely the same patient')} data-group="likely">{likely.map((c) => <option value={c.order.orderId}>{orderLabel(ctx, c)}</option>)}</optgroup>}
        {others.length > 0 && <optgroup label={likely.length > 0 ? L(ctx, '其他待检申请', 'Other open orders') : L(ctx, '待检申请（姓名和患者ID均不相符，请仔细核对）', 'Open orders (neither name nor patient ID matches: check carefully)')} data-group="others">{others.map((c) => <option value={c.order.orderId}>{orderLabel(ctx, c)}</option>)}</optgroup>}
      </select>
      <button type="submit">{L(ctx, '关联', 'Link')}</button>
    </form>
  );
}

/** A refused association as the page shows it, with the device its AE title is registered as now (if any). */
export type RefusalView = RefusalRow & { device: DeviceRow | null };

/**
 * What happened and what to do, in the technician's words. `resolved` when the registry now
 * lets that peer in (registered, enabled, at that address): the row stays until dismissed, so
 * the technician sees the last refusal was before the fix.
 */
function refusalAdvice(ctx: PageCtx, r: RefusalView, ourAe: string): { what: string; todo: string; resolved: boolean } {
  const d = r.device;
  switch (r.reason) {
    case 'unknown-ae':
      return { what: L(ctx, `AE 标题 ${r.callingAe} 未登记`, `AE title ${r.callingAe} is not registered`),
        todo: d ? L(ctx, '已登记', 'now registered') : L(ctx, '如果这是本诊所的设备，请登记它。', 'If this is one of the clinic\'s devices, register it.'), resolved: !!d };
    case 'host-mismatch':
      return { what: L(ctx, `AE 标题已登记，但登记的地址是 ${d?.host ?? '?'}，连接来自 ${r.remoteHost}`, `AE title registered at ${d?.host ?? '?'}, but the connection came from ${r.remoteHost}`),
        todo: d && (d.host === '*' || d.host === r.remoteHost) ? L(ctx, '登记地址已更正', 'address corrected') : L(ctx, '如果设备换了 IP 地址，请修改登记的地址。', 'If the device has a new IP address, change the registered address.'),
        resolved: !!d && (d.host === '*' || d.host === r.remoteHost) };
    case 'disabled':
      return { what: L(ctx, '设备已停用', 'the device is disabled'), todo: d?.enabled ? L(ctx, '已重新启用', 'enabled again') : L(ctx, '需要使用时在上表中启用。', 'Enable it in the table above when it is to be used.'), resolved: !!d?.enabled };
    case 'called-ae':
      return { what: L(ctx, `设备呼叫的 AE 标题是 ${r.calledAe}，本机是 ${ourAe}`, `the device called AE title ${r.calledAe}; this edge is ${ourAe}`),
        todo: L(ctx, `请在设备的 DICOM 网络设置中把目标（Called AE）改为 ${ourAe}。`, `Set the called AE title in the device's DICOM network settings to ${ourAe}.`), resolved: false };
    case 'limit':
      return { what: L(ctx, '同时连接的设备过多（暂时性）', 'too many associations at once (transient)'), todo: L(ctx, '设备会自动重试；经常出现请联系运维。', 'Devices retry; if it keeps happening, call operations.'), resolved: false };
    case 'unavailable':
      return { what: L(ctx, '设备登记表暂时不可用（暂时性）', 'the device registry was unavailable (transient)'), todo: L(ctx, '设备会自动重试；经常出现请联系运维。', 'Devices retry; if it keeps happening, call operations.'), resolved: false };
  }
}

/** 被拒绝的连接: who tried to connect, how often, why, and the fix (register, correct, enable). */
function RefusalsCard(props: { ctx: PageCtx; refusals: RefusalView[]; ourAe: string; notice?: string | undefined; error?: string | undefined }) {
  const { ctx } = props;
  return (
    <div class="card" id="refusals">
      <h1>{L(ctx, '被拒绝的连接', 'Refused connections')}</h1>
      {props.error && <div class="error" role="alert">{props.error}</div>}
      {props.notice && <div class="notice" role="status">{props.notice}</div>}
      {props.refusals.length === 0
        ? <p class="hint" data-testid="no-refusals">{L(ctx, '最近没有被拒绝的连接。设备连不上时，先看这里。', 'No refused connections recently. When a device cannot connect, look here first.')}</p>
        : <>
          <p class="hint">{L(ctx, '设备连不上时，原因通常在这里：未登记的 AE 标题、地址不符、已停用，或设备呼叫了别的 AE 标题。', 'When a device cannot connect, the reason is usually here: an unregistered AE title, another address, disabled, or the device calls another AE title.')}</p>
          <table data-testid="refusals">
            <thead><tr><th>{L(ctx, '设备 AE', 'Calling AE')}</th><th>{L(ctx, '来自', 'From')}</th><th>{L(ctx, '原因', 'Reason')}</th><th>{L(ctx, '次数', 'Count')}</th><th>{L(ctx, '最近一次', 'Last')}</th><th>{L(ctx, '处理', 'What to do')}</th><th></th></tr></thead>
            <tbody>{props.refusals.map((r) => {
              const a = refusalAdvice(ctx, r, props.ourAe);
              return (
                <tr data-refusal={`${r.callingAe}|${r.remoteHost}|${r.reason}`} data-reason={r.reason}>
                  <td>{r.callingAe === '*' ? L(ctx, '（多个设备）', '(many peers)') : r.callingAe || L(ctx, '（空）', '(empty)')}</td>
                  <td>{r.remoteHost === '*' ? '—' : r.remoteHost}</td>
                  <td>{a.what}</td>
                  <td>{r.count}</td>
                  <td class="hint" title={L(ctx, `首次 ${time(r.firstAt)}`, `first ${time(r.firstAt)}`)}>{time(r.lastAt)}</td>
                  <td>{a.resolved ? <span class="badge ok">{a.todo}</span> : a.todo}</td>
                  <td style="white-space:nowrap">
                    {r.reason === 'unknown-ae' && !a.resolved && r.callingAe !== '*' && r.callingAe !== '' &&
                      <a class="button" data-testid="register-refused" href={`/imaging/devices?ae=${encodeURIComponent(r.callingAe)}&host=${encodeURIComponent(r.remoteHost)}#register`}>{L(ctx, '登记此设备', 'Register this device')}</a>}
                    {r.reason === 'host-mismatch' && !a.resolved && r.device && <a class="button" href={`/devices/${r.device.id}`}>{L(ctx, '修改地址', 'Change address')}</a>}{' '}
                    <form method="post" action="/imaging/devices/refusals/dismiss" style="display:inline">
                      <input type="hidden" name="callingAe" value={r.callingAe} /><input type="hidden" name="remoteHost" value={r.remoteHost} /><input type="hidden" name="reason" value={r.reason} />
                      <button type="submit">{L(ctx, '移除', 'Dismiss')}</button>
                    </form>
                  </td>
                </tr>
              );
            })}</tbody>
          </table>
        </>}
    </div>
  );
}

export function DevicesPage(props: { ctx: PageCtx; nav?: ImagingNav; devices: DeviceRow[]; local: { aeTitle: string; port: number | null }; storage?: StorageStatus; refusals?: RefusalView[]; prefill?: { aeTitle: string; host: string }; error?: string; notice?: string; refusalError?: string; refusalNotice?: string; echo?: { ae: string; ok: boolean; detail: string } }) {
  const { ctx } = props;
  return (
    <Layout ctx={ctx} title={L(ctx, 'DICOM 设备', 'DICOM devices')}>
      <SubNav ctx={ctx} nav={props.nav} />
      <StorageBanner ctx={ctx} st={props.storage} />
      <div class="card">
        <h1>{L(ctx, 'DICOM 设备登记', 'DICOM devices')}</h1>
        <StorageLine ctx={ctx} st={props.storage} />
        <p class="hint" data-testid="local-ae">{L(ctx, `本机 DICOM 服务：AE 标题 ${props.local.aeTitle}，端口 ${props.local.port ?? '未启动'}。只有已登记并启用的设备可以连接。`, `This edge: AE title ${props.local.aeTitle}, port ${props.local.port ?? 'not running'}. Only registered, enabled devices may connect.`)}</p>
        <p class="hint" data-testid="one-registry">{L(ctx, '这里登记的设备保存在统一的设备登记表中，也显示在「设备管理」；在任一处停用都会拒绝该设备连接。', 'Devices registered here are in the one device registry and also listed on Devices; disabling in either place refuses the device.')}</p>
        {props.echo && <div class={props.echo.ok ? 'notice' : 'error'} role="status" data-testid="echo-result">{`${props.echo.ae}：${props.echo.ok ? L(ctx, '连接成功', 'connection ok') : L(ctx, '连接失败', 'connection failed')} — ${props.echo.detail}`}</div>}
        <table data-testid="devices">
          <thead><tr><th>AE</th><th>{L(ctx, '地址', 'Host')}</th><th>{L(ctx, '端口', 'Port')}</th><th>{L(ctx, '类型', 'Modality')}</th><th>{L(ctx, '检查室', 'Room')}</th><th>{L(ctx, '状态', 'Status')}</th><th>{L(ctx, '最近测试', 'Last test')}</th><th></th></tr></thead>
          <tbody>{props.devices.map((d) => (
            <tr data-ae={d.aeTitle}>
              <td>{d.aeTitle}</td><td>{d.host}</td><td>{d.port}</td><td>{d.modality}</td><td>{d.room ?? ''}</td>
              <td>{d.enabled ? <span class="badge ok">{L(ctx, '启用', 'enabled')}</span> : <span class="badge bad">{L(ctx, '停用', 'disabled')}</span>}</td>
              <td class="hint">{d.lastEchoAt ? `${time(d.lastEchoAt)} ${d.lastEchoResult ?? ''}` : '—'}</td>
              <td style="white-space:nowrap">
                <form method="post" action={`/imaging/devices/${d.id}/echo`} style="display:inline"><button type="submit" data-testid={`echo-${d.aeTitle}`}>{L(ctx, '测试连接', 'Test connection')}</button></form>{' '}
                <form method="post" action={`/imaging/devices/${d.id}/toggle`} style="display:inline"><button type="submit">{d.enabled ? L(ctx, '停用', 'Disable') : L(ctx, '启用', 'Enable')}</button></form>
              </td>
            </tr>
          ))}</tbody>
        </table>
      </div>
      <RefusalsCard ctx={ctx} refusals={props.refusals ?? []} ourAe={props.local.aeTitle} notice={props.refusalNotice} error={props.refusalError} />
      <div class="card" id="register">
        <h1>{L(ctx, '登记新设备', 'Register a device')}</h1>
        {props.prefill && <div class="notice" data-testid="prefill">{L(ctx, `已按被拒绝的连接填入 AE 标题和地址，请核对端口、类型和检查室后登记。`, 'AE title and address filled in from the refused connection: check port, modality and room, then register.')}</div>}
        {props.error && <div class="error" role="alert">{props.error}</div>}
        {props.notice && <div class="notice">{props.notice}</div>}
        <form method="post" action="/imaging/devices" class="stack">
          <label for="ae">{L(ctx, 'AE 标题（设备的 Calling AE）', 'AE title (the device\'s calling AE)')}</label><input id="ae" name="aeTitle" required maxlength={16} value={props.prefill?.aeTitle ?? ''} />
          <label for="host">{L(ctx, 'IP 地址（* 表示任意地址）', 'IP address (* = any)')}</label><input id="host" name="host" required value={props.prefill?.host ?? ''} />
          <label for="port">{L(ctx, '端口（设备的 DICOM 端口，用于测试连接）', 'Port (the device\'s DICOM port, for the connection test)')}</label><input id="port" name="port" type="number" value="104" required />
          <label for="modality">{L(ctx, '类型', 'Modality')}</label>
          <select id="modality" name="modality"><option value="US">US 超声</option><option value="DX">DX 数字X线（DR）</option><option value="CR">CR 计算机X线</option><option value="OT">OT 其他</option></select>
          <label for="room">{L(ctx, '检查室', 'Room')}</label><input id="room" name="room" />
          <button class="primary" type="submit">{L(ctx, '登记', 'Register')}</button>
        </form>
      </div>
    </Layout>
  );
}

/** Age in whole years on `on` (yyyy-MM-dd) from a birth date (yyyy-MM-dd or yyyyMMdd). */
function ageOn(birth: string | null, on: string): number | null {
  const b = birth?.replaceAll('-', '');
  if (!b || !/^\d{8}$/.test(b)) return null;
  const d = on.replaceAll('-', '');
  let age = Number(d.slice(0, 4)) - Number(b.slice(0, 4));
  if (d.slice(4) < b.slice(4)) age--;
  return age >= 0 && age < 150 ? age : null;
}

const REPORT_TITLE: Record<string, [string, string]> = { US: ['超声检查报告单', 'Ultrasound report'], DX: ['DR 检查报告单', 'Radiography report'], CR: ['CR 检查报告单', 'Radiography report'] };

/**
 * 影像检查报告单 for the patient (tender 1.3.3: a standard report with images): the clinic's name,
 * who and what was examined, up to four images, the district radiologist's findings and impression,
 * who reported and when. Printed from the browser (A4; navigation and buttons are not printed).
 */
export function ReportPrintPage(props: { ctx: PageCtx; clinicName: string; study: StudyRow; order: OrderRow | null; instances: InstanceRow[]; report: ClinicReport; printedBy: string }) {
  const { ctx, study: s, order: o, report: r } = props;
  const modality = o?.modality ?? s.modality ?? '';
  const title = REPORT_TITLE[modality] ?? ['影像检查报告单', 'Imaging report'];
  const examDay = s.studyDate && /^\d{8}$/.test(s.studyDate) ? `${s.studyDate.slice(0, 4)}-${s.studyDate.slice(4, 6)}-${s.studyDate.slice(6)}` : (s.lastReceivedAt ?? '').slice(0, 10);
  const age = ageOn(o?.residentBirthDate ?? null, examDay || new Date().toISOString().slice(0, 10));
  const images = props.instances.filter((i) => canPreview(i.transferSyntaxUid)).slice(0, 4);
  const st = REPORT_STATUS[r.status] ?? [r.status, r.status];
  return (
    <Layout ctx={ctx} title={L(ctx, title[0], title[1])}>
      <style>{`.rp { max-width: 760px; margin: 0 auto; background: #fff; padding: 24px 32px; border: 1px solid #d9dee6; }
.rp h1 { text-align: center; margin: 0 0 4px; font-size: 22px; } .rp h2 { text-align: center; margin: 0 0 14px; font-size: 18px; font-weight: normal; letter-spacing: 4px; }
.rp .kv { display: grid; grid-template-columns: repeat(3, 1fr); gap: 4px 16px; border-top: 2px solid #000; border-bottom: 1px solid #000; padding: 8px 0; font-size: 14px; }
.rp .imgs { display: grid; grid-template-columns: repeat(4, 1fr); gap: 8px; margin: 12px 0; } .rp .imgs img { width: 100%; aspect-ratio: 1; object-fit: contain; background: #000; }
.rp h3 { font-size: 15px; margin: 14px 0 4px; } .rp p.text { white-space: pre-wrap; margin: 0 0 8px; line-height: 1.7; font-size: 15px; }
.rp .sign { display: flex; justify-content: space-between; border-top: 1px solid #000; margin-top: 18px; padding-top: 8px; font-size: 14px; } .rp .foot { font-size: 12px; color: #555; margin-top: 10px; }
@media print { header, nav, .no-print { display: none !important; } main { margin: 0; max-width: none; padding: 0; } body { background: #fff; } .rp { border: none; padding: 0; max-width: none; } @page { size: A4; margin: 15mm; } }`}</style>
      <div class="rp" data-testid="report-sheet">
        <h1>{props.clinicName || L(ctx, '社区卫生服务中心', 'Community health centre')}</h1>
        <h2>{L(ctx, title[0], title[1])}</h2>
        <div class="kv">
          <span>{L(ctx, '姓名', 'Name')}：<b data-testid="sheet-name">{o?.residentName ?? s.patientName ?? '—'}</b></span>
          <span>{L(ctx, '性别', 'Sex')}：{sexText(ctx, o?.residentSex ?? null) || '—'}</span>
          <span>{L(ctx, '年龄', 'Age')}：{age === null ? '—' : L(ctx, `${age} 岁`, `${age}`)}</span>
          <span>{L(ctx, '检查号', 'Accession')}：{s.accessionNumber ?? '—'}</span>
          <span>{L(ctx, '检查项目', 'Procedure')}：{o?.display ?? s.description ?? '—'}</span>
          <span>{L(ctx, '检查日期', 'Date')}：{examDay || '—'}</span>
          <span>{L(ctx, '检查设备', 'Device')}：{s.stationAe ?? '—'}</span>
          <span>{L(ctx, '图像', 'Images')}：{L(ctx, `${s.instances} 张`, `${s.instances}`)}</span>
          <span>{L(ctx, '报告状态', 'Status')}：{L(ctx, st[0], st[1])}{r.version > 1 ? ` · v${r.version}` : ''}</span>
        </div>
        {images.length > 0 && <div class="imgs" data-testid="sheet-images">{images.map((i) => <img src={`/imaging/instances/${i.sopInstanceUid}/preview.png`} alt={`#${i.instanceNumber ?? ''}`} />)}</div>}
        <h3>{L(ctx, '检查所见', 'Findings')}</h3>
        <p class="text" data-testid="sheet-findings">{r.findings}</p>
        <h3>{L(ctx, '诊断意见', 'Impression')}</h3>
        <p class="text" data-testid="sheet-impression">{r.impression}</p>
        <div class="sign">
          <span>{L(ctx, '报告医师', 'Radiologist')}：{r.radiologist}</span>
          <span>{L(ctx, '报告时间', 'Reported')}：{time(r.reportedAt)}</span>
        </div>
        <p class="foot">{r.status === 'preliminary'
          ? L(ctx, '本报告为初步报告，以正式报告为准。', 'Preliminary report: the final report prevails.')
          : L(ctx, '本报告由区影像诊断中心远程阅片出具，仅供临床参考。', 'Reported remotely by the district imaging centre; for clinical reference.')} {L(ctx, `打印：${props.printedBy} ${time(new Date().toISOString())}`, `Printed by ${props.printedBy} ${time(new Date().toISOString())}`)}</p>
      </div>
      <p class="no-print" style="text-align:center;margin-top:14px"><button class="btn primary" type="button" data-print data-testid="print">{L(ctx, '打印', 'Print')}</button> <a class="btn" href={`/imaging/studies/${s.studyInstanceUid}`}>{L(ctx, '返回', 'Back')}</a></p>
    </Layout>
  );
}
