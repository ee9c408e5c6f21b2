/**
 * ASTM analyser reception: one E1381 receiver per link (TCP connection or serial port),
 * messages decoded into lab readings with the analyser's profile and handed to the
 * caller's `store`; the completing frame is ACKed only after `store` resolved.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { DeviceHealth } from '../driver.ts';
import { newHealth } from '../driver.ts';
import type { AstmProfile } from '../profiles/schema.ts';
import type { Reading } from '../readings.ts';
import { AstmReceiver, newAstmCounters, type AstmCounters } from './receiver.ts';
import { AstmParseError } from './records.ts';
import { astmToReadings, decodeAstmText } from './results.ts';
import { withTimeout } from '../util.ts';

export interface AstmLinkOptions {
  profile: AstmProfile;
  /** Fixed device id for this link; default: H-5 sender name */
  deviceId?: string;
  store: (readings: Reading[], meta: { deviceId: string; link: string }) => Promise<void>;
  receiveTimeoutMs?: number;
  /** A store slower than this is treated as failed: the frame is NAKed (default 10 s, below E1381's 15 s) */
  storeTimeoutMs?: number;
  /** Text encoding of the analyser; default: UTF-8 when valid, else GB18030 */
  encoding?: string;
  defaultOffset?: string;
  onEvent?: (e: { type: string; link: string; detail?: string }) => void;
}

export interface AstmLinkState {
  counters: AstmCounters & { badMessages: number; readings: number; resultProblems: number };
  healths: Map<string, DeviceHealth>;
  last: Reading[];
}

export function newLinkState(): AstmLinkState {
  return { counters: { ...newAstmCounters(), badMessages: 0, readings: 0, resultProblems: 0 }, healths: new Map(), last: [] };
}

/** Anything that carries bytes both ways: net.Socket, SerialPort, a PassThrough pair. */
export interface Duplexish {
  write(b: Buffer): unknown;
  on(ev: 'data', fn: (b: Buffer) => void): unknown;
}

/** Run an E1381 receiver on a caller-supplied stream. Returns a detach function. */
export function attachAstmReceiver(stream: Duplexish, link: string, o: AstmLinkOptions, st: AstmLinkState = newLinkState()): { receiver: AstmReceiver; detach: () => void } {
  const ev = (type: string, detail?: string) => o.onEvent?.({ type, link, ...(detail ? { detail } : {}) });
  const receiver = new AstmReceiver({
    write: (b) => { stream.write(b); },
    receiveTimeoutMs: o.receiveTimeoutMs ?? o.profile.astm.receiveTimeoutMs,
    onEvent: ev,
    onMessage: async (bytes) => {
      let res;
      try {
        res = astmToReadings(decodeAstmText(bytes, o.encoding), o.profile, { ...(o.deviceId ? { deviceId: o.deviceId } : {}), ...(o.defaultOffset ? { defaultOffset: o.defaultOffset } : {}) });
      } catch (e) {
        if (e instanceof AstmParseError) {
          // link-level the frames were fine; the content is not E1394: count and report, ACK
          st.counters.badMessages++;
          ev('bad_message', e.message);
          return;
        }
        throw e;
      }
      const deviceId = o.deviceId ?? (res.sender || 'unknown');
      let h = st.healths.get(deviceId);
      if (!h) { h = newHealth(deviceId); st.healths.set(deviceId, h); }
      st.counters.resultProblems += res.problems.length;
      if (res.problems.length) { h.lastError = res.problems[0]; ev('result_problem', res.problems.join('; ')); }
      if (res.readings.length === 0) return;
      try {
        await withTimeout(o.store(res.readings, { deviceId, link }), o.storeTimeoutMs ?? 10_000, 'store');
      } catch (e) {
        h.errors++;
        h.lastError = `store failed: ${(e as Error).message}`;
        throw e;
      }
      st.counters.readings += res.readings.length;
      h.readings += res.readings.length;
      h.state = 'up';
      h.lastSeenAt = new Date().toISOString();
      st.last = res.readings;
    },
  }, st.counters);
  const onData = (b: Buffer) => receiver.push(b);
  stream.on('data', onData);
  return { receiver, detach: () => { receiver.close(); (stream as { off?: (e: string, f: (b: Buffer) => void) => void }).off?.('data', onData); } };
}

export interface AstmServer {
  port: number;
  host: string;
  state: AstmLinkState;
  close(): Promise<void>;
}

/** Listen for analysers (or serial-to-TCP adapters) on TCP. */
export async function startAstmServer(o: AstmLinkOptions & { host?: string; port?: number; idleTimeoutMs?: number; maxConnections?: number }): Promise<AstmServer> {
  const st = newLinkState();
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    if (o.maxConnections && sockets.size >= o.maxConnections) { sock.destroy(); return; }
    sockets.add(sock);
    const link = `${sock.remoteAddress}:${sock.remotePort}`;
    const { detach } = attachAstmReceiver(sock, link, o, st);
    // analysers keep idle links open for hours: only a generous idle limit
    sock.setTimeout(o.idleTimeoutMs ?? 10 * 60_000, () => { o.onEvent?.({ type: 'idle_closed', link }); sock.destroy(); });
    sock.on('error', (e) => o.onEvent?.({ type: 'socket_error', link, detail: e.message }));
    sock.on('close', () => { detach(); sockets.delete(sock); });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const a = server.address() as AddressInfo;
  return {
    port: a.port,
    host: a.address,
    state: st,
    close: () => new Promise<void>((resolve) => { for (const s of sockets) s.destroy(); server.close(() => resolve()); }),
  };
}
