/**
 * The write gate between central's threads: a writer waits while another thread holds it and
 * runs the moment it is released; a holder that dies is released by the host. The other thread
 * here is a plain-JS worker speaking the same protocol (an Int32 cell: 0 free, 1 held).
 */
import t from 'tap';
import { Worker } from 'node:worker_threads';
import { joinWriteGate, releaseWriteGate, withWriteGate, writeGateBuffer, writeGateStats } from './write-gate.ts';

// The worker takes the gate, marks cell[1] = 1 ("inside"), waits until told to leave (cell[2]),
// marks cell[1] = 2 ("left") and releases, unless workerData.die: then it exits holding it.
const HOLDER = `
const { workerData, parentPort } = require('node:worker_threads');
const gate = new Int32Array(workerData.gate);
const ctl = new Int32Array(workerData.ctl);
while (Atomics.compareExchange(gate, 0, 0, 1) !== 0) Atomics.wait(gate, 0, 1, 50);
Atomics.store(ctl, 0, 1);
parentPort.postMessage('holding');
if (workerData.die) process.exit(0);
while (Atomics.load(ctl, 1) === 0) Atomics.wait(ctl, 1, 0, 50);
Atomics.store(ctl, 0, 2);
Atomics.store(gate, 0, 0);
Atomics.notify(gate, 0);
`;

function holder(gate: SharedArrayBuffer, die: boolean) {
  const ctl = new Int32Array(new SharedArrayBuffer(8));
  const w = new Worker(HOLDER, { eval: true, workerData: { gate, ctl: ctl.buffer, die } });
  const holding = new Promise<void>((res) => w.once('message', () => res()));
  const exited = new Promise<void>((res) => w.once('exit', () => res()));
  return { ctl, holding, exited, leave: () => { Atomics.store(ctl, 1, 1); Atomics.notify(ctl, 1); } };
}

t.test('no gate joined: the transaction just runs', async (t) => {
  t.equal(withWriteGate(() => 42), 42);
});

t.test('a writer waits while another thread holds the gate and runs right after it leaves', async (t) => {
  const buf = writeGateBuffer();
  joinWriteGate(buf);
  const h = holder(buf, false);
  await h.holding;
  // Tell the holder to leave a little later, from another thread's point of view: the main
  // thread is about to block in the gate, so the signal comes from a timer thread (a worker).
  const nudge = new Worker(`const { workerData } = require('node:worker_threads'); const c = new Int32Array(workerData); setTimeout(() => { Atomics.store(c, 1, 1); Atomics.notify(c, 1); }, 100);`, { eval: true, workerData: h.ctl.buffer });
  const waitedBefore = writeGateStats.waited;
  const seen = withWriteGate(() => Atomics.load(h.ctl, 0));
  t.equal(seen, 2, 'ran only after the holder had left (never while it was inside)');
  t.equal(writeGateStats.waited, waitedBefore + 1, 'counted as a wait');
  await h.exited;
  await nudge.terminate();
  t.equal(Atomics.load(new Int32Array(buf), 0), 0, 'free again afterwards');
});

t.test('a holder that dies: the host releases the gate and the next writer does not give up', async (t) => {
  const buf = writeGateBuffer();
  joinWriteGate(buf);
  const h = holder(buf, true);
  await h.holding;
  await h.exited;
  t.equal(Atomics.load(new Int32Array(buf), 0), 1, 'the dead worker left it held');
  releaseWriteGate();
  const gaveUp = writeGateStats.gaveUp;
  t.equal(withWriteGate(() => 'ok'), 'ok');
  t.equal(writeGateStats.gaveUp, gaveUp, 'no 5 s give-up needed');
});

t.test('an exception inside the transaction releases the gate', async (t) => {
  const buf = writeGateBuffer();
  joinWriteGate(buf);
  t.throws(() => withWriteGate(() => { throw new Error('constraint failed'); }), /constraint failed/);
  t.equal(Atomics.load(new Int32Array(buf), 0), 0);
});
