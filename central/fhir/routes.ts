/**
 * FHIR R4 read facade, mounted at `/fhir`: read and search for Patient (residents), Encounter
 * and Observation (records), a CapabilityStatement at `/fhir/metadata`, an OperationOutcome for
 * every error, bearer auth, and an audit entry for every access (granted or not).
 *
 *   app.route('/fhir', fhirApi({ store: fhirStoreFor(wh), token, audit: (e) => wh.audit(e) }));
 */
import { timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import type { AuditEntry } from '../warehouse/types.ts';
import { INCLUDES, SEARCH_PARAMS, capabilityStatement } from './capability.ts';
import { SEX_FOR_GENDER, isFhirId, toEncounter, toImagingStudy, toLabObservation, toObservation, toPatient, type Resource } from './map.ts';
import { OperationOutcomeError, badRequest, isOperationOutcomeError, notFound, notSupported, outcome } from './outcome.ts';
import type { FhirRecordType, FhirStore, IdentifierField, RecordQuery, RecordRow } from './store.ts';
import { CS, SID } from './systems.ts';
import { searchConditions } from './condition.ts';

export interface FhirDeps {
  store: FhirStore;
  token: string;
  /** Resolves once the entry is stored: personal data is only sent after its access is audited. */
  audit: (e: AuditEntry) => Promise<void>;
  /** Told when an audit entry could not be written (central logs it). */
  onAuditError?: (err: Error, e: AuditEntry) => void;
  version?: string;
}

type ResourceType = keyof typeof SEARCH_PARAMS;
const MAX_COUNT = 1000;
const OBSERVATION_SYSTEMS: string[] = [CS.loinc, CS.localObservation, CS.localLab];
const DEFAULT_COUNT = 50;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';

const isType = (t: string): t is ResourceType => Object.prototype.hasOwnProperty.call(SEARCH_PARAMS, t);
const send = (c: Context, body: unknown, status: 200 | 400 | 401 | 403 | 404 | 405 | 409 | 500 = 200) =>
  c.body(JSON.stringify(body), status, { 'content-type': FHIR_JSON });

export function fhirApi(deps: FhirDeps): Hono {
  const app = new Hono();
  const expected = Buffer.from(deps.token);
  // Failing closed: a granted access whose audit entry cannot be stored is answered 500
  // without the data. Entries for refused or failed requests are best effort.
  const audit = async (c: Context, action: string, target: string, result: string, actor = 'api-token') => {
    const e = { actor, action, target, sourceIp: ip(c), outcome: result };
    try {
      await deps.audit(e);
    } catch (err) {
      deps.onAuditError?.(err as Error, e);
      throw new OperationOutcomeError(500, 'exception', 'the access could not be audited; no data was sent');
    }
  };
  const auditQuietly = (c: Context, action: string, target: string, result: string, actor = 'api-token') => {
    audit(c, action, target, result, actor).catch(() => undefined);
  };

  app.onError((e, c) => {
    if (isOperationOutcomeError(e)) return send(c, e.outcome, e.status);
    return send(c, outcome('exception', 'internal error; the request was logged'), 500);
  });
  app.notFound((c) => send(c, outcome('not-found', `no route ${c.req.method} ${c.req.path}`), 404));

  // The CapabilityStatement is public, as FHIR clients read it before authenticating.
  app.get('/metadata', (c) => send(c, capabilityStatement(base(c), deps.version ?? '0.1.0')));

  app.use('*', async (c, next) => {
    const got = Buffer.from((c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, ''));
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      auditQuietly(c, `fhir ${c.req.method}`, c.req.path, 'denied', 'anonymous');
      c.header('WWW-Authenticate', 'Bearer');
      return send(c, outcome('login', 'send Authorization: Bearer <token>'), 401);
    }
    await next();
  });

  app.get('/:type/:id', async (c) => {
    const { type, id } = c.req.param();
    const target = `${type}/${id}`;
    let found: Resource;
    try {
      if (!isType(type)) throw new OperationOutcomeError(404, 'not-supported', `resource type ${type} is not served here (see /fhir/metadata)`);
      if (!isFhirId(id)) throw badRequest(`invalid id ${JSON.stringify(id.slice(0, 80))}`);
      found = await readOne(deps.store, type, id);
    } catch (e) {
      auditQuietly(c, 'fhir.read', target, isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
    await audit(c, 'fhir.read', target, 'ok');
    return send(c, found);
  });

  app.get('/:type', async (c) => {
    const type = c.req.param('type');
    const params = new URL(c.req.url).searchParams;
    const target = `${type}?${[...new Set(params.keys())].join(',')}`;
    let bundle: Resource;
    try {
      if (!isType(type)) throw new OperationOutcomeError(404, 'not-supported', `resource type ${type} is not served here (see /fhir/metadata)`);
      bundle = await search(deps.store, type, params, base(c));
    } catch (e) {
      auditQuietly(c, 'fhir.search', target, isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
    await audit(c, 'fhir.search', target, `ok:${(bundle.entry as unknown[]).length}`);
    return send(c, bundle);
  });

  app.all('*', (c) => send(c, outcome('not-supported', `${c.req.method} is not supported: this facade is read-only for now`), 405));
  return app;
}

/** Warehouse record types behind each FHIR type (device readings and lab results are both Observations). */
const TYPES: Record<Exclude<ResourceType, 'Patient' | 'Condition'>, FhirRecordType[]> = { Encounter: ['encounter'], Observation: ['observation', 'lab_result'], ImagingStudy: ['imaging_study'] };

function toResource(r: RecordRow): Resource {
  switch (r.type) {
    case 'encounter': return toEncounter(r);
    case 'lab_result': return toLabObservation(r);
    case 'imaging_study': return toImagingStudy(r);
    default: return toObservation(r);
  }
}

async function readOne(store: FhirStore, type: ResourceType, id: string): Promise<Resource> {
  if (type === 'Patient') {
    const r = (await store.residents({ id, count: 1, offset: 0 })).rows[0];
    if (!r) throw notFound(`Patient/${id} not found`);
    return toPatient(r);
  }
  if (type === 'Condition') {
    const c = (await searchConditions(store, { id, count: 1, offset: 0 })).rows[0];
    if (!c) throw notFound(`Condition/${id} not found`);
    return c;
  }
  const page = await store.records({ types: TYPES[type], id, count: 2, offset: 0 });
  if (page.total === 0) throw notFound(`${type}/${id} not found`);
  if (page.total > 1) throw new OperationOutcomeError(409, 'conflict', `${type}/${id} exists at several clinics: search by identifier (${SID.record}/<clinic>/...)`);
  return toResource(page.rows[0]!);
}

/** Parse and run a search; every parameter not in the CapabilityStatement is refused, not ignored. */
async function search(store: FhirStore, type: ResourceType, params: URLSearchParams, baseUrl: string): Promise<Resource> {
  const allowed = new Set(SEARCH_PARAMS[type].map((p) => p.name));
  const one: Record<string, string> = {};
  const dates: NonNullable<RecordQuery['date']> = [];
  const includes: string[] = [];
  for (const [k, v] of params) {
    if (k === '_include') {
      if (!INCLUDES[type]?.includes(v)) throw notSupported(`_include=${v} is not supported for ${type}`, '_include');
      includes.push(v);
      continue;
    }
    if (k === '_format' && /json$/.test(v)) continue;
    if (k !== '_count' && k !== '_offset' && !allowed.has(k)) throw notSupported(`unknown or unsupported search parameter ${JSON.stringify(k.slice(0, 60))} for ${type}`, k.slice(0, 60));
    if (k === 'date') {
      dates.push(...parseDate(v));
      continue;
    }
    if (k in one) throw notSupported(`parameter ${k} given more than once`, k);
    if (v.length > 200) throw badRequest(`parameter ${k} is too long`, k);
    one[k] = v;
  }
  const count = intParam(one._count, '_count', DEFAULT_COUNT, MAX_COUNT);
  const offset = intParam(one._offset, '_offset', 0, 1_000_000);
  if (one._id !== undefined && !isFhirId(one._id)) throw badRequest('invalid _id', '_id');

  let resources: Resource[];
  let total: number;
  let residentIds: string[] = [];
  if (type === 'Patient') {
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
    const page = await store.residents({ id: one._id, identifier, name: one.name, sex: gender ? SEX_FOR_GENDER[gender] : undefined, birthDate, count, offset });
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
      if (system && !(type === 'Condition' ? [CS.icd10Cn] : OBSERVATION_SYSTEMS).includes(system)) return bundle(baseUrl, type, params, [], [], 0, count, offset);
    }
    if (type === 'Condition') {
      const r = await searchConditions(store, { residentId, id: one._id, code, count, offset });
      ({ rows: resources, total, residentIds } = r);
    } else {
      const page = await store.records({ types: TYPES[type], id: one._id, residentId, code, date: dates.length ? dates : undefined, count, offset });
      resources = page.rows.map(toResource);
      total = page.total;
      residentIds = [...new Set(page.rows.map((r) => r.payload.residentId).filter((x): x is string => typeof x === 'string'))];
    }
  }
  const included = includes.length ? (await store.residentsByIds(residentIds)).map(toPatient) : [];
  return bundle(baseUrl, type, params, resources, included, total, count, offset);
}

/** identifier token -> warehouse field; null when the system is one we do not hold (no match). */
function parseIdentifier(token: string): { field: IdentifierField | null; value: string } | null {
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

function bundle(baseUrl: string, type: string, params: URLSearchParams, matches: Resource[], included: Resource[], total: number, count: number, offset: number): Resource {
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

/** The absolute base of this facade, e.g. http://127.0.0.1:8080/fhir. */
function base(c: Context): string {
  const u = new URL(c.req.url);
  const i = u.pathname.indexOf('/fhir');
  return `${u.origin}${i >= 0 ? u.pathname.slice(0, i + 5) : ''}`;
}

function ip(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}
