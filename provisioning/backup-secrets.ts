/**
 * Backup keys and central's off-site target secret, kept stable across runs.
 *
 * - Central's target secret (CENTRAL_BACKUP_TARGET_SECRET, from which each clinic's backup
 *   upload token is derived) is read back from out/central/central.env; issued when missing.
 * - Each clinic's backup key (and central's own) lives in out/edges/<id>.backup.key
 *   (out/central/backup.key); the registry records its key id (not secret). A key is NEVER
 *   re-issued silently: backups made with it can only be read with it. A missing or different
 *   key file of an enrolled clinic is an error naming the file, unless the operator asks for
 *   `--rotate-backup-key`; a rotated or removed clinic's old key is kept under
 *   `retired-keys/` (outside out/, never deleted by provisioning).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { keyFromBytes } from '../contracts/backup/index.ts';
import { InputError } from './errors.ts';
import { paths, SECRET_MODE, type FileSet } from './render.ts';
import type { Registry } from './registry.ts';

export interface BackupSecrets {
  targetSecret: string;
  /** 64 hex characters per clinic id. */
  clinicKeys: Map<string, string>;
  centralKey: string;
}

/** `KEY=value` lines of an env file (comments and blank lines skipped). */
export function parseEnvFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (m) out[m[1]!] = m[2]!;
  }
  return out;
}

function readText(file: string): string | null {
  try {
    return existsSync(file) ? readFileSync(file, 'utf8') : null;
  } catch {
    return null;
  }
}

const keyIdOf = (hex: string) => keyFromBytes(Buffer.from(hex, 'hex')).keyId;
const newKey = () => randomBytes(32).toString('hex');
export const retiredKeyPath = (owner: string, keyId: string) => `retired-keys/${owner}-${keyId}.backup.key`;

/** The key held in a state file: 64 hex characters, or null when absent/unreadable. */
export function existingKey(stateDir: string, rel: string): string | null {
  const t = readText(join(stateDir, rel))?.trim();
  return t && /^[0-9a-f]{64}$/.test(t) ? t : null;
}

/**
 * Keys and the target secret for every clinic in `reg` (and central), with the registry's key
 * ids updated. `rotate` = a clinic id whose key is re-issued on purpose.
 */
export function backupSecrets(stateDir: string, reg: Registry, rotate: string | undefined, notes: string[]): { secrets: BackupSecrets; registry: Registry; retired: FileSet } {
  const retired: FileSet = new Map();
  const env = parseEnvFile(readText(join(stateDir, paths.centralEnv)) ?? '');
  let targetSecret = env.CENTRAL_BACKUP_TARGET_SECRET ?? '';
  if (targetSecret.length < 32) {
    targetSecret = randomBytes(32).toString('base64url');
    if (reg.clinics.length > 0 && existsSync(join(stateDir, paths.central))) {
      notes.push(`${paths.centralEnv} was missing: new backup target secret issued; every clinic's EDGE_BACKUP_REMOTE_TOKEN changed: install central.env and every out/edges/<id>.env`);
    }
  }
  const keyFor = (owner: string, rel: string, recorded: string | undefined): string => {
    const have = existingKey(stateDir, rel);
    const flag = owner === 'central' ? `remove ${rel} and its backupKeyId from clinics.json to issue a new key` : `enrol --clinic ${owner} --rotate-backup-key`;
    if (rotate === owner) {
      if (have) retired.set(retiredKeyPath(owner, keyIdOf(have)), { content: `${have}\n`, mode: SECRET_MODE });
      notes.push(`backup key of ${owner} rotated: install the new ${rel}; the old key is kept in ${have ? retiredKeyPath(owner, keyIdOf(have)) : '(none)'} (backups made before can only be restored with it)`);
      return newKey();
    }
    if (have) {
      const id = keyIdOf(have);
      if (recorded && id !== recorded) throw new InputError(rel, `is backup key ${id}, but the registry recorded key ${recorded} for ${owner}: put the right key file back (backups made with it can only be read with it), or ${flag}`);
      return have;
    }
    if (recorded) throw new InputError(rel, `missing: it held the backup key ${recorded} of ${owner}, which is needed to restore its backups. Put it back from your copy, or ${flag} to issue a new key`);
    notes.push(`backup key issued for ${owner}: install ${rel} as its ${owner === 'central' ? 'CENTRAL' : 'EDGE'}_BACKUP_KEY_FILE; this state directory holds the copy kept apart from the backups: protect it`);
    return newKey();
  };
  const clinicKeys = new Map<string, string>();
  const clinics = reg.clinics.map((c) => {
    const k = keyFor(c.id, paths.edgeBackupKey(c.id), c.backupKeyId);
    clinicKeys.set(c.id, k);
    return { ...c, backupKeyId: keyIdOf(k) };
  });
  const centralKey = keyFor('central', paths.centralBackupKey, reg.central?.backupKeyId);
  const registry: Registry = { ...reg, clinics, ...(reg.central ? { central: { ...reg.central, backupKeyId: keyIdOf(centralKey) } } : {}) };
  return { secrets: { targetSecret, clinicKeys, centralKey }, registry, retired };
}
