/**
 * FHIR R4 resources sent by third parties -> warehouse record payloads (the inverse of map.ts).
 *
 * Two levels of checking, with the statuses FHIR asks for:
 * - 400 `structure`/`invalid`: not JSON, not the resource type of the URL, or an element of the
 *   wrong FHIR shape (a zod schema per resource for the elements this server stores);
 * - 422 `business-rule`/`not-supported`/`required`: a valid FHIR resource the warehouse cannot hold
 *   as sent: an element it would not store (refused, never silently dropped), a missing element
 *   the data set requires (birth date, ID document, department, effective time), a code outside
 *   the accepted systems, an ID number failing the GB 11643 check.
 */
import { z } from 'zod';
import { recordTypes, type RecordPayload } from '../../contracts/index.ts';
import { OperationOutcomeError } from './outcome.ts';
import { CS, EXT, SID } from './systems.ts';

export type WritableType = 'Patient' | 'Encounter' | 'Observation';
export const WRITABLE: WritableType[] = ['Patient', 'Encounter', 'Observation'];
export const isWritable = (t: string): t is WritableType => (WRITABLE as string[]).includes(t);

export interface ParsedWrite {
  recordType: 'resident' | 'encounter' | 'observation' | 'lab_result';
  /** The record payload, validated against contracts/records.ts. */
  payload: Record<string, unknown>;
  /** Residents the resource refers to (must exist). */
  references: string[];
  /** Identifiers outside the national systems (the sender's own), for conditional create. */
  identifiers: { system: string; value: string }[];
}

const structure = (msg: string, expression?: string) => new OperationOutcomeError(400, 'structure', msg, expression);
const unprocessable = (code: 'business-rule' | 'not-supported' | 'required' | 'code-invalid', msg: string, expression?: string) => new OperationOutcomeError(422, code, msg, expression);

