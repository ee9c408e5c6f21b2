/**
 * Backup and restore-drill status ([backup] issue: "results visible in the portal"): one row per
 * clinic whose backups reach central's off-site target, and one for central's own backups, read
 * from the backup module's status (`GET /backup/v1/status`, `BackupOverview`, owned by
 * central/backup). Rows whose last good backup is older than the limit (or missing), or whose
 * last restore drill failed, are flagged.
 */
import type { BackupOverview } from '../backup/index.ts';
import type { OrgTree } from '../analytics/org.ts';
import type { TableSpec } from './excel.ts';
import { localTime, type Ctx } from './layout.tsx';

/** Same limit as the BackupTooOld / EdgeBackupTooOld alert rules (dashboards/rules.ts): 36 h. */
export const BACKUP_MAX_AGE_HOURS_DEFAULT = 36;

export function backupMaxAgeHours(env: NodeJS.ProcessEnv = process.env): number {
  const v = Number(env.PORTAL_BACKUP_MAX_AGE_HOURS ?? BACKUP_MAX_AGE_HOURS_DEFAULT);
  return Number.isFinite(v) && v > 0 ? v : BACKUP_MAX_AGE_HOURS_DEFAULT;
}

type Drill = NonNullable<BackupOverview['central']['lastDrill']>;

export function backupTable(ctx: Ctx, ov: BackupOverview | null, o: { clinics: string[] | null; district: boolean; maxAgeHours: number; org: OrgTree; now?: number }): TableSpec {
  const now = o.now ?? Date.now();
  const kindName = (k: string | null | undefined) => (k === 'full' ? ctx.t('全量', 'full') : k === 'incremental' ? ctx.t('增量', 'incremental') : '—');
  const hours = (iso: string | null | undefined) => (iso ? (now - Date.parse(iso)) / 3_600_000 : null);
  const shown = (h: number | null) => (h === null ? null : Math.round(h * 10) / 10);
  const drillCols = (d: Drill | null | undefined) => ({
    drillAt: d ? localTime(d.at) : '—',
    drillResult: d ? (d.ok ? ctx.t('通过', 'passed') : ctx.t('未通过', 'FAILED')) : ctx.t('未演练', 'never'),
    rpoMin: d ? Math.round(d.rpoSeconds / 6) / 10 : null,
    rtoS: d ? Math.round(d.rtoSeconds * 10) / 10 : null,
  });
  const state = (ageH: number | null, d: Drill | null | undefined, failedAfter: boolean) => {
    const old = ageH === null || ageH > o.maxAgeHours;
    const s = ageH === null ? ctx.t('无备份', 'no backup') : old ? ctx.t(`超过 ${o.maxAgeHours} 小时`, `older than ${o.maxAgeHours} h`) : d && !d.ok ? ctx.t('演练未通过', 'drill failed') : failedAfter ? ctx.t('最近一次失败', 'last run failed') : ctx.t('正常', 'ok');
    return { state: s, _bad: old || (!!d && !d.ok) };
  };
  const rows: Record<string, unknown>[] = [];
  if (ov && o.district) {
    const c = ov.central;
    const at = c.lastSuccess?.at ?? null;
    const ageH = hours(at);
    rows.push({
      owner: 'central', institution: ctx.t('区卫生健康局（中心云）', 'District bureau (central cloud)'),
      kind: kindName(c.lastSuccess?.kind), lastGood: at ? localTime(at) : '—', ageH: shown(ageH), points: c.points,
      lastFailure: c.lastFailure ? `${localTime(c.lastFailure.at)} ${c.lastFailure.code}` : '—',
      ...drillCols(c.lastDrill), ...state(ageH, c.lastDrill, !!c.lastFailure && (!at || c.lastFailure.at > at)),
      ...(c.configured ? {} : { state: ctx.t('未配置', 'not configured'), _bad: true }),
    });
  }
  for (const w of ov?.owners ?? []) {
    if (o.clinics && !o.clinics.includes(w.owner)) continue;
    const r = w.lastReport;
    const at = w.latestPointAt;
    const ageH = hours(at);
    rows.push({
      owner: w.owner, institution: o.org.institutionOf(w.owner)?.name ?? '—',
      kind: kindName(r?.lastSuccess?.kind), lastGood: at ? localTime(at) : '—', ageH: shown(ageH), points: w.points,
      lastFailure: r?.lastFailure ? `${localTime(r.lastFailure.at)} ${r.lastFailure.code}` : '—',
      ...drillCols(r?.lastDrill), ...state(ageH, r?.lastDrill, !!r?.lastFailure && (!at || r.lastFailure.at > at)),
    });
  }
  return {
    id: 'backup', title: ctx.t(`备份与恢复演练（最近成功备份超过 ${o.maxAgeHours} 小时标红）`, `Backups and restore drills (red: last good backup older than ${o.maxAgeHours} h)`),
    columns: [
      { key: 'owner', label: ctx.t('节点', 'Node') }, { key: 'institution', label: ctx.t('机构', 'Institution') },
      { key: 'state', label: ctx.t('状态', 'State') }, { key: 'lastGood', label: ctx.t('最近成功备份', 'Last good backup') },
      { key: 'kind', label: ctx.t('类型', 'Kind') }, { key: 'ageH', label: ctx.t('距今（小时）', 'Age (h)'), kind: 'number' },
      { key: 'points', label: ctx.t('备份点数', 'Points'), kind: 'number' }, { key: 'lastFailure', label: ctx.t('最近失败', 'Last failure') },
      { key: 'drillAt', label: ctx.t('最近恢复演练', 'Last restore drill') }, { key: 'drillResult', label: ctx.t('演练结果', 'Drill result') },
      { key: 'rpoMin', label: ctx.t('RPO（分钟）', 'RPO (min)'), kind: 'number' }, { key: 'rtoS', label: ctx.t('RTO（秒）', 'RTO (s)'), kind: 'number' },
    ],
    rows,
  };
}
