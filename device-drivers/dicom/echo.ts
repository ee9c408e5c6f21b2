/** C-ECHO SCU: the technician's "test connection" button. Never throws; the outcome is data. */
import { Client, constants, dimseLog, requests } from './dimse.ts';

export interface EchoTarget {
  host: string;
  port: number;
  callingAe: string;
  calledAe: string;
  /** Whole-operation timeout (default 5 s). */
  timeoutMs?: number;
}

export type EchoResult =
  | { ok: true; latencyMs: number; detail: string }
  | { ok: false; reason: 'rejected' | 'refused' | 'timeout' | 'failed'; detail: string; latencyMs: number; reject?: { result: number; source: number; reason: number } };

const REJECT_TEXT: Record<string, string> = {
  '1:3': 'calling AE title not recognised',
  '1:7': 'called AE title not recognised',
  '1:1': 'no reason given',
  '3:1': 'temporary congestion',
  '3:2': 'local limit exceeded',
};

/** Sends one C-ECHO and reports the outcome in words a technician can act on. */
export function echo(t: EchoTarget): Promise<EchoResult> {
  dimseLog.setLevel('silent');
  const started = performance.now();
  const ms = () => Math.round((performance.now() - started) * 10) / 10;
  const timeoutMs = t.timeoutMs ?? 5000;
  return new Promise<EchoResult>((resolve) => {
    let settled = false;
    const client = new Client();
    const finish = (r: EchoResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const timer = setTimeout(() => {
      finish({ ok: false, reason: 'timeout', detail: `no answer from ${t.host}:${t.port} within ${timeoutMs} ms`, latencyMs: ms() });
      try {
        client.abort();
      } catch {
        // not connected yet
      }
    }, timeoutMs);
    const request = new requests.CEchoRequest();
    request.on('response', (response: { getStatus(): number }) => {
      const status = response.getStatus();
      if (status === constants.Status.Success) finish({ ok: true, latencyMs: ms(), detail: `C-ECHO ok (${t.calledAe}@${t.host}:${t.port})` });
      else finish({ ok: false, reason: 'failed', detail: `C-ECHO status 0x${status.toString(16).padStart(4, '0')}`, latencyMs: ms() });
    });
    client.on('associationRejected', (r: { result: number; source: number; reason: number }) => {
      const why = REJECT_TEXT[`${r.source}:${r.reason}`] ?? `source ${r.source} reason ${r.reason}`;
      finish({ ok: false, reason: 'rejected', detail: `association rejected (${r.result === 1 ? 'permanent' : 'transient'}): ${why}`, latencyMs: ms(), reject: r });
    });
    client.on('networkError', (e: Error) => {
      const refused = /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND/.test(e.message);
      finish({ ok: false, reason: refused ? 'refused' : 'failed', detail: refused ? `cannot connect to ${t.host}:${t.port}: ${e.message}` : e.message, latencyMs: ms() });
    });
    client.on('closed', () => finish({ ok: false, reason: 'failed', detail: 'connection closed before a C-ECHO response', latencyMs: ms() }));
    client.addRequest(request);
    client.send(t.host, t.port, t.callingAe, t.calledAe, { connectTimeout: timeoutMs, associationTimeout: timeoutMs, pduTimeout: timeoutMs });
  });
}
