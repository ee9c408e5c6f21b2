/**
 * Network monitor benchmark.
 *   node --import tsx bench/network.bench.ts [--seconds 5] [--targets 300] [--agents 10] [--measure 60]
 *
 * 1. OIDs collected per second against one Debian snmpd: our poller (IF-MIB walks of
 *    ifTable + ifXTable + system group, as the network monitor polls them) vs
 *    prometheus-snmp-exporter (Debian 0.21) with a generated if_mib module walking the
 *    same subtrees. Both run sequential polls for the same wall time.
 * 2. Scale: the monitor as its own process with N targets (served by a few snmpd
 *    processes, several targets per agent) polled every 30 s: CPU % and RSS of the monitor.
 * Prints a table and writes the "## Network" section of bench/RESULTS.md.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { startSnmpd, type SnmpdHandle } from '../test/helpers/snmpd.ts';
import { startNetworkMonitor } from '../network-monitor/index.ts';
import { createServer } from 'node:net';
import { writeResultsSection } from './results-file.ts';

const root = resolve(import.meta.dirname, '..');
const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '5' },
    targets: { type: 'string', default: '300' },
    agents: { type: 'string', default: '10' },
    measure: { type: 'string', default: '60' },
    warmup: { type: 'string', default: '30' },
  },
});
const seconds = Number(args.seconds);
const nTargets = Number(args.targets);
const nAgents = Number(args.agents);
const measureS = Number(args.measure);
const warmupS = Number(args.warmup);

async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const p = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** snmp_exporter 0.21 config: per-module auth/version (the split `auths:` came in 0.23). */
function snmpExporterConfig(community: string): string {
  const idx = [{ labelname: 'ifIndex', type: 'gauge' }];
  const lookups = [
    { labels: ['ifIndex'], labelname: 'ifName', oid: '1.3.6.1.2.1.31.1.1.1.1', type: 'DisplayString' },
    { labels: ['ifIndex'], labelname: 'ifDescr', oid: '1.3.6.1.2.1.2.2.1.2', type: 'DisplayString' },
  ];
  const col = (name: string, oid: string, type: string) => ({ name, oid, type, help: name, indexes: idx, lookups });
  return stringify({
    if_mib: {
      walk: ['1.3.6.1.2.1.2', '1.3.6.1.2.1.31.1.1'],
      get: ['1.3.6.1.2.1.1.3.0'],
      metrics: [
        { name: 'sysUpTime', oid: '1.3.6.1.2.1.1.3', type: 'gauge', help: 'sysUpTime' },
        { name: 'ifNumber', oid: '1.3.6.1.2.1.2.1', type: 'gauge', help: 'ifNumber' },
        col('ifAdminStatus', '1.3.6.1.2.1.2.2.1.7', 'gauge'),
        col('ifOperStatus', '1.3.6.1.2.1.2.2.1.8', 'gauge'),
        col('ifSpeed', '1.3.6.1.2.1.2.2.1.5', 'gauge'),
        col('ifInDiscards', '1.3.6.1.2.1.2.2.1.13', 'counter'),
        col('ifInErrors', '1.3.6.1.2.1.2.2.1.14', 'counter'),
        col('ifOutDiscards', '1.3.6.1.2.1.2.2.1.19', 'counter'),
        col('ifOutErrors', '1.3.6.1.2.1.2.2.1.20', 'counter'),
        col('ifHCInOctets', '1.3.6.1.2.1.31.1.1.1.6', 'counter'),
        col('ifHCInUcastPkts', '1.3.6.1.2.1.31.1.1.1.7', 'counter'),
        col('ifHCInMulticastPkts', '1.3.6.1.2.1.31.1.1.1.8', 'counter'),
        col('ifHCInBroadcastPkts', '1.3.6.1.2.1.31.1.1.1.9', 'counter'),
        col('ifHCOutOctets', '1.3.6.1.2.1.31.1.1.1.10', 'counter'),
        col('ifHCOutUcastPkts', '1.3.6.1.2.1.31.1.1.1.11', 'counter'),
        col('ifHCOutMulticastPkts', '1.3.6.1.2.1.31.1.1.1.12', 'counter'),
        col('ifHCOutBroadcastPkts', '1.3.6.1.2.1.31.1.1.1.13', 'counter'),
        col('ifHighSpeed', '1.3.6.1.2.1.31.1.1.1.15', 'gauge'),
      ],
      version: 2,
      auth: { community },
      max_repetitions: 25,
      retries: 3,
      timeout: '5s',
    },
  });
}

