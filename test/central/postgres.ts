/**
 * A fresh PostgreSQL database per test on the machine's server (CI runs the same one):
 * isolation by a unique name, dropped on dispose.
 *
 *   await using db = await createTestDatabase();
 *   const wh = await PostgresWarehouse.open(db.url);
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { PostgresWarehouse } from '../../central/warehouse/postgres.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import type { Warehouse } from '../../central/warehouse/types.ts';

/** Where to create test databases; override with TEST_PG_ADMIN_URL. */
export const PG_ADMIN_URL = process.env.TEST_PG_ADMIN_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase extends AsyncDisposable {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'wh'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: PG_ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const u = new URL(PG_ADMIN_URL);
  u.pathname = `/${name}`;
  let dropped = false;
  const drop = async () => {
    if (dropped) return;
    dropped = true;
    const c = new pg.Client({ connectionString: PG_ADMIN_URL });
    await c.connect();
    try {
      // FORCE: a pool the test forgot to close must not leave the database behind.
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    } finally {
      await c.end();
    }
  };
  return { name, url: u.toString(), drop, [Symbol.asyncDispose]: drop };
}

/** A warehouse of either backend for a test, and how to dispose of it (files or database removed). */
export interface TestWarehouse { wh: Warehouse; cleanup: () => Promise<void> }

/** A SQLite warehouse in a fresh temp directory (`prefix` names the directory). */
export async function sqliteTestWarehouse(prefix: string): Promise<TestWarehouse> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  return { wh, cleanup: async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); } };
}

/** A PostgreSQL warehouse in a fresh database of the machine's server (`prefix` names the database). */
export async function postgresTestWarehouse(prefix: string): Promise<TestWarehouse> {
  const db = await createTestDatabase(prefix);
  const wh = await PostgresWarehouse.open(db.url);
  return { wh, cleanup: async () => { await wh.close(); await db.drop(); } };
}
