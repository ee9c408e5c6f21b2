/**
 * Tables owned by analytics and the portal, created idempotently next to the warehouse's own
 * (prefix `an_` for analytics, `portal_` for the portal). Same DDL on SQLite and PostgreSQL.
 */
import type { SqlDb } from './sql.ts';

const DDL = [
  `CREATE TABLE IF NOT EXISTS an_org (
    id TEXT PRIMARY KEY, parent_id TEXT, level TEXT NOT NULL, name TEXT NOT NULL, name_en TEXT,
    clinic_id TEXT, code TEXT, sort INTEGER NOT NULL DEFAULT 0)`,
  `CREATE UNIQUE INDEX IF NOT EXISTS an_org_clinic ON an_org (clinic_id)`,
  `CREATE TABLE IF NOT EXISTS an_population (
    org_id TEXT NOT NULL, year INTEGER NOT NULL, permanent INTEGER NOT NULL DEFAULT 0, elderly INTEGER NOT NULL DEFAULT 0,
    key_pop INTEGER NOT NULL DEFAULT 0, updated_by TEXT, updated_at TEXT, PRIMARY KEY (org_id, year))`,
  `CREATE TABLE IF NOT EXISTS an_staffing (
    org_id TEXT PRIMARY KEY, staff INTEGER NOT NULL DEFAULT 0, doctors INTEGER NOT NULL DEFAULT 0, gps INTEGER NOT NULL DEFAULT 0,
    nurses INTEGER NOT NULL DEFAULT 0, updated_by TEXT, updated_at TEXT)`,
  // One row per source record (latest version), reduced to what indicators need.
  `CREATE TABLE IF NOT EXISTS an_fact (
    fkey TEXT PRIMARY KEY, src TEXT NOT NULL, kind TEXT NOT NULL, clinic_id TEXT NOT NULL, team_id TEXT, resident_id TEXT,
    day TEXT, day2 TEXT, code TEXT, label TEXT, n1 DOUBLE PRECISION, n2 DOUBLE PRECISION, n3 DOUBLE PRECISION,
    flag INTEGER, version INTEGER NOT NULL, record_type TEXT NOT NULL, record_id TEXT NOT NULL)`,
  // Covering indexes: grouped counts read only the index, per-resident lookups (follow-ups of a
  // patient in a period) are one range scan.
  `CREATE INDEX IF NOT EXISTS an_fact_kind_cover ON an_fact (kind, day, clinic_id, team_id, resident_id)`,
  `CREATE INDEX IF NOT EXISTS an_fact_src ON an_fact (src)`,
  `CREATE INDEX IF NOT EXISTS an_fact_res_kind_day ON an_fact (resident_id, kind, day)`,
  `CREATE INDEX IF NOT EXISTS an_fact_clinic_kind ON an_fact (clinic_id, kind, day)`,
  // Stored indicator results: grouped rows of a (measure, period), kept current by every fact
  // batch (engine.ts). team_id '' = no team.
  `CREATE TABLE IF NOT EXISTS an_agg_key (mkey TEXT NOT NULL, period TEXT NOT NULL, period_to TEXT NOT NULL, kinds TEXT NOT NULL, computed_at TEXT NOT NULL, PRIMARY KEY (mkey, period))`,
  `CREATE INDEX IF NOT EXISTS an_agg_key_to ON an_agg_key (period_to)`,
  `CREATE TABLE IF NOT EXISTS an_agg (mkey TEXT NOT NULL, period TEXT NOT NULL, clinic_id TEXT NOT NULL, team_id TEXT NOT NULL, v DOUBLE PRECISION NOT NULL, PRIMARY KEY (mkey, period, clinic_id, team_id))`,
  `CREATE TABLE IF NOT EXISTS an_cursor (clinic_id TEXT PRIMARY KEY, seq INTEGER NOT NULL, updated_at TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS an_meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS portal_users (
    username TEXT PRIMARY KEY, display_name TEXT NOT NULL, role TEXT NOT NULL, org_id TEXT NOT NULL,
    password_hash TEXT NOT NULL, totp_secret TEXT NOT NULL, totp_enrolled INTEGER NOT NULL DEFAULT 0, last_totp_step INTEGER,
    failed_logins INTEGER NOT NULL DEFAULT 0, locked_until TEXT, active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL, password_changed_at TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS portal_sessions (
    token_hash TEXT PRIMARY KEY, username TEXT NOT NULL, stage TEXT NOT NULL, csrf TEXT NOT NULL,
    created_at TEXT NOT NULL, last_seen_at TEXT NOT NULL, source_ip TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS portal_qc_rules (id TEXT PRIMARY KEY, def TEXT NOT NULL, updated_by TEXT, updated_at TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS portal_perf_tasks (
    year INTEGER NOT NULL, indicator_id TEXT NOT NULL, weight DOUBLE PRECISION NOT NULL, target DOUBLE PRECISION NOT NULL,
    updated_by TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (year, indicator_id))`,
  `CREATE TABLE IF NOT EXISTS portal_perf_data (
    org_id TEXT NOT NULL, indicator_id TEXT NOT NULL, period TEXT NOT NULL, value DOUBLE PRECISION NOT NULL,
    updated_by TEXT, updated_at TEXT NOT NULL, PRIMARY KEY (org_id, indicator_id, period))`,
  `CREATE TABLE IF NOT EXISTS portal_rectifications (
    id TEXT PRIMARY KEY, org_id TEXT NOT NULL, indicator_id TEXT NOT NULL, period TEXT NOT NULL, filename TEXT NOT NULL,
    mime TEXT NOT NULL, size INTEGER NOT NULL, content TEXT NOT NULL, note TEXT, uploaded_by TEXT NOT NULL, uploaded_at TEXT NOT NULL)`,
];

