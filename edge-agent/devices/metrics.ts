/** Per-device Prometheus metrics (device-drivers' names, read from the running drivers) plus this module's ingest counters. */
import { Counter, Gauge, type Registry } from 'prom-client';
import { registerDeviceMetrics } from '../../device-drivers/index.ts';
import type { DevicesService } from './service.ts';

export function registerDevicesMetrics(registry: Registry, s: DevicesService): void {
  registerDeviceMetrics(registry, () => s.manager.drivers());
  const last: Record<string, number> = {};
  new Counter({
    name: 'edge_device_ingest_total', help: 'Device readings through the edge ingest, by outcome (stored, duplicates, unchanged, bound, unbound, implausible, critical, failed batches, resolved, unknown senders)',
    labelNames: ['outcome'], registers: [registry],
    collect() {
      const all: Record<string, number> = { ...s.ingest.counters, unknown_sender: s.manager.counters.unknownSender, start_failures: s.manager.counters.startFailures };
      for (const [k, v] of Object.entries(all)) { const d = v - (last[k] ?? 0); if (d > 0) this.inc({ outcome: k }, d); last[k] = v; }
    },
  });
  if (s.lab) {
    const lab = s.lab;
    const lastLab: Record<string, number> = {};
    new Counter({
      name: 'edge_lab_results_total', help: 'Lab result workflow: released, corrected, refused actions, import files, imported rows, import row errors, manually entered results',
      labelNames: ['action'], registers: [registry],
      collect() { for (const [k, v] of Object.entries(lab.counters)) { const d = v - (lastLab[k] ?? 0); if (d > 0) this.inc({ action: k }, d); lastLab[k] = v; } },
    });
    new Gauge({ name: 'edge_lab_results_pending_review', help: 'Lab results waiting for technician review', registers: [registry], collect() { this.set(lab.pendingCount()); } });
  }
  new Gauge({ name: 'edge_device_unbound_readings', help: 'Readings waiting to be bound to a resident', registers: [registry], collect() { this.set(s.ingest.unboundCount()); } });
  new Gauge({ name: 'edge_device_critical_alerts_open', help: 'Critical-value alerts not yet acknowledged', registers: [registry], collect() { this.set(s.alerts.openCount()); } });
}
