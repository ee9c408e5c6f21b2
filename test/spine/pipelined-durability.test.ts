/**
 * Central's SQLite ingest is pipelined (`ingestPipelined`): a batch commits without its fsync and
 * the WAL is flushed on the thread pool while the next batch is applied, and the consumer
 * acknowledges cumulatively (AckPolicy.All: one ack per batch). These tests hold and fail that
 * flush (a stand-in for the fsync) and the warehouse itself to prove the order the spine relies
 * on: no ack and no receipt before the flush, a failed flush or apply is retried in place with
 * nothing acknowledged meanwhile, nothing is applied twice; and a consumer made with the old
 * per-message ack policy is replaced without losing its place.
 */
import t, { type Test } from 'tap';
import { connect } from '@nats-io/transport-node';
import { AckPolicy, DeliverPolicy, jetstream, jetstreamManager } from '@nats-io/jetstream';
import { GroupFsync } from '../../contracts/runtime/kept-fd.ts';
import { STREAMS, subjects, type Receipt } from '../../contracts/index.ts';
import { Ingest, toItem } from '../../central/ingest/consumer.ts';
import { INGEST_DURABLE, ensureStreams } from '../../central/ingest/streams.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import { centralMetrics } from '../../central/metrics.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, quietLog, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

type Cb = (err: NodeJS.ErrnoException | null) => void;

/** Central's warehouse and connection without its ingest (the test drives the consumer) and one edge; torn down after the test. */
async function centralPartsAndEdge(t: Test, natsUrl: string, tag: string, resendAfterMs: number) {
  const tmp = tempDir(`spine-${tag}`);
  t.teardown(tmp.cleanup);
  const wh = new SqliteWarehouse(`${tmp.dir}/central/warehouse.db`);
  const nc = await connect({ servers: natsUrl, name: 'test-central' });
  const jsm = await jetstreamManager(nc);
  const clinic = clinicName(tag);
  const edge = await edgeInProcess(natsUrl, clinic, `${tmp.dir}/edge`, { resendAfterMs });
  t.teardown(async () => { await edge.stop(); await nc.close(); await wh.close(); });
  return { wh, nc, jsm, clinic, edge };
}

/** A flush the test completes by hand: `held` lists the callbacks of flushes started. */
function heldFlush() {
  const held: Cb[] = [];
  let flushes = 0;
  let passThrough = false;
  return {
    held,
    get flushes() { return flushes; },
    sync: (cb: Cb) => {
      flushes++;
      if (passThrough) setImmediate(() => cb(null));
      else held.push(cb);
    },
    release(err: NodeJS.ErrnoException | null = null) { for (const cb of held.splice(0)) cb(err); },
    /** From now on every flush succeeds at once. */
    open() { passThrough = true; this.release(); },
  };
}

