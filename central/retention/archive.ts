/**
 * Retention (tender 1.2.1: 15 years online, archive beyond). Records created before the cutoff
 * move from the warehouse to compressed archive files that stay readable through the API and
 * can be restored.
 *
 * Layout under the archive directory:
 *   <clinic>/<type>/<year>/<partId>.jsonl.gz   one JSON line per record version (the `records` row)
 *   manifest.jsonl                             one line per part: ids, counts, time span, sha256
 * plus the `archive_parts` table (same fields) in the warehouse.
 *
 * Safety: a part's file is written, fsynced, re-read and checked (count + sha256) BEFORE one
 * transaction records the part and deletes its records (and their projection rows). A crash in
 * between leaves an orphan file and the records still online: they are archived again next run.
 * Years are calendar years in China Standard Time; the resident master is not archived.
 */
import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, mkdirSync, openSync, fsyncSync, closeSync, readFileSync, renameSync, writeFileSync, appendFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { gzipSync, createGunzip } from 'node:zlib';
import { allColumns, projectRows, recordProjections, PG_TYPES } from '../warehouse/projections.ts';
import type { Sql, Stmt } from '../warehouse/sql.ts';

export interface ArchivedRecord {
  type: string; recordId: string; version: number; clinicId: string; seq: number; hlc: string;
  payload: unknown; createdAt: string; appliedAt: string;
}

export interface ArchivePart {
  id: string; clinicId: string; type: string; year: number; file: string; records: number; bytes: number; sha256: string;
  minCreatedAt: string; maxCreatedAt: string; cutoff: string; archivedAt: string; restoredAt: string | null;
}

export class ArchiveIntegrityError extends Error {}

const iso = (v: unknown): string => (v instanceof Date ? v.toISOString() : new Date(String(v)).toISOString());
const cstYear = (at: string): number => new Date(Date.parse(at) + 8 * 3_600_000).getUTCFullYear();
const safeSeg = (s: string) => s.replace(/[^0-9A-Za-z_.-]/g, '_');

/** The cutoff for `years` of online retention before `now` (same day and time, `years` earlier). */
export function retentionCutoff(now: Date, years: number): Date {
  const d = new Date(now);
  d.setUTCFullYear(d.getUTCFullYear() - years);
  return d;
}

function toPart(r: Record<string, unknown>): ArchivePart {
  return {
    id: String(r.id), clinicId: String(r.clinic_id), type: String(r.type), year: Number(r.year), file: String(r.file), records: Number(r.records), bytes: Number(r.bytes), sha256: String(r.sha256),
    minCreatedAt: String(r.min_created_at), maxCreatedAt: String(r.max_created_at), cutoff: String(r.cutoff), archivedAt: String(r.archived_at), restoredAt: (r.restored_at as string | null) ?? null,
  };
}

export class Archiver {
  constructor(private readonly sql: Sql, readonly dir: string, private readonly chunk = 20_000) {}

  /** Archive every record created before `cutoff`. Returns the parts written. */
  async archive(cutoff: Date): Promise<{ parts: ArchivePart[]; records: number }> {
    const parts: ArchivePart[] = [];
    let records = 0;
    const cut = cutoff.toISOString();
    // SQLite keeps created_at as the edge's text (maybe with an offset): the indexed text test
    // (a day of margin) narrows, julianday() decides. PostgreSQL compares timestamptz.
    const oldWhere = this.sql.dialect === 'sqlite' ? 'created_at < ? AND julianday(created_at) < julianday(?)' : 'created_at < ?';
    const oldParams = this.sql.dialect === 'sqlite' ? [new Date(cutoff.getTime() + 86_400_000).toISOString(), cut] : [cut];
    for (;;) {
      const rows = await this.sql.all<Record<string, unknown>>(
        `SELECT type, record_id, version, clinic_id, seq, hlc, payload, created_at, applied_at FROM records WHERE ${oldWhere} ORDER BY clinic_id, type, created_at, record_id, version LIMIT ?`, [...oldParams, this.chunk]);
      if (!rows.length) break;
      const groups = new Map<string, ArchivedRecord[]>();
      for (const r of rows) {
        const rec: ArchivedRecord = {
          type: String(r.type), recordId: String(r.record_id), version: Number(r.version), clinicId: String(r.clinic_id), seq: Number(r.seq), hlc: String(r.hlc),
          payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload, createdAt: typeof r.created_at === 'string' ? r.created_at : iso(r.created_at), appliedAt: iso(r.applied_at),
        };
        const k = `${rec.clinicId}\u0000${rec.type}\u0000${cstYear(rec.createdAt)}`;
        groups.set(k, [...(groups.get(k) ?? []), rec]);
      }
      for (const [k, list] of groups) {
        const [clinicId, type, year] = k.split('\u0000') as [string, string, string];
        const part = await this.writePart(clinicId, type, Number(year), list, cut);
        parts.push(part);
        records += list.length;
      }
      if (rows.length < this.chunk) break;
    }
    return { parts, records };
  }

