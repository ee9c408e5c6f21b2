/**
 * The relay: publishes outbox rows to JetStream with `Nats-Msg-Id = clinicId:seq`, keeps a
 * bounded window of unacknowledged publishes, backs off on failure, and re-sends everything
 * above central's applied watermark when the watermark stops advancing (a PubAck is only
 * transport: a broker crash can forget acknowledged messages). Writes never wait for it.
 */
import { EventEmitter } from 'node:events';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, type JetStreamClient } from '@nats-io/jetstream';
import { msgId, subjects } from '../../contracts/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { EdgeStore } from '../store/store.ts';

export interface RelayOptions {
  /** Max publishes awaiting a PubAck. */
  window: number;
  /** Re-send from the watermark when it has not covered a published record for this long. */
  resendAfterMs: number;
  publishTimeoutMs: number;
  /** Poll the outbox this often even without a local write signal (other writers). */
  pollMs: number;
  maxBackoffMs: number;
  receiptFlushMs: number;
}

export const defaultRelayOptions: RelayOptions = { window: 512, resendAfterMs: 10_000, publishTimeoutMs: 5_000, pollMs: 200, maxBackoffMs: 5_000, receiptFlushMs: 100 };

export type RelayState = 'connected' | 'backoff' | 'disconnected' | 'stopped';

export interface RelayCounters {
  published: number;
  republished: number;
  publishErrors: number;
  duplicatesAtBroker: number;
}

export class Relay extends EventEmitter {
  private readonly js: JetStreamClient;
  private readonly opts: RelayOptions;
  /** Next seq to publish. */
  private cursor: number;
  private inflight = 0;
  /** Highest seq ever handed to publish in this process (for resend decisions). */
  private highestSent = 0;
  private sentAt = new Map<number, number>();
  private backoffMs = 0;
  /** Newest watermark received (persisted by flushReceipt, at most every receiptFlushMs). */
  private receiptSeen: number;
  private receiptTimer: NodeJS.Timeout | null = null;
  private lastAdvanceAt = Date.now();
  /** Grows while re-sends do not help (central down), so a long outage is not a resend storm. */
  private resendIntervalMs: number;
  private backoffUntil = 0;
  private running = false;
  private wake: (() => void) | null = null;
  private loopDone: Promise<void> = Promise.resolve();
  state: RelayState = 'disconnected';
  lastReceiptAt: number | null = null;
  readonly counters: RelayCounters = { published: 0, republished: 0, publishErrors: 0, duplicatesAtBroker: 0 };

  constructor(private readonly store: EdgeStore, private readonly nc: NatsConnection, private readonly log: Logger, opts: Partial<RelayOptions> = {}) {
    super();
    this.opts = { ...defaultRelayOptions, ...opts };
    this.js = jetstream(nc, { timeout: this.opts.publishTimeoutMs });
    this.receiptSeen = store.receiptSeq();
    this.cursor = this.receiptSeen + 1;
    this.resendIntervalMs = this.opts.resendAfterMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.store.on('written', this.kick);
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.store.off('written', this.kick);
    this.kick();
    await this.loopDone;
    this.flushReceipt();
    this.state = 'stopped';
  }

  /**
   * A receipt from central: everything up to `appliedSeq` is durably applied there.
   * Receipts arrive after every central batch; trimming the outbox is coalesced to one
   * write transaction per `receiptFlushMs` so the relay never competes with clinic writes.
   */
  onReceipt(appliedSeq: number): void {
    this.lastReceiptAt = Date.now();
    if (appliedSeq > this.receiptSeen) {
      for (let s = this.receiptSeen + 1; s <= appliedSeq; s++) this.sentAt.delete(s);
      this.receiptSeen = appliedSeq;
      this.lastAdvanceAt = Date.now();
      this.resendIntervalMs = this.opts.resendAfterMs;
      if (this.cursor <= appliedSeq) this.cursor = appliedSeq + 1;
      this.receiptTimer ??= setTimeout(() => this.flushReceipt(), this.opts.receiptFlushMs);
      this.emit('receipt', appliedSeq);
    } else if (appliedSeq < this.receiptSeen) {
      // Central's watermark went backwards: its database was restored to an older point.
      // Rows below our receipt are already trimmed; make it loud, it needs an operator.
      this.log.error({ appliedSeq, held: this.receiptSeen }, 'central watermark is below the receipt this edge holds: central lost applied records (restored from backup?); run the reconciliation procedure');
      this.emit('watermark-regression', { appliedSeq, held: this.receiptSeen });
    }
    this.kick();
  }

