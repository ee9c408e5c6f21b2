/**
 * Charges (收费明细), invoices (发票) and refunds by reversal (冲账).
 *
 * - `addCharges(tx, lines)`: pending lines, priced from the `drugs` / `charge_items`
 *   dictionaries when no unit price is given. The clinical workstations call it when a
 *   doctor signs a prescription or an order.
 * - `payCharges(tx, ...)`: pending -> paid, one invoice with the next gapless number.
 * - `refundCharges(tx, ...)`: a reversal invoice with negative lines pointing at the
 *   originals; the originals are kept. Dispensed drugs must be returned at the pharmacy
 *   first.
 */
import { uuidv7 } from '../../contracts/ids.ts';
import type { RecordPayload } from '../../contracts/index.ts';
import type { CHARGE_SOURCE_KINDS, PAYMENT_METHODS } from '../../contracts/records-his.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Tx } from '../store/store.ts';
import { chargeItemCategory, dictItem, DRUG_CATEGORIES, drugCategory, type ChargeCategory } from './dict.ts';
import { HisError } from './errors.ts';

export type ChargeSourceKind = (typeof CHARGE_SOURCE_KINDS)[number];
export type PaymentMethod = (typeof PAYMENT_METHODS)[number];
export const PAYMENT_METHOD_ZH: Record<PaymentMethod, string> = { cash: '现金', insurance: '医保', wechat: '微信', alipay: '支付宝', card: '银行卡' };
export const CATEGORY_ZH: Record<ChargeCategory, string> = {
  western_drug: '西药', tcm_drug: '中草药', patent_drug: '中成药', lab: '检验', imaging: '检查（影像）', treatment: '治疗',
  registration: '挂号', material: '材料', exam: '诊查',
};

export interface ChargeInput {
  residentId: string;
  registrationId?: string | undefined;
  sourceKind: ChargeSourceKind;
  sourceId?: string | undefined;
  /** drug code for prescriptions, charge item code otherwise */
  itemCode: string;
  quantity: number;
  /** when absent: from the dictionary */
  unitPriceFen?: number | undefined;
  itemName?: string | undefined;
  category?: ChargeCategory | undefined;
  unit?: string | undefined;
  createdBy: string;
}

export interface ChargeRow {
  charge_id: string; registration_id: string | null; resident_id: string; source_kind: ChargeSourceKind; source_id: string | null;
  item_code: string; item_name: string; category: ChargeCategory; quantity: number; unit: string; unit_price_fen: number; amount_fen: number;
  dispensable: number; status: 'pending' | 'paid' | 'cancelled'; invoice_id: string | null; reverses_charge_id: string | null; created_by: string; created_at: string;
}

export interface InvoiceRow {
  invoice_id: string; invoice_no: string; seq: number; kind: 'invoice' | 'reversal'; reverses_invoice_id: string | null; resident_id: string;
  registration_id: string | null; total_fen: number; payment_method: PaymentMethod; cashier: string; issued_at: string; reason: string | null; settlement_id: string | null;
}

/** Money is in fen; amounts round half away from zero. */
export const amountOf = (quantity: number, unitPriceFen: number): number => Math.sign(quantity) * Math.round(Math.abs(quantity) * unitPriceFen);
const EPS = 1e-9;

