/**
 * Public-health quality control (1.4.2): rules built from a few templates whose parameters the
 * QC officer edits (stored in `portal_qc_rules`, defaults below). Each rule yields subjects
 * (a patient, a record, a measured value) that pass or fail; reports go overall -> by
 * institution -> case level, always inside the caller's scope.
 */
import type { OrgTree, OrgUnit } from './org.ts';
import { parsePeriod, type Period } from './periods.ts';
import { inList, num, type Param, type SqlDb } from './sql.ts';
import type { Scope } from './engine.ts';
import { ScopeError } from './engine.ts';
import { CaseStore, type CaseDef } from './cases.ts';

/**
 * Per-patient rules read the stored case rows (cases.ts) of an equivalent case definition: the
 * managed patients (per resident and clinic) with their follow-up count, latest follow-up and
 * whether they have a record, kept current by every fact batch. `failed` is a condition on the
 * stored row. Per-fact rules (value ranges, missing values) and the 65+ check stay queries.
 */
export function storedRule(rule: QcRule, p: Period): { def: CaseDef; failed: { sql: string; params: Param[] }; day: 'since' | 'last_day' } | null {
  const pr = rule.params;
  const den = { type: 'cohort' as const, kind: [`${pr.disease}_enrol`], window: 'active' as const };
  switch (rule.template) {
    case 'chronic_followups': {
      const min = Math.ceil((Number(pr.minPerYear) * p.months) / 12);
      // ok = (count >= min) for the same minimum; read through the (sid, ok, ...) index.
      const failed = min > 0 ? { sql: 'ok = 0', params: [] } : { sql: '1 = 0', params: [] };
      return { def: { den, num: { ...den, require: [{ kind: [`${pr.disease}_fu`], window: 'period', minPerYear: Number(pr.minPerYear) }] } }, failed, day: 'since' };
    }
    case 'overdue_followup':
      return { def: { den, num: { ...den, require: [{ kind: [`${pr.disease}_fu`], window: 'to_end' }] } }, failed: { sql: '(last_day IS NULL OR last_day < ?)', params: [addDays(p.to, -Number(pr.maxDays) - 1)] }, day: 'last_day' };
    case 'enrolled_without_record':
      return { def: { den, num: { ...den, require: [{ kind: ['health_record'], window: 'to_end' }] } }, failed: { sql: 'ok = 0', params: [] }, day: 'since' };
    case 'elderly_no_check': {
      const rec = { type: 'cohort' as const, kind: ['health_record'], window: 'to_end' as const, minAge: Number(pr.age) };
      return { def: { den: rec, num: { ...rec, require: [{ kind: ['elderly_check'], window: 'period' }] } }, failed: { sql: 'ok = 0', params: [] }, day: 'since' };
    }
    default:
      return null;
  }
}

export type QcTemplate = 'chronic_followups' | 'overdue_followup' | 'value_range' | 'missing_value' | 'enrolled_without_record' | 'elderly_no_check';

export interface QcRule {
  id: string;
  name: { zh: string; en: string };
  template: QcTemplate;
  enabled: boolean;
  severity: 'error' | 'warning';
  /** Template parameters: disease (htn|dm), minPerYear, maxDays, kind, col, min, max. */
  params: Record<string, string | number>;
  /** Flags an abnormal value rather than a missing service. */
  abnormal?: boolean;
}

