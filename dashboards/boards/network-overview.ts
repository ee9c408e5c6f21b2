/** All links and network devices: status, utilisation, errors, reachability, impact. */
import { netmon as n } from '../metric-names.ts';
import type { DashboardSpec } from '../spec.ts';

const T = 'target=~"$target"';
const RI = '$__rate_interval';
/** Link utilisation 0..1: bits per second over the interface speed (speed 0 excluded). */
export const utilisation = (dir: 'in' | 'out', sel = T, window = RI) => {
  const s = sel ? `{${sel}}` : '';
  return `rate(${dir === 'in' ? n.inOctets : n.outOctets}${s}[${window}]) * 8 / on(target, ifIndex) (${n.speed}${s} > 0)`;
};

export const networkOverview: DashboardSpec = {
  uid: 'netmon-overview',
  title: 'Health network — overview',
  description: 'Routers, switches, firewalls and edge appliances of the health private network (SNMP).',
  tags: ['health-network', 'snmp'],
  variables: [{ name: 'target', label: 'Device', query: `label_values(${n.targetUp}, target)`, multi: true }],
  rows: [
    {
      title: 'Status',
      panels: [
        { id: 1, title: 'Devices answering SNMP', kind: 'stat', queries: [{ expr: `sum(${n.targetUp}{${T}})`, instant: true }], w: 6, h: 4, network: true },
        { id: 2, title: 'Devices down', kind: 'stat', queries: [{ expr: `count(${n.targetUp}{${T}} == 0) or vector(0)`, instant: true }], threshold: 1, w: 6, h: 4, network: true },
        { id: 3, title: 'Inventory links down', kind: 'stat', queries: [{ expr: `count((${n.operUp}{${T}} == 0) and on(target, ifName) netmon_link_info) or vector(0)`, instant: true }], threshold: 1, w: 6, h: 4, network: true },
        { id: 4, title: 'Clinics cut off', kind: 'stat', queries: [{ expr: n.impactClinics, instant: true }], threshold: 1, w: 6, h: 4, network: true },
        { id: 5, title: 'Devices', kind: 'table', queries: [{ expr: `${n.targetUp}{${T}}`, instant: true }], w: 12, network: true },
        { id: 6, title: 'Clinical impact (clinic, stream cut off)', kind: 'table', queries: [{ expr: `${n.impactDown} == 1`, instant: true }], w: 12, network: true,
          description: 'Which clinics and replication streams sit behind a failed device or link.' },
      ],
    },
    {
      title: 'Traffic',
      panels: [
        { id: 10, title: 'Inbound utilisation', kind: 'timeseries', unit: 'percentunit', max: 1, threshold: 0.8, queries: [{ expr: `topk(20, ${utilisation('in')})`, legend: '{{target}} {{ifName}}' }], network: true },
        { id: 11, title: 'Outbound utilisation', kind: 'timeseries', unit: 'percentunit', max: 1, threshold: 0.8, queries: [{ expr: `topk(20, ${utilisation('out')})`, legend: '{{target}} {{ifName}}' }], network: true },
        { id: 12, title: 'Throughput', kind: 'timeseries', unit: 'bps', queries: [
          { expr: `rate(${n.inOctets}{${T}}[${RI}]) * 8`, legend: 'in {{target}} {{ifName}}' },
          { expr: `-rate(${n.outOctets}{${T}}[${RI}]) * 8`, legend: 'out {{target}} {{ifName}}' },
        ], network: true },
        { id: 13, title: 'Packets (unicast / broadcast / multicast)', kind: 'timeseries', unit: 'pps', queries: [
          { expr: `sum by (target) (rate(${n.inUcast}{${T}}[${RI}]) + rate(${n.outUcast}{${T}}[${RI}]))`, legend: 'unicast {{target}}' },
          { expr: `sum by (target) (rate(${n.inBroadcast}{${T}}[${RI}]) + rate(${n.outBroadcast}{${T}}[${RI}]))`, legend: 'broadcast {{target}}' },
          { expr: `sum by (target) (rate(${n.inMulticast}{${T}}[${RI}]) + rate(${n.outMulticast}{${T}}[${RI}]))`, legend: 'multicast {{target}}' },
        ], network: true },
        { id: 14, title: 'Errors', kind: 'timeseries', unit: 'pps', queries: [
          { expr: `rate(${n.inErrors}{${T}}[${RI}]) + rate(${n.outErrors}{${T}}[${RI}])`, legend: '{{target}} {{ifName}}' },
        ], network: true },
        { id: 15, title: 'Discards', kind: 'timeseries', unit: 'pps', queries: [
          { expr: `rate(${n.inDiscards}{${T}}[${RI}]) + rate(${n.outDiscards}{${T}}[${RI}])`, legend: '{{target}} {{ifName}}' },
        ], network: true },
        { id: 16, title: 'Traffic anomaly score', kind: 'timeseries', threshold: 4, queries: [{ expr: `${n.anomalyScore}{${T}}`, legend: '{{target}} {{ifName}} {{direction}}' }],
          description: 'Deviation from the learned daily/weekly baseline (robust z). Data once a model is trained (3 days of history).' },
        { id: 17, title: 'Interface status (1 = up)', kind: 'table', queries: [{ expr: `${n.operUp}{${T}}`, instant: true }], network: true },
      ],
    },
    {
      title: 'Device health',
      panels: [
        { id: 20, title: 'CPU load', kind: 'timeseries', unit: 'percentunit', max: 1, queries: [{ expr: `avg by (target) (${n.cpu}{${T}})`, legend: '{{target}}' }],
          description: 'HOST-RESOURCES hrProcessorLoad, where the device has it.' },
        { id: 21, title: 'Memory and storage used', kind: 'timeseries', unit: 'percentunit', max: 1, queries: [{ expr: `${n.storageUsed}{${T}} / (${n.storageSize}{${T}} > 0)`, legend: '{{target}} {{storage}}' }], network: true },
        { id: 22, title: 'Uptime', kind: 'timeseries', unit: 's', queries: [{ expr: `${n.uptime}{${T}}`, legend: '{{target}}' }], network: true },
        { id: 23, title: 'SNMP poll duration', kind: 'timeseries', unit: 's', queries: [{ expr: `${n.pollDuration}{${T}}`, legend: '{{target}}' }], network: true },
        { id: 24, title: 'SNMP poll errors by reason', kind: 'timeseries', unit: 'short', queries: [{ expr: `sum by (target, reason) (rate(${n.pollErrors}{${T}}[${RI}]))`, legend: '{{target}} {{reason}}' }], network: true },
        { id: 25, title: 'Traps by type', kind: 'timeseries', unit: 'short', queries: [{ expr: `sum by (target, type) (increase(${n.traps}[${RI}]))`, legend: '{{target}} {{type}}' }], network: true },
      ],
    },
    {
      title: 'Reachability',
      panels: [
        { id: 30, title: 'Probes (edge /healthz, central HTTP, NATS)', kind: 'table', queries: [{ expr: n.probeUp, instant: true }], network: true },
        { id: 31, title: 'Probe latency', kind: 'timeseries', unit: 's', queries: [{ expr: n.probeDuration, legend: '{{probe}} {{clinic}}' }], network: true },
      ],
    },
  ],
};
