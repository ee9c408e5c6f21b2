/**
 * Performance evaluation (1.7.2): assessment tasks (indicator, weight, target) per year, scores
 * per institution or team = sum(weight x min(1, achievement)) / sum(weight) x 100, failed targets,
 * abnormal-value warnings, manual assessment data imported from Excel (overrides a computed
 * value for an institution and period) and rectification documents.
 */
import { randomUUID } from 'node:crypto';
import type { Engine, NodeValue, Scope } from './engine.ts';
import { INDICATOR_BY_ID, type IndicatorDef } from './indicators.ts';
import type { OrgTree, OrgUnit } from './org.ts';
import { parsePeriod } from './periods.ts';
import { num, q, type SqlDb } from './sql.ts';

export interface PerfTask { indicatorId: string; weight: number; target: number }

export const DEFAULT_TASKS: PerfTask[] = [
  { indicatorId: 'record_rate', weight: 15, target: 0.9 },
  { indicatorId: 'record_use_rate', weight: 10, target: 0.6 },
  { indicatorId: 'htn_standard_mgmt', weight: 15, target: 0.65 },
  { indicatorId: 'htn_control', weight: 10, target: 0.6 },
  { indicatorId: 'dm_standard_mgmt', weight: 15, target: 0.65 },
  { indicatorId: 'dm_control', weight: 10, target: 0.6 },
  { indicatorId: 'elderly_mgmt', weight: 10, target: 0.7 },
  { indicatorId: 'tcm_rate', weight: 5, target: 0.7 },
  { indicatorId: 'contract_rate', weight: 5, target: 0.35 },
  { indicatorId: 'fulfilment_rate', weight: 5, target: 0.9 },
];

export interface ScoreRow {
  unit: OrgUnit;
  score: number;
  items: { task: PerfTask; indicator: IndicatorDef; value: number | null; num: number; den: number | null; achievement: number; failed: boolean; manual: boolean; warning: string | null }[];
}

export function achievement(ind: IndicatorDef, value: number | null, target: number): number {
  if (value === null) return 0;
  if (ind.better === 'lower') return value <= target ? 1 : value === 0 ? 1 : Math.max(0, target / value);
  return target <= 0 ? 1 : Math.min(1, value / target);
}

/** Values that look like data errors rather than performance (abnormal-value warnings). */
export function warningFor(ind: IndicatorDef, v: NodeValue): string | null {
  if (ind.unit === 'percent' && v.value !== null && v.value > 1) return '比例超过100%，请核查分子分母数据';
  if (ind.denominator && (v.den === null || v.den === 0) && v.num > 0) return '分母为0（人口或基数未录入）';
  if (ind.denominator && v.den === null) return '无分母数据';
  return null;
}

export class Performance {
  constructor(private readonly db: SqlDb, private readonly engine: Engine, private readonly org: () => OrgTree) {}

  async tasks(year: number): Promise<PerfTask[]> {
    const rows = await this.db.all<{ indicator_id: string; weight: number; target: number }>('SELECT indicator_id, weight, target FROM portal_perf_tasks WHERE year = ? ORDER BY indicator_id', [year]);
    return rows.length ? rows.map((r) => ({ indicatorId: r.indicator_id, weight: num(r.weight), target: num(r.target) })) : DEFAULT_TASKS;
  }

  async saveTasks(year: number, tasks: PerfTask[], by: string): Promise<void> {
    for (const t of tasks) {
      if (!INDICATOR_BY_ID.has(t.indicatorId)) throw new Error(`unknown indicator ${t.indicatorId}`);
      if (!(t.weight >= 0 && t.weight <= 100)) throw new Error(`weight of ${t.indicatorId} must be 0-100`);
      if (!(t.target >= 0)) throw new Error(`target of ${t.indicatorId} must be >= 0`);
    }
    const now = new Date().toISOString();
    await this.db.txGen(function* () {
      yield q.run('DELETE FROM portal_perf_tasks WHERE year = ?', [year]);
      for (const t of tasks) yield q.run('INSERT INTO portal_perf_tasks (year, indicator_id, weight, target, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)', [year, t.indicatorId, t.weight, t.target, by, now]);
    });
  }

