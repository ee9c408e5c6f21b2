/**
 * Central's backup side on real servers: the off-site target protocol (auth, resumable
 * upload across a target that goes away mid-upload, sha256 check, full disk -> 507, range
 * reads) and central's own backups + drills on SQLite and on PostgreSQL (pg_dump/pg_restore).
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Hono } from 'hono';
import { pino } from 'pino';
import { BackupError, HttpTarget, LocalDirTarget, clinicBackupToken, createBackup, generateKeyFile, restoreBackup, replicate, listPoints } from '../../contracts/backup/index.ts';
import { listen } from '../../contracts/runtime/index.ts';
import { loadCentralConfig } from '../config.ts';
import { obs } from '../warehouse/contract.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { createTestDatabase } from '../../test/central/postgres.ts';
import { tempDir } from '../../test/helpers/spine.ts';
import { mountCentralBackup } from './index.ts';
import { drillCentral, restoreCentral } from './central-backup.ts';
import { STREAMS } from '../../contracts/index.ts';

const log = pino({ level: 'silent' });
const secret = 'target-secret-0123456789';
const apiToken = 'test-token-0123456789';

async function startTarget(dataDir: string, wh: Warehouse, extra: Record<string, unknown> = {}) {
  const app = new Hono();
  const config = loadCentralConfig({ dataDir, apiToken }, {});
  const handle = await mountCentralBackup(app, { config, wh, log, backup: { targetSecret: secret, targetMinFreeBytes: 0, ...extra } });
  app.get('/metrics', (c) => c.text('# central metrics\n')); // as mountOps registers it after the mounts
  const http = await listen(app, '127.0.0.1', 0);
  return { http, handle, url: `${http.url}/backup/v1`, async stop() { await http.close(); await handle.stop(); } };
}

t.test('off-site target: auth, resumable upload across an outage, checksums, full disk, range reads', async (t) => {
  const tmp = tempDir('bk-target');
  t.teardown(tmp.cleanup);
  const wh = new SqliteWarehouse(join(tmp.dir, 'wh.db'));
  t.teardown(() => wh.close());
  let srv = await startTarget(join(tmp.dir, 'central'), wh);
  const owner = 'c07-target';
  const file = join(tmp.dir, 'big.pack');
  const content = randomBytes(6 * 1024 * 1024 + 123);
  writeFileSync(file, content);
  const sha = createHash('sha256').update(content).digest('hex');

  const bad = new HttpTarget({ url: srv.url, owner, token: 'nope', attempts: 1 });
  await t.rejects(bad.list(), { code: 'TARGET_REFUSED', message: /refused the credentials/ });
  const other = new HttpTarget({ url: srv.url, owner: 'c08-other', token: clinicBackupToken(secret, owner), attempts: 1 });
  await t.rejects(other.list(), { code: 'TARGET_REFUSED' }, 'a clinic token does not open another clinic');

  // The target goes away after two parts: clear error, then the upload resumes where it stopped.
  let parts = 0;
  const dying = new HttpTarget({
    url: srv.url, owner, token: clinicBackupToken(secret, owner), partSize: 1 << 20, attempts: 2, timeoutMs: 3000,
    fetch: async (input, init) => {
      if (init?.method === 'PATCH' && ++parts === 3) await srv.stop();
      return fetch(input, init);
    },
  });
  const err = await dying.upload('c20260101T000000000Z_20260101T000000000Z_full.pack', file, sha).catch((e: BackupError) => e);
  t.equal((err as BackupError).code, 'TARGET_UNREACHABLE');
  t.match((err as Error).message, /resumes where it stopped/);
  srv = await startTarget(join(tmp.dir, 'central'), wh);
  t.teardown(() => srv.stop());
  const good = new HttpTarget({ url: srv.url, owner, token: clinicBackupToken(secret, owner), partSize: 1 << 20 });
  const r = await good.upload('c20260101T000000000Z_20260101T000000000Z_full.pack', file, sha);
  t.equal(r.resumedAt, 2 << 20, 'resumed after the two parts the target had stored');
  t.equal(r.sent, content.length - (2 << 20));
  t.same(readFileSync(join(tmp.dir, 'central', 'backup-target', owner, 'c20260101T000000000Z_20260101T000000000Z_full.pack')), content, 'stored object is byte-identical');
  t.same(await good.read('c20260101T000000000Z_20260101T000000000Z_full.pack', 1000, 50), content.subarray(1000, 1050), 'range read');
  // A wrong checksum is refused and the partial upload discarded.
  await t.rejects(good.upload('x.pack', file, 'f'.repeat(64)), { code: 'TARGET_REFUSED', message: /sha256 mismatch/ });
  t.same((await good.list()).map((o) => o.name), ['c20260101T000000000Z_20260101T000000000Z_full.pack']);

  // Full disk on the target: 507 -> NO_SPACE, nothing half-visible.
  const full = await startTarget(join(tmp.dir, 'central-full'), wh, { targetMinFreeBytes: Number.MAX_SAFE_INTEGER });
  t.teardown(() => full.stop());
  const tf = new HttpTarget({ url: full.url, owner, token: clinicBackupToken(secret, owner) });
  await t.rejects(tf.upload('y.pack', file, sha), { code: 'NO_SPACE', message: /out of space/ });
  t.same(await tf.list(), []);

  // The portal's overview (central API token).
  t.equal((await fetch(`${srv.http.url}/backup/v1/status`)).status, 401);
  const ov = await (await fetch(`${srv.http.url}/backup/v1/status`, { headers: { authorization: `Bearer ${apiToken}` } })).json() as { owners: { owner: string; objects: number; bytes: number }[] };
  t.match(ov.owners, [{ owner, objects: 1, bytes: content.length }]);
});

t.test('replicate a repository off-site and restore from there', async (t) => {
  const tmp = tempDir('bk-repl');
  t.teardown(tmp.cleanup);
  const wh = new SqliteWarehouse(join(tmp.dir, 'wh.db'));
  t.teardown(() => wh.close());
  const srv = await startTarget(join(tmp.dir, 'central'), wh);
  t.teardown(() => srv.stop());
  mkdirSync(join(tmp.dir, 'src'));
  for (let i = 0; i < 5; i++) writeFileSync(join(tmp.dir, 'src', `f${i}`), randomBytes(300_000));
  const key = generateKeyFile(join(tmp.dir, 'k'));
  const repo = new LocalDirTarget(join(tmp.dir, 'repo'));
  const sources = () => [0, 1, 2, 3, 4].map((i) => ({ path: `data/f${i}`, kind: 'file' as const, file: join(tmp.dir, 'src', `f${i}`) }));
  await createBackup({ repo, key, source: { system: 'edge', owner: 'c09', host: 'h', appVersion: 't', schema: {} }, sources });
  writeFileSync(join(tmp.dir, 'src', 'f2'), randomBytes(300_000));
  await createBackup({ repo, key, source: { system: 'edge', owner: 'c09', host: 'h', appVersion: 't', schema: {} }, sources });
  const remote = new HttpTarget({ url: srv.url, owner: 'c09-repl', token: clinicBackupToken(secret, 'c09-repl') });
  const u = await replicate(repo, remote, key);
  t.equal(u.uploaded.length, 2);
  t.equal((await replicate(repo, remote, key)).uploaded.length, 0, 'nothing uploaded twice');
  t.equal((await listPoints(remote)).length, 2);
  const out = await restoreBackup({ target: remote, key, dest: join(tmp.dir, 'restored') });
  for (let i = 0; i < 5; i++) t.same(readFileSync(join(out.dest, 'data', `f${i}`)), readFileSync(join(tmp.dir, 'src', `f${i}`)));
});

t.test('central own backup + drill on SQLite', async (t) => {
  const tmp = tempDir('bk-central');
  t.teardown(tmp.cleanup);
  const dataDir = join(tmp.dir, 'central');
  const wh = new SqliteWarehouse(join(dataDir, 'warehouse.db'));
  t.teardown(() => wh.close());
  await wh.ingest(Array.from({ length: 200 }, (_, i) => obs('c01-x', i + 1)));
  mkdirSync(join(tmp.dir, 'keys'));
  generateKeyFile(join(tmp.dir, 'keys', 'k'));
  const srv = await startTarget(dataDir, wh, { keyFile: join(tmp.dir, 'keys', 'k'), localDir: join(tmp.dir, 'central-backups') });
  t.teardown(() => srv.stop());
  // The image archive: a filed instance is backed up; uploads in progress (a temp file, a resumable part) are not.
  for (const [rel, bytes] of [['imaging/c01-x/2.25.1/2.25.2.dcm', 1000], ['imaging/.tmp/2.25.3.1.1.part', 500], ['imaging/.uploads/c01-x/2.25.4.ab.part', 700]] as const) {
    mkdirSync(dirname(join(dataDir, rel)), { recursive: true });
    writeFileSync(join(dataDir, rel), randomBytes(bytes));
  }
  await srv.handle.runBackup();
  const restored = await restoreCentral({ central: loadCentralConfig({ dataDir, apiToken }, {}), backup: srv.handle.config }, { dest: join(tmp.dir, 'restored-imaging') });
  const paths = restored.manifest.files.map((f) => f.path);
  t.ok(paths.includes('data/imaging/c01-x/2.25.1/2.25.2.dcm'), 'the archived instance is in the backup');
  t.notOk(paths.some((p) => p.includes('/.tmp/') || p.includes('/.uploads/')), 'uploads in progress are not');
  const cursor = { stream: STREAMS.records, seq: 250, storedAt: '2026-11-29T10:00:00.000Z' };
  await wh.ingest(Array.from({ length: 50 }, (_, i) => obs('c01-x', 201 + i)), cursor);
  await srv.handle.runBackup();
  const d = await srv.handle.runDrill();
  t.ok(d.ok, JSON.stringify(d));
  t.match(d.checks.find((c) => c.name === 'counts = backup manifest')?.detail, /"records":250/);
  t.notOk(d.checks.some((c) => c.name === 'records stream covers the point'), 'without a broker connection the stream check is left out');
  // With one (central passes ingest/cursor-check.ts `restoreReplayable`): the restored point's cursor is what it is asked about.
  const asked: unknown[] = [];
  const d2 = await drillCentral({ central: loadCentralConfig({ dataDir, apiToken }, {}), backup: srv.handle.config }, {
    counts: async () => ({}),
    replayable: async (c) => { asked.push(c); return { ok: false, detail: 'the records stream no longer holds 12 messages after the point' }; },
  });
  t.same(asked, [cursor], 'the drill reads the stream cursor of the restored point');
  t.notOk(d2.ok, 'a point the stream cannot cover fails the drill');
  t.match(d2.checks.find((c) => c.name === 'records stream covers the point'), { ok: false, detail: /no longer holds 12 messages/ });
  const ov = await srv.handle.overview();
  t.equal(ov.central.points, 2);
  t.equal(ov.central.lastSuccess?.kind, 'incremental');
  const m = await (await fetch(`${srv.http.url}/metrics`)).text();
  t.match(m, /backup_rto_seconds\{owner="central"\} \d/);
});

t.test('central own backup + drill on PostgreSQL (pg_dump / pg_restore)', async (t) => {
  const tmp = tempDir('bk-central-pg');
  t.teardown(tmp.cleanup);
  await using db = await createTestDatabase('bk');
  const wh = await PostgresWarehouse.open(db.url);
  t.teardown(() => wh.close());
  const cursor = { stream: STREAMS.records, seq: 120, storedAt: '2026-11-29T11:00:00.000Z' };
  await wh.ingest(Array.from({ length: 120 }, (_, i) => obs('c02-pg', i + 1)), cursor);
  mkdirSync(join(tmp.dir, 'keys'));
  generateKeyFile(join(tmp.dir, 'keys', 'k'));
  const app = new Hono();
  const config = loadCentralConfig({ dataDir: join(tmp.dir, 'central'), apiToken, warehouse: 'postgres', pgUrl: db.url }, {});
  const h = await mountCentralBackup(app, { config, wh, log, backup: { keyFile: join(tmp.dir, 'keys', 'k'), localDir: join(tmp.dir, 'backups') } });
  t.teardown(() => h.stop());
  await h.runBackup('full');
  const d = await h.runDrill();
  t.ok(d.ok, JSON.stringify(d));
  t.match(d.checks.find((c) => c.name === 'counts = backup manifest')?.detail, /"records":120/);
  t.ok(d.rtoSeconds > 0);
  const asked: unknown[] = [];
  const d2 = await drillCentral({ central: config, backup: h.config }, { counts: async () => ({}), replayable: async (c) => { asked.push(c); return { ok: true, detail: 'covered' }; } });
  t.same(asked, [cursor], 'the drill reads the stream cursor of the restored PostgreSQL point');
  t.ok(d2.ok, JSON.stringify(d2));
});
