/**
 * Stored case lists: for an indicator whose denominator is a cohort (managed HTN patients,
 * contracted residents...) and a period, one row per (resident, clinic) of the cohort with
 * whether the numerator's requirements are met and the evidence the reason is written from
 * (number of qualifying facts, the latest one's day and values). Stored in `an_case` under a
 * short id of (definition, period) registered in `an_case_key`, and kept current by every fact
 * batch in its transaction: the batch's residents' rows are deleted and computed again from
 * their facts (a row depends only on its resident's facts). A case list is then an indexed read
 * (`an_case_list`: sid, ok, clinic, resident) with LIMIT / keyset pages, whatever the district's
 * size; an Excel export reads it page by page.
 *
 * The first read of a (definition, period) builds its rows chunk by chunk (2,000 residents per
 * transaction, so ingest and pages get the shared connection in between); the key is `ready`
 * once every chunk is in. Batches maintain a key while it is being built (each chunk deletes and
 * rewrites its residents, so the order does not matter).
 *
 * Pruning (`prune`, run by the refresh loop every few minutes): a list costs its rows and the
 * work of every fact batch that touches its residents, so lists nobody reads go: those of a
 * superseded definition (an indicator or QC rule whose definition changed) after an hour without
 * a reader, those of a current definition after a week (a month someone opened once); the
 * current year's list of every indicator (what the refresh loop keeps warm) stays. Readers record
 * `last_read` at most once a minute (`CASE_TOUCH_MS`) and an open export reads a page every few
 * hundred ms, so a list being read or exported is never idle long enough to be pruned. A pruned
 * key is marked (`ready` -1, fact batches skip it), its rows are deleted in short transactions,
 * then the key; a reader arriving meanwhile takes the key back and builds it again.
 */
import { createHash } from 'node:crypto';
import type { IndicatorDef, Measure } from './indicators.ts';
import type { OrgTree, OrgUnit } from './org.ts';
import { parsePeriod, type Period } from './periods.ts';
import { anyOf, inList, nextBatchSize, num, q, yieldWriteLock, type Op, type Param, type SqlDb } from './sql.ts';
import { KIND_NAMES, condSql, factWhere, kinds, measureKinds, minCount, requireSql, values, windowSql, type CaseRow, type Scope, type Touched } from './engine.ts';

type Cohort = Extract<Measure, { type: 'cohort' }>;
export interface CaseDef { den: Cohort; num: Cohort }

/** One stored row (team_id '' = no team). */
export interface CaseRec {
  resident_id: string; clinic_id: string; team_id: string; since: string | null; ok: number;
  cnt: number | null; last_day: string | null; n1: number | null; n2: number | null; n3: number | null; flag: number | null;
  /** From the resident's `resident` fact (kept with the row so a page or an export needs no lookups). */
  name: string | null; sex: string | null; birth: string | null;
}
const COLS = ['resident_id', 'clinic_id', 'team_id', 'since', 'ok', 'cnt', 'last_day', 'n1', 'n2', 'n3', 'flag', 'name', 'sex', 'birth'] as const;
/** PostgreSQL array types of the columns (the insert passes each column as one array). */
const PG_COL_TYPE: Record<(typeof COLS)[number], string> = {
  resident_id: 'text', clinic_id: 'text', team_id: 'text', since: 'text', ok: 'int', cnt: 'int', last_day: 'text',
  n1: 'float8', n2: 'float8', n3: 'float8', flag: 'int', name: 'text', sex: 'text', birth: 'text',
};

const DISTRICT: Scope = { orgId: '', clinics: null, teams: null };
/** Residents per statement / transaction (SQLite takes at most 32,766 parameters). */
const CHUNK = 2000;
const INSERT_ROWS = 200;
/**
 * The stored number of qualifying facts (`cnt`) counts up to this many: a fact batch then reads
 * at most this many index entries of a resident however many readings a connected monitor has
 * produced (requirements need presence, the latest fact, or a few a year).
 */
export const CASE_CNT_CAP = 1000;
/** A reader records `last_read` at most this often per list (and rechecks that the list is still there). */
export const CASE_TOUCH_MS = 60_000;

