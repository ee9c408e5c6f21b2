/**
 * A small SQL adapter so analytics and portal code runs on either warehouse backend without
 * touching the warehouse classes: SQLite through `SqliteWarehouse.db`, PostgreSQL through
 * `PostgresWarehouse.pool`. Queries are written once with `?` placeholders in the common
 * subset of both dialects (TEXT / INTEGER / DOUBLE PRECISION, ON CONFLICT ... DO UPDATE).
 *
 * On PostgreSQL a statement text is prepared (a named statement, per pooled connection) from its
 * second use, so the fact worker's repeated statements are parsed and planned once per
 * connection instead of once per execution (it spent 31-47 s of 47 s in planning per 150k
 * records before). Code on the hot paths keeps texts stable: lists go as one array parameter
 * (`anyOf`: `= ANY(?::text[])`, inserts through `unnest`), not as `IN (?, ?, ...)` of varying length.
 */
import type { Db } from '../../contracts/runtime/index.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { createHash } from 'node:crypto';
import { withWriteGate } from '../warehouse/write-gate.ts';

/** Arrays only on PostgreSQL (`= ANY(?)`, `unnest(?::text[], ...)`): see `anyOf`. */
export type Param = string | number | null | readonly (string | number | null)[];

/** A write transaction of the background work (fact batches, case-list builds) aims at this long. */
export const TARGET_TX_MS = 25;

/**
 * Call after a background write transaction that took `ms`. On SQLite there is one write lock
 * for the whole warehouse and central's ingest waits for it in SQLite's busy handler, which
 * retries after 1, 2, 5, 10, 15, 20, 25 ... ms: batches run back to back starve it (a catch-up
 * pushed ingest latency p99 from ~0.2 s to 1.7 s). So the lock is left free about as long as it
 * was held (at most 200 ms). PostgreSQL locks rows: a turn of the event loop is enough.
 */
export function yieldWriteLock(db: SqlDb, ms: number): Promise<void> {
  if (db.dialect !== 'sqlite') return new Promise((r) => setImmediate(r));
  return new Promise((r) => setTimeout(r, Math.min(200, Math.max(2, Math.ceil(ms)))));
}

/** The next batch size so that a transaction takes about TARGET_TX_MS (between `min` and `max`). */
export function nextBatchSize(size: number, ms: number, min: number, max: number): number {
  if (ms > TARGET_TX_MS) return Math.max(min, Math.floor(size * TARGET_TX_MS / ms));
  if (ms < TARGET_TX_MS / 2) return Math.min(max, size * 2);
  return size;
}

export interface SqlDb {
  readonly dialect: 'sqlite' | 'postgres';
  all<T = Record<string, unknown>>(sql: string, params?: Param[]): Promise<T[]>;
  get<T = Record<string, unknown>>(sql: string, params?: Param[]): Promise<T | undefined>;
  run(sql: string, params?: Param[]): Promise<number>;
  exec(sql: string): Promise<void>;
  /**
   * Runs the statements a generator yields in ONE transaction. On SQLite the whole generator runs
   * synchronously inside a better-sqlite3 transaction, so nothing else on the shared connection
   * (the warehouse's own ingest) can interleave with it or be swallowed by it; on PostgreSQL it
   * runs on one pooled client between BEGIN and COMMIT.
   */
  txGen<T>(gen: () => Generator<Op, T, unknown>): Promise<T>;
  /** Statements sent so far (each `all`/`get`/`run`/`exec`, each op of a `txGen`, BEGIN and COMMIT): tests count them. */
  readonly stats: { statements: number };
}

export type Op = { op: 'get' | 'all' | 'run'; sql: string; params: Param[] };
/** Statement helpers for `txGen` generators: `const row = (yield q.get(sql, params)) as Row`. */
export const q = {
  get: (sql: string, params: Param[] = []): Op => ({ op: 'get', sql, params }),
  all: (sql: string, params: Param[] = []): Op => ({ op: 'all', sql, params }),
  run: (sql: string, params: Param[] = []): Op => ({ op: 'run', sql, params }),
};

type PgResult = { rows: Record<string, unknown>[]; rowCount: number | null };
interface PgClient {
  query(sql: string, params?: unknown[]): Promise<PgResult>;
  query(config: { name?: string; text: string; values: unknown[] }): Promise<PgResult>;
  release?: () => void;
}
interface PgPool extends PgClient { connect(): Promise<PgClient & { release(): void }> }

export function sqlFor(wh: Warehouse): SqlDb {
  const anyWh = wh as unknown as { db?: Db; pool?: PgPool };
  if (anyWh.db) return sqliteDb(anyWh.db);
  if (anyWh.pool) return pgDb(anyWh.pool);
  throw new Error('analytics: unsupported warehouse backend (needs SQLite db or PostgreSQL pool)');
}

