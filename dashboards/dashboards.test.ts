/** Static checks of the generated provisioning: promtool, stable ids, file layout. */
import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { dashboards, ruleGroups, writeProvisioning, expandTemplate } from './index.ts';
import { nodeCommand } from '../test/helpers/node-child.ts';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..');

t.test('build CLI writes provisioning files; promtool accepts the rules', async (t) => {
  const out = mkdtempSync(join(tmpdir(), 'dash-build-'));
  t.teardown(() => rmSync(out, { recursive: true, force: true }));
  const cmd = nodeCommand(['--import', 'tsx', join(root, 'dashboards/build.ts'), '--out', out, '--prometheus-url', 'http://prom:9090']);
  const { stdout } = await run(cmd.file, cmd.args, { cwd: root });
  const w = JSON.parse(stdout) as { rules: string; datasource: string; provider: string; dashboards: string[] };
  t.equal(w.dashboards.length, dashboards.length);
  for (const f of [w.rules, w.datasource, w.provider, ...w.dashboards]) t.ok(existsSync(f), f);
  const ds = parse(readFileSync(w.datasource, 'utf8')) as { datasources: { type: string; url: string }[] };
  t.same([ds.datasources[0]!.type, ds.datasources[0]!.url], ['prometheus', 'http://prom:9090']);
  const prov = parse(readFileSync(w.provider, 'utf8')) as { providers: { type: string; options: { path: string } }[] };
  t.equal(prov.providers[0]!.options.path, join(out, 'grafana/dashboards'));
  const { stdout: check } = await run('promtool', ['check', 'rules', w.rules]);
  t.match(check, /SUCCESS: \d+ rules found/);
  for (const f of w.dashboards) {
    const d = JSON.parse(readFileSync(f, 'utf8')) as { uid: string; panels: { id?: number; type: string; targets?: { expr: string }[] }[] };
    const ids = d.panels.map((p) => p.id);
    t.ok(ids.every((i) => typeof i === 'number'), `${d.uid}: every panel and row has an id`);
    t.equal(new Set(ids).size, ids.length, `${d.uid}: ids unique`);
  }
});

