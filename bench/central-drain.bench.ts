/**
 * Central alone on the spine's path (issue [spine] (b)): a backlog of device observations is
 * published to the records stream while central is stopped, then central (`central/main.ts`, its
 * own process, SQLite warehouse, every module as deployed) is started and drains it. Nothing else
 * runs meanwhile, so central's cost per record is seen without the edge and the writers beside it
 * (as in the spine bench's (b2), where all three share the cores). Prints, per round: drain rate,
 * central's CPU per 1,000 records (whole process, then by thread), nats-server's CPU per 1,000
 * records delivered, central's mean warehouse batch, peak RSS, and a GC summary when central runs
 * with `--trace-gc-nvp`. Each round adds `--records` to the same warehouse (it grows). Does not
 * write RESULTS.md.
 *
 *   node --import tsx bench/central-drain.bench.ts [--records 100000] [--rounds 1]
 *   BENCH_CENTRAL_NODE_OPTIONS='--trace-gc-nvp' ...            (young-generation GC: pauses, bytes promoted)
 *   BENCH_CENTRAL_NODE_OPTIONS='--cpu-prof --cpu-prof-dir=DIR' ... (profiles, written when central stops)
 *
 * The clinic first registers 2,000 residents (applied, and indexed by the EMPI, before anything
 * is timed); observations go to a random one of them, as in the spine bench. Central's worker
 * threads (analytics, FHIR readers, audit) start, and compile their modules, in the first seconds
 * after it reports ready, which is when the timing starts: a short round (say 20,000 records)
 * carries that cost in its CPU per record; 100,000 or more dilute it.
 */
import Database from 'better-sqlite3';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { centralEnv, spawnProcess, tempDir, type ChildHandle } from '../test/helpers/spine.ts';
import { EdgeStore } from '../edge-agent/store/store.ts';
import { makeBloodPressure, prng } from '../edge-agent/sim/generate.ts';
import { build } from '../central/analytics/testkit.ts';
import { recordTypes, subjects } from '../contracts/index.ts';
import { centralBatches, cpuMs, rssMb, threadCpuMs, threadCpuNote } from './proc-stats.ts';

