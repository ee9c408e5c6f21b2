/**
 * EMPI in the central process: the index, its API at `/api/empi` on the management API app, a
 * background loop that indexes new residents, and the publisher of person changes to the edges
 * (`central.empi.<clinicId>` on the JetStream stream EMPI, de-duplicated by event row id).
 *
 *   const empi = await mountEmpi(api, { wh, hub: () => nc, log, audit });   // ... await empi.stop();
 */
import type { OpenAPIHono } from '@hono/zod-openapi';
import { jetstream, jetstreamManager, RetentionPolicy, StorageType, DiscardPolicy } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { STREAMS, subjects } from '../../contracts/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { AuditEntry, Warehouse } from '../warehouse/types.ts';
import { empiApi } from './api.ts';
import { Empi, type RunStats } from './empi.ts';

export { Empi, EmpiError, EXTERNAL_SOURCE_PREFIX } from './empi.ts';
export { match, blockingKeys, DEFAULT_THRESHOLDS } from './match.ts';

const NANOS = 1_000_000;

export interface EmpiDeps {
  wh: Warehouse;
  /** The hub connection once it answered (null before): person changes wait in the warehouse meanwhile. */
  hub: () => NatsConnection | null;
  log: Logger;
  audit: (e: AuditEntry) => Promise<void>;
  /** Pause between background runs. */
  intervalMs?: number;
}

export interface EmpiService {
  empi: Empi;
  /** Index new residents and publish pending person changes now. */
  runNow(): Promise<RunStats>;
  stop(): Promise<void>;
}

export async function ensureEmpiStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  const cfg = {
    name: STREAMS.empi, subjects: [subjects.allEmpi], storage: StorageType.File, retention: RetentionPolicy.Limits,
    // An edge may be offline for a while; person changes are small.
    max_age: 90 * 24 * 3600 * 1000 * NANOS, duplicate_window: 10 * 60 * 1000 * NANOS, discard: DiscardPolicy.Old,
  };
  try {
    await jsm.streams.info(STREAMS.empi);
    await jsm.streams.update(STREAMS.empi, cfg);
  } catch {
    await jsm.streams.add(cfg);
  }
}

export async function mountEmpi(api: OpenAPIHono, deps: EmpiDeps): Promise<EmpiService> {
  const empi = new Empi(deps.wh);
  await empi.init();
  let streamReady = false;

  const publish = async () => {
    // Hub not reached since start: the changes stay unpublished in the warehouse until it is.
    const nc = deps.hub();
    if (!nc) return;
    const js = jetstream(nc);
    for (;;) {
      const batch = await empi.unpublished(200);
      if (batch.length === 0) return;
      if (!streamReady) { await ensureEmpiStream(nc); streamReady = true; }
      const done: number[] = [];
      try {
        for (const e of batch) {
          await js.publish(subjects.empi(e.clinicId), JSON.stringify(e.event), { msgID: `empi-${e.id}` });
          done.push(e.id);
        }
      } catch (err) {
        streamReady = false; // the broker may have lost the stream: recreate it next time
        throw err;
      } finally {
        await empi.markPublished(done);
      }
    }
  };

  let running: Promise<RunStats> | undefined;
  const runNow = () => {
    running ??= (async () => {
      try {
        const stats = await empi.runOnce();
        if (stats.linked || stats.newPersons || stats.reviews) deps.log.info({ ...stats }, 'EMPI indexed new residents');
        await publish().catch((e: Error) => deps.log.warn({ err: e.message }, 'EMPI person changes not published yet; retrying'));
        return stats;
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  api.route('/api/empi', empiApi({ empi, audit: deps.audit, runNow }));

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const loop = () => {
    if (stopped) return;
    runNow().catch((e: Error) => deps.log.error({ err: e.message }, 'EMPI run failed')).finally(() => {
      if (!stopped) timer = setTimeout(loop, deps.intervalMs ?? 2000);
    });
  };
  timer = setTimeout(loop, 0);

  return {
    empi, runNow,
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running?.catch(() => undefined);
    },
  };
}