  async saveData(rows: { orgId: string; indicatorId: string; period: string; value: number }[], by: string): Promise<number> {
    const org = this.org();
    for (const r of rows) {
      if (!org.byId.has(r.orgId)) throw new Error(`unknown institution ${r.orgId}`);
      if (!INDICATOR_BY_ID.has(r.indicatorId)) throw new Error(`unknown indicator ${r.indicatorId}`);
      parsePeriod(r.period);
      if (!Number.isFinite(r.value)) throw new Error(`value for ${r.orgId}/${r.indicatorId} is not a number`);
    }
    for (const r of rows) {
      await this.db.run(`INSERT INTO portal_perf_data (org_id, indicator_id, period, value, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (org_id, indicator_id, period) DO UPDATE SET value = excluded.value, updated_by = excluded.updated_by, updated_at = excluded.updated_at`, [r.orgId, r.indicatorId, r.period, r.value, by, new Date().toISOString()]);
    }
    return rows.length;
  }

  /** Scores of every unit at `level` under `nodeId` (inside the scope), best first. */
  async scores(nodeId: string, periodKey: string, scope: Scope, level: 'centre' | 'station' | 'team'): Promise<ScoreRow[]> {
    const p = parsePeriod(periodKey);
    const tasks = await this.tasks(p.year);
    const manual = new Map((await this.db.all<{ org_id: string; indicator_id: string; value: number }>('SELECT org_id, indicator_id, value FROM portal_perf_data WHERE period = ?', [periodKey])).map((r) => [`${r.org_id}|${r.indicator_id}`, num(r.value)]));
    const byUnit = new Map<string, ScoreRow>();
    for (const task of tasks) {
      const ind = INDICATOR_BY_ID.get(task.indicatorId);
      if (!ind || !ind.levels.includes(level)) continue;
      const values = await this.engine.compare(ind, nodeId, periodKey, scope, level);
      for (const v of values) {
        const unit = this.org().byId.get(v.orgId)!;
        const row = byUnit.get(v.orgId) ?? { unit, score: 0, items: [] };
        const m = manual.get(`${v.orgId}|${ind.id}`);
        const value = m ?? v.value;
        const ach = achievement(ind, value, task.target);
        const failed = value === null || (ind.better === 'lower' ? value > task.target : value < task.target);
        row.items.push({ task, indicator: ind, value, num: v.num, den: v.den, achievement: ach, failed, manual: m !== undefined, warning: m !== undefined ? null : warningFor(ind, v) });
        byUnit.set(v.orgId, row);
      }
    }
    const out = [...byUnit.values()];
    for (const r of out) {
      const w = r.items.reduce((a, i) => a + i.task.weight, 0);
      r.score = w ? Math.round((r.items.reduce((a, i) => a + i.task.weight * i.achievement, 0) / w) * 1000) / 10 : 0;
    }
    return out.sort((a, b) => b.score - a.score || a.unit.sort - b.unit.sort);
  }

  async addRectification(d: { orgId: string; indicatorId: string; period: string; filename: string; mime: string; content: Buffer; note: string; by: string }): Promise<string> {
    if (d.content.length > 10 * 1024 * 1024) throw new Error('file larger than 10 MB');
    const id = randomUUID();
    await this.db.run(`INSERT INTO portal_rectifications (id, org_id, indicator_id, period, filename, mime, size, content, note, uploaded_by, uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      [id, d.orgId, d.indicatorId, d.period, d.filename.slice(0, 200), d.mime.slice(0, 100), d.content.length, d.content.toString('base64'), d.note.slice(0, 1000), d.by, new Date().toISOString()]);
    return id;
  }

  async rectifications(orgIds: string[] | null, period: string): Promise<{ id: string; orgId: string; indicatorId: string; filename: string; size: number; note: string | null; uploadedBy: string; uploadedAt: string }[]> {
    const rows = await this.db.all<{ id: string; org_id: string; indicator_id: string; filename: string; size: number; note: string | null; uploaded_by: string; uploaded_at: string }>(
      'SELECT id, org_id, indicator_id, filename, size, note, uploaded_by, uploaded_at FROM portal_rectifications WHERE period = ? ORDER BY uploaded_at', [period]);
    return rows.filter((r) => !orgIds || orgIds.includes(r.org_id)).map((r) => ({ id: r.id, orgId: r.org_id, indicatorId: r.indicator_id, filename: r.filename, size: num(r.size), note: r.note, uploadedBy: r.uploaded_by, uploadedAt: r.uploaded_at }));
  }

  async rectificationFile(id: string): Promise<{ orgId: string; filename: string; mime: string; content: Buffer } | null> {
    const r = await this.db.get<{ org_id: string; filename: string; mime: string; content: string }>('SELECT org_id, filename, mime, content FROM portal_rectifications WHERE id = ?', [id]);
    return r ? { orgId: r.org_id, filename: r.filename, mime: r.mime, content: Buffer.from(r.content, 'base64') } : null;
  }
}
