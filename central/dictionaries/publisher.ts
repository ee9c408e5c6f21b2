/** Publishes dictionary snapshots to the DICTIONARIES stream (last value per dictionary). */
import type { JetStreamClient } from '@nats-io/jetstream';
import { subjects, type DictionarySnapshot } from '../../contracts/index.ts';

export async function publishDictionary(js: JetStreamClient, snap: DictionarySnapshot): Promise<void> {
  // The msg id makes a re-publish of the same version (after restarts) a no-op at the broker.
  await js.publish(subjects.dictionary(snap.name), JSON.stringify(snap), { msgID: `dict:${snap.name}:${snap.version}` });
}
