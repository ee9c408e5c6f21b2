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
import { capabilityStatement } from './capability.ts';
import { isFhirId, type Resource } from './map.ts';
import { OAuthError, RateLimiter, permits, type Interaction, type OAuth } from './oauth.ts';
import { OperationOutcomeError, badRequest, isOperationOutcomeError, notFound, notSupported, outcome, type HttpStatus } from './outcome.ts';
import type { FhirStore } from './store.ts';
import { parseDiagnosticReport } from './report.ts';
import { answerRead, isType, parseIdentifier, readOne, versionHeaders, type ReadAnswer, type ReadRequest } from './read.ts';
import type { ReadPool } from './readers.ts';
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
  /** Reader threads for reads and searches (`readers.ts`); without it they run on this thread. */
  readers?: ReadPool;
}

/** The authenticated caller: the static token may do everything; a client only what its scopes say. */
interface Caller { actor: string; clientId: string; scopes: string[] | 'all'; rate?: number }
type Env = { Variables: { caller: Caller } };

const FHIR_JSON = 'application/fhir+json; charset=utf-8';
/** Largest resource accepted in a write. */
const MAX_BODY = 256 * 1024;

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

  /** Read-side work (query, mapping, JSON text): on a reader thread when central runs a pool, else here. */
  const reads = (r: ReadRequest): Promise<ReadAnswer> => (deps.readers ? deps.readers.answer(r) : answerRead(deps.store, r));
  const sendText = (c: Context, a: ReadAnswer) => c.body(a.body, 200, { 'content-type': FHIR_JSON, ...a.headers });

  app.get('/:type/:id', async (c) => {
    const { type, id } = c.req.param();
    const target = `${type}/${id}`;
    let found: ReadAnswer;
    try {
      if (!isType(type)) throw new OperationOutcomeError(404, 'not-supported', `resource type ${type} is not served here (see /fhir/metadata)`);
      allow(c, type, 'r', 'fhir.read', target);
      found = await reads({ op: 'read', type, id });
    } catch (e) {
      if (!(isOperationOutcomeError(e) && e.status === 403)) auditQuietly(c, 'fhir.read', target, isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
    await audit(c, 'fhir.read', target, 'ok');
    return sendText(c, found);
  });

  // vread: any stored version of a record; for a Patient only the current one (demographics are LWW, not versioned).
  app.get('/:type/:id/_history/:vid', async (c) => {
    const { type, id, vid } = c.req.param();
    const target = `${type}/${id}/_history/${vid}`;
    let found: ReadAnswer;
    try {
      if (!isType(type)) throw new OperationOutcomeError(404, 'not-supported', `resource type ${type} is not served here (see /fhir/metadata)`);
      allow(c, type, 'r', 'fhir.vread', target);
      found = await reads({ op: 'vread', type, id, vid });
    } catch (e) {
      if (!(isOperationOutcomeError(e) && e.status === 403)) auditQuietly(c, 'fhir.vread', target, isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
    await audit(c, 'fhir.vread', target, 'ok');
    return sendText(c, found);
  });

  app.get('/:type', async (c) => {
    const type = c.req.param('type');
    const url = new URL(c.req.url);
    const target = `${type}?${[...new Set(url.searchParams.keys())].join(',')}`;
    let bundle: ReadAnswer;
    try {
      if (!isType(type)) throw new OperationOutcomeError(404, 'not-supported', `resource type ${type} is not served here (see /fhir/metadata)`);
      allow(c, type, 's', 'fhir.search', target);
      bundle = await reads({ op: 'search', type, query: url.search, base: base(c) });
    } catch (e) {
      if (!(isOperationOutcomeError(e) && e.status === 403)) auditQuietly(c, 'fhir.search', target, isOperationOutcomeError(e) ? `error:${e.status}` : 'error:500');
      throw e;
    }
    await audit(c, 'fhir.search', target, `ok:${bundle.entries}`);
    return sendText(c, bundle);
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
      // A page of 2 for a unique id: shorter than the page, so the total comes from it (no count query).
      const cur = (await deps.store.residents({ id, count: 2, offset: 0 })).rows[0];
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