export function sqliteDb(db: Db): SqlDb {
  const cache = new Map<string, import("better-sqlite3").Statement<unknown[]>>();
  const prep = (sql: string) => {
    let s = cache.get(sql);
    if (!s) {
      s = db.prepare<unknown[]>(sql);
      if (cache.size > 500) cache.clear();
      cache.set(sql, s);
    }
    return s;
  };
  const stats = { statements: 0 };
  const self: SqlDb = {
    dialect: 'sqlite',
    stats,
    all: async <T>(sql: string, params: Param[] = []) => { stats.statements++; return prep(sql).all(...params) as T[]; },
    get: async <T>(sql: string, params: Param[] = []) => { stats.statements++; return prep(sql).get(...params) as T | undefined; },
    run: async (sql: string, params: Param[] = []) => { stats.statements++; return withWriteGate(() => prep(sql).run(...params).changes); },
    exec: async (sql: string) => { stats.statements++; db.exec(sql); },
    txGen: async <T>(gen: () => Generator<Op, T, unknown>) => withWriteGate(() => db.transaction(() => {
      const g = gen();
      let r = g.next();
      while (!r.done) {
        const o = r.value;
        stats.statements++;
        const st = prep(o.sql);
        r = g.next(o.op === 'get' ? st.get(...o.params) : o.op === 'all' ? st.all(...o.params) : st.run(...o.params).changes);
      }
      return r.value;
    }).immediate()),
  };
  return self;
}

/** `?` -> `$n` outside string literals. */
export function toPg(sql: string): string {
  let n = 0;
  let out = '';
  let inStr = false;
  for (const ch of sql) {
    if (ch === "'") inStr = !inStr;
    out += ch === '?' && !inStr ? `$${++n}` : ch;
  }
  return out;
}

/** A PostgreSQL pool (the warehouse's, or the fact worker's own). */
export function pgSqlDb(pool: PgPool): SqlDb {
  return pgDb(pool);
}

/**
 * Distinct statement texts one adapter prepares (named statements) on PostgreSQL. A text is
 * prepared from its second use on; texts that differ per call (IN lists of the portal's scopes)
 * are then not kept on every connection for ever, and the cap bounds the rest.
 */
const PG_PREPARED_MAX = 300;

function pgDb(pool: PgPool): SqlDb {
  const stats = { statements: 0 };
  // text ($n form) -> statement name, or the number of uses so far while not named.
  const names = new Map<string, string | number>();
  let named = 0;
  /**
   * The query config for a `?` statement: named (prepared once per pooled connection by
   * node-postgres, planned from then on without parsing; a generic plan after five executions)
   * when it repeats. Names come from the text's hash, so every adapter on a pool (the warehouse's
   * pool is shared) gives one text the same name and one name never stands for two texts.
   */
  const cfg = (sql: string, params: Param[]): { name?: string; text: string; values: Param[] } => {
    stats.statements++;
    const text = toPg(sql);
    const seen = names.get(text);
    if (typeof seen === 'string') return { name: seen, text, values: params };
    if (seen === undefined) {
      if (names.size > 5 * PG_PREPARED_MAX) for (const [k, v] of names) if (typeof v === 'number') names.delete(k);
      names.set(text, 1);
    } else if (named < PG_PREPARED_MAX) {
      const name = `an_${createHash('sha1').update(text).digest('hex').slice(0, 24)}`;
      names.set(text, name);
      named++;
      return { name, text, values: params };
    } else names.set(text, seen + 1);
    return { text, values: params };
  };
  const self: SqlDb = {
    dialect: 'postgres',
    stats,
    all: async <T>(sql: string, params: Param[] = []) => (await pool.query(cfg(sql, params))).rows as T[],
    get: async <T>(sql: string, params: Param[] = []) => (await pool.query(cfg(sql, params))).rows[0] as T | undefined,
    run: async (sql: string, params: Param[] = []) => (await pool.query(cfg(sql, params))).rowCount ?? 0,
    exec: async (sql: string) => { stats.statements++; await pool.query(sql); },
    txGen: async <T>(gen: () => Generator<Op, T, unknown>) => {
      const c = await pool.connect();
      try {
        stats.statements++;
        await c.query('BEGIN');
        const g = gen();
        let r = g.next();
        while (!r.done) {
          const o = r.value;
          const res = await c.query(cfg(o.sql, o.params));
          r = g.next(o.op === 'get' ? res.rows[0] : o.op === 'all' ? res.rows : res.rowCount ?? 0);
        }
        stats.statements++;
        await c.query('COMMIT');
        return r.value;
      } catch (e) {
        await c.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        c.release();
      }
    },
  };
  return self;
}

/**
 * `col` is one of `values`: on PostgreSQL `col = ANY(?)` with the list as one text[] parameter
 * (one statement text, prepared once, whatever the list's length), on SQLite `col IN (?, ...)`.
 */
export function anyOf(db: SqlDb, col: string, values: readonly string[]): { sql: string; params: Param[] } {
  if (db.dialect === 'postgres') return { sql: `${col} = ANY(?::text[])`, params: [values] };
  const l = inList(values);
  return { sql: `${col} ${l.sql}`, params: l.params };
}

/** `IN (?, ?, ...)` for a list (an empty list matches nothing). */
export function inList(values: readonly string[]): { sql: string; params: string[] } {
  if (values.length === 0) return { sql: "IN ('\u0000')", params: [] };
  return { sql: `IN (${values.map(() => '?').join(', ')})`, params: [...values] };
}

export function num(v: unknown): number {
  return v === null || v === undefined ? 0 : Number(v);
}
