/**
 * Diagnostic reports written by the district hospital's radiologists on clinic studies
 * (tender 1.5.2 §2: upper-level hospitals view clinic images and report remotely). A report
 * is versioned and append-only: an amendment is a new version, the earlier text is kept.
 * The latest final/amended version of each study feeds the positive rate in the workload.
 */
import { z } from 'zod';
import type { Db } from '../../contracts/runtime/index.ts';

export const reportInputSchema = z.object({
  status: z.enum(['preliminary', 'final', 'amended']),
  findings: z.string().min(1, 'findings (检查所见) must not be empty').max(4000),
  impression: z.string().min(1, 'impression (诊断意见) must not be empty').max(2000),
  positive: z.boolean(),
  radiologist: z.string().min(1).max(50),
});
export type ReportInput = z.infer<typeof reportInputSchema>;

export interface Report extends ReportInput {
  studyInstanceUid: string;
  version: number;
  reportedAt: string;
}

export class ReportError extends Error {
  override name = 'ReportError';
  constructor(readonly status: 404 | 409, message: string) {
    super(message);
  }
}

export class Reports {
  constructor(private readonly db: Db) {}

  /** Adds the next version; 'amended' only after a final version exists. */
  add(study: string, input: ReportInput): Report {
    return this.db.transaction(() => {
      if (!this.db.prepare('SELECT 1 FROM imaging_instances WHERE study_instance_uid = ? LIMIT 1').get(study)) {
        throw new ReportError(404, `study ${study} is not in the archive`);
      }
      const prev = this.list(study);
      const last = prev[prev.length - 1];
      if (input.status === 'amended' && !prev.some((r) => r.status !== 'preliminary')) throw new ReportError(409, 'an amendment needs a final report to amend');
      if (input.status === 'preliminary' && last && last.status !== 'preliminary') throw new ReportError(409, `the report is already ${last.status}: send an amendment`);
      const r: Report = { ...input, studyInstanceUid: study, version: (last?.version ?? 0) + 1, reportedAt: new Date().toISOString() };
      this.db.prepare(`INSERT INTO imaging_reports (study_instance_uid, version, status, findings, impression, positive, radiologist, reported_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(study, r.version, r.status, r.findings, r.impression, r.positive ? 1 : 0, r.radiologist, r.reportedAt);
      return r;
    }).immediate();
  }

  list(study: string): Report[] {
    const rows = this.db.prepare('SELECT * FROM imaging_reports WHERE study_instance_uid = ? ORDER BY version').all(study) as Record<string, string | number>[];
    return rows.map((r) => ({
      studyInstanceUid: String(r.study_instance_uid), version: Number(r.version), status: r.status as Report['status'], findings: String(r.findings),
      impression: String(r.impression), positive: r.positive === 1, radiologist: String(r.radiologist), reportedAt: String(r.reported_at),
    }));
  }
}
