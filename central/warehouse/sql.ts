/**
 * A minimal SQL runner over either warehouse backend, for the features that read the
 * warehouse tables directly (projection reads, data dictionary, city-platform upload log,
 * archive): the SQL is written once with `?` placeholders (PostgreSQL gets `$n`).
 * Ingest never goes through here: it stays behind the `Warehouse` interface.
 *
 * `atomic(stmts)` runs a list of statements in one transaction. On SQLite the list runs
 * synchronously (no await inside the transaction, so nothing else can interleave on the single
 * connection); on PostgreSQL on one pooled client between BEGIN and COMMIT.
 */
import type { Db } from '../../contracts/runtime/index.ts';
import { PostgresWarehouse } from './postgres.ts';
import { withWriteGate } from './write-gate.ts';
import { SqliteWarehouse } from './sqlite.ts';
import type { Warehouse } from './types.ts';

export interface Stmt { sql: string; params?: unknown[] }

export interface Sql {
  dialect: 'sqlite' | 'postgres';
  all<R>(sql: string, params?: unknown[]): Promise<R[]>;
  /** Rows changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
  /** All statements or none; returns rows changed per statement. */
  atomic(stmts: Stmt[]): Promise<number[]>;
}

const pgText = (sql: string) => { let i = 0; return sql.replace(/\?/g, () => `$${++i}`); };
const sqliteParam = (v: unknown) => (typeof v === 'boolean' ? (v ? 1 : 0) : v === undefined ? null : v);

export function sqliteSql(db: Db): Sql {
  return {
    dialect: 'sqlite',
    all: async <R>(sql: string, params: unknown[] = []) => db.prepare(sql).all(...params.map(sqliteParam)) as R[],
    run: async (sql, params = []) => withWriteGate(() => db.prepare(sql).run(...params.map(sqliteParam)).changes),
    atomic: async (stmts) => withWriteGate(() => db.transaction(() => stmts.map((s) => db.prepare(s.sql).run(...(s.params ?? []).map(sqliteParam)).changes)).immediate()),
  };
}

export function pgSql(wh: PostgresWarehouse): Sql {
  const pool = wh.pool;
  return {
    dialect: 'postgres',
    all: async <R>(sql: string, params: unknown[] = []) => (await pool.query(pgText(sql), params)).rows as R[],
    run: async (sql, params = []) => (await pool.query(pgText(sql), params)).rowCount ?? 0,
    atomic: async (stmts) => {
      const client = await pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        const out: number[] = [];
        for (const s of stmts) out.push((await client.query(pgText(s.sql), s.params ?? [])).rowCount ?? 0);
        await client.query('COMMIT');
        return out;
      } catch (e) {
        await client.query('ROLLBACK').catch((re: Error) => { broken = re; });
        throw e;
      } finally {
        client.release(broken);
      }
    },
  };
}

export function sqlFor(wh: Warehouse): Sql {
  if (wh instanceof SqliteWarehouse) return sqliteSql(wh.db);
  if (wh instanceof PostgresWarehouse) return pgSql(wh);
  throw new Error('unsupported warehouse implementation');
}

/** Values as the API returns them on either backend: Date -> ISO text, numeric strings of bigint kept numbers. */
export function plain(v: unknown): unknown {
  if (v instanceof Date) return v.toISOString();
  return v;
}

/** A PostgreSQL `date` column comes back as a local-midnight Date: format it as yyyy-MM-dd. */
export function dateText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (v instanceof Date) return `${v.getFullYear()}-${String(v.getMonth() + 1).padStart(2, '0')}-${String(v.getDate()).padStart(2, '0')}`;
  return String(v);
}