/** Price one line from the dictionaries (no writes). Throws HisError with a Chinese message. */
export function priceLine(db: Db, l: ChargeInput): Omit<ChargeRow, 'charge_id' | 'status' | 'invoice_id' | 'reverses_charge_id' | 'created_at'> {
  if (typeof l.quantity !== 'number' || !Number.isFinite(l.quantity) || l.quantity <= 0) throw new HisError('quantity', '数量必须大于0 / quantity must be greater than 0');
  if (l.quantity > 100000) throw new HisError('quantity', '数量过大 / quantity too large');
  if (l.unitPriceFen !== undefined && (!Number.isInteger(l.unitPriceFen) || l.unitPriceFen < 0)) throw new HisError('unitPriceFen', '单价须为非负整数（分） / unit price must be a non-negative integer (fen)');
  const code = String(l.itemCode ?? '').trim();
  if (!code) throw new HisError('itemCode', '请填写项目编码 / item code is required');
  const isDrug = l.sourceKind === 'prescription' || (l.category !== undefined && DRUG_CATEGORIES.includes(l.category));
  const d = dictItem(db, isDrug ? 'drugs' : 'charge_items', code);
  if (!d && (l.unitPriceFen === undefined || !l.itemName)) {
    throw new HisError('itemCode', isDrug ? `未知药品编码 ${code} / unknown drug code` : `未知收费项目编码 ${code} / unknown charge item code`);
  }
  if (d && !d.active) throw new HisError('itemCode', `${d.name}（${code}）已停用 / inactive item`);
  const dictPrice = d ? Number(d.attrs.priceFen) : NaN;
  const unitPriceFen = l.unitPriceFen ?? dictPrice;
  if (!Number.isInteger(unitPriceFen) || unitPriceFen < 0) throw new HisError('itemCode', `${d?.name ?? code} 未定价 / no price in the dictionary`);
  const category: ChargeCategory = l.category ?? (isDrug ? drugCategory(d?.attrs ?? {}) : chargeItemCategory(code, d?.attrs ?? {}));
  return {
    registration_id: l.registrationId ?? null, resident_id: l.residentId, source_kind: l.sourceKind, source_id: l.sourceId ?? null,
    item_code: code, item_name: l.itemName ?? d!.name, category, quantity: l.quantity, unit: l.unit ?? String(d?.attrs.unit ?? ''),
    unit_price_fen: unitPriceFen, amount_fen: amountOf(l.quantity, unitPriceFen), dispensable: DRUG_CATEGORIES.includes(category) ? 1 : 0, created_by: l.createdBy,
  };
}

export function chargePayload(r: ChargeRow): RecordPayload<'charge'> {
  return {
    chargeId: r.charge_id, ...(r.registration_id ? { registrationId: r.registration_id } : {}), residentId: r.resident_id, sourceKind: r.source_kind,
    ...(r.source_id ? { sourceId: r.source_id } : {}), itemCode: r.item_code, itemName: r.item_name, category: r.category, quantity: r.quantity, unit: r.unit,
    unitPriceFen: r.unit_price_fen, amountFen: r.amount_fen, dispensable: r.dispensable === 1, status: r.status,
    ...(r.invoice_id ? { invoiceId: r.invoice_id } : {}), ...(r.reverses_charge_id ? { reversesChargeId: r.reverses_charge_id } : {}), createdBy: r.created_by, createdAt: r.created_at,
  };
}

function insertCharge(tx: Tx, r: ChargeRow): void {
  tx.db.prepare(`INSERT INTO his_charges (charge_id, registration_id, resident_id, source_kind, source_id, item_code, item_name, category, quantity, unit, unit_price_fen, amount_fen, dispensable, status, invoice_id, reverses_charge_id, created_by, created_at)
    VALUES (@charge_id, @registration_id, @resident_id, @source_kind, @source_id, @item_code, @item_name, @category, @quantity, @unit, @unit_price_fen, @amount_fen, @dispensable, @status, @invoice_id, @reverses_charge_id, @created_by, @created_at)`).run(r);
  tx.emit('charge', r.charge_id, chargePayload(r));
}

/**
 * Add pending charge lines in the caller's transaction (priced from the dictionaries when
 * `unitPriceFen` is absent). All lines or none: the first bad line throws a HisError whose
 * `field` is prefixed with the line index (`lines.2.itemCode`).
 */
export function addCharges(tx: Tx, lines: readonly ChargeInput[]): ChargeRow[] {
  const now = new Date().toISOString();
  const priced = lines.map((l, i) => {
    try { return priceLine(tx.db, l); } catch (e) {
      if (e instanceof HisError && lines.length > 1) throw new HisError(`lines.${i}.${e.field}`, `第${i + 1}行：${e.message}`, e.status);
      throw e;
    }
  });
  return priced.map((p) => {
    const row: ChargeRow = { ...p, charge_id: uuidv7(), status: 'pending', invoice_id: null, reverses_charge_id: null, created_at: now };
    insertCharge(tx, row);
    return row;
  });
}

