/** One clinic: its link traffic, edge reachability, what is cut off, its replication. */
import { netmon as n, edge, central } from '../metric-names.ts';
import type { DashboardSpec } from '../spec.ts';

const C = 'clinic=~"$clinic"';
const RI = '$__rate_interval';
/** Interface counters joined to the clinics the inventory puts behind each link. */
const perClinic = (metric: string) => `rate(${metric}[${RI}]) * 8 * on(target, ifName) group_left(clinic) netmon_link_info{${C}}`;

export const clinicLink: DashboardSpec = {
  uid: 'netmon-clinic-link',
  title: 'Health network — clinic link',
  description: 'Per clinic: the link that reaches it, its edge appliance, and replication.',
  tags: ['health-network', 'clinic'],
  variables: [{ name: 'clinic', label: 'Clinic', query: 'label_values(netmon_link_info, clinic)' }],
  rows: [{
    title: 'Link',
    panels: [
      { id: 1, title: 'Edge appliance reachable', kind: 'stat', queries: [{ expr: `${n.probeUp}{probe="edge_http", ${C}}`, instant: true }], w: 6, h: 4, network: true },
      { id: 2, title: 'Streams cut off', kind: 'stat', queries: [{ expr: `count(${n.impactDown}{${C}}) or vector(0)`, instant: true }], threshold: 1, w: 6, h: 4, network: true },
      { id: 3, title: 'Medical devices cut off', kind: 'stat', queries: [{ expr: `count(${n.impactDevice}{${C}}) or vector(0)`, instant: true }], threshold: 1, w: 6, h: 4, network: true },
      { id: 4, title: 'Edge /healthz latency', kind: 'stat', unit: 's', queries: [{ expr: `${n.probeDuration}{probe="edge_http", ${C}}`, instant: true }], w: 6, h: 4, network: true },
      { id: 5, title: 'Link throughput', kind: 'timeseries', unit: 'bps', queries: [
        { expr: perClinic(n.inOctets), legend: 'in {{target}} {{ifName}}' },
        { expr: perClinic(n.outOctets), legend: 'out {{target}} {{ifName}}' },
      ], network: true },
      { id: 6, title: 'Link status (1 = up)', kind: 'timeseries', queries: [{ expr: `${n.operUp} * on(target, ifName) group_left(clinic) netmon_link_info{${C}}`, legend: '{{target}} {{ifName}}' }], network: true },
      { id: 7, title: 'Devices cut off', kind: 'table', queries: [{ expr: `${n.impactDevice}{${C}}`, instant: true }] },
    ],
  }, {
    title: 'Replication',
    panels: [
      { id: 10, title: 'Outbox depth', kind: 'timeseries', queries: [{ expr: `${edge.outboxDepth}{${C}}`, legend: '{{clinic}}' }] },
      { id: 11, title: 'Replication lag (central)', kind: 'timeseries', unit: 's', queries: [{ expr: `${central.clinicLag}{${C}}`, legend: '{{clinic}}' }] },
    ],
  }],
};
