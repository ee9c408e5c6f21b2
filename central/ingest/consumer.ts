/**
 * Central ingest: a durable pull consumer on EDGE_RECORDS. Messages that arrive together are
 * applied in one warehouse transaction, acknowledged only after commit, and the clinics'
 * applied watermarks are published as receipts. Bad messages are dead-lettered with the
 * reason; nothing a sender publishes can stop or crash this loop.
 */
import { hash as cryptoHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream, jetstreamManager, type ConsumerMessages, type JetStreamManager, type JsMsg, type StreamInfo } from '@nats-io/jetstream';
import { STREAMS, checkEnvelope, parseRecordSubject, subjects, type MaintenanceNotice, type Receipt, type Refusals } from '../../contracts/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { NatsSource } from '../../contracts/runtime/nats-link.ts';
import type { IngestItem, IngestResult, PipelinedIngest, StreamCursor, Warehouse, Watermark } from '../warehouse/types.ts';
import { INGEST_DURABLE, ensureStreams } from './streams.ts';
import { AckFloor, type Settled } from './ack-floor.ts';
import { checkCursor } from './cursor-check.ts';

/** Pipelined batches that may wait for their flush at once before the ingest waits too. */
const MAX_AWAITING_DURABILITY = 8;
/** Pause before a batch (or a flush) that failed is tried again, doubling up to the maximum. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;
/** A gap (see `checkGaps`) is looked for this long after a settle leaves one. */
const GAP_CHECK_MS = 200;
/** Missing messages fetched per round, and requests in flight at once. */
const GAP_FETCH_MAX = 2000;
const GAP_FETCH_CONCURRENCY = 32;
/** Replay (see `planReplay`): messages asked for per round, and the buffer it waits below. */
const REPLAY_ROUND = 1000;
const REPLAY_BUFFER_MAX = 4000;
/** The cursor of a warehouse that holds nothing of the stream yet. */
const EPOCH = new Date(0).toISOString();
/** The generation of replayed deliveries: below the floor, applied but never acknowledged. */
const REPLAY_GEN = 0;

export interface IngestHooks {
  onResult?: (r: IngestResult) => void;
  /** Records in each warehouse transaction once applied (small when keeping up, up to maxBatch under a backlog; a failed attempt is not counted). */
  onBatch?: (records: number) => void;
  /** Called after the streams had to be (re)created, e.g. to republish dictionaries. */
  onStreamsCreated?: () => Promise<void>;
}

/** A message to apply: delivered by the consumer, or fetched from the stream to fill a gap. */
interface Delivery {
  seq: number;
  subject: string;
  data: Uint8Array;
  /** The delivered message (acknowledged through the floor); null when fetched. */
  msg: JsMsg | null;
  /** The consumer attachment it came from (a recreated stream numbers its messages anew); REPLAY_GEN when replayed. */
  gen: number;
  /** When the stream stored it (replayed deliveries: the stream cursor is built from it). */
  storedAt?: string;
}

/** A replay of the records stream in progress (see `planReplay`). */
interface Replay {
  /** Next stream sequence to ask for (null: start from `fromTime`, the stream was renumbered). */
  next: number | null;
  fromTime: string | null;
  /** The last sequence it covers (the consumer's ack floor when it started). */
  to: number;
  /** Where the warehouse stands: the cursor it started from, then the last replayed message applied. */
  cursor: StreamCursor | null;
  /** Replayed deliveries in the buffer (or being applied). */
  inBuffer: number;
  fetched: number;
  applied: number;
  duplicates: number;
  dead: number;
  started: number;
  /** The fetch in progress, stopped when the ingest stops. */
  fetch: { stop(): void } | null;
}

