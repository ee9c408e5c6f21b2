// The TypeScript loader of the test processes and of the Node children tests spawn:
//   node --import ./test/helpers/ts-loader.mjs file.ts
// Why not tsx (which the product's entries and `npm run` scripts use): measured on 2026-12-02,
// loading the edge agent and central from source took 2.0-2.4 CPU-s with `--import tsx` and
// 1.0-1.2 with this loader (the same esbuild transform, cached on disk the same way). tsx's
// hooks resolve every module themselves, packages' modules included (extension probing,
// tsconfig paths, package.json look-ups), each a round trip to Node 20's loader-hooks thread;
// this loader adds no resolve hook and only transforms the repository's .ts/.tsx files. With
// ~150 test files and ~50 spawned central/edge/CLI processes a run, that is about a second of
// CPU each on a CPU-bound 2-core machine.
// What it does not do, and the code base does not need (tsc checks it): extensionless or
// `.js`-for-`.ts` relative imports, tsconfig `paths`, CommonJS `.ts` files.
import { register } from 'node:module';

register('./ts-loader-hooks.mjs', import.meta.url);
