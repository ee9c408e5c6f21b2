/**
 * Public-health and family-doctor services at the clinic. Every write is ONE store
 * transaction (domain rows + spine records), validated first: a refused form saves nothing.
 * Reads come from the replicated `records` table (latest version of each record).
 */
import { createHash, randomUUID } from 'node:crypto';
import { uuidv7 } from '../../contracts/ids.ts';
import { checkResidentId } from '../../contracts/identity.ts';
import type { RecordPayload, RecordType } from '../../contracts/index.ts';
import { RecordValidationError, type EdgeStore, type Tx } from '../store/store.ts';
import type { Accounts } from '../web/accounts.ts';
import { CHINA_PAR_2016, ascvdRisk, AscvdInputError, parseCoefficientSet, type AscvdInput, type CoefficientSet } from './rules/ascvd.ts';
import { bpControlled } from './rules/bp.ts';
import { addDays, addMonths, ageOn, isIsoDate, quarterStart, today as todayOf } from './rules/dates.ts';
import { decideFollowup, dueState, firstDueAfterEnrolment, FollowupRuleError, type DueState, type FollowupDecision } from './rules/followup.ts';
import { fbgControlled } from './rules/glucose.ts';
import { checkRecord, findDuplicates, type QcIssue } from './rules/qc.ts';
import { SELF_CARE_ITEMS, scoreSelfCare, type SelfCareItem } from './rules/selfcare.ts';
import { missingTcmAnswers, scoreTcm, TCM_GUIDANCE_ZH, TCM_TYPE_ZH, type TcmMethod } from './rules/tcm.ts';
import { checkVitals, type FieldErrors } from './rules/vitals.ts';

export type HealthRecord = RecordPayload<'health_record'>;
export type Enrolment = RecordPayload<'chronic_enrolment'>;
export type Followup = RecordPayload<'chronic_followup'>;
export type Contract = RecordPayload<'fd_contract'>;
export type Team = RecordPayload<'fd_team'>;
export type Package = RecordPayload<'fd_package'>;
export type Referral = RecordPayload<'referral'>;

/** A refused form: messages per field (Chinese), nothing written. */
export class FormError extends Error {
  override name = 'FormError';
  constructor(readonly errors: FieldErrors) { super(Object.entries(errors).map(([k, v]) => `${k}: ${v}`).join('; ')); }
}
const fail = (errors: FieldErrors): never => { throw new FormError(errors); };

export interface Actor { username: string; ip: string }

export interface ResidentRow { residentId: string; name: string; sex: string; birthDate: string; idType: string; idNumber: string; phone: string | null; address?: string | undefined }

export const LOINC = { sbp: '8480-6', dbp: '8462-4', pulse: '8867-4', glucose: '14743-9', weight: '29463-7', height: '8302-2', temperature: '8310-5' } as const;

export interface Prefill {
  sbp?: number; dbp?: number; heartRate?: number; fbg?: number; weightKg?: number; heightCm?: number;
  readingIds: string[];
  readingAt?: string; readingDevice?: string; glucoseAt?: string; glucoseSource?: string;
  /** Lipids from lab results (LOINC 14647-2 total cholesterol, 14646-4 HDL-C), mmol/L */
  tc?: number; hdl?: number; lipidsAt?: string;
  encounter?: { encounterId: string; registeredAt: string; diagnoses: string; chiefComplaint?: string };
}

export interface DueRow {
  kind: 'followup' | 'referral' | 'appointment';
  residentId: string; name: string; age: number; disease: string; dueDate: string; state: DueState;
  lastDate?: string; lastControl?: string; doctorCode: string; teamId?: string; note?: string;
}

export const KEY_TAG_ZH: Record<string, string> = { elderly: '65岁及以上老年人', hypertension: '高血压患者', diabetes: '2型糖尿病患者', children: '0~6岁儿童', maternal: '孕产妇', severe_mental: '严重精神障碍患者', tb: '肺结核患者', disabled: '残疾人', low_income: '低保/特困人员', family_planning: '计划生育特殊家庭' };

export class CareService {
  constructor(readonly store: EdgeStore, readonly accounts: Accounts, readonly clinicId: string, readonly clinicName: string, private readonly now: () => Date = () => new Date()) {}

  get db() { return this.store.db; }
  today(): string { return todayOf(this.now()); }

  // ---------- generic record reads ----------
  list<T extends RecordType>(type: T, where = '', ...params: unknown[]): RecordPayload<T>[] {
    return this.db.prepare<unknown[], { payload: string }>(`SELECT payload FROM records WHERE type = ? ${where}`).all(type, ...params).map((r) => JSON.parse(r.payload) as RecordPayload<T>);
  }
  byResident<T extends RecordType>(type: T, residentId: string): RecordPayload<T>[] {
    return this.list(type, "AND json_extract(payload, '$.residentId') = ?", residentId);
  }
  get<T extends RecordType>(type: T, id: string): RecordPayload<T> | null {
    const r = this.db.prepare<[string, string], { payload: string }>('SELECT payload FROM records WHERE type = ? AND record_id = ?').get(type, id);
    return r ? (JSON.parse(r.payload) as RecordPayload<T>) : null;
  }
  setting(key: string): string | null {
    return this.db.prepare<[string], { value: string }>('SELECT value FROM care_settings WHERE key = ?').get(key)?.value ?? null;
  }
  setSetting(key: string, value: string, actor: Actor): void {
    this.db.prepare('INSERT INTO care_settings (key, value, updated_by, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, updated_at = excluded.updated_at')
      .run(key, value, actor.username, new Date().toISOString());
    this.audit(actor, 'care.setting', key, 'ok');
  }
  audit(actor: Actor, action: string, target: string, outcome: string): void {
    this.accounts.audit(actor.username, action, target, actor.ip, outcome.slice(0, 300));
  }

  /** A write for other parts of the module (transfers): one transaction, audited. */
  transact<T>(actor: Actor, action: string, target: string, fn: (tx: Tx) => T): T { return this.write(actor, action, target, fn); }

  /** Run a write, audit its outcome, turn record-schema refusals into field messages. */
  private write<T>(actor: Actor, action: string, target: string, fn: (tx: Tx) => T): T {
    try {
      const out = this.store.transact(fn);
      this.audit(actor, action, target, 'ok');
      return out;
    } catch (e) {
      this.audit(actor, action, target, `refused: ${(e as Error).message}`);
      if (e instanceof RecordValidationError) throw new FormError(Object.fromEntries(e.issues.map((i) => [i.path.split('.')[0] || '_', `数据不符合规范：${i.path} ${i.message}`])));
      throw e;
    }
  }

  // ---------- residents ----------
  resident(id: string): ResidentRow | null {
    const r = this.db.prepare<[string], { resident_id: string; name: string; sex: string; birth_date: string; id_type: string; id_number: string; phone: string | null }>('SELECT * FROM residents WHERE resident_id = ?').get(id);
    if (!r) return null;
    const p = this.get('resident', id);
    return { residentId: r.resident_id, name: r.name, sex: r.sex, birthDate: r.birth_date, idType: r.id_type, idNumber: r.id_number, phone: r.phone, address: p?.address };
  }
  /** By resident id, ID number, name (prefix) or phone. */
  searchResidents(q: string, limit = 50): ResidentRow[] {
    const s = q.trim();
    if (!s) return [];
    return this.db.prepare<[string, string, string, string, number], { resident_id: string }>(
      'SELECT resident_id FROM residents WHERE resident_id = ? OR id_number = ? OR name LIKE ? OR phone = ? ORDER BY name LIMIT ?').all(s, s.toUpperCase(), `${s}%`, s, limit)
      .map((r) => this.resident(r.resident_id)!).filter(Boolean);
  }
  age(r: ResidentRow, on = this.today()): number { return ageOn(r.birthDate, on); }

  // ---------- health records ----------
  healthRecordOf(residentId: string): HealthRecord | null {
    const all = this.byResident('health_record', residentId);
    return all.find((h) => h.status === 'active') ?? all.sort((a, b) => (a.lastUpdatedDate < b.lastUpdatedDate ? 1 : -1))[0] ?? null;
  }
  healthRecords(filter: { status?: string; q?: string } = {}): (HealthRecord & { name: string })[] {
    const rows = this.list('health_record').map((h) => ({ ...h, name: this.resident(h.residentId)?.name ?? h.residentId }));
    return rows.filter((h) => (!filter.status || h.status === filter.status) && (!filter.q || h.name.includes(filter.q) || h.healthRecordNo.includes(filter.q))).sort((a, b) => (a.healthRecordNo < b.healthRecordNo ? -1 : 1));
  }
  recordNoPrefix(): string { return this.setting('recordNoPrefix') ?? '110105001001'; }

  private nextRecordNo(tx: Tx): string {
    const prefix = this.recordNoPrefix();
    const row = tx.db.prepare<[string], { n: number | null }>("SELECT max(CAST(substr(record_id, 13) AS INTEGER)) AS n FROM records WHERE type = 'health_record' AND record_id LIKE ? || '%'").get(prefix);
    const next = (row?.n ?? 0) + 1;
    if (next > 99999) throw new FormError({ _: `档案编号前缀 ${prefix} 的 5 位序号已用完，请更换前缀` });
    return `${prefix}${String(next).padStart(5, '0')}`;
  }

