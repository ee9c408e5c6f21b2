/**
 * Central -> edge dictionaries. An ordered consumer reads the last snapshot of every
 * dictionary from the DICTIONARIES stream; the store applies a snapshot only if it is newer.
 * On any failure (stream missing because central is not up yet, broker restarted or wiped)
 * the consumer is recreated from "last per subject", so an edge that was offline catches up.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { NatsConnection } from '@nats-io/transport-node';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import { STREAMS, dictionarySnapshotSchema } from '../../contracts/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { EdgeStore } from '../store/store.ts';

export class DictionarySync {
  private running = false;
  private done: Promise<void> = Promise.resolve();
  private stopCurrent: (() => void) | null = null;
  applied = 0;
  rejected = 0;

  constructor(private readonly store: EdgeStore, private readonly nc: NatsConnection, private readonly log: Logger, private readonly onApplied?: (name: string, version: number) => void) {}

  start(): void {
    this.running = true;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopCurrent?.();
    await this.done;
  }

  private async loop(): Promise<void> {
    const js = jetstream(this.nc);
    let delay = 200;
    while (this.running && !this.nc.isClosed()) {
      try {
        // No subject filter: the stream holds only central.dict.>, and filter_subjects needs nats-server 2.10 (Debian ships 2.9).
        const consumer = await js.consumers.get(STREAMS.dictionaries, { deliver_policy: DeliverPolicy.LastPerSubject });
        const messages = await consumer.consume({ max_messages: 16 });
        this.stopCurrent = () => { void messages.close(); };
        delay = 200;
        for await (const m of messages) {
          const parsed = dictionarySnapshotSchema.safeParse(safeJson(m.data));
          if (!parsed.success) {
            this.rejected++;
            this.log.error({ subject: m.subject, issues: parsed.error.issues.slice(0, 3) }, 'invalid dictionary snapshot ignored');
            continue;
          }
          if (this.store.applyDictionary(parsed.data)) {
            this.applied++;
            this.log.info({ dictionary: parsed.data.name, version: parsed.data.version, items: parsed.data.items.length }, 'dictionary updated');
            this.onApplied?.(parsed.data.name, parsed.data.version);
          }
        }
      } catch (e) {
        if (!this.running) break;
        this.log.debug({ err: (e as Error).message }, 'dictionary consumer not available; retrying');
      }
      this.stopCurrent = null;
      if (!this.running) break;
      await sleep(delay);
      delay = Math.min(delay * 2, 5_000);
    }
  }
}

function safeJson(data: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return null;
  }
}