export interface CasePruneOpts {
  /** Lists never pruned (sids): the current year's list of every indicator, kept warm by the refresh loop. */
  keep: Set<string>;
  /** Definitions in use (JSON, `caseKey().ckey`): indicators' and enabled QC rules'. Others are superseded. */
  current: Set<string>;
  now?: Date;
  /** A list of a current definition goes when nobody has read it for this long (default 7 days). */
  idleMs?: number;
  /** A list of a superseded definition goes after this long without a reader (default 1 hour). */
  supersededIdleMs?: number;
}

export function caseDef(ind: IndicatorDef): CaseDef {
  if (!ind.cases || ind.denominator?.type !== 'cohort' || ind.numerator.type !== 'cohort') throw new Error(`${ind.id} has no case list`);
  return { den: ind.denominator, num: ind.numerator };
}

export function caseKey(d: CaseDef, period: string): { ckey: string; sid: string } {
  const ckey = JSON.stringify(d);
  return { ckey, sid: createHash('sha1').update(`${ckey}|${period}`).digest('hex').slice(0, 16) };
}

export type CaseAfter = { ok: number; clinic_id: string; resident_id: string };
export interface CaseQuery { failingOnly?: boolean; limit?: number; offset?: number; after?: CaseAfter; /** Skip the count (total -1): later pages of an export. */ noCount?: boolean }

export class CaseStore {
  /**
   * sids known to be ready, with when this process last recorded a read (`last_read`). A list
   * can be pruned by another thread or process: the entry is rechecked with the next touch, and
   * pruning waits far longer than CASE_TOUCH_MS after the last read, so a list read within the
   * last minute is still there.
   */
  private readonly ready = new Map<string, number>();
  private readonly building = new Map<string, Promise<void>>();
  /** Builds in progress here: sid -> since when (ms), for "being computed" pages. */
  readonly buildStarted = new Map<string, number>();
  /** The time reads are recorded at and pruning measures idleness from (a test moves it on). */
  clock: () => number = Date.now;
  constructor(private readonly db: SqlDb, private readonly org: () => OrgTree) {}

  private get sqlite(): boolean { return this.db.dialect === 'sqlite'; }

