/**
 * Incremental fact extraction: reads the warehouse `records` table clinic by clinic in apply
 * order (seq above a per-clinic cursor) and keeps one `an_fact` row per source record (its
 * latest version), reduced to the fields indicators need. Runs on a timer and on demand; the
 * time of the last completed pass is the "as of" every indicator shows.
 *
 * Statements per batch: SQLite (in process, no round trips) applies record by record (`apply`,
 * 2-4 statements each); PostgreSQL applies the whole batch in a fixed number (`applyBatch`: two
 * reads, UPDATE, DELETE, INSERT through unnest) and reads the batch's contributions to stored
 * results in one statement per 25 results (engine.ts `contributions`), so a batch costs the same
 * few dozen statements whatever its size (pg-batch.test.ts counts them). Stored case lists still
 * cost two reads per cohort resident of the batch and list (cases.ts `compute`, `perResident`).
 */
import type { OrgTree } from './org.ts';
import { nextBatchSize, q, yieldWriteLock, type Op, type Param, type SqlDb } from './sql.ts';
import type { Touched } from './engine.ts';

/** Keeps stored indicator results current inside each fact batch's transaction (the engine). */
export interface AggMaintainer {
  aggBefore(t: Touched): Generator<Op, unknown, unknown>;
  aggAfter(work: unknown): Generator<Op, number, unknown>;
}

export interface Fact {
  kind: string;
  residentId?: string | null;
  day?: string | null;
  day2?: string | null;
  code?: string | null;
  label?: string | null;
  n1?: number | null;
  n2?: number | null;
  n3?: number | null;
  flag?: number | null;
  /** Team code (contracts); resolved to an org team id. */
  teamCode?: string | null;
}

type P = Record<string, unknown>;
const s = (p: P, ...keys: string[]): string | null => {
  for (const k of keys) {
    const v = p[k];
    if (typeof v === 'string' && v !== '') return v;
    if (typeof v === 'number') return String(v);
  }
  return null;
};
const n = (p: P, ...keys: string[]): number | null => {
  for (const k of keys) {
    const v = p[k];
    if (typeof v === 'number' && Number.isFinite(v)) return v;
    if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v);
  }
  return null;
};
const b = (p: P, ...keys: string[]): boolean => keys.some((k) => p[k] === true || p[k] === 1 || p[k] === '1');

/** Calendar day in China time (+08:00) of an ISO timestamp; a bare date is kept. */
export function localDay(v: string | null | undefined): string | null {
  if (!v) return null;
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) return v;
  if (/^\d{8}$/.test(v)) return `${v.slice(0, 4)}-${v.slice(4, 6)}-${v.slice(6, 8)}`;
  const t = Date.parse(v);
  if (Number.isNaN(t)) return null;
  return new Date(t + 8 * 3600_000).toISOString().slice(0, 10);
}

export function ageOn(birthDate: string | null | undefined, day: string | null | undefined): number | null {
  if (!birthDate || !day) return null;
  const [by, bm, bd] = birthDate.split('-').map(Number) as [number, number, number];
  const [y, m, d] = day.split('-').map(Number) as [number, number, number];
  let a = y - by;
  if (m < bm || (m === bm && d < bd)) a--;
  return a;
}

/** Hypertension controlled at a visit (national spec: < 140/90, < 150/90 at 65+). */
export function htnControlled(sbp: number | null, dbp: number | null, age: number | null): boolean | null {
  if (sbp === null || dbp === null) return null;
  return sbp < (age !== null && age >= 65 ? 150 : 140) && dbp < 90;
}
export function dmControlled(fbg: number | null): boolean | null {
  return fbg === null ? null : fbg < 7.0;
}

function disease(p: P): 'htn' | 'dm' | null {
  const d = s(p, 'disease');
  return d === 'HTN' ? 'htn' : d === 'T2DM' ? 'dm' : null;
}

