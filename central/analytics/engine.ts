/**
 * Evaluates indicator definitions over the organisation tree and a period. Each measure is one
 * grouped SQL query (by clinic and team) whose rows are rolled up along the hierarchy in memory,
 * so a node, all its children and the district come from the same query. Every query carries the
 * caller's scope (clinics / teams it may see): the portal never queries facts any other way.
 */
import type { Cond, IndicatorDef, Measure, Require, Window } from './indicators.ts';
import type { OrgTree, OrgUnit } from './org.ts';
import { currentPeriodKey, parsePeriod, previousPeriod, trailing, yearAgo, type Period, type PeriodKind } from './periods.ts';
import { anyOf, inList, num, q, type Op, type Param, type SqlDb } from './sql.ts';
import { CaseStore, caseDef, type CaseQuery, type CaseRec } from './cases.ts';

/** What a caller may see: null = everything (district-level roles). */
export interface Scope {
  orgId: string;
  clinics: string[] | null;
  teams: string[] | null;
}

export const DISTRICT_SCOPE = (org: OrgTree): Scope => ({ orgId: org.root.id, clinics: null, teams: null });

export function scopeFor(org: OrgTree, orgId: string): Scope {
  const u = org.byId.get(orgId);
  if (!u) throw new Error(`unknown organisation unit ${orgId}`);
  if (u.level === 'district') return { orgId, clinics: null, teams: null };
  if (u.level === 'team') return { orgId, clinics: null, teams: [u.id] };
  return { orgId, clinics: org.clinicsUnder(orgId), teams: null };
}

interface Row { clinic_id?: string | null; team_id?: string | null; org_id?: string; v: unknown }

export interface NodeValue {
  orgId: string;
  name: string;
  nameEn: string | null;
  level: string;
  num: number;
  den: number | null;
  value: number | null;
}

export interface Evaluation {
  indicator: IndicatorDef;
  period: Period;
  node: NodeValue;
  children: NodeValue[];
  prev: NodeValue;
  yoy: NodeValue;
  prevPeriod: string;
  yoyPeriod: string;
}

export interface CaseRow {
  residentId: string;
  name: string | null;
  sex: string | null;
  birthDate: string | null;
  clinicId: string;
  institution: string | null;
  teamId: string | null;
  team: string | null;
  since: string | null;
  ok: boolean;
  reasons: string[];
  count: number | null;
  lastDay: string | null;
  lastValues: string | null;
}

export const KIND_NAMES: Record<string, string> = {
  visit: '就诊', htn_fu: '高血压随访', dm_fu: '糖尿病随访', elderly_check: '老年人体检', tcm: '中医药健康管理', contract: '签约', obs: '体征测量', lab: '检验', rx: '处方', health_record: '健康档案',
};

export function windowSql(alias: string, w: Window, p: Period): { sql: string; params: Param[] } {
  if (w === 'period') return { sql: `${alias}.day >= ? AND ${alias}.day < ?`, params: [p.from, p.to] };
  if (w === 'to_end') return { sql: `${alias}.day < ?`, params: [p.to] };
  if (w === 'prev_active') { const q = previousPeriod(p); return { sql: `${alias}.day < ? AND (${alias}.day2 IS NULL OR ${alias}.day2 >= ?)`, params: [q.to, q.from] }; }
  return { sql: `${alias}.day < ? AND (${alias}.day2 IS NULL OR ${alias}.day2 >= ?)`, params: [p.to, p.from] };
}

export function condSql(alias: string, conds: Cond[] | undefined): { sql: string; params: Param[] } {
  const parts: string[] = [];
  const params: Param[] = [];
  for (const c of conds ?? []) {
    if (c.op === 'null') parts.push(`${alias}.${c.col} IS NULL`);
    else if (c.op === 'notnull') parts.push(`${alias}.${c.col} IS NOT NULL`);
    else {
      parts.push(`${alias}.${c.col} ${c.op} ?`);
      params.push(c.value ?? null);
    }
  }
  return { sql: parts.join(' AND '), params };
}

export function kinds(alias: string, ks: string[]): { sql: string; params: Param[] } {
  const l = inList(ks);
  return { sql: `${alias}.kind ${l.sql}`, params: l.params };
}

export function minCount(r: Require, p: Period): number {
  return r.minPerYear ? Math.ceil((r.minPerYear * p.months) / 12) : 1;
}

