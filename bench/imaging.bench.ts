/**
 * Imaging benchmark (issue 5). storescu sends the same 300 files of about 512 KB to the
 * edge agent (all modules, imaging SCP + SQLite index + order matching, forwarder paused; its own
 * process), to the bare edge SCP (device-drivers/dicom, fsync on, onInstance resolving at once)
 * and to Orthanc (Debian package, temp config on loopback, SQLite index, SyncStorageArea on),
 * one association and four in parallel. TCP_NODELAY=1 is set for storescu and Orthanc
 * (Debian's DCMTK and Orthanc leave Nagle on otherwise); the edge SCP sets no-delay itself.
 * Each server is started fresh (empty storage) for each run; best of N runs is reported.
 * Then one forwarding run: the edge agent (in this process, imaging module on, upload token
 * minted with contracts/clinic-token.ts) forwards to a real central (child process, NATS):
 * storescu's time to the edge, the time until central's index (QIDO-RS) holds every instance,
 * and central's peak RSS.
 * Prints a table and writes the "## Imaging" section of bench/RESULTS.md.
 *
 *   node --import tsx bench/imaging.bench.ts [--quick] [--forward-only] [--only agent,orthanc,edge,edge-nofsync] [--modes 1,4] [--cpu-prof-dir DIR] [--reps N] [--warmup N] [--loop-stats] [--thread-stats] [--no-results]
 * --quick: 60 files, one run per target. --forward-only runs just the forwarding step and prints it;
 * --only / --modes measure a subset and print it (RESULTS.md is left alone in all three cases).
 * --reps N: runs per target and mode (default 3, 1 with --quick).
 * --warmup N: before each timed run every server takes N files of another study, untimed, on as
 * many associations (steady state instead of a fresh process's first second; default 0).
 * --no-results: the full run (with forwarding), printed only; RESULTS.md is left alone.
 * --cpu-prof-dir: the edge children write V8 CPU profiles there.
 * --loop-stats: the edge agent child reports its main thread's event-loop utilisation and
 * event-loop delay (monitorEventLoopDelay, 1 ms resolution) from its first association to its last stored instance.
 * --thread-stats: the edge children's CPU per instance by thread (main, workers, libuv's pool, V8's platform threads).
 * EDGE_DICOM_STORE_WORKER (the agent's default, off, unless set) is passed to the edge agent child: =eager measures with the store worker.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { monitorEventLoopDelay, performance, type EventLoopUtilization } from 'node:perf_hooks';
import { startDicomScp } from '../device-drivers/dicom/index.ts';
import { buildPart10 } from '../device-drivers/dicom/test-support/dataset-builder.ts';
import { median } from './proc-stats.ts';
import { writeResultsSection } from './results-file.ts';

const THIS = fileURLToPath(import.meta.url);
const ROOT = join(THIS, '..', '..');
const quick = process.argv.includes('--quick');
const forwardOnly = process.argv.includes('--forward-only');
const noResults = process.argv.includes('--no-results');
const loopStats = process.argv.includes('--loop-stats');
const threadStats = process.argv.includes('--thread-stats');
const FILES = quick ? 60 : 300;
/** --warmup N: every server first takes N other files (another study), untimed, on the same number of associations: its steady state, not its first second. */
const WARMUP = process.argv.includes('--warmup') ? Number(process.argv[process.argv.indexOf('--warmup') + 1]) : 0;
const REPS = process.argv.includes('--reps') ? Number(process.argv[process.argv.indexOf('--reps') + 1]) : quick ? 1 : 3;
const CALLING_AE = 'BENCH_SCU';
const log = (s: string) => console.log(`[bench] ${s}`);

// ------------------------------------------------------------------ child: the edge SCP
async function childScp(storageDir: string, fsync: boolean): Promise<void> {
  const scp = await startDicomScp({
    fsync,
    aeTitle: 'EDGE_SCP',
    host: '127.0.0.1',
    port: 0,
    storageDir,
    maxAssociations: 8,
    lookupDevice: (ae, host) => (ae === CALLING_AE ? { aeTitle: ae, host, port: 0, modality: 'US', enabled: true } : null),
    onInstance: async () => {},
  });
  console.log(JSON.stringify({ port: scp.port }));
  await new Promise<void>((r) => process.stdin.on('end', () => r()).resume());
  console.error(JSON.stringify(scp.counters));
  await scp.close();
}

// ------------------------------------------------------------------ child: the whole edge agent
/**
 * The edge agent as a clinic runs it (every module, the imaging module's SCP with its SQLite
 * index, order matching against seeded orders, spine records to a real nats-server), in its own
 * process so that its CPU is its own. No central URL: the forwarder is paused (instances stay
 * `pending`), as Orthanc forwards nothing either.
 */
