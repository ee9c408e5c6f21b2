/**
 * Central's SQLite ingest is pipelined (`ingestPipelined`): a batch commits without its fsync and
 * the WAL is flushed on the thread pool while the next batch is applied. These tests hold and
 * fail that flush (a stand-in for the fsync) to prove the order the spine relies on: no ack and
 * no receipt before the flush, a failed flush leaves the messages to be redelivered, and nothing
 * is applied twice.
 */
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { GroupFsync } from '../../contracts/runtime/kept-fd.ts';
import { STREAMS, subjects, type Receipt } from '../../contracts/index.ts';
import { Ingest } from '../../central/ingest/consumer.ts';
import { INGEST_DURABLE } from '../../central/ingest/streams.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, quietLog, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

type Cb = (err: NodeJS.ErrnoException | null) => void;

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

t.test('pipelined ingest: no ack and no receipt before the flush; a failed flush is redelivered and applied once', async (t) => {
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

  // The disk reports an error: nothing is acknowledged; JetStream redelivers after the nak delay.
  flush.release(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }));
  await waitFor('the redelivered batch asks for a flush of its own', () => flush.held.length > 0, 30_000);
  t.equal(receipts.length, 0, 'still no receipt: the failed flush settled nothing');
  flush.open();
  t.equal((await wm).appliedSeq, last, 'the watermark read returns once flushed');
  await waitFor('the receipt covers everything', () => receipts.some((r) => r.appliedSeq === last), 30_000);
  await waitFor('every message acknowledged', async () => (await ackPending()) === 0, 30_000);
  t.equal(await wh.countRecords(clinic), last, 'applied once each, redelivery included');
  t.same(await wh.appliedSeqs(clinic), Array.from({ length: last }, (_, i) => i + 1), 'in order, no gap, no duplicate');
  t.equal(ingest.failures, 1, 'the failed flush is counted');
  console.log(`[pipelined] ${last} records; flushes ${flush.flushes}; receipts ${receipts.length}`);
});
