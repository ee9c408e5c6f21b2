/**
 * Read queries of the FHIR facade over the warehouse tables (`residents`, `records`), written
 * once for both backends: the SQL differs only in JSON access and placeholders. Every value
 * travels as a bind parameter; field names come from this file only.
 */
import { createHash } from 'node:crypto';
import Database from 'better-sqlite3';
import pg, { type Pool } from 'pg';
import type { Db } from '../../contracts/runtime/index.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { RESIDENT_PROJECTION_TABLES } from '../warehouse/projections.ts';
import type { Warehouse } from '../warehouse/types.ts';
import type { DictionaryItem } from '../../contracts/index.ts';

/** `personId`: the EMPI person (all residents linked to it). */
export type IdentifierField = 'residentId' | 'idNumber' | 'insuranceCardNo' | 'healthCardId' | 'personId';

export interface ResidentQuery {
  id?: string;
  /** field null: the value may be any of the resident's identifiers. */
  identifier?: { field: IdentifierField | null; value: string };
  /** Start of the name (FHIR's default string match, case-insensitive for Latin letters; indexed). */
  name?: string;
  /** Part of the name anywhere (`name:contains`; scans every resident). */
  nameContains?: string;
  /** Any of these GB/T 2261.1 codes. */
  sex?: string[];
  birthDate?: string;
  count: number;
  offset: number;
}

export type FhirRecordType = 'encounter' | 'observation' | 'lab_result' | 'imaging_study' | 'prescription';

export interface RecordQuery {
  types: FhirRecordType[];
  id?: string;
  residentId?: string;
  /** Clinical time (registeredAt, effectiveAt, resultedAt) against UTC instants; all must hold. */
  date?: { op: '=' | '<' | '<=' | '>' | '>='; at: string }[];
  /** Observation `code` or lab result `testCode`. */
  code?: string;
  /** Lab results of this order, or of this specimen when they have no order (DiagnosticReport). */
  group?: string;
  /** This version instead of the latest (vread). */
  version?: number;
  /** By clinical time (`_sort=date` / `-date`); otherwise in arrival order. */
  sort?: 'date' | '-date';
  count: number;
  offset: number;
}

/** `hlc`: the LWW timestamp of the demographics held, served as Patient meta.versionId. */
export interface ResidentRow { residentId: string; payload: Record<string, unknown>; clinicId: string; updatedAt: string; hlc: string; person?: PersonLink }
/** The EMPI person of a resident and the other residents (other clinics' records) of that person. */
export interface PersonLink { personId: string; others: string[] }
export interface RecordRow { type: FhirRecordType; clinicId: string; recordId: string; version: number; payload: Record<string, unknown>; appliedAt: string }
export interface Page<T> { rows: T[]; total: number }

/** The current version of a district radiologist's report on a study (central's image index, imaging_reports). */
export interface RadiologyReportRow { studyInstanceUid: string; version: number; status: 'preliminary' | 'final' | 'amended'; findings: string; impression: string; positive: boolean; radiologist: string; reportedAt: string }

export interface FhirStore {
  residents(q: ResidentQuery): Promise<Page<ResidentRow>>;
  /** The latest report version of each of these studies that has one (none without the image index). */
  radiologyReports?(studyUids: string[]): Promise<RadiologyReportRow[]>;
  residentsByIds(ids: string[]): Promise<ResidentRow[]>;
  records(q: RecordQuery): Promise<Page<RecordRow>>;
  /** Clinic ids that sent residents or records (Organization). */
  clinics?(): Promise<string[]>;
  /** The central staff dictionary (Practitioner). */
  staff?(): Promise<DictionaryItem[]>;
  /** Devices referenced by observations (deviceId) and lab results (analyserId), per clinic. */
  devices?(): Promise<{ clinicId: string; deviceId: string }[]>;
}