  private async writePart(clinicId: string, type: string, year: number, list: ArchivedRecord[], cutoff: string): Promise<ArchivePart> {
    const id = randomUUID();
    const rel = join(safeSeg(clinicId), safeSeg(type), String(year), `${id}.jsonl.gz`);
    const abs = join(this.dir, rel);
    mkdirSync(dirname(abs), { recursive: true });
    const gz = gzipSync(Buffer.from(list.map((r) => JSON.stringify(r)).join('\n') + '\n'), { level: 9 });
    const tmp = `${abs}.tmp`;
    writeFileSync(tmp, gz);
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, abs);
    const sha256 = createHash('sha256').update(gz).digest('hex');
    // Read back what is on disk before anything leaves the warehouse.
    const back = await this.readFile(abs, sha256);
    if (back.length !== list.length) throw new ArchiveIntegrityError(`archive part ${rel}: wrote ${list.length} records, read back ${back.length}`);
    const times = list.map((r) => iso(r.createdAt)).sort();
    const part: ArchivePart = { id, clinicId, type, year, file: rel, records: list.length, bytes: gz.length, sha256, minCreatedAt: times[0]!, maxCreatedAt: times.at(-1)!, cutoff, archivedAt: new Date().toISOString(), restoredAt: null };
    const stmts: Stmt[] = [{
      sql: 'INSERT INTO archive_parts (id, clinic_id, type, year, file, records, bytes, sha256, min_created_at, max_created_at, cutoff, archived_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
      params: [id, clinicId, type, year, rel, part.records, part.bytes, sha256, part.minCreatedAt, part.maxCreatedAt, cutoff, part.archivedAt],
    }];
    for (const r of list) {
      stmts.push({ sql: 'DELETE FROM records WHERE type = ? AND record_id = ? AND version = ? AND clinic_id = ?', params: [r.type, r.recordId, r.version, r.clinicId] });
      // Projection rows of exactly this version (a newer version still online keeps its rows).
      for (const p of recordProjections(r.type)) stmts.push({ sql: `DELETE FROM ${p.table} WHERE clinic_id = ? AND record_id = ? AND version = ?`, params: [r.clinicId, r.recordId, r.version] });
    }
    await this.sql.atomic(stmts);
    // The manifest beside the files makes the archive readable without the warehouse (offline copies).
    appendFileSync(join(this.dir, 'manifest.jsonl'), `${JSON.stringify(part)}\n`);
    return part;
  }

  /** Records of one archive file after checking its sha256. */
  private async readFile(abs: string, sha256: string, filter?: (r: ArchivedRecord) => boolean): Promise<ArchivedRecord[]> {
    if (!existsSync(abs)) throw new ArchiveIntegrityError(`archive file missing: ${abs}`);
    const actual = createHash('sha256').update(readFileSync(abs)).digest('hex');
    if (actual !== sha256) throw new ArchiveIntegrityError(`archive file ${abs} does not match its checksum (expected ${sha256}, found ${actual})`);
    const out: ArchivedRecord[] = [];
    const rl = createInterface({ input: createReadStream(abs).pipe(createGunzip()), crlfDelay: Infinity });
    for await (const line of rl) {
      if (!line) continue;
      const r = JSON.parse(line) as ArchivedRecord;
      if (!filter || filter(r)) out.push(r);
    }
    return out;
  }

  async parts(q: { clinicId?: string; type?: string; year?: number } = {}): Promise<ArchivePart[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (q.clinicId) { where.push('clinic_id = ?'); params.push(q.clinicId); }
    if (q.type) { where.push('type = ?'); params.push(q.type); }
    if (q.year) { where.push('year = ?'); params.push(q.year); }
    return (await this.sql.all<Record<string, unknown>>(`SELECT * FROM archive_parts ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY clinic_id, type, year, archived_at, id`, params)).map(toPart);
  }

  async part(id: string): Promise<ArchivePart | null> {
    const r = (await this.sql.all<Record<string, unknown>>('SELECT * FROM archive_parts WHERE id = ?', [id]))[0];
    return r ? toPart(r) : null;
  }

  /** Read an archived part (checksum verified), optionally one resident's records, paged. */
  async read(part: ArchivePart, q: { residentId?: string; offset: number; limit: number }): Promise<{ total: number; records: ArchivedRecord[] }> {
    const all = await this.readFile(join(this.dir, part.file), part.sha256, q.residentId ? (r) => (r.payload as { residentId?: string } | null)?.residentId === q.residentId : undefined);
    return { total: all.length, records: all.slice(q.offset, q.offset + q.limit) };
  }

  /**
   * Put a part's records back online (idempotent: records already present are skipped) and
   * re-project them, in one transaction: the FHIR searches by patient find records through their
   * projection rows, so a record must never be online without them (a crash between the two would
   * have hidden it, and a second restore skips records already online). Every record of the part
   * is re-projected, not only those inserted now: the statements change nothing where the rows are
   * already there.
   */
  async restore(part: ArchivePart): Promise<{ restored: number; alreadyOnline: number }> {
    const list = await this.readFile(join(this.dir, part.file), part.sha256);
    const pg = this.sql.dialect === 'postgres';
    const cast = (t: keyof typeof PG_TYPES) => (pg ? PG_TYPES[t] : ({ text: 'TEXT', int: 'INTEGER', num: 'REAL', bool: 'INTEGER', date: 'TEXT', datetime: 'TEXT' } as const)[t]);
    const stmts: Stmt[] = [];
    for (const r of list) {
      stmts.push({ sql: 'INSERT INTO records (type, record_id, version, clinic_id, seq, hlc, payload, created_at, applied_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING',
        params: [r.type, r.recordId, r.version, r.clinicId, r.seq, r.hlc, JSON.stringify(r.payload), r.createdAt, r.appliedAt] });
    }
    // Projections: the latest online version of each record, as the ingest does it.
    for (const r of list) {
      for (const p of recordProjections(r.type)) {
        const newer = `NOT EXISTS (SELECT 1 FROM records y WHERE y.type = '${r.type.replace(/'/g, "''")}' AND y.record_id = ? AND y.clinic_id = ? AND y.version > ?)`;
        stmts.push({ sql: `DELETE FROM ${p.table} WHERE clinic_id = ? AND record_id = ? AND version < ? AND ${newer}`, params: [r.clinicId, r.recordId, r.version, r.recordId, r.clinicId, r.version] });
        const cols = allColumns(p);
        projectRows(p, r.payload).forEach((row, line) => {
          const full: Record<string, unknown> = { clinic_id: r.clinicId, record_id: r.recordId, version: r.version, line_no: line, record_created_at: iso(r.createdAt), ...row };
          stmts.push({
            sql: `INSERT INTO ${p.table} (${cols.map((c) => c.name).join(', ')}) SELECT ${cols.map((c) => `CAST(? AS ${cast(c.type)})`).join(', ')} WHERE ${newer} ON CONFLICT DO NOTHING`,
            params: [...cols.map((c) => full[c.name] ?? null), r.recordId, r.clinicId, r.version],
          });
        });
      }
    }
    const changes = await this.sql.atomic(stmts);
    const restored = changes.slice(0, list.length).filter((n) => n > 0).length;
    await this.sql.run('UPDATE archive_parts SET restored_at = ? WHERE id = ?', [new Date().toISOString(), part.id]);
    return { restored, alreadyOnline: list.length - restored };
  }
}
