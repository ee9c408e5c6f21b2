/**
 * Backup alert rules and panels in a real Prometheus scraping real processes: central (with
 * its off-site target and its own backups configured) and two real edges on a real
 * nats-server. Edge A backs up (point uploaded to central, drill passed), then its backup
 * history is aged to 40 h ago; edge B has backups configured but has never made one.
 * Prometheus must see EdgeBackupTooOld go pending for both and not for a fresh edge,
 * BackupTooOld for central's own (never made) backups but not for A's fresh off-site copy,
 * and every backup panel query must return data.
 */
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { clinicBackupToken, generateKeyFile } from '../contracts/backup/index.ts';
import { runningBackups } from '../edge-agent/backup/index.ts';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../test/helpers/spine.ts';
import { waitFor } from '../test/helpers/wait.ts';
import { writeActivity } from '../test/helpers/activity.ts';
import { dashboards, rulesYaml, expandTemplate } from './index.ts';
import { backup as names } from './metric-names.ts';
import { startPrometheus } from './test-support/prometheus.ts';

type Alert = { labels: Record<string, string>; state: string };

t.test('backup alerts go pending in a real Prometheus on metrics of real edges and central', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('dash-backup');
  t.teardown(tmp.cleanup);
  const secret = 'dash-backup-target-secret-0123';
  mkdirSync(join(tmp.dir, 'keys'));
  const keyFile = join(tmp.dir, 'keys', 'edge.key');
  generateKeyFile(keyFile);
  const centralKey = join(tmp.dir, 'keys', 'central.key');
  generateKeyFile(centralKey);
  // Central: off-site target for edges; its own backups configured but never run (window far away).
  Object.assign(process.env, {
    CENTRAL_BACKUP_TARGET_SECRET: secret, CENTRAL_BACKUP_TARGET_MIN_FREE_BYTES: '0',
    CENTRAL_BACKUP_KEY_FILE: centralKey, CENTRAL_BACKUP_LOCAL_DIR: join(tmp.dir, 'central-backups'), CENTRAL_BACKUP_TICK_MS: '3600000',
  });
  const central = await centralInProcess(ns.url, join(tmp.dir, 'central'));
  t.teardown(() => central.stop());

  // The backup module reads EDGE_BACKUP_* when an edge starts: set them per edge.
  const startEdge = async (tag: string, remote: boolean) => {
    const clinicId = clinicName(tag);
    const env = {
      EDGE_BACKUP_KEY_FILE: keyFile, EDGE_BACKUP_LOCAL_DIR: join(tmp.dir, `backups-${tag}`), EDGE_BACKUP_TICK_MS: '3600000',
      EDGE_BACKUP_REMOTE_URL: remote ? `${central.http.url}/backup/v1` : '', EDGE_BACKUP_REMOTE_TOKEN: remote ? clinicBackupToken(secret, clinicId) : '',
    };
    for (const [k, v] of Object.entries(env)) if (v) process.env[k] = v; else delete process.env[k];
    const edge = await edgeInProcess(ns.url, clinicId, join(tmp.dir, `edge-${tag}`));
    t.teardown(() => edge.stop());
    return { clinicId, edge };
  };
  const a = await startEdge('ba', true);
  const b = await startEdge('bb', false);
  const c = await startEdge('bc', false);

  writeActivity(a.edge, 500, 1, 20);
  await runningBackups.get(a.clinicId)!.runAll('test');
  const st = runningBackups.get(a.clinicId)!.status();
  t.ok(st.lastSuccess && st.lastUpload?.ok && st.lastDrill?.ok, `edge A backed up, uploaded, drilled: ${JSON.stringify(st.lastUpload)}`);
  writeActivity(c.edge, 100, 3, 20);
  await runningBackups.get(c.clinicId)!.runAll('test');
  // Age A's backup history: its last good point now reads as made 40 h ago (a test cannot wait
  // 36 h; the metric still flows through the edge's own status code, /metrics and Prometheus).
  const aged = new Date(Date.now() - 40 * 3600_000).toISOString();
  a.edge.store.db.prepare("UPDATE backup_runs SET detail = json_set(detail, '$.createdAt', ?) WHERE what = 'backup'").run(aged);
  const edgeText = await (await fetch(`${a.edge.http.url}/metrics`)).text();
  t.match(edgeText, new RegExp(`${names.edgeLastSuccess}\\{clinic="${a.clinicId}"\\} ${Math.floor(Date.parse(aged) / 1000)}`), 'the aged point is what the edge exports');
  const centralText = await (await fetch(`${central.http.url}/metrics`)).text();
  for (const n of [names.lastGoodAge, names.drillOk, names.rpo, names.targetBytes]) t.match(centralText, new RegExp(`^${n}\\{owner="${a.clinicId}"\\}`, 'm'), `central exports ${n} for A`);
  for (const n of [names.edgeConfigured, names.edgePoints, names.edgeDrillOk, names.edgeRpo, names.edgeRto, names.edgeLastBytes, names.edgeRuns]) t.match(edgeText, new RegExp(`^${n}\\{`, 'm'), `edge exports ${n}`);

  const host = (u: string) => new URL(u).host;
  await using prom = await startPrometheus((d) => `
global: { scrape_interval: 1s, evaluation_interval: 1s }
rule_files: [ "${join(d, 'rules.yml')}" ]
scrape_configs:
  - job_name: edge
    static_configs: [ { targets: [ "${host(a.edge.http.url)}", "${host(b.edge.http.url)}", "${host(c.edge.http.url)}" ] } ]
  - job_name: central
    static_configs: [ { targets: [ "${host(central.http.url)}" ] } ]
`, { 'rules.yml': rulesYaml() });

  let alerts: Alert[] = [];
  const has = (name: string, label: string, value: string) => alerts.some((x) => x.labels.alertname === name && x.labels[label] === value && (x.state === 'pending' || x.state === 'firing'));
  await waitFor('backup alerts pending', async () => {
    alerts = ((await (await fetch(`${prom.url}/api/v1/alerts`)).json()) as { data: { alerts: Alert[] } }).data.alerts;
    return has('EdgeBackupTooOld', 'clinic', a.clinicId) && has('EdgeBackupTooOld', 'clinic', b.clinicId) && has('BackupTooOld', 'owner', 'central');
  }, 60_000, 500);
  t.comment(JSON.stringify(alerts.map((x) => [x.labels.alertname, x.labels.clinic ?? x.labels.owner, x.state])));
  t.ok(has('EdgeBackupTooOld', 'clinic', a.clinicId), 'EdgeBackupTooOld for A (last good point 40 h ago)');
  t.ok(has('EdgeBackupTooOld', 'clinic', b.clinicId), 'EdgeBackupTooOld for B (configured, never backed up)');
  t.notOk(has('EdgeBackupTooOld', 'clinic', c.clinicId), 'not for C (backed up just now)');
  t.ok(has('BackupTooOld', 'owner', 'central'), 'BackupTooOld for central\'s own backups (none yet)');
  t.notOk(has('BackupTooOld', 'owner', a.clinicId), 'not for A\'s off-site copy at central (fresh)');
  t.notOk(alerts.some((x) => /Drill/.test(x.labels.alertname ?? '')), 'no drill alert: the drills passed');
  type Rule = { name: string; health: string; lastError?: string };
  const rules = ((await (await fetch(`${prom.url}/api/v1/rules`)).json()) as { data: { groups: { name: string; rules: Rule[] }[] } }).data.groups.find((g) => g.name === 'backup')!.rules;
  for (const r of rules) t.equal(r.health, 'ok', `rule ${r.name} ${r.lastError ?? ''}`);

  // Every backup panel evaluates and returns data from these processes. Rate panels
  // (increase over 1 d) need two samples of a series: wait for a second scrape of every target
  // (the alerts can go pending after the first one).
  await waitFor('two scrapes of every target', async () => {
    const r = await prom.query('min(count_over_time(up[5m]))');
    return Number((r.data?.result as { value: [number, string] }[] | undefined)?.[0]?.value[1] ?? 0) >= 2;
  }, 30_000, 250);
  const board = dashboards.find((d) => d.uid === 'edge-fleet')!;
  const row = board.rows.find((r) => r.title === 'Backups')!;
  for (const p of row.panels) for (const q of p.queries) {
    const r = await prom.query(expandTemplate(q.expr));
    t.equal(r.status, 'success', `${p.id} ${p.title}: ${r.error ?? ''}`);
    t.ok((r.data?.result.length ?? 0) > 0, `${p.id} ${p.title} returns data`);
  }
  const stale = await prom.query(expandTemplate(row.panels.find((p) => p.id === 30)!.queries[0]!.expr));
  t.equal((stale.data?.result[0] as { value: [number, string] }).value[1], '2', 'the stat counts A and B');
});
