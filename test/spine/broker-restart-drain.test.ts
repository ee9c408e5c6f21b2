/**
 * The broker restarts twice while central drains a backlog of 30,000 records: deliveries in
 * flight at each restart are lost on the way. Central's cumulative ack must not cover them (if
 * it did, JetStream would forget them and drop the edges' re-sends as duplicates for its 2-minute
 * duplicate window); it fetches them from the stream instead. Set check: every record
 * acknowledged at an edge is present once at central, in order, and once in the stream (a
 * record acked unseen would have needed a re-send stored after the duplicate window).
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { STREAMS } from '../../contracts/index.ts';

t.test('broker restarted twice while central drains a backlog: lost deliveries are fetched, nothing lost or twice', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-brd');
  t.teardown(tmp.cleanup);
  // Central creates the streams, then is away while the clinics work: a backlog builds up.
  const first = await centralInProcess(ns.url, `${tmp.dir}/central`);
  await first.stop();
  const a = await edgeInProcess(ns.url, clinicName('brd-a'), `${tmp.dir}/a`);
  const b = await edgeInProcess(ns.url, clinicName('brd-b'), `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); });
  // 50 records per transaction: the backlog is the point, not 30,000 fsyncs at the edges.
  const ackA = writeActivity(a, 15_000, 31, 50);
  const ackB = writeActivity(b, 15_000, 32, 50);
  await waitFor('the backlog is in the stream', () => a.relay.counters.published >= ackA && b.relay.counters.published >= ackB, 120_000);

  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.teardown(() => central.stop());
  const t0 = Date.now();
  for (let i = 0; i < 2; i++) {
    await sleep(700);
    await ns.stop();
    await sleep(1500);
    await ns.restart();
  }
  await waitFor('both clinics caught up', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === ackA && (await central.wh.watermark(b.config.clinicId)).appliedSeq === ackB, 90_000);
  for (const [edge, ack] of [[a, ackA], [b, ackB]] as const) {
    const r = await setCheck(central.wh, edge.config.clinicId, ack);
    t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `${edge.config.clinicId}: acknowledged=${ack} present=${r.present}, none lost or twice`);
  }
  // Each record is in the stream once: none had to be re-sent past the duplicate window (which
  // is what a record acknowledged unseen would need: its first copy is gone for the consumer).
  const nc = await connect({ servers: ns.url, name: 'test-probe' });
  t.teardown(() => nc.close());
  const info = await (await jetstreamManager(nc)).streams.info(STREAMS.records);
  t.equal(info.state.messages, ackA + ackB, `the stream holds each record once (${info.state.messages} messages)`);
  const metrics = (await (await fetch(`${central.http.url}/metrics`)).text()).split('\n').filter((l) => l.startsWith('central_ingest_'));
  console.log(`[broker-restart-drain] caught up ${Date.now() - t0} ms after central started; ${metrics.join('; ')}`);
  // The catch-up is visible to operators: records per transaction and central's own backlog.
  const value = (name: string) => Number(metrics.find((l) => l.startsWith(`${name} `))?.split(' ')[1] ?? NaN);
  const batches = value('central_ingest_batch_records_count');
  t.ok(value('central_ingest_batch_records_sum') >= ackA + ackB, `every applied record went through a counted transaction (${value('central_ingest_batch_records_sum')} messages in ${batches} transactions)`);
  t.equal(value('central_ingest_buffered_messages'), 0, 'nothing left waiting at central once caught up');
});
