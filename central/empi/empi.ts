/**
 * The EMPI (enterprise master patient index): one person across clinics.
 *
 * It follows the warehouse from outside: a cursor per clinic over `records` (index on
 * (clinic_id, seq); a clinic's records are applied in seq order, so nothing appears below the
 * cursor later) finds resident records, and each resident's current (LWW) demographics in
 * `residents` are matched against the index. Its own tables:
 *   empi_person   person id, active or merged into another
 *   empi_link     resident -> person (one row per resident), with method and score
 *   empi_key      blocking keys (ID number, cards, birth date, phone, pinyin of the name)
 *   empi_review   probable matches for a person to decide (open / accepted / rejected)
 *   empi_history  every link, merge, unmerge and review decision (who, when, which residents)
 *   empi_outbox   person changes to publish to the clinics concerned (central.empi.<clinic>)
 *   empi_cursor   per clinic, the highest record seq scanned
 * Every change is one transaction under the advisory lock `empi` (PostgreSQL: several central
 * instances), so the index, its history and the events going down to the edges agree.
 */
import { randomUUID } from 'node:crypto';
import type { EmpiEvent } from '../../contracts/index.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { DEFAULT_THRESHOLDS, blockingKeys, match, type Demographics, type MatchResult, type Thresholds } from './match.ts';
import { all, parseJson, run, sqlFor, type Op, type Sql } from './sql.ts';

/** Records written through the FHIR API come from sources `ext-<client>`: not edges, nothing to send down. */
export const EXTERNAL_SOURCE_PREFIX = 'ext-';
const LOCK = 'empi';

export class EmpiError extends Error {
  override name = 'EmpiError';
  constructor(readonly status: 400 | 404 | 409, message: string) {
    super(message);
  }
}

const id = (sqlite: string, pg: string) => ({ sqlite, pg });
const AUTO = { sqlite: 'INTEGER PRIMARY KEY AUTOINCREMENT', pg: 'BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY' };
const table = (name: string, cols: (d: 'sqlite' | 'pg') => string) => id(`CREATE TABLE IF NOT EXISTS ${name} (${cols('sqlite')})`, `CREATE TABLE IF NOT EXISTS ${name} (${cols('pg')})`);
const same = (s: string) => id(s, s);

export const EMPI_SCHEMA = [
  table('empi_person', () => 'person_id TEXT PRIMARY KEY, status TEXT NOT NULL, merged_into TEXT, created_at TEXT NOT NULL, updated_at TEXT NOT NULL'),
  table('empi_link', (d) => `resident_id TEXT PRIMARY KEY, person_id TEXT NOT NULL, clinic_id TEXT NOT NULL, method TEXT NOT NULL, score ${d === 'pg' ? 'DOUBLE PRECISION' : 'REAL'}, linked_at TEXT NOT NULL, linked_by TEXT NOT NULL`),
  same('CREATE INDEX IF NOT EXISTS empi_link_person ON empi_link (person_id)'),
  table('empi_key', () => 'key TEXT NOT NULL, resident_id TEXT NOT NULL, PRIMARY KEY (key, resident_id)'),
  same('CREATE INDEX IF NOT EXISTS empi_key_resident ON empi_key (resident_id)'),
  table('empi_review', (d) => `id ${AUTO[d]}, resident_id TEXT NOT NULL, candidate_resident_id TEXT NOT NULL, score ${d === 'pg' ? 'DOUBLE PRECISION' : 'REAL'} NOT NULL, detail TEXT NOT NULL,
    status TEXT NOT NULL, created_at TEXT NOT NULL, decided_at TEXT, decided_by TEXT, UNIQUE (resident_id, candidate_resident_id)`),
  same('CREATE INDEX IF NOT EXISTS empi_review_status ON empi_review (status, id)'),
  table('empi_history', (d) => `id ${AUTO[d]}, at TEXT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, person_id TEXT NOT NULL, other_person_id TEXT,
    residents TEXT NOT NULL, detail TEXT NOT NULL, undone_by BIGINT`),
  same('CREATE INDEX IF NOT EXISTS empi_history_person ON empi_history (person_id)'),
  same('CREATE INDEX IF NOT EXISTS empi_history_other ON empi_history (other_person_id)'),
  table('empi_outbox', (d) => `id ${AUTO[d]}, clinic_id TEXT NOT NULL, event TEXT NOT NULL, created_at TEXT NOT NULL, published_at TEXT`),
  same('CREATE INDEX IF NOT EXISTS empi_outbox_unpublished ON empi_outbox (id) WHERE published_at IS NULL'),
  table('empi_cursor', () => 'clinic_id TEXT PRIMARY KEY, seq BIGINT NOT NULL'),
];

