/**
 * The drug stock ledger (药库/药房台账): append-only `his_stock_movements` (+ in, - out),
 * replicated as `stock_movement` records. Stock is always the sum of entries.
 *
 * - actual    = units on the shelf (sum of the ledger)
 * - available = actual - units charged (pending or paid, not refunded) and not yet handed out;
 *   what a doctor may still prescribe.
 */
import { uuidv7 } from '../../contracts/ids.ts';
import type { STOCK_MOVEMENT_KINDS } from '../../contracts/records-his.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Tx } from '../store/store.ts';
import { dictItem } from './dict.ts';
import { HisError } from './errors.ts';

export type StockKind = (typeof STOCK_MOVEMENT_KINDS)[number];
const round = (q: number) => Math.round(q * 1e6) / 1e6;

/** Actual and available stock of one drug, in the dictionary's unit. */
export function stockOf(db: Db, drugCode: string): { actual: number; available: number } {
  const actual = db.prepare<[string], { q: number | null }>('SELECT sum(quantity) AS q FROM his_stock_movements WHERE drug_code = ?').get(drugCode)?.q ?? 0;
  // Per charged line (pending or paid): ordered - refunded - handed out, never below 0. Returned units are
  // back on the shelf and wait for their refund: they are not reserved again.
  const reserved = db.prepare<[string], { q: number | null }>(`SELECT sum(max(0, c.quantity
      + coalesce((SELECT sum(r.quantity) FROM his_charges r WHERE r.reverses_charge_id = c.charge_id), 0)
      + coalesce((SELECT sum(m.quantity) FROM his_stock_movements m WHERE m.ref_kind = 'charge' AND m.ref_id = c.charge_id AND m.kind = 'dispense'), 0))) AS q
    FROM his_charges c WHERE c.item_code = ? AND c.dispensable = 1 AND c.status IN ('pending','paid') AND c.reverses_charge_id IS NULL`).get(drugCode)?.q ?? 0;
  return { actual: round(actual), available: round(actual - reserved) };
}

export interface BatchRow { batch_no: string; expiry_date: string; quantity: number }

/** Batches of a drug with units on the shelf, first expiring first. */
export function batchesOf(db: Db, drugCode: string): BatchRow[] {
  return db.prepare<[string], BatchRow>(`SELECT batch_no, expiry_date, round(sum(quantity), 6) AS quantity FROM his_stock_movements WHERE drug_code = ?
    GROUP BY batch_no, expiry_date HAVING sum(quantity) > 0.000001 ORDER BY expiry_date, batch_no`).all(drugCode);
}

export interface Movement {
  drugCode: string; batchNo: string; expiryDate: string; quantity: number; kind: StockKind; refKind?: string | undefined; refId?: string | undefined; byUser: string;
}

/** Append one ledger entry and replicate it. */
export function addMovement(tx: Tx, m: Movement): string {
  const movementId = uuidv7();
  const at = new Date().toISOString();
  tx.db.prepare('INSERT INTO his_stock_movements (movement_id, drug_code, batch_no, expiry_date, quantity, kind, ref_kind, ref_id, by_user, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)')
    .run(movementId, m.drugCode, m.batchNo, m.expiryDate, m.quantity, m.kind, m.refKind ?? null, m.refId ?? null, m.byUser, at);
  tx.emit('stock_movement', movementId, {
    movementId, drugCode: m.drugCode, batchNo: m.batchNo, expiryDate: m.expiryDate, quantity: m.quantity, kind: m.kind,
    ...(m.refKind ? { refKind: m.refKind } : {}), ...(m.refId ? { refId: m.refId } : {}), byUser: m.byUser, at,
  });
  return movementId;
}

/** Validate a stock receipt form (入库); errors name the field. */
export function checkReceipt(db: Db, f: { drugCode: string; batchNo: string; expiryDate: string; quantity: number }): void {
  if (!f.drugCode.trim()) throw new HisError('drugCode', '请填写药品编码 / drug code is required');
  if (!dictItem(db, 'drugs', f.drugCode.trim())) throw new HisError('drugCode', `未知药品编码 ${f.drugCode} / unknown drug code`);
  if (!/^[A-Za-z0-9-]{1,40}$/.test(f.batchNo.trim())) throw new HisError('batchNo', '批号须为1-40位字母、数字或 - / batch number: 1-40 letters, digits, -');
  if (!/^\d{4}-\d{2}-\d{2}$/.test(f.expiryDate) || Number.isNaN(Date.parse(f.expiryDate))) throw new HisError('expiryDate', '有效期格式应为 yyyy-MM-dd / expiry date as yyyy-MM-dd');
  if (!Number.isFinite(f.quantity) || f.quantity <= 0) throw new HisError('quantity', '数量必须大于0 / quantity must be greater than 0');
  if (f.quantity > 1_000_000) throw new HisError('quantity', '数量过大 / quantity too large');
}

