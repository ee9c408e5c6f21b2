import t, { type Test } from 'tap';
import { mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { forgetWorkerBundles, lastBundleError, workerBootstrap, workerBundle } from './ts-worker.ts';

/** Spelled in parts: bundle.mjs rewrites that expression wherever it appears in a bundled source, strings included. */
const META_URL = ['import', 'meta', 'url'].join('.');

/**
 * A worker entry in TypeScript importing a module of its own (which names its file) and a builtin
 * (in a temp directory no package resolves from: the product's workers, which import packages, are
 * covered by their own suites).
 */
function fixture(t: Test, dep = `export const greeting: string = 'v1';`): { dir: string; entry: URL } {
  const dir = mkdtempSync(join(tmpdir(), 'ts-worker-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'package.json'), '{ "type": "module" }\n'); // as the repository's
  writeFileSync(join(dir, 'dep.ts'), `${dep}\nexport const where: string = ${META_URL};\n`);
  writeFileSync(join(dir, 'entry.ts'), `
import { parentPort } from 'node:worker_threads';
import { basename } from 'node:path';
import { greeting, where } from './dep.ts';
interface Reply { greeting: string; where: string; parsed: number }
const reply: Reply = { greeting, where, parsed: basename('/a/b.ts').length * 10 + 2 };
parentPort!.postMessage(reply);
`);
  const entry = pathToFileURL(join(dir, 'entry.ts'));
  t.teardown(() => {
    const b = workerBundle(entry);
    if (b) for (const f of [b, b.replace(/\.mjs$/, '.json')]) rmSync(f, { force: true });
  });
  return { dir, entry };
}

function run(code: string): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true });
    w.once('message', (m) => { resolve(m); void w.terminate(); });
    w.once('error', reject);
    w.once('exit', (c) => reject(new Error(`worker exited (${c}) without answering`)));
  });
}

t.test('a TypeScript worker entry runs from its bundle: its imports and the URL of each module as under tsx', async (t) => {
  const { dir, entry } = fixture(t);
  const bundle = workerBundle(entry);
  t.ok(bundle, `bundled (${lastBundleError ?? 'no error'})`);
  t.match(bundle!, /node_modules\/\.cache\/worker-bundles\/entry-[0-9a-f]{12}\.mjs$/, 'in the cache beside the packages');
  const reply = await run(workerBootstrap(entry)) as { greeting: string; where: string; parsed: number };
  t.same(reply, { greeting: 'v1', where: pathToFileURL(join(dir, 'dep.ts')).href, parsed: 42 }, 'a bundled module\'s URL names its source file, not the bundle');
  const manifest = JSON.parse(readFileSync(bundle!.replace(/\.mjs$/, '.json'), 'utf8')) as { inputs: [string][] };
  t.same(manifest.inputs.map(([p]) => p).sort(), [join(dir, 'dep.ts'), join(dir, 'entry.ts')], 'the manifest lists both sources');
  t.equal(workerBundle(entry), bundle, 'the same bundle for the same entry');

  const throwing = fixture(t, `export const greeting: string = 'v1';\nif (greeting.length) throw new Error('boom at load');`);
  t.ok(workerBundle(throwing.entry), 'bundled');
  const fatal = await run(workerBootstrap(throwing.entry)) as { t: string; message: string };
  t.equal(fatal.t, 'fatal', 'a worker that fails while loading reports it to the host');
  t.match(fatal.message, /boom at load[\s\S]*dep\.ts:2:/, 'its stack names the TypeScript source and line (source map)');
});

t.test('a changed source is bundled again; an unchanged one is not', async (t) => {
  const { dir, entry } = fixture(t);
  const first = workerBundle(entry)!;
  // A build writes a new file and renames it over the old one: a new inode.
  const builtAs = statSync(first).ino;
  forgetWorkerBundles();
  t.equal(workerBundle(entry), first, 'found in the cache');
  t.equal(statSync(first).ino, builtAs, 'not rebuilt');
  writeFileSync(join(dir, 'dep.ts'), `export const greeting: string = 'v2 (longer)';\nexport const where: string = ${META_URL};\n`);
  forgetWorkerBundles();
  workerBundle(entry);
  t.not(statSync(first).ino, builtAs, 'rebuilt');
  t.match(await run(workerBootstrap(entry)), { greeting: 'v2 (longer)' }, 'the new source runs');
  // Same size, new mtime: still rebuilt.
  writeFileSync(join(dir, 'dep.ts'), `export const greeting: string = 'v3 (longer)';\nexport const where: string = ${META_URL};\n`);
  utimesSync(join(dir, 'dep.ts'), new Date(), new Date(Date.now() + 5000));
  forgetWorkerBundles();
  t.match(await run(workerBootstrap(entry)), { greeting: 'v3 (longer)' });
});

t.test('without a bundle (WORKER_BUNDLES=off, or a build that fails) the worker loads its sources through tsx', async (t) => {
  const { entry } = fixture(t);
  process.env.WORKER_BUNDLES = 'off';
  t.teardown(() => { delete process.env.WORKER_BUNDLES; });
  t.match(workerBootstrap(entry), /tsx/, 'the tsx bootstrap');
  t.match(await run(workerBootstrap(entry)), { greeting: 'v1', parsed: 42 });
  delete process.env.WORKER_BUNDLES;

  const broken = fixture(t, `export const greeting: string = ;`);
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  t.teardown(() => { process.off('warning', onWarning); });
  t.equal(workerBundle(broken.entry), null, 'a source esbuild cannot parse: no bundle');
  t.match(lastBundleError, /Unexpected|expected/i, 'and the build error is kept');
  t.equal(workerBundle(broken.entry), null, 'asked again: still none');
  await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
  const fallbacks = warnings.filter((w) => (w as Error & { code?: string }).code === 'WORKER_BUNDLE_FALLBACK');
  t.equal(fallbacks.length, 1, 'one warning for the process, not one per look-up');
  t.match(fallbacks[0]?.message, /entry\.ts runs through tsx.*(Unexpected|expected)/s, 'naming the entry and the build error');
  const fatal = await run(workerBootstrap(broken.entry)) as { t: string; message: string };
  t.equal(fatal.t, 'fatal', 'the worker reports its load failure to the host');
  t.match(fatal.message, /dep\.ts/, 'naming the file');
});