export function requireSql(r: Require, p: Period, outer = 'c'): { sql: string; params: Param[] } {
  const k = kinds('r', r.kind);
  const w = windowSql('r', r.window, p);
  const wh = condSql('r', r.where);
  const base = [`r.resident_id = ${outer}.resident_id`, k.sql, w.sql, wh.sql, r.sameClinic ? `r.clinic_id = ${outer}.clinic_id` : ''].filter(Boolean).join(' AND ');
  const params = [...k.params, ...w.params, ...wh.params];
  // Counted only up to what the rule needs (LIMIT): a resident's long history is not read.
  if (r.minPerYear) { const n = minCount(r, p); return { sql: `(SELECT COUNT(*) FROM (SELECT 1 AS x FROM an_fact r WHERE ${base} LIMIT ${n}) z) >= ?`, params: [...params, n] }; }
  if (r.latestFlag) return { sql: `(SELECT r.flag FROM an_fact r WHERE ${base} ORDER BY r.day DESC, r.fkey DESC LIMIT 1) = 1`, params };
  return { sql: `${r.none ? 'NOT ' : ''}EXISTS (SELECT 1 FROM an_fact r WHERE ${base})`, params };
}

function scopeSql(alias: string, scope: Scope): { sql: string; params: Param[] } {
  const parts: string[] = [];
  const params: Param[] = [];
  if (scope.clinics) {
    const l = inList(scope.clinics);
    parts.push(`${alias}.clinic_id ${l.sql}`);
    params.push(...l.params);
  }
  if (scope.teams) {
    const l = inList(scope.teams);
    parts.push(`${alias}.team_id ${l.sql}`);
    params.push(...l.params);
  }
  return { sql: parts.join(' AND '), params };
}

/** WHERE clause (alias c) of a fact measure, with the scope applied. */
export function factWhere(m: Extract<Measure, { type: 'count' | 'cohort' }>, p: Period, scope: Scope, extra?: { sql: string; params: Param[] }): { sql: string; params: Param[] } {
  const age = m.type === 'cohort' && m.minAge !== undefined
    ? { sql: "EXISTS (SELECT 1 FROM an_fact b WHERE b.resident_id = c.resident_id AND b.kind = 'resident' AND b.day2 <= ?)", params: [`${p.year - m.minAge}-12-31`] as Param[] }
    : { sql: '', params: [] as Param[] };
  const parts = [kinds('c', m.kind), windowSql('c', m.window, p), condSql('c', m.where), age, ...(m.require ?? []).map((r) => requireSql(r, p)), scopeSql('c', scope), extra ?? { sql: '', params: [] }];
  if (m.type === 'cohort' || (m.type === 'count' && m.distinct) || m.require?.length) parts.push({ sql: 'c.resident_id IS NOT NULL', params: [] });
  const f = parts.filter((x) => x.sql);
  return { sql: f.map((x) => x.sql).join(' AND '), params: f.flatMap((x) => x.params) };
}

interface CacheEntry { to: string; rows: Row[] }

/** Trend lengths the indicator page shows per period kind. */
export const TREND_LENGTH: Record<PeriodKind, number> = { year: 5, quarter: 8, month: 12 };

/** Every period an indicator page for `p` reads: the period, the one before, a year ago, its trend. */
export function pagePeriods(p: Period): Period[] {
  const all = [p, previousPeriod(p), yearAgo(p), ...trailing(p, TREND_LENGTH[p.kind])];
  return [...new Map(all.map((x) => [x.key, x])).values()];
}

export type FactMeasure = Extract<Measure, { type: 'count' | 'cohort' }>;

/** Fact kinds a measure reads (its own and those of its requirements). */
export function measureKinds(m: FactMeasure): string[] {
  return [...m.kind, ...(m.require ?? []).flatMap((r) => r.kind), ...(m.type === 'cohort' && m.minAge !== undefined ? ['resident'] : [])];
}

function aggOf(m: FactMeasure): string {
  return m.type === 'cohort' || m.distinct ? 'COUNT(DISTINCT c.resident_id)' : m.sum ? `SUM(c.${m.sum})` : 'COUNT(*)';
}

/** Residents and source records a batch of records touches (see `Engine.aggBefore`). */
export interface Touched {
  residents: Set<string>;
  /** Sources whose facts have no resident (their contribution is per fact). */
  srcs: Set<string>;
  kinds: Set<string>;
  /** Earliest fact day added or removed; '' = any (a contract moving a resident's facts to a team). */
  minDay: string | null;
}