interface Dialect {
  json(col: string, field: string): string;
  /** An ISO 8601 text expression / bind parameter as a comparable instant. */
  instant(expr: string): string;
  /** The largest character: `prefix <= x < prefix || maxChar` is "x starts with prefix" under binary collation. */
  maxChar: string;
  /** An expression compared with binary (code point) collation, so that prefix ranges use the index. */
  binary(expr: string): string;
  /** Aggregate of a column's values, in the order of its (sub)query, as an array or its JSON text. */
  list(col: string): string;
  /** `LIMIT ? OFFSET ?` with the page size and offset as the last two parameters. */
  page: string;
  /**
   * Searches by patient find the records through the WS 365 projections' `resident_id` indexes
   * (SQLite) instead of an index of `records` by resident (PostgreSQL: `records_type_resident_code`).
   * See `RESIDENT_PROJECTION_TABLES` (central/warehouse/projections.ts).
   */
  residentViaProjection: boolean;
  all<R>(sql: string, params: unknown[]): Promise<R[]>;
}

/** Other residents of a resident's EMPI person listed on its Patient (Patient.link). */
const MAX_OTHERS = 100;

/** The clinical time of a record (visit registered, reading taken, result out, prescription issued). */
const CLINICAL_TIME = (j: (f: string) => string) => `coalesce(${j('registeredAt')}, ${j('effectiveAt')}, ${j('resultedAt')}, ${j('issuedAt')})`;
const like = (s: string) => `%${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
const parse = (p: unknown): Record<string, unknown> => (typeof p === 'string' ? JSON.parse(p) as Record<string, unknown> : p as Record<string, unknown>);
const iso = (t: unknown): string => (t instanceof Date ? t.toISOString() : String(t));
/**
 * The total of a search known from its page alone: a page shorter than asked for that is not past
 * the end holds the last match, so total = offset + rows (most searches and every read: no count
 * query). Otherwise (a full page, or an empty one past offset 0) null: count.
 */
const totalOf = (q: { count: number; offset: number }, rows: number): number | null =>
  q.count > 0 && rows < q.count && (rows > 0 || q.offset === 0) ? q.offset + rows : null;

class SqlFhirStore implements FhirStore {
  constructor(private readonly d: Dialect, private readonly wh?: Warehouse) {}

  private hasReports: boolean | null = null;

  async radiologyReports(studyUids: string[]): Promise<RadiologyReportRow[]> {
    if (!studyUids.length) return [];
    // The image index's tables are in the warehouse's database once central/imaging has migrated
    // it; a warehouse without them (the FHIR facade alone) has no radiology reports.
    if (this.hasReports === null) {
      this.hasReports = (await this.d.all<{ n: number }>(
        this.d.residentViaProjection ? "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'imaging_reports'" : "SELECT count(*)::int AS n FROM information_schema.tables WHERE table_name = 'imaging_reports' AND table_schema = current_schema()", []))[0]!.n > 0;
    }
    if (!this.hasReports) return [];
    const out: RadiologyReportRow[] = [];
    for (let i = 0; i < studyUids.length; i += 500) {
      const chunk = studyUids.slice(i, i + 500);
      const rows = await this.d.all<Record<string, unknown>>(`SELECT r.study_instance_uid, r.version, r.status, r.findings, r.impression, r.positive, r.radiologist, r.reported_at FROM imaging_reports r
        WHERE r.study_instance_uid IN (${chunk.map(() => '?').join(', ')}) AND r.version = (SELECT max(x.version) FROM imaging_reports x WHERE x.study_instance_uid = r.study_instance_uid)`, chunk);
      for (const r of rows) out.push({ studyInstanceUid: String(r.study_instance_uid), version: Number(r.version), status: String(r.status) as RadiologyReportRow['status'], findings: String(r.findings),
        impression: String(r.impression), positive: Number(r.positive) === 1, radiologist: String(r.radiologist), reportedAt: iso(r.reported_at) });
    }
    return out;
  }

  async clinics(): Promise<string[]> {
    const rows = await this.d.all<{ clinic_id: string }>('SELECT DISTINCT clinic_id FROM records UNION SELECT DISTINCT clinic_id FROM residents ORDER BY 1', []);
    return rows.map((r) => r.clinic_id);
  }

  async staff(): Promise<DictionaryItem[]> {
    return (await this.wh?.latestDictionaries())?.find((d) => d.name === 'staff')?.items ?? [];
  }

  async devices(): Promise<{ clinicId: string; deviceId: string }[]> {
    const dev = `coalesce(${this.d.json('payload', 'deviceId')}, ${this.d.json('payload', 'analyserId')})`;
    const rows = await this.d.all<{ clinic_id: string; device_id: string }>(
      `SELECT DISTINCT clinic_id, ${dev} AS device_id FROM records WHERE type IN ('observation', 'lab_result') AND ${dev} IS NOT NULL ORDER BY 1, 2`, []);
    return rows.map((r) => ({ clinicId: r.clinic_id, deviceId: r.device_id }));
  }

  async residents(q: ResidentQuery): Promise<Page<ResidentRow>> {
    const where: string[] = [];
    const params: unknown[] = [];
    const j = (f: string) => this.d.json('payload', f);
    if (q.id !== undefined) { where.push('resident_id = ?'); params.push(q.id); }
    if (q.identifier) {
      const fields: IdentifierField[] = q.identifier.field ? [q.identifier.field] : ['residentId', 'idNumber', 'insuranceCardNo', 'healthCardId'];
      const cond = (f: IdentifierField) => (f === 'residentId' ? 'resident_id = ?' : f === 'personId' ? 'resident_id IN (SELECT resident_id FROM empi_link WHERE person_id = ?)' : `${j(f)} = ?`);
      if (q.identifier.field === 'personId' && !(await this.hasEmpi())) where.push('1 = 0');
      else where.push(`(${fields.map(cond).join(' OR ')})`);
      for (const _ of fields) params.push(q.identifier.value);
    }
    if (q.name !== undefined) {
      // A range on lower(name) (migration 110 indexes it): LIKE 'x%' would not use an expression index on SQLite.
      const n = this.d.binary(`lower(${j('name')})`);
      where.push(`${n} >= ${this.d.binary('lower(?)')} AND ${n} < ${this.d.binary(`lower(?) || ${this.d.maxChar}`)}`);
      params.push(q.name, q.name);
    }
    if (q.nameContains !== undefined) { where.push(`${j('name')} LIKE ? ESCAPE '\\'`); params.push(like(q.nameContains)); }
    if (q.sex !== undefined) { where.push(q.sex.length ? `${j('sex')} IN (${q.sex.map(() => '?').join(', ')})` : '1 = 0'); params.push(...q.sex); }
    if (q.birthDate !== undefined) { where.push(`${j('birthDate')} = ?`); params.push(q.birthDate); }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const rows = q.count === 0 ? [] : await this.residentRows(w, `ORDER BY resident_id ${this.d.page}`, [...params, q.count, q.offset]);
    const total = totalOf(q, rows.length) ?? (await this.d.all<{ n: number }>(`SELECT count(*) AS n FROM residents ${w}`, params))[0]!.n;
    return { total: Number(total), rows };
  }

  /**
   * Residents with their EMPI person in the same query (one round trip): the person and up to 100
   * of the person's other residents, in resident id order, as correlated subqueries evaluated for
   * the rows returned only.
   */
  private async residentRows(where: string, tail: string, params: unknown[]): Promise<ResidentRow[]> {
    type Row = { resident_id: string; payload: unknown; clinic_id: string; updated_at: unknown; hlc: string; person_id?: string | null; others?: unknown };
    const empi = await this.hasEmpi();
    const person = empi
      ? `, (SELECT l.person_id FROM empi_link l WHERE l.resident_id = residents.resident_id) AS person_id,
         (SELECT ${this.d.list('x.other')} FROM (SELECT o.resident_id AS other FROM empi_link l JOIN empi_link o ON o.person_id = l.person_id AND o.resident_id <> l.resident_id
           WHERE l.resident_id = residents.resident_id ORDER BY o.resident_id LIMIT ${MAX_OTHERS}) x) AS others`
      : '';
    const rows = await this.d.all<Row>(`SELECT resident_id, payload, clinic_id, updated_at, hlc${person} FROM residents ${where} ${tail}`, params);
    return rows.map((r) => {
      const row: ResidentRow = { residentId: r.resident_id, payload: parse(r.payload), clinicId: r.clinic_id, updatedAt: iso(r.updated_at), hlc: r.hlc };
      if (r.person_id != null) {
        const others = typeof r.others === 'string' ? JSON.parse(r.others) as string[] : (r.others as string[] | null) ?? [];
        row.person = { personId: r.person_id, others };
      }
      return row;
    });
  }

  private empi: boolean | undefined;
  /** Whether the EMPI tables exist (central creates them; a bare warehouse has none). */
  private async hasEmpi(): Promise<boolean> {
    if (this.empi) return true;
    try {
      await this.d.all('SELECT 1 FROM empi_link WHERE 1 = 0', []);
      this.empi = true;
    } catch {
      this.empi = false;
    }
    return this.empi;
  }

  async residentsByIds(ids: string[]): Promise<ResidentRow[]> {
    if (ids.length === 0) return [];
    return this.residentRows(`WHERE resident_id IN (${ids.map(() => '?').join(', ')})`, 'ORDER BY resident_id', ids);
  }

  async records(q: RecordQuery): Promise<Page<RecordRow>> {
    // Only the latest version of each (type, record, clinic): corrections are new versions.
    // The record types are the facade's own constants (never request text), written into the SQL
    // as literals: with `type IN ($1)` PostgreSQL's generic plan for a prepared statement could not
    // tell the types' rows apart and looked dearer than a custom plan, so it planned the statement
    // anew on every execution (Encounter and Condition searches: ~0.3 ms of planning per request).
    for (const t of q.types) if (!/^[a-z_]+$/.test(t)) throw new Error(`FHIR store: not a record type: ${JSON.stringify(t)}`);
    const j = (f: string) => this.d.json('r.payload', f);
    let from = 'records r';
    let where: string[];
    let params: unknown[];
    if (q.residentId !== undefined && q.version === undefined && this.d.residentViaProjection) {
      // The patient's latest versions, one projection per type (RESIDENT_PROJECTION_TABLES), then their records by key.
      // A code is matched on the projection's code column as well, so that only the matching rows'
      // records are read (the filter on the payload below stays the authority).
      params = [];
      const parts = q.types.map((t) => {
        const p: { table: string; code?: string } = RESIDENT_PROJECTION_TABLES[t];
        params.push(q.residentId);
        const code = q.code !== undefined && p.code ? ` AND ${p.code} = ?` : '';
        if (code) params.push(q.code);
        return `SELECT '${t}' AS type, clinic_id, record_id, version FROM ${p.table} WHERE resident_id = ? AND line_no = 0${code}`;
      });
      // CROSS JOIN: SQLite keeps the patient's projection rows as the outer loop. With one type the
      // subquery is flattened into a plain join, and without statistics the planner preferred to
      // scan `records` by type and probe the projection (a search took ~150 ms at 1.1M records, not ~1 ms).
      from = `(${parts.join(' UNION ALL ')}) p CROSS JOIN records r ON r.type = p.type AND r.record_id = p.record_id AND r.version = p.version AND r.clinic_id = p.clinic_id`;
      where = [];
    } else {
      where = [`r.type IN (${q.types.map((t) => `'${t}'`).join(', ')})`, q.version === undefined ? 'NOT EXISTS (SELECT 1 FROM records n WHERE n.type = r.type AND n.record_id = r.record_id AND n.clinic_id = r.clinic_id AND n.version > r.version)' : 'r.version = ?'];
      params = q.version === undefined ? [] : [q.version];
      if (q.residentId !== undefined) { where.push(`${j('residentId')} = ?`); params.push(q.residentId); }
    }
    if (q.id !== undefined) { where.push('r.record_id = ?'); params.push(q.id); }
    if (q.group !== undefined) { where.push(`coalesce(nullif(${j('orderId')}, ''), ${j('specimenId')}) = ?`); params.push(q.group); }
    if (q.code !== undefined) { where.push(`coalesce(${j('code')}, ${j('testCode')}) = ?`); params.push(q.code); }
    for (const d of q.date ?? []) {
      where.push(`${this.d.instant(CLINICAL_TIME(j))} ${d.op} ${this.d.instant('?')}`);
      params.push(d.at);
    }
    const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
    const order = q.sort ? `${this.d.instant(CLINICAL_TIME(j))} ${q.sort === '-date' ? 'DESC' : 'ASC'}, r.clinic_id, r.seq` : 'r.clinic_id, r.seq';
    const rows = q.count === 0 ? [] : await this.d.all<{ type: FhirRecordType; clinic_id: string; record_id: string; version: number; payload: unknown; applied_at: unknown }>(
      `SELECT r.type, r.clinic_id, r.record_id, r.version, r.payload, r.applied_at FROM ${from} ${w} ORDER BY ${order} ${this.d.page}`, [...params, q.count, q.offset]);
    const total = totalOf(q, rows.length) ?? (await this.d.all<{ n: number }>(`SELECT count(*) AS n FROM ${from} ${w}`, params))[0]!.n;
    return { total: Number(total), rows: rows.map((r) => ({ type: r.type, clinicId: r.clinic_id, recordId: r.record_id, version: Number(r.version), payload: parse(r.payload), appliedAt: iso(r.applied_at) })) };
  }
}

/**
 * Searches touch a few pages each, scattered over a warehouse of gigabytes: SQLite's default page
 * cache (2 MB) turns every one into a read() system call. Keep a larger cache of its own and, with
 * `mmap`, map the file (reads straight from the OS page cache). Both only change how pages are read.
 *
 * Reader threads do not map the file: in WAL mode a connection whose next read transaction sees
 * any commit since its last one (every audit entry batch, every ingest transaction) drops its
 * whole page cache and unmaps the file (SQLite's pagerBeginReadTransaction), so with a map each
 * search paid an munmap of the pages it had touched (TLB shootdowns across the process's threads)
 * and page faults to map them again. Under the FHIR bench's load (an audit commit between almost
 * any two reads) server CPU per mixed request went 554 -> 466 us without the map.
 */
function readFriendly(db: Db, mmap = true): void {
  db.pragma(`mmap_size = ${mmap ? 8 * 2 ** 30 : 0}`); // clamped by SQLite's compile-time maximum
  db.pragma('cache_size = -131072'); // KiB: 128 MiB
}

function sqliteDialect(db: Db): Dialect {
  // Prepared once per SQL text: the searches are a few shapes repeated with new parameters.
  const cache = new Map<string, { all(...params: unknown[]): unknown[] }>();
  const prepared = (sql: string) => {
    let st = cache.get(sql);
    if (!st) {
      if (cache.size >= 1000) cache.clear();
      st = db.prepare(sql) as { all(...params: unknown[]): unknown[] };
      cache.set(sql, st);
    }
    return st;
  };
  return {
    json: (col, f) => `json_extract(${col}, '$.${f}')`,
    // julianday() understands offsets (+08:00) and fractions; plain text comparison would not.
    instant: (e) => `julianday(${e})`,
    maxChar: 'char(1114111)',
    binary: (e) => e, // SQLite compares text by bytes (UTF-8 keeps code point order) unless told otherwise
    list: (c) => `json_group_array(${c})`,
    // `LIMIT ?` lets SQLite's planner read the bound value, which marks the statement as depending
    // on it: better-sqlite3 clears the bindings after each run, so every execution parsed and
    // planned the statement anew (~80-140 us per search). `+?` is the same integer, not read by the planner.
    page: 'LIMIT +? OFFSET +?',
    residentViaProjection: true,
    all: async <R>(sql: string, params: unknown[]) => prepared(sql).all(...params) as R[],
  };
}

/** Statements with more parameters than this (long IN lists of ids) run unnamed: each list length would be a statement of its own. */
const PG_NAMED_MAX_PARAMS = 16;

function pgDialect(pool: Pool): Dialect {
  // `?` -> `$n` once per SQL text, and a statement name for it: node-postgres prepares a named
  // statement once per connection and then only binds and executes it (no parse and analysis by
  // the server, one message fewer each time). The searches are a few shapes repeated with new values.
  const texts = new Map<string, { text: string; name?: string }>();
  const shape = (sql: string, nParams: number) => {
    let t = texts.get(sql);
    if (!t) {
      if (texts.size >= 1000) texts.clear();
      let i = 0;
      const text = sql.replace(/\?/g, () => `$${++i}`);
      t = { text, name: nParams <= PG_NAMED_MAX_PARAMS ? `fhir_${createHash('sha1').update(text).digest('base64url').slice(0, 20)}` : undefined };
      texts.set(sql, t);
    }
    return t;
  };
  return {
    json: (col, f) => `(${col}->>'${f}')`,
    instant: (e) => `(${e})::timestamptz`,
    maxChar: 'chr(1114111)',
    binary: (e) => `(${e}) COLLATE "C"`,
    list: (c) => `array_agg(${c} ORDER BY ${c})`,
    page: 'LIMIT ? OFFSET ?',
    residentViaProjection: false,
    all: async <R>(sql: string, params: unknown[]) => {
      const t = shape(sql, params.length);
      return (await pool.query(t.name ? { name: t.name, text: t.text, values: params } : { text: t.text, values: params })).rows as R[];
    },
  };
}

/** Plain reads with `?` placeholders over either backend (SQLite: statements prepared once). */
export function fhirReader(wh: Warehouse): <R>(sql: string, params: unknown[]) => Promise<R[]> {
  if (wh instanceof SqliteWarehouse) return sqliteDialect(wh.db).all;
  if (wh instanceof PostgresWarehouse) return pgDialect(wh.pool).all;
  throw new Error('FHIR facade: unsupported warehouse implementation');
}

/** The FHIR read store over whichever warehouse central runs. */
export function fhirStoreFor(wh: Warehouse): FhirStore {
  if (wh instanceof SqliteWarehouse) {
    readFriendly(wh.db);
    return new SqlFhirStore(sqliteDialect(wh.db), wh);
  }
  if (wh instanceof PostgresWarehouse) return new SqlFhirStore(pgDialect(wh.pool), wh);
  throw new Error('FHIR facade: unsupported warehouse implementation');
}

/** Where a reader thread finds the warehouse (`readers.ts`): the SQLite file, or the PostgreSQL URL. */
export type ReaderSource = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

/** The reader source of a warehouse, or undefined when it cannot be shared with another thread (in-memory SQLite). */
export function readerSourceOf(wh: Warehouse): ReaderSource | undefined {
  if (wh instanceof SqliteWarehouse) return wh.file === ':memory:' ? undefined : { kind: 'sqlite', file: wh.file };
  if (wh instanceof PostgresWarehouse) {
    const url = wh.pool.options.connectionString;
    return url ? { kind: 'postgres', url } : undefined;
  }
  return undefined;
}

/**
 * A FHIR read store on its own connection, for a reader thread. SQLite: a connection to the
 * warehouse file that may only read (`query_only`); in WAL mode it reads alongside the writer and
 * sees every committed transaction. PostgreSQL: a small pool of its own. Without the warehouse
 * object there is no staff dictionary: directory types stay on the main thread.
 */
export function readerStore(src: ReaderSource): { store: FhirStore; close: () => Promise<void>; snapshot: <T>(body: () => Promise<T>) => Promise<T> } {
  if (src.kind === 'sqlite') {
    const db = new Database(src.file);
    db.pragma('busy_timeout = 10000');
    db.pragma('query_only = ON');
    readFriendly(db, false);
    return { store: new SqlFhirStore(sqliteDialect(db)), close: async () => { db.close(); }, snapshot: sqliteSnapshot(db) };
  }
  const pool = new pg.Pool({ connectionString: src.url, max: 4 });
  pool.on('error', () => undefined);
  pool.on('connect', (client) => { client.on('error', () => undefined); });
  return { store: new SqlFhirStore(pgDialect(pool)), close: () => pool.end(), snapshot: (body) => body() };
}

/**
 * `snapshot(body)`: the reads of `body` (a reader thread's batch of requests) in one read
 * transaction. A WAL reader that sees a commit made since its previous read transaction drops its
 * whole page cache; with the FHIR audit log committing between almost any two requests, one read
 * transaction per batch instead of one per statement means one such drop per batch. The snapshot
 * is taken when the batch starts, after every request in it was received, so each request still
 * sees every write committed before it arrived. Nested or overlapping bodies share the transaction;
 * it ends when the last one settles.
 */
function sqliteSnapshot(db: Db): <T>(body: () => Promise<T>) => Promise<T> {
  const begin = db.prepare('BEGIN');
  const commit = db.prepare('COMMIT');
  let open = 0;
  return async (body) => {
    if (open++ === 0) begin.run();
    try {
      return await body();
    } finally {
      if (--open === 0 && db.inTransaction) commit.run();
    }
  };
}