  /** Validate the demographics of a new resident typed on the record form. */
  checkNewResident(f: { name: string; sex: string; birthDate: string; idNumber: string; phone: string }): FieldErrors {
    const e: FieldErrors = {};
    if (!f.name.trim()) e.name = '请填写姓名';
    if (!['1', '2'].includes(f.sex)) e.sex = '请选择性别';
    if (!isIsoDate(f.birthDate)) e.birthDate = '出生日期格式应为 yyyy-MM-dd';
    else if (f.birthDate > this.today()) e.birthDate = `出生日期 ${f.birthDate} 晚于今天（${this.today()}），请核对`;
    const c = checkResidentId(f.idNumber);
    if (!c.ok) e.idNumber = `身份证号码不正确：${c.reason}`;
    else {
      if (!e.birthDate && c.birthDate !== f.birthDate) e.birthDate = `出生日期与身份证号（${c.birthDate}）不一致`;
      if (!e.sex && c.sex !== f.sex) e.sex = `性别与身份证号第17位（${c.sex === '1' ? '男' : '女'}）不一致`;
      const dup = this.db.prepare<[string], { resident_id: string; name: string }>('SELECT resident_id, name FROM residents WHERE id_number = ?').get(c.id);
      if (dup) e.idNumber = `该身份证号已登记为居民 ${dup.name}（${dup.resident_id}），请直接为其建档`;
    }
    if (f.phone && !/^1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$/.test(f.phone)) e.phone = '电话格式不正确（手机 11 位，或区号-座机号）';
    return e;
  }

  createHealthRecord(input: {
    residentId?: string; newResident?: { name: string; sex: string; birthDate: string; idNumber: string; phone: string };
    residenceType?: string; currentAddress?: string; contactName?: string; contactPhone?: string; aboBloodGroup?: string; rhBloodGroup?: string;
    drugAllergies?: string[]; pastDiseases?: { name: string; diagnosedDate?: string }[]; familyHistory?: { relation: 'father' | 'mother' | 'sibling' | 'child'; disease: string }[];
    doctorCode?: string; teamId?: string; createdDate?: string;
  }, actor: Actor): HealthRecord {
    const e: FieldErrors = {};
    let residentId = input.residentId?.trim() ?? '';
    if (input.newResident) Object.assign(e, this.checkNewResident(input.newResident));
    else if (!residentId || !this.resident(residentId)) e.residentId = residentId ? `居民 ${residentId} 不存在` : '请选择居民';
    const createdDate = input.createdDate || this.today();
    if (!isIsoDate(createdDate)) e.createdDate = '建档日期格式应为 yyyy-MM-dd';
    else if (createdDate > this.today()) e.createdDate = `建档日期 ${createdDate} 晚于今天`;
    const birth = input.newResident?.birthDate ?? (residentId ? this.resident(residentId)?.birthDate : undefined);
    if (!e.createdDate && birth && isIsoDate(birth) && birth <= this.today() && createdDate < birth) e.createdDate = `建档日期早于出生日期 ${birth}`;
    for (const d of input.pastDiseases ?? []) {
      if (d.diagnosedDate && (!isIsoDate(d.diagnosedDate) || d.diagnosedDate > this.today() || (birth && d.diagnosedDate < birth))) { e.pastDiseases = `既往史「${d.name}」的确诊日期 ${d.diagnosedDate} 不合理（须在出生日期与今天之间）`; break; }
    }
    if (residentId && !input.newResident) {
      const existing = this.byResident('health_record', residentId).find((h) => h.status === 'active');
      if (existing) e.residentId = `该居民已有在档档案 ${existing.healthRecordNo}，不能重复建档`;
    }
    if (Object.keys(e).length) fail(e);
    return this.write(actor, 'care.record.create', residentId || input.newResident!.idNumber, (tx) => {
      if (input.newResident) {
        const c = checkResidentId(input.newResident.idNumber);
        residentId = `r-${randomUUID().slice(0, 8)}`;
        tx.emit('resident', residentId, { residentId, name: input.newResident.name.trim(), sex: input.newResident.sex as '1' | '2', birthDate: input.newResident.birthDate, idType: '01', idNumber: c.ok ? c.id : input.newResident.idNumber, ...(input.newResident.phone ? { phone: input.newResident.phone } : {}), ...(input.currentAddress ? { address: input.currentAddress } : {}) });
      }
      const no = this.nextRecordNo(tx);
      const rec: HealthRecord = {
        healthRecordNo: no, residentId, status: 'active', clinicId: this.clinicId, createdDate, createdBy: actor.username,
        ...(input.doctorCode ? { doctorCode: input.doctorCode } : {}), ...(input.teamId ? { teamId: input.teamId } : {}),
        ...(input.residenceType === '1' || input.residenceType === '2' ? { residenceType: input.residenceType } : {}),
        ...(input.currentAddress ? { currentAddress: input.currentAddress } : {}), ...(input.contactName ? { contactName: input.contactName } : {}), ...(input.contactPhone ? { contactPhone: input.contactPhone } : {}),
        ...(input.aboBloodGroup && ['1', '2', '3', '4', '5'].includes(input.aboBloodGroup) ? { aboBloodGroup: input.aboBloodGroup as '1' } : {}),
        ...(input.rhBloodGroup && ['1', '2', '3'].includes(input.rhBloodGroup) ? { rhBloodGroup: input.rhBloodGroup as '1' } : {}),
        paymentModes: [], drugAllergies: input.drugAllergies ?? [], pastDiseases: input.pastDiseases ?? [], familyHistory: input.familyHistory ?? [], disabilities: [], mergedFrom: [],
        lastUpdatedDate: this.today(),
      };
      tx.emit('health_record', no, rec);
      return rec;
    });
  }

  updateHealthRecord(no: string, patch: Partial<HealthRecord>, actor: Actor): HealthRecord {
    const cur = this.get('health_record', no);
    if (!cur) return fail({ _: `档案 ${no} 不存在` });
    if (cur.status !== 'active') fail({ _: `档案 ${no} 状态为 ${cur.status}，不能修改` });
    const next: HealthRecord = { ...cur, ...patch, healthRecordNo: no, residentId: cur.residentId, status: cur.status, lastUpdatedDate: this.today() };
    return this.write(actor, 'care.record.update', no, (tx) => { tx.emit('health_record', no, next); return next; });
  }

  migrateRecord(no: string, toClinicId: string, reason: string, actor: Actor): HealthRecord {
    const cur = this.get('health_record', no);
    const e: FieldErrors = {};
    if (!cur) e._ = `档案 ${no} 不存在`;
    else if (cur.status !== 'active') e._ = `档案状态为 ${cur.status}，只能迁出在档档案`;
    if (!/^[a-z0-9-]{2,32}$/.test(toClinicId)) e.toClinicId = '请填写迁入机构编码（小写字母、数字、短横线）';
    else if (toClinicId === this.clinicId) e.toClinicId = '迁入机构不能是本机构';
    if (!reason.trim()) e.migrationReason = '请填写迁出原因';
    if (Object.keys(e).length) fail(e);
    const next: HealthRecord = { ...cur!, status: 'migrated', migratedToClinicId: toClinicId, migratedDate: this.today(), migrationReason: reason.trim(), lastUpdatedDate: this.today() };
    // The package for the receiving clinic (routed by central, edge-agent/care/transfer.ts).
    const r = this.resident(cur!.residentId);
    if (!r) return fail({ _: `档案 ${no} 的居民 ${cur!.residentId} 不存在` });
    const transfer: RecordPayload<'record_transfer'> = {
      transferId: `tr-${uuidv7()}`, healthRecordNo: no, fromClinicId: this.clinicId, fromClinicName: this.clinicName.slice(0, 100), toClinicId, date: this.today(), reason: reason.trim(), sentBy: actor.username,
      resident: { residentId: r.residentId, name: r.name, sex: r.sex as '1', birthDate: r.birthDate, idType: r.idType, idNumber: r.idNumber, ...(r.phone ? { phone: r.phone } : {}), ...(r.address ? { address: r.address } : {}) },
      healthRecord: cur!,
      enrolments: this.byResident('chronic_enrolment', cur!.residentId).slice(0, 10),
      followups: this.byResident('chronic_followup', cur!.residentId).sort((a, b) => (a.date < b.date ? 1 : -1)).slice(0, 100),
    };
    return this.write(actor, 'care.record.migrate', `${no} -> ${toClinicId}`, (tx) => {
      tx.emit('health_record', no, next);
      tx.emit('record_transfer', transfer.transferId, transfer);
      tx.db.prepare("INSERT INTO care_transfer_out (transfer_id, health_record_no, resident_id, to_clinic_id, status, sent_at) VALUES (?, ?, ?, ?, 'sent', ?)").run(transfer.transferId, no, cur!.residentId, toClinicId, new Date().toISOString());
      return next;
    });
  }

  cancelRecord(no: string, reason: string, note: string, actor: Actor): HealthRecord {
    const cur = this.get('health_record', no);
    const e: FieldErrors = {};
    if (!cur) e._ = `档案 ${no} 不存在`;
    else if (cur.status !== 'active') e._ = `档案状态为 ${cur.status}，不能注销`;
    if (!['death', 'moved_away', 'other'].includes(reason)) e.cancelReason = reason === 'duplicate' ? '重复档案请使用「合并」功能' : '请选择注销原因';
    if (reason === 'other' && !note.trim()) e.cancelNote = '原因为「其他」时请填写说明';
    if (Object.keys(e).length) fail(e);
    const next: HealthRecord = { ...cur!, status: 'cancelled', cancelledDate: this.today(), cancelReason: reason as 'death', ...(note.trim() ? { cancelNote: note.trim() } : {}), lastUpdatedDate: this.today() };
    return this.write(actor, 'care.record.cancel', `${no} (${reason})`, (tx) => {
      tx.emit('health_record', no, next);
      // A deceased or departed resident leaves chronic-disease management too.
      for (const en of this.byResident('chronic_enrolment', cur!.residentId).filter((x) => x.status === 'active')) {
        tx.emit('chronic_enrolment', en.enrolmentId, { ...en, status: 'ended', endedDate: this.today(), endReason: reason === 'death' ? 'death' : reason === 'moved_away' ? 'moved_away' : 'other' });
      }
      return next;
    });
  }