export function getCharge(db: Db, id: string): ChargeRow | null {
  return db.prepare<[string], ChargeRow>('SELECT * FROM his_charges WHERE charge_id = ?').get(id) ?? null;
}

/** Cancel pending lines (e.g. the doctor withdrew an order before payment). Paid lines need a refund. */
export function cancelCharges(tx: Tx, chargeIds: readonly string[]): void {
  for (const id of chargeIds) {
    const c = getCharge(tx.db, id);
    if (!c) throw new HisError('chargeId', `收费明细不存在 / no charge ${id}`, 404);
    if (c.status === 'cancelled') continue;
    if (c.status !== 'pending') throw new HisError('chargeId', `${c.item_name} 已收费，须退费冲账 / already paid: refund instead`, 409);
    tx.db.prepare("UPDATE his_charges SET status = 'cancelled' WHERE charge_id = ?").run(id);
    tx.emit('charge', id, chargePayload({ ...c, status: 'cancelled' }));
  }
}

/** Next number of a gapless per-clinic counter (inside the caller's transaction, so a rollback gives it back). */
export function nextCounter(db: Db, name: string): number {
  return db.prepare<[string], { value: number }>('INSERT INTO his_counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value').get(name)!.value;
}

export const formatInvoiceNo = (seq: number) => String(seq).padStart(10, '0');

export function getInvoice(db: Db, id: string): InvoiceRow | null {
  return db.prepare<[string], InvoiceRow>('SELECT * FROM his_invoices WHERE invoice_id = ?').get(id) ?? null;
}

function writeInvoice(tx: Tx, inv: Omit<InvoiceRow, 'seq' | 'invoice_no' | 'settlement_id'>, lines: ChargeRow[]): InvoiceRow {
  const seq = nextCounter(tx.db, 'invoice');
  const row: InvoiceRow = { ...inv, seq, invoice_no: formatInvoiceNo(seq), settlement_id: null };
  tx.db.prepare(`INSERT INTO his_invoices (invoice_id, invoice_no, seq, kind, reverses_invoice_id, resident_id, registration_id, total_fen, payment_method, cashier, issued_at, reason)
    VALUES (@invoice_id, @invoice_no, @seq, @kind, @reverses_invoice_id, @resident_id, @registration_id, @total_fen, @payment_method, @cashier, @issued_at, @reason)`).run(row);
  tx.emit('invoice', row.invoice_id, {
    invoiceId: row.invoice_id, invoiceNo: row.invoice_no, kind: row.kind, ...(row.reverses_invoice_id ? { reversesInvoiceId: row.reverses_invoice_id } : {}),
    residentId: row.resident_id, ...(row.registration_id ? { registrationId: row.registration_id } : {}),
    lines: lines.map((l) => ({ chargeId: l.charge_id, itemCode: l.item_code, itemName: l.item_name, category: l.category, quantity: l.quantity, unitPriceFen: l.unit_price_fen, amountFen: l.amount_fen })),
    totalFen: row.total_fen, paymentMethod: row.payment_method, cashier: row.cashier, issuedAt: row.issued_at, ...(row.reason ? { reason: row.reason } : {}),
  });
  return row;
}

export function checkPaymentMethod(m: string): PaymentMethod {
  if (!(m in PAYMENT_METHOD_ZH)) throw new HisError('paymentMethod', '请选择支付方式 / choose a payment method');
  return m as PaymentMethod;
}

