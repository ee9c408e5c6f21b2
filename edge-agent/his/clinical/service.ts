/**
 * The clinical workstations' reads and writes. Drafts of a visit are local rows; `sign`
 * emits the visit's records (encounter, visit_note, prescription, orders) and its pending
 * charges in ONE store transaction. Nurse executions and vital signs are emitted as they
 * happen. Errors are `ClinicalError` with the form field they belong to.
 */
import { uuidv7 } from '../../../contracts/ids.ts';
import type { RecordPayload } from '../../../contracts/index.ts';
import type { Db } from '../../../contracts/runtime/index.ts';
import type { EdgeStore, Tx } from '../../store/store.ts';
import { ImagingRepo, type Modality } from '../../imaging/repo.ts';
import { newUid } from '../../imaging/index.ts';
import { PROCEDURES } from '../../imaging/pages.tsx';
import { addCharges, cancelCharges, type ChargeInput } from '../charges.ts';
import { dictItem } from '../dict.ts';
import { HisError } from '../errors.ts';
import { getRegistration, setRegistrationStatus, type RegistrationRow } from '../registrations.ts';
import { stockOf } from '../stock.ts';
import { localDate, localStamp } from '../time.ts';
import {
  FREQUENCY, ROUTE, chargeLinesFor, executionSeries, executionTasks, infectiousReminders, interpretVital, notifiableFor, parseVitals, rabiesActions, routeFromDictionary,
  validateRxLine, type DrugInfo, type FieldErrors, type RxLine,
} from './domain.ts';

export class ClinicalError extends Error {
  override name = 'ClinicalError';
  constructor(readonly field: string, message: string, readonly status: 400 | 404 | 409 = 400, readonly fields: Record<string, string> = {}) {
    super(message);
  }
}

/** Today in the clinic's local time zone, yyyy-MM-dd (the same day the front desk registers on). */
export const today = (now = Date.now()) => localDate(new Date(now));
const addDays = (date: string, n: number) => new Date(Date.parse(`${date}T00:00:00Z`) + n * 86400_000).toISOString().slice(0, 10);

export interface QueueRow {
  registrationId: string; residentId: string; name: string; sex: string; birthDate: string; queueNo: number; status: RegistrationRow['status'];
  departmentCode: string; visitStatus: 'open' | 'signed' | null; openAlerts: number;
}

export interface VisitRow {
  registration_id: string; resident_id: string; doctor_username: string; chief_complaint: string; subjective: string; objective: string;
  assessment: string; plan: string; status: 'open' | 'signed'; started_at: string; signed_at: string | null; prescription_id: string | null;
}

export interface ResidentInfo { residentId: string; name: string; sex: string; birthDate: string; idNumber: string; phone: string | null }
export interface Diagnosis { code: string; name: string; primary: boolean }
export interface RxDraft { lineId: string; line: RxLine; stock: { actual: number; available: number } | null }
export interface OrderDraft { lineId: string; kind: 'lab' | 'imaging'; itemCode: string; itemName: string; modality: string | null; specimenId: string | null; orderId: string | null }
export interface ReportRow { reportId: string; kind: string; icd10Code: string | null; payload: RecordPayload<'infectious_report'>; createdBy: string; createdAt: string }

export interface VisitView {
  visit: VisitRow;
  registration: RegistrationRow;
  resident: ResidentInfo;
  diagnoses: Diagnosis[];
  rx: RxDraft[];
  orders: OrderDraft[];
  reports: ReportRow[];
  reminders: ReturnType<typeof infectiousReminders>;
}

export interface ExecTaskRow {
  barcode: string; orderId: string; sequence: number; total: number; plannedDate: string; status: 'pending' | 'done';
  executedBy: string | null; executedByName: string | null; executedAt: string | null;
  residentId: string; residentName: string; registrationId: string; route: string; kind: string; frequency: string;
  drugs: { drugCode: string; drugName: string; dose: number; doseUnit: string }[]; paid: boolean;
}

const LAB_PREFIX = '25';
/** A dose not given within this many days drops off the nurse's list (it can still be scanned). */
const MISSED_DAYS = 3;

export class ClinicalService {
  readonly imaging: ImagingRepo;
  constructor(readonly store: EdgeStore) {
    this.imaging = new ImagingRepo(store.db);
  }

  get db(): Db { return this.store.db; }

  // ------------------------------------------------------------ dictionaries

  drug(codeOrName: string): DrugInfo | null {
    const t = codeOrName.trim();
    let d = dictItem(this.db, 'drugs', t);
    if (!d) {
      const r = this.db.prepare<[string], { code: string }>("SELECT code FROM dictionary_items WHERE dictionary = 'drugs' AND name = ? ORDER BY active DESC LIMIT 1").get(t);
      if (r) d = dictItem(this.db, 'drugs', r.code);
    }
    if (!d) return null;
    return {
      code: d.code, name: d.name, spec: String(d.attrs.spec ?? ''), unit: String(d.attrs.unit ?? ''), route: routeFromDictionary(d.attrs.route),
      priceFen: Number(d.attrs.priceFen ?? 0), volumeProcurement: d.attrs.volumeProcurement === true, active: d.active,
    };
  }

  searchDrugs(q: string, limit = 20): (DrugInfo & { stock: { actual: number; available: number } })[] {
    const t = q.trim();
    if (!t) return [];
    const rows = this.db.prepare<[string, string], { code: string }>("SELECT code FROM dictionary_items WHERE dictionary = 'drugs' AND active = 1 AND (name LIKE ? OR code LIKE ?) ORDER BY name LIMIT 200")
      .all(`%${t}%`, `${t}%`);
    return rows.slice(0, limit).map((r) => { const d = this.drug(r.code)!; return { ...d, stock: this.stock(d.code) }; });
  }

  stock(drugCode: string): { actual: number; available: number } {
    return stockOf(this.db, drugCode);
  }

  searchIcd(q: string, limit = 20): { code: string; name: string; notifiable: string | null }[] {
    const t = q.trim();
    if (!t) return [];
    return this.db.prepare<[string, string, number], { code: string; name: string }>("SELECT code, name FROM dictionary_items WHERE dictionary = 'icd10' AND active = 1 AND (name LIKE ? OR code LIKE ?) ORDER BY code LIMIT ?")
      .all(`%${t}%`, `${t.toUpperCase()}%`, limit).map((r) => ({ ...r, notifiable: notifiableFor(r.code)?.zh ?? null }));
  }

