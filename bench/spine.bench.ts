/**
 * Spine benchmark (issue [spine]). One run, this machine, real processes:
 *  (a) raw JetStream publish-with-ack rate, same client library and message size
 *  (b) sustained edge-write -> central-applied rate
 *  (c) end-to-end latency p50/p99 at 1,000 records/s offered
 *  (d) time to drain a 100,000-record backlog after a broker outage
 *  (e) dictionary version reaching 2 online edges, p99
 * Writes the "## Spine" section of bench/RESULTS.md.
 */
import { writeFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { loadavg } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import Database from 'better-sqlite3';
import pg from 'pg';
import { startPgCluster } from './pg-cluster.ts';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { centralEnv, edgeEnv, spawnProcess, tempDir, type ChildHandle } from '../test/helpers/spine.ts';
import { pino } from 'pino';
import { EdgeStore } from '../edge-agent/store/store.ts';
import { startEdgeAgent } from '../edge-agent/agent.ts';
import { Relay } from '../edge-agent/sync/relay.ts';
import { receiptSchema, recordTypes, subjects } from '../contracts/index.ts';
import { loadEdgeConfig } from '../edge-agent/config.ts';
import { makeBloodPressure, prng } from '../edge-agent/sim/generate.ts';
import { build } from '../central/analytics/testkit.ts';
import { centralBatches, cpuMs, median, rssMb, threadCpuMs, threadCpuNote } from './proc-stats.ts';
import { writeResultsSection } from './results-file.ts';

const quick = process.argv.includes('--quick');
/** `--only=b` (and `--warehouse=postgres`): (a) and (b2) only, for profiling the spine's path (implies `--no-write`); `--no-write`: leave RESULTS.md alone. */
const pgArg = process.argv.find((a) => a.startsWith('--warehouse=postgres'));
/**
 * `--warehouse=postgres[=URL]`: (a) and (b2) with central on PostgreSQL (issue [central]: ingest
 * through the spine >= 5,000 records/s into each backend). A fresh database is created on the
 * server at URL (default: the machine's PostgreSQL, postgres://postgres@127.0.0.1:5432/postgres;
 * `dedicated`: a cluster of bench/pg-cluster.ts with production settings) and dropped afterwards;
 * printed only.
 */
const pgAdminUrl = pgArg ? (pgArg.split('=')[2] || 'postgres://postgres@127.0.0.1:5432/postgres') : null;
const onlyB = process.argv.includes('--only=b') || pgAdminUrl !== null;
const noWrite = process.argv.includes('--no-write') || onlyB;
/** Extra node options for the central process only, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` (profiles are written when it exits). */
const centralNodeOptions = process.env.BENCH_CENTRAL_NODE_OPTIONS;
const N_B = quick ? 10_000 : 50_000;
/** `--writers=N`: one (b2) run with N concurrent writers (default: three runs, 64, 256 and 1,024). */
const writersArg = process.argv.find((a) => a.startsWith('--writers='));
const WRITERS_ARG = writersArg ? Number(writersArg.slice(10)) : null;
/**
 * `--pairs=N`: N alternating pairs of (a) and (b2) with 1,024 writers on the same broker, each pair's
 * ratio reported (default 5 in a full run, none with `--only=b`). The machine's speed drifts by
 * +-30% over minutes (it is shared): a ratio of two measurements taken seconds apart cancels that drift,
 * where (a) measured once at the start and (b2) minutes later does not.
 */
const pairsArg = process.argv.find((a) => a.startsWith('--pairs='));
const PAIRS = pairsArg ? Number(pairsArg.slice(8)) : quick || onlyB ? 0 : 5;
const N_D = quick ? 20_000 : 100_000;
const LAT_SECONDS = quick ? 5 : 20;
const log = (s: string) => console.log(`[bench] ${s}`);
/**
 * Device observations are spread over this many residents per clinic (registered first, before
 * anything is timed), as a clinic's monitors and workstations measure many patients: central's
 * per-resident analytics work then sees realistic histories instead of one resident with every
 * reading (which made the fact refresh's cost grow with that one resident's history).
 */
const RESIDENTS_PER_CLINIC = 2000;
/** Resident `i` of a clinic (ids are distinct per clinic). */
const residentOf = (clinic: string, i: number) => `${clinic}-r${String(i).padStart(4, '0')}`;
/** A random resident of the clinic for the next reading. */
const anyResident = (r: () => number, clinic: string) => residentOf(clinic, Math.floor(r() * RESIDENTS_PER_CLINIC));

/** Writes the clinic's residents (500 per transaction); they count in the clinic's applied seq. */
async function registerResidents(store: EdgeStore, clinic: string): Promise<number> {
  for (let i = 0; i < RESIDENTS_PER_CLINIC; i += 500) {
    await store.transactAsync((tx) => {
      for (let k = i; k < Math.min(RESIDENTS_PER_CLINIC, i + 500); k++) {
        const rec = build.resident(residentOf(clinic, k), `居民${k}`, `19${String(40 + (k % 60)).padStart(2, '0')}-0${1 + (k % 9)}-1${k % 10}`, k % 2 ? '1' : '2');
        tx.emit('resident', residentOf(clinic, k), recordTypes.resident.parse(rec.payload));
      }
    });
  }
  return RESIDENTS_PER_CLINIC;
}

function pct(a: number[], p: number): number {
  const s = [...a].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

function sampleEnvelope(): string {
  const store = new EdgeStore(':memory:', 'bench-size');
  const [o] = makeBloodPressure(prng(1), residentOf('bench-b', RESIDENTS_PER_CLINIC - 1), 'bp-1');
  store.write('observation', o!.observationId, o!);
  const env = store.outboxAfter(0, 1)[0]!.envelope;
  store.close();
  return env;
}

/** What the bench reads of central's warehouse while it waits: the applied watermark, the EMPI cursor. */
interface Progress {
  applied(clinic: string): Promise<number>;
  empiSeq(clinic: string): Promise<number>;
}

function sqliteProgress(db: Database.Database): Progress {
  const one = (sql: string, clinic: string) => db.prepare<[string], { s: number }>(sql).get(clinic)?.s ?? 0;
  return {
    applied: async (clinic) => one('SELECT applied_seq AS s FROM clinic_state WHERE clinic_id = ?', clinic),
    empiSeq: async (clinic) => one('SELECT seq AS s FROM empi_cursor WHERE clinic_id = ?', clinic),
  };
}

/** A fresh PostgreSQL database for central (created here, dropped by `drop`). */
async function benchDatabase(adminUrl: string): Promise<{ url: string; progress: Progress; drop(): Promise<void> }> {
  const name = `spine_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect().catch((e: Error) => { throw new Error(`--warehouse=postgres: cannot connect to ${adminUrl} (${e.message}); pass --warehouse=postgres=postgres://user@host:port/db of a server where this user may CREATE DATABASE`); });
  await admin.query(`CREATE DATABASE ${name}`);
  const u = new URL(adminUrl);
  u.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: u.toString(), max: 1 });
  const one = async (sql: string, clinic: string) => Number((await pool.query<{ s: string }>(sql, [clinic])).rows[0]?.s ?? 0);
  return {
    url: u.toString(),
    progress: {
      applied: (clinic) => one('SELECT applied_seq AS s FROM clinic_state WHERE clinic_id = $1', clinic),
      empiSeq: (clinic) => one('SELECT seq AS s FROM empi_cursor WHERE clinic_id = $1', clinic),
    },
    async drop() {
      await pool.end();
      await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch((e: Error) => log(`could not drop database ${name}: ${e.message}`));
      await admin.end();
    },
  };
}

