/**
 * Runs the analytics fact refresh in a worker thread (`fact-worker.ts`) instead of on central's
 * main thread, where each fact batch (a synchronous SQLite transaction with its stored indicator
 * results) used to hold up the ingest, receipts and HTTP between two event-loop turns.
 *
 * - The worker has its own connection to the warehouse; the main thread's `Analytics` keeps
 *   serving the portal from the same tables. After each pass the worker reports what changed
 *   (`PassResult`); `onPass` drops the main engine's memory copies of changed periods and
 *   re-reads the organisation tree before any caller waiting on that pass is answered.
 * - `request()` runs a pass now (what `facts.refresh()` and `Analytics.refresh()` do while the
 *   worker runs), queued until the worker is ready.
 * - A worker that dies (uncaught exception, exit, failure to load) is logged, counted in
 *   `stats.crashes` and started again after a back-off (250 ms doubling to 30 s, reset by a
 *   good pass); central's ingest is not involved and keeps going. Passes it had been asked for
 *   are rejected. After `maxStartFailures` deaths in a row without ever becoming ready (it cannot
 *   load at all), `onGiveUp` is called so the caller can refresh on the main thread instead.
 * - `stop()` asks for one last pass (as the main-thread loop did at shutdown), then terminates the
 *   worker if it has not exited within `stopTimeoutMs` (safe: a transaction cut short rolls back).
 */
import { releaseWriteGate, writeGateBuffer } from '../warehouse/write-gate.ts';
import { Worker } from 'node:worker_threads';
import { workerBootstrap } from '../../contracts/runtime/ts-worker.ts';
import type { FactWorkerData, FactWorkerTarget, FromFactWorker, PassResult, ToFactWorker } from './worker-protocol.ts';

export interface FactWorkerLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface FactWorkerOptions {
  intervalMs: number;
  batch: number;
  /** Called with every pass's result (timer or request), before requests for it resolve. */
  onPass: (r: PassResult) => Promise<void>;
  /** A pass failed inside a healthy worker (as the main-thread loop's errors were reported). */
  onError: (e: Error) => void;
  log?: FactWorkerLog;
  onGiveUp?: (e: Error) => void;
  maxStartFailures?: number;
  stopTimeoutMs?: number;
}

type State = 'idle' | 'starting' | 'ready' | 'waiting' | 'stopping' | 'stopped' | 'given-up';

export class FactWorkerHost {
  private w: Worker | null = null;
  private state: State = 'idle';
  private ids = 0;
  /** Sent to the current worker, not yet answered. */
  private readonly inflight = new Map<number, { resolve: (r: PassResult) => void; reject: (e: Error) => void }>();
  /** Asked for while no worker was ready. */
  private queued: { warm: boolean; resolve: (r: PassResult) => void; reject: (e: Error) => void }[] = [];
  /** `load` requests sent to the current worker, not yet answered. */
  private readonly loads = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();
  private delay = 250;
  private failuresBeforeReady = 0;
  private restartTimer: NodeJS.Timeout | null = null;
  private exited: Promise<void> = Promise.resolve();
  private passChain: Promise<void> = Promise.resolve();
  readonly stats = { starts: 0, crashes: 0, passes: 0, errors: 0, lastCrash: null as string | null, lastPassAt: null as string | null, tx: { batches: 0, txMs: 0, txMaxMs: 0 } };

  constructor(private readonly target: FactWorkerTarget, private readonly opts: FactWorkerOptions) {}

  get mode(): State {
    return this.state;
  }

  /** The worker's thread id (tests). */
  get threadId(): number | null {
    return this.w?.threadId ?? null;
  }

  /** Starts the worker after `delayMs` (a pass requested earlier starts it at once). */
  startAfter(delayMs: number): void {
    if (delayMs <= 0) { this.start(); return; }
    this.restartTimer = setTimeout(() => this.start(), delayMs);
    this.restartTimer.unref();
  }

  start(): void {
    if (this.state !== 'idle' && this.state !== 'waiting') return;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.state = 'starting';
    this.stats.starts++;
    const data: FactWorkerData = { target: this.target, intervalMs: this.opts.intervalMs, batch: this.opts.batch, ...(this.target.kind === 'sqlite' ? { writeGate: writeGateBuffer() } : {}) };
    const w = new Worker(workerBootstrap(new URL('./fact-worker.ts', import.meta.url)), { eval: true, workerData: data });
    this.w = w;
    let crash: Error | null = null;
    this.exited = new Promise((res) => w.once('exit', () => res()));
    w.on('message', (m: FromFactWorker) => this.onMessage(w, m, (e) => { crash = e; }));
    w.on('error', (e) => { crash = e; });
    w.on('exit', (code) => {
      // It may have died holding the write gate: the main thread never holds it across a turn.
      if (this.target.kind === 'sqlite') releaseWriteGate();
      if (this.w !== w) return;
      this.w = null;
      if (this.state === 'stopping' || this.state === 'stopped') return;
      this.onCrash(crash ?? new Error(`fact worker exited with code ${code}`));
    });
  }

