/**
 * Inventory of monitored targets and what sits behind them, loaded from JSON or YAML
 * (format documented in README.md). Validated with zod; errors name the field.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { STREAMS, subjects, CLINIC_ID_PATTERN } from '../contracts/index.ts';

const name = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/, 'letters, digits, _ . : - (max 64)');

export const snmpV3Schema = z.object({
  version: z.literal('3'),
  user: z.string().min(1),
  authProtocol: z.enum(['sha', 'sha224', 'sha256', 'sha384', 'sha512']).default('sha'),
  authKey: z.string().min(8, 'SNMPv3 keys need at least 8 characters'),
  privProtocol: z.enum(['aes', 'aes256b', 'aes256r']).default('aes'),
  privKey: z.string().min(8, 'SNMPv3 keys need at least 8 characters'),
  context: z.string().optional(),
});
/** v2c is read-only and only for devices that can do nothing else (DOMAIN.md). */
export const snmpV2cSchema = z.object({
  version: z.literal('2c'),
  community: z.string().min(1),
});
export const snmpCredentialsSchema = z.discriminatedUnion('version', [snmpV3Schema, snmpV2cSchema]);
export type SnmpCredentials = z.infer<typeof snmpCredentialsSchema>;

export const linkSchema = z.object({
  ifName: z.string().optional(),
  ifIndex: z.number().int().positive().optional(),
  /** Clinics reached through this interface. */
  clinics: z.array(z.string()).default([]),
  description: z.string().optional(),
}).refine((l) => l.ifName !== undefined || l.ifIndex !== undefined, { message: 'a link needs ifName or ifIndex' });

export const targetSchema = z.object({
  name,
  kind: z.enum(['router', 'switch', 'firewall', 'edge-appliance', 'server', 'other']),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(161),
  snmp: snmpCredentialsSchema,
  intervalSeconds: z.number().positive().optional(),
  timeoutMs: z.number().int().positive().optional(),
  retries: z.number().int().min(0).max(10).optional(),
  /** Upstream device: when it is down, this one is unreachable too. */
  parent: name.optional(),
  /** Clinics that depend on this whole device. */
  serves: z.array(z.string()).default([]),
  links: z.array(linkSchema).default([]),
  hostResources: z.boolean().default(true),
  /** Source address its traps carry (snmpTrapAddress or UDP source); defaults to host. */
  trapAddress: z.string().optional(),
});
export type Target = z.infer<typeof targetSchema>;

export const deviceSchema = z.object({
  id: z.string().min(1),
  kind: z.string().min(1),
  name: z.string().optional(),
});

export const clinicSchema = z.object({
  id: z.string().regex(CLINIC_ID_PATTERN, 'clinic id: lower-case letters, digits, -'),
  name: z.string().optional(),
  edgeHealthUrl: z.string().url().optional(),
  devices: z.array(deviceSchema).default([]),
  /** Replication streams; default: its records up and dictionaries down. */
  streams: z.array(z.string()).optional(),
});
export type Clinic = z.infer<typeof clinicSchema>;

export const inventorySchema = z.object({
  targets: z.array(targetSchema).default([]),
  clinics: z.array(clinicSchema).default([]),
  central: z.object({
    healthUrl: z.string().url().optional(),
    natsUrl: z.string().regex(/^nats:\/\/[^:/]+:\d+$/, 'nats://host:port').optional(),
  }).default({}),
}).superRefine((inv, ctx) => {
  const names = new Set<string>();
  inv.targets.forEach((t, i) => {
    if (names.has(t.name)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'name'], message: `duplicate target ${t.name}` });
    names.add(t.name);
  });
  const clinics = new Set(inv.clinics.map((c) => c.id));
  inv.targets.forEach((t, i) => {
    if (t.parent !== undefined && !names.has(t.parent)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'parent'], message: `unknown target ${t.parent}` });
    t.serves.forEach((c, j) => { if (!clinics.has(c)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'serves', j], message: `unknown clinic ${c}` }); });
    t.links.forEach((l, j) => l.clinics.forEach((c, k) => {
      if (!clinics.has(c)) ctx.addIssue({ code: 'custom', path: ['targets', i, 'links', j, 'clinics', k], message: `unknown clinic ${c}` });
    }));
  });
});
export type Inventory = z.infer<typeof inventorySchema>;
export type InventoryInput = z.input<typeof inventorySchema>;

export class InventoryError extends Error {
  override name = 'InventoryError';
  constructor(message: string, readonly field: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * Replace `${NAME}` in string values with environment variables, so SNMP keys and
 * communities need not sit in the inventory file. A missing variable names the field.
 */
export function expandEnv(input: unknown, env: NodeJS.ProcessEnv = process.env, path: string[] = []): unknown {
  if (typeof input === 'string') {
    return input.replace(/\$\{([A-Z0-9_]+)\}/g, (_, name: string) => {
      const v = env[name];
      if (v === undefined) throw new InventoryError(`inventory: ${path.join('.')}: environment variable ${name} is not set`, path.join('.'));
      return v;
    });
  }
  if (Array.isArray(input)) return input.map((v, i) => expandEnv(v, env, [...path, String(i)]));
  if (input && typeof input === 'object') return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, expandEnv(v, env, [...path, k])]));
  return input;
}

/** Validate an inventory object (after `${ENV}` expansion); throws InventoryError naming the first bad field. */
export function parseInventory(input: unknown, env: NodeJS.ProcessEnv = process.env): Inventory {
  const r = inventorySchema.safeParse(expandEnv(input, env));
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const field = issue.path.join('.');
  throw new InventoryError(`inventory: ${field || '(root)'}: ${issue.message}`, field);
}

/** Load an inventory file (.json, .yaml or .yml). */
export function loadInventoryFile(file: string): Inventory {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new InventoryError(`inventory: cannot read ${file}`, 'inventoryFile', { cause: e });
  }
  let data: unknown;
  try {
    data = /\.ya?ml$/i.test(file) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new InventoryError(`inventory: ${file} is not valid ${/\.ya?ml$/i.test(file) ? 'YAML' : 'JSON'}: ${(e as Error).message}`, 'inventoryFile', { cause: e });
  }
  return parseInventory(data);
}

/** Replication streams of a clinic as labels: `<STREAM>:<subject filter>`. */
export function clinicStreams(c: Clinic): string[] {
  return c.streams ?? [`${STREAMS.records}:${subjects.recordsOf(c.id)}`, `${STREAMS.dictionaries}:${subjects.allDictionaries}`];
}
