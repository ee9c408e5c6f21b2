/**
 * Backup settings of an edge (`EDGE_BACKUP_*` environment, or "backup" in the EDGE_CONFIG
 * file is NOT used: backup settings have their own file `EDGE_BACKUP_CONFIG`). Backups are
 * off until a key file and a local directory are configured.
 */
import { join } from 'node:path';
import { z } from 'zod';
import { defaultRetention } from '../../contracts/backup/index.ts';
import { loadConfig } from '../../contracts/runtime/index.ts';

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'HH:MM (clinic local time, UTC+8)');

export const edgeBackupConfigSchema = z.object({
  /** Key file (32 bytes, hex): keep it outside the backup directory and a copy off the machine. */
  keyFile: z.string().optional(),
  /** Local backup directory (offline copy: e.g. a removable disk mounted here). */
  localDir: z.string().optional(),
  /** Off-site target (central): base URL of its backup API, e.g. http://central:8080/backup/v1 */
  remoteUrl: z.string().url().optional(),
  /** This clinic's token on the off-site target (from provisioning / central's "backup token"). */
  remoteToken: z.string().optional(),
  /** Scheduled backups start only inside this window (clinic local time). */
  windowStart: hhmm.default('22:00'),
  windowEnd: hhmm.default('06:00'),
  /** Read/upload rate while inside the window, bytes/s (0 = unlimited). */
  nightRate: z.coerce.number().min(0).default(0),
  /** Rate when a backup runs or continues outside the window ("back up now" in daytime). */
  dayRate: z.coerce.number().min(0).default(4 * 1024 * 1024),
  /** Minimum time between scheduled backups, hours. */
  everyHours: z.coerce.number().positive().default(20),
  fullEveryDays: z.coerce.number().positive().default(7),
  drillEveryDays: z.coerce.number().positive().default(7),
  keepDaily: z.coerce.number().int().min(1).default(defaultRetention.daily),
  keepWeekly: z.coerce.number().int().min(0).default(defaultRetention.weekly),
  keepMonthly: z.coerce.number().int().min(0).default(defaultRetention.monthly),
  /** Scheduler tick (ms); tests shorten it. */
  tickMs: z.coerce.number().int().positive().default(60_000),
});
export type EdgeBackupConfig = z.infer<typeof edgeBackupConfigSchema>;

export function loadEdgeBackupConfig(overrides?: Record<string, unknown>, env?: NodeJS.ProcessEnv): EdgeBackupConfig {
  return loadConfig(edgeBackupConfigSchema, { prefix: 'EDGE_BACKUP_', overrides, env });
}

export const configured = (c: EdgeBackupConfig): c is EdgeBackupConfig & { keyFile: string; localDir: string } => !!c.keyFile && !!c.localDir;

/** Minutes since local midnight (UTC+8). */
const localMinutes = (d: Date) => { const t = new Date(d.getTime() + 8 * 3600_000); return t.getUTCHours() * 60 + t.getUTCMinutes(); };
const mins = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));

export function inWindow(c: Pick<EdgeBackupConfig, 'windowStart' | 'windowEnd'>, d = new Date()): boolean {
  const m = localMinutes(d);
  const a = mins(c.windowStart);
  const b = mins(c.windowEnd);
  return a === b ? true : a < b ? m >= a && m < b : m >= a || m < b;
}

export const statusFile = (c: { localDir: string }) => join(c.localDir, 'status.json');
