/**
 * Central -> edge EMPI person changes. Central publishes, on `central.empi.<clinicId>` (JetStream
 * stream EMPI), the current members of every person that has one of this clinic's residents
 * whenever a link, merge or unmerge touches it. This module keeps, per local resident, the person
 * id and the residents of the same person at other clinics (`empi_person_of`), applying an event
 * only if it is newer than the one the resident holds (idempotent, order-safe). The last stream
 * sequence applied is kept, so a restart resumes there; an edge that was offline catches up.
 *
 * NATS permissions: the clinic's user needs `$JS.API.CONSUMER.CREATE.EMPI.*.central.empi.<clinicId>`
 * (the filter in the subject confines it to its own events), `$JS.API.CONSUMER.MSG.NEXT.EMPI.>`,
 * `$JS.API.CONSUMER.INFO.EMPI.>`, `$JS.API.CONSUMER.DELETE.EMPI.>` and `$JS.API.STREAM.INFO.EMPI`.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { DeliverPolicy, jetstream } from '@nats-io/jetstream';
import type { NatsConnection } from '@nats-io/transport-node';
import { STREAMS, empiEventSchema, subjects, type EmpiEvent } from '../../contracts/index.ts';
import type { Db, Logger, Migration } from '../../contracts/runtime/index.ts';
import type { EdgeModule } from '../modules.ts';

export const empiEdgeMigrations: Migration[] = [{
  version: 560,
  name: 'empi: the EMPI person of each resident, from central',
  up: (db) => db.exec(`
    CREATE TABLE empi_person_of (
      resident_id TEXT PRIMARY KEY,
      person_id TEXT NOT NULL,
      event_id INTEGER NOT NULL,
      kind TEXT NOT NULL,
      -- residents of the same person at other clinics: [{residentId, clinicId}]
      others TEXT NOT NULL,
      updated_at TEXT NOT NULL
    );
    CREATE INDEX empi_person_of_person ON empi_person_of (person_id);
    CREATE TABLE empi_sync (id INTEGER PRIMARY KEY CHECK (id = 1), stream_seq INTEGER NOT NULL);
  `),
}];

export interface PersonOf { residentId: string; personId: string; eventId: number; kind: string; others: { residentId: string; clinicId: string }[]; updatedAt: string }

export class EmpiSync {
  private running = false;
  private done: Promise<void> = Promise.resolve();
  private stopCurrent: (() => void) | null = null;
  applied = 0;
  rejected = 0;

  constructor(private readonly db: Db, private readonly nc: NatsConnection, private readonly clinicId: string, private readonly log: Logger) {}

  /** Apply one event (returns residents updated); exported for tests and replays. */
  apply(e: EmpiEvent, streamSeq?: number): number {
    const now = new Date().toISOString();
    return this.db.transaction(() => {
      let n = 0;
      for (const r of e.residents) {
        if (r.clinicId !== this.clinicId) continue;
        const others = JSON.stringify(e.residents.filter((x) => x.clinicId !== this.clinicId || x.residentId !== r.residentId));
        n += this.db.prepare(`INSERT INTO empi_person_of (resident_id, person_id, event_id, kind, others, updated_at) VALUES (?, ?, ?, ?, ?, ?)
          ON CONFLICT (resident_id) DO UPDATE SET person_id = excluded.person_id, event_id = excluded.event_id, kind = excluded.kind, others = excluded.others, updated_at = excluded.updated_at
          WHERE excluded.event_id >= empi_person_of.event_id`).run(r.residentId, e.personId, e.eventId, e.kind, others, now).changes;
      }
      if (streamSeq !== undefined) this.db.prepare('INSERT INTO empi_sync (id, stream_seq) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET stream_seq = max(stream_seq, excluded.stream_seq)').run(streamSeq);
      return n;
    }).immediate();
  }

  personOf(residentId: string): PersonOf | null {
    const r = this.db.prepare<[string], { resident_id: string; person_id: string; event_id: number; kind: string; others: string; updated_at: string }>('SELECT * FROM empi_person_of WHERE resident_id = ?').get(residentId);
    return r ? { residentId: r.resident_id, personId: r.person_id, eventId: r.event_id, kind: r.kind, others: JSON.parse(r.others) as PersonOf['others'], updatedAt: r.updated_at } : null;
  }

  start(): void {
    this.running = true;
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopCurrent?.();
    await this.done;
  }

  private lastSeq(): number {
    return this.db.prepare<[], { stream_seq: number }>('SELECT stream_seq FROM empi_sync WHERE id = 1').get()?.stream_seq ?? 0;
  }

  private async loop(): Promise<void> {
    const js = jetstream(this.nc);
    let delay = 200;
    while (this.running && !this.nc.isClosed()) {
      try {
        const from = this.lastSeq();
        // One filter subject (a string): nats-server 2.9 has no filter_subjects.
        const consumer = await js.consumers.get(STREAMS.empi, {
          filter_subjects: subjects.empi(this.clinicId),
          ...(from > 0 ? { deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: from + 1 } : { deliver_policy: DeliverPolicy.All }),
        });
        const messages = await consumer.consume({ max_messages: 64 });
        this.stopCurrent = () => { void messages.close(); };
        delay = 200;
        for await (const m of messages) {
          const parsed = empiEventSchema.safeParse(safeJson(m.data));
          if (!parsed.success) {
            this.rejected++;
            this.log.error({ subject: m.subject, issues: parsed.error.issues.slice(0, 3) }, 'invalid EMPI event ignored');
            continue;
          }
          const n = this.apply(parsed.data, m.seq);
          this.applied++;
          if (n) this.log.info({ personId: parsed.data.personId, kind: parsed.data.kind, residents: n }, 'EMPI person change applied');
        }
      } catch (e) {
        if (!this.running) break;
        this.log.debug({ err: (e as Error).message }, 'EMPI consumer not available; retrying');
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

/** The edge module: registered in modules.ts. */
export const empiEdgeModule: EdgeModule = {
  name: 'empi',
  migrations: empiEdgeMigrations,
  async start(ctx) {
    const sync = new EmpiSync(ctx.store.db, ctx.nc, ctx.config.clinicId, ctx.log);
    sync.start();
    empiSyncs.set(ctx.config.clinicId, sync);
    return {
      async stop() { await sync.stop(); empiSyncs.delete(ctx.config.clinicId); },
      health: () => ({ ok: true, detail: `${sync.applied} person changes applied, ${sync.rejected} rejected` }),
    };
  },
};

/** Running syncs by clinic (tests and the web UI look up a resident's person here). */
export const empiSyncs = new Map<string, EmpiSync>();
