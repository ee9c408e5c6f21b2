/**
 * The running edge's backup service: scheduler (time window, rate limit), run history in
 * `backup_runs`, status for the page/API, status reports to the off-site target.
 */
import type { Db } from '../../contracts/runtime/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import { BackupError, listPoints, type BackupStatusReport, type DrillResult } from '../../contracts/backup/index.ts';
import { configured, inWindow, type EdgeBackupConfig } from './config.ts';
import { backupEdge, drillEdge, openTargets, throttleFor, uploadAndPrune, type EdgeBackupContext } from './edge-backup.ts';

export interface RunRow { id: number; what: string; started_at: string; finished_at: string; ok: number; snapshot_id: string | null; detail: string }

export interface EdgeBackupStatus {
  configured: boolean;
  running: string | null;
  progress: { phase: string; file?: string; done: number; total: number } | null;
  inWindow: boolean;
  window: string;
  lastSuccess: BackupStatusReport['lastSuccess'];
  lastFailure: BackupStatusReport['lastFailure'];
  lastUpload: { at: string; ok: boolean; detail: string } | null;
  lastDrill: DrillResult | null;
  points: number;
  remote: string | null;
  recent: RunRow[];
}

export class EdgeBackupService {
  running: string | null = null;
  progress: EdgeBackupStatus['progress'] = null;
  points = 0;
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<unknown> | null = null;
  readonly onRun: ((what: string, ok: boolean) => void)[] = [];

  constructor(private readonly db: Db, private readonly ctx: EdgeBackupContext, private readonly log: Logger) {
    this.ctx = { ...ctx, onProgress: (p) => { this.progress = p; } };
  }

  get config(): EdgeBackupConfig {
    return this.ctx.backup;
  }

