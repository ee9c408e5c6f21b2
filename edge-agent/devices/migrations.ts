/** Migrations of the devices module (versions 100-199). Append only. */
import type { Migration } from '../../contracts/runtime/index.ts';

export const deviceMigrations: Migration[] = [
  {
    version: 100,
    name: 'devices: registry, readings, station patient, critical ranges, alerts',
    up: (db) => db.exec(`
      -- One row per registered device. DICOM columns (ae_title, modality) are here so imaging reuses the registry.
      CREATE TABLE devices (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        profile_id TEXT NOT NULL,
        kind TEXT NOT NULL,              -- vital-signs | lab-analyser | imaging
        protocol TEXT NOT NULL,          -- modbus | hl7 | astm | dicom
        room TEXT NOT NULL DEFAULT '',
        -- modbus: {type:'tcp',host,port} or {type:'rtu',path,baudRate,parity,dataBits,stopBits}; dicom: {host,port}
        connection TEXT NOT NULL,
        -- name the device announces: HL7 MSH-3[@MSH-4], ASTM H-5 sender
        source_name TEXT,
        ae_title TEXT,
        modality TEXT,
        options TEXT NOT NULL DEFAULT '{}',
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE UNIQUE INDEX devices_source_name ON devices (source_name) WHERE source_name IS NOT NULL;
      CREATE UNIQUE INDEX devices_ae_title ON devices (ae_title) WHERE ae_title IS NOT NULL;
      CREATE TABLE device_status (
        device_id TEXT PRIMARY KEY REFERENCES devices (id) ON DELETE CASCADE,
        readings INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        implausible INTEGER NOT NULL DEFAULT 0,
        critical INTEGER NOT NULL DEFAULT 0,
        last_reading_at TEXT,
        last_reading TEXT,
        last_error TEXT,
        last_error_at TEXT,
        last_test TEXT
      );
      -- Every reading received, bound or not. record_id is the spine record (emitted once bound).
      CREATE TABLE device_readings (
        id TEXT PRIMARY KEY,
        device_id TEXT NOT NULL,
        source_id TEXT NOT NULL,
        type TEXT NOT NULL,              -- observation | lab_result
        quantity TEXT NOT NULL,
        code TEXT NOT NULL,
        display TEXT NOT NULL,
        value TEXT NOT NULL,
        unit TEXT NOT NULL DEFAULT '',
        at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        device_patient_id TEXT,
        specimen_id TEXT,
        order_id TEXT,
        interpretation TEXT,
        implausible INTEGER NOT NULL DEFAULT 0,
        critical INTEGER NOT NULL DEFAULT 0,
        resident_id TEXT,
        bound_by TEXT,                   -- device-id | specimen | station | manual:<user>
        bound_at TEXT,
        reading TEXT NOT NULL            -- the driver's Reading as JSON (to emit the record once bound)
      );
      CREATE UNIQUE INDEX device_readings_source ON device_readings (device_id, source_id);
      CREATE INDEX device_readings_unbound ON device_readings (received_at) WHERE resident_id IS NULL;
      CREATE INDEX device_readings_device ON device_readings (device_id, received_at);
      -- The patient currently at a device / station, chosen by the nurse.
      CREATE TABLE device_station_patient (
        device_id TEXT PRIMARY KEY,
        resident_id TEXT NOT NULL,
        set_by TEXT NOT NULL,
        set_at TEXT NOT NULL
      );
      -- Institution critical ranges (危急值) per profile quantity; absent = the profile default.
      CREATE TABLE device_critical_ranges (
        profile_id TEXT NOT NULL,
        quantity TEXT NOT NULL,
        low REAL,
        high REAL,
        inclusive INTEGER NOT NULL DEFAULT 0,
        updated_by TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (profile_id, quantity)
      );
      CREATE TABLE critical_alerts (
        id TEXT PRIMARY KEY,
        reading_id TEXT NOT NULL,
        device_id TEXT NOT NULL,
        resident_id TEXT,
        summary TEXT NOT NULL,
        raised_at TEXT NOT NULL,
        acked_by TEXT,
        acked_by_name TEXT,
        acked_at TEXT,
        read_back TEXT,
        ack_ip TEXT
      );
      CREATE INDEX critical_alerts_open ON critical_alerts (raised_at) WHERE acked_at IS NULL;
      -- Senders not in the registry (HL7 MSH-3/4, ASTM H-5): refused and shown to the technician.
      CREATE TABLE device_unknown_senders (
        name TEXT PRIMARY KEY,
        protocol TEXT NOT NULL,
        remote TEXT NOT NULL,
        count INTEGER NOT NULL,
        last_at TEXT NOT NULL
      );
    `),
  },
];

deviceMigrations.push({
  version: 101,
  name: 'devices: lab result review / approval, versions, file import and manual entry sources',
  up: (db) => db.exec(`
    -- lab_result rows: preliminary (as received) -> final (approved by a technician) -> corrected (new value, new version).
    ALTER TABLE device_readings ADD COLUMN review_status TEXT;
    ALTER TABLE device_readings ADD COLUMN reviewed_by TEXT;
    ALTER TABLE device_readings ADD COLUMN reviewed_by_name TEXT;
    ALTER TABLE device_readings ADD COLUMN reviewed_at TEXT;
    -- device | import | manual
    ALTER TABLE device_readings ADD COLUMN source TEXT NOT NULL DEFAULT 'device';
    UPDATE device_readings SET review_status = 'preliminary' WHERE type = 'lab_result';
    CREATE INDEX device_readings_review ON device_readings (received_at) WHERE review_status = 'preliminary';
    CREATE INDEX device_readings_trend ON device_readings (resident_id, code, at);
    -- Every release and correction of a lab result (who, when, which value, why).
    CREATE TABLE lab_result_versions (
      reading_id TEXT NOT NULL,
      version INTEGER NOT NULL,
      status TEXT NOT NULL,
      value TEXT NOT NULL,
      unit TEXT NOT NULL,
      flag TEXT,
      by_user TEXT NOT NULL,
      by_name TEXT NOT NULL,
      at TEXT NOT NULL,
      reason TEXT,
      PRIMARY KEY (reading_id, version)
    );
  `),
});

deviceMigrations.push({
  version: 102,
  name: 'devices: indexes for released lab results and for alerts by reading and by resident',
  up: (db) => db.exec(`
    -- The lab page's released list (newest reviews first) without reading every reading.
    CREATE INDEX device_readings_released ON device_readings (reviewed_at) WHERE review_status IN ('final', 'corrected');
    -- Binding a reading to a resident updates its alert; the doctor's view lists a resident's alerts.
    CREATE INDEX critical_alerts_reading ON critical_alerts (reading_id);
    CREATE INDEX critical_alerts_resident ON critical_alerts (resident_id, raised_at);
  `),
});