/** Reduces one record payload to facts (none for types indicators do not use). */
export function extract(type: string, payload: P, createdAt: string): Fact[] {
  const rid = s(payload, 'residentId', 'patientId');
  const day = (...keys: string[]) => localDay(s(payload, ...keys)) ?? localDay(createdAt);
  switch (type) {
    case 'resident':
      return [{ kind: 'resident', residentId: rid, day: localDay(createdAt), day2: s(payload, 'birthDate'), code: s(payload, 'sex'), label: s(payload, 'name') }];
    case 'encounter': {
      if (s(payload, 'status') === 'cancelled') return [];
      const dx = (Array.isArray(payload.diagnoses) ? payload.diagnoses : []) as P[];
      const primary = dx.find((d) => d.primary === true) ?? dx[0];
      return [{ kind: 'visit', residentId: rid, day: day('registeredAt', 'startedAt'), day2: s(payload, 'class'), code: primary ? s(primary, 'code') : null, label: primary ? s(primary, 'name') : null, n1: n(payload, 'feeFen'), flag: b(payload, 'booked', 'appointment') || !!s(payload, 'appointmentId', 'bookingId') ? 1 : 0 }];
    }
    case 'registration': {
      const st = s(payload, 'status') ?? '';
      if (st === 'cancelled' || st === 'refunded') return [];
      return [{ kind: 'registration', residentId: rid, day: day('visitDate'), code: st, flag: st === 'booked' ? 1 : 0 }];
    }
    case 'order':
      return s(payload, 'kind') === 'drug' && s(payload, 'status') !== 'cancelled' ? [{ kind: 'rx', residentId: rid, day: day('requestedAt') }] : [];
    case 'prescription':
      if (s(payload, 'status') === 'cancelled') return [];
      return [{ kind: 'rx', residentId: rid, day: day('issuedAt') }];
    case 'charge': {
      // Paid lines and their refund lines (negative amounts); pending/cancelled lines are not income.
      if (s(payload, 'status') !== 'paid' && !s(payload, 'reversesChargeId')) return [];
      return [{ kind: 'charge', residentId: rid, day: day('createdAt'), code: category(s(payload, 'category')), label: s(payload, 'itemName'), n1: n(payload, 'amountFen') ?? 0 }];
    }
    case 'observation':
      return [{ kind: 'obs', residentId: rid, day: day('effectiveAt'), code: s(payload, 'code'), label: s(payload, 'display'), n1: n(payload, 'value'), flag: payload.implausible === true ? 1 : 0 }];
    case 'lab_result':
      return [{ kind: 'lab', residentId: rid, day: day('resultedAt'), code: s(payload, 'testCode'), label: s(payload, 'testName'), n1: n(payload, 'value'), flag: payload.implausible === true ? 2 : /H|L|A/.test(s(payload, 'flag') ?? 'N') ? 1 : 0 }];
    case 'health_record':
      // Cancelled records (death, moved away, duplicate) and records migrated out are not held here any more.
      if (s(payload, 'status') !== 'active') return [];
      return [{ kind: 'health_record', residentId: rid, day: day('createdDate'), day2: localDay(s(payload, 'lastUpdatedDate')), teamCode: s(payload, 'teamId') }];
    case 'chronic_enrolment': {
      const d = disease(payload);
      if (!d) return [];
      const ended = s(payload, 'status') === 'ended';
      return [{ kind: `${d}_enrol`, residentId: rid, day: day('enrolledDate'), day2: ended ? (localDay(s(payload, 'endedDate')) ?? day('enrolledDate')) : null, teamCode: s(payload, 'teamId') }];
    }
    case 'chronic_followup': {
      const d = disease(payload);
      if (!d) return [];
      const ctl = s(payload, 'control');
      return [{ kind: `${d}_fu`, residentId: rid, day: day('date'), n1: n(payload, 'sbp'), n2: n(payload, 'dbp'), n3: n(payload, 'fastingGlucose'), flag: ctl ? (ctl === 'controlled' ? 1 : 0) : null, code: s(payload, 'mode'), teamCode: s(payload, 'teamId') }];
    }
    case 'elderly_check':
      return [{ kind: 'elderly_check', residentId: rid, day: day('date'), n1: n(payload, 'sbp'), n2: n(payload, 'dbp'), n3: n(payload, 'fastingGlucose'), code: s(payload, 'selfCareLevel'), teamCode: s(payload, 'teamId') }];
    case 'tcm_assessment':
      return [{ kind: 'tcm', residentId: rid, day: day('date'), code: Array.isArray(payload.constitutions) ? String(payload.constitutions[0] ?? '') || null : null, teamCode: s(payload, 'teamId') }];
    case 'fd_contract': {
      const st = s(payload, 'status');
      const tags = Array.isArray(payload.keyPopulationTags) ? payload.keyPopulationTags : [];
      // A terminated contract ends on its termination date.
      const end = st === 'terminated' ? (localDay(s(payload, 'terminatedDate')) ?? localDay(s(payload, 'endDate'))) : localDay(s(payload, 'endDate'));
      return [{ kind: 'contract', residentId: rid, day: day('startDate', 'signedDate'), day2: end, teamCode: s(payload, 'teamId'), flag: st === 'renewed' || !!s(payload, 'previousContractId') ? 1 : 0, n1: tags.length > 0 ? 1 : 0, code: st }];
    }
    default:
      return [];
  }
}

