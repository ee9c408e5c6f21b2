/**
 * Versions 120-129: warehouse schema changes for the ingest path (issue [central], ingest
 * throughput), registered into both backends' migration lists. Imported by `sqlite.ts` and
 * `postgres.ts`, so a warehouse never opens without them.
 */
import { RESIDENT_PROJECTION_TABLES, projectionDdl, projectionIndexDdl120 } from './projections.ts';
import { centralMigrations } from './sqlite-migrations.ts';
import { pgMigrations } from './postgres-migrations.ts';
import { SqliteProjector } from './projection-writers.ts';
import type { RecordType } from '../../contracts/index.ts';

const name120 = 'WS 365 projections: one index per table, on resident_id (drop indexes no reader uses)';

if (!centralMigrations.some((m) => m.version === 120)) {
  centralMigrations.push({ version: 120, name: name120, up: (db) => db.exec(projectionIndexDdl120()) });
}
if (!pgMigrations.some((m) => m.version === 120)) {
  pgMigrations.push({ version: 120, name: name120, sql: projectionIndexDdl120() });
}

const name122 = 'spine: the ingest stream cursor (what the warehouse holds of the records stream; replay after a restore)';
const ddl122 = 'CREATE TABLE stream_cursor (stream TEXT PRIMARY KEY, seq BIGINT NOT NULL, stored_at TEXT NOT NULL, updated_at TEXT NOT NULL)';
if (!centralMigrations.some((m) => m.version === 122)) {
  centralMigrations.push({ version: 122, name: name122, up: (db) => db.exec(ddl122) });
}
if (!pgMigrations.some((m) => m.version === 122)) {
  pgMigrations.push({ version: 122, name: name122, sql: ddl122 });
}

/** 124: each clinic's refused messages, counted for the answer to its heartbeat (Warehouse.refusals). */
const name124 = 'spine: dead letters by clinic (the refusals each clinic is told about)';
const ddl124 = 'CREATE INDEX IF NOT EXISTS dead_letters_clinic ON dead_letters (clinic_id, id)';
if (!centralMigrations.some((m) => m.version === 124)) {
  centralMigrations.push({ version: 124, name: name124, up: (db) => db.exec(ddl124) });
}
if (!pgMigrations.some((m) => m.version === 124)) {
  pgMigrations.push({ version: 124, name: name124, sql: ddl124 });
}

/** 125: the availability report counts each clinic's lost and refused records of a period (central/availability). */
const name125 = 'spine: dead letters by time received (the loss rate of a period)';
const ddl125 = 'CREATE INDEX IF NOT EXISTS dead_letters_received ON dead_letters (received_at)';
if (!centralMigrations.some((m) => m.version === 125)) {
  centralMigrations.push({ version: 125, name: name125, up: (db) => db.exec(ddl125) });
}
if (!pgMigrations.some((m) => m.version === 125)) {
  pgMigrations.push({ version: 125, name: name125, sql: ddl125 });
}

const name121 = 'WS 365 projections: daily cashier settlements, dispensing lines';
if (!centralMigrations.some((m) => m.version === 121)) {
  centralMigrations.push({ version: 121, name: name121, up: (db) => db.exec(projectionDdl('sqlite', 121)) });
}
if (!pgMigrations.some((m) => m.version === 121)) {
  pgMigrations.push({ version: 121, name: name121, sql: projectionDdl('postgres', 121) });
}

/**
 * 123 (SQLite only): the FHIR searches by patient read the projections' `resident_id` indexes
 * (central/fhir/store.ts, RESIDENT_PROJECTION_TABLES), so `records` loses its index by resident: on
 * SQLite it cost the ingest a rewritten WAL page per record once the warehouse had grown
 * (bench/warehouse-growth.bench.ts). PostgreSQL keeps `records_type_resident_code` (its WAL logs
 * rows, not pages, and the index also serves searches by code). Records of those types whose
 * projection rows are missing (a warehouse written before the projections existed) are projected
 * now, so no search loses them.
 */
const name123 = 'FHIR searches by patient through the projections: drop records_type_resident, project any record left without its rows';
if (!centralMigrations.some((m) => m.version === 123)) {
  centralMigrations.push({
    version: 123,
    name: name123,
    up: (db) => {
      const projector = new SqliteProjector(db);
      const row = db.prepare<[number], { record_id: string; version: number; clinic_id: string; seq: number; hlc: string; payload: string; created_at: string }>(
        'SELECT record_id, version, clinic_id, seq, hlc, payload, created_at FROM records WHERE rowid = ?');
      for (const [type, { table }] of Object.entries(RESIDENT_PROJECTION_TABLES)) {
        // Index-only: records' key index and the projection's key index cover the scan (no row
        // is read unless its projection rows are missing), ~1-2 µs per record.
        const missing = db.prepare<[string], { rid: number }>(
          `SELECT r.rowid AS rid FROM records r WHERE r.type = ? AND NOT EXISTS (SELECT 1 FROM ${table} p WHERE p.clinic_id = r.clinic_id AND p.record_id = r.record_id)`).all(type);
        for (const { rid } of missing) {
          const r = row.get(rid)!;
          // The projector skips a version when a newer one is in `records` (projects the latest only).
          projector.record({ clinicId: r.clinic_id, seq: r.seq, recordId: r.record_id, type: type as RecordType, version: r.version, hlc: r.hlc, createdAt: r.created_at, payload: JSON.parse(r.payload), hash: '' });
        }
        projector.flush();
      }
      db.exec('DROP INDEX IF EXISTS records_type_resident');
    },
  });
}
