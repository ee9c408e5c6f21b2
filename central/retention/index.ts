/**
 * Retention API (`/api/archive/...`, bearer token, audited, in OpenAPI) and the daily archive run.
 */
import { join } from 'node:path';
import { createRoute, z, type OpenAPIHono } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { CentralConfig } from '../config.ts';
import { sqlFor } from '../warehouse/sql.ts';
import type { AuditEntry, Warehouse } from '../warehouse/types.ts';
import { ArchiveIntegrityError, Archiver, retentionCutoff } from './archive.ts';

export * from './archive.ts';

export interface RetentionMountDeps {
  config: CentralConfig;
  wh: Warehouse;
  log: Logger;
  audit: (e: AuditEntry) => Promise<void>;
  /** Run the archive on a timer (default daily; off in tests). */
  scheduleMs?: number | null;
}

const ErrorBody = z.object({ error: z.string(), detail: z.string().optional() });
const Part = z.object({
  id: z.string(), clinicId: z.string(), type: z.string(), year: z.number().int(), file: z.string(), records: z.number().int(), bytes: z.number().int(), sha256: z.string(),
  minCreatedAt: z.string(), maxCreatedAt: z.string(), cutoff: z.string(), archivedAt: z.string(), restoredAt: z.string().nullable(),
}).openapi('ArchivePart');
const ArchivedRecord = z.object({ type: z.string(), recordId: z.string(), version: z.number().int(), clinicId: z.string(), seq: z.number().int(), hlc: z.string(), payload: z.unknown(), createdAt: z.string(), appliedAt: z.string() }).openapi('ArchivedRecord');
const auth = [{ bearer: [] as string[] }];
const unauthorized = { 401: { description: 'missing or wrong bearer token', content: { 'application/json': { schema: ErrorBody } } } };
const notFound = { 404: { description: 'unknown part', content: { 'application/json': { schema: ErrorBody } } } };
const integrity = { 409: { description: 'the archive file is missing or does not match its checksum', content: { 'application/json': { schema: ErrorBody } } } };

function ip(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mountRetention(app: OpenAPIHono<any, any, any>, deps: RetentionMountDeps): Promise<{ archiver: Archiver; stop(): Promise<void> }> {
  const archiver = new Archiver(sqlFor(deps.wh), deps.config.archiveDir ?? join(deps.config.dataDir, 'archive'));
  const years = deps.config.retentionYears;
  let running: Promise<unknown> | undefined;
  const run = async (cutoff: Date) => {
    while (running) await running.catch(() => undefined);
    const p = archiver.archive(cutoff);
    running = p;
    try { return await p; } finally { running = undefined; }
  };
  const every = deps.scheduleMs === undefined ? 86_400_000 : deps.scheduleMs;
  const timer = every ? setInterval(() => {
    void run(retentionCutoff(new Date(), years)).then((r) => r.records && deps.log.info({ records: r.records, parts: r.parts.length }, 'archived records past retention'))
      .catch((e: Error) => deps.log.error({ err: e.message }, 'archive run failed'));
  }, every) : undefined;
  timer?.unref();
  const audit = (c: Context, action: string, target: string, outcome = 'ok') => deps.audit({ actor: 'api-token', action, target, sourceIp: ip(c), outcome });
  const guard = async <T>(c: Context, f: () => Promise<T>): Promise<T | Response> => {
    try { return await f(); } catch (e) {
      if (e instanceof ArchiveIntegrityError) return c.json({ error: 'archive integrity', detail: e.message }, 409);
      throw e;
    }
  };

  app.openapi(createRoute({ method: 'get', path: '/api/archive/parts', security: auth, summary: `Archive parts (records older than the ${years}-year online retention), per clinic, record type and year`,
    request: { query: z.object({ clinicId: z.string().max(64).optional(), type: z.string().max(64).optional(), year: z.coerce.number().int().min(1900).max(2200).optional() }) },
    responses: { 200: { description: 'the manifest', content: { 'application/json': { schema: z.array(Part) } } }, ...unauthorized } }),
  async (c) => {
    await audit(c, 'archive.list', 'archive_parts');
    return c.json(await archiver.parts(c.req.valid('query')), 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/api/archive/parts/{id}/records', security: auth, summary: 'Read archived records (checksum verified), optionally one resident\'s; personal data: audited',
    request: { params: z.object({ id: z.string().max(64) }), query: z.object({ residentId: z.string().max(64).optional(), offset: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(1000).default(100) }) },
    responses: { 200: { description: 'records as they were in the warehouse', content: { 'application/json': { schema: z.object({ part: Part, total: z.number().int(), records: z.array(ArchivedRecord) }) } } }, ...notFound, ...integrity, ...unauthorized } }),
  async (c) => {
    const { id } = c.req.valid('param');
    const q = c.req.valid('query');
    const part = await archiver.part(id);
    await audit(c, 'archive.read', `${id}${q.residentId ? ` resident=${q.residentId}` : ''}`, part ? 'ok' : 'not found');
    if (!part) return c.json({ error: 'unknown part' }, 404);
    const r = await guard(c, () => archiver.read(part, q));
    return r instanceof Response ? r as never : c.json({ part, ...r }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/api/archive/run', security: auth, summary: `Archive now every record created before the cutoff (default: ${years} years ago)`,
    request: { body: { required: false, content: { 'application/json': { schema: z.object({ before: z.string().datetime({ offset: true }).optional() }) } } } },
    responses: { 200: { description: 'parts written', content: { 'application/json': { schema: z.object({ cutoff: z.string(), records: z.number().int(), parts: z.array(Part) }) } } }, 400: { description: 'cutoff inside the retention period', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    const body = c.req.header('content-type')?.includes('json') ? c.req.valid('json') : {};
    const limit = retentionCutoff(new Date(), years);
    const cutoff = body.before ? new Date(body.before) : limit;
    if (cutoff > limit) { await audit(c, 'archive.run', cutoff.toISOString(), 'refused: inside retention'); return c.json({ error: 'cutoff inside the retention period', detail: `records of the last ${years} years stay online (cutoff at most ${limit.toISOString()})` }, 400); }
    await audit(c, 'archive.run', cutoff.toISOString());
    const r = await run(cutoff);
    return c.json({ cutoff: cutoff.toISOString(), ...r }, 200);
  });

  app.openapi(createRoute({ method: 'post', path: '/api/archive/parts/{id}/restore', security: auth, summary: 'Put an archived part back online (idempotent) and rebuild its projection rows',
    request: { params: z.object({ id: z.string().max(64) }) },
    responses: { 200: { description: 'restored', content: { 'application/json': { schema: z.object({ restored: z.number().int(), alreadyOnline: z.number().int() }) } } }, ...notFound, ...integrity, ...unauthorized } }),
  async (c) => {
    const { id } = c.req.valid('param');
    const part = await archiver.part(id);
    await audit(c, 'archive.restore', id, part ? 'ok' : 'not found');
    if (!part) return c.json({ error: 'unknown part' }, 404);
    const r = await guard(c, () => archiver.restore(part));
    return r instanceof Response ? r as never : c.json(r, 200);
  });

  return { archiver, async stop() { clearInterval(timer); await running?.catch(() => undefined); } };
}
