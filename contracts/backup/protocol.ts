/**
 * The off-site target's HTTP protocol (served by central at /backup/v1, usable by any site):
 *
 *   Authorization: Bearer <owner token>        token = clinicBackupToken(secret, owner)
 *   GET    /backup/v1/owners/:owner/objects                  -> {objects: [{name, size}]}
 *   GET    /backup/v1/owners/:owner/objects/:name            (Range: bytes=a-b supported)
 *   DELETE /backup/v1/owners/:owner/objects/:name
 *   GET    /backup/v1/owners/:owner/uploads/:name            -> {offset, complete}
 *   PATCH  /backup/v1/owners/:owner/uploads/:name            Upload-Offset: n, body = next bytes
 *          -> 204 Upload-Offset: n+len | 409 Upload-Offset: <actual> | 507 disk full
 *   POST   /backup/v1/owners/:owner/uploads/:name/complete   {size, sha256} -> 200 | 400 mismatch
 *   POST   /backup/v1/owners/:owner/status                   backup/drill status report (BackupStatusReport)
 *   GET    /backup/v1/owners/:owner/rejoin?after=N&limit=M   (edges) central's watermark and the
 *          clinic's records with seq > N, for a restored edge to reconcile (see edge-agent/backup)
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';

export const protocol = {
  basePath: '/backup/v1',
  offsetHeader: 'upload-offset',
  maxPartBytes: 16 << 20,
} as const;

/** Owner ids: clinic ids, or "central-<site>". */
export const OWNER_PATTERN = /^[a-z0-9][a-z0-9-]{1,47}$/;

/** The per-owner bearer token the target accepts: HMAC of the owner id under the target's secret. */
export function clinicBackupToken(secret: string, owner: string): string {
  return createHmac('sha256', secret).update(`backup-owner:${owner}`).digest('base64url');
}

export function checkBackupToken(secret: string, owner: string, presented: string): boolean {
  const want = Buffer.from(clinicBackupToken(secret, owner));
  const got = Buffer.from(presented);
  return want.length === got.length && timingSafeEqual(want, got);
}

export const drillResultSchema = z.object({
  snapshotId: z.string(),
  at: z.string(),
  ok: z.boolean(),
  /** Age of the newest restorable data at the drill (seconds). */
  rpoSeconds: z.number(),
  /** Restore + open time (seconds). */
  rtoSeconds: z.number(),
  checks: z.array(z.object({ name: z.string(), ok: z.boolean(), detail: z.string() })),
  error: z.string().optional(),
});
export type DrillResult = z.infer<typeof drillResultSchema>;

export const backupStatusReportSchema = z.object({
  owner: z.string(),
  system: z.enum(['edge', 'central']),
  at: z.string(),
  lastSuccess: z.object({ snapshotId: z.string(), kind: z.enum(['full', 'incremental']), at: z.string(), totalBytes: z.number(), packBytes: z.number(), durationMs: z.number() }).nullable(),
  lastFailure: z.object({ at: z.string(), code: z.string(), message: z.string() }).nullable(),
  lastDrill: drillResultSchema.nullable(),
  snapshots: z.number().int().nonnegative(),
});
export type BackupStatusReport = z.infer<typeof backupStatusReportSchema>;

export const rejoinRecordSchema = z.object({
  seq: z.number().int().positive(),
  type: z.string(),
  recordId: z.string(),
  version: z.number().int().positive(),
  hlc: z.string(),
  createdAt: z.string(),
  payload: z.unknown(),
});
export const rejoinResponseSchema = z.object({
  clinicId: z.string(),
  appliedSeq: z.number().int().nonnegative(),
  pendingAbove: z.number().int().nonnegative(),
  firstMissing: z.number().int().nullable(),
  /** Highest seq central holds at all (applied or held above a gap). */
  maxKnownSeq: z.number().int().nonnegative(),
  records: z.array(rejoinRecordSchema),
  /** More records after the last one returned. */
  more: z.boolean(),
});
export type RejoinResponse = z.infer<typeof rejoinResponseSchema>;