  labItems(): { code: string; name: string; priceFen: number }[] {
    return this.db.prepare<[string], { code: string; name: string; attrs: string }>("SELECT code, name, attrs FROM dictionary_items WHERE dictionary = 'charge_items' AND active = 1 AND code LIKE ? ORDER BY code")
      .all(`${LAB_PREFIX}%`).map((r) => ({ code: r.code, name: r.name, priceFen: Number((JSON.parse(r.attrs) as { priceFen?: number }).priceFen ?? 0) }));
  }

  imagingProcedures() {
    return PROCEDURES;
  }

  // ------------------------------------------------------------ queue

  queue(doctor: string, date: string): QueueRow[] {
    return this.db.prepare<[string, string], QueueRow>(`SELECT g.registration_id AS registrationId, g.resident_id AS residentId, coalesce(r.name, g.resident_id) AS name, coalesce(r.sex, '0') AS sex,
        coalesce(r.birth_date, '') AS birthDate, g.queue_no AS queueNo, g.status, g.department_code AS departmentCode, v.status AS visitStatus,
        (SELECT count(*) FROM critical_alerts a WHERE a.resident_id = g.resident_id AND a.acked_at IS NULL) AS openAlerts
      FROM his_registrations g LEFT JOIN residents r ON r.resident_id = g.resident_id LEFT JOIN clin_visits v ON v.registration_id = g.registration_id
      WHERE g.doctor_username = ? AND g.visit_date = ? AND g.status IN ('registered', 'in-visit', 'finished') ORDER BY g.queue_no`).all(doctor, date);
  }

  /** Start (or resume) the visit of a registration: registration in-visit, encounter in-progress. */
  startVisit(regId: string, doctor: string): Promise<RegistrationRow> {
    return this.store.transactAsync((tx) => this.startIn(tx, regId, doctor));
  }

  private startIn(tx: Tx, regId: string, doctor: string): RegistrationRow {
    const reg = getRegistration(tx.db, regId);
    if (!reg) throw new ClinicalError('registrationId', `挂号记录不存在 / no registration ${regId}`, 404);
    if (reg.doctor_username !== doctor) throw new ClinicalError('registrationId', '该患者不在您的候诊队列中 / not in your queue', 409);
    if (reg.status === 'cancelled' || reg.status === 'refunded' || reg.status === 'booked') throw new ClinicalError('registrationId', '该挂号未签到或已取消 / not checked in or cancelled', 409);
    const existing = tx.db.prepare<[string], { status: string }>('SELECT status FROM clin_visits WHERE registration_id = ?').get(regId);
    if (existing?.status === 'signed' || reg.status === 'finished') return reg;
    const r = setRegistrationStatus(tx, regId, 'in-visit');
    if (!existing) {
      tx.db.prepare('INSERT INTO clin_visits (registration_id, resident_id, doctor_username, started_at) VALUES (?, ?, ?, ?)').run(regId, reg.resident_id, doctor, new Date().toISOString());
      this.emitEncounter(tx, reg, 'in-progress', '', []);
    }
    return r;
  }

  /** Call the next waiting patient (lowest queue number still 'registered'). */
  callNext(doctor: string, date: string): Promise<RegistrationRow | null> {
    return this.store.transactAsync((tx) => {
      const next = tx.db.prepare<[string, string], { registration_id: string }>(
        "SELECT registration_id FROM his_registrations WHERE doctor_username = ? AND visit_date = ? AND status = 'registered' ORDER BY queue_no LIMIT 1").get(doctor, date);
      return next ? this.startIn(tx, next.registration_id, doctor) : null;
    });
  }

  private emitEncounter(tx: Tx, reg: RegistrationRow, status: 'in-progress' | 'finished', chiefComplaint: string, diagnoses: Diagnosis[]): void {
    const prev = tx.db.prepare<[string], { payload: string }>("SELECT payload FROM records WHERE type = 'encounter' AND record_id = ?").get(reg.registration_id);
    const base: RecordPayload<'encounter'> = prev ? JSON.parse(prev.payload) as RecordPayload<'encounter'> : {
      encounterId: reg.registration_id, residentId: reg.resident_id, class: 'outpatient', status: 'registered', departmentCode: reg.department_code,
      doctorCode: reg.doctor_username, registeredAt: reg.created_at, diagnoses: [], feeFen: reg.fee_fen,
    };
    tx.emit('encounter', reg.registration_id, {
      ...base, status, ...(chiefComplaint ? { chiefComplaint: chiefComplaint.slice(0, 500) } : {}), diagnoses: diagnoses.map((d) => ({ code: d.code, name: d.name, primary: d.primary })),
    });
  }

  // ------------------------------------------------------------ visit drafts

  resident(residentId: string): ResidentInfo | null {
    return this.db.prepare<[string], ResidentInfo>('SELECT resident_id AS residentId, name, sex, birth_date AS birthDate, id_number AS idNumber, phone FROM residents WHERE resident_id = ?').get(residentId) ?? null;
  }

  visit(regId: string): VisitView | null {
    const visit = this.db.prepare<[string], VisitRow>('SELECT * FROM clin_visits WHERE registration_id = ?').get(regId);
    const registration = getRegistration(this.db, regId);
    if (!visit || !registration) return null;
    const resident = this.resident(visit.resident_id) ?? { residentId: visit.resident_id, name: visit.resident_id, sex: '0', birthDate: '', idNumber: '', phone: null };
    const diagnoses = this.db.prepare<[string], { code: string; name: string; is_primary: number }>('SELECT code, name, is_primary FROM clin_diagnoses WHERE registration_id = ? ORDER BY is_primary DESC, added_at')
      .all(regId).map((d) => ({ code: d.code, name: d.name, primary: d.is_primary === 1 }));
    const rx = this.db.prepare<[string], { line_id: string; line: string }>('SELECT line_id, line FROM clin_rx_lines WHERE registration_id = ? ORDER BY added_at, rowid').all(regId)
      .map((r) => { const line = JSON.parse(r.line) as RxLine; return { lineId: r.line_id, line, stock: visit.status === 'open' ? this.stock(line.drugCode) : null }; });
    const orders = this.db.prepare<[string], { line_id: string; kind: 'lab' | 'imaging'; item_code: string; item_name: string; modality: string | null; specimen_id: string | null; order_id: string | null }>(
      'SELECT * FROM clin_orders WHERE registration_id = ? ORDER BY added_at, rowid').all(regId)
      .map((o) => ({ lineId: o.line_id, kind: o.kind, itemCode: o.item_code, itemName: o.item_name, modality: o.modality, specimenId: o.specimen_id, orderId: o.order_id }));
    return { visit, registration, resident, diagnoses, rx, orders, reports: this.reports(regId), reminders: infectiousReminders(diagnoses.map((d) => d.code)) };
  }

