/**
 * E1381 receiver (the LIS side): ENQ -> ACK, frames checked (number, checksum) and ACKed
 * or NAKed, ETB continuation, EOT back to neutral, a receive timeout that abandons a
 * half-sent message. Transport-neutral: bytes go in with `push`, replies go out through
 * `write`; the same code serves a TCP socket and a serial port.
 *
 * Durability: the frame that completes a message (the one holding the L record) is ACKed
 * only after `onMessage` resolved; if it rejects, that frame is NAKed and the analyser
 * retransmits it (E1381 allows 6 attempts).
 */
import { ACK, ENQ, EOT, NAK, STX, fromBuffer } from './frame.ts';

export interface ReceiverOptions {
  write: (b: Buffer) => void;
  /** Called with the message bytes (records, CR-separated) once an L record arrived or at EOT. */
  onMessage: (bytes: Buffer, info: { terminated: boolean }) => Promise<void>;
  /** E1381: 30 s without a frame while receiving -> back to neutral */
  receiveTimeoutMs?: number;
  maxMessageBytes?: number;
  onEvent?: (type: string, detail?: string) => void;
}

export const ASTM_COUNTER_NAMES = ['sessions', 'frames', 'acks', 'naks', 'checksumErrors', 'frameNumberErrors', 'badFrames', 'duplicateFrames', 'garbageBytes', 'timeouts', 'messages', 'storeErrors', 'oversize', 'unterminated'] as const;
export type AstmCounters = Record<(typeof ASTM_COUNTER_NAMES)[number], number>;

export function newAstmCounters(): AstmCounters {
  return Object.fromEntries(ASTM_COUNTER_NAMES.map((n) => [n, 0])) as AstmCounters;
}

const TERMINATOR = /(^|\r)\d?L\|/;

export class AstmReceiver {
  readonly counters: AstmCounters;
  private state: 'neutral' | 'receiving' = 'neutral';
  private buf: Buffer = Buffer.alloc(0);
  private expected = 1;
  private lastAcked = -1;
  private message: Buffer[] = [];
  private messageBytes = 0;
  private partial: Buffer[] = [];
  private timer: NodeJS.Timeout | undefined;
  private busy = false;
  private closed = false;

  constructor(private readonly o: ReceiverOptions, counters?: AstmCounters) {
    this.counters = counters ?? newAstmCounters();
  }