export interface Member { residentId: string; clinicId: string; method: string; score: number | null; linkedAt: string; name?: string; sex?: string; birthDate?: string }
export interface Person { personId: string; status: 'active' | 'merged'; mergedInto: string | null; createdAt: string; members: Member[] }
export interface Review {
  id: number; status: string; score: number; createdAt: string; decidedAt: string | null; decidedBy: string | null;
  resident: { residentId: string; personId: string | null; demographics: Record<string, unknown> | null };
  candidate: { residentId: string; personId: string | null; demographics: Record<string, unknown> | null };
  detail: { reasons: string[]; fields: MatchResult['fields']; deterministic: string[] };
}
export interface HistoryEntry { id: number; at: string; actor: string; action: string; personId: string; otherPersonId: string | null; residents: { residentId: string; clinicId: string }[]; detail: Record<string, unknown>; undoneBy: number | null }
export interface RunStats { scanned: number; residents: number; linked: number; newPersons: number; reviews: number }
export interface Candidate { residentId: string; personId: string; clinicId: string; result: MatchResult }

interface LinkRow { resident_id: string; person_id: string; clinic_id: string }
const now = () => new Date().toISOString();
const inList = (n: number) => Array.from({ length: n }, () => '?').join(', ');

export interface EmpiOptions {
  thresholds?: Thresholds;
  /** Resident records read per background transaction (at most). */
  batch?: number;
  /** A background transaction stops taking residents once it has run this long (ms). */
  sliceMs?: number;
}

export class Empi {
  readonly sql: Sql;
  readonly thresholds: Thresholds;
  private readonly batch: number;
  private readonly sliceMs: number;
  private ready: Promise<void> | undefined;

  constructor(wh: Warehouse, opts: EmpiOptions = {}) {
    this.sql = sqlFor(wh);
    this.thresholds = opts.thresholds ?? DEFAULT_THRESHOLDS;
    // Matching runs on central's main thread beside the ingest, so the background scan works in
    // slices: one transaction of at most `batch` residents that stops taking more after `sliceMs`,
    // then a pause as long as the slice (the ingest gets at least half of the thread while a
    // clinic's bulk registration is indexed). 1,000 residents per transaction stalled the ingest
    // for 1-2 s; 50 per transaction with one event-loop turn between them still held it ~40 ms
    // at a time on a slow machine, and an ingest cycle (delivery, apply, flush, ack, receipt)
    // spans several turns: observations waited 200-400 ms (p99) while 2,000 residents were indexed.
    this.batch = opts.batch ?? 50;
    this.sliceMs = opts.sliceMs ?? 10;
  }

  /** Create the empi_* tables if missing (idempotent, both backends). */
  init(): Promise<void> {
    this.ready ??= this.sql.ensure(EMPI_SCHEMA);
    return this.ready;
  }

  private tx<T>(body: () => Generator<Op, T, unknown>): Promise<T> {
    return this.init().then(() => this.sql.tx(body, LOCK));
  }

  /** Scan every clinic's new records once and index the residents found. */
  async runOnce(): Promise<RunStats> {
    const stats: RunStats = { scanned: 0, residents: 0, linked: 0, newPersons: 0, reviews: 0 };
    const clinics = await this.tx(function* () { return yield* all<{ clinic_id: string }>('SELECT clinic_id FROM clinic_state ORDER BY clinic_id'); });
    for (const { clinic_id: clinic } of clinics) {
      for (;;) {
        const t0 = performance.now();
        const more = await this.tx(() => this.scanClinic(clinic, stats, t0 + this.sliceMs));
        if (!more) break;
        const held = performance.now() - t0;
        await new Promise((r) => setTimeout(r, Math.max(1, Math.ceil(held))));
      }
    }
    return stats;
  }

