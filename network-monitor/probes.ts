/**
 * Reachability probes: each clinic edge's HTTP /healthz, central's HTTP health and its
 * NATS port (TCP connect + the server's INFO line, so a random open port does not pass).
 */
import { connect, isIP } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
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

/**
 * Connects and waits for the NATS server's `INFO {` greeting. A hub that requires TLS (the INFO
 * line says `"tls_required":true`) is expected to go on with a TLS handshake: the probe completes
 * one and then closes, so that the hub is shown up only when its TLS works, and so that every probe
 * does not leave a "TLS handshake error" line in the hub's log. The probe sends no credentials and
 * reads nothing after the handshake, so it does not check the certificate (reachability only; the
 * edges and central verify it).
 */
export function natsProbe(url: string, timeoutMs: number): Promise<void> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(u.port), u.hostname);
    let secure: TLSSocket | null = null;
    let buf = '';
    let settled = false;
    const done = (err?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (secure) secure.end();
      sock.destroy();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(() => done(new Error(`no NATS INFO within ${timeoutMs} ms`)), timeoutMs);
    const onData = (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.length >= 6 && !buf.startsWith('INFO {')) return done(new Error('not a NATS server (no INFO greeting)'));
      const eol = buf.indexOf('\n');
      if (eol < 0) return;
      if (!/"tls_required"\s*:\s*true/.test(buf.slice(0, eol))) return done();
      sock.off('data', onData);
      sock.off('close', onClose);
      secure = tlsConnect({ socket: sock, rejectUnauthorized: false, ...(isIP(u.hostname) ? {} : { servername: u.hostname }) });
      secure.once('secureConnect', () => done());
      secure.once('error', (e) => done(new Error(`TLS handshake with the hub failed: ${e.message}`)));
    };
    const onClose = () => done(new Error('connection closed before INFO'));
    sock.on('data', onData);
    sock.on('error', (e) => done(e));
    sock.on('close', onClose);
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