  /** Feed bytes from the line. Processing is serialised; call freely from 'data'. */
  push(chunk: Uint8Array): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : Buffer.from(chunk);
    void this.drain();
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async drain(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.buf.length && !this.closed) {
        if (!(await this.step())) break;
      }
    } catch (e) {
      // never let one link's surprise escape as an unhandled rejection: drop its state
      this.counters.badFrames++;
      this.o.onEvent?.('internal_error', (e as Error).message);
      this.buf = Buffer.alloc(0);
      this.reset();
    } finally {
      this.busy = false;
    }
  }

  private send(b: number): void {
    if (b === ACK) this.counters.acks++;
    if (b === NAK) this.counters.naks++;
    if (!this.closed) this.o.write(Buffer.from([b]));
  }

  private armTimer(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.counters.timeouts++;
      this.o.onEvent?.('timeout', `no frame for ${this.o.receiveTimeoutMs ?? 30_000} ms: message abandoned`);
      this.reset();
    }, this.o.receiveTimeoutMs ?? 30_000);
  }

  private reset(): void {
    clearTimeout(this.timer);
    this.state = 'neutral';
    this.expected = 1;
    this.lastAcked = -1;
    this.message = [];
    this.messageBytes = 0;
    this.partial = [];
  }

  /** Handle what is at the head of the buffer; false when more bytes are needed. */
  private async step(): Promise<boolean> {
    const b = this.buf[0]!;
    if (this.state === 'neutral') {
      const i = this.buf.indexOf(ENQ);
      if (i < 0) { this.counters.garbageBytes += this.buf.length; this.buf = Buffer.alloc(0); return false; }
      this.counters.garbageBytes += i;
      this.buf = this.buf.subarray(i + 1);
      this.reset();
      this.state = 'receiving';
      this.counters.sessions++;
      this.send(ACK);
      this.armTimer();
      return true;
    }
    if (b === EOT) {
      this.buf = this.buf.subarray(1);
      if (this.message.length) {
        // sender finished without an L record: deliver what we have (it is counted)
        this.counters.unterminated++;
        const bytes = Buffer.concat(this.message);
        this.reset();
        await this.deliver(bytes, false);
      }
      this.reset();
      return true;
    }
    if (b === ENQ) {
      // sender restarted: abandon the partial message
      this.buf = this.buf.subarray(1);
      this.reset();
      this.state = 'receiving';
      this.counters.sessions++;
      this.send(ACK);
      this.armTimer();
      return true;
    }
    if (b !== STX) {
      const next = this.buf.findIndex((x) => x === STX || x === EOT || x === ENQ);
      const n = next < 0 ? this.buf.length : next;
      this.counters.garbageBytes += n;
      this.buf = this.buf.subarray(n);
      return next >= 0;
    }
    const p = fromBuffer(this.buf);
    if (!p.ok && p.error === 'incomplete') return false;
    this.armTimer();
    if (!p.ok) {
      this.buf = this.buf.subarray(p.length);
      if (p.error === 'bad_checksum') this.counters.checksumErrors++;
      else if (p.error === 'bad_fn') this.counters.frameNumberErrors++;
      else this.counters.badFrames++;
      this.o.onEvent?.(p.error, p.detail);
      this.send(NAK);
      return true;
    }
    this.buf = this.buf.subarray(p.length);
    this.counters.frames++;
    const f = p.frame;
    if (f.fn === this.lastAcked && f.fn !== this.expected) {
      // our ACK was lost and the sender repeated the frame: ACK again, do not append twice
      this.counters.duplicateFrames++;
      this.send(ACK);
      return true;
    }
    if (f.fn !== this.expected) {
      this.counters.frameNumberErrors++;
      this.o.onEvent?.('bad_fn', `frame ${f.fn}, expected ${this.expected}`);
      this.send(NAK);
      return true;
    }
    if (this.messageBytes + f.text.length > (this.o.maxMessageBytes ?? 4 * 1024 * 1024)) {
      this.counters.oversize++;
      this.o.onEvent?.('oversize', 'message too large: abandoned');
      this.message = [];
      this.messageBytes = 0;
      this.partial = [];
      this.send(NAK);
      return true;
    }
    this.partial.push(f.text);
    if (!f.final) {
      this.accept(f.fn);
      return true;
    }
    const part = Buffer.concat(this.partial);
    this.partial = [];
    this.message.push(part);
    this.messageBytes += part.length;
    if (TERMINATOR.test(part.toString('latin1'))) {
      const bytes = Buffer.concat(this.message);
      const ok = await this.deliver(bytes, true);
      if (!ok) {
        // NAK the completing frame: the sender retransmits it and we try to store again
        this.message.pop();
        this.messageBytes -= part.length;
        this.send(NAK);
        return true;
      }
      this.message = [];
      this.messageBytes = 0;
    }
    this.accept(f.fn);
    return true;
  }

  private accept(fn: number): void {
    this.lastAcked = fn;
    this.expected = (fn + 1) & 7;
    this.send(ACK);
  }

  private async deliver(bytes: Buffer, terminated: boolean): Promise<boolean> {
    // the sender is waiting for our answer, not silent: no receive timeout meanwhile
    clearTimeout(this.timer);
    try {
      await this.o.onMessage(bytes, { terminated });
      this.counters.messages++;
      return true;
    } catch (e) {
      this.counters.storeErrors++;
      this.o.onEvent?.('store_error', (e as Error).message);
      return false;
    } finally {
      if (this.state === 'receiving' && !this.closed) this.armTimer();
    }
  }
}

