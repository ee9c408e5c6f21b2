/**
 * Prometheus alerting rules as code. Thresholds from the tender where it gives them:
 * core business data on the bus < 200 ms, dictionaries < 500 ms, a single outage at most
 * 2 h, availability >= 99.9 %; 7x24 monitoring of the private network (3.1.4).
 */
import { stringify } from 'yaml';
import { netmon as n, edge, central, device, backup as b } from './metric-names.ts';
import { utilisation } from './boards/network-overview.ts';

export interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels: { severity: 'info' | 'warning' | 'critical'; area: 'network' | 'edge' | 'central' | 'security' | 'backup' };
  annotations: { summary: string; description: string };
}

/** 36 h: one missed nightly backup window plus slack. */
export const BACKUP_MAX_AGE_S = 36 * 3600;

/**
 * Central's off-site copies (`owner` = a clinic id, or "central") older than 36 h, for clinics
 * still in the provisioned inventory only: provisioning writes every enrolled clinic's edge as
 * a target of the Prometheus job `edge` labelled `clinic` (targets/edges.json), and `up` of
 * such a target exists whether or not the edge answers. A removed clinic leaves that file, so
 * its backups kept on central's target no longer alert.
 */
export const offsiteBackupTooOld = `${b.lastGoodAge}{owner="central"} > ${BACKUP_MAX_AGE_S} or (${b.lastGoodAge} > ${BACKUP_MAX_AGE_S} and on(owner) label_replace(group by (clinic) (up{job="edge"}), "owner", "$1", "clinic", "(.+)"))`;

export interface RuleGroup {
  name: string;
  interval?: string;
  rules: AlertRule[];
}

/**
 * A clinic alert held while a planned maintenance window of the clinic (or of every clinic) is
 * open (central_clinic_maintenance, declared through central's API or the portal's 计划维护 page),
 * and for a clinic taken out of service (central_clinic_retired).
 */
const held = (expr: string) => `(${expr}) unless on(clinic) (${central.clinicMaintenance} == 1 or ${central.clinicRetired} == 1)`;
const net = (alert: string, expr: string, forD: string, severity: AlertRule['labels']['severity'], summary: string, description: string, area: AlertRule['labels']['area'] = 'network'): AlertRule =>
  ({ alert, expr, ...(forD ? { for: forD } : {}), labels: { severity, area }, annotations: { summary, description } });

