/**
 * Warehouse rows -> FHIR R4 resources. Payloads follow contracts/records.ts (WS 365 data
 * elements); the DE identifiers are noted where a field maps.
 */
import type { RecordPayload } from '../../contracts/index.ts';
import { CS, EXT, SID } from './systems.ts';
import type { RecordRow, ResidentRow } from './store.ts';

export interface Resource {
  resourceType: string;
  id?: string;
  [k: string]: unknown;
}

const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;
export const isFhirId = (s: string) => FHIR_ID.test(s);

/** GB/T 2261.1 -> administrative-gender (9 "unspecified" has no FHIR peer: unknown). */
const GENDER: Record<string, string> = { '0': 'unknown', '1': 'male', '2': 'female', '9': 'unknown' };
export const SEX_FOR_GENDER: Record<string, string[]> = { male: ['1'], female: ['2'], unknown: ['0', '9'], other: [] };

/** GB/T 2261.2 -> v3 MaritalStatus. */
function marital(code: string): { system: string; code: string } {
  if (code === '10') return { system: CS.v3Marital, code: 'S' };
  if (code.startsWith('2')) return { system: CS.v3Marital, code: 'M' };
  if (code === '30') return { system: CS.v3Marital, code: 'W' };
  if (code === '40') return { system: CS.v3Marital, code: 'D' };
  return { system: CS.v3NullFlavor, code: 'UNK' };
}

export function toPatient(r: ResidentRow): Resource {
  const p = r.payload as Partial<RecordPayload<'resident'>>;
  const identifier: { use?: string; system: string; value: string }[] = [{ use: 'usual', system: SID.residentId, value: r.residentId }];
  // DE02.01.031.00 ID document type + DE02.01.030.00 number
  if (p.idNumber) identifier.push({ use: 'official', system: (p.idType ?? '01') === '01' ? SID.idCard : `${SID.idDocument}/${p.idType}`, value: p.idNumber });
  if (p.insuranceCardNo) identifier.push({ system: SID.insuranceCard, value: p.insuranceCardNo });
  if (p.healthCardId) identifier.push({ system: SID.healthCard, value: p.healthCardId });
  if (r.person) identifier.push({ system: SID.empiPerson, value: r.person.personId });
  return strip({
    resourceType: 'Patient',
    id: r.residentId,
    // The HLC of the demographics held (last writer wins) is the version: it only grows.
    meta: { versionId: r.hlc, lastUpdated: r.updatedAt },
    identifier,
    extension: p.ethnicity ? [{ url: EXT.ethnicity, valueCoding: { system: CS.gbEthnicity, code: p.ethnicity } }] : undefined,
    name: p.name ? [{ use: 'official', text: p.name }] : undefined, // DE02.01.039.00
    gender: p.sex ? GENDER[p.sex] : undefined, // DE02.01.040.00
    birthDate: p.birthDate, // DE02.01.005.01
    telecom: p.phone ? [{ system: 'phone', value: p.phone }] : undefined,
    address: p.address ? [{ text: p.address }] : undefined,
    maritalStatus: p.maritalStatus ? { coding: [marital(p.maritalStatus), { system: CS.gbMarital, code: p.maritalStatus }] } : undefined, // DE02.01.018.00
    // The same person's records at other clinics (EMPI).
    link: r.person?.others.length ? r.person.others.map((o) => ({ other: { reference: `Patient/${o}` }, type: 'seealso' })) : undefined,
  });
}

const ENCOUNTER_STATUS: Record<string, string> = { registered: 'arrived', 'in-progress': 'in-progress', finished: 'finished', cancelled: 'cancelled' };
const ENCOUNTER_CLASS: Record<string, { code: string; display: string }> = {
  outpatient: { code: 'AMB', display: 'ambulatory' },
  emergency: { code: 'EMER', display: 'emergency' },
  home: { code: 'HH', display: 'home health' },
  followup: { code: 'AMB', display: 'ambulatory' },
};

const recordIdentifier = (r: RecordRow, type: string) => ({ system: `${SID.record}/${r.clinicId}/${type}`, value: r.recordId });
const clinicRef = (clinicId: string) => ({ identifier: { system: SID.clinic, value: clinicId }, display: clinicId });

export function toEncounter(r: RecordRow): Resource {
  const e = r.payload as RecordPayload<'encounter'>;
  return strip({
    resourceType: 'Encounter',
    id: r.recordId,
    meta: { versionId: String(r.version), lastUpdated: r.appliedAt },
    identifier: [recordIdentifier(r, 'encounter')],
    status: ENCOUNTER_STATUS[e.status] ?? 'unknown',
    class: { system: CS.v3ActCode, ...(ENCOUNTER_CLASS[e.class] ?? { code: 'AMB', display: 'ambulatory' }) },
    serviceType: { coding: [{ system: CS.departments, code: e.departmentCode }] },
    subject: { reference: `Patient/${e.residentId}` },
    participant: e.doctorCode ? [{ individual: { identifier: { system: SID.staff, value: e.doctorCode } } }] : undefined,
    period: { start: e.registeredAt },
    reasonCode: e.diagnoses?.length ? e.diagnoses.map((d) => ({ coding: [{ system: CS.icd10Cn, code: d.code, display: d.name }], text: d.primary ? `${d.name} (primary)` : d.name })) : undefined,
    serviceProvider: clinicRef(r.clinicId),
  });
}

