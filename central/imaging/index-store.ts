/**
 * The central image index behind one repository interface: studies/series/instances, the
 * radiologists' reports and the workload / positive-rate statistics. `SqliteImagingIndex`
 * lives in the SQLite warehouse's file (migrations 200-201 appended to its list);
 * `PgImagingIndex` (`index-store-pg.ts`) in the PostgreSQL warehouse's database. Both pass
 * `runImagingIndexContract` (`index-contract.ts`).
 *
 *   const index = wh instanceof PostgresWarehouse ? PgImagingIndex.lazy(wh.pool) : new SqliteImagingIndex(wh.db);
 */
import type { Db } from '../../contracts/runtime/index.ts';
import { withWriteGate } from '../warehouse/write-gate.ts';
import type { Report, ReportInput } from './reports.ts';

export interface IndexedInstance {
  sopInstanceUid: string;
  clinicId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  size: number;
  sha256: string;
  path: string;
  patientId: string | null;
  patientName: string | null;
  patientBirthDate: string | null;
  patientSex: string | null;
  accessionNumber: string | null;
  modality: string | null;
  studyDate: string | null;
  studyTime: string | null;
  studyDescription: string | null;
  seriesNumber: string | null;
  instanceNumber: string | null;
  rows: number | null;
  columns: number | null;
  numberOfFrames: number | null;
  stationAe: string | null;
  /** ISO 8601 UTC with milliseconds. */
  receivedAt: string;
}

/** QIDO-RS query parameters, by keyword or tag (`PatientID` or `00100020`), plus `ClinicID`, `limit`, `offset`. */
export interface Query { [k: string]: string | undefined }

export interface StudySummary {
  studyInstanceUid: string;
  clinicId: string;
  patientId: string | null;
  patientName: string | null;
  patientBirthDate: string | null;
  patientSex: string | null;
  accessionNumber: string | null;
  studyDate: string | null;
  studyTime: string | null;
  studyDescription: string | null;
  modalities: string[];
  series: number;
  instances: number;
  /** When the archive received the study's latest instance (ISO 8601 UTC): study lists are newest first by it. */
  lastReceivedAt: string;
}

export interface SeriesSummary {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  modality: string | null;
  seriesNumber: string | null;
  instances: number;
}

export interface WorkloadRow {
  /** China time (UTC+8), yyyy-MM-dd. */
  day: string;
  clinicId: string;
  stationAe: string;
  modality: string;
  studies: number;
  instances: number;
  bytes: number;
  /** Studies whose latest report is final or amended. */
  reported: number;
  positive: number;
  /** null when no study of the group is reported: never guessed. */
  positiveRate: number | null;
}

/**
 * China days `from`..`to` (yyyy-MM-dd, both included) as the UTC range [start, end) of
 * `received_at`: the workload queries take it besides the day expression, so that the index on
 * (clinic_id, received_at) serves a clinic's period instead of a scan of every instance.
 */
export function chinaDaysUtc(from: string, to: string): [string, string] {
  const start = Date.parse(`${from}T00:00:00+08:00`);
  const end = Date.parse(`${to}T00:00:00+08:00`) + 86_400_000;
  return [new Date(start).toISOString(), new Date(end).toISOString()];
}

/**
 * One report version issued in a period, for the radiologists' workload (医师工作量): who, what
 * status, the study's clinic, when its first image reached the archive, and which version was the
 * study's first final one (its report turnaround: that version's time less the first image's).
 */
export interface ReportActivity {
  studyInstanceUid: string;
  version: number;
  status: 'preliminary' | 'final' | 'amended';
  positive: boolean;
  radiologist: string;
  reportedAt: string;
  clinicId: string;
  firstReceivedAt: string;
  /** The study's first version that is not preliminary (null: none yet). */
  firstFinalVersion: number | null;
}

const iso = (v: unknown) => (v instanceof Date ? v.toISOString() : String(v));
export function toActivity(r: Record<string, unknown>): ReportActivity {
  return {
    studyInstanceUid: String(r.study_instance_uid), version: Number(r.version), status: String(r.status) as ReportActivity['status'], positive: Number(r.positive) === 1,
    radiologist: String(r.radiologist), reportedAt: iso(r.reported_at), clinicId: String(r.clinic_id), firstReceivedAt: iso(r.first_received_at),
    firstFinalVersion: r.first_final === null || r.first_final === undefined ? null : Number(r.first_final),
  };
}

