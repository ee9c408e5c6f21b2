/**
 * Reads, vreads and searches of the FHIR facade as plain functions of a `FhirStore`: the routes run
 * them on the main thread or hand them to a reader thread (`readers.ts`), which answers the same
 * JSON text. No authentication, scopes, rate limits or audit here: the routes do those first.
 */
import { INCLUDES, NO_VREAD, SEARCH_PARAMS } from './capability.ts';
import { searchConditions } from './condition.ts';
import { searchDiagnosticReports, searchMedicationRequests, type DerivedPage, type DerivedQuery } from './derived.ts';
import { searchDirectory, type DirectoryType } from './directory.ts';
import { SEX_FOR_GENDER, isFhirId, toEncounter, toImagingStudy, toLabObservation, toObservation, toPatient, type Resource } from './map.ts';
import { OperationOutcomeError, badRequest, notFound, notSupported } from './outcome.ts';
import type { FhirRecordType, FhirStore, IdentifierField, RecordQuery, RecordRow } from './store.ts';
import { CS, SID } from './systems.ts';

export type ResourceType = keyof typeof SEARCH_PARAMS;
const MAX_COUNT = 1000;
const OBSERVATION_SYSTEMS: string[] = [CS.loinc, CS.localObservation, CS.localLab];
/** Code systems per type for `code=system|code`; a system not listed matches nothing. */
const CODE_SYSTEMS: Partial<Record<ResourceType, string[]>> = { Condition: [CS.icd10Cn], MedicationRequest: [CS.cnDrug] };
const DEFAULT_COUNT = 50;

export const isType = (t: string): t is ResourceType => Object.prototype.hasOwnProperty.call(SEARCH_PARAMS, t);

/** Warehouse record types behind each FHIR type (device readings and lab results are both Observations). */
export type DerivedType = 'Condition' | 'MedicationRequest' | 'DiagnosticReport';
const DERIVED: Record<DerivedType, (store: FhirStore, q: DerivedQuery) => Promise<DerivedPage>> = {
  Condition: searchConditions,
  MedicationRequest: searchMedicationRequests,
  DiagnosticReport: searchDiagnosticReports,
};
/** Types whose searches take `_sort=date|-date` (their clinical time). */
const SORTABLE = new Set(['Encounter', 'Observation']);
const DIRECTORY = new Set(['Organization', 'Practitioner', 'Device']);
export const isDirectory = (t: string): t is DirectoryType => DIRECTORY.has(t);
export const isDerived = (t: string): t is DerivedType => Object.prototype.hasOwnProperty.call(DERIVED, t);
export const TYPES: Record<Exclude<ResourceType, 'Patient' | DerivedType | DirectoryType>, FhirRecordType[]> = { Encounter: ['encounter'], Observation: ['observation', 'lab_result'], ImagingStudy: ['imaging_study'] };

export function toResource(r: RecordRow): Resource {
  switch (r.type) {
    case 'encounter': return toEncounter(r);
    case 'lab_result': return toLabObservation(r);
    case 'imaging_study': return toImagingStudy(r);
    default: return toObservation(r);
  }
}

export async function readOne(store: FhirStore, type: ResourceType, id: string): Promise<Resource> {
  if (type === 'Patient') {
    // count 2: a page shorter than asked for carries its total, so no count query (the id is the key: one row at most).
    const r = (await store.residents({ id, count: 2, offset: 0 })).rows[0];
    if (!r) throw notFound(`Patient/${id} not found`);
    return toPatient(r);
  }
  if (isDirectory(type)) {
    const c = (await searchDirectory(store, type, { id, count: 1, offset: 0 })).rows[0];
    if (!c) throw notFound(`${type}/${id} not found`);
    return c;
  }
  if (isDerived(type)) {
    const page = await DERIVED[type](store, { id, count: 2, offset: 0 });
    const c = page.rows[0];
    if (!c) throw notFound(`${type}/${id} not found`);
    if (page.total > 1) throw new OperationOutcomeError(409, 'conflict', `${type}/${id} exists at several clinics`);
    return c;
  }
  const page = await store.records({ types: TYPES[type], id, count: 2, offset: 0 });
  if (page.total === 0) throw notFound(`${type}/${id} not found`);
  if (page.total > 1) throw new OperationOutcomeError(409, 'conflict', `${type}/${id} exists at several clinics: search by identifier (${SID.record}/<clinic>/...)`);
  return toResource(page.rows[0]!);
}

