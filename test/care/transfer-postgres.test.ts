/**
 * Health-record migration routed by central with its warehouse on PostgreSQL (the routing
 * tables are created on both backends): offer to the receiver, acceptance back to the sender.
 */
import t from 'tap';
import { startCentral } from '../../central/app.ts';
import { loadCentralConfig } from '../../central/config.ts';
import { CareTransferRouter } from '../../central/care-transfer/index.ts';
import type { PostgresWarehouse } from '../../central/warehouse/postgres.ts';
import { careByClinic, CareTransfers } from '../../edge-agent/care/index.ts';
import { createTestDatabase } from '../central/postgres.ts';
import { addResident } from '../devices/helpers.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, quietLog, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';

t.test('health-record migration with central on PostgreSQL', async (t) => {
  await using ns = await startNatsServer();
  const db = await createTestDatabase('wh_care_transfer');
  const tmp = tempDir('care-transfer-pg');
  t.teardown(tmp.cleanup);
  const central = await startCentral<PostgresWarehouse>(loadCentralConfig({ dataDir: `${tmp.dir}/central`, natsUrl: ns.url, apiToken: 'test-token-0123456789', warehouse: 'postgres', pgUrl: db.url }, {}), quietLog());
  const a = clinicName('tpa'); const b = clinicName('tpb');
  const edgeA = await edgeInProcess(ns.url, a, `${tmp.dir}/a`);
  const edgeB = await edgeInProcess(ns.url, b, `${tmp.dir}/b`);
  t.teardown(async () => { await edgeA.stop(); await edgeB.stop(); await central.stop(); await db.drop(); });
  const actor = { username: 'dr.li', ip: '127.0.0.1' };
  const sA = careByClinic.get(a)!;
  addResident(edgeA, 'r-p1', '郑秀英', '19560101', '042');
  const rec = sA.createHealthRecord({ residentId: 'r-p1' }, actor);
  sA.migrateRecord(rec.healthRecordNo, b, '迁居', actor);
  const trB = () => new CareTransfers(careByClinic.get(b)!);
  await waitFor('B received the offer', () => trB().incoming('pending').length === 1, 60_000);
  const { residentId } = trB().accept(trB().incoming('pending')[0]!.transferId, { username: 'dr.zhang', ip: '127.0.0.1' });
  t.equal(careByClinic.get(b)!.get('health_record', rec.healthRecordNo)!.residentId, residentId);
  await waitFor('A learned the acceptance', () => new CareTransfers(sA).outgoing()[0]?.status === 'accepted', 60_000);
  const routed = await new CareTransferRouter(central.wh, central.log).transfers();
  t.same(routed.map((x) => [x.fromClinic, x.toClinic, x.status]), [[a, b, 'accepted']], 'routed once on PostgreSQL');
});
