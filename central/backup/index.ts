/**
 * Central side of backups ([backup] issue), mounted on central's HTTP app:
 *   - the off-site target for edge backups (`/backup/v1/owners/:owner/...`, per-owner token);
 *   - the rejoin endpoint a restored edge reconciles through;
 *   - central's own scheduled backups (SQLite warehouse or pg_dump) and restore drills;
 *   - a JSON status API for the portal (`GET /backup/v1/status`, central API token);
 *   - Prometheus metrics appended to central's /metrics.
 * See central/backup/README.md.
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Context, Hono } from 'hono';
import { Counter, Gauge, Registry } from 'prom-client';
import { BackupError, listPoints, type BackupStatusReport, type DrillResult } from '../../contracts/backup/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { CentralMountDeps, Mounted } from '../portal/index.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { backupCentral, centralTargets, drillCentral, pgCounts, uploadAndPruneCentral, type CentralBackupContext } from './central-backup.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { restoreReplayable } from '../ingest/cursor-check.ts';
import { loadCentralBackupConfig, targetDirOf, type CentralBackupConfig } from './config.ts';
import { BackupStore, mountTargetRoutes, type OwnerSummary } from './target-server.ts';
import { inWindowUtc8 } from './window.ts';

export interface CentralBackupStatus {
  configured: boolean;
  running: string | null;
  lastSuccess: BackupStatusReport['lastSuccess'];
  lastFailure: BackupStatusReport['lastFailure'];
  lastDrill: DrillResult | null;
  lastUpload: { at: string; ok: boolean; detail: string } | null;
  points: number;
}

/** What GET /backup/v1/status returns (for the portal). */
export interface BackupOverview {
  generatedAt: string;
  central: CentralBackupStatus;
  owners: (OwnerSummary & { lastGoodAgeSeconds: number | null })[];
}

const metricNames = {
  lastGoodAge: 'backup_last_good_age_seconds',
  lastSuccess: 'backup_last_success_timestamp_seconds',
  rpo: 'backup_rpo_seconds',
  rto: 'backup_rto_seconds',
  drillOk: 'backup_drill_ok',
  drillAge: 'backup_drill_age_seconds',
  targetBytes: 'backup_target_bytes',
  targetPoints: 'backup_target_points',
  runs: 'backup_runs_total',
} as const;

async function liveCounts(wh: Warehouse, c: CentralBackupContext): Promise<Record<string, number>> {
  if (wh instanceof SqliteWarehouse) {
    const q = (sql: string) => (wh.db.prepare(sql).get() as { n: number }).n;
    return { records: q('SELECT count(*) AS n FROM records'), residents: q('SELECT count(*) AS n FROM residents'), appliedSeqSum: q('SELECT coalesce(sum(applied_seq), 0) AS n FROM clinic_state') };
  }
  if (wh instanceof PostgresWarehouse) return pgCounts(c.central.pgUrl!);
  return {};
}

export interface CentralBackupHandle extends Mounted {
  runBackup(kind?: 'full' | 'incremental' | 'auto'): Promise<void>;
  runDrill(): Promise<DrillResult>;
  overview(): Promise<BackupOverview>;
  store: BackupStore;
  config: CentralBackupConfig;
}

/** Mounted backup modules by central data dir (tests and tools reach the handle here). */
export const runningCentralBackups = new Map<string, CentralBackupHandle>();