t.test('alert rules behave: promtool unit test on synthetic series', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dash-rules-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeProvisioning(dir);
  const rules = join(dir, 'prometheus/rules/health-network.rules.yml');
  writeFileSync(join(dir, 'test.yml'), `
rule_files: [ "${rules}" ]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      - series: 'netmon_target_up{target="sw-1", kind="switch"}'
        values: '1 0 0 0 0'
      - series: 'netmon_impact_down{target="sw-1", ifName="", clinic="c-1", stream="EDGE_RECORDS:clinic.c-1.rec.>"}'
        values: '_ 1 1 1 1'
      - series: 'central_clinic_lag_seconds{clinic="c-2"}'
        values: '10 7300 7400 7500 7600'
      # c-3 and c-4 fall as far behind during planned maintenance windows: c-3's lasts the whole test, c-4's ends at 2 min.
      - series: 'central_clinic_lag_seconds{clinic="c-3"}'
        values: '10 7300 7400 7500 7600'
      - series: 'central_clinic_maintenance{instance="central", clinic="c-3"}'
        values: '1x30'
      - series: 'central_clinic_lag_seconds{clinic="c-4"}'
        values: '10 7300 7400 7500 7600'
      - series: 'central_clinic_maintenance{instance="central", clinic="c-4"}'
        values: '1 1 1 0x27'
      - series: 'central_clinic_maintenance{instance="central", clinic="c-2"}'
        values: '0x30'
      # c-5 was taken out of service (停用): as far behind, no alert.
      - series: 'central_clinic_lag_seconds{clinic="c-5"}'
        values: '10 7300 7400 7500 7600'
      - series: 'central_clinic_retired{instance="central", clinic="c-5"}'
        values: '1x30'
      # Backups: c-old's last good point was ~55 h before the test's epoch; c-new backed up at 60 s.
      - series: 'edge_backup_last_success_timestamp_seconds{instance="e1", clinic="c-old"}'
        values: '-200000x30'
      - series: 'edge_backup_configured{instance="e1", clinic="c-old"}'
        values: '1x30'
      - series: 'edge_backup_last_success_timestamp_seconds{instance="e2", clinic="c-new"}'
        values: '60x30'
      - series: 'edge_backup_configured{instance="e2", clinic="c-new"}'
        values: '1x30'
      - series: 'backup_last_good_age_seconds{owner="c-old"}'
        values: '129000+60x30'
      - series: 'backup_last_good_age_seconds{owner="c-new"}'
        values: '100x30'
      # c-gone was removed from provisioning (no edge target any more); its copies stay on central's target.
      - series: 'backup_last_good_age_seconds{owner="c-gone"}'
        values: '129000+60x30'
      - series: 'backup_last_good_age_seconds{owner="central"}'
        values: '129000+60x30'
      # Provisioned edges: targets of the job edge labelled clinic (c-old's edge does not answer).
      - series: 'up{job="edge", instance="e1", clinic="c-old"}'
        values: '0x30'
      - series: 'up{job="edge", instance="e2", clinic="c-new"}'
        values: '1x30'
      # Stream followers: c-new parked one EMPI event at 2 min and replayed it at 20 min; c-old's dictionaries follower is stuck.
      - series: 'edge_sync_dead_letters{instance="e2", clinic="c-new", follower="empi"}'
        values: '0 0 1x17 0x10'
      - series: 'edge_sync_blocked{instance="e1", clinic="c-old", follower="dictionaries"}'
        values: '0 1x29'
      # c-flaky's 30-day availability drops below the target at 3 min.
      - series: 'central_clinic_exchange_availability_ratio{instance="central", clinic="c-flaky"}'
        values: '0.9995 0.9995 0.9995 0.998x30'
      # c-reseeded lost 3 of 1,000 records (re-seeded after central lost them) from 4 min; c-fine lost 1 of 2,000 (0.05 %).
      - series: 'central_clinic_exchange_loss_ratio{instance="central", clinic="c-reseeded"}'
        values: '0 0 0 0 0.003x30'
      - series: 'central_clinic_exchange_loss_ratio{instance="central", clinic="c-fine"}'
        values: '0.0005x34'
      # Central loses the hub from 2 min to 6 min (a one-minute blip at 10 min does not alert).
      - series: 'central_hub_connected{instance="central"}'
        values: '1 1 0 0 0 0 1 1 1 1 0 1x10'
      # Central's warehouse fails from 3 min to 12 min (every retry counted), then recovers.
      - series: 'central_ingest_failures_total{instance="central"}'
        values: '0 0 0 1+2x9 19x15'
      # Central restored at 8 min from a point the stream no longer fully holds: 120 messages could not be replayed.
      - series: 'central_ingest_replay_unavailable_total{instance="central"}'
        values: '0x7 120x21'
      # Central restored to an older point at 6 min: c-new's edge holds a higher receipt from then on.
      - series: 'edge_relay_central_watermark_regressed{instance="e2", clinic="c-new"}'
        values: '0x5 1x24'
      # Central publishes drugs v2 at 5 min; c-dict-ok applies it a minute later, c-dict (on line,
      # heartbeat every minute) never does, c-dict-off never does but has been silent since the start.
      - series: 'central_dictionary_latest_version{instance="central", dictionary="drugs"}'
        values: '1x4 2x45'
      - series: 'central_clinic_dictionary_version{instance="central", clinic="c-dict-ok", dictionary="drugs"}'
        values: '1x5 2x44'
      - series: 'central_clinic_dictionary_version{instance="central", clinic="c-dict", dictionary="drugs"}'
        values: '1x49'
      - series: 'central_clinic_dictionary_version{instance="central", clinic="c-dict-off", dictionary="drugs"}'
        values: '1x49'
      - series: 'central_clinic_last_heartbeat_timestamp_seconds{instance="central", clinic="c-dict"}'
        values: '0+60x49'
      - series: 'central_clinic_last_heartbeat_timestamp_seconds{instance="central", clinic="c-dict-ok"}'
        values: '0+60x49'
      - series: 'central_clinic_last_heartbeat_timestamp_seconds{instance="central", clinic="c-dict-off"}'
        values: '1x49'
    alert_rule_test:
      - eval_time: 30m
        alertname: DictionaryBehind
        exp_alerts: []
      - eval_time: 40m
        alertname: DictionaryBehind
        exp_alerts:
          - exp_labels: { severity: warning, area: edge, instance: central, clinic: c-dict, dictionary: drugs }
            exp_annotations: { summary: "Clinic c-dict holds an old version of the drugs dictionary", description: "The clinic is on line but has not applied the dictionary version central published more than 30 minutes ago (tender 1.2.1: standard dictionaries distributed to every subsystem). The portal's 运行状态 page shows which; at the edge, look for a blocked or parked dictionaries follower." }
      - eval_time: 10m
        alertname: EdgeSyncParked
        exp_alerts: []
      - eval_time: 18m
        alertname: EdgeSyncParked
        exp_alerts:
          - exp_labels: { severity: warning, area: edge, instance: e2, clinic: c-new, follower: empi }
            exp_annotations: { summary: "Messages from central parked at c-new (empi)", description: "The edge could not apply some messages of a central stream (EMPI merges, dictionaries or record migrations) after retrying, and parked them in sync_dead_letter; the rest of the stream goes on. Look at the reason, fix the cause, then replay or discard them." }
      - eval_time: 25m
        alertname: EdgeSyncParked
        exp_alerts: []
      - eval_time: 12m
        alertname: EdgeSyncBlocked
        exp_alerts:
          - exp_labels: { severity: critical, area: edge, instance: e1, clinic: c-old, follower: dictionaries }
            exp_annotations: { summary: "Stream follower dictionaries at c-old is stuck", description: "A message that must apply before the next ones keeps failing: nothing after it is applied until it does, or until it is parked by hand." }
      - eval_time: 12m
        alertname: ExchangeAvailabilityBelowTarget
        exp_alerts: []
      - eval_time: 14m
        alertname: ExchangeAvailabilityBelowTarget
        exp_alerts:
          - exp_labels: { severity: warning, area: edge, instance: central, clinic: c-flaky }
            exp_annotations: { summary: "Data exchange availability of c-flaky below 99.9 % over 30 days", description: "Over the last 30 days the clinic's data could reach central less than 99.9 % of the time (tender 1.2.2). The portal's 数据交换可用性 page lists its outages and which side they were on (clinic: its appliance, network or path to the hub; district: central or the hub)." }
      - eval_time: 13m
        alertname: ExchangeLossAboveTarget
        exp_alerts: []
      - eval_time: 15m
        alertname: ExchangeLossAboveTarget
        exp_alerts:
          - exp_labels: { severity: critical, area: edge, instance: central, clinic: c-reseeded }
            exp_annotations: { summary: "Records of c-reseeded lost: 0.3% over 30 days", description: "Over the last 30 days at least 0.1 % of the clinic's records were lost (tender 1.2.2: loss below 0.1 %): the clinic re-seeded central and no longer held them (lost_at_source, after central lost applied records older than its stream). The portal's 无法入库的消息 page lists them by record; 数据交换可用性 gives the rate." }
      - eval_time: 3m
        alertname: CentralHubDisconnected
        exp_alerts: []
      - eval_time: 5m
        alertname: CentralHubDisconnected
        exp_alerts:
          - exp_labels: { severity: critical, area: central, instance: central }
            exp_annotations: { summary: "Central is not connected to the NATS hub", description: "Central has not reached the hub since it started, or lost it and is reconnecting: nothing comes in from the clinics (their records wait in their outboxes, nothing is lost) and new dictionary versions wait at central (central_dictionaries_pending). Its /healthz nats check and log give the reason (unreachable address, TLS, credentials); check the hub (netmon central_nats probe) and the path to it." }
      - eval_time: 11m
        alertname: CentralHubDisconnected
        exp_alerts: []
      - eval_time: 5m
        alertname: CentralIngestFailing
        exp_alerts: []
      - eval_time: 10m
        alertname: CentralIngestFailing
        exp_alerts:
          - exp_labels: { severity: critical, area: central, instance: central }
            exp_annotations: { summary: "Central cannot apply or flush records to its warehouse", description: "Applying a batch or flushing it to disk keeps failing (disk full or failing, database down or locked): central acknowledges nothing meanwhile and retries; the records wait in JetStream and at the edges. See central's log for the error." }
      - eval_time: 22m
        alertname: CentralIngestFailing
        exp_alerts: []
      - eval_time: 7m
        alertname: CentralReplayIncomplete
        exp_alerts: []
      - eval_time: 9m
        alertname: CentralReplayIncomplete
        exp_alerts:
          - exp_labels: { severity: critical, area: central, instance: central }
            exp_annotations: { summary: "Central could not replay every record its warehouse lacks", description: "Central's warehouse was behind its ingest consumer (restored from a backup, or a new warehouse) and the records stream no longer held some of the messages to replay (older than its 7 days): those records are missing at central; the clinics' watermarks stay at the gap (CentralLostAppliedRecords names them). See central's log: its error line gives the first sequence and the count." }
      - eval_time: 5m
        alertname: CentralLostAppliedRecords
        exp_alerts: []
      - eval_time: 7m
        alertname: CentralLostAppliedRecords
        exp_alerts:
          - exp_labels: { severity: critical, area: edge, instance: e2, clinic: c-new }
            exp_annotations: { summary: "Central lost applied records of c-new", description: "Central's applied watermark for the clinic stays below the receipt the edge already holds (and trimmed its outbox to): central's warehouse went back to an older point (restored from a backup?). Central replays what its records stream still holds (the edges do not count receipts it flags as replaying), so this fires only once that replay is over and central is still short: records older than the stream's 7 days are missing at central. The clinic admin re-seeds central from the edge (数据同步 page, 从本站回补中心数据): the latest version of each record is sent again; versions superseded inside the gap are logged at central as lost_at_source dead letters (edge-agent/sync/reseed.ts)." }
      - eval_time: 4m
        alertname: NetworkDeviceDown
        exp_alerts:
          - exp_labels: { severity: critical, area: network, target: sw-1, kind: switch }
            exp_annotations: { summary: "sw-1 does not answer SNMP", description: "The device has not answered SNMP polls for 2 minutes (or credentials are wrong). See netmon_impact_down for clinics behind it." }
      - eval_time: 2m
        alertname: ReplicationOutageLimit
        exp_alerts:
          - exp_labels: { severity: critical, area: edge, clinic: c-2 }
            exp_annotations: { summary: "Replication of c-2 behind by more than 2 h", description: "Tender: a single outage must not exceed 2 hours." }
      - eval_time: 4m
        alertname: ReplicationOutageLimit
        exp_alerts:
          - exp_labels: { severity: critical, area: edge, clinic: c-2 }
            exp_annotations: { summary: "Replication of c-2 behind by more than 2 h", description: "Tender: a single outage must not exceed 2 hours." }
          - exp_labels: { severity: critical, area: edge, clinic: c-4 }
            exp_annotations: { summary: "Replication of c-4 behind by more than 2 h", description: "Tender: a single outage must not exceed 2 hours." }
      - eval_time: 4m
        alertname: ClinicCutOff
        exp_alerts:
          - exp_labels: { severity: critical, area: network, clinic: c-1, target: sw-1 }
            exp_annotations: { summary: "Clinic c-1 cut off by a fault at sw-1", description: "Replication streams and registered medical devices of the clinic sit behind a failed device or link." }
      - eval_time: 5m
        alertname: EdgeBackupTooOld
        exp_alerts: []
      - eval_time: 15m
        alertname: EdgeBackupTooOld
        exp_alerts:
          - exp_labels: { severity: critical, area: backup, instance: e1, clinic: c-old }
            exp_annotations: { summary: "Last good backup of c-old older than 36 h (or none)", description: "The edge has not made a successful backup point for more than 36 hours (0 = never): see its 备份 page for the last failure. Tender 3.1.2: at least one backup a day." }
      # c-old's off-site copy crosses 36 h (129600 s) at 10 min, fires 10 min later.
      - eval_time: 15m
        alertname: BackupTooOld
        exp_alerts: []
      - eval_time: 25m
        alertname: BackupTooOld
        exp_alerts:
          - exp_labels: { severity: critical, area: backup, owner: c-old }
            exp_annotations: { summary: "Newest backup of c-old at central older than 36 h (or none)", description: "For a clinic: its newest backup point on central's off-site target (the edge may be down or its upload failing). For owner \\"central\\": central's own backups. Clinics removed from provisioning do not alert." }
          - exp_labels: { severity: critical, area: backup, owner: central }
            exp_annotations: { summary: "Newest backup of central at central older than 36 h (or none)", description: "For a clinic: its newest backup point on central's off-site target (the edge may be down or its upload failing). For owner \\"central\\": central's own backups. Clinics removed from provisioning do not alert." }
`);
  const r = await run('promtool', ['test', 'rules', join(dir, 'test.yml')]).catch((e: { stdout: string; stderr: string }) => e);
  t.match(r.stdout + r.stderr, /SUCCESS/, r.stdout + r.stderr);
});