  /**
   * Merge a duplicate record into the surviving one: the duplicate is cancelled (reason
   * duplicate, merged into the survivor), the survivor lists it, and the duplicate resident's
   * care records are re-issued under the survivor's resident. One transaction.
   */
  mergeRecords(survivorNo: string, duplicateNo: string, actor: Actor): { moved: number } {
    const s = this.get('health_record', survivorNo); const d = this.get('health_record', duplicateNo);
    const e: FieldErrors = {};
    if (!s || s.status !== 'active') e.survivorNo = `保留档案 ${survivorNo} 不存在或不在档`;
    if (!d || d.status !== 'active') e.duplicateNo = `重复档案 ${duplicateNo} 不存在或不在档`;
    if (survivorNo === duplicateNo) e.duplicateNo = '两个档案编号相同';
    if (Object.keys(e).length) fail(e);
    return this.write(actor, 'care.record.merge', `${duplicateNo} -> ${survivorNo}`, (tx) => {
      let moved = 0;
      if (d!.residentId !== s!.residentId) {
        const types: { type: RecordType; key: string }[] = [
          { type: 'chronic_enrolment', key: 'enrolmentId' }, { type: 'chronic_followup', key: 'followupId' }, { type: 'elderly_check', key: 'checkId' },
          { type: 'tcm_assessment', key: 'assessmentId' }, { type: 'fd_contract', key: 'contractId' }, { type: 'care_plan', key: 'planId' },
          { type: 'care_appointment', key: 'appointmentId' }, { type: 'referral', key: 'referralId' }, { type: 'ascvd_assessment', key: 'assessmentId' }, { type: 'fd_service', key: 'serviceId' },
        ];
        for (const { type, key } of types) {
          for (const p of this.byResident(type, d!.residentId) as unknown as Record<string, unknown>[]) {
            tx.emit(type, String(p[key]), { ...p, residentId: s!.residentId } as never);
            moved++;
          }
        }
      }
      tx.emit('health_record', duplicateNo, { ...d!, status: 'cancelled', cancelledDate: this.today(), cancelReason: 'duplicate', mergedIntoRecordNo: survivorNo, lastUpdatedDate: this.today() });
      tx.emit('health_record', survivorNo, { ...s!, mergedFrom: [...new Set([...s!.mergedFrom, duplicateNo])], lastUpdatedDate: this.today() });
      return { moved };
    });
  }

  qc(residentId: string): QcIssue[] {
    const r = this.resident(residentId);
    const h = this.healthRecordOf(residentId);
    if (!r) return [];
    const issues = checkRecord(r, h ?? {}, this.today());
    // Candidates through the residents indexes (ID number, name), then the rule decides.
    const ids = this.db.prepare<[string, string, string], { resident_id: string }>('SELECT resident_id FROM residents WHERE (id_number = ? OR name = ?) AND resident_id != ?').all(r.idNumber.toUpperCase(), r.name, residentId).map((x) => x.resident_id);
    const holders = ids.map((id) => ({ r: this.resident(id)!, h: this.byResident('health_record', id).find((x) => x.status === 'active') })).filter((x) => x.h)
      .map(({ r: o, h: oh }) => ({ residentId: o.residentId, name: o.name, sex: o.sex, birthDate: o.birthDate, idNumber: o.idNumber, phone: o.phone, healthRecordNo: oh!.healthRecordNo }));
    return [...issues, ...findDuplicates(r, holders)];
  }

  private recordHolders() {
    return this.list('health_record').filter((h) => h.status === 'active').map((h) => {
      const r = this.resident(h.residentId);
      return r ? { residentId: r.residentId, name: r.name, sex: r.sex, birthDate: r.birthDate, idNumber: r.idNumber, phone: r.phone, healthRecordNo: h.healthRecordNo } : null;
    }).filter((x): x is NonNullable<typeof x> => x !== null);
  }

  /** Pairs of active records that look like the same person. */
  duplicatePairs(): { a: string; b: string; aName: string; bName: string; reason: string; certainty: string }[] {
    const holders = this.recordHolders();
    // Group by the keys the duplicate rule compares (linear, not all pairs), then apply the rule within each group.
    const groups = new Map<string, typeof holders>();
    for (const h of holders) {
      for (const k of [`id:${h.idNumber.toUpperCase()}`, `nsb:${h.name}|${h.sex}|${h.birthDate}`, ...(h.phone ? [`np:${h.name}|${h.phone}`] : [])]) {
        const g = groups.get(k); if (g) g.push(h); else groups.set(k, [h]);
      }
    }
    const out: { a: string; b: string; aName: string; bName: string; reason: string; certainty: string }[] = [];
    const seen = new Set<string>();
    for (const g of groups.values()) {
      if (g.length < 2) continue;
      g.forEach((h, i) => {
        const r = this.resident(h.residentId)!;
        for (const d of findDuplicates(r, g.slice(i + 1))) {
          const o = g.find((x) => x.residentId === d.otherResidentId)!;
          const key = `${h.healthRecordNo}|${o.healthRecordNo}`;
          if (seen.has(key)) continue;
          seen.add(key);
          out.push({ a: h.healthRecordNo, b: o.healthRecordNo, aName: h.name, bName: o.name, reason: d.zh, certainty: d.certainty });
        }
      });
    }
    return out.sort((x, y) => (x.a < y.a ? -1 : x.a > y.a ? 1 : x.b < y.b ? -1 : 1));
  }

  /** Record statistics for the records page (counts; rates in percent, one decimal). */
  recordStats(): { residents: number; active: number; migrated: number; cancelled: number; recordRate: number; qcPass: number; usedThisYear: number; htn: number; t2dm: number; contracted: number } {
    const residents = this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM residents').get()!.n;
    const recs = this.list('health_record');
    const active = recs.filter((h) => h.status === 'active');
    const yearStart = `${this.today().slice(0, 4)}-01-01`;
    const pct = (a: number, b: number) => (b ? Math.round((a / b) * 1000) / 10 : 0);
    const qcIssues = new Set(this.qcSummary().map((x) => x.no));
    const enrolled = (d: string) => new Set(this.list('chronic_enrolment').filter((e) => e.status === 'active' && e.disease === d).map((e) => e.residentId)).size;
    const contracted = new Set(this.list('fd_contract').filter((c) => c.status !== 'terminated' && c.startDate <= this.today() && c.endDate >= this.today()).map((c) => c.residentId)).size;
    return {
      residents, active: active.length, migrated: recs.filter((h) => h.status === 'migrated').length, cancelled: recs.filter((h) => h.status === 'cancelled').length,
      recordRate: pct(active.length, residents), qcPass: pct(active.filter((h) => !qcIssues.has(h.healthRecordNo)).length, active.length),
      usedThisYear: pct(active.filter((h) => h.lastUpdatedDate >= yearStart || this.followups(h.residentId).some((f) => f.date >= yearStart)).length, active.length),
      htn: enrolled('HTN'), t2dm: enrolled('T2DM'), contracted,
    };
  }

  /** Every record with its QC issues (for the QC list). */
  qcSummary(): { no: string; residentId: string; name: string; issues: QcIssue[] }[] {
    return this.list('health_record').filter((h) => h.status === 'active').map((h) => {
      const r = this.resident(h.residentId);
      return { no: h.healthRecordNo, residentId: h.residentId, name: r?.name ?? h.residentId, issues: r ? checkRecord(r, h, this.today()) : [] };
    }).filter((x) => x.issues.length > 0);
  }

  // ---------- teams, packages ----------
  teams(): Team[] { return this.list('fd_team').sort((a, b) => a.name.localeCompare(b.name, 'zh')); }
  packages(): Package[] { return this.list('fd_package').sort((a, b) => (a.kind === b.kind ? a.name.localeCompare(b.name, 'zh') : a.kind === 'basic' ? -1 : 1)); }
  teamOf(username: string): Team | undefined { return this.teams().find((t) => t.active && t.members.some((m) => m.staffCode === username)); }
  teamName(id?: string): string { return id ? this.get('fd_team', id)?.name ?? id : ''; }
  staffName(code?: string): string {
    if (!code) return '';
    const u = this.accounts.list().find((x) => x.username === code);
    if (u) return u.displayName;
    for (const t of this.teams()) { const m = t.members.find((x) => x.staffCode === code); if (m) return m.name; }
    return code;
  }

