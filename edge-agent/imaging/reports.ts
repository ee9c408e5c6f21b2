/**
 * Radiologist reports on this clinic's studies, pulled from central's archive with the
 * clinic's upload token (`GET /archive/reports?after=<cursor>`). The cursor is stored with
 * the reports in one transaction, so a restart or days offline resume without loss or
 * duplicates. Pull runs on an interval and whenever `kick()` is called.
 */
import type { Db, Logger } from '../../contracts/runtime/index.ts';

export interface ClinicReport {
  studyInstanceUid: string;
  version: number;
  status: string;
  findings: string;
  impression: string;
  positive: boolean;
  radiologist: string;
  reportedAt: string;
}

export class ReportPuller {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  readonly counters = { pulled: 0, lastError: null as string | null, lastPullAt: null as string | null };

  constructor(private readonly db: Db, private readonly cfg: { centralUrl?: string; uploadToken?: string; intervalMs: number }, private readonly log: Logger) {}

  get enabled(): boolean {
    return !!(this.cfg.centralUrl && this.cfg.uploadToken);
  }

  start(): void {
    if (!this.enabled) return;
    this.timer = setInterval(() => void this.pull(), this.cfg.intervalMs);
    this.timer.unref();
    void this.pull();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pull loop (pages of 200 until caught up); concurrent calls share it. */
  pull(): Promise<void> {
    this.running ??= this.pullAll().finally(() => { this.running = null; });
    return this.running;
  }

  private async pullAll(): Promise<void> {
    try {
      for (;;) {
        const after = (this.db.prepare('SELECT after FROM imaging_report_cursor WHERE id = 1').get() as { after: number } | undefined)?.after ?? 0;
        const res = await fetch(`${this.cfg.centralUrl!.replace(/\/$/, '')}/archive/reports?after=${after}`, {
          headers: { authorization: `Bearer ${this.cfg.uploadToken}` }, signal: AbortSignal.timeout(15_000),
        });
        if (!res.ok) throw new Error(`central answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
        const { reports } = (await res.json()) as { reports: (ClinicReport & { cursor: number })[] };
        if (!reports.length) break;
        const now = new Date().toISOString();
        this.db.transaction(() => {
          const ins = this.db.prepare(`INSERT INTO imaging_reports (study_instance_uid, version, status, findings, impression, positive, radiologist, reported_at, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
          for (const r of reports) ins.run(r.studyInstanceUid, r.version, r.status, r.findings, r.impression, r.positive ? 1 : 0, r.radiologist, r.reportedAt, now);
          this.db.prepare('INSERT INTO imaging_report_cursor (id, after) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET after = excluded.after').run(reports[reports.length - 1]!.cursor);
        })();
        this.counters.pulled += reports.length;
        this.log.info({ reports: reports.length }, 'radiologist reports received from central');
      }
      this.counters.lastError = null;
      this.counters.lastPullAt = new Date().toISOString();
    } catch (e) {
      const msg = (e as Error).message;
      if (this.counters.lastError !== msg) this.log.warn({ err: msg }, 'reports not pulled from central; will retry');
      this.counters.lastError = msg;
    }
  }

  /** All versions of a study's report, oldest first. */
  forStudy(studyUid: string): ClinicReport[] {
    return (this.db.prepare('SELECT * FROM imaging_reports WHERE study_instance_uid = ? ORDER BY version').all(studyUid) as Record<string, string | number>[]).map((r) => ({
      studyInstanceUid: String(r.study_instance_uid), version: Number(r.version), status: String(r.status), findings: String(r.findings),
      impression: String(r.impression), positive: r.positive === 1, radiologist: String(r.radiologist), reportedAt: String(r.reported_at),
    }));
  }
}
