/** net-snmp sessions from inventory credentials, and promise wrappers with limits. */
import snmp, { type Session, type Varbind } from './net-snmp.ts';
import type { SnmpCredentials } from '../inventory.ts';

export interface SessionParams {
  host: string;
  port: number;
  timeoutMs: number;
  retries: number;
  backoff: number;
}

export function openSession(creds: SnmpCredentials, p: SessionParams): Session {
  const options = { port: p.port, timeout: p.timeoutMs, retries: p.retries, backoff: p.backoff, transport: 'udp4' as const };
  if (creds.version === '2c') return snmp.createSession(p.host, creds.community, { ...options, version: snmp.Version2c });
  return snmp.createV3Session(p.host, {
    name: creds.user,
    level: snmp.SecurityLevel.authPriv,
    authProtocol: snmp.AuthProtocols[creds.authProtocol],
    authKey: creds.authKey,
    privProtocol: snmp.PrivProtocols[creds.privProtocol],
    privKey: creds.privKey,
  }, { ...options, version: snmp.Version3, ...(creds.context ? { context: creds.context } : {}) });
}

export class SnmpPollError extends Error {
  override name = 'SnmpPollError';
  constructor(message: string, readonly reason: 'timeout' | 'auth' | 'agent_error' | 'malformed' | 'too_many' | 'error', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Map a net-snmp error to a reason; a wrong community or v3 key only ever times out. */
export function classify(err: unknown): SnmpPollError {
  if (err instanceof SnmpPollError) return err;
  const e = err instanceof Error ? err : new Error(String(err));
  if (e.name === 'RequestTimedOutError' || /timed out/i.test(e.message)) return new SnmpPollError('no answer (check credentials)', 'timeout', { cause: e });
  if (e.name === 'RequestFailedError') return new SnmpPollError(`agent error: ${e.message}`, 'agent_error', { cause: e });
  // net-snmp verifies the v3 digest of the agent's report: a wrong auth key is then known.
  if (/wrong digest|incorrect password|unknown user|decrypt/i.test(e.message)) return new SnmpPollError(`authentication failed: ${e.message}`, 'auth', { cause: e });
  if (e.name === 'ResponseInvalidError') return new SnmpPollError(`invalid response: ${e.message}`, 'malformed', { cause: e });
  return new SnmpPollError(e.message, 'error', { cause: e });
}

export function get(session: Session, oids: string[]): Promise<Varbind[]> {
  return new Promise((resolve, reject) => {
    session.get(oids, (err, vbs) => (err ? reject(classify(err)) : resolve(vbs ?? [])));
  });
}

/**
 * GETBULK subtree walk (v2c/v3) of `oid`, stopping at `maxVarbinds` or when the agent
 * stops making progress (a broken agent repeating an OID must not loop forever).
 */
export function subtree(session: Session, oid: string, maxRepetitions: number, maxVarbinds = 20_000): Promise<Varbind[]> {
  return new Promise((resolve, reject) => {
    const out: Varbind[] = [];
    let last = '';
    let tooMany = false;
    let stalled = false;
    session.subtree(oid, maxRepetitions, (vbs) => {
      for (const vb of vbs) {
        if (vb.oid === last) { stalled = true; return true; }
        last = vb.oid;
        out.push(vb);
      }
      if (out.length >= maxVarbinds) { tooMany = true; return true; }
      return false;
    }, (err) => {
      if (err) reject(classify(err));
      else if (tooMany) reject(new SnmpPollError(`walk of ${oid} exceeded ${maxVarbinds} varbinds`, 'too_many'));
      else if (stalled) reject(new SnmpPollError(`agent repeated ${last} while walking ${oid}`, 'malformed'));
      else resolve(out);
    });
  });
}
