/** Edge agent configuration: defaults <- EDGE_CONFIG file <- EDGE_* environment. */
import { z } from 'zod';
import { CLINIC_ID_PATTERN } from '../contracts/index.ts';
import { loadConfig } from '../contracts/runtime/index.ts';

const int = (def: number) => z.coerce.number().int().positive().default(def);

export const edgeConfigSchema = z.object({
  clinicId: z.string().regex(CLINIC_ID_PATTERN, 'lower-case letters, digits and dashes, 2-32 characters (e.g. "c01-xinhua")'),
  clinicName: z.string().default(''),
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
  relayWindow: int(512),
  resendAfterMs: int(10_000),
  heartbeatMs: int(2_000),
  /**
   * How long central's receipts must stay below the one this edge holds before it counts as
   * central having lost applied records (CentralLostAppliedRecords; the re-seed is offered then).
   * Several heartbeat answers: a stale receipt is followed by a current one within milliseconds.
   */
  receiptRegressionGraceMs: z.coerce.number().int().min(1_000).default(10_000),
  /** Password of the first administrator account ("admin"), used only when no account exists yet. */
  adminPassword: z.string().optional(),
  /** Synthetic activity (records per second) for demos; 0 disables. */
  simulateRate: z.coerce.number().min(0).default(0),
});
export type EdgeConfig = z.infer<typeof edgeConfigSchema>;

export function loadEdgeConfig(overrides?: Record<string, unknown>, env?: NodeJS.ProcessEnv): EdgeConfig {
  return loadConfig(edgeConfigSchema, { prefix: 'EDGE_', overrides, env });
}
