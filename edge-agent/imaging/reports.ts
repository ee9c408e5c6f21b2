/**
 * Radiologist reports on this clinic's studies, pulled from central's archive with the
 * clinic's upload token (`GET /archive/reports?after=<cursor>`). The cursor is stored with
 * the reports in one transaction, so a restart or days offline resume without loss or
 * duplicates. Pull runs on an interval and whenever `kick()` is called.
 */
import type { Logger } from '../../contracts/runtime/index.ts';
import type { EdgeStore, Tx } from '../store/store.ts';

/** A report in these states ends the examination: its order becomes completed (检查完成). */
export const FINAL_REPORT_STATUSES: readonly string[] = ['final', 'amended'];

/**
 * The order of `studyUid`, completed if the study has a final report and the order is under way
 * (in the puller's transaction; and when a person links a study whose report came first).
 * Returns the order id when it was completed now.
 */
export function completeIfReported(tx: Tx, studyUid: string, setOrderStatus: (tx: Tx, orderId: string, status: 'completed') => void): string | null {
  const row = tx.db.prepare<[string], { order_id: string; status: string }>(
    `SELECT o.order_id, o.status FROM imaging_studies s JOIN imaging_orders o ON o.order_id = s.order_id WHERE s.study_instance_uid = ?`).get(studyUid);
  if (!row || (row.status !== 'in-progress' && row.status !== 'requested' && row.status !== 'scheduled')) return null;
  const reported = tx.db.prepare<[string], { x: number }>(
    `SELECT 1 AS x FROM imaging_reports WHERE study_instance_uid = ? AND status IN (${FINAL_REPORT_STATUSES.map((x) => `'${x}'`).join(', ')}) LIMIT 1`).get(studyUid);
  if (!reported) return null;
  setOrderStatus(tx, row.order_id, 'completed');
  return row.order_id;
}

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
  readonly counters = { pulled: 0, ordersCompleted: 0, lastError: null as string | null, lastPullAt: null as string | null };
  private readonly db: EdgeStore['db'];

  /** `setOrderStatus`: the imaging repo's (emits the order's new version on the spine). */
  constructor(private readonly store: EdgeStore, private readonly cfg: { centralUrl?: string; uploadToken?: string; intervalMs: number }, private readonly log: Logger,
    private readonly setOrderStatus: (tx: Tx, orderId: string, status: 'completed') => void) {
    this.db = store.db;
  }

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
        // The reports, the cursor and the orders they complete in one transaction (the orders'
        // new versions go out on the spine with it).
        const completed = this.store.transact((tx) => {
          const ins = tx.db.prepare(`INSERT INTO imaging_reports (study_instance_uid, version, status, findings, impression, positive, radiologist, reported_at, received_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`);
          for (const r of reports) ins.run(r.studyInstanceUid, r.version, r.status, r.findings, r.impression, r.positive ? 1 : 0, r.radiologist, r.reportedAt, now);
          tx.db.prepare('INSERT INTO imaging_report_cursor (id, after) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET after = excluded.after').run(reports[reports.length - 1]!.cursor);
          const done: string[] = [];
          for (const study of new Set(reports.filter((r) => FINAL_REPORT_STATUSES.includes(r.status)).map((r) => r.studyInstanceUid))) {
            const o = completeIfReported(tx, study, this.setOrderStatus);
            if (o) done.push(o);
          }
          return done;
        });
        this.counters.pulled += reports.length;
        this.counters.ordersCompleted += completed.length;
        this.log.info({ reports: reports.length, ordersCompleted: completed.length }, 'radiologist reports received from central');
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