  saveTeam(input: { teamId?: string; name: string; leaderCode: string; membersText: string; active: boolean }, actor: Actor): Team {
    const e: FieldErrors = {};
    if (!input.name.trim()) e.name = '请填写团队名称';
    const members: Team['members'] = [];
    const roles = ['gp', 'nurse', 'public_health', 'pharmacist', 'specialist', 'other'] as const;
    input.membersText.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).forEach((l, i) => {
      const [code, name, role] = l.split(/[,，\s]+/);
      if (!code || !name || !roles.includes(role as (typeof roles)[number])) e.members = `第 ${i + 1} 行「${l}」格式应为：工号,姓名,角色（${roles.join('/')}）`;
      else members.push({ staffCode: code, name, role: role as (typeof roles)[number] });
    });
    if (!members.length && !e.members) e.members = '至少需要一名成员';
    if (!input.leaderCode.trim()) e.leaderCode = '请填写团队长工号';
    else if (members.length && !members.some((m) => m.staffCode === input.leaderCode.trim())) e.leaderCode = '团队长必须是团队成员';
    if (Object.keys(e).length) fail(e);
    const team: Team = { teamId: input.teamId || `team-${randomUUID().slice(0, 8)}`, name: input.name.trim(), leaderCode: input.leaderCode.trim(), members, active: input.active };
    return this.write(actor, 'care.team.save', team.teamId, (tx) => { tx.emit('fd_team', team.teamId, team); return team; });
  }

  savePackage(input: { packageId?: string; name: string; kind: string; priceYuan: string; selfPayYuan: string; servicesText: string; targetTags: string[]; active: boolean }, actor: Actor): Package {
    const e: FieldErrors = {};
    if (!input.name.trim()) e.name = '请填写服务包名称';
    if (input.kind !== 'basic' && input.kind !== 'personalised') e.kind = '请选择类型';
    const yuan = (s: string, k: string) => { const v = Number(s); if (s.trim() === '' || !Number.isFinite(v) || v < 0) { e[k] = '请填写非负金额（元）'; return 0; } return Math.round(v * 100); };
    const price = yuan(input.priceYuan, 'priceYuan'); const self = yuan(input.selfPayYuan, 'selfPayYuan');
    if (!e.priceYuan && !e.selfPayYuan && self > price) e.selfPayYuan = '个人自付不能高于服务包价格';
    const services: Package['services'] = [];
    input.servicesText.split(/\r?\n/).map((l) => l.trim()).filter(Boolean).forEach((l, i) => {
      const [code, name, times] = l.split(/[,，]+/).map((x) => x.trim());
      const n = Number(times);
      if (!code || !name || !Number.isInteger(n) || n < 0) e.services = `第 ${i + 1} 行「${l}」格式应为：编码,服务项目,每年次数`;
      else services.push({ code, name, timesPerYear: n });
    });
    if (Object.keys(e).length) fail(e);
    const pkg: Package = { packageId: input.packageId || `pkg-${randomUUID().slice(0, 8)}`, name: input.name.trim(), kind: input.kind as 'basic', priceFen: price, selfPayFen: self, services, targetTags: input.targetTags.filter((t) => t in KEY_TAG_ZH) as Package['targetTags'], active: input.active };
    return this.write(actor, 'care.package.save', pkg.packageId, (tx) => { tx.emit('fd_package', pkg.packageId, pkg); return pkg; });
  }

  // ---------- population tags ----------
  /** Key-population tags derived from what the clinic holds (age, enrolments). */
  tagsOf(residentId: string): string[] {
    const r = this.resident(residentId);
    if (!r) return [];
    const tags = new Set<string>();
    const age = this.age(r);
    if (age >= 65) tags.add('elderly');
    if (age <= 6) tags.add('children');
    for (const e of this.byResident('chronic_enrolment', residentId)) if (e.status === 'active') tags.add(e.disease === 'HTN' ? 'hypertension' : 'diabetes');
    for (const c of this.byResident('fd_contract', residentId)) if (c.status !== 'terminated') for (const t of c.keyPopulationTags) tags.add(t);
    return [...tags];
  }

  // ---------- chronic disease ----------
  enrolments(residentId: string): Enrolment[] { return this.byResident('chronic_enrolment', residentId); }
  activeEnrolment(residentId: string, disease: 'HTN' | 'T2DM'): Enrolment | undefined { return this.enrolments(residentId).find((e) => e.disease === disease && e.status === 'active'); }
  followups(residentId: string, disease?: string): Followup[] {
    return this.byResident('chronic_followup', residentId).filter((f) => !disease || f.disease === disease).sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : 0));
  }

  enrol(input: { residentId: string; disease: string; enrolledDate: string; diagnosedDate?: string; sbp?: number; dbp?: number; fbg?: number; doctorCode: string; teamId?: string }, actor: Actor): Enrolment {
    const e: FieldErrors = {};
    const r = this.resident(input.residentId);
    if (!r) e.residentId = '居民不存在';
    if (input.disease !== 'HTN' && input.disease !== 'T2DM') e.disease = '请选择病种';
    if (!isIsoDate(input.enrolledDate)) e.enrolledDate = '日期格式应为 yyyy-MM-dd';
    else if (input.enrolledDate > this.today()) e.enrolledDate = `纳入管理日期 ${input.enrolledDate} 晚于今天`;
    else if (r && input.enrolledDate < r.birthDate) e.enrolledDate = '纳入管理日期早于出生日期';
    if (input.diagnosedDate && (!isIsoDate(input.diagnosedDate) || input.diagnosedDate > input.enrolledDate)) e.diagnosedDate = '确诊日期须为有效日期且不晚于纳入管理日期';
    if (r && !e.enrolledDate && ageOn(r.birthDate, input.enrolledDate) < 35 && input.disease === 'HTN') e.residentId = `高血压患者健康管理服务对象为 35 岁及以上居民（该居民 ${ageOn(r.birthDate, input.enrolledDate)} 岁）`;
    if (r && !e.residentId && !e.disease && this.activeEnrolment(r.residentId, input.disease as 'HTN')) e.disease = `该居民已在${input.disease === 'HTN' ? '高血压' : '糖尿病'}管理中`;
    Object.assign(e, checkVitals({ sbp: input.sbp, dbp: input.dbp, fbg: input.fbg }));
    if (!input.doctorCode) e.doctorCode = '请填写责任医生';
    if (Object.keys(e).length) fail(e);
    const en: Enrolment = {
      enrolmentId: uuidv7(), residentId: input.residentId, disease: input.disease as 'HTN', enrolledDate: input.enrolledDate,
      ...(input.diagnosedDate ? { diagnosedDate: input.diagnosedDate } : {}), ...(input.teamId ? { teamId: input.teamId } : {}), doctorCode: input.doctorCode, status: 'active',
      ...(input.sbp !== undefined ? { sbp: input.sbp } : {}), ...(input.dbp !== undefined ? { dbp: input.dbp } : {}), ...(input.fbg !== undefined ? { fastingGlucose: input.fbg } : {}),
    };
    return this.write(actor, 'care.chronic.enrol', `${input.residentId} ${input.disease}`, (tx) => { tx.emit('chronic_enrolment', en.enrolmentId, en); return en; });
  }

  /** Latest BP / pulse / glucose readings (devices or manual observations) and the latest visit. */
  prefill(residentId: string): Prefill {
    const obs = this.db.prepare<[string], { record_id: string; payload: string }>(
      `SELECT record_id, payload FROM records WHERE type = 'observation' AND json_extract(payload, '$.residentId') = ?
       ORDER BY json_extract(payload, '$.effectiveAt') DESC LIMIT 200`).all(residentId)
      .map((r) => ({ id: r.record_id, ...(JSON.parse(r.payload) as RecordPayload<'observation'>) })).filter((o) => !o.implausible);
    const out: Prefill = { readingIds: [] };
    const sbp = obs.find((o) => o.code === LOINC.sbp);
    if (sbp) {
      // The diastolic value of the same measurement (same time and device).
      const dbp = obs.find((o) => o.code === LOINC.dbp && o.effectiveAt === sbp.effectiveAt && o.deviceId === sbp.deviceId) ?? obs.find((o) => o.code === LOINC.dbp);
      const hr = obs.find((o) => o.code === LOINC.pulse && o.effectiveAt === sbp.effectiveAt);
      out.sbp = Math.round(sbp.value); out.readingIds.push(sbp.id); out.readingAt = sbp.effectiveAt;
      if (sbp.deviceId) out.readingDevice = this.deviceName(sbp.deviceId);
      if (dbp) { out.dbp = Math.round(dbp.value); out.readingIds.push(dbp.id); }
      if (hr) { out.heartRate = Math.round(hr.value); out.readingIds.push(hr.id); }
    }
    const glu = obs.find((o) => o.code === LOINC.glucose);
    const labs = this.byResident('lab_result', residentId).filter((l) => l.status !== 'preliminary' && !l.implausible && /^-?\d+(\.\d+)?$/.test(l.value.trim()))
      .sort((a, b) => (a.resultedAt < b.resultedAt ? 1 : -1));
    const lab = (code: string) => labs.find((l) => l.testCode === code);
    const serumGlu = lab('14749-6');
    if (glu && (!serumGlu || glu.effectiveAt >= serumGlu.resultedAt)) { out.fbg = glu.value; out.readingIds.push(glu.id); out.glucoseAt = glu.effectiveAt; out.glucoseSource = '血糖仪'; }
    else if (serumGlu) { out.fbg = Number(serumGlu.value); out.glucoseAt = serumGlu.resultedAt; out.glucoseSource = '检验科'; }
    const tc = lab('14647-2'); const hdl = lab('14646-4');
    if (tc) { out.tc = Number(tc.value); out.lipidsAt = tc.resultedAt; }
    if (hdl) out.hdl = Number(hdl.value);
    const w = obs.find((o) => o.code === LOINC.weight); if (w) out.weightKg = w.value;
    const h = obs.find((o) => o.code === LOINC.height); if (h) out.heightCm = h.value;
    const enc = this.byResident('encounter', residentId).filter((x) => x.status !== 'cancelled').sort((a, b) => (a.registeredAt < b.registeredAt ? 1 : -1))[0];
    if (enc) out.encounter = { encounterId: enc.encounterId, registeredAt: enc.registeredAt, diagnoses: enc.diagnoses.map((d) => `${d.name}（${d.code}）`).join('，'), ...(enc.chiefComplaint ? { chiefComplaint: enc.chiefComplaint } : {}) };
    return out;
  }

  deviceName(id: string): string {
    try { return this.db.prepare<[string], { name: string }>('SELECT name FROM devices WHERE id = ?').get(id)?.name ?? id; } catch { return id; }
  }

  /** Validate and decide a follow-up without saving (the form shows the decision live on submit). */
  checkFollowup(input: FollowupForm): { errors: FieldErrors; decision?: FollowupDecision; enrolment?: Enrolment } {
    const e: FieldErrors = {};
    const r = this.resident(input.residentId);
    if (!r) return { errors: { residentId: '居民不存在' } };
    const en = this.activeEnrolment(input.residentId, input.disease);
    if (!en) e.disease = `该居民未纳入${input.disease === 'HTN' ? '高血压' : '2型糖尿病'}管理，请先登记纳入管理`;
    if (!isIsoDate(input.date)) e.date = '随访日期格式应为 yyyy-MM-dd';
    else if (input.date > this.today()) e.date = `随访日期 ${input.date} 晚于今天（${this.today()}）`;
    else if (en && input.date < en.enrolledDate) e.date = `随访日期 ${input.date} 早于纳入管理日期 ${en.enrolledDate}`;
    if (!['clinic', 'home', 'phone'].includes(input.mode)) e.mode = '请选择随访方式';
    Object.assign(e, checkVitals({ sbp: input.sbp, dbp: input.dbp, heartRate: input.heartRate, fbg: input.fbg, weightKg: input.weightKg, heightCm: input.heightCm, temperatureC: input.temperatureC }));
    if (input.disease === 'HTN' && input.sbp === undefined && !e.sbp) e.sbp = '高血压随访必须填写血压';
    if (input.disease === 'T2DM' && input.fbg === undefined && !e.fbg) e.fbg = '糖尿病随访必须填写空腹血糖';
    if (Object.keys(e).length) return { errors: e, ...(en ? { enrolment: en } : {}) };
    try {
      const prev = this.followups(input.residentId, input.disease).map((f) => ({ date: f.date, control: f.control }));
      const decision = decideFollowup({ disease: input.disease, date: input.date, age: ageOn(r.birthDate, input.date), sbp: input.sbp, dbp: input.dbp, fbg: input.fbg, heartRate: input.heartRate, temperatureC: input.temperatureC, symptoms: input.symptoms, pregnantOrLactating: input.pregnant, adverseReaction: !!input.adverseDrugReaction, newComplication: input.newComplication }, prev);
      return { errors: {}, decision, enrolment: en! };
    } catch (err) {
      if (err instanceof FollowupRuleError) return { errors: { [err.field]: err.message } };
      throw err;
    }
  }

  /**
   * Save a follow-up: the follow-up, the referral it triggers (with its 2-week follow-up due)
   * and the closing of open referrals this visit follows up, in one transaction.
   */
  recordFollowup(input: FollowupForm, actor: Actor): { followup: Followup; decision: FollowupDecision; referral?: Referral } {
    const { errors, decision, enrolment } = this.checkFollowup(input);
    if (Object.keys(errors).length || !decision || !enrolment) fail(errors);
    const id = uuidv7();
    const f: Followup = {
      followupId: id, residentId: input.residentId, enrolmentId: enrolment!.enrolmentId, disease: input.disease, date: input.date, mode: input.mode as 'clinic',
      symptoms: input.symptoms,
      ...(input.sbp !== undefined ? { sbp: input.sbp, dbp: input.dbp! } : {}), ...(input.heartRate !== undefined ? { heartRate: input.heartRate } : {}),
      ...(input.weightKg !== undefined ? { weightKg: input.weightKg } : {}), ...(input.heightCm !== undefined ? { heightCm: input.heightCm } : {}),
      ...(input.weightKg !== undefined && input.heightCm !== undefined ? { bmi: Math.round((input.weightKg / (input.heightCm / 100) ** 2) * 10) / 10 } : {}),
      ...(input.fbg !== undefined ? { fastingGlucose: input.fbg } : {}), ...(input.footPulse ? { footPulse: input.footPulse } : {}),
      ...(input.smokingPerDay !== undefined ? { smokingPerDay: input.smokingPerDay } : {}), ...(input.drinkingPerDay !== undefined ? { drinkingPerDay: input.drinkingPerDay } : {}),
      ...(input.exerciseTimesPerWeek !== undefined ? { exerciseTimesPerWeek: input.exerciseTimesPerWeek } : {}), ...(input.saltIntake ? { saltIntake: input.saltIntake } : {}),
      ...(input.medicationAdherence ? { medicationAdherence: input.medicationAdherence } : {}), ...(input.adverseDrugReaction ? { adverseDrugReaction: input.adverseDrugReaction } : {}),
      medications: input.medications, sourceReadingIds: input.sourceReadingIds, ...(input.sourceEncounterId ? { sourceEncounterId: input.sourceEncounterId } : {}),
      ...(decision!.bpClass ? { bpClass: decision!.bpClass } : {}), ...(decision!.glucoseClass ? { glucoseClass: decision!.glucoseClass } : {}),
      control: decision!.control, urgentReferral: decision!.urgentReferral, urgentReasons: decision!.urgentReasons,
      nextDueDate: decision!.nextDueDate, doctorCode: actor.username, ...(enrolment!.teamId ? { teamId: enrolment!.teamId } : {}), ...(input.note ? { note: input.note } : {}),
    };
    let referral: Referral | undefined;
    if (decision!.referralReason) {
      referral = {
        referralId: uuidv7(), residentId: input.residentId, direction: 'up', date: input.date, urgent: decision!.urgentReferral, fromOrg: this.clinicName || this.clinicId,
        toOrg: input.referralTo?.trim() || '上级医院', reason: decision!.referralReason, followupId: id, status: 'issued', followupDueDate: addDays(input.date, 14),
        doctorCode: actor.username, ...(enrolment!.teamId ? { teamId: enrolment!.teamId } : {}),
      };
      f.referral = { reason: decision!.referralReason, toOrg: referral.toOrg, referralId: referral.referralId };
    }
    // Open referrals of this resident issued before today's visit are followed up by it.
    const open = this.byResident('referral', input.residentId).filter((x) => (x.status === 'issued' || x.status === 'received') && x.followupDueDate && x.date < input.date);
    if (open[0]?.followupId) f.closesFollowupId = open[0].followupId;
    return this.write(actor, 'care.followup.create', `${input.residentId} ${input.disease} ${input.date}`, (tx) => {
      tx.emit('chronic_followup', id, f);
      if (referral) tx.emit('referral', referral.referralId, referral);
      for (const o of open) tx.emit('referral', o.referralId, { ...o, status: 'completed', followedUpDate: input.date, outcome: `${input.date} 随访：${f.sbp !== undefined ? `血压 ${f.sbp}/${f.dbp}` : ''}${f.fastingGlucose !== undefined ? ` 空腹血糖 ${f.fastingGlucose}` : ''}`.trim() });
      return { followup: f, decision: decision!, ...(referral ? { referral } : {}) };
    });
  }

  /** Due and overdue follow-ups (and urgent referrals awaiting their 2-week follow-up). */
  dueList(filter: { doctorCode?: string; teamId?: string; state?: string } = {}): DueRow[] {
    const rows: DueRow[] = [];
    const today = this.today();
    for (const en of this.list('chronic_enrolment').filter((e) => e.status === 'active')) {
      const r = this.resident(en.residentId); if (!r) continue;
      const last = this.followups(en.residentId, en.disease)[0];
      const controlledAtEnrolment = en.disease === 'HTN' ? (en.sbp === undefined || bpControlled(en.sbp, en.dbp ?? 0, ageOn(r.birthDate, en.enrolledDate))) : (en.fastingGlucose === undefined || fbgControlled(en.fastingGlucose));
      const due = last ? last.nextDueDate : firstDueAfterEnrolment(en.enrolledDate, controlledAtEnrolment);
      rows.push({ kind: 'followup', residentId: en.residentId, name: r.name, age: this.age(r), disease: en.disease, dueDate: due, state: dueState(due, today), ...(last ? { lastDate: last.date, lastControl: last.control } : {}), doctorCode: last?.doctorCode ?? en.doctorCode, ...(en.teamId ? { teamId: en.teamId } : {}) });
    }
    for (const ref of this.list('referral').filter((x) => x.urgent && (x.status === 'issued' || x.status === 'received') && x.followupDueDate)) {
      const r = this.resident(ref.residentId); if (!r) continue;
      rows.push({ kind: 'referral', residentId: ref.residentId, name: r.name, age: this.age(r), disease: '紧急转诊', dueDate: ref.followupDueDate!, state: dueState(ref.followupDueDate!, today), lastDate: ref.date, doctorCode: ref.doctorCode, ...(ref.teamId ? { teamId: ref.teamId } : {}), note: ref.reason });
    }
    const APPT: Record<string, string> = { htn_followup: '预约：高血压随访', t2dm_followup: '预约：糖尿病随访', elderly_check: '预约：老年人体检', tcm: '预约：中医体质辨识', home_visit: '预约：上门服务', consultation: '预约：健康咨询', other: '预约' };
    for (const a of this.list('care_appointment').filter((x) => x.status === 'booked')) {
      const r = this.resident(a.residentId); if (!r) continue;
      rows.push({ kind: 'appointment', residentId: a.residentId, name: r.name, age: this.age(r), disease: APPT[a.kind] ?? '预约', dueDate: a.date, state: dueState(a.date, today), doctorCode: a.doctorCode, ...(a.teamId ? { teamId: a.teamId } : {}), ...(a.time || a.note ? { note: [a.time, a.note].filter(Boolean).join(' ') } : {}) });
    }
    return rows.filter((x) => (!filter.doctorCode || x.doctorCode === filter.doctorCode) && (!filter.teamId || x.teamId === filter.teamId) && (!filter.state || x.state === filter.state))
      .sort((a, b) => (a.dueDate < b.dueDate ? -1 : a.dueDate > b.dueDate ? 1 : a.name.localeCompare(b.name, 'zh')));
  }

  // ---------- elderly, TCM ----------
  recordElderlyCheck(input: { residentId: string; date: string; columns: Partial<Record<SelfCareItem, number>>; healthSelfRating?: string; cognitivePositive?: boolean; emotionalPositive?: boolean;
    sbp?: number; dbp?: number; heartRate?: number; temperatureC?: number; weightKg?: number; heightCm?: number; waistCm?: number; fbg?: number; itemsDone: string[]; conclusion?: string; guidance?: string }, actor: Actor): RecordPayload<'elderly_check'> {
    const e: FieldErrors = {};
    const r = this.resident(input.residentId);
    if (!r) fail({ residentId: '居民不存在' });
    if (!isIsoDate(input.date)) e.date = '日期格式应为 yyyy-MM-dd';
    else if (input.date > this.today()) e.date = `体检日期 ${input.date} 晚于今天`;
    else if (ageOn(r!.birthDate, input.date) < 65) e.residentId = `老年人健康管理对象为 65 岁及以上居民（该居民 ${ageOn(r!.birthDate, input.date)} 岁）`;
    const sc = scoreSelfCare(input.columns);
    if (!sc.ok) for (const k of sc.missing) e[`sc_${k}`] = `请选择「${SELF_CARE_ITEMS[k].zh.split('：')[0]}」的评估结果`;
    Object.assign(e, checkVitals({ sbp: input.sbp, dbp: input.dbp, heartRate: input.heartRate, temperatureC: input.temperatureC, weightKg: input.weightKg, heightCm: input.heightCm, waistCm: input.waistCm, fbg: input.fbg }));
    if (Object.keys(e).length || !sc.ok) fail(e);
    const ok = sc as Extract<typeof sc, { ok: true }>;
    const team = this.teamOf(actor.username);
    const rec: RecordPayload<'elderly_check'> = {
      checkId: uuidv7(), residentId: input.residentId, date: input.date, selfCare: ok.scores as RecordPayload<'elderly_check'>['selfCare'], selfCareScore: ok.total, selfCareLevel: ok.level,
      ...(input.healthSelfRating && ['1', '2', '3', '4', '5'].includes(input.healthSelfRating) ? { healthSelfRating: input.healthSelfRating as '1' } : {}),
      ...(input.cognitivePositive !== undefined ? { cognitiveScreenPositive: input.cognitivePositive } : {}), ...(input.emotionalPositive !== undefined ? { emotionalScreenPositive: input.emotionalPositive } : {}),
      ...(input.sbp !== undefined ? { sbp: input.sbp, dbp: input.dbp! } : {}), ...(input.heartRate !== undefined ? { heartRate: input.heartRate } : {}), ...(input.temperatureC !== undefined ? { temperatureC: input.temperatureC } : {}),
      ...(input.weightKg !== undefined ? { weightKg: input.weightKg } : {}), ...(input.heightCm !== undefined ? { heightCm: input.heightCm } : {}), ...(input.waistCm !== undefined ? { waistCm: input.waistCm } : {}),
      ...(input.fbg !== undefined ? { fastingGlucose: input.fbg } : {}),
      itemsDone: input.itemsDone.filter((x) => ['blood_routine', 'urine_routine', 'liver_function', 'renal_function', 'fasting_glucose', 'lipids', 'ecg', 'abdominal_us'].includes(x)) as RecordPayload<'elderly_check'>['itemsDone'],
      ...(input.conclusion ? { conclusion: input.conclusion } : {}), ...(input.guidance ? { guidance: input.guidance } : {}), doctorCode: actor.username, ...(team ? { teamId: team.teamId } : {}),
    };
    return this.write(actor, 'care.elderly.create', input.residentId, (tx) => { tx.emit('elderly_check', rec.checkId, rec); return rec; });
  }

  /** The national form's raw-sum table unless the clinic chose the transformed-score standard. */
  tcmMethod(): TcmMethod { return this.setting('tcmMethod') === 'transformed' ? 'transformed' : 'elderly-raw'; }

  recordTcm(input: { residentId: string; date: string; answers: (number | undefined)[] }, actor: Actor): RecordPayload<'tcm_assessment'> {
    const e: FieldErrors = {};
    const r = this.resident(input.residentId);
    if (!r) fail({ residentId: '居民不存在' });
    if (!isIsoDate(input.date)) e.date = '日期格式应为 yyyy-MM-dd';
    else if (input.date > this.today()) e.date = `评估日期 ${input.date} 晚于今天`;
    else if (ageOn(r!.birthDate, input.date) < 65) e.residentId = `老年人中医药健康管理对象为 65 岁及以上居民（该居民 ${ageOn(r!.birthDate, input.date)} 岁）`;
    for (const q of missingTcmAnswers(input.answers)) e[`q${q}`] = `第 ${q} 题未作答`;
    if (Object.keys(e).length) fail(e);
    const answers = input.answers as number[];
    const out = scoreTcm(answers, this.tcmMethod());
    const team = this.teamOf(actor.username);
    const guidance = [...out.constitutions, ...out.tendencies].map((t) => `${TCM_TYPE_ZH[t]}：${TCM_GUIDANCE_ZH[t]}`).join('\n') || '未判定明确体质，建议复评。';
    const rec: RecordPayload<'tcm_assessment'> = {
      assessmentId: uuidv7(), residentId: input.residentId, date: input.date, answers, rawScores: out.rawScores, results: out.results,
      constitutions: out.constitutions, tendencies: out.tendencies, guidance: guidance.slice(0, 1000), doctorCode: actor.username, ...(team ? { teamId: team.teamId } : {}),
    };
    return this.write(actor, 'care.tcm.create', input.residentId, (tx) => { tx.emit('tcm_assessment', rec.assessmentId, rec); return rec; });
  }

  // ---------- ASCVD ----------
  /** The administrator's table if one was pasted, else the published China-PAR table. */
  coefficients(): CoefficientSet | null {
    const v = this.setting('ascvdCoefficients');
    if (!v) return CHINA_PAR_2016;
    try { return parseCoefficientSet(v); } catch { return null; }
  }
  /** Back to the published China-PAR table shipped with the code. */
  usePublishedCoefficients(actor: Actor): void {
    this.db.prepare("DELETE FROM care_settings WHERE key = 'ascvdCoefficients'").run();
    this.audit(actor, 'care.setting', 'ascvdCoefficients (published default)', 'ok');
  }

  recordAscvd(input: Omit<AscvdInput, 'sex' | 'age'> & { residentId: string; date: string }, actor: Actor): RecordPayload<'ascvd_assessment'> {
    const r = this.resident(input.residentId);
    if (!r) return fail({ residentId: '居民不存在' });
    const c = this.coefficients();
    if (!c) fail({ _: '机构管理员粘贴的 China-PAR 系数表无法读取：请在「公卫设置」重新录入或恢复论文默认系数' });
    if (r.sex !== '1' && r.sex !== '2') fail({ residentId: '居民性别未知，无法选择方程' });
    const e: FieldErrors = {};
    if (!isIsoDate(input.date) || input.date > this.today()) e.date = '评估日期须为不晚于今天的有效日期';
    Object.assign(e, checkVitals({ sbp: input.sbp, dbp: input.sbp !== undefined && Number.isFinite(input.sbp) ? Math.min(input.sbp - 1, 80) : undefined, waistCm: input.waistCm }));
    const chk = (k: 'totalCholesterol' | 'hdlCholesterol', lo: number, hi: number, zh: string) => { const v = input[k]; if (v === undefined || !Number.isFinite(v)) e[k] = `请填写${zh}`; else if (v < lo || v > hi) e[k] = `${zh} ${v} mmol/L 超出可信范围（${lo}~${hi}）`; };
    chk('totalCholesterol', 1, 20, '总胆固醇'); chk('hdlCholesterol', 0.1, 5, '高密度脂蛋白胆固醇');
    if (input.sbp === undefined) e.sbp = '请填写收缩压';
    if (input.waistCm === undefined) e.waistCm = '请填写腰围';
    if (Object.keys(e).length) fail(e);
    const age = ageOn(r.birthDate, input.date);
    let res: ReturnType<typeof ascvdRisk>;
    try { res = ascvdRisk(c!, { ...input, sex: r.sex as '1', age }); } catch (err) { if (err instanceof AscvdInputError) return fail({ [err.field === 'age' ? 'residentId' : err.field]: err.message }); throw err; }
    const team = this.teamOf(actor.username);
    const rec: RecordPayload<'ascvd_assessment'> = {
      assessmentId: uuidv7(), residentId: input.residentId, date: input.date, model: 'china-par-2016', coefficientsVerified: res.verified, sex: r.sex as '1', age,
      sbp: input.sbp, onBpTreatment: input.onBpTreatment, totalCholesterol: input.totalCholesterol, hdlCholesterol: input.hdlCholesterol, waistCm: input.waistCm, smoker: input.smoker,
      diabetes: input.diabetes, region: input.region, area: input.area, familyHistory: input.familyHistory, risk10yPercent: res.riskPercent, band: res.band,
      doctorCode: actor.username, ...(team ? { teamId: team.teamId } : {}),
    };
    return this.write(actor, 'care.ascvd.create', input.residentId, (tx) => { tx.emit('ascvd_assessment', rec.assessmentId, rec); return rec; });
  }

  // ---------- contracts ----------
  contracts(filter: { status?: string; teamId?: string } = {}): Contract[] {
    return this.list('fd_contract').filter((c) => (!filter.status || c.status === filter.status) && (!filter.teamId || c.teamId === filter.teamId)).sort((a, b) => (a.signedDate < b.signedDate ? 1 : -1));
  }
  /** The contract in force today for a resident (signed or renewed, not terminated, within its dates). */
  activeContract(residentId: string, on = this.today()): Contract | undefined {
    return this.byResident('fd_contract', residentId).find((c) => c.status !== 'terminated' && c.startDate <= on && c.endDate >= on)
      ?? this.byResident('fd_contract', residentId).find((c) => c.status !== 'terminated' && c.startDate > on);
  }
  recommendPackages(residentId: string): Package[] {
    const tags = new Set(this.tagsOf(residentId));
    return this.packages().filter((p) => p.active && p.kind === 'personalised' && p.targetTags.some((t) => tags.has(t)));
  }

  signContract(input: { residentId: string; teamId: string; doctorCode: string; packageIds: string[]; signMethod: string; signerName: string; signerRelation: string; startDate: string; idCheck?: string; tags: string[]; previousContractId?: string }, actor: Actor): Contract {
    const e: FieldErrors = {};
    const r = this.resident(input.residentId);
    if (!r) e.residentId = '居民不存在';
    const team = this.get('fd_team', input.teamId);
    if (!team || !team.active) e.teamId = '请选择有效的家庭医生团队';
    else if (!team.members.some((m) => m.staffCode === input.doctorCode)) e.doctorCode = `签约医生须为「${team.name}」团队成员`;
    const pk = input.packageIds.map((id) => this.get('fd_package', id)).filter((p): p is Package => !!p && p.active);
    if (!pk.length) e.packageIds = '请至少选择一个服务包';
    else if (!pk.some((p) => p.kind === 'basic')) e.packageIds = '必须包含一个基础服务包';
    if (!['id_card', 'e_health_card', 'manual'].includes(input.signMethod)) e.signMethod = '请选择身份核验方式';
    else if (r && input.signMethod === 'id_card' && (input.idCheck ?? '').toUpperCase() !== r.idNumber.toUpperCase()) e.idCheck = '读卡/录入的身份证号与居民档案不一致';
    else if (input.signMethod === 'e_health_card' && !(input.idCheck ?? '').trim()) e.idCheck = '请扫描电子健康卡二维码';
    if (!input.signerName.trim()) e.signerName = '请填写签字人姓名';
    if (!isIsoDate(input.startDate)) e.startDate = '日期格式应为 yyyy-MM-dd';
    else if (!input.previousContractId && input.startDate < this.today()) e.startDate = '协议生效日期不能早于今天';
    if (r && !e.residentId) {
      const cur = this.activeContract(r.residentId, input.startDate);
      if (cur && cur.contractId !== input.previousContractId) e.residentId = `该居民已与「${this.teamName(cur.teamId)}」签约（协议 ${cur.contractId.slice(0, 8)}，有效期 ${cur.startDate} 至 ${cur.endDate}），不能重复签约；如需更换团队请先解约`;
    }
    if (Object.keys(e).length) fail(e);
    const tags = [...new Set([...this.tagsOf(input.residentId), ...input.tags])].filter((t) => t in KEY_TAG_ZH) as Contract['keyPopulationTags'];
    // Random (v4), not time-ordered: the UI and the printed agreement show its first characters as the contract reference.
    const c: Contract = {
      contractId: randomUUID(), residentId: input.residentId, teamId: input.teamId, doctorCode: input.doctorCode, packageIds: pk.map((p) => p.packageId),
      status: input.previousContractId ? 'renewed' : 'signed', signedDate: this.today(), startDate: input.startDate, endDate: addDays(addMonths(input.startDate, 12), -1),
      ...(input.previousContractId ? { previousContractId: input.previousContractId } : {}), keyPopulationTags: tags, signMethod: input.signMethod as 'id_card',
      signerName: input.signerName.trim(), signerRelation: (['self', 'spouse', 'child', 'parent', 'other'].includes(input.signerRelation) ? input.signerRelation : 'self') as 'self',
      feeFen: pk.reduce((s, p) => s + p.selfPayFen, 0),
    };
    return this.write(actor, input.previousContractId ? 'care.contract.renew' : 'care.contract.sign', `${input.residentId} ${c.contractId}`, (tx) => { tx.emit('fd_contract', c.contractId, c); return c; });
  }

  renewContract(contractId: string, actor: Actor): Contract {
    const cur = this.get('fd_contract', contractId);
    if (!cur || cur.status === 'terminated') return fail({ _: '原协议不存在或已解约，不能续约' });
    if (this.byResident('fd_contract', cur.residentId).some((c) => c.previousContractId === contractId)) fail({ _: '该协议已续约' });
    const r = this.resident(cur.residentId)!;
    return this.signContract({ residentId: cur.residentId, teamId: cur.teamId, doctorCode: cur.doctorCode, packageIds: cur.packageIds, signMethod: 'manual', signerName: cur.signerName, signerRelation: cur.signerRelation, startDate: addDays(cur.endDate, 1), tags: cur.keyPopulationTags, previousContractId: contractId, idCheck: r.idNumber }, actor);
  }

  terminateContract(contractId: string, reason: string, actor: Actor): Contract {
    const cur = this.get('fd_contract', contractId);
    const e: FieldErrors = {};
    if (!cur) e._ = '协议不存在';
    else if (cur.status === 'terminated') e._ = '协议已解约';
    if (!reason.trim()) e.terminationReason = '请填写解约原因';
    if (Object.keys(e).length) fail(e);
    const next: Contract = { ...cur!, status: 'terminated', terminatedDate: this.today(), terminationReason: reason.trim() };
    return this.write(actor, 'care.contract.terminate', contractId, (tx) => { tx.emit('fd_contract', contractId, next); return next; });
  }

  /** Agreed vs delivered services of a contract (fulfilment). */
  fulfilment(contractId: string): { packageId: string; code: string; name: string; agreed: number; delivered: number }[] {
    const c = this.get('fd_contract', contractId);
    if (!c) return [];
    const done = this.list('fd_service', "AND json_extract(payload, '$.contractId') = ?", contractId);
    return c.packageIds.flatMap((pid) => (this.get('fd_package', pid)?.services ?? []).map((sv) => ({ packageId: pid, code: sv.code, name: sv.name, agreed: sv.timesPerYear, delivered: done.filter((d) => d.packageId === pid && d.serviceCode === sv.code).length })));
  }

  recordService(input: { contractId: string; item: string; date: string; note?: string }, actor: Actor): RecordPayload<'fd_service'> {
    const c = this.get('fd_contract', input.contractId);
    const e: FieldErrors = {};
    if (!c) return fail({ _: '协议不存在' });
    if (c.status === 'terminated') e._ = '协议已解约，不能登记履约服务';
    const [pid, code] = input.item.split('|');
    const item = this.fulfilment(c.contractId).find((x) => x.packageId === pid && x.code === code);
    if (!item) e.item = '请选择协议服务包中的服务项目';
    if (!isIsoDate(input.date)) e.serviceDate = '日期格式应为 yyyy-MM-dd';
    else if (input.date > this.today()) e.serviceDate = '服务日期晚于今天';
    else if (input.date < c.startDate || input.date > c.endDate) e.serviceDate = `服务日期须在协议有效期内（${c.startDate} 至 ${c.endDate}）`;
    if (Object.keys(e).length) fail(e);
    const rec: RecordPayload<'fd_service'> = { serviceId: uuidv7(), contractId: c.contractId, residentId: c.residentId, packageId: pid!, serviceCode: code!, serviceName: item!.name, date: input.date, ...(input.note?.trim() ? { note: input.note.trim() } : {}), doctorCode: actor.username, teamId: c.teamId };
    return this.write(actor, 'care.contract.service', `${c.contractId} ${code}`, (tx) => { tx.emit('fd_service', rec.serviceId, rec); return rec; });
  }

  // ---------- plans, appointments, referrals, education ----------
  savePlan(input: { residentId: string; periodStart: string; periodEnd: string; problems: string[]; goals: string[]; interventions: string[] }, actor: Actor): RecordPayload<'care_plan'> {
    const e: FieldErrors = {};
    if (!this.resident(input.residentId)) e.residentId = '居民不存在';
    if (!isIsoDate(input.periodStart)) e.periodStart = '日期格式应为 yyyy-MM-dd';
    if (!isIsoDate(input.periodEnd)) e.periodEnd = '日期格式应为 yyyy-MM-dd';
    else if (!e.periodStart && input.periodEnd < input.periodStart) e.periodEnd = '结束日期早于开始日期';
    if (!input.goals.length) e.goals = '请至少填写一个健康目标';
    if (Object.keys(e).length) fail(e);
    const team = this.teamOf(actor.username);
    const p: RecordPayload<'care_plan'> = { planId: uuidv7(), residentId: input.residentId, createdDate: this.today(), periodStart: input.periodStart, periodEnd: input.periodEnd, problems: input.problems, goals: input.goals, interventions: input.interventions, status: 'active', doctorCode: actor.username, ...(team ? { teamId: team.teamId } : {}) };
    return this.write(actor, 'care.plan.create', input.residentId, (tx) => { tx.emit('care_plan', p.planId, p); return p; });
  }

  bookAppointment(input: { residentId: string; kind: string; date: string; time?: string; note?: string }, actor: Actor): RecordPayload<'care_appointment'> {
    const e: FieldErrors = {};
    if (!this.resident(input.residentId)) e.residentId = '居民不存在';
    if (!['htn_followup', 't2dm_followup', 'elderly_check', 'tcm', 'home_visit', 'consultation', 'other'].includes(input.kind)) e.kind = '请选择预约类型';
    if (!isIsoDate(input.date)) e.date = '日期格式应为 yyyy-MM-dd';
    else if (input.date < this.today()) e.date = '预约日期不能早于今天';
    if (input.time && !/^([01]\d|2[0-3]):[0-5]\d$/.test(input.time)) e.time = '时间格式应为 HH:mm';
    if (Object.keys(e).length) fail(e);
    const team = this.teamOf(actor.username);
    const a: RecordPayload<'care_appointment'> = { appointmentId: uuidv7(), residentId: input.residentId, kind: input.kind as 'other', date: input.date, ...(input.time ? { time: input.time } : {}), status: 'booked', ...(input.note ? { note: input.note } : {}), doctorCode: actor.username, ...(team ? { teamId: team.teamId } : {}) };
    return this.write(actor, 'care.appointment.book', input.residentId, (tx) => { tx.emit('care_appointment', a.appointmentId, a); return a; });
  }

  setAppointmentStatus(id: string, status: 'done' | 'missed' | 'cancelled', actor: Actor): void {
    const a = this.get('care_appointment', id);
    if (!a) fail({ _: '预约不存在' });
    this.write(actor, 'care.appointment.status', `${id} ${status}`, (tx) => { tx.emit('care_appointment', id, { ...a!, status }); });
  }

  createReferral(input: { residentId: string; direction: string; date: string; urgent: boolean; toOrg: string; toDepartment?: string; reason: string; diagnosisName?: string }, actor: Actor): Referral {
    const e: FieldErrors = {};
    if (!this.resident(input.residentId)) e.residentId = '居民不存在';
    if (input.direction !== 'up' && input.direction !== 'down') e.direction = '请选择上转或下转';
    if (!isIsoDate(input.date) || input.date > this.today()) e.date = '转诊日期须为不晚于今天的有效日期';
    if (!input.toOrg.trim()) e.toOrg = '请填写接收机构';
    if (!input.reason.trim()) e.reason = '请填写转诊原因';
    if (Object.keys(e).length) fail(e);
    const team = this.teamOf(actor.username);
    const up = input.direction === 'up';
    const ref: Referral = {
      referralId: uuidv7(), residentId: input.residentId, direction: input.direction as 'up', date: input.date, urgent: input.urgent,
      fromOrg: up ? this.clinicName || this.clinicId : input.toOrg.trim(), toOrg: up ? input.toOrg.trim() : this.clinicName || this.clinicId,
      ...(input.toDepartment ? { toDepartment: input.toDepartment } : {}), reason: input.reason.trim(), ...(input.diagnosisName ? { diagnosisName: input.diagnosisName } : {}),
      status: up ? 'issued' : 'received', followupDueDate: addDays(input.date, 14), doctorCode: actor.username, ...(team ? { teamId: team.teamId } : {}),
    };
    return this.write(actor, 'care.referral.create', input.residentId, (tx) => { tx.emit('referral', ref.referralId, ref); return ref; });
  }

  updateReferral(id: string, status: 'received' | 'completed' | 'cancelled', outcome: string, actor: Actor): Referral {
    const cur = this.get('referral', id);
    if (!cur) return fail({ _: '转诊记录不存在' });
    if (cur.status === 'completed' || cur.status === 'cancelled') fail({ _: '转诊已结束' });
    if (status === 'completed' && !outcome.trim()) fail({ outcome: '请填写随访结果' });
    const next: Referral = { ...cur, status, ...(status === 'completed' ? { followedUpDate: this.today() } : {}), ...(outcome.trim() ? { outcome: outcome.trim() } : {}) };
    return this.write(actor, 'care.referral.update', `${id} ${status}`, (tx) => { tx.emit('referral', id, next); return next; });
  }

  storeMaterial(file: { name: string; type: string; data: Buffer }, actor: Actor): { sha256: string; name: string; bytes: number; mime: string } {
    const sha256 = createHash('sha256').update(file.data).digest('hex');
    this.db.prepare('INSERT OR IGNORE INTO care_materials (sha256, name, mime, bytes, data, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?)').run(sha256, file.name, file.type || 'application/octet-stream', file.data.length, file.data, actor.username, new Date().toISOString());
    return { sha256, name: file.name.slice(0, 200), bytes: file.data.length, mime: (file.type || 'application/octet-stream').slice(0, 100) };
  }
  material(sha256: string): { name: string; mime: string; data: Buffer } | undefined {
    return this.db.prepare<[string], { name: string; mime: string; data: Buffer }>('SELECT name, mime, data FROM care_materials WHERE sha256 = ?').get(sha256);
  }

  recordEducation(input: { date: string; kind: string; topic: string; location?: string; organiser?: string; attendeeCount: number | undefined; copies?: number; summary?: string; files: { name: string; type: string; data: Buffer }[] }, actor: Actor): RecordPayload<'health_education'> {
    const e: FieldErrors = {};
    if (!isIsoDate(input.date) || input.date > this.today()) e.date = '活动日期须为不晚于今天的有效日期';
    if (!['print', 'video', 'board', 'consultation', 'lecture', 'individual'].includes(input.kind)) e.kind = '请选择活动形式';
    if (!input.topic.trim()) e.topic = '请填写活动主题';
    if (input.attendeeCount === undefined || !Number.isInteger(input.attendeeCount) || input.attendeeCount < 0) e.attendeeCount = '请填写参加人数（非负整数）';
    const big = input.files.find((f) => f.data.length > 20 * 1024 * 1024);
    if (big) e.files = `文件「${big.name}」超过 20 MB`;
    if (Object.keys(e).length) fail(e);
    const team = this.teamOf(actor.username);
    return this.write(actor, 'care.education.create', input.topic, (tx) => {
      const materials = input.files.filter((f) => f.data.length > 0).map((f) => this.storeMaterial(f, actor));
      const rec: RecordPayload<'health_education'> = {
        activityId: uuidv7(), date: input.date, kind: input.kind as 'lecture', topic: input.topic.trim(), ...(input.location ? { location: input.location } : {}), ...(input.organiser ? { organiser: input.organiser } : {}),
        attendeeCount: input.attendeeCount!, attendeeResidentIds: [], ...(input.copies !== undefined ? { copies: input.copies } : {}), materials, ...(input.summary ? { summary: input.summary } : {}), ...(team ? { teamId: team.teamId } : {}), recordedBy: actor.username,
      };
      tx.emit('health_education', rec.activityId, rec);
      return rec;
    });
  }

  // ---------- screening ----------
  screen(q: ScreeningQuery): ScreeningRow[] {
    const today = this.today();
    const qStart = quarterStart(today);
    const rows: ScreeningRow[] = [];
    const ids = this.db.prepare<[], { resident_id: string }>('SELECT resident_id FROM residents ORDER BY name').all().map((r) => r.resident_id);
    for (const id of ids) {
      const r = this.resident(id)!;
      const age = this.age(r);
      if (q.ageMin !== undefined && age < q.ageMin) continue;
      if (q.ageMax !== undefined && age > q.ageMax) continue;
      if (q.sex && r.sex !== q.sex) continue;
      const tags = this.tagsOf(id);
      if (q.tags.length && !q.tags.every((t) => tags.includes(t))) continue;
      const contract = this.activeContract(id);
      if (q.contracted === 'yes' && !contract) continue;
      if (q.contracted === 'no' && contract) continue;
      if (q.teamId && contract?.teamId !== q.teamId) continue;
      const fus = this.followups(id);
      const lastFu = fus[0]?.date;
      if (q.noFollowupThisQuarter && fus.some((f) => f.date >= qStart)) continue;
      const hr = this.healthRecordOf(id);
      if (q.hasRecord === 'yes' && hr?.status !== 'active') continue;
      if (q.hasRecord === 'no' && hr?.status === 'active') continue;
      rows.push({ residentId: id, name: r.name, sex: r.sex, age, phone: r.phone ?? '', tags, healthRecordNo: hr?.status === 'active' ? hr.healthRecordNo : '', team: contract ? this.teamName(contract.teamId) : '', lastFollowup: lastFu ?? '' });
    }
    return rows;
  }
}