t.test('GroupFsync: one flush in flight, requests made meanwhile share the next one, errors reach their own group', async (t) => {
  const f = heldFlush();
  const g = new GroupFsync(f.sync);
  t.notOk(g.busy);
  const a = g.request();
  const b = g.request(); // waits: a's flush is already running
  const c = g.request();
  t.equal(f.flushes, 1, 'the first request starts a flush at once');
  t.ok(g.busy);
  f.release(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
  await t.rejects(a, /EIO/, 'the failed flush rejects the request it served');
  await new Promise((r) => setImmediate(r));
  t.equal(f.flushes, 2, 'b and c share one flush');
  f.release();
  await b;
  await c;
  await g.idle();
  t.notOk(g.busy, 'idle after the last flush');
});

t.test('pipelined ingest: no ack and no receipt before the flush; a failed flush is flushed again, nothing applied twice', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-pipelined');
  t.teardown(tmp.cleanup);
  const flush = heldFlush();
  const wh = new SqliteWarehouse(`${tmp.dir}/central/warehouse.db`, { walSync: flush.sync });
  const nc = await connect({ servers: ns.url, name: 'test-central' });
  const ingest = new Ingest(nc, wh, quietLog());
  await ingest.start();
  const clinic = clinicName('pd');
  const receipts: Receipt[] = [];
  const sub = nc.subscribe(subjects.receipt(clinic), { callback: (_e, m) => { receipts.push(m.json<Receipt>()); } });
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { resendAfterMs: 60_000 });
  t.teardown(async () => {
    flush.open();
    await edge.stop();
    sub.unsubscribe();
    await ingest.stop();
    await nc.close();
    await wh.close();
  });
  const jsm = await jetstreamManager(nc);
  const ackPending = async () => (await jsm.consumers.info(STREAMS.records, INGEST_DURABLE)).num_ack_pending;

  const last = writeActivity(edge, 300, 11);
  await waitFor('all records committed at central', async () => (await wh.countRecords(clinic)) === last, 30_000);
  t.ok(flush.held.length > 0, 'their flush is still held');
  t.equal(receipts.length, 0, 'no receipt while the flush is held');
  t.equal(await ackPending(), last, 'no message acknowledged while the flush is held');
  let watermarkRead = false;
  const wm = wh.watermark(clinic).then((w) => { watermarkRead = true; return w; });
  await new Promise((r) => setTimeout(r, 200));
  t.notOk(watermarkRead, 'a watermark read (what a heartbeat receipt is built from) waits for the flush');

  // The disk reports an error: nothing is acknowledged; the consumer asks for another flush.
  flush.release(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
  await waitFor('the consumer flushes again', () => flush.held.length > 0, 30_000);
  t.equal(receipts.length, 0, 'still no receipt: the failed flush settled nothing');
  t.equal(await ackPending(), last, 'still nothing acknowledged');
  flush.open();
  t.equal((await wm).appliedSeq, last, 'the watermark read returns once flushed');
  await waitFor('the receipt covers everything', () => receipts.some((r) => r.appliedSeq === last), 30_000);
  await waitFor('every message acknowledged', async () => (await ackPending()) === 0, 30_000);
  t.equal(await wh.countRecords(clinic), last, 'applied once each');
  const info = await jsm.consumers.info(STREAMS.records, INGEST_DURABLE);
  t.equal(info.config.ack_policy, AckPolicy.All, 'cumulative acknowledgement');
  t.equal(info.ack_floor.stream_seq, info.delivered.stream_seq, 'the ack floor reached the last delivered message');
  t.same(await wh.appliedSeqs(clinic), Array.from({ length: last }, (_, i) => i + 1), 'in order, no gap, no duplicate');
  t.equal(ingest.failures, 1, 'the failed flush is counted');
  console.log(`[pipelined] ${last} records; flushes ${flush.flushes}; receipts ${receipts.length}`);
});

t.test('warehouse down: the batch is retried in place, nothing acknowledged until it applies', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-whdown');
  t.teardown(tmp.cleanup);
  const wh = new SqliteWarehouse(`${tmp.dir}/central/warehouse.db`);
  // Every write fails while the trigger exists (as a full disk or a locked file would).
  wh.db.exec("CREATE TRIGGER down BEFORE INSERT ON ingest_log BEGIN SELECT RAISE(ABORT, 'simulated: disk full'); END;");
  const nc = await connect({ servers: ns.url, name: 'test-central' });
  const ingest = new Ingest(nc, wh, quietLog());
  await ingest.start();
  const clinic = clinicName('wd');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { resendAfterMs: 60_000 });
  t.teardown(async () => { await edge.stop(); await ingest.stop(); await nc.close(); await wh.close(); });
  const jsm = await jetstreamManager(nc);
  const last = writeActivity(edge, 200, 12);
  await waitFor('two failed attempts', () => ingest.failures >= 2, 30_000);
  const during = await jsm.consumers.info(STREAMS.records, INGEST_DURABLE);
  console.log('[whdown] during', JSON.stringify({ floor: during.ack_floor, delivered: during.delivered, pending: during.num_ack_pending, failures: ingest.failures }));
  // A record that arrives ahead of its clinic's next sequence number is kept aside (pending),
  // which the simulated fault does not block: those may be settled; nothing else.
  const heldAside = (await wh.watermark(clinic)).pendingAbove;
  t.ok(during.ack_floor.stream_seq <= heldAside, `nothing acknowledged while the warehouse is down but what is kept aside durably (acknowledged ${during.ack_floor.stream_seq}, kept aside ${heldAside})`);
  t.equal(await wh.countRecords(clinic), 0, 'nothing half-written');
  t.equal((await wh.deadLetters(10)).length, 0, 'no record dead-lettered for the warehouse being down');
  wh.db.exec('DROP TRIGGER down');
  await waitFor('all applied once the warehouse is back', async () => (await wh.countRecords(clinic)) === last, 30_000);
  await waitFor('all acknowledged', async () => (await jsm.consumers.info(STREAMS.records, INGEST_DURABLE)).num_ack_pending === 0, 30_000);
  t.same(await wh.appliedSeqs(clinic), Array.from({ length: last }, (_, i) => i + 1), 'in order, no gap, no duplicate');
});