export class Ingest {
  private buffer: Delivery[] = [];
  private flushing = false;
  private scheduled = false;
  private messages: ConsumerMessages | null = null;
  private running = false;
  /** Ends the supervisor's pause at once when the ingest stops. */
  private stopping = new AbortController();
  private supervisor: Promise<void> = Promise.resolve();
  /**
   * Batches committed by a pipelining warehouse (`ingestPipelined`) whose flush is in flight:
   * their acks and receipts, chained so that they go out in commit order.
   */
  private durableChain: Promise<void> = Promise.resolve();
  private awaitingDurability = 0;
  private retryDelay = RETRY_MIN_MS;
  /** Clinics whose receipt a failed flush withheld: sent after the next successful one. */
  private owedReceipts = new Set<string>();
  /** How far the cumulative ack may go (see ack-floor.ts); replaced when the consumer is. */
  private acks = new AckFloor<JsMsg>(0);
  private gen = 0;
  private gapTimer: NodeJS.Timeout | null = null;
  private filling = false;
  private gapRetryMs = GAP_CHECK_MS;
  batches = 0;
  failures = 0;
  /** Messages fetched from the stream because their delivery was lost (or never came). */
  gapFetched = 0;
  /** Redelivered copies dropped (their first copy was held or settled). */
  copiesDropped = 0;
  /** Highest receipt published per clinic by this process (see publishReceipt). */
  private readonly receiptsPublished = new Map<string, number>();
  /** Receipts not published because a higher one for the clinic had gone out already. */
  staleReceiptsDropped = 0;
  /** The last delivery acknowledged (everything at or below its sequence is settled): the stream cursor. */
  private acked: StreamCursor | null = null;
  private replaying: Replay | null = null;
  private replayTask: Promise<void> = Promise.resolve();
  /** Messages replayed from the stream because the warehouse did not hold them (restored from a backup). */
  replayed = 0;
  /** Messages a replay needed that the stream no longer held (expired): the edges' alarm says which clinics. */
  replayUnavailable = 0;

  /** The connection once the hub answered (central may start before it does). */
  private conn: NatsConnection | null = null;

  /** `nc`: the connection, or one that will exist (`NatsLink.ready`): `start()` waits for it. */
  constructor(private readonly source: NatsSource, private readonly wh: Warehouse, private readonly log: Logger, private readonly hooks: IngestHooks = {}, private readonly maxBatch = 1000) {}

  private get nc(): NatsConnection {
    if (!this.conn) throw new Error('the ingest has no connection to the hub yet');
    return this.conn;
  }

