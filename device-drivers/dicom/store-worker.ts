/**
 * The store worker thread (see `store-offload.ts`): runs the file side of C-STOREs the main
 * thread hands over (InstanceSink: structural walk, sha256, temp file writes and fsync; then
 * the rename and the directory flush), so that the main thread of an SCP receiving on several
 * associations only frames PDUs and copies P-DATA values into batches it transfers here.
 * Same code as the main thread's path (`InstanceSink`, `publishTemp`), only elsewhere.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { releaseDirHandles } from './atomic-file.ts';
import { publishTemp } from './commit-instance.ts';
import { InstanceError, InstanceSink } from './instance-sink.ts';
import { ACK_EVERY, type StoreFromWorker, type StoreToWorker, type StoreWorkerData } from './store-offload.ts';
import type { SinkOptions } from './instance-sink.ts';

const port = parentPort!;
const data = workerData as StoreWorkerData;
const post = (m: StoreFromWorker) => port.postMessage(m);
const sinks = new Map<number, InstanceSink>();

function errorOf(e: unknown): Extract<StoreFromWorker, { t: 'failed' }>['error'] {
  if (e instanceof InstanceError) return { message: e.message, status: e.status, reason: e.reason };
  return { message: (e as Error)?.message ?? String(e), status: 0xa700, reason: 'io' };
}

/** Taken by a sink and not yet acknowledged, per data set. */
const unacked = new Map<number, number>();
/**
 * The batch buffers of each data set, handed back with its outcome: by then no write from them
 * is pending (InstanceSink settles its writes before `done` settles, on every path).
 */
const buffers = new Map<number, ArrayBuffer[]>();
const takeBuffers = (id: number): ArrayBuffer[] => {
  const b = buffers.get(id) ?? [];
  buffers.delete(id);
  return b;
};

function open(id: number, opts: SinkOptions): void {
  // Synchronous writes, open and rename: this thread exists to block for them (the fsyncs stay asynchronous).
  const sink = new InstanceSink({ ...opts, syncWrites: true });
  sink.on('error', () => {}); // failures surface through sink.done
  sinks.set(id, sink);
  publishTemp(sink, true).then(
    (p) => {
      const bufs = takeBuffers(id);
      port.postMessage({ t: 'renamed', id, stored: p.stored, bufs } satisfies StoreFromWorker, bufs);
      p.renameDurable.then(() => post({ t: 'synced', id, error: null }), (e: unknown) => post({ t: 'synced', id, error: errorOf(e) }));
    },
    (e: unknown) => {
      const bufs = takeBuffers(id);
      port.postMessage({ t: 'failed', id, error: errorOf(e), bufs } satisfies StoreFromWorker, bufs);
    },
  ).finally(() => {
    sinks.delete(id);
    unacked.delete(id);
  });
}

port.on('message', (m: StoreToWorker) => {
  switch (m.t) {
    case 'data': {
      if (m.open) open(m.id, m.open);
      const sink = sinks.get(m.id);
      if (!sink || sink.destroyed || sink.writableEnded) return;
      if (m.buf && m.len) {
        // Acknowledged once the sink took the bytes (its own backpressure included), every
        // ACK_EVERY bytes: the main thread bounds what it has sent and not seen acknowledged.
        const id = m.id;
        const n = m.len;
        let list = buffers.get(id);
        if (!list) buffers.set(id, (list = []));
        list.push(m.buf);
        sink.write(Buffer.from(m.buf, 0, n), () => {
          const u = (unacked.get(id) ?? 0) + n;
          if (u >= ACK_EVERY) {
            post({ t: 'ack', id, n: u });
            unacked.set(id, 0);
          } else unacked.set(id, u);
        });
      }
      if (m.end) sink.end();
      return;
    }
    case 'refuse':
      if (m.open) open(m.id, m.open);
      sinks.get(m.id)?.refuse(new InstanceError(m.error.message, m.error.status, m.error.reason as InstanceError['reason']));
      return;
    case 'abort': {
      const sink = sinks.get(m.id);
      if (sink && !sink.writableFinished) sink.destroy();
      return;
    }
    case 'stop':
      releaseDirHandles(data.storageDir);
      post({ t: 'stopped' });
      port.close();
      return;
  }
});
post({ t: 'ready' });
