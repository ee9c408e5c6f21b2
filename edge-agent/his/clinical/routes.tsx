/**
 * Routes of the doctor's and nurse's workstations. Every read or write of a resident's data
 * writes an audit entry (who, action, target, source IP, outcome) through `Accounts.audit`.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { Context } from 'hono';
import type { EdgeModuleContext } from '../../modules.ts';
import type { Role, User } from '../../web/accounts.ts';
import { clientIp } from '../../web/app.tsx';
import type { PageCtx } from '../../web/layout.tsx';
import { devicesByStore } from '../../devices/index.ts';
import { CHART_INIT, HistoryPage, L, LabelsPage, NursePage, QueuePage, SpecimenLabels, VisitPage, VitalsPage, type VisitPageProps } from './pages.tsx';
import { ClinicalService, fieldErrors, today } from './service.ts';

export const DOCTOR_ROLES: readonly Role[] = ['doctor'];
export const NURSE_ROLES: readonly Role[] = ['nurse'];
/** Who may read a resident's clinical history. */
export const HISTORY_ROLES: readonly Role[] = ['doctor', 'nurse'];

type Form = Record<string, string>;
const formOf = async (c: Context): Promise<Form> => {
  const b = await c.req.parseBody();
  return Object.fromEntries(Object.entries(b).map(([k, v]) => [k, typeof v === 'string' ? v : ''])) as Form;
};

