/**
 * Edge backup module ([backup] issue). Migrations 500-549. Scheduler, metrics, the 备份 page
 * and `/api/backup/status` for the clinic admin. Operations live in edge-backup.ts, the
 * CLI in cli.ts; see README.md.
 */
import { Counter, Gauge } from 'prom-client';
import type { EdgeModule } from '../modules.ts';
import { loadEdgeBackupConfig } from './config.ts';
import { backupMigrations } from './migrations.ts';
import { mountBackupUi } from './routes.tsx';
import { EdgeBackupService } from './service.ts';

export const edgeBackupMetricNames = {
  lastSuccess: 'edge_backup_last_success_timestamp_seconds',
  lastDuration: 'edge_backup_last_duration_seconds',
  lastBytes: 'edge_backup_last_bytes',
  runs: 'edge_backup_runs_total',
  running: 'edge_backup_running',
  configured: 'edge_backup_configured',
  points: 'edge_backup_points',
  drillOk: 'edge_backup_drill_ok',
  drillLast: 'edge_backup_drill_last_timestamp_seconds',
  rpo: 'edge_backup_rpo_seconds',
  rto: 'edge_backup_rto_seconds',
} as const;

/** Running services by clinic id (tests reach them here). */
export const runningBackups = new Map<string, EdgeBackupService>();

export const backupModule: EdgeModule = {
  name: 'backup',
  migrations: backupMigrations,
  nav: [{ href: '/backup', label: { 'zh-CN': '备份', en: 'Backup' }, roles: ['clinic_admin'] }],
  async start(ctx) {
    const cfg = loadEdgeBackupConfig();
    const svc = new EdgeBackupService(ctx.store.db, { edge: ctx.config, backup: cfg, log: ctx.log }, ctx.log);
    const m = edgeBackupMetricNames;
    // null = no value (e.g. no drill yet): export no sample, not prom-client's default 0
    // (a drill_ok of 0 would raise EdgeBackupDrillFailed on every edge that never drilled).
    const g = (name: string, help: string, get: () => number | null, labels?: string[]) => new Gauge({ name, help, labelNames: labels ?? [], registers: [ctx.registry], collect() { const v = get(); if (v !== null) this.set(v); else this.remove(); } });
    g(m.configured, '1 when backups are configured at this edge', () => (svc.status().configured ? 1 : 0));
    g(m.running, '1 while a backup, upload or drill runs', () => (svc.running ? 1 : 0));
    g(m.lastSuccess, 'Unix time of the last successful backup point', () => { const s = svc.status().lastSuccess; return s ? Date.parse(s.at) / 1000 : 0; });
    g(m.lastDuration, 'Duration of the last successful backup, seconds', () => { const s = svc.status().lastSuccess; return s ? s.durationMs / 1000 : null; });
    g(m.points, 'Backup points in the local backup directory', () => svc.points);
    g(m.drillOk, '1 if the last restore drill passed', () => { const d = svc.status().lastDrill; return d ? (d.ok ? 1 : 0) : null; });
    g(m.drillLast, 'Unix time of the last restore drill', () => { const d = svc.status().lastDrill; return d ? Date.parse(d.at) / 1000 : 0; });
    g(m.rpo, 'RPO measured by the last restore drill (age of the newest restorable data), seconds', () => svc.status().lastDrill?.rpoSeconds ?? null);
    g(m.rto, 'RTO measured by the last restore drill (restore + open), seconds', () => svc.status().lastDrill?.rtoSeconds ?? null);
    new Gauge({ name: m.lastBytes, help: 'Size of the last successful backup point: total (what it restores) and stored (new bytes written)', labelNames: ['what'], registers: [ctx.registry], collect() {
      const s = svc.status().lastSuccess;
      if (s) { this.set({ what: 'total' }, s.totalBytes); this.set({ what: 'stored' }, s.packBytes); }
    } });
    const runs = new Counter({ name: m.runs, help: 'Backup runs by kind (backup, upload, drill) and outcome', labelNames: ['what', 'outcome'], registers: [ctx.registry] });
    svc.onRun.push((what, ok) => runs.inc({ what, outcome: ok ? 'success' : 'failure' }));

    mountBackupUi(ctx, svc);
    svc.start();
    runningBackups.set(ctx.config.clinicId, svc);
    return {
      async stop() {
        runningBackups.delete(ctx.config.clinicId);
        await svc.stop();
      },
      health: () => {
        const rejoin = ctx.store.getMeta('backup_rejoin_pending');
        if (rejoin) return { ok: false, detail: 'restored from a backup without reconciling with central: stop the edge and run "npm run restore -- --rejoin-only --to <data dir>"' };
        return { ok: true };
      },
    };
  },
};
