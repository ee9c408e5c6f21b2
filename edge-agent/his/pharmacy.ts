/**
 * The pharmacy window (药房): dispense paid prescription lines (stock out of the ledger,
 * first-expiring batch first, expired batches never), partial returns (退药) back into the
 * batches they came from. Each event is one `dispense` record plus its `stock_movement`s.
 */
import { uuidv7 } from '../../contracts/ids.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Tx } from '../store/store.ts';
import { getCharge, grossDispensed, netDispensed, refundedQuantity, type ChargeRow } from './charges.ts';
import { HisError } from './errors.ts';
import { addMovement, batchesOf } from './stock.ts';

const EPS = 1e-9;
const round = (q: number) => Math.round(q * 1e6) / 1e6;

/** Units of a paid drug line still to hand out (returned units wait for their refund, they are not handed out again). */
export function toDispense(db: Db, c: ChargeRow): number {
  if (c.status !== 'paid' || !c.dispensable || c.reverses_charge_id) return 0;
  return Math.max(0, round(c.quantity - refundedQuantity(db, c.charge_id) - grossDispensed(db, c.charge_id)));
}

export interface QueueEntry { residentId: string; residentName: string; registrationId: string | null; paidAt: string; lines: (ChargeRow & { remaining: number; available: number })[] }

/** Paid prescriptions waiting at the window, oldest payment first. */
export function dispenseQueue(db: Db, limit = 100): QueueEntry[] {
  const rows = db.prepare<[string], ChargeRow & { resident_name: string; issued_at: string }>(`SELECT c.*, r.name AS resident_name, i.issued_at FROM his_charges c
    JOIN his_invoices i ON i.invoice_id = c.invoice_id LEFT JOIN residents r ON r.resident_id = c.resident_id
    WHERE c.status = 'paid' AND c.dispensable = 1 AND c.reverses_charge_id IS NULL AND i.issued_at >= ? ORDER BY i.issued_at, c.rowid`).all(new Date(Date.now() - 30 * 86400_000).toISOString());
  const groups = new Map<string, QueueEntry>();
  for (const c of rows) {
    const remaining = toDispense(db, c);
    if (remaining <= EPS) continue;
    const key = `${c.resident_id}|${c.registration_id ?? ''}`;
    const g = groups.get(key) ?? { residentId: c.resident_id, residentName: c.resident_name ?? c.resident_id, registrationId: c.registration_id, paidAt: c.issued_at, lines: [] };
    const onShelf = batchesOf(db, c.item_code).reduce((s, b) => s + b.quantity, 0);
    g.lines.push({ ...c, remaining, available: round(onShelf) });
    groups.set(key, g);
  }
  return [...groups.values()].slice(0, limit);
}

/** Lines dispensed (net of returns) for a resident: what may be returned. */
export function returnable(db: Db, residentId: string): (ChargeRow & { dispensed: number })[] {
  return db.prepare<[string], ChargeRow>(`SELECT * FROM his_charges WHERE resident_id = ? AND dispensable = 1 AND status = 'paid' AND reverses_charge_id IS NULL
    AND charge_id IN (SELECT ref_id FROM his_stock_movements WHERE ref_kind = 'charge') ORDER BY created_at DESC LIMIT 200`).all(residentId)
    .map((c) => ({ ...c, dispensed: round(netDispensed(db, c.charge_id)) })).filter((c) => c.dispensed > EPS);
}

