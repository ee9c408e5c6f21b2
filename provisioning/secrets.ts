/**
 * Plaintext secrets live only in the generated edge/central config files (mode 0600); the
 * registry keeps bcrypt hashes. To regenerate the files unchanged we read the passwords back
 * from the existing files and check them against the registry's hash.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { hashPassword } from './nats.ts';
import { InputError } from './errors.ts';
import { paths, type Secrets } from './render.ts';
import type { ClinicEntry, Registry } from './registry.ts';

export function newPassword(): string {
  return randomBytes(24).toString('base64url');
}

function readJson(file: string): Record<string, unknown> | null {
  if (!existsSync(file)) return null;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return null;
  }
}

/** The password in a clinic's existing edge config; `verify` checks it against the registry hash (bcrypt, ~50 ms). */
export function existingEdgePassword(stateDir: string, c: ClinicEntry, verify: boolean): string | null {
  const cfg = readJson(join(stateDir, paths.edge(c.id)));
  const pw = cfg?.natsPassword;
  if (typeof pw !== 'string' || cfg?.natsUser !== c.natsUser) return null;
  if (verify && !bcrypt.compareSync(pw, c.passwordHash)) return null;
  return pw;
}

/** Passwords of every clinic except those in `fresh` (already known), from their edge configs. */
export function clinicSecrets(stateDir: string, reg: Registry, fresh: Map<string, string>): Map<string, string> {
  const out = new Map(fresh);
  for (const c of reg.clinics) {
    if (out.has(c.id)) continue;
    const pw = existingEdgePassword(stateDir, c, false);
    if (pw === null) {
      throw new InputError(paths.edge(c.id), `missing or unreadable, and the registry keeps only a hash: run \`enrol --clinic ${c.id} --rotate-password\` to issue a new password`);
    }
    out.set(c.id, pw);
  }
  return out;
}

/**
 * Central's NATS password and API token: kept from the existing central.json when it matches
 * the registry, else issued anew (the registry's hash is updated by the caller).
 */
export function centralSecrets(stateDir: string, reg: Registry, now: string): { secrets: Secrets['central']; central: NonNullable<Registry['central']>; issued: boolean } {
  const cfg = readJson(join(stateDir, paths.central));
  const pw = cfg?.natsPassword;
  const token = cfg?.apiToken;
  if (reg.central && typeof pw === 'string' && typeof token === 'string' && bcrypt.compareSync(pw, reg.central.passwordHash)) {
    return { secrets: { password: pw, apiToken: token }, central: reg.central, issued: false };
  }
  const password = newPassword();
  return {
    secrets: { password, apiToken: randomBytes(24).toString('base64url') },
    central: { natsUser: 'central', passwordHash: hashPassword(password), createdAt: reg.central?.createdAt ?? now },
    issued: true,
  };
}