const fhirDateTime = z.string().regex(/^\d{4}(-\d{2}(-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/, 'not a FHIR dateTime');
const coding = z.object({ system: z.string().optional(), code: z.string().optional(), display: z.string().optional() }).passthrough();
const concept = z.object({ coding: z.array(coding).optional(), text: z.string().optional() }).passthrough();
const identifier = z.object({ use: z.string().optional(), system: z.string().optional(), value: z.string().optional() }).passthrough();
const reference = z.object({ reference: z.string().optional(), identifier: identifier.optional(), display: z.string().optional() }).passthrough();
const quantity = z.object({ value: z.number().optional(), unit: z.string().optional(), system: z.string().optional(), code: z.string().optional() }).passthrough();
const meta = z.object({}).passthrough();
const narrative = z.object({}).passthrough();
const extension = z.object({ url: z.string() }).passthrough();

const common = { resourceType: z.string(), id: z.string().optional(), meta: meta.optional(), text: narrative.optional(), identifier: z.array(identifier).optional() };

const patientSchema = z.object({
  ...common,
  active: z.boolean().optional(),
  extension: z.array(extension).optional(),
  name: z.array(z.object({ use: z.string().optional(), text: z.string().optional(), family: z.string().optional(), given: z.array(z.string()).optional() }).passthrough()).optional(),
  gender: z.enum(['male', 'female', 'other', 'unknown']).optional(),
  birthDate: z.string().regex(/^\d{4}(-\d{2}(-\d{2})?)?$/, 'not a FHIR date').optional(),
  telecom: z.array(z.object({ system: z.string().optional(), value: z.string().optional(), use: z.string().optional() }).passthrough()).optional(),
  address: z.array(z.object({ text: z.string().optional(), line: z.array(z.string()).optional(), city: z.string().optional(), district: z.string().optional(), state: z.string().optional() }).passthrough()).optional(),
  maritalStatus: concept.optional(),
}).strict();

const encounterSchema = z.object({
  ...common,
  status: z.enum(['planned', 'arrived', 'triaged', 'in-progress', 'onleave', 'finished', 'cancelled', 'entered-in-error', 'unknown']),
  class: coding,
  serviceType: concept.optional(),
  subject: reference.optional(),
  participant: z.array(z.object({ individual: reference.optional() }).passthrough()).optional(),
  period: z.object({ start: fhirDateTime.optional(), end: fhirDateTime.optional() }).passthrough().optional(),
  reasonCode: z.array(concept).optional(),
  serviceProvider: reference.optional(),
}).strict();

const observationSchema = z.object({
  ...common,
  status: z.enum(['registered', 'preliminary', 'final', 'amended', 'corrected', 'cancelled', 'entered-in-error', 'unknown']),
  category: z.array(concept).optional(),
  code: concept,
  subject: reference.optional(),
  effectiveDateTime: fhirDateTime.optional(),
  issued: z.string().optional(),
  valueQuantity: quantity.optional(),
  valueString: z.string().optional(),
  interpretation: z.array(concept).optional(),
  referenceRange: z.array(z.object({ text: z.string().optional(), low: quantity.optional(), high: quantity.optional() }).passthrough()).optional(),
  specimen: reference.optional(),
  device: reference.optional(),
  performer: z.array(reference).optional(),
}).strict();

const SCHEMAS = { Patient: patientSchema, Encounter: encounterSchema, Observation: observationSchema };

/** The first schema problem as an OperationOutcome: unknown elements are 422 (valid FHIR we do not store), shape errors 400. */
function check<T>(type: WritableType, body: unknown): T {
  const r = SCHEMAS[type].safeParse(body);
  if (r.success) return r.data as T;
  const issue = r.error.issues[0]!;
  const path = [type, ...issue.path.map(String)].join('.');
  if (issue.code === 'unrecognized_keys') {
    const keys = (issue as { keys: string[] }).keys;
    throw unprocessable('not-supported', `${keys.map((k) => `${type}.${k}`).join(', ')} cannot be stored by this server; remove ${keys.length > 1 ? 'them' : 'it'} (nothing is dropped silently)`, `${type}.${keys[0]}`);
  }
  throw structure(`${path}: ${issue.message}`, path);
}

const NATIONAL = new Set<string>([SID.idCard, SID.insuranceCard, SID.healthCard, SID.residentId]);
const isNational = (system: string) => NATIONAL.has(system) || system.startsWith(`${SID.idDocument}/`) || system.startsWith(`${SID.record}/`);

function ownIdentifiers(ids: z.infer<typeof identifier>[] | undefined, type: string): ParsedWrite['identifiers'] {
  const out: ParsedWrite['identifiers'] = [];
  for (const [i, id] of (ids ?? []).entries()) {
    if (!id.system || !id.value) throw unprocessable('required', `${type}.identifier[${i}] needs a system and a value`, `${type}.identifier[${i}]`);
    if (id.system.length > 200 || id.value.length > 100) throw structure(`${type}.identifier[${i}] is too long`, `${type}.identifier[${i}]`);
    if (!isNational(id.system)) out.push({ system: id.system, value: id.value });
  }
  return out;
}

function patientRef(ref: z.infer<typeof reference> | undefined, type: string, el = 'subject'): string {
  const m = ref?.reference ? /^(?:.*\/)?Patient\/([A-Za-z0-9\-.]{1,64})$/.exec(ref.reference) : null;
  if (!m) throw unprocessable('required', `${type}.${el} must reference a Patient of this server (Patient/<id>)`, `${type}.${el}`);
  return m[1]!;
}

/** A dateTime with time and zone: the warehouse stores instants. */
function instant(v: string | undefined, path: string): string {
  if (!v) throw unprocessable('required', `${path} is required`, path);
  if (!/T\d{2}:\d{2}/.test(v) || !/(Z|[+-]\d{2}:\d{2})$/.test(v) || Number.isNaN(Date.parse(v))) throw unprocessable('business-rule', `${path} must be a date-time with a time and a zone (e.g. 2026-03-01T08:00:00+08:00)`, path);
  return v.replace(/T(\d{2}:\d{2})(Z|[+-]\d{2}:\d{2})$/, 'T$1:00$2');
}

function validate<T extends keyof typeof recordTypes>(t: T, type: string, payload: Record<string, unknown>): Record<string, unknown> {
  const r = recordTypes[t].safeParse(payload);
  if (r.success) return r.data as Record<string, unknown>;
  const issue = r.error.issues[0]!;
  const field = issue.path.map(String).join('.');
  const el: Record<string, string> = { idNumber: 'identifier', birthDate: 'birthDate', name: 'name', sex: 'gender', phone: 'telecom', address: 'address', departmentCode: 'serviceType', code: 'code', unit: 'valueQuantity.unit', value: 'value[x]', display: 'code.coding.display' };
  const path = `${type}.${el[issue.path[0] as string] ?? field}`;
  throw unprocessable('business-rule', `${path}: ${issue.message}`, path);
}

const GENDER_SEX: Record<string, string> = { male: '1', female: '2', unknown: '0', other: '9' };
const V3_MARITAL: Record<string, string> = { S: '10', M: '20', W: '30', D: '40' };

function toResident(p: z.infer<typeof patientSchema>, id: string): ParsedWrite {
  const ids = p.identifier ?? [];
  const own = ownIdentifiers(ids, 'Patient');
  const doc = ids.find((i) => i.system === SID.idCard) ?? ids.find((i) => i.system?.startsWith(`${SID.idDocument}/`));
  if (!doc?.value) throw unprocessable('required', `Patient.identifier: an ID document is required (system ${SID.idCard} for a resident ID card, or ${SID.idDocument}/<CV02.01.101 type>)`, 'Patient.identifier');
  const idType = doc.system === SID.idCard ? '01' : doc.system!.slice(SID.idDocument.length + 1);
  const n = p.name?.[0];
  const name = n?.text ?? (n ? `${n.family ?? ''}${(n.given ?? []).join('')}` : '');
  if (!name) throw unprocessable('required', 'Patient.name is required (text, or family and given)', 'Patient.name');
  if (!p.birthDate || p.birthDate.length !== 10) throw unprocessable('required', 'Patient.birthDate is required as a full date yyyy-MM-dd', 'Patient.birthDate');
  const marital = p.maritalStatus?.coding?.find((c) => c.system === CS.gbMarital)?.code ?? V3_MARITAL[p.maritalStatus?.coding?.find((c) => c.system === CS.v3Marital)?.code ?? ''];
  const eth = p.extension?.find((e) => e.url === EXT.ethnicity) as { valueCoding?: { code?: string } } | undefined;
  const addr = p.address?.[0];
  const payload: Record<string, unknown> = {
    residentId: id, name, sex: GENDER_SEX[p.gender ?? 'unknown'], birthDate: p.birthDate, idType, idNumber: doc.value,
    ethnicity: eth?.valueCoding?.code, maritalStatus: marital,
    phone: p.telecom?.find((t) => t.system === 'phone' || t.system === 'sms')?.value,
    address: addr ? (addr.text ?? [addr.state, addr.city, addr.district, ...(addr.line ?? [])].filter(Boolean).join('')) || undefined : undefined,
    insuranceCardNo: ids.find((i) => i.system === SID.insuranceCard)?.value,
    healthCardId: ids.find((i) => i.system === SID.healthCard)?.value,
  };
  return { recordType: 'resident', payload: validate('resident', 'Patient', payload), references: [], identifiers: own };
}

const ENC_STATUS: Record<string, RecordPayload<'encounter'>['status'] | undefined> = { planned: 'registered', arrived: 'registered', 'in-progress': 'in-progress', finished: 'finished', cancelled: 'cancelled' };
const ENC_CLASS: Record<string, RecordPayload<'encounter'>['class'] | undefined> = { AMB: 'outpatient', EMER: 'emergency', HH: 'home' };

function toEncounterRecord(e: z.infer<typeof encounterSchema>, id: string): ParsedWrite {
  const own = ownIdentifiers(e.identifier, 'Encounter');
  const status = ENC_STATUS[e.status];
  if (!status) throw unprocessable('code-invalid', `Encounter.status ${e.status} is not accepted (planned, arrived, in-progress, finished, cancelled)`, 'Encounter.status');
  const cls = e.class.system === CS.v3ActCode ? ENC_CLASS[e.class.code ?? ''] : undefined;
  if (!cls) throw unprocessable('code-invalid', `Encounter.class must be ${CS.v3ActCode} AMB, EMER or HH`, 'Encounter.class');
  const residentId = patientRef(e.subject, 'Encounter');
  const dept = e.serviceType?.coding?.find((c) => c.system === CS.departments)?.code;
  if (!dept) throw unprocessable('required', `Encounter.serviceType needs a department code (system ${CS.departments})`, 'Encounter.serviceType');
  const diagnoses = (e.reasonCode ?? []).map((rc, i) => {
    const c = rc.coding?.find((x) => x.system === CS.icd10Cn);
    if (!c?.code) throw unprocessable('code-invalid', `Encounter.reasonCode[${i}] needs an ICD-10 code (system ${CS.icd10Cn})`, `Encounter.reasonCode[${i}]`);
    return { code: c.code, name: c.display ?? rc.text ?? c.code, primary: i === 0 };
  });
  const payload = {
    encounterId: id, residentId, class: cls, status, departmentCode: dept,
    doctorCode: e.participant?.map((p) => p.individual?.identifier).find((x) => x?.system === SID.staff)?.value,
    registeredAt: instant(e.period?.start, 'Encounter.period.start'), diagnoses,
  };
  return { recordType: 'encounter', payload: validate('encounter', 'Encounter', payload), references: [residentId], identifiers: own };
}

const OBS_SYSTEMS = new Set<string>([CS.loinc, CS.localObservation, CS.localLab]);
const FLAGS = new Set(['N', 'L', 'H', 'LL', 'HH', 'A']);

function toObservationRecord(o: z.infer<typeof observationSchema>, id: string): ParsedWrite {
  const own = ownIdentifiers(o.identifier, 'Observation');
  const lab = (o.category ?? []).some((c) => c.coding?.some((x) => x.system === CS.observationCategory && x.code === 'laboratory'));
  const code = o.code.coding?.find((c) => c.system && OBS_SYSTEMS.has(c.system));
  if (!code?.code) throw unprocessable('code-invalid', `Observation.code needs a coding from ${[...OBS_SYSTEMS].join(', ')}`, 'Observation.code');
  const display = code.display ?? o.code.text ?? code.code;
  const residentId = patientRef(o.subject, 'Observation');
  const effectiveAt = instant(o.effectiveDateTime, 'Observation.effectiveDateTime');
  const flag = o.interpretation?.flatMap((c) => c.coding ?? []).find((c) => c.system === CS.v3Interpretation)?.code;
  if (flag !== undefined && !FLAGS.has(flag)) throw unprocessable('code-invalid', `Observation.interpretation ${flag} is not accepted (N, L, H, LL, HH${lab ? ', A' : ''})`, 'Observation.interpretation');
  const deviceId = o.device?.identifier?.value;
  if (lab) {
    const status = ({ preliminary: 'preliminary', final: 'final', amended: 'corrected', corrected: 'corrected' } as const)[o.status as 'final'];
    if (!status) throw unprocessable('code-invalid', `Observation.status ${o.status}: a laboratory result is preliminary, final, amended or corrected`, 'Observation.status');
    const specimenId = o.specimen?.identifier?.value;
    if (!specimenId) throw unprocessable('required', 'a laboratory Observation needs specimen.identifier (the specimen barcode)', 'Observation.specimen');
    if (o.valueQuantity?.value === undefined && o.valueString === undefined) throw unprocessable('required', 'Observation.value[x]: valueQuantity.value or valueString is required', 'Observation.value[x]');
    const r = o.referenceRange?.[0];
    const range = r ? (r.text ?? (r.low?.value !== undefined || r.high?.value !== undefined ? `${r.low?.value ?? ''}-${r.high?.value ?? ''}` : undefined)) : undefined;
    const payload = {
      resultId: id, residentId, specimenId, testCode: code.code, testName: display,
      value: o.valueQuantity?.value !== undefined ? String(o.valueQuantity.value) : o.valueString, unit: o.valueQuantity?.code ?? o.valueQuantity?.unit,
      referenceRange: range, flag, status, resultedAt: effectiveAt, analyserId: deviceId,
    };
    return { recordType: 'lab_result', payload: validate('lab_result', 'Observation', payload), references: [residentId], identifiers: own };
  }
  if (o.status !== 'final' && o.status !== 'amended' && o.status !== 'corrected') throw unprocessable('code-invalid', `Observation.status ${o.status}: a measurement is accepted as final, amended or corrected (laboratory results may be preliminary)`, 'Observation.status');
  if (o.valueQuantity?.value === undefined) throw unprocessable('required', 'Observation.valueQuantity.value is required for a measurement (send laboratory results with category laboratory)', 'Observation.valueQuantity');
  const unit = o.valueQuantity.code ?? o.valueQuantity.unit;
  if (!unit) throw unprocessable('required', 'Observation.valueQuantity needs a unit (UCUM code)', 'Observation.valueQuantity');
  if (flag === 'A') throw unprocessable('code-invalid', 'Observation.interpretation A is for laboratory results', 'Observation.interpretation');
  const payload = { observationId: id, residentId, code: code.code, display, value: o.valueQuantity.value, unit, effectiveAt, deviceId, interpretation: flag };
  return { recordType: 'observation', payload: validate('observation', 'Observation', payload), references: [residentId], identifiers: own };
}

/** Parse and check a resource sent to `type` (id: the one the record will have). */
export function parseWrite(type: WritableType, body: unknown, id: string): ParsedWrite {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw structure('the body must be a FHIR resource (a JSON object)');
  const rt = (body as { resourceType?: unknown }).resourceType;
  if (rt !== type) throw structure(`resourceType ${JSON.stringify(rt)} sent to /${type}`, 'resourceType');
  switch (type) {
    case 'Patient': return toResident(check(type, body), id);
    case 'Encounter': return toEncounterRecord(check(type, body), id);
    case 'Observation': return toObservationRecord(check(type, body), id);
  }
}

const conditionSchema = z.object({
  ...common,
  clinicalStatus: concept.optional(),
  verificationStatus: concept.optional(),
  category: z.array(concept).optional(),
  code: concept,
  subject: reference,
  encounter: reference,
  recordedDate: fhirDateTime.optional(),
}).strict();

/** A Condition is a diagnosis on an Encounter: where it goes and what it says. */
export interface ParsedCondition { encounterId: string; residentId: string; diagnosis: { code: string; name: string } }

export function parseCondition(body: unknown): ParsedCondition {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw structure('the body must be a FHIR resource (a JSON object)');
  const rt = (body as { resourceType?: unknown }).resourceType;
  if (rt !== 'Condition') throw structure(`resourceType ${JSON.stringify(rt)} sent to /Condition`, 'resourceType');
  const r = conditionSchema.safeParse(body);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    if (issue.code === 'unrecognized_keys') {
      const keys = (issue as { keys: string[] }).keys;
      throw unprocessable('not-supported', `${keys.map((k) => `Condition.${k}`).join(', ')} cannot be stored by this server; remove ${keys.length > 1 ? 'them' : 'it'}`, `Condition.${keys[0]}`);
    }
    const path = ['Condition', ...issue.path.map(String)].join('.');
    throw structure(`${path}: ${issue.message}`, path);
  }
  const c = r.data;
  const m = c.encounter.reference ? /^(?:.*\/)?Encounter\/([A-Za-z0-9\-.]{1,64})$/.exec(c.encounter.reference) : null;
  if (!m) throw unprocessable('required', 'Condition.encounter must reference an Encounter of this server (a Condition is a diagnosis of an encounter)', 'Condition.encounter');
  const coding = c.code.coding?.find((x) => x.system === CS.icd10Cn);
  if (!coding?.code || coding.code.length > 64) throw unprocessable('code-invalid', `Condition.code needs an ICD-10 code (system ${CS.icd10Cn})`, 'Condition.code');
  return { encounterId: m[1]!, residentId: patientRef(c.subject, 'Condition'), diagnosis: { code: coding.code, name: (coding.display ?? c.code.text ?? coding.code).slice(0, 200) } };
}