export const DEFAULT_QC_RULES: QcRule[] = [
  { id: 'htn_followups', name: { zh: '高血压患者年度随访不足4次（按期折算）', en: 'Hypertension patient with fewer than 4 follow-ups a year (pro rata)' }, template: 'chronic_followups', enabled: true, severity: 'error', params: { disease: 'htn', minPerYear: 4 } },
  { id: 'dm_followups', name: { zh: '糖尿病患者年度随访不足4次（按期折算）', en: 'Diabetes patient with fewer than 4 follow-ups a year (pro rata)' }, template: 'chronic_followups', enabled: true, severity: 'error', params: { disease: 'dm', minPerYear: 4 } },
  { id: 'htn_overdue', name: { zh: '高血压患者超过100天未随访', en: 'Hypertension patient not followed up for more than 100 days' }, template: 'overdue_followup', enabled: true, severity: 'warning', params: { disease: 'htn', maxDays: 100 } },
  { id: 'htn_bp_missing', name: { zh: '高血压随访未记录血压', en: 'Hypertension follow-up without a blood pressure' }, template: 'missing_value', enabled: true, severity: 'error', params: { kind: 'htn_fu', col: 'n1' } },
  { id: 'sbp_range', name: { zh: '随访收缩压异常值（<70 或 >250 mmHg）', en: 'Implausible systolic BP at follow-up (< 70 or > 250 mmHg)' }, template: 'value_range', enabled: true, severity: 'warning', abnormal: true, params: { kind: 'htn_fu', col: 'n1', min: 70, max: 250 } },
  { id: 'fbg_range', name: { zh: '随访空腹血糖异常值（<2.0 或 >30 mmol/L）', en: 'Implausible fasting glucose at follow-up (< 2.0 or > 30 mmol/L)' }, template: 'value_range', enabled: true, severity: 'warning', abnormal: true, params: { kind: 'dm_fu', col: 'n3', min: 2, max: 30 } },
  { id: 'chronic_no_record', name: { zh: '慢病在管患者无健康档案', en: 'Managed chronic patient without a health record' }, template: 'enrolled_without_record', enabled: true, severity: 'error', params: { disease: 'htn' } },
  { id: 'elderly_no_check', name: { zh: '65岁及以上建档居民本期未体检', en: 'Resident 65+ with a record but no health check in the period' }, template: 'elderly_no_check', enabled: true, severity: 'warning', params: { age: 65 } },
];

export interface QcSubjectRow { resident_id: string; clinic_id: string; team_id: string | null; failed: number; v1: number | null; day: string | null }

const COLS = new Set(['n1', 'n2', 'n3']);
const KINDS = new Set(['htn_fu', 'dm_fu', 'elderly_check', 'obs', 'lab']);

function addDays(day: string, k: number): string {
  return new Date(Date.parse(`${day}T00:00:00Z`) + k * 86400_000).toISOString().slice(0, 10);
}

/** Validates and normalises a rule as edited by the QC officer. */
export function checkRule(r: QcRule): QcRule {
  const p = r.params;
  const need = (k: string, ok: (v: unknown) => boolean) => { if (!ok(p[k])) throw new Error(`${r.id}: parameter ${k} is invalid`); };
  const isNum = (v: unknown) => typeof v === 'number' && Number.isFinite(v) && v >= 0;
  if (r.template === 'chronic_followups') { need('disease', (v) => v === 'htn' || v === 'dm'); need('minPerYear', (v) => isNum(v) && (v as number) <= 52); }
  if (r.template === 'overdue_followup') { need('disease', (v) => v === 'htn' || v === 'dm'); need('maxDays', (v) => isNum(v) && (v as number) <= 3650); }
  if (r.template === 'enrolled_without_record') need('disease', (v) => v === 'htn' || v === 'dm');
  if (r.template === 'value_range') { need('kind', (v) => KINDS.has(String(v))); need('col', (v) => COLS.has(String(v))); need('min', (v) => typeof v === 'number'); need('max', (v) => typeof v === 'number'); }
  if (r.template === 'missing_value') { need('kind', (v) => KINDS.has(String(v))); need('col', (v) => COLS.has(String(v))); }
  if (r.template === 'elderly_no_check') need('age', (v) => isNum(v) && (v as number) <= 120);
  return r;
}

export class Qc {
  readonly store: CaseStore;
  constructor(private readonly db: SqlDb, private readonly org: () => OrgTree) {
    this.store = new CaseStore(db, org);
  }

  /**
   * Builds the stored case lists the enabled per-patient rules read for a period unless built
   * (the refresh loop: the current year, so the QC page's first view after a bulk load does not
   * build them: ~2 minutes of CPU at 1 M residents). Returns how many it built.
   */
  async warm(p: Period, stop: () => boolean = () => false): Promise<number> {
    let k = 0;
    for (const r of await this.rules()) {
      if (!r.enabled || stop()) continue;
      const s = storedRule(r, p);
      if (!s || this.store.isReady(s.def, p)) continue;
      await this.store.ensure(s.def, p);
      k++;
    }
    return k;
  }

  async rules(): Promise<QcRule[]> {
    const stored = new Map((await this.db.all<{ id: string; def: string }>('SELECT id, def FROM portal_qc_rules')).map((r) => [r.id, JSON.parse(r.def) as QcRule]));
    const out = DEFAULT_QC_RULES.map((d) => stored.get(d.id) ?? d);
    for (const [id, r] of stored) if (!DEFAULT_QC_RULES.some((d) => d.id === id)) out.push(r);
    return out;
  }