/** Registered results whose batch contributions one PostgreSQL statement reads (`contributions`). */
const CONTRIB_PER_STATEMENT = 25;

interface AggWork { keys: { mkey: string; period: string; m: FactMeasure; p: Period }[]; delta: Map<string, number>; t: Touched }

export class Engine {
  /** Stored case lists (cases.ts), kept current by the same fact batches. */
  readonly caseStore: CaseStore;
  constructor(private readonly db: SqlDb, private readonly org: () => OrgTree) {
    this.caseStore = new CaseStore(db, org);
  }

  /**
   * Grouped rows (by clinic and team) of fact measures for the whole district per (measure,
   * period). The first time a (measure, period) is asked for it is computed from the facts and
   * stored in `an_agg` (registered in `an_agg_key`); from then on every fact batch the refresh
   * loop applies updates those rows in the same transaction (the batch's residents are counted
   * before and after, the difference is added), so reading an indicator is reading a few dozen
   * rows however large the district. A caller's scope is applied to the rows. Population and
   * staffing are read each time (small tables). A memory copy is kept until a refresh changes
   * facts of that period (`invalidate`).
   */
  private readonly cache = new Map<string, CacheEntry>();
  private readonly inflight = new Map<string, Promise<Row[]>>();
  static CACHE_MAX = 4000;
  private invalidations = 0;
  /**
   * Set while a fact worker runs (`Analytics.start`): a (measure, period) not stored yet is
   * computed there (its own connection), not in a transaction on this thread's connection,
   * which on SQLite would block the event loop, and central's ingest with it, for the whole
   * first computation (tens of seconds of CPU at 1 M residents).
   */
  remoteLoad: ((mkey: string, period: string) => Promise<void>) | null = null;
  /** First computations this engine is waiting for (key -> since when, ms), for "being computed" pages. */
  readonly computing = new Map<string, number>();

  /** Facts on or after `fromDay` changed: drop every memory copy of a period that ends after it. */
  invalidate(fromDay: string): void {
    this.invalidations++;
    for (const [k, v] of this.cache) if (v.to > fromDay) this.cache.delete(k);
  }

  /** Full computation of a measure from the facts (what `an_agg` holds, for checks and tests). */
  async recompute(m: Measure, p: Period): Promise<Row[]> {
    if (m.type !== 'count' && m.type !== 'cohort') return this.measureRows(m, p, { orgId: '', clinics: null, teams: null });
    const w = factWhere(m, p, { orgId: '', clinics: null, teams: null });
    return this.db.all<Row>(`SELECT c.clinic_id, c.team_id, ${aggOf(m)} AS v FROM an_fact c WHERE ${w.sql} GROUP BY c.clinic_id, c.team_id`, w.params);
  }

  /** Rows of a registered (measure, period), or computes, stores and registers them. */
  private load(m: FactMeasure, p: Period, key: string): Promise<Row[]> {
    let job = this.inflight.get(key);
    if (job) return job;
    const mkey = JSON.stringify(m);
    const remote = this.remoteLoad;
    if (remote) {
      job = (async () => {
        const gen = this.invalidations;
        const stored = () => this.db.all<Row>('SELECT clinic_id, team_id, v FROM an_agg WHERE mkey = ? AND period = ?', [mkey, p.key]);
        let rows: Row[] | null = null;
        if (await this.db.get('SELECT 1 AS x FROM an_agg_key WHERE mkey = ? AND period = ?', [mkey, p.key])) rows = await stored();
        else {
          this.computing.set(key, Date.now());
          try {
            await remote(mkey, p.key);
            rows = await stored();
          } catch {
            // No worker ready (starting, restarting): as before, here.
          } finally { this.computing.delete(key); }
        }
        if (rows === null) return this.loadHere(m, p, key, mkey);
        const out = rows.map((r) => ({ clinic_id: r.clinic_id, team_id: r.team_id === '' ? null : r.team_id, v: r.v }));
        if (gen === this.invalidations) this.remember(key, p, out);
        return out;
      })().finally(() => this.inflight.delete(key));
      this.inflight.set(key, job);
      return job;
    }
    job = this.loadHere(m, p, key, mkey).finally(() => this.inflight.delete(key));
    this.inflight.set(key, job);
    return job;
  }

