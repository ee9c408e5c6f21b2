/**
 * Prometheus metrics of the monitor, one registry per monitor instance (tests run several).
 * Names follow Prometheus conventions: base units, `_total` on counters, so that
 * rate(netmon_if_in_octets_total[5m]) * 8 / netmon_if_speed_bits_per_second is utilisation.
 */
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';

const IF = ['target', 'ifIndex', 'ifName'] as const;

/** Interface counters exported, keyed by the short name used in the poller. */
export const IF_COUNTERS = {
  inOctets: ['netmon_if_in_octets_total', 'Octets received on the interface (ifHCInOctets).'],
  outOctets: ['netmon_if_out_octets_total', 'Octets sent on the interface (ifHCOutOctets).'],
  inUcast: ['netmon_if_in_unicast_packets_total', 'Unicast packets received.'],
  outUcast: ['netmon_if_out_unicast_packets_total', 'Unicast packets sent.'],
  inMulticast: ['netmon_if_in_multicast_packets_total', 'Multicast packets received.'],
  outMulticast: ['netmon_if_out_multicast_packets_total', 'Multicast packets sent.'],
  inBroadcast: ['netmon_if_in_broadcast_packets_total', 'Broadcast packets received.'],
  outBroadcast: ['netmon_if_out_broadcast_packets_total', 'Broadcast packets sent.'],
  inErrors: ['netmon_if_in_errors_total', 'Inbound packets with errors.'],
  outErrors: ['netmon_if_out_errors_total', 'Outbound packets with errors.'],
  inDiscards: ['netmon_if_in_discards_total', 'Inbound packets discarded.'],
  outDiscards: ['netmon_if_out_discards_total', 'Outbound packets discarded.'],
} as const;
export type IfCounterName = keyof typeof IF_COUNTERS;

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'netmon_process_' });
  const g = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Gauge<L>({ name, help, labelNames, registers: [registry] });
  const c = <L extends string>(name: string, help: string, labelNames: readonly L[]) => new Counter<L>({ name, help, labelNames, registers: [registry] });

  const ifCounters = Object.fromEntries(
    Object.entries(IF_COUNTERS).map(([k, [name, help]]) => [k, c(name, help, IF)]),
  ) as Record<IfCounterName, Counter<(typeof IF)[number]>>;

  return {
    registry,
    ifCounters,
    targetUp: g('netmon_target_up', '1 when the target answered its last SNMP poll(s), 0 when it is down.', ['target', 'kind']),
    targetInfo: g('netmon_target_info', 'System group of the target (value 1).', ['target', 'sysName', 'sysDescr', 'sysObjectID', 'snmpVersion']),
    uptime: g('netmon_target_uptime_seconds', 'sysUpTime of the target agent.', ['target']),
    restarts: c('netmon_target_restarts_total', 'Agent restarts detected (sysUpTime went backwards).', ['target']),
    pollDuration: g('netmon_poll_duration_seconds', 'Duration of the last SNMP poll of the target.', ['target']),
    polls: c('netmon_polls_total', 'SNMP polls attempted.', ['target']),
    pollErrors: c('netmon_poll_errors_total', 'Failed SNMP polls by reason (timeout = no answer, check credentials).', ['target', 'reason']),
    oids: c('netmon_oids_collected_total', 'Varbinds (OID values) collected.', ['target']),
    lastPoll: g('netmon_last_poll_success_timestamp_seconds', 'Time of the last successful poll.', ['target']),
    discontinuities: c('netmon_counter_discontinuities_total', 'Counter readings dropped as discontinuities (no false spikes).', ['target']),
    counterWraps: c('netmon_counter_wraps_total', 'Counter32 wraps handled.', ['target']),
    ifOperUp: g('netmon_if_oper_up', '1 when ifOperStatus is up(1).', IF),
    ifOperStatus: g('netmon_if_oper_status', 'ifOperStatus (1 up, 2 down, 3 testing, 5 dormant, 7 lowerLayerDown).', IF),
    ifAdminStatus: g('netmon_if_admin_status', 'ifAdminStatus (1 up, 2 down, 3 testing).', IF),
    ifSpeed: g('netmon_if_speed_bits_per_second', 'Interface speed (ifHighSpeed x 10^6, else ifSpeed).', IF),
    cpuLoad: g('netmon_host_cpu_load_ratio', 'hrProcessorLoad / 100 per processor.', ['target', 'cpu']),
    storageSize: g('netmon_host_storage_size_bytes', 'hrStorageSize x allocation units.', ['target', 'storage', 'type']),
    storageUsed: g('netmon_host_storage_used_bytes', 'hrStorageUsed x allocation units.', ['target', 'storage', 'type']),
    traps: c('netmon_traps_total', 'Traps and informs received by type.', ['target', 'type']),
    trapErrors: c('netmon_trap_errors_total', 'Malformed or unauthorised notifications received.', ['reason']),
    events: c('netmon_events_total', 'Events recorded by type.', ['type', 'severity']),
    probeUp: g('netmon_probe_up', '1 when the reachability probe succeeded.', ['probe', 'clinic', 'url']),
    probeDuration: g('netmon_probe_duration_seconds', 'Duration of the last reachability probe.', ['probe', 'clinic', 'url']),
    impactDown: g('netmon_impact_down', '1 per (failed target, clinic, replication stream) cut off.', ['target', 'ifName', 'clinic', 'stream']),
    impactDevice: g('netmon_impact_device_down', '1 per registered medical device behind a failed target or link.', ['target', 'ifName', 'clinic', 'device', 'kind']),
    linkInfo: g('netmon_link_info', 'Inventory: clinic reached through an interface (value 1); join on target, ifName.', ['target', 'ifName', 'clinic']),
    impactClinics: g('netmon_impact_clinics', 'Number of clinics cut off by current faults.', []),
    anomalyScore: g('netmon_anomaly_score', 'Traffic anomaly score (robust z of the deviation from the learned daily/weekly baseline).', ['target', 'ifName', 'direction']),
    anomalyModels: g('netmon_anomaly_models', 'Trained per-interface baseline models held.', []),
    anomalyTrainings: c('netmon_anomaly_trainings_total', 'Baseline model trainings.', ['outcome']),
  };
}
export type Metrics = ReturnType<typeof createMetrics>;