/** Parse and run a search; every parameter not in the CapabilityStatement is refused, not ignored. */
export async function search(store: FhirStore, type: ResourceType, params: URLSearchParams, baseUrl: string): Promise<Resource> {
  const allowed = new Set(SEARCH_PARAMS[type].map((p) => p.name));
  const one: Record<string, string> = {};
  const dates: NonNullable<RecordQuery['date']> = [];
  const includes: string[] = [];
  for (const [k, v] of params) {
    if (k === '_include') {
      if (!INCLUDES[type]?.includes(v)) throw notSupported(`_include=${JSON.stringify(v.slice(0, 60))} is not supported for ${type}`, '_include');
      includes.push(v);
      continue;
    }
    if (k === '_format' && /json$/.test(v)) continue;
    // Control characters are never part of a name, code or id (a NUL would cut the SQL string short).
    if (/[\u0000-\u001f\u007f]/.test(v)) throw badRequest(`parameter ${JSON.stringify(k.slice(0, 60))} contains control characters`, k.slice(0, 60));
    if (k !== '_count' && k !== '_offset' && !(k === '_sort' && SORTABLE.has(type)) && !(k === 'name:contains' && type === 'Patient') && !allowed.has(k)) throw notSupported(`unknown or unsupported search parameter ${JSON.stringify(k.slice(0, 60))} for ${type}`, k.slice(0, 60).replace(/[\u0000-\u001f\u007f]/g, '?').trim() || undefined);
    if (k === 'date' || k === 'authoredon') {
      dates.push(...parseDate(v));
      continue;
    }
    if (k in one) throw notSupported(`parameter ${k} given more than once`, k);
    if (v.length > 200) throw badRequest(`parameter ${k} is too long`, k);
    one[k] = v;
  }
  const count = intParam(one._count, '_count', DEFAULT_COUNT, MAX_COUNT);
  let sort: RecordQuery['sort'];
  if (one._sort !== undefined) {
    if (one._sort !== 'date' && one._sort !== '-date') throw notSupported(`_sort=${JSON.stringify(one._sort.slice(0, 60))} is not supported: use date or -date`, '_sort');
    sort = one._sort;
  }
  const offset = intParam(one._offset, '_offset', 0, 1_000_000);
  if (one._id !== undefined && !isFhirId(one._id)) throw badRequest('invalid _id', '_id');

  let resources: Resource[];
  let total: number;
  let residentIds: string[] = [];
  if (isDirectory(type)) {
    const page = await searchDirectory(store, type, { id: one._id, identifier: one.identifier, name: one.name, count, offset });
    resources = page.rows;
    total = page.total;
  } else if (type === 'Patient') {
    const identifier = one.identifier !== undefined ? parseIdentifier(one.identifier) : undefined;
    if (identifier === null) return bundle(baseUrl, type, params, [], [], 0, count, offset);
    const gender = one.gender;
    if (gender !== undefined && !(gender in SEX_FOR_GENDER)) throw badRequest('gender must be male, female, other or unknown', 'gender');
    let birthDate: string | undefined;
    if (one.birthdate !== undefined) {
      const m = /^(?:eq)?(\d{4}-\d{2}-\d{2})$/.exec(one.birthdate);
      if (!m) throw notSupported('birthdate: only an exact date yyyy-MM-dd (optionally eq) is supported', 'birthdate');
      birthDate = m[1];
    }
    const page = await store.residents({ id: one._id, identifier, name: one.name, nameContains: one['name:contains'], sex: gender ? SEX_FOR_GENDER[gender] : undefined, birthDate, count, offset });
    resources = page.rows.map(toPatient);
    total = page.total;
  } else {
    const ref = one.patient ?? one.subject;
    if (one.patient !== undefined && one.subject !== undefined) throw notSupported('give patient or subject, not both', 'subject');
    let residentId: string | undefined;
    if (ref !== undefined) {
      const m = /^(?:Patient\/)?([A-Za-z0-9\-.]{1,64})$/.exec(ref);
      if (!m) throw badRequest('patient/subject must be Patient/<id> or <id>', one.patient !== undefined ? 'patient' : 'subject');
      residentId = m[1];
    }
    let code: string | undefined;
    if (one.code !== undefined) {
      const bar = one.code.indexOf('|');
      const system = bar >= 0 ? one.code.slice(0, bar) : '';
      code = bar >= 0 ? one.code.slice(bar + 1) : one.code;
      if (system && !(CODE_SYSTEMS[type] ?? OBSERVATION_SYSTEMS).includes(system)) return bundle(baseUrl, type, params, [], [], 0, count, offset);
    }
    if (isDerived(type)) {
      const r = await DERIVED[type](store, { residentId, id: one._id, code, status: one.status, date: dates.length ? dates : undefined, count, offset });
      ({ rows: resources, total, residentIds } = r);
    } else {
      const page = await store.records({ types: TYPES[type], id: one._id, residentId, code, date: dates.length ? dates : undefined, sort, count, offset });
      resources = page.rows.map(toResource);
      total = page.total;
      residentIds = [...new Set(page.rows.map((r) => r.payload.residentId).filter((x): x is string => typeof x === 'string'))];
    }
  }
  const included = includes.length ? (await store.residentsByIds(residentIds)).map(toPatient) : [];
  return bundle(baseUrl, type, params, resources, included, total, count, offset);
}