/** Pay pending lines of one resident: one invoice, lines become paid. */
export function payCharges(tx: Tx, input: { residentId: string; chargeIds: readonly string[]; paymentMethod: string; cashier: string }): InvoiceRow {
  const method = checkPaymentMethod(input.paymentMethod);
  if (input.chargeIds.length === 0) throw new HisError('chargeIds', '请选择要收费的项目 / choose the lines to charge');
  const lines = [...new Set(input.chargeIds)].map((id) => {
    const c = getCharge(tx.db, id);
    if (!c || c.resident_id !== input.residentId) throw new HisError('chargeIds', `收费明细不存在 / no charge ${id} for this resident`, 404);
    if (c.status !== 'pending') throw new HisError('chargeIds', `${c.item_name} ${c.status === 'paid' ? '已收费' : '已取消'} / not pending`, 409);
    return c;
  });
  const regs = new Set(lines.map((l) => l.registration_id));
  const invoiceId = uuidv7();
  const inv = writeInvoice(tx, {
    invoice_id: invoiceId, kind: 'invoice', reverses_invoice_id: null, resident_id: input.residentId, registration_id: regs.size === 1 ? [...regs][0] ?? null : null,
    total_fen: lines.reduce((s, l) => s + l.amount_fen, 0), payment_method: method, cashier: input.cashier, issued_at: new Date().toISOString(), reason: null,
  }, lines);
  for (const l of lines) {
    tx.db.prepare("UPDATE his_charges SET status = 'paid', invoice_id = ? WHERE charge_id = ?").run(invoiceId, l.charge_id);
    tx.emit('charge', l.charge_id, chargePayload({ ...l, status: 'paid', invoice_id: invoiceId }));
  }
  return inv;
}

/** Quantity of a paid line already reversed (a positive number). */
export function refundedQuantity(db: Db, chargeId: string): number {
  return -(db.prepare<[string], { q: number | null }>('SELECT sum(quantity) AS q FROM his_charges WHERE reverses_charge_id = ?').get(chargeId)?.q ?? 0);
}

/** Units of a drug line handed out and not returned (from the stock ledger). */
export function netDispensed(db: Db, chargeId: string): number {
  return -(db.prepare<[string], { q: number | null }>("SELECT sum(quantity) AS q FROM his_stock_movements WHERE ref_kind = 'charge' AND ref_id = ?").get(chargeId)?.q ?? 0);
}

/** The doctor has seen the patient (the registration fee is then earned). */
function visitStarted(db: Db, registrationId: string | null): boolean {
  if (!registrationId) return false;
  const st = db.prepare<[string], { status: string }>('SELECT status FROM his_registrations WHERE registration_id = ?').get(registrationId)?.status;
  return st === 'in-visit' || st === 'finished';
}

/** Units ever handed out for a drug line (returns not subtracted: a returned unit awaits its refund, it is not dispensed again). */
export function grossDispensed(db: Db, chargeId: string): number {
  return -(db.prepare<[string], { q: number | null }>("SELECT sum(quantity) AS q FROM his_stock_movements WHERE ref_kind = 'charge' AND ref_id = ? AND kind = 'dispense'").get(chargeId)?.q ?? 0);
}

/** What may still be refunded of a paid line: paid - refunded - dispensed-and-not-returned. */
export function refundableQuantity(db: Db, c: ChargeRow): number {
  if (c.status !== 'paid' || c.reverses_charge_id) return 0;
  if (c.source_kind === 'registration' && visitStarted(db, c.registration_id)) return 0;
  const q = c.quantity - refundedQuantity(db, c.charge_id) - (c.dispensable ? netDispensed(db, c.charge_id) : 0);
  return Math.max(0, Math.round(q * 1e6) / 1e6);
}

/**
 * Refund paid lines by reversal: per original invoice one reversal invoice whose lines are
 * new negative charge lines pointing at the originals (kept unchanged). `quantity` defaults
 * to everything refundable. Drug units that were dispensed must be returned at the pharmacy first.
 */
