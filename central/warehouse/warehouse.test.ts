/**
 * The warehouse contract against both backends: SQLite in a temp file, PostgreSQL in a
 * database of its own on the machine's server. Plus what only PostgreSQL can show: two
 * central instances on one database never interleave a clinic's apply.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import fc from 'fast-check';
import pg from 'pg';
import { PG_ADMIN_URL, createTestDatabase } from '../../test/central/postgres.ts';
import { obs, runWarehouseContract } from './contract.ts';
import { PostgresWarehouse } from './postgres.ts';
import { SqliteWarehouse } from './sqlite.ts';

runWarehouseContract(t, 'sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'wh-contract-'));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  return { wh, cleanup: async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); } };
});

runWarehouseContract(t, 'postgres', async () => {
  const db = await createTestDatabase();
  const wh = await PostgresWarehouse.open(db.url);
  return { wh, cleanup: async () => { await wh.close(); await db.drop(); } };
});

t.test('postgres: migrations are numbered and safe to re-run', async (t) => {
  await using db = await createTestDatabase();
  const [a, b] = await Promise.all([PostgresWarehouse.open(db.url), PostgresWarehouse.open(db.url)]);
  const c = await PostgresWarehouse.open(db.url);
  const versions = (await c.pool.query<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version')).rows.map((r) => r.version);
  t.same(versions.filter((v) => v < 110), [1, 2, 3, 100, 101, 102], 'each version once, even with two instances starting together');
  t.same(versions.filter((v) => v >= 120 && v < 130), [120, 121, 122, 124, 125], 'the ingest-path migrations (120-129) too (123 is SQLite only)');
  await c.audit({ actor: 'test', action: 'x', target: 'y', sourceIp: '::1', outcome: 'ok' });
  await t.rejects(c.pool.query('UPDATE audit_log SET outcome = $1', ['forged']), /append-only/, 'the audit log is append-only');
  await t.rejects(c.pool.query('DELETE FROM audit_log'), /append-only/);
  await Promise.all([a.close(), b.close(), c.close()]);
});

t.test('migration 120: projection tables keep one index (resident_id) besides their key, also when upgraded', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'wh-ix-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'warehouse.db');
  const sqliteIx = (wh: SqliteWarehouse, table: string) => wh.db.prepare<[string], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name").all(table).map((r) => r.name);
  let wh = new SqliteWarehouse(file);
  t.same(sqliteIx(wh, 'dw_observation'), ['dw_observation_resident_id'], 'sqlite: fresh database');
  t.same(sqliteIx(wh, 'dw_resident'), ['dw_resident_id_number', 'dw_resident_name'], 'resident lookups keep theirs');
  // A database created before 120: the old indexes are there and 120 is not applied.
  wh.db.exec("DROP INDEX dw_observation_resident_id; CREATE INDEX dw_observation_resident_id_code ON dw_observation (resident_id, code); CREATE INDEX dw_observation_effective_at ON dw_observation (effective_at); DELETE FROM schema_migrations WHERE version = 120");
  await wh.close();
  wh = new SqliteWarehouse(file);
  t.same(sqliteIx(wh, 'dw_observation'), ['dw_observation_resident_id'], 'sqlite: upgraded database');
  await wh.close();

  await using db = await createTestDatabase();
  let pw = await PostgresWarehouse.open(db.url);
  const pgIx = async (table: string) => (await pw.pool.query<{ indexname: string }>('SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname', [table])).rows.map((r) => r.indexname);
  t.same(await pgIx('dw_prescription_item'), ['dw_prescription_item_pkey', 'dw_prescription_item_resident_id'], 'postgres: fresh database');
  await pw.pool.query('DROP INDEX dw_prescription_item_resident_id; CREATE INDEX dw_prescription_item_drug_code ON dw_prescription_item (drug_code); DELETE FROM schema_migrations WHERE version = 120');
  await pw.close();
  pw = await PostgresWarehouse.open(db.url);
  t.same(await pgIx('dw_prescription_item'), ['dw_prescription_item_pkey', 'dw_prescription_item_resident_id'], 'postgres: upgraded database');
  await pw.close();
});

t.test('postgres: two central instances ingesting the same clinic never interleave its apply', async (t) => {
  await using db = await createTestDatabase();
  const one = await PostgresWarehouse.open(db.url);
  const two = await PostgresWarehouse.open(db.url);
  t.teardown(async () => { await one.close(); await two.close(); });
  // Both instances receive every message (as after a consumer rebalance), in different random orders and batches.
  await fc.assert(fc.asyncProperty(fc.integer({ min: 5, max: 60 }), fc.infiniteStream(fc.integer({ min: 1, max: 7 })), fc.integer(), async (n, sizes, seed) => {
    const clinicId = `pair-${(seed >>> 0).toString(16)}-${n}`;
    const shuffle = (xs: number[], s: number) => xs.map((x, i) => ({ x, k: Math.sin(s + i * 7919) })).sort((p, q) => p.k - q.k).map((p) => p.x);
    const seqs = Array.from({ length: n }, (_, i) => i + 1);
    const run = async (wh: PostgresWarehouse, order: number[]) => {
      const it = sizes[Symbol.iterator]();
      for (let i = 0; i < order.length;) {
        const size = it.next().value as number;
        await wh.ingest(order.slice(i, i + size).map((s) => obs(clinicId, s)));
        i += size;
      }
    };
    await Promise.all([run(one, shuffle(seqs, seed)), run(two, shuffle(seqs, seed + 1))]);
    const w = await one.watermark(clinicId);
    const applied = await two.appliedSeqs(clinicId);
    if (w.appliedSeq !== n || w.pendingAbove !== 0 || applied.length !== n || !applied.every((s, i) => s === i + 1) || (await one.countRecords(clinicId)) !== n) {
      throw new Error(`${clinicId}: ${JSON.stringify(w)} applied ${JSON.stringify(applied)}`);
    }
  }), { numRuns: 15 });
  t.pass('exactly once, in order');
});

t.test('postgres: connections killed under the warehouse are replaced; nothing applied twice', async (t) => {
  await using db = await createTestDatabase();
  const wh = await PostgresWarehouse.open(db.url);
  t.teardown(() => wh.close());
  const c = 'killed-conn';
  await wh.ingest([obs(c, 1), obs(c, 2)]);
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [db.name]);
  await admin.end();
  // The first call may meet a dead pooled connection: it fails as a whole (the consumer naks and redelivers).
  let failures = 0;
  for (let i = 0; i < 5; i++) {
    try {
      await wh.ingest([obs(c, 2), obs(c, 3)]);
      break;
    } catch {
      failures++;
    }
  }
  t.ok(failures < 5, `ingest works again (after ${failures} failed attempt(s))`);
  t.same(await wh.appliedSeqs(c), [1, 2, 3], 'each seq once, in order');
});