const VITALS = new Set(['8480-6', '8462-4', '8867-4', '59408-5', '2708-6', '29463-7', '8302-2', '39156-5', '8310-5', '9279-1', '85354-9']);

export function toObservation(r: RecordRow): Resource {
  const o = r.payload as RecordPayload<'observation'>;
  const loinc = /^\d{1,7}-\d$/.test(o.code);
  return strip({
    resourceType: 'Observation',
    id: r.recordId,
    meta: { versionId: String(r.version), lastUpdated: r.appliedAt },
    identifier: [recordIdentifier(r, 'observation')],
    // Implausible device values stay preliminary until reviewed; they are never dropped.
    status: o.implausible ? 'preliminary' : 'final',
    category: loinc && VITALS.has(o.code) ? [{ coding: [{ system: CS.observationCategory, code: 'vital-signs', display: 'Vital Signs' }] }] : undefined,
    code: { coding: [{ system: loinc ? CS.loinc : CS.localObservation, code: o.code, display: o.display }], text: o.display },
    subject: o.residentId ? { reference: `Patient/${o.residentId}` } : undefined,
    effectiveDateTime: o.effectiveAt,
    // Only ASCII units can be UCUM codes; others (次/分) are carried as text.
    valueQuantity: { value: o.value, unit: o.unit, ...(/^[!-~]+$/.test(o.unit) ? { system: CS.ucum, code: o.unit } : {}) },
    interpretation: o.interpretation ? [{ coding: [{ system: CS.v3Interpretation, code: o.interpretation }] }] : undefined,
    device: o.deviceId ? { identifier: { system: `${SID.device}/${r.clinicId}`, value: o.deviceId } } : undefined,
    performer: [clinicRef(r.clinicId)],
  });
}

/** A lab result (检验结果) as a laboratory Observation. */
export function toLabObservation(r: RecordRow): Resource {
  const l = r.payload as RecordPayload<'lab_result'>;
  const loinc = /^\d{1,7}-\d$/.test(l.testCode);
  const numeric = /^-?\d+(\.\d+)?$/.test(l.value.trim());
  return strip({
    resourceType: 'Observation',
    id: r.recordId,
    meta: { versionId: String(r.version), lastUpdated: r.appliedAt },
    identifier: [recordIdentifier(r, 'lab_result')],
    // Implausible analyser values stay preliminary until reviewed.
    status: l.implausible && l.status === 'final' ? 'preliminary' : l.status,
    category: [{ coding: [{ system: CS.observationCategory, code: 'laboratory', display: 'Laboratory' }] }],
    code: { coding: [{ system: loinc ? CS.loinc : CS.localLab, code: l.testCode, display: l.testName }], text: l.testName },
    subject: l.residentId ? { reference: `Patient/${l.residentId}` } : undefined,
    effectiveDateTime: l.resultedAt,
    valueQuantity: numeric ? { value: Number(l.value), ...(l.unit ? { unit: l.unit } : {}), ...(l.unit && /^[!-~]+$/.test(l.unit) ? { system: CS.ucum, code: l.unit } : {}) } : undefined,
    valueString: numeric ? undefined : l.value,
    interpretation: l.flag ? [{ coding: [{ system: CS.v3Interpretation, code: l.flag }] }] : undefined,
    referenceRange: l.referenceRange ? [{ text: l.referenceRange }] : undefined,
    specimen: { identifier: { system: `${SID.specimen}/${r.clinicId}`, value: l.specimenId } },
    device: l.analyserId ? { identifier: { system: `${SID.device}/${r.clinicId}`, value: l.analyserId } } : undefined,
    performer: [clinicRef(r.clinicId)],
  });
}

/** An imaging study index entry (DICOM study at the clinic's SCP) as an ImagingStudy. */
export function toImagingStudy(r: RecordRow): Resource {
  const i = r.payload as RecordPayload<'imaging_study'>;
  const d = i.studyDate && /^\d{8}$/.test(i.studyDate) ? `${i.studyDate.slice(0, 4)}-${i.studyDate.slice(4, 6)}-${i.studyDate.slice(6, 8)}` : undefined;
  return strip({
    resourceType: 'ImagingStudy',
    id: r.recordId,
    meta: { versionId: String(r.version), lastUpdated: r.appliedAt },
    identifier: [
      { system: 'urn:dicom:uid', value: `urn:oid:${i.studyInstanceUid}` },
      ...(i.accessionNumber ? [{ type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'ACSN' }] }, system: `${SID.accession}/${r.clinicId}`, value: i.accessionNumber }] : []),
    ],
    status: 'available',
    modality: [{ system: CS.dicomDcm, code: i.modality }],
    // subject is 1..1: a study not yet matched to a resident says so instead of pointing nowhere.
    subject: i.residentId ? { reference: `Patient/${i.residentId}` } : { display: 'not yet matched to a resident' },
    started: d,
    numberOfSeries: i.seriesCount,
    numberOfInstances: i.instanceCount,
    description: i.description,
  });
}

/** Drop undefined members: FHIR JSON has no nulls and no empty elements. */
function strip(r: Resource): Resource {
  return Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)) as Resource;
}
