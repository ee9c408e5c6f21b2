/**
 * Builds valid records (parsed by the contract schemas) and applies them to a warehouse through
 * its normal ingest path. Used by the hand-worked indicator tests, the portal tests, the demo
 * seed and the benchmark.
 */
import { createHash, randomUUID } from 'node:crypto';
import { formatHlc, makeResidentId, recordTypes, type RecordType } from '../../contracts/index.ts';
import type { IngestItem, Warehouse } from '../warehouse/types.ts';

export interface Rec { type: RecordType; recordId?: string; version?: number; payload: Record<string, unknown> }

/** Applies records of one clinic after its current watermark (validated by the contract schemas first). */
export async function ingestRecords(wh: Warehouse, clinicId: string, recs: Rec[], validate = true): Promise<void> {
  let seq = (await wh.watermark(clinicId)).appliedSeq;
  const items: IngestItem[] = recs.map((r, i) => {
    const payload = validate ? recordTypes[r.type].parse(r.payload) : r.payload;
    const recordId = r.recordId ?? idOf(r.type, payload as Record<string, unknown>);
    const envelope = { recordId, type: r.type, clinicId, seq: ++seq, version: r.version ?? 1, hlc: formatHlc({ ms: Date.now(), counter: i % 99999, node: clinicId }), schemaVersion: 1, createdAt: new Date().toISOString(), payload };
    const raw = JSON.stringify(envelope);
    return { kind: 'record', envelope, type: r.type, payload, hash: createHash('sha256').update(raw).digest('hex'), raw };
  });
  for (let i = 0; i < items.length; i += 5000) await wh.ingest(items.slice(i, i + 5000));
}

const ID_FIELDS = ['residentId', 'encounterId', 'observationId', 'resultId', 'orderId', 'registrationId', 'chargeId', 'prescriptionId', 'enrolmentId', 'followupId', 'checkId', 'assessmentId', 'contractId', 'teamId', 'healthRecordNo'];
function idOf(type: string, p: Record<string, unknown>): string {
  const first: Record<string, string> = { health_record: 'healthRecordNo', chronic_enrolment: 'enrolmentId', chronic_followup: 'followupId', elderly_check: 'checkId', tcm_assessment: 'assessmentId', fd_contract: 'contractId', fd_team: 'teamId', charge: 'chargeId', registration: 'registrationId', prescription: 'prescriptionId', encounter: 'encounterId' };
  const k = first[type] ?? ID_FIELDS.find((f) => typeof p[f] === 'string');
  return String((k && p[k]) ?? randomUUID());
}

let serial = 0;
const hrNo = () => `110101001001${String(++serial % 100000).padStart(5, '0')}`;

