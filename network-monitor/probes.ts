/**
 * Reachability probes: each clinic edge's HTTP /healthz, central's HTTP health and its
 * NATS port (TCP connect + the server's INFO line, so a random open port does not pass).
 */
import { connect } from 'node:net';
import type { Inventory } from './inventory.ts';

export type ProbeKind = 'edge_http' | 'central_http' | 'central_nats';

export interface ProbeSpec {
  probe: ProbeKind;
  clinic: string;
  url: string;
}

export interface ProbeResult extends ProbeSpec {
  up: boolean;
  durationSeconds: number;
  error?: string;
}

export function probeSpecs(inv: Inventory): ProbeSpec[] {
  const out: ProbeSpec[] = [];
  for (const c of inv.clinics) if (c.edgeHealthUrl) out.push({ probe: 'edge_http', clinic: c.id, url: c.edgeHealthUrl });
  if (inv.central.healthUrl) out.push({ probe: 'central_http', clinic: 'central', url: inv.central.healthUrl });
  if (inv.central.natsUrl) out.push({ probe: 'central_nats', clinic: 'central', url: inv.central.natsUrl });
  return out;
}

export async function httpProbe(url: string, timeoutMs: number): Promise<void> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' });
  await res.body?.cancel();
  if (res.status < 200 || res.status >= 300) throw new Error(`HTTP ${res.status}`);
}

/** Connects and waits for the NATS server's `INFO {` greeting. */
export function natsProbe(url: string, timeoutMs: number): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    let buf = '';
    const done = (err?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`no NATS INFO within ${timeoutMs} ms`)), timeoutMs);
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.startsWith('INFO {')) done();
      else if (buf.length >= 6) done(new Error('not a NATS server (no INFO greeting)'));
    });
    sock.on('error', (e) => done(e));
    sock.on('close', () => done(new Error('connection closed before INFO')));
  });
}

export async function runProbe(p: ProbeSpec, timeoutMs: number): Promise<ProbeResult> {
  const t0 = performance.now();
  try {
    if (p.probe === 'central_nats') await natsProbe(p.url, timeoutMs);
    else await httpProbe(p.url, timeoutMs);
    return { ...p, up: true, durationSeconds: (performance.now() - t0) / 1000 };
  } catch (e) {
    const err = e instanceof Error ? (e.name === 'TimeoutError' ? `timeout after ${timeoutMs} ms` : e.message) : String(e);
    return { ...p, up: false, durationSeconds: (performance.now() - t0) / 1000, error: err };
  }
}
