/**
 * FHIR writes become warehouse records: each third-party client is a record source
 * `ext-<clientId>` (the static API token writes as `ext-api`) with its own contiguous seq, so a
 * write goes through the same `Warehouse.ingest` as an edge's record (idempotent apply, LWW for
 * residents with the conflict log, a new version for a correction), appears in FHIR reads and
 * is indexed by the EMPI like any clinic's resident.
 *
 * Rules:
 * - create: a new id (UUID); update (PUT) of an id this source wrote: version + 1; update of an
 *   id unknown anywhere: created with that id; an Encounter/Observation owned by a clinic or
 *   another client: 409 (clinical events are corrected by their owner only). Patients
 *   (demographics) may be updated by any writer: last writer wins, the loser is logged.
 * - the sender's own identifiers (e.g. its result number) are kept in `fhir_identifier`, unique
 *   per source and type: conditional create (If-None-Exist: identifier=system|value) finds the
 *   earlier resource, and a plain create with an identifier already used is refused (409), so a
 *   retried POST cannot duplicate.
 * - writes of one source are serialised in this process; with several central instances on
 *   PostgreSQL a seq race is detected (the record comes back not applied) and retried.
 */
import { createHash } from 'node:crypto';
import { uuidv7 } from '../../contracts/ids.ts';
import { HybridLogicalClock, type RecordType } from '../../contracts/index.ts';
import type { IngestItem, Warehouse } from '../warehouse/types.ts';
import { EXTERNAL_SOURCE_PREFIX } from '../empi/empi.ts';
import { all, run, sqlFor, type Sql } from '../empi/sql.ts';
import { OperationOutcomeError } from './outcome.ts';
import type { ParsedWrite, WritableType } from './write.ts';

/** The record source of a FHIR client (the EMPI sends nothing down to these: they are not edges). */
export const sourceOf = (clientId: string) => `${EXTERNAL_SOURCE_PREFIX}${clientId}`;

const RECORD_TYPES: Record<WritableType, RecordType[]> = { Patient: ['resident'], Encounter: ['encounter'], Observation: ['observation', 'lab_result'] };

export const FHIR_WRITE_SCHEMA = [
  { sqlite: 'CREATE TABLE IF NOT EXISTS fhir_identifier (source TEXT NOT NULL, resource_type TEXT NOT NULL, system TEXT NOT NULL, value TEXT NOT NULL, record_id TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (source, resource_type, system, value))',
    pg: 'CREATE TABLE IF NOT EXISTS fhir_identifier (source TEXT NOT NULL, resource_type TEXT NOT NULL, system TEXT NOT NULL, value TEXT NOT NULL, record_id TEXT NOT NULL, at TEXT NOT NULL, PRIMARY KEY (source, resource_type, system, value))' },
  { sqlite: 'CREATE INDEX IF NOT EXISTS fhir_identifier_lookup ON fhir_identifier (resource_type, system, value)', pg: 'CREATE INDEX IF NOT EXISTS fhir_identifier_lookup ON fhir_identifier (resource_type, system, value)' },
];

export interface WriteResult { id: string; version: number; created: boolean }

export class FhirWriter {
  private readonly sql: Sql;
  private ready: Promise<void> | undefined;
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly clocks = new Map<string, HybridLogicalClock>();

  constructor(private readonly wh: Warehouse) {
    this.sql = sqlFor(wh);
  }

  init(): Promise<void> {
    this.ready ??= this.sql.ensure(FHIR_WRITE_SCHEMA);
    return this.ready;
  }

  /** Run `fn` after every earlier write of the same source (per-source queue). */
  private serial<T>(source: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.chains.get(source) ?? Promise.resolve();
    const next = prev.then(fn, fn);
    const tail = next.catch(() => undefined);
    this.chains.set(source, tail);
    void tail.then(() => { if (this.chains.get(source) === tail) this.chains.delete(source); });
    return next;
  }

  /** Resources of `type` this server holds with the given id: per owning source, the latest version. */
  async owners(type: WritableType, id: string): Promise<{ source: string; version: number }[]> {
    await this.init();
    const types = RECORD_TYPES[type];
    return this.sql.tx(function* () {
      return (yield* all<{ clinic_id: string; v: number }>(`SELECT clinic_id, max(version) AS v FROM records WHERE type IN (${types.map(() => '?').join(', ')}) AND record_id = ? GROUP BY clinic_id`, [...types, id]))
        .map((r) => ({ source: r.clinic_id, version: Number(r.v) }));
    });
  }

