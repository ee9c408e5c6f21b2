/**
 * Writing the projection tables (`projections.ts`) inside the ingest transaction, one writer
 * per backend. A projection holds the latest version of a record: an older version arriving
 * after a newer one changes nothing; a newer one replaces the record's rows.
 */
import type { Db } from '../../contracts/runtime/index.ts';
import type { Q } from './postgres-ingest.ts';
import { PG_TYPES, allColumns, projectValues, recordProjections, residentProjections, type CellValue, type ProjectionDef } from './projections.ts';
import type { RecordItem } from './types.ts';
import { pgArrayColumn } from './postgres-arrays.ts';

type Stmt = ReturnType<Db['prepare']> & { run(...a: unknown[]): unknown; get(...a: unknown[]): unknown };

/** Rows per multi-row INSERT, largest first (a batch uses a few cached statements per table). */
const SQLITE_CHUNKS = [64, 8, 1];

/**
 * SQLite: the rows of a batch's records are collected while the batch applies and written at
 * its end (`flush`, still inside the transaction) with multi-row INSERTs, a few cached
 * statements per table. Residents are re-projected at once (rare, and keyed by resident).
 */
export class SqliteProjector {
  private readonly newer: Stmt;
  private readonly residentSt: Stmt;
  private readonly del = new Map<string, Stmt>();
  private readonly ins = new Map<string, Stmt>();
  /** Per projection: `clinic \0 recordId` -> bound rows of the latest version seen in this batch. */
  private buf = new Map<ProjectionDef, Map<string, unknown[][]>>();

  constructor(private readonly db: Db) {
    // Newer version in `records` (not in the projection: a newer version may project to no rows).
    this.newer = db.prepare<unknown[]>('SELECT 1 FROM records WHERE type = ? AND record_id = ? AND clinic_id = ? AND version > ? LIMIT 1') as Stmt;
    this.residentSt = db.prepare<[string], { payload: string; clinic_id: string }>('SELECT payload, clinic_id FROM residents WHERE resident_id = ?') as unknown as Stmt;
  }

  private delStmt(p: ProjectionDef): Stmt {
    let s = this.del.get(p.table);
    if (!s) {
      s = this.db.prepare<unknown[]>(p.source.kind === 'record' ? `DELETE FROM ${p.table} WHERE clinic_id = ? AND record_id = ?` : `DELETE FROM ${p.table} WHERE resident_id = ?`) as Stmt;
      this.del.set(p.table, s);
    }
    return s;
  }

  private insStmt(p: ProjectionDef, rows: number): Stmt {
    const k = `${p.table}:${rows}`;
    let s = this.ins.get(k);
    if (!s) {
      const cols = allColumns(p).map((c) => c.name);
      const tuple = `(${cols.map(() => '?').join(', ')})`;
      s = this.db.prepare<unknown[]>(`INSERT OR IGNORE INTO ${p.table} (${cols.join(', ')}) VALUES ${Array.from({ length: rows }, () => tuple).join(', ')}`) as Stmt;
      this.ins.set(k, s);
    }
    return s;
  }

  /** Forget rows collected by a batch that did not commit. */
  reset(): void {
    this.buf = new Map();
  }

  /** Project one applied record (no-op for types without a projection); rows are written by `flush`. */
  record(r: RecordItem): void {
    const ps = recordProjections(r.type);
    if (!ps.length || this.newer.get(r.type, r.recordId, r.clinicId, r.version)) return;
    const createdAt = isoOrNull(r.createdAt);
    const key = `${r.clinicId}\u0000${r.recordId}`;
    for (const p of ps) {
      // A first version has no older rows to replace (the common case: skip the delete). Older
      // rows collected earlier in this batch are replaced in the buffer below.
      if (r.version > 1) this.delStmt(p).run(r.clinicId, r.recordId);
      let m = this.buf.get(p);
      if (!m) this.buf.set(p, (m = new Map()));
      m.set(key, projectValues(p, r.payload).map((v, i) => [r.clinicId, r.recordId, r.version, i, createdAt, ...v.map(sqliteValue)]));
    }
  }

  /** Write the rows collected since the last flush (call inside the batch's transaction). */
  flush(): void {
    const buf = this.buf;
    this.buf = new Map();
    for (const [p, m] of buf) this.insertRows(p, [...m.values()].flat());
  }

  private insertRows(p: ProjectionDef, rows: unknown[][]): void {
    let i = 0;
    for (const n of SQLITE_CHUNKS) {
      if (rows.length - i < n) continue;
      const st = this.insStmt(p, n);
      for (; rows.length - i >= n; i += n) st.run(...rows.slice(i, i + n).flat());
    }
  }