  /** One slice: index resident records above the clinic's cursor until `deadline` (performance.now()); true if more may follow. */
  private *scanClinic(clinic: string, stats: RunStats, deadline = Infinity): Generator<Op, boolean, unknown> {
    const cur = Number((yield* all<{ seq: number }>('SELECT seq FROM empi_cursor WHERE clinic_id = ?', [clinic]))[0]?.seq ?? 0);
    // Records are inserted in seq order up to the clinic's watermark, in the same transaction that
    // moves it: every record above the cursor is at or below the watermark read here. Only resident
    // records are read (the rest, most of the traffic, is skipped by the database, not in JS).
    const wm = Number((yield* all<{ applied_seq: number }>('SELECT applied_seq FROM clinic_state WHERE clinic_id = ?', [clinic]))[0]?.applied_seq ?? 0);
    if (wm <= cur) return false;
    const rows = yield* all<{ seq: number; rid: string | null }>(
      `SELECT seq, ${this.sql.json('payload', 'residentId')} AS rid FROM records WHERE clinic_id = ? AND seq > ? AND seq <= ? AND type = 'resident' ORDER BY seq LIMIT ?`,
      [clinic, cur, wm, this.batch]);
    const seen = new Set<string>();
    let taken = 0;
    for (const r of rows) {
      // Out of time: the rest of the batch waits for the next slice (at least one row per slice).
      if (taken > 0 && performance.now() > deadline) break;
      taken++;
      if (!r.rid || seen.has(r.rid)) continue;
      seen.add(r.rid);
      const { outcome: o, reviews } = yield* this.indexResident(r.rid, clinic);
      stats.residents++;
      stats.reviews += reviews;
      if (o === 'linked') stats.linked++;
      if (o === 'new') stats.newPersons++;
    }
    stats.scanned += taken;
    // A full batch or a slice that ran out of time: more resident records may follow; otherwise
    // everything up to the watermark is scanned.
    const more = taken < rows.length || rows.length === this.batch;
    const last = more ? Number(rows[taken - 1]!.seq) : wm;
    yield* run('INSERT INTO empi_cursor (clinic_id, seq) VALUES (?, ?) ON CONFLICT (clinic_id) DO UPDATE SET seq = excluded.seq', [clinic, last]);
    return more;
  }

  /** Load residents' current demographics. */
  private *demographics(ids: string[]): Generator<Op, Map<string, Demographics & Record<string, unknown>>, unknown> {
    const out = new Map<string, Demographics & Record<string, unknown>>();
    for (let i = 0; i < ids.length; i += 500) {
      const chunk = ids.slice(i, i + 500);
      const rows = yield* all<{ resident_id: string; payload: unknown }>(`SELECT resident_id, payload FROM residents WHERE resident_id IN (${inList(chunk.length)})`, chunk);
      for (const r of rows) out.set(r.resident_id, parseJson(r.payload));
    }
    return out;
  }

  /** Candidates for demographics `d`: residents sharing a blocking key, scored, best first. */
  private *candidates(d: Demographics, exclude: string | null): Generator<Op, Candidate[], unknown> {
    const keys = blockingKeys(d);
    if (keys.length === 0) return [];
    const strong = keys.filter((k) => /^(id|ins|ehc):/.test(k));
    const weak = keys.filter((k) => !/^(id|ins|ehc):/.test(k));
    const found = new Map<string, LinkRow>();
    const q = (ks: string[], limit: number) => all<LinkRow>(
      `SELECT DISTINCT l.resident_id, l.person_id, l.clinic_id FROM empi_key k JOIN empi_link l ON l.resident_id = k.resident_id WHERE k.key IN (${inList(ks.length)}) AND k.resident_id <> ? LIMIT ${limit}`,
      [...ks, exclude ?? '']);
    if (strong.length) for (const r of yield* q(strong, 1000)) found.set(r.resident_id, r);
    if (weak.length) for (const r of yield* q(weak, 500)) found.set(r.resident_id, r);
    const demo = yield* this.demographics([...found.keys()]);
    const out: Candidate[] = [];
    for (const [rid, l] of found) {
      const cd = demo.get(rid);
      if (!cd) continue;
      out.push({ residentId: rid, personId: l.person_id, clinicId: l.clinic_id, result: match(d, cd, this.thresholds) });
    }
    const rank = (c: Candidate) => (c.result.decision === 'link' ? 2 : c.result.decision === 'review' ? 1 : 0) * 1e6 + (c.result.deterministic.length ? 1e5 : 0) + c.result.score;
    return out.sort((a, b) => rank(b) - rank(a));
  }