/** A report as the edge pulls it: `cursor` orders reports across studies (monotonic in commit order). */
export interface CursorReport extends Report { cursor: number }

export class ReportError extends Error {
  override name = 'ReportError';
  constructor(readonly status: 404 | 409, message: string) {
    super(message);
  }
}

export interface ImagingIndex {
  readonly backend: 'sqlite' | 'postgres';
  /** Resolves once the schema is in place (PostgreSQL migrations); rejects with the migration error. */
  ready(): Promise<void>;
  instance(sop: string): Promise<IndexedInstance | null>;
  /** Insert, or replace the row of the same SOP Instance UID (a clinic replacing its own instance). */
  upsertInstance(i: IndexedInstance): Promise<void>;
  searchStudies(q: Query): Promise<StudySummary[]>;
  searchSeries(q: Query): Promise<SeriesSummary[]>;
  findInstances(q: Query): Promise<IndexedInstance[]>;
  /** Next version of the study's report; 404 unknown study, 409 out-of-order status. */
  addReport(study: string, input: ReportInput): Promise<Report>;
  reports(study: string): Promise<Report[]>;
  /** Reports on studies the clinic sent, in cursor order, after `after`. */
  reportsForClinic(clinicId: string, after: number, limit: number): Promise<CursorReport[]>;
  workload(from: string, to: string, clinicId?: string): Promise<WorkloadRow[]>;
  /** Report versions issued from `from` to `to` (China days), through the index on reported_at. */
  reportActivity(from: string, to: string): Promise<ReportActivity[]>;
}

// ------------------------------------------------------------------ shared SQL pieces

const KEYS: Record<string, string> = {
  '00100020': 'PatientID', '00100010': 'PatientName', '00080050': 'AccessionNumber', '00080020': 'StudyDate', '00080061': 'ModalitiesInStudy',
  '00080060': 'Modality', '0020000D': 'StudyInstanceUID', '0020000E': 'SeriesInstanceUID', '00080018': 'SOPInstanceUID',
};

export interface Dialect {
  /** Placeholder of the n-th argument (1-based). */
  ph(n: number): string;
  /** Case-insensitive LIKE (SQLite's LIKE already is, for ASCII). */
  like: string;
}

/** SQL conditions for QIDO matching: wildcards (* ?), date ranges, UID lists, plus ClinicID (ours). */
export function where(q: Query, d: Dialect, args: unknown[] = []): { sql: string; args: unknown[] } {
  const get = (k: string) => q[k] ?? q[Object.keys(KEYS).find((t) => KEYS[t] === k) ?? ''];
  const conds: string[] = [];
  const p = (v: unknown) => { args.push(v); return d.ph(args.length); };
  const like = (col: string, val: string) => {
    if (/[*?]/.test(val)) conds.push(`${col} ${d.like} ${p(val.replace(/[\\%_]/g, '\\$&').replaceAll('*', '%').replaceAll('?', '_'))} ESCAPE '\\'`);
    else conds.push(`${col} = ${p(val)}`);
  };
  const pid = get('PatientID'); if (pid) like('patient_id', pid);
  const name = get('PatientName'); if (name) like('patient_name', name);
  const acc = get('AccessionNumber'); if (acc) like('accession_number', acc);
  const mod = get('ModalitiesInStudy') ?? get('Modality'); if (mod) conds.push(`modality = ${p(mod)}`);
  const clinic = q.ClinicID; if (clinic) conds.push(`clinic_id = ${p(clinic)}`);
  for (const [k, col] of [['StudyInstanceUID', 'study_instance_uid'], ['SeriesInstanceUID', 'series_instance_uid'], ['SOPInstanceUID', 'sop_instance_uid']] as const) {
    const list = get(k)?.split(/[,\\]/).filter(Boolean);
    if (list?.length) conds.push(`${col} IN (${list.map((x) => p(x)).join(',')})`);
  }
  // DICOM ranges: a-b, -b, a- (dates yyyyMMdd; ISO yyyy-MM-dd accepted too).
  const date = get('StudyDate')?.replace(/(\d{4})-(\d{2})-(\d{2})/g, '$1$2$3');
  if (date) {
    const m = /^(\d{8})?-(\d{8})?$/.exec(date);
    if (m) {
      if (m[1]) conds.push(`study_date >= ${p(m[1])}`);
      if (m[2]) conds.push(`study_date <= ${p(m[2])}`);
    } else conds.push(`study_date = ${p(date)}`);
  }
  return { sql: conds.length ? `WHERE ${conds.join(' AND ')}` : '', args };
}

