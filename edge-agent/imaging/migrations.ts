/** Imaging tables of the edge store (versions 200-299). */
import type { Migration } from '../../contracts/runtime/index.ts';

export const imagingMigrations: Migration[] = [
  {
    version: 200,
    name: 'imaging: DICOM devices, imaging orders, studies, instances with forwarding state',
    up: (db) => db.exec(`
      CREATE TABLE imaging_devices (
        id TEXT PRIMARY KEY,
        ae_title TEXT NOT NULL UNIQUE,
        host TEXT NOT NULL,
        port INTEGER NOT NULL,
        modality TEXT NOT NULL CHECK (modality IN ('US', 'DX', 'CR', 'OT')),
        room TEXT,
        enabled INTEGER NOT NULL DEFAULT 1,
        created_at TEXT NOT NULL,
        last_echo_at TEXT,
        last_echo_result TEXT
      );
      -- Pending and past imaging orders; the open ones feed the Modality Worklist.
      CREATE TABLE imaging_orders (
        order_id TEXT PRIMARY KEY,
        resident_id TEXT NOT NULL,
        accession_number TEXT NOT NULL UNIQUE,
        study_instance_uid TEXT NOT NULL UNIQUE,
        modality TEXT NOT NULL CHECK (modality IN ('US', 'DX', 'CR')),
        code TEXT NOT NULL,
        display TEXT NOT NULL,
        station_ae TEXT,
        scheduled_date TEXT NOT NULL,
        scheduled_time TEXT,
        status TEXT NOT NULL,
        requested_by TEXT NOT NULL,
        payload TEXT NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE INDEX imaging_orders_date ON imaging_orders (scheduled_date, status);
      CREATE TABLE imaging_studies (
        study_instance_uid TEXT PRIMARY KEY,
        order_id TEXT,
        resident_id TEXT,
        accession_number TEXT,
        patient_id TEXT,
        patient_name TEXT,
        patient_birth_date TEXT,
        patient_sex TEXT,
        modality TEXT,
        study_date TEXT,
        study_time TEXT,
        description TEXT,
        station_ae TEXT,
        -- accession+study | accession | patient | manual | ambiguous | none
        match_kind TEXT NOT NULL,
        match_reason TEXT,
        resolved_by TEXT,
        resolved_at TEXT,
        first_received_at TEXT NOT NULL,
        last_received_at TEXT NOT NULL
      );
      CREATE INDEX imaging_studies_match ON imaging_studies (match_kind);
      CREATE TABLE imaging_instances (
        sop_instance_uid TEXT PRIMARY KEY,
        study_instance_uid TEXT NOT NULL REFERENCES imaging_studies (study_instance_uid),
        series_instance_uid TEXT NOT NULL,
        sop_class_uid TEXT NOT NULL,
        transfer_syntax_uid TEXT NOT NULL,
        size INTEGER NOT NULL,
        sha256 TEXT NOT NULL,
        path TEXT NOT NULL,
        modality TEXT,
        series_number TEXT,
        instance_number TEXT,
        number_of_frames INTEGER,
        calling_ae TEXT NOT NULL,
        received_at TEXT NOT NULL,
        -- forwarding to the central archive: pending | done
        fwd_state TEXT NOT NULL DEFAULT 'pending',
        fwd_attempts INTEGER NOT NULL DEFAULT 0,
        fwd_next_at TEXT NOT NULL,
        fwd_error TEXT,
        forwarded_at TEXT
      );
      CREATE INDEX imaging_instances_study ON imaging_instances (study_instance_uid);
      CREATE INDEX imaging_instances_fwd ON imaging_instances (fwd_state, fwd_next_at);
    `),
  },
  {
    version: 201,
    name: 'imaging: studies whose record is due (coalesced record versions)',
    up: (db) => db.exec(`
      -- A study touched since its last imaging_study record; flushed as ONE new version once
      -- the study is quiet, so a 300-frame cine loop is not 300 record versions on the spine.
      CREATE TABLE imaging_study_dirty (
        study_instance_uid TEXT PRIMARY KEY REFERENCES imaging_studies (study_instance_uid),
        last_touched_at INTEGER NOT NULL
      );
    `),
  },
  {
    version: 202,
    name: 'imaging: radiologist reports pulled from central',
    up: (db) => db.exec(`
      -- Reports written at the district hospital on this clinic's studies (all versions kept).
      CREATE TABLE imaging_reports (
        study_instance_uid TEXT NOT NULL,
        version INTEGER NOT NULL,
        status TEXT NOT NULL,
        findings TEXT NOT NULL,
        impression TEXT NOT NULL,
        positive INTEGER NOT NULL,
        radiologist TEXT NOT NULL,
        reported_at TEXT NOT NULL,
        received_at TEXT NOT NULL,
        PRIMARY KEY (study_instance_uid, version)
      );
      CREATE TABLE imaging_report_cursor (id INTEGER PRIMARY KEY CHECK (id = 1), after INTEGER NOT NULL);
    `),
  },
  {
    version: 203,
    name: 'imaging: DICOM devices move into the one device registry (devices, protocol dicom)',
    up: (db) => {
      if (!db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'devices'").get()) {
        throw new Error('imaging migration 203 needs the devices module\'s registry (migration 100): start the agent with the devices module');
      }
      // Same id, AE title, host/port (as the registry's tcp connection), modality, room, enabled;
      // the last C-ECHO becomes the registry's last test. An AE title already in the registry keeps
      // that registration (it is the one the technician sees on 设备管理).
      db.exec(`
        INSERT INTO devices (id, name, profile_id, kind, protocol, room, connection, source_name, ae_title, modality, options, enabled, created_at, updated_at)
          SELECT i.id, i.ae_title, 'dicom-modality', 'imaging', 'dicom', coalesce(i.room, ''), json_object('type', 'tcp', 'host', i.host, 'port', i.port),
            NULL, i.ae_title, i.modality, '{}', i.enabled, i.created_at, i.created_at
          FROM imaging_devices i
          WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.ae_title = i.ae_title OR d.id = i.id);
        INSERT INTO device_status (device_id, last_test)
          SELECT i.id, CASE WHEN i.last_echo_at IS NULL THEN NULL
            ELSE i.last_echo_at || CASE WHEN i.last_echo_result LIKE 'C-ECHO ok%' THEN ' OK ' ELSE ' FAIL ' END || coalesce(i.last_echo_result, '') END
          FROM imaging_devices i JOIN devices d ON d.id = i.id AND d.protocol = 'dicom'
          WHERE NOT EXISTS (SELECT 1 FROM device_status s WHERE s.device_id = i.id);
      `);
      // Rows not moved (their AE title was registered twice) stay readable for the technician's review.
      const left = (db.prepare('SELECT count(*) AS n FROM imaging_devices i WHERE NOT EXISTS (SELECT 1 FROM devices d WHERE d.id = i.id)').get() as { n: number }).n;
      db.exec(left ? 'ALTER TABLE imaging_devices RENAME TO imaging_devices_not_migrated' : 'DROP TABLE imaging_devices');
    },
  },
  {
    version: 204,
    name: 'imaging: orders by resident (order matching by PatientID without a scan)',
    up: (db) => db.exec('CREATE INDEX imaging_orders_resident ON imaging_orders (resident_id)'),
  },
  {
    version: 205,
    name: 'imaging: instances indexed before their rename was durable (start-up recovery)',
    up: (db) => db.exec(`
      -- 0 while the directory fsync of the file's rename may not be on disk yet (the index row is
      -- committed while it runs); recovery.ts checks these rows at start. Rows of before: 1.
      ALTER TABLE imaging_instances ADD COLUMN file_synced INTEGER NOT NULL DEFAULT 1;
      CREATE INDEX imaging_instances_unsynced ON imaging_instances (sop_instance_uid) WHERE file_synced = 0;
    `),
  },
  {
    version: 206,
    name: 'imaging: indexes for the worklist page, the Modality Worklist and a resident\'s studies (no scan that grows with the archive)',
    up: (db) => db.exec(`
      -- Counting a study's instances and its forwarded ones from the index alone. With only
      -- (study) and (fwd_state, fwd_next_at) to choose from, SQLite took the second for
      -- "study = ? AND fwd_state = 'done'" and read every forwarded instance once per study:
      -- the worklist page's recent studies took 5.5 s with a month of images (2,000 studies).
      DROP INDEX imaging_instances_study;
      CREATE INDEX imaging_instances_study ON imaging_instances (study_instance_uid, fwd_state);
      -- Studies by order (the order lists count their images), by resident (the doctor's history),
      -- and the most recent ones (the worklist page).
      CREATE INDEX imaging_studies_order ON imaging_studies (order_id);
      CREATE INDEX imaging_studies_resident ON imaging_studies (resident_id);
      CREATE INDEX imaging_studies_recent ON imaging_studies (last_received_at);
      -- Orders still open (Modality Worklist C-FIND answers from these), in schedule order.
      CREATE INDEX imaging_orders_open ON imaging_orders (scheduled_date, scheduled_time) WHERE status IN ('requested', 'scheduled', 'in-progress');
      -- Instances and bytes per forwarding state, kept by triggers: the forwarding gauge (each
      -- metrics scrape) and the worklist page read two rows instead of counting the archive
      -- (22 ms at 400,000 instances, a year of a busy clinic, and growing).
      CREATE TABLE imaging_fwd_totals (fwd_state TEXT PRIMARY KEY, n INTEGER NOT NULL, bytes INTEGER NOT NULL);
      INSERT INTO imaging_fwd_totals (fwd_state, n, bytes) SELECT fwd_state, count(*), coalesce(sum(size), 0) FROM imaging_instances GROUP BY fwd_state;
      CREATE TRIGGER imaging_fwd_totals_insert AFTER INSERT ON imaging_instances BEGIN
        INSERT INTO imaging_fwd_totals (fwd_state, n, bytes) VALUES (NEW.fwd_state, 1, NEW.size)
          ON CONFLICT (fwd_state) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
      END;
      CREATE TRIGGER imaging_fwd_totals_delete AFTER DELETE ON imaging_instances BEGIN
        UPDATE imaging_fwd_totals SET n = n - 1, bytes = bytes - OLD.size WHERE fwd_state = OLD.fwd_state;
      END;
      CREATE TRIGGER imaging_fwd_totals_update AFTER UPDATE OF fwd_state, size ON imaging_instances
        WHEN OLD.fwd_state IS NOT NEW.fwd_state OR OLD.size IS NOT NEW.size BEGIN
        UPDATE imaging_fwd_totals SET n = n - 1, bytes = bytes - OLD.size WHERE fwd_state = OLD.fwd_state;
        INSERT INTO imaging_fwd_totals (fwd_state, n, bytes) VALUES (NEW.fwd_state, 1, NEW.size)
          ON CONFLICT (fwd_state) DO UPDATE SET n = n + 1, bytes = bytes + excluded.bytes;
      END;
    `),
  },
  {
    version: 207,
    name: 'imaging: refused DICOM associations, for the technician (one row per calling AE, address and reason)',
    up: (db) => db.exec(`
      CREATE TABLE imaging_refusals (
        calling_ae TEXT NOT NULL,
        remote_host TEXT NOT NULL,
        reason TEXT NOT NULL,
        called_ae TEXT NOT NULL,
        count INTEGER NOT NULL,
        first_at TEXT NOT NULL,
        last_at TEXT NOT NULL,
        PRIMARY KEY (calling_ae, remote_host, reason)
      );
      CREATE INDEX imaging_refusals_recent ON imaging_refusals (last_at);
    `),
  },
  {
    version: 208,
    name: 'imaging: instances removed from this disk once the central archive holds them (eviction), with their totals',
    up: (db) => db.exec(`
      -- Set when the file was removed from this disk (storage.ts): the central archive holds the
      -- instance (fwd_state 'done', sha256 verified there). A resend stores it here again (NULL).
      ALTER TABLE imaging_instances ADD COLUMN evicted_at TEXT;
      -- What eviction takes: uploaded instances still on this disk, uploaded longest ago first.
      CREATE INDEX imaging_instances_evictable ON imaging_instances (forwarded_at, sop_instance_uid) WHERE fwd_state = 'done' AND evicted_at IS NULL;
      -- The most recently removed (the start-up check of an interrupted eviction).
      CREATE INDEX imaging_instances_evicted ON imaging_instances (evicted_at) WHERE evicted_at IS NOT NULL;
      -- Instances and bytes removed, kept by triggers (the storage panel and a gauge read one row).
      -- The WHEN clauses keep the receiving path (never-evicted rows) free of any extra write.
      CREATE TABLE imaging_evicted_totals (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL, bytes INTEGER NOT NULL);
      INSERT INTO imaging_evicted_totals (id, n, bytes) VALUES (1, 0, 0);
      CREATE TRIGGER imaging_evicted_totals_update AFTER UPDATE OF evicted_at, size ON imaging_instances
        WHEN OLD.evicted_at IS NOT NULL OR NEW.evicted_at IS NOT NULL BEGIN
        UPDATE imaging_evicted_totals SET
          n = n + (NEW.evicted_at IS NOT NULL) - (OLD.evicted_at IS NOT NULL),
          bytes = bytes + (CASE WHEN NEW.evicted_at IS NOT NULL THEN NEW.size ELSE 0 END) - (CASE WHEN OLD.evicted_at IS NOT NULL THEN OLD.size ELSE 0 END)
        WHERE id = 1;
      END;
      CREATE TRIGGER imaging_evicted_totals_delete AFTER DELETE ON imaging_instances WHEN OLD.evicted_at IS NOT NULL BEGIN
        UPDATE imaging_evicted_totals SET n = n - 1, bytes = bytes - OLD.size WHERE id = 1;
      END;
    `),
  },
  {
    version: 209,
    name: 'imaging: performed procedure steps reported by the devices (MPPS N-CREATE / N-SET)',
    up: (db) => db.exec(`
      CREATE TABLE imaging_mpps (
        sop_instance_uid TEXT PRIMARY KEY,
        -- The order the step performs (by accession number, else study UID); NULL when none matched.
        order_id TEXT,
        accession_number TEXT,
        study_instance_uid TEXT,
        -- IN PROGRESS, COMPLETED or DISCONTINUED (PS3.3 C.4.14).
        status TEXT NOT NULL,
        station_ae TEXT,
        calling_ae TEXT NOT NULL,
        started_at TEXT,
        ended_at TEXT,
        series INTEGER NOT NULL DEFAULT 0,
        images INTEGER NOT NULL DEFAULT 0,
        -- Why the device discontinued the step (its code meaning).
        reason TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
      CREATE INDEX imaging_mpps_order ON imaging_mpps (order_id, updated_at) WHERE order_id IS NOT NULL;
      -- The images a step says it made (Performed Series Sequence > Referenced Image Sequence): the
      -- order completes once they are all here, and the worklist shows any still missing. Looked up
      -- by instance as each one is filed.
      CREATE TABLE imaging_mpps_images (
        sop_instance_uid TEXT NOT NULL,
        mpps_uid TEXT NOT NULL REFERENCES imaging_mpps (sop_instance_uid),
        PRIMARY KEY (sop_instance_uid, mpps_uid)
      ) WITHOUT ROWID;
      CREATE INDEX imaging_mpps_images_step ON imaging_mpps_images (mpps_uid);
    `),
  },
];
