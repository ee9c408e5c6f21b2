/**
 * Where the imaging index transactions run. With a file database they run in a worker thread
 * (`index-worker.ts`) holding its own SQLite connection: each group commit's fsync (WAL,
 * synchronous=FULL) then blocks that thread instead of the agent's event loop, which keeps
 * receiving the other associations' data meanwhile (and so gathers them into the next group
 * commit). The durability contract is unchanged: `index()` resolves after the COMMIT holding
 * the instance's row (and its study record) is durable; SQLite only makes a FULL commit visible
 * to readers, the relay included, after its fsync.
 *
 * In memory, or if the worker cannot start or dies, the same code runs on the main thread with
 * the agent's connection (loudly); a job the worker had not answered is run again there
 * (indexing is an upsert: at worst the study gets one more record version).
 */
import { Worker } from 'node:worker_threads';
import { workerBootstrap } from '../../contracts/runtime/ts-worker.ts';
import type { InstanceMeta } from '../../device-drivers/dicom/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { EdgeStore } from '../store/store.ts';
import { flushDueStudies, indexInstance, RenameMarks } from './ingest.ts';
import type { ImagingRepo } from './repo.ts';

export interface IndexWorkerData {
  file: string;
  clinicId: string;
}

type Marks = [sop: string, receivedAt: string][];
export type IndexToWorker =
  | { t: 'index'; id: number; meta: InstanceMeta; quietMs: number; fileSynced: boolean; marks: Marks }
  | { t: 'flush'; id: number; quietMs: number; marks: Marks }
  | { t: 'stop' };
export type IndexFromWorker =
  | { t: 'ready' }
  | { t: 'written'; n: number }
  | { t: 'done'; id: number; ok: true; value: number }
  | { t: 'done'; id: number; ok: false; message: string }
  | { t: 'fatal'; message: string }
  | { t: 'stopped' };

type Job = Exclude<IndexToWorker, { t: 'stop' }>;
interface Waiting { job: Job; resolve: (v: number) => void; reject: (e: Error) => void }


export class IndexWriter {
  /** Renames made durable since the last job; handed to the next one (see `RenameMarks`). */
  readonly marks = new RenameMarks();
  private worker: Worker | null = null;
  /** The worker has opened its connection: jobs go to it from then on (see `index`). */
  private workerReady = false;
  private ready: Promise<void> = Promise.resolve();
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;
  private exited: Promise<void> = Promise.resolve();

  /**
   * `useWorker`: allow the worker thread. It starts on the first job that has company (two
   * associations at once), not with the agent: loading it costs ~2 CPU-seconds, which a clinic
   * whose devices never overlap (and every short-lived agent) need not pay. Until it is ready,
   * jobs run on the main thread as before.
   */
  constructor(private readonly store: EdgeStore, private readonly repo: ImagingRepo, private readonly log: Logger, private useWorker = store.file !== ':memory:') {}

  /** 'worker' while the index transactions run in the worker thread. */
  get mode(): 'worker' | 'main' {
    return this.worker && this.workerReady ? 'worker' : 'main';
  }

  /** Starts the worker now (tests, benches) and resolves once it has its connection (or the writer fell back). */
  whenReady(): Promise<void> {
    if (this.useWorker && !this.worker) this.startWorker();
    return this.ready;
  }

  private startWorker(): void {
    const data: IndexWorkerData = { file: this.store.file, clinicId: this.store.clinicId };
    const w = new Worker(workerBootstrap(new URL('./index-worker.ts', import.meta.url)), { eval: true, workerData: data });
    this.worker = w;
    this.useWorker = false; // started once; after a failure the main thread keeps the jobs
    this.exited = new Promise((res) => w.once('exit', () => res()));
    this.ready = new Promise((res) => (this.markReady = res));
    w.on('message', (m: IndexFromWorker) => {
      if (m.t === 'ready') {
        this.workerReady = true;
        this.markReady();
      }
      else if (m.t === 'written') this.store.emit('written', m.n);
      else if (m.t === 'done') {
        const job = this.waiting.get(m.id);
        if (!job) return;
        this.waiting.delete(m.id);
        if (m.ok) job.resolve(m.value);
        else job.reject(new Error(m.message));
      } else if (m.t === 'fatal') this.fallBack(w, new Error(m.message));
    });
    w.on('error', (e) => this.fallBack(w, e));
    w.on('exit', (code) => this.fallBack(w, new Error(`imaging index worker exited with code ${code}`)));
  }

  /** Settles `ready` (also on fall-back, so that a start-up never waits for a dead worker). */
  private markReady: () => void = () => {};

  /** The worker failed or exited: index on the main thread from now on, and run again what it had not answered. */
  private fallBack(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.workerReady = false;
    this.log.error({ err: e.message }, 'imaging index worker failed: indexing on the main thread instead');
    void w.terminate();
    this.markReady();
    const jobs = [...this.waiting.values()];
    this.waiting.clear();
    for (const j of jobs) this.runHere(j.job).then(j.resolve, j.reject);
  }

  private runHere(job: Job): Promise<number> {
    for (const [sop, at] of job.marks) this.marks.add(sop, at);
    if (job.t === 'index') return indexInstance(this.store, this.repo, job.meta, job.quietMs, job.fileSynced, this.marks).then(() => 0);
    return this.store.transactAsync((tx) => { this.marks.flush(tx.db); return flushDueStudies(tx, job.quietMs); });
  }

  private submit(job: Job): Promise<number> {
    const w = this.worker;
    if (!w || !this.workerReady) return this.runHere(job);
    return new Promise<number>((resolve, reject) => {
      this.waiting.set(job.id, { job, resolve, reject });
      w.postMessage(job);
    });
  }

  /**
   * `indexInstance` (index + match + study record); resolves once its commit is durable.
   * `alone`: no other association is receiving. Then nothing else needs the event loop during
   * the commit's fsync, and the worker's round trip (two thread wake-ups per instance) would only
   * add latency to the one device waiting: the commit runs here, provided the worker holds no
   * transaction (no job in flight), so the two connections never wait on each other's lock.
   */
  async index(meta: InstanceMeta, quietMs: number, fileSynced: boolean, alone = false): Promise<void> {
    // The device object carries nothing the index needs; keep the message plain data.
    const job: Job = { t: 'index', id: this.nextId++, meta: { ...meta, device: { ...meta.device } }, quietMs, fileSynced, marks: this.marks.take() };
    if (!alone && this.useWorker && !this.worker) this.startWorker();
    if (alone && this.waiting.size === 0) {
      this.inlineJobs++;
      await this.runHere(job);
      return;
    }
    await this.submit(job);
  }

  /** Index jobs committed on the main thread because their association was alone (see `index`). */
  inlineJobs = 0;

  /** `flushDueStudies` (and pending rename marks); resolves with how many records were emitted. */
  flushStudies(quietMs: number): Promise<number> {
    return this.submit({ t: 'flush', id: this.nextId++, quietMs, marks: this.marks.take() });
  }

  /** Waits for the worker's pending commits, then closes its connection. */
  async stop(): Promise<void> {
    const w = this.worker;
    this.useWorker = false;
    if (!w) return;
    this.worker = null;
    this.workerReady = false;
    w.postMessage({ t: 'stop' } satisfies IndexToWorker);
    const t = setTimeout(() => void w.terminate(), 10_000);
    await this.exited;
    clearTimeout(t);
    // Anything unanswered (terminated): run it here, the store is still open.
    const jobs = [...this.waiting.values()];
    this.waiting.clear();
    for (const j of jobs) await this.runHere(j.job).then(j.resolve, j.reject);
  }
}