export const page = (q: Query) => ({ limit: Math.min(1000, Math.max(1, Number(q.limit) || 100)), offset: Math.max(0, Number(q.offset) || 0) });

/**
 * Recency rows (imaging_study_recency, migration 202): per study, the last instance received, once
 * per sending clinic and once for all clinics (clinic_id ALL_CLINICS). A study search with no
 * filter but ClinicID (a viewer's or the portal's "recent studies") takes its page of studies from
 * them through an index and aggregates only those studies' instances, instead of grouping every
 * instance of the archive (0.4 s at 500,000 instances, growing with the archive). The page is the
 * one the full grouping gives: ordered by the study's last receipt, then its UID.
 */
export const ALL_CLINICS = '*';

/** The ClinicID a recency page is read for, or null when the query has other filters (then the full grouping runs). */
export function recencyScope(q: Query): string | null {
  const { ClinicID, ...rest } = q;
  if (where(rest, { ph: () => '?', like: 'LIKE' }).sql !== '') return null;
  return typeof ClinicID === 'string' && ClinicID !== '' ? ClinicID : ALL_CLINICS;
}

/** Orders aggregated study rows as the recency page listed their UIDs. */
export function inPageOrder<R extends { study_instance_uid: string }>(uids: string[], rows: R[]): R[] {
  const by = new Map(rows.map((r) => [r.study_instance_uid, r]));
  return uids.map((u) => by.get(u)).filter((r): r is R => r !== undefined);
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
/** snake_case rows to camelCase objects; Date values (PostgreSQL timestamptz) to ISO strings. */
export function camelRows<T>(list: unknown[]): T[] {
  return list.map((r) => Object.fromEntries(Object.entries(r as Record<string, unknown>).map(([k, v]) => [camel(k), v instanceof Date ? v.toISOString() : v])) as T);
}

export const INSTANCE_COLUMNS = ['sop_instance_uid', 'clinic_id', 'study_instance_uid', 'series_instance_uid', 'sop_class_uid', 'transfer_syntax_uid', 'size', 'sha256', 'path',
  'patient_id', 'patient_name', 'patient_birth_date', 'patient_sex', 'accession_number', 'modality', 'study_date', 'study_time', 'study_description',
  'series_number', 'instance_number', 'rows', 'columns', 'number_of_frames', 'station_ae', 'received_at'] as const;
/** Columns a replacement of the same SOP instance updates (the clinic and first path stay). */
export const INSTANCE_REPLACED = ['study_instance_uid', 'series_instance_uid', 'transfer_syntax_uid', 'size', 'sha256', 'path', 'patient_id', 'patient_name', 'station_ae', 'received_at'] as const;

export function instanceValues(i: IndexedInstance): unknown[] {
  return INSTANCE_COLUMNS.map((c) => (i as unknown as Record<string, unknown>)[camel(c)] ?? null);
}

export function toReport(r: Record<string, unknown>): Report {
  return {
    studyInstanceUid: String(r.study_instance_uid), version: Number(r.version), status: r.status as Report['status'], findings: String(r.findings),
    impression: String(r.impression), positive: Number(r.positive) === 1, radiologist: String(r.radiologist),
    reportedAt: r.reported_at instanceof Date ? r.reported_at.toISOString() : String(r.reported_at),
  };
}

/** The version rules shared by both backends: 'amended' needs a final; no preliminary after a final. */
export function nextReport(study: string, prev: Report[], input: ReportInput, now = new Date()): Report {
  const last = prev[prev.length - 1];
  if (input.status === 'amended' && !prev.some((r) => r.status !== 'preliminary')) throw new ReportError(409, 'an amendment needs a final report to amend');
  if (input.status === 'preliminary' && last && last.status !== 'preliminary') throw new ReportError(409, `the report is already ${last.status}: send an amendment`);
  return { ...input, studyInstanceUid: study, version: (last?.version ?? 0) + 1, reportedAt: now.toISOString() };
}

type WorkloadDbRow = { day: string; clinic_id: string; station_ae: string; modality: string; studies: number; instances: number; bytes: number; reported: number; positive: number };
/**
 * The clinics that sent instances, by a loose index scan of (clinic_id, received_at): one index
 * seek per clinic rather than a read of every instance (same SQL on SQLite and PostgreSQL).
 */
export const CLINICS_SQL = `WITH RECURSIVE c(id) AS (
    SELECT (SELECT min(clinic_id) FROM imaging_instances)
    UNION ALL SELECT (SELECT min(clinic_id) FROM imaging_instances WHERE clinic_id > c.id) FROM c WHERE c.id IS NOT NULL
  ) SELECT id FROM c WHERE id IS NOT NULL`;

/** Rows of several clinics in the order of one query's ORDER BY day, clinic, device, modality. */
export function sortWorkload(rows: WorkloadRow[]): WorkloadRow[] {
  const key = (r: WorkloadRow) => [r.day, r.clinicId, r.stationAe, r.modality];
  return rows.sort((a, b) => {
    const ka = key(a), kb = key(b);
    for (let i = 0; i < ka.length; i++) if (ka[i] !== kb[i]) return ka[i]! < kb[i]! ? -1 : 1;
    return 0;
  });
}

export function toWorkload(rows: WorkloadDbRow[]): WorkloadRow[] {
  return rows.map((r) => ({
    day: r.day, clinicId: r.clinic_id, stationAe: r.station_ae, modality: r.modality, studies: Number(r.studies), instances: Number(r.instances), bytes: Number(r.bytes),
    reported: Number(r.reported), positive: Number(r.positive), positiveRate: Number(r.reported) ? Number(r.positive) / Number(r.reported) : null,
  }));
}

/** Latest final/amended report per study (the positive rate's basis). */
export const LATEST_REPORT = `SELECT r.study_instance_uid, r.positive FROM imaging_reports r
  WHERE r.status <> 'preliminary' AND r.version = (SELECT max(x.version) FROM imaging_reports x WHERE x.study_instance_uid = r.study_instance_uid AND x.status <> 'preliminary')`;

// ------------------------------------------------------------------ SQLite

const SQLITE: Dialect = { ph: () => '?', like: 'LIKE' };
const STUDY_AGGREGATE = `SELECT study_instance_uid, max(clinic_id) AS clinic_id, max(patient_id) AS patient_id, max(patient_name) AS patient_name,
    max(patient_birth_date) AS patient_birth_date, max(patient_sex) AS patient_sex, max(accession_number) AS accession_number, max(study_date) AS study_date,
    max(study_time) AS study_time, max(study_description) AS study_description, group_concat(DISTINCT modality) AS modalities,
    count(DISTINCT series_instance_uid) AS series, count(*) AS instances, max(received_at) AS last_received_at`;

export class SqliteImagingIndex implements ImagingIndex {
  readonly backend = 'sqlite' as const;
  constructor(readonly db: Db) {}

  async ready(): Promise<void> {}

  async instance(sop: string): Promise<IndexedInstance | null> {
    return camelRows<IndexedInstance>(this.db.prepare('SELECT * FROM imaging_instances WHERE sop_instance_uid = ?').all(sop))[0] ?? null;
  }

  async upsertInstance(i: IndexedInstance): Promise<void> {
    // Writes on the warehouse's connection take its write gate (central/warehouse/write-gate.ts).
    withWriteGate(() => this.db.transaction(() => {
      const before = this.db.prepare<[string], { study_instance_uid: string; received_at: string; clinic_id: string }>('SELECT study_instance_uid, received_at, clinic_id FROM imaging_instances WHERE sop_instance_uid = ?').get(i.sopInstanceUid);
      this.db.prepare(`INSERT INTO imaging_instances (${INSTANCE_COLUMNS.join(', ')}) VALUES (${INSTANCE_COLUMNS.map(() => '?').join(', ')})
        ON CONFLICT (sop_instance_uid) DO UPDATE SET ${INSTANCE_REPLACED.map((c) => `${c} = excluded.${c}`).join(', ')}`).run(...instanceValues(i));
      // The clinic of a replaced instance stays the first sender's (INSTANCE_REPLACED).
      const clinic = before?.clinic_id ?? i.clinicId;
      const bump = this.db.prepare(`INSERT INTO imaging_study_recency (clinic_id, study_instance_uid, last_received_at) VALUES (?, ?, ?)
        ON CONFLICT (clinic_id, study_instance_uid) DO UPDATE SET last_received_at = max(last_received_at, excluded.last_received_at)`);
      bump.run(clinic, i.studyInstanceUid, i.receivedAt);
      bump.run(ALL_CLINICS, i.studyInstanceUid, i.receivedAt);
      // A replacement that moved the instance to another study, or back in time: the old study's
      // last receipt is read again from what it still holds.
      if (before && (before.study_instance_uid !== i.studyInstanceUid || before.received_at > i.receivedAt)) {
        this.db.prepare('DELETE FROM imaging_study_recency WHERE study_instance_uid = ?').run(before.study_instance_uid);
        this.db.prepare(`INSERT INTO imaging_study_recency (clinic_id, study_instance_uid, last_received_at)
          SELECT clinic_id, study_instance_uid, max(received_at) FROM imaging_instances WHERE study_instance_uid = ? GROUP BY clinic_id
          UNION ALL SELECT ?, study_instance_uid, max(received_at) FROM imaging_instances WHERE study_instance_uid = ? GROUP BY study_instance_uid`).run(before.study_instance_uid, ALL_CLINICS, before.study_instance_uid);
      }
    }).immediate());
  }

  async searchStudies(q: Query): Promise<StudySummary[]> {
    const { limit, offset } = page(q);
    const scope = recencyScope(q);
    let rows: { study_instance_uid: string }[];
    if (scope !== null) {
      // The page's studies from the recency index, then only their instances (see ALL_CLINICS).
      const uids = this.db.prepare<[string, number, number], { study_instance_uid: string }>(`SELECT study_instance_uid FROM imaging_study_recency WHERE clinic_id = ?
        ORDER BY last_received_at DESC, study_instance_uid LIMIT ? OFFSET ?`).all(scope, limit, offset).map((r) => r.study_instance_uid);
      if (uids.length === 0) return [];
      // By the study index (the unary + keeps SQLite off the clinic's (clinic_id, received_at) index).
      const clinicCond = scope === ALL_CLINICS ? '' : ' AND +clinic_id = ?';
      rows = inPageOrder(uids, this.db.prepare<unknown[], { study_instance_uid: string }>(`${STUDY_AGGREGATE} FROM imaging_instances
        WHERE study_instance_uid IN (${uids.map(() => '?').join(', ')})${clinicCond} GROUP BY study_instance_uid`).all(...uids, ...(scope === ALL_CLINICS ? [] : [scope])));
    } else {
      const w = where(q, SQLITE);
      rows = this.db.prepare<unknown[], { study_instance_uid: string }>(`${STUDY_AGGREGATE} FROM imaging_instances ${w.sql} GROUP BY study_instance_uid ORDER BY max(received_at) DESC, study_instance_uid LIMIT ? OFFSET ?`).all(...w.args, limit, offset);
    }
    return camelRows<Omit<StudySummary, 'modalities'> & { modalities: string | null }>(rows).map((r) => ({ ...r, modalities: (r.modalities ?? '').split(',').filter(Boolean).sort() }));
  }

  async searchSeries(q: Query): Promise<SeriesSummary[]> {
    const w = where(q, SQLITE);
    const { limit, offset } = page(q);
    return camelRows<SeriesSummary>(this.db.prepare(`SELECT study_instance_uid, series_instance_uid, max(modality) AS modality, max(series_number) AS series_number, count(*) AS instances
      FROM imaging_instances ${w.sql} GROUP BY study_instance_uid, series_instance_uid ORDER BY CAST(max(series_number) AS INTEGER), series_instance_uid LIMIT ? OFFSET ?`).all(...w.args, limit, offset));
  }

  async findInstances(q: Query): Promise<IndexedInstance[]> {
    const w = where(q, SQLITE);
    const { limit, offset } = page(q);
    return camelRows<IndexedInstance>(this.db.prepare(`SELECT * FROM imaging_instances ${w.sql}
      ORDER BY CAST(series_number AS INTEGER), series_instance_uid, CAST(instance_number AS INTEGER), sop_instance_uid LIMIT ? OFFSET ?`).all(...w.args, limit, offset));
  }

  async addReport(study: string, input: ReportInput): Promise<Report> {
    return withWriteGate(() => this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM imaging_instances WHERE study_instance_uid = ? LIMIT 1').get(study)) throw new ReportError(404, `study ${study} is not in the archive`);
      const r = nextReport(study, this.reportsSync(study), input);
      this.db.prepare(`INSERT INTO imaging_reports (study_instance_uid, version, status, findings, impression, positive, radiologist, reported_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(study, r.version, r.status, r.findings, r.impression, r.positive ? 1 : 0, r.radiologist, r.reportedAt);
      return r;
    }).immediate());
  }

  private reportsSync(study: string): Report[] {
    return (this.db.prepare('SELECT * FROM imaging_reports WHERE study_instance_uid = ? ORDER BY version').all(study) as Record<string, unknown>[]).map(toReport);
  }

  async reports(study: string): Promise<Report[]> {
    return this.reportsSync(study);
  }

  async reportsForClinic(clinicId: string, after: number, limit: number): Promise<CursorReport[]> {
    // rowid: writes are serialised by SQLite, so a later commit never gets a smaller rowid.
    const rows = this.db.prepare(`SELECT r.rowid AS cursor, r.* FROM imaging_reports r
      WHERE r.rowid > ? AND r.study_instance_uid IN (SELECT study_instance_uid FROM imaging_instances WHERE clinic_id = ?)
      ORDER BY r.rowid LIMIT ?`).all(after, clinicId, limit) as Record<string, unknown>[];
    return rows.map((r) => ({ ...toReport(r), cursor: Number(r.cursor) }));
  }

  async workload(from: string, to: string, clinicId?: string): Promise<WorkloadRow[]> {
    // All clinics: one query per clinic, each reading its period through (clinic_id, received_at),
    // instead of every instance the archive holds (the period bounds received_at only within a clinic).
    if (!clinicId) {
      const clinics = (this.db.prepare(CLINICS_SQL).all() as { id: string }[]).map((r) => r.id);
      return sortWorkload((await Promise.all(clinics.map((c) => this.workload(from, to, c)))).flat());
    }
    const rows = this.db.prepare(`WITH latest AS (${LATEST_REPORT})
        SELECT date(i.received_at, '+8 hours') AS day, i.clinic_id, coalesce(i.station_ae, '') AS station_ae, coalesce(i.modality, '') AS modality,
          count(DISTINCT i.study_instance_uid) AS studies, count(*) AS instances, sum(i.size) AS bytes,
          count(DISTINCT CASE WHEN l.study_instance_uid IS NOT NULL THEN i.study_instance_uid END) AS reported,
          count(DISTINCT CASE WHEN l.positive = 1 THEN i.study_instance_uid END) AS positive
      FROM imaging_instances i LEFT JOIN latest l ON l.study_instance_uid = i.study_instance_uid
      WHERE i.received_at >= ? AND i.received_at < ? AND date(i.received_at, '+8 hours') BETWEEN ? AND ? ${clinicId ? 'AND i.clinic_id = ?' : ''}
      GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`).all(...chinaDaysUtc(from, to), from, to, ...(clinicId ? [clinicId] : [])) as WorkloadDbRow[];
    return toWorkload(rows);
  }

  async reportActivity(from: string, to: string): Promise<ReportActivity[]> {
    return (this.db.prepare(`SELECT r.study_instance_uid, r.version, r.status, r.positive, r.radiologist, r.reported_at,
        (SELECT min(x.version) FROM imaging_reports x WHERE x.study_instance_uid = r.study_instance_uid AND x.status <> 'preliminary') AS first_final,
        (SELECT i.clinic_id FROM imaging_instances i WHERE i.study_instance_uid = r.study_instance_uid LIMIT 1) AS clinic_id,
        (SELECT min(i.received_at) FROM imaging_instances i WHERE i.study_instance_uid = r.study_instance_uid) AS first_received_at
      FROM imaging_reports r WHERE r.reported_at >= ? AND r.reported_at < ? ORDER BY r.reported_at`).all(...chinaDaysUtc(from, to)) as Record<string, unknown>[]).map(toActivity);
  }
}
