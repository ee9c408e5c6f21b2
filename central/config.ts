/** Central configuration: defaults <- CENTRAL_CONFIG file <- CENTRAL_* environment. */
import { z } from 'zod';
import { loadConfig } from '../contracts/runtime/index.ts';

export const centralConfigSchema = z.object({
  dataDir: z.string().min(1),
  natsUrl: z.string().default('nats://127.0.0.1:4222'),
  natsUser: z.string().optional(),
  natsPassword: z.string().optional(),
  httpHost: z.string().default('127.0.0.1'),
  httpPort: z.coerce.number().int().min(0).max(65535).default(0),
  /** Bearer token for the management API (portal login arrives with [portal]). */
  apiToken: z.string().min(16, 'use at least 16 characters'),
  maxBatch: z.coerce.number().int().positive().default(1000),
  /** Warehouse backend: embedded SQLite in dataDir (default) or PostgreSQL for a city of clinics. */
  warehouse: z.enum(['sqlite', 'postgres']).default('sqlite'),
  /** PostgreSQL connection URL (`postgres://user@host:5432/db`), required with warehouse=postgres. */
  pgUrl: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL').optional(),
}).superRefine((c, ctx) => {
  if (c.warehouse === 'postgres' && !c.pgUrl) ctx.addIssue({ code: 'custom', path: ['pgUrl'], message: 'required when warehouse is postgres' });
});
export type CentralConfig = z.infer<typeof centralConfigSchema>;

export function loadCentralConfig(overrides?: Record<string, unknown>, env?: NodeJS.ProcessEnv): CentralConfig {
  return loadConfig(centralConfigSchema, { prefix: 'CENTRAL_', overrides, env });
}
