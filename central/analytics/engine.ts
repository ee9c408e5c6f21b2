/**
 * Evaluates indicator definitions over the organisation tree and a period. Each measure is one
 * grouped SQL query (by clinic and team) whose rows are rolled up along the hierarchy in memory,
 * so a node, all its children and the district come from the same query. Every query carries the
 * caller's scope (clinics / teams it may see): the portal never queries facts any other way.
 */
import type { Cond, IndicatorDef, Measure, Require, Window } from './indicators.ts';
import type { OrgTree, OrgUnit } from './org.ts';
import { parsePeriod, previousPeriod, trailing, yearAgo, type Period } from './periods.ts';
import { inList, num, type Param, type SqlDb } from './sql.ts';

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

const KIND_NAMES: Record<string, string> = {
  visit: '就诊', htn_fu: '高血压随访', dm_fu: '糖尿病随访', elderly_check: '老年人体检', tcm: '中医药健康管理', contract: '签约', obs: '体征测量', lab: '检验', rx: '处方', health_record: '健康档案',
};

function windowSql(alias: string, w: Window, p: Period): { sql: string; params: Param[] } {
  if (w === 'period') return { sql: `${alias}.day >= ? AND ${alias}.day < ?`, params: [p.from, p.to] };
  if (w === 'to_end') return { sql: `${alias}.day < ?`, params: [p.to] };
  if (w === 'prev_active') { const q = previousPeriod(p); return { sql: `${alias}.day < ? AND (${alias}.day2 IS NULL OR ${alias}.day2 >= ?)`, params: [q.to, q.from] }; }
  return { sql: `${alias}.day < ? AND (${alias}.day2 IS NULL OR ${alias}.day2 >= ?)`, params: [p.to, p.from] };
}