  private record(what: string, started: Date, ok: boolean, snapshotId: string | null, detail: unknown): void {
    try {
      this.db.prepare('INSERT INTO backup_runs (what, started_at, finished_at, ok, snapshot_id, detail) VALUES (?, ?, ?, ?, ?, ?)')
        .run(what, started.toISOString(), new Date().toISOString(), ok ? 1 : 0, snapshotId, JSON.stringify(detail));
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'backup run not recorded');
    }
    for (const f of this.onRun) f(what, ok);
  }

  private last(what: string, ok?: boolean): RunRow | null {
    return this.db.prepare<unknown[], RunRow>(`SELECT * FROM backup_runs WHERE what = ? ${ok === undefined ? '' : 'AND ok = ?'} ORDER BY id DESC LIMIT 1`).get(...(ok === undefined ? [what] : [what, ok ? 1 : 0])) ?? null;
  }

  status(): EdgeBackupStatus {
    const s = this.last('backup', true);
    const f = this.last('backup', false);
    const u = this.last('upload');
    const d = this.last('drill');
    const sd = s ? (JSON.parse(s.detail) as { kind: 'full' | 'incremental'; totalBytes: number; packBytes: number; durationMs: number; createdAt: string }) : null;
    const fd = f && (!s || f.id > s.id) ? (JSON.parse(f.detail) as { code: string; message: string }) : null;
    return {
      configured: configured(this.ctx.backup),
      running: this.running,
      progress: this.running ? this.progress : null,
      inWindow: inWindow(this.ctx.backup),
      window: `${this.ctx.backup.windowStart}-${this.ctx.backup.windowEnd}`,
      lastSuccess: s && sd ? { snapshotId: s.snapshot_id!, kind: sd.kind, at: sd.createdAt, totalBytes: sd.totalBytes, packBytes: sd.packBytes, durationMs: sd.durationMs } : null,
      lastFailure: f && fd ? { at: f.finished_at, code: fd.code, message: fd.message } : null,
      lastUpload: u ? { at: u.finished_at, ok: u.ok === 1, detail: (JSON.parse(u.detail) as { summary?: string; message?: string }).summary ?? (JSON.parse(u.detail) as { message?: string }).message ?? '' } : null,
      lastDrill: d ? (JSON.parse(d.detail) as DrillResult) : null,
      points: this.points,
      remote: this.ctx.backup.remoteUrl ?? null,
      recent: this.db.prepare<[], RunRow>('SELECT * FROM backup_runs ORDER BY id DESC LIMIT 20').all(),
    };
  }

  start(): void {
    if (!configured(this.ctx.backup)) {
      this.log.warn('backups are not configured (EDGE_BACKUP_KEY_FILE, EDGE_BACKUP_LOCAL_DIR): this clinic has no backup');
      return;
    }
    void listPoints(openTargets(this.ctx).local).then((p) => { this.points = p.length; }).catch(() => undefined);
    this.timer = setInterval(() => this.tick(), this.ctx.backup.tickMs);
    this.timer.unref();
  }

  private tick(): void {
    if (this.current || !inWindow(this.ctx.backup)) return;
    const s = this.last('backup', true);
    if (!s || Date.now() - Date.parse(s.started_at) >= this.ctx.backup.everyHours * 3600_000) {
      void this.runAll('schedule').catch(() => undefined);
    }
  }

  /** Backup, off-site copy + retention, drill when due, status report. One at a time. */
  runAll(why: string, kind: 'full' | 'incremental' | 'auto' = 'auto'): Promise<void> {
    if (this.current) return Promise.reject(new BackupError('LOCKED', `a ${this.running} is already running`));
    const p = this.doRunAll(why, kind).finally(() => { this.current = null; this.running = null; this.progress = null; });
    this.current = p;
    return p;
  }

  private async doRunAll(why: string, kind: 'full' | 'incremental' | 'auto'): Promise<void> {
    const throttle = throttleFor(this.ctx.backup);
    this.running = 'backup';
    let started = new Date();
    try {
      const b = await backupEdge(this.ctx, { kind, throttle });
      const s = b.manifest.stats;
      this.record('backup', started, true, b.manifest.snapshotId, { why, kind: b.manifest.kind, createdAt: b.manifest.createdAt, ...s });
      this.log.info({ snapshotId: b.manifest.snapshotId, kind: b.manifest.kind, ...s }, 'backup done');
    } catch (e) {
      this.record('backup', started, false, null, { code: (e as BackupError).code ?? 'ERROR', message: (e as Error).message });
      this.log.error({ err: (e as Error).message }, 'backup failed');
      await this.report();
      throw e;
    }
    this.running = 'upload';
    started = new Date();
    try {
      const u = await uploadAndPrune(this.ctx, throttle);
      const summary = this.ctx.backup.remoteUrl ? `uploaded ${u.uploaded.length} points (${u.bytes} bytes, resumed at ${u.resumedBytes}); pruned ${u.prunedLocal} local, ${u.prunedRemote} off-site objects` : `no off-site target; pruned ${u.prunedLocal} local objects`;
      this.record('upload', started, true, null, { ...u, summary });
    } catch (e) {
      this.record('upload', started, false, null, { code: (e as BackupError).code ?? 'ERROR', message: (e as Error).message });
      this.log.error({ err: (e as Error).message }, 'off-site copy failed; it resumes on the next run');
    }
    this.points = (await listPoints(openTargets(this.ctx).local).catch(() => [])).length;
    const d = this.last('drill');
    if (!d || Date.now() - Date.parse(d.started_at) >= this.ctx.backup.drillEveryDays * 86400_000) await this.drill();
    await this.report();
  }

  async drill(): Promise<DrillResult> {
    const prev = this.running;
    this.running = 'drill';
    const started = new Date();
    const r = await drillEdge(this.ctx);
    this.record('drill', started, r.ok, r.snapshotId || null, r);
    (r.ok ? this.log.info.bind(this.log) : this.log.error.bind(this.log))({ snapshotId: r.snapshotId, rpo: r.rpoSeconds, rto: r.rtoSeconds, error: r.error }, 'restore drill');
    this.running = prev;
    return r;
  }

  /** Tell the off-site target (central) how backups are going; shown in the portal. */
  async report(): Promise<void> {
    const t = (() => { try { return openTargets(this.ctx); } catch { return null; } })();
    if (!t?.remote) return;
    const s = this.status();
    const body: BackupStatusReport = { owner: this.ctx.edge.clinicId, system: 'edge', at: new Date().toISOString(), lastSuccess: s.lastSuccess, lastFailure: s.lastFailure, lastDrill: s.lastDrill, snapshots: s.points };
    await t.remote.postJson('/status', body, 'the backup status report').catch((e: Error) => this.log.warn({ err: e.message }, 'backup status not reported to central'));
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.current?.catch(() => undefined);
  }
}