  /** Re-project one resident from the master row (the LWW winner). */
  resident(residentId: string): void {
    const cur = this.residentSt.get(residentId) as { payload: string; clinic_id: string } | undefined;
    for (const p of residentProjections()) {
      this.delStmt(p).run(residentId);
      if (!cur) continue;
      this.insertRows(p, projectValues(p, JSON.parse(cur.payload)).map((v, i) => [residentId, cur.clinic_id, i, ...v.map(sqliteValue)]));
    }
  }
}

const sqliteValue = (v: CellValue) => (typeof v === 'boolean' ? (v ? 1 : 0) : v);
const isoOrNull = (s: string) => { const ms = Date.parse(s); return Number.isNaN(ms) ? null : new Date(ms).toISOString(); };

/** The INSERT of a projection table: one array parameter per column (postgres-arrays.ts), one statement per table however many rows. */
const pgInsertSql = new Map<string, string>();
function pgInsertText(p: ProjectionDef): string {
  let sql = pgInsertSql.get(p.table);
  if (!sql) {
    const cols = allColumns(p);
    const names = cols.map((c) => c.name).join(', ');
    sql = `INSERT INTO ${p.table} (${names}) SELECT ${names} FROM unnest(${cols.map((c, i) => `$${i + 1}::${PG_TYPES[c.type]}[]`).join(', ')}) AS x(${names}) ON CONFLICT DO NOTHING`;
    pgInsertSql.set(p.table, sql);
  }
  return sql;
}

/** Insert rows given as value lists in `allColumns(p)` order. */
async function pgInsert(q: Q, p: ProjectionDef, rows: CellValue[][]): Promise<void> {
  if (!rows.length) return;
  const n = allColumns(p).length;
  const params = new Array<string>(n);
  for (let i = 0; i < n; i++) params[i] = pgArrayColumn(rows, i);
  await q(pgInsertText(p), params);
}

/**
 * PostgreSQL: project the records a batch inserted (call after the records insert), none of which
 * has a newer version in `records` (the records insert reports that, one probe per record).
 */
export async function projectRecordsPg(q: Q, recs: RecordItem[]): Promise<void> {
  // Within a batch only the highest version of a record matters.
  const latest = new Map<string, RecordItem>();
  for (const r of recs) {
    if (!recordProjections(r.type).length) continue;
    const k = `${r.type}\u0000${r.clinicId}\u0000${r.recordId}`;
    const prev = latest.get(k);
    if (!prev || prev.version < r.version) latest.set(k, r);
  }
  const byType = new Map<string, RecordItem[]>();
  for (const r of latest.values()) {
    const list = byType.get(r.type);
    if (list) list.push(r);
    else byType.set(r.type, [r]);
  }
  for (const [type, list] of byType) {
    const replacing = list.filter((r) => r.version > 1);
    const createdAt = list.map((r) => isoOrNull(r.createdAt));
    for (const p of recordProjections(type)) {
      // Only a correction (version > 1) has older rows to replace.
      if (replacing.length) await q(`DELETE FROM ${p.table} t USING unnest($1::text[], $2::text[], $3::int[]) AS x(c, r, v) WHERE t.clinic_id = x.c AND t.record_id = x.r AND t.version < x.v`,
        [replacing.map((r) => r.clinicId), replacing.map((r) => r.recordId), replacing.map((r) => r.version)]);
      const rows: CellValue[][] = [];
      list.forEach((r, j) => projectValues(p, r.payload).forEach((v, i) => rows.push([r.clinicId, r.recordId, r.version, i, createdAt[j]!, ...v])));
      await pgInsert(q, p, rows);
    }
  }
}

/** PostgreSQL: re-project residents from their master rows (call after the batch's resident applies). */
export async function projectResidentsPg(q: Q, ids: string[]): Promise<void> {
  if (!ids.length) return;
  const cur = (await q<{ resident_id: string; payload: Record<string, unknown>; clinic_id: string }>('SELECT resident_id, payload, clinic_id FROM residents WHERE resident_id = ANY($1::text[])', [ids])).rows;
  for (const p of residentProjections()) {
    await q(`DELETE FROM ${p.table} WHERE resident_id = ANY($1::text[])`, [ids]);
    const rows: CellValue[][] = [];
    for (const c of cur) projectValues(p, c.payload).forEach((v, i) => rows.push([c.resident_id, c.clinic_id, i, ...v]));
    await pgInsert(q, p, rows);
  }
}
