/**
 * Trap/inform receiver. net-snmp answers informs itself; we turn each notification into
 * a typed trap. Garbage datagrams and unknown communities/users are counted, never fatal.
 */
import { createSocket } from 'node:dgram';
import snmp, { type Notification, type Receiver, type Varbind } from './net-snmp.ts';
import { OID, TRAP_OIDS, V1_GENERIC, type TrapKind } from './oids.ts';
import { toNumber, toOid, toText } from './values.ts';
import type { NetworkMonitorConfig } from '../config.ts';

export interface Trap {
  kind: TrapKind;
  trapOid: string;
  /** Agent address: snmpTrapAddress varbind when present, else the UDP source. */
  source: string;
  ifIndex?: number;
  ifName?: string;
  uptimeSeconds?: number;
  user?: string;
  community?: string;
  pduType: 'trap' | 'inform' | 'v1trap';
}

const PDU_TRAP_V1 = 164;
const PDU_INFORM = 166;
const IFX_NAME = '1.3.6.1.2.1.31.1.1.1.1.';
const IF_DESCR = '1.3.6.1.2.1.2.2.1.2.';

/** Decode a notification; null when it carries no recognisable trap identity. */
export function decodeNotification(n: Notification): Trap | null {
  const pdu = n?.pdu;
  if (!pdu || !Array.isArray(pdu.varbinds)) return null;
  const vbs: Varbind[] = pdu.varbinds.filter((v) => v && typeof v.oid === 'string');
  let trapOid: string | null = null;
  let kind: TrapKind = 'other';
  let pduType: Trap['pduType'] = pdu.type === PDU_INFORM ? 'inform' : 'trap';
  if (pdu.type === PDU_TRAP_V1) {
    pduType = 'v1trap';
    const g = typeof pdu.generic === 'number' ? pdu.generic : -1;
    kind = V1_GENERIC[g] ?? 'other';
    trapOid = g >= 0 && g <= 5 ? `1.3.6.1.6.3.1.1.5.${g + 1}` : `${pdu.enterprise ?? ''}.0.${pdu.specific ?? 0}`;
  } else {
    const vb = vbs.find((v) => v.oid === OID.snmpTrapOID);
    trapOid = vb ? toOid(vb) : null;
    if (!trapOid) return null;
    kind = TRAP_OIDS[trapOid] ?? 'other';
  }
  const addrVb = vbs.find((v) => v.oid === OID.snmpTrapAddress);
  const addr = addrVb && typeof addrVb.value === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(addrVb.value) ? addrVb.value : undefined;
  const trap: Trap = { kind, trapOid: trapOid ?? '', source: addr ?? pdu.agentAddr ?? n.rinfo?.address ?? 'unknown', pduType };
  const ifIdxVb = vbs.find((v) => v.oid.startsWith(OID.ifIndex + '.'));
  const ifIndex = ifIdxVb ? toNumber(ifIdxVb) : null;
  if (ifIndex !== null && Number.isSafeInteger(ifIndex) && ifIndex > 0) trap.ifIndex = ifIndex;
  const nameVb = vbs.find((v) => v.oid.startsWith(IFX_NAME)) ?? vbs.find((v) => v.oid.startsWith(IF_DESCR));
  const ifName = nameVb ? toText(nameVb, 64) : null;
  if (ifName) trap.ifName = ifName;
  const up = vbs.find((v) => v.oid === OID.sysUpTime);
  const upCs = up ? toNumber(up) : typeof pdu.upTime === 'number' ? pdu.upTime : null;
  if (upCs !== null && upCs >= 0) trap.uptimeSeconds = upCs / 100;
  if (n.user) trap.user = n.user;
  if (n.community) trap.community = n.community;
  return trap;
}

export interface TrapReceiverHandle {
  port: number;
  close(): Promise<void>;
}

/** Pick a free UDP port on `host` (bind 0, close). */
async function freePort(host: string): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => { s.once('error', reject); s.bind(0, host, () => resolve()); });
  const { port } = s.address();
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export async function startTrapReceiver(
  cfg: NetworkMonitorConfig['traps'],
  onTrap: (t: Trap) => void,
  onError: (reason: string, err: Error) => void,
): Promise<TrapReceiverHandle> {
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = cfg.port === 0 ? await freePort(cfg.host === '0.0.0.0' ? '127.0.0.1' : cfg.host) : cfg.port;
    try {
      const receiver = await open(port);
      return { port, close: () => new Promise<void>((r) => { try { receiver.close(() => r()); } catch { r(); } setTimeout(r, 200).unref(); }) };
    } catch (e) {
      lastErr = e;
      if (cfg.port !== 0) break;
    }
  }
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));

  async function open(port: number): Promise<Receiver> {
    const receiver = snmp.createReceiver({ port, address: cfg.host, transport: 'udp4', includeAuthentication: true }, (err, n) => {
      try {
        if (err || !n) {
          const e = err ?? new Error('empty notification');
          onError(/community|user|auth/i.test(e.message) ? 'unauthorised' : 'malformed', e);
          return;
        }
        const t = decodeNotification(n);
        if (!t) onError('malformed', new Error('notification without snmpTrapOID'));
        else onTrap(t);
      } catch (e) {
        onError('malformed', e instanceof Error ? e : new Error(String(e)));
      }
    });
    const auth = receiver.getAuthorizer();
    for (const c of cfg.communities) auth.addCommunity(c);
    for (const u of cfg.users) {
      auth.addUser({ name: u.user, level: snmp.SecurityLevel.authPriv, authProtocol: snmp.AuthProtocols[u.authProtocol], authKey: u.authKey, privProtocol: snmp.PrivProtocols[u.privProtocol], privKey: u.privKey });
    }
    // net-snmp binds asynchronously; give a bind error (EADDRINUSE) a chance to surface.
    await new Promise<void>((resolve, reject) => {
      const sockets = (receiver as unknown as { listener?: { sockets?: Record<string, import('node:dgram').Socket> } }).listener?.sockets;
      const sock = sockets ? Object.values(sockets)[0] : undefined;
      if (!sock) { setTimeout(resolve, 50); return; }
      const onErr = (e: Error) => reject(e);
      sock.once('error', onErr);
      sock.once('listening', () => { sock.off('error', onErr); resolve(); });
      setTimeout(() => { sock.off('error', onErr); resolve(); }, 500);
    });
    return receiver;
  }
}