  /**
   * Case rows from the facts: of the given residents (null = the whole cohort, one grouped
   * query; used to check the stored rows).
   */
  *compute(d: CaseDef, p: Period, residents: string[] | null, perResident = false): Generator<Op, CaseRec[], unknown> {
    const w = factWhere(d.den, p, DISTRICT);
    const okParts = (d.num.require ?? []).map((r) => requireSql(r, p));
    const ok = okParts.length ? { sql: okParts.map((x) => x.sql).join(' AND '), params: okParts.flatMap((x) => x.params) } : { sql: '1 = 1', params: [] as Param[] };
    type G = { resident_id: string; clinic_id: string; team_id: string | null; since: string | null; ok: number };
    const head = `SELECT c.resident_id, c.clinic_id, MIN(c.team_id) AS team_id, MIN(c.day) AS since, CASE WHEN ${ok.sql} THEN 1 ELSE 0 END AS ok FROM an_fact c`;
    const groups: G[] = [];
    if (residents === null) groups.push(...(yield q.all(`${head} WHERE ${w.sql} GROUP BY c.resident_id, c.clinic_id`, [...ok.params, ...w.params])) as G[]);
    else {
      for (let i = 0; i < residents.length; i += CHUNK) {
        const l = anyOf(this.db, 'c.resident_id', residents.slice(i, i + CHUNK));
        groups.push(...(yield q.all(`${head} ${this.sqlite ? 'INDEXED BY an_fact_res_kind_day' : ''} WHERE ${l.sql} AND ${w.sql} GROUP BY c.resident_id, c.clinic_id`, [...ok.params, ...l.params, ...w.params])) as G[]);
      }
    }
    // Evidence of the first requirement (what the reason is written from), oldest first.
    const req = d.num.require?.[0];
    type E = { resident_id: string; day: string | null; n1: number | null; n2: number | null; n3: number | null; flag: number | null; clinic_id: string };
    const ev = new Map<string, E[]>();
    const bounded = new Map<string, { n: number; last: E | undefined }>();
    if (req && groups.length && perResident) {
      // A fact batch's few residents: per (resident, clinic) the count of qualifying facts up to
      // CASE_CNT_CAP and the latest one, each a bounded index read (a resident with thousands of
      // device readings costs what one with a handful does).
      const ww = windowSql('r', req.window, p);
      const wh = condSql('r', req.where);
      const ix = this.sqlite ? 'INDEXED BY an_fact_res_kind_day' : '';
      const cond = (kindSql: string) => ['r.resident_id = ?', kindSql, ww.sql, wh.sql, req.sameClinic ? 'r.clinic_id = ?' : ''].filter(Boolean).join(' AND ');
      const k = kinds('r', req.kind);
      const cntSql = `SELECT COUNT(*) AS n FROM (SELECT 1 AS x FROM an_fact r ${ix} WHERE ${cond(k.sql)} LIMIT ${CASE_CNT_CAP}) z`;
      // Latest per kind from the index, then the latest of those (same order as the full query).
      const lastSql = req.kind.map((_, i) => `SELECT * FROM (SELECT r.resident_id, r.day, r.n1, r.n2, r.n3, r.flag, r.clinic_id, r.fkey FROM an_fact r ${ix} WHERE ${cond('r.kind = ?')} ORDER BY r.day DESC, r.fkey DESC LIMIT 1) z${i}`).join(' UNION ALL ') + ' ORDER BY day DESC, fkey DESC LIMIT 1';
      for (const g of groups) {
        const key = req.sameClinic ? `${g.resident_id}\u0000${g.clinic_id}` : g.resident_id;
        if (bounded.has(key)) continue;
        const one = (kindParams: Param[]): Param[] => [g.resident_id, ...kindParams, ...ww.params, ...wh.params, ...(req.sameClinic ? [g.clinic_id] : [])];
        const n = num(((yield q.get(cntSql, one(k.params))) as { n: number } | undefined)?.n);
        const last = n > 0 ? (yield q.get(lastSql, req.kind.flatMap((kind) => one([kind])))) as E | undefined : undefined;
        bounded.set(key, { n, last });
      }
    } else if (req && groups.length) {
      const k = kinds('r', req.kind);
      const ww = windowSql('r', req.window, p);
      const wh = condSql('r', req.where);
      const ids = [...new Set(groups.map((g) => g.resident_id))];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const l = anyOf(this.db, 'r.resident_id', ids.slice(i, i + CHUNK));
        const rows = (yield q.all(`SELECT r.resident_id, r.day, r.n1, r.n2, r.n3, r.flag, r.clinic_id FROM an_fact r ${this.sqlite ? 'INDEXED BY an_fact_res_kind_day' : ''} WHERE ${l.sql} AND ${[k.sql, ww.sql, wh.sql].filter(Boolean).join(' AND ')} ORDER BY r.day, r.fkey`,
          [...l.params, ...k.params, ...ww.params, ...wh.params])) as E[];
        for (const r of rows) {
          const list = ev.get(r.resident_id);
          if (list) list.push(r);
          else ev.set(r.resident_id, [r]);
        }
      }
    }
    // Name, sex and birth date (a resident registered at several clinics: the last by fkey).
    const people = new Map<string, { label: string | null; code: string | null; day2: string | null }>();
    if (groups.length) {
      const ids = [...new Set(groups.map((g) => g.resident_id))];
      for (let i = 0; i < ids.length; i += CHUNK) {
        const l = anyOf(this.db, 'resident_id', ids.slice(i, i + CHUNK));
        for (const r of (yield q.all(`SELECT resident_id, label, code, day2 FROM an_fact ${this.sqlite ? 'INDEXED BY an_fact_res_kind_day' : ''} WHERE ${l.sql} AND kind = 'resident' ORDER BY fkey`, l.params)) as { resident_id: string; label: string | null; code: string | null; day2: string | null }[]) people.set(r.resident_id, r);
      }
    }
    return groups.map((g) => {
      let cnt: number;
      let last: E | undefined;
      const b = perResident ? bounded.get(req?.sameClinic ? `${g.resident_id}\u0000${g.clinic_id}` : g.resident_id) : undefined;
      if (b) ({ n: cnt, last } = b);
      else {
        const e = (ev.get(g.resident_id) ?? []).filter((x) => !req?.sameClinic || x.clinic_id === g.clinic_id);
        cnt = Math.min(e.length, CASE_CNT_CAP);
        last = e[e.length - 1];
      }
      const person = people.get(g.resident_id);
      return {
        resident_id: g.resident_id, clinic_id: g.clinic_id, team_id: g.team_id ?? '', since: g.since, ok: num(g.ok),
        cnt: req ? cnt : null, last_day: last?.day ?? null, n1: nn(last?.n1), n2: nn(last?.n2), n3: nn(last?.n3), flag: nn(last?.flag),
        name: person?.label ?? null, sex: person?.code ?? null, birth: person?.day2 ?? null,
      };
    });
  }

  /** Deletes and rewrites the rows of some residents (a build chunk or a fact batch). */
  private *replace(sid: string, d: CaseDef, p: Period, residents: string[], perResident = false): Generator<Op, number, unknown> {
    let n = 0;
    for (let i = 0; i < residents.length; i += CHUNK) {
      const chunk = residents.slice(i, i + CHUNK);
      const l = anyOf(this.db, 'resident_id', chunk);
      yield q.run(`DELETE FROM an_case WHERE sid = ? AND ${l.sql}`, [sid, ...l.params]);
      const rows = yield* this.compute(d, p, chunk, perResident);
      if (!this.sqlite && rows.length) {
        // One statement text for any number of rows: the columns as arrays.
        yield q.run(`INSERT INTO an_case (sid, ${COLS.join(', ')}) SELECT ?, u.* FROM unnest(${COLS.map((c) => `?::${PG_COL_TYPE[c]}[]`).join(', ')}) AS u`, [sid, ...COLS.map((c) => rows.map((r) => r[c]))]);
        n += rows.length;
        continue;
      }
      for (let j = 0; j < rows.length; j += INSERT_ROWS) {
        const part = rows.slice(j, j + INSERT_ROWS);
        const params: Param[] = [];
        for (const r of part) params.push(sid, ...COLS.map((c) => r[c]));
        yield q.run(`INSERT INTO an_case (sid, ${COLS.join(', ')}) VALUES ${part.map(() => `(?, ${COLS.map(() => '?').join(', ')})`).join(', ')}`, params);
      }
      n += rows.length;
    }
    return n;
  }

  /**
   * Inside a fact batch's transaction, after its facts are written: rewrites the batch's
   * residents in every stored case list the batch may change (period ending after its earliest
   * day, definition reading one of its kinds). On PostgreSQL the caller holds the table lock.
   */
  *afterBatch(t: Touched): Generator<Op, number, unknown> {
    if (t.minDay === null || t.residents.size === 0) return 0;
    // A resident record (name, sex, birth date) matters to the rows of every period, whatever its day.
    // Lists being pruned (ready -1) are left alone.
    const person = t.kinds.has('resident');
    const keys = (yield q.all(`SELECT sid, ckey, period, kinds FROM an_case_key WHERE ready >= 0${person ? '' : ' AND period_to > ?'}`, person ? [] : [t.minDay])) as { sid: string; ckey: string; period: string; kinds: string }[];
    const res = [...t.residents];
    let n = 0;
    for (const k of keys) {
      if (t.minDay !== '' && !person && !k.kinds.split(',').some((x) => t.kinds.has(x))) continue;
      n += yield* this.replace(k.sid, JSON.parse(k.ckey) as CaseDef, parsePeriod(k.period), res, true);
    }
    return n;
  }

  /** Ready as far as this process knows (warm uses it to skip lists it has built). */
  isReady(d: CaseDef, p: Period): boolean {
    return this.ready.has(caseKey(d, p.key).sid);
  }

  /**
   * Registers and builds a stored case list unless it is ready; concurrent callers share the
   * build. Records the read (`last_read`, at most once per CASE_TOUCH_MS).
   */
  ensure(d: CaseDef, p: Period): Promise<string> {
    const { ckey, sid } = caseKey(d, p.key);
    const touched = this.ready.get(sid);
    if (touched !== undefined) {
      if (this.clock() - touched < CASE_TOUCH_MS) return Promise.resolve(sid);
      return this.touch(sid).then((still) => (still ? sid : this.ensure(d, p)));
    }
    let job = this.building.get(sid);
    if (!job) {
      job = this.build(d, p, ckey, sid).then(() => { this.ready.set(sid, this.clock()); }).finally(() => { this.building.delete(sid); this.buildStarted.delete(sid); });
      this.building.set(sid, job);
      this.buildStarted.set(sid, Date.now());
    }
    return job.then(() => sid);
  }

  /** Records a read of a ready list; false (and forgotten here) when it has been pruned meanwhile. */
  private async touch(sid: string): Promise<boolean> {
    const now = this.clock();
    const n = await this.db.run('UPDATE an_case_key SET last_read = ? WHERE sid = ? AND ready = 1', [new Date(now).toISOString(), sid]);
    if (n === 0) { this.ready.delete(sid); return false; }
    this.ready.set(sid, now);
    return true;
  }

  private async build(d: CaseDef, p: Period, ckey: string, sid: string): Promise<void> {
    const pg = this.db.dialect === 'postgres';
    const lock = function* (): Generator<Op, void, unknown> { if (pg) yield q.run('LOCK TABLE an_agg_key IN SHARE ROW EXCLUSIVE MODE'); };
    const kindList = [...new Set([...measureKinds(d.den), ...measureKinds(d.num)])].join(',');
    // Register first (from now on every fact batch maintains the rows of its residents) and take
    // the cohort as it is now; residents joining it later arrive through the batches.
    const w = factWhere(d.den, p, DISTRICT);
    const clock = this.clock;
    const ids = await this.db.txGen(function* () {
      yield* lock();
      const now = new Date(clock()).toISOString();
      const k = (yield q.get('SELECT ready FROM an_case_key WHERE sid = ?', [sid])) as { ready: number } | undefined;
      if (k && num(k.ready) === 1) { yield q.run('UPDATE an_case_key SET last_read = ? WHERE sid = ?', [now, sid]); return null; }
      if (!k) yield q.run('INSERT INTO an_case_key (sid, ckey, period, period_to, kinds, ready, computed_at, last_read) VALUES (?, ?, ?, ?, ?, 0, NULL, ?)', [sid, ckey, p.key, p.to, kindList, now]);
      else if (num(k.ready) === -1) {
        // Being pruned: take it back (the rows left are deleted here, the pruner stops at its next chunk).
        yield q.run('DELETE FROM an_case WHERE sid = ?', [sid]);
        yield q.run('UPDATE an_case_key SET ready = 0, computed_at = NULL, last_read = ? WHERE sid = ?', [now, sid]);
      } else yield q.run('UPDATE an_case_key SET last_read = ? WHERE sid = ?', [now, sid]);
      return ((yield q.all(`SELECT DISTINCT c.resident_id FROM an_fact c WHERE ${w.sql}`, w.params)) as { resident_id: string }[]).map((r) => r.resident_id);
    });
    if (ids === null) return;
    const self = this;
    // Chunks sized so that each transaction takes ~TARGET_TX_MS (at most CHUNK residents), with
    // the write lock left free in between: ingest and pages keep their turns during a first build.
    let size = Math.min(CHUNK, 200);
    let touched = this.clock();
    for (let i = 0; i < ids.length;) {
      // Advanced by this chunk's length: `size` changes below (stepping by the new size skipped
      // or repeated residents: a 1 M-resident build lost 6-20% of its rows).
      const chunk = ids.slice(i, i + size);
      i += chunk.length;
      const t0 = performance.now();
      // A long first build counts as being read (it is not pruned half-built).
      const touch = this.clock() - touched > CASE_TOUCH_MS;
      if (touch) touched = this.clock();
      const at = new Date(touched).toISOString();
      await this.db.txGen(function* () {
        yield* lock();
        if (touch) yield q.run('UPDATE an_case_key SET last_read = ? WHERE sid = ?', [at, sid]);
        return yield* self.replace(sid, d, p, chunk);
      });
      const ms = performance.now() - t0;
      size = nextBatchSize(size, ms, 20, CHUNK);
      await yieldWriteLock(this.db, ms);
    }
    const now = new Date(this.clock()).toISOString();
    await this.db.run('UPDATE an_case_key SET ready = 1, computed_at = ?, last_read = ? WHERE sid = ?', [now, now, sid]);
  }

  /**
   * Deletes stored lists nobody reads (see the header): marks each (`ready` -1, only if still
   * idle: a read recorded meanwhile wins), deletes its rows in short transactions, then the key.
   * Returns the lists and rows deleted.
   */
  async prune(o: CasePruneOpts): Promise<{ lists: number; rows: number }> {
    const now = o.now ? o.now.getTime() : this.clock();
    // Never shorter than two touch intervals: a list read in the last minute is not pruned.
    const idle = Math.max(o.idleMs ?? 7 * 86400_000, 2 * CASE_TOUCH_MS);
    const superseded = Math.max(o.supersededIdleMs ?? 3600_000, 2 * CASE_TOUCH_MS);
    const pg = this.db.dialect === 'postgres';
    const lock = function* (): Generator<Op, void, unknown> { if (pg) yield q.run('LOCK TABLE an_agg_key IN SHARE ROW EXCLUSIVE MODE'); };
    const keys = await this.db.all<{ sid: string; ckey: string; ready: number }>('SELECT sid, ckey, ready FROM an_case_key');
    let lists = 0;
    let rows = 0;
    for (const k of keys) {
      if (o.keep.has(k.sid) || this.building.has(k.sid)) continue;
      const cutoff = new Date(now - (o.current.has(k.ckey) ? idle : superseded)).toISOString();
      // A key left marked by an interrupted prune is resumed.
      const marked = num(k.ready) === -1 || await this.db.txGen(function* () {
        yield* lock();
        return ((yield q.run('UPDATE an_case_key SET ready = -1 WHERE sid = ? AND ready <> -1 AND COALESCE(last_read, computed_at) < ?', [k.sid, cutoff])) as number) === 1;
      });
      if (!marked) continue;
      this.ready.delete(k.sid);
      let size = CHUNK;
      for (;;) {
        const t0 = performance.now();
        const n = await this.db.txGen(function* () {
          yield* lock();
          const r = (yield q.get('SELECT ready FROM an_case_key WHERE sid = ?', [k.sid])) as { ready: number } | undefined;
          if (!r || num(r.ready) !== -1) return -1; // taken back by a reader (or gone)
          const n = (yield q.run('DELETE FROM an_case WHERE sid = ? AND resident_id IN (SELECT resident_id FROM an_case WHERE sid = ? ORDER BY resident_id LIMIT ?)', [k.sid, k.sid, size])) as number;
          if (n === 0) yield q.run('DELETE FROM an_case_key WHERE sid = ? AND ready = -1', [k.sid]);
          return n;
        });
        if (n <= 0) { if (n === 0) lists++; break; }
        rows += n;
        const ms = performance.now() - t0;
        size = nextBatchSize(size, ms, 200, 20_000);
        await yieldWriteLock(this.db, ms);
      }
    }
    return { lists, rows };
  }

  /** Stored rows of a case list under `node` and inside `scope`: the count and one page, failing first, then clinic, then resident. */
  async list(d: CaseDef, p: Period, node: OrgUnit, scope: Scope, opts: CaseQuery): Promise<{ total: number; recs: CaseRec[] }> {
    const { sql: where0, params } = await this.where(d, p, node, scope);
    const where = opts.failingOnly ? `${where0} AND ok = 0` : where0;
    const total = opts.noCount ? -1 : num((await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM an_case WHERE ${where}`, params))?.n);
    const page = opts.after ? { sql: ' AND (ok, clinic_id, resident_id) > (?, ?, ?)', params: [opts.after.ok, opts.after.clinic_id, opts.after.resident_id] as Param[] } : { sql: '', params: [] as Param[] };
    const recs = await this.db.all<CaseRec>(`SELECT ${COLS.join(', ')} FROM an_case WHERE ${where}${page.sql} ORDER BY ok, clinic_id, resident_id LIMIT ? OFFSET ?`,
      [...params, ...page.params, opts.limit ?? 100, opts.after ? 0 : opts.offset ?? 0]);
    return { total, recs };
  }

  /**
   * WHERE clause (on `an_case`) of a stored case list's rows under `node` and inside `scope`;
   * builds the list first if needed. QC reports aggregate and page over it.
   */
  async where(d: CaseDef, p: Period, node: OrgUnit, scope: Scope): Promise<{ sql: string; params: Param[] }> {
    const sid = await this.ensure(d, p);
    const parts = ['sid = ?'];
    const params: Param[] = [sid];
    const add = (col: string, vals: string[]) => { const l = inList(vals); parts.push(`${col} ${l.sql}`); params.push(...l.params); };
    if (node.level === 'team') add('team_id', [node.id]);
    else if (node.level !== 'district') add('clinic_id', this.org().clinicsUnder(node.id));
    if (scope.clinics) add('clinic_id', scope.clinics);
    if (scope.teams) add('team_id', scope.teams);
    return { sql: parts.join(' AND '), params };
  }

  /** Case rows for display: the reason written from the stored evidence. */
  describe(d: CaseDef, p: Period, recs: CaseRec[]): CaseRow[] {
    const org = this.org();
    const req = d.num.require?.[0];
    const kindName = req ? req.kind.map((k) => KIND_NAMES[k] ?? k).join('/') : '';
    return recs.map((r) => {
      const ok = num(r.ok) === 1;
      const cnt = r.cnt === null ? null : num(r.cnt);
      const last = cnt ? { day: r.last_day, n1: nn(r.n1), n2: nn(r.n2), n3: nn(r.n3), flag: nn(r.flag) } : null;
      const reasons: string[] = [];
      if (!ok && req) {
        if (req.minPerYear) reasons.push(`期内${kindName} ${cnt ?? 0} 次，少于要求的 ${minCount(req, p)} 次`);
        else if (req.latestFlag) {
          if (!last) reasons.push(`期内无${kindName}`);
          else if (last.flag === null) reasons.push(`末次${kindName}（${last.day}）缺少测量值`);
          else reasons.push(`末次${kindName}（${last.day}）未达标：${values(last)}`);
        } else reasons.push(`期内无${kindName}记录`);
      }
      const team = r.team_id === '' ? null : r.team_id;
      return {
        residentId: r.resident_id, name: r.name, sex: r.sex, birthDate: r.birth,
        clinicId: r.clinic_id, institution: org.institutionOf(r.clinic_id)?.name ?? null, teamId: team, team: team ? org.byId.get(team)?.name ?? team : null,
        since: r.since, ok, reasons, count: cnt, lastDay: last?.day ?? null, lastValues: last ? values(last) : null,
      };
    });
  }

  /** Every registered case list (for checks and tests). */
  async keys(): Promise<{ sid: string; def: CaseDef; period: Period; ready: boolean }[]> {
    return (await this.db.all<{ sid: string; ckey: string; period: string; ready: number }>('SELECT sid, ckey, period, ready FROM an_case_key ORDER BY sid'))
      .map((k) => ({ sid: k.sid, def: JSON.parse(k.ckey) as CaseDef, period: parsePeriod(k.period), ready: num(k.ready) === 1 }));
  }

  /** The stored rows of one case list, in list order. */
  async stored(sid: string): Promise<CaseRec[]> {
    return this.db.all<CaseRec>(`SELECT ${COLS.join(', ')} FROM an_case WHERE sid = ? ORDER BY ok, clinic_id, resident_id`, [sid]);
  }

  /** Full computation from the facts (what `an_case` holds), for checks and tests. */
  recompute(d: CaseDef, p: Period): Promise<CaseRec[]> {
    const self = this;
    return this.db.txGen(function* () { return yield* self.compute(d, p, null); });
  }
}

function nn(v: unknown): number | null {
  return v === null || v === undefined ? null : Number(v);
}