  /** Index one resident: keys always; a person the first time it is seen. */
  private *indexResident(rid: string, clinic: string): Generator<Op, { outcome: 'known' | 'linked' | 'new' | 'missing'; reviews: number }, unknown> {
    const d = (yield* this.demographics([rid])).get(rid);
    if (!d) return { outcome: 'missing', reviews: 0 };
    yield* run('DELETE FROM empi_key WHERE resident_id = ?', [rid]);
    for (const k of blockingKeys(d)) yield* run('INSERT INTO empi_key (key, resident_id) VALUES (?, ?) ON CONFLICT DO NOTHING', [k, rid]);
    const linked = (yield* all<LinkRow>('SELECT resident_id, person_id, clinic_id FROM empi_link WHERE resident_id = ?', [rid]))[0];
    const cands = yield* this.candidates(d, rid);
    if (linked) {
      // Changed demographics of an indexed resident (an ID number added later, a corrected card)
      // never relink on their own: an identifier now shared with another person becomes a review.
      let reviews = 0;
      const seen = new Set<string>([linked.person_id]);
      for (const c of cands) {
        if (seen.has(c.personId) || c.result.decision === 'no-link' || c.result.deterministic.length === 0) continue;
        seen.add(c.personId);
        reviews += yield* this.propose(rid, c, ['demographics changed after indexing']);
      }
      return { outcome: 'known', reviews };
    }
    // Best candidate per person.
    const perPerson = new Map<string, Candidate>();
    for (const c of cands) if (!perPerson.has(c.personId)) perPerson.set(c.personId, c);
    const best = [...perPerson.values()];
    const at = now();
    const target = best[0]?.result.decision === 'link' ? best[0] : undefined;
    let personId: string;
    if (target) {
      personId = target.personId;
      const method = target.result.deterministic.length ? `deterministic:${target.result.deterministic.join('+')}` : 'probabilistic';
      yield* run('INSERT INTO empi_link (resident_id, person_id, clinic_id, method, score, linked_at, linked_by) VALUES (?, ?, ?, ?, ?, ?, ?)', [rid, personId, clinic, method, target.result.score, at, 'empi']);
      yield* this.record('link', 'empi', personId, null, [{ residentId: rid, clinicId: clinic }], { method, score: target.result.score, reasons: target.result.reasons, candidate: target.residentId }, true);
    } else {
      personId = randomUUID();
      yield* run("INSERT INTO empi_person (person_id, status, merged_into, created_at, updated_at) VALUES (?, 'active', NULL, ?, ?)", [personId, at, at]);
      yield* run("INSERT INTO empi_link (resident_id, person_id, clinic_id, method, score, linked_at, linked_by) VALUES (?, ?, ?, 'new', NULL, ?, 'empi')", [rid, personId, clinic, at]);
    }
    // Everything else worth a look (another person also linking, or a probable match) is a review.
    let reviews = 0;
    for (const c of best.filter((x) => x !== target && x.result.decision !== 'no-link').slice(0, 5)) {
      reviews += yield* this.propose(rid, c, target ? ['the resident was linked to another person'] : []);
    }
    return { outcome: target ? 'linked' : 'new', reviews };
  }

  /** Open a review for a pair never reviewed before (in either direction). Returns 1 if opened. */
  private *propose(rid: string, c: Candidate, extra: string[]): Generator<Op, number, unknown> {
    const earlier = yield* all('SELECT 1 AS x FROM empi_review WHERE (resident_id = ? AND candidate_resident_id = ?) OR (resident_id = ? AND candidate_resident_id = ?)', [rid, c.residentId, c.residentId, rid]);
    if (earlier.length) return 0;
    return yield* run(`INSERT INTO empi_review (resident_id, candidate_resident_id, score, detail, status, created_at) VALUES (?, ?, ?, ?, 'open', ?)`,
      [rid, c.residentId, c.result.score, JSON.stringify({ reasons: [...c.result.reasons, ...extra], fields: c.result.fields, deterministic: c.result.deterministic }), now()]);
  }