  async saveRule(r: QcRule, by: string): Promise<void> {
    checkRule(r);
    await this.db.run(`INSERT INTO portal_qc_rules (id, def, updated_by, updated_at) VALUES (?, ?, ?, ?)
      ON CONFLICT (id) DO UPDATE SET def = excluded.def, updated_by = excluded.updated_by, updated_at = excluded.updated_at`, [r.id, JSON.stringify(r), by, new Date().toISOString()]);
  }

  /** The subject query of a rule under a node, in scope (alias x: resident_id, clinic_id, team_id, failed, v1, day). */
  subjectSql(rule: QcRule, p: Period, node: OrgUnit, scope: Scope): { sql: string; params: Param[] } {
    const f = this.filters(node, scope);
    const pr = rule.params;
    const active = 'c.day < ? AND (c.day2 IS NULL OR c.day2 >= ?)';
    switch (rule.template) {
      case 'chronic_followups': {
        const min = Math.ceil((Number(pr.minPerYear) * p.months) / 12);
        return {
          sql: `SELECT y.resident_id, y.clinic_id, y.team_id, CASE WHEN y.v1 < ? THEN 1 ELSE 0 END AS failed, y.v1, y.day FROM (
            SELECT c.resident_id, c.clinic_id, c.team_id, c.day, (SELECT COUNT(*) FROM an_fact r WHERE r.resident_id = c.resident_id AND r.kind = ? AND r.day >= ? AND r.day < ?) AS v1
            FROM an_fact c WHERE c.kind = ? AND ${active}${f.sql}) y`,
          params: [min, `${pr.disease}_fu`, p.from, p.to, `${pr.disease}_enrol`, p.to, p.from, ...f.params],
        };
      }
      case 'overdue_followup': {
        const cutoff = addDays(p.to, -Number(pr.maxDays) - 1);
        return {
          sql: `SELECT y.resident_id, y.clinic_id, y.team_id, CASE WHEN y.day IS NULL OR y.day < ? THEN 1 ELSE 0 END AS failed, NULL AS v1, y.day FROM (
            SELECT c.resident_id, c.clinic_id, c.team_id, (SELECT MAX(r.day) FROM an_fact r WHERE r.resident_id = c.resident_id AND r.kind = ? AND r.day < ?) AS day
            FROM an_fact c WHERE c.kind = ? AND ${active}${f.sql}) y`,
          params: [cutoff, `${pr.disease}_fu`, p.to, `${pr.disease}_enrol`, p.to, p.from, ...f.params],
        };
      }
      case 'value_range': {
        const col = String(pr.col);
        if (!COLS.has(col)) throw new Error('bad column');
        return {
          sql: `SELECT c.resident_id, c.clinic_id, c.team_id, CASE WHEN c.${col} IS NOT NULL AND (c.${col} < ? OR c.${col} > ?) THEN 1 ELSE 0 END AS failed, c.${col} AS v1, c.day
            FROM an_fact c WHERE c.kind = ? AND c.day >= ? AND c.day < ?${f.sql}`,
          params: [Number(pr.min), Number(pr.max), String(pr.kind), p.from, p.to, ...f.params],
        };
      }
      case 'missing_value': {
        const col = String(pr.col);
        if (!COLS.has(col)) throw new Error('bad column');
        return {
          sql: `SELECT c.resident_id, c.clinic_id, c.team_id, CASE WHEN c.${col} IS NULL THEN 1 ELSE 0 END AS failed, NULL AS v1, c.day
            FROM an_fact c WHERE c.kind = ? AND c.day >= ? AND c.day < ?${f.sql}`,
          params: [String(pr.kind), p.from, p.to, ...f.params],
        };
      }
      case 'enrolled_without_record':
        return {
          sql: `SELECT c.resident_id, c.clinic_id, c.team_id, CASE WHEN EXISTS (SELECT 1 FROM an_fact r WHERE r.resident_id = c.resident_id AND r.kind = 'health_record' AND r.day < ?) THEN 0 ELSE 1 END AS failed, NULL AS v1, c.day
            FROM an_fact c WHERE c.kind = ? AND ${active}${f.sql}`,
          params: [p.to, `${pr.disease}_enrol`, p.to, p.from, ...f.params],
        };
      case 'elderly_no_check': {
        const born = `${p.year - Number(pr.age)}-12-31`;
        return {
          sql: `SELECT c.resident_id, c.clinic_id, c.team_id, CASE WHEN EXISTS (SELECT 1 FROM an_fact r WHERE r.resident_id = c.resident_id AND r.kind = 'elderly_check' AND r.day >= ? AND r.day < ?) THEN 0 ELSE 1 END AS failed, NULL AS v1, c.day
            FROM an_fact c WHERE c.kind = 'health_record' AND c.day < ? AND EXISTS (SELECT 1 FROM an_fact b WHERE b.resident_id = c.resident_id AND b.kind = 'resident' AND b.day2 <= ?)${f.sql}`,
          params: [p.from, p.to, p.to, born, ...f.params],
        };
      }
    }
  }

