/**
 * Demo data for the doctor's and nurse's workstations: for a few residents, signed visits
 * of the past months (hypertension / diabetes follow-ups with prescriptions, paid) and lab
 * results of those visits, so the history page shows past visits and trend charts. Goes
 * through the real paths (front-desk registration, the doctor's sign, the cashier's payment).
 * Idempotent: residents that already have a demo visit are skipped.
 *
 *   await seedClinicalDemo(agent.store, { doctor: 'dr.zhang' });   // after seedHisDemo and the dictionaries
 */
import { uuidv7 } from '../../../contracts/ids.ts';
import type { EdgeStore } from '../../store/store.ts';
import { payCharges } from '../charges.ts';
import { emitEncounter, insertRegistration } from '../registrations.ts';
import { FormErrors } from '../residents.ts';
import { createSlots } from '../schedule.ts';
import { addDays, localDate } from '../time.ts';
import { ClinicalService } from './service.ts';

export interface ClinicalSeedResult { visits: number; labResults: number; notes: string[] }

const PLAN = [
  { monthsAgo: 3, complaint: '头晕2周', dx: ['I10.x00', 'E11.900'], glu: 9.8, hba1c: 8.4, sys: 162 },
  { monthsAgo: 2, complaint: '高血压、糖尿病复诊', dx: ['I10.x00', 'E11.900'], glu: 8.1, hba1c: 7.6, sys: 148 },
  { monthsAgo: 1, complaint: '慢病复诊取药', dx: ['I10.x00', 'E11.900'], glu: 6.9, hba1c: 6.9, sys: 136 },
];

export async function seedClinicalDemo(store: EdgeStore, opts: { doctor: string; residentIds?: string[]; residents?: number }): Promise<ClinicalSeedResult> {
  const out: ClinicalSeedResult = { visits: 0, labResults: 0, notes: [] };
  const db = store.db;
  const s = new ClinicalService(store);
  if (!db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM users WHERE username = ? AND role = 'doctor'").get(opts.doctor)!.n) {
    out.notes.push(`no local doctor ${opts.doctor}: clinical demo skipped`);
    return out;
  }
  if (!s.drug('苯磺酸氨氯地平片') || !db.prepare("SELECT 1 FROM dictionary_items WHERE dictionary = 'icd10' LIMIT 1").get()) {
    out.notes.push('dictionaries not at the edge yet: clinical demo skipped');
    return out;
  }
  const residents = opts.residentIds ?? db.prepare<[number], { resident_id: string }>('SELECT resident_id FROM residents ORDER BY resident_id LIMIT ?').all(opts.residents ?? 3).map((r) => r.resident_id);
  const today = localDate();
  for (const rid of residents) {
    if (db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM clin_visits WHERE resident_id = ? AND chief_complaint = '头晕2周'").get(rid)!.n) continue;
    for (const p of PLAN) {
      const date = addDays(today, -30 * p.monthsAgo);
      let slot = db.prepare<[string, string], { slot_id: string }>("SELECT slot_id FROM his_schedule WHERE date = ? AND doctor_username = ? AND status = 'open' LIMIT 1").get(date, opts.doctor);
      if (!slot) {
        try {
          slot = store.transact((tx) => createSlots(tx, { dateFrom: date, dateTo: date, departmentCode: 'GP', doctorUsername: opts.doctor, startTime: '08:00', endTime: '11:30', capacity: '30', fee: '1' }))[0]!;
        } catch (e) {
          if (!(e instanceof FormErrors)) throw e;
          out.notes.push(`${date}: ${Object.values(e.fields).join('; ')}`);
          continue;
        }
      }
      const reg = store.transact((tx) => {
        const r = insertRegistration(tx, { residentId: rid, slotId: slot!.slot_id, status: 'registered', createdBy: 'seed' });
        emitEncounter(tx, r, 'registered');
        return r;
      });
      const id = reg.registration_id;
      await s.startVisit(id, opts.doctor);
      s.saveNote(id, { chiefComplaint: p.complaint, subjective: '规律服药，无胸痛', objective: `BP ${p.sys}/88mmHg`, assessment: '血压、血糖控制逐步改善', plan: '继续口服降压、降糖药物，1个月后复诊' });
      for (const code of p.dx) s.addDiagnosis(id, code);
      s.addRxLine(id, { drug: '苯磺酸氨氯地平片', dose: '5', doseUnit: 'mg', frequency: 'qd', route: 'po', days: '28' });
      s.addRxLine(id, { drug: '二甲双胍缓释片', dose: '0.5', doseUnit: 'g', frequency: 'bid', route: 'po', days: '30' });
      const lab = s.addLab(id, '250304001');
      await s.sign(id, opts.doctor);
      const pending = db.prepare<[string], { charge_id: string }>("SELECT charge_id FROM his_charges WHERE registration_id = ? AND status = 'pending'").all(id).map((r) => r.charge_id);
      if (pending.length) store.transact((tx) => payCharges(tx, { residentId: rid, chargeIds: pending, paymentMethod: 'insurance', cashier: 'seed' }));
      // The analyser's results for the visit's specimen (as the devices module would bind them).
      const orderId = db.prepare<[string], { order_id: string }>('SELECT order_id FROM clin_orders WHERE line_id = ?').get(lab.lineId)!.order_id;
      const at = new Date(Date.parse(`${date}T02:30:00Z`)).toISOString();
      store.transact((tx) => {
        for (const [code, name, value, unit, range] of [['14749-6', '葡萄糖', p.glu, 'mmol/L', '3.9-6.1'], ['4548-4', '糖化血红蛋白', p.hba1c, '%', '4.0-6.0']] as const) {
          const resultId = uuidv7();
          tx.emit('lab_result', resultId, { resultId, residentId: rid, specimenId: lab.specimenId!, orderId, testCode: code, testName: name, value: String(value), unit, referenceRange: range, flag: value > Number(range.split('-')[1]) ? 'H' : 'N', status: 'final', resultedAt: at });
          out.labResults++;
        }
      });
      // The visit happened in the past: its registration date says so; the times of the local draft rows follow.
      db.prepare('UPDATE clin_visits SET started_at = ?, signed_at = ? WHERE registration_id = ?').run(at, at, id);
      out.visits++;
    }
  }
  return out;
}
