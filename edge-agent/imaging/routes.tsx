/** Imaging pages and actions, role-checked by `ui.page` and audited. */
import type { Context } from 'hono';
import type { ReportPuller } from './reports.ts';
import type { DicomScpServer } from '../../device-drivers/dicom/index.ts';
import { RegistryError } from '../devices/registry.ts';
import { echoDevice } from './echo.ts';
import type { EdgeModuleContext } from '../modules.ts';
import type { Role } from '../web/accounts.ts';
import { clientIp } from '../web/app.tsx';
import type { Forwarder } from './forwarder.ts';
import { ReconcileError, resolveStudy } from './ingest.ts';
import { DevicesPage, L, PROCEDURES, ReconcilePage, ReportPrintPage, StudyPage, WorklistPage } from './pages.tsx';
import type { PageCtx } from '../web/layout.tsx';
import { previewAnswer } from '../../contracts/dicom/no-preview.ts';
import { archivedPreview } from './archived-preview.ts';
import type { ImagingStorage } from './storage.ts';
import type { PreviewRenderer } from '../../contracts/dicom/preview-pool.ts';
import { isoDay, type ImagingRepo, type Modality, type OrderRow } from './repo.ts';
import type { Tx } from '../store/store.ts';
import type { RefusalLog } from './refusals.ts';

export const VIEW_ROLES: readonly Role[] = ['doctor', 'nurse', 'registrar', 'imaging_tech', 'device_tech', 'clinic_admin'];
const ORDER_ROLES: readonly Role[] = ['doctor', 'registrar', 'imaging_tech', 'clinic_admin'];
const RECONCILE_ROLES: readonly Role[] = ['doctor', 'imaging_tech', 'clinic_admin'];
const DEVICE_ROLES: readonly Role[] = ['device_tech', 'imaging_tech', 'clinic_admin'];

/** Today in the clinic's time zone (China: UTC+8), yyyy-MM-dd. */
export const today = () => new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);

