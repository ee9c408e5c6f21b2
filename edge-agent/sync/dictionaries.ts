/**
 * Central -> edge dictionaries. A `StreamFollower` (./follower.ts) reads the newest snapshot of
 * every dictionary from the DICTIONARIES stream (`last_per_subject`: a snapshot is a whole
 * dictionary, so older ones do not matter); the store applies a snapshot only if it is newer.
 * The follower keeps its position with each apply and, after a broker restart or a wiped store
 * (stream created again), follows the stream again, so an edge that was offline catches up.
 *
 * A snapshot that fails to apply is retried, then parked in `sync_dead_letter` (not blocking):
 * dictionaries are independent of each other, and the next version of the same dictionary is a
 * full snapshot that supersedes the parked one. Blocking would hold every other dictionary.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsSource } from '../../contracts/runtime/nats-link.ts';
import { STREAMS, dictionarySnapshotSchema, type DictionarySnapshot } from '../../contracts/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { EdgeStore } from '../store/store.ts';
import { StreamFollower, jsonDecoder } from './follower.ts';

export class DictionarySync {
  readonly follower: StreamFollower<DictionarySnapshot, boolean>;

  constructor(store: EdgeStore, nc: NatsSource, log: Logger, onApplied?: (name: string, version: number) => void) {
    this.follower = new StreamFollower<DictionarySnapshot, boolean>(store.db, nc, {
      name: 'dictionaries',
      // No subject filter: the stream holds only central.dict.>, and filter_subjects needs nats-server 2.10 (Debian ships 2.9).
      stream: STREAMS.dictionaries,
      deliver: 'last_per_subject',
      onFailure: 'park',
      batch: 16,
      decode: jsonDecoder(dictionarySnapshotSchema),
      apply: (s) => store.applyDictionary(s),
      onApplied: (s, updated) => {
        if (!updated) return;
        log.info({ dictionary: s.name, version: s.version, items: s.items.length }, 'dictionary updated');
        onApplied?.(s.name, s.version);
      },
    }, log);
  }

  start(): void {
    this.follower.start();
  }

  async stop(): Promise<void> {
    await this.follower.stop();
  }
}
