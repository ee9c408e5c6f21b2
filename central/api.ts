/**
 * Central's management HTTP API, documented by OpenAPI generated from its zod schemas
 * (`GET /openapi.json`). Authenticated by bearer token; routes that expose personal data
 * write an audit entry.
 */
import { timingSafeEqual } from 'node:crypto';
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context, MiddlewareHandler, Next } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { Distributed } from './dictionaries/publisher.ts';
import { MaintenanceError, type ExchangeAvailability } from './availability/index.ts';
import { DEAD_LETTER_REASONS, DICTIONARY_NAMES, dictionaryItemSchema, type DictionaryName, type DictionarySnapshot } from '../contracts/index.ts';
import type { Warehouse } from './warehouse/types.ts';
import { ImportFailed, crossCheck, planImport, readUpload } from './dictionaries/import.ts';
import { dataDictionary, projectionByTable, readProjection } from './warehouse/dictionary.ts';
import { projections } from './warehouse/projections.ts';
import { sqlFor } from './warehouse/sql.ts';

export interface ApiDeps {
  wh: Warehouse;
  token: string;
  /** Publishes a saved version to the edges; `distributed: false` when the hub did not take it now (it is published when it answers). */
  publishDictionary: (s: DictionarySnapshot) => Promise<Distributed>;
  /** Middleware for every route (request metrics), registered before any route. */
  middleware?: MiddlewareHandler[];
  /** Resolves once the audit entry is durable; routes that expose personal data fail closed if it cannot be written. */
  audit: (e: { actor: string; action: string; target: string; sourceIp: string; outcome: string }) => Promise<void>;
  /** Counts rejected dictionary imports (metrics). */
  onImportRejected?: (name: string) => void;
  /** The outage log of the clinics' data exchange (GET /api/availability); absent: the route answers 404. */
  availability?: ExchangeAvailability;
}

/** `2026-03-01` is midnight in China (UTC+8), the district's day; a full ISO date-time is taken as written. */
export function parsePeriodBound(v: string): Date | null {
  const d = /^\d{4}-\d{2}-\d{2}$/.test(v) ? new Date(`${v}T00:00:00+08:00`) : /^\d{4}-\d{2}-\d{2}T/.test(v) ? new Date(v) : null;
  return d && !Number.isNaN(d.getTime()) ? d : null;
}

/** Largest dictionary file accepted (a full ICD-10 clinical edition as .xlsx is about 2 MB). */
export const MAX_IMPORT_BYTES = 20 * 1024 * 1024;

