/**
 * City-platform upload against a real local HTTP server standing in for the city platform, on
 * both warehouse backends: batching per type and day, retries with backoff, idempotency keys
 * (a lost acknowledgement does not duplicate a batch), refusals, compensation, the monitor API.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import t from 'tap';
import { centralApi } from '../../central/api.ts';
import { loadCentralConfig } from '../../central/config.ts';
import { mountUploads } from '../../central/upload/index.ts';
import { PostgresWarehouse } from '../../central/warehouse/postgres.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import type { IngestItem, Warehouse } from '../../central/warehouse/types.ts';
import { formatHlc, type RecordType } from '../../contracts/index.ts';
import { createLogger } from '../../contracts/runtime/index.ts';
import { createTestDatabase } from './postgres.ts';

const TOKEN = 'upload-test-token-0123456789';
const H = { authorization: `Bearer ${TOKEN}` };

/** The city platform: stores batches by idempotency key; answers as the test scripts it. */
class CityPlatform {
  server!: Server;
  url = '';
  requests: { key: string; dataset: string; day: string; count: number; auth: string | undefined }[] = [];
  stored = new Map<string, { dataset: string; day: string; records: { clinicId: string; recordId: string; version: number; data: unknown }[] }>();
  /** Next answers, consumed in order: 'ok', 'down' (503, not stored), 'lost-ack' (stored, then 500), 'refuse' (400). */
  script: ('ok' | 'down' | 'lost-ack' | 'refuse')[] = [];
  refuseDataset: string | null = null;

