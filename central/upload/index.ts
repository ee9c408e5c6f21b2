/**
 * City-platform upload monitor API (`/api/uploads/...`, bearer token, audited, in OpenAPI) and the
 * scheduled uploader's lifecycle. The uploader runs only when `uploadUrl` is configured; the
 * monitor routes answer either way.
 */
import { OpenAPIHono, createRoute, z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import type { Registry } from 'prom-client';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { CentralConfig } from '../config.ts';
import { sqlFor } from '../warehouse/sql.ts';
import type { AuditEntry, Warehouse } from '../warehouse/types.ts';
import { HttpJsonAdapter, type CityAdapter } from './adapter.ts';
import { CityUploader, type RunResult, type UploaderOptions } from './uploader.ts';

export * from './adapter.ts';
export * from './uploader.ts';

export interface UploadMountDeps {
  config: CentralConfig;
  wh: Warehouse;
  log: Logger;
  registry?: Registry;
  audit: (e: AuditEntry) => Promise<void>;
  /** Tests and other cities: a different adapter or options. */
  adapter?: CityAdapter;
  options?: Partial<UploaderOptions>;
}

const ErrorBody = z.object({ error: z.string(), detail: z.string().optional() });
const Batch = z.object({
  id: z.string(), target: z.string(), type: z.string(), day: z.string(), idempotencyKey: z.string(), recordCount: z.number().int(),
  status: z.enum(['pending', 'sent', 'failed']), attempts: z.number().int(), lastError: z.string().nullable(), lastHttpStatus: z.number().int().nullable(),
  createdAt: z.string(), updatedAt: z.string(), sentAt: z.string().nullable(), nextAttemptAt: z.string(),
}).openapi('UploadBatch');
const DaySummary = z.object({
  type: z.string(), day: z.string(), batches: z.number().int(), records: z.number().int(), recordsSent: z.number().int(),
  sent: z.number().int(), pending: z.number().int(), failed: z.number().int(), lastSentAt: z.string().nullable(), status: z.enum(['sent', 'pending', 'failed', 'partial']),
}).openapi('UploadDaySummary');
const Run = z.object({ claimed: z.number().int(), batchesCreated: z.number().int(), sent: z.number().int(), retried: z.number().int(), failed: z.number().int(), compensated: z.number().int() }).openapi('UploadRun');
const Status = z.object({
  enabled: z.boolean(), target: z.string(), adapter: z.string().nullable(), endpointHost: z.string().nullable(), intervalSec: z.number(), batchSize: z.number().int(), maxAttempts: z.number().int(),
  lastRun: Run.extend({ at: z.string(), error: z.string().nullable() }).nullable(),
}).openapi('UploadStatus');
const day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/);
const auth = [{ bearer: [] as string[] }];
const unauthorized = { 401: { description: 'missing or wrong bearer token', content: { 'application/json': { schema: ErrorBody } } } };