const arg = (name: string, dflt: number): number => {
  const i = process.argv.indexOf(name);
  const v = i > 0 ? Number(process.argv[i + 1]) : dflt;
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer (got ${process.argv[i + 1]})`);
  return v;
};
const N = arg('--records', 100_000);
const ROUNDS = arg('--rounds', 1);
const RESIDENTS = 2000;
const CLINIC = 'drain-a';
const nodeArgs = (process.env.BENCH_CENTRAL_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
const log = (s: string) => console.log(`[drain] ${s}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Young-generation GC of central, from its `--trace-gc-nvp` lines on stdout. */
class GcTally {
  scavenges = 0;
  pauseMs = 0;
  promoted = 0;
  survived = 0;
  private buf = '';
  watch(c: ChildHandle): void {
    c.proc.stdout!.on('data', (d: Buffer) => {
      this.buf += d.toString();
      for (let i = this.buf.indexOf('\n'); i >= 0; i = this.buf.indexOf('\n')) {
        const line = this.buf.slice(0, i);
        this.buf = this.buf.slice(i + 1);
        const m = /pause=([\d.]+).*?gc=s .*?promoted=(\d+).*?new_space_survived=(\d+)/.exec(line);
        if (!m) continue;
        this.scavenges++;
        this.pauseMs += Number(m[1]);
        this.promoted += Number(m[2]);
        this.survived += Number(m[3]);
      }
    });
  }
}

const tmp = tempDir('central-drain');
await using ns = await startNatsServer();
const startCentral = () => spawnProcess('central/main.ts', centralEnv(ns.url, tmp.dir), nodeArgs);

try {
  let central = await startCentral();
  // A reader of central's warehouse (it holds the file open for writing; WAL lets this reader in).
  const wdb = new Database(`${tmp.dir}/warehouse.db`, { readonly: true, fileMustExist: true });
  const appliedSt = wdb.prepare<[string], { s: number }>('SELECT applied_seq AS s FROM clinic_state WHERE clinic_id = ?');
  const empiSt = wdb.prepare<[string], { s: number }>('SELECT seq AS s FROM empi_cursor WHERE clinic_id = ?');
  const appliedSeq = () => appliedSt.get(CLINIC)?.s ?? 0;
  const empiSeq = () => empiSt.get(CLINIC)?.s ?? 0;
  const store = new EdgeStore(`${tmp.dir}/edge.db`, CLINIC);
  const res = (k: number) => `${CLINIC}-r${String(k).padStart(4, '0')}`;
  store.transact((tx) => {
    for (let k = 0; k < RESIDENTS; k++) {
      const rec = build.resident(res(k), `居民${k}`, `19${String(40 + (k % 60)).padStart(2, '0')}-0${1 + (k % 9)}-1${k % 10}`, k % 2 ? '1' : '2');
      tx.emit('resident', res(k), recordTypes.resident.parse(rec.payload));
    }
  });
  const nc = await connect({ servers: ns.url });
  const js = jetstream(nc);
  let published = 0;
  let after = 0;
  /** Publishes the edge store's outbox from `after` on, as the relay would (same subjects and message ids). */
  const publishOutbox = async () => {
    for (;;) {
      const rows = store.outboxAfter(after, 5000);
      if (!rows.length) return;
      await Promise.all(rows.map((row) => js.publish(subjects.record(CLINIC, row.type), row.envelope, { msgID: `${CLINIC}:${row.seq}` })));
      after = rows.at(-1)!.seq;
      published += rows.length;
    }
  };
  await publishOutbox();
  log(`${RESIDENTS} residents published; waiting until central has applied them and the EMPI has indexed them`);
  while (appliedSeq() < published || empiSeq() < published) await sleep(100);
  const r = prng(3);
  for (let round = 1; round <= ROUNDS; round++) {
    await central.kill('SIGTERM');
    const t0 = performance.now();
    for (let i = 0; i < N; i += 1000) {
      store.transact((tx) => {
        for (let k = 0; k < Math.min(1000, N - i); k++) {
          const [o] = makeBloodPressure(r, res(Math.floor(r() * RESIDENTS)), 'bp-1');
          tx.emit('observation', o!.observationId, o!);
        }
      });
    }
    const base = published;
    await publishOutbox();
    log(`round ${round}/${ROUNDS}: ${published - base} observations written and published while central was stopped (${((performance.now() - t0) / 1000).toFixed(1)} s); starting central`);
    const tStart = performance.now();
    central = await startCentral();
    const gc = new GcTally();
    gc.watch(central);
    const pid = central.proc.pid!;
    const c0 = cpuMs(pid), n0 = cpuMs(ns.pid()), th0 = threadCpuMs(pid), b0 = await centralBatches(central.url);
    const ready = performance.now();
    let lastLog = ready;
    for (let s = appliedSeq(); s < published; s = appliedSeq()) {
      if (performance.now() - lastLog > 2000) {
        lastLog = performance.now();
        log(`  applied ${s - base} of ${published - base}`);
      }
      await sleep(50);
    }
    const secs = (performance.now() - ready) / 1000;
    const n = published - base;
    const perK = (ms: number) => ((ms / n) * 1000).toFixed(0);
    const b1 = await centralBatches(central.url);
    const batch = b0 && b1 && b1.count > b0.count ? ((b1.sum - b0.sum) / (b1.count - b0.count)).toFixed(0) : '?';
    log(`round ${round}: drained ${n} records in ${secs.toFixed(1)} s (central ready ${((ready - tStart) / 1000).toFixed(1)} s after start): ${(n / secs).toFixed(0)} records/s; warehouse batches of ${batch} records on average`);
    log(`  CPU per 1,000 records: central ${perK(cpuMs(pid) - c0)} ms (by thread: ${threadCpuNote(th0, threadCpuMs(pid), n)}), nats-server ${perK(cpuMs(ns.pid()) - n0)} ms; central peak RSS ${rssMb(pid)} MB`);
    if (gc.scavenges > 0) log(`  young-generation GC: ${gc.scavenges} scavenges, ${perK(gc.pauseMs)} ms of pauses per 1,000 records, ${(gc.promoted / n).toFixed(0)} bytes promoted and ${(gc.survived / n).toFixed(0)} copied per record`);
  }
  await nc.close();
  store.close();
  await central.kill('SIGTERM');
  wdb.close();
  log(`done: ${ROUNDS} round(s) of ${N} records; the warehouse holds ${published} records of one clinic`);
} finally {
  tmp.cleanup();
}
