/**
 * Resources derived from records without a record of their own:
 *
 * - MedicationRequest: one per prescription line (R4 allows one medication per request); id
 *   `<prescription id>-l<line no>`, the prescription id is the groupIdentifier. Lines whose id
 *   would exceed 64 characters are not served.
 * - DiagnosticReport: the lab results of one order (orderId) or, without an order, of one
 *   specimen (specimenId), per clinic; id = that order or specimen id. Its results are the lab
 *   Observations (Observation/<result id>).
 *
 * Like Conditions, searches need a patient (or an _id) and are paged in memory.
 */
import type { RecordPayload } from '../../contracts/index.ts';
import { type Resource, isFhirId } from './map.ts';
import { OperationOutcomeError } from './outcome.ts';
import type { FhirStore, RadiologyReportRow, RecordQuery, RecordRow } from './store.ts';
import { CS, SID } from './systems.ts';

/** More records than this for one query is an analytics job, not a FHIR search. */
const MAX_ROWS = 5000;
const clinicRef = (clinicId: string) => ({ identifier: { system: SID.clinic, value: clinicId }, display: clinicId });

export interface DerivedQuery {
  residentId?: string;
  id?: string;
  code?: string;
  status?: string;
  date?: RecordQuery['date'];
  count: number;
  offset: number;
}
export interface DerivedPage { rows: Resource[]; total: number; residentIds: string[] }

export function parseMedicationRequestId(id: string): { prescriptionId: string; lineNo: number } | null {
  const m = /^(.+)-l(\d{1,2})$/.exec(id);
  return m ? { prescriptionId: m[1]!, lineNo: Number(m[2]) } : null;
}

export function toMedicationRequests(r: RecordRow): Resource[] {
  const p = r.payload as RecordPayload<'prescription'>;
  return p.items.map((it) => ({
    resourceType: 'MedicationRequest',
    id: `${r.recordId}-l${it.lineNo}`,
    meta: { versionId: String(r.version), lastUpdated: r.appliedAt },
    identifier: [{ system: `${SID.record}/${r.clinicId}/prescription`, value: `${r.recordId}/${it.lineNo}` }],
    groupIdentifier: { system: `${SID.record}/${r.clinicId}/prescription`, value: r.recordId },
    status: p.status === 'cancelled' ? 'cancelled' : 'active',
    intent: 'order',
    medicationCodeableConcept: { coding: [{ system: CS.cnDrug, code: it.drugCode, display: it.drugName }], text: it.spec ? `${it.drugName} ${it.spec}` : it.drugName },
    subject: { reference: `Patient/${p.residentId}` },
    encounter: { reference: `Encounter/${p.encounterId}` },
    authoredOn: p.issuedAt,
    requester: { identifier: { system: SID.staff, value: p.prescriber }, display: p.prescriber },
    dosageInstruction: [{
      sequence: it.group ?? it.lineNo,
      text: `${it.dose} ${it.doseUnit} ${it.route} ${it.frequency} × ${it.days} d`,
      timing: { code: { text: it.frequency } },
      route: { text: it.route },
      doseAndRate: [{ doseQuantity: { value: it.dose, unit: it.doseUnit } }],
    }],
    dispenseRequest: {
      quantity: { value: it.quantity, unit: it.unit },
      expectedSupplyDuration: { value: it.days, unit: 'd', system: CS.ucum, code: 'd' },
    },
  })).filter((m) => isFhirId(m.id));
}

const within = (at: string, date: DerivedQuery['date']) => (date ?? []).every((d) => {
  const a = Date.parse(at);
  const b = Date.parse(d.at);
  return d.op === '=' ? a === b : d.op === '<' ? a < b : d.op === '<=' ? a <= b : d.op === '>' ? a > b : a >= b;
});

