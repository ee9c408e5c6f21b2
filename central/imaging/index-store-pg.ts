/**
 * The central image index on the PostgreSQL warehouse (`CENTRAL_WAREHOUSE=postgres`): same
 * tables and meaning as the SQLite one (migrations 200-203 in the warehouse's
 * `schema_migrations`, applied under its advisory lock, so several central instances start
 * safely), same contract (`index-contract.ts`).
 *
 * Reports: every insert takes one transaction-level advisory lock, so report ids (the edges'
 * pull cursor) commit in id order: an edge that has read up to id n never misses a report
 * committed later with a smaller id. Reports are a few per study; the lock costs nothing.
 */
import type pg from 'pg';
import { migratePg, type PgMigration } from '../warehouse/postgres-migrations.ts';
import type { Report, ReportInput } from './reports.ts';
import {
  CLINICS_SQL, sortWorkload,
  ALL_CLINICS, INSTANCE_COLUMNS, chinaDaysUtc, INSTANCE_REPLACED, LATEST_REPORT, ReportError, camelRows, inPageOrder, instanceValues, nextReport, page, recencyScope, toActivity, toReport, toWorkload, where, type ReportActivity,
  type CursorReport, type Dialect, type ImagingIndex, type IndexedInstance, type Query, type SeriesSummary, type StudySummary, type WorkloadRow,
} from './index-store.ts';

export const imagingPgMigrations: PgMigration[] = [{
  version: 200,
  name: 'imaging: regional archive instance index across clinics',
  sql: `
    CREATE TABLE imaging_instances (
      sop_instance_uid TEXT PRIMARY KEY,
      clinic_id TEXT NOT NULL,
      study_instance_uid TEXT NOT NULL,
      series_instance_uid TEXT NOT NULL,
      sop_class_uid TEXT NOT NULL,
      transfer_syntax_uid TEXT NOT NULL,
      size BIGINT NOT NULL,
      sha256 TEXT NOT NULL,
      path TEXT NOT NULL,
      patient_id TEXT,
      patient_name TEXT,
      patient_birth_date TEXT,
      patient_sex TEXT,
      accession_number TEXT,
      modality TEXT,
      study_date TEXT,
      study_time TEXT,
      study_description TEXT,
      series_number TEXT,
      instance_number TEXT,
      rows INTEGER,
      columns INTEGER,
      number_of_frames INTEGER,
      station_ae TEXT,
      received_at TIMESTAMPTZ NOT NULL
    );
    CREATE INDEX imaging_instances_study ON imaging_instances (study_instance_uid, series_instance_uid);
    CREATE INDEX imaging_instances_clinic_day ON imaging_instances (clinic_id, received_at);
    CREATE INDEX imaging_instances_patient ON imaging_instances (patient_id);
    CREATE INDEX imaging_instances_date ON imaging_instances (study_date);
  `,
}, {
  version: 201,
  name: 'imaging: diagnostic reports by district radiologists (versioned, append-only)',
  sql: `
    CREATE TABLE imaging_reports (
      id BIGINT GENERATED ALWAYS AS IDENTITY UNIQUE,
      study_instance_uid TEXT NOT NULL,
      version INTEGER NOT NULL,
      status TEXT NOT NULL CHECK (status IN ('preliminary', 'final', 'amended')),
      findings TEXT NOT NULL,
      impression TEXT NOT NULL,
      positive INTEGER NOT NULL CHECK (positive IN (0, 1)),
      radiologist TEXT NOT NULL,
      reported_at TIMESTAMPTZ NOT NULL,
      PRIMARY KEY (study_instance_uid, version)
    );
    CREATE FUNCTION imaging_reports_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'reports are versioned: add a new version'; END $$;
    CREATE TRIGGER imaging_reports_no_change BEFORE UPDATE OR DELETE ON imaging_reports FOR EACH ROW EXECUTE FUNCTION imaging_reports_append_only();
    CREATE TRIGGER imaging_reports_no_truncate BEFORE TRUNCATE ON imaging_reports FOR EACH STATEMENT EXECUTE FUNCTION imaging_reports_append_only();
  `,
}, {
  version: 202,
  name: 'imaging: each study\'s last receipt per clinic and overall (the recent-studies page without grouping the archive)',
  sql: `
    CREATE TABLE imaging_study_recency (
      clinic_id TEXT NOT NULL,
      study_instance_uid TEXT NOT NULL,
      last_received_at TIMESTAMPTZ NOT NULL,
      PRIMARY KEY (clinic_id, study_instance_uid)
    );
    INSERT INTO imaging_study_recency (clinic_id, study_instance_uid, last_received_at)
      SELECT clinic_id, study_instance_uid, max(received_at) FROM imaging_instances GROUP BY clinic_id, study_instance_uid
      UNION ALL SELECT '*', study_instance_uid, max(received_at) FROM imaging_instances GROUP BY study_instance_uid;
    CREATE INDEX imaging_study_recency_page ON imaging_study_recency (clinic_id, last_received_at DESC, study_instance_uid);
    CREATE INDEX imaging_study_recency_study ON imaging_study_recency (study_instance_uid);
  `,
}, {
  version: 203,
  name: 'imaging: reports by time issued (the radiologists\' workload over a period)',
  sql: 'CREATE INDEX imaging_reports_reported_at ON imaging_reports (reported_at);',
}];