function ip(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

// Hono's generic parameters vary per app; the mount only adds routes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mountUploads(app: OpenAPIHono<any, any, any>, deps: UploadMountDeps): Promise<{ uploader: CityUploader; stop(): Promise<void> }> {
  const cfg = deps.config;
  const adapter = deps.adapter ?? (cfg.uploadUrl ? new HttpJsonAdapter({ url: cfg.uploadUrl, token: cfg.uploadToken, district: cfg.districtCode }) : null);
  const uploader = new CityUploader(sqlFor(deps.wh), adapter ?? { name: 'none', send: async () => ({ ok: false, retryable: true, error: 'no city platform configured (CENTRAL_UPLOAD_URL)' }) },
    { batchSize: cfg.uploadBatchSize, maxAttempts: cfg.uploadMaxAttempts, intervalMs: cfg.uploadIntervalSec * 1000, ...deps.options }, deps.registry, deps.log);
  let lastRun: (RunResult & { at: string; error: string | null }) | null = null;
  const runNow = async () => {
    const at = new Date().toISOString();
    try {
      const r = await uploader.run();
      lastRun = { ...r, at, error: null };
      return r;
    } catch (e) {
      lastRun = { claimed: 0, batchesCreated: 0, sent: 0, retried: 0, failed: 0, compensated: 0, at, error: (e as Error).message };
      throw e;
    }
  };
  let timer: NodeJS.Timeout | undefined;
  if (adapter) {
    timer = setInterval(() => { void runNow().catch((e: Error) => deps.log.error({ err: e.message }, 'city upload run failed')); }, uploader.o.intervalMs);
    timer.unref();
  }
  const audit = (c: Context, action: string, target: string, outcome = 'ok') => deps.audit({ actor: 'api-token', action, target, sourceIp: ip(c), outcome });

  app.openapi(createRoute({ method: 'get', path: '/api/uploads/status', security: auth, summary: 'City-platform uploader: configuration and last run',
    responses: { 200: { description: 'status', content: { 'application/json': { schema: Status } } }, ...unauthorized } }),
  async (c) => {
    await audit(c, 'uploads.status', 'uploads');
    return c.json({ enabled: !!adapter, target: uploader.o.target, adapter: adapter?.name ?? null, endpointHost: cfg.uploadUrl ? new URL(cfg.uploadUrl).host : null, intervalSec: uploader.o.intervalMs / 1000, batchSize: uploader.o.batchSize, maxAttempts: uploader.o.maxAttempts, lastRun }, 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/api/uploads/summary', security: auth, summary: 'Upload log per record type and day (China Standard Time): batches and records sent, pending, failed',
    request: { query: z.object({ from: day.optional(), to: day.optional() }) },
    responses: { 200: { description: 'newest day first', content: { 'application/json': { schema: z.array(DaySummary) } } }, ...unauthorized } }),
  async (c) => {
    await audit(c, 'uploads.summary', 'upload_batches');
    return c.json(await uploader.summary(c.req.valid('query')), 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/api/uploads/batches', security: auth, summary: 'Upload batches, newest first, filtered by status, record type, day',
    request: { query: z.object({ status: z.enum(['pending', 'sent', 'failed']).optional(), type: z.string().max(64).optional(), day: day.optional(), limit: z.coerce.number().int().min(1).max(1000).default(100), offset: z.coerce.number().int().min(0).default(0) }) },
    responses: { 200: { description: 'batches', content: { 'application/json': { schema: z.object({ total: z.number().int(), rows: z.array(Batch) }) } } }, ...unauthorized } }),
  async (c) => {
    await audit(c, 'uploads.batches', 'upload_batches');
    return c.json(await uploader.batches(c.req.valid('query')), 200);
  });

  app.openapi(createRoute({ method: 'get', path: '/api/uploads/batches/{id}', security: auth, summary: 'One upload batch',
    request: { params: z.object({ id: z.string().max(64) }) },
    responses: { 200: { description: 'batch', content: { 'application/json': { schema: Batch } } }, 404: { description: 'unknown batch', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    const id = c.req.valid('param').id;
    await audit(c, 'uploads.batch', id);
    const b = await uploader.batch(id);
    return b ? c.json(b, 200) : c.json({ error: 'unknown batch' }, 404);
  });

  app.openapi(createRoute({ method: 'post', path: '/api/uploads/batches/{id}/retry', security: auth, summary: 'Re-queue a failed batch (compensation by an operator); same idempotency key',
    request: { params: z.object({ id: z.string().max(64) }) },
    responses: { 200: { description: 'the batch, pending again', content: { 'application/json': { schema: Batch } } }, 404: { description: 'unknown batch', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    const id = c.req.valid('param').id;
    await audit(c, 'uploads.retry', id);
    const b = await uploader.retry(id);
    return b ? c.json(b, 200) : c.json({ error: 'unknown batch' }, 404);
  });

  app.openapi(createRoute({ method: 'post', path: '/api/uploads/run', security: auth, summary: 'Run the uploader now (claim new records, send due batches)',
    responses: { 200: { description: 'what the run did', content: { 'application/json': { schema: Run } } }, 409: { description: 'no city platform configured', content: { 'application/json': { schema: ErrorBody } } }, ...unauthorized } }),
  async (c) => {
    if (!adapter) { await audit(c, 'uploads.run', 'uploads', 'refused: not configured'); return c.json({ error: 'no city platform configured', detail: 'set CENTRAL_UPLOAD_URL' }, 409); }
    await audit(c, 'uploads.run', 'uploads');
    return c.json(await runNow(), 200);
  });

  return {
    uploader,
    async stop() {
      clearInterval(timer);
      await uploader.stop();
    },
  };
}
