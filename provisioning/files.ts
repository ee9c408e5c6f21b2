/**
 * Compares a rendered file set with the state directory, prints the changes as a unified
 * diff (secrets masked) and applies them: atomic writes with the intended mode, deletion
 * of files no longer generated. Writing nothing when nothing changed is what makes a
 * repeated `enrol` byte-for-byte idempotent.
 */
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { unifiedDiff } from './diff.ts';
import type { FileSet, GeneratedFile } from './render.ts';

export interface Change { path: string; before: GeneratedFile | null; after: GeneratedFile | null }

/** Files provisioning owns inside a state directory. */
export const MANAGED_ROOTS = ['clinics.json', 'out'];

export function readTree(stateDir: string, roots: string[] = MANAGED_ROOTS): FileSet {
  const files: FileSet = new Map();
  const visit = (p: string) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const f of readdirSync(p).sort()) visit(join(p, f));
    else files.set(relative(stateDir, p), { content: readFileSync(p, 'utf8'), mode: st.mode & 0o777 });
  };
  for (const r of roots) visit(join(stateDir, r));
  return files;
}

/** Changes that turn the current managed files into `next` (sorted by path). */
export function planChanges(stateDir: string, next: FileSet, roots: string[] = MANAGED_ROOTS): Change[] {
  const current = readTree(stateDir, roots);
  const changes: Change[] = [];
  for (const p of new Set([...current.keys(), ...next.keys()])) {
    const before = current.get(p) ?? null;
    const after = next.get(p) ?? null;
    if (before && after && before.content === after.content && before.mode === after.mode) continue;
    changes.push({ path: p, before, after });
  }
  return changes.sort((a, b) => a.path.localeCompare(b.path));
}

const SECRET_KEYS = /("(?:natsPassword|apiToken)":\s*)"([^"]*)"/g;
/** Env-file lines holding a secret (upload/backup tokens, the target secret). */
const SECRET_ENV = /^([A-Z][A-Z0-9_]*(?:TOKEN|SECRET|PASSWORD)=)(.*)$/gm;
const fingerprint = (v: string) => `<secret ${createHash('sha256').update(v).digest('hex').slice(0, 8)}>`;

/**
 * Plaintext secrets never reach a terminal: shown as a short fingerprint so changes stay
 * visible. A key file (`*.key`) is masked whole.
 */
export function maskSecrets(text: string, path = ''): string {
  if (path.endsWith('.key')) return text.split('\n').map((l) => (l ? fingerprint(l) : l)).join('\n');
  return text
    .replace(SECRET_KEYS, (_, k: string, v: string) => `${k}"${fingerprint(v)}"`)
    .replace(SECRET_ENV, (_, k: string, v: string) => `${k}${fingerprint(v)}`);
}

export function formatChanges(changes: Change[]): string {
  return changes.map((c) => {
    const d = unifiedDiff(c.path, c.before ? maskSecrets(c.before.content, c.path) : null, c.after ? maskSecrets(c.after.content, c.path) : null);
    const mode = c.before && c.after && c.before.mode !== c.after.mode ? `mode ${c.before.mode.toString(8)} -> ${c.after.mode.toString(8)}: ${c.path}\n` : '';
    return mode + d;
  }).join('');
}

export function summary(changes: Change[]): string {
  if (changes.length === 0) return 'no changes';
  const n = (k: (c: Change) => boolean) => changes.filter(k).length;
  return `${n((c) => !c.before)} created, ${n((c) => !!c.before && !!c.after)} changed, ${n((c) => !c.after)} removed`;
}

export function applyChanges(stateDir: string, changes: Change[]): void {
  for (const c of changes) {
    const file = join(stateDir, c.path);
    if (c.after) {
      mkdirSync(dirname(file), { recursive: true });
      const tmp = `${file}.tmp-${process.pid}`;
      writeFileSync(tmp, c.after.content, { mode: c.after.mode });
      chmodSync(tmp, c.after.mode); // the umask may have narrowed it
      renameSync(tmp, file);
    } else {
      unlinkSync(file);
      removeEmptyParents(stateDir, dirname(file));
    }
  }
}

function removeEmptyParents(stateDir: string, dir: string): void {
  while (relative(stateDir, dir) && !relative(stateDir, dir).startsWith('..') && readdirSync(dir).length === 0) {
    rmdirSync(dir);
    dir = dirname(dir);
  }
}