const PG: Dialect = { ph: (n) => `$${n}`, like: 'ILIKE' };
const PG_STUDY_AGGREGATE = `SELECT study_instance_uid, max(clinic_id) AS clinic_id, max(patient_id) AS patient_id, max(patient_name) AS patient_name,
    max(patient_birth_date) AS patient_birth_date, max(patient_sex) AS patient_sex, max(accession_number) AS accession_number, max(study_date) AS study_date,
    max(study_time) AS study_time, max(study_description) AS study_description, array_remove(array_agg(DISTINCT modality), NULL) AS modalities,
    count(DISTINCT series_instance_uid) AS series, count(*) AS instances, max(received_at) AS last_received_at`;
/** IS values are integer strings from devices; anything else sorts last instead of failing the cast. */
const int = (col: string) => `(CASE WHEN ${col} ~ '^\\s*[+-]?[0-9]{1,9}\\s*$' THEN trim(${col})::integer END)`;
/** Serialises report inserts (any constant shared by every central instance). */
const REPORT_LOCK = '7308327449150416466';

export class PgImagingIndex implements ImagingIndex {
  readonly backend = 'postgres' as const;
  private readonly migrated: Promise<void>;

  /**
   * Runs the imaging migrations in the background; every call waits for them. `ready()`
   * rejects with the migration error (central awaits it at start: fail fast).
   * The pool should parse int8 as numbers (the warehouse's pool does).
   */
  private constructor(readonly pool: pg.Pool) {
    this.migrated = (async () => {
      const client = await pool.connect();
      try {
        await migratePg(client, imagingPgMigrations);
      } finally {
        client.release();
      }
    })();
    this.migrated.catch(() => undefined); // surfaced by ready() and by every call
  }

  static lazy(pool: pg.Pool): PgImagingIndex {
    return new PgImagingIndex(pool);
  }

  static async open(pool: pg.Pool): Promise<PgImagingIndex> {
    const i = new PgImagingIndex(pool);
    await i.ready();
    return i;
  }

  ready(): Promise<void> {
    return this.migrated;
  }

