/**
 * MLLP framing: <VT> payload <FS><CR>. `toBuffer` frames; `MllpFramer` is the stream
 * handler that accumulates TCP chunks and slices whole frames (node-modbus
 * tcp-client-response-handler shape). Bytes outside a frame and oversized frames are
 * dropped and reported, never buffered without bound.
 */
export const VT = 0x0b;
export const FS = 0x1c;
export const CR = 0x0d;

export function toBuffer(payload: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(payload.length + 3);
  out[0] = VT;
  out.set(payload, 1);
  out[payload.length + 1] = FS;
  out[payload.length + 2] = CR;
  return out;
}

/** One whole frame at the start of `buf`, or null if incomplete / not a frame start. */
export function fromBuffer(buf: Uint8Array): { payload: Buffer; length: number } | null {
  if (buf[0] !== VT) return null;
  for (let i = 1; i + 1 < buf.length; i++) {
    if (buf[i] === FS && buf[i + 1] === CR) return { payload: Buffer.from(buf.subarray(1, i)), length: i + 2 };
  }
  return null;
}

export type FramerEvent =
  | { type: 'frame'; payload: Buffer }
  /** bytes outside a frame (before <VT>), discarded */
  | { type: 'garbage'; bytes: number }
  /** frame grew past maxFrameBytes: discarded up to its end */
  | { type: 'oversize'; bytes: number };

export class MllpFramer {
  private parts: Buffer[] = [];
  private size = 0;
  private inFrame = false;
  private skippingOversize = false;
  private skipped = 0;
  private lastWasFs = false;

  constructor(readonly maxFrameBytes = 1024 * 1024) {}

  /** Feed one chunk; returns the events it completed, in order. */
  push(chunk: Uint8Array): FramerEvent[] {
    const events: FramerEvent[] = [];
    let start = 0;
    let garbage = 0;
    for (let i = 0; i < chunk.length; i++) {
      const b = chunk[i]!;
      if (!this.inFrame) {
        if (b === VT) {
          if (garbage) { events.push({ type: 'garbage', bytes: garbage }); garbage = 0; }
          this.inFrame = true;
          this.lastWasFs = false;
          start = i + 1;
        } else if (b !== CR && b !== 0x0a) {
          // stray CR/LF between frames is common and harmless
          garbage++;
        }
        continue;
      }
      if (this.lastWasFs && b === CR) {
        // frame ends at i-1 (the FS)
        const tailEnd = i - 1;
        if (this.skippingOversize) {
          events.push({ type: 'oversize', bytes: this.skipped + Math.max(0, tailEnd - start) });
        } else {
          if (tailEnd > start) this.append(chunk.subarray(start, tailEnd));
          else if (tailEnd < start) this.trimLast(start - tailEnd); // FS was the last byte of the previous chunk
          events.push({ type: 'frame', payload: this.take() });
        }
        this.reset();
        continue;
      }
      if (b === VT && !this.skippingOversize) {
        // a new start inside a frame: the previous one was truncated; report it as garbage
        events.push({ type: 'garbage', bytes: this.size + (i - start) + 1 });
        this.parts = [];
        this.size = 0;
        start = i + 1;
        this.lastWasFs = false;
        continue;
      }
      this.lastWasFs = b === FS;
      if (!this.skippingOversize && this.size + (i + 1 - start) > this.maxFrameBytes + 1) {
        this.skippingOversize = true;
        this.skipped = this.size + (i - start);
        this.parts = [];
        this.size = 0;
      }
    }
    if (garbage) events.push({ type: 'garbage', bytes: garbage });
    if (this.inFrame) {
      if (this.skippingOversize) this.skipped += chunk.length - start;
      else if (chunk.length > start) this.append(chunk.subarray(start));
    }
    return events;
  }

  /** Bytes held for an incomplete frame. */
  pending(): number {
    return this.size;
  }

  private append(b: Uint8Array): void {
    this.parts.push(Buffer.from(b));
    this.size += b.length;
  }
  private trimLast(n: number): void {
    const all = Buffer.concat(this.parts, this.size);
    this.parts = [all.subarray(0, all.length - n)];
    this.size -= n;
  }
  private take(): Buffer {
    const b = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts, this.size);
    return b;
  }
  private reset(): void {
    this.parts = [];
    this.size = 0;
    this.inFrame = false;
    this.skippingOversize = false;
    this.skipped = 0;
    this.lastWasFs = false;
  }
}
