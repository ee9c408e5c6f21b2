/**
 * Migrations of the clinic HIS front desk (300-349). Append only; never edit an applied one.
 * The clinical workstations (350-399) read and write these tables too: the column names
 * are a contract with them.
 */
import type { Migration } from '../../contracts/runtime/index.ts';

export const hisMigrations: Migration[] = [
  {
    version: 300,
    name: 'his: resident search extension, schedule, registrations',
    up: (db) => db.exec(`
      -- Search keys of a resident that the core residents table does not hold.
      CREATE TABLE his_resident_ext (
        resident_id TEXT PRIMARY KEY,
        pinyin_initials TEXT NOT NULL DEFAULT '',
        insurance_card_no TEXT,
        health_card_id TEXT,
        address TEXT,
        ethnicity TEXT,
        marital_status TEXT,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX his_resident_ext_pinyin ON his_resident_ext (pinyin_initials);
      CREATE INDEX his_resident_ext_insurance ON his_resident_ext (insurance_card_no);
      CREATE INDEX his_resident_ext_health_card ON his_resident_ext (health_card_id);
      CREATE INDEX IF NOT EXISTS his_residents_phone ON residents (phone);
      CREATE INDEX IF NOT EXISTS his_residents_name ON residents (name);

      CREATE TABLE his_schedule (
        slot_id TEXT PRIMARY KEY,
        date TEXT NOT NULL,
        department_code TEXT NOT NULL,
        doctor_username TEXT NOT NULL,
        start_time TEXT NOT NULL,
        end_time TEXT NOT NULL,
        capacity INTEGER NOT NULL CHECK (capacity > 0),
        booked INTEGER NOT NULL DEFAULT 0 CHECK (booked >= 0),
        fee_fen INTEGER NOT NULL CHECK (fee_fen >= 0),
        status TEXT NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'closed')),
        CHECK (booked <= capacity)
      );
      CREATE INDEX his_schedule_date ON his_schedule (date, department_code, start_time);
      CREATE INDEX his_schedule_doctor ON his_schedule (doctor_username, date);

      CREATE TABLE his_registrations (
        registration_id TEXT PRIMARY KEY,
        resident_id TEXT NOT NULL,
        department_code TEXT NOT NULL,
        doctor_username TEXT NOT NULL,
        slot_id TEXT NOT NULL,
        visit_date TEXT NOT NULL,
        queue_no INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('booked', 'registered', 'in-visit', 'finished', 'cancelled', 'refunded')),
        fee_fen INTEGER NOT NULL DEFAULT 0,
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX his_registrations_doctor ON his_registrations (doctor_username, visit_date, status);
      CREATE INDEX his_registrations_date ON his_registrations (visit_date, department_code);
      CREATE INDEX his_registrations_resident ON his_registrations (resident_id, visit_date);
      CREATE UNIQUE INDEX his_registrations_queue ON his_registrations (visit_date, doctor_username, queue_no);
    `),
  },
  {
    version: 301,
    name: 'his: charges, invoices, counters',
    up: (db) => db.exec(`
      CREATE TABLE his_charges (
        charge_id TEXT PRIMARY KEY,
        registration_id TEXT,
        resident_id TEXT NOT NULL,
        source_kind TEXT NOT NULL CHECK (source_kind IN ('registration', 'prescription', 'lab', 'imaging', 'treatment', 'material')),
        source_id TEXT,
        item_code TEXT NOT NULL,
        item_name TEXT NOT NULL,
        category TEXT NOT NULL CHECK (category IN ('western_drug', 'tcm_drug', 'patent_drug', 'lab', 'imaging', 'treatment', 'registration', 'material', 'exam')),
        quantity REAL NOT NULL,
        unit TEXT NOT NULL DEFAULT '',
        unit_price_fen INTEGER NOT NULL CHECK (unit_price_fen >= 0),
        amount_fen INTEGER NOT NULL,
        dispensable INTEGER NOT NULL DEFAULT 0 CHECK (dispensable IN (0, 1)),
        status TEXT NOT NULL CHECK (status IN ('pending', 'paid', 'cancelled')),
        invoice_id TEXT,
        -- A refund line (冲账): negative quantity and amount, pointing at the paid line it reverses.
        reverses_charge_id TEXT REFERENCES his_charges (charge_id),
        created_by TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX his_charges_resident ON his_charges (resident_id, status);
      CREATE INDEX his_charges_registration ON his_charges (registration_id);
      CREATE INDEX his_charges_item ON his_charges (item_code, status);
      CREATE INDEX his_charges_invoice ON his_charges (invoice_id);
      CREATE INDEX his_charges_reverses ON his_charges (reverses_charge_id);

      -- Invoices and their reversals: append-only.
      CREATE TABLE his_invoices (
        invoice_id TEXT PRIMARY KEY,
        invoice_no TEXT NOT NULL UNIQUE,
        seq INTEGER NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('invoice', 'reversal')),
        reverses_invoice_id TEXT REFERENCES his_invoices (invoice_id),
        resident_id TEXT NOT NULL,
        registration_id TEXT,
        total_fen INTEGER NOT NULL,
        payment_method TEXT NOT NULL,
        cashier TEXT NOT NULL,
        issued_at TEXT NOT NULL,
        reason TEXT,
        settlement_id TEXT
      );
      CREATE INDEX his_invoices_cashier ON his_invoices (cashier, issued_at);
      CREATE INDEX his_invoices_issued ON his_invoices (issued_at);
      CREATE TRIGGER his_invoices_no_delete BEFORE DELETE ON his_invoices BEGIN SELECT RAISE(ABORT, 'invoices are append-only'); END;
      -- Only the settlement stamp may be set, once.
      CREATE TRIGGER his_invoices_no_update BEFORE UPDATE ON his_invoices
        WHEN NOT (OLD.settlement_id IS NULL AND NEW.settlement_id IS NOT NULL
          AND NEW.invoice_id = OLD.invoice_id AND NEW.invoice_no = OLD.invoice_no AND NEW.total_fen = OLD.total_fen
          AND NEW.kind = OLD.kind AND NEW.cashier = OLD.cashier AND NEW.issued_at = OLD.issued_at AND NEW.payment_method = OLD.payment_method)
        BEGIN SELECT RAISE(ABORT, 'invoices are append-only'); END;

      -- Gapless per-clinic counters (invoice numbers): incremented inside the writing transaction.
      CREATE TABLE his_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);

      CREATE TABLE his_settlements (
        settlement_id TEXT PRIMARY KEY,
        cashier TEXT NOT NULL,
        date TEXT NOT NULL,
        from_at TEXT NOT NULL,
        to_at TEXT NOT NULL,
        invoice_count INTEGER NOT NULL,
        reversal_count INTEGER NOT NULL,
        gross_fen INTEGER NOT NULL,
        refund_fen INTEGER NOT NULL,
        net_fen INTEGER NOT NULL,
        detail TEXT NOT NULL,
        settled_by TEXT NOT NULL,
        settled_at TEXT NOT NULL
      );
      CREATE INDEX his_settlements_cashier ON his_settlements (cashier, date);
    `),
  },
  {
    version: 302,
    name: 'his: stock ledger',
    up: (db) => db.exec(`
      CREATE TABLE his_stock_movements (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        movement_id TEXT NOT NULL UNIQUE,
        drug_code TEXT NOT NULL,
        batch_no TEXT NOT NULL,
        expiry_date TEXT NOT NULL,
        quantity REAL NOT NULL CHECK (quantity <> 0),
        kind TEXT NOT NULL CHECK (kind IN ('receipt', 'dispense', 'return', 'adjust', 'transfer')),
        ref_kind TEXT,
        ref_id TEXT,
        by_user TEXT NOT NULL,
        at TEXT NOT NULL
      );
      CREATE INDEX his_stock_drug ON his_stock_movements (drug_code, batch_no);
      CREATE INDEX his_stock_ref ON his_stock_movements (ref_kind, ref_id);
      CREATE TRIGGER his_stock_no_update BEFORE UPDATE ON his_stock_movements BEGIN SELECT RAISE(ABORT, 'stock ledger is append-only'); END;
      CREATE TRIGGER his_stock_no_delete BEFORE DELETE ON his_stock_movements BEGIN SELECT RAISE(ABORT, 'stock ledger is append-only'); END;
      -- Per drug: low-stock threshold set by the pharmacy (the dictionary has none).
      CREATE TABLE his_stock_settings (drug_code TEXT PRIMARY KEY, low_threshold REAL NOT NULL DEFAULT 10);
    `),
  },
  {
    version: 303,
    name: 'his: indexes for a resident\'s and a registration\'s invoices and for the cashier\'s waiting list',
    up: (db) => db.exec(`
      -- The cashier page (a resident's invoices, newest first) and the registration slip.
      CREATE INDEX his_invoices_resident ON his_invoices (resident_id, seq);
      CREATE INDEX his_invoices_registration ON his_invoices (registration_id);
      -- Residents with charges waiting to be paid (the cashier's list before a resident is chosen).
      CREATE INDEX his_charges_pending ON his_charges (resident_id, created_at) WHERE status = 'pending';
    `),
  },
];
