/**
 * Central backup settings (`CENTRAL_BACKUP_*`, or the JSON file `CENTRAL_BACKUP_CONFIG`):
 * the off-site target it offers to edges, and its own backups.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { defaultRetention } from '../../contracts/backup/index.ts';
import { loadConfig } from '../../contracts/runtime/index.ts';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (UTC+8)');

export const centralBackupConfigSchema = z.object({
  /** Secret from which each owner's (clinic's) upload token is derived; the target is off without it. */
  targetSecret: z.string().min(16, 'use at least 16 characters').optional(),
  /** Where edge backups are stored (default <dataDir>/backup-target). */
  targetDir: z.string().optional(),
  /** Refuse uploads (HTTP 507) when the target disk would have less free space than this. */
  targetMinFreeBytes: z.coerce.number().int().min(0).default(1024 * 1024 * 1024),
  /** Central's own backups: key file (kept apart from the backups) and local directory. */
  keyFile: z.string().optional(),
  localDir: z.string().optional(),
  /** Second site (same protocol as this target) for central's own backups. */
  remoteUrl: z.string().url().optional(),
  remoteToken: z.string().optional(),
  remoteOwner: z.string().default('central-district'),
  windowStart: hhmm.default('01:00'),
  windowEnd: hhmm.default('05:00'),
  everyHours: z.coerce.number().positive().default(20),
  fullEveryDays: z.coerce.number().positive().default(7),
  drillEveryDays: z.coerce.number().positive().default(7),
  keepDaily: z.coerce.number().int().min(1).default(defaultRetention.daily),
  keepWeekly: z.coerce.number().int().min(0).default(defaultRetention.weekly),
  keepMonthly: z.coerce.number().int().min(0).default(defaultRetention.monthly),
  tickMs: z.coerce.number().int().positive().default(60_000),
  /** pg_dump / pg_restore binaries (PostgreSQL warehouse). */
  pgDump: z.string().default('pg_dump'),
  pgRestore: z.string().default('pg_restore'),
});
export type CentralBackupConfig = z.infer<typeof centralBackupConfigSchema>;

export function loadCentralBackupConfig(overrides?: Record<string, unknown>, env?: NodeJS.ProcessEnv): CentralBackupConfig {
  return loadConfig(centralBackupConfigSchema, { prefix: 'CENTRAL_BACKUP_', overrides, env });
}

export const targetDirOf = (c: CentralBackupConfig, dataDir: string) => c.targetDir ?? join(dataDir, 'backup-target');
