/**
 * Diagnostic reports written by the district hospital's radiologists on clinic studies
 * (tender 1.5.2 §2: upper-level hospitals view clinic images and report remotely). A report
 * is versioned and append-only: an amendment is a new version, the earlier text is kept.
 * The latest final/amended version of each study feeds the positive rate in the workload.
 */
import { z } from 'zod';

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

/** Reports are stored by the image index (`index-store.ts`, both backends). */
export { ReportError } from './index-store.ts';