// Hono's generic parameters vary per app; mounts only add routes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mountCentralBackup(app: Hono<any, any, any>, deps: CentralMountDeps & { backup?: Partial<CentralBackupConfig>; hub?: () => NatsConnection | null }): Promise<CentralBackupHandle> {
  const log: Logger = deps.log.child({ module: 'backup' });
  const cfg = loadCentralBackupConfig(deps.backup);
  const ctx: CentralBackupContext = { central: deps.config, backup: cfg };
  const store = new BackupStore(targetDirOf(cfg, deps.config.dataDir), cfg.targetMinFreeBytes);
  const ownConfigured = !!cfg.keyFile && !!cfg.localDir;
  const statusFile = join(deps.config.dataDir, 'backup-status.json');
  const status: CentralBackupStatus = existsSync(statusFile)
    ? { ...(JSON.parse(readFileSync(statusFile, 'utf8')) as CentralBackupStatus), running: null, configured: ownConfigured }
    : { configured: ownConfigured, running: null, lastSuccess: null, lastFailure: null, lastDrill: null, lastUpload: null, points: 0 };
  const save = () => {
    writeFileSync(`${statusFile}.tmp`, JSON.stringify(status));
    renameSync(`${statusFile}.tmp`, statusFile);
  };

  const registry = new Registry();
  const runs = new Counter({ name: metricNames.runs, help: 'Central backup runs by kind and outcome', labelNames: ['what', 'outcome'], registers: [registry] });
  const overview = async (): Promise<BackupOverview> => {
    const owners = store.owners().map((o) => {
      const s = store.summary(o);
      return { ...s, lastGoodAgeSeconds: s.latestPointAt ? (Date.now() - Date.parse(s.latestPointAt)) / 1000 : null };
    });
    if (ownConfigured) {
      try { status.points = (await listPoints(centralTargets(ctx).local)).length; } catch { /* reported by runs */ }
    }
    return { generatedAt: new Date().toISOString(), central: { ...status }, owners };
  };
  const gauge = (name: string, help: string, pick: (o: BackupOverview['owners'][number] | null, c: CentralBackupStatus) => number | null) =>
    new Gauge({ name, help, labelNames: ['owner'], registers: [registry], async collect() {
      this.reset();
      const ov = await overview();
      const own = pick(null, ov.central);
      if (ov.central.configured && own !== null) this.set({ owner: 'central' }, own);
      for (const o of ov.owners) { const v = pick(o, ov.central); if (v !== null) this.set({ owner: o.owner }, v); }
    } });
  const age = (iso: string | null | undefined) => (iso ? (Date.now() - Date.parse(iso)) / 1000 : null);
  gauge(metricNames.lastGoodAge, 'Seconds since the newest backup point (edges: stored on this target; central: its own)', (o, c) => (o ? o.lastGoodAgeSeconds : age(c.lastSuccess?.at)) ?? 1e9);
  gauge(metricNames.lastSuccess, 'Unix time of the newest backup point', (o, c) => { const at = o ? o.latestPointAt : c.lastSuccess?.at; return at ? Date.parse(at) / 1000 : 0; });
  gauge(metricNames.rpo, 'RPO measured by the last restore drill (age of the newest restorable data), seconds', (o, c) => { const d = o ? o.lastReport?.lastDrill : c.lastDrill; return d ? d.rpoSeconds : null; });
  gauge(metricNames.rto, 'RTO measured by the last restore drill (restore + open), seconds', (o, c) => { const d = o ? o.lastReport?.lastDrill : c.lastDrill; return d ? d.rtoSeconds : null; });
  gauge(metricNames.drillOk, '1 if the last restore drill passed', (o, c) => { const d = o ? o.lastReport?.lastDrill : c.lastDrill; return d ? (d.ok ? 1 : 0) : null; });
  gauge(metricNames.drillAge, 'Seconds since the last restore drill', (o, c) => age(o ? o.lastReport?.lastDrill?.at : c.lastDrill?.at));
  gauge(metricNames.targetBytes, 'Bytes of backups stored on this target per owner', (o) => (o ? o.bytes : null));
  gauge(metricNames.targetPoints, 'Backup points stored on this target per owner', (o) => (o ? o.points : null));

  // Append our metrics to central's /metrics (registered by mountOps after the mounts).
  app.use('/metrics', async (c, next) => {
    await next();
    if (c.res.status !== 200) return;
    const text = await c.res.text();
    c.res = new Response(`${text}${await registry.metrics()}`, { status: 200, headers: c.res.headers });
  });

  mountTargetRoutes(app, { store, secret: cfg.targetSecret, wh: deps.wh, log });

  const admin = (c: Context): Response | null => {
    const got = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
    return got === deps.config.apiToken ? null : c.json({ error: 'unauthorized' }, 401);
  };
  app.get('/backup/v1/status', async (c) => admin(c) ?? c.json(await overview()));

  let current: Promise<unknown> | null = null;
  const exclusive = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    if (current) throw new BackupError('LOCKED', `a ${status.running} is running`);
    status.running = what;
    const p = fn();
    current = p;
    try { return await p; } finally { current = null; status.running = null; }
  };
  const runBackup = async (kind: 'full' | 'incremental' | 'auto' = 'auto') => exclusive('backup', async () => {
    try {
      const b = await backupCentral(ctx, { kind });
      const s = b.manifest.stats;
      status.lastSuccess = { snapshotId: b.manifest.snapshotId, kind: b.manifest.kind, at: b.manifest.createdAt, totalBytes: s.totalBytes, packBytes: s.packBytes, durationMs: s.durationMs };
      runs.inc({ what: 'backup', outcome: 'success' });
      log.info({ snapshotId: b.manifest.snapshotId, kind: b.manifest.kind, ...s }, 'central backup done');
    } catch (e) {
      status.lastFailure = { at: new Date().toISOString(), code: (e as BackupError).code ?? 'ERROR', message: (e as Error).message };
      runs.inc({ what: 'backup', outcome: 'failure' });
      log.error({ err: (e as Error).message }, 'central backup failed');
      save();
      throw e;
    }
    try {
      const u = await uploadAndPruneCentral(ctx);
      status.lastUpload = { at: new Date().toISOString(), ok: true, detail: `uploaded ${u.uploaded.length}, pruned ${u.prunedLocal} local / ${u.prunedRemote} remote objects` };
      runs.inc({ what: 'upload', outcome: 'success' });
    } catch (e) {
      status.lastUpload = { at: new Date().toISOString(), ok: false, detail: (e as Error).message };
      runs.inc({ what: 'upload', outcome: 'failure' });
      log.error({ err: (e as Error).message }, 'central backup upload/prune failed');
    }
    save();
  });
  const runDrill = () => exclusive('drill', async () => {
    const nc = deps.hub?.() ?? null;
    const d = await drillCentral(ctx, {
      counts: () => liveCounts(deps.wh, ctx),
      replayable: nc ? async (cursor) => restoreReplayable(await jetstreamManager(nc, { checkAPI: false }), cursor) : undefined,
    });
    status.lastDrill = d;
    runs.inc({ what: 'drill', outcome: d.ok ? 'success' : 'failure' });
    (d.ok ? log.info.bind(log) : log.error.bind(log))({ snapshotId: d.snapshotId, rpo: d.rpoSeconds, rto: d.rtoSeconds, error: d.error }, 'central restore drill');
    save();
    return d;
  });
  app.post('/backup/v1/central/run', async (c) => {
    const denied = admin(c);
    if (denied) return denied;
    if (!ownConfigured) return c.json({ error: 'central backups are not configured (CENTRAL_BACKUP_KEY_FILE, CENTRAL_BACKUP_LOCAL_DIR)' }, 409);
    if (current) return c.json({ error: `a ${status.running} is already running` }, 409);
    void runBackup((c.req.query('kind') as 'full' | 'incremental' | undefined) ?? 'auto').catch(() => undefined);
    return c.json({ started: true }, 202);
  });
  app.post('/backup/v1/central/drill', async (c) => {
    const denied = admin(c);
    if (denied) return denied;
    if (!ownConfigured) return c.json({ error: 'central backups are not configured' }, 409);
    if (current) return c.json({ error: `a ${status.running} is already running` }, 409);
    void runDrill().catch(() => undefined);
    return c.json({ started: true }, 202);
  });

  // Scheduler: inside the window, once per everyHours; a drill every drillEveryDays.
  let timer: NodeJS.Timeout | null = null;
  if (ownConfigured) {
    timer = setInterval(() => {
      if (current || !inWindowUtc8(cfg.windowStart, cfg.windowEnd)) return;
      const lastAt = status.lastSuccess ? Date.parse(status.lastSuccess.at) : 0;
      if (Date.now() - lastAt >= cfg.everyHours * 3600_000) { void runBackup().catch(() => undefined); return; }
      const drillAt = status.lastDrill ? Date.parse(status.lastDrill.at) : 0;
      if (Date.now() - drillAt >= cfg.drillEveryDays * 86400_000) void runDrill().catch(() => undefined);
    }, cfg.tickMs);
    timer.unref();
  }
  log.info({ target: cfg.targetSecret ? store.root : 'off', ownBackups: ownConfigured }, 'backup module mounted');

  const handle: CentralBackupHandle = {
    store, config: cfg, runBackup, runDrill, overview,
    async stop() {
      if (timer) clearInterval(timer);
      await current?.catch(() => undefined);
      runningCentralBackups.delete(deps.config.dataDir);
    },
  };
  runningCentralBackups.set(deps.config.dataDir, handle);
  return handle;
}