t.test('a consumer made with per-message acks (before 2026-11-29) is replaced at its ack floor', async (t) => {
  await using ns = await startNatsServer();
  const { wh, nc, jsm, clinic, edge } = await centralPartsAndEdge(t, ns.url, 'am', 60_000);
  // Central as it ran before: an explicit-ack consumer, each message applied and acknowledged alone.
  await ensureStreams(jsm);
  await jsm.consumers.delete(STREAMS.records, INGEST_DURABLE);
  await jsm.consumers.add(STREAMS.records, { durable_name: INGEST_DURABLE, ack_policy: AckPolicy.Explicit, deliver_policy: DeliverPolicy.All, ack_wait: 30_000_000_000, max_ack_pending: 20_000, max_deliver: -1 });
  const first = writeActivity(edge, 100, 13);
  const old = await jetstream(nc).consumers.get(STREAMS.records, INGEST_DURABLE);
  for (let n = 0; n < first;) {
    const m = await old.next({ expires: 5_000 });
    if (!m) continue;
    await wh.ingest([toItem(m)]);
    m.ack();
    n++;
  }
  await waitFor('old acks recorded', async () => (await jsm.consumers.info(STREAMS.records, INGEST_DURABLE)).ack_floor.stream_seq === first, 30_000);
  const last = writeActivity(edge, 250, 14);
  await waitFor('the new records are in the stream', async () => (await jsm.streams.info(STREAMS.records)).state.last_seq >= last, 30_000);

  const ingest = new Ingest(nc, wh, quietLog());
  await ingest.start();
  t.teardown(() => ingest.stop());
  await waitFor('everything applied', async () => (await wh.watermark(clinic)).appliedSeq === last, 30_000);
  const info = await jsm.consumers.info(STREAMS.records, INGEST_DURABLE);
  t.equal(info.config.ack_policy, AckPolicy.All, 'replaced by a cumulative-ack consumer');
  t.equal(info.delivered.consumer_seq, last - first, 'it started after the old floor: nothing delivered twice');
  t.same(await wh.appliedSeqs(clinic), Array.from({ length: last }, (_, i) => i + 1), 'in order, no gap, no duplicate');
});

t.test('deliveries lost on the way: fetched from the stream, never covered by an ack unseen', async (t) => {
  await using ns = await startNatsServer();
  const { wh, nc, jsm, clinic, edge } = await centralPartsAndEdge(t, ns.url, 'lost', 600_000);
  await ensureStreams(jsm);
  const last = writeActivity(edge, 300, 15);
  await waitFor('the records are in the stream', async () => (await jsm.streams.info(STREAMS.records)).state.last_seq >= last, 30_000);
  // The server delivers the first 120 and they never arrive (as when the connection drops with
  // them in flight): pulled here and dropped. The server holds them as pending for 30 s.
  const lost = 120;
  const c = await jetstream(nc).consumers.get(STREAMS.records, INGEST_DURABLE);
  const pulled = await c.fetch({ max_messages: lost, expires: 5_000 });
  let n = 0;
  for await (const _m of pulled) n++;
  t.equal(n, lost, `${lost} deliveries taken and dropped`);

  const metrics = centralMetrics(wh);
  const ingest = new Ingest(nc, wh, quietLog(), { onResult: metrics.observe });
  metrics.watchIngest(ingest);
  await ingest.start();
  t.teardown(() => ingest.stop());
  await waitFor('everything applied', async () => (await wh.watermark(clinic)).appliedSeq === last, 60_000);
  t.equal(ingest.gapFetched, lost, 'the lost ones were fetched from the stream, not waited for (the server redelivers after 30 s)');
  await waitFor('everything acknowledged', async () => (await jsm.consumers.info(STREAMS.records, INGEST_DURABLE)).ack_floor.stream_seq === last, 10_000);
  t.same(await wh.appliedSeqs(clinic), Array.from({ length: last }, (_, i) => i + 1), 'in order, no gap, no duplicate');
  t.equal(ingest.waitingOnGap, 0, 'nothing waits above the floor');
  const text = await metrics.registry.metrics();
  t.match(text, new RegExp(`central_ingest_gap_fetched_total ${lost}\\b`), 'the fetched messages are counted for the operators');
  t.match(text, /central_ingest_waiting_on_gap 0\b/, 'and nothing waits on a gap');
});
