/**
 * Central ingest: a durable pull consumer on EDGE_RECORDS. Messages that arrive together are
 * applied in one warehouse transaction, acknowledged only after commit, and the clinics'
 * applied watermarks are published as receipts. Bad messages are dead-lettered with the
 * reason; nothing a sender publishes can stop or crash this loop.
 */
import { hash as cryptoHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, type ConsumerMessages, type JsMsg } from '@nats-io/jetstream';
import { STREAMS, checkEnvelope, parseRecordSubject, subjects, type Receipt } from '../../contracts/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { IngestItem, IngestResult, PipelinedIngest, Warehouse, Watermark } from '../warehouse/types.ts';
import { INGEST_DURABLE, ensureStreams } from './streams.ts';

/** Pipelined batches that may wait for their flush at once before the ingest waits too. */
const MAX_AWAITING_DURABILITY = 8;
/** Pause before a batch (or a flush) that failed is tried again, doubling up to the maximum. */
const RETRY_MIN_MS = 500;
const RETRY_MAX_MS = 5_000;

export interface IngestHooks {
  onResult?: (r: IngestResult) => void;
  /** Called after the streams had to be (re)created, e.g. to republish dictionaries. */
  onStreamsCreated?: () => Promise<void>;
}

export class Ingest {
  private buffer: JsMsg[] = [];
  private flushing = false;
  private scheduled = false;
  private messages: ConsumerMessages | null = null;
  private running = false;
  private supervisor: Promise<void> = Promise.resolve();
  /**
   * Batches committed by a pipelining warehouse (`ingestPipelined`) whose flush is in flight:
   * their acks and receipts, chained so that they go out in commit order.
   */
  private durableChain: Promise<void> = Promise.resolve();
  private awaitingDurability = 0;
  /** Stream sequences of the messages queued or being applied (see `enqueue`). */
  private held = new Set<number>();
  private retryDelay = RETRY_MIN_MS;
  /** Clinics whose receipt a failed flush withheld: sent after the next successful one. */
  private owedReceipts = new Set<string>();
  batches = 0;
  failures = 0;

  constructor(private readonly nc: NatsConnection, private readonly wh: Warehouse, private readonly log: Logger, private readonly hooks: IngestHooks = {}, private readonly maxBatch = 1000) {}

  async start(): Promise<void> {
    this.running = true;
    // Requests made while the client is reconnecting are lost: retry until the broker answers.
    for (let delay = 250; ; delay = Math.min(delay * 2, 5_000)) {
      try {
        await this.attach();
        break;
      } catch (e) {
        if (!this.running) return;
        this.log.warn({ err: (e as Error).message, retryMs: delay }, 'cannot attach the ingest consumer yet; retrying');
        await sleep(delay);
      }
    }
    this.supervisor = this.supervise().catch((e: Error) => this.log.error({ err: e.message }, 'ingest supervisor stopped'));
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.messages?.close().catch(() => undefined);
    await this.supervisor;
    while (this.flushing || this.scheduled) await sleep(5);
    await this.durableChain;
  }

  /** (Re)create streams and the durable consumer, then start consuming. */
  private async attach(): Promise<void> {
    const jsm = await jetstreamManager(this.nc, { checkAPI: false });
    await ensureStreams(jsm);
    await this.hooks.onStreamsCreated?.();
    const js = jetstream(this.nc);
    const consumer = await js.consumers.get(STREAMS.records, INGEST_DURABLE);
    await this.messages?.close().catch(() => undefined);
    // A recreated stream numbers its messages from 1 again.
    this.held.clear();
    this.messages = await consumer.consume({ max_messages: 4000, callback: (m) => this.enqueue(m) });
    this.log.info('ingest consumer attached');
  }

