/**
 * The relay: publishes outbox rows to JetStream with `Nats-Msg-Id = clinicId:seq` (loop in
 * `relay-core.ts`). With `connection` options and a file database it runs in a worker
 * thread with its own SQLite and NATS connections (`relay-worker.ts`), so the clinic's
 * writes (fsync on the main thread) and publishing do not wait for each other; otherwise,
 * or if the worker cannot start, it runs on the main thread with the agent's connection.
 *
 * Receipts are handled here, on the writer's side: the newest watermark is persisted and
 * the outbox trimmed at most every `receiptFlushMs`, so the main thread stays the only writer.
 * Writes never wait for the relay.
 */
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';
import { workerBootstrap } from '../../contracts/runtime/ts-worker.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsSource } from '../../contracts/runtime/nats-link.ts';
import { subjects } from '../../contracts/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { EdgeStore } from '../store/store.ts';
import { AckPublisher } from './publisher.ts';
import { ReceiptMonitor } from './receipt-monitor.ts';
import { RelayCore, defaultRelayOptions, type RelayCounters, type RelayOptions, type RelayState } from './relay-core.ts';
import { outboxSource } from './outbox-source.ts';
import { reseedOutbox, ReseedRefused, type ReseedResult } from './reseed.ts';
import { trackLink, type LinkState } from './link-state.ts';
import type { FromWorker, RelayConnection, RelayWorkerData, ToWorker } from './relay-protocol.ts';

export { defaultRelayOptions, type RelayCounters, type RelayOptions, type RelayState } from './relay-core.ts';
export type { RelayConnection } from './relay-protocol.ts';

export interface RelayConfig extends Partial<RelayOptions> {
  /** Run in a worker thread with its own NATS connection made with these options. */
  connection?: RelayConnection;
}

export class Relay extends EventEmitter {
  private readonly opts: RelayOptions;
  private readonly connection?: RelayConnection;
  private core: RelayCore | null = null;
  private publisher: AckPublisher | null = null;
  private link: LinkState | null = null;
  private worker: Worker | null = null;
  private workerReady = false;
  private workerExited: Promise<void> = Promise.resolve();
  private kickQueued = false;
  private readyWaiters: (() => void)[] = [];
  /**
   * Holds the newest watermark received (persisted by flushReceipt, at most every
   * receiptFlushMs) and tells a stale receipt (out of order, harmless) from central having lost
   * applied records.
   */
  private readonly receipts: ReceiptMonitor;
  private get receiptSeen(): number {
    return this.receipts.held;
  }
  private receiptTimer: NodeJS.Timeout | null = null;
  private running = false;
  private mirrorState: RelayState = 'disconnected';
  /** The worker's counters as last reported (every 250 ms and on state changes). */
  private readonly mirror: RelayCounters = { published: 0, republished: 0, publishErrors: 0, duplicatesAtBroker: 0, publishedAhead: 0 };
  lastReceiptAt: number | null = null;

  /** Since when central's receipts say it is replaying its stream below ours (null: not now). */
  private catchingUpSince: number | null = null;

  /** Receipts below the one held while central replayed its records stream after a restore. */
  get catchingUpReceipts(): number {
    return this.receipts.catchingUp;
  }

  /** Receipts that arrived below the one already held and were ignored (out of order, not a regression). */
  get staleReceipts(): number {
    return this.receipts.stale;
  }

  /** Central's receipts have stayed below the one held for the grace period (it lost applied records). */
  get centralRegressed(): boolean {
    return this.receipts.regressed(Date.now());
  }

  get state(): RelayState {
    return this.core?.state ?? this.mirrorState;
  }

  get counters(): RelayCounters {
    return this.core?.counters ?? this.mirror;
  }

  /** The agent's connection, once the hub was reached (the in-process relay needs it; the worker has its own). */
  private nc: NatsConnection | null;
  private readonly ncReady: Promise<NatsConnection>;

  constructor(private readonly store: EdgeStore, nc: NatsSource, private readonly log: Logger, config: RelayConfig = {}) {
    super();
    this.ncReady = Promise.resolve(nc);
    this.nc = nc instanceof Promise ? null : nc;
    if (nc instanceof Promise) nc.then((c) => { this.nc = c; }, () => undefined);
    const { connection, ...opts } = config;
    this.opts = { ...defaultRelayOptions, ...opts };
    this.connection = connection;
    this.receipts = new ReceiptMonitor(store.receiptSeq(), this.opts.receiptRegressionGraceMs);
  }

  /** The receipt this edge holds (the newest from central; persisted at most every receiptFlushMs). */
  get heldReceipt(): number {
    return this.receipts.held;
  }

  /** Central's watermark while its receipts stay below the one held (null: they do not). */
  get centralBehindAt(): number | null {
    return this.receipts.lastLow;
  }

