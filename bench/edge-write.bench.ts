/**
 * The edge's write path under load (issue [spine] (b2)): observations over 2,000 residents
 * written through `EdgeStore.transactAsync` by W concurrent callers (group commits, each caller
 * awaiting durability), on a store with every module's migrations (the records-by-resident index
 * included). Prints CPU per record (user + system) and bytes the process passed to write() per
 * record, for each WAL auto-checkpoint setting given, in alternating rounds on fresh stores, so
 * the settings see the same machine. Outbox rows are trimmed after each round as receipts would.
 * Does not write RESULTS.md.
 *   node --import tsx bench/edge-write.bench.ts [--records 30000] [--preload 90000] [--writers 1024] [--rounds 3] [--checkpoint 1000,10000]
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgeStore } from '../edge-agent/store/store.ts';
import { edgeModules } from '../edge-agent/modules.ts';
import { makeBloodPressure, prng } from '../edge-agent/sim/generate.ts';
import { median } from './proc-stats.ts';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt;
};
const N = Number(arg('records', '30000'));
const PRELOAD = Number(arg('preload', '90000'));
const W = Number(arg('writers', '1024'));
const ROUNDS = Number(arg('rounds', '3'));
const SETTINGS = arg('checkpoint', '1000,10000').split(',').map(Number);
const bad = [N, W, ROUNDS, ...SETTINGS].some((v) => !Number.isInteger(v) || v <= 0) || !Number.isInteger(PRELOAD) || PRELOAD < 0;
if (bad) {
  console.error('[edge-write] --records, --writers, --rounds and each --checkpoint value take a positive integer, --preload zero or more: see the usage line at the top of bench/edge-write.bench.ts');
  process.exit(2);
}
const RESIDENTS = 2000;
const log = (s: string) => console.log(`[edge-write] ${s}`);
/** Bytes this process passed to write() (Linux /proc: page-cache writes count, as the WAL and checkpoints do). */
const wchar = () => Number(/wchar: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
const residentId = (i: number) => `bench-r${String(i).padStart(4, '0')}`;

async function writeN(store: EdgeStore, n: number, seed: number): Promise<{ rate: number; cpuUs: number; sysUs: number; kb: number }> {
  const r = prng(seed);
  let next = 0;
  const io0 = wchar();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await Promise.all(Array.from({ length: W }, async () => {
    while (next < n) {
      next++;
      const [o] = makeBloodPressure(r, residentId(Math.floor(r() * RESIDENTS)), 'bp-1');
      await store.transactAsync((tx) => tx.emit('observation', o!.observationId, o!));
    }
  }));
  const c = process.cpuUsage(c0);
  const s = (performance.now() - t0) / 1000;
  store.applyReceipt(store.stats().lastSeq);
  return { rate: n / s, cpuUs: (c.user + c.system) / n, sysUs: c.system / n, kb: (wchar() - io0) / 1024 / n };
}

const results = new Map<number, { rate: number; cpuUs: number; sysUs: number; kb: number }[]>(SETTINGS.map((s) => [s, []]));
log(`${N} observations per measurement after ${PRELOAD} unmeasured, ${W} concurrent writers, ${RESIDENTS} residents; WAL auto-checkpoint settings ${SETTINGS.join(', ')} pages (the store runs with SQLite's default, 1,000); ${ROUNDS} alternating rounds`);
for (let round = 1; round <= ROUNDS; round++) {
  for (const pages of SETTINGS) {
    const dir = mkdtempSync(join(tmpdir(), 'edge-write-'));
    try {
      const store = new EdgeStore(join(dir, 'edge.db'), 'bench-a', edgeModules.flatMap((m) => m.migrations ?? []));
      store.db.pragma(`wal_autocheckpoint = ${pages}`);
      // Not measured: the store's first records, so the index by resident has pages to scatter over (a clinic's store holds years).
      for (let done = 0, k = 0; done < PRELOAD; done += N, k++) await writeN(store, Math.min(N, PRELOAD - done), round * 100 + 10 + k);
      const x = await writeN(store, N, round * 100 + 2);
      store.close();
      results.get(pages)!.push(x);
      log(`round ${round}/${ROUNDS}, checkpoint at ${pages} pages: ${x.rate.toFixed(0)} rec/s, CPU ${x.cpuUs.toFixed(1)} µs per record (system ${x.sysUs.toFixed(1)}), ${x.kb.toFixed(2)} KB written per record`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}
log('summary (medians of the rounds):');
for (const [pages, xs] of results) {
  log(`  checkpoint at ${String(pages).padStart(6)} pages: ${median(xs.map((x) => x.rate)).toFixed(0)} rec/s, CPU ${median(xs.map((x) => x.cpuUs)).toFixed(1)} µs per record, ${median(xs.map((x) => x.kb)).toFixed(2)} KB written per record`);
}