async function benchOurs(agent: SnmpdHandle): Promise<{ oids: number; polls: number; seconds: number }> {
  const mon = await startNetworkMonitor({
    http: { host: '127.0.0.1', port: 0 },
    traps: { enabled: false, host: '127.0.0.1', port: 0, communities: [], users: [] },
    anomaly: { enabled: false, bucketSeconds: 300, historyDays: 28, minHistoryBuckets: 864, retrainHours: 24, epochs: 40, threshold: 4 },
    logLevel: 'warn',
    polling: { intervalSeconds: 30, timeoutMs: 5000, retries: 3, backoff: 1, downAfterFailures: 2, maxBackoffFactor: 4, maxRepetitions: 25 },
    inventory: { targets: [{ name: 'bench', kind: 'router', host: agent.host, port: agent.port, hostResources: false, snmp: { version: '2c', community: agent.community } }] },
  }, { manual: true });
  await mon.pollAll(); // warm-up
  const oidsAt = async () => (await mon.metrics.oids.get()).values.reduce((s, v) => s + v.value, 0);
  const o0 = await oidsAt();
  let polls = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) { await mon.pollAll(); polls++; }
  const el = (performance.now() - t0) / 1000;
  const oids = (await oidsAt()) - o0;
  await mon.stop();
  return { oids, polls, seconds: el };
}

