/**
 * FHIR R4 facade, mounted at `/fhir`: read and search for Patient (residents), Encounter,
 * Condition, Observation and ImagingStudy (records), MedicationRequest and DiagnosticReport
 * (derived from prescriptions and lab results, see derived.ts), Organization, Practitioner and
 * Device (directory.ts); create and update for Patient, Encounter and Observation, create for
 * Condition and DiagnosticReport (report.ts) (they become warehouse records of the writing
 * client, see writer.ts); a
 * CapabilityStatement at `/fhir/metadata`; an OperationOutcome for every error; an audit entry for
 * every access, granted or not.
 *
 * Who may call: the static API token (everything), or an OAuth2 client-credentials token
 * (`POST /fhir/auth/token`, see oauth.ts) limited to its SMART system scopes and its rate.
 *
 *   app.route('/fhir', fhirApi({ store: fhirStoreFor(wh), token, audit: (e) => wh.audit(e), oauth, writer }));
 */
import { timingSafeEqual } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { recordTypes } from '../../contracts/index.ts';
import type { AuditEntry } from '../warehouse/types.ts';
import { INCLUDES, NO_VREAD, SEARCH_PARAMS, capabilityStatement } from './capability.ts';
import { SEX_FOR_GENDER, isFhirId, toEncounter, toImagingStudy, toLabObservation, toObservation, toPatient, type Resource } from './map.ts';
import { OAuthError, RateLimiter, permits, type Interaction, type OAuth } from './oauth.ts';
import { OperationOutcomeError, badRequest, isOperationOutcomeError, notFound, notSupported, outcome, type HttpStatus } from './outcome.ts';
import type { FhirRecordType, FhirStore, IdentifierField, RecordQuery, RecordRow } from './store.ts';
import { CS, SID } from './systems.ts';
import { searchConditions } from './condition.ts';
import { parseDiagnosticReport } from './report.ts';
import { searchDirectory, type DirectoryType } from './directory.ts';
import { searchDiagnosticReports, searchMedicationRequests, type DerivedPage, type DerivedQuery } from './derived.ts';
import { isWritable, parseCondition, parseWrite, type WritableType } from './write.ts';
import { FhirWriter, sourceOf } from './writer.ts';

export interface FhirDeps {
  store: FhirStore;
  token: string;
  /** Resolves once the entry is stored: personal data is only sent after its access is audited. */
  audit: (e: AuditEntry) => Promise<void>;
  /** Told when an audit entry could not be written (central logs it). */
  onAuditError?: (err: Error, e: AuditEntry) => void;
  version?: string;
  /** OAuth2 client credentials for third parties; without it only the static token is accepted. */
  oauth?: OAuth;
  /** FHIR create/update; without it writes are 405. */
  writer?: FhirWriter;
  /** Clock for rate limits (tests). */
  now?: () => number;
}

/** The authenticated caller: the static token may do everything; a client only what its scopes say. */
interface Caller { actor: string; clientId: string; scopes: string[] | 'all'; rate?: number }
type Env = { Variables: { caller: Caller } };

type ResourceType = keyof typeof SEARCH_PARAMS;
const MAX_COUNT = 1000;
const OBSERVATION_SYSTEMS: string[] = [CS.loinc, CS.localObservation, CS.localLab];
/** Code systems per type for `code=system|code`; a system not listed matches nothing. */
const CODE_SYSTEMS: Partial<Record<ResourceType, string[]>> = { Condition: [CS.icd10Cn], MedicationRequest: [CS.cnDrug] };
const DEFAULT_COUNT = 50;
const FHIR_JSON = 'application/fhir+json; charset=utf-8';
/** Largest resource accepted in a write. */
const MAX_BODY = 256 * 1024;

const isType = (t: string): t is ResourceType => Object.prototype.hasOwnProperty.call(SEARCH_PARAMS, t);
const send = (c: Context, body: unknown, status: HttpStatus | 200 | 201 = 200, headers: Record<string, string> = {}) =>
  c.body(JSON.stringify(body), status, { 'content-type': FHIR_JSON, ...headers });

