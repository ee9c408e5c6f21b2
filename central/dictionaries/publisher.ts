/** Publishes dictionary snapshots to the DICTIONARIES stream (last value per dictionary). */
import type { JetStreamClient, JetStreamManager } from '@nats-io/jetstream';
import { DICTIONARY_NAMES, STREAMS, dictionarySnapshotSchema, subjects, type DictionarySnapshot } from '../../contracts/index.ts';
import { jsonOrNull, type Logger } from '../../contracts/runtime/index.ts';
import type { Warehouse } from '../warehouse/types.ts';

export async function publishDictionary(js: JetStreamClient, snap: DictionarySnapshot): Promise<void> {
  // The msg id makes a re-publish of the same version (after restarts) a no-op at the broker.
  await js.publish(subjects.dictionary(snap.name), JSON.stringify(snap), { msgID: `dict:${snap.name}:${snap.version}` });
}

/**
 * Take back from the dictionaries stream what the warehouse lacks: after central was restored
 * from a backup (or starts on a new warehouse) the stream still holds the latest version of each
 * dictionary, and the edges hold it too. Without this the next publish would reuse that version
 * number for other content, and edges that hold it would keep the old content as current.
 * Returns the snapshots taken back. A broker without the stream yet: nothing to take back.
 */
export async function recoverDictionaries(jsm: JetStreamManager, wh: Pick<Warehouse, 'latestDictionaries' | 'importDictionary'>, log: Logger): Promise<DictionarySnapshot[]> {
  const held = new Map((await wh.latestDictionaries()).map((d) => [d.name, d.version]));
  const taken: DictionarySnapshot[] = [];
  for (const name of DICTIONARY_NAMES) {
    let data: Uint8Array;
    try {
      const sm = await jsm.streams.getMessage(STREAMS.dictionaries, { last_by_subj: subjects.dictionary(name) });
      if (!sm) continue;
      data = sm.data;
    } catch (e) {
      if (/not found/i.test((e as Error).message)) continue;
      throw e;
    }
    const parsed = dictionarySnapshotSchema.safeParse(jsonOrNull(data));
    if (!parsed.success || parsed.data.name !== name) {
      log.warn({ dictionary: name }, 'the last message of the dictionary in the stream is not a valid snapshot: not taken back');
      continue;
    }
    const snap = parsed.data;
    if (snap.version <= (held.get(name) ?? 0)) continue;
    if (await wh.importDictionary(snap)) {
      taken.push(snap);
      log.warn({ dictionary: name, version: snap.version, warehouseHad: held.get(name) ?? 0 }, 'dictionary version taken back from the stream: the warehouse lacked it (restored from a backup, or a new warehouse); versions between were lost from its history');
    }
  }
  return taken;
}
