/**
 * How a worker thread loads its TypeScript entry.
 *
 * Node 20 does not carry a loader registered with `--import tsx` into worker threads. Each worker
 * used to register tsx itself and import its entry module by module: every worker then started a
 * loader-hooks thread of its own and sent each of its modules through it (~0.3-0.5 s of CPU per
 * worker on a 2-core machine, and central starts several: FHIR readers, the analytics fact worker;
 * each edge its relay worker).
 *
 * Now the entry and the repository modules it imports are bundled once into one ES module
 * (esbuild, which tsx itself runs on: the same transform) under `node_modules/.cache/worker-bundles`,
 * where the bundle's package imports resolve as the sources' do. A manifest lists every input
 * file with its mtime and size; a later start checks those (a few dozen `stat`s) and builds again
 * only when one changed (`bundle.mjs`). The build runs in a child process because esbuild's
 * synchronous API takes no plugins, and callers create their workers synchronously.
 *
 * If the bundle cannot be made (no esbuild, a read-only install) the worker falls back to
 * registering tsx, as before, and the process emits a warning (code WORKER_BUNDLE_FALLBACK, on
 * stderr unless a host listens) naming the entry and the reason; `WORKER_BUNDLES=off` forces the
 * fallback without a warning (debugging a worker's sources).
 * A build (first start after the sources changed) holds the calling thread for its duration,
 * 0.1-0.5 s on a 2-core machine, once per process and entry: for the lazily started imaging
 * index worker that is during C-STOREs, once after an upgrade.
 *
 *   const w = new Worker(workerBootstrap(new URL('./relay-worker.ts', import.meta.url)), { eval: true, workerData });
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { bundleUpToDate } from './bundle.mjs';

/** How a worker reports that its entry failed to load. */
export type LoadFailure =
  /** Post `{ t: 'fatal', message }` to the parent (hosts that speak that protocol). */
  | 'post-fatal'
  /** Throw in the worker: the parent sees the Worker's 'error' event. */
  | 'throw';

/** Bundles in use, by entry path (one look-up per process and entry). */
const resolved = new Map<string, string | null>();
/** Why the last bundle could not be made (tests, diagnostics); null when every bundle was made. */
export let lastBundleError: string | null = null;

/** Forgets which bundles this process found, so the next look-up checks the cache again (tests). */
export function forgetWorkerBundles(): void {
  resolved.clear();
}

function repoRoot(): string {
  // contracts/runtime/ -> the repository.
  return fileURLToPath(new URL('../../', import.meta.url));
}

/** The bundled form of a worker entry (built or found in the cache), or null if it cannot be had. */
export function workerBundle(entry: URL): string | null {
  const path = fileURLToPath(entry);
  const known = resolved.get(path);
  if (known !== undefined) return known;
  let bundle: string | null = null;
  try {
    const root = repoRoot();
    const dir = join(root, 'node_modules', '.cache', 'worker-bundles');
    const key = `${basename(path).replace(/\.[^.]+$/, '')}-${createHash('sha256').update(path).digest('hex').slice(0, 12)}`;
    const manifest = join(dir, `${key}.json`);
    bundle = bundleUpToDate(manifest);
    if (!bundle) {
      mkdirSync(dir, { recursive: true });
      execFileSync(process.execPath, [fileURLToPath(new URL('./bundle.mjs', import.meta.url)), path, join(dir, `${key}.mjs`), manifest], {
        stdio: ['ignore', 'ignore', 'pipe'],
        timeout: 60_000,
        // The build needs no loader (and no preloads meant for the services).
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      bundle = bundleUpToDate(manifest);
      if (!bundle) throw new Error('the bundle was built but its manifest does not match its inputs');
    }
    lastBundleError = null;
  } catch (e) {
    const err = e as Error & { stderr?: Buffer };
    lastBundleError = `${err.message}${err.stderr?.length ? `: ${err.stderr.toString().trim()}` : ''}`;
    bundle = null;
    // Once per process and entry (the result is remembered below): the worker still starts, through
    // tsx, at about twice the start-up CPU; the operator should know why and what to do.
    const why = (err.stderr?.toString().trim() || err.message).split('\n').slice(0, 4).join(' ').slice(0, 600);
    const then = /Build failed/.test(why)
      ? 'tsx will most likely fail on the same source: fix the error named'
      : 'start-up costs more CPU, nothing else changes; check that node_modules/.cache is writable and esbuild is installed (npm ci)';
    process.emitWarning(`worker ${path} runs through tsx: its bundle could not be made (${why}); ${then}.`, { code: 'WORKER_BUNDLE_FALLBACK' });
  }
  resolved.set(path, bundle);
  return bundle;
}

/**
 * Code for `new Worker(code, { eval: true })` that loads `entry` (a TypeScript module): from its
 * bundle when there is one, otherwise through tsx registered in the worker.
 */
export function workerBootstrap(entry: URL, onFailure: LoadFailure = 'post-fatal'): string {
  const bundle = process.env.WORKER_BUNDLES === 'off' ? null : workerBundle(entry);
  const fail = onFailure === 'post-fatal'
    ? `(e) => { require('node:worker_threads').parentPort.postMessage({ t: 'fatal', message: String(e && e.stack || e) }); }`
    : `(e) => { setImmediate(() => { throw e; }); }`;
  if (bundle) {
    // Stack traces name the TypeScript sources (the bundle carries an inline source map).
    return `process.setSourceMapsEnabled(true); import(${JSON.stringify(pathToFileURL(bundle).href)}).catch(${fail});`;
  }
  const tsx = import.meta.resolve('tsx/esm/api');
  return `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry.href)}); }).catch(${fail});`;
}
