/**
 * Metric names the dashboards and rules use beyond contracts/metrics.ts.
 * `netmon` mirrors what network-monitor exports (checked by the Prometheus test).
 * `pending` are names defined here for device and central-API panels whose producers
 * do not export them yet: the panels show "No data" until they do (see README).
 */
import { metricNames } from '../contracts/index.ts';

export const edge = metricNames.edge;
export const central = metricNames.central;

export const netmon = {
  targetUp: 'netmon_target_up',
  targetInfo: 'netmon_target_info',
  uptime: 'netmon_target_uptime_seconds',
  restarts: 'netmon_target_restarts_total',
  pollDuration: 'netmon_poll_duration_seconds',
  polls: 'netmon_polls_total',
  pollErrors: 'netmon_poll_errors_total',
  oids: 'netmon_oids_collected_total',
  inOctets: 'netmon_if_in_octets_total',
  outOctets: 'netmon_if_out_octets_total',
  inUcast: 'netmon_if_in_unicast_packets_total',
  outUcast: 'netmon_if_out_unicast_packets_total',
  inBroadcast: 'netmon_if_in_broadcast_packets_total',
  outBroadcast: 'netmon_if_out_broadcast_packets_total',
  inMulticast: 'netmon_if_in_multicast_packets_total',
  outMulticast: 'netmon_if_out_multicast_packets_total',
  inErrors: 'netmon_if_in_errors_total',
  outErrors: 'netmon_if_out_errors_total',
  inDiscards: 'netmon_if_in_discards_total',
  outDiscards: 'netmon_if_out_discards_total',
  operUp: 'netmon_if_oper_up',
  adminStatus: 'netmon_if_admin_status',
  speed: 'netmon_if_speed_bits_per_second',
  cpu: 'netmon_host_cpu_load_ratio',
  storageSize: 'netmon_host_storage_size_bytes',
  storageUsed: 'netmon_host_storage_used_bytes',
  traps: 'netmon_traps_total',
  trapErrors: 'netmon_trap_errors_total',
  events: 'netmon_events_total',
  probeUp: 'netmon_probe_up',
  probeDuration: 'netmon_probe_duration_seconds',
  impactDown: 'netmon_impact_down',
  impactDevice: 'netmon_impact_device_down',
  impactClinics: 'netmon_impact_clinics',
  anomalyScore: 'netmon_anomaly_score',
} as const;

/**
 * Device metrics as device-drivers/metrics.ts exports them today (labels driver, device,
 * protocol; the edge adds clinic). Not in contracts/ yet, so the strings are repeated here:
 * dashboards may import only contracts/.
 */
export const device = {
  readings: 'device_readings_total',
  errors: 'device_errors_total',
  up: 'device_up',
  lastSeen: 'device_last_seen_timestamp_seconds',
  latency: 'device_poll_latency_seconds',
  driverEvents: 'device_driver_events_total',
} as const;

/** DICOM SCP (edge imaging module) and central HTTP API. */
export const pending = {
  dicomStored: 'device_dicom_instances_stored_total',
  dicomAssociations: 'device_dicom_associations_total',
  centralHttpRequests: 'central_http_requests_total',
  centralHttpDuration: 'central_http_request_duration_seconds',
} as const;

/**
 * Backup metrics: the edge's backup module (edge-agent/backup/index.ts, label `clinic` from the
 * edge's default labels) and central's backup target and own backups (central/backup/index.ts,
 * label `owner`: a clinic on the target, or `central`). Not in contracts/, so repeated here;
 * dashboards/backup-alerts.test.ts checks them against a real edge's and central's /metrics.
 */
export const backup = {
  edgeConfigured: 'edge_backup_configured',
  edgeRunning: 'edge_backup_running',
  edgeLastSuccess: 'edge_backup_last_success_timestamp_seconds',
  edgeLastDuration: 'edge_backup_last_duration_seconds',
  edgeLastBytes: 'edge_backup_last_bytes',
  edgeRuns: 'edge_backup_runs_total',
  edgePoints: 'edge_backup_points',
  edgeDrillOk: 'edge_backup_drill_ok',
  edgeDrillLast: 'edge_backup_drill_last_timestamp_seconds',
  edgeRpo: 'edge_backup_rpo_seconds',
  edgeRto: 'edge_backup_rto_seconds',
  lastGoodAge: 'backup_last_good_age_seconds',
  lastSuccess: 'backup_last_success_timestamp_seconds',
  rpo: 'backup_rpo_seconds',
  rto: 'backup_rto_seconds',
  drillOk: 'backup_drill_ok',
  drillAge: 'backup_drill_age_seconds',
  targetBytes: 'backup_target_bytes',
  targetPoints: 'backup_target_points',
  runs: 'backup_runs_total',
} as const;