  async start() {
    this.server = createServer((req, res) => void this.handle(req).then(([status, body]) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); }));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/city/upload`;
  }

  private async handle(req: IncomingMessage): Promise<[number, unknown]> {
    let raw = '';
    for await (const ch of req) raw += ch;
    const b = JSON.parse(raw) as { idempotencyKey: string; dataset: string; day: string; count: number; records: { clinicId: string; recordId: string; version: number; data: unknown }[] };
    const key = String(req.headers['idempotency-key']);
    this.requests.push({ key, dataset: b.dataset, day: b.day, count: b.count, auth: req.headers.authorization });
    const step = this.script.shift() ?? 'ok';
    if (step === 'down') return [503, { error: 'maintenance' }];
    if (step === 'refuse' || b.dataset === this.refuseDataset) return [400, { error: `dataset ${b.dataset} not accepted` }];
    if (this.stored.has(key)) return [409, { error: 'duplicate idempotency key' }];
    if (b.count !== b.records.length) return [400, { error: 'count mismatch' }];
    this.stored.set(key, { dataset: b.dataset, day: b.day, records: b.records });
    if (step === 'lost-ack') return [500, { error: 'stored but the answer is lost' }];
    return [202, { accepted: b.count }];
  }

  uniqueRecords() {
    return [...this.stored.values()].flatMap((s) => s.records.map((r) => `${r.clinicId}/${r.recordId}/${r.version}`));
  }

  stop() { return new Promise<void>((r) => this.server.close(() => r())); }
}

let seq = 0;
function rec(clinicId: string, type: RecordType, id: string, createdAt: string, payload: Record<string, unknown>): IngestItem {
  seq++;
  return { kind: 'record', type, payload, hash: `uh${seq}`, raw: '', envelope: { recordId: id, type, clinicId, seq: Number(id.split('-').pop()), version: 1, hlc: formatHlc({ ms: 1_750_000_000_000 + seq, counter: 0, node: clinicId }), schemaVersion: 1, createdAt, payload } };
}

function suite(name: string, make: () => Promise<{ wh: Warehouse; cleanup: () => Promise<void> }>) {
  t.test(`city upload on ${name}`, async (t) => {
    const { wh, cleanup } = await make();
    const city = new CityPlatform();
    await city.start();
    const dataDir = mkdtempSync(join(tmpdir(), 'upload-'));
    const registry = new Registry();
    const config = loadCentralConfig({ dataDir, apiToken: TOKEN, uploadUrl: city.url, uploadToken: 'city-secret', uploadBatchSize: 10, uploadMaxAttempts: 3, districtCode: '110101' }, {});
    const app = centralApi({ wh, token: TOKEN, publishDictionary: async () => ({ distributed: true }), audit: (e) => wh.audit(e) });
    const { uploader, stop } = await mountUploads(app, { config, wh, log: createLogger('test', 'silent'), registry, audit: (e) => wh.audit(e), options: { backoffBaseMs: 1_000, compensateAfterMs: 60_000, overlapMs: 60_000 } });
    t.teardown(async () => { await stop(); await city.stop(); await cleanup(); rmSync(dataDir, { recursive: true, force: true }); });
    // The uploader's clock: each run an hour later, so every backoff has elapsed (no sleeping, no timing).
    let clock = Date.now();
    const run = () => { clock += 3_600_000; return uploader.run(() => new Date(clock)); };

    // 25 observations created on 2026-03-01 (CST) at clinic A, 5 encounters on 2026-03-02 at clinic B.
    const obsItems = Array.from({ length: 25 }, (_, i) => rec('up-a', 'observation', `o-${i + 1}`, `2026-03-01T0${i % 9}:00:00+08:00`, { observationId: `o-${i + 1}`, code: '8867-4', display: 'HR', value: 60 + i, unit: '/min', effectiveAt: '2026-03-01T08:00:00+08:00' }));
    const encItems = Array.from({ length: 5 }, (_, i) => rec('up-b', 'encounter', `e-${i + 1}`, '2026-03-01T17:30:00Z', { encounterId: `e-${i + 1}`, residentId: 'r1', class: 'outpatient', status: 'finished', departmentCode: 'GP', registeredAt: '2026-03-01T17:30:00Z', diagnoses: [] }));
    await wh.ingest([...obsItems, ...encItems]);

    t.test('batches per type and day; retries after the platform was down; a lost ack is not a duplicate', async (t) => {
      city.script = ['down', 'lost-ack', 'down'];
      const r1 = await run();
      t.match(r1, { claimed: 30, batchesCreated: 4, sent: 1, retried: 3, failed: 0 });
      const r2 = await run();
      t.match(r2, { claimed: 0, sent: 3 }, 'retried with the same keys');
      t.equal(city.stored.size, 4, 'four batches held by the platform');
      const unique = city.uniqueRecords();
      t.equal(unique.length, 30, 'every record once');
      t.equal(new Set(unique).size, 30, 'no record twice');
      t.ok(city.requests.some((q) => q.key === city.requests[1]!.key && q !== city.requests[1]), 'the batch whose ack was lost was resent with the same idempotency key (answered 409)');
      t.ok(city.requests.every((q) => q.auth === 'Bearer city-secret'), 'token sent');
      t.same([...city.stored.values()].map((s) => `${s.dataset}@${s.day}:${s.records.length}`).sort(), ['encounter@2026-03-02:5', 'observation@2026-03-01:10', 'observation@2026-03-01:10', 'observation@2026-03-01:5'],
        'encounters created 17:30Z on 1 March are 2 March in China');
    });

    t.test('only new records go in the next run', async (t) => {
      await wh.ingest([rec('up-a', 'observation', 'o-26', '2026-03-03T10:00:00+08:00', { observationId: 'o-26', code: '8867-4', display: 'HR', value: 70, unit: '/min', effectiveAt: '2026-03-03T10:00:00+08:00' })]);
      const r = await run();
      t.match(r, { claimed: 1, batchesCreated: 1, sent: 1 });
      t.match(await run(), { claimed: 0, batchesCreated: 0, sent: 0 }, 'nothing left');
      t.equal(city.uniqueRecords().length, 31);
    });

    t.test('a refused batch fails at once, is not compensated automatically, and an operator retry sends it', async (t) => {
      city.refuseDataset = 'lab_result';
      await wh.ingest([rec('up-a', 'lab_result', 'l-27', '2026-03-04T10:00:00+08:00', { resultId: 'l-27', specimenId: 'S', testCode: 'K', testName: 'K', value: '4', status: 'final', resultedAt: '2026-03-04T10:00:00+08:00' })]);
      t.match(await run(), { claimed: 1, failed: 1, sent: 0 });
      const failed = (await uploader.batches({ status: 'failed', limit: 10, offset: 0 })).rows;
      t.match(failed, [{ type: 'lab_result', day: '2026-03-04', attempts: 1, lastHttpStatus: 400, lastError: /not accepted/ }]);
      t.match(await run(), { compensated: 0, sent: 0 }, 'a refusal waits for an operator');
      city.refuseDataset = null;
      const res = await app.request(`/api/uploads/batches/${failed[0]!.id}/retry`, { method: 'POST', headers: H });
      t.match(await res.json(), { status: 'pending', attempts: 0 });
      t.match(await run(), { sent: 1 });
    });

    t.test('retries exhausted -> failed; compensation re-queues it later with the same key', async (t) => {
      await wh.ingest([rec('up-a', 'observation', 'o-28', '2026-03-05T10:00:00+08:00', { observationId: 'o-28', code: '8867-4', display: 'HR', value: 70, unit: '/min', effectiveAt: '2026-03-05T10:00:00+08:00' })]);
      city.script = ['down', 'down', 'down'];
      t.match(await run(), { claimed: 1, retried: 1 });
      t.match(await run(), { retried: 1 });
      t.match(await run(), { failed: 1 }, 'third attempt of 3: failed');
      const b = (await uploader.batches({ status: 'failed', limit: 10, offset: 0 })).rows[0]!;
      t.match(b, { attempts: 3, lastHttpStatus: 503 });
      t.match(await run(), { compensated: 1, sent: 1 }, 'an hour later (> compensateAfter) it is re-queued and sent');
      t.equal(city.requests.filter((q) => q.key === b.idempotencyKey).length, 4, 'same idempotency key throughout');
      t.equal(new Set(city.uniqueRecords()).size, 33);
    });

    t.test('monitor API: summary per type and day, batches, status, metrics; all authenticated', async (t) => {
      let res = await app.request('/api/uploads/summary?from=2026-03-01&to=2026-03-31', { headers: H });
      const summary = await res.json() as { type: string; day: string; batches: number; records: number; recordsSent: number; status: string }[];
      t.match(summary.find((s) => s.type === 'observation' && s.day === '2026-03-01'), { batches: 3, records: 25, recordsSent: 25, status: 'sent' });
      t.match(summary.find((s) => s.type === 'encounter'), { day: '2026-03-02', records: 5, status: 'sent' });
      t.equal(summary[0]!.day, '2026-03-05', 'newest day first');
      res = await app.request('/api/uploads/batches?type=observation&day=2026-03-01', { headers: H });
      t.match(await res.json(), { total: 3 });
      res = await app.request('/api/uploads/status', { headers: H });
      t.match(await res.json(), { enabled: true, adapter: 'http-json', endpointHost: new URL(city.url).host, batchSize: 10, maxAttempts: 3 });
      for (const p of ['/api/uploads/summary', '/api/uploads/batches', '/api/uploads/status']) t.equal((await app.request(p)).status, 401, p);
      t.equal((await app.request('/api/uploads/run', { method: 'POST' })).status, 401);
      t.equal((await app.request('/api/uploads/batches/nope', { headers: H })).status, 404);
      res = await app.request('/api/uploads/run', { method: 'POST', headers: H });
      t.match(await res.json(), { claimed: 0 });
      const metrics = await registry.metrics();
      t.match(metrics, /central_upload_records_total\{target="city",type="observation"\} 27/);
      t.match(metrics, /central_upload_batches\{target="city",status="sent"\} 7/);
      t.match(metrics, /central_upload_attempts_total\{target="city",outcome="retry"\} \d+/);
      const spec = await (await app.request('/openapi.json')).json() as { paths: Record<string, unknown> };
      for (const p of ['/api/uploads/summary', '/api/uploads/batches', '/api/uploads/batches/{id}', '/api/uploads/batches/{id}/retry', '/api/uploads/run', '/api/uploads/status']) t.ok(spec.paths[p], `${p} documented`);
    });
  });
}

suite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'upload-wh-'));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  return { wh, cleanup: async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); } };
});

suite('postgres', async () => {
  const db = await createTestDatabase();
  const wh = await PostgresWarehouse.open(db.url);
  return { wh, cleanup: async () => { await wh.close(); await db.drop(); } };
});
