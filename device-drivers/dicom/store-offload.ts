/**
 * The store worker, main-thread side. With several associations receiving at once the SCP's
 * main thread was the limit (event-loop utilisation ~0.8 with four storescu processes on two
 * cores): per instance it hashed 512 KB, dispatched the temp file's writes, fsync, rename and
 * directory flush, and ran the Writable machinery around them. A `RemoteSink` takes the
 * P-DATA values of one C-STORE data set instead, copies them into batches of `BATCH` bytes
 * and transfers each batch (no copy) to the worker (`store-worker.ts`), which runs the same
 * InstanceSink + `publishTemp` as the main thread would. The main thread keeps the socket, the
 * PDU framing and checks, onInstance (the index) and the response: the device still gets
 * success only after the file, its rename and the index row are durable.
 *
 * Memory stays bounded: at most `MAX_UNACKED` bytes of one data set are sent and not yet taken
 * by the worker's sink (which has its own bound on bytes queued to the disk); past that `write`
 * returns false and the association's socket is paused until `drained()`.
 *
 * If the worker dies, every store it held fails with 0xA700 (out of resources: the device
 * sends it again) and new stores run on the main thread.
 */
import { Worker } from 'node:worker_threads';
import { workerBootstrap } from '../../contracts/runtime/ts-worker.ts';
import type { DicomLogger } from './types.ts';
import type { PublishedInstance } from './commit-instance.ts';
import { InstanceError, StoreStatus, type SinkOptions, type StoredTemp } from './instance-sink.ts';

export interface StoreWorkerData {
  storageDir: string;
}

interface WireError { message: string; status: number; reason: string }
/**
 * `open` rides on the first message of a data set and `end` on its last, so that a 512 KB
 * instance is two messages to the worker; `refuse` opens too when nothing was sent yet.
 */
export type StoreToWorker =
  | { t: 'data'; id: number; buf: ArrayBuffer | null; len: number; open?: SinkOptions; end?: boolean }
  | { t: 'refuse'; id: number; error: WireError; open?: SinkOptions }
  | { t: 'abort'; id: number }
  | { t: 'stop' };
export type StoreFromWorker =
  | { t: 'ready' }
  | { t: 'ack'; id: number; n: number }
  | { t: 'renamed'; id: number; stored: Omit<StoredTemp, 'tempPath'>; bufs: ArrayBuffer[] }
  | { t: 'synced'; id: number; error: WireError | null }
  | { t: 'failed'; id: number; error: WireError; bufs: ArrayBuffer[] }
  | { t: 'fatal'; message: string }
  | { t: 'stopped' };

/**
 * P-DATA values are gathered into transfers of this size: a 512 KB instance is two messages
 * (each message wakes the other thread, which on two cores often means a context switch).
 */
const BATCH = 512 * 1024;
/**
 * Bytes of one data set sent to the worker and not yet taken by its sink. The worker
 * acknowledges every `ACK_EVERY` bytes taken (not every batch: each message wakes a thread).
 */
const MAX_UNACKED = 4 * 1024 * 1024;
export const ACK_EVERY = 1024 * 1024;

/**
 * Batch buffers come back with the instance's outcome (every write from them has completed by
 * then) and are filled again: fresh memory costs a page fault per 4 KiB on first touch, which
 * made the copy the main thread's largest item (~12% of its time with four associations).
 */
const POOL_MAX = 32;

const toError = (e: WireError) => new InstanceError(e.message, e.status, e.reason as InstanceError['reason']);

/** One C-STORE data set whose file side runs in the store worker. */
export class RemoteSink {
  /** Settles as `publishTemp` does in the worker. */
  readonly published: Promise<PublishedInstance>;
  /** Settles once the worker holds nothing of this instance any more (stored, or its temp file removed). */
  readonly settled: Promise<void>;
  destroyed = false;
  private ended = false;
  private batch: Buffer | null = null;
  private batchLen = 0;
  private unacked = 0;
  private received = 0;
  private drainWaiters: (() => void)[] = [];
  /** Sink options not yet sent: they go with the first message. */
  private openOpts: SinkOptions | null;
  private resolvePublished!: (p: PublishedInstance) => void;
  private rejectPublished!: (e: Error) => void;
  private resolveDurable: (() => void) | null = null;
  private rejectDurable: ((e: Error) => void) | null = null;
  private resolveSettled!: () => void;