  /** Attaches the consumer (waiting for the hub and the broker's answer as long as it takes); `stop()` ends the wait. */
  async start(): Promise<void> {
    this.running = true;
    this.stopping = new AbortController();
    if (!this.conn) {
      const signal = this.stopping.signal;
      const stopped = new Promise<null>((resolve) => signal.addEventListener('abort', () => resolve(null), { once: true }));
      // A link closed before the hub answered rejects: nothing to attach then.
      this.conn = await Promise.race([Promise.resolve(this.source).catch(() => null), stopped]);
      if (!this.conn || !this.running) return;
    }
    // Requests made while the client is reconnecting are lost: retry until the broker answers.
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await this.attach();
        break;
      } catch (e) {
        if (!this.running) return;
        this.log.warn({ err: (e as Error).message, retryMs: delay }, 'cannot attach the ingest consumer yet; retrying');
        await this.pause(delay);
        if (!this.running) return;
      }
    }
    this.supervisor = this.supervise().catch((e: Error) => this.log.error({ err: e.message }, 'ingest supervisor stopped'));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping.abort();
    if (this.gapTimer) clearTimeout(this.gapTimer);
    await this.messages?.close().catch(() => undefined);
    await this.supervisor;
    this.replaying?.fetch?.stop();
    await this.replayTask;
    while (this.flushing || this.scheduled || this.filling) await sleep(5);
    await this.durableChain;
    // The cursor travels with each batch; the acks of the last batches moved the floor after it.
    const c = this.cursor();
    if (c) await this.wh.saveStreamCursor(c).catch((e: Error) => this.log.warn({ err: e.message }, 'stream cursor not saved at stop (the next start replays a little more)'));
  }

  /** Messages left to replay (0 when no replay runs; an estimate while a renumbered stream is replayed by time). */
  get replayRemaining(): number {
    const r = this.replaying;
    if (!r) return 0;
    return Math.max(0, r.to - (r.next === null ? 0 : r.next - 1)) + r.inBuffer;
  }

  /**
   * What the warehouse holds of the records stream: everything up to the last acknowledged
   * delivery (settled means applied and durable), but not past a replay still running.
   */
  private cursor(): StreamCursor | undefined {
    const r = this.replaying;
    if (r) return r.cursor ?? undefined;
    return this.acked ?? undefined;
  }

  /** Acknowledge (cumulatively) and remember it as the stream cursor. */
  private ackThrough(m: JsMsg | null): void {
    if (!m) return;
    m.ack();
    try {
      this.acked = { stream: STREAMS.records, seq: m.seq, storedAt: m.time.toISOString() };
    } catch {
      // not a JetStream delivery (no parsable reply subject): nothing to remember
    }
  }

  /** A pause that `stop()` ends at once. */
  private pause(ms: number): Promise<void> {
    return sleep(ms, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  /** Delivered and waiting here for their warehouse transaction (central's own backlog). */
  get buffered(): number {
    return this.buffer.length;
  }

  /** Settled above the ack floor, held back by a lower sequence not settled yet. */
  get waitingOnGap(): number {
    return this.acks.waiting;
  }

  /** (Re)create streams and the durable consumer, then start consuming. */
  private async attach(): Promise<void> {
    const jsm = await jetstreamManager(this.nc, { checkAPI: false });
    await ensureStreams(jsm);
    await this.hooks.onStreamsCreated?.();
    const js = jetstream(this.nc);
    const consumer = await js.consumers.get(STREAMS.records, INGEST_DURABLE);
    await this.messages?.close().catch(() => undefined);
    // Everything at or below the consumer's ack floor is settled; so is what the stream no
    // longer holds (expired by max_age). A recreated stream numbers its messages from 1 again:
    // what is still buffered from before is applied (idempotently) but no longer acknowledged.
    const info = await consumer.info(false);
    const si = await jsm.streams.info(STREAMS.records);
    const floor = Math.max(info.ack_floor.stream_seq, si.state.first_seq - 1, (info.config.opt_start_seq ?? 1) - 1);
    this.acks = new AckFloor<JsMsg>(floor);
    await this.planReplay(jsm, si, info.ack_floor.stream_seq);
    if (!this.replaying) await this.cursorFromFloor(jsm, si, info.ack_floor.stream_seq);
    const gen = ++this.gen;
    this.messages = await consumer.consume({ max_messages: 4000, callback: (m) => this.enqueue(m, gen) });
    this.log.info({ ackFloor: floor }, 'ingest consumer attached');
  }

  /** Every 2 s: is our consumer still there? A wiped or restarted broker loses it. */
  private async supervise(): Promise<void> {
    const jsm = await jetstreamManager(this.nc, { checkAPI: false });
    while (this.running) {
      await this.pause(2000);
      if (!this.running || this.nc.isClosed()) break;
      try {
        await jsm.consumers.info(STREAMS.records, INGEST_DURABLE);
      } catch (e) {
        const msg = (e as Error).message;
        if (!/not found/i.test(msg)) continue; // timeouts while disconnected: just wait
        this.log.warn({ err: msg }, 'ingest consumer or stream missing (broker restarted without its store?): recreating');
        try {
          await this.attach();
        } catch (err) {
          this.log.error({ err: (err as Error).message }, 'could not recreate streams; retrying');
        }
      }
    }
  }

  private enqueue(m: JsMsg, gen: number): void {
    if (gen !== this.gen) return; // a late delivery of a replaced consumer
    const seq = m.seq;
    switch (this.acks.receive(seq)) {
      case 'below':
        // Redelivered after the ack wait although settled (it was fetched, or its ack was lost).
        m.ack();
        return;
      case 'copy':
        // A redelivered copy of a message held or settled above the floor (the ack wait expired
        // while it waited): dropped, so the buffer stays bounded and no ack covers lower ones.
        this.copiesDropped++;
        return;
      case 'new':
        break;
    }
    this.push({ seq, subject: m.subject, data: m.data, msg: m, gen });
  }

  private push(d: Delivery): void {
    this.buffer.push(d);
    if (!this.scheduled && !this.flushing) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
  }

  /**
   * Something settled waits above the floor: a lower sequence was never received (its delivery
   * was lost when the connection dropped, or it went to a central that was killed). Fetch those
   * from the stream rather than wait for the server's redelivery after the ack wait (30 s).
   */
  private checkGaps(): void {
    if (this.gapTimer || this.filling || this.acks.waiting === 0 || !this.running) return;
    this.gapTimer = setTimeout(() => {
      this.gapTimer = null;
      void this.fillGaps();
    }, this.gapRetryMs);
  }

  private async fillGaps(): Promise<void> {
    const missing = this.acks.missing(GAP_FETCH_MAX);
    if (missing.length === 0 || !this.running) return;
    this.filling = true;
    const gen = this.gen;
    const acks = this.acks;
    let next = 0;
    let failed: Error | null = null;
    try {
      this.log.warn({ from: missing[0], to: missing[missing.length - 1], count: missing.length, ackFloor: acks.floor }, 'messages above the ack floor were never received (delivery lost or went to an earlier central): fetching them from the stream');
      const jsm = await jetstreamManager(this.nc, { checkAPI: false });
      for (const s of missing) acks.receive(s);
      const absent: Settled<JsMsg>[] = [];
      const worker = async () => {
        // The first failure (disconnected, timed out) ends the round: the rest would only fail too.
        while (next < missing.length && !failed && this.running && gen === this.gen) {
          const seq = missing[next++]!;
          try {
            const sm = await jsm.streams.getMessage(STREAMS.records, { seq });
            if (gen !== this.gen) return;
            if (sm === null) absent.push({ seq, msg: null });
            else {
              this.gapFetched++;
              this.push({ seq, subject: sm.subject, data: sm.data, msg: null, gen });
            }
          } catch (e) {
            failed = e as Error;
            acks.release(seq);
          }
        }
      };
      await Promise.all(Array.from({ length: GAP_FETCH_CONCURRENCY }, worker));
      if (absent.length > 0 && gen === this.gen) {
        // Not in the stream any more (expired): nothing to apply; the edge re-sends what central
        // lacks from its watermark.
        this.log.warn({ count: absent.length, first: absent[0]!.seq }, 'missing messages are no longer in the stream (expired); their clinics re-send from the watermark');
        this.durableChain = this.durableChain.then(() => (this.acks === acks ? this.ackThrough(acks.settle(absent)) : undefined));
      }
    } catch (e) {
      failed = e as Error;
    } finally {
      // Not asked for (the round ended early): the next check asks again, after a pause that
      // grows while the broker does not answer.
      for (let k = next; k < missing.length; k++) acks.release(missing[k]!);
      if (failed) {
        this.log.warn({ err: failed.message, fetched: next, retryMs: this.gapRetryMs }, 'could not fetch every missing message yet; trying again');
        this.gapRetryMs = Math.min(this.gapRetryMs * 2, RETRY_MAX_MS);
      } else this.gapRetryMs = GAP_CHECK_MS;
      this.filling = false;
      this.checkGaps();
    }
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.buffer.length > 0) {
        const batch = this.buffer.splice(0, this.maxBatch);
        const items = batch.map(toItem);
        try {
          const cursor = this.cursor();
          if (this.wh.ingestPipelined) {
            const p = this.wh.ingestPipelined(items, cursor);
            const replaying = this.replayApplied(batch, p.result);
            this.afterDurable(batch, p, replaying);
            // Bounded: at most a few commits wait for their flush (the flushes are grouped).
            if (this.awaitingDurability >= MAX_AWAITING_DURABILITY) await this.durableChain;
          } else {
            const result = await this.wh.ingest(items, cursor);
            const replaying = this.replayApplied(batch, result);
            this.settle(batch, [result], replaying);
          }
          this.hooks.onBatch?.(batch.length);
          this.retryDelay = RETRY_MIN_MS;
          continue;
        } catch (e) {
          // Earlier batches' acks and receipts first: acknowledging is cumulative.
          await this.durableChain;
          this.log.warn({ err: (e as Error).message, batch: batch.length }, 'batch could not be applied: applying its messages one at a time');
          const results = await this.applyOneByOne(batch, items, e as Error);
          if (results) {
            const replaying = this.replayApplied(batch, null);
            this.settle(batch, results, replaying);
            continue;
          }
          // The warehouse itself is unavailable (disk full, database locked...): nothing is
          // acknowledged; the batch stays first in line and is tried again after a pause.
          this.failures++;
          this.log.error({ err: (e as Error).message, batch: batch.length, retryMs: this.retryDelay }, 'warehouse apply failed; the batch will be applied again');
          this.buffer.unshift(...batch);
          await this.pause(this.retryDelay);
          this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
          if (!this.running) break; // stopping: JetStream redelivers what was not acknowledged
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * After a restore from a backup the warehouse lacks what central applied (and acknowledged)
   * after the backup was taken, and the edges have trimmed those records from their outboxes
   * on central's receipts. The records stream still holds them (max_age 7 days): the warehouse's
   * stream cursor (the last message it holds everything up to: its sequence and the time the
   * stream stored it) says where to start, the consumer's ack floor how far central had got.
   * Replay what lies between with an ordered consumer of its own (the durable consumer goes on
   * meanwhile); the ingest applies what is missing and finds the rest applied. A new, empty
   * warehouse on a stream a previous one consumed replays the whole stream.
   *
   * The stream's numbering is checked first: the message at the cursor's sequence must be the
   * one the cursor names (same storage time). If it is not (the broker lost the stream and it
   * was recreated, numbering from 1 again), what the stream stored after the cursor's time is
   * replayed instead. (The stream's `created` time cannot tell: nats-server 2.9 reported a new
   * one for the same stream after a kill -9.) What the stream no longer holds is counted and
   * logged; the edges' CentralLostAppliedRecords alarm names the clinics, whose admins re-seed
   * central from the edge (edge-agent/sync/reseed.ts, central/backup/README.md).
   */
  private async planReplay(jsm: JetStreamManager, si: StreamInfo, ackFloor: number): Promise<void> {
    if (this.replaying) return; // a re-attach while replaying: it goes on
    const cur = await this.wh.streamCursor(STREAMS.records);
    const first = si.state.first_seq;
    const last = si.state.last_seq;
    let from: number | null = null;
    let fromTime: string | null = null;
    if (!cur) {
      // No cursor: a warehouse from before cursors (it holds what it applied) or a new one.
      if (ackFloor === 0 || (await this.wh.watermarks()).length > 0) return;
      from = 1;
    } else {
      const check = await checkCursor(jsm, si, cur);
      if (check.kind === 'same') {
        if (cur.seq >= ackFloor) return;
        from = cur.seq + 1;
      } else {
        fromTime = check.fromTime;
        this.log.warn({ cursorSeq: cur.seq, cursorStoredAt: cur.storedAt, streamFirst: first, streamLast: last }, 'the records stream was renumbered since the warehouse cursor was written (the broker lost and recreated it): replaying what it stored after the cursor\'s time');
      }
    }
    if (from !== null && first > from) {
      const lost = Math.min(first, ackFloor + 1) - from;
      this.replayUnavailable += lost;
      this.log.error({ from, firstInStream: first, lost }, 'the warehouse is behind the ingest consumer and the stream no longer holds the first messages it needs (older than its max_age): they cannot be replayed; edges whose receipts are above central\'s watermark raise CentralLostAppliedRecords');
      from = first;
    }
    if (from !== null && from > ackFloor) return;
    if (fromTime !== null && ackFloor === 0) return;
    const r: Replay = { next: from, fromTime, to: ackFloor, cursor: cur, inBuffer: 0, fetched: 0, applied: 0, duplicates: 0, dead: 0, started: Date.now(), fetch: null };
    this.replaying = r;
    // Info, not warn: after central was killed the cursor lags by its last batches, which the
    // replay finds applied; the end of the replay says whether anything was missing.
    this.log.info({ from, fromTime, to: ackFloor, cursor: cur?.seq ?? null }, 'the warehouse cursor is behind the ingest consumer\'s ack floor: replaying the records stream between them; records already applied are skipped');
    this.replayTask = this.replay(r).catch((e: Error) => this.log.error({ err: e.message }, 'replay stopped'));
  }

  /**
   * No replay needed: the warehouse holds everything up to the consumer's ack floor, so the first
   * batch already carries a cursor (a backup taken right after it can be replayed from). A floor
   * of 0, or one the stream no longer holds, gives a cursor at the start of time: replay all.
   */
  private async cursorFromFloor(jsm: JetStreamManager, si: StreamInfo, ackFloor: number): Promise<void> {
    let storedAt = EPOCH;
    if (ackFloor >= si.state.first_seq && ackFloor <= si.state.last_seq && ackFloor > 0) {
      storedAt = (await jsm.streams.getMessage(STREAMS.records, { seq: ackFloor }))?.time.toISOString() ?? EPOCH;
    }
    if (!this.acked || storedAt > this.acked.storedAt) this.acked = { stream: STREAMS.records, seq: storedAt === EPOCH ? 0 : ackFloor, storedAt };
  }

  private async replay(r: Replay): Promise<void> {
    const js = jetstream(this.nc);
    let delay = RETRY_MIN_MS;
    let empty = 0;
    const more = () => this.running && this.replaying === r && (r.next === null || r.next <= r.to);
    while (more()) {
      try {
        const oc = await js.consumers.get(STREAMS.records, r.next !== null
          ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: r.next }
          : { deliver_policy: DeliverPolicy.StartTime, opt_start_time: r.fromTime! });
        while (more()) {
          while (this.buffer.length >= REPLAY_BUFFER_MAX && this.running) await this.pause(20);
          if (!more()) break;
          const it = await oc.fetch({ max_messages: r.next === null ? REPLAY_ROUND : Math.min(REPLAY_ROUND, r.to - r.next + 1), expires: 5_000 });
          r.fetch = it;
          let n = 0;
          for await (const m of it) {
            if (this.replaying !== r || !this.running) break;
            if (m.seq > r.to) { r.next = r.to + 1; break; }
            r.inBuffer++;
            this.push({ seq: m.seq, subject: m.subject, data: m.data, msg: null, gen: REPLAY_GEN, storedAt: m.time.toISOString() });
            r.next = m.seq + 1;
            r.fetched++;
            this.replayed++;
            n++;
          }
          r.fetch = null;
          if (n > 0) {
            empty = 0;
            delay = RETRY_MIN_MS;
            continue;
          }
          if (r.next !== null && r.next > r.to) break;
          // Nothing came: nothing after the start time, the messages ahead expired meanwhile, or the broker is away.
          const si = await jetstreamManager(this.nc, { checkAPI: false }).then((jsm) => jsm.streams.info(STREAMS.records));
          if (r.next === null) {
            if (++empty >= 3) r.next = r.to + 1; // the stream holds nothing after the cursor's time
          } else if (si.state.first_seq > r.next) {
            const lost = Math.min(si.state.first_seq, r.to + 1) - r.next;
            this.replayUnavailable += lost;
            this.log.error({ from: r.next, lost }, 'messages the replay needs expired from the stream meanwhile');
            r.next = si.state.first_seq;
          } else if (++empty >= 3) throw new Error(`no messages from stream sequence ${r.next} after ${empty} tries`);
          this.replayApplied([], null);
        }
      } catch (e) {
        this.log.warn({ err: (e as Error).message, next: r.next, to: r.to, retryMs: delay }, 'replaying the records stream: trying again');
        await this.pause(delay);
        delay = Math.min(delay * 2, RETRY_MAX_MS);
      }
    }
  }

  /**
   * A batch was applied (committed): the replayed messages in it are held by the warehouse now
   * (the stream cursor of the next batch may pass them). Replayed deliveries are pushed in
   * sequence order and applied in buffer order, so the last one applied covers the rest.
   * Returns whether a replay was running (the batch's receipts say so).
   */
  private replayApplied(batch: Delivery[], result: IngestResult | null): boolean {
    const r = this.replaying;
    if (!r) return false;
    batch.forEach((d, i) => {
      if (d.gen !== REPLAY_GEN) return;
      r.inBuffer--;
      r.cursor = { stream: STREAMS.records, seq: d.seq, storedAt: d.storedAt! };
      const o = result?.outcomes[i];
      if (o === 'duplicate') r.duplicates++;
      else if (o === 'dead') r.dead++;
      else if (o) r.applied++;
    });
    if (r.inBuffer > 0 || r.next === null || r.next <= r.to) return true;
    this.replaying = null;
    // Everything up to the replay's last message is held now (the consumer had acknowledged it).
    if (r.cursor && (!this.acked || r.cursor.storedAt > this.acked.storedAt)) this.acked = r.cursor;
    const summary = { messages: r.fetched, applied: r.applied, alreadyHere: r.duplicates, seconds: Math.round((Date.now() - r.started) / 100) / 10 };
    if (r.applied > 0) this.log.warn(summary, 'replay of the records stream complete: the warehouse lacked records the ingest consumer had acknowledged (restored from a backup, or a new warehouse) and holds them now');
    else this.log.info(summary, 'replay of the records stream complete: nothing was missing (central had stopped without saving its cursor)');
    if (r.dead) this.log.warn({ dead: r.dead }, 'replayed messages dead-lettered (see the dead letters)');
    return true;
  }

  /**
   * A batch applied and durable: acknowledge through the ack floor, publish the receipts it
   * changed. The consumer acknowledges cumulatively (AckPolicy.All): one ack, of the delivered
   * message with the highest sequence at or below the floor, settles everything below it, and
   * the floor only passes sequences that are settled here (ack-floor.ts says why the order of
   * delivery is not enough).
   */
  /** `replaying`: the batch was applied while a replay ran (its receipts say so: the edges wait rather than alarm). */
  private settle(batch: Delivery[], results: IngestResult[], replaying = false): void {
    const gen = this.gen;
    this.ackThrough(this.acks.settle(batch.filter((d) => d.gen === gen)));
    this.checkGaps();
    this.batches++;
    for (const result of results) {
      for (const w of result.changed) {
        this.owedReceipts.delete(w.clinicId);
        this.publishReceipt(w, replaying);
      }
      this.hooks.onResult?.(result);
    }
    if (this.owedReceipts.size > 0) {
      // Clinics whose receipt waited for a flush that failed first: answer them now.
      const owed = [...this.owedReceipts];
      this.owedReceipts.clear();
      for (const c of owed) void this.wh.watermark(c).then((w) => this.publishReceipt(w), () => this.owedReceipts.add(c));
    }
  }

  /**
   * Settle a pipelined batch once its flush is done, after the batches committed before it. A
   * failed flush (the disk reported an error) is asked for again until one succeeds: its
   * messages stay unacknowledged meanwhile, and a flush covers every earlier frame of the WAL.
   */
  private afterDurable(batch: Delivery[], p: PipelinedIngest, replaying: boolean): void {
    this.awaitingDurability++;
    const durable = (async () => {
      let delay = RETRY_MIN_MS;
      for (let promise = p.durable; ;) {
        try {
          await promise;
          return true;
        } catch (e) {
          this.failures++;
          this.log.error({ err: (e as Error).message, batch: batch.length, retryMs: delay }, 'warehouse flush (fsync) failed: the batch is not acknowledged; flushing again; check the disk');
          for (const w of p.result.changed) this.owedReceipts.add(w.clinicId);
          await this.pause(delay);
          delay = Math.min(delay * 2, RETRY_MAX_MS);
          if (!this.running) return false; // stopping: JetStream redelivers what was not acknowledged
          promise = p.flushAgain();
        }
      }
    })();
    this.durableChain = Promise.all([this.durableChain, durable]).then(([, ok]) => {
      this.awaitingDurability--;
      if (ok) this.settle(batch, [p.result], replaying);
    }).catch((e: Error) => {
      // settle() only acks and publishes; never let one failure break the chain for later batches.
      this.log.error({ err: e.message }, 'settling a pipelined batch failed');
    });
  }

  /**
   * A batch failed: apply its messages one at a time so that one poison record cannot stall
   * every clinic. A record that fails alone is dead-lettered as `apply_error` (it keeps its
   * place in the clinic's sequence). Returns null when nothing could be applied at all (the
   * warehouse is down rather than a record being bad) or a dead letter could not be written:
   * the caller retries the whole batch (what was applied is found applied).
   */
  private async applyOneByOne(batch: Delivery[], items: IngestItem[], batchError: Error): Promise<IngestResult[] | null> {
    let okCount = 0;
    const results: IngestResult[] = [];
    const poison: number[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        results.push(await this.wh.ingest([items[i]!]));
        okCount++;
      } catch {
        poison.push(i);
      }
    }
    if (okCount === 0 && items.length > 1) return null;
    for (const i of poison) {
      const it = items[i]!;
      const m = batch[i]!;
      const dead: IngestItem = it.kind === 'record'
        ? { kind: 'dead', subject: m.subject, reason: 'apply_error', detail: `could not be applied: ${batchError.message}`, raw: m.data, clinicId: it.envelope.clinicId, seq: it.envelope.seq }
        : it;
      try {
        results.push(await this.wh.ingest([dead]));
        this.log.error({ subject: m.subject, err: batchError.message }, 'record dead-lettered: it could not be applied');
      } catch (e) {
        this.log.error({ subject: m.subject, err: (e as Error).message }, 'could not even dead-letter a record; the batch will be tried again');
        return null;
      }
    }
    return results;
  }

  /**
   * Publishes `w` as the clinic's receipt, unless this process already published a higher one:
   * a heartbeat's answer (the current durable watermark) can overtake the receipts of batches
   * that became durable with the same flush and are still waiting in the settle chain. A lower
   * receipt after a higher one is what an edge reads as central having lost records; within one
   * process the watermark never goes back, so the older receipt is dropped here (edges tell the
   * rest apart themselves: edge-agent/sync/receipt-monitor.ts).
   */
  publishReceipt(w: Watermark, replaying = false, refused?: Refusals, maintenance?: MaintenanceNotice[]): void {
    if (!this.conn || this.conn.isClosed()) return;
    const last = this.receiptsPublished.get(w.clinicId);
    if (last !== undefined && w.appliedSeq < last) {
      this.staleReceiptsDropped++;
      return;
    }
    this.receiptsPublished.set(w.clinicId, w.appliedSeq);
    const r: Receipt = { clinicId: w.clinicId, appliedSeq: w.appliedSeq, pendingAbove: w.pendingAbove, at: new Date().toISOString(), ...(replaying || this.replaying ? { replaying: true } : {}), ...(refused ? { refused } : {}), ...(maintenance ? { maintenance } : {}) };
    try {
      this.nc.publish(subjects.receipt(w.clinicId), JSON.stringify(r));
    } catch (e) {
      this.log.debug({ err: (e as Error).message }, 'receipt not published');
    }
  }
}

/** A message taken off the bus as an ingest item (exported for bench/spine-apply.bench.ts). */
export function toItem(m: Pick<JsMsg, 'subject' | 'data'>): IngestItem {
  const subj = parseRecordSubject(m.subject);
  if (!subj) return { kind: 'dead', subject: m.subject, reason: 'bad_envelope', detail: 'not a record subject', raw: m.data };
  const c = checkEnvelope(m.data, subj);
  if (!c.ok) {
    // Without an envelope's clinic (not JSON, forged for another clinic ...) the letter names the
    // subject's: with one NATS user per clinic, that is whose credentials published it. Only an
    // envelope's own seq places it in a clinic's sequence (see the warehouses' seq-bound check).
    return { kind: 'dead', subject: m.subject, reason: c.reason, detail: c.detail, raw: m.data.byteLength > 64 * 1024 ? m.data.subarray(0, 64 * 1024) : m.data, clinicId: c.partial?.clinicId ?? subj.clinicId, seq: c.partial?.seq };
  }
  // One-shot digest: no Hash object per message (same sha256 hex as before).
  const hash = cryptoHash('sha256', m.data, 'hex');
  return { kind: 'record', envelope: c.envelope, type: c.type, payload: c.payload, hash, raw: '' };
}