  /** Append a history entry and queue the person's membership to each edge clinic holding one of its residents. */
  private *record(action: string, actor: string, personId: string, other: string | null, residents: { residentId: string; clinicId: string }[], detail: Record<string, unknown>, onlyIfShared = false): Generator<Op, number, unknown> {
    const at = now();
    const hid = Number((yield* all<{ id: number }>('INSERT INTO empi_history (at, actor, action, person_id, other_person_id, residents, detail) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id',
      [at, actor, action, personId, other, JSON.stringify(residents), JSON.stringify(detail)]))[0]!.id);
    const persons = other ? [personId, other] : [personId];
    for (const p of persons) {
      const members = (yield* all<LinkRow>('SELECT resident_id, person_id, clinic_id FROM empi_link WHERE person_id = ? ORDER BY resident_id', [p]));
      if (onlyIfShared && members.length < 2) continue;
      const kind: EmpiEvent['kind'] = action === 'link' ? 'link' : action === 'unmerge' ? 'unmerge' : action === 'review-accepted' ? 'review-accepted' : 'merge';
      const event: EmpiEvent = { eventId: hid, kind, personId: p, ...(persons.length > 1 ? { otherPersonId: persons.find((x) => x !== p)! } : {}), residents: members.map((m) => ({ residentId: m.resident_id, clinicId: m.clinic_id })), at };
      for (const clinic of new Set(members.map((m) => m.clinic_id))) {
        if (clinic.startsWith(EXTERNAL_SOURCE_PREFIX)) continue;
        yield* run('INSERT INTO empi_outbox (clinic_id, event, created_at, published_at) VALUES (?, ?, ?, NULL)', [clinic, JSON.stringify(event), at]);
      }
    }
    return hid;
  }

  private *mergeTx(survivor: string, merged: string, actor: string, action: 'merge' | 'review-accepted', detail: Record<string, unknown>): Generator<Op, HistoryEntry, unknown> {
    if (survivor === merged) throw new EmpiError(409, 'a person cannot be merged into itself');
    const ps = yield* all<{ person_id: string; status: string; merged_into: string | null }>(`SELECT person_id, status, merged_into FROM empi_person WHERE person_id IN (?, ?)`, [survivor, merged]);
    for (const p of [survivor, merged]) {
      const row = ps.find((x) => x.person_id === p);
      if (!row) throw new EmpiError(404, `person ${p} not found`);
      if (row.status !== 'active') throw new EmpiError(409, `person ${p} was merged into ${row.merged_into}; use that person`);
    }
    const moved = (yield* all<LinkRow>('SELECT resident_id, person_id, clinic_id FROM empi_link WHERE person_id = ? ORDER BY resident_id', [merged])).map((m) => ({ residentId: m.resident_id, clinicId: m.clinic_id }));
    const at = now();
    yield* run('UPDATE empi_link SET person_id = ?, linked_at = ?, linked_by = ? WHERE person_id = ?', [survivor, at, actor, merged]);
    yield* run("UPDATE empi_person SET status = 'merged', merged_into = ?, updated_at = ? WHERE person_id = ?", [survivor, at, merged]);
    yield* run('UPDATE empi_person SET updated_at = ? WHERE person_id = ?', [at, survivor]);
    const hid = yield* this.record(action, actor, survivor, merged, moved, detail);
    return (yield* this.historyRows('WHERE id = ?', [hid]))[0]!;
  }

  /** Merge person `merged` into `survivor` (all its residents move); undone by `unmerge(history id)`. */
  merge(survivor: string, merged: string, actor: string, reason = ''): Promise<HistoryEntry> {
    return this.tx(() => this.mergeTx(survivor, merged, actor, 'merge', { reason }));
  }

  /** Undo a merge (or an accepted review): its residents go back to the person they came from. */
  unmerge(historyId: number, actor: string, reason = ''): Promise<HistoryEntry> {
    const self = this;
    return this.tx(function* () {
      const h = (yield* self.historyRows('WHERE id = ?', [historyId]))[0];
      if (!h) throw new EmpiError(404, `history entry ${historyId} not found`);
      if (h.action !== 'merge' && h.action !== 'review-accepted') throw new EmpiError(409, `history entry ${historyId} is a ${h.action}, not a merge`);
      if (h.undoneBy !== null) throw new EmpiError(409, `merge ${historyId} was already undone by ${h.undoneBy}`);
      const restored = h.otherPersonId!;
      const cur = yield* all<LinkRow>(`SELECT resident_id, person_id, clinic_id FROM empi_link WHERE resident_id IN (${inList(Math.max(h.residents.length, 1))})`, h.residents.length ? h.residents.map((r) => r.residentId) : ['']);
      const moved = cur.filter((c) => c.person_id === h.personId);
      if (moved.length !== h.residents.length) throw new EmpiError(409, `residents of merge ${historyId} have moved since (a later merge into another person): undo that first`);
      const at = now();
      for (const m of moved) yield* run('UPDATE empi_link SET person_id = ?, linked_at = ?, linked_by = ? WHERE resident_id = ?', [restored, at, actor, m.resident_id]);
      yield* run("UPDATE empi_person SET status = 'active', merged_into = NULL, updated_at = ? WHERE person_id = ?", [at, restored]);
      const hid = yield* self.record('unmerge', actor, h.personId, restored, h.residents, { reason, undoes: historyId });
      yield* run('UPDATE empi_history SET undone_by = ? WHERE id = ?', [hid, historyId]);
      return (yield* self.historyRows('WHERE id = ?', [hid]))[0]!;
    });
  }

