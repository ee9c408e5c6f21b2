/**
 * Central's management HTTP API, documented by OpenAPI generated from its zod schemas
 * (`GET /openapi.json`). Authenticated by bearer token; routes that expose personal data
 * write an audit entry.
 */
import { timingSafeEqual } from 'node:crypto';
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { DICTIONARY_NAMES, dictionaryItemSchema, type DictionaryName, type DictionarySnapshot } from '../contracts/index.ts';
import type { Warehouse } from './warehouse/types.ts';

export interface ApiDeps {
  wh: Warehouse;
  token: string;
  publishDictionary: (s: DictionarySnapshot) => Promise<void>;
  /** Middleware for every route (request metrics), registered before any route. */
  middleware?: MiddlewareHandler[];
  /** Resolves once the audit entry is durable; routes that expose personal data fail closed if it cannot be written. */
  audit: (e: { actor: string; action: string; target: string; sourceIp: string; outcome: string }) => Promise<void>;
}

const ErrorBody = z.object({ error: z.string(), detail: z.string().optional() }).openapi('Error');
const FleetRow = z.object({
  clinicId: z.string(), lastHeartbeatAt: z.string().nullable(), agentVersion: z.string().nullable(),
  edgeLastSeq: z.number().int(), edgeReceiptSeq: z.number().int(), outboxDepth: z.number().int(), oldestPendingAgeSec: z.number(),
  relayState: z.string().nullable(), dictionaries: z.record(z.string(), z.number()), appliedSeq: z.number().int(),
  pendingAbove: z.number().int(), firstMissing: z.number().int().nullable(), lagSeconds: z.number(), recordsApplied: z.number().int(),
}).openapi('FleetRow');
const DictionarySummary = z.object({ name: z.string(), version: z.number().int(), publishedAt: z.string(), items: z.number().int() }).openapi('DictionarySummary');
const DictionaryBody = z.object({ name: z.string(), version: z.number().int(), publishedAt: z.string(), items: z.array(dictionaryItemSchema) }).openapi('Dictionary');
const DeadLetter = z.object({ id: z.number().int(), subject: z.string(), clinicId: z.string().nullable(), seq: z.number().int().nullable(), reason: z.string(), detail: z.string(), receivedAt: z.string(), rawPreview: z.string() }).openapi('DeadLetter');
const Conflict = z.object({ id: z.number().int(), residentId: z.string(), winnerHlc: z.string(), winnerClinic: z.string(), loserHlc: z.string(), loserClinic: z.string(), fields: z.array(z.string()), loserValues: z.record(z.string(), z.unknown()), winnerValues: z.record(z.string(), z.unknown()), at: z.string() }).openapi('ResidentConflict');
const Limit = z.object({ limit: z.coerce.number().int().min(1).max(1000).default(100) });
const auth = [{ bearer: [] as string[] }];
const unauthorized = { 401: { description: 'missing or wrong bearer token', content: { 'application/json': { schema: ErrorBody } } } };