async function waitApplied(p: Progress, clinic: string, n: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try { if ((await p.applied(clinic)) >= n) return; } catch { /* warehouse not created yet */ }
    await sleep(20);
  }
  throw new Error(`clinic ${clinic} did not reach ${n} in ${timeoutMs} ms`);
}

/** Central's EMPI has scanned the clinic's records up to `n` (gives up quietly after `timeoutMs`). */
async function waitEmpiScanned(p: Progress, clinic: string, n: number, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    try { if ((await p.empiSeq(clinic)) >= n) return; } catch { /* table not created yet */ }
    await sleep(50);
  }
  log(`EMPI had not scanned ${clinic} up to ${n} after ${timeoutMs} ms: (b2) includes its indexing`);
}

function writeObservations(store: EdgeStore, clinic: string, n: number, seed: number): void {
  const r = prng(seed);
  for (let i = 0; i < n; i++) {
    const [o] = makeBloodPressure(r, anyResident(r, clinic), 'bp-1');
    store.write('observation', o!.observationId, o!);
  }
}

/** Writes in chunks, yielding to the event loop between them (the relay shares the process). */
async function writeObservationsYielding(store: EdgeStore, clinic: string, n: number, seed: number, chunk = 200): Promise<void> {
  const r = prng(seed);
  for (let i = 0; i < n; i += chunk) {
    for (let k = 0; k < chunk && i + k < n; k++) {
      const [o] = makeBloodPressure(r, anyResident(r, clinic), 'bp-1');
      store.write('observation', o!.observationId, o!);
    }
    await new Promise((res) => setImmediate(res));
  }
}