async function childAgent(dataDir: string, natsUrl: string): Promise<void> {
  const { edgeInProcess, clinicName } = await import('../test/helpers/spine.ts');
  const { imaging, imagingEnv } = await import('../test/imaging/fixtures.ts');
  imagingEnv({ AE_TITLE: 'EDGE_AGENT', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: undefined, UPLOAD_TOKEN: undefined, CENTRAL_TOKEN: undefined });
  const edge = await edgeInProcess(natsUrl, clinicName('imgbench'), dataDir);
  const img = imaging(edge);
  img.repo.addDevice({ aeTitle: CALLING_AE, host: '127.0.0.1', port: 104, modality: 'US', enabled: true });
  // A clinic's 90 days of imaging orders (~17 a day), none of which matches the bench's study:
  // every instance is matched again (the unmatched case, the dearest one). Inserted as rows, not
  // emitted, so that the spine relay has no backlog to publish during the measurement.
  const orderRow = (i: number) => {
    const day = new Date(Date.now() - (i % 90) * 86_400_000);
    const date = day.toISOString().slice(0, 10).replaceAll('-', '');
    const modality = i % 3 === 0 ? 'DX' : 'US';
    const orderId = `bench-order-${i}`;
    const accessionNumber = `${date.slice(2)}${modality}${String(i + 1).padStart(8, '0')}`;
    const payload = { orderId, residentId: `bench-resident-${i % 700}`, kind: 'imaging', code: 'US-ABD', display: '腹部超声', status: i % 90 < 2 ? 'scheduled' : 'completed', requestedAt: day.toISOString(), accessionNumber, modality };
    return [orderId, payload.residentId, accessionNumber, `2.25.${Date.now()}${i}`, modality, payload.code, payload.display, null, date, null, payload.status, 'bench', JSON.stringify(payload), day.toISOString()];
  };
  const insert = edge.store.db.prepare(`INSERT INTO imaging_orders (order_id, resident_id, accession_number, study_instance_uid, modality, code, display, station_ae, scheduled_date, scheduled_time, status, requested_by, payload, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`);
  edge.store.db.transaction(() => { for (let i = 0; i < 1500; i++) insert.run(...orderRow(i)); })();
  console.log(JSON.stringify({ port: img.scp!.port }));
  const loop = process.env.IMAGING_BENCH_LOOP_STATS ? watchLoop(() => img.scp!.counters) : null;
  await new Promise<void>((r) => process.stdin.on('end', () => r()).resume());
  if (loop) console.log(`LOOP ${JSON.stringify(loop())}`);
  console.error(JSON.stringify({ ...img.scp!.counters, indexed: img.repo.forwardStats() }));
  await edge.stop();
}

interface LoopStats {
  /** Share of wall time the main thread was busy (not waiting in the event loop). */
  utilisation: number;
  busyMs: number;
  wallMs: number;
  /** Event-loop delay: how long a timer due now waited (blocking by sync work and fsyncs on the main thread). */
  delayP50Ms: number;
  delayP99Ms: number;
  delayMaxMs: number;
}

/** Main-thread figures from the first accepted association to the last stored instance. */
function watchLoop(counters: () => { associationsAccepted: number; storesOk: number }): () => LoopStats | null {
  const h = monitorEventLoopDelay({ resolution: 1 });
  let start: { elu: EventLoopUtilization; t: number } | null = null;
  let end: { elu: EventLoopUtilization; t: number } | null = null;
  let lastOk = 0;
  const poll = setInterval(() => {
    const c = counters();
    if (!start && c.associationsAccepted > 0) {
      start = { elu: performance.eventLoopUtilization(), t: performance.now() };
      h.reset();
      h.enable();
    }
    if (start && c.storesOk !== lastOk) {
      lastOk = c.storesOk;
      end = { elu: performance.eventLoopUtilization(), t: performance.now() };
    }
  }, 5);
  return () => {
    clearInterval(poll);
    h.disable();
    if (!start || !end) return null;
    const d = performance.eventLoopUtilization(end.elu, start.elu);
    const ms = (ns: number) => Math.round(ns / 1e4) / 100;
    return { utilisation: Math.round(d.utilization * 1000) / 1000, busyMs: Math.round(d.active), wallMs: Math.round(end.t - start.t), delayP50Ms: ms(h.percentile(50)), delayP99Ms: ms(h.percentile(99)), delayMaxMs: ms(h.max) };
  };
}

// ------------------------------------------------------------------ helpers
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => resolve(typeof a === 'object' && a ? a.port : 0));
    });
  });
}

/** CPU time (user + system, all threads) of a process so far, in ms (CLK_TCK = 100). */
function cpuMs(pid: number): number {
  const t = cpuTimes(pid);
  return t.user + t.sys;
}