function category(c: string | null): string {
  const v = c ?? '';
  if (/drug/.test(v)) return 'drug';
  if (v === 'lab' || v === 'imaging' || v === 'exam') return 'exam';
  if (v === 'treatment' || v === 'registration' || v === 'material') return v;
  return 'other';
}

export interface RefreshResult { records: number; facts: number; asOf: string; /** Earliest fact day added, changed or removed (null: nothing changed). */ changedFrom: string | null }

export class FactStore {
  private running: Promise<RefreshResult> | null = null;
  private orgChanged = false;
  private changedFrom: string | null = null;
  /** The generation this instance last wrote or saw. */
  ownGen = 0;
  /** Set by `Analytics`: stored indicator results updated with every batch. */
  aggregates: AggMaintainer | null = null;
  /** Passes that added organisation units (fd_team records). */
  orgChanges = 0;
  /**
   * Set by `Analytics` while the fact worker runs the passes on its own connection
   * (`worker-host.ts`): `refresh()` asks the worker and resolves after its pass.
   */
  remote: ((batch: number) => Promise<RefreshResult>) | null = null;
  /** Fact batches written and the time their transactions took (the write lock is held that long). */
  readonly stats = { batches: 0, txMs: 0, txMaxMs: 0 };
  async generation(): Promise<number> {
    return Number((await this.db.get<{ v: string }>("SELECT v FROM an_meta WHERE k = 'facts_gen'"))?.v ?? 0);
  }
  private touch(day: string | null | undefined): void {
    const d = day ?? '0000-00-00';
    if (this.changedFrom === null || d < this.changedFrom) this.changedFrom = d;
  }
  constructor(private readonly db: SqlDb, private readonly org: () => OrgTree, private readonly onOrgChange?: () => Promise<void>, private readonly onChanged?: (fromDay: string) => void) {}

  async asOf(): Promise<string | null> {
    return (await this.db.get<{ v: string }>("SELECT v FROM an_meta WHERE k = 'facts_as_of'"))?.v ?? null;
  }

  /** Catches up with every clinic's applied records (one pass; concurrent callers share it). */
  refresh(batch = 500): Promise<RefreshResult> {
    if (this.remote) return this.remote(batch);
    this.running ??= this.pass(batch).finally(() => { this.running = null; });
    return this.running;
  }

