/**
 * The image index contract against both backends: SQLite (in the SQLite warehouse's file) and
 * PostgreSQL (in the PostgreSQL warehouse's database, on the machine's server), plus what is
 * backend-specific: migrations shared with the warehouse, append-only reports.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createTestDatabase } from '../../test/central/postgres.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { inst, runImagingIndexContract } from './index-contract.ts';
import { PgImagingIndex } from './index-store-pg.ts';
import { SqliteImagingIndex } from './index-store.ts';
import { openImagingIndex } from './index.ts';

runImagingIndexContract(t, 'sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'imaging-index-'));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  return { index: openImagingIndex(wh), cleanup: async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); } };
});

runImagingIndexContract(t, 'postgres', async () => {
  const db = await createTestDatabase('img');
  const wh = await PostgresWarehouse.open(db.url);
  return { index: openImagingIndex(wh), cleanup: async () => { await wh.close(); await db.drop(); } };
});

t.test('the index lives in the warehouse database of each backend', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imaging-index-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const sw = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(() => sw.close());
  const si = openImagingIndex(sw);
  t.ok(si instanceof SqliteImagingIndex && si.db === sw.db, 'SQLite: the warehouse file');
  await si.upsertInstance(inst('c1', { studyInstanceUid: '1.2.3' }));
  await si.addReport('1.2.3', { status: 'final', findings: 'f', impression: 'i', positive: false, radiologist: 'r' });
  t.throws(() => sw.db.prepare('DELETE FROM imaging_reports').run(), /versioned/, 'SQLite: reports cannot be deleted');

  await using db = await createTestDatabase('img');
  const [a, b] = await Promise.all([PostgresWarehouse.open(db.url), PostgresWarehouse.open(db.url)]);
  t.teardown(async () => { await a.close(); await b.close(); });
  // Two central instances starting together: each imaging migration runs once.
  const [ia, ib] = [openImagingIndex(a), openImagingIndex(b)];
  t.ok(ia instanceof PgImagingIndex && ia.pool === a.pool, 'PostgreSQL: the warehouse pool');
  await Promise.all([ia.ready(), ib.ready()]);
  const versions = (await a.pool.query<{ version: number }>('SELECT version FROM schema_migrations WHERE version >= 200 ORDER BY version')).rows.map((r) => r.version);
  t.same(versions, [200, 201, 202, 203], 'imaging migrations recorded with the warehouse\'s, once');
  await ia.upsertInstance(inst('c1', { studyInstanceUid: '1.2.3' }));
  await ib.addReport('1.2.3', { status: 'final', findings: 'f', impression: 'i', positive: false, radiologist: 'r' });
  t.same((await ia.reports('1.2.3')).map((r) => r.version), [1], 'both instances see one index');
  await t.rejects(a.pool.query('DELETE FROM imaging_reports'), /versioned/, 'PostgreSQL: reports cannot be deleted');
  await t.rejects(a.pool.query("UPDATE imaging_reports SET positive = 1"), /versioned/, 'nor changed');
});