export function fhirApi(deps: FhirDeps): Hono<Env> {
  const app = new Hono<Env>();
  const expected = Buffer.from(deps.token);
  const limiter = new RateLimiter(deps.now);
  const actorOf = (c: Context<Env>) => c.get('caller')?.actor ?? 'anonymous';
  // Failing closed: a granted access whose audit entry cannot be stored is answered 500
  // without the data. Entries for refused or failed requests are best effort.
  const audit = async (c: Context<Env>, action: string, target: string, result: string, actor = actorOf(c)) => {
    const e = { actor, action, target, sourceIp: ip(c), outcome: result };
    try {
      await deps.audit(e);
    } catch (err) {
      deps.onAuditError?.(err as Error, e);
      throw new OperationOutcomeError(500, 'exception', 'the access could not be audited; no data was sent');
    }
  };
  const auditQuietly = (c: Context<Env>, action: string, target: string, result: string, actor = actorOf(c)) => {
    audit(c, action, target, result, actor).catch(() => undefined);
  };
  /** 403 unless the caller's scopes allow `op` on `type` (the refusal is audited). */
  const allow = (c: Context<Env>, type: string, op: Interaction, action: string, target: string) => {
    const who = c.get('caller');
    if (who.scopes === 'all' || permits(who.scopes, type, op)) return;
    auditQuietly(c, action, target, 'denied:scope');
    const need = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' }[op];
    throw new OperationOutcomeError(403, 'forbidden', `the token's scopes (${who.scopes.join(' ')}) do not allow ${need} on ${type}: ask for system/${type}.${op === 'r' || op === 's' ? 'read' : 'write'}`);
  };

  app.onError((e, c) => {
    if (isOperationOutcomeError(e)) return send(c, e.outcome, e.status, e.status === 429 ? { 'retry-after': String((e as OperationOutcomeError & { retryAfter?: number }).retryAfter ?? 1) } : {});
    return send(c, outcome('exception', 'internal error; the request was logged'), 500);
  });
  app.notFound((c) => send(c, outcome('not-found', `no route ${c.req.method} ${c.req.path}`), 404));

  // The CapabilityStatement is public, as FHIR clients read it before authenticating.
  app.get('/metadata', (c) => send(c, capabilityStatement(base(c), deps.version ?? '0.1.0', { oauth: !!deps.oauth, writes: !!deps.writer })));

  if (deps.oauth) mountOAuth(app, deps.oauth, (c, action, target, result, actor) => auditQuietly(c, action, target, result, actor));

  app.use('*', async (c, next) => {
    const raw = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
    const got = Buffer.from(raw);
    if (got.length === expected.length && timingSafeEqual(got, expected)) {
      c.set('caller', { actor: 'api-token', clientId: 'api', scopes: 'all' });
      return next();
    }
    const v = deps.oauth && raw ? await deps.oauth.verify(raw) : { ok: false as const, reason: raw ? 'unknown token' : 'no token' };
    if (!v.ok) {
      auditQuietly(c, `fhir ${c.req.method}`, c.req.path, `denied:${v.reason}`, 'anonymous');
      c.header('WWW-Authenticate', raw ? `Bearer error="invalid_token", error_description="${v.reason}"` : 'Bearer');
      return send(c, outcome(v.reason === 'token expired' ? 'expired' : 'login', raw ? `${v.reason}: get a new token at ${base(c)}/auth/token` : 'send Authorization: Bearer <token>'), 401);
    }
    const caller: Caller = { actor: `client:${v.token.clientId}`, clientId: v.token.clientId, scopes: v.token.scopes, rate: v.token.rate };
    c.set('caller', caller);
    const wait = limiter.take(caller.clientId, v.token.rate);
    if (wait > 0) {
      auditQuietly(c, `fhir ${c.req.method}`, c.req.path, 'denied:rate');
      const e = new OperationOutcomeError(429, 'throttled', `more than ${v.token.rate} requests a minute from client ${caller.clientId}; retry in ${wait} s`) as OperationOutcomeError & { retryAfter?: number };
      e.retryAfter = wait;
      throw e;
    }
    return next();
  });

  app.get('/:type/:id', async (c) => {
    const { type, id } = c.req.param();
    const target = `${type}/${id}`;
    let found: Resource;
    try {
      if (!isType(type)) throw new OperationOutcomeError(404, 'not-supported', `resource type ${type} is not served here (see /fhir/metadata)`);
      allow(c, type, 'r', 'fhir.read', target);
      if (!isFhirId(id)) throw badRequest(`invalid id ${JSON.stringify(id.slice(0, 80))}`);
      found = await readOne(deps.store, type, id);
    } catch (e) {
      if (!(isOperationOutcomeError(e) && e.status === 403)) auditQuietly(c, 'fhir.read', target, isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
    await audit(c, 'fhir.read', target, 'ok');
    return send(c, found, 200, versionHeaders(found));
  });

  // vread: any stored version of a record; for a Patient only the current one (demographics are LWW, not versioned).
  app.get('/:type/:id/_history/:vid', async (c) => {
    const { type, id, vid } = c.req.param();
    const target = `${type}/${id}/_history/${vid}`;
    let found: Resource;
    try {
      if (!isType(type)) throw new OperationOutcomeError(404, 'not-supported', `resource type ${type} is not served here (see /fhir/metadata)`);
      allow(c, type, 'r', 'fhir.vread', target);
      if (!isFhirId(id) || !isFhirId(vid)) throw badRequest('invalid id or version id');
      if (NO_VREAD.has(type)) throw notFound(`${type} has no stored versions: read ${type}/${id} instead`);
      if (type === 'Patient' || isDerived(type) || isDirectory(type)) {
        found = await readOne(deps.store, type, id);
        if ((found.meta as { versionId?: string } | undefined)?.versionId !== vid) throw notFound(`${type}/${id} version ${vid} is not the current one; only the current version of a ${type} is kept`);
      } else {
        if (!/^\d{1,9}$/.test(vid)) throw notFound(`${type}/${id} has no version ${vid}`);
        const page = await deps.store.records({ types: TYPES[type], id, version: Number(vid), count: 2, offset: 0 });
        if (page.total === 0) throw notFound(`${type}/${id} has no version ${vid}`);
        if (page.total > 1) throw new OperationOutcomeError(409, 'conflict', `${type}/${id} exists at several clinics`);
        found = toResource(page.rows[0]!);
      }
    } catch (e) {
      if (!(isOperationOutcomeError(e) && e.status === 403)) auditQuietly(c, 'fhir.vread', target, isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
    await audit(c, 'fhir.vread', target, 'ok');
    return send(c, found, 200, versionHeaders(found));
  });

  app.get('/:type', async (c) => {
    const type = c.req.param('type');
    const params = new URL(c.req.url).searchParams;
    const target = `${type}?${[...new Set(params.keys())].join(',')}`;
    let bundle: Resource;
    try {
      if (!isType(type)) throw new OperationOutcomeError(404, 'not-supported', `resource type ${type} is not served here (see /fhir/metadata)`);
      allow(c, type, 's', 'fhir.search', target);
      bundle = await search(deps.store, type, params, base(c));
    } catch (e) {
      if (!(isOperationOutcomeError(e) && e.status === 403)) auditQuietly(c, 'fhir.search', target, isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
    await audit(c, 'fhir.search', target, `ok:${(bundle.entry as unknown[]).length}`);
    return send(c, bundle);
  });

  const write = async (c: Context<Env>, type: string, pathId: string | undefined) => {
    const method = pathId === undefined ? 'create' : 'update';
    const action = `fhir.${method}`;
    const target = pathId === undefined ? type : `${type}/${pathId}`;
    const writer = deps.writer;
    if (!writer || !isWritable(type)) {
      auditQuietly(c, action, target, 'error:405');
      throw new OperationOutcomeError(405, 'not-supported', isType(type) || isWritable(type) ? `${c.req.method} ${type} is not supported: this server creates and updates ${['Patient', 'Encounter', 'Observation'].join(', ')}` : `resource type ${type} is not served here`);
    }
    allow(c, type, pathId === undefined ? 'c' : 'u', action, target);
    const caller = c.get('caller');
    const source = sourceOf(caller.clientId);
    try {
      if (pathId !== undefined && !isFhirId(pathId)) throw badRequest(`invalid id ${JSON.stringify(pathId.slice(0, 80))}`);
      const body = await readBody(c);
      if (pathId !== undefined && (body as { id?: unknown }).id !== pathId) throw badRequest(`the resource's id (${JSON.stringify((body as { id?: unknown }).id)}) must equal the id in the URL (${pathId})`, `${type}.id`);
      // Conditional create: an earlier resource with this identifier is answered, not duplicated.
      const ifNoneExist = pathId === undefined ? c.req.header('if-none-exist') : undefined;
      if (ifNoneExist !== undefined) {
        const existing = await conditionalMatch(deps.store, writer, source, type, ifNoneExist);
        if (existing.length > 1) throw new OperationOutcomeError(412, 'duplicate', `If-None-Exist matches ${existing.length} resources`);
        if (existing.length === 1) {
          const found = await readOne(deps.store, type, existing[0]!);
          await audit(c, action, `${type}/${existing[0]}`, 'ok:exists');
          return send(c, found, 200, { ...versionHeaders(found), location: `${base(c)}/${type}/${found.id}` });
        }
      }
      const id = pathId ?? FhirWriter.newId();
      const parsed = parseWrite(type, body, id);
      const ifMatch = c.req.header('if-match');
      // Audited before anything is written: no write without its audit entry.
      await audit(c, action, `${type}/${id}`, 'accepted');
      const r = await writer.write(source, type, id, parsed, {
        update: pathId !== undefined,
        // Records: checked against this source's latest version, under the source's write queue.
        // Patients: checked in the PUT route against the resident's versionId (its HLC).
        ifMatch: ifMatch === undefined || type === 'Patient' ? undefined : (owners) => {
          const cur = owners.find((o) => o.source === source)?.version;
          const want = /^(?:W\/)?"([^"]+)"$/.exec(ifMatch.trim())?.[1];
          if (!want || String(cur) !== want) throw new OperationOutcomeError(412, 'conflict', `If-Match ${ifMatch}: the current version is ${cur ?? 'none'}`);
        },
      });
      const found = await readOne(deps.store, type, r.id);
      auditQuietly(c, action, `${type}/${r.id}`, `ok:v${r.version}`);
      const prefer = c.req.header('prefer') ?? '';
      const headers = { ...versionHeaders(found), location: `${base(c)}/${type}/${r.id}/_history/${(found.meta as { versionId?: string } | undefined)?.versionId ?? r.version}` };
      if (/return=minimal/.test(prefer)) return c.body(null, r.created ? 201 : 200, headers);
      if (/return=OperationOutcome/.test(prefer)) return send(c, outcome('informational', `${type}/${r.id} ${r.created ? 'created' : 'updated'}`, undefined, 'information'), r.created ? 201 : 200, headers);
      return send(c, found, r.created ? 201 : 200, headers);
    } catch (e) {
      auditQuietly(c, action, target, isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
  };

  // A Condition is added as a diagnosis to an Encounter the same client wrote (a new Encounter version).
  app.post('/Condition', async (c) => {
    const writer = deps.writer;
    if (!writer) throw new OperationOutcomeError(405, 'not-supported', 'POST Condition is not supported here');
    allow(c, 'Condition', 'c', 'fhir.create', 'Condition');
    const source = sourceOf(c.get('caller').clientId);
    try {
      const cond = parseCondition(await readBody(c));
      const page = await deps.store.records({ types: ['encounter'], id: cond.encounterId, count: 10, offset: 0 });
      const enc = page.rows.find((r) => r.clinicId === source);
      if (!enc) throw new OperationOutcomeError(422, 'business-rule', page.total ? `Encounter/${cond.encounterId} belongs to ${page.rows[0]!.clinicId}: only its owner adds diagnoses` : `Encounter/${cond.encounterId} is not known to this server`, 'Condition.encounter');
      const payload = enc.payload as { residentId: string; diagnoses?: { code: string; name: string; primary: boolean }[] };
      if (payload.residentId !== cond.residentId) throw new OperationOutcomeError(422, 'business-rule', `Condition.subject Patient/${cond.residentId} is not the patient of Encounter/${cond.encounterId}`, 'Condition.subject');
      const diagnoses = payload.diagnoses ?? [];
      const updated = { ...payload, diagnoses: [...diagnoses, { ...cond.diagnosis, primary: diagnoses.length === 0 }] };
      const checked = recordTypes.encounter.safeParse(updated);
      if (!checked.success) throw new OperationOutcomeError(422, 'business-rule', `Encounter/${cond.encounterId}: ${checked.error.issues[0]!.message} (at most 20 diagnoses)`, 'Condition.encounter');
      const parsed = { recordType: 'encounter' as const, payload: checked.data as Record<string, unknown>, references: [cond.residentId], identifiers: [] };
      const id = `${cond.encounterId}-dx${diagnoses.length}`;
      await audit(c, 'fhir.create', `Condition/${id}`, 'accepted');
      const r = await writer.write(source, 'Encounter', cond.encounterId, parsed, { update: true });
      const found = await readOne(deps.store, 'Condition', id);
      auditQuietly(c, 'fhir.create', `Condition/${id}`, `ok:encounter v${r.version}`);
      return send(c, found, 201, { ...versionHeaders(found), location: `${base(c)}/Condition/${id}` });
    } catch (e) {
      auditQuietly(c, 'fhir.create', 'Condition', isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
  });

  // A laboratory report with its results as contained Observations (see report.ts).
  app.post('/DiagnosticReport', async (c) => {
    const writer = deps.writer;
    if (!writer) throw new OperationOutcomeError(405, 'not-supported', 'POST DiagnosticReport is not supported here');
    allow(c, 'DiagnosticReport', 'c', 'fhir.create', 'DiagnosticReport');
    allow(c, 'Observation', 'c', 'fhir.create', 'DiagnosticReport');
    const source = sourceOf(c.get('caller').clientId);
    try {
      const id = FhirWriter.newId();
      const writes = parseDiagnosticReport(await readBody(c), id, () => FhirWriter.newId());
      await audit(c, 'fhir.create', `DiagnosticReport/${id}`, 'accepted');
      for (const w of writes) await writer.write(source, 'Observation', w.payload.resultId as string, w, { update: false });
      const found = await readOne(deps.store, 'DiagnosticReport', id);
      auditQuietly(c, 'fhir.create', `DiagnosticReport/${id}`, `ok:${writes.length} results`);
      return send(c, found, 201, { ...versionHeaders(found), location: `${base(c)}/DiagnosticReport/${id}` });
    } catch (e) {
      auditQuietly(c, 'fhir.create', 'DiagnosticReport', isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
  });

  app.post('/:type', (c) => write(c, c.req.param('type'), undefined));
  app.put('/:type/:id', async (c) => {
    const { type, id } = c.req.param();
    // Patients: If-Match is checked against the resident's current versionId before the write.
    const ifMatch = c.req.header('if-match');
    if (type === 'Patient' && ifMatch !== undefined && isFhirId(id)) {
      const cur = (await deps.store.residents({ id, count: 1, offset: 0 })).rows[0];
      const want = /^(?:W\/)?"([^"]+)"$/.exec(ifMatch.trim())?.[1];
      if (!cur || cur.hlc !== want) {
        auditQuietly(c, 'fhir.update', `Patient/${id}`, 'error:412');
        throw new OperationOutcomeError(412, 'conflict', `If-Match ${ifMatch}: the current version is ${cur?.hlc ?? 'none'}`);
      }
    }
    return write(c, type, id);
  });

  app.all('*', (c) => {
    auditQuietly(c, `fhir ${c.req.method}`, c.req.path, 'error:405');
    return send(c, outcome('not-supported', `${c.req.method} ${c.req.path} is not supported (see /fhir/metadata)`), 405);
  });
  return app;
}

function versionHeaders(r: Resource): Record<string, string> {
  const m = r.meta as { versionId?: string; lastUpdated?: string } | undefined;
  return { ...(m?.versionId ? { etag: `W/"${m.versionId}"` } : {}), ...(m?.lastUpdated ? { 'last-modified': new Date(m.lastUpdated).toUTCString() } : {}) };
}

async function readBody(c: Context): Promise<unknown> {
  const ct = c.req.header('content-type') ?? '';
  if (!/^application\/(fhir\+)?json\b/i.test(ct)) throw new OperationOutcomeError(400, 'structure', 'send the resource as application/fhir+json');
  const text = await c.req.text();
  if (text.length > MAX_BODY) throw new OperationOutcomeError(400, 'too-costly', `the resource is larger than ${MAX_BODY} bytes`);
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new OperationOutcomeError(400, 'structure', `the body is not JSON: ${(e as Error).message.slice(0, 120)}`);
  }
}

/** If-None-Exist: `identifier=system|value` (the sender's own identifiers; for Patient also the national ones). */
async function conditionalMatch(store: FhirStore, writer: FhirWriter, source: string, type: WritableType, query: string): Promise<string[]> {
  const p = new URLSearchParams(query);
  const keys = [...p.keys()];
  if (keys.length !== 1 || keys[0] !== 'identifier') throw notSupported('If-None-Exist supports exactly one parameter: identifier=system|value', 'If-None-Exist');
  const token = p.get('identifier')!;
  const bar = token.indexOf('|');
  if (bar <= 0 || bar === token.length - 1) throw badRequest('If-None-Exist: identifier must be system|value', 'If-None-Exist');
  const system = token.slice(0, bar);
  const value = token.slice(bar + 1);
  if (type === 'Patient') {
    const national = parseIdentifier(token);
    if (national && national.field) return (await store.residents({ identifier: national, count: 2, offset: 0 })).rows.map((r) => r.residentId);
  }
  return writer.findByIdentifier(source, type, system, value);
}

/** Token and revocation endpoints and SMART discovery: no bearer token needed (client authentication instead). */
function mountOAuth(app: Hono<Env>, oauth: OAuth, audit: (c: Context<Env>, action: string, target: string, result: string, actor: string) => void): void {
  const oauthError = (c: Context, e: unknown) => {
    if (e instanceof OAuthError) return c.json({ error: e.error, error_description: e.message }, e.status === 401 ? 401 : 400, { 'cache-control': 'no-store' });
    return c.json({ error: 'server_error', error_description: 'internal error' }, 500);
  };
  const clientAuth = (c: Context, form: Record<string, string>) => {
    const basic = /^Basic\s+(.+)$/i.exec(c.req.header('authorization') ?? '');
    if (basic) {
      const dec = Buffer.from(basic[1]!, 'base64').toString('utf8');
      const i = dec.indexOf(':');
      if (i > 0) return { id: decodeURIComponent(dec.slice(0, i)), secret: decodeURIComponent(dec.slice(i + 1)) };
    }
    if (form.client_id && form.client_secret) return { id: form.client_id, secret: form.client_secret };
    throw new OAuthError(401, 'invalid_client', 'authenticate the client with HTTP Basic (client_secret_basic) or client_id and client_secret in the form (client_secret_post)');
  };
  const form = async (c: Context): Promise<Record<string, string>> => {
    const ct = c.req.header('content-type') ?? '';
    if (!/^application\/x-www-form-urlencoded/i.test(ct)) throw new OAuthError(400, 'invalid_request', 'send application/x-www-form-urlencoded');
    const text = await c.req.text();
    if (text.length > 8192) throw new OAuthError(400, 'invalid_request', 'request too large');
    return Object.fromEntries(new URLSearchParams(text));
  };

  app.get('/.well-known/smart-configuration', (c) => c.json({
    token_endpoint: `${base(c)}/auth/token`,
    revocation_endpoint: `${base(c)}/auth/revoke`,
    grant_types_supported: ['client_credentials'],
    token_endpoint_auth_methods_supported: ['client_secret_basic', 'client_secret_post'],
    scopes_supported: ['system/*.read', 'system/*.write', 'system/Patient.read', 'system/Patient.write', 'system/Observation.read', 'system/Observation.write', 'system/Encounter.read', 'system/Encounter.write', 'system/DiagnosticReport.read', 'system/DiagnosticReport.write', 'system/MedicationRequest.read'],
    capabilities: ['client-confidential-symmetric', 'permission-v1', 'permission-v2'],
  }));

  app.post('/auth/token', async (c) => {
    let clientId = 'unknown';
    try {
      const f = await form(c);
      const cred = clientAuth(c, f);
      clientId = cred.id.slice(0, 40);
      if (f.grant_type !== 'client_credentials') throw new OAuthError(400, 'unsupported_grant_type', 'only grant_type=client_credentials is supported');
      const t = await oauth.issueToken(cred.id, cred.secret, f.scope);
      audit(c, 'oauth.token', `client/${clientId}`, `ok:${t.scope}`, `client:${clientId}`);
      return c.json(t, 200, { 'cache-control': 'no-store', pragma: 'no-cache' });
    } catch (e) {
      audit(c, 'oauth.token', `client/${clientId}`, `denied:${e instanceof OAuthError ? e.error : 'error'}`, 'anonymous');
      return oauthError(c, e);
    }
  });

  app.post('/auth/revoke', async (c) => {
    let clientId = 'unknown';
    try {
      const f = await form(c);
      const cred = clientAuth(c, f);
      clientId = cred.id.slice(0, 40);
      if (!f.token) throw new OAuthError(400, 'invalid_request', 'token is required');
      await oauth.revokeToken(cred.id, cred.secret, f.token);
      audit(c, 'oauth.revoke', `client/${clientId}`, 'ok', `client:${clientId}`);
      return c.body(null, 200);
    } catch (e) {
      audit(c, 'oauth.revoke', `client/${clientId}`, `denied:${e instanceof OAuthError ? e.error : 'error'}`, 'anonymous');
      return oauthError(c, e);
    }
  });
}

/** Warehouse record types behind each FHIR type (device readings and lab results are both Observations). */
type DerivedType = 'Condition' | 'MedicationRequest' | 'DiagnosticReport';
const DERIVED: Record<DerivedType, (store: FhirStore, q: DerivedQuery) => Promise<DerivedPage>> = {
  Condition: searchConditions,
  MedicationRequest: searchMedicationRequests,
  DiagnosticReport: searchDiagnosticReports,
};
/** Types whose searches take `_sort=date|-date` (their clinical time). */
const SORTABLE = new Set(['Encounter', 'Observation']);
const DIRECTORY = new Set(['Organization', 'Practitioner', 'Device']);
const isDirectory = (t: string): t is DirectoryType => DIRECTORY.has(t);
const isDerived = (t: string): t is DerivedType => Object.prototype.hasOwnProperty.call(DERIVED, t);
const TYPES: Record<Exclude<ResourceType, 'Patient' | DerivedType | DirectoryType>, FhirRecordType[]> = { Encounter: ['encounter'], Observation: ['observation', 'lab_result'], ImagingStudy: ['imaging_study'] };

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
async function search(store: FhirStore, type: ResourceType, params: URLSearchParams, baseUrl: string): Promise<Resource> {
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
