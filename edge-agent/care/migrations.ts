/** Migrations of the care module (versions 400-499). Append only. */
import type { Migration } from '../../contracts/runtime/index.ts';
import { transferMigrations } from './transfer.ts';
import { dropDuplicateResidentIndex } from '../store/migrations.ts';

export const careMigrations: Migration[] = [
  {
    version: 400,
    name: 'care: settings, education materials, resident index on care records',
    up: (db) => db.exec(`
      -- Clinic settings of the care module (health-record number prefix, ASCVD coefficient table, TCM method).
      CREATE TABLE care_settings (key TEXT PRIMARY KEY, value TEXT NOT NULL, updated_by TEXT NOT NULL, updated_at TEXT NOT NULL);
      -- Uploaded health-education material; only the digest travels on the spine.
      CREATE TABLE care_materials (
        sha256 TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        mime TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        data BLOB NOT NULL,
        uploaded_by TEXT NOT NULL,
        uploaded_at TEXT NOT NULL
      );
      -- Care pages read records by resident (follow-ups, enrolments, contracts ...).
      CREATE INDEX care_records_resident ON records (type, json_extract(payload, '$.residentId'));
    `),
  },
  ...transferMigrations,
  {
    version: 402,
    name: 'care: one index on records by resident, shared with the clinical module',
    up: dropDuplicateResidentIndex,
  },
];
