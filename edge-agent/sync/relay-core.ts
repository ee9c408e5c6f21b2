/**
 * The relay's publishing loop, independent of where it runs (the edge agent's main thread or
 * its relay worker). It reads outbox rows, publishes them with `Nats-Msg-Id = clinicId:seq`
 * in a bounded window, backs off on failure, publishes priority rows (critical values) ahead
 * of the FIFO backlog, and re-sends from central's watermark when the watermark stops
 * advancing (a PubAck is only transport: a broker crash can forget acknowledged messages).
 * It never writes the database: receipts are persisted by the `Relay` on the writer side.
 */
// subjects.ts directly, not contracts/index.ts: the worker loads only what it needs (start-up time).
import { msgId, subjects } from '../../contracts/subjects.ts';
import type { AckPublisher } from './publisher.ts';

export interface RelayOptions {
  /** Max publishes awaiting a PubAck. */
  window: number;
  /** Re-send from the watermark when it has not covered a published record for this long. */
  resendAfterMs: number;
  publishTimeoutMs: number;
  /** Poll the outbox this often even without a local write signal (other writers). */
  pollMs: number;
  /** First backoff after a failed round; it doubles per failed round up to `maxBackoffMs`. */
  minBackoffMs: number;
  maxBackoffMs: number;
  receiptFlushMs: number;
  /**
   * A receipt below the one held is out of order (harmless) unless nothing at or above it comes
   * for this long: then central has lost applied records and the relay raises the alarm.
   */
  receiptRegressionGraceMs: number;
}

export const defaultRelayOptions: RelayOptions = { window: 512, resendAfterMs: 10_000, publishTimeoutMs: 5_000, pollMs: 200, minBackoffMs: 100, maxBackoffMs: 5_000, receiptFlushMs: 100, receiptRegressionGraceMs: 10_000 };

export type RelayState = 'connected' | 'backoff' | 'disconnected' | 'stopped';

export interface RelayCounters {
  published: number;
  republished: number;
  publishErrors: number;
  duplicatesAtBroker: number;
  /** Priority rows (critical values) published ahead of older rows. */
  publishedAhead: number;
}

/** `envelope`: the stored JSON, as UTF-8 bytes (outbox-source.ts) or a string. */
export interface OutboxSourceRow { seq: number; type: string; envelope: string | Uint8Array }

/** Read side of the outbox (the relay's own connection when it runs in a worker). */
export interface OutboxSource {
  /** Rows with seq > afterSeq in seq order. */
  after(afterSeq: number, limit: number): OutboxSourceRow[];
  /** Priority rows with seq > afterSeq in seq order. */
  priorityAfter(afterSeq: number, limit: number): OutboxSourceRow[];
}

export interface RelayLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export class RelayCore {
  private readonly opts: RelayOptions;
  /** Next seq to publish in FIFO order. */
  private cursor: number;
  private inflight = 0;
  /** Highest seq ever handed to publish (for resend decisions). */
  private highestSent = 0;
  private sentAt = new Map<number, number>();
  /** Priority seqs published ahead of the cursor; the FIFO pass skips them once. */
  private ahead = new Set<number>();
  private aheadHigh = 0;
  private backoffMs = 0;
  private receiptSeen: number;
  private lastAdvanceAt = Date.now();
  /** Grows while re-sends do not help (central down), so a long outage is not a resend storm. */
  private resendIntervalMs: number;
  private backoffUntil = 0;
  /**
   * Publish rounds: a failure starts a new round. Errors of publishes handed out in an earlier
   * round (a whole window timing out together) are counted and rewound but do not double the
   * backoff again: one broker outage is one step, not one step per message in flight.
   */
  private round = 0;
  /** The link was down when the current backoff began: its return ends the backoff at once. */
  private backoffWhileDown = false;
  /** The link as the loop last saw it (a reconnect restarts the re-send timer at its base). */
  private linkWasUp = true;
  private running = false;
  private wake: (() => void) | null = null;
  /** The loop sleeps until PubAcks free room in the window (only then does an ack wake it). */
  private waitingForRoom = false;
  private loopDone: Promise<void> = Promise.resolve();
  state: RelayState = 'disconnected';
  /** Current backoff step (0 while publishes succeed). */
  get backoff(): number { return this.backoffMs; }
  /** How long the watermark may stand still before records above it are re-sent (it grows while re-sends do not help). */
  get resendInterval(): number { return this.resendIntervalMs; }
  readonly counters: RelayCounters = { published: 0, republished: 0, publishErrors: 0, duplicatesAtBroker: 0, publishedAhead: 0 };

