/** Numbered migrations of the edge database. Append only; never edit an applied one. */
import type { Db, Migration } from '../../contracts/runtime/index.ts';

export const edgeMigrations: Migration[] = [
  {
    version: 1,
    name: 'outbox, meta, records, residents',
    up: (db) => db.exec(`
      CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
      -- One row per change to replicate. seq is per clinic, contiguous, never reused.
      CREATE TABLE outbox (
        seq INTEGER PRIMARY KEY,
        record_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version INTEGER NOT NULL,
        envelope TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      -- Latest version of every record this edge holds (own and received).
      CREATE TABLE records (
        record_id TEXT NOT NULL,
        type TEXT NOT NULL,
        version INTEGER NOT NULL,
        hlc TEXT NOT NULL,
        payload TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (type, record_id)
      );
      CREATE TABLE residents (
        resident_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        sex TEXT NOT NULL,
        birth_date TEXT NOT NULL,
        id_type TEXT NOT NULL,
        id_number TEXT NOT NULL,
        phone TEXT,
        hlc TEXT NOT NULL
      );
      CREATE INDEX residents_id_number ON residents (id_number);
      CREATE INDEX residents_name ON residents (name);
    `),
  },
  {
    version: 2,
    name: 'dictionaries',
    up: (db) => db.exec(`
      CREATE TABLE dictionaries (name TEXT PRIMARY KEY, version INTEGER NOT NULL, published_at TEXT NOT NULL, received_at TEXT NOT NULL);
      CREATE TABLE dictionary_items (
        dictionary TEXT NOT NULL,
        code TEXT NOT NULL,
        name TEXT NOT NULL,
        attrs TEXT NOT NULL,
        active INTEGER NOT NULL,
        PRIMARY KEY (dictionary, code)
      );
    `),
  },
];

edgeMigrations.push(
  {
    version: 3,
    name: 'accounts, sessions, audit',
    up: (db) => db.exec(`
      CREATE TABLE users (
        username TEXT PRIMARY KEY,
        display_name TEXT NOT NULL,
        role TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        failed_logins INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        password_changed_at TEXT NOT NULL,
        must_change_password INTEGER NOT NULL DEFAULT 0,
        active INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL
      );
      CREATE TABLE sessions (
        token_hash TEXT PRIMARY KEY,
        username TEXT NOT NULL REFERENCES users (username),
        created_at TEXT NOT NULL,
        last_seen_at TEXT NOT NULL,
        source_ip TEXT NOT NULL
      );
      -- Who did what, when, from where, with what outcome (MLPS 3: append-only, >= 6 months).
      CREATE TABLE audit_log (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at TEXT NOT NULL,
        username TEXT NOT NULL,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        source_ip TEXT NOT NULL,
        outcome TEXT NOT NULL
      );
      CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
      CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit log is append-only'); END;
    `),
  },
);

edgeMigrations.push({
  version: 4,
  name: 'outbox priority lane',
  // Critical values are published ahead of the FIFO backlog (seq stays contiguous; see sync/README.md).
  up: (db) => db.exec(`
    ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0;
    CREATE INDEX outbox_priority ON outbox (seq) WHERE priority = 1;
  `),
});

edgeMigrations.push({
  version: 5,
  name: 'stream followers: position per follower and dead letters',
  // edge-agent/sync/follower.ts: the position is written in the same transaction as each apply;
  // a message that cannot be applied after its retries is parked here with the reason.
  up: (db) => {
    db.exec(`
      CREATE TABLE sync_position (
        follower TEXT PRIMARY KEY,
        stream TEXT NOT NULL,
        stream_seq INTEGER NOT NULL,
        -- the stream's creation time when the position was taken: another value means the
        -- stream was deleted and created again (broker store wiped), so seqs start again
        stream_created TEXT,
        updated_at TEXT NOT NULL
      );
      CREATE TABLE sync_dead_letter (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        follower TEXT NOT NULL,
        stream TEXT NOT NULL,
        stream_seq INTEGER NOT NULL,
        subject TEXT NOT NULL,
        data BLOB NOT NULL,
        reason TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        first_failed_at TEXT NOT NULL,
        parked_at TEXT NOT NULL,
        resolved_at TEXT,
        resolution TEXT
      );
      CREATE INDEX sync_dead_letter_open ON sync_dead_letter (follower) WHERE resolved_at IS NULL;
    `);
    // Databases from before the shared follower kept their position in a table per module.
    const has = (t: string) => db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(t) !== undefined;
    const now = new Date().toISOString();
    for (const [table, follower, stream] of [['empi_sync', 'empi', 'EMPI'], ['care_transfer_sync', 'care-transfers', 'CARE_TRANSFERS']] as const) {
      if (has(table)) db.prepare(`INSERT INTO sync_position (follower, stream, stream_seq, stream_created, updated_at) SELECT ?, ?, stream_seq, NULL, ? FROM ${table} WHERE id = 1`).run(follower, stream, now);
    }
  },
});

/**
 * The clinical and care modules each created the same index on records (type, residentId) under
 * their own name (350 clin_records_resident, 400 care_records_resident): every record insert
 * updated both. Keep one (whichever exists first); the planner uses it for either module's queries.
 */
export function dropDuplicateResidentIndex(db: Db): void {
  const has = (name: string) => db.prepare<[string]>("SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = ?").get(name) !== undefined;
  if (has('clin_records_resident') && has('care_records_resident')) db.exec('DROP INDEX care_records_resident');
}

edgeMigrations.push({
  version: 6,
  name: 'records: the outbox seq that wrote each row',
  // sync/reseed.ts: a central restored past what its stream still holds is re-seeded from here.
  // Rows written before this migration keep NULL (their seqs are re-seeded as lost).
  up: (db) => db.exec(`
    ALTER TABLE records ADD COLUMN seq INTEGER;
    -- The first seq whose record keeps it: below it, a seq absent from records says nothing.
    INSERT OR REPLACE INTO meta (key, value) SELECT 'records_seq_since', coalesce((SELECT value FROM meta WHERE key = 'next_seq'), '1');
  `),
});