  readonly transferSyntaxUid: string;
  readonly sopInstanceUid: string;
  private readonly maxInstanceBytes: number;

  constructor(private readonly owner: StoreWorker, readonly id: number, opts: SinkOptions, private readonly onTooLarge: () => void) {
    this.openOpts = opts;
    this.transferSyntaxUid = opts.transferSyntaxUid;
    this.sopInstanceUid = opts.sopInstanceUid;
    this.maxInstanceBytes = opts.maxInstanceBytes;
    this.published = new Promise((res, rej) => {
      this.resolvePublished = res;
      this.rejectPublished = rej;
    });
    this.published.catch(() => {}); // observed by completeCommit, or by nobody after an abort
    this.settled = new Promise((r) => (this.resolveSettled = r));
  }

  /** Takes a P-DATA value (copied: the caller's views into socket chunks are not kept). False: wait for `drained()`. */
  write(part: Buffer): boolean {
    if (this.destroyed || this.ended) return true;
    this.received += part.length;
    if (this.received > this.maxInstanceBytes) {
      this.onTooLarge();
      return true;
    }
    let off = 0;
    while (off < part.length) {
      // An ArrayBuffer of its own (not Node's shared pool), so that it can be transferred.
      this.batch ??= this.owner.takeBuffer();
      const n = part.copy(this.batch, this.batchLen, off);
      this.batchLen += n;
      off += n;
      if (this.batchLen === BATCH) this.flush(false);
    }
    return this.unacked <= MAX_UNACKED;
  }

  drained(): Promise<void> {
    if (this.destroyed || this.unacked <= MAX_UNACKED) return Promise.resolve();
    return new Promise((r) => this.drainWaiters.push(r));
  }

  end(): void {
    if (this.destroyed || this.ended) return;
    this.ended = true;
    this.flush(true);
  }

  refuse(e: InstanceError): void {
    this.owner.post({ t: 'refuse', id: this.id, error: { message: e.message, status: e.status, reason: e.reason }, ...this.takeOpen() });
  }

  private takeOpen(): { open?: SinkOptions } {
    const o = this.openOpts;
    this.openOpts = null;
    return o ? { open: o } : {};
  }

  /** Abandons the transfer: the worker removes the temp file. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.batch = null;
    this.wakeDrain();
    if (this.ended) return;
    // Nothing sent yet: the worker never heard of it (no file), only the settled promise is owed.
    if (this.openOpts) {
      this.openOpts = null;
      this.rejectPublished(new InstanceError('transfer aborted', StoreStatus.OutOfResources, 'aborted'));
      this.resolveSettled();
      this.owner.forget(this.id);
      return;
    }
    this.owner.post({ t: 'abort', id: this.id });
  }

  private flush(end: boolean): void {
    const len = this.batchLen;
    if (!len && !end) return;
    const buf = len ? (this.batch!.buffer as ArrayBuffer) : null;
    this.batch = null;
    this.batchLen = 0;
    this.unacked += len;
    this.owner.post({ t: 'data', id: this.id, buf, len, ...this.takeOpen(), ...(end ? { end: true } : {}) }, buf ? [buf] : undefined);
  }

  private wakeDrain(): void {
    const w = this.drainWaiters;
    this.drainWaiters = [];
    for (const r of w) r();
  }

  /** From the worker. */
  onMessage(m: StoreFromWorker): void {
    switch (m.t) {
      case 'ack':
        this.unacked -= m.n;
        if (this.unacked <= MAX_UNACKED) this.wakeDrain();
        return;
      case 'renamed': {
        this.owner.giveBuffers(m.bufs);
        const durable = new Promise<void>((res, rej) => {
          this.resolveDurable = res;
          this.rejectDurable = rej;
        });
        durable.catch(() => {});
        this.resolvePublished({ stored: m.stored, renameDurable: durable });
        return;
      }
      case 'synced':
        if (m.error) this.rejectDurable?.(toError(m.error));
        else this.resolveDurable?.();
        this.resolveSettled();
        return;
      case 'failed':
        this.owner.giveBuffers(m.bufs);
        this.rejectPublished(toError(m.error));
        this.resolveSettled();
        return;
    }
  }

