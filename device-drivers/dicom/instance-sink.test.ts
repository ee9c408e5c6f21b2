import t from 'tap';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { finished } from 'node:stream/promises';
import { setImmediate as tick } from 'node:timers/promises';
import { join } from 'node:path';
import { InstanceSink, StoreStatus } from './instance-sink.ts';
import { buildDataset, testUid } from './test-support/dataset-builder.ts';
import { tempDir } from './test-support/harness.ts';
import { TS } from './uids.ts';

const US = '1.2.840.10008.5.1.4.1.1.6.1';

function setup(dir: string, over: { maxInstanceBytes?: number } = {}) {
  const uid = testUid();
  const study = testUid();
  const ds = buildDataset({ sopClassUid: US, sopInstanceUid: uid, studyInstanceUid: study, seriesInstanceUid: testUid(), modality: 'US', rows: 128, columns: 128 });
  const sink = new InstanceSink({ root: dir, transferSyntaxUid: TS.explicitLE, sopClassUid: US, sopInstanceUid: uid, callingAe: 'X', maxInstanceBytes: over.maxInstanceBytes ?? 1 << 20, maxHeaderBytes: 4096 });
  sink.on('error', () => {});
  return { uid, study, ds, sink };
}

function files(dir: string): string[] {
  return existsSync(dir) ? readdirSync(dir, { recursive: true }).map(String) : [];
}

t.test('a completed temp file survives the stream auto-destroy', async (t) => {
  using d = tempDir('sink-');
  const { ds, sink, study, uid } = setup(d.dir);
  for (let o = 0; o < ds.length; o += 1000) sink.write(ds.subarray(o, o + 1000));
  sink.end();
  const r = await sink.done;
  await finished(sink).catch(() => {});
  await tick();
  t.ok(existsSync(r.tempPath), 'still there after finish + destroy');
  t.equal(r.finalPath, join(d.dir, study, `${uid}.dcm`));
  t.ok(readFileSync(r.tempPath).subarray(-ds.length).equals(ds));
  t.equal(r.size, readFileSync(r.tempPath).length);
});

t.test('truncated data set: rejected, no file', async (t) => {
  using d = tempDir('sink-');
  const { ds, sink } = setup(d.dir);
  sink.end(ds.subarray(0, ds.length - 10));
  await t.rejects(sink.done, { name: 'InstanceError', status: StoreStatus.CannotUnderstand, reason: 'bad-dataset' });
  await tick();
  t.same(files(d.dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.dcm')), []);
});

t.test('destroyed mid-way (peer gone): rejected, no file', async (t) => {
  using d = tempDir('sink-');
  const { ds, sink } = setup(d.dir);
  sink.write(ds.subarray(0, ds.length / 2));
  await tick();
  sink.destroy();
  // `done` rejects only once the temp file (even one still being created) is gone
  await t.rejects(sink.done, { name: 'InstanceError', reason: 'aborted' });
  t.same(files(d.dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.dcm')), []);
});

t.test('too large: flagged, rest discarded, no file', async (t) => {
  using d = tempDir('sink-');
  const { ds, sink } = setup(d.dir, { maxInstanceBytes: 5000 });
  let flagged = false;
  sink.once('too-large', () => (flagged = true));
  sink.end(ds);
  await t.rejects(sink.done, { name: 'InstanceError', status: StoreStatus.OutOfResources, reason: 'too-large' });
  t.ok(flagged);
  t.same(files(d.dir).filter((f) => f.endsWith('.tmp') || f.endsWith('.dcm')), []);
});

t.test('SOP instance UID in the data set must match the command', async (t) => {
  using d = tempDir('sink-');
  const { ds } = setup(d.dir);
  const sink = new InstanceSink({ root: d.dir, transferSyntaxUid: TS.explicitLE, sopClassUid: US, sopInstanceUid: '1.2.3', callingAe: 'X', maxInstanceBytes: 1 << 20, maxHeaderBytes: 4096 });
  sink.end(ds);
  await t.rejects(sink.done, { name: 'InstanceError', reason: 'mismatch' });
});
