/** Schedule slots (号源/排班) kept by the clinic admin; registrations book against them. */
import { uuidv7 } from '../../contracts/ids.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import { cached } from './sql.ts';
import type { Tx } from '../store/store.ts';
import { dictItem } from './dict.ts';
import { HisError } from './errors.ts';
import { FormErrors } from './residents.ts';

export interface SlotRow {
  slot_id: string; date: string; department_code: string; doctor_username: string; start_time: string; end_time: string;
  capacity: number; booked: number; fee_fen: number; status: 'open' | 'closed';
}

export function slotsOn(db: Db, date: string, departmentCode?: string): (SlotRow & { doctor_name: string })[] {
  return cached(db).prepare<[string, string, string], SlotRow & { doctor_name: string }>(`SELECT s.*, coalesce(u.display_name, s.doctor_username) AS doctor_name FROM his_schedule s
    LEFT JOIN users u ON u.username = s.doctor_username WHERE s.date = ? AND (? = '' OR s.department_code = ?) ORDER BY s.department_code, s.start_time, s.doctor_username`)
    .all(date, departmentCode ?? '', departmentCode ?? '');
}

export function getSlot(db: Db, id: string): SlotRow | null {
  return db.prepare<[string], SlotRow>('SELECT * FROM his_schedule WHERE slot_id = ?').get(id) ?? null;
}

export function doctors(db: Db): { username: string; displayName: string }[] {
  return db.prepare<[], { username: string; displayName: string }>("SELECT username, display_name AS displayName FROM users WHERE role = 'doctor' AND active = 1 ORDER BY username").all();
}

function emitSlot(tx: Tx, s: SlotRow): void {
  tx.emit('schedule_slot', s.slot_id, {
    slotId: s.slot_id, date: s.date, departmentCode: s.department_code, doctorUsername: s.doctor_username, startTime: s.start_time, endTime: s.end_time,
    capacity: s.capacity, feeFen: s.fee_fen, status: s.status,
  });
}

export interface SlotForm { dateFrom: string; dateTo: string; departmentCode: string; doctorUsername: string; startTime: string; endTime: string; capacity: string; fee: string }

/** Create one slot per day from dateFrom to dateTo (at most 31 days). Fee in yuan on the form. */
export function createSlots(tx: Tx, f: SlotForm): SlotRow[] {
  const err: Record<string, string> = {};
  const dateOk = (d: string) => /^\d{4}-\d{2}-\d{2}$/.test(d) && !Number.isNaN(Date.parse(d));
  if (!dateOk(f.dateFrom)) err.dateFrom = '请填写开始日期（yyyy-MM-dd）';
  const dateTo = f.dateTo.trim() || f.dateFrom;
  if (!dateOk(dateTo)) err.dateTo = '请填写结束日期（yyyy-MM-dd）';
  else if (dateTo < f.dateFrom) err.dateTo = '结束日期不能早于开始日期';
  else if ((Date.parse(dateTo) - Date.parse(f.dateFrom)) / 86400_000 > 31) err.dateTo = '一次最多排31天';
  if (!dictItem(tx.db, 'departments', f.departmentCode)) err.departmentCode = '请选择科室';
  if (!tx.db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM users WHERE username = ? AND role = 'doctor'").get(f.doctorUsername)!.n) err.doctorUsername = '请选择医生';
  const hm = /^([01]\d|2[0-3]):[0-5]\d$/;
  if (!hm.test(f.startTime)) err.startTime = '开始时间格式 HH:mm';
  if (!hm.test(f.endTime)) err.endTime = '结束时间格式 HH:mm';
  else if (hm.test(f.startTime) && f.endTime <= f.startTime) err.endTime = '结束时间须晚于开始时间';
  const capacity = Number(f.capacity);
  if (!Number.isInteger(capacity) || capacity < 1 || capacity > 500) err.capacity = '号源数须为1-500的整数';
  const fee = Number(f.fee);
  if (f.fee.trim() === '' || !Number.isFinite(fee) || fee < 0 || fee > 10000) err.fee = '挂号费须为0-10000元';
  if (Object.keys(err).length) throw new FormErrors(err);
  const out: SlotRow[] = [];
  for (let t = Date.parse(f.dateFrom); t <= Date.parse(dateTo); t += 86400_000) {
    const date = new Date(t).toISOString().slice(0, 10);
    const clash = tx.db.prepare<[string, string, string, string], { n: number }>('SELECT count(*) AS n FROM his_schedule WHERE date = ? AND doctor_username = ? AND start_time < ? AND end_time > ? AND status = \'open\'')
      .get(date, f.doctorUsername, f.endTime, f.startTime)!.n;
    if (clash) throw new FormErrors({ startTime: `${date} 该医生此时段已有排班` });
    const s: SlotRow = { slot_id: uuidv7(), date, department_code: f.departmentCode, doctor_username: f.doctorUsername, start_time: f.startTime, end_time: f.endTime,
      capacity, booked: 0, fee_fen: Math.round(fee * 100), status: 'open' };
    tx.db.prepare('INSERT INTO his_schedule (slot_id, date, department_code, doctor_username, start_time, end_time, capacity, booked, fee_fen, status) VALUES (@slot_id, @date, @department_code, @doctor_username, @start_time, @end_time, @capacity, @booked, @fee_fen, @status)').run(s);
    emitSlot(tx, s);
    out.push(s);
  }
  return out;
}

/** Stop a slot (停诊): no new bookings; existing registrations stay. */
export function setSlotStatus(tx: Tx, slotId: string, status: 'open' | 'closed'): void {
  const s = getSlot(tx.db, slotId);
  if (!s) throw new HisError('slotId', '号源不存在', 404);
  if (s.status === status) return;
  tx.db.prepare('UPDATE his_schedule SET status = ? WHERE slot_id = ?').run(status, slotId);
  emitSlot(tx, { ...s, status });
}