const ErrorBody = z.object({ error: z.string(), detail: z.string().optional() }).openapi('Error');
const FleetRow = z.object({
  clinicId: z.string(), lastHeartbeatAt: z.string().nullable(), agentVersion: z.string().nullable(),
  edgeLastSeq: z.number().int(), edgeReceiptSeq: z.number().int(), outboxDepth: z.number().int(), oldestPendingAgeSec: z.number(),
  relayState: z.string().nullable(), dictionaries: z.record(z.string(), z.number()), appliedSeq: z.number().int(),
  pendingAbove: z.number().int(), firstMissing: z.number().int().nullable(), lagSeconds: z.number(), recordsApplied: z.number().int(),
}).openapi('FleetRow');
const DictionarySummary = z.object({ name: z.string(), version: z.number().int(), publishedAt: z.string(), items: z.number().int() }).openapi('DictionarySummary');
const DistributionFields = {
  distributed: z.boolean().describe('true: the version is in the dictionaries stream and reaches every edge; false: saved, and published by central as soon as the hub answers'),
  detail: z.string().optional().describe('why it is not distributed yet'),
};
const DictionaryPublished = DictionarySummary.extend(DistributionFields).openapi('DictionaryPublished');
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

  const Outage = z.object({ clinicId: z.string(), startedAt: z.string(), endedAt: z.string().nullable().describe('null while it lasts'), cause: z.enum(['clinic', 'district']).describe('clinic: central was listening and the clinic went silent (its appliance, link or path to the hub); district: central was not connected to the hub or had just started') }).openapi('ExchangeOutage');
  const Availability = z.object({
    from: z.string(), to: z.string(), measuredSeconds: z.number().describe('the part of the period measured (up to now)'),
    target: z.object({ availability: z.number(), maxOutageSeconds: z.number(), maxLossRate: z.number().describe('0.001: loss below 0.1 %') }),
    clinics: z.array(z.object({
      clinicId: z.string(), availability: z.number().describe('0..1, from the clinic\'s first heartbeat on; time in planned maintenance windows is not downtime'), downtimeSeconds: z.number().describe('outage time outside planned maintenance windows'),
      plannedSeconds: z.number().describe('outage time inside planned maintenance windows'), outages: z.number().int(),
      longestOutageSeconds: z.number().describe('whole length of the longest outage that overlaps the period, less its time in planned maintenance windows (its longest stretch outside them)'), byCause: z.object({ clinic: z.number().int(), district: z.number().int(), planned: z.number().int().describe('wholly inside planned maintenance windows') }),
      downSince: z.string().nullable(), meetsTarget: z.boolean().describe('availability >= 99.9 %, no outage over 2 h and loss rate below 0.1 % (tender 1.2.2)'),
      lostRecords: z.number().int().describe('records the clinic re-seeded as no longer held (lost_at_source), received in the period'),
      refusedRecords: z.number().int().describe('messages of the clinic central refused in the period (kept for review: GET /api/dead-letters)'),
      records: z.number().int().describe('records of the clinic central accounted for in the period (applied, refused or recorded lost): the rise of its applied watermark, from an hourly log; a bound on the hour is exact to the last 30 s check before it'),
      lossRate: z.number().describe('lostRecords / records (0 with neither); target below 0.001'),
      recordsCountedFrom: z.string().nullable().describe('when the count of records starts if later than the period (the log began inside it); null: the whole period'),
      retiredAt: z.string().nullable().describe('out of service (停用) since then; times out of service are not measured'),
    })),
    outages: z.array(Outage.extend({ planned: z.enum(['none', 'partly', 'all']).describe('how much of it fell in planned maintenance windows') })),
  }).openapi('ExchangeAvailability');
  app.openapi(createRoute({ method: 'get', path: '/api/availability', security: auth, summary: 'Availability and loss rate of each clinic\'s data exchange over a period, and its outages (tender 1.2.2: >= 99.9 %, no outage over 2 h, loss < 0.1 %)',
    description: 'An outage starts at a clinic\'s last heartbeat once it has been silent for 2 minutes and ends at its next heartbeat. Dates (`2026-03-01`) are midnight China time; full ISO date-times are taken as written. Default: the last 30 days.',
    request: { query: z.object({ from: z.string().optional(), to: z.string().optional() }) },
    responses: { 200: { description: 'per clinic, worst first', content: { 'application/json': { schema: Availability } } }, 400: { description: 'a bound that is not a date, or from not before to', content: { 'application/json': { schema: ErrorBody } } }, 404: { description: 'not tracked by this central', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    if (!deps.availability) return c.json({ error: 'availability is not tracked here' }, 404);
    const q = c.req.valid('query');
    const now = new Date();
    const to = q.to ? parsePeriodBound(q.to) : now;
    const from = q.from ? parsePeriodBound(q.from) : new Date(now.getTime() - 30 * 86400_000);
    if (!from || !to) return c.json({ error: 'invalid period', detail: 'from and to are dates (2026-03-01, midnight China time) or ISO date-times' }, 400);
    if (from >= to) return c.json({ error: 'invalid period', detail: 'from must be before to' }, 400);
    const report = await deps.availability.report(from, to, now);
    return c.json({ ...report, outages: report.outages.slice(-1000) }, 200);
  });

  // ---- planned maintenance windows (计划维护): not counted as outage time in the availability report ----
  const Window = z.object({
    id: z.number().int(), clinicId: z.string().nullable().describe('null: every clinic (maintenance of the hub or central)'),
    startsAt: z.string(), endsAt: z.string(), reason: z.string(), declaredBy: z.string(), declaredAt: z.string(),
    cancelledAt: z.string().nullable().describe('set when cancelled: from then on it no longer counts'),
  }).openapi('MaintenanceWindow');
  const WindowId = z.object({ id: z.coerce.number().int().positive() });
  app.openapi(createRoute({ method: 'get', path: '/api/maintenance', security: auth, summary: 'Planned maintenance windows overlapping a period (default: from 30 days ago on)',
    request: { query: z.object({ from: z.string().optional(), to: z.string().optional() }) },
    responses: { 200: { description: 'windows, in start order, cancelled ones included', content: { 'application/json': { schema: z.array(Window) } } }, 400: { description: 'a bound that is not a date', content: { 'application/json': { schema: ErrorBody } } }, 404: { description: 'not tracked by this central', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    if (!deps.availability) return c.json({ error: 'availability is not tracked here' }, 404);
    const q = c.req.valid('query');
    const now = Date.now();
    const from = q.from ? parsePeriodBound(q.from) : new Date(now - 30 * 86400_000);
    const to = q.to ? parsePeriodBound(q.to) : new Date(now + 400 * 86400_000);
    if (!from || !to || from >= to) return c.json({ error: 'invalid period', detail: 'from and to are dates (2026-03-01, midnight China time) or ISO date-times, from before to' }, 400);
    return c.json(await deps.availability.maintenance(from, to), 200);
  });
  app.openapi(createRoute({ method: 'post', path: '/api/maintenance', security: auth, summary: 'Declare a planned maintenance window of one clinic or of every clinic',
    description: 'Outage time inside the window counts as planned, not as downtime, from the moment the window is declared (never before it); alerts on the clinic\'s heartbeat, lag and relay are held while it lasts. At most 72 hours, not in the past, with a reason.',
    request: { body: { content: { 'application/json': { schema: z.object({
      clinicId: z.string().max(64).nullable().describe('null: every clinic'), startsAt: z.string().describe('ISO date-time'), endsAt: z.string().describe('ISO date-time'),
      reason: z.string().max(200), declaredBy: z.string().min(1).max(64).describe('who plans it (a name, recorded with the window and in the audit log)'),
    }) } } } },
    responses: { 201: { description: 'declared', content: { 'application/json': { schema: Window } } }, 400: { description: 'not a window that can be declared (the reason says why)', content: { 'application/json': { schema: ErrorBody } } }, 404: { description: 'not tracked by this central', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    if (!deps.availability) return c.json({ error: 'availability is not tracked here' }, 404);
    const b = c.req.valid('json');
    try {
      const w = await deps.availability.declareMaintenance(b);
      await deps.audit({ actor: 'api-token', action: 'maintenance.declare', target: `#${w.id} ${w.clinicId ?? 'all'} ${w.startsAt}..${w.endsAt} by ${w.declaredBy}`, sourceIp: ip(c), outcome: 'ok' });
      return c.json(w, 201);
    } catch (e) {
      if (!(e instanceof MaintenanceError)) throw e;
      await deps.audit({ actor: 'api-token', action: 'maintenance.declare', target: `${b.clinicId ?? 'all'} ${b.startsAt}..${b.endsAt}`.slice(0, 300), sourceIp: ip(c), outcome: `refused: ${e.message}` });
      return c.json({ error: 'invalid maintenance window', detail: e.message }, 400);
    }
  });
  app.openapi(createRoute({ method: 'delete', path: '/api/maintenance/{id}', security: auth, summary: 'Cancel a planned maintenance window (from now on it no longer counts)',
    request: { params: WindowId },
    responses: { 200: { description: 'the window, with cancelledAt (unchanged if it had ended or was cancelled already)', content: { 'application/json': { schema: Window } } }, 404: { description: 'no such window', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    if (!deps.availability) return c.json({ error: 'availability is not tracked here' }, 404);
    const id = c.req.valid('param').id;
    const w = await deps.availability.cancelMaintenance(id);
    if (!w) return c.json({ error: 'no such maintenance window' }, 404);
    await deps.audit({ actor: 'api-token', action: 'maintenance.cancel', target: `#${id}`, sourceIp: ip(c), outcome: 'ok' });
    return c.json(w, 200);
  });

  // ---- clinics out of service (停用) ----
  const Retired = z.object({ clinicId: z.string(), retiredAt: z.string(), reason: z.string(), retiredBy: z.string() }).openapi('RetiredClinic');
  app.openapi(createRoute({ method: 'get', path: '/api/fleet-retired', security: auth, summary: 'Clinics taken out of service',
    responses: { 200: { description: 'clinics out of service now', content: { 'application/json': { schema: z.array(Retired) } } }, 404: { description: 'not tracked by this central', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    if (!deps.availability) return c.json({ error: 'availability is not tracked here' }, 404);
    return c.json(await deps.availability.retired(), 200);
  });
  app.openapi(createRoute({ method: 'post', path: '/api/fleet/{clinicId}/retire', security: auth, summary: 'Take a clinic out of service (closed or merged): its availability is no longer measured and its alerts hold',
    description: 'Its records and history stay. An outage still open ends now. Reinstate with DELETE on the same path.',
    request: { params: z.object({ clinicId: z.string().max(64) }), body: { content: { 'application/json': { schema: z.object({ reason: z.string().max(200), retiredBy: z.string().min(1).max(64) }) } } } },
    responses: { 201: { description: 'out of service', content: { 'application/json': { schema: Retired } } }, 400: { description: 'unknown clinic, already out of service, or no reason', content: { 'application/json': { schema: ErrorBody } } }, 404: { description: 'not tracked by this central', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    if (!deps.availability) return c.json({ error: 'availability is not tracked here' }, 404);
    const { clinicId } = c.req.valid('param');
    const b = c.req.valid('json');
    try {
      const r = await deps.availability.retire(clinicId, b.reason, b.retiredBy);
      await deps.audit({ actor: 'api-token', action: 'fleet.retire', target: `${clinicId} by ${b.retiredBy}`, sourceIp: ip(c), outcome: 'ok' });
      return c.json(r, 201);
    } catch (e) {
      if (!(e instanceof MaintenanceError)) throw e;
      await deps.audit({ actor: 'api-token', action: 'fleet.retire', target: clinicId, sourceIp: ip(c), outcome: `refused: ${e.message}`.slice(0, 300) });
      return c.json({ error: 'cannot take the clinic out of service', detail: e.message }, 400);
    }
  });
  app.openapi(createRoute({ method: 'delete', path: '/api/fleet/{clinicId}/retire', security: auth, summary: 'Put a clinic back in service (measured again from now)',
    request: { params: z.object({ clinicId: z.string().max(64) }) },
    responses: { 200: { description: 'back in service', content: { 'application/json': { schema: z.object({ clinicId: z.string(), reinstated: z.boolean() }) } } }, 404: { description: 'not out of service', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    if (!deps.availability) return c.json({ error: 'availability is not tracked here' }, 404);
    const { clinicId } = c.req.valid('param');
    if (!(await deps.availability.reinstate(clinicId))) return c.json({ error: 'the clinic is not out of service' }, 404);
    await deps.audit({ actor: 'api-token', action: 'fleet.reinstate', target: clinicId, sourceIp: ip(c), outcome: 'ok' });
    return c.json({ clinicId, reinstated: true }, 200);
  });

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
    responses: { 200: { description: 'the new version, distributed', content: { 'application/json': { schema: DictionaryPublished } } }, 202: { description: 'the new version, saved; the hub did not take it now (central down from the hub, or the broker down): central publishes it when the hub answers', content: { 'application/json': { schema: DictionaryPublished } } }, 400: { description: 'invalid items', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    const name = c.req.valid('param').name as DictionaryName;
    const items = c.req.valid('json').items;
    const dup = findDuplicate(items.map((i) => i.code));
    if (dup) return c.json({ error: 'invalid items', detail: `code ${dup} appears more than once` }, 400);
    const snap = await deps.wh.saveDictionary(name, items);
    const d = await deps.publishDictionary(snap);
    await deps.audit({ actor: 'api-token', action: 'dictionary.publish', target: `${name}@${snap.version}`, sourceIp: ip(c), outcome: d.distributed ? 'ok' : 'ok (saved; distribution pending)' });
    const body = { name, version: snap.version, publishedAt: snap.publishedAt, items: items.length, distributed: d.distributed, ...(d.reason ? { detail: d.reason } : {}) };
    return d.distributed ? c.json(body, 200) : c.json(body, 202);
  });

  app.openapi(createRoute({ method: 'get', path: '/api/dead-letters', security: auth, summary: 'Messages that could not be applied, newest first',
    request: { query: Limit.extend({
      clinic: z.string().max(64).optional().openapi({ description: 'only this clinic\'s (the clinic of the subject the message came on when its envelope names none)' }),
      reason: z.enum(DEAD_LETTER_REASONS).optional().openapi({ description: 'only this reason' }),
    }) },
    responses: { 200: { description: 'dead letters', content: { 'application/json': { schema: z.array(DeadLetter) } } }, ...unauthorized } }),
  async (c) => {
    const q = c.req.valid('query');
    await deps.audit({ actor: 'api-token', action: 'dead-letters.read', target: `dead_letters clinic=${q.clinic ?? '*'} reason=${q.reason ?? '*'}`, sourceIp: ip(c), outcome: 'ok' });
    return c.json(await deps.wh.deadLetters(q.limit, { clinicId: q.clinic, reason: q.reason }), 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/api/resident-conflicts', security: auth, summary: 'Resident demographic values overwritten by a later writer (for review)',
    request: { query: Limit },
    responses: { 200: { description: 'conflicts', content: { 'application/json': { schema: z.array(Conflict) } } }, ...unauthorized } }),
  async (c) => {
    await deps.audit({ actor: 'api-token', action: 'resident-conflicts.read', target: 'resident_conflicts', sourceIp: ip(c), outcome: 'ok' });
    return c.json(await deps.wh.conflicts(c.req.valid('query').limit), 200);
  });

  // ---- warehouse data dictionary and projection tables ----

  const DictColumn = z.object({ name: z.string(), type: z.enum(['text', 'int', 'num', 'bool', 'date', 'datetime']), zh: z.string(), en: z.string(), de: z.string().nullable(), deType: z.string().nullable(), format: z.string().nullable(), valueSet: z.string().nullable(), deUnconfirmed: z.boolean() }).openapi('DataDictionaryColumn');
  const DataDictionary = z.object({
    standard: z.string(), note: z.string(),
    tables: z.array(z.object({ table: z.string(), zh: z.string(), en: z.string(), dataset: z.string(), source: z.string(), columns: z.array(DictColumn) })),
    recordTypes: z.array(z.object({ type: z.string(), tables: z.array(z.string()) })),
  }).openapi('DataDictionary');
  app.openapi(createRoute({ method: 'get', path: '/api/data-dictionary', security: auth, summary: 'Warehouse tables and columns with their WS 363/365 data-element identifiers',
    responses: { 200: { description: 'the data dictionary', content: { 'application/json': { schema: DataDictionary } } }, ...unauthorized } }),
  async (c) => {
    await deps.audit({ actor: 'api-token', action: 'data-dictionary.read', target: 'data-dictionary', sourceIp: ip(c), outcome: 'ok' });
    return c.json(dataDictionary(), 200);
  });

  const tableNames = projections.map((p) => p.table) as [string, ...string[]];
  app.openapi(createRoute({ method: 'get', path: '/api/warehouse/tables/{table}', security: auth, summary: 'Rows of one WS 365 projection table (personal data: audited)',
    request: {
      params: z.object({ table: z.enum(tableNames) }),
      query: z.object({ clinicId: z.string().max(64).optional(), residentId: z.string().max(64).optional(), limit: z.coerce.number().int().min(1).max(1000).default(100), offset: z.coerce.number().int().min(0).default(0) }),
    },
    responses: { 200: { description: 'rows, typed as in the data dictionary', content: { 'application/json': { schema: z.object({ table: z.string(), total: z.number().int(), rows: z.array(z.record(z.string(), z.unknown())) }).openapi('WarehouseRows') } } }, ...unauthorized } }),
  async (c) => {
    const { table } = c.req.valid('param');
    const q = c.req.valid('query');
    // The audit names the filters, never their values' meaning beyond ids.
    await deps.audit({ actor: 'api-token', action: 'warehouse.read', target: `${table}${q.residentId ? ` resident=${q.residentId}` : ''}${q.clinicId ? ` clinic=${q.clinicId}` : ''}`, sourceIp: ip(c), outcome: 'ok' });
    const r = await readProjection(sqlFor(deps.wh), projectionByTable(table)!, q);
    return c.json({ table, ...r }, 200);
  });

  // ---- dictionary import (CSV / Excel), versions, distribution ----

  const ImportError = z.object({ row: z.number().int().describe('spreadsheet row (header = 1)'), column: z.string().describe('column letter and header'), message: z.string() }).openapi('ImportError');
  const ImportResult = z.object({ name: z.string(), version: z.number().int().nullable().describe('null for a dry run'), publishedAt: z.string().nullable(), items: z.number().int(), added: z.number().int(), changed: z.number().int(), deactivated: z.number().int(), unchanged: z.number().int(), dryRun: z.boolean(), distributed: DistributionFields.distributed.optional().describe('absent for a dry run; otherwise as for PUT'), detail: DistributionFields.detail }).openapi('DictionaryImportResult');
  const XLSX = 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet';
  app.use('/api/dictionaries/:name/import', bodyLimit({ maxSize: MAX_IMPORT_BYTES, onError: (c) => c.json({ error: 'file too large', detail: `at most ${MAX_IMPORT_BYTES} bytes` }, 413) }));
  app.openapi(createRoute({ method: 'post', path: '/api/dictionaries/{name}/import', security: auth,
    summary: 'Import a dictionary from CSV or Excel, validate every cell, publish the next version to every edge',
    description: 'Body: the file itself (`text/csv` or `' + XLSX + '`) or `multipart/form-data` with a `file` field. Columns `code`/编码, `name`/名称, optional `active`/启用, plus the dictionary\'s attributes (see README). `mode=replace` (default): the file is the whole dictionary, codes no longer listed are kept but deactivated; `mode=merge`: rows add or update items. `dryRun=true` validates and reports the changes without publishing. Any invalid cell: 422 with every error by row and column, nothing published.',
    request: {
      params: z.object({ name: z.enum(DICTIONARY_NAMES) }),
      query: z.object({ mode: z.enum(['replace', 'merge']).default('replace'), dryRun: z.enum(['true', 'false']).default('false') }),
      // Not 'required': zod-openapi would then run its form validator on CSV and Excel bodies too.
      body: { content: { 'text/csv': { schema: z.string().openapi({ format: 'binary' }) }, [XLSX]: { schema: z.string().openapi({ format: 'binary' }) }, 'multipart/form-data': { schema: z.object({ file: z.any().openapi({ type: 'string', format: 'binary' }) }) } } },
    },
    responses: {
      200: { description: 'published (or, with dryRun, what would be published)', content: { 'application/json': { schema: ImportResult } } },
      202: { description: 'saved as the next version; the hub did not take it now: central publishes it when the hub answers', content: { 'application/json': { schema: ImportResult } } },
      413: { description: 'file too large', content: { 'application/json': { schema: ErrorBody } } },
      415: { description: 'not CSV or .xlsx', content: { 'application/json': { schema: ErrorBody } } },
      422: { description: 'invalid rows: nothing published', content: { 'application/json': { schema: z.object({ error: z.string(), errors: z.array(ImportError) }) } } },
      ...unauthorized,
    } }),
  async (c) => {
    const name = c.req.valid('param').name as DictionaryName;
    const { mode, dryRun } = c.req.valid('query');
    const audit = (outcome: string) => deps.audit({ actor: 'api-token', action: dryRun === 'true' ? 'dictionary.import.validate' : 'dictionary.import', target: name, sourceIp: ip(c), outcome });
    const ct = (c.req.header('content-type') ?? '').toLowerCase();
    let buf: Uint8Array;
    let fileName = '';
    if (ct.startsWith('multipart/form-data')) {
      const form = await c.req.formData();
      const f = form.get('file');
      if (!f || typeof f === 'string') { await audit('rejected: no file'); return c.json({ error: 'missing file', detail: 'send the file in a form field named file' }, 415); }
      buf = new Uint8Array(await f.arrayBuffer());
      fileName = f.name.toLowerCase();
    } else buf = new Uint8Array(await c.req.arrayBuffer());
    if (buf.byteLength > MAX_IMPORT_BYTES) { await audit('rejected: too large'); return c.json({ error: 'file too large', detail: `at most ${MAX_IMPORT_BYTES} bytes` }, 413); }
    const isZip = buf[0] === 0x50 && buf[1] === 0x4b;
    const format = ct.includes('spreadsheetml') || fileName.endsWith('.xlsx') || isZip ? 'xlsx' : ct.startsWith('text/csv') || ct.startsWith('text/plain') || fileName.endsWith('.csv') ? 'csv' : null;
    if (!format) { await audit('rejected: media type'); return c.json({ error: 'unsupported media type', detail: 'send text/csv or .xlsx' }, 415); }
    try {
      const { items, sheet } = await readUpload(name, buf, format);
      const latest = await deps.wh.latestDictionaries();
      crossCheck(name, items, sheet, Object.fromEntries(latest.map((d) => [d.name, d.items])));
      const plan = planImport(latest.find((d) => d.name === name)?.items ?? [], items, mode);
      const counts = { items: plan.items.length, added: plan.added, changed: plan.changed, deactivated: plan.deactivated, unchanged: plan.unchanged };
      if (dryRun === 'true') {
        await audit('ok (dry run)');
        return c.json({ name, version: null, publishedAt: null, ...counts, dryRun: true }, 200);
      }
      const snap = await deps.wh.saveDictionary(name, plan.items);
      const d = await deps.publishDictionary(snap);
      await deps.audit({ actor: 'api-token', action: 'dictionary.import', target: `${name}@${snap.version}`, sourceIp: ip(c), outcome: d.distributed ? 'ok' : 'ok (saved; distribution pending)' });
      const body = { name, version: snap.version, publishedAt: snap.publishedAt, ...counts, dryRun: false, distributed: d.distributed, ...(d.reason ? { detail: d.reason } : {}) };
      return d.distributed ? c.json(body, 200) : c.json(body, 202);
    } catch (e) {
      if (!(e instanceof ImportFailed)) throw e;
      deps.onImportRejected?.(name);
      await audit(`rejected: ${e.errors.length} error(s)`);
      return c.json({ error: 'invalid file', errors: e.errors }, 422);
    }
  });

  app.openapi(createRoute({ method: 'get', path: '/api/dictionaries/{name}/versions', security: auth, summary: 'Every published version of a dictionary, newest first',
    request: { params: z.object({ name: z.enum(DICTIONARY_NAMES) }) },
    responses: { 200: { description: 'versions', content: { 'application/json': { schema: z.array(DictionarySummary) } } }, ...unauthorized } }),
  async (c) => {
    const name = c.req.valid('param').name;
    await deps.audit({ actor: 'api-token', action: 'dictionary.versions', target: name, sourceIp: ip(c), outcome: 'ok' });
    const sql = sqlFor(deps.wh);
    const len = sql.dialect === 'postgres' ? 'jsonb_array_length(items)' : 'json_array_length(items)';
    const rows = await sql.all<{ version: number; published_at: unknown; n: number }>(`SELECT version, published_at, ${len} AS n FROM dictionaries WHERE name = ? ORDER BY version DESC`, [name]);
    return c.json(rows.map((r) => ({ name, version: Number(r.version), publishedAt: r.published_at instanceof Date ? r.published_at.toISOString() : String(r.published_at), items: Number(r.n) })), 200);
  });

  const Distribution = z.object({
    name: z.string(), latestVersion: z.number().int().nullable(), upToDate: z.number().int(), behind: z.number().int(),
    clinics: z.array(z.object({ clinicId: z.string(), version: z.number().int().nullable(), upToDate: z.boolean(), lastHeartbeatAt: z.string().nullable() })),
  }).openapi('DictionaryDistribution');
  app.openapi(createRoute({ method: 'get', path: '/api/dictionaries/{name}/distribution', security: auth, summary: 'Which edge holds which version of a dictionary (from heartbeats)',
    request: { params: z.object({ name: z.enum(DICTIONARY_NAMES) }) },
    responses: { 200: { description: 'per clinic', content: { 'application/json': { schema: Distribution } } }, ...unauthorized } }),
  async (c) => {
    const name = c.req.valid('param').name;
    await deps.audit({ actor: 'api-token', action: 'dictionary.distribution', target: name, sourceIp: ip(c), outcome: 'ok' });
    const latest = (await deps.wh.latestDictionaries()).find((d) => d.name === name)?.version ?? null;
    const clinics = (await deps.wh.fleet()).map((f) => ({ clinicId: f.clinicId, version: f.dictionaries[name] ?? null, upToDate: latest !== null && (f.dictionaries[name] ?? 0) >= latest, lastHeartbeatAt: f.lastHeartbeatAt }));
    return c.json({ name, latestVersion: latest, upToDate: clinics.filter((x) => x.upToDate).length, behind: clinics.filter((x) => !x.upToDate).length, clinics }, 200);
  });

  app.doc31('/openapi.json', { openapi: '3.1.0', info: { title: 'District primary-care central API', version: '0.1.0', description: 'Fleet, dictionaries (with CSV/Excel import), the warehouse data dictionary and projection tables, city-platform uploads, archive, dead letters and resident conflicts. FHIR R4 lives under /fhir (see [central]).' } });
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
