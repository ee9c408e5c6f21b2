/**
 * Dashboards against a running system: a real Prometheus scrapes a real central, a real edge
 * agent (with a Modbus device and a DICOM modality sending an image) and the real network
 * monitor polling a real snmpd; every panel query and alert rule must evaluate, and every
 * panel returns data except those listed with the reason they cannot here.
 */
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir, quietLog } from '../helpers/spine.ts';
import { clinicToken } from '../../contracts/clinic-token.ts';
import { startSnmpd } from '../helpers/snmpd.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { imaging, imagingEnv, run, writeInstance } from '../imaging/fixtures.ts';
import { startPrometheus } from '../../dashboards/test-support/prometheus.ts';
import { dashboards, expandTemplate, rulesYaml } from '../../dashboards/index.ts';
import { startNetworkMonitor } from '../../network-monitor/index.ts';
import { builtinProfile, startSimulator } from '../../device-drivers/index.ts';

/** Panels that cannot have data in a test run, and why. */
const EXPECTED_EMPTY: Record<string, string> = {
  'anomaly score': 'the traffic model trains only after 3 days of history',
  'CPU load': 'this container\'s snmpd has no hrProcessorLoad',
  'Errors per minute': 'no device errors in a healthy run',
  'Dead letters by reason': 'no dead letters in a healthy run',
  'Dead letters by clinic and reason': 'no dead letters in a healthy run',
  // Outage panels: checked below after the router is stopped.
  'cut off': 'only during an outage',
  'Clinical impact': 'only during an outage',
  // Backups are not configured in this system: the backup row of edge-fleet is checked
  // with data (backups made, a drill run) by dashboards/backup-alerts.test.ts.
  'Age of the last good backup': 'no backup configured here',
  'Age of the newest backup point': 'no backup configured here',
  'Restore drill': 'no backup configured here',
  'Last backup size': 'no backup configured here',
  'Backup runs by outcome': 'no backup configured here',
  'Backups stored at central': 'no backup configured here',
};

