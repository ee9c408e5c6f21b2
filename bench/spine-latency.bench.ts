/**
 * The spine's (c) alone (issue [spine]): latency from the edge commit to the central commit at
 * 1,000 records/s offered, on a fresh nats-server and central, with what else may run beside it:
 *   --register        the clinic's 2,000 residents are registered just before the timed window
 *                     (as `npm run bench` does): central's EMPI indexes them and the edge's HIS
 *                     module fills their search keys while the observations flow
 *   --wait-empi       ... but the window starts only after central's EMPI has indexed them
 *   --other N         another clinic (edge agent in this process) first sends N observations
 *                     (central's warehouse holds them), applied before the window
 *   --seconds S       length of the timed window (20)
 *   --runs R          repeat (fresh servers each time)
 * BENCH_CENTRAL_LOG=FILE keeps central's log (TEST_LOG_LEVEL=info for its info lines),
 * BENCH_CENTRAL_NODE_OPTIONS its node flags. Prints p50/p99/p99.9/max, the seconds in which some record took over 200 ms, and the longest
 * event-loop delay of this process (the edges' main thread). Does not write RESULTS.md.
 *   node --import tsx bench/spine-latency.bench.ts --register [--runs 2]
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { centralEnv, spawnProcess, tempDir } from '../test/helpers/spine.ts';
import { startEdgeAgent } from '../edge-agent/agent.ts';
import { loadEdgeConfig } from '../edge-agent/config.ts';
import { makeBloodPressure, prng } from '../edge-agent/sim/generate.ts';
import { build } from '../central/analytics/testkit.ts';
import { recordTypes } from '../contracts/index.ts';
import { median } from './proc-stats.ts';

const opt = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return dflt;
  const v = Number(process.argv[i + 1]);
  if (!Number.isInteger(v) || v < 0) { console.error(`[latency] --${name} takes a whole number (got ${process.argv[i + 1]}): see the usage at the top of bench/spine-latency.bench.ts`); process.exit(2); }
  return v;
};
const REGISTER = process.argv.includes('--register') || process.argv.includes('--wait-empi');
const WAIT_EMPI = process.argv.includes('--wait-empi');
const OTHER = opt('other', 0);
const SECONDS = opt('seconds', 20);
const RUNS = opt('runs', 1);
const RESIDENTS = 2000;
const log = (s: string) => console.log(`[latency] ${s}`);

async function waitUntil(what: string, ok: () => boolean, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what}: not reached in ${timeoutMs / 1000} s (is central running? see its log above)`);
    await sleep(50);
  }
}

async function run(n: number): Promise<{ p99: number; max: number }> {
  await using ns = await startNatsServer();
  const tmp = tempDir('bench-latency');
  // BENCH_CENTRAL_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=DIR' profiles central (as in spine.bench.ts).
  const central = await spawnProcess('central/main.ts', centralEnv(ns.url, `${tmp.dir}/central`), (process.env.BENCH_CENTRAL_NODE_OPTIONS ?? '').split(' ').filter(Boolean));
  const agents: { stop(): Promise<void> }[] = [];
  try {
    const db = new Database(`${tmp.dir}/central/warehouse.db`, { readonly: true });
    const one = (sql: string, clinic: string) => db.prepare<[string], { s: number }>(sql).get(clinic)?.s ?? 0;
    const applied = (clinic: string) => one('SELECT applied_seq AS s FROM clinic_state WHERE clinic_id = ?', clinic);
    const r = prng(5);
    const residentOf = (clinic: string, i: number) => `${clinic}-r${String(i).padStart(4, '0')}`;
    const edge = async (clinic: string) => {
      const a = await startEdgeAgent(loadEdgeConfig({ clinicId: clinic, dataDir: `${tmp.dir}/${clinic}`, natsUrl: ns.url, resendAfterMs: 30_000 }, {}), pino({ level: 'warn' }));
      agents.push(a);
      await a.relay.whenReady();
      return a;
    };
    if (OTHER > 0) {
      const b = await edge('bench-b');
      const t0 = performance.now();
      for (let i = 0; i < OTHER; i += 1000) {
        await b.store.transactAsync((tx) => {
          for (let k = i; k < Math.min(OTHER, i + 1000); k++) {
            const [o] = makeBloodPressure(r, residentOf('bench-b', Math.floor(r() * RESIDENTS)), 'bp-1');
            tx.emit('observation', o!.observationId, o!);
          }
        });
      }
      await waitUntil(`clinic bench-b's ${OTHER} observations applied`, () => applied('bench-b') >= OTHER, 600_000);
      log(`run ${n}: ${OTHER} observations of another clinic applied in ${((performance.now() - t0) / 1000).toFixed(1)} s (not timed)`);
    }
    const c = 'bench-c';
    const agent = await edge(c);
    const store = agent.store;
    if (REGISTER) {
      for (let i = 0; i < RESIDENTS; i += 500) {
        await store.transactAsync((tx) => {
          for (let k = i; k < i + 500; k++) {
            const rec = build.resident(residentOf(c, k), `居民${k}`, `19${String(40 + (k % 60)).padStart(2, '0')}-0${1 + (k % 9)}-1${k % 10}`, k % 2 ? '1' : '2');
            tx.emit('resident', residentOf(c, k), recordTypes.resident.parse(rec.payload));
          }
        });
      }
      const last = store.stats().lastSeq;
      await waitUntil('the residents applied at central', () => applied(c) >= last, 300_000);
      if (WAIT_EMPI) await waitUntil('central EMPI caught up', () => one('SELECT seq AS s FROM empi_cursor WHERE clinic_id = ?', c) >= last, 300_000);
    }
    const base = store.stats().lastSeq;
    const windowUs = process.hrtime.bigint() / 1000n;
    const loop = monitorEventLoopDelay({ resolution: 5 });
    loop.enable();
    const start = performance.now();
    let written = 0;
    const pending: Promise<unknown>[] = [];
    while (performance.now() - start < SECONDS * 1000) {
      const due = Math.floor(performance.now() - start);
      while (written < due) {
        const [o] = makeBloodPressure(r, residentOf(c, Math.floor(r() * RESIDENTS)), 'bp-1');
        pending.push(store.transactAsync((tx) => tx.emit('observation', o!.observationId, o!)));
        written++;
      }
      await sleep(1);
    }
    loop.disable();
    await Promise.all(pending);
    await waitUntil('every timed record applied', () => applied(c) >= base + written, 120_000);
    const lats = db.prepare<[string, number], { ms: number }>("SELECT (julianday(applied_at) - julianday(created_at)) * 86400000.0 AS ms FROM records WHERE clinic_id = ? AND type = 'observation' AND seq > ?").all(c, base).map((x) => x.ms).sort((a, b) => a - b);
    const pct = (p: number) => lats[Math.min(lats.length - 1, Math.floor((p / 100) * lats.length))]!;
    const slow = db.prepare<[string, number], { at: string; ms: number }>("SELECT substr(created_at, 12, 8) AS at, max((julianday(applied_at) - julianday(created_at)) * 86400000.0) AS ms FROM records WHERE clinic_id = ? AND type = 'observation' AND seq > ? GROUP BY 1 HAVING ms > 200 ORDER BY 1").all(c, base);
    db.close();
    log(`run ${n}: ${written} records at 1,000/s${REGISTER ? (WAIT_EMPI ? ', after 2,000 residents indexed by EMPI' : ', right after 2,000 residents registered') : ''}: p50 ${pct(50).toFixed(0)} ms, p99 ${pct(99).toFixed(0)} ms, p99.9 ${pct(99.9).toFixed(0)} ms, max ${lats[lats.length - 1]!.toFixed(0)} ms; seconds with a record over 200 ms: ${slow.length ? slow.map((x) => `${x.at} (${x.ms.toFixed(0)} ms)`).join(', ') : 'none'}; edges' event-loop delay max ${(loop.max / 1e6).toFixed(0)} ms; window ${windowUs}-${windowUs + BigInt(SECONDS) * 1_000_000n} (monotonic µs, as --cpu-prof sample times)`);
    return { p99: pct(99), max: lats[lats.length - 1]! };
  } finally {
    for (const a of agents) await a.stop().catch(() => undefined);
    await central.kill('SIGTERM');
    // BENCH_CENTRAL_LOG=<file>: central's log lines of the last run (LOG_LEVEL comes from TEST_LOG_LEVEL, default warn).
    if (process.env.BENCH_CENTRAL_LOG) writeFileSync(process.env.BENCH_CENTRAL_LOG, central.output());
    tmp.cleanup();
  }
}

const results: { p99: number; max: number }[] = [];
for (let n = 1; n <= RUNS; n++) results.push(await run(n));
if (RUNS > 1) log(`${RUNS} runs: p99 median ${median(results.map((x) => x.p99)).toFixed(0)} ms (${results.map((x) => x.p99.toFixed(0)).join(', ')}), max ${results.map((x) => x.max.toFixed(0)).join(', ')} ms`);
process.exit(0);
