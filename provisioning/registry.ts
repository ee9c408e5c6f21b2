/**
 * The provisioning state: `<state>/clinics.json` lists every enrolled clinic with its NATS
 * user and bcrypt hash (never a plaintext password), SNMP targets (secrets only as
 * environment-variable names) and the deployment settings the generated files use.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { CLINIC_ID_PATTERN } from '../contracts/index.ts';
import { InputError } from './errors.ts';

export const ENV_NAME = /^[A-Z][A-Z0-9_]*$/;

const envName = z.string().regex(ENV_NAME, 'an environment variable name (upper-case letters, digits, _)');

export const snmpRefSchema = z.discriminatedUnion('version', [
  z.object({
    version: z.literal('3'),
    user: z.string().min(1),
    authProtocol: z.enum(['sha', 'sha224', 'sha256', 'sha384', 'sha512']),
    privProtocol: z.enum(['aes', 'aes256b', 'aes256r']),
    authKeyEnv: envName,
    privKeyEnv: envName,
  }),
  z.object({ version: z.literal('2c'), communityEnv: envName }),
]);
export type SnmpRef = z.infer<typeof snmpRefSchema>;

export const snmpTargetSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  snmp: snmpRefSchema,
});
export type SnmpTarget = z.infer<typeof snmpTargetSchema>;

export const clinicEntrySchema = z.object({
  id: z.string().regex(CLINIC_ID_PATTERN),
  name: z.string().min(1),
  level: z.enum(['centre', 'station']),
  /** The community health service centre a station belongs to. */
  parent: z.string().optional(),
  natsUser: z.string(),
  passwordHash: z.string().startsWith('$2'),
  edgeUrl: z.string().url(),
  router: snmpTargetSchema.optional(),
  switch: snmpTargetSchema.optional(),
  /** Registered medical devices behind this clinic's network (for the monitor's impact list). */
  devices: z.array(z.object({ id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,63}$/), kind: z.string().min(1).max(40) })).optional(),
  /** Id of the clinic's backup key (not secret): a lost or swapped key file is detected, never silently replaced. */
  backupKeyId: z.string().regex(/^[0-9a-f]{16}$/).optional(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type ClinicEntry = z.infer<typeof clinicEntrySchema>;

/** An absolute path written unquoted into a systemd EnvironmentFile. */
const envPath = z.string().regex(/^\/[A-Za-z0-9._\/-]*$/, 'an absolute path of letters, digits, . _ - /');

export const settingsSchema = z.object({
  /** What edges and central connect to. */
  natsUrl: z.string().regex(/^nats:\/\/[^:/]+:\d+$/, 'nats://host:port').default('nats://nats-hub:4222'),
  /** The hub's `listen` (port -1 = OS-chosen, for tests). */
  hubListen: z.string().regex(/^[^:\s]+:-?\d+$/, 'host:port').default('0.0.0.0:4222'),
  hubStoreDir: z.string().min(1).default('/var/lib/nats/jetstream'),
  edgeDataDir: z.string().min(1).default('/var/lib/health-edge'),
  /** Used when `enrol` gets no `--edge-url`; `{id}` is replaced by the clinic id. */
  edgeUrlTemplate: z.string().includes('{id}').default('http://edge-{id}:8080'),
  centralDataDir: z.string().min(1).default('/var/lib/health-central'),
  centralUrl: z.string().url().default('http://central:8080'),
  netmonUrl: z.string().url().default('http://netmon:9470'),
  prometheusUrl: z.string().url().default('http://prometheus:9090'),
  grafanaDashboardsPath: z.string().min(1).default('/var/lib/grafana/dashboards/health-network'),
  /** Where each edge keeps its backup key (install out/edges/<id>.backup.key there) and its local backups. */
  edgeBackupKeyFile: envPath.default('/etc/health-edge/backup.key'),
  edgeBackupDir: envPath.default('/var/backups/health-edge'),
  /** The same for central's own backups (out/central/backup.key). */
  centralBackupKeyFile: envPath.default('/etc/health-central/backup.key'),
  centralBackupDir: envPath.default('/var/backups/health-central'),
  /**
   * TLS to the hub (`--nats-tls on`): a district CA (its key in <state>/tls/ca.key, never
   * distributed) signs the hub's certificate, which names natsUrl's host and natsTlsHosts;
   * edges and central verify it with the CA certificate (out/tls/ca.crt) installed at the paths below.
   */
  natsTls: z.enum(['on', 'off']).default('off'),
  /** More names or addresses for the hub's certificate, comma-separated (the hub reached by several names). */
  natsTlsHosts: z.string().regex(/^[A-Za-z0-9.:,-]*$/, 'host names or IP addresses, comma-separated').default(''),
  /** Where the hub machine keeps hub.crt and hub.key (install out/nats/hub.crt and hub.key there). */
  hubTlsDir: envPath.default('/etc/nats'),
  /** Where each edge and central keep the district CA certificate (install out/tls/ca.crt there). */
  edgeNatsCaFile: envPath.default('/etc/health-edge/nats-ca.crt'),
  centralNatsCaFile: envPath.default('/etc/health-central/nats-ca.crt'),
  /** Where an edge with an https:// edgeUrl, and central with an https:// centralUrl, keep their HTTPS certificate and key. */
  edgeHttpsCertFile: envPath.default('/etc/health-edge/https.crt'),
  edgeHttpsKeyFile: envPath.default('/etc/health-edge/https.key'),
  centralHttpsCertFile: envPath.default('/etc/health-central/https.crt'),
  centralHttpsKeyFile: envPath.default('/etc/health-central/https.key'),
});
export type Settings = z.infer<typeof settingsSchema>;

export const registrySchema = z.object({
  version: z.literal(1),
  settings: settingsSchema,
  central: z.object({ natsUser: z.literal('central'), passwordHash: z.string().startsWith('$2'), backupKeyId: z.string().regex(/^[0-9a-f]{16}$/).optional(), createdAt: z.string() }).optional(),
  clinics: z.array(clinicEntrySchema),
});
export type Registry = z.infer<typeof registrySchema>;

export const REGISTRY_FILE = 'clinics.json';

export function emptyRegistry(): Registry {
  return { version: 1, settings: settingsSchema.parse({}), clinics: [] };
}

export function loadRegistry(stateDir: string): Registry {
  const file = join(stateDir, REGISTRY_FILE);
  if (!existsSync(file)) return emptyRegistry();
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new InputError(file, `not valid JSON: ${(e as Error).message}`, { cause: e });
  }
  const r = registrySchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new InputError(`${file}: ${i.path.join('.') || '(root)'}`, i.message);
  }
  return r.data;
}

/** Stable serialisation (clinics sorted by id) so that an unchanged registry is byte-identical. */
export function renderRegistry(reg: Registry): string {
  // Parse first: key order then follows the schema, whatever order the caller built the object in.
  const r = registrySchema.parse(reg);
  const sorted: Registry = { version: r.version, settings: r.settings, ...(r.central ? { central: r.central } : {}), clinics: sortedClinicsOf(r) };
  return JSON.stringify(sorted, null, 2) + '\n';
}

export function sortedClinicsOf(reg: Registry): ClinicEntry[] {
  return [...reg.clinics].sort((a, b) => a.id.localeCompare(b.id));
}