/** Record builders with realistic defaults; `over` replaces fields. */
export const build = {
  resident(residentId: string, name: string, birthDate: string, sex: '1' | '2' = '1', over: Record<string, unknown> = {}): Rec {
    const [y, m, d] = birthDate.split('-').map(Number) as [number, number, number];
    return { type: 'resident', payload: { residentId, name, sex, birthDate, idType: '01', idNumber: makeResidentId('110101', new Date(Date.UTC(y, m - 1, d)), (sex === '1' ? 1 : 2) + 2 * (Math.abs(hash(residentId)) % 400)), ...over } };
  },
  healthRecord(residentId: string, clinicId: string, createdDate: string, over: Record<string, unknown> = {}): Rec {
    return { type: 'health_record', payload: { healthRecordNo: hrNo(), residentId, status: 'active', clinicId, createdDate, createdBy: 'D0001', lastUpdatedDate: createdDate, ...over } };
  },
  enrol(residentId: string, disease: 'HTN' | 'T2DM', enrolledDate: string, over: Record<string, unknown> = {}): Rec {
    return { type: 'chronic_enrolment', payload: { enrolmentId: `en-${disease}-${residentId}`, residentId, disease, enrolledDate, doctorCode: 'D0001', status: 'active', ...over } };
  },
  followup(residentId: string, disease: 'HTN' | 'T2DM', date: string, v: { sbp?: number; dbp?: number; fbg?: number; controlled: boolean }, over: Record<string, unknown> = {}): Rec {
    return { type: 'chronic_followup', payload: { followupId: `fu-${disease}-${residentId}-${date}`, residentId, enrolmentId: `en-${disease}-${residentId}`, disease, date, mode: 'clinic', sbp: v.sbp, dbp: v.dbp, fastingGlucose: v.fbg, control: v.controlled ? 'controlled' : 'uncontrolled', urgentReferral: false, nextDueDate: date, doctorCode: 'D0001', ...over } };
  },
  elderlyCheck(residentId: string, date: string, over: Record<string, unknown> = {}): Rec {
    return { type: 'elderly_check', payload: { checkId: `ec-${residentId}-${date}`, residentId, date, selfCare: { eating: 0, grooming: 0, dressing: 0, toileting: 0, activity: 0 }, selfCareScore: 0, selfCareLevel: 'independent', doctorCode: 'D0001', ...over } };
  },
  tcm(residentId: string, date: string, over: Record<string, unknown> = {}): Rec {
    const types = ['balanced', 'qi_deficiency', 'yang_deficiency', 'yin_deficiency', 'phlegm_damp', 'damp_heat', 'blood_stasis', 'qi_stagnation', 'special'];
    return { type: 'tcm_assessment', payload: { assessmentId: `tcm-${residentId}-${date}`, residentId, date, answers: Array(33).fill(2), rawScores: Object.fromEntries(types.map((t) => [t, 10])), results: Object.fromEntries(types.map((t) => [t, 'no'])), constitutions: ['balanced'], doctorCode: 'D0001', ...over } };
  },
  contract(residentId: string, teamId: string, startDate: string, endDate: string, over: Record<string, unknown> = {}): Rec {
    return { type: 'fd_contract', payload: { contractId: `ct-${residentId}-${startDate}`, residentId, teamId, doctorCode: 'D0001', packageIds: ['basic'], status: 'signed', signedDate: startDate, startDate, endDate, signMethod: 'id_card', signerName: '本人', feeFen: 0, ...over } };
  },
  encounter(residentId: string, at: string, over: Record<string, unknown> = {}): Rec {
    return { type: 'encounter', payload: { encounterId: `enc-${residentId}-${at}-${++serial}`, residentId, class: 'outpatient', status: 'finished', departmentCode: 'GP', registeredAt: at, diagnoses: [], ...over } };
  },
  registration(residentId: string, visitDate: string, status: string, over: Record<string, unknown> = {}): Rec {
    return { type: 'registration', payload: { registrationId: `reg-${residentId}-${visitDate}-${++serial}`, residentId, departmentCode: 'GP', doctorUsername: 'doc1', slotId: 's1', visitDate, queueNo: 1, status, feeFen: 500, createdBy: 'reg1', updatedAt: `${visitDate}T08:00:00+08:00`, ...over } };
  },
  charge(residentId: string, createdAt: string, category: string, amountFen: number, over: Record<string, unknown> = {}): Rec {
    return { type: 'charge', payload: { chargeId: `ch-${++serial}`, residentId, sourceKind: 'prescription', itemCode: 'X1', itemName: '项目', category, quantity: 1, unit: '次', unitPriceFen: Math.abs(amountFen), amountFen, dispensable: false, status: 'paid', createdBy: 'cash1', createdAt, ...over } };
  },
  prescription(residentId: string, issuedAt: string, over: Record<string, unknown> = {}): Rec {
    return { type: 'prescription', payload: { prescriptionId: `rx-${++serial}`, encounterId: 'e1', residentId, prescriber: 'doc1', issuedAt, status: 'active', items: [{ lineNo: 1, drugCode: '86900000000001', drugName: '氨氯地平片', spec: '5mg*28', dose: 5, doseUnit: 'mg', frequency: 'qd', route: 'po', days: 28, quantity: 1, unit: '盒', volumeProcurement: true }], ...over } };
  },
};

function hash(s: string): number {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) | 0;
  return h;
}
