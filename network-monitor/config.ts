/**
 * Typed config of the network monitor: defaults <- file (JSON/YAML) <- NETMON_* environment.
 * Env names map to fields with `__` for nesting: NETMON_HTTP__PORT -> http.port,
 * NETMON_INVENTORY_FILE -> inventoryFile, NETMON_ANOMALY__STATE_DIR -> anomaly.stateDir.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { inventorySchema, snmpV3Schema } from './inventory.ts';

export const configSchema = z.object({
  logLevel: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  http: z.object({
    host: z.string().default('127.0.0.1'),
    /** 0 = OS-chosen port (tests). */
    port: z.coerce.number().int().min(0).max(65535).default(9470),
  }).default({ host: '127.0.0.1', port: 9470 }),
  inventoryFile: z.string().optional(),
  /** Inline inventory (programmatic use); wins over inventoryFile. */
  inventory: inventorySchema.optional(),
  polling: z.object({
    intervalSeconds: z.coerce.number().positive().default(30),
    timeoutMs: z.coerce.number().int().positive().default(2000),
    retries: z.coerce.number().int().min(0).max(10).default(1),
    /** Request timeout multiplier per retry (net-snmp backoff). */
    backoff: z.coerce.number().min(1).max(4).default(1.5),
    /** Consecutive failed polls before a target counts as down. */
    downAfterFailures: z.coerce.number().int().min(1).default(2),
    /** After failures the interval doubles up to this factor. */
    maxBackoffFactor: z.coerce.number().min(1).default(4),
    maxRepetitions: z.coerce.number().int().min(1).max(100).default(25),
  }).default({ intervalSeconds: 30, timeoutMs: 2000, retries: 1, backoff: 1.5, downAfterFailures: 2, maxBackoffFactor: 4, maxRepetitions: 25 }),
  traps: z.object({
    enabled: z.boolean().default(true),
    host: z.string().default('0.0.0.0'),
    /** 162 needs privileges; 0 = OS-chosen port (tests). */
    port: z.coerce.number().int().min(0).max(65535).default(1162),
    communities: z.array(z.string()).default([]),
    users: z.array(snmpV3Schema.omit({ version: true })).default([]),
  }).default({ enabled: true, host: '0.0.0.0', port: 1162, communities: [], users: [] }),
  probes: z.object({
    intervalSeconds: z.coerce.number().positive().default(15),
    timeoutMs: z.coerce.number().int().positive().default(3000),
  }).default({ intervalSeconds: 15, timeoutMs: 3000 }),
  events: z.object({ capacity: z.coerce.number().int().min(10).default(2000) }).default({ capacity: 2000 }),
  anomaly: z.object({
    enabled: z.boolean().default(true),
    /** `links`: only interfaces named in inventory links (those that reach clinics); `all`: every interface. */
    scope: z.enum(['links', 'all']).default('links'),
    /** Where models and history are persisted; none = in memory only. */
    stateDir: z.string().optional(),
    bucketSeconds: z.coerce.number().int().positive().default(300),
    historyDays: z.coerce.number().positive().default(28),
    /** Minimum buckets of history before a model is trained (default 3 days). */
    minHistoryBuckets: z.coerce.number().int().positive().default(864),
    retrainHours: z.coerce.number().positive().default(24),
    epochs: z.coerce.number().int().positive().default(40),
    /** Score (robust z of the residual) above which a sample counts as anomalous. */
    threshold: z.coerce.number().positive().default(4),
  }).default({ enabled: true, scope: 'links', bucketSeconds: 300, historyDays: 28, minHistoryBuckets: 864, retrainHours: 24, epochs: 40, threshold: 4 }),
});
export type NetworkMonitorConfig = z.infer<typeof configSchema>;
export type NetworkMonitorConfigInput = z.input<typeof configSchema>;

export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(message: string, readonly field: string) {
    super(message);
  }
}

const camel = (s: string) => s.toLowerCase().replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

/** NETMON_* variables as a nested object (values parsed as JSON when they look like it). */
export function envToObject(env: NodeJS.ProcessEnv, prefix = 'NETMON_'): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, raw] of Object.entries(env)) {
    if (!k.startsWith(prefix) || raw === undefined || k === `${prefix}CONFIG`) continue;
    const path = k.slice(prefix.length).split('__').map(camel);
    let value: unknown = raw;
    if (/^[[{]/.test(raw) || raw === 'true' || raw === 'false') {
      try { value = JSON.parse(raw); } catch { /* keep the string; zod names the field */ }
    }
    let o = out;
    path.slice(0, -1).forEach((p) => { o = (o[p] ??= {}) as Record<string, unknown>; });
    o[path[path.length - 1]!] = value;
  }
  return out;
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const cur = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && cur && typeof cur === 'object' && !Array.isArray(cur)
      ? merge(cur as Record<string, unknown>, v as Record<string, unknown>) : v;
  }
  return out;
}

/** Validate a config object; throws ConfigError naming the first bad field. */
export function parseConfig(input: unknown): NetworkMonitorConfig {
  const r = configSchema.safeParse(input);
  if (r.success) {
    if (!r.data.inventory && !r.data.inventoryFile) throw new ConfigError('config: inventoryFile: required (or an inline inventory)', 'inventoryFile');
    return r.data;
  }
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.');
  throw new ConfigError(`config: ${field || '(root)'}: ${issue.message}`, field);
}

/** Load config from an optional file (NETMON_CONFIG) and NETMON_* env. */
export function loadConfig(file: string | undefined = process.env.NETMON_CONFIG, env: NodeJS.ProcessEnv = process.env): NetworkMonitorConfig {
  let fromFile: Record<string, unknown> = {};
  if (file) {
    let text: string;
    try { text = readFileSync(file, 'utf8'); } catch { throw new ConfigError(`config: cannot read ${file}`, 'configFile'); }
    try {
      const parsed: unknown = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
      if (parsed && typeof parsed === 'object') fromFile = parsed as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`config: ${file}: ${(e as Error).message}`, 'configFile');
    }
  }
  return parseConfig(merge(fromFile, envToObject(env)));
}