t.test('every dashboard panel and alert rule against a running system scraped by a real Prometheus', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('dash-real');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('rs');
  imagingEnv({ AE_TITLE: 'EDGE_RS', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: central.http.url, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: clinicToken('test-token-0123456789', clinic) });
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  const bp = await startSimulator(builtinProfile('bp-monitor'), { host: '127.0.0.1', seed: 3 });
  await using router = await startSnmpd({ sysName: 'district-core-router' });
  const monitor = await startNetworkMonitor({
    http: { host: '127.0.0.1', port: 0 },
    polling: { intervalSeconds: 1, timeoutMs: 1000, retries: 0 },
    probes: { intervalSeconds: 1, timeoutMs: 1000 },
    traps: { enabled: true, host: '127.0.0.1', port: 0, communities: ['trapcomm'], users: [] },
    anomaly: { enabled: true, stateDir: join(tmp.dir, 'netmon') },
    inventory: {
      targets: [{ name: 'district-core-router', kind: 'router', host: '127.0.0.1', port: router.port, snmp: { version: '3', user: router.v3.user, authKey: router.v3.authKey, privKey: router.v3.privKey }, links: [{ ifName: 'lo', clinics: [clinic] }] }],
      clinics: [{ id: clinic, edgeHealthUrl: `${edge.http.url}/healthz`, devices: [{ id: 'bp-1', kind: 'blood-pressure' }] }],
      central: { healthUrl: `${central.http.url}/healthz`, natsUrl: ns.url },
    },
  }, { logger: quietLog() });
  t.teardown(async () => { await monitor.stop(); await bp.stop(); await edge.stop(); await central.stop(); });

  // Activity: records, a Modbus device, a DICOM image, API traffic.
  writeActivity(edge, 50, 1);
  const login = await fetch(`${edge.http.url}/login`, { method: 'POST', body: new URLSearchParams({ username: 'admin', password: 'Admin-Pass-2026' }), redirect: 'manual' });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  const reg = await fetch(`${edge.http.url}/api/devices`, { method: 'POST', headers: { cookie, 'content-type': 'application/json' }, body: JSON.stringify({ name: '诊室1 血压计', profileId: 'bp-monitor', room: '诊室1', connection: { type: 'tcp', host: '127.0.0.1', port: bp.port }, pollIntervalMs: 500 }) });
  t.ok(reg.ok, `device registered: ${reg.status}`);
  const img = imaging(edge);
  img.repo.addDevice({ aeTitle: 'US_ROOM1', host: '127.0.0.1', port: 104, modality: 'US', room: 'B超室', enabled: true });
  const files = join(tmp.dir, 'files');
  mkdirSync(files);
  const f = writeInstance(files, { modality: 'US', name: '张伟', patientId: 'P-1' });
  const sent = await run('storescu', ['-aet', 'US_ROOM1', '-aec', 'EDGE_RS', '127.0.0.1', String(img.scp!.port), f.path], { env: { TCP_NODELAY: '1' } });
  t.equal(sent.code, 0, `storescu: ${sent.stderr}`);
  await fetch(`${central.http.url}/api/fleet`, { headers: { authorization: 'Bearer test-token-0123456789' } });
  const trap = await run('snmptrap', ['-v', '2c', '-c', 'trapcomm', '-m', '', '-M', '/dev/null', `127.0.0.1:${monitor.trapPort}`, '', '1.3.6.1.6.3.1.1.5.3'], { env: router.toolEnv });
  t.equal(trap.code, 0, `snmptrap linkDown sent ${trap.stderr}`);

  await using prom = await startPrometheus((d) => `
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [ "${join(d, 'rules.yml')}" ]
scrape_configs:
  - job_name: central
    static_configs: [ { targets: [ "${new URL(central.http.url).host}" ] } ]
  - job_name: edge
    honor_labels: true
    static_configs: [ { targets: [ "${new URL(edge.http.url).host}" ] } ]
  - job_name: netmon
    static_configs: [ { targets: [ "${new URL(monitor.url).host}" ] } ]
`, { 'rules.yml': rulesYaml() });

  await waitFor('several scrapes of every job', async () => {
    const r = await prom.query('count_over_time(up[1m])');
    const res = (r.data?.result ?? []) as { value: [number, string] }[];
    return res.length === 3 && res.every((x) => Number(x.value[1]) >= 5);
  }, 90_000, 500);
  await waitFor('device readings scraped', async () => ((await prom.query('device_readings_total > 0')).data?.result.length ?? 0) > 0, 30_000, 500);

  const empty: string[] = [];
  let queries = 0;
  for (const d of dashboards) {
    for (const row of d.rows) for (const p of row.panels) for (const q of p.queries) {
      const r = await prom.query(expandTemplate(q.expr));
      queries++;
      t.equal(r.status, 'success', `${d.uid}/${p.id} ${p.title} evaluates ${r.error ?? ''}`);
      if ((r.data?.result.length ?? 0) === 0) empty.push(`${d.uid}/${p.id} ${p.title}`);
    }
  }
  const unexpected = empty.filter((e) => !Object.keys(EXPECTED_EMPTY).some((k) => e.includes(k)));
  console.log(`[dashboards] ${queries} panel queries on a running system; ${queries - empty.length} return data; empty: ${empty.join('; ') || 'none'}`);
  t.same(unexpected, [], 'every other panel returns data from the real processes');

  // An outage: the router stops answering; the impact panels name the clinic and its device.
  await router.stop();
  await waitFor('impact in Prometheus', async () => ((await prom.query('netmon_impact_clinics > 0')).data?.result.length ?? 0) > 0, 60_000, 500);
  for (const d of dashboards) for (const row of d.rows) for (const p of row.panels) {
    if (!/cut off|Clinical impact/.test(p.title)) continue;
    const r = await prom.query(expandTemplate(p.queries[0]!.expr));
    t.ok((r.data?.result.length ?? 0) > 0, `outage panel returns data: ${d.uid}/${p.id} ${p.title}`);
  }

  type Rule = { name: string; health: string; lastError?: string };
  let rules: Rule[] = [];
  await waitFor('rule evaluation', async () => {
    const j = (await (await fetch(`${prom.url}/api/v1/rules`)).json()) as { data: { groups: { rules: Rule[] }[] } };
    rules = j.data.groups.flatMap((g) => g.rules);
    return rules.length > 0 && rules.every((r) => r.health !== 'unknown');
  }, 30_000, 500);
  t.same(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`), [], `all ${rules.length} alert rules evaluate`);
});
