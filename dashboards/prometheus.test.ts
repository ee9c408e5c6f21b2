/**
 * A real Prometheus scrapes a running network monitor (spawned as its own process, polling
 * two real snmpd agents) and a stub exporter of the edge/central/device metric names.
 * Every dashboard panel query and every alert rule must evaluate without error; every
 * network panel must return data. One snmpd is stopped so the impact panels have data.
 */
import t from 'tap';
import { spawn, execFile } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { metricNames } from '../contracts/index.ts';
import { startSnmpd } from '../test/helpers/snmpd.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { nodeCommand, TS_IMPORT } from '../test/helpers/node-child.ts';
import { dashboards, rulesYaml, expandTemplate, pendingMetricNames, deviceMetricNames } from './index.ts';
import { startPrometheus, freeTcpPort } from './test-support/prometheus.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');

/** Stands in for edge agents, central and device drivers: same metric names and labels. */
async function stubExporter() {
  const reg = new Registry();
  const e = metricNames.edge;
  const c = metricNames.central;
  const clinics = ['clinic-a', 'clinic-b'];
  for (const name of [e.outboxDepth, e.lastSeq, e.receiptSeq, e.lastReceipt, e.relayState, e.oldestPendingAge]) {
    const g = new Gauge({ name, help: name, labelNames: ['clinic'], registers: [reg] });
    clinics.forEach((cl, i) => g.set({ clinic: cl }, name === e.lastReceipt ? Date.now() / 1000 : i + 1));
  }
  new Gauge({ name: e.dictionaryVersion, help: 'x', labelNames: ['clinic', 'dictionary'], registers: [reg] }).set({ clinic: 'clinic-a', dictionary: 'icd10' }, 3);
  for (const name of [e.published, e.republished, e.publishErrors, e.writes]) new Counter({ name, help: name, labelNames: ['clinic'], registers: [reg] }).inc({ clinic: 'clinic-a' }, 5);
  for (const name of [c.clinicAppliedSeq, c.clinicPending, c.clinicOutboxDepth, c.clinicLag, c.clinicHeartbeat]) {
    const g = new Gauge({ name, help: name, labelNames: ['clinic'], registers: [reg] });
    clinics.forEach((cl) => g.set({ clinic: cl }, name === c.clinicHeartbeat ? Date.now() / 1000 : 7));
  }
  new Gauge({ name: c.clinicDictionaryVersion, help: 'x', labelNames: ['clinic', 'dictionary'], registers: [reg] }).set({ clinic: 'clinic-a', dictionary: 'icd10' }, 3);
  new Gauge({ name: c.dictionaryLatestVersion, help: 'x', labelNames: ['dictionary'], registers: [reg] }).set({ dictionary: 'icd10' }, 3);
  new Counter({ name: c.applied, help: 'x', labelNames: ['clinic', 'type'], registers: [reg] }).inc({ clinic: 'clinic-a', type: 'encounter' }, 3);
  new Counter({ name: c.deadLetters, help: 'x', labelNames: ['reason', 'clinic'], registers: [reg] }).inc({ reason: 'forged', clinic: 'clinic-a' });
  for (const name of [c.duplicates, c.held, c.conflicts]) new Counter({ name, help: name, registers: [reg] }).inc();
  new Histogram({ name: c.applyLatency, help: 'x', buckets: [0.05, 0.2, 1], registers: [reg] }).observe(0.1);
  new Gauge({ name: c.ingestBuffered, help: 'x', registers: [reg] }).set(120);
  new Histogram({ name: c.ingestBatchRecords, help: 'x', buckets: [1, 100, 4000], registers: [reg] }).observe(250);
  const p = pendingMetricNames;
  const dv = deviceMetricNames;
  const dl = { clinic: 'clinic-a', driver: 'bp', device: 'bp-1', protocol: 'modbus' };
  for (const name of [dv.readings, dv.errors, dv.up, dv.lastSeen, dv.latency]) new Gauge({ name, help: 'x', labelNames: Object.keys(dl), registers: [reg] }).set(dl, name === dv.lastSeen ? Date.now() / 1000 : 1);
  new Gauge({ name: dv.driverEvents, help: 'x', labelNames: ['clinic', 'driver', 'protocol', 'event'], registers: [reg] }).set({ clinic: 'clinic-a', driver: 'bp', protocol: 'modbus', event: 'timeouts' }, 2);
  new Counter({ name: p.dicomStored, help: 'x', labelNames: ['clinic', 'modality'], registers: [reg] }).inc({ clinic: 'clinic-a', modality: 'US' });
  new Counter({ name: p.dicomAssociations, help: 'x', labelNames: ['clinic', 'result'], registers: [reg] }).inc({ clinic: 'clinic-a', result: 'accepted' });
  new Counter({ name: p.centralHttpRequests, help: 'x', labelNames: ['status'], registers: [reg] }).inc({ status: '200' });
  new Histogram({ name: p.centralHttpDuration, help: 'x', labelNames: ['route'], buckets: [0.1, 1], registers: [reg] }).observe({ route: '/fhir' }, 0.05);
  const srv = createServer((req, res) => {
    if (req.url === '/metrics') void reg.metrics().then((b) => { res.setHeader('content-type', reg.contentType); res.end(b); });
    else if (req.url === '/healthz') res.end('{"status":"ok"}');
    else { res.statusCode = 404; res.end(); }
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { srv, base: `http://127.0.0.1:${(srv.address() as AddressInfo).port}` };
}

t.test('every panel query and alert rule evaluates in a real Prometheus', async (t) => {
  const a = await startSnmpd({ sysName: 'router-a' });
  const b = await startSnmpd({ sysName: 'switch-b', community: 'b-ro' });
  const stub = await stubExporter();
  const dir = mkdtempSync(join(tmpdir(), 'dash-prom-'));
  t.teardown(async () => {
    stub.srv.close();
    await a[Symbol.asyncDispose]();
    await b[Symbol.asyncDispose]();
    rmSync(dir, { recursive: true, force: true });
  });

  const closedPort = await freeTcpPort();
  const cfgFile = join(dir, 'netmon.json');
  writeFileSync(cfgFile, JSON.stringify({
    logLevel: 'info',
    http: { host: '127.0.0.1', port: 0 },
    // Both agents and the stub answer: timeouts far longer than an answer takes on a loaded
    // machine. The stopped agent and the closed NATS port then fail on their own (no answer,
    // connection refused), not because a busy machine answered late.
    polling: { intervalSeconds: 1, timeoutMs: 10_000, retries: 0, downAfterFailures: 1 },
    probes: { intervalSeconds: 1, timeoutMs: 10_000 },
    traps: { enabled: true, host: '127.0.0.1', port: 0, communities: ['trapcomm'] },
    anomaly: { enabled: false },
    inventory: {
      targets: [
        { name: 'router-a', kind: 'router', host: '127.0.0.1', port: a.port, trapAddress: '10.0.0.1', snmp: { version: '3', user: a.v3.user, authKey: a.v3.authKey, privKey: a.v3.privKey }, links: [{ ifName: 'lo', clinics: ['clinic-a'] }] },
        { name: 'switch-b', kind: 'switch', host: '127.0.0.1', port: b.port, trapAddress: '10.0.0.2', snmp: { version: '2c', community: 'b-ro' }, serves: ['clinic-b'] },
      ],
      clinics: [
        { id: 'clinic-a', edgeHealthUrl: `${stub.base}/healthz`, devices: [{ id: 'us-1', kind: 'ultrasound' }] },
        { id: 'clinic-b', edgeHealthUrl: `${stub.base}/healthz`, devices: [{ id: 'bp-1', kind: 'blood-pressure' }] },
      ],
      central: { healthUrl: `${stub.base}/healthz`, natsUrl: `nats://127.0.0.1:${closedPort}` },
    },
  }));
  const cmd = nodeCommand([...TS_IMPORT, join(root, 'network-monitor/main.ts')]);
  const mon = spawn(cmd.file, cmd.args, { cwd: root, env: { ...process.env, NETMON_CONFIG: cfgFile }, stdio: ['ignore', 'pipe', 'pipe'] });
  let monOut = '';
  mon.stdout.on('data', (d: Buffer) => { monOut += d.toString(); });
  mon.stderr.on('data', (d: Buffer) => { monOut += d.toString(); });
  t.teardown(() => { mon.kill('SIGTERM'); });
  // Wait for the start line itself (however long a loaded machine takes to load the process),
  // or fail as soon as the process exits; tap's test timeout bounds a hang.
  const started = await new Promise<{ url: string; trapPort: number }>((resolve, reject) => {
    const check = () => {
      for (const line of monOut.split('\n')) {
        if (line.includes('"network monitor started"')) { cleanup(); resolve(JSON.parse(line) as { url: string; trapPort: number }); return; }
      }
    };
    const exited = () => { cleanup(); reject(new Error(`monitor exited: ${monOut}`)); };
    const cleanup = () => { mon.stdout.off('data', check); mon.off('exit', exited); };
    mon.stdout.on('data', check);
    mon.once('exit', exited);
    check();
  });
  const monUrl = new URL(started.url);

  await using prom = await startPrometheus((d) => `
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [ "${join(d, 'rules.yml')}" ]
scrape_configs:
  - job_name: netmon
    static_configs: [ { targets: [ "${monUrl.host}" ] } ]
  - job_name: stub
    static_configs: [ { targets: [ "${new URL(stub.base).host}" ] } ]
`, { 'rules.yml': rulesYaml() });

  const env = a.toolEnv;
  await run('snmptrap', ['-v', '2c', '-c', 'trapcomm', '-m', '', '-M', '/dev/null', `127.0.0.1:${started.trapPort}`, '', '1.3.6.1.6.3.1.1.5.1', '1.3.6.1.6.3.18.1.3.0', 'a', '10.0.0.1'], { env });
  await waitFor('a few scrapes of interface counters', async () => {
    const r = await prom.query('count_over_time(netmon_if_in_octets_total[1m])');
    return (r.data?.result as { value: [number, string] }[] | undefined)?.some((x) => Number(x.value[1]) >= 4) ?? false;
  }, 300_000, 500);
  await b.stop();
  await waitFor('impact of the stopped agent in Prometheus', async () => ((await prom.query('netmon_impact_clinics > 0')).data?.result.length ?? 0) > 0, 300_000, 500);

  const empty: string[] = [];
  let queries = 0;
  let withData = 0;
  for (const d of dashboards) {
    for (const row of d.rows) for (const p of row.panels) for (const q of p.queries) {
      const expr = expandTemplate(q.expr);
      const r = await prom.query(expr);
      queries++;
      t.equal(r.status, 'success', `${d.uid}/${p.id} ${p.title}: ${r.error ?? ''}`);
      const n = r.data?.result.length ?? 0;
      if (n > 0) withData++;
      else empty.push(`${d.uid}/${p.id} ${p.title}`);
      if (p.network) t.ok(n > 0, `network panel returns data: ${d.uid}/${p.id} ${p.title} (${expr})`);
    }
    for (const v of d.variables) {
      const m = /^label_values\((\w+), (\w+)\)$/.exec(v.query);
      t.ok(m, `variable ${d.uid}/${v.name} is label_values(metric, label)`);
      const res = await fetch(`${prom.url}/api/v1/label/${m![2]}/values?match[]=${encodeURIComponent(m![1]!)}`);
      t.equal(((await res.json()) as { status: string }).status, 'success');
    }
  }
  t.comment(`${queries} panel queries evaluated; ${withData} returned data; empty: ${empty.join('; ') || 'none'}`);

  // Every rule evaluated at least once, none with an error.
  type Rule = { name: string; health: string; lastError?: string };
  let rules: Rule[] = [];
  await waitFor('rule evaluation', async () => {
    const j = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as { data: { groups: { rules: Rule[] }[] } };
    rules = j.data.groups.flatMap((g) => g.rules);
    return rules.length > 0 && rules.every((r) => r.health !== 'unknown');
  }, 300_000, 500);
  for (const r of rules) t.equal(r.health, 'ok', `rule ${r.name} ${r.lastError ?? ''}`);
  // The stopped agent's down state is pending or firing in Prometheus.
  type Alert = { labels: Record<string, string>; state: string };
  let alerts: Alert[] = [];
  await waitFor('NetworkDeviceDown for switch-b', async () => {
    alerts = ((await (await fetch(`${prom.url}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } }).data.alerts;
    return alerts.some((x) => x.labels.alertname === 'NetworkDeviceDown' && x.labels.target === 'switch-b');
  }, 300_000, 500);
  t.comment(JSON.stringify(alerts.map((x) => [x.labels.alertname, x.labels.target ?? x.labels.clinic ?? x.labels.probe, x.state])));
  t.ok(alerts.some((x) => x.labels.alertname === 'ClinicCutOff' && x.labels.clinic === 'clinic-b'), 'ClinicCutOff for clinic-b');
  t.ok(alerts.some((x) => x.labels.alertname === 'CentralUnreachable' && x.labels.probe === 'central_nats'), 'CentralUnreachable for the closed NATS port');
});
