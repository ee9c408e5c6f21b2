/**
 * Numbered migrations of the central warehouse on PostgreSQL. Append only; each runs in its
 * own transaction under an advisory lock, so two central instances starting together apply
 * each version once. Same tables and meaning as `sqlite-migrations.ts`.
 */
import type { PoolClient } from 'pg';
import { projectionDdl } from './projections.ts';

export interface PgMigration {
  version: number;
  name: string;
  sql: string;
}

export const pgMigrations: PgMigration[] = [
  {
    version: 1,
    name: 'spine: ingest log, pending, records, residents, conflicts, dead letters, fleet, dictionaries',
    sql: `
      CREATE TABLE clinic_state (
        clinic_id TEXT PRIMARY KEY,
        applied_seq BIGINT NOT NULL DEFAULT 0,
        records_applied BIGINT NOT NULL DEFAULT 0,
        updated_at TIMESTAMPTZ NOT NULL
      );
      -- One row per (clinic, seq) consumed; id gives the apply order (a clinic's applies are
      -- serialised by the row lock on clinic_state).
      CREATE TABLE ingest_log (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        clinic_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        record_id TEXT,
        type TEXT,
        version INTEGER,
        hash TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('applied', 'dead')),
        applied_at TIMESTAMPTZ NOT NULL,
        UNIQUE (clinic_id, seq)
      );
      CREATE TABLE pending (
        clinic_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        hash TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('record', 'dead')),
        envelope JSONB,
        received_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (clinic_id, seq)
      );
      CREATE TABLE records (
        type TEXT NOT NULL,
        record_id TEXT NOT NULL,
        version INTEGER NOT NULL,
        clinic_id TEXT NOT NULL,
        seq BIGINT NOT NULL,
        hlc TEXT NOT NULL,
        payload JSONB NOT NULL,
        created_at TIMESTAMPTZ NOT NULL,
        applied_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (type, record_id, version, clinic_id)
      );
      CREATE INDEX records_clinic_seq ON records (clinic_id, seq);
      CREATE TABLE residents (
        resident_id TEXT PRIMARY KEY,
        payload JSONB NOT NULL,
        hlc TEXT NOT NULL,
        clinic_id TEXT NOT NULL,
        updated_at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE resident_conflicts (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        resident_id TEXT NOT NULL,
        winner_hlc TEXT NOT NULL,
        winner_clinic TEXT NOT NULL,
        loser_hlc TEXT NOT NULL,
        loser_clinic TEXT NOT NULL,
        fields JSONB NOT NULL,
        loser_values JSONB NOT NULL,
        winner_values JSONB NOT NULL,
        reviewed_by TEXT,
        at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE dead_letters (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        subject TEXT NOT NULL,
        clinic_id TEXT,
        seq BIGINT,
        reason TEXT NOT NULL,
        detail TEXT NOT NULL,
        raw BYTEA NOT NULL,
        received_at TIMESTAMPTZ NOT NULL
      );
      CREATE TABLE fleet (
        clinic_id TEXT PRIMARY KEY,
        last_heartbeat_at TIMESTAMPTZ NOT NULL,
        agent_version TEXT NOT NULL,
        edge_last_seq BIGINT NOT NULL,
        edge_receipt_seq BIGINT NOT NULL,
        outbox_depth BIGINT NOT NULL,
        oldest_pending_age DOUBLE PRECISION NOT NULL,
        relay_state TEXT NOT NULL,
        dictionaries JSONB NOT NULL
      );
      CREATE TABLE dictionaries (
        name TEXT NOT NULL,
        version INTEGER NOT NULL,
        published_at TIMESTAMPTZ NOT NULL,
        items JSONB NOT NULL,
        PRIMARY KEY (name, version)
      );
    `,
  },
  {
    version: 2,
    name: 'audit log',
    sql: `
      CREATE TABLE audit_log (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        at TIMESTAMPTZ NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        source_ip TEXT NOT NULL,
        outcome TEXT NOT NULL
      );
      -- Audit entries are append-only (MLPS 3): no UPDATE, DELETE or TRUNCATE through SQL.
      CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit log is append-only'; END $$;
      CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
      CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
    `,
  },
  {
    version: 3,
    name: 'FHIR search indexes: resident identifiers and name, records by resident and code',
    sql: `
      CREATE INDEX residents_id_number ON residents ((payload->>'idNumber'));
      CREATE INDEX residents_insurance_card ON residents ((payload->>'insuranceCardNo'));
      CREATE INDEX residents_health_card ON residents ((payload->>'healthCardId'));
      CREATE INDEX records_type_resident ON records (type, (payload->>'residentId'));
      CREATE INDEX records_type_record ON records (type, record_id);
    `,
  },
  // Versions 100-199: WS 365 projection tables, city-platform upload log, archive parts ([central] warehouse).
  {
    version: 100,
    name: 'WS 365 projections: residents, identifiers, encounters, diagnoses, observations, lab results, imaging studies, orders',
    sql: projectionDdl('postgres', 100),
  },
  {
    version: 102,
    name: 'WS 365 projections: registrations, charges, invoices, visit notes, prescription lines, infectious reports, health records, chronic enrolments and follow-ups, elderly checks, family-doctor contracts and services, referrals',
    sql: projectionDdl('postgres', 102),
  },
  {
    version: 101,
    name: 'city-platform upload batches and items, archive parts, records by applied/created time',
    sql: `
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
`,
  },
  // Versions 110-119: read-side indexes of the FHIR facade (central/fhir/store.ts; identifiers and
  // records by resident are in version 3).
  {
    version: 110,
    name: 'FHIR search index: resident name prefix (lower case, code point order)',
    sql: `CREATE INDEX residents_name_lower ON residents ((lower(payload->>'name') COLLATE "C"));`,
  },
  {
    version: 111,
    // (type, record_id) is the start of the primary key (type, record_id, version, clinic_id), which
    // answers the same lookups: the copy only cost every insert an index entry and its cache pages.
    name: 'drop records_type_record (a prefix of the records primary key)',
    sql: 'DROP INDEX IF EXISTS records_type_record;',
  },
  {
    version: 112,
    // Patient?name=<prefix>&birthdate=<day> (the usual patient lookup): by the name alone, every
    // resident whose name starts with a common two-character prefix was fetched from the heap to
    // test the birth date (hundreds per search at a million residents); by day and then name, the
    // index finds the few matches itself. Also serves birthdate searches on their own.
    name: 'FHIR search index: residents by birth date and name prefix',
    sql: `CREATE INDEX residents_birth_name ON residents ((payload->>'birthDate'), (lower(payload->>'name') COLLATE "C"));`,
  },
  {
    version: 113,
    // Observation?patient=X&code=Y (the commonest search): records by type and resident, then the
    // code as store.ts writes it, so the index finds the matching readings instead of every record
    // of the resident being read from the heap to test its code (a third of the buffers). Replaces
    // records_type_resident, whose searches (Encounter, Condition by patient) use its first two columns.
    name: 'FHIR search index: records by type, resident and observation code',
    sql: `
      CREATE INDEX records_type_resident_code ON records (type, (payload->>'residentId'), (coalesce(payload->>'code', payload->>'testCode')));
      DROP INDEX IF EXISTS records_type_resident;
    `,
  },
];

/** Any 64-bit constant shared by every central instance: serialises concurrent migrations. */
const MIGRATION_LOCK = 0x63656e7472616cn;

/** Apply migrations not yet applied, each in its own transaction. Safe to re-run. Returns how many ran. */
export async function migratePg(client: PoolClient, migrations: readonly PgMigration[] = pgMigrations): Promise<number> {
  const inTx = async <T>(fn: () => Promise<T>): Promise<T> => {
    await client.query('BEGIN');
    try {
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK.toString()]);
      const r = await fn();
      await client.query('COMMIT');
      return r;
    } catch (e) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw e;
    }
  };
  await inTx(() => client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL)'));
  let n = 0;
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    const ran = await inTx(async () => {
      // Re-read under the lock: another central instance may have applied it meanwhile.
      const done = await client.query('SELECT 1 FROM schema_migrations WHERE version = $1', [m.version]);
      if (done.rowCount) return false;
      try {
        await client.query(m.sql);
      } catch (e) {
        throw new Error(`warehouse migration ${m.version} (${m.name}) failed: ${(e as Error).message}`, { cause: e });
      }
      await client.query('INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())', [m.version, m.name]);
      return true;
    });
    if (ran) n++;
  }
  return n;
}
