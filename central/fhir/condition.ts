/**
 * Conditions are the diagnoses recorded on encounters (encounter-diagnosis); they have no
 * record of their own, so ids are `<encounter id>-dx<n>` and searches start from encounters.
 */
import type { RecordPayload } from '../../contracts/index.ts';
import { type Resource, isFhirId } from './map.ts';
import { OperationOutcomeError } from './outcome.ts';
import type { FhirStore, RecordRow } from './store.ts';
import { CS } from './systems.ts';

/** More encounters than this for one query is an analytics job, not a FHIR search. */
const MAX_ENCOUNTERS = 5000;

export function parseConditionId(id: string): { encounterId: string; index: number } | null {
  const m = /^(.+)-dx(\d{1,2})$/.exec(id);
  return m ? { encounterId: m[1]!, index: Number(m[2]) } : null;
}

export function toConditions(r: RecordRow): Resource[] {
  const e = r.payload as RecordPayload<'encounter'>;
  return (e.diagnoses ?? []).map((d, i) => ({
    resourceType: 'Condition',
    id: `${r.recordId}-dx${i}`,
    meta: { versionId: String(r.version), lastUpdated: r.appliedAt },
    category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-category', code: 'encounter-diagnosis', display: 'Encounter Diagnosis' }] }],
    code: { coding: [{ system: CS.icd10Cn, code: d.code, display: d.name }], text: d.name },
    subject: { reference: `Patient/${e.residentId}` },
    encounter: { reference: `Encounter/${r.recordId}` },
    recordedDate: e.registeredAt,
    ...(d.primary ? { note: [{ text: 'primary diagnosis (主要诊断)' }] } : {}),
  })).filter((c) => isFhirId(c.id));
}

/** Conditions of a patient or one Condition id, optionally by ICD-10 code, paged in memory. */
export async function searchConditions(store: FhirStore, q: { residentId?: string; id?: string; code?: string; count: number; offset: number }): Promise<{ rows: Resource[]; total: number; residentIds: string[] }> {
  if (q.residentId === undefined && q.id === undefined) throw new OperationOutcomeError(400, 'too-costly', 'Condition search needs patient, subject or _id');
  const parsed = q.id !== undefined ? parseConditionId(q.id) : undefined;
  if (parsed === null) return { rows: [], total: 0, residentIds: [] };
  const page = await store.records({ types: ['encounter'], id: parsed?.encounterId, residentId: q.residentId, count: MAX_ENCOUNTERS, offset: 0 });
  if (page.total > MAX_ENCOUNTERS) throw new OperationOutcomeError(400, 'too-costly', `more than ${MAX_ENCOUNTERS} encounters match: narrow the search`);
  const all = page.rows.flatMap(toConditions).filter((c) => (q.id === undefined || c.id === q.id)
    && (q.code === undefined || (c.code as { coding: { code: string }[] }).coding[0]!.code === q.code));
  const residentIds = [...new Set(all.map((c) => (c.subject as { reference: string }).reference.slice('Patient/'.length)))];
  return { rows: all.slice(q.offset, q.offset + q.count), total: all.length, residentIds };
}
