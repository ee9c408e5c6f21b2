/** The store worker (store-offload.ts + store-worker.ts) driven directly: stored, aborted, malformed, worker lost. */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Worker } from 'node:worker_threads';
import { StoreStatus, type InstanceError, type SinkOptions } from './instance-sink.ts';
import { StoreWorker } from './store-offload.ts';
import { buildDataset, testUid } from './test-support/dataset-builder.ts';
import { tempDir } from './test-support/harness.ts';
import { silentLogger } from './types.ts';
import { TS } from './uids.ts';

const US = '1.2.840.10008.5.1.4.1.1.6.1';

function instance(root: string, rows = 512) {
  const uid = testUid();
  const study = testUid();
  const ds = buildDataset({ sopClassUid: US, sopInstanceUid: uid, studyInstanceUid: study, seriesInstanceUid: testUid(), modality: 'US', rows, columns: rows, samplesPerPixel: 3 });
  const opts: SinkOptions = { root, transferSyntaxUid: TS.explicitLE, sopClassUid: US, sopInstanceUid: uid, callingAe: 'US_ROOM1', maxInstanceBytes: 1 << 30, maxHeaderBytes: 64 * 1024 };
  return { uid, study, ds, opts };
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile()).map((d) => d.name) : [];
}

t.test('a data set sent in pieces is stored in the worker: final name, sha256, durable rename; batch buffers come back', async (t) => {
  using d = tempDir('store-worker-');
  const w = new StoreWorker({ storageDir: d.dir }, silentLogger);
  t.teardown(() => w.stop());
  await w.start();
  t.equal(w.state, 'ready');
  for (let round = 0; round < 2; round++) {
    const { ds, opts, study, uid } = instance(d.dir);
    t.ok(ds.length > 700_000, 'more than one batch');
    const sink = w.open(opts, () => t.fail('not too large'));
    for (let o = 0; o < ds.length; o += 16_000) sink.write(ds.subarray(o, o + 16_000));
    sink.end();
    const p = await sink.published;
    await p.renameDurable;
    await sink.settled;
    t.equal(p.stored.finalPath, join(d.dir, study, `${uid}.dcm`));
    const file = readFileSync(p.stored.finalPath);
    t.ok(file.subarray(file.length - ds.length).equals(ds), 'data set byte for byte');
    t.equal(p.stored.size, file.length);
    t.equal(p.stored.sha256, createHash('sha256').update(file).digest('hex'));
    t.equal(p.stored.fields.sopInstanceUid, uid);
  }
  t.same(files(d.dir).filter((f) => f.endsWith('.tmp')), [], 'no temp file');
  const pool = (w as unknown as { pool: ArrayBuffer[] }).pool;
  t.ok(pool.length >= 1 && pool.every((b) => b.byteLength > 0), `buffers back in the pool (${pool.length})`);
});

t.test('aborted mid data set, or malformed: the worker leaves no file', async (t) => {
  using d = tempDir('store-worker-');
  const w = new StoreWorker({ storageDir: d.dir }, silentLogger);
  t.teardown(() => w.stop());
  await w.start();
  const a = instance(d.dir);
  const aborted = w.open(a.opts, () => {});
  aborted.write(a.ds.subarray(0, 600_000)); // past the header: the temp file exists
  await sleep(100);
  aborted.destroy();
  await aborted.settled;
  t.equal((await aborted.published.then(() => null, (x: InstanceError) => x))?.reason, 'aborted');
  const b = instance(d.dir, 64);
  const bad = w.open(b.opts, () => {});
  bad.write(b.ds.subarray(0, b.ds.length - 100)); // the pixel data element is 100 bytes short
  bad.end();
  const e = await bad.published.then(() => null, (x: InstanceError) => x);
  t.equal(e?.status, StoreStatus.CannotUnderstand);
  const c = instance(d.dir, 64);
  const never = w.open(c.opts, () => {});
  never.destroy(); // nothing sent: the worker never heard of it
  await never.settled;
  t.same(files(d.dir), [], 'no temp or final file');
});

t.test('the worker dies mid transfer: the store fails with 0xA700, the rest is discarded, the SCP falls back', async (t) => {
  using d = tempDir('store-worker-');
  const w = new StoreWorker({ storageDir: d.dir }, silentLogger);
  t.teardown(() => w.stop());
  await w.start();
  const a = instance(d.dir);
  const sink = w.open(a.opts, () => {});
  sink.write(a.ds.subarray(0, 600_000));
  await (w as unknown as { worker: Worker }).worker.terminate();
  const e = await sink.published.then(() => null, (x: InstanceError) => x);
  t.equal(e?.status, StoreStatus.OutOfResources, 'out of resources: the device sends it again');
  t.equal(sink.write(a.ds.subarray(600_000)), true, 'later data discarded without backpressure');
  await sink.drained();
  await sink.settled;
  t.equal(w.usable, false, 'new stores run on the main thread');
});
