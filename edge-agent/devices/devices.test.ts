import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ObservationReading } from '../../device-drivers/index.ts';
import { EdgeStore } from '../store/store.ts';
import { Accounts } from '../web/accounts.ts';
import { Alerts } from './alerts.ts';
import { Ingest } from './ingest.ts';
import { deviceMigrations } from './migrations.ts';
import { ProfileCatalog } from './profiles.ts';
import { CriticalRanges } from './ranges.ts';
import { DeviceRegistry, type RegistryError } from './registry.ts';

function setup(t: { teardown(fn: () => void): void }) {
  const dir = mkdtempSync(join(tmpdir(), 'devices-unit-'));
  const store = new EdgeStore(join(dir, 'edge.db'), `unit-${Math.random().toString(16).slice(2, 8)}`, deviceMigrations);
  t.teardown(() => { store.close(); rmSync(dir, { recursive: true, force: true }); });
  const accounts = new Accounts(store.db);
  const profiles = new ProfileCatalog('');
  const registry = new DeviceRegistry(store.db, accounts, profiles);
  const ranges = new CriticalRanges(store.db, accounts, profiles);
  const ingest = new Ingest(store, accounts, profiles, ranges);
  return { store, accounts, registry, ranges, ingest, alerts: new Alerts(store.db, accounts) };
}
const by = { username: 'tech', ip: '127.0.0.1' };
let n = 0;
const sbp = (value: number, deviceId = 'x'): ObservationReading => ({
  type: 'observation', deviceId, profileId: 'bp-monitor', quantity: 'systolic', at: new Date().toISOString(), implausible: false, critical: false,
  sourceId: `s-${++n}`, code: '8480-6', display: 'Systolic blood pressure', value, unit: 'mm[Hg]',
});

t.test('registry validates against the profile, refuses duplicates, audits', async (t) => {
  const { registry, accounts } = setup(t);
  t.throws(() => registry.create({ name: 'bp', profileId: 'bp-monitor', connection: { type: 'listener' } }, by), /Modbus/, 'Modbus device without an address');
  t.throws(() => registry.create({ name: 'x', profileId: 'nope', connection: { type: 'tcp', host: 'h', port: 502 } }, by), /unknown profile/);
  t.throws(() => registry.create({ name: 'm', profileId: 'bedside-monitor-hl7', connection: { type: 'listener' } }, by), /sourceName|发送的名称/, 'HL7 device needs its sender name');
  registry.create({ name: 'm1', profileId: 'bedside-monitor-hl7', connection: { type: 'listener' }, sourceName: 'MON' }, by);
  try {
    registry.create({ name: 'm2', profileId: 'bedside-monitor-hl7', connection: { type: 'listener' }, sourceName: 'MON' }, by);
    t.fail('duplicate source name accepted');
  } catch (e) { t.equal((e as RegistryError).status, 409, 'duplicate source name: 409'); }
  const us = registry.create({ name: 'US-1', profileId: 'dicom-modality', connection: { type: 'tcp', host: '10.0.0.9', port: 104 }, aeTitle: 'US_ROOM2', modality: 'US' }, by);
  t.equal(us.kind, 'imaging');
  t.throws(() => registry.create({ name: 'US-2', profileId: 'dicom-modality', connection: { type: 'tcp', host: '10.0.0.9', port: 104 }, aeTitle: 'US_ROOM2', modality: 'US' }, by), /AE/, 'AE title unique');
  t.equal(registry.get(us.id)!.aeTitle, 'US_ROOM2', 'DICOM columns stored');
  const audit = accounts.recentAudit(20).map((a) => `${a.action} ${a.outcome}`);
  t.ok(audit.some((a) => a.startsWith('device.create refused')), 'refusal audited');
  t.ok(audit.filter((a) => a === 'device.create ok').length >= 2);
});

t.test('institution critical range re-evaluates readings; alerts need a read-back', async (t) => {
  const { registry, ranges, ingest, alerts, store } = setup(t);
  const d = registry.create({ name: 'bp', profileId: 'bp-monitor', connection: { type: 'tcp', host: '127.0.0.1', port: 1502 } }, by);
  await ingest.storeBatch(d, [sbp(175)]);
  t.equal(alerts.openCount(), 0, '175 is not critical by the profile (>= 180)');
  ranges.set('bp-monitor', 'systolic', { low: 70, high: 170, inclusive: true }, by);
  await ingest.storeBatch(d, [sbp(172)]);
  t.equal(alerts.openCount(), 1, '172 critical under the institution range');
  const a = alerts.open()[0]!;
  t.match(a.summary, /收缩压 172 mm\[Hg\] \(HH\)/);
  const user = { username: 'doc', displayName: '赵医生', role: 'doctor' as const, mustChangePassword: false };
  t.throws(() => alerts.acknowledge(a.id, user, ' ', 'ip'), /复述/, 'read-back required');
  alerts.acknowledge(a.id, user, '收缩压172', 'ip');
  t.throws(() => alerts.acknowledge(a.id, user, '再次', 'ip'), /已确认/, 'only once');
  ranges.reset('bp-monitor', 'systolic', by);
  await ingest.storeBatch(d, [sbp(300.5)]);
  const flags = store.db.prepare<[], { implausible: number; critical: number }>('SELECT implausible, critical FROM device_readings ORDER BY rowid DESC LIMIT 1').get()!;
  t.same(flags, { implausible: 1, critical: 0 }, 'implausible value kept and flagged, not critical');
  t.equal(ingest.unboundCount(), 3, 'nothing dropped: all readings wait for a resident');
});

t.test('a batch the spine schema refuses fails alone; same Modbus values polled again are one measurement', async (t) => {
  const { registry, ingest, store } = setup(t);
  store.write('resident', 'r1', { residentId: 'r1', name: '张三', sex: '1', birthDate: '1950-01-01', idType: '99', idNumber: 'X1' });
  const d = registry.create({ name: 'bp', profileId: 'bp-monitor', connection: { type: 'tcp', host: '127.0.0.1', port: 1502 } }, by);
  registry.setStationPatient(d.id, 'r1', by);
  const bad = { ...sbp(120), quantity: 'unknown', code: '', display: 'x' };
  const hl7 = registry.create({ name: 'm', profileId: 'bedside-monitor-hl7', connection: { type: 'listener' }, sourceName: 'M' }, by);
  const results = await Promise.allSettled([ingest.storeBatch(hl7, [bad]), ingest.storeBatch(d, [sbp(121)])]);
  t.equal(results[0].status, 'rejected', 'invalid record rejected (the device gets AE/NAK)');
  t.equal(results[1].status, 'fulfilled', 'the other device in the same group commit is stored');
  const before = store.stats().lastSeq;
  await ingest.storeBatch(d, [sbp(121)]);
  t.equal(store.stats().lastSeq, before, 'unchanged Modbus values are not a new measurement');
  await ingest.storeBatch(d, [sbp(122)]);
  t.equal(store.stats().lastSeq, before + 1, 'a new value is');
  t.equal(ingest.counters.failed, 1);
});