/** identifier token -> warehouse field; null when the system is one we do not hold (no match). */
export function parseIdentifier(token: string): { field: IdentifierField | null; value: string } | null {
  const bar = token.indexOf('|');
  if (bar < 0) return { field: null, value: token };
  const system = token.slice(0, bar);
  const value = token.slice(bar + 1);
  if (!value) throw badRequest('identifier needs a value (system|value)', 'identifier');
  if (!system) return { field: null, value };
  if (system === SID.residentId) return { field: 'residentId', value };
  if (system === SID.idCard || system.startsWith(`${SID.idDocument}/`)) return { field: 'idNumber', value };
  if (system === SID.insuranceCard) return { field: 'insuranceCardNo', value };
  if (system === SID.healthCard) return { field: 'healthCardId', value };
  if (system === SID.empiPerson) return { field: 'personId', value };
  return null;
}

/** Dates without a time are days in the district's zone (China Standard Time, no DST). */
const LOCAL_OFFSET = '+08:00';

/** `date=[eq|ge|gt|le|lt]<yyyy-MM-dd | dateTime with offset>` -> instant conditions. */
function parseDate(v: string): NonNullable<RecordQuery['date']> {
  const m = /^(eq|ge|gt|le|lt)?(\d{4}-\d{2}-\d{2})(T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,3})?)?(?:Z|[+-]\d{2}:\d{2}))?$/.exec(v);
  const day = m && !m[3] ? Date.parse(`${m[2]}T00:00:00${LOCAL_OFFSET}`) : NaN;
  const point = m?.[3] ? Date.parse(`${m[2]}${m[3]}`) : NaN;
  if (!m || (Number.isNaN(day) && Number.isNaN(point))) throw badRequest('date must be [eq|ge|gt|le|lt]yyyy-MM-dd or a dateTime with a zone', 'date');
  const prefix = m[1] ?? 'eq';
  const iso = (ms: number) => new Date(ms).toISOString();
  if (!Number.isNaN(point)) return [{ op: ({ eq: '=', ge: '>=', gt: '>', le: '<=', lt: '<' } as const)[prefix as 'eq'], at: iso(point) }];
  const start = iso(day);
  const end = iso(day + 86_400_000);
  switch (prefix) {
    case 'ge': return [{ op: '>=', at: start }];
    case 'gt': return [{ op: '>=', at: end }];
    case 'le': return [{ op: '<', at: end }];
    case 'lt': return [{ op: '<', at: start }];
    default: return [{ op: '>=', at: start }, { op: '<', at: end }];
  }
}