function need(q: DerivedQuery, type: string): void {
  if (q.residentId === undefined && q.id === undefined) throw new OperationOutcomeError(400, 'too-costly', `${type} search needs patient, subject or _id`);
}
function load(page: { total: number; rows: RecordRow[] }): RecordRow[] {
  if (page.total > MAX_ROWS) throw new OperationOutcomeError(400, 'too-costly', `more than ${MAX_ROWS} records match: narrow the search`);
  return page.rows;
}
function pageOf(all: Resource[], q: DerivedQuery): DerivedPage {
  const residentIds = [...new Set(all.map((c) => (c.subject as { reference?: string } | undefined)?.reference?.slice('Patient/'.length)).filter((x): x is string => !!x))];
  return { rows: all.slice(q.offset, q.offset + q.count), total: all.length, residentIds };
}

export async function searchMedicationRequests(store: FhirStore, q: DerivedQuery): Promise<DerivedPage> {
  need(q, 'MedicationRequest');
  const parsed = q.id !== undefined ? parseMedicationRequestId(q.id) : undefined;
  if (parsed === null) return { rows: [], total: 0, residentIds: [] };
  const rows = load(await store.records({ types: ['prescription'], id: parsed?.prescriptionId, residentId: q.residentId, count: MAX_ROWS, offset: 0 }));
  const all = rows.flatMap(toMedicationRequests).filter((m) => (q.id === undefined || m.id === q.id)
    && (q.status === undefined || m.status === q.status)
    && (q.code === undefined || (m.medicationCodeableConcept as { coding: { code: string }[] }).coding[0]!.code === q.code)
    && within(m.authoredOn as string, q.date));
  return pageOf(all, q);
}

/** Lab results of one clinic grouped by order (or specimen) -> DiagnosticReports. */
export function toDiagnosticReports(rows: RecordRow[]): Resource[] {
  const groups = new Map<string, RecordRow[]>();
  for (const r of rows) {
    const l = r.payload as RecordPayload<'lab_result'>;
    const key = `${r.clinicId}\u0000${l.orderId || l.specimenId}`;
    groups.set(key, [...(groups.get(key) ?? []), r]);
  }
  const out: Resource[] = [];
  for (const [key, rs] of groups) {
    const [clinicId, id] = key.split('\u0000') as [string, string];
    if (!isFhirId(id)) continue;
    const ls = rs.map((r) => r.payload as RecordPayload<'lab_result'>);
    const first = ls[0]!;
    const times = ls.map((l) => l.resultedAt).sort((a, b) => Date.parse(a) - Date.parse(b));
    const status = ls.some((l) => l.status === 'preliminary' || l.implausible) ? 'partial' : ls.some((l) => l.status === 'corrected') ? 'corrected' : 'final';
    const specimens = [...new Set(ls.map((l) => l.specimenId))];
    const lastUpdated = rs.map((r) => r.appliedAt).sort().at(-1)!;
    out.push({
      resourceType: 'DiagnosticReport',
      id,
      meta: { lastUpdated },
      identifier: [{ system: `${SID.record}/${clinicId}/${first.orderId ? 'order' : 'specimen'}`, value: id }],
      ...(first.orderId ? { basedOn: [{ identifier: { system: `${SID.record}/${clinicId}/order`, value: first.orderId } }] } : {}),
      status,
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'LAB', display: 'Laboratory' }] }],
      code: { coding: [{ system: CS.loinc, code: '11502-2', display: 'Laboratory report' }], text: ls.map((l) => l.testName).join(', ').slice(0, 500) },
      ...(first.residentId ? { subject: { reference: `Patient/${first.residentId}` } } : {}),
      effectiveDateTime: times[0],
      performer: [clinicRef(clinicId)],
      specimen: specimens.map((s) => ({ identifier: { system: `${SID.specimen}/${clinicId}`, value: s } })),
      result: rs.map((r) => ({ reference: `Observation/${r.recordId}` })),
    });
  }
  return out;
}