/** User and system CPU time of a process so far, in ms. */
function cpuTimes(pid: number): { user: number; sys: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return { user: Number(rest[11]) * 10, sys: Number(rest[12]) * 10 };
}

/** CPU (user + system, ms) of this process's children that have exited and been waited for: the storescu clients of a run. */
function reapedChildrenCpuMs(): number {
  const f = readFileSync('/proc/self/stat', 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[13]) + Number(rest[14])) * 10;
}

/** User + system CPU of the main thread (tid = pid) so far, in ms: the edge's event loop, apart from its workers and libuv's pool. */
function mainThreadCpuMs(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/task/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    return (Number(rest[11]) + Number(rest[12])) * 10;
  } catch {
    return NaN;
  }
}

/** --thread-stats: CPU (user + system, ms) of every thread so far, by tid, with its name. */
function threadCpu(pid: number): Map<number, { name: string; ms: number; user: number }> {
  const out = new Map<number, { name: string; ms: number; user: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const name = f.slice(f.indexOf('(') + 1, f.lastIndexOf(')'));
      const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
      out.set(Number(tid), { name, ms: (Number(rest[11]) + Number(rest[12])) * 10, user: Number(rest[11]) * 10 });
    } catch {
      // the thread ended meanwhile
    }
  }
  return out;
}

/** Per-instance CPU by thread group between two threadCpu() snapshots: main, the busiest other threads, the rest summed by name. */
function threadBreakdown(pid: number, a: Map<number, { name: string; ms: number; user: number }>, b: Map<number, { name: string; ms: number; user: number }>, n: number): string {
  // Threads that used >= 0.3 ms per instance by tid (main, workers), the rest summed (libuv's pool, V8's platform threads: all named "node" here).
  const groups = new Map<string, { ms: number; user: number }>();
  for (const [tid, x] of b) {
    const ms = x.ms - (a.get(tid)?.ms ?? 0);
    const user = x.user - (a.get(tid)?.user ?? 0);
    const key = tid === pid ? 'main' : ms / n >= 0.3 ? `thread ${tid}` : 'the other threads';
    const g = groups.get(key) ?? { ms: 0, user: 0 };
    groups.set(key, { ms: g.ms + ms, user: g.user + user });
  }
  return [...groups].sort((x, y) => y[1].ms - x[1].ms).map(([k, g]) => `${k} ${(g.ms / n).toFixed(2)} (user ${(g.user / n).toFixed(2)})`).join(', ');
}

/** Peak resident set (VmHWM) of a process, in MB. */
function peakRssMb(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Math.round(Number(m[1]) / 1024) : NaN;
}

function countFiles(dir: string, suffix = ''): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((d) => d.isFile() && d.name.endsWith(suffix)).length;
}

interface Server {
  name: string;
  aeTitle: string;
  port: number;
  pid: number;
  stored(): Promise<number>;
  stop(): Promise<void>;
  /** --loop-stats: the edge agent's main-thread figures, known after stop(). */
  loop?: LoopStats | null;
}

function waitExit(c: ChildProcess): Promise<void> {
  return c.exitCode !== null ? Promise.resolve() : new Promise((r) => c.once('exit', () => r()));
}

const profDir = (() => {
  const i = process.argv.indexOf('--cpu-prof-dir');
  return i > 0 ? process.argv[i + 1] : undefined;
})();

function spawnChild(args: string[], extraEnv: Record<string, string> = {}): ChildProcess {
  // UV_THREADPOOL_SIZE: file writes and fsyncs of parallel associations share libuv's pool
  // (default 4); the README recommends 16 for the edge process.
  const prof = profDir ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : [];
  return spawn(process.execPath, [...prof, '--import', 'tsx', THIS, ...args], { cwd: ROOT, env: { ...process.env, UV_THREADPOOL_SIZE: '16', ...extraEnv }, stdio: ['pipe', 'pipe', 'ignore'] });
}

function childPort(c: ChildProcess, what: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    let buf = '';
    c.stdout!.on('data', (d: Buffer) => {
      buf += d.toString();
      const line = buf.split('\n').find((l) => l.startsWith('{'));
      if (line) resolve((JSON.parse(line) as { port: number }).port);
    });
    c.once('exit', (code) => reject(new Error(`${what} exited with ${code}`)));
  });
}

async function stopChild(c: ChildProcess): Promise<void> {
  c.stdin!.end();
  const t = setTimeout(() => c.kill('SIGKILL'), 20_000);
  await waitExit(c);
  clearTimeout(t);
}