/** Stock receipt (入库) of one batch. */
export function receiveStock(tx: Tx, f: { drugCode: string; batchNo: string; expiryDate: string; quantity: number; byUser: string; refId?: string }): string {
  checkReceipt(tx.db, f);
  return addMovement(tx, { drugCode: f.drugCode.trim(), batchNo: f.batchNo.trim(), expiryDate: f.expiryDate, quantity: f.quantity, kind: 'receipt', refKind: 'receipt', refId: f.refId, byUser: f.byUser });
}

/** Stock-take correction (盘点调整): a signed entry with a reason, never an overwrite. */
export function adjustStock(tx: Tx, f: { drugCode: string; batchNo: string; quantity: number; reason: string; byUser: string }): string {
  const batch = batchesOf(tx.db, f.drugCode).find((b) => b.batch_no === f.batchNo)
    ?? tx.db.prepare<[string, string], BatchRow>('SELECT batch_no, expiry_date, 0 AS quantity FROM his_stock_movements WHERE drug_code = ? AND batch_no = ? LIMIT 1').get(f.drugCode, f.batchNo);
  if (!batch) throw new HisError('batchNo', '无此批号 / unknown batch');
  if (!Number.isFinite(f.quantity) || f.quantity === 0) throw new HisError('quantity', '调整数量不能为0 / quantity must not be 0');
  if (batch.quantity + f.quantity < -1e-9) throw new HisError('quantity', `调整后库存为负（现有 ${batch.quantity}） / stock would go negative`);
  if (!f.reason.trim()) throw new HisError('reason', '请填写调整原因 / give a reason');
  return addMovement(tx, { drugCode: f.drugCode, batchNo: f.batchNo, expiryDate: batch.expiry_date, quantity: f.quantity, kind: 'adjust', refKind: 'reason', refId: f.reason.trim().slice(0, 64), byUser: f.byUser });
}

export interface StockOverview {
  drugCode: string; name: string; spec: string; unit: string; actual: number; available: number; low: boolean; threshold: number;
  nearExpiry: { batchNo: string; expiryDate: string; quantity: number; expired: boolean }[]; volumeProcurement: boolean;
}

/** Every drug in the dictionary with its stock, low-stock flag and batches expiring within `days`. */
export function stockOverview(db: Db, today: string, days = 90): StockOverview[] {
  const limit = new Date(Date.parse(`${today}T00:00:00Z`) + days * 86400_000).toISOString().slice(0, 10);
  const drugs = db.prepare<[], { code: string; name: string; attrs: string }>("SELECT code, name, attrs FROM dictionary_items WHERE dictionary = 'drugs' AND active = 1 ORDER BY name").all();
  const thresholds = new Map(db.prepare<[], { drug_code: string; low_threshold: number }>('SELECT * FROM his_stock_settings').all().map((r) => [r.drug_code, r.low_threshold]));
  drugs.sort((a, b) => a.name.localeCompare(b.name, 'zh-CN'));
  return drugs.map((d) => {
    const attrs = JSON.parse(d.attrs) as Record<string, unknown>;
    const s = stockOf(db, d.code);
    const threshold = thresholds.get(d.code) ?? 10;
    return {
      drugCode: d.code, name: d.name, spec: String(attrs.spec ?? ''), unit: String(attrs.unit ?? ''), actual: s.actual, available: s.available,
      low: s.available <= threshold, threshold, volumeProcurement: attrs.volumeProcurement === true,
      nearExpiry: batchesOf(db, d.code).filter((b) => b.expiry_date <= limit).map((b) => ({ batchNo: b.batch_no, expiryDate: b.expiry_date, quantity: b.quantity, expired: b.expiry_date < today })),
    };
  });
}