function condSql(alias: string, conds: Cond[] | undefined): { sql: string; params: Param[] } {
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

function kinds(alias: string, ks: string[]): { sql: string; params: Param[] } {
  const l = inList(ks);
  return { sql: `${alias}.kind ${l.sql}`, params: l.params };
}

export function minCount(r: Require, p: Period): number {
  return r.minPerYear ? Math.ceil((r.minPerYear * p.months) / 12) : 1;
}

function requireSql(r: Require, p: Period, outer = 'c'): { sql: string; params: Param[] } {
  const k = kinds('r', r.kind);
  const w = windowSql('r', r.window, p);
  const wh = condSql('r', r.where);
  const base = [`r.resident_id = ${outer}.resident_id`, k.sql, w.sql, wh.sql, r.sameClinic ? `r.clinic_id = ${outer}.clinic_id` : ''].filter(Boolean).join(' AND ');
  const params = [...k.params, ...w.params, ...wh.params];
  if (r.minPerYear) return { sql: `(SELECT COUNT(*) FROM an_fact r WHERE ${base}) >= ?`, params: [...params, minCount(r, p)] };
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
function factWhere(m: Extract<Measure, { type: 'count' | 'cohort' }>, p: Period, scope: Scope, extra?: { sql: string; params: Param[] }): { sql: string; params: Param[] } {
  const parts = [kinds('c', m.kind), windowSql('c', m.window, p), condSql('c', m.where), ...(m.require ?? []).map((r) => requireSql(r, p)), scopeSql('c', scope), extra ?? { sql: '', params: [] }];
  if (m.type === 'cohort' || (m.type === 'count' && m.distinct) || m.require?.length) parts.push({ sql: 'c.resident_id IS NOT NULL', params: [] });
  const f = parts.filter((x) => x.sql);
  return { sql: f.map((x) => x.sql).join(' AND '), params: f.flatMap((x) => x.params) };
}

export class Engine {
  constructor(private readonly db: SqlDb, private readonly org: () => OrgTree) {}

  /**
   * Grouped rows of fact measures, computed once for the whole district per (measure, period)
   * and kept until facts of that period change (`invalidate`); a caller's scope is applied to
   * the cached rows. Population and staffing are read each time (small tables).
   */
  private readonly cache = new Map<string, { to: string; rows: Row[]; at: number }>();
  private readonly inflight = new Map<string, Promise<Row[]>>();
  static CACHE_MAX = 2000;

  /** Facts on or after `fromDay` changed: drop every cached period that ends after it. */
  invalidate(fromDay: string): void {
    for (const [k, v] of this.cache) if (v.to > fromDay) this.cache.delete(k);
  }

  async measureRows(m: Measure, p: Period, scope: Scope): Promise<Row[]> {
    if (m.type === 'population') {
      return this.db.all<Row>(`SELECT org_id, SUM(${m.field}) AS v FROM an_population WHERE year = ? GROUP BY org_id`, [p.year]);
    }
    if (m.type === 'staffing') return this.db.all<Row>(`SELECT org_id, ${m.field} AS v FROM an_staffing`);
    const key = `${JSON.stringify(m)}|${p.key}`;
    let rows = this.cache.get(key)?.rows;
    if (!rows) {
      let job = this.inflight.get(key);
      if (!job) {
        const w = factWhere(m, p, { orgId: '', clinics: null, teams: null });
        const agg = m.type === 'cohort' || m.distinct ? 'COUNT(DISTINCT c.resident_id)' : m.type === 'count' && m.sum ? `SUM(c.${m.sum})` : 'COUNT(*)';
        job = this.db.all<Row>(`SELECT c.clinic_id, c.team_id, ${agg} AS v FROM an_fact c WHERE ${w.sql} GROUP BY c.clinic_id, c.team_id`, w.params)
          .finally(() => this.inflight.delete(key));
        this.inflight.set(key, job);
        rows = await job;
        if (this.cache.size >= Engine.CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(key, { to: m.window === 'prev_active' ? p.to : p.to, rows, at: Date.now() });
      } else rows = await job;
    }
    const clinics = scope.clinics ? new Set(scope.clinics) : null;
    const teams = scope.teams ? new Set(scope.teams) : null;
    return clinics || teams ? rows.filter((r) => (!clinics || clinics.has(r.clinic_id!)) && (!teams || teams.has(r.team_id!))) : rows;
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
   * `nodeId`, whether they meet the numerator, and why not.
   */
  async cases(ind: IndicatorDef, nodeId: string, periodKey: string, scope: Scope, opts: { failingOnly?: boolean; limit?: number; offset?: number } = {}): Promise<{ total: number; rows: CaseRow[] }> {
    if (!ind.cases || ind.denominator?.type !== 'cohort' || ind.numerator.type !== 'cohort') throw new Error(`${ind.id} has no case list`);
    const org = this.org();
    const node = this.checkNode(nodeId, scope);
    const p = parsePeriod(periodKey);
    const nodeFilter = node.level === 'district' ? { sql: '', params: [] as Param[] }
      : node.level === 'team' ? { sql: 'c.team_id = ?', params: [node.id] as Param[] }
        : (() => { const l = inList(org.clinicsUnder(node.id)); return { sql: `c.clinic_id ${l.sql}`, params: l.params as Param[] }; })();
    const w = factWhere(ind.denominator, p, scope, nodeFilter);
    const okParts = (ind.numerator.require ?? []).map((r) => requireSql(r, p));
    const ok = okParts.length ? { sql: okParts.map((x) => x.sql).join(' AND '), params: okParts.flatMap((x) => x.params) } : { sql: '1 = 1', params: [] };
    const inner = `SELECT c.resident_id, c.clinic_id, MIN(c.team_id) AS team_id, MIN(c.day) AS since, CASE WHEN ${ok.sql} THEN 1 ELSE 0 END AS ok
      FROM an_fact c WHERE ${w.sql} GROUP BY c.resident_id, c.clinic_id`;
    const params = [...ok.params, ...w.params];
    const filter = opts.failingOnly ? 'WHERE x.ok = 0' : '';
    const total = num((await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM (${inner}) x ${filter}`, params))?.n);
    const page = await this.db.all<{ resident_id: string; clinic_id: string; team_id: string | null; since: string | null; ok: number }>(
      `SELECT x.* FROM (${inner}) x ${filter} ORDER BY x.ok, x.clinic_id, x.resident_id LIMIT ? OFFSET ?`, [...params, opts.limit ?? 100, opts.offset ?? 0]);
    return { total, rows: await this.describe(ind, p, page) };
  }

  private async describe(ind: IndicatorDef, p: Period, page: { resident_id: string; clinic_id: string; team_id: string | null; since: string | null; ok: number }[]): Promise<CaseRow[]> {
    if (page.length === 0) return [];
    // Long lists (Excel exports) are described in chunks: SQLite takes at most 32,766 parameters.
    if (page.length > 5000) {
      const out: CaseRow[] = [];
      for (let i = 0; i < page.length; i += 5000) out.push(...await this.describe(ind, p, page.slice(i, i + 5000)));
      return out;
    }
    const org = this.org();
    const ids = inList(page.map((r) => r.resident_id));
    const people = new Map((await this.db.all<{ resident_id: string; label: string | null; code: string | null; day2: string | null }>(
      `SELECT resident_id, label, code, day2 FROM an_fact WHERE kind = 'resident' AND resident_id ${ids.sql}`, ids.params)).map((r) => [r.resident_id, r]));
    const req = ind.numerator.type === 'cohort' ? ind.numerator.require?.[0] : undefined;
    const evidence = new Map<string, { day: string; n1: number | null; n2: number | null; n3: number | null; flag: number | null; clinic_id: string }[]>();
    if (req) {
      const k = kinds('r', req.kind);
      const w = windowSql('r', req.window, p);
      const wh = condSql('r', req.where);
      const rows = await this.db.all<{ resident_id: string; day: string; n1: number | null; n2: number | null; n3: number | null; flag: number | null; clinic_id: string }>(
        `SELECT r.resident_id, r.day, r.n1, r.n2, r.n3, r.flag, r.clinic_id FROM an_fact r WHERE r.resident_id ${ids.sql} AND ${[k.sql, w.sql, wh.sql].filter(Boolean).join(' AND ')} ORDER BY r.day, r.fkey`,
        [...ids.params, ...k.params, ...w.params, ...wh.params]);
      for (const r of rows) {
        const l = evidence.get(r.resident_id) ?? [];
        l.push(r);
        evidence.set(r.resident_id, l);
      }
    }
    return page.map((r) => {
      const person = people.get(r.resident_id);
      const ev = (evidence.get(r.resident_id) ?? []).filter((e) => !req?.sameClinic || e.clinic_id === r.clinic_id);
      const last = ev[ev.length - 1];
      const reasons: string[] = [];
      if (!r.ok && req) {
        const kindName = req.kind.map((k) => KIND_NAMES[k] ?? k).join('/');
        if (req.minPerYear) reasons.push(`期内${kindName} ${ev.length} 次，少于要求的 ${minCount(req, p)} 次`);
        else if (req.latestFlag) {
          if (!last) reasons.push(`期内无${kindName}`);
          else if (last.flag === null) reasons.push(`末次${kindName}（${last.day}）缺少测量值`);
          else reasons.push(`末次${kindName}（${last.day}）未达标：${values(last)}`);
        } else reasons.push(`期内无${kindName}记录`);
      }
      const inst = org.institutionOf(r.clinic_id);
      return {
        residentId: r.resident_id, name: person?.label ?? null, sex: person?.code ?? null, birthDate: person?.day2 ?? null,
        clinicId: r.clinic_id, institution: inst?.name ?? null, teamId: r.team_id, team: r.team_id ? org.byId.get(r.team_id)?.name ?? r.team_id : null,
        since: r.since, ok: r.ok === 1, reasons, count: req ? ev.length : null, lastDay: last?.day ?? null, lastValues: last ? values(last) : null,
      };
    });
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

function values(e: { n1: number | null; n2: number | null; n3: number | null }): string {
  const parts: string[] = [];
  if (e.n1 !== null && e.n2 !== null) parts.push(`血压 ${e.n1}/${e.n2} mmHg`);
  if (e.n3 !== null) parts.push(`空腹血糖 ${e.n3} mmol/L`);
  return parts.join('，') || '无测量值';
}

export class ScopeError extends Error {
  override name = 'ScopeError';
}
