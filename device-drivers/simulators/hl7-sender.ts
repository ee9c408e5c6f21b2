/**
 * HL7 v2 sender over MLLP: the bedside-monitor simulator. Sends ORU^R01 messages and waits
 * for each ACK (as a real monitor does), re-sending on AE or timeout.
 */
import { connect, type Socket } from 'node:net';
import type { Hl7Profile } from '../profiles/schema.ts';
import { parseAck } from '../hl7/ack.ts';
import { buildOru, type OruObservation } from '../hl7/build.ts';
import { MllpFramer, toBuffer } from '../hl7/mllp.ts';
import { parseMessage } from '../hl7/message.ts';
import { generateValue, rng, type ValueKind, type ValueMix } from './values.ts';

export interface AckResult {
  code: string;
  controlId: string;
  text: string;
}

/** One MLLP client connection that sends a message and resolves with the parsed ACK. */
export class MllpClient {
  private framer = new MllpFramer();
  private waiters: Array<{ resolve: (a: AckResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }> = [];
  private constructor(private readonly sock: Socket) {
    sock.setNoDelay(true);
    sock.on('data', (c: Buffer) => {
      for (const e of this.framer.push(c)) {
        if (e.type !== 'frame') continue;
        const w = this.waiters.shift();
        if (!w) continue;
        clearTimeout(w.timer);
        try { w.resolve(parseAck(parseMessage(e.payload))); } catch (err) { w.reject(err as Error); }
      }
    });
    const fail = (err: Error) => { for (const w of this.waiters.splice(0)) { clearTimeout(w.timer); w.reject(err); } };
    sock.on('error', fail);
    sock.on('close', () => fail(new Error('connection closed')));
  }

  static open(host: string, port: number): Promise<MllpClient> {
    return new Promise((resolve, reject) => {
      const s = connect(port, host, () => { s.off('error', reject); resolve(new MllpClient(s)); });
      s.once('error', reject);
    });
  }

  /** Send one message (unframed HL7 bytes); resolves with its ACK. */
  send(message: Buffer, timeoutMs = 10_000): Promise<AckResult> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const i = this.waiters.findIndex((w) => w.timer === timer);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no ACK in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push({ resolve, reject, timer });
      this.sock.write(toBuffer(message));
    });
  }

  /** Write raw bytes (tests: garbage, split frames). */
  writeRaw(b: Buffer): void {
    this.sock.write(b);
  }

  close(): void {
    this.sock.destroy();
  }
}

let seq = 0;
/** Build an ORU for a profile with generated values. */
export function simulatedOru(profile: Hl7Profile, r: () => number, o: { deviceName?: string; patientId?: string; charset?: string; mix?: ValueMix } = {}): { message: Buffer; controlId: string; kinds: ValueKind[] } {
  const controlId = `SIM${process.pid}-${Date.now()}-${++seq}`;
  const kinds: ValueKind[] = [];
  const observations: OruObservation[] = profile.quantities.map((q) => {
    const v = generateValue(q, r, o.mix);
    kinds.push(v.kind);
    return { id: q.hl7!.observationIds[0]!, text: q.display, value: v.value, unit: q.unit };
  });
  const gb = /GB/i.test(o.charset ?? '');
  const message = buildOru({
    controlId,
    sendingApp: o.deviceName ?? 'MONITOR',
    sendingFacility: 'WARD1',
    patientId: o.patientId ?? `P${Math.floor(r() * 1e6)}`,
    patientName: gb ? '张三' : 'ZHANG^SAN',
    ...(o.charset ? { charset: o.charset } : {}),
    observations,
  });
  return { message, controlId, kinds };
}

export interface Hl7SimulatorOptions {
  host: string;
  port: number;
  profile: Hl7Profile;
  intervalMs?: number;
  deviceName?: string;
  charset?: string;
  seed?: number;
  mix?: ValueMix;
}

export interface Hl7Simulator {
  port: number;
  sent: number;
  acks: Record<string, number>;
  stop(): Promise<void>;
}

/** Start a bedside monitor that sends one ORU every `intervalMs` to host:port. */
export async function startHl7Simulator(o: Hl7SimulatorOptions): Promise<Hl7Simulator> {
  const r = rng(o.seed);
  const state: Hl7Simulator = { port: o.port, sent: 0, acks: {}, stop: async () => { stopped = true; clearTimeout(timer); client?.close(); } };
  let stopped = false;
  let client: MllpClient | undefined;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    if (stopped) return;
    try {
      client ??= await MllpClient.open(o.host, o.port);
      const m = simulatedOru(o.profile, r, { ...(o.deviceName ? { deviceName: o.deviceName } : {}), ...(o.charset ? { charset: o.charset } : {}), ...(o.mix ? { mix: o.mix } : {}) });
      const ack = await client.send(m.message);
      state.sent++;
      state.acks[ack.code] = (state.acks[ack.code] ?? 0) + 1;
    } catch {
      client?.close();
      client = undefined; // reconnect next tick
    }
    if (!stopped) timer = setTimeout(() => void tick(), o.intervalMs ?? 1000);
  };
  void tick();
  return state;
}
