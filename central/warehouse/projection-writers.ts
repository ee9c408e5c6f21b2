/**
 * Writing the projection tables (`projections.ts`) inside the ingest transaction, one writer
 * per backend. A projection holds the latest version of a record: an older version arriving
 * after a newer one changes nothing; a newer one replaces the record's rows.
 */
import type { Db } from '../../contracts/runtime/index.ts';
import type { Q } from './postgres-ingest.ts';
import { PG_TYPES, allColumns, projectRows, recordProjections, residentProjections, type ProjectionDef } from './projections.ts';
import type { RecordItem } from './types.ts';

type Row = Record<string, string | number | boolean | null>;
type Stmt = ReturnType<Db['prepare']> & { run(...a: unknown[]): unknown; get(...a: unknown[]): unknown };

/** SQLite: prepared statements per table, run synchronously in the batch transaction. */
export class SqliteProjector {
  private readonly st = new Map<string, { newer: Stmt; del: Stmt; ins: Stmt }>();
  private readonly residentSt;

  constructor(private readonly db: Db) {
    this.residentSt = db.prepare<[string], { payload: string; clinic_id: string }>('SELECT payload, clinic_id FROM residents WHERE resident_id = ?');
  }

  private stmts(p: ProjectionDef) {
    let s = this.st.get(p.table);
    if (!s) {
      const cols = allColumns(p).map((c) => c.name);
      s = p.source.kind === 'record'
        ? {
          // Newer version in `records` (not in the projection: a newer version may project to no rows).
          newer: this.db.prepare<unknown[]>('SELECT 1 FROM records WHERE type = ? AND record_id = ? AND clinic_id = ? AND version > ? LIMIT 1'),
          del: this.db.prepare<unknown[]>(`DELETE FROM ${p.table} WHERE clinic_id = ? AND record_id = ?`),
          ins: this.db.prepare<unknown[]>(`INSERT OR IGNORE INTO ${p.table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`),
        }
        : {
          newer: this.db.prepare<unknown[]>('SELECT 1 WHERE 0 = ?'),
          del: this.db.prepare<unknown[]>(`DELETE FROM ${p.table} WHERE resident_id = ?`),
          ins: this.db.prepare<unknown[]>(`INSERT OR IGNORE INTO ${p.table} (${cols.join(', ')}) VALUES (${cols.map(() => '?').join(', ')})`),
        };
      this.st.set(p.table, s);
    }
    return s;
  }

  /** Project one applied record (no-op for types without a projection). */
  record(r: RecordItem): void {
    for (const p of recordProjections(r.type)) {
      const s = this.stmts(p);
      if (s.newer.get(r.type, r.recordId, r.clinicId, r.version)) continue;
      // A first version has no older rows to replace (the common case: skip the delete).
      if (r.version > 1) s.del.run(r.clinicId, r.recordId);
      const createdAt = isoOrNull(r.createdAt);
      projectRows(p, r.payload).forEach((row, i) => {
        s.ins.run(r.clinicId, r.recordId, r.version, i, createdAt, ...p.columns.map((c) => sqliteValue(row[c.name]!)));
      });
    }
  }

  /** Re-project one resident from the master row (the LWW winner). */
  resident(residentId: string): void {
    const cur = this.residentSt.get(residentId) as { payload: string; clinic_id: string } | undefined;
    for (const p of residentProjections()) {
      const s = this.stmts(p);
      s.del.run(residentId);
      if (!cur) continue;
      projectRows(p, JSON.parse(cur.payload)).forEach((row, i) => {
        s.ins.run(residentId, cur.clinic_id, i, ...p.columns.map((c) => sqliteValue(row[c.name]!)));
      });
    }
  }
}

const sqliteValue = (v: string | number | boolean | null) => (typeof v === 'boolean' ? (v ? 1 : 0) : v);
const isoOrNull = (s: string) => { const ms = Date.parse(s); return Number.isNaN(ms) ? null : new Date(ms).toISOString(); };

/** Insert rows through unnest(): one statement per table however many rows. */
async function pgInsert(q: Q, p: ProjectionDef, rows: Row[], guardNewer: boolean): Promise<void> {
  if (!rows.length) return;
  const cols = allColumns(p);
  const arrays = cols.map((c) => rows.map((r) => r[c.name] ?? null));
  const unnest = cols.map((c, i) => `$${i + 1}::${PG_TYPES[c.type]}[]`).join(', ');
  const names = cols.map((c) => c.name).join(', ');
  // Newer version in `records` (not in the projection: a newer version may project to no rows).
  const guard = guardNewer && p.source.kind === 'record'
    ? `WHERE NOT EXISTS (SELECT 1 FROM records y WHERE y.type = '${p.source.type}' AND y.record_id = x.record_id AND y.clinic_id = x.clinic_id AND y.version > x.version)` : '';
  await q(`INSERT INTO ${p.table} (${names}) SELECT ${names} FROM unnest(${unnest}) AS x(${names}) ${guard} ON CONFLICT DO NOTHING`, arrays);
}

/** PostgreSQL: project the records a batch inserted (call after the records insert). */
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
  for (const r of latest.values()) byType.set(r.type, [...(byType.get(r.type) ?? []), r]);
  for (const [type, list] of byType) {
    const replacing = list.filter((r) => r.version > 1);
    for (const p of recordProjections(type)) {
      // Only a correction (version > 1) has older rows to replace.
      if (replacing.length) await q(`DELETE FROM ${p.table} t USING unnest($1::text[], $2::text[], $3::int[]) AS x(c, r, v) WHERE t.clinic_id = x.c AND t.record_id = x.r AND t.version < x.v`,
        [replacing.map((r) => r.clinicId), replacing.map((r) => r.recordId), replacing.map((r) => r.version)]);
      const rows: Row[] = [];
      for (const r of list) {
        projectRows(p, r.payload).forEach((row, i) => rows.push({ clinic_id: r.clinicId, record_id: r.recordId, version: r.version, line_no: i, record_created_at: isoOrNull(r.createdAt), ...row }));
      }
      await pgInsert(q, p, rows, true);
    }
  }
}

/** PostgreSQL: re-project residents from their master rows (call after the batch's resident applies). */
export async function projectResidentsPg(q: Q, ids: string[]): Promise<void> {
  if (!ids.length) return;
  const cur = (await q<{ resident_id: string; payload: Record<string, unknown>; clinic_id: string }>('SELECT resident_id, payload, clinic_id FROM residents WHERE resident_id = ANY($1::text[])', [ids])).rows;
  for (const p of residentProjections()) {
    await q(`DELETE FROM ${p.table} WHERE resident_id = ANY($1::text[])`, [ids]);
    const rows: Row[] = [];
    for (const c of cur) projectRows(p, c.payload).forEach((row, i) => rows.push({ resident_id: c.resident_id, source_clinic_id: c.clinic_id, line_no: i, ...row }));
    await pgInsert(q, p, rows, false);
  }
}
