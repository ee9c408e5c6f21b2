/**
 * Device profile library of a state directory (`<state>/profiles/`), on top of the shipped
 * profiles, validated by device-drivers' loader. An invalid profile is refused naming the field.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { BUILTIN_PROFILE_DIR, loadProfileFile, loadProfiles, ProfileError, type DeviceProfile } from '../device-drivers/index.ts';
import { InputError } from './errors.ts';
import { planChanges, readTree, type Change } from './files.ts';

export const PROFILE_DIR = 'profiles';

export interface ProfileRow { id: string; name: string; nameZh?: string; protocol: string; kind: string; quantities: number; source: 'shipped' | 'library' }

function asInputError(e: unknown, file: string): never {
  if (e instanceof ProfileError) {
    const first = e.issues[0] ?? e.message;
    const [field, ...rest] = first.split(': ');
    throw new InputError(`profile ${file}: field ${field}`, rest.join(': ') || first, { cause: e });
  }
  throw e;
}

export function listProfiles(stateDir: string): ProfileRow[] {
  const row = (p: DeviceProfile, source: ProfileRow['source']): ProfileRow => ({
    id: p.id, name: p.name, ...(p.nameZh ? { nameZh: p.nameZh } : {}), protocol: p.protocol, kind: p.kind, quantities: p.quantities.length, source,
  });
  const rows = [...loadProfiles(BUILTIN_PROFILE_DIR).values()].map((p) => row(p, 'shipped'));
  const dir = join(stateDir, PROFILE_DIR);
  if (existsSync(dir)) {
    try {
      rows.push(...[...loadProfiles(dir).values()].map((p) => row(p, 'library')));
    } catch (e) {
      asInputError(e, dir);
    }
  }
  return rows.sort((a, b) => a.id.localeCompare(b.id));
}

/** Validate the given files, or every profile (shipped and library). Returns one line per profile. */
export function validateProfiles(stateDir: string, files: string[]): string[] {
  if (files.length) {
    return files.map((f) => {
      try {
        const p = loadProfileFile(f);
        return `ok  ${f}: ${p.id} (${p.protocol}, ${p.quantities.length} quantities)`;
      } catch (e) {
        return asInputError(e, f);
      }
    });
  }
  return listProfiles(stateDir).map((p) => `ok  ${p.source} ${p.id} (${p.protocol}, ${p.quantities} quantities)`);
}

/** Plan copying a validated profile into the library as `profiles/<id>.<ext>` (file bytes kept, comments included). */
export function planAddProfile(stateDir: string, file: string, force: boolean): { changes: Change[]; profile: DeviceProfile } {
  if (!existsSync(file)) throw new InputError(`profiles add ${JSON.stringify(file)}`, 'no such file');
  let p: DeviceProfile;
  try {
    p = loadProfileFile(file);
  } catch (e) {
    asInputError(e, file);
  }
  const shipped = loadProfiles(BUILTIN_PROFILE_DIR);
  if (shipped.has(p.id)) throw new InputError(`profile ${file}: field id`, `"${p.id}" is a shipped profile; give the variant its own id`);
  const current = readTree(stateDir, [PROFILE_DIR]);
  const ext = extname(file) === '.json' ? '.json' : '.yaml';
  const target = join(PROFILE_DIR, `${p.id}${ext}`);
  for (const [path, f] of current) {
    const other = (() => { try { return loadProfileFile(join(stateDir, path)).id; } catch { return undefined; } })();
    if (other === p.id && path !== target) throw new InputError(`profile ${file}: field id`, `"${p.id}" is already in the library as ${basename(path)}`);
    if (path === target && f.content !== readFileSync(file, 'utf8') && !force) {
      throw new InputError(`profile ${file}: field id`, `"${p.id}" is already in the library with different content (use --force to replace it)`);
    }
  }
  const next = new Map(current);
  next.set(target, { content: readFileSync(file, 'utf8'), mode: 0o644 });
  return { changes: planChanges(stateDir, next, [PROFILE_DIR]), profile: p };
}
