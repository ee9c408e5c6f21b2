// One ES module from a TypeScript entry and the repository modules it imports (packages stay
// imports), cached with a manifest of its inputs: how worker threads load their TypeScript entry
// (ts-worker.ts). Plain JavaScript: it runs without a TypeScript loader, as a child process.
//   node contracts/runtime/bundle.mjs <entry.ts> <out.mjs> <manifest.json>
//
// Why a bundle: Node 20 does not carry `--import tsx` into worker threads; a worker registering
// tsx itself starts a loader-hooks thread of its own and sends each of its modules through it
// (a synchronous round trip per resolve and per load). One bundled module loads in about half
// the CPU. esbuild is what tsx transforms with, so the code is the same; its synchronous API takes
// no plugins, hence this asynchronous build in a process of its own.
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * `import.meta.url` (and `dirname` / `filename`) keep naming each source file, not the bundle, so
 * that `new URL('./x', import.meta.url)` and `createRequire(import.meta.url)` in bundled code still
 * find what they found under tsx. A plain text replacement: the same words inside a string or a
 * comment are replaced too (a test that writes them into a fixture spells them in parts).
 */
const importMetaPlugin = {
  name: 'import-meta-of-source',
  setup(b) {
    b.onLoad({ filter: /\.(ts|mts|js|mjs)$/ }, async (args) => {
      if (args.path.includes('/node_modules/')) return undefined;
      const src = await readFile(args.path, 'utf8');
      if (!src.includes('import.meta')) return undefined;
      const contents = src
        .replace(/\bimport\.meta\.url\b/g, JSON.stringify(pathToFileURL(args.path).href))
        .replace(/\bimport\.meta\.dirname\b/g, JSON.stringify(dirname(args.path)))
        .replace(/\bimport\.meta\.filename\b/g, JSON.stringify(args.path));
      return { contents, loader: /\.m?ts$/.test(args.path) ? 'ts' : 'js', resolveDir: dirname(args.path) };
    });
  },
};

let esbuildVersion;
function version() {
  esbuildVersion ??= JSON.parse(readFileSync(new URL('../../node_modules/esbuild/package.json', import.meta.url), 'utf8')).version;
  return esbuildVersion;
}

/** The bundle a manifest names if it and every input are as they were when it was built, else null. */
export function bundleUpToDate(manifestFile) {
  let m;
  try {
    m = JSON.parse(readFileSync(manifestFile, 'utf8'));
  } catch {
    return null;
  }
  try {
    if (m.esbuild !== version()) return null;
    statSync(m.bundle);
    for (const [p, mtime, size] of m.inputs) {
      const s = statSync(p);
      if (s.mtimeMs !== mtime || s.size !== size) return null;
    }
  } catch {
    return null;
  }
  return m.bundle;
}

/**
 * Builds `entry` into `out` (an ES module with an inline source map whose sources are absolute
 * file URLs, so stack traces name the TypeScript files wherever the bundle is loaded from) and
 * writes the manifest. Files are written under temporary names and renamed: processes started
 * together may build the same entry at once, and none may read a half-written file.
 */
export async function buildBundle(entry, out, manifest) {
  // Loaded on a build only: a process that finds its bundles up to date does not load esbuild.
  const { build } = await import('esbuild');
  const r = await build({
    entryPoints: [entry],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // Packages stay imports, resolved from the importing source's place (see the plugin) or,
    // for plain imports, from the bundle's: keep bundles inside the repository.
    packages: 'external',
    // Class and function names as in the sources (errors, logs, constructor.name).
    keepNames: true,
    sourcemap: 'external',
    sourcesContent: false,
    metafile: true,
    write: false,
    logLevel: 'silent',
    plugins: [importMetaPlugin],
  });
  const js = r.outputFiles.find((f) => f.path.endsWith('.mjs') || f.path.endsWith('.js'));
  const mapFile = r.outputFiles.find((f) => f.path.endsWith('.map'));
  const map = JSON.parse(mapFile.text);
  map.sources = map.sources.map((s) => pathToFileURL(resolve(dirname(out), s)).href);
  delete map.sourceRoot;
  const code = js.text.replace(/\n\/\/# sourceMappingURL=.*\n?$/, '\n') + `//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString('base64')}\n`;
  const inputs = [];
  for (const p of Object.keys(r.metafile.inputs)) {
    const abs = resolve(p);
    const s = await stat(abs);
    inputs.push([abs, s.mtimeMs, s.size]);
  }
  const tmp = `.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  await writeFile(out + tmp, code);
  await rename(out + tmp, out);
  await writeFile(manifest + tmp, JSON.stringify({ esbuild: version(), bundle: out, inputs }));
  await rename(manifest + tmp, manifest);
  return out;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const [entry, out, manifest] = process.argv.slice(2);
  if (!entry || !out || !manifest) {
    console.error('usage: node contracts/runtime/bundle.mjs <entry.ts> <out.mjs> <manifest.json>');
    process.exit(2);
  }
  try {
    await buildBundle(resolve(entry), resolve(out), resolve(manifest));
  } catch (e) {
    // esbuild's message names the file, line and error ("Build failed with 1 error:\nx.ts:1:25:
    // ERROR: ..."): that, not the stack, is what the caller passes on.
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  }
}