  private openVisit(db: Db, regId: string): VisitRow {
    const v = db.prepare<[string], VisitRow>('SELECT * FROM clin_visits WHERE registration_id = ?').get(regId);
    if (!v) throw new ClinicalError('registrationId', '就诊不存在，请先接诊 / no visit: call the patient first', 404);
    if (v.status === 'signed') throw new ClinicalError('registrationId', '病历已签名，不能修改 / the visit is signed and cannot be changed', 409);
    return v;
  }

  saveNote(regId: string, f: { chiefComplaint: string; subjective: string; objective: string; assessment: string; plan: string }): void {
    const errors: Record<string, string> = {};
    if (f.chiefComplaint.length > 500) errors.chiefComplaint = '主诉不超过500字 / at most 500 characters';
    for (const k of ['subjective', 'objective', 'assessment', 'plan'] as const) if (f[k].length > 4000) errors[k] = '不超过4000字 / at most 4000 characters';
    if (Object.keys(errors).length) throw new ClinicalError(Object.keys(errors)[0]!, Object.values(errors)[0]!, 400, errors);
    this.store.db.transaction(() => {
      this.openVisit(this.db, regId);
      this.db.prepare('UPDATE clin_visits SET chief_complaint = ?, subjective = ?, objective = ?, assessment = ?, plan = ? WHERE registration_id = ?')
        .run(f.chiefComplaint.trim(), f.subjective.trim(), f.objective.trim(), f.assessment.trim(), f.plan.trim(), regId);
    }).immediate();
  }

  addDiagnosis(regId: string, codeText: string): Diagnosis {
    const text = codeText.trim();
    if (!text) throw new ClinicalError('diagnosis', '请选择诊断 / choose a diagnosis');
    let d = dictItem(this.db, 'icd10', text) ?? dictItem(this.db, 'icd10', text.toUpperCase());
    if (!d) {
      const byName = this.db.prepare<[string], { code: string }>("SELECT code FROM dictionary_items WHERE dictionary = 'icd10' AND name = ? LIMIT 1").get(text);
      if (byName) d = dictItem(this.db, 'icd10', byName.code);
    }
    if (!d) throw new ClinicalError('diagnosis', `未知ICD-10编码：${text.slice(0, 40)} / unknown ICD-10 code`);
    if (!d.active) throw new ClinicalError('diagnosis', `${d.name} 已停用 / inactive code`);
    return this.store.db.transaction(() => {
      this.openVisit(this.db, regId);
      const n = this.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM clin_diagnoses WHERE registration_id = ?').get(regId)!.n;
      if (n >= 20) throw new ClinicalError('diagnosis', '诊断最多20个 / at most 20 diagnoses');
      const ins = this.db.prepare('INSERT OR IGNORE INTO clin_diagnoses (registration_id, code, name, is_primary, added_at) VALUES (?, ?, ?, ?, ?)').run(regId, d.code, d.name, n === 0 ? 1 : 0, new Date().toISOString());
      if (ins.changes === 0) throw new ClinicalError('diagnosis', `已有诊断 ${d.name} / already added`);
      return { code: d.code, name: d.name, primary: n === 0 };
    }).immediate();
  }

  removeDiagnosis(regId: string, code: string): void {
    this.store.db.transaction(() => {
      this.openVisit(this.db, regId);
      this.db.prepare('DELETE FROM clin_diagnoses WHERE registration_id = ? AND code = ?').run(regId, code);
      // keep one primary diagnosis
      const hasPrimary = this.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM clin_diagnoses WHERE registration_id = ? AND is_primary = 1').get(regId)!.n;
      if (!hasPrimary) this.db.prepare('UPDATE clin_diagnoses SET is_primary = 1 WHERE rowid = (SELECT rowid FROM clin_diagnoses WHERE registration_id = ? ORDER BY added_at LIMIT 1)').run(regId);
    }).immediate();
  }

  /** Validate and add a prescription line; field errors come back in `ClinicalError.fields`. */
  addRxLine(regId: string, raw: Record<string, unknown>): RxDraft {
    const r = validateRxLine(raw, (t) => this.drug(t));
    if (!r.ok) {
      const errors = r.errors as Record<string, string>;
      const first = Object.keys(errors)[0]!;
      throw new ClinicalError(first, errors[first]!, 400, errors);
    }
    return this.store.db.transaction(() => {
      this.openVisit(this.db, regId);
      const n = this.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM clin_rx_lines WHERE registration_id = ?').get(regId)!.n;
      if (n >= 50) throw new ClinicalError('drug', '处方最多50行 / at most 50 lines');
      const lineId = uuidv7();
      this.db.prepare('INSERT INTO clin_rx_lines (line_id, registration_id, line, added_at) VALUES (?, ?, ?, ?)').run(lineId, regId, JSON.stringify(r.line), new Date().toISOString());
      return { lineId, line: r.line, stock: this.stock(r.line.drugCode) };
    }).immediate();
  }

  removeRxLine(regId: string, lineId: string): void {
    this.store.db.transaction(() => {
      this.openVisit(this.db, regId);
      this.db.prepare('DELETE FROM clin_rx_lines WHERE registration_id = ? AND line_id = ?').run(regId, lineId);
    }).immediate();
  }

  private nextCounter(db: Db, name: string): number {
    return db.prepare<[string], { value: number }>('INSERT INTO clin_counters (name, value) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value').get(name)!.value;
  }

  /** Lab order line with its specimen barcode (S + yyMMdd + day counter), the id the analyser sends back. */
  addLab(regId: string, itemCode: string): OrderDraft {
    const code = itemCode.trim();
    const item = code.startsWith(LAB_PREFIX) ? dictItem(this.db, 'charge_items', code) : null;
    if (!item) throw new ClinicalError('lab', `未知检验项目：${code.slice(0, 40) || '（空）'} / unknown lab test`);
    return this.store.db.transaction(() => {
      this.openVisit(this.db, regId);
      const day = today().slice(2).replaceAll('-', '');
      const specimenId = `S${day}${String(this.nextCounter(this.db, `specimen:${day}`)).padStart(4, '0')}`;
      const lineId = uuidv7();
      this.db.prepare("INSERT INTO clin_orders (line_id, registration_id, kind, item_code, item_name, specimen_id, added_at) VALUES (?, ?, 'lab', ?, ?, ?, ?)")
        .run(lineId, regId, item.code, item.name, specimenId, new Date().toISOString());
      return { lineId, kind: 'lab' as const, itemCode: item.code, itemName: item.name, modality: null, specimenId, orderId: null };
    }).immediate();
  }