async function benchExporter(agent: SnmpdHandle, dir: string): Promise<{ oids: number; polls: number; seconds: number; version: string }> {
  const cfg = join(dir, 'snmp.yml');
  writeFileSync(cfg, snmpExporterConfig(agent.community));
  const port = await freeTcpPort();
  const c = spawn('prometheus-snmp-exporter', [`--config.file=${cfg}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const url = `http://127.0.0.1:${port}/snmp?target=${agent.host}:${agent.port}&module=if_mib`;
  try {
    for (let i = 0; ; i++) {
      try { if ((await fetch(url)).ok) break; } catch { /* starting */ }
      if (i > 100 || c.exitCode !== null) throw new Error(`snmp_exporter did not start: ${out}`);
      await sleep(100);
    }
    const pdus = (text: string) => {
      const m = /^snmp_scrape_pdus_returned\s+(\S+)/m.exec(text);
      if (!m) throw new Error('snmp_scrape_pdus_returned missing from exporter output');
      return Number(m[1]);
    };
    let oids = 0;
    let polls = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < seconds * 1000) {
      const res = await fetch(url);
      oids += pdus(await res.text());
      polls++;
    }
    const version = await new Promise<string>((r) => {
      const v = spawn('prometheus-snmp-exporter', ['--version'], { stdio: ['ignore', 'pipe', 'pipe'] });
      let s = '';
      v.stdout.on('data', (d: Buffer) => { s += d.toString(); });
      v.stderr.on('data', (d: Buffer) => { s += d.toString(); });
      v.on('exit', () => r(/version (\S+)/.exec(s)?.[1] ?? '?'));
    });
    return { oids, polls, seconds: (performance.now() - t0) / 1000, version };
  } finally {
    c.kill('SIGTERM');
  }
}

function procStats(pid: number): { cpuTicks: number; rssBytes: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const cpuTicks = Number(fields[11]) + Number(fields[12]); // utime + stime
  const rss = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return { cpuTicks, rssBytes: rss ? Number(rss[1]) * 1024 : 0 };
}

async function benchScale(agents: SnmpdHandle[], dir: string) {
  const cfg = join(dir, 'scale.json');
  const targets = Array.from({ length: nTargets }, (_, i) => {
    const a = agents[i % agents.length]!;
    return i % 2 === 0
      ? { name: `t${i}`, kind: 'switch', host: a.host, port: a.port, snmp: { version: '3', user: a.v3.user, authKey: a.v3.authKey, privKey: a.v3.privKey } }
      : { name: `t${i}`, kind: 'router', host: a.host, port: a.port, snmp: { version: '2c', community: a.community } };
  });
  writeFileSync(cfg, JSON.stringify({
    logLevel: 'warn', http: { host: '127.0.0.1', port: 0 },
    traps: { enabled: true, host: '127.0.0.1', port: 0 },
    polling: { intervalSeconds: 30, timeoutMs: 5000, retries: 1 },
    anomaly: { enabled: true },
    inventory: { targets },
  }));
  const c = spawn(process.execPath, ['--import', 'tsx', join(root, 'network-monitor/main.ts')], { cwd: root, env: { ...process.env, NETMON_CONFIG: cfg, NETMON_LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  c.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  c.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  try {
    let url = '';
    for (let i = 0; !url; i++) {
      const line = out.split('\n').find((l) => l.includes('"network monitor started"'));
      if (line) url = (JSON.parse(line) as { url: string }).url;
      if (c.exitCode !== null || i > 300) throw new Error(`monitor did not start: ${out}`);
      await sleep(100);
    }
    await sleep(warmupS * 1000);
    const hz = 100; // USER_HZ on Linux
    const s0 = procStats(c.pid!);
    const t0 = performance.now();
    let peakRss = s0.rssBytes;
    while (performance.now() - t0 < measureS * 1000) {
      await sleep(1000);
      peakRss = Math.max(peakRss, procStats(c.pid!).rssBytes);
    }
    const s1 = procStats(c.pid!);
    const el = (performance.now() - t0) / 1000;
    const metrics = await (await fetch(`${url}/metrics`)).text();
    const sum = (name: string) => metrics.split('\n').filter((l) => l.startsWith(name + '{')).reduce((s, l) => s + Number(l.slice(l.lastIndexOf(' ') + 1)), 0);
    return {
      cpuPercent: (((s1.cpuTicks - s0.cpuTicks) / hz) / el) * 100,
      rssMiB: s1.rssBytes / 2 ** 20,
      peakRssMiB: peakRss / 2 ** 20,
      targetsUp: sum('netmon_target_up'),
      polls: sum('netmon_polls_total'),
      errors: sum('netmon_poll_errors_total'),
      oids: sum('netmon_oids_collected_total'),
    };
  } finally {
    c.kill('SIGTERM');
  }
}

function writeResults(section: string): void {
  writeResultsSection(section);
}

const dir = mkdtempSync(join(tmpdir(), 'netbench-'));
const agents: SnmpdHandle[] = [];
try {
  for (let i = 0; i < Math.max(1, nAgents); i++) agents.push(await startSnmpd({ sysName: `agent-${i}` }));
  const a = agents[0]!;
  const ours = await benchOurs(a);
  const exp = await benchExporter(a, dir);
  const oursRate = ours.oids / ours.seconds;
  const expRate = exp.oids / exp.seconds;
  const ratio = oursRate / expRate;
  console.log(`\nOIDs per second against one snmpd (${seconds} s each, sequential polls of ifTable + ifXTable + system):`);
  console.table([
    { tool: 'network-monitor (net-snmp)', polls: ours.polls, oids: ours.oids, 'oids/s': Math.round(oursRate), 'oids/poll': Math.round(ours.oids / ours.polls) },
    { tool: `prometheus-snmp-exporter ${exp.version} if_mib`, polls: exp.polls, oids: exp.oids, 'oids/s': Math.round(expRate), 'oids/poll': Math.round(exp.oids / exp.polls) },
  ]);
  console.log(`ratio ours / snmp_exporter = ${ratio.toFixed(2)}x (target >= 1.0x)`);
  const scale = await benchScale(agents, dir);
  console.log(`\n${nTargets} targets (${agents.length} snmpd, v3 authPriv and v2c alternating) polled every 30 s, measured ${measureS} s after ${warmupS} s warm-up:`);
  console.table([{ 'CPU %': scale.cpuPercent.toFixed(1), 'RSS MiB': scale.rssMiB.toFixed(0), 'peak RSS MiB': scale.peakRssMiB.toFixed(0), 'targets up': scale.targetsUp, polls: scale.polls, 'poll errors': scale.errors }]);

  writeResults(`## Network

Run: \`node --import tsx bench/network.bench.ts\` (${new Date().toISOString().slice(0, 10)}, ${(await import('node:os')).cpus().length} CPUs, Node ${process.version}).

OIDs collected per second against the same Debian snmpd (v2c, sequential polls for ${seconds} s each; both walk ifTable + ifXTable and get sysUpTime/system group):

| tool | polls | OIDs | OIDs/s | OIDs/poll |
|---|---:|---:|---:|---:|
| network-monitor (net-snmp GETBULK, max-repetitions 25) | ${ours.polls} | ${ours.oids} | ${Math.round(oursRate)} | ${Math.round(ours.oids / ours.polls)} |
| prometheus-snmp-exporter ${exp.version}, generated if_mib module | ${exp.polls} | ${exp.oids} | ${Math.round(expRate)} | ${Math.round(exp.oids / exp.polls)} |

Ratio ours / snmp_exporter: **${ratio.toFixed(2)}x** (target >= 1.0x).

Scale: ${nTargets} targets served by ${agents.length} snmpd processes (several targets per agent; v3 authPriv SHA/AES and v2c alternating), each polled every 30 s with HOST-RESOURCES, trap receiver and anomaly detector on; monitor as its own process, measured over ${measureS} s after ${warmupS} s warm-up:

| targets | CPU % (one core = 100) | RSS MiB | peak RSS MiB | targets up | polls | poll errors |
|---:|---:|---:|---:|---:|---:|---:|
| ${nTargets} | ${scale.cpuPercent.toFixed(1)} | ${scale.rssMiB.toFixed(0)} | ${scale.peakRssMiB.toFixed(0)} | ${scale.targetsUp} | ${scale.polls} | ${scale.errors} |

`);
  console.log('\nwrote the "## Network" section of bench/RESULTS.md');
} finally {
  for (const a of agents) await a[Symbol.asyncDispose]();
  rmSync(dir, { recursive: true, force: true });
}
