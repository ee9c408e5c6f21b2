/**
 * One transaction API over both warehouse backends for the tables central/empi and central/fhir
 * own (`empi_*`, `oauth_*`, `fhir_*`), kept outside the warehouse files.
 *
 * A transaction is a generator that yields queries: on SQLite it runs synchronously inside one
 * `db.transaction()` on the warehouse's own connection (better-sqlite3 is synchronous, so no other
 * code can interleave with an open transaction), on PostgreSQL inside BEGIN/COMMIT on one pooled
 * client, serialised by an advisory lock when asked (several central instances on one database).
 *
 *   const n = await sql.tx(function* () { return (yield* all<{ n: number }>('SELECT count(*) AS n FROM empi_person', []))[0]!.n; });
 *
 * SQL is written once with `?` placeholders (never inside string literals). Tables use TEXT for
 * times (ISO 8601) and JSON, so rows read the same on both backends.
 */
import type { Pool, PoolClient } from 'pg';
import type { Db } from '../../contracts/runtime/index.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { withWriteGate } from '../warehouse/write-gate.ts';

export interface Op { kind: 'all' | 'run'; sql: string; params: unknown[] }
export type Tx<T> = Generator<Op, T, unknown>;

/** Rows of a query. */
export function* all<R>(sql: string, params: unknown[] = []): Generator<Op, R[], unknown> {
  return (yield { kind: 'all', sql, params }) as R[];
}

/** Run a statement; returns the number of rows changed. */
export function* run(sql: string, params: unknown[] = []): Generator<Op, number, unknown> {
  return (yield { kind: 'run', sql, params }) as number;
}

export interface Sql {
  readonly dialect: 'sqlite' | 'pg';
  /** Run `body` in one transaction; `lock` names an advisory lock held for it (PostgreSQL). */
  tx<T>(body: () => Tx<T>, lock?: string): Promise<T>;
  /** Schema statements, run once each in order (idempotent: `IF NOT EXISTS`). */
  ensure(statements: { sqlite: string; pg: string }[]): Promise<void>;
  /** Expression for a text field of a JSON column (`payload`). */
  json(col: string, field: string): string;
}

interface Stmt { all(...p: unknown[]): unknown[]; run(...p: unknown[]): { changes: number } }

class SqliteSql implements Sql {
  readonly dialect = 'sqlite' as const;
  private readonly cache = new Map<string, Stmt>();
  constructor(private readonly db: Db) {}

  private prep(sql: string) {
    let s = this.cache.get(sql);
    if (!s) {
      s = this.db.prepare(sql) as unknown as Stmt;
      if (this.cache.size > 500) this.cache.clear();
      this.cache.set(sql, s);
    }
    return s;
  }

  async tx<T>(body: () => Tx<T>): Promise<T> {
    // Through the warehouse's write gate, as the ingest: without it, a transaction begun while the
    // analytics fact worker held SQLite's write lock slept in SQLite's busy handler on central's
    // main thread (1, 2, 5 ... 100 ms per retry), and the ingest with it (observations waited
    // 0.3-0.8 s while a clinic's 2,000 new residents were indexed).
    return withWriteGate(() => this.db.transaction(() => {
      const g = body();
      let r = g.next();
      while (!r.done) {
        const op = r.value;
        const st = this.prep(op.sql);
        const params = op.params.map((p) => (typeof p === 'boolean' ? (p ? 1 : 0) : p));
        r = g.next(op.kind === 'all' ? st.all(...params) : st.run(...params).changes);
      }
      return r.value;
    }).immediate());
  }

  async ensure(statements: { sqlite: string; pg: string }[]): Promise<void> {
    withWriteGate(() => this.db.transaction(() => { for (const s of statements) this.db.exec(s.sqlite); }).immediate());
  }

  json(col: string, field: string): string {
    return `json_extract(${col}, '$.${field}')`;
  }
}

const RETRYABLE = new Set(['40P01', '40001']);

class PgSql implements Sql {
  readonly dialect = 'pg' as const;
  constructor(private readonly pool: Pool) {}

  private static convert(sql: string): string {
    let i = 0;
    return sql.replace(/\?/g, () => `$${++i}`);
  }

  async tx<T>(body: () => Tx<T>, lock?: string): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      const client: PoolClient = await this.pool.connect();
      let broken: Error | undefined;
      try {
        await client.query('BEGIN');
        if (lock) await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [lock]);
        const g = body();
        let r = g.next();
        while (!r.done) {
          const op = r.value;
          const res = await client.query(PgSql.convert(op.sql), op.params);
          r = g.next(op.kind === 'all' ? res.rows : (res.rowCount ?? 0));
        }
        await client.query('COMMIT');
        return r.value;
      } catch (e) {
        await client.query('ROLLBACK').catch((re: Error) => { broken = re; });
        if (!broken && attempt < 5 && RETRYABLE.has((e as { code?: string }).code ?? '')) continue;
        throw e;
      } finally {
        client.release(broken);
      }
    }
  }

  async ensure(statements: { sqlite: string; pg: string }[]): Promise<void> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Two central instances starting together create each table once.
      await client.query("SELECT pg_advisory_xact_lock(hashtext('central-aux-schema'))");
      for (const s of statements) await client.query(s.pg);
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    } finally {
      client.release();
    }
  }

  json(col: string, field: string): string {
    return `(${col}->>'${field}')`;
  }
}

/** The runner over whichever warehouse central runs. */
export function sqlFor(wh: Warehouse): Sql {
  if (wh instanceof SqliteWarehouse) return new SqliteSql(wh.db);
  if (wh instanceof PostgresWarehouse) return new PgSql(wh.pool);
  throw new Error('unsupported warehouse implementation');
}

/** A JSON column value as an object (SQLite returns text, PostgreSQL jsonb an object). */
export const parseJson = <T = Record<string, unknown>>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) as T : v as T);