  constructor(
    private readonly clinicId: string,
    private readonly source: OutboxSource,
    private readonly publisher: Pick<AckPublisher, 'publish'>,
    private readonly isClosed: () => boolean,
    private readonly log: RelayLog,
    opts: Partial<RelayOptions>,
    receiptSeq: number,
    /** Called when state or counters change (the worker forwards them to the main thread). */
    private readonly onChange: () => void = () => {},
    /** Whether the NATS connection is up now (see link-state.ts); call kick() when it changes. */
    private readonly linkUp: () => boolean = () => true,
    /**
     * The store's durability bound (`EdgeStore.durability`, shared memory): the lowest seq
     * committed but not yet durable, 0 when none. Read after each outbox query: rows the query
     * saw at or above it are left for later. Null: every row read is durable.
     */
    private readonly durability: BigInt64Array | null = null,
  ) {
    this.opts = { ...defaultRelayOptions, ...opts };
    this.receiptSeen = receiptSeq;
    this.cursor = receiptSeq + 1;
    this.resendIntervalMs = this.opts.resendAfterMs;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loopDone = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.kick();
    await this.loopDone;
    this.setState('stopped');
  }

  /** Central applied everything up to `appliedSeq` (bookkeeping only; persisted elsewhere). */
  onReceipt(appliedSeq: number): void {
    if (appliedSeq > this.receiptSeen) {
      for (let s = this.receiptSeen + 1; s <= appliedSeq; s++) this.sentAt.delete(s);
      this.receiptSeen = appliedSeq;
      this.lastAdvanceAt = Date.now();
      this.resendIntervalMs = this.opts.resendAfterMs;
      if (this.cursor <= appliedSeq) this.cursor = appliedSeq + 1;
      for (const s of this.ahead) if (s <= appliedSeq) this.ahead.delete(s);
    }
    this.kick();
  }

  kick = (): void => {
    const w = this.wake;
    this.wake = null;
    w?.();
  };

