/**
 * Routes of the front desk (registration, schedule, cashier, pharmacy, statistics). Every
 * route is role-checked by `ui.page`; every read or write of a resident's data writes an
 * audit entry (who, what, when, from where, outcome). POSTs from another origin are refused
 * (SameSite=Strict cookies already keep cross-site posts unauthenticated).
 */
import type { Context } from 'hono';
import { clientIp, type WebUi } from '../web/app.tsx';
import type { Accounts, Role, User } from '../web/accounts.ts';
import type { PageCtx } from '../web/layout.tsx';
import type { EdgeStore } from '../store/store.ts';
import { chargesOfResident, getInvoice, netDispensed, payCharges, refundableQuantity, refundedQuantity, refundCharges, type InvoiceRow } from './charges.ts';
import { dictList } from './dict.ts';
import { HisError } from './errors.ts';
import { cached } from './sql.ts';
import { book, cancelRegistration, checkIn, registerNow } from './frontdesk.ts';
import { CashierPage, InvoicePage, SettlementPage, type PaidLine } from './pages-cashier.tsx';
import { DispensePage, ReturnsPage, StockPage } from './pages-pharmacy.tsx';
import { RegistrationPage, ResidentFormPage, SchedulePage, SlipPage, type RegListRow } from './pages-registration.tsx';
import { StatsPage } from './pages-stats.tsx';
import { dispense, dispenseQueue, returnable, returnDrugs } from './pharmacy.ts';
import { getRegistration } from './registrations.ts';
import { FormErrors, getResident, saveResident, searchResidents, validateResidentForm, type ResidentForm, type ResidentView, type SearchKind } from './residents.ts';
import { createSlots, doctors, getSlot, setSlotStatus, slotsOn } from './schedule.ts';
import { recentSettlements, settle, settlementPreview } from './settlement.ts';
import { computeStats, statsWorkbook } from './stats.ts';
import { receiveStock, stockOverview } from './stock.ts';
import { addDays, localDate } from './time.ts';
import type { Errors } from './ui.tsx';

export const REG_ROLES: readonly Role[] = ['registrar', 'clinic_admin'];
export const RESIDENT_EDIT_ROLES: readonly Role[] = ['registrar', 'clinic_admin', 'doctor', 'nurse'];
export const SCHEDULE_VIEW_ROLES: readonly Role[] = ['registrar', 'clinic_admin', 'doctor', 'cashier'];
export const CASH_ROLES: readonly Role[] = ['cashier', 'clinic_admin'];
export const PHARM_ROLES: readonly Role[] = ['pharmacist', 'clinic_admin'];
export const STATS_ROLES: readonly Role[] = ['clinic_admin', 'cashier', 'registrar'];

type Body = Record<string, string | File | (string | File)[]>;
const str = (f: Body, k: string) => { const v = f[k]; return typeof v === 'string' ? v : Array.isArray(v) ? String(v[0] ?? '') : ''; };
/**
 * The `qty_<chargeId>` fields of a refund or drug-return form: the lines with a positive
 * quantity, and an error per field that is not a number or is negative (`negative` names the act).
 */
function quantityLines(f: Body, negative: string): { items: { chargeId: string; quantity: number }[]; errors: Errors } {
  const errors: Errors = {};
  const items: { chargeId: string; quantity: number }[] = [];
  for (const [k, v] of Object.entries(f)) {
    if (!k.startsWith('qty_') || typeof v !== 'string' || !v.trim()) continue;
    const q = Number(v);
    if (!Number.isFinite(q)) errors[k] = '请输入数字';
    else if (q < 0) errors[k] = negative;
    else if (q > 0) items.push({ chargeId: k.slice(4), quantity: q });
  }
  return { items, errors };
}
const all = (f: Body, k: string): string[] => { const v = f[k] ?? f[`${k}[]`]; return (Array.isArray(v) ? v : v === undefined ? [] : [v]).map(String).filter(Boolean); };
/** Messages are written 'Chinese / English': show the part for the page's language. */
const loc = (m: string, lang: string) => { const i = m.indexOf(' / '); return i < 0 ? m : lang === 'en' ? m.slice(i + 3) : m.slice(0, i); };
const errorsOf = (e: unknown, lang = 'zh-CN'): Errors => {
  if (e instanceof FormErrors) return Object.fromEntries(Object.entries(e.fields).map(([k, v]) => [k, loc(v, lang)]));
  if (e instanceof HisError) return { [e.field]: loc(e.message, lang) };
  throw e;
};
const firstError = (e: Errors) => Object.values(e)[0];
/** A resident's identity in the audit target: the record id, never the name or ID number. */
const who = (rid: string) => `resident:${rid}`;