  /**
   * Re-seed central after it lost applied records this edge has trimmed (sync/reseed.ts): only
   * while the regression alarm stands (receipts below ours for the grace period, central not
   * replaying). The relay stops, the outbox gets (central's watermark, our receipt] back, and
   * the relay starts again from central's watermark. Central dedups what it still holds.
   */
  async reseed(): Promise<ReseedResult> {
    const from = this.receipts.lastLow;
    if (!this.centralRegressed || from === null) {
      throw new ReseedRefused(`central has not lost records this edge trimmed (its receipts are not below ${this.receiptSeen} for ${this.opts.receiptRegressionGraceMs / 1000} s): nothing to re-seed`);
    }
    if (this.reseeding) throw new ReseedRefused('a re-seed is already running');
    let done!: () => void;
    this.reseeding = new Promise<void>((res) => (done = res));
    const wasRunning = this.running;
    try {
      if (wasRunning) await this.halt();
      const r = reseedOutbox(this.store, from);
      this.receipts.rebase(from);
      this.reseeded.rebuilt += r.rebuilt;
      this.reseeded.superseded += r.superseded;
      this.reseeded.notKept += r.notKept;
      this.reseeded.resentAtNewSeq += r.resentAtNewSeq;
      this.catchingUpSince = null;
      this.log.warn({ ...r }, `re-seeded central from seq ${r.fromSeq + 1} to ${r.toSeq}: ${r.rebuilt} records re-sent, ${r.superseded + r.notKept} seqs sent as lost (superseded ${r.superseded}, not kept ${r.notKept}), ${r.resentAtNewSeq} records without a seq sent again at new seqs`);
      this.emit('reseed', r);
      return r;
    } finally {
      // Not if the agent stopped the relay meanwhile (stop() waits for this re-seed, then halts).
      if (wasRunning && !this.stopping) this.start();
      this.reseeding = null;
      done();
    }
  }

  /** Settles when the running re-seed ends (null: none runs). */
  private reseeding: Promise<void> | null = null;
  /** stop() was called: a re-seed in progress does not start the relay again. */
  private stopping = false;
  /** Seqs put back into the outbox by re-seeds since start (metrics). */
  readonly reseeded = { rebuilt: 0, superseded: 0, notKept: 0, resentAtNewSeq: 0 };

  /** Resolves once publishing can start (the worker has its connection; at once on the main thread). */
  whenReady(): Promise<void> {
    if (this.core || this.workerReady) return Promise.resolve();
    return new Promise((res) => this.readyWaiters.push(res));
  }

  private markReady(): void {
    for (const w of this.readyWaiters.splice(0)) w();
  }

  /** 'worker' when publishing runs in its own thread. */
  get mode(): 'worker' | 'main' | 'stopped' {
    return this.worker ? 'worker' : this.core ? 'main' : 'stopped';
  }


  start(): void {
    if (this.running) return;
    this.running = true;
    this.mirrorState = 'disconnected'; // until the worker reports (a restart after a re-seed showed 'stopped')
    this.store.on('written', this.kick);
    if (this.connection && this.store.file !== ':memory:') this.startWorker(this.connection);
    else this.startInProcess();
  }

  private startInProcess(): void {
    if (!this.nc) {
      // Started (or fallen back from the worker) before the hub was reached: the outbox waits,
      // writes go on; publishing starts with the connection.
      this.ncReady.then(() => { if (this.running && !this.core && !this.worker) this.startInProcess(); }, () => undefined);
      return;
    }
    const nc = this.nc;
    this.publisher = new AckPublisher(nc, subjects.inboxPrefix(this.store.clinicId), this.opts.publishTimeoutMs);
    const link = trackLink(nc, () => this.core?.kick());
    this.link = link;
    const core = new RelayCore(this.store.clinicId, outboxSource(this.store.db), this.publisher, () => nc.isClosed(), this.log, this.opts, this.receiptSeen, undefined, link.up, this.store.durability);
    this.core = core;
    core.start();
    this.markReady();
  }

  private startWorker(connection: RelayConnection): void {
    const data: RelayWorkerData = { file: this.store.file, clinicId: this.store.clinicId, receiptSeq: this.receiptSeen, connection, opts: this.opts, durability: this.store.durability };
    const w = new Worker(workerBootstrap(new URL('./relay-worker.ts', import.meta.url)), { eval: true, workerData: data });
    this.worker = w;
    this.workerExited = new Promise((res) => w.once('exit', () => res()));
    w.on('message', (m: FromWorker) => {
      if (m.t === 'status') { this.mirrorState = m.state; Object.assign(this.mirror, m.counters); }
      else if (m.t === 'log') this.log[m.level](m.obj, `relay worker: ${m.msg}`);
      else if (m.t === 'ready') {
        this.workerReady = true;
        if (this.receiptSeen > data.receiptSeq) this.post({ t: 'receipt', seq: this.receiptSeen });
        // Rows written while the worker was starting: look at the outbox now.
        this.post({ t: 'kick' });
        this.markReady();
      } else if (m.t === 'fatal') this.fallBack(new Error(m.message));
    });
    w.on('error', (e) => this.fallBack(e));
    w.on('exit', (code) => { if (this.running && this.worker === w) this.fallBack(new Error(`relay worker exited with code ${code}`)); });
  }