  /** The worker is gone: nothing more will come. The rest of the data set is discarded, the store fails. */
  lost(e: Error): void {
    this.destroyed = true;
    this.batch = null;
    const ie = new InstanceError(`store worker failed: ${e.message}`, StoreStatus.OutOfResources, 'io', { cause: e });
    this.rejectPublished(ie);
    this.rejectDurable?.(ie);
    this.wakeDrain();
    this.resolveSettled();
  }
}

/**
 * One worker thread per SCP. `mode`: 'eager' starts it with the SCP; 'lazy' when a second
 * association is accepted (loading it costs CPU a clinic whose devices never overlap need not
 * pay); until it is ready, stores run on the main thread.
 */
export class StoreWorker {
  private worker: Worker | null = null;
  private isReady = false;
  private started = false;
  private readonly sinks = new Map<number, RemoteSink>();
  private nextId = 1;
  private ready: Promise<void> = Promise.resolve();
  private markReady: () => void = () => {};
  private exited: Promise<void> = Promise.resolve();
  private readonly pool: ArrayBuffer[] = [];

  constructor(private readonly data: StoreWorkerData, private readonly log: DicomLogger) {}

  get state(): 'starting' | 'ready' | 'stopped' {
    return this.usable ? 'ready' : this.started && this.worker ? 'starting' : 'stopped';
  }

  /** True once the worker can take stores. */
  get usable(): boolean {
    return this.isReady && this.worker !== null;
  }

  /** Starts the worker (once); resolves when it is ready, or failed (then stores stay on the main thread). */
  start(): Promise<void> {
    if (this.started) return this.ready;
    this.started = true;
    const w = new Worker(workerBootstrap(new URL('./store-worker.ts', import.meta.url)), { eval: true, workerData: this.data });
    this.worker = w;
    this.ready = new Promise((r) => (this.markReady = r));
    this.exited = new Promise((r) => w.once('exit', () => r()));
    w.on('message', (m: StoreFromWorker) => {
      if (m.t === 'ready') {
        this.isReady = true;
        this.markReady();
      } else if (m.t === 'fatal') this.lose(w, new Error(m.message));
      else if (m.t === 'stopped') return;
      else {
        const s = this.sinks.get(m.id);
        if (!s) return;
        s.onMessage(m);
        if (m.t === 'failed' || m.t === 'synced') this.sinks.delete(m.id);
      }
    });
    w.on('error', (e) => this.lose(w, e));
    w.on('exit', (code) => this.lose(w, new Error(`store worker exited with code ${code}`)));
    return this.ready;
  }

  private lose(w: Worker, e: Error): void {
    if (this.worker !== w) return;
    this.worker = null;
    this.isReady = false;
    this.log.error({ event: 'dicom.store-worker.failed', err: e.message }, 'DICOM store worker failed: storing on the main thread instead');
    void w.terminate();
    this.markReady();
    const sinks = [...this.sinks.values()];
    this.sinks.clear();
    for (const s of sinks) s.lost(e);
  }

  post(m: StoreToWorker, transfer?: ArrayBuffer[]): void {
    this.worker?.postMessage(m, transfer);
  }

  /** A sink in the worker for one data set; `onTooLarge` runs when it passes maxInstanceBytes. */
  open(opts: SinkOptions, onTooLarge: () => void): RemoteSink {
    const id = this.nextId++;
    const s = new RemoteSink(this, id, opts, onTooLarge);
    this.sinks.set(id, s);
    return s;
  }

  takeBuffer(): Buffer {
    const ab = this.pool.pop();
    return ab ? Buffer.from(ab) : Buffer.allocUnsafeSlow(BATCH);
  }

  giveBuffers(bufs: ArrayBuffer[]): void {
    for (const b of bufs) if (this.pool.length < POOL_MAX && b.byteLength === BATCH) this.pool.push(b);
  }

  /** A sink that never reached the worker. */
  forget(id: number): void {
    this.sinks.delete(id);
  }

  /** Releases the worker's directory descriptors and ends it (after the SCP's stores are settled). */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = null;
    this.isReady = false;
    if (!w) return;
    w.postMessage({ t: 'stop' } satisfies StoreToWorker);
    const t = setTimeout(() => void w.terminate(), 10_000);
    await this.exited;
    clearTimeout(t);
    const sinks = [...this.sinks.values()];
    this.sinks.clear();
    for (const s of sinks) s.lost(new Error('SCP closed'));
  }
}
