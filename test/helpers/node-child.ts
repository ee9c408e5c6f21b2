/**
 * Node child processes for tests, started without tap's per-process hook.
 *
 * tap's runner loads @tapjs/processinfo into every test process (an ESM load hook that records
 * which files each process loaded, for coverage and `tap --changed`) and adds it again to the
 * NODE_OPTIONS of every process a test spawns, whatever env the test passes. A central, edge or
 * CLI child has no use for it, and it costs about 1 CPU-s per start (measured: loading the edge
 * agent and central took 3.5 CPU-s without it, 4.6 with it). `/usr/bin/env NODE_OPTIONS=...`
 * replaces the variable after tap has set it and then execs node in the same process, so the
 * pid is node's own (a kill -9 reaches node, not a wrapper).
 */
import { existsSync } from 'node:fs';

const ENV = '/usr/bin/env';

/** NODE_OPTIONS without tap's entries (anything naming @tapjs/). */
export function nodeOptionsWithoutTap(value = process.env.NODE_OPTIONS ?? ''): string {
  return value.split(/\s+/).filter((o) => o && !o.includes('@tapjs/') && !o.includes('@tapjs%2F')).join(' ');
}

/**
 * `--import` of the tests' TypeScript loader (`ts-loader.mjs`: about 1 CPU-s less per start than
 * `--import tsx`), for `node` children that run a .ts entry: `nodeCommand([...TS_IMPORT, entry])`.
 */
export const TS_IMPORT: readonly string[] = ['--import', new URL('./ts-loader.mjs', import.meta.url).href];

/** `spawn(file, args)` for `node <args>` with tap's hook removed from NODE_OPTIONS. */
export function nodeCommand(args: string[]): { file: string; args: string[] } {
  if (!existsSync(ENV)) return { file: process.execPath, args };
  return { file: ENV, args: [`NODE_OPTIONS=${nodeOptionsWithoutTap()}`, process.execPath, ...args] };
}