  /** Accept a review: the resident's person is merged into the candidate's person. */
  acceptReview(reviewId: number, actor: string): Promise<{ review: Review; merge: HistoryEntry | null }> {
    const self = this;
    return this.tx(function* () {
      const r = (yield* self.reviewRows('WHERE r.id = ?', [reviewId], 1, 0))[0];
      if (!r) throw new EmpiError(404, `review ${reviewId} not found`);
      if (r.status !== 'open') throw new EmpiError(409, `review ${reviewId} is already ${r.status}`);
      const a = r.resident.personId;
      const b = r.candidate.personId;
      if (!a || !b) throw new EmpiError(409, `review ${reviewId}: a resident is no longer indexed`);
      const merge = a === b ? null : yield* self.mergeTx(b, a, actor, 'review-accepted', { review: reviewId, score: r.score });
      yield* run("UPDATE empi_review SET status = 'accepted', decided_at = ?, decided_by = ? WHERE id = ?", [now(), actor, reviewId]);
      return { review: (yield* self.reviewRows('WHERE r.id = ?', [reviewId], 1, 0))[0]!, merge };
    });
  }

  /** Reject a review: the two residents stay different persons and the pair is not proposed again. */
  rejectReview(reviewId: number, actor: string): Promise<Review> {
    const self = this;
    return this.tx(function* () {
      const r = (yield* self.reviewRows('WHERE r.id = ?', [reviewId], 1, 0))[0];
      if (!r) throw new EmpiError(404, `review ${reviewId} not found`);
      if (r.status !== 'open') throw new EmpiError(409, `review ${reviewId} is already ${r.status}`);
      const at = now();
      yield* run("UPDATE empi_review SET status = 'rejected', decided_at = ?, decided_by = ? WHERE id = ?", [at, actor, reviewId]);
      yield* all('INSERT INTO empi_history (at, actor, action, person_id, other_person_id, residents, detail) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id',
        [at, actor, 'review-rejected', r.candidate.personId ?? '', r.resident.personId, JSON.stringify([]), JSON.stringify({ review: reviewId, residents: [r.resident.residentId, r.candidate.residentId] })]);
      return (yield* self.reviewRows('WHERE r.id = ?', [reviewId], 1, 0))[0]!;
    });
  }

  reviews(status: 'open' | 'accepted' | 'rejected' | 'all', limit: number, offset: number): Promise<{ total: number; reviews: Review[] }> {
    const self = this;
    return this.tx(function* () {
      const where = status === 'all' ? '' : 'WHERE r.status = ?';
      const params = status === 'all' ? [] : [status];
      const total = Number((yield* all<{ n: number }>(`SELECT count(*) AS n FROM empi_review r ${where}`, params))[0]!.n);
      return { total, reviews: yield* self.reviewRows(where, params, limit, offset) };
    });
  }

  private *reviewRows(where: string, params: unknown[], limit: number, offset: number): Generator<Op, Review[], unknown> {
    type Row = { id: number; resident_id: string; candidate_resident_id: string; score: number; detail: string; status: string; created_at: string; decided_at: string | null; decided_by: string | null; pa: string | null; pb: string | null };
    const rows = yield* all<Row>(`SELECT r.*, la.person_id AS pa, lb.person_id AS pb FROM empi_review r LEFT JOIN empi_link la ON la.resident_id = r.resident_id
      LEFT JOIN empi_link lb ON lb.resident_id = r.candidate_resident_id ${where} ORDER BY r.id LIMIT ? OFFSET ?`, [...params, limit, offset]);
    const demo = yield* this.demographics([...new Set(rows.flatMap((r) => [r.resident_id, r.candidate_resident_id]))]);
    return rows.map((r) => ({
      id: Number(r.id), status: r.status, score: Number(r.score), createdAt: r.created_at, decidedAt: r.decided_at, decidedBy: r.decided_by,
      resident: { residentId: r.resident_id, personId: r.pa, demographics: demo.get(r.resident_id) ?? null },
      candidate: { residentId: r.candidate_resident_id, personId: r.pb, demographics: demo.get(r.candidate_resident_id) ?? null },
      detail: JSON.parse(r.detail) as Review['detail'],
    }));
  }