  /** Earlier resources of this source with one of these identifiers (conditional create). */
  async findByIdentifier(source: string, type: WritableType, system: string, value: string): Promise<string[]> {
    await this.init();
    return this.sql.tx(function* () {
      return (yield* all<{ record_id: string }>('SELECT record_id FROM fhir_identifier WHERE source = ? AND resource_type = ? AND system = ? AND value = ?', [source, type, system, value])).map((r) => r.record_id);
    });
  }

  async residentExists(ids: string[]): Promise<string[]> {
    if (ids.length === 0) return [];
    return this.sql.tx(function* () {
      const found = new Set((yield* all<{ resident_id: string }>(`SELECT resident_id FROM residents WHERE resident_id IN (${ids.map(() => '?').join(', ')})`, ids)).map((r) => r.resident_id));
      return ids.filter((i) => !found.has(i));
    });
  }

  /**
   * Write one resource as a record of `source`. `expectVersion`: the If-Match version (PUT) the
   * caller checked; re-checked here under the source's queue.
   */
  write(source: string, type: WritableType, id: string, parsed: ParsedWrite, opts: { update: boolean; ifMatch?: (owners: { source: string; version: number }[]) => void }): Promise<WriteResult> {
    return this.serial(source, async () => {
      await this.init();
      const missing = await this.residentExists(parsed.references);
      if (missing.length) throw new OperationOutcomeError(422, 'business-rule', `Patient/${missing[0]} is not known to this server: create the Patient first`, `${type}.subject`);
      const owners = await this.owners(type, id);
      opts.ifMatch?.(owners);
      const mine = owners.find((o) => o.source === source);
      const others = owners.filter((o) => o.source !== source);
      if (type !== 'Patient' && others.length) throw new OperationOutcomeError(409, 'conflict', `${type}/${id} belongs to ${others[0]!.source}: a clinical record is corrected only by its owner`);
      if (!opts.update && owners.length) throw new OperationOutcomeError(409, 'duplicate', `${type}/${id} exists`);
      const version = (mine?.version ?? 0) + 1;
      // Reserve the sender's identifiers first: a second create with the same identifier is refused.
      const now = new Date().toISOString();
      const reserved = await this.sql.tx(function* () {
        const taken: { system: string; value: string }[] = [];
        for (const i of parsed.identifiers) {
          const cur = (yield* all<{ record_id: string }>('SELECT record_id FROM fhir_identifier WHERE source = ? AND resource_type = ? AND system = ? AND value = ?', [source, type, i.system, i.value]))[0];
          if (cur && cur.record_id !== id) throw new OperationOutcomeError(409, 'duplicate', `identifier ${i.system}|${i.value} is already used by ${type}/${cur.record_id}: update that one (PUT) or send If-None-Exist`, `${type}.identifier`);
          if (!cur) {
            yield* run('INSERT INTO fhir_identifier (source, resource_type, system, value, record_id, at) VALUES (?, ?, ?, ?, ?, ?)', [source, type, i.system, i.value, id, now]);
            taken.push(i);
          }
        }
        return taken;
      });
      try {
        await this.ingest(source, parsed, id, version);
      } catch (e) {
        await this.sql.tx(function* () {
          for (const i of reserved) yield* run('DELETE FROM fhir_identifier WHERE source = ? AND resource_type = ? AND system = ? AND value = ?', [source, type, i.system, i.value]);
        }).catch(() => undefined);
        throw e;
      }
      return { id, version, created: owners.length === 0 };
    });
  }

  private async ingest(source: string, parsed: ParsedWrite, id: string, version: number): Promise<void> {
    let clock = this.clocks.get(source);
    if (!clock) { clock = new HybridLogicalClock(source); this.clocks.set(source, clock); }
    for (let attempt = 0; attempt < 5; attempt++) {
      const seq = (await this.wh.watermark(source)).appliedSeq + 1;
      const raw = JSON.stringify(parsed.payload);
      const hash = createHash('sha256').update(`${parsed.recordType}\n${id}\n${version}\n${raw}`).digest('hex');
      const createdAt = new Date().toISOString();
      const item: IngestItem = {
        kind: 'record', type: parsed.recordType, payload: parsed.payload, hash, raw,
        envelope: { recordId: id, type: parsed.recordType, clinicId: source, seq, version, hlc: clock.tick(), schemaVersion: 1, createdAt, payload: parsed.payload },
      };
      const r = await this.wh.ingest([item]);
      if (r.outcomes[0] === 'applied' || r.outcomes[0] === 'duplicate') return;
      // Another central instance took this seq first (dead-lettered as a collision): next seq.
    }
    throw new OperationOutcomeError(500, 'exception', 'the record could not be stored (sequence contention); retry');
  }

  /** A new server-assigned id. */
  static newId(): string {
    return uuidv7();
  }
}