t.test('image disk alerts: promtool unit test (edge refusing, edge below its eviction line, central archive)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'dash-disk-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeProvisioning(dir);
  const rules = join(dir, 'prometheus/rules/health-network.rules.yml');
  const desc = (name: string) => ruleGroups.flatMap((g) => g.rules).find((r) => r.alert === name)!.annotations.description.replaceAll('"', '\\"');
  writeFileSync(join(dir, 'test.yml'), `
rule_files: [ "${rules}" ]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # c-full: below its reserve from the start. c-ok: plenty. c-low: between the reserve and the
      # eviction line for 40 min. c-burst: room by the gauge, but refusals counted at 3 min
      # (a burst between two readings of the disk).
      - series: 'edge_imaging_disk_free_bytes{instance="e1", clinic="c-full"}'
        values: '5000000x40'
      - series: 'edge_imaging_disk_reserve_bytes{instance="e1", clinic="c-full"}'
        values: '8000000x40'
      - series: 'edge_imaging_disk_evict_below_bytes{instance="e1", clinic="c-full"}'
        values: '16000000x40'
      - series: 'edge_imaging_disk_free_bytes{instance="e2", clinic="c-ok"}'
        values: '50000000000x40'
      - series: 'edge_imaging_disk_reserve_bytes{instance="e2", clinic="c-ok"}'
        values: '1000000000x40'
      - series: 'edge_imaging_disk_evict_below_bytes{instance="e2", clinic="c-ok"}'
        values: '5000000000x40'
      - series: 'device_dicom_stores_no_space_total{instance="e2", clinic="c-ok"}'
        values: '0x40'
      - series: 'edge_imaging_disk_free_bytes{instance="e3", clinic="c-low"}'
        values: '3000000000x40'
      - series: 'edge_imaging_disk_reserve_bytes{instance="e3", clinic="c-low"}'
        values: '1000000000x40'
      - series: 'edge_imaging_disk_evict_below_bytes{instance="e3", clinic="c-low"}'
        values: '5000000000x40'
      - series: 'edge_imaging_disk_free_bytes{instance="e4", clinic="c-burst"}'
        values: '9000000000x40'
      - series: 'edge_imaging_disk_reserve_bytes{instance="e4", clinic="c-burst"}'
        values: '1000000000x40'
      - series: 'edge_imaging_disk_evict_below_bytes{instance="e4", clinic="c-burst"}'
        values: '5000000000x40'
      - series: 'device_dicom_stores_no_space_total{instance="e4", clinic="c-burst"}'
        values: '0 0 0 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4 4'
      # Central's archive: below twice its kept free space from the start, below it from 21 min.
      - series: 'central_imaging_archive_free_bytes{instance="central"}'
        values: '3000000000x20 1000000000x20'
      - series: 'central_imaging_archive_min_free_bytes{instance="central"}'
        values: '2000000000x40'
      - series: 'central_imaging_uploads_refused_total{instance="central", reason="no-space"}'
        values: '0x40'
    alert_rule_test:
      - eval_time: 1m
        alertname: EdgeImagingRefusing
        exp_alerts:
          - exp_labels: { severity: critical, area: edge, instance: e1, clinic: c-full }
            exp_annotations: { summary: "Clinic c-full refuses images: its image disk is below the reserve", description: "${desc('EdgeImagingRefusing')}" }
      - eval_time: 5m
        alertname: EdgeImagingRefusing
        exp_alerts:
          - exp_labels: { severity: critical, area: edge, instance: e1, clinic: c-full }
            exp_annotations: { summary: "Clinic c-full refuses images: its image disk is below the reserve", description: "${desc('EdgeImagingRefusing')}" }
          - exp_labels: { severity: critical, area: edge, instance: e4, clinic: c-burst }
            exp_annotations: { summary: "Clinic c-burst refuses images: its image disk is below the reserve", description: "${desc('EdgeImagingRefusing')}" }
      - eval_time: 20m
        alertname: EdgeImagingRefusing
        exp_alerts:
          - exp_labels: { severity: critical, area: edge, instance: e1, clinic: c-full }
            exp_annotations: { summary: "Clinic c-full refuses images: its image disk is below the reserve", description: "${desc('EdgeImagingRefusing')}" }
      - eval_time: 20m
        alertname: EdgeImagingDiskLow
        exp_alerts: []
      - eval_time: 35m
        alertname: EdgeImagingDiskLow
        exp_alerts:
          - exp_labels: { severity: warning, area: edge, instance: e1, clinic: c-full }
            exp_annotations: { summary: "Image disk of c-full stays below its eviction line", description: "${desc('EdgeImagingDiskLow')}" }
          - exp_labels: { severity: warning, area: edge, instance: e3, clinic: c-low }
            exp_annotations: { summary: "Image disk of c-low stays below its eviction line", description: "${desc('EdgeImagingDiskLow')}" }
      - eval_time: 10m
        alertname: CentralArchiveDiskLow
        exp_alerts: []
      - eval_time: 17m
        alertname: CentralArchiveDiskLow
        exp_alerts:
          - exp_labels: { severity: warning, area: central, instance: central }
            exp_annotations: { summary: "Central's image archive disk is running out", description: "${desc('CentralArchiveDiskLow')}" }
      - eval_time: 19m
        alertname: CentralArchiveRefusing
        exp_alerts: []
      - eval_time: 22m
        alertname: CentralArchiveRefusing
        exp_alerts:
          - exp_labels: { severity: critical, area: central, instance: central }
            exp_annotations: { summary: "Central's image archive refuses uploads: disk below CENTRAL_IMAGING_MIN_FREE", description: "${desc('CentralArchiveRefusing')}" }
`);
  const r = await run('promtool', ['test', 'rules', join(dir, 'test.yml')]).catch((e: { stdout: string; stderr: string }) => e);
  t.match(r.stdout + r.stderr, /SUCCESS/, r.stdout + r.stderr);
});

t.test('specs: unique ids, every query expands, rule names unique', async (t) => {
  for (const d of dashboards) {
    const ids = d.rows.flatMap((r) => r.panels.map((p) => p.id));
    t.equal(new Set(ids).size, ids.length, `${d.uid} ids unique`);
    for (const r of d.rows) for (const p of r.panels) for (const q of p.queries) t.notMatch(expandTemplate(q.expr), /\$/, `${d.uid}/${p.id} expands`);
  }
  const names = ruleGroups.flatMap((g) => g.rules.map((r) => r.alert));
  t.equal(new Set(names).size, names.length);
  t.ok(names.includes('LinkDown') && names.includes('EdgeUnreachable') && names.includes('OutboxGrowing') && names.includes('TrafficAnomaly'));
});