export function centralApi(deps: ApiDeps): OpenAPIHono {
  const app = new OpenAPIHono({
    defaultHook: (result, c) => {
      if (!result.success) return c.json({ error: 'invalid request', detail: result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') }, 400);
      return undefined;
    },
  });
  for (const mw of deps.middleware ?? []) app.use('*', mw);
  app.openAPIRegistry.registerComponent('securitySchemes', 'bearer', { type: 'http', scheme: 'bearer' });

  const expected = Buffer.from(deps.token);
  app.use('/api/*', async (c: Context, next: Next) => {
    const got = Buffer.from((c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, ''));
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) {
      await deps.audit({ actor: 'anonymous', action: `${c.req.method} ${c.req.path}`, target: c.req.path, sourceIp: ip(c), outcome: 'denied' });
      return c.json({ error: 'unauthorized', detail: 'send Authorization: Bearer <CENTRAL_API_TOKEN>' }, 401);
    }
    await next();
  });

  app.openapi(createRoute({ method: 'get', path: '/api/fleet', security: auth, summary: 'Replication status of every clinic edge',
    responses: { 200: { description: 'one row per clinic', content: { 'application/json': { schema: z.array(FleetRow) } } }, ...unauthorized } }),
  async (c) => c.json(await deps.wh.fleet(), 200));

  app.openapi(createRoute({ method: 'get', path: '/api/fleet/{clinicId}', security: auth, summary: 'Replication status of one clinic',
    request: { params: z.object({ clinicId: z.string() }) },
    responses: { 200: { description: 'the clinic', content: { 'application/json': { schema: FleetRow } } }, 404: { description: 'unknown clinic', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    const row = (await deps.wh.fleet()).find((f) => f.clinicId === c.req.valid('param').clinicId);
    return row ? c.json(row, 200) : c.json({ error: 'unknown clinic' }, 404);
  });

  app.openapi(createRoute({ method: 'get', path: '/api/dictionaries', security: auth, summary: 'Latest version of every dictionary',
    responses: { 200: { description: 'dictionaries', content: { 'application/json': { schema: z.array(DictionarySummary) } } }, ...unauthorized } }),
  async (c) => c.json((await deps.wh.latestDictionaries()).map((d) => ({ name: d.name, version: d.version, publishedAt: d.publishedAt, items: d.items.length })), 200));

  app.openapi(createRoute({ method: 'get', path: '/api/dictionaries/{name}', security: auth, summary: 'One dictionary with its items',
    request: { params: z.object({ name: z.enum(DICTIONARY_NAMES) }) },
    responses: { 200: { description: 'dictionary', content: { 'application/json': { schema: DictionaryBody } } }, 404: { description: 'not published yet', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    const d = (await deps.wh.latestDictionaries()).find((x) => x.name === c.req.valid('param').name);
    return d ? c.json(d, 200) : c.json({ error: 'not published yet' }, 404);
  });

  app.openapi(createRoute({ method: 'put', path: '/api/dictionaries/{name}', security: auth, summary: 'Publish a new version of a dictionary to every edge',
    request: { params: z.object({ name: z.enum(DICTIONARY_NAMES) }), body: { content: { 'application/json': { schema: z.object({ items: z.array(dictionaryItemSchema).min(1).max(100_000) }) } } } },
    responses: { 200: { description: 'the new version', content: { 'application/json': { schema: DictionarySummary } } }, 400: { description: 'invalid items', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    const name = c.req.valid('param').name as DictionaryName;
    const items = c.req.valid('json').items;
    const dup = findDuplicate(items.map((i) => i.code));
    if (dup) return c.json({ error: 'invalid items', detail: `code ${dup} appears more than once` }, 400);
    const snap = await deps.wh.saveDictionary(name, items);
    await deps.publishDictionary(snap);
    await deps.audit({ actor: 'api-token', action: 'dictionary.publish', target: `${name}@${snap.version}`, sourceIp: ip(c), outcome: 'ok' });
    return c.json({ name, version: snap.version, publishedAt: snap.publishedAt, items: items.length }, 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/api/dead-letters', security: auth, summary: 'Messages that could not be applied, newest first',
    request: { query: Limit },
    responses: { 200: { description: 'dead letters', content: { 'application/json': { schema: z.array(DeadLetter) } } }, ...unauthorized } }),
  async (c) => {
    await deps.audit({ actor: 'api-token', action: 'dead-letters.read', target: 'dead_letters', sourceIp: ip(c), outcome: 'ok' });
    return c.json(await deps.wh.deadLetters(c.req.valid('query').limit), 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/api/resident-conflicts', security: auth, summary: 'Resident demographic values overwritten by a later writer (for review)',
    request: { query: Limit },
    responses: { 200: { description: 'conflicts', content: { 'application/json': { schema: z.array(Conflict) } } }, ...unauthorized } }),
  async (c) => {
    await deps.audit({ actor: 'api-token', action: 'resident-conflicts.read', target: 'resident_conflicts', sourceIp: ip(c), outcome: 'ok' });
    return c.json(await deps.wh.conflicts(c.req.valid('query').limit), 200);
  });

  app.doc31('/openapi.json', { openapi: '3.1.0', info: { title: 'District primary-care central API', version: '0.1.0', description: 'Fleet, dictionaries, dead letters and resident conflicts. FHIR R4 lives under /fhir (see [central]).' } });
  return app;
}

function ip(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

function findDuplicate(codes: string[]): string | null {
  const seen = new Set<string>();
  for (const c of codes) {
    if (seen.has(c)) return c;
    seen.add(c);
  }
  return null;
}
