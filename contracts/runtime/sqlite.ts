/**
 * Opening a SQLite database (edge store, central warehouse): WAL with synchronous=FULL (better-sqlite3's WAL default of
 * NORMAL can lose the last commits on power loss, and a committed outbox row is a promise).
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export type Db = Database.Database;

export function openDb(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 10000');
  return db;
}

export interface Migration {
  version: number;
  name: string;
  up: (db: Db) => void;
}

/** Apply numbered migrations not yet applied, each in its own transaction. Safe to re-run. */
export function migrate(db: Db, migrations: readonly Migration[], table = 'schema_migrations'): number {
  db.exec(`CREATE TABLE IF NOT EXISTS ${table} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`);
  const applied = new Set((db.prepare(`SELECT version FROM ${table}`).all() as { version: number }[]).map((r) => r.version));
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  let n = 0;
  for (const m of sorted) {
    if (applied.has(m.version)) continue;
    db.transaction(() => {
      m.up(db);
      db.prepare(`INSERT INTO ${table} (version, name, applied_at) VALUES (?, ?, ?)`).run(m.version, m.name, new Date().toISOString());
    }).immediate();
    n++;
  }
  return n;
}
