/**
 * MLLP listener for HL7 v2 results. Each connection gets its own framer and an ordered
 * queue; a message is acknowledged AA only after the caller's `store` resolved (durable),
 * AE when storing failed, AR when the message cannot be accepted (with the reason).
 * Garbage, oversized frames and silent peers are counted and never affect other connections.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Hl7Profile } from '../profiles/schema.ts';
import type { DeviceHealth } from '../driver.ts';
import { newHealth } from '../driver.ts';
import type { Reading } from '../readings.ts';
import { buildAck, type AckCode } from './ack.ts';
import { MllpFramer, toBuffer } from './mllp.ts';
import { component, field, Hl7ParseError, parseMessage, type Hl7Message } from './message.ts';
import { oruToReadings } from './oru.ts';
import { withTimeout } from '../util.ts';

export interface ResolvedDevice {
  deviceId: string;
  profile: Hl7Profile;
}

export interface MllpServerOptions {
  host?: string;
  /** 0 (default) lets the OS choose */
  port?: number;
  /** Which device sent this and with which profile; null rejects the message (AR). */
  resolveDevice: (msg: Hl7Message, remote: string) => ResolvedDevice | null;
  /** Durably store the readings; the ACK waits for this. */
  store: (readings: Reading[], meta: { message: Hl7Message; deviceId: string; remote: string }) => Promise<void>;
  maxFrameBytes?: number;
  /** Close a connection that sent nothing for this long (default 60 s). */
  idleTimeoutMs?: number;
  maxConnections?: number;
  /** A store that hangs longer than this gets an AE (default 10 s). */
  storeTimeoutMs?: number;
  /** Messages queued per connection before we stop reading from it (backpressure). */
  maxQueuePerConnection?: number;
  /** Timezone assumed for HL7 times without offset. */
  defaultOffset?: string;
  onEvent?: (e: { type: string; remote: string; detail?: string }) => void;
}

export const MLLP_COUNTER_NAMES = ['connections', 'activeConnections', 'frames', 'accepted', 'errors', 'rejected', 'garbageBytes', 'garbageEvents', 'oversize', 'idleClosed', 'parseErrors', 'storeErrors', 'readings', 'obxProblems', 'refusedConnections'] as const;
export type MllpCounters = Record<(typeof MLLP_COUNTER_NAMES)[number], number>;

export interface MllpServer {
  readonly port: number;
  readonly host: string;
  counters: MllpCounters;
  health(): DeviceHealth[];
  /** The last batch of readings stored (for the registry's "last reading"). */
  lastReadings(): Reading[];
  close(): Promise<void>;
}

