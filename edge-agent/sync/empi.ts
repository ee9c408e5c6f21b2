/**
 * Central -> edge EMPI person changes. Central publishes, on `central.empi.<clinicId>` (JetStream
 * stream EMPI), the current members of every person that has one of this clinic's residents
 * whenever a link, merge or unmerge touches it. This module keeps, per local resident, the person
 * id and the residents of the same person at other clinics (`empi_person_of`), applying an event
 * only if it is newer than the one the resident holds (idempotent, order-safe). The stream is
 * followed by a `StreamFollower` (./follower.ts): position kept with each apply, so a restart
 * resumes there and an edge that was offline catches up; a failed event is parked (see EmpiSync).
 * `$JS.API.STREAM.INFO.EMPI` also lets the follower notice a stream created again.
 *
 * NATS permissions: the clinic's user needs `$JS.API.CONSUMER.CREATE.EMPI.*.central.empi.<clinicId>`
 * (the filter in the subject confines it to its own events), `$JS.API.CONSUMER.MSG.NEXT.EMPI.>`,
 * `$JS.API.CONSUMER.INFO.EMPI.>`, `$JS.API.CONSUMER.DELETE.EMPI.>` and `$JS.API.STREAM.INFO.EMPI`.
 */
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsSource } from '../../contracts/runtime/nats-link.ts';
import { STREAMS, empiEventSchema, subjects, type EmpiEvent } from '../../contracts/index.ts';
import type { Db, Logger, Migration } from '../../contracts/runtime/index.ts';
import type { EdgeModule } from '../modules.ts';
import { StreamFollower, jsonDecoder, registerFollowerMetrics } from './follower.ts';

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
    -- position before the shared follower (migration 5 copies it to sync_position); unused since
    CREATE TABLE empi_sync (id INTEGER PRIMARY KEY CHECK (id = 1), stream_seq INTEGER NOT NULL);
  `),
}];

export interface PersonOf { residentId: string; personId: string; eventId: number; kind: string; others: { residentId: string; clinicId: string }[]; updatedAt: string }

export class EmpiSync {
  /**
   * Failed applies are parked (dead letter), not blocking: every event carries the complete
   * current members of its person and is applied per resident only if its `eventId` is newer, so
   * a later event for the same person supersedes a parked one, and events of other persons do not
   * depend on it. Blocking would hold every merge for the clinic behind one bad event.
   */
  readonly follower: StreamFollower<EmpiEvent, number>;

  constructor(private readonly db: Db, nc: NatsSource, private readonly clinicId: string, private readonly log: Logger) {
    this.follower = new StreamFollower<EmpiEvent, number>(db, nc, {
      name: 'empi',
      stream: STREAMS.empi,
      filterSubject: subjects.empi(clinicId),
      onFailure: 'park',
      decode: jsonDecoder(empiEventSchema),
      apply: (e) => this.apply(e),
      onApplied: (e, n) => { if (n) this.log.info({ personId: e.personId, kind: e.kind, residents: n }, 'EMPI person change applied'); },
    }, log);
  }

  get applied(): number { return this.follower.counters.applied; }

  /** Apply one event (returns residents updated); the follower calls it inside its transaction. Exported for tests and replays. */
  apply(e: EmpiEvent): number {
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
      return n;
    }).immediate();
  }

  personOf(residentId: string): PersonOf | null {
    const r = this.db.prepare<[string], { resident_id: string; person_id: string; event_id: number; kind: string; others: string; updated_at: string }>('SELECT * FROM empi_person_of WHERE resident_id = ?').get(residentId);
    return r ? { residentId: r.resident_id, personId: r.person_id, eventId: r.event_id, kind: r.kind, others: JSON.parse(r.others) as PersonOf['others'], updatedAt: r.updated_at } : null;
  }

  start(): void {
    this.follower.start();
  }

  async stop(): Promise<void> {
    await this.follower.stop();
  }
}

/** The edge module: registered in modules.ts. */
export const empiEdgeModule: EdgeModule = {
  name: 'empi',
  migrations: empiEdgeMigrations,
  async start(ctx) {
    const sync = new EmpiSync(ctx.store.db, ctx.nc, ctx.config.clinicId, ctx.log);
    const unregister = registerFollowerMetrics(ctx.registry, sync.follower);
    sync.start();
    empiSyncs.set(ctx.config.clinicId, sync);
    return {
      async stop() { await sync.stop(); unregister(); empiSyncs.delete(ctx.config.clinicId); },
      // Names parked person changes (dead letters); unhealthy only while the follower is blocked.
      health: () => sync.follower.health(),
    };
  },
};

/** Running syncs by clinic (tests and the web UI look up a resident's person here). */
export const empiSyncs = new Map<string, EmpiSync>();
