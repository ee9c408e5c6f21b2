/**
 * Versions 120-129: warehouse schema changes for the ingest path (issue [central], ingest
 * throughput), registered into both backends' migration lists. Imported by `sqlite.ts` and
 * `postgres.ts`, so a warehouse never opens without them.
 */
import { projectionDdl, projectionIndexDdl120 } from './projections.ts';
import { centralMigrations } from './sqlite-migrations.ts';
import { pgMigrations } from './postgres-migrations.ts';

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

const name121 = 'WS 365 projections: daily cashier settlements, dispensing lines';
if (!centralMigrations.some((m) => m.version === 121)) {
  centralMigrations.push({ version: 121, name: name121, up: (db) => db.exec(projectionDdl('sqlite', 121)) });
}
if (!pgMigrations.some((m) => m.version === 121)) {
  pgMigrations.push({ version: 121, name: name121, sql: projectionDdl('postgres', 121) });
}