  private setState(s: RelayState): void {
    if (this.state !== s) {
      this.state = s;
      this.onChange();
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(() => { this.wake = null; resolve(); }, ms);
      this.wake = () => { clearTimeout(t); resolve(); };
    });
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const now = Date.now();
      if (this.isClosed()) { this.setState('stopped'); return; }
      const up = this.linkUp();
      if (up && !this.linkWasUp) {
        // Back from an outage: the broker may have lost what it had acknowledged (a restart
        // with lazy fsync, a wiped store). Re-send what the watermark does not cover after the
        // base interval, not after an interval that kept doubling while nothing could arrive.
        this.resendIntervalMs = this.opts.resendAfterMs;
        this.lastAdvanceAt = now;
      }
      this.linkWasUp = up;
      if (now < this.backoffUntil && this.backoffWhileDown && up) {
        // The client reconnected: try now instead of sleeping out a backoff that grew while
        // the broker was away (the clinic's records should flow as soon as the link is back).
        this.backoffUntil = 0;
        this.backoffMs = 0;
        this.backoffWhileDown = false;
      }
      if (now < this.backoffUntil) {
        this.setState('backoff');
        await this.sleep(this.backoffUntil - now);
        continue;
      }
      this.checkResend(now);
      // Refill in chunks of at least half a window: one outbox read per chunk, not per ack.
      if (this.inflight > this.opts.window / 2) {
        this.waitingForRoom = true;
        await this.sleep(this.opts.pollMs);
        this.waitingForRoom = false;
        continue;
      }
      let room = this.opts.window - this.inflight;
      // Critical values first: priority rows above the FIFO cursor not yet published ahead.
      const prio = durableOnly(this.source.priorityAfter(Math.max(this.cursor - 1, this.aheadHigh), room), this.durability);
      for (const row of prio) {
        this.ahead.add(row.seq);
        this.aheadHigh = row.seq;
        this.counters.publishedAhead++;
        this.send(row);
      }
      room -= prio.length;
      const read = room > 0 ? this.source.after(this.cursor - 1, room) : [];
      const rows = durableOnly(read, this.durability);
      let sent = prio.length;
      for (const row of rows) {
        this.cursor = row.seq + 1;
        if (this.ahead.delete(row.seq)) continue; // already published ahead of the backlog
        this.send(row);
        sent++;
      }
      if (sent === 0 && rows.length === 0) {
        // Nothing to send: connected means the link is up, not that something was published
        // lately (a freshly provisioned, idle edge is connected, not disconnected).
        if (this.inflight === 0) this.setState(this.linkUp() ? 'connected' : 'disconnected');
        await this.sleep(this.opts.pollMs);
      } else if (read.length < room || rows.length < read.length) {
        // The read reached the end of the outbox: wait for the writer's next kick (or the poll)
        // instead of reading again at once only to find nothing (two reads per commit before).
        await this.sleep(this.opts.pollMs);
      }
    }
  }

  private send(row: OutboxSourceRow): void {
    const seq = row.seq;
    if (seq <= this.highestSent) this.counters.republished++;
    this.highestSent = Math.max(this.highestSent, seq);
    this.sentAt.set(seq, Date.now());
    this.inflight++;
    const round = this.round;
    this.publisher.publish(subjects.record(this.clinicId, row.type), row.envelope, msgId(this.clinicId, seq), (err, duplicate) => {
      this.inflight--;
      if (err) this.onPublishError(seq, err, round);
      else {
        this.counters.published++;
        if (duplicate) this.counters.duplicatesAtBroker++;
        this.backoffMs = 0;
        if (this.state !== 'connected') this.setState('connected');
        else if ((this.counters.published & 255) === 0) this.onChange();
      }
      // A PubAck creates nothing new to send: wake the loop only if it waits for window room
      // (or to back off after an error). Waking it on every ack cost one outbox query and one
      // timer per record once the relay had caught up with the writers; new rows wake it
      // through `kick()` from the writer side and the poll.
      if (err || (this.waitingForRoom && this.inflight <= this.opts.window / 2)) this.kick();
    });
  }

  private onPublishError(seq: number, err: Error, round: number): void {
    this.counters.publishErrors++;
    // Everything from the failed seq on may be missing at the broker: rewind and back off.
    // A priority row published ahead goes back to the FIFO pass too.
    if (seq < this.cursor) this.cursor = Math.max(seq, this.receiptSeen + 1);
    this.ahead.clear();
    this.aheadHigh = 0;
    // The first error of a round backs off; later errors of that round only rewind.
    if (round === this.round) {
      this.round++;
      this.backoffMs = Math.min(this.opts.maxBackoffMs, this.backoffMs ? this.backoffMs * 2 : this.opts.minBackoffMs);
      this.backoffUntil = Date.now() + this.backoffMs;
      this.backoffWhileDown = !this.linkUp();
    }
    this.setState(this.isClosed() ? 'stopped' : 'backoff');
    this.onChange();
    if (this.counters.publishErrors % 100 === 1) this.log.warn({ seq, err: err.message, backoffMs: this.backoffMs }, 'publish failed; will retry');
  }

  /**
   * Records were published but the watermark has not moved for a while: the broker may have
   * lost them (lazy fsync, store wiped) or central may be down. Send again from the watermark;
   * the broker de-duplicates what it still holds, central what it already applied.
   */
  private checkResend(now: number): void {
    const first = this.receiptSeen + 1;
    if (this.cursor <= first && this.ahead.size === 0) {
      this.lastAdvanceAt = Math.max(this.lastAdvanceAt, now - 1);
      return;
    }
    const sent = this.sentAt.get(first) ?? now;
    if (!this.sentAt.has(first)) this.sentAt.set(first, now);
    if (now - Math.max(this.lastAdvanceAt, sent) < this.resendIntervalMs) return;
    this.log.warn({ fromSeq: first, toSeq: Math.max(this.cursor - 1, this.aheadHigh), afterMs: this.resendIntervalMs }, 'watermark not advancing: re-sending records above it');
    this.cursor = first;
    this.ahead.clear();
    this.aheadHigh = 0;
    this.sentAt.clear();
    this.lastAdvanceAt = now;
    this.resendIntervalMs = Math.min(this.resendIntervalMs * 2, 300_000);
  }
}

/** The rows below the durability bound, read after the query (the writer sets it before COMMIT). */
function durableOnly(rows: OutboxSourceRow[], durability: BigInt64Array | null): OutboxSourceRow[] {
  if (rows.length === 0 || !durability) return rows;
  const bound = durableBelow(durability);
  if (rows[rows.length - 1]!.seq < bound) return rows;
  let n = 0;
  while (n < rows.length && rows[n]!.seq < bound) n++;
  return rows.slice(0, n);
}

/** Lowest seq committed but not yet durable in a store's durability bound, or Infinity. */
export function durableBelow(durability: BigInt64Array): number {
  const v = Atomics.load(durability, 0);
  return v === 0n ? Infinity : Number(v);
}
