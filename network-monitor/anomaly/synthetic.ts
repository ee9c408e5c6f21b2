/**
 * Generated clinic-link traffic for tests and benchmarks: business-hours daily shape,
 * lunch dip, quiet weekends, multiplicative noise, day-to-day variation, and optional
 * injected anomalies (spikes, outages during opening hours, night-time bulk transfers).
 */
import { gauss, rng } from '../../contracts/runtime/prng.ts';

export interface TrafficPoint {
  t: number;
  bytesPerSecond: number;
  anomaly: boolean;
}

/** Expected bytes/s at a local hour and weekday for a clinic link. */
export function clinicShape(hour: number, dow: number): number {
  const weekend = dow === 0 || dow === 6;
  const base = 20_000; // night: heartbeats, replication trickle
  let day = 0;
  if (hour >= 8 && hour < 17) day = 1_500_000;
  if (hour === 12) day = 600_000; // lunch
  if (hour === 7 || hour === 17) day = 400_000;
  return base + day * (weekend ? 0.25 : 1);
}

export interface GenerateOptions {
  startMs: number;
  days: number;
  bucketSeconds: number;
  seed: number;
  utcOffsetHours?: number;
  noise?: number;
  /** Number of anomaly windows to inject. */
  anomalies?: number;
  /** Length of each anomaly window in buckets. */
  anomalyBuckets?: number;
}

export function generateTraffic(o: GenerateOptions): TrafficPoint[] {
  const r = rng(o.seed);
  const utc = o.utcOffsetHours ?? 8;
  const n = Math.floor((o.days * 86400) / o.bucketSeconds);
  const pts: TrafficPoint[] = [];
  const dayFactor = new Map<number, number>();
  for (let i = 0; i < n; i++) {
    const t = o.startMs + i * o.bucketSeconds * 1000;
    const local = new Date(t + utc * 3600_000);
    const dayIdx = Math.floor((t + utc * 3600_000) / 86400_000);
    if (!dayFactor.has(dayIdx)) dayFactor.set(dayIdx, 0.85 + 0.35 * r()); // busier and quieter days are normal
    const v = clinicShape(local.getUTCHours(), local.getUTCDay()) * dayFactor.get(dayIdx)! * Math.exp((o.noise ?? 0.12) * gauss(r));
    pts.push({ t, bytesPerSecond: v, anomaly: false });
  }
  const len = o.anomalyBuckets ?? 6;
  for (let a = 0; a < (o.anomalies ?? 0); a++) {
    const start = Math.floor(r() * (n - len));
    const kind = a % 3;
    for (let i = start; i < start + len; i++) {
      const p = pts[i]!;
      const local = new Date(p.t + utc * 3600_000);
      const h = local.getUTCHours();
      if (kind === 0) p.bytesPerSecond *= 8; // flood / exfiltration burst
      else if (kind === 1) p.bytesPerSecond = h >= 8 && h < 17 ? p.bytesPerSecond * 0.02 : p.bytesPerSecond * 8; // outage in hours, else burst
      else p.bytesPerSecond += 1_000_000 * (h >= 8 && h < 17 ? 3 : 1); // bulk transfer
      p.anomaly = true;
    }
  }
  return pts;
}