export interface FollowupForm {
  residentId: string; disease: 'HTN' | 'T2DM'; date: string; mode: string; symptoms: string[];
  sbp?: number | undefined; dbp?: number | undefined; heartRate?: number | undefined; fbg?: number | undefined; weightKg?: number | undefined; heightCm?: number | undefined; temperatureC?: number | undefined;
  footPulse?: 'normal' | 'weak' | 'absent' | undefined; smokingPerDay?: number | undefined; drinkingPerDay?: number | undefined; exerciseTimesPerWeek?: number | undefined;
  saltIntake?: 'light' | 'moderate' | 'heavy' | undefined; medicationAdherence?: 'regular' | 'intermittent' | 'none' | undefined; adverseDrugReaction?: string | undefined;
  medications: { name: string; dose: string }[]; pregnant?: boolean | undefined; newComplication?: boolean | undefined; referralTo?: string | undefined;
  sourceReadingIds: string[]; sourceEncounterId?: string | undefined; note?: string | undefined;
}

export interface ScreeningQuery { tags: string[]; ageMin?: number | undefined; ageMax?: number | undefined; sex?: string | undefined; contracted?: string | undefined; teamId?: string | undefined; noFollowupThisQuarter?: boolean; hasRecord?: string | undefined }
export interface ScreeningRow { residentId: string; name: string; sex: string; age: number; phone: string; tags: string[]; healthRecordNo: string; team: string; lastFollowup: string }
