/**
 * One typed config object per process: defaults <- JSON file <- environment (with a prefix),
 * validated by zod at start. A bad value fails fast naming the field and where it came from.
 */
import { readFileSync } from 'node:fs';
import type { z } from 'zod';

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** `EDGE_NATS_URL` -> `natsUrl` for prefix `EDGE_`. */
function envKeyToField(key: string, prefix: string): string {
  return key
    .slice(prefix.length)
    .toLowerCase()
    .replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

export function loadConfig<S extends z.ZodType>(schema: S, opts: { prefix: string; file?: string; env?: NodeJS.ProcessEnv; overrides?: Record<string, unknown> }): z.infer<S> {
  const env = opts.env ?? process.env;
  let fromFile: Record<string, unknown> = {};
  const file = opts.file ?? env[`${opts.prefix}CONFIG`];
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (e) {
      throw new ConfigError(`cannot read config file ${file}: ${(e as Error).message}`);
    }
  }
  const fromEnv: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(env)) {
    if (!k.startsWith(opts.prefix) || k === `${opts.prefix}CONFIG` || v === undefined) continue;
    fromEnv[envKeyToField(k, opts.prefix)] = v;
  }
  const merged = { ...fromFile, ...fromEnv, ...(opts.overrides ?? {}) };
  const r = schema.safeParse(merged);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const field = i.path.join('.');
      const envName = opts.prefix + field.replace(/([A-Z])/g, '_$1').toUpperCase();
      return `  - ${field || '(root)'} (env ${envName}${file ? ` or "${field}" in ${file}` : ''}): ${i.message}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
  }
  return r.data;
}