  private remember(key: string, p: Period, rows: Row[]): void {
    if (this.cache.size >= Engine.CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(key, { to: p.to, rows });
  }

  /** Reads the stored rows, or computes, stores and registers them, in one transaction on this connection. */
  private loadHere(m: FactMeasure, p: Period, key: string, mkey: string): Promise<Row[]> {
    const gen = this.invalidations;
    const w = factWhere(m, p, { orgId: '', clinics: null, teams: null });
    const full = `SELECT c.clinic_id, c.team_id, ${aggOf(m)} AS v FROM an_fact c WHERE ${w.sql} GROUP BY c.clinic_id, c.team_id`;
    const pg = this.db.dialect === 'postgres';
    return this.db.txGen(function* () {
      // Serialised with fact batches on PostgreSQL (SQLite transactions are serial already).
      if (pg) yield q.run('LOCK TABLE an_agg_key IN SHARE ROW EXCLUSIVE MODE');
      const known = yield q.get('SELECT period_to FROM an_agg_key WHERE mkey = ? AND period = ?', [mkey, p.key]);
      if (known) {
        const rows = (yield q.all('SELECT clinic_id, team_id, v FROM an_agg WHERE mkey = ? AND period = ?', [mkey, p.key])) as Row[];
        return rows.map((r) => ({ clinic_id: r.clinic_id, team_id: r.team_id === '' ? null : r.team_id, v: r.v }));
      }
      const rows = (yield q.all(full, w.params)) as Row[];
      yield q.run('INSERT INTO an_agg_key (mkey, period, period_to, kinds, computed_at) VALUES (?, ?, ?, ?, ?)', [mkey, p.key, p.to, measureKinds(m).join(','), new Date().toISOString()]);
      for (const r of rows) yield q.run('INSERT INTO an_agg (mkey, period, clinic_id, team_id, v) VALUES (?, ?, ?, ?, ?)', [mkey, p.key, r.clinic_id ?? '', r.team_id ?? '', num(r.v)]);
      return rows;
    }).then((rows) => {
      // Facts changed meanwhile (another connection on PostgreSQL): read again next time.
      if (gen === this.invalidations) this.remember(key, p, rows);
      return rows;
    });
  }

  async measureRows(m: Measure, p: Period, scope: Scope): Promise<Row[]> {
    if (m.type === 'population') {
      return this.db.all<Row>(`SELECT org_id, SUM(${m.field}) AS v FROM an_population WHERE year = ? GROUP BY org_id`, [p.year]);
    }
    if (m.type === 'staffing') return this.db.all<Row>(`SELECT org_id, ${m.field} AS v FROM an_staffing`);
    const key = `${JSON.stringify(m)}|${p.key}`;
    const rows = this.cache.get(key)?.rows ?? await this.load(m, p, key);
    const clinics = scope.clinics ? new Set(scope.clinics) : null;
    const teams = scope.teams ? new Set(scope.teams) : null;
    return clinics || teams ? rows.filter((r) => (!clinics || clinics.has(r.clinic_id!)) && (!teams || teams.has(r.team_id!))) : rows;
  }

  /** The batch's contribution to one registered (measure, period): its residents' (and resident-less facts') rows. */
  private *contribution(m: FactMeasure, p: Period, t: Touched): Generator<Op, Row[], unknown> {
    const w = factWhere(m, p, { orgId: '', clinics: null, teams: null });
    const sqlite = this.db.dialect === 'sqlite';
    const out: Row[] = [];
    const res = [...t.residents];
    for (let i = 0; i < res.length; i += 5000) {
      const l = anyOf(this.db, 'c.resident_id', res.slice(i, i + 5000));
      out.push(...(yield q.all(`SELECT c.clinic_id, c.team_id, ${aggOf(m)} AS v FROM an_fact AS c ${sqlite ? 'INDEXED BY an_fact_res_kind_day' : ''} WHERE ${l.sql} AND ${w.sql} GROUP BY c.clinic_id, c.team_id`, [...l.params, ...w.params])) as Row[]);
    }
    // Facts without a resident count only in plain counts and sums.
    if (m.type === 'count' && !m.distinct && !m.require?.length && t.srcs.size) {
      const srcs = [...t.srcs];
      for (let i = 0; i < srcs.length; i += 5000) {
        const l = anyOf(this.db, 'c.src', srcs.slice(i, i + 5000));
        out.push(...(yield q.all(`SELECT c.clinic_id, c.team_id, ${aggOf(m)} AS v FROM an_fact AS c ${sqlite ? 'INDEXED BY an_fact_src' : ''} WHERE ${l.sql} AND c.resident_id IS NULL AND ${w.sql} GROUP BY c.clinic_id, c.team_id`, [...l.params, ...w.params])) as Row[]);
      }
    }
    return out;
  }

  /**
   * The batch's contributions to every registered result of `work`, added to its deltas with
   * `sign`. On PostgreSQL the per-result queries of up to CONTRIB_PER_STATEMENT results go as one
   * UNION ALL statement (a batch touching 75 stored results: 3 statements instead of 75-150);
   * SQLite, in process, keeps one query per result.
   */
  private *contributions(work: AggWork, sign: number): Generator<Op, void, unknown> {
    const t = work.t;
    if (this.db.dialect === 'sqlite') {
      for (const k of work.keys) for (const row of (yield* this.contribution(k.m, k.p, t))) this.addDelta(work, k.mkey, k.period, row, sign);
      return;
    }
    const res = [...t.residents];
    const srcs = [...t.srcs];
    for (let i = 0; i < work.keys.length; i += CONTRIB_PER_STATEMENT) {
      const parts: string[] = [];
      const params: Param[] = [];
      work.keys.slice(i, i + CONTRIB_PER_STATEMENT).forEach((k, j) => {
        const w = factWhere(k.m, k.p, { orgId: '', clinics: null, teams: null });
        if (res.length) {
          parts.push(`(SELECT ${j} AS i, c.clinic_id, c.team_id, ${aggOf(k.m)} AS v FROM an_fact AS c WHERE c.resident_id = ANY(?::text[]) AND ${w.sql} GROUP BY c.clinic_id, c.team_id)`);
          params.push(res, ...w.params);
        }
        // Facts without a resident count only in plain counts and sums.
        if (k.m.type === 'count' && !k.m.distinct && !k.m.require?.length && srcs.length) {
          parts.push(`(SELECT ${j} AS i, c.clinic_id, c.team_id, ${aggOf(k.m)} AS v FROM an_fact AS c WHERE c.src = ANY(?::text[]) AND c.resident_id IS NULL AND ${w.sql} GROUP BY c.clinic_id, c.team_id)`);
          params.push(srcs, ...w.params);
        }
      });
      if (!parts.length) continue;
      for (const row of (yield q.all(parts.join(' UNION ALL '), params)) as (Row & { i: number })[]) {
        const k = work.keys[i + Number(row.i)]!;
        this.addDelta(work, k.mkey, k.period, row, sign);
      }
    }
  }

  /**
   * Inside a fact batch's transaction, before its facts are written: the registered results it
   * may change (periods ending after its earliest day, measures reading its kinds) and the
   * batch's current contribution to each.
   */
  *aggBefore(t: Touched): Generator<Op, AggWork | null, unknown> {
    if (t.minDay === null || (t.residents.size === 0 && t.srcs.size === 0)) return null;
    if (this.db.dialect === 'postgres') yield q.run('LOCK TABLE an_agg_key IN SHARE ROW EXCLUSIVE MODE');
    // A resident record (birth date) matters to age-bounded measures of every period, whatever its day.
    const person = t.kinds.has('resident');
    const regs = (yield q.all(`SELECT mkey, period, period_to, kinds FROM an_agg_key${person ? '' : ' WHERE period_to > ?'}`, person ? [] : [t.minDay])) as { mkey: string; period: string; period_to: string; kinds: string }[];
    const work: AggWork = { keys: [], delta: new Map(), t };
    for (const r of regs) {
      const kinds = r.kinds.split(',');
      if (!(r.period_to > t.minDay || kinds.includes('resident'))) continue;
      if (t.minDay !== '' && !kinds.some((k) => t.kinds.has(k))) continue;
      const m = JSON.parse(r.mkey) as FactMeasure;
      const p = parsePeriod(r.period);
      work.keys.push({ mkey: r.mkey, period: r.period, m, p });
    }
    yield* this.contributions(work, -1);
    // Returned even without stored indicator results: stored case lists follow the same batch.
    return work;
  }

  /** After the batch's facts are written: adds (new - old) contributions to the stored rows. */
  *aggAfter(work: AggWork | null): Generator<Op, number, unknown> {
    if (!work) return 0;
    yield* this.caseStore.afterBatch(work.t);
    yield* this.contributions(work, 1);
    let n = 0;
    for (const [dk, v] of work.delta) {
      if (v === 0) continue;
      const [mkey, period, clinic, team] = JSON.parse(dk) as [string, string, string, string];
      yield q.run('INSERT INTO an_agg (mkey, period, clinic_id, team_id, v) VALUES (?, ?, ?, ?, ?) ON CONFLICT (mkey, period, clinic_id, team_id) DO UPDATE SET v = an_agg.v + excluded.v', [mkey, period, clinic, team, v]);
      n++;
    }
    return n;
  }

  private addDelta(work: AggWork, mkey: string, period: string, row: Row, sign: number): void {
    const dk = JSON.stringify([mkey, period, row.clinic_id ?? '', row.team_id ?? '']);
    work.delta.set(dk, (work.delta.get(dk) ?? 0) + sign * num(row.v));
  }

  /**
   * Registers (computes and stores) every fact measure of `indicators` for the periods their
   * pages read around the current and previous year, quarter and month, most-read first. After
   * a bulk load this is the one slow step; afterwards fact batches keep the rows current. Then
   * the case lists of the current year (cases.ts).
   * Returns how many were computed. `stop()` true ends it early (shutdown).
   */
  async warm(indicators: IndicatorDef[], now = new Date(), stop: () => boolean = () => false): Promise<number> {
    const tops: Period[] = [];
    for (const kind of ['year', 'quarter', 'month'] as const) { const p = parsePeriod(currentPeriodKey(kind, now)); tops.push(p, previousPeriod(p)); }
    const order = [tops[0]!, tops[2]!, tops[4]!, tops[1]!, tops[3]!, tops[5]!];
    const known = new Set((await this.db.all<{ mkey: string; period: string }>('SELECT mkey, period FROM an_agg_key')).map((r) => `${r.mkey}|${r.period}`));
    let k = 0;
    for (const top of order) {
      for (const per of pagePeriods(top)) {
        for (const ind of indicators) {
          for (const m of [ind.numerator, ind.denominator]) {
            if (!m || (m.type !== 'count' && m.type !== 'cohort')) continue;
            const key = `${JSON.stringify(m)}|${per.key}`;
            if (known.has(key)) continue;
            known.add(key);
            if (stop()) return k;
            await this.load(m, per, key);
            k++;
            // Let waiting requests in between two queries (SQLite runs them on this thread).
            await new Promise((r) => setImmediate(r));
          }
        }
      }
    }
    // Case lists of the current year (the drill-down's default period), built chunk by chunk.
    const year = parsePeriod(currentPeriodKey('year', now));
    for (const ind of indicators) {
      if (!ind.cases || stop()) continue;
      if (this.caseStore.isReady(caseDef(ind), year)) continue;
      await this.caseStore.ensure(caseDef(ind), year);
      k++;
    }
    return k;
  }

  /** Sum of the rows that fall under `node` (and inside the scope). */
  rollup(rows: Row[], node: OrgUnit): number | null {
    const org = this.org();
    let total = 0;
    for (const r of rows) {
      if (r.org_id !== undefined) {
        // Population and staffing belong to institutions: a team has none.
        if (node.level === 'team') return null;
        if (!org.isWithin(r.org_id, node.id)) continue;
      } else if (!this.factUnder(r, node)) continue;
      total += num(r.v);
    }
    return total;
  }

  private factUnder(r: Row, node: OrgUnit): boolean {
    if (node.level === 'district') return true;
    if (node.level === 'team') return r.team_id === node.id;
    const inst = r.clinic_id ? this.org().institutionOf(r.clinic_id) : undefined;
    if (!inst) return false;
    return inst.id === node.id || (node.level === 'centre' && inst.parentId === node.id);
  }

  private nodeValue(ind: IndicatorDef, node: OrgUnit, numRows: Row[], denRows: Row[] | null): NodeValue {
    let n = this.rollup(numRows, node);
    const d = denRows ? this.rollup(denRows, node) : null;
    if (n !== null && ind.unit === 'yuan') n = n / 100;
    const value = n === null ? null : !ind.denominator ? n : d ? n / d : null;
    return { orgId: node.id, name: node.name, nameEn: node.nameEn, level: node.level, num: n ?? 0, den: ind.denominator ? d : null, value };
  }

  async evaluate(ind: IndicatorDef, nodeId: string, periodKey: string, scope: Scope): Promise<Evaluation> {
    const org = this.org();
    const node = this.checkNode(nodeId, scope);
    const p = parsePeriod(periodKey);
    const pp = previousPeriod(p);
    const py = yearAgo(p);
    const at = async (per: Period) => ({ num: await this.measureRows(ind.numerator, per, scope), den: ind.denominator ? await this.measureRows(ind.denominator, per, scope) : null });
    const cur = await at(p);
    const prev = await at(pp);
    const yoy = p.kind === 'year' ? prev : await at(py);
    const kids = org.kids(node.id).filter((k) => ind.levels.includes(k.level));
    return {
      indicator: ind, period: p, prevPeriod: pp.key, yoyPeriod: py.key,
      node: this.nodeValue(ind, node, cur.num, cur.den),
      children: kids.map((k) => this.nodeValue(ind, k, cur.num, cur.den)),
      prev: this.nodeValue(ind, node, prev.num, prev.den),
      yoy: this.nodeValue(ind, node, yoy.num, yoy.den),
    };
  }

  /** The node and its children (at the indicator's levels) from one query per measure. */
  async snapshot(ind: IndicatorDef, nodeId: string, periodKey: string, scope: Scope): Promise<{ node: NodeValue; children: NodeValue[] }> {
    const node = this.checkNode(nodeId, scope);
    const p = parsePeriod(periodKey);
    const n = await this.measureRows(ind.numerator, p, scope);
    const d = ind.denominator ? await this.measureRows(ind.denominator, p, scope) : null;
    const kids = this.org().kids(node.id).filter((k) => ind.levels.includes(k.level));
    return { node: this.nodeValue(ind, node, n, d), children: kids.map((k) => this.nodeValue(ind, k, n, d)) };
  }

  async value(ind: IndicatorDef, nodeId: string, periodKey: string, scope: Scope): Promise<NodeValue> {
    const node = this.checkNode(nodeId, scope);
    const p = parsePeriod(periodKey);
    const n = await this.measureRows(ind.numerator, p, scope);
    const d = ind.denominator ? await this.measureRows(ind.denominator, p, scope) : null;
    return this.nodeValue(ind, node, n, d);
  }

  /** Values of every unit under `nodeId` at one level (institution comparison). */
  async compare(ind: IndicatorDef, nodeId: string, periodKey: string, scope: Scope, level: 'centre' | 'station' | 'team'): Promise<NodeValue[]> {
    const org = this.org();
    this.checkNode(nodeId, scope);
    const p = parsePeriod(periodKey);
    const n = await this.measureRows(ind.numerator, p, scope);
    const d = ind.denominator ? await this.measureRows(ind.denominator, p, scope) : null;
    return org.subtree(nodeId).filter((u) => u.level === level).map((u) => this.nodeValue(ind, u, n, d));
  }

  async trend(ind: IndicatorDef, nodeId: string, periodKey: string, n: number, scope: Scope): Promise<{ period: string; value: number | null }[]> {
    const node = this.checkNode(nodeId, scope);
    const out: { period: string; value: number | null }[] = [];
    for (const p of trailing(parsePeriod(periodKey), n)) {
      const nr = await this.measureRows(ind.numerator, p, scope);
      const dr = ind.denominator ? await this.measureRows(ind.denominator, p, scope) : null;
      out.push({ period: p.key, value: this.nodeValue(ind, node, nr, dr).value });
    }
    return out;
  }

  /** The node must lie inside the caller's scope (a centre manager cannot name another centre). */
  checkNode(nodeId: string, scope: Scope): OrgUnit {
    const org = this.org();
    const node = org.byId.get(nodeId);
    if (!node || !org.isWithin(nodeId, scope.orgId)) throw new ScopeError(`organisation unit ${nodeId} is outside your scope`);
    return node;
  }

  /**
   * Case list of an indicator whose denominator is a cohort: every resident in it under
   * `nodeId`, whether they meet the numerator, and why not. Read from the stored case list
   * (cases.ts: built on first use, then kept current by every fact batch): the count and one
   * page (failing first, then clinic, then resident; `after` = keyset) are two indexed reads.
   */
  async cases(ind: IndicatorDef, nodeId: string, periodKey: string, scope: Scope, opts: CaseQuery = {}): Promise<{ total: number; rows: CaseRow[] }> {
    const d = caseDef(ind);
    const node = this.checkNode(nodeId, scope);
    const p = parsePeriod(periodKey);
    const { total, recs } = await this.caseStore.list(d, p, node, scope, opts);
    return { total, rows: this.caseStore.describe(d, p, recs) };
  }

  /**
   * The same list page by page (keyset, `pageSize` rows each) up to `max` rows: what an Excel
   * export streams into the workbook without holding the whole list.
   */
  async *casePages(ind: IndicatorDef, nodeId: string, periodKey: string, scope: Scope, opts: { failingOnly?: boolean; max: number; pageSize?: number }): AsyncGenerator<{ total: number; rows: CaseRow[] }> {
    const d = caseDef(ind);
    const node = this.checkNode(nodeId, scope);
    const p = parsePeriod(periodKey);
    let after: CaseRec | undefined;
    let total = -1;
    for (let left = opts.max; left > 0;) {
      const r = await this.caseStore.list(d, p, node, scope, { failingOnly: opts.failingOnly, limit: Math.min(left, opts.pageSize ?? 5000), after: after && { ok: num(after.ok), clinic_id: after.clinic_id, resident_id: after.resident_id }, noCount: !!after });
      const recs = r.recs;
      if (!after) total = r.total;
      if (recs.length === 0) { if (!after) yield { total, rows: [] }; return; }
      yield { total, rows: this.caseStore.describe(d, p, recs) };
      left -= recs.length;
      after = recs[recs.length - 1];
    }
  }

  async topDiagnoses(nodeId: string, periodKey: string, scope: Scope, limit = 10): Promise<{ code: string; name: string; visits: number }[]> {
    const node = this.checkNode(nodeId, scope);
    const p = parsePeriod(periodKey);
    const f = this.nodeFilter(node);
    const sc = scopeSql('c', scope);
    const where = ["c.kind = 'visit'", 'c.day >= ? AND c.day < ?', 'c.code IS NOT NULL', f.sql, sc.sql].filter(Boolean).join(' AND ');
    const rows = await this.db.all<{ code: string; name: string | null; n: number }>(
      `SELECT c.code, MIN(c.label) AS name, COUNT(*) AS n FROM an_fact c WHERE ${where} GROUP BY c.code ORDER BY n DESC, c.code LIMIT ?`, [p.from, p.to, ...f.params, ...sc.params, limit]);
    return rows.map((r) => ({ code: r.code, name: r.name ?? '', visits: num(r.n) }));
  }

  async incomeStructure(nodeId: string, periodKey: string, scope: Scope): Promise<{ category: string; yuan: number; share: number }[]> {
    const node = this.checkNode(nodeId, scope);
    const p = parsePeriod(periodKey);
    const f = this.nodeFilter(node);
    const sc = scopeSql('c', scope);
    const where = ["c.kind = 'charge'", 'c.day >= ? AND c.day < ?', f.sql, sc.sql].filter(Boolean).join(' AND ');
    const rows = await this.db.all<{ code: string; v: number }>(`SELECT c.code, SUM(c.n1) AS v FROM an_fact c WHERE ${where} GROUP BY c.code ORDER BY v DESC, c.code`, [p.from, p.to, ...f.params, ...sc.params]);
    const total = rows.reduce((a, r) => a + num(r.v), 0);
    return rows.map((r) => ({ category: r.code, yuan: num(r.v) / 100, share: total ? num(r.v) / total : 0 }));
  }

  nodeFilter(node: OrgUnit, alias = 'c'): { sql: string; params: Param[] } {
    if (node.level === 'district') return { sql: '', params: [] };
    if (node.level === 'team') return { sql: `${alias}.team_id = ?`, params: [node.id] };
    const l = inList(this.org().clinicsUnder(node.id));
    return { sql: `${alias}.clinic_id ${l.sql}`, params: l.params };
  }
}

export function values(e: { n1: number | null; n2: number | null; n3: number | null }): string {
  const parts: string[] = [];
  if (e.n1 !== null && e.n2 !== null) parts.push(`血压 ${e.n1}/${e.n2} mmHg`);
  if (e.n3 !== null) parts.push(`空腹血糖 ${e.n3} mmol/L`);
  return parts.join('，') || '无测量值';
}

export class ScopeError extends Error {
  override name = 'ScopeError';
}
