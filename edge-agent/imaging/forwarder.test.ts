import t from 'tap';
import { pino } from 'pino';
import { openDb } from '../../contracts/runtime/index.ts';
import { loadImagingConfig } from './config.ts';
import { Forwarder, RateLimiter } from './forwarder.ts';
import { mkdtempSync, readdirSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgeStore } from '../store/store.ts';
import { deviceMigrations } from '../devices/migrations.ts';
import { imagingMigrations } from './migrations.ts';
import { waitFor } from '../../test/helpers/wait.ts';

t.test('rate by window: unlimited, shaped, paused', async (t) => {
  const db = openDb(':memory:');
  const log = pino({ level: 'silent' });
  const f = (env: Record<string, string>) => new Forwarder(db, 'c01', loadImagingConfig('/x', env), log);
  const day = new Date(2026, 10, 28, 10);
  const night = new Date(2026, 10, 28, 22);
  t.equal(f({}).currentRate(day), Infinity, 'no limits');
  t.equal(f({ EDGE_DICOM_FORWARD_RATE: '100000' }).currentRate(day), 100000);
  const w = f({ EDGE_DICOM_FORWARD_WINDOWS: '19:00-07:00', EDGE_DICOM_FORWARD_OFF_WINDOW_RATE: '20000' });
  t.equal(w.currentRate(night), Infinity, 'night: full speed');
  t.equal(w.currentRate(day), 20000, 'day: trickle');
  t.equal(f({ EDGE_DICOM_FORWARD_WINDOWS: '19:00-07:00' }).currentRate(day), 0, 'day without an off-window rate: paused');
});

t.test('the token bucket lets a burst of one second through and then waits', async (t) => {
  let rate = 1_000_000;
  const l = new RateLimiter(() => rate);
  const ac = new AbortController();
  await l.take(1000, ac.signal);
  rate = 0;
  const paused = l.take(10, ac.signal);
  ac.abort();
  await t.rejects(paused, 'a paused take ends when aborted');
});

t.test('attempts that fail (central away, or answering before reading the body) leave no file open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fwd-fd-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new EdgeStore(join(dir, 'edge.db'), 'clinic-fwd', [...deviceMigrations, ...imagingMigrations]);
  t.teardown(() => store.close());
  const file = join(dir, 'a.dcm');
  writeFileSync(file, Buffer.alloc(300_000, 7));
  store.db.prepare(`INSERT INTO imaging_studies (study_instance_uid, first_received_at, last_received_at, match_kind) VALUES ('2.25.5', 'x', 'x', 'none')`).run();
  store.db.prepare(`INSERT INTO imaging_instances (sop_instance_uid, study_instance_uid, series_instance_uid, sop_class_uid, transfer_syntax_uid, size, sha256, path, calling_ae, received_at, fwd_next_at)
    VALUES ('2.25.6', '2.25.5', '2.25.7', 'c', 't', 300000, ?, ?, 'US_ROOM1', 'x', '')`).run('a'.repeat(64), file);
  const openOn = () => readdirSync('/proc/self/fd').filter((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`) === file; } catch { return false; } }).length;
  // A server that answers 507 at once without reading the upload, then a port nobody listens on.
  let answered = 0;
  const server = createServer((req, res) => { answered++; res.writeHead(507, { connection: 'close' }).end('{"error":"archive disk low"}'); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const log = pino({ level: 'silent' });
  for (const url of [`http://127.0.0.1:${port}`, 'http://127.0.0.1:1']) {
    const f = new Forwarder(store.db, 'clinic-fwd', loadImagingConfig(dir, { EDGE_DICOM_CENTRAL_URL: url, EDGE_DICOM_UPLOAD_TOKEN: 'tok', EDGE_DICOM_FORWARD_RETRY_MAX_MS: '100' }), log);
    f.start();
    await waitFor('several failed attempts', () => f.counters.failures >= 3, 20_000);
    await f.stop();
    // Closing a descriptor is itself asynchronous (the thread pool): give it a moment. A leak keeps
    // one open per failed attempt for good.
    await waitFor('descriptors closed', () => openOn() === 0, 5_000).catch(() => undefined);
    t.equal(openOn(), 0, `${url}: ${f.counters.failures} attempts, the file is not held open`);
    store.db.prepare("UPDATE imaging_instances SET fwd_next_at = ''").run();
  }
  t.ok(answered >= 3, 'the early answers came');
  server.close();
});