  /** Every 2 s: is our consumer still there? A wiped or restarted broker loses it. */
  private async supervise(): Promise<void> {
    const jsm = await jetstreamManager(this.nc, { checkAPI: false });
    while (this.running) {
      await sleep(2000);
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

  private enqueue(m: JsMsg): void {
    // A redelivery (ack wait expired while the warehouse was down) of a message we still hold:
    // the copy we hold will be applied and acknowledged; keeping both would grow without bound.
    if (this.held.has(m.seq)) return;
    this.held.add(m.seq);
    this.buffer.push(m);
    if (!this.scheduled && !this.flushing) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
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
          if (this.wh.ingestPipelined) {
            this.afterDurable(batch, this.wh.ingestPipelined(items));
            // Bounded: at most a few commits wait for their flush (the flushes are grouped).
            if (this.awaitingDurability >= MAX_AWAITING_DURABILITY) await this.durableChain;
          } else {
            this.settle(batch, [await this.wh.ingest(items)]);
          }
          this.retryDelay = RETRY_MIN_MS;
          continue;
        } catch (e) {
          // Earlier batches' acks and receipts first: acknowledging is cumulative.
          await this.durableChain;
          this.log.warn({ err: (e as Error).message, batch: batch.length }, 'batch could not be applied: applying its messages one at a time');
          const results = await this.applyOneByOne(batch, items, e as Error);
          if (results) {
            this.settle(batch, results);
            continue;
          }
          // The warehouse itself is unavailable (disk full, database locked...): nothing is
          // acknowledged; the batch stays first in line and is tried again after a pause.
          this.failures++;
          this.log.error({ err: (e as Error).message, batch: batch.length, retryMs: this.retryDelay }, 'warehouse apply failed; the batch will be applied again');
          this.buffer.unshift(...batch);
          await sleep(this.retryDelay);
          this.retryDelay = Math.min(this.retryDelay * 2, RETRY_MAX_MS);
          if (!this.running) break; // stopping: JetStream redelivers what was not acknowledged
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * A batch applied and durable: acknowledge it, publish the receipts it changed. The consumer
   * acknowledges cumulatively (AckPolicy.All): one ack, for the highest stream sequence of the
   * batch, covers every message delivered before it. That is sound because batches are settled
   * in delivery order and a message is never dropped unsettled (a failed batch is retried in
   * place, never nak'ed), so everything delivered before that message is applied and durable.
   */
  private settle(batch: JsMsg[], results: IngestResult[]): void {
    let top = batch[0]!;
    for (const m of batch) {
      if (m.seq > top.seq) top = m;
      this.held.delete(m.seq);
    }
    top.ack();
    this.batches++;
    for (const result of results) {
      for (const w of result.changed) {
        this.owedReceipts.delete(w.clinicId);
        this.publishReceipt(w);
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
  private afterDurable(batch: JsMsg[], p: PipelinedIngest): void {
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
          await sleep(delay);
          delay = Math.min(delay * 2, RETRY_MAX_MS);
          if (!this.running) return false; // stopping: JetStream redelivers what was not acknowledged
          promise = p.flushAgain();
        }
      }
    })();
    this.durableChain = Promise.all([this.durableChain, durable]).then(([, ok]) => {
      this.awaitingDurability--;
      if (ok) this.settle(batch, [p.result]);
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
  private async applyOneByOne(batch: JsMsg[], items: IngestItem[], batchError: Error): Promise<IngestResult[] | null> {
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

  publishReceipt(w: Watermark): void {
    if (this.nc.isClosed()) return;
    const r: Receipt = { clinicId: w.clinicId, appliedSeq: w.appliedSeq, pendingAbove: w.pendingAbove, at: new Date().toISOString() };
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
    return { kind: 'dead', subject: m.subject, reason: c.reason, detail: c.detail, raw: m.data.byteLength > 64 * 1024 ? m.data.subarray(0, 64 * 1024) : m.data, clinicId: c.partial?.clinicId, seq: c.partial?.seq };
  }
  // One-shot digest: no Hash object per message (same sha256 hex as before).
  const hash = cryptoHash('sha256', m.data, 'hex');
  return { kind: 'record', envelope: c.envelope, type: c.type, payload: c.payload, hash, raw: '' };
}