/** LOINC 18748-4 Diagnostic imaging study: the code of every radiology report served here. */
export const RADIOLOGY_REPORT_CODE = '18748-4';

/**
 * A district radiologist's report (central's image index) on a clinic's imaging study, as a
 * DiagnosticReport: id = the ImagingStudy's id (its Study Instance UID), category RAD, the current
 * version's status, findings and impression as a plain-text presented form, the impression as the
 * conclusion, the study referenced as imagingStudy.
 */
export function toRadiologyReport(study: RecordRow, r: RadiologyReportRow): Resource {
  const i = study.payload as RecordPayload<'imaging_study'>;
  const d = i.studyDate && /^\d{8}$/.test(i.studyDate) ? `${i.studyDate.slice(0, 4)}-${i.studyDate.slice(4, 6)}-${i.studyDate.slice(6, 8)}` : undefined;
  const text = `检查所见：${r.findings}\n诊断意见：${r.impression}\n报告医师：${r.radiologist}`;
  return {
    resourceType: 'DiagnosticReport',
    id: study.recordId,
    meta: { versionId: String(r.version), lastUpdated: r.reportedAt },
    identifier: [{ system: 'urn:dicom:uid', value: `urn:oid:${i.studyInstanceUid}` }],
    status: r.status,
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0074', code: 'RAD', display: 'Radiology' }] }],
    code: { coding: [{ system: CS.loinc, code: RADIOLOGY_REPORT_CODE, display: 'Diagnostic imaging study' }], ...(i.description ? { text: i.description } : {}) },
    ...(i.residentId ? { subject: { reference: `Patient/${i.residentId}` } } : {}),
    ...(d ? { effectiveDateTime: d } : {}),
    issued: r.reportedAt,
    performer: [{ display: r.radiologist }],
    resultsInterpreter: [{ display: r.radiologist }],
    imagingStudy: [{ reference: `ImagingStudy/${study.recordId}` }],
    conclusion: r.impression,
    presentedForm: [{ contentType: 'text/plain; charset=utf-8', language: 'zh-CN', data: Buffer.from(text, 'utf8').toString('base64'), title: r.positive ? '影像诊断报告（阳性）' : '影像诊断报告' }],
  };
}

export async function searchDiagnosticReports(store: FhirStore, q: DerivedQuery): Promise<DerivedPage> {
  need(q, 'DiagnosticReport');
  const rows = load(await store.records({ types: ['lab_result'], group: q.id, residentId: q.residentId, count: MAX_ROWS, offset: 0 }));
  const lab = toDiagnosticReports(rows).filter((d) => (q.id === undefined || d.id === q.id)
    && (q.code === undefined || (d.result as { reference: string }[]).some((ref) => rows.find((r) => `Observation/${r.recordId}` === ref.reference && (r.payload as { testCode?: string }).testCode === q.code))));
  // Radiology: the patient's imaging studies (or the one of _id) with a report at central.
  const studies = store.radiologyReports && (q.code === undefined || q.code === RADIOLOGY_REPORT_CODE)
    ? load(await store.records({ types: ['imaging_study'], id: q.id, residentId: q.residentId, count: MAX_ROWS, offset: 0 })) : [];
  const reports = studies.length && store.radiologyReports ? await store.radiologyReports(studies.map((st) => (st.payload as RecordPayload<'imaging_study'>).studyInstanceUid)) : [];
  const byUid = new Map(reports.map((r) => [r.studyInstanceUid, r]));
  const rad = studies.flatMap((st) => {
    const r = byUid.get((st.payload as RecordPayload<'imaging_study'>).studyInstanceUid);
    return r ? [toRadiologyReport(st, r)] : [];
  });
  const when = (d: Resource) => (d.effectiveDateTime as string | undefined) ?? (d.issued as string);
  const all = [...lab, ...rad].filter((d) => (q.status === undefined || d.status === q.status) && within(when(d), q.date));
  return pageOf(all, q);
}
