/** Shared set-up of the clinical workstation tests: staff, a resident, a schedule slot, a registration, drug stock. */
import type { EdgeAgent } from '../../edge-agent/agent.ts';
import { registerNow } from '../../edge-agent/his/frontdesk.ts';
import { createSlots } from '../../edge-agent/his/schedule.ts';
import { addMovement } from '../../edge-agent/his/stock.ts';
import { today } from '../../edge-agent/his/clinical/service.ts';
import { clinicalByStore } from '../../edge-agent/his/clinical/index.ts';
import { addResident } from '../devices/helpers.ts';
import { waitFor } from '../helpers/wait.ts';

export const DOCTOR = { username: 'doc.zhang', displayName: '张建华', password: 'Doctor-Pass-2026' };
export const NURSE = { username: 'nurse.liu', displayName: '刘晓燕', password: 'Nurse-Pass-2026' };
export const CASHIER = { username: 'cash.zheng', displayName: '郑小红', password: 'Cashier-Pass-2026' };

export async function clinicSetup(edge: EdgeAgent, opts: { dictionariesFrom?: () => Promise<void> } = {}) {
  edge.accounts.create({ ...DOCTOR, role: 'doctor' }, 'test', 'local');
  edge.accounts.create({ ...NURSE, role: 'nurse' }, 'test', 'local');
  edge.accounts.create({ ...CASHIER, role: 'cashier' }, 'test', 'local');
  if (opts.dictionariesFrom) await opts.dictionariesFrom();
  await waitFor('dictionaries at the edge', () => edge.store.dictionaryVersion('icd10') >= 1 && edge.store.dictionaryVersion('drugs') >= 1 && edge.store.dictionaryVersion('charge_items') >= 1 && edge.store.dictionaryVersion('departments') >= 1, 30_000);
  const svc = clinicalByStore.get(edge.store.clinicId)!;
  const date = today();
  const slot = edge.store.transact((tx) => createSlots(tx, { dateFrom: date, dateTo: date, departmentCode: 'GP', doctorUsername: DOCTOR.username, startTime: '00:00', endTime: '23:59', capacity: '50', fee: '1' }))[0]!;
  for (const name of ['苯磺酸氨氯地平片', '氯化钠注射液', '头孢呋辛酯片']) {
    const d = svc.drug(name)!;
    edge.store.transact((tx) => addMovement(tx, { drugCode: d.code, batchNo: 'B2026001', expiryDate: '2028-12-31', quantity: 100, kind: 'receipt', byUser: 'test' }));
  }
  return { svc, date, slotId: slot.slot_id };
}

/** A resident registered (fee paid) to the doctor today; returns ids. */
export function registerPatient(edge: EdgeAgent, slotId: string, residentId: string, name: string, birth: string, seq: string) {
  const idNumber = addResident(edge, residentId, name, birth, seq);
  const r = edge.store.transact((tx) => registerNow(tx, { residentId, slotId, paymentMethod: 'cash', by: 'test' }));
  return { residentId, idNumber, registrationId: r.registration.registration_id };
}