  private async q<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, args: unknown[] = []): Promise<R[]> {
    await this.migrated;
    return (await this.pool.query<R>(sql, args)).rows;
  }

  async instance(sop: string): Promise<IndexedInstance | null> {
    return camelRows<IndexedInstance>(await this.q('SELECT * FROM imaging_instances WHERE sop_instance_uid = $1', [sop]))[0] ?? null;
  }

  /** The instance row and its study's recency rows (see ALL_CLINICS in index-store.ts) in one transaction. */
  async upsertInstance(i: IndexedInstance): Promise<void> {
    await this.migrated;
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      const before = (await client.query<{ study_instance_uid: string; received_at: Date }>('SELECT study_instance_uid, received_at FROM imaging_instances WHERE sop_instance_uid = $1 FOR UPDATE', [i.sopInstanceUid])).rows[0];
      // The clinic of a replaced instance stays the first sender's (INSTANCE_REPLACED).
      const clinic = (await client.query<{ clinic_id: string }>(`INSERT INTO imaging_instances (${INSTANCE_COLUMNS.join(', ')}) VALUES (${INSTANCE_COLUMNS.map((_, n) => `$${n + 1}`).join(', ')})
        ON CONFLICT (sop_instance_uid) DO UPDATE SET ${INSTANCE_REPLACED.map((c) => `${c} = excluded.${c}`).join(', ')} RETURNING clinic_id`, instanceValues(i))).rows[0]!.clinic_id;
      await client.query(`INSERT INTO imaging_study_recency (clinic_id, study_instance_uid, last_received_at) VALUES ($1, $3, $4), ($2, $3, $4)
        ON CONFLICT (clinic_id, study_instance_uid) DO UPDATE SET last_received_at = GREATEST(imaging_study_recency.last_received_at, excluded.last_received_at)`, [clinic, ALL_CLINICS, i.studyInstanceUid, i.receivedAt]);
      // A replacement that moved the instance to another study, or back in time: the old study's
      // last receipt is read again from what it still holds.
      if (before && (before.study_instance_uid !== i.studyInstanceUid || before.received_at.getTime() > new Date(i.receivedAt).getTime())) {
        await client.query('DELETE FROM imaging_study_recency WHERE study_instance_uid = $1', [before.study_instance_uid]);
        await client.query(`INSERT INTO imaging_study_recency (clinic_id, study_instance_uid, last_received_at)
          SELECT clinic_id, study_instance_uid, max(received_at) FROM imaging_instances WHERE study_instance_uid = $1 GROUP BY clinic_id, study_instance_uid
          UNION ALL SELECT $2, study_instance_uid, max(received_at) FROM imaging_instances WHERE study_instance_uid = $1 GROUP BY study_instance_uid`, [before.study_instance_uid, ALL_CLINICS]);
      }
      await client.query('COMMIT');
    } catch (e) {
      await client.query('ROLLBACK').catch((re: Error) => { broken = re; });
      throw e;
    } finally {
      client.release(broken);
    }
  }

  async searchStudies(q: Query): Promise<StudySummary[]> {
    const { limit, offset } = page(q);
    const scope = recencyScope(q);
    let rows: (Omit<StudySummary, 'modalities'> & { study_instance_uid: string; modalities: string[] })[];
    if (scope !== null) {
      // The page's studies from the recency index, then only their instances (see ALL_CLINICS).
      const uids = (await this.q<{ study_instance_uid: string }>(`SELECT study_instance_uid FROM imaging_study_recency WHERE clinic_id = $1
        ORDER BY last_received_at DESC, study_instance_uid LIMIT $2 OFFSET $3`, [scope, limit, offset])).map((r) => r.study_instance_uid);
      if (uids.length === 0) return [];
      const w = where(scope === ALL_CLINICS ? {} : { ClinicID: scope }, PG);
      const cond = `${w.sql ? `${w.sql} AND` : 'WHERE'} study_instance_uid = ANY($${w.args.length + 1})`;
      rows = inPageOrder(uids, await this.q(`${PG_STUDY_AGGREGATE} FROM imaging_instances ${cond} GROUP BY study_instance_uid`, [...w.args, uids]));
    } else {
      const w = where(q, PG);
      rows = await this.q(`${PG_STUDY_AGGREGATE} FROM imaging_instances ${w.sql} GROUP BY study_instance_uid ORDER BY max(received_at) DESC, study_instance_uid
        LIMIT $${w.args.length + 1} OFFSET $${w.args.length + 2}`, [...w.args, limit, offset]);
    }
    return camelRows<StudySummary>(rows).map((r) => ({ ...r, modalities: [...r.modalities].sort() }));
  }

  async searchSeries(q: Query): Promise<SeriesSummary[]> {
    const w = where(q, PG);
    const { limit, offset } = page(q);
    return camelRows<SeriesSummary>(await this.q(`SELECT study_instance_uid, series_instance_uid, max(modality) AS modality, max(series_number) AS series_number, count(*) AS instances
      FROM imaging_instances ${w.sql} GROUP BY study_instance_uid, series_instance_uid ORDER BY ${int('max(series_number)')}, series_instance_uid
      LIMIT $${w.args.length + 1} OFFSET $${w.args.length + 2}`, [...w.args, limit, offset]));
  }

  async findInstances(q: Query): Promise<IndexedInstance[]> {
    const w = where(q, PG);
    const { limit, offset } = page(q);
    return camelRows<IndexedInstance>(await this.q(`SELECT * FROM imaging_instances ${w.sql}
      ORDER BY ${int('series_number')}, series_instance_uid, ${int('instance_number')}, sop_instance_uid
      LIMIT $${w.args.length + 1} OFFSET $${w.args.length + 2}`, [...w.args, limit, offset]));
  }

  async addReport(study: string, input: ReportInput): Promise<Report> {
    await this.migrated;
    const client = await this.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [REPORT_LOCK]);
      if (!(await client.query('SELECT 1 FROM imaging_instances WHERE study_instance_uid = $1 LIMIT 1', [study])).rowCount) throw new ReportError(404, `study ${study} is not in the archive`);
      const prev = (await client.query('SELECT * FROM imaging_reports WHERE study_instance_uid = $1 ORDER BY version', [study])).rows.map(toReport);
      const r = nextReport(study, prev, input);
      await client.query(`INSERT INTO imaging_reports (study_instance_uid, version, status, findings, impression, positive, radiologist, reported_at)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, [study, r.version, r.status, r.findings, r.impression, r.positive ? 1 : 0, r.radiologist, r.reportedAt]);
      await client.query('COMMIT');
      return r;
    } catch (e) {
      await client.query('ROLLBACK').catch((re: Error) => { broken = re; });
      throw e;
    } finally {
      client.release(broken);
    }
  }

  async reports(study: string): Promise<Report[]> {
    return (await this.q('SELECT * FROM imaging_reports WHERE study_instance_uid = $1 ORDER BY version', [study])).map(toReport);
  }

  async reportsForClinic(clinicId: string, after: number, limit: number): Promise<CursorReport[]> {
    const rows = await this.q(`SELECT r.id AS cursor, r.* FROM imaging_reports r
      WHERE r.id > $1 AND r.study_instance_uid IN (SELECT study_instance_uid FROM imaging_instances WHERE clinic_id = $2)
      ORDER BY r.id LIMIT $3`, [after, clinicId, limit]);
    return rows.map((r) => ({ ...toReport(r), cursor: Number(r.cursor) }));
  }

  async workload(from: string, to: string, clinicId?: string): Promise<WorkloadRow[]> {
    // All clinics: one query per clinic through (clinic_id, received_at) (as the SQLite index does).
    if (!clinicId) {
      const clinics = (await this.q<{ id: string }>(CLINICS_SQL)).map((r) => r.id);
      const out: WorkloadRow[] = [];
      for (const c of clinics) out.push(...await this.workload(from, to, c));
      return sortWorkload(out);
    }
    const day = `to_char((i.received_at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM-DD')`;
    const rows = await this.q<Parameters<typeof toWorkload>[0][number]>(`WITH latest AS (${LATEST_REPORT})
        SELECT ${day} AS day, i.clinic_id, coalesce(i.station_ae, '') AS station_ae, coalesce(i.modality, '') AS modality,
          count(DISTINCT i.study_instance_uid) AS studies, count(*) AS instances, sum(i.size)::bigint AS bytes,
          count(DISTINCT CASE WHEN l.study_instance_uid IS NOT NULL THEN i.study_instance_uid END) AS reported,
          count(DISTINCT CASE WHEN l.positive = 1 THEN i.study_instance_uid END) AS positive
      FROM imaging_instances i LEFT JOIN latest l ON l.study_instance_uid = i.study_instance_uid
      WHERE i.received_at >= $1::timestamptz AND i.received_at < $2::timestamptz AND ${day} BETWEEN $3 AND $4 ${clinicId ? 'AND i.clinic_id = $5' : ''}
      GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4`, [...chinaDaysUtc(from, to), from, to, ...(clinicId ? [clinicId] : [])]);
    return toWorkload(rows);
  }

  async reportActivity(from: string, to: string): Promise<ReportActivity[]> {
    return (await this.q(`SELECT r.study_instance_uid, r.version, r.status, r.positive, r.radiologist, r.reported_at,
        (SELECT min(x.version) FROM imaging_reports x WHERE x.study_instance_uid = r.study_instance_uid AND x.status <> 'preliminary') AS first_final,
        (SELECT i.clinic_id FROM imaging_instances i WHERE i.study_instance_uid = r.study_instance_uid LIMIT 1) AS clinic_id,
        (SELECT min(i.received_at) FROM imaging_instances i WHERE i.study_instance_uid = r.study_instance_uid) AS first_received_at
      FROM imaging_reports r WHERE r.reported_at >= $1::timestamptz AND r.reported_at < $2::timestamptz ORDER BY r.reported_at`, [...chinaDaysUtc(from, to)])).map(toActivity);
  }
}