export const ruleGroups: RuleGroup[] = [
  {
    name: 'health-network',
    rules: [
      net('NetworkDeviceDown', `${n.targetUp} == 0`, '2m', 'critical', '{{ $labels.target }} does not answer SNMP', 'The device has not answered SNMP polls for 2 minutes (or credentials are wrong). See netmon_impact_down for clinics behind it.'),
      net('ClinicCutOff', held(`max by (clinic, target) (${n.impactDown}) == 1`), '1m', 'critical', 'Clinic {{ $labels.clinic }} cut off by a fault at {{ $labels.target }}', 'Replication streams and registered medical devices of the clinic sit behind a failed device or link.'),
      net('LinkDown', `(${n.operUp} == 0) and on(target, ifName) netmon_link_info`, '2m', 'critical', 'Link {{ $labels.target }} {{ $labels.ifName }} is down', 'An inventory link that reaches clinics is operationally down.'),
      net('LinkHighUtilisation', `(${utilisation('in', '', '5m')}) > 0.8 or (${utilisation('out', '', '5m')}) > 0.8`, '10m', 'warning', '{{ $labels.target }} {{ $labels.ifName }} above 80 % utilisation', 'Sustained utilisation above 80 % for 10 minutes.'),
      net('InterfaceErrorRate', `(rate(${n.inErrors}[5m]) + rate(${n.outErrors}[5m])) / on(target, ifIndex) ((rate(${n.inUcast}[5m]) + rate(${n.outUcast}[5m])) > 0) > 0.01`, '10m', 'warning', '{{ $labels.target }} {{ $labels.ifName }} error rate above 1 %', 'More than 1 % of unicast packets on the interface have errors.'),
      net('SnmpPollErrors', `sum by (target, reason) (rate(${n.pollErrors}[10m])) > 0 and on(target) ${n.targetUp} == 1`, '30m', 'info', 'Intermittent SNMP errors from {{ $labels.target }} ({{ $labels.reason }})', 'The device answers, but some polls fail.'),
      net('DeviceRestarted', `increase(${n.restarts}[15m]) > 0`, '', 'info', '{{ $labels.target }} restarted', 'sysUpTime went backwards: the agent or device restarted.'),
      net('TrafficAnomaly', `${n.anomalyScore} > 4`, '10m', 'warning', 'Unusual traffic on {{ $labels.target }} {{ $labels.ifName }} ({{ $labels.direction }})', 'Traffic is far from the learned daily/weekly baseline for 10 minutes (score > 4).'),
      net('SnmpAuthenticationFailures', `increase(${n.traps}{type="authenticationFailure"}[10m]) > 0`, '', 'warning', 'Authentication failures reported by {{ $labels.target }}', 'A device reported SNMP authentication failures: possible intrusion attempt (tender 3.1.3).', 'security'),
      net('EdgeUnreachable', held(`${n.probeUp}{probe="edge_http"} == 0`), '3m', 'critical', 'Edge appliance of {{ $labels.clinic }} unreachable', 'GET {{ $labels.url }} failed for 3 minutes.', 'edge'),
      net('CentralUnreachable', `${n.probeUp}{probe=~"central_.*"} == 0`, '2m', 'critical', 'Central {{ $labels.probe }} unreachable', '{{ $labels.url }} failed for 2 minutes.', 'central'),
    ],
  },
  {
    name: 'replication',
    rules: [
      net('ReplicationLagHigh', held(`${central.clinicLag} > 600`), '5m', 'warning', 'Replication lag of {{ $labels.clinic }} above 10 minutes', 'Records written at the clinic reach central late.', 'edge'),
      // Tender 1.2.2 over a rolling 30 days, from central's outage log (central/availability).
      net('ExchangeAvailabilityBelowTarget', `${central.exchangeAvailability} < 0.999`, '10m', 'warning', 'Data exchange availability of {{ $labels.clinic }} below 99.9 % over 30 days', 'Over the last 30 days the clinic\'s data could reach central less than 99.9 % of the time (tender 1.2.2). The portal\'s 数据交换可用性 page lists its outages and which side they were on (clinic: its appliance, network or path to the hub; district: central or the hub).', 'edge'),
      net('ExchangeLossAboveTarget', `${central.exchangeLossRatio} >= 0.001`, '10m', 'critical', 'Records of {{ $labels.clinic }} lost: {{ $value | humanizePercentage }} over 30 days', 'Over the last 30 days at least 0.1 % of the clinic\'s records were lost (tender 1.2.2: loss below 0.1 %): the clinic re-seeded central and no longer held them (lost_at_source, after central lost applied records older than its stream). The portal\'s 无法入库的消息 page lists them by record; 数据交换可用性 gives the rate.', 'edge'),
      net('ReplicationOutageLimit', held(`${central.clinicLag} > 7200`), '', 'critical', 'Replication of {{ $labels.clinic }} behind by more than 2 h', 'Tender: a single outage must not exceed 2 hours.', 'edge'),
      net('ReplicationLatencyAboveTender', `histogram_quantile(0.95, sum by (le) (rate(${central.applyLatency}_bucket[10m]))) > 0.2`, '15m', 'warning', 'p95 edge-to-central latency above 200 ms', 'Tender: core business data on the bus < 200 ms.', 'central'),
      net('EdgeHeartbeatStale', held(`time() - ${central.clinicHeartbeat} > 300 and ${central.clinicHeartbeat} > 0`), '2m', 'warning', 'No heartbeat from {{ $labels.clinic }} for 5 minutes', 'Central has not heard from the clinic edge.', 'edge'),
      net('OutboxGrowing', held(`deriv(${edge.outboxDepth}[15m]) > 0 and ${edge.outboxDepth} > 100`), '15m', 'warning', 'Outbox of {{ $labels.clinic }} keeps growing', 'The edge writes faster than central confirms; check the link and the relay.', 'edge'),
      net('OutboxOldestPending', held(`${edge.oldestPendingAge} > 900`), '5m', 'warning', 'Oldest unconfirmed record of {{ $labels.clinic }} older than 15 minutes', 'Records are waiting for the applied watermark.', 'edge'),
      net('CentralLostAppliedRecords', `${edge.centralRegressed} == 1`, '', 'critical', 'Central lost applied records of {{ $labels.clinic }}', 'Central\'s applied watermark for the clinic stays below the receipt the edge already holds (and trimmed its outbox to): central\'s warehouse went back to an older point (restored from a backup?). Central replays what its records stream still holds (the edges do not count receipts it flags as replaying), so this fires only once that replay is over and central is still short: records older than the stream\'s 7 days are missing at central. The clinic admin re-seeds central from the edge (数据同步 page, 从本站回补中心数据): the latest version of each record is sent again; versions superseded inside the gap are logged at central as lost_at_source dead letters (edge-agent/sync/reseed.ts).', 'edge'),
      net('EdgeRelayDisconnected', held(`${edge.relayState} == 0`), '5m', 'warning', 'Relay of {{ $labels.clinic }} not publishing', 'The edge relay has been disconnected for 5 minutes.', 'edge'),
      net('MedicalDeviceDown', `${device.up} == 0`, '5m', 'warning', 'Device {{ $labels.device }} at {{ $labels.clinic }} not answering', 'The device driver has had no answer or data from the device for 5 minutes.', 'edge'),
      net('EdgeSyncParked', `${edge.syncDeadLetters} > 0`, '15m', 'warning', 'Messages from central parked at {{ $labels.clinic }} ({{ $labels.follower }})', 'The edge could not apply some messages of a central stream (EMPI merges, dictionaries or record migrations) after retrying, and parked them in sync_dead_letter; the rest of the stream goes on. Look at the reason, fix the cause, then replay or discard them.', 'edge'),
      net('EdgeSyncBlocked', `${edge.syncBlocked} == 1`, '10m', 'critical', 'Stream follower {{ $labels.follower }} at {{ $labels.clinic }} is stuck', 'A message that must apply before the next ones keeps failing: nothing after it is applied until it does, or until it is parked by hand.', 'edge'),
      net('DeadLetters', `increase(${central.deadLetters}[10m]) > 0`, '', 'warning', 'Central dead-lettered messages from {{ $labels.clinic }} ({{ $labels.reason }})', 'Records were rejected and kept with their reason: the portal\'s 运行状态 page counts them per clinic and its 无法入库的消息 page (/portal/dead-letters) lists them with what to do.', 'central'),
      // A clinic on line (heartbeat in the last 5 minutes) still holding an older version of a
      // dictionary half an hour after central published a newer one: its dictionaries follower is
      // not applying them (see EdgeSyncBlocked / EdgeSyncParked at that edge, and its 首页 page).
      net('DictionaryBehind', `(${central.dictionaryLatestVersion} - on(dictionary) group_right ${central.clinicDictionaryVersion} > 0) and on(clinic) (time() - ${central.clinicHeartbeat} < 300)`, '30m', 'warning', 'Clinic {{ $labels.clinic }} holds an old version of the {{ $labels.dictionary }} dictionary', 'The clinic is on line but has not applied the dictionary version central published more than 30 minutes ago (tender 1.2.1: standard dictionaries distributed to every subsystem). The portal\'s 运行状态 page shows which; at the edge, look for a blocked or parked dictionaries follower.', 'edge'),
      net('CentralReplayIncomplete', `increase(${central.ingestReplayUnavailable}[1h]) > 0`, '', 'critical', 'Central could not replay every record its warehouse lacks', 'Central\'s warehouse was behind its ingest consumer (restored from a backup, or a new warehouse) and the records stream no longer held some of the messages to replay (older than its 7 days): those records are missing at central; the clinics\' watermarks stay at the gap (CentralLostAppliedRecords names them). See central\'s log: its error line gives the first sequence and the count.', 'central'),
      // Central without the hub serves its API and portal but takes nothing in: clinics' records
      // wait at the edges, dictionary versions wait at central (central/app.ts, NatsLink).
      net('CentralHubDisconnected', `${central.hubConnected} == 0`, '2m', 'critical', 'Central is not connected to the NATS hub', 'Central has not reached the hub since it started, or lost it and is reconnecting: nothing comes in from the clinics (their records wait in their outboxes, nothing is lost) and new dictionary versions wait at central (central_dictionaries_pending). Its /healthz nats check and log give the reason (unreachable address, TLS, credentials); check the hub (netmon central_nats probe) and the path to it.', 'central'),
      // The clinic's image disk (edge-agent/imaging/storage.ts) and central's image archive (central/imaging/archive.ts).
      net('EdgeImagingRefusing', `${edge.imagingDiskFree} < ${edge.imagingDiskReserve} or increase(${edge.dicomNoSpace}[10m]) > 0`, '', 'critical', 'Clinic {{ $labels.clinic }} refuses images: its image disk is below the reserve', 'The edge answers new DICOM images with "out of resources" (the devices keep them and resend later) because the free space on its image disk is below EDGE_DICOM_DISK_RESERVE. Images already received are safe. Usually the images wait for upload to central and none can be removed yet: check the clinic\'s link to central and the archive (CentralArchiveRefusing); otherwise something else fills the disk. The clinic\'s 影像 page shows the figures.', 'edge'),
      net('EdgeImagingDiskLow', `${edge.imagingDiskFree} < ${edge.imagingDiskEvictBelow}`, '30m', 'warning', 'Image disk of {{ $labels.clinic }} stays below its eviction line', 'For 30 minutes the clinic\'s image disk has had less free space than EDGE_DICOM_EVICT_BELOW_FREE, and removing images the central archive holds has not brought it back: what is left waits for upload (check the link to central) or is not images. Below the reserve new images are refused.', 'edge'),
      net('CentralArchiveRefusing', `${central.archiveDiskFree} < ${central.archiveMinFree} or increase(${central.archiveRefused}[10m]) > 0`, '', 'critical', 'Central\'s image archive refuses uploads: disk below CENTRAL_IMAGING_MIN_FREE', 'Uploads of clinic images are answered 507: the clinics keep them and retry, and their image disks fill meanwhile (EdgeImagingRefusing follows). Add space to the archive\'s disk (<dataDir>/imaging).', 'central'),
      net('CentralArchiveDiskLow', `${central.archiveDiskFree} < 2 * ${central.archiveMinFree}`, '15m', 'warning', 'Central\'s image archive disk is running out', 'Less than twice CENTRAL_IMAGING_MIN_FREE is free on the archive\'s disk; below it uploads are refused. Plan more space.', 'central'),
      net('CentralIngestFailing', `increase(${central.ingestFailures}[5m]) > 0`, '5m', 'critical', 'Central cannot apply or flush records to its warehouse', 'Applying a batch or flushing it to disk keeps failing (disk full or failing, database down or locked): central acknowledges nothing meanwhile and retries; the records wait in JetStream and at the edges. See central\'s log for the error.', 'central'),
    ],
  },
  {
    // Tender 3.1.2 / 3.1.1: at least one backup a day. An edge backs up nightly (22:00-06:00) and
    // central 01:00-05:00, so 36 h without a good point means at least one night was missed.
    name: 'backup',
    rules: [
      net('EdgeBackupTooOld', `time() - ${b.edgeLastSuccess} > ${BACKUP_MAX_AGE_S} and on(instance, clinic) ${b.edgeConfigured} == 1`, '10m', 'critical', 'Last good backup of {{ $labels.clinic }} older than 36 h (or none)', 'The edge has not made a successful backup point for more than 36 hours (0 = never): see its 备份 page for the last failure. Tender 3.1.2: at least one backup a day.', 'backup'),
      net('EdgeBackupNotConfigured', `${b.edgeConfigured} == 0`, '1h', 'warning', 'Backups are not configured at {{ $labels.clinic }}', 'EDGE_BACKUP_KEY_FILE and EDGE_BACKUP_LOCAL_DIR are not set: this clinic has no backup (npm run provision generates them).', 'backup'),
      net('BackupTooOld', offsiteBackupTooOld, '10m', 'critical', 'Newest backup of {{ $labels.owner }} at central older than 36 h (or none)', 'For a clinic: its newest backup point on central\'s off-site target (the edge may be down or its upload failing). For owner "central": central\'s own backups. Clinics removed from provisioning do not alert.', 'backup'),
      net('EdgeBackupDrillFailed', `${b.edgeDrillOk} == 0`, '', 'warning', 'Restore drill failed at {{ $labels.clinic }}', 'The last automated restore drill of the clinic\'s backup did not pass: the backup may not be restorable.', 'backup'),
      net('BackupDrillFailed', `${b.drillOk} == 0`, '', 'warning', 'Restore drill of {{ $labels.owner }} failed', 'The last restore drill reported to central did not pass.', 'backup'),
      net('BackupDrillOverdue', `${b.drillAge} > 8 * 86400`, '1h', 'info', 'No restore drill of {{ $labels.owner }} for 8 days', 'Drills run weekly after a backup; none has been reported for more than 8 days.', 'backup'),
    ],
  },
];

/** The rules file Prometheus loads (`rule_files`). */
export function rulesYaml(groups: RuleGroup[] = ruleGroups): string {
  return '# Generated by dashboards/build.ts. Do not edit.\n' + stringify({ groups }, { lineWidth: 0 });
}