export function refundCharges(tx: Tx, input: { items: readonly { chargeId: string; quantity?: number | undefined }[]; cashier: string; reason: string; paymentMethod?: string | undefined }): InvoiceRow[] {
  if (input.items.length === 0) throw new HisError('chargeIds', '请选择要退费的项目 / choose the lines to refund');
  const reason = input.reason.trim();
  if (!reason) throw new HisError('reason', '请填写退费原因 / give a reason for the refund');
  const byInvoice = new Map<string, { orig: ChargeRow; qty: number }[]>();
  for (const it of input.items) {
    const c = getCharge(tx.db, it.chargeId);
    if (!c) throw new HisError('chargeIds', `收费明细不存在 / no charge ${it.chargeId}`, 404);
    if (c.status !== 'paid' || !c.invoice_id || c.reverses_charge_id) throw new HisError('chargeIds', `${c.item_name} 未收费，无需退费 / not a paid line`, 409);
    const paidLeft = c.quantity - refundedQuantity(tx.db, c.charge_id);
    const refundable = refundableQuantity(tx.db, c);
    const qty = it.quantity ?? refundable;
    if (!Number.isFinite(qty) || qty < 0) throw new HisError('quantity', '退费数量不能为负数 / refund quantity must not be negative');
    if (qty <= EPS) {
      if (c.source_kind === 'registration' && visitStarted(tx.db, c.registration_id)) throw new HisError('chargeIds', '已就诊，挂号费不能退 / the visit has started: no refund of the registration fee', 409);
      if (c.dispensable && paidLeft > EPS) throw new HisError('chargeIds', `${c.item_name} 已发药，请先到药房退药再退费 / dispensed: return the drug at the pharmacy first`, 409);
      throw new HisError('chargeIds', `${c.item_name} 已全部退费 / already refunded`, 409);
    }
    if (qty > refundable + EPS) {
      if (c.dispensable && qty <= paidLeft + EPS) throw new HisError('quantity', `${c.item_name} 已发药，请先到药房退药再退费（可退 ${refundable}） / dispensed: return at the pharmacy first (refundable ${refundable})`, 409);
      throw new HisError('quantity', `${c.item_name} 最多可退 ${refundable} / at most ${refundable}`, 409);
    }
    const list = byInvoice.get(c.invoice_id) ?? [];
    list.push({ orig: c, qty });
    byInvoice.set(c.invoice_id, list);
  }
  const now = new Date().toISOString();
  const out: InvoiceRow[] = [];
  for (const [origId, items] of byInvoice) {
    const orig = getInvoice(tx.db, origId)!;
    const invoiceId = uuidv7();
    const lines: ChargeRow[] = items.map(({ orig: c, qty }) => {
      const amount = -Math.min(amountOf(qty, c.unit_price_fen), c.amount_fen + reversedAmount(tx.db, c.charge_id));
      return { ...c, charge_id: uuidv7(), quantity: -qty, amount_fen: amount, status: 'paid', invoice_id: invoiceId, reverses_charge_id: c.charge_id, created_by: input.cashier, created_at: now };
    });
    const inv = writeInvoice(tx, {
      invoice_id: invoiceId, kind: 'reversal', reverses_invoice_id: origId, resident_id: orig.resident_id, registration_id: orig.registration_id,
      total_fen: lines.reduce((s, l) => s + l.amount_fen, 0), payment_method: input.paymentMethod ? checkPaymentMethod(input.paymentMethod) : orig.payment_method,
      cashier: input.cashier, issued_at: now, reason,
    }, lines);
    for (const l of lines) insertCharge(tx, l);
    out.push(inv);
  }
  return out;
}

/** Sum (negative) of the amounts already reversed on a line: a refund never exceeds what was paid. */
function reversedAmount(db: Db, chargeId: string): number {
  return db.prepare<[string], { a: number | null }>('SELECT sum(amount_fen) AS a FROM his_charges WHERE reverses_charge_id = ?').get(chargeId)?.a ?? 0;
}

export function chargesOfResident(db: Db, residentId: string): ChargeRow[] {
  return db.prepare<[string], ChargeRow>('SELECT * FROM his_charges WHERE resident_id = ? ORDER BY created_at DESC, rowid DESC LIMIT 500').all(residentId);
}
