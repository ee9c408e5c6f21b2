/** JetStream streams and the ingest consumer, created (or repaired) by central. */
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { STREAMS, subjects } from '../../contracts/index.ts';

export const INGEST_DURABLE = 'central-ingest';
/** Messages delivered and not yet acknowledged, at most (the ingest buffer's bound). */
export const MAX_ACK_PENDING = 20_000;
const NANOS = 1_000_000;

export async function ensureStreams(jsm: JetStreamManager): Promise<void> {
  await upsertStream(jsm, {
    name: STREAMS.records,
    subjects: [subjects.allRecords],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    // Central is the system of record; the stream is a buffer that must outlive a 2 h outage.
    max_age: 7 * 24 * 3600 * 1000 * NANOS,
    max_msg_size: 1024 * 1024,
    duplicate_window: 2 * 60 * 1000 * NANOS,
    discard: DiscardPolicy.Old,
  });
  await upsertStream(jsm, {
    name: STREAMS.dictionaries,
    subjects: [subjects.allDictionaries],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_msgs_per_subject: 3,
    max_msg_size: 8 * 1024 * 1024,
    duplicate_window: 2 * 60 * 1000 * NANOS,
    discard: DiscardPolicy.Old,
  });
  await ensureIngestConsumer(jsm);
}

const ingestConsumer = {
  durable_name: INGEST_DURABLE,
  // Cumulative acknowledgement: one ack per applied batch (central/ingest/consumer.ts, `settle`).
  ack_policy: AckPolicy.All,
  ack_wait: 30_000 * NANOS,
  max_ack_pending: MAX_ACK_PENDING,
  max_deliver: -1,
};

/**
 * The durable ingest consumer. One made before 2026-11-29 acknowledged each message
 * (AckPolicy.Explicit); a consumer's ack policy cannot be changed, so it is replaced by one that
 * starts right after its acknowledged floor (messages acknowledged above the floor come again
 * and are found applied).
 */
async function ensureIngestConsumer(jsm: JetStreamManager): Promise<void> {
  let info;
  try {
    info = await jsm.consumers.info(STREAMS.records, INGEST_DURABLE);
  } catch (e) {
    if (!/not found/i.test((e as Error).message)) throw e;
    await jsm.consumers.add(STREAMS.records, { ...ingestConsumer, deliver_policy: DeliverPolicy.All });
    return;
  }
  if (info.config.ack_policy === AckPolicy.All) return;
  const from = info.ack_floor.stream_seq + 1;
  await jsm.consumers.delete(STREAMS.records, INGEST_DURABLE);
  await jsm.consumers.add(STREAMS.records, { ...ingestConsumer, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from });
}

type StreamCfg = Parameters<JetStreamManager['streams']['add']>[0];

async function upsertStream(jsm: JetStreamManager, cfg: StreamCfg): Promise<void> {
  try {
    await jsm.streams.info(cfg.name!);
    await jsm.streams.update(cfg.name!, cfg);
  } catch (e) {
    if (!/not found/i.test((e as Error).message)) throw e;
    await jsm.streams.add(cfg);
  }
}
