/**
 * Prometheus metrics per device, read from the drivers at scrape time (no double
 * bookkeeping): readings, errors, up/down, last-seen, last poll latency, and every
 * protocol counter a driver keeps (garbage bytes, NAKs, timeouts...).
 *
 *   const registry = new Registry();
 *   registerDeviceMetrics(registry, () => drivers);
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import type { DeviceDriver } from './driver.ts';

export const deviceMetricNames = {
  readings: 'device_readings_total',
  errors: 'device_errors_total',
  up: 'device_up',
  lastSeen: 'device_last_seen_timestamp_seconds',
  latency: 'device_poll_latency_seconds',
  driverCounter: 'device_driver_events_total',
} as const;

export function registerDeviceMetrics(registry: Registry, drivers: () => Iterable<{ id: string; driver: DeviceDriver }>): void {
  const mk = (name: string, help: string, labelNames: string[], fill: (g: Pick<Gauge, 'set'>) => void) => {
    // *_total are counters (exposed as TYPE counter); their values are the drivers' own running totals
    if (name.endsWith('_total')) {
      return new Counter({ name, help, labelNames, registers: [registry], collect() { this.reset(); fill({ set: (l: Record<string, string>, v: number) => { if (v > 0) this.inc(l, v); } } as Pick<Gauge, 'set'>); } });
    }
    return new Gauge({ name, help, labelNames, registers: [registry], collect() { this.reset(); fill(this); } });
  };
  const each = (fn: (driverId: string, d: DeviceDriver) => void) => { for (const { id, driver } of drivers()) fn(id, driver); };
  mk(deviceMetricNames.readings, 'Readings stored per device (counter semantics, reset on driver restart)', ['driver', 'device', 'protocol'], (g) =>
    each((id, d) => d.health().forEach((h) => g.set({ driver: id, device: h.deviceId, protocol: d.protocol }, h.readings))));
  mk(deviceMetricNames.errors, 'Errors per device (timeouts, exceptions, bad frames, store failures)', ['driver', 'device', 'protocol'], (g) =>
    each((id, d) => d.health().forEach((h) => g.set({ driver: id, device: h.deviceId, protocol: d.protocol }, h.errors))));
  mk(deviceMetricNames.up, '1 when the device answered or sent data recently', ['driver', 'device', 'protocol'], (g) =>
    each((id, d) => d.health().forEach((h) => g.set({ driver: id, device: h.deviceId, protocol: d.protocol }, h.state === 'up' ? 1 : 0))));
  mk(deviceMetricNames.lastSeen, 'Unix time of the last reading', ['driver', 'device', 'protocol'], (g) =>
    each((id, d) => d.health().forEach((h) => { if (h.lastSeenAt) g.set({ driver: id, device: h.deviceId, protocol: d.protocol }, Date.parse(h.lastSeenAt) / 1000); })));
  mk(deviceMetricNames.latency, 'Latency of the last successful poll', ['driver', 'device', 'protocol'], (g) =>
    each((id, d) => d.health().forEach((h) => { if (h.lastLatencyMs !== undefined) g.set({ driver: id, device: h.deviceId, protocol: d.protocol }, h.lastLatencyMs / 1000); })));
  mk(deviceMetricNames.driverCounter, 'Protocol-level counters of each driver', ['driver', 'protocol', 'event'], (g) =>
    each((id, d) => Object.entries(d.counters()).forEach(([event, v]) => g.set({ driver: id, protocol: d.protocol, event }, v))));
}