export function mountImagingUi(ctx: EdgeModuleContext, deps: {
  repo: ImagingRepo; scp: () => DicomScpServer | null; aeTitle: string; forwarder: Forwarder; reports: ReportPuller; newStudyUid: () => string; previews: PreviewRenderer; refusals: RefusalLog;
  storage: ImagingStorage;
  /** The central archive, for previews of instances removed from this disk. */
  central: { url: string | undefined; token: string | undefined };
}) {
  const { ui, accounts, store } = ctx;
  const { repo } = deps;
  const audit = (c: Context, user: string, action: string, target: string, outcome: string) => accounts.audit(user, action, target, clientIp(c), outcome);

  const nav = () => ({ reconcilePending: repo.unreconciledCount() });
  const worklist = (c: Context, pctx: Parameters<typeof WorklistPage>[0]['ctx'], role: Role, extra: { error?: string; notice?: string; listError?: string; listNotice?: string } = {}, status: 200 | 400 = 200, day?: string) => {
    const q = day ?? c.req.query('date');
    const date = q && /^\d{4}-\d{2}-\d{2}$/.test(q) ? q : today();
    const f = repo.forwardStats();
    return ui.html(c, <WorklistPage ctx={pctx} nav={nav()} date={date} orders={repo.ordersOn(date.replaceAll('-', ''))} studies={repo.recentStudies(20)} devices={repo.devices()}
      fwd={{ ...f, lastError: deps.forwarder.counters.lastError }} storage={deps.storage.status()} canOrder={ORDER_ROLES.includes(role)} canComplete={RECONCILE_ROLES.includes(role)} {...extra} />, status);
  };

  ui.page('get', '/imaging', VIEW_ROLES, (c, u, pctx) => {
    audit(c, u.username, 'imaging.worklist.view', c.req.query('date') ?? today(), 'ok');
    return worklist(c, pctx, u.role);
  });

  ui.page('post', '/imaging/orders', ORDER_ROLES, async (c, u, pctx) => {
    const f = await c.req.parseBody();
    const key = String(f.resident ?? '').trim();
    const proc = PROCEDURES.find((p) => p.code === String(f.procedure ?? ''));
    const date = String(f.date ?? '');
    const timeIn = String(f.time ?? '');
    const station = String(f.station ?? '').trim() || null;
    const resident = store.db.prepare<[string, string], { resident_id: string; name: string }>('SELECT resident_id, name FROM residents WHERE resident_id = ? OR id_number = ? LIMIT 1').get(key, key.toUpperCase());
    const err = !resident ? L(pctx, `找不到居民：${key}（请先建档）`, `no resident ${key} (register first)`)
      : !proc ? L(pctx, '请选择检查项目', 'choose a procedure')
      : !/^\d{4}-\d{2}-\d{2}$/.test(date) ? L(pctx, '预约日期格式不正确', 'invalid date')
      : timeIn && !/^\d{2}:\d{2}$/.test(timeIn) ? L(pctx, '预约时间格式不正确', 'invalid time')
      : station && !repo.deviceByAe(station) ? L(pctx, `未登记的设备 ${station}`, `unknown device ${station}`) : null;
    if (err) {
      audit(c, u.username, 'imaging.order.create', key, `refused: ${err}`);
      return worklist(c, pctx, u.role, { error: err }, 400);
    }
    const o = await store.transactAsync((tx) => repo.createOrder(tx, {
      residentId: resident!.resident_id, modality: proc!.modality as Modality, code: proc!.code, display: proc!.zh, stationAe: station,
      scheduledDate: date.replaceAll('-', ''), scheduledTime: timeIn ? `${timeIn.replace(':', '')}00` : null, requestedBy: u.username,
    }, deps.newStudyUid()));
    audit(c, u.username, 'imaging.order.create', `${o.accessionNumber} ${resident!.resident_id}`, 'ok');
    return worklist(c, pctx, u.role, { notice: L(pctx, `已创建检查申请 ${o.accessionNumber}（${resident!.name}，${proc!.zh}），设备可通过工作列表获取。`, `Order ${o.accessionNumber} created; devices see it in the worklist.`) });
  });

  /**
   * A person's action on one order (cancel, complete): run in a transaction; the day's worklist
   * again with what happened, or why not in words (a stale page, an order already closed), audited.
   */
  const orderAction = <O extends string>(path: string, roles: readonly Role[], action: string, done: O,
    run: (tx: Tx, orderId: string) => O | 'unknown', refusal: (outcome: O | 'unknown', acc: string, before: OrderRow | null, pctx: PageCtx) => string,
    notice: (acc: string, before: OrderRow, pctx: PageCtx) => string) =>
    ui.page('post', path, roles, async (c, u, pctx) => {
      const id = c.req.param('id') ?? '';
      const before = repo.order(id);
      const day = before ? isoDay(before.scheduledDate) : undefined;
      const outcome = await store.transactAsync((tx) => run(tx, id));
      const acc = before?.accessionNumber ?? id;
      if (outcome !== done || !before) {
        const msg = outcome === 'unknown' || !before ? L(pctx, '找不到该申请，请刷新页面。', 'Order not found: reload the page.') : refusal(outcome, acc, before, pctx);
        audit(c, u.username, action, acc, `refused: ${outcome}`);
        return worklist(c, pctx, u.role, { listError: msg }, 400, day);
      }
      audit(c, u.username, action, `${acc} ${before.residentId}`, 'ok');
      return worklist(c, pctx, u.role, { listNotice: notice(acc, before, pctx) }, 200, day);
    });
  const closed = (acc: string, before: OrderRow | null) => `申请 ${acc} 已${before?.status === 'cancelled' ? '取消' : '完成'}`;

  // Cancel an order nobody has imaged yet (entered by mistake, the patient did not come): it leaves
  // the devices' worklist and the reconciliation choices; the row stays on the day's list, marked.
  orderAction('/imaging/orders/:id/cancel', ORDER_ROLES, 'imaging.order.cancel', 'cancelled', (tx, id) => repo.cancelOrder(tx, id),
    (outcome, acc, before, pctx) => (outcome === 'has_images'
      ? L(pctx, `申请 ${acc} 已收到图像，不能取消（图像已归档到该申请）。`, `Order ${acc} already has images: it cannot be cancelled.`)
      : L(pctx, `${closed(acc, before)}，无需再取消。`, `Order ${acc} is already ${before?.status ?? 'closed'}.`)),
    (acc, o, pctx) => L(pctx, `已取消申请 ${acc}（${o.residentName ?? o.residentId}，${o.display}），设备的工作列表中不再显示。`, `Order ${acc} cancelled; devices no longer see it in the worklist.`));

  // The examination is done (检查完成): the technician after the last image. It leaves the open
  // orders; the district radiologist's final report does the same by itself (reports.ts).
  orderAction('/imaging/orders/:id/complete', RECONCILE_ROLES, 'imaging.order.complete', 'completed', (tx, id) => repo.completeOrder(tx, id),
    (outcome, acc, before, pctx) => (outcome === 'no_images'
      ? L(pctx, `申请 ${acc} 还没有收到图像，不能标记完成（未做的检查请取消申请）。`, `Order ${acc} has no images yet: it cannot be completed (cancel it if it will not be done).`)
      : L(pctx, `${closed(acc, before)}。`, `Order ${acc} is already ${before?.status ?? 'closed'}.`)),
    (acc, o, pctx) => L(pctx, `检查 ${acc}（${o.residentName ?? o.residentId}，${o.display}）已完成。`, `Examination ${acc} completed.`));

  ui.page('get', '/imaging/studies/:uid', VIEW_ROLES, (c, u, pctx) => {
    const s = repo.study(c.req.param('uid') ?? '');
    audit(c, u.username, 'imaging.study.view', c.req.param('uid') ?? '', s ? 'ok' : 'not found');
    if (!s) return c.text('study not found', 404);
    return ui.html(c, <StudyPage ctx={pctx} nav={nav()} study={s} order={s.orderId ? repo.order(s.orderId) : null} instances={repo.instances(s.studyInstanceUid)} reports={deps.reports.forStudy(s.studyInstanceUid)} />);
  });

  // 影像检查报告单: the latest report with the study's images, laid out for printing for the patient.
  ui.page('get', '/imaging/studies/:uid/report', VIEW_ROLES, (c, u, pctx) => {
    const uid = c.req.param('uid') ?? '';
    const s = repo.study(uid);
    const report = s ? deps.reports.forStudy(uid).at(-1) : undefined;
    audit(c, u.username, 'imaging.report.print', uid, !s ? 'not found' : report ? `version ${report.version} ${report.status}` : 'no report');
    if (!s) return c.text('study not found', 404);
    if (!report) return c.html(`<p>${L(pctx, '该检查尚无诊断报告，无法打印报告单。', 'This study has no report yet.')} <a href="/imaging/studies/${encodeURIComponent(uid)}">${L(pctx, '返回', 'Back')}</a></p>`, 404);
    return ui.html(c, <ReportPrintPage ctx={pctx} clinicName={ctx.config.clinicName} study={s} order={s.orderId ? repo.order(s.orderId) : null} instances={repo.instances(uid)} report={report} printedBy={u.displayName ?? u.username} />);
  });

  ui.page('get', '/imaging/instances/:sop/preview.png', VIEW_ROLES, async (c, u, pctx) => {
    const i = repo.instance(c.req.param('sop') ?? '');
    if (!i) return c.text('instance not found', 404);
    // 256 for the study view's tiles; a click opens 1,024 (never above the image's own size).
    const size = Math.min(2048, Math.max(16, Number(c.req.query('size')) || 256));
    // A large view is a look at the image itself: audited (tiles are covered by the study view's entry).
    if (size > 256) audit(c, u.username, 'imaging.image.view', `${i.studyInstanceUid} ${i.sopInstanceUid}`, `size ${size}`);
    // Removed from this disk once the archive held it: the archive renders it (storage.ts).
    if (i.evictedAt) {
      const a = await archivedPreview(deps.central, i, size, c.req.header('if-none-match'), (zh, en) => L(pctx, zh, en));
      if (a.failure) ctx.log.warn({ event: 'imaging.preview.archive', sop: i.sopInstanceUid, kind: a.failure.kind, err: a.failure.message }, 'preview of an instance removed from this disk: not from the archive');
      return new Response(a.body, { status: a.status, headers: a.headers });
    }
    const a = await previewAnswer(deps.previews, i, size, c.req.header('if-none-match'), (zh, en) => L(pctx, zh, en), 86400);
    if (a.failure) {
      if (a.status === 415) ctx.log.info({ event: 'imaging.preview.refused', sop: i.sopInstanceUid, kind: a.failure.kind, err: a.failure.message }, 'no thumbnail for this instance');
      else ctx.log.error({ event: 'imaging.preview.failed', sop: i.sopInstanceUid, err: a.failure.message }, 'thumbnail could not be made');
    }
    return new Response(a.body, { status: a.status, headers: a.headers });
  });

  const reconcile = (c: Context, pctx: Parameters<typeof ReconcilePage>[0]['ctx'], extra: { error?: string; notice?: string } = {}, status: 200 | 400 = 200) =>
    ui.html(c, <ReconcilePage ctx={pctx} nav={nav()} studies={repo.unreconciled()} orders={repo.openOrders()} {...extra} />, status);
  ui.page('get', '/imaging/reconcile', RECONCILE_ROLES, (c, u, pctx) => {
    audit(c, u.username, 'imaging.reconcile.view', 'imaging_studies', 'ok');
    return reconcile(c, pctx);
  });
  ui.page('post', '/imaging/reconcile', RECONCILE_ROLES, async (c, u, pctx) => {
    const f = await c.req.parseBody();
    const study = String(f.study ?? '');
    const order = String(f.order ?? '');
    try {
      await resolveStudy(store, repo, study, order, u.username);
      audit(c, u.username, 'imaging.reconcile', `${study} -> ${order}`, 'ok');
      deps.forwarder.kick();
      return reconcile(c, pctx, { notice: L(pctx, `已关联：${repo.order(order)?.accessionNumber ?? order}`, `linked to ${order}`) });
    } catch (e) {
      audit(c, u.username, 'imaging.reconcile', `${study} -> ${order}`, `refused: ${(e as Error).message}`);
      return reconcile(c, pctx, { error: reconcileRefusal(pctx, e as Error) }, 400);
    }
  });

  const devices = (c: Context, pctx: Parameters<typeof DevicesPage>[0]['ctx'], extra: Partial<Parameters<typeof DevicesPage>[0]> = {}, status: 200 | 400 = 200) => {
    const refusals = deps.refusals.list(50).map((r) => ({ ...r, device: r.callingAe === '*' ? null : repo.deviceByAe(r.callingAe) }));
    return ui.html(c, <DevicesPage ctx={pctx} nav={nav()} devices={repo.devices()} local={{ aeTitle: deps.aeTitle, port: deps.scp()?.port ?? null }} storage={deps.storage.status()} refusals={refusals} {...extra} />, status);
  };
  // ?ae=&host= (the 登记此设备 link of a refused connection) fills the registration form.
  ui.page('get', '/imaging/devices', DEVICE_ROLES, (c, _u, pctx) => {
    const ae = (c.req.query('ae') ?? '').trim();
    const host = (c.req.query('host') ?? '').trim();
    const prefill = /^[\x20-\x5b\x5d-\x7e]{1,16}$/.test(ae) ? { aeTitle: ae, host: /^[\w.:*-]{1,64}$/.test(host) ? host : '' } : undefined;
    return devices(c, pctx, prefill ? { prefill } : {});
  });
  // The technician dealt with a refused connection (or it was expected): off the list, audited.
  ui.page('post', '/imaging/devices/refusals/dismiss', DEVICE_ROLES, async (c, u, pctx) => {
    const f = await c.req.parseBody();
    const callingAe = String(f.callingAe ?? '');
    const remoteHost = String(f.remoteHost ?? '');
    const reason = String(f.reason ?? '');
    const done = deps.refusals.dismiss(callingAe, remoteHost, reason);
    audit(c, u.username, 'imaging.refusal.dismiss', `${callingAe}@${remoteHost} ${reason}`, done ? 'ok' : 'refused: no such row');
    return done
      ? devices(c, pctx, { refusalNotice: L(pctx, `已从列表中移除 ${callingAe}（${remoteHost}）`, `Removed ${callingAe} (${remoteHost}) from the list`) })
      : devices(c, pctx, { refusalError: L(pctx, '该记录已不存在（可能已被他人移除）', 'That entry is gone (someone may have removed it)') }, 400);
  });
  ui.page('post', '/imaging/devices', DEVICE_ROLES, async (c, u, pctx) => {
    const f = await c.req.parseBody();
    const aeTitle = String(f.aeTitle ?? '').trim();
    const host = String(f.host ?? '').trim();
    const port = Number(f.port);
    const modality = String(f.modality ?? '');
    const room = String(f.room ?? '').trim();
    const err = !/^[\x20-\x5b\x5d-\x7e]{1,16}$/.test(aeTitle) ? L(pctx, 'AE 标题须为 1-16 个 ASCII 字符', 'AE title: 1-16 ASCII characters')
      : !/^[\w.:*-]{1,64}$/.test(host) ? L(pctx, 'IP 地址不正确', 'invalid host')
      : !Number.isInteger(port) || port < 1 || port > 65535 ? L(pctx, '端口须为 1-65535', 'port 1-65535')
      : !['US', 'DX', 'CR', 'OT'].includes(modality) ? L(pctx, '类型不正确', 'invalid modality')
      : repo.deviceByAe(aeTitle) || store.db.prepare('SELECT 1 FROM devices WHERE ae_title = ?').get(aeTitle) ? L(pctx, `AE 标题 ${aeTitle} 已登记`, `AE ${aeTitle} already registered`) : null;
    if (err) {
      audit(c, u.username, 'imaging.device.create', aeTitle, `refused: ${err}`);
      return devices(c, pctx, { error: err }, 400);
    }
    try {
      repo.addDevice({ aeTitle, host, port, modality: modality as 'US', room: room || undefined, enabled: true }, { username: u.username, ip: clientIp(c) });
    } catch (e) {
      if (!(e instanceof RegistryError)) throw e;
      audit(c, u.username, 'imaging.device.create', aeTitle, `refused: ${e.message}`);
      return devices(c, pctx, { error: e.message }, 400);
    }
    audit(c, u.username, 'imaging.device.create', `${aeTitle}@${host}:${port} ${modality}`, 'ok');
    return devices(c, pctx, { notice: L(pctx, `已登记设备 ${aeTitle}`, `device ${aeTitle} registered`) });
  });
  ui.page('post', '/imaging/devices/:id/toggle', DEVICE_ROLES, (c, u, pctx) => {
    const d = repo.device(c.req.param('id') ?? '');
    if (!d) return c.text('device not found', 404);
    repo.setDeviceEnabled(d.id, !d.enabled, { username: u.username, ip: clientIp(c) });
    audit(c, u.username, d.enabled ? 'imaging.device.disable' : 'imaging.device.enable', d.aeTitle, 'ok');
    return devices(c, pctx);
  });
  ui.page('post', '/imaging/devices/:id/echo', DEVICE_ROLES, async (c, u, pctx) => {
    const d = repo.device(c.req.param('id') ?? '');
    if (!d) return c.text('device not found', 404);
    const r = await echoDevice({ host: d.host, port: d.port }, d.aeTitle, deps.aeTitle);
    repo.recordEcho(d.id, r, { username: u.username, ip: clientIp(c) });
    audit(c, u.username, 'imaging.device.echo', `${d.aeTitle}@${d.host}:${d.port}`, r.ok ? 'ok' : `failed: ${r.detail}`);
    return devices(c, pctx, { echo: { ae: d.aeTitle, ok: r.ok, detail: r.ok ? `C-ECHO ${r.latencyMs} ms` : r.detail } });
  });
}

/** A refused link in the page's language; an unexpected failure keeps its own message. */
function reconcileRefusal(ctx: PageCtx, e: Error): string {
  if (!(e instanceof ReconcileError)) return e.message;
  const { accession: acc, status } = e.order;
  const statusZh: Record<string, string> = { completed: '已完成', cancelled: '已取消' };
  switch (e.code) {
    case 'no_order': return L(ctx, '请选择要关联的申请。', 'Choose the order to link.');
    case 'unknown_study': return L(ctx, '找不到该检查（可能已被删除），请刷新页面。', 'Study not found (it may have been removed): reload the page.');
    case 'already_linked': return L(ctx, `该检查已关联到申请 ${acc}（可能其他人刚刚处理过），请刷新页面。`, `This study is already linked to order ${acc} (someone may just have done it): reload the page.`);
    case 'unknown_order': return L(ctx, '找不到所选的申请，请刷新页面后重新选择。', 'The chosen order was not found: reload the page and choose again.');
    case 'order_closed': return L(ctx, `申请 ${acc} ${statusZh[status ?? ''] ?? status}，不能再关联图像；请选择待检的申请或新建申请。`, `Order ${acc} is ${status}: images can no longer be linked to it; choose an open order or create one.`);
  }
}
