/** Loads and validates profile files (YAML or JSON). Fails with the file and field names. */
import { readFileSync, readdirSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { ProfileError } from '../errors.ts';
import { profileSchema, type DeviceProfile } from './schema.ts';

/** The directory holding the shipped profiles. */
export const BUILTIN_PROFILE_DIR = dirname(fileURLToPath(import.meta.url));

/** Validate an already-parsed profile object; `source` names it in errors. */
export function parseProfile(raw: unknown, source = '(inline)'): DeviceProfile {
  const r = profileSchema.safeParse(raw);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new ProfileError(`invalid device profile ${source}: ${issues.join('; ')}`, source, issues);
  }
  return r.data;
}

/** Read one profile file (.yaml, .yml or .json). */
export function loadProfileFile(file: string): DeviceProfile {
  let raw: unknown;
  try {
    const text = readFileSync(file, 'utf8');
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new ProfileError(`cannot read device profile ${file}: ${(e as Error).message}`, file, [(e as Error).message]);
  }
  return parseProfile(raw, file);
}

/** Load every profile in a directory (default: the shipped ones), keyed by id. */
export function loadProfiles(dir: string = BUILTIN_PROFILE_DIR): Map<string, DeviceProfile> {
  const out = new Map<string, DeviceProfile>();
  for (const f of readdirSync(dir).sort()) {
    if (!/\.(ya?ml|json)$/.test(f)) continue;
    const p = loadProfileFile(join(dir, f));
    if (out.has(p.id)) throw new ProfileError(`duplicate profile id ${p.id} in ${f}`, join(dir, f), ['id']);
    out.set(p.id, p);
  }
  return out;
}

let cache: Map<string, DeviceProfile> | undefined;
/** A shipped profile by id (loaded once). */
export function builtinProfile(id: string): DeviceProfile {
  cache ??= loadProfiles();
  const p = cache.get(id);
  if (!p) throw new ProfileError(`no shipped profile ${id}; have ${[...cache.keys()].join(', ')}`, BUILTIN_PROFILE_DIR, ['id']);
  return p;
}
