/** Every edge and its replication to central: outbox, watermarks, lag, relay, dictionaries. */
import { edge, central, backup as b } from '../metric-names.ts';
import { BACKUP_MAX_AGE_S, offsiteBackupTooOld } from '../rules.ts';
import type { DashboardSpec } from '../spec.ts';

const C = 'clinic=~"$clinic"';
const RI = '$__rate_interval';

export const edgeFleet: DashboardSpec = {
  uid: 'edge-fleet',
  title: 'Edge fleet & replication',
  description: 'Outbox depth, applied watermarks and lag per clinic (transactional outbox -> JetStream -> central).',
  tags: ['health-network', 'replication'],
  variables: [{ name: 'clinic', label: 'Clinic', query: `label_values(${central.clinicAppliedSeq}, clinic)`, multi: true }],
  rows: [{
    title: 'Fleet',
    panels: [
      { id: 1, title: 'Clinics with lag > 10 min', kind: 'stat', queries: [{ expr: `count(${central.clinicLag} > 600) or vector(0)`, instant: true }], threshold: 1, w: 8, h: 4 },
      { id: 2, title: 'Edges without heartbeat for 5 min', kind: 'stat', queries: [{ expr: `count(time() - ${central.clinicHeartbeat} > 300) or vector(0)`, instant: true }], threshold: 1, w: 8, h: 4 },
      { id: 3, title: 'Dead letters (1 h)', kind: 'stat', queries: [{ expr: `sum(increase(${central.deadLetters}[1h])) or vector(0)`, instant: true }], threshold: 1, w: 8, h: 4 },
      { id: 4, title: 'Fleet: applied watermark', kind: 'table', queries: [{ expr: `${central.clinicAppliedSeq}{${C}}`, instant: true }], w: 12 },
      { id: 5, title: 'Fleet: heartbeat age', kind: 'table', unit: 's', queries: [{ expr: `time() - ${central.clinicHeartbeat}{${C}}`, instant: true }], w: 12 },
      { id: 26, title: 'Data exchange availability, last 30 days (target 99.9 %)', kind: 'table', unit: 'percentunit', description: 'From central\'s outage log: an outage starts at a clinic\'s last heartbeat after 2 min of silence and ends at its next heartbeat (portal: 数据交换可用性). Alert ExchangeAvailabilityBelowTarget below 0.999', queries: [{ expr: `${central.exchangeAvailability}{${C}}`, instant: true }], w: 12 },
      { id: 27, title: 'Longest outage, last 30 days (target at most 2 h)', kind: 'table', unit: 's', queries: [{ expr: `${central.exchangeLongestOutage}{${C}}`, instant: true }], w: 12 },
      { id: 28, title: 'Loss rate, last 30 days (target below 0.1 %)', kind: 'table', unit: 'percentunit', description: 'Records lost (re-seeded as no longer held at the clinic) over the records central accounted for in 30 days (portal: 数据交换可用性). Alert ExchangeLossAboveTarget at 0.001 or more', queries: [{ expr: `${central.exchangeLossRatio}{${C}}`, instant: true }], w: 12 },
      { id: 29, title: 'Records received, last 30 days', kind: 'table', queries: [{ expr: `${central.exchangeRecords}{${C}}`, instant: true }], w: 12 },
      { id: 40, title: 'Planned maintenance windows (1 = in a window: clinic alerts held, outage time counted as planned)', kind: 'timeseries', description: 'Declared on the portal\'s 计划维护 page or POST /api/maintenance', queries: [{ expr: `${central.clinicMaintenance}{${C}}`, legend: '{{clinic}}' }], min: 0, max: 1, w: 24, h: 5 },
    ],
  }, {
    title: 'Replication',
    panels: [
      { id: 10, title: 'Outbox depth (edge)', kind: 'timeseries', queries: [{ expr: `${edge.outboxDepth}{${C}}`, legend: '{{clinic}}' }] },
      { id: 11, title: 'Outbox depth (as reported to central)', kind: 'timeseries', queries: [{ expr: `${central.clinicOutboxDepth}{${C}}`, legend: '{{clinic}}' }] },
      { id: 12, title: 'Replication lag', kind: 'timeseries', unit: 's', threshold: 600, queries: [{ expr: `${central.clinicLag}{${C}}`, legend: '{{clinic}}' }] },
      { id: 13, title: 'Oldest pending record age', kind: 'timeseries', unit: 's', queries: [{ expr: `${edge.oldestPendingAge}{${C}}`, legend: '{{clinic}}' }] },
      { id: 14, title: 'Written but not yet confirmed (last seq - receipt)', kind: 'timeseries', queries: [{ expr: `${edge.lastSeq}{${C}} - ${edge.receiptSeq}{${C}}`, legend: '{{clinic}}' }] },
      { id: 15, title: 'Records held above a gap', kind: 'timeseries', queries: [{ expr: `${central.clinicPending}{${C}}`, legend: '{{clinic}}' }] },
      { id: 16, title: 'Applied per second', kind: 'timeseries', unit: 'short', queries: [{ expr: `sum by (clinic) (rate(${central.applied}{${C}}[${RI}]))`, legend: '{{clinic}}' }] },
      { id: 17, title: 'Relay: published / re-sent / errors', kind: 'timeseries', unit: 'short', queries: [
        { expr: `rate(${edge.published}{${C}}[${RI}])`, legend: 'published {{clinic}}' },
        { expr: `rate(${edge.republished}{${C}}[${RI}])`, legend: 're-sent {{clinic}}' },
        { expr: `rate(${edge.publishErrors}{${C}}[${RI}])`, legend: 'errors {{clinic}}' },
      ] },
      { id: 18, title: 'Relay connected', kind: 'timeseries', max: 1, queries: [{ expr: `${edge.relayState}{${C}}`, legend: '{{clinic}}' }] },
      { id: 19, title: 'Time since last receipt', kind: 'timeseries', unit: 's', queries: [{ expr: `time() - (${edge.lastReceipt}{${C}} > 0)`, legend: '{{clinic}}' }] },
      { id: 25, title: 'Dead letters by clinic and reason', kind: 'timeseries', unit: 'short', queries: [{ expr: `sum by (clinic, reason) (increase(${central.deadLetters}{${C}}[${RI}]))`, legend: '{{clinic}} {{reason}}' }] },
      { id: 20, title: 'Duplicates / held / conflicts / ingest faults', kind: 'timeseries', unit: 'short', queries: [
        { expr: `rate(${central.duplicates}[${RI}])`, legend: 'duplicates' },
        { expr: `rate(${central.held}[${RI}])`, legend: 'held' },
        { expr: `rate(${central.conflicts}[${RI}])`, legend: 'resident conflicts' },
        { expr: `rate(${central.ingestGapFetched}[${RI}])`, legend: 'lost deliveries fetched from the stream' },
        { expr: `rate(${central.ingestCopiesDropped}[${RI}])`, legend: 'redelivered copies dropped' },
        { expr: `rate(${central.ingestFailures}[${RI}])`, legend: 'warehouse apply/flush failures' },
      ] },
      { id: 21, title: 'Dictionary versions', kind: 'table', queries: [{ expr: `${central.clinicDictionaryVersion}{${C}}`, instant: true }] },
      { id: 24, title: 'Dictionary versions behind central\'s latest (0 = up to date)', kind: 'table', description: 'Alert DictionaryBehind when above 0 for 30 min on a clinic that is on line', queries: [{ expr: `${central.dictionaryLatestVersion} - on(dictionary) group_right ${central.clinicDictionaryVersion}{${C}}`, instant: true }] },
      { id: 22, title: 'Edge writes per second', kind: 'timeseries', unit: 'short', queries: [{ expr: `sum by (clinic) (rate(${edge.writes}{${C}}[${RI}]))`, legend: '{{clinic}}' }] },
      { id: 23, title: 'Central ingest: backlog and records per transaction', kind: 'timeseries', unit: 'short', description: 'Messages delivered to central and not yet applied, and the median batch: both stay small while central keeps up; under a catch-up the batch grows to CENTRAL_MAX_BATCH', queries: [
        { expr: `${central.ingestBuffered}`, legend: 'waiting at central' },
        { expr: `histogram_quantile(0.5, sum by (le) (rate(${central.ingestBatchRecords}_bucket[${RI}])))`, legend: 'records per transaction (median)' },
      ] },
    ],
  }, {
    title: 'Backups',
    panels: [
      { id: 30, title: 'Edges whose last good backup is older than 36 h (or none)', kind: 'stat', description: 'Alert EdgeBackupTooOld', queries: [{ expr: `count((time() - ${b.edgeLastSuccess}{${C}} > ${BACKUP_MAX_AGE_S}) and on(instance, clinic) ${b.edgeConfigured} == 1) or vector(0)`, instant: true }], threshold: 1, w: 6, h: 4 },
      { id: 31, title: 'Edges without backups configured', kind: 'stat', queries: [{ expr: `count(${b.edgeConfigured}{${C}} == 0) or vector(0)`, instant: true }], threshold: 1, w: 6, h: 4 },
      { id: 32, title: 'Off-site copies at central older than 36 h (or none)', kind: 'stat', description: 'Alert BackupTooOld (provisioned clinics on central\'s target, and central\'s own backups)', queries: [{ expr: `count(${offsiteBackupTooOld}) or vector(0)`, instant: true }], threshold: 1, w: 6, h: 4 },
      { id: 33, title: 'Failed restore drills', kind: 'stat', queries: [{ expr: `count(${b.edgeDrillOk}{${C}} == 0 or ${b.drillOk} == 0) or vector(0)`, instant: true }], threshold: 1, w: 6, h: 4 },
      { id: 34, title: 'Age of the last good backup (edge)', kind: 'timeseries', unit: 's', threshold: BACKUP_MAX_AGE_S, queries: [{ expr: `time() - (${b.edgeLastSuccess}{${C}} > 0)`, legend: '{{clinic}}' }] },
      { id: 35, title: 'Age of the newest backup point at central (off-site)', kind: 'timeseries', unit: 's', threshold: BACKUP_MAX_AGE_S, queries: [{ expr: `${b.lastGoodAge} < 1e9`, legend: '{{owner}}' }] },
      { id: 36, title: 'Restore drill: RPO and RTO', kind: 'table', unit: 's', queries: [
        { expr: `${b.edgeRpo}{${C}}`, instant: true, legend: 'RPO {{clinic}}' },
        { expr: `${b.edgeRto}{${C}}`, instant: true, legend: 'RTO {{clinic}}' },
      ] },
      { id: 37, title: 'Last backup size (total / stored)', kind: 'timeseries', unit: 'bytes', queries: [{ expr: `${b.edgeLastBytes}{${C}}`, legend: '{{clinic}} {{what}}' }] },
      { id: 38, title: 'Backup runs by outcome (1 d)', kind: 'table', queries: [{ expr: `sum by (clinic, what, outcome) (increase(${b.edgeRuns}{${C}}[1d]))`, instant: true }] },
      { id: 39, title: 'Backups stored at central per owner', kind: 'table', unit: 'bytes', queries: [{ expr: `${b.targetBytes}`, instant: true }] },
    ],
  }],
};