  private onMessage(w: Worker, m: FromFactWorker, setCrash: (e: Error) => void): void {
    if (this.w !== w) return;
    if (m.t === 'ready') {
      if (this.state === 'starting') this.state = 'ready';
      this.failuresBeforeReady = 0;
      for (const q of this.queued.splice(0)) this.send(q.warm, q.resolve, q.reject);
    } else if (m.t === 'refreshed') {
      this.stats.passes++;
      this.stats.lastPassAt = new Date().toISOString();
      this.delay = 250;
      const r = m.r;
      this.stats.tx = r.tx;
      // In order: a caller waiting on this pass is answered after the main thread has caught up.
      this.passChain = this.passChain.then(() => this.opts.onPass(r)).then(
        () => { if (m.id !== undefined) this.settle(m.id, r, null); },
        (e: Error) => { this.opts.onError(e); if (m.id !== undefined) this.settle(m.id, null, e); });
    } else if (m.t === 'loaded') {
      const p = this.loads.get(m.id);
      this.loads.delete(m.id);
      p?.resolve();
    } else if (m.t === 'error') {
      this.stats.errors++;
      const e = new Error(m.message);
      if (m.id !== undefined) this.settle(m.id, null, e);
      else this.opts.onError(e);
    } else if (m.t === 'fatal') {
      setCrash(new Error(`fact worker could not start: ${m.message}`));
      void w.terminate();
    }
  }

  private settle(id: number, r: PassResult | null, e: Error | null): void {
    const l = this.loads.get(id);
    if (l) { this.loads.delete(id); if (e) l.reject(e); else l.resolve(); return; }
    const p = this.inflight.get(id);
    if (!p) return;
    this.inflight.delete(id);
    if (e) p.reject(e);
    else p.resolve(r!);
  }

  private onCrash(e: Error): void {
    const wasReady = this.state === 'ready';
    this.stats.crashes++;
    this.stats.lastCrash = e.message;
    if (!wasReady) this.failuresBeforeReady++;
    for (const [, p] of this.inflight) p.reject(new Error(`fact worker died during the pass: ${e.message}`));
    this.inflight.clear();
    for (const [, p] of this.loads) p.reject(new Error(`fact worker died: ${e.message}`));
    this.loads.clear();
    const max = this.opts.maxStartFailures ?? 5;
    if (this.failuresBeforeReady >= max && this.opts.onGiveUp) {
      this.state = 'given-up';
      this.opts.log?.error({ err: e.message, crashes: this.stats.crashes }, `fact worker failed to start ${max} times in a row: refreshing facts on the main thread instead`);
      for (const q of this.queued.splice(0)) q.reject(new Error('fact worker unavailable'));
      this.opts.onGiveUp(e);
      return;
    }
    this.state = 'waiting';
    this.opts.log?.error({ err: e.message, crashes: this.stats.crashes, restartInMs: this.delay }, 'fact worker died: restarting it (central keeps ingesting)');
    this.restartTimer = setTimeout(() => this.start(), this.delay);
    this.restartTimer.unref();
    this.delay = Math.min(this.delay * 2, 30_000);
  }

  /** Runs a pass now (and warms missing stored results when `warm`). */
  request(warm = false): Promise<PassResult> {
    return new Promise((resolve, reject) => {
      if (this.state === 'ready') this.send(warm, resolve, reject);
      else if (this.state === 'starting' || this.state === 'waiting' || this.state === 'idle') {
        this.queued.push({ warm, resolve, reject });
        if (this.state === 'idle') this.start();
      }
      else reject(new Error(`fact worker is ${this.state}`));
    });
  }

  /**
   * Has the worker compute and store a fact measure's rows for a period (unless stored). Rejects
   * at once when no worker is ready (the caller then computes it itself).
   */
  load(mkey: string, period: string): Promise<void> {
    if (this.state !== 'ready') return Promise.reject(new Error(`fact worker is ${this.state}`));
    return new Promise((resolve, reject) => {
      const id = ++this.ids;
      this.loads.set(id, { resolve, reject });
      this.post({ t: 'load', id, mkey, period });
    });
  }

  private send(warm: boolean, resolve: (r: PassResult) => void, reject: (e: Error) => void): void {
    const id = ++this.ids;
    this.inflight.set(id, { resolve, reject });
    this.post({ t: 'refresh', id, warm });
  }

  private post(m: ToFactWorker): void {
    this.w?.postMessage(m);
  }

  /** Test hook: an uncaught exception inside the worker. */
  crashForTest(): void {
    this.post({ t: 'crash' });
  }

  async stop(): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    const w = this.w;
    const wasReady = this.state === 'ready';
    this.state = 'stopping';
    for (const q of this.queued.splice(0)) q.reject(new Error('fact worker stopped'));
    if (w) {
      if (wasReady) {
        this.post({ t: 'stop' });
        const t = setTimeout(() => void w.terminate(), this.opts.stopTimeoutMs ?? 10_000);
        await this.exited;
        clearTimeout(t);
      } else {
        await w.terminate();
      }
    }
    await this.passChain;
    for (const [, p] of this.inflight) p.reject(new Error('fact worker stopped'));
    this.inflight.clear();
    for (const [, p] of this.loads) p.reject(new Error('fact worker stopped'));
    this.loads.clear();
    this.w = null;
    this.state = 'stopped';
  }
}
