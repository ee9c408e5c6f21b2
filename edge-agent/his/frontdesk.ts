/** The registration window's workflows: register (and pay the fee), book, check in, cancel or refund. */
import type { Db } from '../../contracts/runtime/index.ts';
import type { Tx } from '../store/store.ts';
import { addCharges, cancelCharges, payCharges, refundCharges, type ChargeRow, type InvoiceRow } from './charges.ts';
import { HisError } from './errors.ts';
import { emitEncounter, getRegistration, insertRegistration, setRegistrationStatus, type RegistrationRow } from './registrations.ts';

export const REGISTRATION_FEE_CODE = '110100001';

function feeCharge(tx: Tx, r: RegistrationRow, by: string): ChargeRow | null {
  if (r.fee_fen <= 0) return null;
  return addCharges(tx, [{ residentId: r.resident_id, registrationId: r.registration_id, sourceKind: 'registration', sourceId: r.registration_id,
    itemCode: REGISTRATION_FEE_CODE, itemName: '挂号费', category: 'registration', unit: '次', quantity: 1, unitPriceFen: r.fee_fen, createdBy: by }])[0]!;
}

/** Walk-in registration: registered, fee charged and paid (invoice), encounter emitted. */
export function registerNow(tx: Tx, input: { residentId: string; slotId: string; paymentMethod: string; by: string }): { registration: RegistrationRow; invoice: InvoiceRow | null } {
  const r = insertRegistration(tx, { residentId: input.residentId, slotId: input.slotId, status: 'registered', createdBy: input.by });
  emitEncounter(tx, r, 'registered');
  const fee = feeCharge(tx, r, input.by);
  const invoice = fee ? payCharges(tx, { residentId: r.resident_id, chargeIds: [fee.charge_id], paymentMethod: input.paymentMethod, cashier: input.by }) : null;
  return { registration: r, invoice };
}

/** Appointment for a time slot (预约): no fee until check-in. */
export function book(tx: Tx, input: { residentId: string; slotId: string; by: string }): RegistrationRow {
  return insertRegistration(tx, { residentId: input.residentId, slotId: input.slotId, status: 'booked', createdBy: input.by });
}

/** Arrival of a booked patient (取号): registered, fee paid. */
export function checkIn(tx: Tx, input: { registrationId: string; paymentMethod: string; by: string }): { registration: RegistrationRow; invoice: InvoiceRow | null } {
  const before = getRegistration(tx.db, input.registrationId);
  if (!before) throw new HisError('registrationId', '挂号记录不存在', 404);
  if (before.status !== 'booked') throw new HisError('registrationId', '只有预约状态可以取号', 409);
  const r = setRegistrationStatus(tx, input.registrationId, 'registered');
  emitEncounter(tx, r, 'registered');
  const fee = feeCharge(tx, r, input.by);
  const invoice = fee ? payCharges(tx, { residentId: r.resident_id, chargeIds: [fee.charge_id], paymentMethod: input.paymentMethod, cashier: input.by }) : null;
  return { registration: r, invoice };
}

export function feeChargesOf(db: Db, registrationId: string): ChargeRow[] {
  return db.prepare<[string], ChargeRow>("SELECT * FROM his_charges WHERE registration_id = ? AND source_kind = 'registration' AND reverses_charge_id IS NULL").all(registrationId);
}

/**
 * Cancel a booking or a registration not yet seen by the doctor. A paid fee is refunded by a
 * reversal invoice (status 'refunded'); otherwise the status is 'cancelled'.
 */
export function cancelRegistration(tx: Tx, input: { registrationId: string; reason: string; by: string }): { registration: RegistrationRow; reversals: InvoiceRow[] } {
  const r = getRegistration(tx.db, input.registrationId);
  if (!r) throw new HisError('registrationId', '挂号记录不存在', 404);
  if (r.status !== 'booked' && r.status !== 'registered') throw new HisError('registrationId', '已就诊或已取消的挂号不能退号', 409);
  if (!input.reason.trim()) throw new HisError('reason', '请填写退号原因');
  const fees = feeChargesOf(tx.db, r.registration_id);
  const paid = fees.filter((c) => c.status === 'paid');
  cancelCharges(tx, fees.filter((c) => c.status === 'pending').map((c) => c.charge_id));
  const reversals = paid.length ? refundCharges(tx, { items: paid.map((c) => ({ chargeId: c.charge_id })), cashier: input.by, reason: `退号：${input.reason.trim()}` }) : [];
  const updated = setRegistrationStatus(tx, r.registration_id, paid.length ? 'refunded' : 'cancelled');
  if (r.status === 'registered') emitEncounter(tx, updated, 'cancelled', r.updated_at);
  return { registration: updated, reversals };
}