  private async pass(batch: number): Promise<RefreshResult> {
    const started = new Date().toISOString();
    const clinics = await this.db.all<{ clinic_id: string; applied_seq: number; seq: number | null }>(
      'SELECT s.clinic_id, s.applied_seq, c.seq FROM clinic_state s LEFT JOIN an_cursor c ON c.clinic_id = s.clinic_id');
    let records = 0;
    let facts = 0;
    this.changedFrom = null;
    // `batch` is the largest batch: the size adapts so that a transaction takes ~TARGET_TX_MS.
    let size = Math.min(batch, 50);
    for (const cl of clinics) {
      let cursor = Number(cl.seq ?? 0);
      while (cursor < Number(cl.applied_seq)) {
        const rows = await this.db.all<{ type: string; record_id: string; version: number; seq: number; payload: unknown; created_at: unknown }>(
          'SELECT type, record_id, version, seq, payload, created_at FROM records WHERE clinic_id = ? AND seq > ? ORDER BY seq LIMIT ?', [cl.clinic_id, cursor, size]);
        if (rows.length === 0) { cursor = Number(cl.applied_seq); break; }
        const self = this;
        const clinicId = cl.clinic_id;
        const parsed = rows.map((r) => ({ type: r.type, recordId: r.record_id, version: Number(r.version), payload: (typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload) as P, createdAt: r.created_at instanceof Date ? r.created_at.toISOString() : String(r.created_at) }));
        const t0 = performance.now();
        facts += await this.db.txGen(function* () {
          const agg = self.aggregates;
          const work = agg ? yield* agg.aggBefore(yield* self.touched(clinicId, parsed)) : null;
          let k = 0;
          if (self.db.dialect === 'postgres') k += yield* self.applyBatch(clinicId, parsed);
          else for (const r of parsed) k += yield* self.apply(clinicId, r.type, r.recordId, r.version, r.payload, r.createdAt);
          if (agg) yield* agg.aggAfter(work);
          cursor = Number(rows[rows.length - 1]!.seq);
          yield q.run(`INSERT INTO an_cursor (clinic_id, seq, updated_at) VALUES (?, ?, ?) ON CONFLICT (clinic_id) DO UPDATE SET seq = excluded.seq, updated_at = excluded.updated_at`, [clinicId, cursor, started]);
          return k;
        });
        const ms = performance.now() - t0;
        this.stats.batches++;
        this.stats.txMs += ms;
        if (ms > this.stats.txMaxMs) this.stats.txMaxMs = ms;
        if (this.orgChanged) { this.orgChanged = false; this.orgChanges++; await this.onOrgChange?.(); }
        records += rows.length;
        // Each batch holds the warehouse's write lock (SQLite) and, on the main-thread fallback,
        // the event loop: let the ingest, the dictionary API and the pages in between two
        // batches (a catch-up after an outage is many batches; without this they waited seconds).
        size = nextBatchSize(size, ms, 5, batch);
        await yieldWriteLock(this.db, ms);
      }
    }
    if (this.changedFrom !== null) {
      this.onChanged?.(this.changedFrom);
      // A generation number other instances (several centrals on one PostgreSQL) watch to drop their caches.
      await this.db.run(`INSERT INTO an_meta (k, v) VALUES ('facts_gen', '1') ON CONFLICT (k) DO UPDATE SET v = CAST(CAST(an_meta.v AS INTEGER) + 1 AS TEXT)`);
      this.ownGen = await this.generation();
    }
    await this.db.run(`INSERT INTO an_meta (k, v) VALUES ('facts_as_of', ?) ON CONFLICT (k) DO UPDATE SET v = excluded.v`, [started]);
    return { records, facts, asOf: started, changedFrom: this.changedFrom };
  }

  /**
   * What a batch may change: the residents of its records' facts (new and replaced), resident-less
   * sources, fact kinds and the earliest day ('' when a contract may move a resident's earlier
   * facts to its team).
   */
  private *touched(clinicId: string, recs: { type: string; recordId: string; payload: P; createdAt: string }[]): Generator<Op, Touched, unknown> {
    const t: Touched = { residents: new Set(), srcs: new Set(), kinds: new Set(), minDay: null };
    const day = (d: string | null | undefined) => { const v = d ?? ''; if (t.minDay === null || v < t.minDay) t.minDay = v; };
    const bases: string[] = [];
    for (const r of recs) {
      if (r.type === 'fd_team') continue;
      const base = `${clinicId}|${r.type}|${r.recordId}`;
      bases.push(base);
      for (const f of extract(r.type, r.payload, r.createdAt)) {
        t.kinds.add(f.kind);
        day(f.day);
        if (f.residentId) t.residents.add(f.residentId);
        else t.srcs.add(base);
        if (f.kind === 'contract' && f.residentId) day('');
      }
    }
    for (let i = 0; i < bases.length; i += 500) {
      const l = bases.slice(i, i + 500);
      const old = (yield q.all(`SELECT src, resident_id, kind, MIN(day) AS d FROM an_fact WHERE src IN (${l.map(() => '?').join(', ')}) GROUP BY src, resident_id, kind`, l)) as { src: string; resident_id: string | null; kind: string; d: string | null }[];
      for (const o of old) {
        t.kinds.add(o.kind);
        day(o.d);
        if (o.resident_id) t.residents.add(o.resident_id);
        else t.srcs.add(o.src);
      }
    }
    return t;
  }

