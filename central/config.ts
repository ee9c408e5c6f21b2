/** Central configuration: defaults <- CENTRAL_CONFIG file <- CENTRAL_* environment. */
import { z } from 'zod';
import { diskAmountSetting } from '../contracts/runtime/disk.ts';
import { loadConfig } from '../contracts/runtime/index.ts';

export const centralConfigSchema = z.object({
  dataDir: z.string().min(1),
  natsUrl: z.string().default('nats://127.0.0.1:4222'),
  natsUser: z.string().optional(),
  natsPassword: z.string().optional(),
  /** PEM file of the district CA that signed the hub's certificate: TLS to the hub, verified (contracts/runtime/nats-tls.ts). */
  natsTlsCaFile: z.string().min(1).optional(),
  httpHost: z.string().default('127.0.0.1'),
  httpPort: z.coerce.number().int().min(0).max(65535).default(0),
  /** HTTPS for the web UI and API: PEM certificate and key files (both or neither; checked at start). */
  httpsCertFile: z.string().min(1).optional(),
  httpsKeyFile: z.string().min(1).optional(),
  /** Bearer token for the management API (portal login arrives with [portal]). */
  apiToken: z.string().min(16, 'use at least 16 characters'),
  /**
   * Most records applied in one warehouse transaction (CENTRAL_MAX_BATCH). A batch takes what the
   * ingest has buffered, so at a clinic's everyday rate batches stay small; this bound only matters
   * under a backlog (catch-up after an outage, a burst). Larger is cheaper per record there: on
   * SQLite every commit writes each B-tree page it changed in full to the WAL, and the resident
   * indexes (records by resident, the WS 365 projections' resident_id) take their entries at
   * scattered pages, so a batch of 1,000 observations rewrote ~1,000 pages per index; 4,000 spread
   * over the same residents rewrite few more pages. Measured (bench/RESULTS.md, Spine): central's CPU
   * per 1,000 records 77-101 ms at 1,000 vs 57-71 at 4,000 over four runs on a growing warehouse. The
   * cost: the main thread is busy for one batch at a time (~0.15 s for 4,000 on a 2-core machine).
   */
  maxBatch: z.coerce.number().int().positive().default(4000),
  /** Warehouse backend: embedded SQLite in dataDir (default) or PostgreSQL for a city of clinics. */
  warehouse: z.enum(['sqlite', 'postgres']).default('sqlite'),
  /** PostgreSQL connection URL (`postgres://user@host:5432/db`), required with warehouse=postgres. */
  pgUrl: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
  /** City health information platform endpoint (tender 1.7.1 §4); the uploader is off when unset. */
  uploadUrl: z.string().url().optional(),
  uploadToken: z.string().optional(),
  uploadIntervalSec: z.coerce.number().int().min(5).default(300),
  uploadBatchSize: z.coerce.number().int().min(1).max(10_000).default(500),
  uploadMaxAttempts: z.coerce.number().int().min(1).max(100).default(8),
  /** 6-digit administrative division code of the district, stamped on uploads. */
  districtCode: z.string().regex(/^\d{6}$/, 'a 6-digit division code').default('000000'),
  /** Records older than this many years (by creation time) move to compressed archive files. */
  retentionYears: z.coerce.number().int().min(1).max(100).default(15),
  /** Where archive files go (default dataDir/archive). */
  archiveDir: z.string().optional(),
  /**
   * Free space kept on the image archive's disk (<dataDir>/imaging): below it, uploads from the
   * clinics are refused with 507 and the clinics keep their instances and retry. Bytes, with a unit
   * (2G) or a share of the disk (5%). Default 2G.
   */
  imagingMinFree: diskAmountSetting('2G'),
  /**
   * A resumable upload's partial copy not added to for this many hours is removed (the clinic that
   * started it was replaced, restored or deleted the instance; if it still has the instance it
   * sends it again from the start). Default 168 (a week: longer than any outage a clinic rides out).
   */
  imagingUploadKeepHours: z.coerce.number().min(1).max(24 * 365).default(168),
  /** Reader threads for FHIR reads and searches (default one per CPU, at most 4; 0 = on the main thread). */
  fhirReaders: z.coerce.number().int().min(0).max(16).optional(),
  /** A clinic silent this long (no heartbeat) is counted in an outage of its data exchange from its last heartbeat (central/availability). */
  exchangeSilenceMs: z.coerce.number().int().min(1000).default(120_000),
  /** A clinic whose records wait this long at the clinic while it beats (a stuck relay or ingest) is in an outage too; default: exchangeSilenceMs. */
  exchangeStallMs: z.coerce.number().int().min(1000).optional(),
  /** How often central looks for silent clinics. */
  exchangeCheckMs: z.coerce.number().int().min(100).default(30_000),
}).superRefine((c, ctx) => {
  if (c.warehouse === 'postgres' && !c.pgUrl) ctx.addIssue({ code: 'custom', path: ['pgUrl'], message: 'required when warehouse is postgres' });
});
export type CentralConfig = z.infer<typeof centralConfigSchema>;

export function loadCentralConfig(overrides?: Record<string, unknown>, env?: NodeJS.ProcessEnv): CentralConfig {
  return loadConfig(centralConfigSchema, { prefix: 'CENTRAL_', overrides, env });
}