export function mountHisPages(ui: WebUi, store: EdgeStore, accounts: Accounts, clinicName: string): void {
  const db = store.db;
  /** Audit entry: local audit_log row + replicated `audit_event` record in one group commit (see Accounts). */
  const audit = (c: Context, u: User, action: string, target: string, outcome = 'ok') => accounts.audit(u.username, action, target, clientIp(c), outcome);
  const crossOrigin = (c: Context) => {
    const origin = c.req.header('origin');
    if (!origin || origin === 'null') return false;
    try { return new URL(origin).host !== c.req.header('host'); } catch { return true; }
  };
  /** POST wrapper: refuses cross-origin posts. */
  const post = (path: string, roles: readonly Role[], handler: (c: Context, u: User, ctx: PageCtx, f: Body) => Response | Promise<Response>) =>
    ui.page('post', path, roles, async (c, u, ctx) => {
      if (crossOrigin(c)) { audit(c, u, `POST ${path}`, path, 'refused: cross-origin'); return c.text('cross-origin request refused', 403); }
      return handler(c, u, ctx, (await c.req.parseBody({ all: true })) as Body);
    });

  /** Search (audited: the kind of key and the number of hits, not the key itself). */
  const search = (c: Context, u: User, lang: string) => {
    const q = c.req.query('q');
    const kind = (c.req.query('kind') ?? 'auto') as SearchKind;
    if (q === undefined || !q.trim()) return { q: undefined, kind, results: [] as ResidentView[], errors: undefined };
    try {
      const results = searchResidents(db, q, kind);
      audit(c, u, 'resident.search', `${kind} (${results.length} hit(s))`);
      return { q, kind, results, errors: undefined };
    } catch (e) {
      const errors = errorsOf(e, lang);
      audit(c, u, 'resident.search', kind, `refused: ${firstError(errors)}`);
      return { q, kind, results: [] as ResidentView[], errors };
    }
  };
  const residentOf = (c: Context, u: User, action: string): ResidentView | null => {
    const rid = c.req.query('rid');
    if (!rid) return null;
    const r = getResident(db, rid);
    audit(c, u, action, who(rid), r ? 'ok' : 'not found');
    return r;
  };
  // Department names joined in SQL (was one dictionary query per row: up to 300 per page).
  const regList = (where: string, ...args: string[]): RegListRow[] => cached(db).prepare<string[], RegListRow>(`SELECT g.*, coalesce(r.name, g.resident_id) AS resident_name,
      coalesce(u.display_name, g.doctor_username) AS doctor_name, coalesce(d.name, g.department_code) AS department_name FROM his_registrations g
      LEFT JOIN residents r ON r.resident_id = g.resident_id LEFT JOIN users u ON u.username = g.doctor_username
      LEFT JOIN dictionary_items d ON d.dictionary = 'departments' AND d.code = g.department_code WHERE ${where} ORDER BY g.visit_date DESC, g.doctor_username, g.queue_no LIMIT 300`)
    .all(...args);

  // ---- Registration -------------------------------------------------------------------------
  const registration = (c: Context, u: User, ctx: PageCtx, msg: { errors?: Errors; error?: string; notice?: string; rid?: string } = {}, status: 200 | 400 | 404 | 409 = 200) => {
    const s = search(c, u, ctx.lang);
    const today = localDate();
    const date = /^\d{4}-\d{2}-\d{2}$/.test(c.req.query('date') ?? '') ? c.req.query('date')! : today;
    const dept = c.req.query('dept') ?? '';
    const resident = msg.rid ? getResident(db, msg.rid) : residentOf(c, u, 'resident.view');
    const notice = msg.notice ?? ({ booked: '预约成功', cancelled: '已取消预约', refunded: '已退号，挂号费已冲账退还', saved: '居民档案已保存' } as Record<string, string>)[c.req.query('notice') ?? ''];
    return ui.html(c, <RegistrationPage ctx={ctx} q={s.q} kind={s.kind} results={s.results} searchErrors={s.errors} resident={resident} date={date} todayDate={today} dept={dept}
      slots={slotsOn(db, date, dept || undefined)} departments={dictList(db, 'departments')} today={regList('g.visit_date = ?', today)}
      residentRegs={resident ? regList('g.resident_id = ? AND g.visit_date >= ?', resident.residentId, addDays(today, -30)) : []} errors={msg.errors} error={msg.error} notice={notice} />, status as 200);
  };
  ui.page('get', '/his/registration', REG_ROLES, (c, u, ctx) => registration(c, u, ctx));
  post('/his/registration', REG_ROLES, (c, u, ctx, f) => {
    const residentId = str(f, 'residentId');
    const slotId = str(f, 'slotId');
    try {
      if (!slotId) throw new HisError('slotId', '请选择号源');
      if (str(f, 'action') === 'book') {
        const r = store.transact((tx) => book(tx, { residentId, slotId, by: u.username }));
        audit(c, u, 'registration.book', who(residentId));
        return c.redirect(`/his/registrations/${r.registration_id}/slip?new=1`, 303);
      }
      const r = store.transact((tx) => registerNow(tx, { residentId, slotId, paymentMethod: str(f, 'paymentMethod'), by: u.username }));
      audit(c, u, 'registration.create', who(residentId));
      return c.redirect(`/his/registrations/${r.registration.registration_id}/slip?new=1`, 303);
    } catch (e) {
      const errors = errorsOf(e, ctx.lang);
      audit(c, u, 'registration.create', who(residentId), `refused: ${firstError(errors)}`);
      return registration(c, u, ctx, { errors, error: firstError(errors), rid: residentId }, 400);
    }
  });
  post('/his/registrations/:id/checkin', REG_ROLES, (c, u, ctx, f) => {
    const id = c.req.param('id') ?? '';
    try {
      const r = store.transact((tx) => checkIn(tx, { registrationId: id, paymentMethod: str(f, 'paymentMethod'), by: u.username }));
      audit(c, u, 'registration.checkin', who(r.registration.resident_id));
      return c.redirect(`/his/registrations/${id}/slip?new=1`, 303);
    } catch (e) { const errors = errorsOf(e, ctx.lang); audit(c, u, 'registration.checkin', id, `refused: ${firstError(errors)}`); return registration(c, u, ctx, { error: firstError(errors) }, 400); }
  });
  post('/his/registrations/:id/cancel', REG_ROLES, (c, u, ctx, f) => {
    const id = c.req.param('id') ?? '';
    try {
      const r = store.transact((tx) => cancelRegistration(tx, { registrationId: id, reason: str(f, 'reason'), by: u.username }));
      audit(c, u, 'registration.cancel', who(r.registration.resident_id), r.registration.status);
      return c.redirect(`/his/registration?notice=${r.registration.status}`, 303);
    } catch (e) { const errors = errorsOf(e, ctx.lang); audit(c, u, 'registration.cancel', id, `refused: ${firstError(errors)}`); return registration(c, u, ctx, { error: firstError(errors) }, 400); }
  });
  ui.page('get', '/his/registrations/:id/slip', [...REG_ROLES, 'doctor', 'nurse'], (c, u, ctx) => {
    const id = c.req.param('id') ?? '';
    const g = regList('g.registration_id = ?', id)[0];
    const r = g ? getResident(db, g.resident_id) : null;
    if (!g || !r) return registration(c, u, ctx, { error: '挂号记录不存在' }, 404);
    audit(c, u, 'registration.slip', who(g.resident_id));
    const invoices = db.prepare<[string], InvoiceRow>("SELECT i.* FROM his_invoices i WHERE i.registration_id = ? AND i.kind = 'invoice' ORDER BY seq").all(id);
    return ui.html(c, <SlipPage ctx={ctx} clinicName={clinicName} g={g} r={r} slot={getSlot(db, g.slot_id)} invoices={invoices} notice={c.req.query('new') ? (g.status === 'booked' ? '预约成功' : '挂号成功') : undefined} />);
  });

  // ---- Residents ----------------------------------------------------------------------------
  const emptyForm = (): ResidentForm => ({ name: '', sex: '', birthDate: '', idType: '01', idNumber: '', phone: '', address: '', ethnicity: '01', maritalStatus: '', insuranceCardNo: '', healthCardId: '' });
  const formOf = (f: Body, residentId?: string): ResidentForm => ({ ...(residentId ? { residentId } : {}), name: str(f, 'name'), sex: str(f, 'sex'), birthDate: str(f, 'birthDate'), idType: str(f, 'idType'),
    idNumber: str(f, 'idNumber'), phone: str(f, 'phone'), address: str(f, 'address'), ethnicity: str(f, 'ethnicity'), maritalStatus: str(f, 'maritalStatus'), insuranceCardNo: str(f, 'insuranceCardNo'), healthCardId: str(f, 'healthCardId') });
  ui.page('get', '/his/residents/new', RESIDENT_EDIT_ROLES, (c, _u, ctx) => {
    const q = (c.req.query('q') ?? '').trim();
    const f = emptyForm();
    if (/^\d{17}[\dXx]$/.test(q)) f.idNumber = q; else if (/^[\u3400-\u9fff·]+$/.test(q)) f.name = q; else if (/^1\d{10}$/.test(q)) f.phone = q;
    return ui.html(c, <ResidentFormPage ctx={ctx} f={f} editing={false} />);
  });
  const saveResidentRoute = (c: Context, u: User, ctx: PageCtx, f: Body, residentId?: string) => {
    const form = formOf(f, residentId);
    try {
      const r = validateResidentForm(db, form);
      store.transact((tx) => saveResident(tx, r));
      audit(c, u, residentId ? 'resident.update' : 'resident.create', who(r.residentId));
      return c.redirect(`/his/registration?rid=${encodeURIComponent(r.residentId)}&notice=saved`, 303);
    } catch (e) {
      const errors = errorsOf(e, ctx.lang);
      audit(c, u, residentId ? 'resident.update' : 'resident.create', residentId ? who(residentId) : 'new', `refused: ${Object.keys(errors).join(',')}`);
      return ui.html(c, <ResidentFormPage ctx={ctx} f={form} errors={errors} editing={!!residentId} />, 400);
    }
  };
  post('/his/residents', RESIDENT_EDIT_ROLES, (c, u, ctx, f) => saveResidentRoute(c, u, ctx, f));
  ui.page('get', '/his/residents/:id/edit', RESIDENT_EDIT_ROLES, (c, u, ctx) => {
    const id = c.req.param('id') ?? '';
    const r = getResident(db, id);
    audit(c, u, 'resident.view', who(id), r ? 'ok' : 'not found');
    if (!r) return registration(c, u, ctx, { error: '居民不存在' }, 404);
    return ui.html(c, <ResidentFormPage ctx={ctx} editing f={{ residentId: r.residentId, name: r.name, sex: r.sex, birthDate: r.birthDate, idType: r.idType, idNumber: r.idNumber, phone: r.phone ?? '',
      address: r.address ?? '', ethnicity: r.ethnicity ?? '', maritalStatus: r.maritalStatus ?? '', insuranceCardNo: r.insuranceCardNo ?? '', healthCardId: r.healthCardId ?? '' }} />);
  });
  post('/his/residents/:id', RESIDENT_EDIT_ROLES, (c, u, ctx, f) => {
    const id = c.req.param('id') ?? '';
    if (!getResident(db, id)) return registration(c, u, ctx, { error: '居民不存在' }, 404);
    return saveResidentRoute(c, u, ctx, f, id);
  });

  // ---- Schedule -----------------------------------------------------------------------------
  const schedule = (c: Context, u: User, ctx: PageCtx, msg: { errors?: Errors; form?: Record<string, string>; notice?: string; error?: string } = {}, status: 200 | 400 = 200) => {
    const date = /^\d{4}-\d{2}-\d{2}$/.test(c.req.query('date') ?? '') ? c.req.query('date')! : (msg.form?.dateFrom || localDate());
    return ui.html(c, <SchedulePage ctx={ctx} date={date} slots={slotsOn(db, date)} departments={dictList(db, 'departments')} doctors={doctors(db)} canEdit={u.role === 'clinic_admin'}
      form={msg.form ?? {}} errors={msg.errors} notice={msg.notice ?? (c.req.query('saved') ? '排班已保存' : undefined)} error={msg.error} />, status);
  };
  ui.page('get', '/his/schedule', SCHEDULE_VIEW_ROLES, (c, u, ctx) => schedule(c, u, ctx));
  post('/his/schedule', ['clinic_admin'], (c, u, ctx, f) => {
    const form = { dateFrom: str(f, 'dateFrom'), dateTo: str(f, 'dateTo'), departmentCode: str(f, 'departmentCode'), doctorUsername: str(f, 'doctorUsername'), startTime: str(f, 'startTime'), endTime: str(f, 'endTime'), capacity: str(f, 'capacity'), fee: str(f, 'fee') };
    try {
      const slots = store.transact((tx) => createSlots(tx, form));
      audit(c, u, 'schedule.create', `${form.doctorUsername} ${form.dateFrom}..${form.dateTo || form.dateFrom} (${slots.length})`);
      return c.redirect(`/his/schedule?date=${form.dateFrom}&saved=1`, 303);
    } catch (e) { return schedule(c, u, ctx, { errors: errorsOf(e, ctx.lang), form }, 400); }
  });
  post('/his/schedule/:id/status', ['clinic_admin'], (c, u, ctx, f) => {
    const id = c.req.param('id') ?? '';
    try {
      store.transact((tx) => setSlotStatus(tx, id, str(f, 'status') === 'closed' ? 'closed' : 'open'));
      audit(c, u, 'schedule.status', id, str(f, 'status'));
      return c.redirect(`/his/schedule?date=${getSlot(db, id)?.date ?? ''}`, 303);
    } catch (e) { return schedule(c, u, ctx, { error: firstError(errorsOf(e, ctx.lang)) }, 400); }
  });

  // ---- Cashier ------------------------------------------------------------------------------
  const cashier = (c: Context, u: User, ctx: PageCtx, msg: { errors?: Errors; error?: string; notice?: string; rid?: string } = {}, status: 200 | 400 | 404 | 409 = 200) => {
    const s = search(c, u, ctx.lang);
    const resident = msg.rid ? getResident(db, msg.rid) : residentOf(c, u, 'cashier.view');
    const charges = resident ? chargesOfResident(db, resident.residentId) : [];
    const invoiceNo = new Map(db.prepare<[string], { invoice_id: string; invoice_no: string }>('SELECT invoice_id, invoice_no FROM his_invoices WHERE resident_id = ?').all(resident?.residentId ?? '').map((r) => [r.invoice_id, r.invoice_no]));
    const paid: PaidLine[] = charges.filter((x) => x.status === 'paid' && !x.reverses_charge_id && x.created_at >= new Date(Date.now() - 90 * 86400_000).toISOString())
      .map((x) => ({ ...x, refundable: refundableQuantity(db, x), refunded: refundedQuantity(db, x.charge_id), dispensed: x.dispensable ? netDispensed(db, x.charge_id) : 0, invoice_no: invoiceNo.get(x.invoice_id ?? '') ?? '' }));
    const invoices = resident ? db.prepare<[string], InvoiceRow>('SELECT * FROM his_invoices WHERE resident_id = ? ORDER BY seq DESC LIMIT 50').all(resident.residentId) : [];
    const waiting = resident ? [] : db.prepare<[], { resident_id: string; name: string; n: number; fen: number }>(`SELECT c.resident_id, coalesce(r.name, c.resident_id) AS name, count(*) AS n, sum(c.amount_fen) AS fen
      FROM his_charges c INDEXED BY his_charges_pending LEFT JOIN residents r ON r.resident_id = c.resident_id WHERE c.status = 'pending' GROUP BY c.resident_id ORDER BY min(c.created_at) LIMIT 50`).all();
    const notice = msg.notice ?? (c.req.query('refunded') ? '退费完成（冲账票据已生成，原票据保留）' : undefined);
    return ui.html(c, <CashierPage ctx={ctx} q={s.q} kind={s.kind} results={s.results} searchErrors={s.errors} resident={resident} pending={charges.filter((x) => x.status === 'pending')}
      paid={paid} invoices={invoices} waiting={waiting} visits={new Map(resident ? regList('g.resident_id = ?', resident.residentId).map((g) => [g.registration_id, `${g.visit_date} ${g.department_name} ${g.doctor_name}`]) : [])} errors={msg.errors} error={msg.error} notice={notice} />, status as 200);
  };
  ui.page('get', '/his/cashier', CASH_ROLES, (c, u, ctx) => cashier(c, u, ctx));
  post('/his/cashier/pay', CASH_ROLES, (c, u, ctx, f) => {
    const rid = str(f, 'residentId');
    try {
      const inv = store.transact((tx) => payCharges(tx, { residentId: rid, chargeIds: all(f, 'chargeId'), paymentMethod: str(f, 'paymentMethod'), cashier: u.username }));
      audit(c, u, 'cashier.pay', who(rid), `invoice ${inv.invoice_no}`);
      return c.redirect(`/his/cashier/invoices/${inv.invoice_id}?new=1`, 303);
    } catch (e) { const errors = errorsOf(e, ctx.lang); audit(c, u, 'cashier.pay', who(rid), `refused: ${firstError(errors)}`); return cashier(c, u, ctx, { errors, error: firstError(errors), rid }, 400); }
  });
  post('/his/cashier/refund', CASH_ROLES, (c, u, ctx, f) => {
    const rid = str(f, 'residentId');
    const { items, errors } = quantityLines(f, '退费数量不能为负数');
    try {
      if (Object.keys(errors).length) throw new FormErrors(errors);
      if (!items.length) throw new HisError('chargeIds', '请填写要退费的数量');
      const revs = store.transact((tx) => refundCharges(tx, { items, cashier: u.username, reason: str(f, 'reason') }));
      audit(c, u, 'cashier.refund', who(rid), `reversal ${revs.map((r) => r.invoice_no).join(',')}`);
      return c.redirect(`/his/cashier?rid=${encodeURIComponent(rid)}&refunded=1`, 303);
    } catch (e) {
      const errs = errorsOf(e, ctx.lang);
      // A per-line problem goes next to that line's quantity box.
      if (e instanceof HisError && (e.field === 'quantity' || e.field === 'chargeIds') && items.length === 1) errs[`qty_${items[0]!.chargeId}`] = loc(e.message, ctx.lang);
      audit(c, u, 'cashier.refund', who(rid), `refused: ${firstError(errs)}`);
      return cashier(c, u, ctx, { errors: errs, error: firstError(errs), rid }, 400);
    }
  });
  ui.page('get', '/his/cashier/invoices/:id', [...CASH_ROLES, 'registrar'], (c, u, ctx) => {
    const inv = getInvoice(db, c.req.param('id') ?? '');
    if (!inv) return cashier(c, u, ctx, { error: '票据不存在' }, 404);
    audit(c, u, 'invoice.view', who(inv.resident_id), inv.invoice_no);
    const lines = db.prepare<[string], ReturnType<typeof chargesOfResident>[number]>('SELECT * FROM his_charges WHERE invoice_id = ? ORDER BY rowid').all(inv.invoice_id);
    return ui.html(c, <InvoicePage ctx={ctx} clinicName={clinicName} inv={inv} lines={lines} resident={getResident(db, inv.resident_id)} original={inv.reverses_invoice_id ? getInvoice(db, inv.reverses_invoice_id) : null}
      notice={c.req.query('new') ? '收费成功' : undefined} />);
  });
  const settlement = (c: Context, u: User, ctx: PageCtx, msg: { error?: string; notice?: string; cashier?: string } = {}, status: 200 | 400 | 409 = 200) => {
    const isAdmin = u.role === 'clinic_admin';
    const cashiers = db.prepare<[], { cashier: string }>('SELECT DISTINCT cashier FROM his_invoices ORDER BY cashier').all().map((r) => r.cashier);
    const who2 = isAdmin ? (msg.cashier ?? c.req.query('cashier') ?? cashiers[0] ?? u.username) : u.username;
    return ui.html(c, <SettlementPage ctx={ctx} cashier={who2} cashiers={cashiers} p={settlementPreview(db, who2)} recent={recentSettlements(db).filter((s) => isAdmin || s.cashier === u.username)}
      canSettleOthers={isAdmin} error={msg.error} notice={msg.notice ?? (c.req.query('done') ? '日结完成' : undefined)} />, status as 200);
  };
  ui.page('get', '/his/cashier/settlement', [...CASH_ROLES, 'registrar'], (c, u, ctx) => settlement(c, u, ctx));
  post('/his/cashier/settlement', [...CASH_ROLES, 'registrar'], (c, u, ctx, f) => {
    const target = u.role === 'clinic_admin' ? str(f, 'cashier') || u.username : u.username;
    try {
      const s = store.transact((tx) => settle(tx, target, u.username));
      audit(c, u, 'cashier.settle', target, `net ${s.netFen} fen, ${s.invoiceCount}+${s.reversalCount} invoice(s)`);
      return c.redirect(`/his/cashier/settlement?done=1&cashier=${encodeURIComponent(target)}`, 303);
    } catch (e) { return settlement(c, u, ctx, { error: firstError(errorsOf(e, ctx.lang)), cashier: target }, 409); }
  });

  // ---- Pharmacy -----------------------------------------------------------------------------
  const warnings = () => {
    const rows = stockOverview(db, localDate());
    return { low: rows.filter((r) => r.low).length, nearExpiry: rows.reduce((n, r) => n + r.nearExpiry.filter((b) => !b.expired).length, 0), expired: rows.reduce((n, r) => n + r.nearExpiry.filter((b) => b.expired).length, 0) };
  };
  const dispensePage = (c: Context, u: User, ctx: PageCtx, msg: { error?: string; notice?: string } = {}, status: 200 | 400 | 409 = 200) => {
    const queue = dispenseQueue(db);
    audit(c, u, 'pharmacy.queue', `${queue.length} waiting`);
    return ui.html(c, <DispensePage ctx={ctx} queue={queue} warnings={warnings()} error={msg.error} notice={msg.notice ?? (c.req.query('done') ? '发药完成' : undefined)} />, status as 200);
  };
  ui.page('get', '/his/pharmacy', PHARM_ROLES, (c, u, ctx) => dispensePage(c, u, ctx));
  post('/his/pharmacy/dispense', PHARM_ROLES, (c, u, ctx, f) => {
    try {
      const d = store.transact((tx) => dispense(tx, { chargeIds: all(f, 'chargeId'), by: u.username }));
      const rid = db.prepare<[string], { resident_id: string }>('SELECT resident_id FROM his_charges WHERE charge_id = ?').get(d.lines[0]?.chargeId ?? '')?.resident_id ?? '';
      audit(c, u, 'pharmacy.dispense', who(rid), `${d.lines.length} batch line(s)`);
      return c.redirect('/his/pharmacy?done=1', 303);
    } catch (e) { const errors = errorsOf(e, ctx.lang); audit(c, u, 'pharmacy.dispense', all(f, 'chargeId').join(',').slice(0, 100), `refused: ${firstError(errors)}`); return dispensePage(c, u, ctx, { error: firstError(errors) }, 409); }
  });
  const returnsPage = (c: Context, u: User, ctx: PageCtx, msg: { errors?: Errors; error?: string; notice?: string; rid?: string } = {}, status: 200 | 400 | 409 = 200) => {
    const s = search(c, u, ctx.lang);
    const resident = msg.rid ? getResident(db, msg.rid) : residentOf(c, u, 'pharmacy.view');
    return ui.html(c, <ReturnsPage ctx={ctx} q={s.q} kind={s.kind} results={s.results} searchErrors={s.errors} resident={resident} lines={resident ? returnable(db, resident.residentId) : []}
      errors={msg.errors} error={msg.error} notice={msg.notice ?? (c.req.query('done') ? '退药完成，请患者到收费处退费' : undefined)} />, status as 200);
  };
  ui.page('get', '/his/pharmacy/returns', PHARM_ROLES, (c, u, ctx) => returnsPage(c, u, ctx));
  post('/his/pharmacy/return', PHARM_ROLES, (c, u, ctx, f) => {
    const rid = str(f, 'residentId');
    const { items, errors } = quantityLines(f, '退药数量不能为负数');
    try {
      if (Object.keys(errors).length) throw new FormErrors(errors);
      if (!items.length) throw new HisError('quantity', '请填写退药数量');
      store.transact((tx) => returnDrugs(tx, { items, by: u.username }));
      audit(c, u, 'pharmacy.return', who(rid), `${items.length} line(s)`);
      return c.redirect(`/his/pharmacy/returns?rid=${encodeURIComponent(rid)}&done=1`, 303);
    } catch (e) {
      const errs = errorsOf(e, ctx.lang);
      if (e instanceof HisError && items.length === 1) errs[`qty_${items[0]!.chargeId}`] = loc(e.message, ctx.lang);
      audit(c, u, 'pharmacy.return', who(rid), `refused: ${firstError(errs)}`);
      return returnsPage(c, u, ctx, { errors: errs, error: firstError(errs), rid }, 400);
    }
  });
  const stockPage = (c: Context, _u: User, ctx: PageCtx, msg: { errors?: Errors; form?: Record<string, string>; notice?: string } = {}, status: 200 | 400 = 200) =>
    ui.html(c, <StockPage ctx={ctx} rows={stockOverview(db, localDate())} drugs={dictList(db, 'drugs')} form={msg.form ?? {}} errors={msg.errors} filter={c.req.query('filter') ?? ''}
      error={msg.errors ? firstError(msg.errors) : undefined} notice={msg.notice ?? (c.req.query('done') ? '入库完成' : undefined)} />, status);
  ui.page('get', '/his/pharmacy/stock', [...PHARM_ROLES, 'doctor'], (c, u, ctx) => stockPage(c, u, ctx));
  post('/his/pharmacy/stock', PHARM_ROLES, (c, u, ctx, f) => {
    const form = { drugCode: str(f, 'drugCode').trim(), batchNo: str(f, 'batchNo').trim(), expiryDate: str(f, 'expiryDate').trim(), quantity: str(f, 'quantity').trim() };
    try {
      const q = form.quantity === '' ? NaN : Number(form.quantity);
      store.transact((tx) => receiveStock(tx, { ...form, quantity: q, byUser: u.username }));
      audit(c, u, 'stock.receipt', `${form.drugCode} ${form.batchNo} +${q}`);
      return c.redirect('/his/pharmacy/stock?done=1', 303);
    } catch (e) { const errors = errorsOf(e, ctx.lang); audit(c, u, 'stock.receipt', form.drugCode, `refused: ${firstError(errors)}`); return stockPage(c, u, ctx, { errors, form }, 400); }
  });

  // ---- Statistics ---------------------------------------------------------------------------
  const range = (c: Context) => {
    const today = localDate();
    const ok = (d: string | undefined) => !!d && /^\d{4}-\d{2}-\d{2}$/.test(d) && !Number.isNaN(Date.parse(d));
    const from = ok(c.req.query('from')) ? c.req.query('from')! : today;
    const to = ok(c.req.query('to')) ? c.req.query('to')! : today;
    return { from: from <= to ? from : to, to: from <= to ? to : from, groupBy: c.req.query('groupBy') === 'month' ? 'month' as const : 'day' as const };
  };
  ui.page('get', '/his/stats', STATS_ROLES, (c, u, ctx) => {
    const r = range(c);
    audit(c, u, 'stats.view', `${r.from}..${r.to}`);
    return ui.html(c, <StatsPage ctx={ctx} s={computeStats(db, r.from, r.to, r.groupBy)} />);
  });
  ui.page('get', '/his/stats/export.xlsx', STATS_ROLES, async (c, u) => {
    const r = range(c);
    audit(c, u, 'stats.export', `${r.from}..${r.to}`);
    const buf = await statsWorkbook(computeStats(db, r.from, r.to, r.groupBy));
    return c.body(new Uint8Array(buf), 200, {
      'content-type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
      'content-disposition': `attachment; filename="his-stats-${r.from}-${r.to}.xlsx"; filename*=UTF-8''${encodeURIComponent(`门诊统计-${r.from}-${r.to}.xlsx`)}`,
    });
  });
}
