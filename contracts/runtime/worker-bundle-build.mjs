// Builds one worker thread's entry into a single ES module (see ts-worker.ts). Plain JavaScript:
// it runs as `node worker-bundle-build.mjs <entry.ts> <out.mjs> <manifest.json>` without a
// TypeScript loader, only when the cached bundle is missing or one of its inputs changed.
//
// esbuild's synchronous API takes no plugins, and a plugin is needed: `import.meta.url` (and
// `import.meta.dirname` / `filename`) must keep naming each source file, not the bundle, so
// that `new URL('./x', import.meta.url)` in bundled code still finds what it found under tsx.
import { build } from 'esbuild';
import { readFile, rename, stat, writeFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const [entry, out, manifest] = process.argv.slice(2);
if (!entry || !out || !manifest) {
  console.error('usage: node worker-bundle-build.mjs <entry.ts> <out.mjs> <manifest.json>');
  process.exit(2);
}

/** Rewrites import.meta's file-naming properties to the file's own values. */
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
      return { contents, loader: args.path.endsWith('ts') ? 'ts' : 'js', resolveDir: dirname(args.path) };
    });
  },
};

const r = await build({
  entryPoints: [entry],
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Packages stay imports: the bundle lives under node_modules/.cache and finds them as the
  // sources do. Only this repository's TypeScript is bundled.
  packages: 'external',
  // Class and function names as in the sources (errors, logs, constructor.name).
  keepNames: true,
  sourcemap: 'inline',
  metafile: true,
  write: false,
  logLevel: 'silent',
  plugins: [importMetaPlugin],
});
const inputs = [];
for (const p of Object.keys(r.metafile.inputs)) {
  const abs = resolve(p);
  const s = await stat(abs);
  inputs.push([abs, s.mtimeMs, s.size]);
}
const version = JSON.parse(readFileSync(new URL('../../node_modules/esbuild/package.json', import.meta.url), 'utf8')).version;
// Written under temporary names and renamed: test processes started together may build the same
// entry at once, and none may read a half-written bundle or manifest.
const tmp = `.${process.pid}.tmp`;
await writeFile(out + tmp, r.outputFiles[0].contents);
await rename(out + tmp, out);
await writeFile(manifest + tmp, JSON.stringify({ esbuild: version, bundle: out, inputs }));
await rename(manifest + tmp, manifest);
