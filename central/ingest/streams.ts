/** JetStream streams and the ingest consumer, created (or repaired) by central. */
import { AckPolicy, DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type JetStreamManager } from '@nats-io/jetstream';
import { STREAMS, subjects } from '../../contracts/index.ts';

export const INGEST_DURABLE = 'central-ingest';
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
  try {
    await jsm.consumers.info(STREAMS.records, INGEST_DURABLE);
  } catch {
    await jsm.consumers.add(STREAMS.records, {
      durable_name: INGEST_DURABLE,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ack_wait: 30_000 * NANOS,
      max_ack_pending: 20_000,
      max_deliver: -1,
    });
  }
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
