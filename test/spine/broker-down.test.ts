import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

t.test('broker down for a while: edges keep accepting writes; after restart everything arrives once', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-bd');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const a = await edgeInProcess(ns.url, clinicName('bd-a'), `${tmp.dir}/a`);
  const b = await edgeInProcess(ns.url, clinicName('bd-b'), `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); await central.stop(); });

  writeActivity(a, 500, 11);
  writeActivity(b, 500, 12);
  await ns.stop();
  // Outage: the clinics keep working; every write commits locally without waiting.
  const t0 = Date.now();
  const ackA = writeActivity(a, 2500, 13);
  const ackB = writeActivity(b, 1500, 14);
  const writeMs = Date.now() - t0;
  await sleep(3000);
  t.ok(a.store.stats().outboxDepth > 0, `writes accepted while the broker is down (${ackA - 500} records in ${writeMs} ms at clinic A)`);
  await ns.restart();
  await waitFor('both clinics caught up', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === ackA && (await central.wh.watermark(b.config.clinicId)).appliedSeq === ackB, 90_000);
  for (const [edge, ack] of [[a, ackA], [b, ackB]] as const) {
    const r = await setCheck(central.wh, edge.config.clinicId, ack);
    t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `${edge.config.clinicId}: acknowledged=${ack} present=${r.present}, none lost or twice`);
  }
  console.log(`[broker-down] relay A: ${JSON.stringify(a.relay.counters)}`);
});