  private filters(node: OrgUnit, scope: Scope): { sql: string; params: Param[] } {
    const org = this.org();
    if (!org.isWithin(node.id, scope.orgId)) throw new ScopeError(`organisation unit ${node.id} is outside your scope`);
    const parts: string[] = [];
    const params: Param[] = [];
    const add = (col: string, vals: string[]) => { const l = inList(vals); parts.push(` AND c.${col} ${l.sql}`); params.push(...l.params); };
    if (scope.clinics) add('clinic_id', scope.clinics);
    if (scope.teams) add('team_id', scope.teams);
    if (node.level === 'team') add('team_id', [node.id]);
    else if (node.level !== 'district') add('clinic_id', org.clinicsUnder(node.id));
    return { sql: parts.join(''), params };
  }

  node(nodeId: string): OrgUnit {
    const n = this.org().byId.get(nodeId);
    if (!n) throw new ScopeError(`unknown organisation unit ${nodeId}`);
    return n;
  }

  /** Overall: per rule, subjects checked and failed. */
  async overall(nodeId: string, periodKey: string, scope: Scope): Promise<{ rule: QcRule; checked: number; failed: number }[]> {
    const p = parsePeriod(periodKey);
    const node = this.node(nodeId);
    const out = [];
    for (const rule of (await this.rules()).filter((r) => r.enabled)) {
      const st = storedRule(rule, p);
      if (st) {
        this.filters(node, scope);
        const w = await this.store.where(st.def, p, node, scope);
        const r = await this.db.get<{ n: number; f: number }>(`SELECT COUNT(*) AS n, SUM(CASE WHEN ${st.failed.sql} THEN 1 ELSE 0 END) AS f FROM an_case WHERE ${w.sql}`, [...st.failed.params, ...w.params]);
        out.push({ rule, checked: num(r?.n), failed: num(r?.f) });
        continue;
      }
      const s = this.subjectSql(rule, p, node, scope);
      const r = await this.db.get<{ n: number; f: number }>(`SELECT COUNT(*) AS n, SUM(x.failed) AS f FROM (${s.sql}) x`, s.params);
      out.push({ rule, checked: num(r?.n), failed: num(r?.f) });
    }
    return out;
  }

  /** By institution (centres/stations, or teams under a centre): checked / failed per unit for one rule. */
  async byInstitution(ruleId: string, nodeId: string, periodKey: string, scope: Scope): Promise<{ unit: OrgUnit; checked: number; failed: number }[]> {
    const org = this.org();
    const rule = await this.rule(ruleId);
    const node = this.node(nodeId);
    const p = parsePeriod(periodKey);
    const st = storedRule(rule, p);
    let rows: { clinic_id: string; team_id: string | null; n: number; f: number }[];
    if (st) {
      this.filters(node, scope);
      const w = await this.store.where(st.def, p, node, scope);
      rows = (await this.db.all<{ clinic_id: string; team_id: string; n: number; f: number }>(`SELECT clinic_id, team_id, COUNT(*) AS n, SUM(CASE WHEN ${st.failed.sql} THEN 1 ELSE 0 END) AS f FROM an_case WHERE ${w.sql} GROUP BY clinic_id, team_id`, [...st.failed.params, ...w.params]))
        .map((r) => ({ ...r, team_id: r.team_id === '' ? null : r.team_id }));
    } else {
      const s = this.subjectSql(rule, p, node, scope);
      rows = await this.db.all<{ clinic_id: string; team_id: string | null; n: number; f: number }>(`SELECT x.clinic_id, x.team_id, COUNT(*) AS n, SUM(x.failed) AS f FROM (${s.sql}) x GROUP BY x.clinic_id, x.team_id`, s.params);
    }
    const units = org.kids(node.id);
    return units.map((u) => {
      let checked = 0;
      let failed = 0;
      for (const r of rows) {
        const inst = org.institutionOf(r.clinic_id);
        const under = u.level === 'team' ? r.team_id === u.id : !!inst && (inst.id === u.id || inst.parentId === u.id);
        if (under) { checked += num(r.n); failed += num(r.f); }
      }
      return { unit: u, checked, failed };
    });
  }

