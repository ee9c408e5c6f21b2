// Module hooks of the tests' TypeScript loader (registered by ./ts-loader.mjs, which says why).
// Node 20 runs these on its loader-hooks thread. One hook: `load` for the repository's .ts/.tsx
// files, which it transforms with esbuild (tsx's own transformer) and caches on disk by content.
// No `resolve` hook: every relative import names its file with its extension (tsc enforces it:
// NodeNext with allowImportingTsExtensions), so Node's own resolver finds every module, and
// packages' modules pass through untouched.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** tsconfig's compilerOptions, as tsx would pass them (jsx runtime, class fields, target). */
function compilerOptions() {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')).compilerOptions ?? {};
  } catch {
    return {};
  }
}

const esbuildVersion = (() => {
  try {
    return JSON.parse(readFileSync(join(ROOT, 'node_modules/esbuild/package.json'), 'utf8')).version;
  } catch {
    return 'unknown';
  }
})();
const tsconfigRaw = { compilerOptions: compilerOptions() };
const OPTIONS_KEY = createHash('sha1').update(`${esbuildVersion}\0${JSON.stringify(tsconfigRaw)}\0v1`).digest('hex').slice(0, 12);

function cacheDir() {
  for (const dir of [join(ROOT, 'node_modules/.cache/ts-loader'), join(tmpdir(), `ts-loader-${process.getuid?.() ?? 'u'}`)]) {
    try {
      mkdirSync(dir, { recursive: true });
      return dir;
    } catch {
      /* next candidate */
    }
  }
  return null;
}
const CACHE = cacheDir();

/** @type {Promise<typeof import('esbuild')> | undefined} */
let esbuild;

async function transform(path, source, tsx) {
  esbuild ??= import('esbuild');
  const { transform: run } = await esbuild;
  const out = await run(source, {
    loader: tsx ? 'tsx' : 'ts',
    format: 'esm',
    target: 'node20',
    sourcemap: 'inline',
    sourcefile: path,
    tsconfigRaw,
  });
  return out.code;
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:')) return nextLoad(url, context);
  const tsx = url.endsWith('.tsx');
  if (!tsx && !url.endsWith('.ts') && !url.endsWith('.mts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const source = await readFile(path, 'utf8');
  const key = createHash('sha1').update(`${OPTIONS_KEY}\0${path}\0`).update(source).digest('hex');
  const cached = CACHE ? join(CACHE, `${key}.mjs`) : null;
  if (cached) {
    try {
      return { format: 'module', source: await readFile(cached, 'utf8'), shortCircuit: true };
    } catch {
      /* not cached yet */
    }
  }
  const code = await transform(path, source, tsx);
  if (cached) {
    // Written whole then renamed: a concurrent test process reads the old state or the whole file.
    const tmp = `${cached}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      mkdirSync(dirname(cached), { recursive: true });
      await writeFile(tmp, code);
      await rename(tmp, cached);
    } catch {
      /* a read-only cache only costs the next process a transform */
    }
  }
  return { format: 'module', source: code, shortCircuit: true };
}