const echartsJs = (() => {
  let body: Buffer | null = null;
  return () => (body ??= readFileSync(createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js')));
})();

export function mountClinicalUi(ctx: EdgeModuleContext, s: ClinicalService): void {
  const { ui, accounts, store } = ctx;
  // The charting library, served from the package (the private network has no CDN).
  ctx.app.get('/clinic/assets/trend-charts.js', (c) => c.body(CHART_INIT, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' }));
  ctx.app.get('/clinic/assets/echarts.min.js', (c) => c.body(new Uint8Array(echartsJs()), 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=86400' }));
  const audit = (c: Context, u: User, action: string, target: string, outcome = 'ok') => accounts.audit(u.username, action, target, clientIp(c), outcome);

  // ---------------------------------------------------------------- doctor

  const queue = (c: Context, u: User, pctx: PageCtx, msg: { error?: string; notice?: string } = {}, status: 200 | 400 | 404 | 409 = 200) => {
    const date = today();
    audit(c, u, 'clinical.queue.view', date);
    return c.html(`<!DOCTYPE html>${String(<QueuePage ctx={pctx} date={date} rows={s.queue(u.username, date)} {...msg} />)}`, status);
  };
  ui.page('get', '/clinic/doctor', DOCTOR_ROLES, (c, u, pctx) => queue(c, u, pctx));
  ui.page('post', '/clinic/doctor/call-next', DOCTOR_ROLES, async (c, u, pctx) => {
    const r = await s.callNext(u.username, today());
    if (!r) { audit(c, u, 'clinical.call-next', 'queue', 'empty'); return queue(c, u, pctx, { notice: L(pctx, '没有候诊患者', 'Nobody is waiting') }); }
    audit(c, u, 'clinical.call-next', `${r.registration_id} resident ${r.resident_id} No.${r.queue_no}`);
    return c.redirect(`/clinic/visit/${r.registration_id}`, 303);
  });
  ui.page('post', '/clinic/doctor/visit/:id/start', DOCTOR_ROLES, async (c, u, pctx) => {
    const id = c.req.param('id') ?? '';
    try {
      const r = await s.startVisit(id, u.username);
      audit(c, u, 'clinical.visit.start', `${id} resident ${r.resident_id}`);
      return c.redirect(`/clinic/visit/${id}`, 303);
    } catch (e) {
      const fe = fieldErrors(e);
      audit(c, u, 'clinical.visit.start', id, `refused: ${fe.message}`);
      return queue(c, u, pctx, { error: fe.message }, 409);
    }
  });

  const visitPage = (c: Context, u: User, pctx: PageCtx, id: string, extra: Partial<VisitPageProps> = {}, status: 200 | 400 | 404 | 409 = 200) => {
    const v = s.visit(id);
    if (!v) { audit(c, u, 'clinical.visit.view', id, 'not found'); return c.text('visit not found', 404); }
    const iq = c.req.query('iq');
    const dq = c.req.query('dq');
    const drugCode = c.req.query('drug');
    const charges = v.visit.status === 'signed'
      ? store.db.prepare<[string], { item_name: string; quantity: number; unit: string; amount_fen: number; status: string; category: string }>(
        "SELECT item_name, quantity, unit, amount_fen, status, category FROM his_charges WHERE registration_id = ? AND source_kind != 'registration' AND reverses_charge_id IS NULL ORDER BY created_at, rowid").all(id)
      : [];
    const orderStatuses = Object.fromEntries(v.orders.filter((o) => o.orderId).map((o) => [o.orderId!, (o.kind === 'imaging' ? s.imaging.order(o.orderId!)?.status : s.orderStatus(o.orderId!)) ?? '']));
    const imagingOrders = v.orders.filter((o) => o.kind === 'imaging' && o.orderId).map((o) => ({ orderId: o.orderId!, accessionNumber: s.imaging.order(o.orderId!)?.accessionNumber ?? '' }));
    audit(c, u, 'clinical.visit.view', `${id} resident ${v.resident.residentId}`);
    const props: VisitPageProps = {
      ctx: pctx, today: today(), v, orderStatuses, prescriptionStatus: v.visit.prescription_id ? s.prescriptionStatus(v.visit.prescription_id) : null, vitals: s.todayVitals(v.resident.residentId), alerts: s.alertsFor(v.resident.residentId), labItems: s.labItems(), procedures: s.imagingProcedures(), charges, imagingOrders,
      ...(iq !== undefined ? { icdQuery: iq, icdResults: s.searchIcd(iq) } : {}),
      ...(dq !== undefined ? { drugQuery: dq, drugResults: s.searchDrugs(dq) } : {}),
      chosenDrug: drugCode ? s.drug(drugCode) : null,
      ...(c.req.query('ackError') ? { error: c.req.query('ackError')! } : {}),
      ...extra,
    };
    if (extra.rxForm?.drug && !props.chosenDrug) props.chosenDrug = s.drug(extra.rxForm.drug);
    return c.html(`<!DOCTYPE html>${String(<VisitPage {...props} />)}`, status);
  };
  const VISIT_VIEW_ROLES: readonly Role[] = ['doctor', 'nurse'];
  ui.page('get', '/clinic/visit/:id', VISIT_VIEW_ROLES, (c, u, pctx) => visitPage(c, u, pctx, c.req.param('id') ?? ''));

  /** A visit action: run it, audit it, and show the visit again (errors next to their field). */
  const action = (path: string, name: string, run: (id: string, f: Form, u: User) => Promise<string> | string, anchor = '') => {
    ui.page('post', `/clinic/visit/:id${path}`, DOCTOR_ROLES, async (c, u, pctx) => {
      const id = c.req.param('id') ?? '';
      const f = await formOf(c);
      const residentId = s.visit(id)?.resident.residentId ?? '?';
      try {
        const detail = await run(id, f, u);
        audit(c, u, `clinical.${name}`, `${id} resident ${residentId}${detail ? ` ${detail}` : ''}`.slice(0, 500));
        return c.redirect(`/clinic/visit/${id}${anchor}`, 303);
      } catch (e) {
        const fe = fieldErrors(e);
        audit(c, u, `clinical.${name}`, `${id} resident ${residentId}`, `refused: ${fe.message}`.slice(0, 500));
        return visitPage(c, u, pctx, id, { error: fe.message, errors: fe.fields, ...(name === 'rx.add' ? { rxForm: f } : {}) }, 400);
      }
    });
  };
  action('/note', 'note.save', (id, f) => { s.saveNote(id, { chiefComplaint: f.chiefComplaint ?? '', subjective: f.subjective ?? '', objective: f.objective ?? '', assessment: f.assessment ?? '', plan: f.plan ?? '' }); return ''; });
  action('/diagnoses', 'diagnosis.add', (id, f) => { const d = s.addDiagnosis(id, f.diagnosis ?? ''); return `${d.code} ${d.name}`; }, '#dx');
  action('/diagnoses/delete', 'diagnosis.remove', (id, f) => { s.removeDiagnosis(id, f.code ?? ''); return f.code ?? ''; }, '#dx');
  action('/rx', 'rx.add', (id, f) => { const r = s.addRxLine(id, f); return `${r.line.drugCode} ${r.line.drugName} x${r.line.quantity}`; }, '#rx');
  ui.page('post', '/clinic/visit/:id/rx/:line/delete', DOCTOR_ROLES, (c, u, pctx) => {
    const id = c.req.param('id') ?? '';
    try { s.removeRxLine(id, c.req.param('line') ?? ''); audit(c, u, 'clinical.rx.remove', `${id} line ${c.req.param('line')}`); return c.redirect(`/clinic/visit/${id}#rx`, 303); } catch (e) {
      const fe = fieldErrors(e); audit(c, u, 'clinical.rx.remove', id, `refused: ${fe.message}`); return visitPage(c, u, pctx, id, { error: fe.message }, 409);
    }
  });
  action('/labs', 'lab.add', (id, f) => { const o = s.addLab(id, f.item ?? ''); return `${o.itemCode} specimen ${o.specimenId}`; }, '#lab');
  action('/imaging', 'imaging.add', (id, f) => { const o = s.addImaging(id, f.procedure ?? ''); return o.itemCode; }, '#img');
  ui.page('post', '/clinic/visit/:id/orders/:line/delete', DOCTOR_ROLES, (c, u, pctx) => {
    const id = c.req.param('id') ?? '';
    try { s.removeOrder(id, c.req.param('line') ?? ''); audit(c, u, 'clinical.order.remove', `${id} line ${c.req.param('line')}`); return c.redirect(`/clinic/visit/${id}`, 303); } catch (e) {
      const fe = fieldErrors(e); audit(c, u, 'clinical.order.remove', id, `refused: ${fe.message}`); return visitPage(c, u, pctx, id, { error: fe.message }, 409);
    }
  });
  action('/reports', 'report.add', async (id, f, u) => { const r = await s.addReport(id, f, u.username); return `${r.kind} ${r.icd10Code ?? ''}`; }, '#reg');
  ui.page('post', '/clinic/visit/:id/sign', DOCTOR_ROLES, async (c, u, pctx) => {
    const id = c.req.param('id') ?? '';
    const residentId = s.visit(id)?.resident.residentId ?? '?';
    try {
      const r = await s.sign(id, u.username);
      audit(c, u, 'clinical.visit.sign', `${id} resident ${residentId}: ${r.records} records, ${r.orders} orders, ${r.charges} charges`);
      return visitPage(c, u, pctx, id, { notice: L(pctx, `已签名：生成 ${r.orders} 个医嘱/申请、${r.charges} 条待收费项目。`, `Signed: ${r.orders} orders and ${r.charges} pending charges.`) });
    } catch (e) {
      const fe = fieldErrors(e);
      audit(c, u, 'clinical.visit.sign', `${id} resident ${residentId}`, `refused: ${fe.message}`);
      return visitPage(c, u, pctx, id, { error: fe.message, errors: fe.fields }, 400);
    }
  });
  ui.page('post', '/clinic/visit/:id/rx/void', DOCTOR_ROLES, async (c, u, pctx) => {
    const id = c.req.param('id') ?? '';
    const residentId = s.visit(id)?.resident.residentId ?? '?';
    try {
      const r = await s.voidPrescription(id, u.username);
      audit(c, u, 'clinical.rx.void', `${id} resident ${residentId}: ${r.charges} charges cancelled`);
      return visitPage(c, u, pctx, id, { notice: L(pctx, `处方已作废，${r.charges} 条待收费项目已取消。`, `Prescription void; ${r.charges} pending charges cancelled.`) });
    } catch (e) {
      const fe = fieldErrors(e);
      audit(c, u, 'clinical.rx.void', `${id} resident ${residentId}`, `refused: ${fe.message}`);
      return visitPage(c, u, pctx, id, { error: fe.message, errors: fe.fields }, 409);
    }
  });
  ui.page('post', '/clinic/visit/:id/orders/:line/void', DOCTOR_ROLES, async (c, u, pctx) => {
    const id = c.req.param('id') ?? '';
    const residentId = s.visit(id)?.resident.residentId ?? '?';
    try {
      const r = await s.voidOrder(id, c.req.param('line') ?? '', u.username);
      audit(c, u, 'clinical.order.void', `${id} resident ${residentId} line ${c.req.param('line')}: ${r.charges} charges cancelled`);
      return visitPage(c, u, pctx, id, { notice: L(pctx, `申请已撤销，${r.charges} 条待收费项目已取消。`, `Order withdrawn; ${r.charges} pending charges cancelled.`) });
    } catch (e) {
      const fe = fieldErrors(e);
      audit(c, u, 'clinical.order.void', `${id} resident ${residentId}`, `refused: ${fe.message}`);
      return visitPage(c, u, pctx, id, { error: fe.message, errors: fe.fields }, 409);
    }
  });
  ui.page('get', '/clinic/visit/:id/specimens', VISIT_VIEW_ROLES, (c, u, pctx) => {
    const v = s.visit(c.req.param('id') ?? '');
    if (!v) return c.text('visit not found', 404);
    audit(c, u, 'clinical.specimens.print', `${v.visit.registration_id} resident ${v.resident.residentId}`);
    return ui.html(c, <SpecimenLabels ctx={pctx} v={v} />);
  });

  // Critical values acknowledged on the workstation (same record as /devices/alerts: who, when, read-back).
  const ack = async (c: Context, u: User, back: string) => {
    const f = await formOf(c);
    const dev = devicesByStore.get(store.clinicId);
    if (!dev) return c.text('devices module not running', 503);
    try {
      dev.alerts.acknowledge(c.req.param('aid') ?? '', u, f.readBack ?? '', clientIp(c));
      return c.redirect(back, 303);
    } catch (e) {
      return c.redirect(`${back}${back.includes('?') ? '&' : '?'}ackError=${encodeURIComponent((e as Error).message)}`, 303);
    }
  };
  ui.page('post', '/clinic/visit/:id/alerts/:aid/ack', ['doctor', 'nurse'], (c, u) => ack(c, u, `/clinic/visit/${c.req.param('id')}`));
  ui.page('post', '/clinic/residents/:rid/alerts/:aid/ack', ['doctor', 'nurse'], (c, u) => ack(c, u, `/clinic/residents/${encodeURIComponent(c.req.param('rid') ?? '')}/history`));

  ui.page('get', '/clinic/residents/:rid/history', HISTORY_ROLES, (c, u, pctx) => {
    const rid = c.req.param('rid') ?? '';
    const r = s.resident(rid);
    audit(c, u, 'clinical.history.view', rid, r ? 'ok' : 'not found');
    if (!r) return c.text('resident not found', 404);
    return ui.html(c, <HistoryPage ctx={pctx} resident={r} today={today()} h={s.history(rid)} alerts={s.alertsFor(rid)} />);
  });

  // ---------------------------------------------------------------- nurse

  const nurse = (c: Context, u: User, pctx: PageCtx, extra: { error?: string; notice?: string; barcode?: string; patient?: string } = {}, status: 200 | 400 | 404 | 409 = 200) => {
    const date = today();
    audit(c, u, 'clinical.exec.list', date);
    return c.html(`<!DOCTYPE html>${String(<NursePage ctx={pctx} date={date} tasks={s.tasks(date)} {...extra} />)}`, status);
  };
  ui.page('get', '/clinic/nurse', NURSE_ROLES, (c, u, pctx) => nurse(c, u, pctx));
  ui.page('post', '/clinic/nurse/scan', NURSE_ROLES, async (c, u, pctx) => {
    const f = await formOf(c);
    const barcode = (f.barcode ?? '').trim();
    try {
      const t = await s.execute(barcode, f.patient ?? '', u);
      audit(c, u, 'clinical.exec.confirm', `${barcode} resident ${t.residentId} dose ${t.sequence}/${t.total}`);
      return nurse(c, u, pctx, { notice: L(pctx, `已执行：${t.residentName} ${t.drugs.map((d) => d.drugName).join(' + ')}（第${t.sequence}/${t.total}次）`, `Given: ${t.residentName} dose ${t.sequence}/${t.total}`) });
    } catch (e) {
      const fe = fieldErrors(e);
      audit(c, u, 'clinical.exec.confirm', barcode.slice(0, 60) || '(empty)', `refused: ${fe.message}`);
      return nurse(c, u, pctx, { error: fe.message, barcode, patient: f.patient ?? '' }, 409);
    }
  });
  ui.page('get', '/clinic/nurse/labels/:orderId', NURSE_ROLES, (c, u, pctx) => {
    const tasks = s.tasksOfOrder(c.req.param('orderId') ?? '');
    if (tasks.length === 0) return c.text('order not found', 404);
    audit(c, u, 'clinical.labels.print', `${c.req.param('orderId')} resident ${tasks[0]!.residentId}`);
    return ui.html(c, <LabelsPage ctx={pctx} tasks={tasks} resident={s.resident(tasks[0]!.residentId)} today={today()} />);
  });

  const findResident = (q: string) => {
    const v = q.trim();
    if (!v) return null;
    return store.db.prepare<[string, string], { resident_id: string }>('SELECT resident_id FROM residents WHERE resident_id = ? OR id_number = ? LIMIT 1').get(v, v.toUpperCase())?.resident_id ?? null;
  };
  const vitals = (c: Context, u: User, pctx: PageCtx, extra: { error?: string; notice?: string; errors?: Record<string, string>; form?: Record<string, string> } = {}, status: 200 | 400 | 404 = 200) => {
    const q = c.req.query('resident') ?? '';
    const rid = findResident(q);
    const r = rid ? s.resident(rid) : null;
    if (q) audit(c, u, 'clinical.vitals.view', rid ?? q.slice(0, 40), r ? 'ok' : 'not found');
    const recent = r ? s.history(r.residentId).readings : [];
    return c.html(`<!DOCTYPE html>${String(<VitalsPage ctx={pctx} resident={r} query={q} today={today()} fromDevice={r ? s.deviceVitals(r.residentId) : {}} form={extra.form ?? {}} recent={recent}
      error={extra.error ?? (q && !r ? L(pctx, `找不到居民：${q}`, `no resident ${q}`) : undefined)} notice={extra.notice} errors={extra.errors} />)}`, status);
  };
  ui.page('get', '/clinic/nurse/vitals', NURSE_ROLES, (c, u, pctx) => vitals(c, u, pctx));
  ui.page('post', '/clinic/nurse/vitals', NURSE_ROLES, async (c, u, pctx) => {
    const f = await formOf(c);
    const rid = findResident(c.req.query('resident') ?? '');
    if (!rid) return vitals(c, u, pctx, { error: L(pctx, '请先查找居民', 'find the resident first') }, 404);
    try {
      const obs = await s.recordVitals(rid, f);
      audit(c, u, 'clinical.vitals.record', `resident ${rid}: ${obs.map((o) => `${o.code}=${o.value}`).join(', ')}`);
      return vitals(c, u, pctx, { notice: L(pctx, `已保存 ${obs.length} 项体征`, `${obs.length} vital sign(s) saved`) });
    } catch (e) {
      const fe = fieldErrors(e);
      audit(c, u, 'clinical.vitals.record', `resident ${rid}`, `refused: ${fe.message}`);
      return vitals(c, u, pctx, { error: fe.message, errors: fe.fields, form: f }, 400);
    }
  });
}
