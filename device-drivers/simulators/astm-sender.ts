/**
 * ASTM analyser simulator: builds E1394 messages (H, P, O, R..., C, L) with generated
 * results and sends them with the E1381 sender over TCP (or any byte link).
 */
import { connect, type Socket } from 'node:net';
import iconv from 'iconv-lite';
import type { AstmProfile } from '../profiles/schema.ts';
import { buildRecord } from '../astm/records.ts';
import { sendAstmMessage, type ByteLink, type SendOptions } from '../astm/sender.ts';
import { generateValue, rng, type ValueKind, type ValueMix } from './values.ts';

export interface AstmSample {
  specimenId: string;
  patientId: string;
  patientName?: string;
  results: Array<{ testId: string; value: string; unit: string; flag?: string; status?: string }>;
}

function ts(d = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

/** The records of one message, encoded (GB18030 when `gb`, for Chinese names). */
export function buildAstmMessage(sender: string, s: AstmSample, o: { gb?: boolean; time?: Date } = {}): Buffer[] {
  const now = ts(o.time);
  const lines = [
    `H|\\^&|||${sender}^1.0|||||||P|1394-97|${now}`,
    buildRecord('P', ['1', s.patientId, '', '', s.patientName ?? '']),
    buildRecord('O', ['1', s.specimenId, '', s.results.map((r) => `^^^${r.testId}`).join('\\'), 'R', now, now, '', '', '', 'N', '', '', '', 'SERUM', '', '', '', '', '', '', '', '', 'F']),
    ...s.results.map((r, i) => buildRecord('R', [String(i + 1), `^^^${r.testId}`, r.value, r.unit, '', r.flag ?? '', '', r.status ?? 'F', '', 'SIM', now, now, sender])),
    'C|1|I|simulated|G',
    'L|1|N',
  ];
  return lines.map((l) => iconv.encode(`${l}\r`, o.gb ? 'gb18030' : 'utf8'));
}

let specimenSeq = 0;
/** Generated results for every test of a profile. */
export function simulatedAstm(profile: AstmProfile, r: () => number, mix?: ValueMix): { sample: AstmSample; kinds: ValueKind[] } {
  const kinds: ValueKind[] = [];
  const results = profile.quantities.map((q) => {
    const v = generateValue(q, r, mix);
    kinds.push(v.kind);
    return { testId: q.astm!.testId, value: v.value.toFixed(q.decimals), unit: q.unit };
  });
  const specimenId = `S${String(Date.now()).slice(-8)}${String(++specimenSeq).padStart(4, '0')}`;
  return { sample: { specimenId, patientId: `P${Math.floor(r() * 1e6)}`, patientName: '李四', results }, kinds };
}

export function socketLink(s: Socket): ByteLink {
  return { write: (b) => s.write(b), on: (e, f) => s.on(e, f), off: (e, f) => s.off(e, f) };
}

export interface AstmSimulatorOptions {
  host: string;
  port: number;
  profile: AstmProfile;
  intervalMs?: number;
  sender?: string;
  seed?: number;
  mix?: ValueMix;
  send?: SendOptions;
  gb?: boolean;
}

export interface AstmSimulator {
  port: number;
  sent: number;
  failed: number;
  /**
   * Stop sending. `finishMessage`: let a message in progress complete first (its last ACK
   * or failure), so `sent` + `failed` account for every message the receiver stored.
   */
  stop(o?: { finishMessage?: boolean }): Promise<void>;
}

/** An analyser that sends one specimen's results every `intervalMs` over TCP. */
export async function startAstmSimulator(o: AstmSimulatorOptions): Promise<AstmSimulator> {
  const r = rng(o.seed);
  let stopped = false;
  let sock: Socket | undefined;
  let timer: NodeJS.Timeout | undefined;
  let inFlight: Promise<void> = Promise.resolve();
  /** Aborts the message being sent: on stop, or when its connection closes. */
  let sending: AbortController | undefined;
  const sim: AstmSimulator = {
    port: o.port, sent: 0, failed: 0,
    stop: async (so = {}) => {
      stopped = true;
      clearTimeout(timer);
      if (so.finishMessage) await inFlight;
      sending?.abort(new Error('simulator stopped'));
      sock?.destroy();
      // The aborted send ends at once; a connect still pending is not waited for long.
      await Promise.race([inFlight, new Promise((res) => setTimeout(res, 2000).unref())]);
    },
  };
  const open = () => new Promise<Socket>((resolve, reject) => {
    const s = connect(o.port, o.host, () => { s.off('error', reject); s.on('error', () => undefined); resolve(s); });
    s.once('error', reject);
  });
  const tick = async () => {
    if (stopped) return;
    try {
      if (!sock || sock.destroyed) sock = await open();
      const m = simulatedAstm(o.profile, r, o.mix);
      const ac = new AbortController();
      sending = ac;
      const s = sock;
      const onClose = () => ac.abort(new Error('connection closed'));
      s.once('close', onClose);
      try {
        await sendAstmMessage(socketLink(s), buildAstmMessage(o.sender ?? o.profile.id.toUpperCase(), m.sample, o.gb ? { gb: true } : {}), { ...o.send, signal: ac.signal });
      } finally {
        s.off('close', onClose);
        sending = undefined;
      }
      sim.sent++;
    } catch {
      if (!stopped) sim.failed++;
      sock?.destroy();
      sock = undefined;
    }
    if (!stopped) timer = setTimeout(() => { inFlight = tick(); }, o.intervalMs ?? 2000);
  };
  inFlight = tick();
  return sim;
}
