/**
 * The imaging index worker thread (see `index-writer.ts`): its own connection to the edge
 * database, running `indexInstance` and the study-record flush in `EdgeStore.transactAsync`
 * group commits. SQLite's write lock orders its transactions with the main thread's; the
 * outbox seq and HLC are re-read inside that lock (`EdgeStore.transactWith`), so records it
 * emits stay contiguous with the main thread's. The COMMIT (WAL, synchronous=FULL) and its
 * fsync block this thread only.
 *
 * Messages: see `IndexToWorker` / `IndexFromWorker` in `index-writer.ts`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { EdgeStore } from '../store/store.ts';
import { flushDueStudies, indexInstance, RenameMarks } from './ingest.ts';
import { ImagingRepo } from './repo.ts';
import type { IndexFromWorker, IndexToWorker, IndexWorkerData } from './index-writer.ts';

const data = workerData as IndexWorkerData;
const port = parentPort!;
const post = (m: IndexFromWorker) => port.postMessage(m);

try {
  const store = new EdgeStore(data.file, data.clinicId);
  // The main thread learns of new outbox rows as if its own store had written them (relay, HIS).
  store.on('written', (n: number) => post({ t: 'written', n }));
  const repo = new ImagingRepo(store.db);
  const marks = new RenameMarks();
  let pending = 0;
  let stopping = false;
  const finish = (id: number, p: Promise<number | void>) => {
    pending++;
    p.then(
      (v) => post({ t: 'done', id, ok: true, value: typeof v === 'number' ? v : 0 }),
      (e: Error) => post({ t: 'done', id, ok: false, message: e?.message ?? String(e) }),
    ).finally(() => {
      pending--;
      if (stopping && pending === 0) close();
    });
  };
  const close = () => {
    store.close();
    post({ t: 'stopped' });
    port.close();
  };
  port.on('message', (m: IndexToWorker) => {
    if (m.t === 'stop') {
      stopping = true;
      if (pending === 0) close();
      return;
    }
    for (const [sop, at] of m.marks) marks.add(sop, at);
    if (m.t === 'index') finish(m.id, indexInstance(store, repo, m.meta, m.quietMs, m.fileSynced, marks));
    else finish(m.id, store.transactAsync((tx) => { marks.flush(tx.db); return flushDueStudies(tx, m.quietMs); }));
  });
  post({ t: 'ready' });
} catch (e) {
  post({ t: 'fatal', message: String((e as Error)?.stack ?? e) });
}