  private *historyRows(where: string, params: unknown[], limit = 1000): Generator<Op, HistoryEntry[], unknown> {
    type Row = { id: number; at: string; actor: string; action: string; person_id: string; other_person_id: string | null; residents: string; detail: string; undone_by: number | null };
    const rows = yield* all<Row>(`SELECT * FROM empi_history ${where} ORDER BY id LIMIT ${limit}`, params);
    return rows.map((r) => ({ id: Number(r.id), at: r.at, actor: r.actor, action: r.action, personId: r.person_id, otherPersonId: r.other_person_id, residents: JSON.parse(r.residents) as HistoryEntry['residents'], detail: JSON.parse(r.detail) as Record<string, unknown>, undoneBy: r.undone_by === null ? null : Number(r.undone_by) }));
  }

  history(personId?: string, limit = 200): Promise<HistoryEntry[]> {
    const self = this;
    return this.tx(function* () {
      return personId ? yield* self.historyRows('WHERE person_id = ? OR other_person_id = ?', [personId, personId], limit) : yield* self.historyRows('', [], limit);
    });
  }

  /** A person with its residents (a merged person answers with mergedInto and no members). */
  person(personId: string): Promise<Person | null> {
    const self = this;
    return this.tx(function* () { return yield* self.personTx(personId); });
  }

  private *personTx(personId: string): Generator<Op, Person | null, unknown> {
    const p = (yield* all<{ person_id: string; status: 'active' | 'merged'; merged_into: string | null; created_at: string }>('SELECT person_id, status, merged_into, created_at FROM empi_person WHERE person_id = ?', [personId]))[0];
    if (!p) return null;
    const links = yield* all<{ resident_id: string; clinic_id: string; method: string; score: number | null; linked_at: string }>('SELECT resident_id, clinic_id, method, score, linked_at FROM empi_link WHERE person_id = ? ORDER BY resident_id', [personId]);
    const demo = yield* this.demographics(links.map((l) => l.resident_id));
    return {
      personId: p.person_id, status: p.status, mergedInto: p.merged_into, createdAt: p.created_at,
      members: links.map((l) => {
        const d = demo.get(l.resident_id);
        return { residentId: l.resident_id, clinicId: l.clinic_id, method: l.method, score: l.score === null ? null : Number(l.score), linkedAt: l.linked_at, name: d?.name as string | undefined, sex: d?.sex as string | undefined, birthDate: d?.birthDate as string | undefined };
      }),
    };
  }

  /** The person a resident belongs to, or null when the resident is not indexed yet. */
  personOf(residentId: string): Promise<Person | null> {
    const self = this;
    return this.tx(function* () {
      const l = (yield* all<{ person_id: string }>('SELECT person_id FROM empi_link WHERE resident_id = ?', [residentId]))[0];
      return l ? yield* self.personTx(l.person_id) : null;
    });
  }

  /** Score demographics against the index without writing anything (a registration desk's "known already?"). */
  search(d: Demographics, limit = 10): Promise<Candidate[]> {
    const self = this;
    return this.tx(function* () { return (yield* self.candidates(d, null)).filter((c) => c.result.decision !== 'no-link').slice(0, limit); });
  }

  /** Person changes not yet published, oldest first. */
  unpublished(limit = 200): Promise<{ id: number; clinicId: string; event: EmpiEvent }[]> {
    return this.tx(function* () {
      return (yield* all<{ id: number; clinic_id: string; event: string }>('SELECT id, clinic_id, event FROM empi_outbox WHERE published_at IS NULL ORDER BY id LIMIT ?', [limit]))
        .map((r) => ({ id: Number(r.id), clinicId: r.clinic_id, event: JSON.parse(r.event) as EmpiEvent }));
    });
  }

  markPublished(ids: number[]): Promise<void> {
    if (ids.length === 0) return Promise.resolve();
    return this.tx(function* () { yield* run(`UPDATE empi_outbox SET published_at = ? WHERE id IN (${inList(ids.length)})`, [now(), ...ids]); });
  }
}
