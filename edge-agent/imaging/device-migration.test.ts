/**
 * Migration 203: DICOM devices registered in the old imaging_devices table move into the one
 * device registry (devices module), and the SCP's lookup reads them from there.
 */
import t from 'tap';
import { migrate, openDb } from '../../contracts/runtime/index.ts';
import { deviceMigrations } from '../devices/migrations.ts';
import { imagingMigrations } from './migrations.ts';
import { ImagingRepo } from './repo.ts';

t.test('migration 203 moves imaging_devices into the device registry', async (t) => {
  const db = openDb(':memory:');
  t.teardown(() => db.close());
  const all = [...deviceMigrations, ...imagingMigrations];
  migrate(db, all.filter((m) => m.version < 203));
  const put = db.prepare('INSERT INTO imaging_devices (id, ae_title, host, port, modality, room, enabled, created_at, last_echo_at, last_echo_result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)');
  put.run('u-1', 'US_ROOM1', '10.1.2.3', 104, 'US', 'B超室', 1, '2026-01-02T03:04:05.000Z', '2026-11-01T08:00:00.000Z', 'C-ECHO ok 12 ms');
  put.run('u-2', 'DR_ROOM1', '*', 11112, 'DX', null, 0, '2026-01-03T00:00:00.000Z', '2026-11-02T08:00:00.000Z', 'cannot connect: ECONNREFUSED');
  put.run('u-3', 'OT_ANY', '10.1.2.9', 104, 'OT', '', 1, '2026-01-04T00:00:00.000Z', null, null);
  // The same AE title registered on 设备管理 already: that registration stays.
  put.run('u-4', 'US_DUP', '10.1.2.4', 104, 'US', '老登记', 1, '2026-01-05T00:00:00.000Z', null, null);
  db.prepare(`INSERT INTO devices (id, name, profile_id, kind, protocol, room, connection, ae_title, modality, enabled, created_at, updated_at)
    VALUES ('dev-dup', 'US dup', 'dicom-modality', 'imaging', 'dicom', '新登记', '{"type":"tcp","host":"10.1.2.5","port":104}', 'US_DUP', 'US', 1, 'x', 'x')`).run();
  db.prepare("INSERT INTO device_status (device_id) VALUES ('dev-dup')").run();

  migrate(db, all);
  const repo = new ImagingRepo(db);
  t.same(repo.devices().map((d) => [d.id, d.aeTitle, d.host, d.port, d.modality, d.room ?? null, d.enabled]), [
    ['u-2', 'DR_ROOM1', '*', 11112, 'DX', null, false],
    ['u-3', 'OT_ANY', '10.1.2.9', 104, 'OT', null, true],
    ['dev-dup', 'US_DUP', '10.1.2.5', 104, 'US', '新登记', true],
    ['u-1', 'US_ROOM1', '10.1.2.3', 104, 'US', 'B超室', true],
  ], 'every DICOM device in one registry; the existing registration of a duplicate AE kept');
  const us = repo.deviceByAe('US_ROOM1')!;
  t.same([us.lastEchoAt, us.lastEchoResult], ['2026-11-01T08:00:00.000Z', 'C-ECHO ok 12 ms'], 'last C-ECHO kept as the registry\'s last test');
  t.match(db.prepare("SELECT last_test FROM device_status WHERE device_id = 'u-2'").pluck().get(), /FAIL cannot connect/);
  const row = db.prepare("SELECT name, profile_id, kind, protocol, created_at FROM devices WHERE id = 'u-1'").get();
  t.same(row, { name: 'US_ROOM1', profile_id: 'dicom-modality', kind: 'imaging', protocol: 'dicom', created_at: '2026-01-02T03:04:05.000Z' });
  t.equal(repo.deviceByAe('NOPE'), null);
  const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'imaging_devices%'").pluck().all();
  t.same(tables, ['imaging_devices_not_migrated'], 'the duplicate is kept for review, the old table is gone');
});

t.test('migration 203 on a fresh store drops the old table', async (t) => {
  const db = openDb(':memory:');
  t.teardown(() => db.close());
  migrate(db, [...deviceMigrations, ...imagingMigrations]);
  t.same(db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'imaging_devices%'").pluck().all(), []);
});

t.test('migration 203 without the devices registry fails with a clear message', async (t) => {
  const db = openDb(':memory:');
  t.teardown(() => db.close());
  t.throws(() => migrate(db, imagingMigrations), /devices module/);
});
