import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { makeResident, prng } from '../../edge-agent/sim/generate.ts';

t.test('resident edited at two clinics: last writer wins by HLC, the losing values go to the conflict log', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-lww');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const a = await edgeInProcess(ns.url, clinicName('la'), `${tmp.dir}/a`);
  const b = await edgeInProcess(ns.url, clinicName('lb'), `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); await central.stop(); });

  const res = makeResident(prng(3));
  a.store.write('resident', res.residentId, res);
  await waitFor('created', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === 1, 10_000);
  // Both clinics change the phone number while unaware of each other; B writes later.
  a.store.write('resident', res.residentId, { ...res, phone: '13800000001' });
  await new Promise((r) => setTimeout(r, 5));
  b.store.write('resident', res.residentId, { ...res, phone: '13900000002', address: '幸福路8号' });
  await waitFor('both applied', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === 2 && (await central.wh.watermark(b.config.clinicId)).appliedSeq === 1, 10_000);
  const row = central.wh.db.prepare<[string], { payload: string; clinic_id: string }>('SELECT payload, clinic_id FROM residents WHERE resident_id = ?').get(res.residentId)!;
  t.equal(JSON.parse(row.payload).phone, '13900000002', 'the later write (clinic B) wins');
  const conflicts = await central.wh.conflicts(10);
  t.equal(conflicts.length, 1, 'one conflict logged');
  t.same(conflicts[0]!.loserValues, { phone: '13800000001', address: null }, 'the overwritten values are kept');
  t.equal(conflicts[0]!.loserClinic, a.config.clinicId);

  // An older write arriving late loses and is logged, not applied.
  const stale = { ...res, name: res.name + '甲' };
  const olderHlc = '000000000000001.00000.stale';
  const r = await central.wh.ingest([{ kind: 'record', envelope: { recordId: res.residentId, type: 'resident', clinicId: 'late-clinic', seq: 1, version: 1, hlc: olderHlc, schemaVersion: 1, createdAt: new Date().toISOString(), payload: stale }, type: 'resident', payload: stale, hash: 'h1', raw: '' }]);
  t.equal(r.conflicts, 1, 'stale write logged as a conflict');
  const after = JSON.parse(central.wh.db.prepare<[string], { payload: string }>('SELECT payload FROM residents WHERE resident_id = ?').get(res.residentId)!.payload);
  t.equal(after.name, res.name, 'stale name not applied');
});