async function startAgent(dir: string): Promise<Server> {
  const { startNatsServer } = await import('../test/helpers/nats-server.ts');
  const ns = await startNatsServer();
  const data = join(dir, 'edge');
  mkdirSync(data, { recursive: true });
  const c = spawnChild(['--agent', data, ns.url], { EDGE_DICOM_STUDY_RECORD_QUIET_MS: '2000', EDGE_DICOM_INDEX_WORKER: 'eager', ...(process.env.EDGE_DICOM_STORE_WORKER ? { EDGE_DICOM_STORE_WORKER: process.env.EDGE_DICOM_STORE_WORKER } : {}), ...(loopStats ? { IMAGING_BENCH_LOOP_STATS: '1' } : {}) });
  let out = '';
  c.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  let port: number;
  try {
    port = await childPort(c, 'edge agent');
  } catch (e) {
    await ns[Symbol.asyncDispose]();
    throw e;
  }
  const server: Server = {
    name: 'edge agent',
    aeTitle: 'EDGE_AGENT',
    port,
    pid: c.pid!,
    async stored() {
      // the index is the measure: rows in imaging_instances, and the files they point at
      const { default: Database } = await import('better-sqlite3');
      const db = new Database(join(data, 'edge.db'), { readonly: true, fileMustExist: true });
      try {
        const rows = (db.prepare('SELECT count(*) AS n FROM imaging_instances').get() as { n: number }).n;
        const files = countFiles(join(data, 'dicom'), '.dcm');
        return Math.min(rows, files);
      } finally {
        db.close();
      }
    },
    async stop() {
      try {
        await stopChild(c);
        const line = out.split('\n').find((l) => l.startsWith('LOOP '));
        server.loop = line ? (JSON.parse(line.slice(5)) as LoopStats | null) : null;
      } finally {
        await ns[Symbol.asyncDispose]();
      }
    },
  };
  return server;
}

async function startEdge(dir: string, fsync: boolean): Promise<Server> {
  const store = join(dir, 'store');
  const c = spawnChild(['--scp', store, fsync ? 'fsync' : 'no-fsync']);
  const port = await childPort(c, 'edge SCP');
  return {
    name: 'edge SCP',
    aeTitle: 'EDGE_SCP',
    port,
    pid: c.pid!,
    stored: async () => countFiles(store, '.dcm'),
    stop: () => stopChild(c),
  };
}

async function startOrthanc(dir: string): Promise<Server> {
  const [dicomPort, httpPort] = [await freePort(), await freePort()];
  const config = {
    Name: 'bench-orthanc',
    StorageDirectory: join(dir, 'orthanc-db'),
    IndexDirectory: join(dir, 'orthanc-db'),
    StorageCompression: false,
    Plugins: [],
    HttpServerEnabled: true,
    HttpPort: httpPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomServerEnabled: true,
    DicomAet: 'ORTHANC',
    DicomPort: dicomPort,
    DicomCheckCalledAet: false,
    DicomAlwaysAllowStore: true,
    DicomThreadsCount: 4,
    SyncStorageArea: true,
  };
  const cfg = join(dir, 'orthanc.json');
  writeFileSync(cfg, JSON.stringify(config, null, 2));
  const logFile = join(dir, 'orthanc.log');
  const c = spawn('/usr/sbin/Orthanc', [cfg, `--logfile=${logFile}`], { env: { ...process.env, TCP_NODELAY: '1' }, stdio: 'ignore' });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (c.exitCode !== null) throw new Error(`Orthanc exited with ${c.exitCode}: ${existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : ''}`);
    try {
      const r = await fetch(`http://127.0.0.1:${httpPort}/system`);
      if (r.ok) break;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error('Orthanc did not start in 30 s');
    await sleep(100);
  }
  return {
    name: 'Orthanc',
    aeTitle: 'ORTHANC',
    port: dicomPort,
    pid: c.pid!,
    async stored() {
      const r = await fetch(`http://127.0.0.1:${httpPort}/statistics`);
      return ((await r.json()) as { CountInstances: number }).CountInstances;
    },
    async stop() {
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
      await waitExit(c);
      clearTimeout(t);
    },
  };
}

function storescu(s: Server, files: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn('storescu', ['-aet', CALLING_AE, '-aec', s.aeTitle, '127.0.0.1', String(s.port), ...files], { env: { ...process.env, TCP_NODELAY: '1' }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    c.on('error', reject);
    c.on('exit', (code) => resolve({ code, stderr }));
  });
}

interface RunResult {
  seconds: number;
  cpuMsPerInstance: number;
  /** The user-space part of cpuMsPerInstance (the rest is the kernel's: copies into the page cache, fsync, TCP). */
  userMsPerInstance: number;
  /** The main thread's part of cpuMsPerInstance (user + system). */
  mainMsPerInstance: number;
  /** storescu's CPU per instance (user + system, all its processes of the run). */
  clientMsPerInstance: number;
  perSecond: number;
  mbPerSecond: number;
  rssMb: number;
  loop?: LoopStats | null;
}

