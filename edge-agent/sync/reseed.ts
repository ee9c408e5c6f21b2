/**
 * Re-seeding central from this edge: the recovery for a central warehouse restored to a point
 * its records stream no longer covers (older than the stream's max_age, or the broker's store
 * lost as well), when the edge has already trimmed, on central's receipts, the records central
 * applied after that point. Central then sits at a gap (its watermark W below the receipt R this
 * edge holds) and the edge raises CentralLostAppliedRecords; an operator starts this.
 *
 * The outbox gets back one entry for every seq in (W, R], in one transaction:
 * - the record whose latest version that seq wrote (`records.seq`): its envelope rebuilt from the
 *   row, the same bytes as first published (`envelopeJson`), so where central still holds the
 *   seq the copy is a plain duplicate;
 * - a `seq_lost` entry (contracts/envelope.ts) for a seq whose version a later one superseded
 *   (the edge keeps only the latest version of each record), or written before the edge kept
 *   each record's seq: central logs it in its dead letters as `lost_at_source`, where it takes its
 *   place in the sequence, and applies nothing;
 * and the receipt goes back to W, so the relay publishes from W + 1 again (Relay.reseed stops and
 * restarts it around this). Nothing is deleted: rows still in the outbox are kept as they are
 * (defensive: the receipt trims in the transaction that raises it, so there are none).
 * Records written before migration 6 carry no seq: when the gap has seqs of that time, all such
 * rows are also sent again at new seqs after the last one (central keeps one copy of a version).
 * So the latest version of every record reaches central; the history of versions a later one
 * superseded inside the gap does not, and each such seq is counted and visible at central.
 */
import { formatHlc, SCHEMA_VERSION, SEQ_LOST_TYPE, type SeqLost } from '../../contracts/index.ts';
import { envelopeJson, type EdgeStore } from '../store/store.ts';

export interface ReseedResult {
  /** Central's watermark the re-seed started from (its latest receipt). */
  fromSeq: number;
  /** The receipt this edge held: the re-seed covers (fromSeq, toSeq]. */
  toSeq: number;
  /** Seqs re-sent with their record (its latest version, written by that seq). */
  rebuilt: number;
  /** Seqs whose version a later one superseded: sent as lost. */
  superseded: number;
  /** Seqs written before the edge kept each record's seq: sent as lost. */
  notKept: number;
  /**
   * With `notKept` seqs: every record whose row has no seq (written before migration 6; one of
   * them may be what a not-kept seq wrote) sent again at a new seq after the last one, so central
   * gets it whatever seq wrote it (one it already holds is a duplicate there: same version).
   */
  resentAtNewSeq: number;
  /** Seqs still in the outbox (not trimmed yet): kept as they were. */
  alreadyQueued: number;
  at: string;
}

export class ReseedRefused extends Error {
  override name = 'ReseedRefused';
}

interface RecordRow { record_id: string; type: string; version: number; hlc: string; payload: string; updated_at: string; seq: number }

/** Puts (centralSeq, receipt] back into the outbox and the receipt back to `centralSeq` (see above). */
export function reseedOutbox(store: EdgeStore, centralSeq: number, now = new Date()): ReseedResult {
  const db = store.db;
  const at = now.toISOString();
  return db.transaction((): ReseedResult => {
    const meta = (k: string) => db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(k)?.value ?? null;
    const held = Number(meta('receipt_seq') ?? '0');
    const lastSeq = Number(meta('next_seq') ?? '1') - 1;
    if (!Number.isInteger(centralSeq) || centralSeq < 0) throw new ReseedRefused(`central watermark ${centralSeq} is not a seq`);
    if (centralSeq >= held) throw new ReseedRefused(`central's watermark (${centralSeq}) is not below the receipt this edge holds (${held}): central lacks nothing this edge trimmed`);
    if (lastSeq < held) throw new ReseedRefused(`receipt ${held} is above the last seq written (${lastSeq}): this database is not the one central's receipts were for`);
    const keptSince = Number(meta('records_seq_since') ?? '1');
    const rows = new Map<number, RecordRow>();
    // A scan of records: a rare operator action, not worth an index every write would maintain.
    for (const r of db.prepare<[number, number], RecordRow>('SELECT record_id, type, version, hlc, payload, updated_at, seq FROM records WHERE seq > ? AND seq <= ?').iterate(centralSeq, held)) rows.set(r.seq, r);
    const queued = db.prepare<[number], { seq: number }>('SELECT seq FROM outbox WHERE seq = ?');
    const insert = db.prepare<[number, string, string, number, string, string]>('INSERT INTO outbox (seq, record_id, type, version, envelope, created_at, priority) VALUES (?, ?, ?, ?, ?, ?, 0)');
    const r: ReseedResult = { fromSeq: centralSeq, toSeq: held, rebuilt: 0, superseded: 0, notKept: 0, resentAtNewSeq: 0, alreadyQueued: 0, at };
    for (let seq = centralSeq + 1; seq <= held; seq++) {
      if (queued.get(seq)) { r.alreadyQueued++; continue; }
      const row = rows.get(seq);
      if (row) {
        insert.run(seq, row.record_id, row.type, row.version, envelopeJson(row.record_id, row.type, store.clinicId, seq, row.version, row.hlc, SCHEMA_VERSION, row.updated_at, row.payload), row.updated_at);
        r.rebuilt++;
        continue;
      }
      const lost: SeqLost = { reason: seq >= keptSince ? 'superseded' : 'not_kept', reseedAt: at };
      if (lost.reason === 'superseded') r.superseded++;
      else r.notKept++;
      const id = `seq-lost-${seq}`;
      // An HLC for the envelope's format only: central applies nothing from this entry.
      insert.run(seq, id, SEQ_LOST_TYPE, 1, envelopeJson(id, SEQ_LOST_TYPE, store.clinicId, seq, 1, formatHlc({ ms: now.getTime(), counter: 0, node: store.clinicId }), SCHEMA_VERSION, at, JSON.stringify(lost)), at);
    }
    if (r.notKept > 0) {
      // Which of these rows a not-kept seq wrote is unknown: all of them, appended as new writes
      // are (each row then keeps its new seq, so a later re-seed knows it).
      let next = lastSeq + 1;
      const setSeq = db.prepare<[number, string, string]>('UPDATE records SET seq = ? WHERE type = ? AND record_id = ?');
      for (const row of db.prepare<[], Omit<RecordRow, 'seq'>>('SELECT record_id, type, version, hlc, payload, updated_at FROM records WHERE seq IS NULL ORDER BY updated_at').all()) {
        insert.run(next, row.record_id, row.type, row.version, envelopeJson(row.record_id, row.type, store.clinicId, next, row.version, row.hlc, SCHEMA_VERSION, row.updated_at, row.payload), row.updated_at);
        setSeq.run(next, row.type, row.record_id);
        next++;
        r.resentAtNewSeq++;
      }
      db.prepare("UPDATE meta SET value = ? WHERE key = 'next_seq'").run(String(next));
    }
    db.prepare("INSERT INTO meta (key, value) VALUES ('receipt_seq', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(String(centralSeq));
    db.prepare("INSERT INTO meta (key, value) VALUES ('reseed_last', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(JSON.stringify(r));
    return r;
  }).immediate();
}

/** The last re-seed of this edge (meta), for the sync page. */
export function lastReseed(store: EdgeStore): ReseedResult | null {
  const v = store.getMeta('reseed_last');
  return v ? (JSON.parse(v) as ReseedResult) : null;
}