  /** The worker could not start or died: publish from the main thread instead (loudly). */
  private fallBack(e: Error): void {
    if (!this.running || !this.worker) return;
    this.log.error({ err: e.message }, 'relay worker failed: publishing from the main thread instead');
    const w = this.worker;
    this.worker = null;
    this.workerReady = false;
    void w.terminate();
    this.startInProcess();
  }

  private post(m: ToWorker): void {
    this.worker?.postMessage(m);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    try {
      await this.reseeding;
      await this.halt();
    } finally {
      this.stopping = false;
    }
  }

  /** Stops publishing and persists the receipt held (stop(), and around a re-seed). */
  private async halt(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.store.off('written', this.kick);
    if (this.worker) {
      const w = this.worker;
      if (this.workerReady) {
        this.post({ t: 'stop' });
        const t = setTimeout(() => void w.terminate(), 3_000);
        await this.workerExited;
        clearTimeout(t);
      } else {
        // Still connecting: it holds nothing to flush (the worker never writes the database).
        await w.terminate();
      }
      this.worker = null;
    }
    if (this.core) {
      await this.core.stop();
      this.link?.stop();
      this.link = null;
      this.publisher?.close();
      Object.assign(this.mirror, this.core.counters);
      this.core = null;
    }
    this.flushReceipt();
    this.mirrorState = 'stopped';
  }

  /**
   * A receipt from central: everything up to `appliedSeq` is durably applied there.
   * Receipts arrive after every central batch; trimming the outbox is coalesced to one
   * write transaction per `receiptFlushMs` so the relay never competes with clinic writes.
   */
  onReceipt(appliedSeq: number, centralReplaying = false): void {
    const now = Date.now();
    this.lastReceiptAt = now;
    const verdict = this.receipts.observe(appliedSeq, now, centralReplaying);
    if (verdict !== 'catching-up') this.catchingUpSince = null;
    if (verdict === 'newer') {
      this.receiptTimer ??= setTimeout(() => this.flushReceipt(), this.opts.receiptFlushMs);
      this.emit('receipt', appliedSeq);
    } else if (verdict === 'catching-up') {
      // Central replays its records stream into a restored warehouse: it catches up on its own.
      if (this.catchingUpSince === null) {
        this.catchingUpSince = now;
        this.log.warn({ appliedSeq, held: this.receiptSeen }, 'central is replaying its records stream after a restore: its watermark is below the receipt this edge holds until the replay ends (nothing to do here)');
      }
      return;
    } else if (verdict === 'stale') {
      // Published before one we already hold (receipt-monitor.ts): nothing to do.
      return;
    } else if (verdict === 'regression') {
      // Central's watermark stayed below ours for the whole grace period: its database was
      // restored to an older point. Rows below our receipt are already trimmed; make it loud.
      this.log.error({ appliedSeq, held: this.receiptSeen }, 'central watermark is below the receipt this edge holds: central lost applied records (restored from a backup?) and its records stream no longer holds them; this outbox was trimmed on its receipts: the clinic admin re-seeds central from the 数据同步 page (从本站回补中心数据; edge-agent/sync/reseed.ts)');
      this.emit('watermark-regression', { appliedSeq, held: this.receiptSeen });
      return;
    }
    if (this.core) this.core.onReceipt(appliedSeq);
    else if (this.workerReady) this.post({ t: 'receipt', seq: appliedSeq });
  }

  /** Persist the newest receipt and trim the outbox up to it. */
  flushReceipt(): void {
    if (this.receiptTimer) clearTimeout(this.receiptTimer);
    this.receiptTimer = null;
    if (!this.store.db.open) return;
    try {
      this.store.applyReceipt(this.receiptSeen);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'could not persist receipt; will retry');
      this.receiptTimer = setTimeout(() => this.flushReceipt(), this.opts.receiptFlushMs);
    }
  }

  private kick = (): void => {
    if (this.core) { this.core.kick(); return; }
    // Coalesce: many commits in one event-loop turn need one wake-up message.
    if (this.kickQueued || !this.workerReady) return;
    this.kickQueued = true;
    setImmediate(() => { this.kickQueued = false; this.post({ t: 'kick' }); });
  };
}