  addImaging(regId: string, procedureCode: string): OrderDraft {
    const p = PROCEDURES.find((x) => x.code === procedureCode.trim());
    if (!p) throw new ClinicalError('imaging', '请选择检查项目 / choose an imaging procedure');
    return this.store.db.transaction(() => {
      this.openVisit(this.db, regId);
      const lineId = uuidv7();
      this.db.prepare("INSERT INTO clin_orders (line_id, registration_id, kind, item_code, item_name, modality, added_at) VALUES (?, ?, 'imaging', ?, ?, ?, ?)")
        .run(lineId, regId, p.code, p.zh, p.modality, new Date().toISOString());
      return { lineId, kind: 'imaging' as const, itemCode: p.code, itemName: p.zh, modality: p.modality, specimenId: null, orderId: null };
    }).immediate();
  }

  removeOrder(regId: string, lineId: string): void {
    this.store.db.transaction(() => {
      this.openVisit(this.db, regId);
      this.db.prepare('DELETE FROM clin_orders WHERE registration_id = ? AND line_id = ?').run(regId, lineId);
    }).immediate();
  }

  // ------------------------------------------------------------ signing

  /**
   * Sign the visit: encounter (finished, diagnoses), visit_note, prescription, one `order`
   * per injection/infusion series, lab orders (specimenId), imaging orders (the imaging
   * module's worklist), pending charges, registration finished: all in ONE transaction.
   */
  sign(regId: string, doctor: string): Promise<{ prescriptionId: string | null; orders: number; charges: number; records: number }> {
    return this.store.transactAsync((outer) => {
      let records = 0;
      const tx: Tx = { db: outer.db, emit: (type, id, payload) => { records++; return outer.emit(type, id, payload); } };
      const v = this.openVisit(tx.db, regId);
      if (v.doctor_username !== doctor) throw new ClinicalError('registrationId', '只能由接诊医生签名 / only the treating doctor may sign', 409);
      const view = this.visit(regId)!;
      const errors: Record<string, string> = {};
      if (!view.visit.chief_complaint.trim()) errors.chiefComplaint = '请填写主诉 / enter the chief complaint';
      if (view.diagnoses.length === 0) errors.diagnosis = '请至少填写一个诊断 / add at least one diagnosis';
      if (Object.keys(errors).length) throw new ClinicalError(Object.keys(errors)[0]!, Object.values(errors).join('；'), 400, errors);
      const reg = view.registration;
      const now = new Date().toISOString();
      const date = today();
      const residentId = reg.resident_id;

      this.emitEncounter(tx, reg, 'finished', view.visit.chief_complaint, view.diagnoses);
      tx.emit('visit_note', regId, {
        noteId: regId, encounterId: regId, residentId, chiefComplaint: view.visit.chief_complaint, subjective: view.visit.subjective, objective: view.visit.objective,
        assessment: view.visit.assessment, plan: view.visit.plan, diagnoses: view.diagnoses, doctor, signedAt: now,
      });

      const lines = view.rx.map((r) => r.line);
      const prescriptionId = lines.length ? uuidv7() : null;
      const charges: ChargeInput[] = [];
      const ordersBySeries: string[] = [];
      if (prescriptionId) {
        tx.emit('prescription', prescriptionId, {
          prescriptionId, encounterId: regId, residentId, prescriber: doctor, issuedAt: now, status: 'active',
          items: lines.map((l, i) => ({
            lineNo: i + 1, drugCode: l.drugCode, drugName: l.drugName, spec: l.spec, dose: l.dose, doseUnit: l.doseUnit, frequency: l.frequency, route: l.route,
            days: l.days, quantity: l.quantity, unit: l.unit, ...(l.group !== undefined ? { group: l.group } : {}), volumeProcurement: l.volumeProcurement,
          })),
        });
        const series = executionSeries(lines);
        const tasks = executionTasks(series);
        const day = date.slice(2).replaceAll('-', '');
        series.forEach((s, si) => {
          const orderId = uuidv7();
          ordersBySeries.push(orderId);
          const display = `${s.drugs.map((d) => `${d.drugName} ${d.dose}${d.doseUnit}`).join(' + ')} ${ROUTE[s.route].zh} ${FREQUENCY[s.frequency].zh} ×${s.total}次`.slice(0, 200);
          const payload: RecordPayload<'order'> = { orderId, residentId, encounterId: regId, kind: 'drug', code: s.drugs[0]!.drugCode, display, status: 'requested', requestedAt: now };
          tx.emit('order', orderId, payload);
          tx.db.prepare(`INSERT INTO clin_exec_orders (order_id, registration_id, resident_id, prescription_id, code, route, kind, frequency, total, drugs, lines, payload, created_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(orderId, regId, residentId, prescriptionId, payload.code, s.route, s.kind, s.frequency, s.total,
            JSON.stringify(s.drugs), JSON.stringify(s.lines), JSON.stringify(payload), now);
          const no = String(this.nextCounter(tx.db, `exec:${day}`)).padStart(4, '0');
          for (const t of tasks.filter((x) => x.seriesIndex === si)) {
            tx.db.prepare('INSERT INTO clin_exec_tasks (barcode, order_id, sequence, total, planned_date) VALUES (?, ?, ?, ?, ?)')
              .run(`E${day}${no}${String(t.sequence).padStart(2, '0')}`, orderId, t.sequence, t.total, addDays(date, t.dayOffset));
          }
        });
      }

      const labs: { orderId: string; itemCode: string }[] = [];
      const imaging: { orderId: string; procedureCode: string }[] = [];
      for (const o of view.orders) {
        if (o.kind === 'lab') {
          const orderId = uuidv7();
          tx.emit('order', orderId, { orderId, residentId, encounterId: regId, kind: 'lab', code: o.itemCode, display: o.itemName, status: 'requested', requestedAt: now, specimenId: o.specimenId! });
          tx.db.prepare('UPDATE clin_orders SET order_id = ? WHERE line_id = ?').run(orderId, o.lineId);
          labs.push({ orderId, itemCode: o.itemCode });
        } else {
          const p = PROCEDURES.find((x) => x.code === o.itemCode)!;
          const row = this.imaging.createOrder(tx, {
            residentId, modality: o.modality as Modality, code: p.code, display: p.zh, stationAe: null, scheduledDate: date.replaceAll('-', ''), scheduledTime: null, requestedBy: doctor, encounterId: regId,
          }, newUid());
          tx.db.prepare('UPDATE clin_orders SET order_id = ? WHERE line_id = ?').run(row.orderId, o.lineId);
          imaging.push({ orderId: row.orderId, procedureCode: o.itemCode });
        }
      }

      const series = executionSeries(lines);
      for (const c of chargeLinesFor({ rx: lines, labs, imaging })) {
        if (c.sourceKind === 'treatment') {
          // A treatment fee the district's price list lacks is not charged (no price to use).
          if (!dictItem(tx.db, 'charge_items', c.itemCode)) continue;
          const si = series.findIndex((s) => s.lines.join('+') === c.ref);
          charges.push({ residentId, registrationId: regId, sourceKind: 'treatment', sourceId: ordersBySeries[si], itemCode: c.itemCode, quantity: c.quantity, createdBy: doctor });
        } else {
          charges.push({ residentId, registrationId: regId, sourceKind: c.sourceKind, sourceId: c.sourceKind === 'prescription' ? `${prescriptionId}#${c.ref}` : c.ref, itemCode: c.itemCode, quantity: c.quantity, createdBy: doctor });
        }
      }
      if (charges.length) addCharges(tx, charges);
      setRegistrationStatus(tx, regId, 'finished');
      tx.db.prepare("UPDATE clin_visits SET status = 'signed', signed_at = ?, prescription_id = ? WHERE registration_id = ?").run(now, prescriptionId, regId);
      return { prescriptionId, orders: ordersBySeries.length + labs.length + imaging.length, charges: charges.length, records };
    });
  }

  // ------------------------------------------------------------ voiding signed orders before payment (作废)

  /** Charges of a signed order still pending at the cashier (null when any is paid). */
  private pendingChargesOf(db: Db, regId: string, sourceIds: string[]): string[] | null {
    const rows = sourceIds.length === 0 ? [] : db.prepare<[string, ...string[]], { charge_id: string; status: string }>(
      `SELECT charge_id, status FROM his_charges WHERE registration_id = ? AND reverses_charge_id IS NULL AND source_id IN (${sourceIds.map(() => '?').join(',')})`).all(regId, ...sourceIds);
    if (rows.some((r) => r.status === 'paid')) return null;
    return rows.filter((r) => r.status === 'pending').map((r) => r.charge_id);
  }

  /**
   * Void the signed prescription of a visit while none of it is paid: new `prescription`
   * version (cancelled), its injection/infusion orders cancelled (their doses leave the
   * nurse's list), its pending charges cancelled; one transaction.
   */
  voidPrescription(regId: string, doctor: string): Promise<{ charges: number }> {
    return this.store.transactAsync((tx) => {
      const v = tx.db.prepare<[string], VisitRow>('SELECT * FROM clin_visits WHERE registration_id = ?').get(regId);
      if (!v || v.status !== 'signed' || !v.prescription_id) throw new ClinicalError('prescription', '没有已签名的处方 / no signed prescription', 404);
      if (v.doctor_username !== doctor) throw new ClinicalError('prescription', '只能由开方医生作废 / only the prescriber may void it', 409);
      const rec = tx.db.prepare<[string], { payload: string }>("SELECT payload FROM records WHERE type = 'prescription' AND record_id = ?").get(v.prescription_id);
      const rx = JSON.parse(rec!.payload) as RecordPayload<'prescription'>;
      if (rx.status === 'cancelled') throw new ClinicalError('prescription', '处方已作废 / already void', 409);
      const execOrders = tx.db.prepare<[string], { order_id: string; payload: string }>('SELECT order_id, payload FROM clin_exec_orders WHERE prescription_id = ?').all(v.prescription_id);
      if (tx.db.prepare<[string], { n: number }>(`SELECT count(*) AS n FROM clin_exec_tasks t JOIN clin_exec_orders o ON o.order_id = t.order_id WHERE o.prescription_id = ? AND t.status = 'done'`).get(v.prescription_id)!.n) {
        throw new ClinicalError('prescription', '已有注射/输液执行记录，不能作废 / doses already given', 409);
      }
      const charges = this.pendingChargesOf(tx.db, regId, [...rx.items.map((i) => `${v.prescription_id}#${i.lineNo}`), ...execOrders.map((o) => o.order_id)]);
      if (charges === null) throw new ClinicalError('prescription', '处方已缴费，须先退费（冲账）再作废 / paid: refund at the cashier first', 409);
      tx.emit('prescription', v.prescription_id, { ...rx, status: 'cancelled' });
      for (const o of execOrders) {
        const payload = { ...(JSON.parse(o.payload) as RecordPayload<'order'>), status: 'cancelled' as const };
        tx.emit('order', o.order_id, payload);
        tx.db.prepare('UPDATE clin_exec_orders SET payload = ? WHERE order_id = ?').run(JSON.stringify(payload), o.order_id);
        tx.db.prepare("DELETE FROM clin_exec_tasks WHERE order_id = ? AND status = 'pending'").run(o.order_id);
      }
      cancelCharges(tx, charges);
      return { charges: charges.length };
    });
  }

  /** Withdraw one signed lab or imaging order while its charge is unpaid (the worklist drops an imaging order). */
  voidOrder(regId: string, lineId: string, doctor: string): Promise<{ charges: number }> {
    return this.store.transactAsync((tx) => {
      const v = tx.db.prepare<[string], VisitRow>('SELECT * FROM clin_visits WHERE registration_id = ?').get(regId);
      const o = tx.db.prepare<[string, string], { kind: 'lab' | 'imaging'; order_id: string | null; item_name: string }>('SELECT kind, order_id, item_name FROM clin_orders WHERE registration_id = ? AND line_id = ?').get(regId, lineId);
      if (!v || v.status !== 'signed' || !o?.order_id) throw new ClinicalError('order', '没有该已签名的申请 / no such signed order', 404);
      if (v.doctor_username !== doctor) throw new ClinicalError('order', '只能由申请医生撤销 / only the ordering doctor may withdraw it', 409);
      const charges = this.pendingChargesOf(tx.db, regId, [o.order_id]);
      if (charges === null) throw new ClinicalError('order', `${o.item_name} 已缴费，须先退费（冲账）再撤销 / paid: refund first`, 409);
      if (o.kind === 'imaging') {
        const io = this.imaging.order(o.order_id);
        if (!io || io.status === 'cancelled') throw new ClinicalError('order', '该检查已撤销 / already withdrawn', 409);
        if (io.status === 'in-progress' || io.status === 'completed' || io.instances > 0) throw new ClinicalError('order', '该检查已开始，不能撤销 / the examination has started', 409);
        this.imaging.setOrderStatus(tx, o.order_id, 'cancelled');
      } else {
        const rec = tx.db.prepare<[string], { payload: string }>("SELECT payload FROM records WHERE type = 'order' AND record_id = ?").get(o.order_id);
        const payload = JSON.parse(rec!.payload) as RecordPayload<'order'>;
        if (payload.status === 'cancelled') throw new ClinicalError('order', '该检验已撤销 / already withdrawn', 409);
        if (tx.db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM records WHERE type = 'lab_result' AND json_extract(payload, '$.orderId') = ?").get(o.order_id)!.n) {
          throw new ClinicalError('order', '已有检验结果，不能撤销 / results already in', 409);
        }
        tx.emit('order', o.order_id, { ...payload, status: 'cancelled' });
      }
      cancelCharges(tx, charges);
      return { charges: charges.length };
    });
  }

  /** Status of a signed order's record (to show 已撤销 / 已作废). */
  orderStatus(orderId: string): string | null {
    const r = this.db.prepare<[string], { s: string }>("SELECT json_extract(payload, '$.status') AS s FROM records WHERE type = 'order' AND record_id = ?").get(orderId);
    return r?.s ?? null;
  }

  prescriptionStatus(prescriptionId: string): string | null {
    const r = this.db.prepare<[string], { s: string }>("SELECT json_extract(payload, '$.status') AS s FROM records WHERE type = 'prescription' AND record_id = ?").get(prescriptionId);
    return r?.s ?? null;
  }

  // ------------------------------------------------------------ infectious / fever / diarrhoea / dog-bite registers

  reports(regId: string): ReportRow[] {
    return this.db.prepare<[string], { report_id: string; kind: string; icd10_code: string | null; payload: string; created_by: string; created_at: string }>(
      'SELECT * FROM clin_reports WHERE registration_id = ? ORDER BY created_at').all(regId)
      .map((r) => ({ reportId: r.report_id, kind: r.kind, icd10Code: r.icd10_code, payload: JSON.parse(r.payload) as RecordPayload<'infectious_report'>, createdBy: r.created_by, createdAt: r.created_at }));
  }

  /** File a fever/diarrhoea/dog-bite registration or a notifiable-disease report card for a visit. */
  addReport(regId: string, raw: Record<string, unknown>, user: string): Promise<ReportRow> {
    const s = (k: string) => (typeof raw[k] === 'string' ? (raw[k] as string).trim() : '');
    const kind = s('kind');
    const errors: Record<string, string> = {};
    if (!['fever', 'diarrhoea', 'dog_bite', 'notifiable'].includes(kind)) errors.kind = '请选择登记类型 / choose the register';
    const onsetDate = s('onsetDate') || today();
    if (!/^\d{4}-\d{2}-\d{2}$/.test(onsetDate) || Number.isNaN(Date.parse(onsetDate))) errors.onsetDate = '发病日期格式应为 yyyy-MM-dd / onset date as yyyy-MM-dd';
    else if (onsetDate > today()) errors.onsetDate = '发病日期不能晚于今天 / onset date cannot be in the future';
    const num = (k: string) => (s(k) ? Number(s(k)) : undefined);
    const temperature = num('temperature');
    if (kind === 'fever' && (temperature === undefined || !Number.isFinite(temperature) || temperature < 34 || temperature > 43.5)) errors.temperature = '请填写体温（34-43.5℃） / temperature 34-43.5 °C';
    const stools = num('stoolsPerDay');
    if (kind === 'diarrhoea' && (stools === undefined || !Number.isInteger(stools) || stools < 1 || stools > 50)) errors.stoolsPerDay = '请填写每日腹泻次数（1-50） / stools per day 1-50';
    const grade = s('exposureGrade');
    if (kind === 'dog_bite' && !['I', 'II', 'III'].includes(grade)) errors.exposureGrade = '请选择暴露分级 / choose the exposure grade';
    const icd = s('icd10Code');
    const notifiable = icd ? notifiableFor(icd) : null;
    if (kind === 'notifiable' && !notifiable) errors.icd10Code = `${icd || '（空）'} 不是法定报告传染病编码 / not a notifiable disease code`;
    if (Object.keys(errors).length) return Promise.reject(new ClinicalError(Object.keys(errors)[0]!, Object.values(errors).join('；'), 400, errors));
    return this.store.transactAsync((tx) => {
      const v = tx.db.prepare<[string], VisitRow>('SELECT * FROM clin_visits WHERE registration_id = ?').get(regId);
      if (!v) throw new ClinicalError('registrationId', '就诊不存在 / no visit', 404);
      const reportId = uuidv7();
      const now = new Date().toISOString();
      const actions = grade ? rabiesActions(grade as 'I' | 'II' | 'III') : null;
      const payload: RecordPayload<'infectious_report'> = {
        reportId, encounterId: regId, residentId: v.resident_id, kind: kind as 'fever', onsetDate, notes: s('notes').slice(0, 1000), reportedBy: user, reportedAt: now,
        ...(icd ? { icd10Code: icd.toUpperCase().slice(0, 16) } : {}),
        ...(notifiable ? { diseaseName: notifiable.zh, diseaseClass: notifiable.cls, reportWithinHours: notifiable.hours } : {}),
        ...(kind === 'fever' ? { temperature } : {}),
        ...(kind === 'diarrhoea' ? { stoolsPerDay: stools, stoolCharacter: (['watery', 'mucus', 'bloody', 'loose', 'other'].includes(s('stoolCharacter')) ? s('stoolCharacter') : 'loose') as 'loose' } : {}),
        ...(kind === 'dog_bite' ? {
          animal: (['dog', 'cat', 'other'].includes(s('animal')) ? s('animal') : 'dog') as 'dog', exposureGrade: grade as 'I', woundSite: s('woundSite').slice(0, 100),
          woundTreated: actions!.woundCare, vaccineStarted: actions!.vaccine, immunoglobulin: actions!.immunoglobulin,
        } : {}),
      };
      tx.emit('infectious_report', reportId, payload);
      tx.db.prepare('INSERT INTO clin_reports (report_id, registration_id, resident_id, kind, icd10_code, payload, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)')
        .run(reportId, regId, v.resident_id, kind, payload.icd10Code ?? null, JSON.stringify(payload), user, now);
      return { reportId, kind, icd10Code: payload.icd10Code ?? null, payload, createdBy: user, createdAt: now };
    });
  }

  // ------------------------------------------------------------ history

  history(residentId: string) {
    const visits = this.db.prepare<[string], { registration_id: string; started_at: string; signed_at: string | null; status: string; chief_complaint: string; doctor_username: string; doctor_name: string | null }>(
      `SELECT v.registration_id, v.started_at, v.signed_at, v.status, v.chief_complaint, v.doctor_username, u.display_name AS doctor_name FROM clin_visits v
       LEFT JOIN users u ON u.username = v.doctor_username WHERE v.resident_id = ? ORDER BY v.started_at DESC LIMIT 50`).all(residentId)
      .map((v) => ({ ...v, diagnoses: this.db.prepare<[string], { code: string; name: string }>('SELECT code, name FROM clin_diagnoses WHERE registration_id = ? ORDER BY is_primary DESC, added_at').all(v.registration_id) }));
    const labs = this.db.prepare<[string], { payload: string }>("SELECT payload FROM records WHERE type = 'lab_result' AND json_extract(payload, '$.residentId') = ? ORDER BY json_extract(payload, '$.resultedAt') DESC LIMIT 500")
      .all(residentId).map((r) => JSON.parse(r.payload) as RecordPayload<'lab_result'>);
    const readings = this.db.prepare<[string], { payload: string }>("SELECT payload FROM records WHERE type = 'observation' AND json_extract(payload, '$.residentId') = ? ORDER BY json_extract(payload, '$.effectiveAt') DESC LIMIT 100")
      .all(residentId).map((r) => JSON.parse(r.payload) as RecordPayload<'observation'>);
    const studies = this.db.prepare<[string], { study_instance_uid: string; modality: string | null; study_date: string | null; description: string | null; accession_number: string | null; n: number }>(
      `SELECT s.study_instance_uid, s.modality, s.study_date, s.description, s.accession_number, (SELECT count(*) FROM imaging_instances i WHERE i.study_instance_uid = s.study_instance_uid) AS n
       FROM imaging_studies s WHERE s.resident_id = ? ORDER BY s.last_received_at DESC LIMIT 50`).all(residentId);
    const imagingOrders = this.db.prepare<[string], { order_id: string; accession_number: string; modality: string; display: string; status: string; scheduled_date: string }>(
      'SELECT order_id, accession_number, modality, display, status, scheduled_date FROM imaging_orders WHERE resident_id = ? ORDER BY created_at DESC LIMIT 50').all(residentId);
    return { visits, labs, readings, studies, imagingOrders };
  }

  alertsFor(residentId: string): { id: string; summary: string; raisedAt: string; ackedAt: string | null; ackedByName: string | null; readBack: string | null }[] {
    return this.db.prepare<[string], { id: string; summary: string; raisedAt: string; ackedAt: string | null; ackedByName: string | null; readBack: string | null }>(
      `SELECT id, summary, raised_at AS raisedAt, acked_at AS ackedAt, acked_by_name AS ackedByName, read_back AS readBack FROM critical_alerts
       WHERE resident_id = ? ORDER BY acked_at IS NOT NULL, raised_at DESC LIMIT 20`).all(residentId);
  }

  // ------------------------------------------------------------ nurse

  /** Today's doses and the ones missed in the last MISSED_DAYS days (older ones are not listed), and those given today. */
  tasks(date: string): ExecTaskRow[] {
    const rows = this.db.prepare<[string, string, string], { barcode: string; order_id: string; sequence: number; total: number; planned_date: string; status: 'pending' | 'done'; executed_by: string | null;
      executed_by_name: string | null; executed_at: string | null; resident_id: string; resident_name: string | null; registration_id: string; route: string; kind: string; frequency: string; drugs: string; lines: string; prescription_id: string }>(
      `SELECT t.*, o.resident_id, r.name AS resident_name, o.registration_id, o.route, o.kind, o.frequency, o.drugs, o.lines, o.prescription_id
       FROM clin_exec_tasks t JOIN clin_exec_orders o ON o.order_id = t.order_id LEFT JOIN residents r ON r.resident_id = o.resident_id
       WHERE (t.status = 'pending' AND t.planned_date BETWEEN ? AND ?) OR (t.status = 'done' AND t.executed_at >= ?)
       ORDER BY t.status DESC, r.name, t.order_id, t.sequence`).all(addDays(date, -MISSED_DAYS), date, new Date(`${date}T00:00:00`).toISOString());
    return rows.map((r) => ({
      barcode: r.barcode, orderId: r.order_id, sequence: r.sequence, total: r.total, plannedDate: r.planned_date, status: r.status, executedBy: r.executed_by,
      executedByName: r.executed_by_name, executedAt: r.executed_at, residentId: r.resident_id, residentName: r.resident_name ?? r.resident_id, registrationId: r.registration_id,
      route: r.route, kind: r.kind, frequency: r.frequency, drugs: JSON.parse(r.drugs) as ExecTaskRow['drugs'], paid: this.paid(r.prescription_id, JSON.parse(r.lines) as number[]),
    }));
  }

  task(barcode: string): ExecTaskRow | null {
    const t = this.db.prepare<[string], { order_id: string }>('SELECT order_id FROM clin_exec_tasks WHERE barcode = ?').get(barcode);
    return t ? this.tasksOfOrder(t.order_id).find((x) => x.barcode === barcode) ?? null : null;
  }

  tasksOfOrder(orderId: string): ExecTaskRow[] {
    const all = this.db.prepare<[string], { barcode: string }>('SELECT barcode FROM clin_exec_tasks WHERE order_id = ? ORDER BY sequence').all(orderId).map((r) => r.barcode);
    const o = this.db.prepare<[string], { resident_id: string; registration_id: string; route: string; kind: string; frequency: string; drugs: string; lines: string; prescription_id: string }>('SELECT * FROM clin_exec_orders WHERE order_id = ?').get(orderId);
    if (!o) return [];
    const name = this.resident(o.resident_id)?.name ?? o.resident_id;
    const paid = this.paid(o.prescription_id, JSON.parse(o.lines) as number[]);
    return all.map((b) => {
      const t = this.db.prepare<[string], { barcode: string; sequence: number; total: number; planned_date: string; status: 'pending' | 'done'; executed_by: string | null; executed_by_name: string | null; executed_at: string | null }>('SELECT * FROM clin_exec_tasks WHERE barcode = ?').get(b)!;
      return { barcode: t.barcode, orderId, sequence: t.sequence, total: t.total, plannedDate: t.planned_date, status: t.status, executedBy: t.executed_by, executedByName: t.executed_by_name, executedAt: t.executed_at,
        residentId: o.resident_id, residentName: name, registrationId: o.registration_id, route: o.route, kind: o.kind, frequency: o.frequency, drugs: JSON.parse(o.drugs) as ExecTaskRow['drugs'], paid };
    });
  }

  /** The drug lines of a series are paid at the cashier (charge source id `prescriptionId#lineNo`). */
  paid(prescriptionId: string, lineNos: number[]): boolean {
    for (const n of lineNos) {
      const rows = this.db.prepare<[string], { status: string }>("SELECT status FROM his_charges WHERE source_kind = 'prescription' AND source_id = ? AND reverses_charge_id IS NULL").all(`${prescriptionId}#${n}`);
      if (rows.length === 0 || rows.some((r) => r.status !== 'paid')) return false;
    }
    return true;
  }

  /**
   * Confirm one administration by its label barcode (scanned or typed). Refused with a
   * clear reason: unknown barcode, already given, planned for another day, not paid, or
   * (when the nurse scanned the patient's ID too) another patient.
   */
  execute(barcodeText: string, patientText: string, user: { username: string; displayName: string }): Promise<ExecTaskRow> {
    const barcode = barcodeText.trim().toUpperCase();
    return this.store.transactAsync((tx) => {
      if (!barcode) throw new ClinicalError('barcode', '请扫描或输入瓶签条码 / scan or type the label barcode');
      const t = this.task(barcode);
      if (!t) throw new ClinicalError('barcode', `条码 ${barcode.slice(0, 40)} 不存在，请核对瓶签 / unknown barcode`, 404);
      if (t.status === 'done') throw new ClinicalError('barcode', `该瓶签已于 ${fmt(t.executedAt!)} 由 ${t.executedByName ?? t.executedBy} 执行，不能重复执行 / already given`, 409);
      const patient = patientText.trim();
      if (patient) {
        const r = tx.db.prepare<[string, string], { resident_id: string }>('SELECT resident_id FROM residents WHERE resident_id = ? OR id_number = ? LIMIT 1').get(patient, patient.toUpperCase());
        if (!r || r.resident_id !== t.residentId) throw new ClinicalError('barcode', `患者与瓶签不符：该瓶签属于 ${t.residentName} / the label belongs to another patient`, 409);
      }
      if (t.plannedDate > today()) throw new ClinicalError('barcode', `该次（第${t.sequence}/${t.total}次）计划于 ${t.plannedDate} 执行，不是今天 / planned for ${t.plannedDate}`, 409);
      if (!t.paid) throw new ClinicalError('barcode', '药品未缴费，请患者先到收费处缴费 / not paid yet', 409);
      const now = new Date().toISOString();
      const executionId = uuidv7();
      const o = tx.db.prepare<[string], { prescription_id: string; registration_id: string; payload: string }>('SELECT prescription_id, registration_id, payload FROM clin_exec_orders WHERE order_id = ?').get(t.orderId)!;
      tx.emit('order_execution', executionId, {
        executionId, orderId: t.orderId, encounterId: o.registration_id, residentId: t.residentId, prescriptionId: o.prescription_id, barcode, route: t.route as 'ivgtt',
        sequence: t.sequence, total: t.total, drugs: t.drugs, status: 'done', executedBy: user.username, executedAt: now,
      });
      tx.db.prepare("UPDATE clin_exec_tasks SET status = 'done', executed_by = ?, executed_by_name = ?, executed_at = ?, execution_id = ? WHERE barcode = ?")
        .run(user.username, user.displayName, now, executionId, barcode);
      const left = tx.db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM clin_exec_tasks WHERE order_id = ? AND status = 'pending'").get(t.orderId)!.n;
      const payload = JSON.parse(o.payload) as RecordPayload<'order'>;
      const status = left === 0 ? 'completed' : 'in-progress';
      if (payload.status !== status) {
        const next = { ...payload, status } as RecordPayload<'order'>;
        tx.emit('order', t.orderId, next);
        tx.db.prepare('UPDATE clin_exec_orders SET payload = ? WHERE order_id = ?').run(JSON.stringify(next), t.orderId);
      }
      return { ...t, status: 'done' as const, executedBy: user.username, executedByName: user.displayName, executedAt: now };
    });
  }

  /** Today's vital signs of a resident (nurse-entered or from devices), latest per code. */
  todayVitals(residentId: string): Record<string, { value: number; unit: string; at: string }> {
    const out: Record<string, { value: number; unit: string; at: string }> = {};
    for (const o of this.history(residentId).readings) {
      if (today(Date.parse(o.effectiveAt)) !== today()) continue;
      if (!out[o.code]) out[o.code] = { value: o.value, unit: o.unit, at: o.effectiveAt };
    }
    return out;
  }

  /** Today's device readings of a resident, latest per code (to take into the vitals form). */
  deviceVitals(residentId: string): Record<string, { value: number; at: string; deviceId: string }> {
    const out: Record<string, { value: number; at: string; deviceId: string }> = {};
    for (const o of this.history(residentId).readings) {
      if (!o.deviceId || today(Date.parse(o.effectiveAt)) !== today()) continue;
      if (!out[o.code]) out[o.code] = { value: o.value, at: o.effectiveAt, deviceId: o.deviceId };
    }
    return out;
  }

  /** Vital signs from the nurse's form, emitted as `observation` records in one transaction. */
  recordVitals(residentId: string, raw: Record<string, unknown>): Promise<RecordPayload<'observation'>[]> {
    const p = parseVitals(raw);
    if (Object.keys(p.errors).length) return Promise.reject(new ClinicalError(Object.keys(p.errors)[0]!, Object.values(p.errors).join('；'), 400, p.errors));
    return this.store.transactAsync((tx) => {
      if (!this.resident(residentId)) throw new ClinicalError('resident', '居民不存在 / unknown resident', 404);
      const at = new Date().toISOString();
      return p.values.map(({ def, value }) => {
        const o: RecordPayload<'observation'> = { observationId: uuidv7(), residentId, code: def.code, display: def.zh, value, unit: def.unit, effectiveAt: at, interpretation: interpretVital(def.key, value) };
        tx.emit('observation', o.observationId, o);
        return o;
      });
    });
  }
}

const fmt = (iso: string) => localStamp(iso).slice(5, 16);

export function fieldErrors(e: unknown): { message: string; fields: Record<string, string> } {
  if (e instanceof ClinicalError) return { message: e.message, fields: Object.keys(e.fields).length ? e.fields : { [e.field]: e.message } };
  if (e instanceof HisError) return { message: e.message, fields: { [e.field]: e.message } };
  throw e;
}

export type { FieldErrors };