type Kind = 'agent' | 'edge' | 'orthanc' | 'edge-nofsync';
const LABEL: Record<Kind, string> = {
  agent: 'edge agent (imaging module, SQLite index, forwarder paused)',
  edge: 'edge SCP alone (device-drivers/dicom, no-op onInstance)',
  orthanc: 'Orthanc 1.10.1',
  'edge-nofsync': 'edge SCP, fsync off (reference only)',
};
/** `--only agent,orthanc` measures a subset; `--modes 1` or `--modes 4` one mode. */
const argList = (flag: string): string[] | null => {
  const i = process.argv.indexOf(flag);
  return i > 0 ? process.argv[i + 1]!.split(',') : null;
};

async function measure(kind: Kind, files: string[], parallel: number, bytes: number, warm: string[] = []): Promise<RunResult> {
  const dir = mkdtempSync(join(tmpdir(), `imaging-bench-${kind}-`));
  try {
    const s = kind === 'orthanc' ? await startOrthanc(dir) : kind === 'agent' ? await startAgent(dir) : await startEdge(dir, kind === 'edge');
    try {
      const groups = Array.from({ length: parallel }, (_, g) => files.filter((_, i) => i % parallel === g));
      if (warm.length) {
        const warmGroups = Array.from({ length: parallel }, (_, g) => warm.filter((_, i) => i % parallel === g));
        for (const r of await Promise.all(warmGroups.map((g) => storescu(s, g)))) if (r.code !== 0) throw new Error(`warm-up storescu to ${s.name} failed (${r.code}): ${r.stderr.slice(-800)}`);
      }
      const cpu0 = cpuTimes(s.pid);
      const main0 = mainThreadCpuMs(s.pid);
      const threads0 = threadStats && kind !== 'orthanc' ? threadCpu(s.pid) : null;
      const client0 = reapedChildrenCpuMs();
      const t0 = performance.now();
      const results = await Promise.all(groups.map((g) => storescu(s, g)));
      const seconds = (performance.now() - t0) / 1000;
      const clientMsPerInstance = (reapedChildrenCpuMs() - client0) / files.length;
      const cpu1 = cpuTimes(s.pid);
      const mainMsPerInstance = (mainThreadCpuMs(s.pid) - main0) / files.length;
      if (threads0) log(`${kind} x${parallel} CPU ms/instance by thread: ${threadBreakdown(s.pid, threads0, threadCpu(s.pid), files.length)}`);
      const cpuMsPerInstance = (cpu1.user + cpu1.sys - cpu0.user - cpu0.sys) / files.length;
      const userMsPerInstance = (cpu1.user - cpu0.user) / files.length;
      for (const r of results) if (r.code !== 0) throw new Error(`storescu to ${s.name} failed (${r.code}): ${r.stderr.slice(-800)}`);
      const stored = await s.stored();
      if (stored !== files.length + warm.length) throw new Error(`${s.name} holds ${stored} instances, expected ${files.length + warm.length}`);
      const r: RunResult = { seconds, cpuMsPerInstance, userMsPerInstance, mainMsPerInstance, clientMsPerInstance, perSecond: files.length / seconds, mbPerSecond: bytes / 1048576 / seconds, rssMb: peakRssMb(s.pid) };
      await s.stop();
      r.loop = s.loop;
      return r;
    } catch (e) {
      await s.stop();
      throw e;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function best(rs: RunResult[]): RunResult {
  return rs.reduce((a, b) => (b.perSecond > a.perSecond ? b : a));
}

function writeResults(section: string): void {
  writeResultsSection(section);
}

// ------------------------------------------------------------------ forwarding to central
interface ForwardResult {
  toEdgeSeconds: number;
  completeSeconds: number;
  centralRssMb: number;
  centralCpuMsPerInstance: number;
}

/**
 * The edge agent (in this process, as the imaging tests run it) with its SCP and forwarder,
 * central as a child process (so its RSS is its own). t0 is storescu's start (its first
 * C-STORE follows the association within milliseconds); "complete" is the first QIDO-RS poll
 * (every 100 ms) where central's index counts all the study's instances.
 */
async function measureForward(files: string[], study: string): Promise<ForwardResult> {
  // Imported here so that the edge SCP child (this file with --scp) stays light.
  const { startNatsServer } = await import('../test/helpers/nats-server.ts');
  const { centralEnv, clinicName, edgeInProcess, spawnProcess } = await import('../test/helpers/spine.ts');
  const { imaging, imagingEnv } = await import('../test/imaging/fixtures.ts');
  const { clinicToken } = await import('../contracts/clinic-token.ts');
  const dir = mkdtempSync(join(tmpdir(), 'imaging-bench-forward-'));
  const ns = await startNatsServer();
  try {
    const env = centralEnv(ns.url, join(dir, 'central'));
    const apiToken = env.CENTRAL_API_TOKEN!;
    const central = await spawnProcess('central/main.ts', env);
    try {
      const clinic = clinicName('imgbench');
      imagingEnv({ AE_TITLE: 'EDGE_FWD', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: central.url, UPLOAD_TOKEN: clinicToken(apiToken, clinic) });
      const edge = await edgeInProcess(ns.url, clinic, join(dir, 'edge'));
      try {
        const img = imaging(edge);
        img.repo.addDevice({ aeTitle: CALLING_AE, host: '127.0.0.1', port: 104, modality: 'US', enabled: true });
        const target: Server = { name: 'edge agent', aeTitle: 'EDGE_FWD', port: img.scp!.port, pid: process.pid, stored: async () => 0, stop: async () => {} };
        const count = async (): Promise<number> => {
          const r = await fetch(`${central.url}/api/imaging/dicomweb/studies?StudyInstanceUID=${study}`, { headers: { authorization: `Bearer ${apiToken}` } });
          if (!r.ok) throw new Error(`QIDO-RS at central: HTTP ${r.status} ${await r.text()}`);
          const studies = (await r.json()) as { '00201208'?: { Value?: (number | string)[] } }[];
          return Number(studies[0]?.['00201208']?.Value?.[0] ?? 0);
        };
        const cpu0 = cpuMs(central.proc.pid!);
        const t0 = performance.now();
        const r = await storescu(target, files);
        const toEdgeSeconds = (performance.now() - t0) / 1000;
        if (r.code !== 0) throw new Error(`storescu to the edge agent failed (${r.code}): ${r.stderr.slice(-800)}`);
        const deadline = Date.now() + 600_000;
        let n = 0;
        while ((n = await count()) < files.length) {
          if (Date.now() > deadline) throw new Error(`central holds ${n} of ${files.length} instances after 10 min; forward stats ${JSON.stringify(img.repo.forwardStats())}`);
          await sleep(100);
        }
        const completeSeconds = (performance.now() - t0) / 1000;
        if (n !== files.length) throw new Error(`central counts ${n} instances, expected ${files.length}`);
        return { toEdgeSeconds, completeSeconds, centralRssMb: peakRssMb(central.proc.pid!), centralCpuMsPerInstance: (cpuMs(central.proc.pid!) - cpu0) / files.length };
      } finally {
        await edge.stop();
      }
    } finally {
      await central.kill('SIGTERM');
    }
  } finally {
    await ns[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ------------------------------------------------------------------ main
async function main(): Promise<void> {
  if (!existsSync('/usr/sbin/Orthanc')) throw new Error('Orthanc not installed: run scripts/ensure-system.sh (Debian package orthanc)');
  // Debian starts its own Orthanc on install (port 4242, /var/lib/orthanc): stop it.
  await new Promise<void>((r) => spawn('service', ['orthanc', 'stop'], { stdio: 'ignore' }).on('exit', () => r()).on('error', () => r()));

  const work = mkdtempSync(join(tmpdir(), 'imaging-bench-files-'));
  try {
    log(`generating ${FILES} US files of about 512 KB`);
    const files: string[] = [];
    let bytes = 0;
    let seed = 12345;
    const study = `2.25.${Date.now()}1`;
    for (let i = 0; i < FILES; i++) {
      const px = Buffer.alloc(418 * 418 * 3); // 524,172 bytes, a multiple of 4
      for (let j = 0; j < px.length; j += 4) {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        px.writeUInt32LE(seed, j);
      }
      const f = join(work, `${String(i).padStart(4, '0')}.dcm`);
      const buf = buildPart10({
        sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', modality: 'US', sopInstanceUid: `${study}.${i + 1}`, studyInstanceUid: study, seriesInstanceUid: `${study}.0`,
        rows: 418, columns: 418, samplesPerPixel: 3, pixels: px, patientName: 'BENCH^PATIENT', accessionNumber: 'BENCH1',
      });
      writeFileSync(f, buf);
      files.push(f);
      bytes += buf.length;
    }
    log(`${FILES} files, ${(bytes / FILES / 1024).toFixed(0)} KB each on average`);
    // Warm-up files: another study (another accession), the same size; sent before the timed files.
    const warm: string[] = [];
    const warmStudy = `2.25.${Date.now()}2`;
    for (let i = 0; i < WARMUP; i++) {
      const f = join(work, `warm-${String(i).padStart(4, '0')}.dcm`);
      writeFileSync(f, buildPart10({
        sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', modality: 'US', sopInstanceUid: `${warmStudy}.${i + 1}`, studyInstanceUid: warmStudy, seriesInstanceUid: `${warmStudy}.0`,
        rows: 418, columns: 418, samplesPerPixel: 3, pixels: Buffer.alloc(418 * 418 * 3, i & 0xff), patientName: 'WARM^UP', accessionNumber: 'WARM1',
      }));
      warm.push(f);
    }
    if (WARMUP) log(`${WARMUP} warm-up files (another study), sent untimed before each timed run`);
    const forward = async (): Promise<ForwardResult> => {
      const f = await measureForward(files, study);
      log(`forwarding: storescu to the edge ${f.toEdgeSeconds.toFixed(2)} s, all ${FILES} at central ${f.completeSeconds.toFixed(2)} s after the first C-STORE, central peak RSS ${f.centralRssMb} MB, central CPU ${f.centralCpuMsPerInstance.toFixed(2)} ms/instance (load ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
      return f;
    };
    if (forwardOnly) {
      await forward();
      return;
    }
    const table: { target: string; mode: string; r: RunResult; all: number[] }[] = [];
    const only = argList('--only') as Kind[] | null;
    const kinds: Kind[] = (['agent', 'orthanc', 'edge', 'edge-nofsync'] as const).filter((k) => !only || only.includes(k));
    const modes = (argList('--modes') ?? ['1', '4']).map(Number);
    const partial = !!only || modes.length < 2;
    const runsByMode = new Map<number, Map<Kind, RunResult[]>>();
    for (const parallel of modes) {
      const runs = new Map<Kind, RunResult[]>(kinds.map((k) => [k, []]));
      runsByMode.set(parallel, runs);
      // interleaved, so that load from other processes on the machine hits both alike
      for (let rep = 0; rep < REPS; rep++) {
        for (const kind of kinds) {
          const r = await measure(kind, files, parallel, bytes, warm);
          log(`${kind} x${parallel} run ${rep + 1}: ${r.perSecond.toFixed(1)} inst/s, ${r.seconds.toFixed(2)} s, server CPU ${r.cpuMsPerInstance.toFixed(2)} ms/instance (user ${r.userMsPerInstance.toFixed(2)}${kind === 'orthanc' ? '' : `, main thread ${r.mainMsPerInstance.toFixed(2)}`}), storescu CPU ${r.clientMsPerInstance.toFixed(2)} ms/instance, peak RSS ${r.rssMb} MB (load ${loadavg()[0]!.toFixed(2)})${r.loop ? `; main thread ${JSON.stringify(r.loop)}` : ''}`);
          runs.get(kind)!.push(r);
        }
      }
      for (const kind of kinds) {
        const rs = runs.get(kind)!;
        table.push({ target: LABEL[kind], mode: parallel === 1 ? '1 association' : '4 in parallel', r: best(rs), all: rs.map((x) => x.perSecond) });
      }
    }
    const ratio = (kind: Kind, mode: string): number | null => {
      const e = table.find((x) => x.mode === mode && x.target === LABEL[kind])?.r.perSecond;
      const o = table.find((x) => x.mode === mode && x.target === LABEL.orthanc)?.r.perSecond;
      return e && o ? e / o : null;
    };
    const lines = [
      '| target | mode | instances/s (best) | MB/s | runs (inst/s) | server CPU per instance | peak RSS |',
      '|---|---|---:|---:|---|---:|---:|',
      ...table.map((x) => `| ${x.target} | ${x.mode} | ${x.r.perSecond.toFixed(1)} | ${x.r.mbPerSecond.toFixed(1)} | ${x.all.map((v) => v.toFixed(0)).join(', ')} | ${x.r.cpuMsPerInstance.toFixed(2)} ms | ${x.r.rssMb} MB |`),
    ];
    console.log(`\n${lines.join('\n')}\n`);
    const fmt = (v: number | null) => (v === null ? 'n/a' : `${v.toFixed(2)}x`);
    const ratios = (kind: Kind) => `${fmt(ratio(kind, '1 association'))} on one association, ${fmt(ratio(kind, '4 in parallel'))} with four in parallel`;
    console.log(`edge agent / Orthanc: ${ratios('agent')}; bare SCP / Orthanc: ${ratios('edge')} (target >= 1.0x; load ${loadavg().map((x) => x.toFixed(2)).join(' ')})`);
    // Best-of favours whichever target had the luckiest run; the ratios of runs made seconds apart
    // (run k of the edge agent against run k of Orthanc, interleaved) are steadier on a shared machine.
    const pairs = (parallel: number): string => {
      const a = runsByMode.get(parallel)?.get('agent'), o = runsByMode.get(parallel)?.get('orthanc');
      if (!a?.length || !o?.length) return 'n/a';
      const rs = a.map((x, i) => x.perSecond / o[i]!.perSecond);
      return `median ${median(rs).toFixed(2)}x (${rs.map((r) => r.toFixed(2)).join(', ')})`;
    };
    const pairLine = `${pairs(1)} on one association, ${pairs(4)} with four in parallel`;
    if (kinds.includes('agent') && kinds.includes('orthanc')) console.log(`edge agent / Orthanc per interleaved pair of runs: ${pairLine}`);
    if (partial) return;
    if (noResults) {
      await forward();
      return;
    }
    const load = loadavg()[0]!;
    const f = await forward();
    const fwdLines = [
      '| storescu to the edge agent (1 association) | all instances indexed at central (from the first C-STORE) | central peak RSS | central CPU per instance |',
      '|---:|---:|---:|---:|',
      `| ${f.toEdgeSeconds.toFixed(2)} s (${(FILES / f.toEdgeSeconds).toFixed(1)} inst/s) | ${f.completeSeconds.toFixed(2)} s (${(bytes / 1048576 / f.completeSeconds).toFixed(1)} MB/s end to end) | ${f.centralRssMb} MB | ${f.centralCpuMsPerInstance.toFixed(2)} ms |`,
    ];
    console.log(`\n${fwdLines.join('\n')}\n`);
    const section = [
      '## Imaging',
      '',
      `Run ${new Date().toISOString()} on this machine (${cpus().length} CPUs, Node ${process.version}${quick ? ', quick mode' : ''}): \`node --import tsx bench/imaging.bench.ts\`.`,
      `storescu (DCMTK, Debian) sends the same ${FILES} US files of ${(bytes / FILES / 1024).toFixed(0)} KB (explicit VR LE) to each target, one association and four storescu processes in parallel; \`TCP_NODELAY=1\` for storescu and Orthanc; the edge SCP sets no-delay on its own sockets.`,
      'Targets: **the edge agent** as a clinic runs it (`startEdgeAgent` with every module, in its own process, spine to a real nats-server; the imaging module\'s SCP answers success only after the file and its SQLite index row are durable: study upsert, order matching against 1,500 seeded orders of the last 90 days (the bench study matches none, so every instance is matched again), study record; the forwarder is **paused** (no central URL: instances stay pending, as Orthanc forwards nothing)); the bare SCP of `device-drivers/dicom` with a no-op `onInstance` (the protocol and file path alone); Orthanc, which fsyncs the file (SyncStorageArea) and writes its SQLite index. The edge writes a temp file, fsyncs it, renames it and fsyncs the directory before the index. Edge processes run with UV_THREADPOOL_SIZE=16; the edge agent\'s index worker is started with the agent (\`eager\`, a running appliance\'s steady state; a clinic\'s default starts it at the first overlap); its SCP store worker is as \`EDGE_DICOM_STORE_WORKER\` says (default off). The "fsync off" row shows the protocol cost alone and is not a deployable setting.',
      'Each run starts the server fresh on an empty store; runs are interleaved between targets; best of the runs is reported; RSS is the server process peak (VmHWM; the edge figure includes Node + tsx). The machine is shared with other work, so absolute figures vary between runs; compare rows of the same run.',
      '',
      ...lines,
      '',
      `Ratio edge agent / Orthanc, best of the runs: **${ratios('agent')}** (target >= 1.0x in both). Per interleaved pair of runs (run k of each, seconds apart): ${pairLine}. Bare SCP / Orthanc, best of the runs: ${ratios('edge')}.`,
      '',
      '### Forwarding to central',
      '',
      `The whole edge agent (imaging module, SQLite index, forwarder with its defaults: 2 uploads at a time, no rate limit, upload token from \`contracts/clinic-token.ts\`) runs in the bench process as the imaging tests run it; central (\`central/main.ts\`, SQLite warehouse and index, file archive) is a child process with a real nats-server. storescu sends the same ${FILES} files on one association (\`TCP_NODELAY=1\`); "indexed at central" is the first QIDO-RS poll (every 100 ms) where central counts all ${FILES} instances of the study, timed from storescu's start. One run; 1-minute load average ${load.toFixed(2)} when it started.`,
      '',
      ...fwdLines,
      '',
    ].join('\n');
    writeResults(section);
    log('wrote the "## Imaging" section of bench/RESULTS.md');
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--agent') {
  await childAgent(process.argv[3]!, process.argv[4]!);
} else if (process.argv[2] === '--scp') {
  mkdirSync(process.argv[3]!, { recursive: true });
  await childScp(process.argv[3]!, process.argv[4] !== 'no-fsync');
} else {
  await main();
}
