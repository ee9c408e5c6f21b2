/**
 * Migrations of the clinical workstations (350-399). Append only; never edit an applied one.
 * Drafts of a visit live here until the doctor signs; signing emits the replicated records.
 */
import type { Migration } from '../../../contracts/runtime/index.ts';
import { dropDuplicateResidentIndex } from '../../store/migrations.ts';

export const clinicalMigrations: Migration[] = [
  {
    version: 350,
    name: 'clinical: visits, diagnoses, prescription lines, lab/imaging lines, execution tasks, reports',
    up: (db) => db.exec(`
      -- One row per visit (registration_id of his_registrations); draft until signed.
      CREATE TABLE clin_visits (
        registration_id TEXT PRIMARY KEY,
        resident_id TEXT NOT NULL,
        doctor_username TEXT NOT NULL,
        chief_complaint TEXT NOT NULL DEFAULT '',
        subjective TEXT NOT NULL DEFAULT '',
        objective TEXT NOT NULL DEFAULT '',
        assessment TEXT NOT NULL DEFAULT '',
        plan TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'signed')),
        started_at TEXT NOT NULL,
        signed_at TEXT,
        prescription_id TEXT
      );
      CREATE INDEX clin_visits_resident ON clin_visits (resident_id, started_at);
      CREATE TABLE clin_diagnoses (
        registration_id TEXT NOT NULL,
        code TEXT NOT NULL,
        name TEXT NOT NULL,
        is_primary INTEGER NOT NULL DEFAULT 0,
        added_at TEXT NOT NULL,
        PRIMARY KEY (registration_id, code)
      );
      CREATE TABLE clin_rx_lines (
        line_id TEXT PRIMARY KEY,
        registration_id TEXT NOT NULL,
        line JSON NOT NULL,
        added_at TEXT NOT NULL
      );
      CREATE INDEX clin_rx_lines_visit ON clin_rx_lines (registration_id, added_at);
      -- Lab orders (specimen barcode) and imaging orders of a visit; order_id set when signed.
      CREATE TABLE clin_orders (
        line_id TEXT PRIMARY KEY,
        registration_id TEXT NOT NULL,
        kind TEXT NOT NULL CHECK (kind IN ('lab', 'imaging')),
        item_code TEXT NOT NULL,
        item_name TEXT NOT NULL,
        modality TEXT,
        specimen_id TEXT UNIQUE,
        order_id TEXT,
        added_at TEXT NOT NULL
      );
      CREATE INDEX clin_orders_visit ON clin_orders (registration_id);
      -- Injection / infusion series of a signed prescription (one 'drug' order each).
      CREATE TABLE clin_exec_orders (
        order_id TEXT PRIMARY KEY,
        registration_id TEXT NOT NULL,
        resident_id TEXT NOT NULL,
        prescription_id TEXT NOT NULL,
        code TEXT NOT NULL,
        route TEXT NOT NULL,
        kind TEXT NOT NULL,
        frequency TEXT NOT NULL,
        total INTEGER NOT NULL,
        drugs JSON NOT NULL,
        lines JSON NOT NULL,
        payload JSON NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE clin_exec_tasks (
        barcode TEXT PRIMARY KEY,
        order_id TEXT NOT NULL REFERENCES clin_exec_orders (order_id),
        sequence INTEGER NOT NULL,
        total INTEGER NOT NULL,
        planned_date TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'done')),
        executed_by TEXT,
        executed_by_name TEXT,
        executed_at TEXT,
        execution_id TEXT
      );
      CREATE INDEX clin_exec_tasks_date ON clin_exec_tasks (planned_date, status);
      CREATE INDEX clin_exec_tasks_order ON clin_exec_tasks (order_id, sequence);
      CREATE TABLE clin_reports (
        report_id TEXT PRIMARY KEY,
        registration_id TEXT,
        resident_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        icd10_code TEXT,
        payload JSON NOT NULL,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX clin_reports_visit ON clin_reports (registration_id);
      CREATE TABLE clin_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      -- Resident history reads records by resident (lab results, readings, encounters).
      CREATE INDEX IF NOT EXISTS clin_records_resident ON records (type, json_extract(payload, '$.residentId'));
    `),
  },
  {
    version: 351,
    name: 'clinical: one index on records by resident, shared with the care module',
    up: dropDuplicateResidentIndex,
  },
  {
    version: 352,
    name: 'clinical: indexes for a prescription\'s execution orders and for the doses given since a date',
    up: (db) => db.exec(`
      -- Voiding a prescription checks its injection/infusion orders and their doses.
      CREATE INDEX clin_exec_orders_prescription ON clin_exec_orders (prescription_id);
      -- The nurse's list: doses due (planned_date) or given since a time (executed_at).
      CREATE INDEX clin_exec_tasks_executed ON clin_exec_tasks (executed_at) WHERE status = 'done';
    `),
  },
];
