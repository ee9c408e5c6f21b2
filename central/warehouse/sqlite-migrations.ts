/** Numbered migrations of the central warehouse (SQLite). Append only. */
import type { Migration } from '../../contracts/runtime/index.ts';
import { projectionDdl } from './projections.ts';

export const centralMigrations: Migration[] = [
  {
    version: 1,
    name: 'spine: ingest log, pending, records, residents, conflicts, dead letters, fleet, dictionaries',
    up: (db) => db.exec(`
      CREATE TABLE clinic_state (
        clinic_id TEXT PRIMARY KEY,
        applied_seq INTEGER NOT NULL DEFAULT 0,
        records_applied INTEGER NOT NULL DEFAULT 0,
        updated_at TEXT NOT NULL
      );
      -- One row per (clinic, seq) consumed, in apply order (rowid).
      CREATE TABLE ingest_log (
        clinic_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        record_id TEXT,
        type TEXT,
        version INTEGER,
        hash TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('applied', 'dead')),
        applied_at TEXT NOT NULL,
        UNIQUE (clinic_id, seq)
      );
      -- Received above the watermark, waiting for the missing seq (a visible gap).
      CREATE TABLE pending (
        clinic_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('record', 'dead')),
        envelope TEXT,
        received_at TEXT NOT NULL,
        PRIMARY KEY (clinic_id, seq)
      );
      CREATE TABLE records (
        type TEXT NOT NULL,
        record_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        clinic_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        hlc TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL,
        applied_at TEXT NOT NULL,
        PRIMARY KEY (type, record_id, version, clinic_id)
      );
      CREATE INDEX records_clinic_seq ON records (clinic_id, seq);
      CREATE TABLE residents (
        resident_id TEXT PRIMARY KEY,
        payload TEXT NOT NULL,
        hlc TEXT NOT NULL,
        clinic_id TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE resident_conflicts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        resident_id TEXT NOT NULL,
        winner_hlc TEXT NOT NULL,
        winner_clinic TEXT NOT NULL,
        loser_hlc TEXT NOT NULL,
        loser_clinic TEXT NOT NULL,
        fields TEXT NOT NULL,
        loser_values TEXT NOT NULL,
        winner_values TEXT NOT NULL,
        reviewed_by TEXT,
        at TEXT NOT NULL
      );
      CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        subject TEXT NOT NULL,
        clinic_id TEXT,
        seq INTEGER,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        raw BLOB NOT NULL,
        received_at TEXT NOT NULL
      );
      CREATE TABLE fleet (
        clinic_id TEXT PRIMARY KEY,
        last_heartbeat_at TEXT NOT NULL,
        agent_version TEXT NOT NULL,
        edge_last_seq INTEGER NOT NULL,
        edge_receipt_seq INTEGER NOT NULL,
        outbox_depth INTEGER NOT NULL,
        oldest_pending_age REAL NOT NULL,
        relay_state TEXT NOT NULL,
        dictionaries TEXT NOT NULL
      );
      CREATE TABLE dictionaries (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        published_at TEXT NOT NULL,
        items TEXT NOT NULL,
        PRIMARY KEY (name, version)
      );
    `),
  },
];

centralMigrations.push({
  version: 2,
  name: 'audit log',
  up: (db) => db.exec(`
    CREATE TABLE audit_log (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      at TEXT NOT NULL,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      target TEXT NOT NULL,
      source_ip TEXT NOT NULL,
      outcome TEXT NOT NULL
    );
    -- Audit entries are append-only (MLPS 3): no UPDATE or DELETE through SQL either.
    CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
  `),
});

// Versions 100-199: WS 365 projection tables, city-platform upload log, archive parts ([central] warehouse).
centralMigrations.push({
  version: 100,
  name: 'WS 365 projections: residents, identifiers, encounters, diagnoses, observations, lab results, imaging studies, orders',
  up: (db) => db.exec(projectionDdl('sqlite', 100)),
}, {
  version: 102,
  name: 'WS 365 projections: registrations, charges, invoices, visit notes, prescription lines, infectious reports, health records, chronic enrolments and follow-ups, elderly checks, family-doctor contracts and services, referrals',
  up: (db) => db.exec(projectionDdl('sqlite', 102)),
}, {
  version: 101,
  name: 'city-platform upload batches and items, archive parts, records by applied/created time',
  up: (db) => db.exec(`
      CREATE TABLE upload_batches (
        id TEXT PRIMARY KEY,
        target TEXT NOT NULL,
        type TEXT NOT NULL,
        day TEXT NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        record_count INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        last_http_status INTEGER,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sent_at TEXT,
        next_attempt_at TEXT NOT NULL
      );
      CREATE INDEX upload_batches_status ON upload_batches (status, next_attempt_at);
      CREATE INDEX upload_batches_day ON upload_batches (day, type);
      -- A record (version) belongs to at most one batch per target.
      CREATE TABLE upload_items (
        target TEXT NOT NULL,
        type TEXT NOT NULL,
        record_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        clinic_id TEXT NOT NULL,
        batch_id TEXT NOT NULL,
        PRIMARY KEY (target, type, record_id, version, clinic_id)
      );
      CREATE INDEX upload_items_batch ON upload_items (batch_id);
      CREATE TABLE upload_state (target TEXT PRIMARY KEY, cursor TEXT NOT NULL, updated_at TEXT NOT NULL);
      CREATE INDEX records_applied_at ON records (applied_at);
      CREATE TABLE archive_parts (
        id TEXT PRIMARY KEY,
        clinic_id TEXT NOT NULL,
        type TEXT NOT NULL,
        year INTEGER NOT NULL,
        file TEXT NOT NULL,
        records INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        min_created_at TEXT NOT NULL,
        max_created_at TEXT NOT NULL,
        cutoff TEXT NOT NULL,
        archived_at TEXT NOT NULL,
        restored_at TEXT
      );
      CREATE INDEX archive_parts_group ON archive_parts (clinic_id, type, year);
      CREATE INDEX records_created_at ON records (created_at);
`),
});

// Versions 110-119: read-side indexes of the FHIR facade (central/fhir/store.ts). The expressions
// must be written exactly as store.ts writes them, or SQLite does not use the index.
centralMigrations.push({
  version: 110,
  name: 'FHIR search indexes: resident identifiers and name prefix, records by resident',
  up: (db) => db.exec(`
    CREATE INDEX IF NOT EXISTS residents_id_number ON residents (json_extract(payload, '$.idNumber'));
    CREATE INDEX IF NOT EXISTS residents_insurance_card ON residents (json_extract(payload, '$.insuranceCardNo'));
    CREATE INDEX IF NOT EXISTS residents_health_card ON residents (json_extract(payload, '$.healthCardId'));
    CREATE INDEX IF NOT EXISTS residents_name_lower ON residents (lower(json_extract(payload, '$.name')));
    CREATE INDEX IF NOT EXISTS records_type_resident ON records (type, json_extract(payload, '$.residentId'));
  `),
});
centralMigrations.push({
  version: 111,
  // Patient?name=<prefix>&birthdate=<day>: by the name index alone, every resident with the same
  // name prefix is read to test the birth date (hundreds at a million residents).
  name: 'FHIR search index: residents by birth date and name prefix',
  up: (db) => db.exec(`CREATE INDEX IF NOT EXISTS residents_birth_name ON residents (json_extract(payload, '$.birthDate'), lower(json_extract(payload, '$.name')));`),
});