  private *apply(clinicId: string, type: string, recordId: string, version: number, payload: P, createdAt: string): Generator<Op, number, unknown> {
    if (type === 'fd_team') return yield* this.applyTeam(clinicId, payload);
    const facts = extract(type, payload, createdAt);
    const base = `${clinicId}|${type}|${recordId}`;
    // One look at the source's current facts (most records are first versions: none, and no DELETE).
    const old = (yield q.get('SELECT max(version) AS version, MIN(day) AS d, COUNT(*) AS n, MAX(flag) AS flag FROM an_fact WHERE src = ?', [base])) as { version: number | null; d: string | null; n: number; flag: number | null } | undefined;
    if (old && old.version !== null && Number(old.version) > version) return 0;
    // A registration once booked stays a booked visit when it is later registered / finished (one fact per registration).
    const wasBooked = type === 'registration' && Number(old?.flag ?? 0) === 1;
    // A newer version replaces every fact of the older one (a cancelled visit leaves none).
    if (Number(old?.n ?? 0) > 0) {
      this.touch(old!.d);
      yield q.run('DELETE FROM an_fact WHERE src = ?', [base]);
    }
    const org = this.org();
    let k = 0;
    for (const [i, f] of facts.entries()) {
      let team: string | null = null;
      if (f.teamCode) team = org.byTeamCode.get(f.teamCode)?.id ?? f.teamCode;
      else if (f.residentId) team = ((yield q.get("SELECT team_id FROM an_fact WHERE kind = 'contract' AND resident_id = ? AND team_id IS NOT NULL ORDER BY day DESC LIMIT 1", [f.residentId])) as { team_id: string } | undefined)?.team_id ?? null;
      let flag = f.flag ?? null;
      if (wasBooked) flag = 1;
      if (flag === null && (f.kind === 'htn_fu' || f.kind === 'dm_fu')) {
        const bd = f.residentId ? ((yield q.get("SELECT day2 FROM an_fact WHERE kind = 'resident' AND resident_id = ? LIMIT 1", [f.residentId])) as { day2: string } | undefined)?.day2 : null;
        const c = f.kind === 'htn_fu' ? htnControlled(f.n1 ?? null, f.n2 ?? null, ageOn(bd, f.day)) : dmControlled(f.n3 ?? null);
        flag = c === null ? null : c ? 1 : 0;
      }
      const key = facts.length === 1 ? base : `${base}#${i}`;
      const params: Param[] = [key, base, f.kind, clinicId, team, f.residentId ?? null, f.day ?? null, f.day2 ?? null, f.code ?? null, f.label ?? null, f.n1 ?? null, f.n2 ?? null, f.n3 ?? null, flag, version, type, recordId];
      yield q.run(`INSERT INTO an_fact (fkey, src, kind, clinic_id, team_id, resident_id, day, day2, code, label, n1, n2, n3, flag, version, record_type, record_id)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, params);
      if (f.kind === 'contract' && team && f.residentId) {
        // Earlier facts of this resident now belong to the contracted team.
        const n = (yield q.run("UPDATE an_fact SET team_id = ? WHERE resident_id = ? AND team_id IS NULL", [team, f.residentId])) as number;
        if (n > 0) this.touch(null);
      }
      this.touch(f.day);
      k++;
    }
    return k;
  }

  /**
   * PostgreSQL: what `apply` does record by record, for the whole batch in a fixed number of
   * statements: one read of the sources' current facts, one of the residents' contract and
   * resident facts (team and birth-date lookups), then the contract team UPDATE, one DELETE and
   * one INSERT (columns as arrays). The records are applied in order in memory, so a source
   * appearing twice, a contract moving facts of the same batch and lookups of facts written
   * earlier in the batch come out as they did one statement at a time. (`touch(null)` may fire
   * where it did not: the team UPDATE runs before the DELETE; that only widens what caches drop.)
   */
  private *applyBatch(clinicId: string, recs: { type: string; recordId: string; version: number; payload: P; createdAt: string }[]): Generator<Op, number, unknown> {
    type Row = { fkey: string; src: string; kind: string; team: string | null; rid: string | null; f: Fact; flag: number | null; version: number; type: string; recordId: string };
    type Old = { version: number | null; d: string | null; n: number; flag: number | null };
    const items = recs.filter((r) => r.type !== 'fd_team').map((r) => ({ ...r, base: `${clinicId}|${r.type}|${r.recordId}`, facts: extract(r.type, r.payload, r.createdAt) }));
    for (const r of recs) if (r.type === 'fd_team') yield* this.applyTeam(clinicId, r.payload);
    if (!items.length) return 0;
    const state = new Map<string, Old>();
    for (const o of (yield q.all('SELECT src, max(version) AS version, MIN(day) AS d, COUNT(*) AS n, MAX(flag) AS flag FROM an_fact WHERE src = ANY(?::text[]) GROUP BY src', [[...new Set(items.map((i) => i.base))]])) as (Old & { src: string })[]) {
      state.set(o.src, { version: o.version === null ? null : Number(o.version), d: o.d, n: Number(o.n), flag: o.flag === null ? null : Number(o.flag) });
    }
    const inDb = new Set(state.keys());
    const rids = [...new Set(items.flatMap((i) => i.facts.map((f) => f.residentId).filter((x): x is string => !!x)))];
    // Contract facts (team lookups, moved by the UPDATE) and resident facts (birth dates) of the batch's residents.
    const contracts = new Map<string, { src: string; team: string | null; day: string | null }[]>();
    const births = new Map<string, { src: string; day2: string | null }[]>();
    const push = <V>(m: Map<string, V[]>, k: string, v: V) => { const l = m.get(k); if (l) l.push(v); else m.set(k, [v]); };
    if (rids.length) {
      for (const o of (yield q.all("SELECT src, resident_id, kind, team_id, day, day2 FROM an_fact WHERE resident_id = ANY(?::text[]) AND kind IN ('contract', 'resident')", [rids])) as { src: string; resident_id: string; kind: string; team_id: string | null; day: string | null; day2: string | null }[]) {
        if (o.kind === 'contract') push(contracts, o.resident_id, { src: o.src, team: o.team_id, day: o.day });
        else push(births, o.resident_id, { src: o.src, day2: o.day2 });
      }
    }
    const pending = new Map<string, Row[]>();
    const del = new Set<string>();
    const moved = new Map<string, string>();
    let movedHere = 0;
    const org = this.org();
    let k = 0;
    for (const it of items) {
      const old = state.get(it.base);
      if (old && old.version !== null && old.version > it.version) continue;
      const wasBooked = it.type === 'registration' && Number(old?.flag ?? 0) === 1;
      if (old && old.n > 0) {
        this.touch(old.d);
        if (inDb.has(it.base)) del.add(it.base);
        pending.delete(it.base);
        for (const m of [contracts, births] as Map<string, { src: string }[]>[]) for (const [rid, l] of m) m.set(rid, l.filter((x) => x.src !== it.base));
      }
      const rows: Row[] = [];
      pending.set(it.base, rows);
      for (const [i, f] of it.facts.entries()) {
        let team: string | null = null;
        if (f.teamCode) team = org.byTeamCode.get(f.teamCode)?.id ?? f.teamCode;
        else if (f.residentId) {
          // As `ORDER BY day DESC LIMIT 1` on PostgreSQL: a NULL day sorts first.
          let best: { team: string | null; day: string | null } | undefined;
          for (const c of contracts.get(f.residentId) ?? []) {
            if (c.team === null) continue;
            if (!best || (best.day !== null && (c.day === null || c.day > best.day))) best = c;
          }
          team = best?.team ?? null;
        }
        let flag = f.flag ?? null;
        if (wasBooked) flag = 1;
        if (flag === null && (f.kind === 'htn_fu' || f.kind === 'dm_fu')) {
          const bd = f.residentId ? births.get(f.residentId)?.[0]?.day2 ?? null : null;
          const c = f.kind === 'htn_fu' ? htnControlled(f.n1 ?? null, f.n2 ?? null, ageOn(bd, f.day)) : dmControlled(f.n3 ?? null);
          flag = c === null ? null : c ? 1 : 0;
        }
        const fkey = it.facts.length === 1 ? it.base : `${it.base}#${i}`;
        rows.push({ fkey, src: it.base, kind: f.kind, team, rid: f.residentId ?? null, f, flag, version: it.version, type: it.type, recordId: it.recordId });
        if (f.residentId && f.kind === 'contract') push(contracts, f.residentId, { src: it.base, team, day: f.day ?? null });
        if (f.residentId && f.kind === 'resident') push(births, f.residentId, { src: it.base, day2: f.day2 ?? null });
        if (f.kind === 'contract' && team && f.residentId) {
          // Earlier facts of this resident now belong to the contracted team: those of the batch
          // here, those in the table by the UPDATE below (the first team wins there, as in order).
          for (const l of pending.values()) for (const r of l) if (r.rid === f.residentId && r.team === null) { r.team = team; movedHere++; }
          for (const c of contracts.get(f.residentId) ?? []) if (c.team === null) c.team = team;
          if (!moved.has(f.residentId)) moved.set(f.residentId, team);
        }
        this.touch(f.day);
        k++;
      }
      const ds = rows.map((r) => r.f.day).filter((d): d is string => !!d).sort();
      const fl = rows.map((r) => r.flag).filter((x): x is number => x !== null);
      state.set(it.base, { version: it.version, d: ds[0] ?? null, n: rows.length, flag: fl.length ? Math.max(...fl) : null });
    }
    if (moved.size) {
      const n = (yield q.run('UPDATE an_fact SET team_id = u.team FROM unnest(?::text[], ?::text[]) AS u(rid, team) WHERE an_fact.resident_id = u.rid AND an_fact.team_id IS NULL', [[...moved.keys()], [...moved.values()]])) as number;
      if (n > 0) movedHere++;
    }
    if (movedHere > 0) this.touch(null);
    if (del.size) yield q.run('DELETE FROM an_fact WHERE src = ANY(?::text[])', [[...del]]);
    const all = [...pending.values()].flat();
    if (all.length) {
      const col = <V>(g: (r: Row) => V) => all.map(g) as unknown as Param;
      yield q.run(`INSERT INTO an_fact (fkey, src, kind, clinic_id, team_id, resident_id, day, day2, code, label, n1, n2, n3, flag, version, record_type, record_id)
        SELECT u.fkey, u.src, u.kind, ?, u.team, u.rid, u.day, u.day2, u.code, u.label, u.n1, u.n2, u.n3, u.flag, u.version, u.rtype, u.rid2
        FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::float8[], ?::float8[], ?::float8[], ?::int[], ?::int[], ?::text[], ?::text[])
        AS u(fkey, src, kind, team, rid, day, day2, code, label, n1, n2, n3, flag, version, rtype, rid2)`,
      [clinicId, col((r) => r.fkey), col((r) => r.src), col((r) => r.kind), col((r) => r.team), col((r) => r.rid), col((r) => r.f.day ?? null), col((r) => r.f.day2 ?? null), col((r) => r.f.code ?? null), col((r) => r.f.label ?? null),
        col((r) => r.f.n1 ?? null), col((r) => r.f.n2 ?? null), col((r) => r.f.n3 ?? null), col((r) => r.flag), col((r) => r.version), col((r) => r.type), col((r) => r.recordId)]);
    }
    return k;
  }

  /** fd_team records name the clinic's teams: unknown team codes become org units under the clinic's centre. */
  private *applyTeam(clinicId: string, p: P): Generator<Op, number, unknown> {
    const code = s(p, 'teamId', 'teamCode', 'code');
    const name = s(p, 'name', 'teamName');
    if (!code || !name) return 0;
    const org = this.org();
    if (org.byTeamCode.has(code)) return 0;
    const inst = org.institutionOf(clinicId);
    const centre = inst?.level === 'station' ? inst.parentId : inst?.id;
    if (!centre) return 0;
    yield q.run(`INSERT INTO an_org (id, parent_id, level, name, name_en, clinic_id, code, sort) VALUES (?, ?, 'team', ?, NULL, NULL, ?, 200) ON CONFLICT (id) DO NOTHING`, [code, centre, name, code]);
    this.orgChanged = true;
    return 0;
  }
}