/**
 * One (a) run: `n` publishes with ack, at most 512 in flight (the relay's window); msg/s.
 * `tag` keeps the message ids of different runs apart (the stream deduplicates on them).
 */
async function rawPublishRun(js: ReturnType<typeof jetstream>, env: string, n: number, tag: string): Promise<number> {
  const t0 = performance.now();
  let inflight = 0;
  let i = 0;
  await new Promise<void>((resolve, reject) => {
    const pump = () => {
      while (inflight < 512 && i < n) {
        inflight++;
        const id = i++;
        js.publish(`raw.c.${id % 10}`, env, { msgID: `${tag}:${id}` }).then(() => { inflight--; if (i >= n && inflight === 0) resolve(); else pump(); }, reject);
      }
    };
    pump();
  });
  return n / ((performance.now() - t0) / 1000);
}

async function main() {
  const rows: [string, string, string][] = [];
  const env = sampleEnvelope();
  log(`message size ${Buffer.byteLength(env)} bytes; N(b)=${N_B}, N(d)=${N_D}`);

  // (a) raw JetStream publish-with-ack, pipelined with the relay's window (512) and sequential.
  await using ns = await startNatsServer();
  const nc = await connect({ servers: ns.url });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'RAW', subjects: ['raw.>'] });
  const js = jetstream(nc);
  const rawN = N_B;
  // Three runs, the median used: a single 2-second run on a cold process and a fresh server
  // varied by +-15% between otherwise identical bench runs.
  const rawRates: number[] = [];
  // CPU per message of the broker and of the publisher (this process), to set beside (b2)'s per record.
  const rawCpu0 = { nats: cpuMs(ns.pid()), pub: process.cpuUsage() };
  for (let rep = 0; rep < 3; rep++) rawRates.push(await rawPublishRun(js, env, rawN, `raw${rep}`));
  const rawPub = process.cpuUsage(rawCpu0.pub);
  const rawCpuNote = `CPU per 1,000 messages: nats-server ${((cpuMs(ns.pid()) - rawCpu0.nats) / (3 * rawN) * 1000).toFixed(0)} ms, publisher ${((rawPub.user + rawPub.system) / 1000 / (3 * rawN) * 1000).toFixed(0)} ms`;
  const rawRate = [...rawRates].sort((x, y) => x - y)[1]!;
  let t0 = performance.now();
  for (let k = 0; k < 2000; k++) await js.publish('raw.seq', env, { msgID: `seq:${k}` });
  const seqRate = 2000 / ((performance.now() - t0) / 1000);
  await nc.close();
  log(`(a) raw publish-with-ack: ${rawRate.toFixed(0)}/s pipelined (window 512; median of ${rawRates.map((r) => r.toFixed(0)).join(', ')}), ${seqRate.toFixed(0)}/s one at a time; ${rawCpuNote}`);
  rows.push(['(a) raw JetStream publish-with-ack, window 512', `${rawRate.toFixed(0)} msg/s`, `median of three runs of ${rawN} (${rawRates.map((r) => r.toFixed(0)).join(', ')}); one at a time: ${seqRate.toFixed(0)} msg/s; ${rawCpuNote} (pipelined runs)`]);

  const tmp = tempDir('bench-spine');
  const children: ChildHandle[] = [];
  try {
    const centralDir = `${tmp.dir}/central`;
    // `--warehouse=postgres=dedicated`: a cluster of its own with production settings (as the FHIR bench).
    const pgc = pgAdminUrl === 'dedicated' ? await startPgCluster() : null;
    const pgDb = pgAdminUrl ? await benchDatabase(pgc ? pgc.url : pgAdminUrl) : null;
    if (pgc) log(`dedicated PostgreSQL cluster ${pgc.url}: ${Object.entries(pgc.settings).map(([k, v]) => `${k}=${v}`).join(', ')}`);
    if (pgDb) log(`central's warehouse: PostgreSQL database ${pgDb.url}`);
    const central = await spawnProcess('central/main.ts', { ...centralEnv(ns.url, centralDir), ...(pgDb ? { CENTRAL_WAREHOUSE: 'postgres', CENTRAL_PG_URL: pgDb.url } : {}) }, centralNodeOptions ? centralNodeOptions.split(' ').filter(Boolean) : []);
    children.push(central);
    const wdb = () => new Database(`${centralDir}/warehouse.db`, { readonly: true });

    // (b) sustained rate: the clinic writes N records (one transaction each) while the relay
    // (edge-agent process) and central (its own process) run; until the last one is applied.
    // The clinic's writes happen inside the edge-agent process (UI, device drivers), as in production.
    const b = 'bench-b';
    const agentB = await startEdgeAgent(loadEdgeConfig({ clinicId: b, dataDir: `${tmp.dir}/b`, natsUrl: ns.url, resendAfterMs: 30_000 }, {}), pino({ level: 'warn' }));
    const storeB = agentB.store;
    // Steady state: the relay worker needs a moment to load and connect (reported separately).
    let tr = performance.now();
    await agentB.relay.whenReady();
    const workerStartMs = performance.now() - tr;
    log(`relay mode ${agentB.relay.mode}, ready ${workerStartMs.toFixed(0)} ms after the agent`);
    // With PostgreSQL only (a) and (b2) run, which read central through `progress` alone.
    const db = pgDb ? null : wdb();
    const progress = pgDb ? pgDb.progress : sqliteProgress(db!);
    // The clinic's residents first (not timed).
    const resB = await registerResidents(storeB, b);
    await waitApplied(progress, b, resB, 300_000);
    // Setup, not timed: central's EMPI indexes the new residents in the background; let it finish
    // so (b2) measures the observations, not a one-off indexing of 2,000 residents.
    await waitEmpiScanned(progress, b, resB, 60_000);
    // (b1) one caller, one transaction (one fsync) per record.
    const n1 = onlyB ? 0 : Math.floor(N_B / 5);
    t0 = performance.now();
    await writeObservationsYielding(storeB, b, n1, 3);
    const writeRate1 = n1 / ((performance.now() - t0) / 1000);
    await waitApplied(progress, b, resB + n1, 300_000);
    const spineRate1 = n1 / ((performance.now() - t0) / 1000);
    if (n1 > 0) log(`(b1) sequential: edge writes ${writeRate1.toFixed(0)}/s; edge-write -> central-applied ${spineRate1.toFixed(0)}/s (${((spineRate1 / rawRate) * 100).toFixed(0)}% of (a))`);
    else log('(b1) sequential: skipped (--only=b)');
    rows.push(['(b1) edge write -> central applied, one writer, one fsync per record', `${spineRate1.toFixed(0)} rec/s`, `${(spineRate1 / rawRate).toFixed(2)}x of (a); bounded by the edge disk's fsync rate (edge write alone ${writeRate1.toFixed(0)}/s)`]);
    // (b2) concurrent writers (devices, workstations) with group commit: each caller awaits durability.
    // With 64 closed-loop writers the rate is bounded by the writers themselves (each waits for its
    // group's fsync); with 256 the edge forms the next group while the last one is flushed and
    // offers about what the spine carries; with 1,024 it offers clearly more, so the spine (relay,
    // broker, central) is what limits: its capacity.
    let appliedSoFar = resB + n1;
    const groupCommit = async (writers: number, seed: number) => {
      const r2 = prng(seed);
      let next = 0;
      // CPU per record of each process (the machine is shared: rates vary with its load, CPU time much less).
      const cpu0 = { central: cpuMs(central.proc.pid), edge: process.cpuUsage(), nats: cpuMs(ns.pid()) };
      const threads0 = { central: threadCpuMs(central.proc.pid), edge: threadCpuMs(process.pid) };
      // Transaction sizes: central's warehouse batches (its histogram) and the edge's group commits.
      const batches0 = await centralBatches(central.url);
      let edgeCommits = 0;
      const onWritten = () => { edgeCommits++; };
      storeB.on('written', onWritten);
      // Where the records wait (time averages): written at the edge and not yet published (the
      // relay's backlog), published and not yet applied (the broker's and central's).
      const pub0 = agentB.relay.counters.published, seq0 = storeB.stats().lastSeq, applied0 = await progress.applied(b);
      const waits = { relay: 0, central: 0, n: 0 };
      const sampler = setInterval(() => {
        const written = storeB.stats().lastSeq - seq0, published = agentB.relay.counters.published - pub0;
        void progress.applied(b).then((a) => { waits.relay += Math.max(0, written - published); waits.central += Math.max(0, published - (a - applied0)); waits.n++; });
      }, 200);
      // Monotonic µs, the clock of `--cpu-prof` sample times in every process: profiles can be cut to (b2).
      const windowStartUs = process.hrtime.bigint() / 1000n;
      const t0 = performance.now();
      await Promise.all(Array.from({ length: writers }, async () => {
        while (next < N_B) {
          next++;
          const [o] = makeBloodPressure(r2, anyResident(r2, b), 'bp-1');
          await storeB.transactAsync((tx) => tx.emit('observation', o!.observationId, o!));
        }
      }));
      const writeRate = N_B / ((performance.now() - t0) / 1000);
      appliedSoFar += N_B;
      await waitApplied(progress, b, appliedSoFar, 300_000);
      const spineRate = N_B / ((performance.now() - t0) / 1000);
      const edgeCpu = process.cpuUsage(cpu0.edge);
      storeB.off('written', onWritten);
      clearInterval(sampler);
      const batches1 = await centralBatches(central.url);
      const centralMean = batches1 && batches0 && batches1.count > batches0.count ? ((batches1.sum - batches0.sum) / (batches1.count - batches0.count)).toFixed(0) : '?';
      log(`(b2) ${writers} writers: records per transaction: central mean ${centralMean} (warehouse batches), edge mean ${edgeCommits ? (N_B / edgeCommits).toFixed(0) : '?'} (group commits); records waiting (mean of samples every 200 ms): for the relay ${waits.n ? (waits.relay / waits.n).toFixed(0) : '?'}, published and not yet applied ${waits.n ? (waits.central / waits.n).toFixed(0) : '?'}`);
      log(`(b2) ${writers} writers: CPU per 1,000 records by thread: central ${threadCpuNote(threads0.central, threadCpuMs(central.proc.pid), N_B)}; edge ${threadCpuNote(threads0.edge, threadCpuMs(process.pid), N_B)}`);
      log(`(b2) ${writers} writers: window ${windowStartUs}-${process.hrtime.bigint() / 1000n} (monotonic µs, as --cpu-prof sample times)`);
      const perK = (ms: number) => ((ms / N_B) * 1000).toFixed(0);
      const cpuNote = `CPU per 1,000 records: central ${perK(cpuMs(central.proc.pid) - cpu0.central)} ms, edge process (writers + relay worker) ${perK((edgeCpu.user + edgeCpu.system) / 1000)} ms, nats-server ${perK(cpuMs(ns.pid()) - cpu0.nats)} ms`;
      log(`(b2) group commit, ${writers} writers: edge writes ${writeRate.toFixed(0)}/s; edge-write -> central-applied ${spineRate.toFixed(0)}/s (${((spineRate / rawRate) * 100).toFixed(0)}% of (a)); ${cpuNote}`);
      return { spineRate, writeRate, cpuNote };
    };
    const writerCounts = WRITERS_ARG !== null ? [WRITERS_ARG] : [64, 256, 1024];
    let spineRate = 0;
    const rateNotes: string[] = [];
    for (const [i, writers] of writerCounts.entries()) {
      const r = await groupCommit(writers, 8 + i);
      if (i === 0) spineRate = r.spineRate;
      rateNotes.push(`${r.spineRate.toFixed(0)} rec/s with ${writers} writers`);
      // Which side bounds the run, from what was measured: the writers (each waits for its group's
      // fsync) or the spine (the edge writes clearly faster than central applies).
      const what = r.writeRate > r.spineRate * 1.15
        ? `edge write alone ${r.writeRate.toFixed(0)}/s: the offered load exceeds what the spine carries, so this is its capacity`
        : `edge write alone ${r.writeRate.toFixed(0)}/s: the ${writers} writers' own loop bounds it (each waits for its group's fsync)`;
      rows.push([`(b2) edge write -> central applied, ${writers} concurrent writers, group commit`, `${r.spineRate.toFixed(0)} rec/s`, `${(r.spineRate / rawRate).toFixed(2)}x of (a) (target >= 0.5); ${what}; relay in its worker thread (ready ${workerStartMs.toFixed(0)} ms after start); ${r.cpuNote}`]);
    }
    // (b2p) alternating pairs of (a) and (b2): the ratio of two runs seconds apart (see PAIRS).
    if (PAIRS > 0) {
      const ncP = await connect({ servers: ns.url });
      const jsmP = await jetstreamManager(ncP);
      const ratios: number[] = [];
      const notes: string[] = [];
      for (let k = 0; k < PAIRS; k++) {
        await jsmP.streams.purge('RAW');
        const a = await rawInChild(ns.url, N_B, `pair${k}`);
        const { spineRate: b2 } = await groupCommit(1024, 20 + k);
        ratios.push(b2 / a);
        notes.push(`${(b2 / a).toFixed(2)} (${b2.toFixed(0)} / ${a.toFixed(0)})`);
        log(`(b2p) pair ${k + 1}/${PAIRS}: (a) ${a.toFixed(0)} msg/s, (b2) ${b2.toFixed(0)} rec/s with 1,024 writers: ${(b2 / a).toFixed(2)}x`);
      }
      await ncP.close();
      const sorted = [...ratios].sort((x, y) => x - y);
      const med = median(ratios);
      log(`(b2p) ${PAIRS} pairs: median ${med.toFixed(2)}x (${sorted[0]!.toFixed(2)}-${sorted[sorted.length - 1]!.toFixed(2)})`);
      rows.push([`(b2p) ${PAIRS} alternating pairs: (a) then (b2) with 1,024 writers, seconds apart`, `median ${med.toFixed(2)}x of (a)`, `target >= 0.5; (b2) / (a) per pair, (b2) rec/s / (a) msg/s: ${notes.join(', ')}; (a) in a process of its own (as at the start: a publisher in the bench process, which then holds the edge agent (b), ran ~25% slower) on the same broker as (b), its stream purged before each run`]);
    }
    /** (d) broker outage: N_D records pile up at the edge; seconds from broker restart to all applied. */
    const backlogDrain = async (): Promise<{ drain: number; edgePid: number | undefined }> => {
      // (d) broker outage: N_D records pile up at the edge; time from broker restart to all applied.
      const d = 'bench-d';
      const storeD = new EdgeStore(`${tmp.dir}/d/edge.db`, d);
      const edgeD = await spawnProcess('edge-agent/main.ts', edgeEnv(ns.url, d, `${tmp.dir}/d`, { EDGE_RESEND_AFTER_MS: '30000' }));
      children.push(edgeD);
      const resD = await registerResidents(storeD, d);
      await waitApplied(progress, d, resD, 300_000);
      await ns.stop();
      log(`(d) broker down; writing ${N_D} records at the edge`);
      writeObservations(storeD, d, N_D, 7);
      await ns.restart();
      const t0 = performance.now();
      await waitApplied(progress, d, resD + N_D, 600_000);
      const drain = (performance.now() - t0) / 1000;
      log(`(d) backlog of ${N_D} drained in ${drain.toFixed(1)} s after the broker returned`);
      storeD.close();
      return { drain, edgePid: edgeD.proc.pid };
    };

    if (onlyB) {
      log(`--only=b: stopping after (b2); load average ${loadavg().map((x) => x.toFixed(1)).join(' ')}`);
      await agentB.stop();
      db?.close();
      if (pgDb) {
        const { drain: drainPg } = await backlogDrain();
        log(`into PostgreSQL (${pgAdminUrl}): (b2) edge-write -> central-applied ${rateNotes.join(', ')}; (d) ${N_D} records drained in ${drainPg.toFixed(1)} s = ${(N_D / drainPg).toFixed(0)} rec/s (target from issue [central]: ingest through the spine >= 5,000 records/s into each backend)`);
        await central.kill('SIGTERM');
        await pgDb.drop();
        await pgc?.stop();
      }
      return;
    }

    // (b2m) the same with the relay on the main thread (same publisher), for comparison in this run.
    {
      const m = 'bench-bm';
      const storeM = new EdgeStore(`${tmp.dir}/bm/edge.db`, m);
      const ncM = await connect({ servers: ns.url, inboxPrefix: subjects.inboxPrefix(m) });
      const relayM = new Relay(storeM, ncM, pino({ level: 'warn' }), { resendAfterMs: 30_000 });
      ncM.subscribe(subjects.receipt(m), { callback: (_e, msg) => relayM.onReceipt(receiptSchema.parse(msg.json()).appliedSeq) });
      relayM.start();
      const resM = await registerResidents(storeM, m);
      await waitApplied(progress, m, resM, 300_000);
      const rm = prng(9);
      let nextM = 0;
      t0 = performance.now();
      await Promise.all(Array.from({ length: 64 }, async () => {
        while (nextM < N_B) {
          nextM++;
          const [o] = makeBloodPressure(rm, anyResident(rm, m), 'bp-1');
          await storeM.transactAsync((tx) => tx.emit('observation', o!.observationId, o!));
        }
      }));
      await waitApplied(progress, m, resM + N_B, 300_000);
      const rateM = N_B / ((performance.now() - t0) / 1000);
      log(`(b2m) same, relay on the main thread: ${rateM.toFixed(0)}/s (${((rateM / rawRate) * 100).toFixed(0)}% of (a))`);
      rows.push(['(b2m) as (b2), relay on the main thread', `${rateM.toFixed(0)} rec/s`, `${(rateM / rawRate).toFixed(2)}x of (a); worker / main thread = ${(spineRate / rateM).toFixed(2)}x`]);
      await relayM.stop();
      await ncM.close();
      storeM.close();
    }

    // (c) latency at 1,000 records/s offered (writes inside the edge process, paced every ms),
    // measured from the edge commit (createdAt) to the central commit (applied_at), same clock.
    const c = 'bench-c';
    const agentC = await startEdgeAgent(loadEdgeConfig({ clinicId: c, dataDir: `${tmp.dir}/c`, natsUrl: ns.url, resendAfterMs: 30_000 }, {}), pino({ level: 'warn' }));
    const storeC = agentC.store;
    await agentC.relay.whenReady();
    const resC = await registerResidents(storeC, c);
    await waitApplied(progress, c, resC, 300_000);
    const r = prng(5);
    const start = performance.now();
    let written = 0;
    const pending: Promise<unknown>[] = [];
    while (performance.now() - start < LAT_SECONDS * 1000) {
      const due = Math.floor(performance.now() - start);
      while (written < due) {
        const [o] = makeBloodPressure(r, anyResident(r, c), 'bp-1');
        pending.push(storeC.transactAsync((tx) => tx.emit('observation', o!.observationId, o!)));
        written++;
      }
      await sleep(1);
    }
    await Promise.all(pending);
    await waitApplied(progress, c, resC + written, 60_000);
    const lats = db!.prepare<[string], { ms: number }>("SELECT (julianday(applied_at) - julianday(created_at)) * 86400000.0 AS ms FROM records WHERE clinic_id = ? AND type = 'observation'").all(c).map((x) => x.ms);
    const p50 = pct(lats, 50), p99 = pct(lats, 99);
    log(`(c) ${written} records at 1,000/s: latency p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`);
    rows.push(['(c) edge commit -> central commit at 1,000 rec/s', `p50 ${p50.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms`, `target p99 < 200 ms; ${written} records over ${LAT_SECONDS} s`]);

    const { drain, edgePid: edgeDPid } = await backlogDrain();
    rows.push([`(d) drain a ${N_D.toLocaleString('en')}-record backlog after an outage`, `${drain.toFixed(1)} s`, 'target < 30 s (includes client reconnect)']);

    // (e) dictionary versions reaching both online edges (B and C).
    const token = 'test-token-0123456789';
    const edgeDbs = [`${tmp.dir}/b/edge.db`, `${tmp.dir}/c/edge.db`].map((f) => new Database(f, { readonly: true }));
    const ver = (x: Database.Database) => x.prepare<[], { version: number }>("SELECT version FROM dictionaries WHERE name = 'departments'").get()?.version ?? 0;
    const dictLats: number[] = [];
    for (let k = 0; k < (quick ? 10 : 50); k++) {
      const items = [{ code: 'GP', name: '全科诊室', attrs: { k }, active: true }, { code: `X${k}`, name: `临时科室${k}`, attrs: {}, active: true }];
      const ts = performance.now();
      const res = await fetch(`${central.url}/api/dictionaries/departments`, { method: 'PUT', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ items }) });
      const { version } = (await res.json()) as { version: number };
      while (!edgeDbs.every((x) => ver(x) >= version)) await sleep(2);
      dictLats.push(performance.now() - ts);
    }
    const dp99 = pct(dictLats, 99);
    log(`(e) dictionary version at both edges: p50 ${pct(dictLats, 50).toFixed(0)} ms, p99 ${dp99.toFixed(0)} ms`);
    rows.push(['(e) dictionary version at 2 online edges', `p99 ${dp99.toFixed(0)} ms`, `p50 ${pct(dictLats, 50).toFixed(0)} ms; target p99 < 500 ms; ${dictLats.length} versions; measured from the PUT`]);

    const rss = `central ${rssMb(central.proc.pid)} MB, bench process with edges (b) and (c) ${rssMb(process.pid)} MB, edge (d) ${rssMb(edgeDPid)} MB, nats-server ${rssMb(ns.pid())} MB (peak RSS, VmHWM)`;
    log(`RSS: ${rss}`);
    rows.push(['peak RSS', rss, '']);
    await agentB.stop();
    await agentC.stop();
    for (const x of edgeDbs) x.close();
    db!.close();
  } finally {
    for (const ch of children) await ch.kill('SIGTERM');
    // BENCH_CENTRAL_LOG=<file>: central's log lines (warnings and errors at the default level).
    if (process.env.BENCH_CENTRAL_LOG && children[0]) writeFileSync(process.env.BENCH_CENTRAL_LOG, children[0].output());
    tmp.cleanup();
  }

  const section = [
    '## Spine',
    '',
    `Run ${new Date().toISOString()} on this machine (${quick ? 'quick mode' : 'full'}; load average ${loadavg().map((x) => x.toFixed(1)).join(' ')} at the end): \`npm run bench\`. nats-server 2.9.10 (Debian); central in its own process; edges (b) and (c) in the bench process with their writers (as the clinic UI and device drivers run inside the edge agent), edge (d) in its own process; SQLite WAL everywhere; commits durable before they are acknowledged (synchronous=FULL, except the edge's group commits: COMMIT with synchronous=NORMAL, then an fsync of the WAL on the thread pool before the writers are answered and before the relay may publish the rows). (a) uses the same client library (@nats-io/jetstream 3) and the same ${Buffer.byteLength(env)}-byte envelope.`,
    '',
    '| measure | result | notes |',
    '|---|---|---|',
    ...rows.map(([a, b, c]) => `| ${a} | ${b} | ${c} |`),
    '',
  ].join('\n');
  if (noWrite) { console.log('\n' + section); return; }
  writeResultsSection(section);
  console.log('\n' + section);
}

/**
 * `--raw-child URL N TAG`: one (a) run in a process of its own (the pairs' (a)), printing its rate:
 * the bench process by then hosts the edge agent (b) with a heap of hundreds of MB, which would
 * slow a publisher in it and flatter the pair's ratio.
 */
async function rawChild(url: string, n: number, tag: string): Promise<void> {
  const nc = await connect({ servers: url });
  const rate = await rawPublishRun(jetstream(nc), sampleEnvelope(), n, tag);
  await nc.close();
  console.log(JSON.stringify({ rate }));
}

/** (a) in a child process (see rawChild); resolves to its msg/s. */
function rawInChild(url: string, n: number, tag: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--raw-child', url, String(n), tag], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.on('error', reject);
    child.on('exit', (code) => {
      const m = /\{"rate":([\d.]+)\}/.exec(out);
      if (code === 0 && m) resolve(Number(m[1]));
      else reject(new Error(`(a) child process exited with ${code}: ${out.slice(-300)}`));
    });
  });
}

if (process.argv[2] === '--raw-child') {
  await rawChild(process.argv[3]!, Number(process.argv[4]), process.argv[5]!);
} else {
  main().catch((e) => { console.error(`[bench] failed: ${(e as Error).message}`); process.exit(1); });
}