/** Dispense everything still due on the given lines (one resident). */
export function dispense(tx: Tx, input: { chargeIds: readonly string[]; by: string; today?: string }): { dispenseId: string; lines: { chargeId: string; drugCode: string; batchNo: string; quantity: number }[] } {
  if (!input.chargeIds.length) throw new HisError('chargeIds', '请选择要发药的处方明细');
  const today = input.today ?? new Date().toISOString().slice(0, 10);
  const dispenseId = uuidv7();
  const out: { chargeId: string; drugCode: string; batchNo: string; quantity: number }[] = [];
  let residentId: string | null = null;
  let registrationId: string | null = null;
  for (const id of new Set(input.chargeIds)) {
    const c = getCharge(tx.db, id);
    if (!c || !c.dispensable) throw new HisError('chargeIds', `不是药品明细 / not a drug line: ${id}`, 404);
    if (c.status !== 'paid') throw new HisError('chargeIds', `${c.item_name} 尚未收费，不能发药 / not paid`, 409);
    if (residentId && c.resident_id !== residentId) throw new HisError('chargeIds', '一次只能给一位患者发药');
    residentId = c.resident_id;
    registrationId = c.registration_id;
    let need = toDispense(tx.db, c);
    if (need <= EPS) throw new HisError('chargeIds', `${c.item_name} 已发药或已退费 / nothing left to dispense`, 409);
    const batches = batchesOf(tx.db, c.item_code).filter((b) => b.expiry_date >= today);
    const onShelf = batches.reduce((s, b) => s + b.quantity, 0);
    if (onShelf + EPS < need) throw new HisError('chargeIds', `${c.item_name} 库存不足（有效库存 ${round(onShelf)}${c.unit}，需 ${need}${c.unit}） / not enough stock`, 409);
    for (const b of batches) {
      if (need <= EPS) break;
      const q = round(Math.min(need, b.quantity));
      addMovement(tx, { drugCode: c.item_code, batchNo: b.batch_no, expiryDate: b.expiry_date, quantity: -q, kind: 'dispense', refKind: 'charge', refId: c.charge_id, byUser: input.by });
      out.push({ chargeId: c.charge_id, drugCode: c.item_code, batchNo: b.batch_no, quantity: q });
      need = round(need - q);
    }
  }
  tx.emit('dispense', dispenseId, { dispenseId, kind: 'dispense', residentId: residentId!, ...(registrationId ? { registrationId } : {}), lines: out, byUser: input.by, at: new Date().toISOString() });
  return { dispenseId, lines: out };
}

/** Take back dispensed units (partial allowed) into the batches they came from, latest first. */
export function returnDrugs(tx: Tx, input: { items: readonly { chargeId: string; quantity: number }[]; by: string }): { dispenseId: string } {
  const items = input.items.filter((i) => i.quantity !== 0);
  if (!items.length) throw new HisError('quantity', '请填写退药数量');
  const dispenseId = uuidv7();
  const out: { chargeId: string; drugCode: string; batchNo: string; quantity: number }[] = [];
  let residentId: string | null = null;
  let registrationId: string | null = null;
  for (const it of items) {
    if (!Number.isFinite(it.quantity) || it.quantity < 0) throw new HisError('quantity', '退药数量不能为负数 / quantity must not be negative');
    const c = getCharge(tx.db, it.chargeId);
    if (!c || !c.dispensable) throw new HisError('chargeIds', '不是药品明细', 404);
    if (residentId && c.resident_id !== residentId) throw new HisError('chargeIds', '一次只能为一位患者退药');
    residentId = c.resident_id;
    registrationId = c.registration_id;
    const given = round(netDispensed(tx.db, c.charge_id));
    if (it.quantity > given + EPS) throw new HisError('quantity', `${c.item_name} 最多可退 ${given}${c.unit} / at most ${given}`, 409);
    // Per batch: net units out for this line, newest dispensing first.
    const perBatch = tx.db.prepare<[string], { batch_no: string; expiry_date: string; out: number; last: number }>(`SELECT batch_no, expiry_date, -sum(quantity) AS out, max(id) AS last
      FROM his_stock_movements WHERE ref_kind = 'charge' AND ref_id = ? GROUP BY batch_no, expiry_date HAVING -sum(quantity) > 0.000001 ORDER BY last DESC`).all(c.charge_id);
    let left = it.quantity;
    for (const b of perBatch) {
      if (left <= EPS) break;
      const q = round(Math.min(left, b.out));
      addMovement(tx, { drugCode: c.item_code, batchNo: b.batch_no, expiryDate: b.expiry_date, quantity: q, kind: 'return', refKind: 'charge', refId: c.charge_id, byUser: input.by });
      out.push({ chargeId: c.charge_id, drugCode: c.item_code, batchNo: b.batch_no, quantity: q });
      left = round(left - q);
    }
  }
  tx.emit('dispense', dispenseId, { dispenseId, kind: 'return', residentId: residentId!, ...(registrationId ? { registrationId } : {}), lines: out, byUser: input.by, at: new Date().toISOString() });
  return { dispenseId };
}
