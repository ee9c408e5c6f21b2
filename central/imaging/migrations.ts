/** Imaging tables of the central warehouse (versions 200-299), appended to the warehouse migrations on import. */
import type { Migration } from '../../contracts/runtime/index.ts';
import { centralMigrations } from '../warehouse/sqlite-migrations.ts';

export const imagingCentralMigrations: Migration[] = [{
    version: 200,
    name: 'imaging: regional archive instance index across clinics',
    up: (db) => db.exec(`
      CREATE TABLE imaging_instances (
        sop_instance_uid TEXT PRIMARY KEY,
        clinic_id TEXT NOT NULL,
        study_instance_uid TEXT NOT NULL,
        series_instance_uid TEXT NOT NULL,
        sop_class_uid TEXT NOT NULL,
        transfer_syntax_uid TEXT NOT NULL,
        size INTEGER NOT NULL,
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
        received_at TEXT NOT NULL
      );
      CREATE INDEX imaging_instances_study ON imaging_instances (study_instance_uid, series_instance_uid);
      CREATE INDEX imaging_instances_clinic_day ON imaging_instances (clinic_id, received_at);
      CREATE INDEX imaging_instances_patient ON imaging_instances (patient_id);
      CREATE INDEX imaging_instances_date ON imaging_instances (study_date);
    `),
}, {
    version: 201,
    name: 'imaging: diagnostic reports by district radiologists (versioned, append-only)',
    up: (db) => db.exec(`
      CREATE TABLE imaging_reports (
        study_instance_uid TEXT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('preliminary', 'final', 'amended')),
        findings TEXT NOT NULL,
        impression TEXT NOT NULL,
        positive INTEGER NOT NULL CHECK (positive IN (0, 1)),
        radiologist TEXT NOT NULL,
        reported_at TEXT NOT NULL,
        PRIMARY KEY (study_instance_uid, version)
      );
      CREATE TRIGGER imaging_reports_no_update BEFORE UPDATE ON imaging_reports BEGIN SELECT RAISE(ABORT, 'reports are versioned: add a new version'); END;
      CREATE TRIGGER imaging_reports_no_delete BEFORE DELETE ON imaging_reports BEGIN SELECT RAISE(ABORT, 'reports are versioned: add a new version'); END;
    `),
}, {
    version: 202,
    name: 'imaging: each study\'s last receipt per clinic and overall (the recent-studies page without grouping the archive)',
    up: (db) => db.exec(`
      -- clinic_id '*': all clinics (index-store.ts, ALL_CLINICS).
      CREATE TABLE imaging_study_recency (
        clinic_id TEXT NOT NULL,
        study_instance_uid TEXT NOT NULL,
        last_received_at TEXT NOT NULL,
        PRIMARY KEY (clinic_id, study_instance_uid)
      );
      INSERT INTO imaging_study_recency (clinic_id, study_instance_uid, last_received_at)
        SELECT clinic_id, study_instance_uid, max(received_at) FROM imaging_instances GROUP BY clinic_id, study_instance_uid
        UNION ALL SELECT '*', study_instance_uid, max(received_at) FROM imaging_instances GROUP BY study_instance_uid;
      -- Read backwards: last receipt descending, then the UID ascending (the search's order).
      CREATE INDEX imaging_study_recency_page ON imaging_study_recency (clinic_id, last_received_at, study_instance_uid DESC);
      CREATE INDEX imaging_study_recency_study ON imaging_study_recency (study_instance_uid);
    `),
}, {
    version: 203,
    name: 'imaging: reports by time issued (the radiologists\' workload over a period)',
    up: (db) => db.exec('CREATE INDEX imaging_reports_reported_at ON imaging_reports (reported_at);'),
}];

// With the SQLite warehouse the index lives in warehouse.db; with PostgreSQL, the same versions are in index-store-pg.ts.
for (const m of imagingCentralMigrations) if (!centralMigrations.some((x) => x.version === m.version)) centralMigrations.push(m);