export async function startMllpServer(o: MllpServerOptions): Promise<MllpServer> {
  const counters = Object.fromEntries(MLLP_COUNTER_NAMES.map((n) => [n, 0])) as MllpCounters;
  const healths = new Map<string, DeviceHealth>();
  const sockets = new Set<Socket>();
  let last: Reading[] = [];
  const maxFrame = o.maxFrameBytes ?? 1024 * 1024;
  const idle = o.idleTimeoutMs ?? 60_000;
  const storeTimeout = o.storeTimeoutMs ?? 10_000;
  const maxQueue = o.maxQueuePerConnection ?? 32;
  const ev = (type: string, remote: string, detail?: string) => o.onEvent?.({ type, remote, ...(detail ? { detail } : {}) });

  const health = (id: string) => {
    let h = healths.get(id);
    if (!h) { h = newHealth(id); healths.set(id, h); }
    return h;
  };

  async function handle(payload: Buffer, remote: string): Promise<Buffer> {
    let msg: Hl7Message;
    try {
      msg = parseMessage(payload);
    } catch (e) {
      counters.parseErrors++;
      counters.rejected++;
      const reason = e instanceof Hl7ParseError ? e.message : `unparseable message: ${(e as Error).message}`;
      ev('parse_error', remote, reason);
      const ctl = e instanceof Hl7ParseError ? e.partial?.controlId : undefined;
      return buildAck(null, { code: 'AR', text: reason, ...(ctl ? { ackedControlId: ctl } : {}) });
    }
    const reply = (code: AckCode, text?: string) => {
      if (code === 'AA') counters.accepted++;
      else if (code === 'AE') counters.errors++;
      else counters.rejected++;
      return buildAck(msg, { code, ...(text ? { text } : {}) });
    };
    const dev = o.resolveDevice(msg, remote);
    if (!dev) {
      ev('unknown_device', remote, `${field(msg.segments[0], 3)}|${field(msg.segments[0], 4)}`);
      return reply('AR', `unknown sending device ${component(field(msg.segments[0], 3), 1, msg.delimiters)}`);
    }
    const h = health(dev.deviceId);
    if (!dev.profile.hl7.messageTypes.includes(msg.messageType)) {
      h.errors++;
      h.lastError = `unsupported message type ${msg.messageType}`;
      return reply('AR', `unsupported message type ${msg.messageType || '(empty)'}`);
    }
    const res = oruToReadings(msg, dev.profile, dev.deviceId, o.defaultOffset);
    counters.obxProblems += res.problems.length;
    if (res.readings.length === 0) {
      h.errors++;
      h.lastError = res.problems[0] ?? 'no OBX';
      return reply('AE', `no usable observations${res.problems.length ? `: ${res.problems.slice(0, 3).join('; ')}` : ''}`);
    }
    try {
      await withTimeout(o.store(res.readings, { message: msg, deviceId: dev.deviceId, remote }), storeTimeout, 'store');
    } catch (e) {
      counters.storeErrors++;
      h.errors++;
      h.lastError = `store failed: ${(e as Error).message}`;
      ev('store_error', remote, (e as Error).message);
      return reply('AE', `not stored, resend later: ${(e as Error).message}`);
    }
    counters.readings += res.readings.length;
    h.readings += res.readings.length;
    h.state = 'up';
    h.lastSeenAt = new Date().toISOString();
    last = res.readings;
    return reply('AA', res.problems.length ? `stored ${res.readings.length}; ignored ${res.problems.length}: ${res.problems[0]}` : undefined);
  }

  const server: Server = createServer((sock) => {
    const remote = `${sock.remoteAddress}:${sock.remotePort}`;
    if (o.maxConnections && sockets.size >= o.maxConnections) {
      counters.refusedConnections++;
      sock.destroy();
      return;
    }
    counters.connections++;
    counters.activeConnections++;
    sockets.add(sock);
    sock.setNoDelay(true);
    sock.setTimeout(idle, () => {
      counters.idleClosed++;
      ev('idle_closed', remote);
      sock.destroy();
    });
    const framer = new MllpFramer(maxFrame);
    let queued = 0;
    let chain: Promise<void> = Promise.resolve();
    sock.on('data', (chunk: Buffer) => {
      for (const e of framer.push(chunk)) {
        if (e.type === 'garbage') { counters.garbageBytes += e.bytes; counters.garbageEvents++; ev('garbage', remote, `${e.bytes} bytes`); continue; }
        if (e.type === 'oversize') {
          counters.oversize++;
          counters.rejected++;
          ev('oversize', remote, `${e.bytes} bytes`);
          const ack = toBuffer(buildAck(null, { code: 'AR', text: `message larger than ${maxFrame} bytes` }));
          chain = chain.then(() => { if (!sock.destroyed) sock.write(ack); });
          continue;
        }
        counters.frames++;
        queued++;
        if (queued >= maxQueue) sock.pause();
        const payload = e.payload;
        chain = chain.then(async () => {
          const ack = await handle(payload, remote).catch((err: unknown) => {
            counters.errors++;
            return buildAck(null, { code: 'AE', text: `internal error: ${(err as Error).message}` });
          });
          queued--;
          if (queued < maxQueue && sock.isPaused()) sock.resume();
          if (!sock.destroyed) sock.write(toBuffer(ack));
        });
      }
    });
    sock.on('error', (err) => ev('socket_error', remote, err.message));
    sock.on('close', () => {
      counters.activeConnections--;
      sockets.delete(sock);
    });
  });
  server.on('error', () => { /* listen errors surface through the promise below */ });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const addr = server.address() as AddressInfo;
  return {
    port: addr.port,
    host: addr.address,
    counters,
    health: () => [...healths.values()].map((h) => ({ ...h })),
    lastReadings: () => last,
    close: () => new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy();
      server.close(() => resolve());
    }),
  };
}

/** Default device resolution: one profile, device id from MSH-4 (facility) or MSH-3 (application). */
export function singleProfileResolver(profile: Hl7Profile, allow?: (deviceId: string) => boolean): MllpServerOptions['resolveDevice'] {
  return (msg) => {
    const msh = msg.segments[0];
    const app = component(field(msh, 3), 1, msg.delimiters);
    const fac = component(field(msh, 4), 1, msg.delimiters);
    const deviceId = (fac ? `${app}@${fac}` : app) || 'unknown';
    if (allow && !allow(deviceId)) return null;
    return { deviceId: deviceId.slice(0, 64), profile };
  };
}