  /** Persist the newest receipt and trim the outbox up to it. */
  flushReceipt(): void {
    if (this.receiptTimer) clearTimeout(this.receiptTimer);
    this.receiptTimer = null;
    try {
      this.store.applyReceipt(this.receiptSeen);
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'could not persist receipt; will retry');
      this.receiptTimer = setTimeout(() => this.flushReceipt(), this.opts.receiptFlushMs);
    }
  }

  private kick = (): void => {
    const w = this.wake;
    this.wake = null;
    w?.();
  };

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = null; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); resolve(); };
    });
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const now = Date.now();
      if (this.nc.isClosed()) { this.state = 'stopped'; return; }
      if (now < this.backoffUntil) {
        this.state = 'backoff';
        await this.sleep(this.backoffUntil - now);
        continue;
      }
      this.checkResend(now);
      // Refill in chunks of at least half a window: one outbox read per chunk, not per ack.
      if (this.inflight > this.opts.window / 2) {
        await this.sleep(this.opts.pollMs);
        continue;
      }
      const room = this.opts.window - this.inflight;
      const rows = room > 0 ? this.store.outboxAfter(this.cursor - 1, room) : [];
      if (rows.length === 0) {
        await this.sleep(this.opts.pollMs);
        continue;
      }
      for (const row of rows) {
        const seq = row.seq;
        this.cursor = seq + 1;
        const resend = seq <= this.highestSent;
        if (resend) this.counters.republished++;
        this.highestSent = Math.max(this.highestSent, seq);
        this.sentAt.set(seq, Date.now());
        this.inflight++;
        this.js
          .publish(subjects.record(this.store.clinicId, row.type), row.envelope, { msgID: msgId(this.store.clinicId, seq), timeout: this.opts.publishTimeoutMs })
          .then((ack) => {
            this.counters.published++;
            if (ack.duplicate) this.counters.duplicatesAtBroker++;
            this.state = 'connected';
            this.backoffMs = 0;
          })
          .catch((err: Error) => this.onPublishError(seq, err))
          .finally(() => {
            this.inflight--;
            this.kick();
          });
      }
    }
  }

  private onPublishError(seq: number, err: Error): void {
    this.counters.publishErrors++;
    // Everything from the failed seq on may be missing at the broker: rewind and back off.
    if (seq < this.cursor) this.cursor = Math.max(seq, this.receiptSeen + 1);
    this.backoffMs = Math.min(this.opts.maxBackoffMs, this.backoffMs ? this.backoffMs * 2 : 100);
    this.backoffUntil = Date.now() + this.backoffMs;
    this.state = this.nc.isClosed() ? 'stopped' : 'backoff';
    if (this.counters.publishErrors % 100 === 1) this.log.warn({ seq, err: err.message, backoffMs: this.backoffMs }, 'publish failed; will retry');
  }

  /**
   * Records were published but the watermark has not moved for a while: the broker may have
   * lost them (lazy fsync, store wiped) or central may be down. Send again from the watermark;
   * the broker de-duplicates what it still holds, central what it already applied.
   */
  private checkResend(now: number): void {
    const first = this.receiptSeen + 1;
    if (this.cursor <= first) {
      this.lastAdvanceAt = Math.max(this.lastAdvanceAt, now - 1);
      return;
    }
    const sent = this.sentAt.get(first) ?? now;
    if (!this.sentAt.has(first)) this.sentAt.set(first, now);
    if (now - Math.max(this.lastAdvanceAt, sent) < this.resendIntervalMs) return;
    this.log.warn({ fromSeq: first, toSeq: this.cursor - 1, afterMs: this.resendIntervalMs }, 'watermark not advancing: re-sending records above it');
    this.cursor = first;
    this.sentAt.clear();
    this.lastAdvanceAt = now;
    this.resendIntervalMs = Math.min(this.resendIntervalMs * 2, 300_000);
  }
}
