/**
 * Registrations (挂号) and appointments (预约): one row per visit in `his_registrations`,
 * replicated as `registration` records (a new version per status change).
 *
 * Shared with the clinical workstations: they call `setRegistrationStatus(tx, id, 'in-visit')`
 * when the doctor calls a patient and `'finished'` when the visit ends, and emit the visit's
 * `encounter` (encounterId = registration_id) themselves. The front desk emits the encounter
 * as 'registered' at registration and 'cancelled' at cancellation.
 */
import { uuidv7 } from '../../contracts/ids.ts';
import type { RecordPayload } from '../../contracts/index.ts';
import type { REGISTRATION_STATUSES } from '../../contracts/records-his.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Tx } from '../store/store.ts';
import { HisError } from './errors.ts';

export type RegistrationStatus = (typeof REGISTRATION_STATUSES)[number];

export interface RegistrationRow {
  registration_id: string; resident_id: string; department_code: string; doctor_username: string; slot_id: string;
  visit_date: string; queue_no: number; status: RegistrationStatus; fee_fen: number; created_by: string; created_at: string; updated_at: string;
}

/** Allowed status changes; anything else is refused (a finished visit cannot be cancelled at the desk). */
const NEXT: Record<RegistrationStatus, readonly RegistrationStatus[]> = {
  booked: ['registered', 'cancelled'],
  registered: ['in-visit', 'finished', 'cancelled', 'refunded'],
  'in-visit': ['finished', 'registered'],
  finished: ['in-visit'],
  cancelled: [],
  refunded: [],
};

const STATUS_ZH: Record<RegistrationStatus, string> = { booked: '已预约', registered: '已挂号', 'in-visit': '就诊中', finished: '已完成', cancelled: '已取消', refunded: '已退号' };
export const registrationStatusZh = (s: RegistrationStatus) => STATUS_ZH[s];

export function getRegistration(db: Db, id: string): RegistrationRow | null {
  return db.prepare<[string], RegistrationRow>('SELECT * FROM his_registrations WHERE registration_id = ?').get(id) ?? null;
}

export function registrationPayload(r: RegistrationRow): RecordPayload<'registration'> {
  return {
    registrationId: r.registration_id, residentId: r.resident_id, departmentCode: r.department_code, doctorUsername: r.doctor_username,
    slotId: r.slot_id, visitDate: r.visit_date, queueNo: r.queue_no, status: r.status, feeFen: r.fee_fen, createdBy: r.created_by, updatedAt: r.updated_at,
  };
}

/**
 * Change a registration's status in the caller's transaction and replicate it.
 * Same status: no-op. A move to cancelled/refunded frees the schedule slot.
 * Throws HisError (409) on a transition that is not allowed.
 */
export function setRegistrationStatus(tx: Tx, id: string, status: RegistrationStatus): RegistrationRow {
  const r = getRegistration(tx.db, id);
  if (!r) throw new HisError('registrationId', `挂号记录不存在 / no registration ${id}`, 404);
  if (r.status === status) return r;
  if (!NEXT[r.status].includes(status)) throw new HisError('status', `${STATUS_ZH[r.status]}的挂号不能改为${STATUS_ZH[status]} / cannot change ${r.status} to ${status}`, 409);
  const now = new Date().toISOString();
  tx.db.prepare('UPDATE his_registrations SET status = ?, updated_at = ? WHERE registration_id = ?').run(status, now, id);
  if (status === 'cancelled' || status === 'refunded') {
    tx.db.prepare('UPDATE his_schedule SET booked = booked - 1 WHERE slot_id = ? AND booked > 0').run(r.slot_id);
  }
  const updated = { ...r, status, updated_at: now };
  tx.emit('registration', id, registrationPayload(updated));
  return updated;
}

/** Next queue number of a doctor on a day (cancelled numbers are never reused). */
export function nextQueueNo(db: Db, date: string, doctor: string): number {
  return (db.prepare<[string, string], { n: number | null }>('SELECT max(queue_no) AS n FROM his_registrations WHERE visit_date = ? AND doctor_username = ?').get(date, doctor)?.n ?? 0) + 1;
}

/** Insert a registration row for a slot (capacity checked) and replicate it. */
export function insertRegistration(tx: Tx, input: { residentId: string; slotId: string; status: 'booked' | 'registered'; createdBy: string }): RegistrationRow {
  const slot = tx.db.prepare<[string], { slot_id: string; date: string; department_code: string; doctor_username: string; capacity: number; booked: number; fee_fen: number; status: string }>(
    'SELECT * FROM his_schedule WHERE slot_id = ?').get(input.slotId);
  if (!slot) throw new HisError('slotId', '请选择号源 / choose a schedule slot', 404);
  if (slot.status !== 'open') throw new HisError('slotId', '该号源已停诊 / this slot is closed', 409);
  if (slot.booked >= slot.capacity) throw new HisError('slotId', '该号源已约满 / this slot is full', 409);
  const resident = tx.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM residents WHERE resident_id = ?').get(input.residentId)!.n;
  if (!resident) throw new HisError('residentId', '居民不存在 / unknown resident', 404);
  const dup = tx.db.prepare<[string, string, string], { n: number }>(
    "SELECT count(*) AS n FROM his_registrations WHERE resident_id = ? AND visit_date = ? AND doctor_username = ? AND status IN ('booked','registered','in-visit')").get(input.residentId, slot.date, slot.doctor_username)!.n;
  if (dup) throw new HisError('slotId', '该居民当日已挂此医生的号 / already registered with this doctor today', 409);
  const now = new Date().toISOString();
  const row: RegistrationRow = {
    registration_id: uuidv7(), resident_id: input.residentId, department_code: slot.department_code, doctor_username: slot.doctor_username,
    slot_id: slot.slot_id, visit_date: slot.date, queue_no: nextQueueNo(tx.db, slot.date, slot.doctor_username), status: input.status,
    fee_fen: slot.fee_fen, created_by: input.createdBy, created_at: now, updated_at: now,
  };
  tx.db.prepare(`INSERT INTO his_registrations (registration_id, resident_id, department_code, doctor_username, slot_id, visit_date, queue_no, status, fee_fen, created_by, created_at, updated_at)
    VALUES (@registration_id, @resident_id, @department_code, @doctor_username, @slot_id, @visit_date, @queue_no, @status, @fee_fen, @created_by, @created_at, @updated_at)`).run(row);
  tx.db.prepare('UPDATE his_schedule SET booked = booked + 1 WHERE slot_id = ?').run(slot.slot_id);
  tx.emit('registration', row.registration_id, registrationPayload(row));
  return row;
}

/** The visit's encounter as the front desk knows it (registered or cancelled). */
export function emitEncounter(tx: Tx, r: RegistrationRow, status: 'registered' | 'cancelled', registeredAt = r.updated_at): void {
  tx.emit('encounter', r.registration_id, {
    encounterId: r.registration_id, residentId: r.resident_id, class: 'outpatient', status, departmentCode: r.department_code,
    doctorCode: r.doctor_username, registeredAt, diagnoses: [], feeFen: r.fee_fen,
  });
}