  async rule(id: string): Promise<QcRule> {
    const r = (await this.rules()).find((x) => x.id === id);
    if (!r) throw new Error(`unknown QC rule ${id}`);
    return r;
  }

  /** Case level: failing subjects with the reason. */
  async cases(ruleId: string, nodeId: string, periodKey: string, scope: Scope, limit = 200, offset = 0): Promise<{ total: number; rows: { residentId: string; name: string | null; clinicId: string; institution: string | null; team: string | null; day: string | null; reason: string }[] }> {
    const org = this.org();
    const rule = await this.rule(ruleId);
    const p = parsePeriod(periodKey);
    const node = this.node(nodeId);
    const st = storedRule(rule, p);
    let total: number;
    let rows: QcSubjectRow[];
    if (st) {
      this.filters(node, scope);
      const w = await this.store.where(st.def, p, node, scope);
      const where = `${w.sql} AND ${st.failed.sql}`;
      const params = [...w.params, ...st.failed.params];
      total = num((await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM an_case WHERE ${where}`, params))?.n);
      rows = (await this.db.all<{ resident_id: string; clinic_id: string; team_id: string; cnt: number | null; day: string | null }>(
        `SELECT resident_id, clinic_id, team_id, cnt, ${st.day} AS day FROM an_case WHERE ${where} ORDER BY clinic_id, resident_id LIMIT ? OFFSET ?`, [...params, limit, offset]))
        .map((r) => ({ resident_id: r.resident_id, clinic_id: r.clinic_id, team_id: r.team_id === '' ? null : r.team_id, failed: 1, v1: r.cnt === null ? null : num(r.cnt), day: r.day }));
    } else {
      const s = this.subjectSql(rule, p, node, scope);
      total = num((await this.db.get<{ n: number }>(`SELECT COUNT(*) AS n FROM (${s.sql}) x WHERE x.failed = 1`, s.params))?.n);
      rows = await this.db.all<QcSubjectRow>(`SELECT x.* FROM (${s.sql}) x WHERE x.failed = 1 ORDER BY x.clinic_id, x.resident_id, x.day LIMIT ? OFFSET ?`, [...s.params, limit, offset]);
    }
    const unique = [...new Set(rows.map((r) => r.resident_id))];
    const names = new Map<string, string>();
    for (let i = 0; i < unique.length; i += 5000) {
      const ids = inList(unique.slice(i, i + 5000));
      for (const r of await this.db.all<{ resident_id: string; label: string }>(`SELECT resident_id, label FROM an_fact WHERE kind = 'resident' AND resident_id ${ids.sql}`, ids.params)) names.set(r.resident_id, r.label);
    }
    return {
      total,
      rows: rows.map((r) => ({
        residentId: r.resident_id, name: names.get(r.resident_id) ?? null, clinicId: r.clinic_id, institution: org.institutionOf(r.clinic_id)?.name ?? null,
        team: r.team_id ? org.byId.get(r.team_id)?.name ?? r.team_id : null, day: r.day, reason: reason(rule, r, p),
      })),
    };
  }
}

function reason(rule: QcRule, r: QcSubjectRow, p: Period): string {
  const pr = rule.params;
  switch (rule.template) {
    case 'chronic_followups': return `期内随访 ${num(r.v1)} 次，要求至少 ${Math.ceil((Number(pr.minPerYear) * p.months) / 12)} 次`;
    case 'overdue_followup': return r.day ? `末次随访 ${r.day}，已超过 ${pr.maxDays} 天` : '从未随访';
    case 'value_range': return `${r.day} 测量值 ${r.v1} 超出合理范围 ${pr.min}–${pr.max}`;
    case 'missing_value': return `${r.day} 随访缺少测量值`;
    case 'enrolled_without_record': return '在管患者未建立健康档案';
    case 'elderly_no_check': return `${pr.age} 岁及以上，期内无健康体检`;
  }
}
