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
        let result: IngestResult;
        try {
          if (this.wh.ingestPipelined) {
            this.afterDurable(batch, this.wh.ingestPipelined(items));
            // Bounded: at most a few commits wait for their flush (the flushes are grouped).
            if (this.awaitingDurability >= MAX_AWAITING_DURABILITY) await this.durableChain;
            continue;
          }
          result = await this.wh.ingest(items);
        } catch (e) {
          // Earlier batches' acks and receipts first: the one-by-one path publishes its own.
          await this.durableChain;
          this.log.warn({ err: (e as Error).message, batch: batch.length }, 'batch could not be applied: applying its messages one at a time');
          const applied = await this.applyOneByOne(batch, items, e as Error);
          if (!applied) {
            // The warehouse itself is unavailable (disk full, database locked...): nothing is
            // acked, JetStream redelivers later. Back off so we do not spin.
            this.failures++;
            this.log.error({ err: (e as Error).message, batch: batch.length }, 'warehouse apply failed; messages will be redelivered');
            for (const m of batch) m.nak(2000);
            await sleep(500);
          }
          continue;
        }
        this.settle(batch, result);
      }
    } finally {
      this.flushing = false;
    }
  }

  /** A batch applied and durable: ack its messages, publish the receipts it changed. */
  private settle(batch: JsMsg[], result: IngestResult): void {
    for (const m of batch) m.ack();
    this.batches++;
    for (const w of result.changed) {
      this.owedReceipts.delete(w.clinicId);
      this.publishReceipt(w);
    }
    this.hooks.onResult?.(result);
    if (this.owedReceipts.size > 0) {
      // Redelivered duplicates change no watermark: answer the clinics a failed flush left waiting.
      const owed = [...this.owedReceipts];
      this.owedReceipts.clear();
      for (const c of owed) void this.wh.watermark(c).then((w) => this.publishReceipt(w), () => this.owedReceipts.add(c));
    }
  }

  /**
   * Settle a pipelined batch once its flush is done, after the batches committed before it. A
   * failed flush leaves its messages unacknowledged (nak): JetStream redelivers them, the
   * warehouse finds them applied, and the next successful flush (which covers every earlier
   * frame of the WAL) makes them durable before they are acked.
   */
  private afterDurable(batch: JsMsg[], p: PipelinedIngest): void {
    this.awaitingDurability++;
    const durable = p.durable.then(() => null, (e: Error) => e);
    this.durableChain = Promise.all([this.durableChain, durable]).then(([, err]) => {
      this.awaitingDurability--;
      if (err) {
        this.failures++;
        this.log.error({ err: err.message, batch: batch.length }, 'warehouse flush (fsync) failed: the batch is not acknowledged and will be redelivered; check the disk');
        for (const m of batch) m.nak(2000);
        for (const w of p.result.changed) this.owedReceipts.add(w.clinicId);
        return;
      }
      this.settle(batch, p.result);
    }).catch((e: Error) => {
      // settle() only acks and publishes; never let one failure break the chain for later batches.
      this.log.error({ err: e.message }, 'settling a pipelined batch failed');
    });
  }

  /**
   * A batch failed: apply its messages one at a time so that one poison record cannot stall
   * every clinic. A record that fails alone is dead-lettered as `apply_error` (it keeps its
   * place in the clinic's sequence). Returns false when nothing could be applied at all,
   * which means the warehouse is down rather than a record being bad.
   */
  private async applyOneByOne(batch: JsMsg[], items: IngestItem[], batchError: Error): Promise<boolean> {
    let okCount = 0;
    const poison: number[] = [];
    for (let i = 0; i < items.length; i++) {
      try {
        const r = await this.wh.ingest([items[i]!]);
        okCount++;
        batch[i]!.ack();
        for (const w of r.changed) this.publishReceipt(w);
        this.hooks.onResult?.(r);
      } catch {
        poison.push(i);
      }
    }
    if (okCount === 0 && items.length > 1) return false;
    for (const i of poison) {
      const it = items[i]!;
      const m = batch[i]!;
      const dead: IngestItem = it.kind === 'record'
        ? { kind: 'dead', subject: m.subject, reason: 'apply_error', detail: `could not be applied: ${batchError.message}`, raw: m.data, clinicId: it.envelope.clinicId, seq: it.envelope.seq }
        : it;
      try {
        const r = await this.wh.ingest([dead]);
        m.ack();
        for (const w of r.changed) this.publishReceipt(w);
        this.hooks.onResult?.(r);
        this.log.error({ subject: m.subject, err: batchError.message }, 'record dead-lettered: it could not be applied');
      } catch (e) {
        m.nak(5000);
        this.log.error({ err: (e as Error).message }, 'could not even dead-letter a record; will retry');
      }
    }
    return true;
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
