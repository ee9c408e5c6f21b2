/**
 * End to end: records written at a clinic edge travel the spine to central, land in the WS 365
 * projections, and the scheduled uploader delivers them to a city platform (a real local HTTP
 * server) exactly once; the monitor API shows the upload log.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { writeActivity } from '../helpers/activity.ts';
import { waitFor } from '../helpers/wait.ts';

t.test('edge records reach the city platform through central', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('upload-e2e');
  t.teardown(tmp.cleanup);
  const received = new Map<string, { dataset: string; count: number }>();
  const recordKeys = new Set<string>();
  let requests = 0;
  const city = createServer((req, res) => {
    let raw = '';
    req.on('data', (c: Buffer) => { raw += c.toString(); });
    req.on('end', () => {
      requests++;
      const b = JSON.parse(raw) as { dataset: string; count: number; records: { clinicId: string; recordId: string; version: number; recordType: string }[] };
      const key = String(req.headers['idempotency-key']);
      if (received.has(key)) { res.writeHead(409).end(); return; }
      received.set(key, { dataset: b.dataset, count: b.count });
      for (const r of b.records) recordKeys.add(`${r.clinicId}/${r.recordType}/${r.recordId}/${r.version}`);
      res.writeHead(202, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((r) => city.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => city.close(() => r())));
  const url = `http://127.0.0.1:${(city.address() as AddressInfo).port}/upload`;

  const central = await centralInProcess(ns.url, `${tmp.dir}/central`, { uploadUrl: url, uploadIntervalSec: 5, uploadBatchSize: 100 });
  const edge = await edgeInProcess(ns.url, 'e2e-upload-clinic', `${tmp.dir}/edge`);
  t.teardown(async () => { await edge.stop(); await central.stop(); });

  const acked = writeActivity(edge, 300, 7);
  await waitFor('applied at central', async () => (await central.wh.watermark(edge.config.clinicId)).appliedSeq === acked, 60_000);
  const total = await central.wh.countRecords(edge.config.clinicId);
  const token = central.config.apiToken;
  const api = (path: string, init: RequestInit = {}) => fetch(`${central.http.url}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  // The 5 s timer may already have claimed some; the operator's "run now" takes the rest.
  const run = await (await api('/api/uploads/run', { method: 'POST' })).json() as { claimed: number; sent: number };
  t.ok(run.claimed <= total, `run now claimed ${run.claimed} of ${total}`);
  await waitFor('all delivered', () => recordKeys.size === total, 30_000);
  t.equal(recordKeys.size, total, 'the city platform holds every record once');
  t.equal([...received.values()].reduce((a, b) => a + b.count, 0), total, 'no record sent in two batches');
  const summary = await (await api('/api/uploads/summary')).json() as { type: string; records: number; recordsSent: number; status: string }[];
  t.equal(summary.reduce((a, s) => a + s.recordsSent, 0), total, 'the upload log accounts for every record');
  t.ok(summary.every((s) => s.status === 'sent'));
  const status = await (await api('/api/uploads/status')).json() as { enabled: boolean };
  t.equal(status.enabled, true);
  const dd = await (await api('/api/warehouse/tables/dw_observation?limit=1')).json() as { total: number };
  t.ok(dd.total > 0, 'device readings from the edge are in the WS 365 projection');
  const metrics = await (await fetch(`${central.http.url}/metrics`)).text();
  t.match(metrics, /central_upload_records_total\{target="city",type="[a-z_]+"\} \d+/, 'upload metrics exported');
  t.ok(requests >= received.size);
});