function intParam(v: string | undefined, name: string, dflt: number, max: number): number {
  if (v === undefined) return dflt;
  if (!/^\d{1,9}$/.test(v) || Number(v) > max) throw badRequest(`${name} must be an integer from 0 to ${max}`, name);
  return Number(v);
}

export function bundle(baseUrl: string, type: string, params: URLSearchParams, matches: Resource[], included: Resource[], total: number, count: number, offset: number): Resource {
  const link = (off: number) => {
    const p = new URLSearchParams(params);
    p.set('_count', String(count));
    p.set('_offset', String(off));
    return `${baseUrl}/${type}?${p.toString()}`;
  };
  const links = [{ relation: 'self', url: link(offset) }];
  if (offset + count < total) links.push({ relation: 'next', url: link(offset + count) });
  if (offset > 0) links.push({ relation: 'previous', url: link(Math.max(0, offset - count)) });
  const entry = (r: Resource, mode: 'match' | 'include') => ({ fullUrl: `${baseUrl}/${r.resourceType}/${r.id}`, resource: r, search: { mode } });
  return { resourceType: 'Bundle', type: 'searchset', total, link: links, entry: [...matches.map((r) => entry(r, 'match')), ...included.map((r) => entry(r, 'include'))] };
}


export function versionHeaders(r: Resource): Record<string, string> {
  const m = r.meta as { versionId?: string; lastUpdated?: string } | undefined;
  return { ...(m?.versionId ? { etag: `W/"${m.versionId}"` } : {}), ...(m?.lastUpdated ? { 'last-modified': new Date(m.lastUpdated).toUTCString() } : {}) };
}


/** A read-side request, as the routes hand it over (type and scope already checked). */
export type ReadRequest =
  | { op: 'read'; type: ResourceType; id: string }
  | { op: 'vread'; type: ResourceType; id: string; vid: string }
  | { op: 'search'; type: ResourceType; query: string; base: string };

/** The answer as sent: the resource or Bundle as JSON text, its version headers, and a search's entry count (for the audit). */
export interface ReadAnswer { body: string; headers: Record<string, string>; entries: number }

/** Run a read, vread or search; errors are OperationOutcomeErrors (or anything else: a 500). */
export async function answerRead(store: FhirStore, r: ReadRequest): Promise<ReadAnswer> {
  if (r.op === 'search') {
    const b = await search(store, r.type, new URLSearchParams(r.query), r.base);
    return { body: JSON.stringify(b), headers: {}, entries: (b.entry as unknown[]).length };
  }
  let found: Resource;
  if (r.op === 'read') {
    if (!isFhirId(r.id)) throw badRequest(`invalid id ${JSON.stringify(r.id.slice(0, 80))}`);
    found = await readOne(store, r.type, r.id);
  } else {
    const { type, id, vid } = r;
    if (!isFhirId(id) || !isFhirId(vid)) throw badRequest('invalid id or version id');
    if (NO_VREAD.has(type)) throw notFound(`${type} has no stored versions: read ${type}/${id} instead`);
    if (type === 'Patient' || isDerived(type) || isDirectory(type)) {
      found = await readOne(store, type, id);
      if ((found.meta as { versionId?: string } | undefined)?.versionId !== vid) throw notFound(`${type}/${id} version ${vid} is not the current one; only the current version of a ${type} is kept`);
    } else {
      if (!/^\d{1,9}$/.test(vid)) throw notFound(`${type}/${id} has no version ${vid}`);
      const page = await store.records({ types: TYPES[type], id, version: Number(vid), count: 2, offset: 0 });
      if (page.total === 0) throw notFound(`${type}/${id} has no version ${vid}`);
      if (page.total > 1) throw new OperationOutcomeError(409, 'conflict', `${type}/${id} exists at several clinics`);
      found = toResource(page.rows[0]!);
    }
  }
  return { body: JSON.stringify(found), headers: versionHeaders(found), entries: 1 };
}