/**
 * Stored case lists (cases.ts): `an_case_key` registers a (definition, period) under a short id
 * `sid`; `an_case` holds one row per (resident, clinic) of its cohort (team_id '' = no team).
 * Lists are read in (ok, clinic, resident) order through `an_case_list`, so on PostgreSQL those
 * columns use the "C" collation (code-point order, as SQLite's BINARY) — the only DDL that
 * differs between the backends. `ready`: 0 while being built, 1 once complete, -1 while being
 * pruned (rows deleted chunk by chunk, then the key); `last_read`: when a reader last used it.
 */
function caseDdl(db: SqlDb): string[] {
  const C = db.dialect === 'postgres' ? ' COLLATE "C"' : '';
  return [
    `CREATE TABLE IF NOT EXISTS an_case_key (sid TEXT PRIMARY KEY, ckey TEXT NOT NULL, period TEXT NOT NULL, period_to TEXT NOT NULL, kinds TEXT NOT NULL, ready INTEGER NOT NULL DEFAULT 0, computed_at TEXT, last_read TEXT)`,
    `CREATE INDEX IF NOT EXISTS an_case_key_to ON an_case_key (period_to)`,
    `CREATE TABLE IF NOT EXISTS an_case (sid TEXT NOT NULL, resident_id TEXT${C} NOT NULL, clinic_id TEXT${C} NOT NULL, team_id TEXT${C} NOT NULL,
      since TEXT, ok INTEGER NOT NULL, cnt INTEGER, last_day TEXT, n1 DOUBLE PRECISION, n2 DOUBLE PRECISION, n3 DOUBLE PRECISION, flag INTEGER,
      name TEXT, sex TEXT, birth TEXT, PRIMARY KEY (sid, resident_id, clinic_id))`,
    `CREATE INDEX IF NOT EXISTS an_case_list ON an_case (sid, ok, clinic_id, resident_id)`,
    `CREATE INDEX IF NOT EXISTS an_case_team ON an_case (sid, team_id, ok, clinic_id, resident_id)`,
  ];
}

export async function ensureSchema(db: SqlDb): Promise<void> {
  for (const s of DDL) await db.exec(s);
  // Stored case lists are derived data: a table of an older layout is dropped and rebuilt on demand.
  const old = await db.get("SELECT 1 AS x FROM an_case WHERE 1 = 0").then(() => db.get('SELECT name, birth FROM an_case WHERE 1 = 0').then(() => false, () => true), () => false);
  if (old) { await db.exec('DROP TABLE an_case'); await db.exec('DROP TABLE an_case_key'); }
  for (const s of caseDdl(db)) await db.exec(s);
  // `last_read` (pruning of lists nobody reads, cases.ts) came later: added to an older table.
  if (await db.get('SELECT last_read FROM an_case_key WHERE 1 = 0').then(() => false, () => true)) await db.exec('ALTER TABLE an_case_key ADD COLUMN last_read TEXT');
}
