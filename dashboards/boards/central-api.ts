/** Central cloud: reachability, ingest health, API latency and process resources. */
import { netmon as n, central, pending as p } from '../metric-names.ts';
import type { DashboardSpec } from '../spec.ts';

const RI = '$__rate_interval';

export const centralApi: DashboardSpec = {
  uid: 'central-api',
  title: 'Central API health',
  description: 'Central HTTP and NATS reachability (from the network monitor), ingest and API latency.',
  tags: ['health-network', 'central'],
  variables: [],
  rows: [{
    title: 'Reachability',
    panels: [
      { id: 1, title: 'Central HTTP reachable', kind: 'stat', queries: [{ expr: `${n.probeUp}{probe="central_http"}`, instant: true }], w: 8, h: 4, network: true },
      { id: 2, title: 'Central NATS reachable', kind: 'stat', queries: [{ expr: `${n.probeUp}{probe="central_nats"}`, instant: true }], w: 8, h: 4, network: true },
      { id: 3, title: 'Scrape targets up', kind: 'stat', queries: [{ expr: 'sum(up)', instant: true }], w: 8, h: 4, network: true },
      { id: 4, title: 'Probe latency', kind: 'timeseries', unit: 's', queries: [{ expr: `${n.probeDuration}{probe=~"central_.*"}`, legend: '{{probe}}' }], network: true },
    ],
  }, {
    title: 'Ingest',
    panels: [
      { id: 10, title: 'Edge write -> central apply latency (p50 / p95)', kind: 'timeseries', unit: 's', threshold: 0.2, queries: [
        { expr: `histogram_quantile(0.5, sum by (le) (rate(${central.applyLatency}_bucket[${RI}])))`, legend: 'p50' },
        { expr: `histogram_quantile(0.95, sum by (le) (rate(${central.applyLatency}_bucket[${RI}])))`, legend: 'p95' },
      ], description: 'Tender: core business data < 200 ms on the bus.' },
      { id: 11, title: 'Records applied per second', kind: 'timeseries', unit: 'short', queries: [{ expr: `sum(rate(${central.applied}[${RI}]))`, legend: 'applied' }] },
      { id: 12, title: 'Dead letters by reason', kind: 'timeseries', unit: 'short', queries: [{ expr: `sum by (reason) (increase(${central.deadLetters}[${RI}]))`, legend: '{{reason}}' }] },
    ],
  }, {
    title: 'HTTP API',
    panels: [
      { id: 20, title: 'Requests per second by status', kind: 'timeseries', unit: 'reqps', queries: [{ expr: `sum by (status) (rate(${p.centralHttpRequests}[${RI}]))`, legend: '{{status}}' }] },
      { id: 21, title: 'Request latency p95', kind: 'timeseries', unit: 's', queries: [{ expr: `histogram_quantile(0.95, sum by (le, route) (rate(${p.centralHttpDuration}_bucket[${RI}])))`, legend: '{{route}}' }] },
      { id: 22, title: 'Process memory', kind: 'timeseries', unit: 'bytes', queries: [{ expr: 'process_resident_memory_bytes', legend: '{{job}} {{instance}}' }] },
      { id: 23, title: 'Process CPU', kind: 'timeseries', unit: 'percentunit', queries: [{ expr: `rate(process_cpu_seconds_total[${RI}])`, legend: '{{job}} {{instance}}' }] },
    ],
  }],
};
