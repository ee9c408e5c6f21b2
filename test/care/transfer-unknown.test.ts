/**
 * A health-record migration offered to a clinic central does not know (a mistyped code) used to
 * wait forever in the stream. Central now refuses it itself: the refusal with its reason comes
 * back to the sender (record active again, reason on the 迁出 list of its UI) and is counted in
 * central's metrics. A migration to a known clinic still goes to that clinic.
 */
import t from 'tap';
import { careByClinic, CareTransfers } from '../../edge-agent/care/index.ts';
import { CARE_TRANSFER_METRIC, CareTransferRouter, unknownClinicReason } from '../../central/care-transfer/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { addResident } from '../devices/helpers.ts';

t.test('migration to an unknown clinic: central refuses with a reason that reaches the sender', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('care-transfer-unknown');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const a = clinicName('tua');
  const b = clinicName('tub');
  const edgeA = await edgeInProcess(ns.url, a, `${tmp.dir}/a`, { clinicName: '新华社区卫生服务中心' });
  const edgeB = await edgeInProcess(ns.url, b, `${tmp.dir}/b`);
  t.teardown(async () => { await edgeA.stop(); await edgeB.stop(); await central.stop(); });
  const router = new CareTransferRouter(central.wh, central.log);
  const actor = { username: 'dr.li', ip: '127.0.0.1' };
  const sA = careByClinic.get(a)!;
  const trA = () => new CareTransfers(careByClinic.get(a)!);
  const unknown = 'c99-nowhere';

  addResident(edgeA, 'r-u1', '周文', '19600101', '011');
  const rec = sA.createHealthRecord({ residentId: 'r-u1', currentAddress: '新华路 1 号' }, actor);
  sA.migrateRecord(rec.healthRecordNo, unknown, '迁居', actor);
  t.equal(sA.get('health_record', rec.healthRecordNo)!.status, 'migrated');
  const reason = unknownClinicReason(unknown);

  await waitFor('central refused the offer', async () => (await router.transfers()).some((x) => x.healthRecordNo === rec.healthRecordNo && x.status === 'refused'));
  t.match((await router.transfers()).find((x) => x.healthRecordNo === rec.healthRecordNo), { fromClinic: a, toClinic: unknown, status: 'refused', reason });
  await waitFor('the sender learned the refusal', () => sA.get('health_record', rec.healthRecordNo)?.status === 'active');
  const out = trA().outgoing().find((x) => x.healthRecordNo === rec.healthRecordNo)!;
  t.same([out.status, out.reason], ['refused', reason], 'refused with central\'s reason');
  t.equal(sA.get('health_record', rec.healthRecordNo)!.migratedToClinicId, undefined, 'no migration left on the active record');

  // The reason is on the sender's 迁出 list.
  edgeA.accounts.create({ username: 'dr.li', displayName: '李医生', role: 'doctor', password: 'Doctor-Pass-2026' }, 'test', 'local');
  const login = await fetch(`${edgeA.http.url}/login`, { method: 'POST', body: new URLSearchParams({ username: 'dr.li', password: 'Doctor-Pass-2026' }), redirect: 'manual' });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  t.ok(cookie.includes('='), 'signed in');
  const html = await (await fetch(`${edgeA.http.url}/care/transfers`, { headers: { cookie } })).text();
  t.ok(html.includes(reason), 'the UI shows central\'s reason');

  const metrics = await (await fetch(`${central.http.url}/metrics`)).text();
  t.match(metrics, new RegExp(`^${CARE_TRANSFER_METRIC}\\{outcome="refused_unknown_clinic"\\} 1$`, 'm'), 'counted in central\'s metrics');

  // With the code corrected, the same record goes to a known clinic (B: its edge has connected,
  // nothing written yet) and waits there for B's decision.
  sA.migrateRecord(rec.healthRecordNo, b, '迁居', actor);
  await waitFor('B received the offer', () => new CareTransfers(careByClinic.get(b)!).incoming('pending').length === 1);
  t.match((await router.transfers()).find((x) => x.healthRecordNo === rec.healthRecordNo && x.toClinic === b), { status: 'offered' });
  t.match(await (await fetch(`${central.http.url}/metrics`)).text(), new RegExp(`^${CARE_TRANSFER_METRIC}\\{outcome="offered"\\} 1$`, 'm'));
});
