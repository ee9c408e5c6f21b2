import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

t.test('JetStream store wiped while records are in flight: edges re-send from the watermark; zero lost', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-bw');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const a = await edgeInProcess(ns.url, clinicName('bw-a'), `${tmp.dir}/a`);
  const b = await edgeInProcess(ns.url, clinicName('bw-b'), `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); await central.stop(); });

  // Stop central's consumption so records sit in the stream (acked by the broker, not applied).
  await central.ingest.stop();
  writeActivity(a, 3000, 21);
  writeActivity(b, 2000, 22);
  await waitFor('broker acknowledged everything', () => a.relay.counters.published >= 3000 && b.relay.counters.published >= 2000, 30_000);
  t.equal((await central.wh.watermark(a.config.clinicId)).appliedSeq, 0, 'nothing applied yet: all of it lives only in the broker');
  // Broker data loss: the messages it acknowledged are gone.
  await ns.kill();
  ns.wipeStore();
  await ns.restart();
  await central.ingest.start();
  const ackA = writeActivity(a, 3500, 23);
  const ackB = writeActivity(b, 2500, 24);
  await waitFor('both clinics caught up after re-send', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === ackA && (await central.wh.watermark(b.config.clinicId)).appliedSeq === ackB, 120_000);
  for (const [edge, ack] of [[a, ackA], [b, ackB]] as const) {
    const r = await setCheck(central.wh, edge.config.clinicId, ack);
    t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `${edge.config.clinicId}: acknowledged=${ack} present=${r.present}`);
    t.ok(edge.relay.counters.republished > 0, `${edge.config.clinicId} re-sent ${edge.relay.counters.republished} records`);
  }
  await waitFor('dictionaries republished to the new stream reach edges', () => Object.keys(a.store.dictionaryVersions()).length === 5, 20_000);
});
