/** Backup module migrations (range 500-549). */
import type { Migration } from '../../contracts/runtime/index.ts';

export const backupMigrations: Migration[] = [
  {
    version: 500,
    name: 'backup runs (backups, uploads, drills, restores)',
    up: (db) => db.exec(`
      CREATE TABLE backup_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        what TEXT NOT NULL,           -- backup | upload | drill | prune
        started_at TEXT NOT NULL,
        finished_at TEXT NOT NULL,
        ok INTEGER NOT NULL,
        snapshot_id TEXT,
        detail TEXT NOT NULL          -- JSON: stats, drill checks, or {code, message}
      );
      CREATE INDEX backup_runs_what ON backup_runs (what, id);
    `),
  },
];
