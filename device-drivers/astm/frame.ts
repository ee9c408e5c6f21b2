/**
 * ASTM E1381 (CLSI LIS01) low-level frames: STX FN text ETB|ETX C1 C2 CR LF.
 * The checksum is the sum mod 256 of FN through ETB/ETX, as two upper-case hex digits.
 * Pure functions: `toBuffer` builds, `fromBuffer` reads one frame at the start of a buffer.
 */
export const ENQ = 0x05;
export const ACK = 0x06;
export const NAK = 0x15;
export const EOT = 0x04;
export const STX = 0x02;
export const ETX = 0x03;
export const ETB = 0x17;
export const CR = 0x0d;
export const LF = 0x0a;

/** Max text bytes per frame (E1381: 247-byte frames, 240 of message text). */
export const MAX_FRAME_TEXT = 240;
/** A frame longer than this (incl. framing) is garbage. */
export const MAX_FRAME_BYTES = MAX_FRAME_TEXT + 7;

export interface Frame {
  /** frame number 0-7 */
  fn: number;
  text: Buffer;
  /** true for ETX (last frame of a message part), false for ETB (continues) */
  final: boolean;
}

export function checksum(bytes: Uint8Array, start: number, end: number): string {
  let sum = 0;
  for (let i = start; i < end; i++) sum = (sum + bytes[i]!) & 0xff;
  return sum.toString(16).toUpperCase().padStart(2, '0');
}

export function toBuffer(f: Frame): Buffer {
  const out = Buffer.allocUnsafe(f.text.length + 7);
  out[0] = STX;
  out[1] = 0x30 + (f.fn & 7);
  f.text.copy(out, 2);
  out[2 + f.text.length] = f.final ? ETX : ETB;
  out.write(checksum(out, 1, 3 + f.text.length), 3 + f.text.length, 'latin1');
  out[5 + f.text.length] = CR;
  out[6 + f.text.length] = LF;
  return out;
}

export type FrameParse =
  | { ok: true; frame: Frame; length: number }
  | { ok: false; error: 'incomplete' }
  | { ok: false; error: 'bad_frame' | 'bad_checksum' | 'bad_fn'; length: number; detail: string };

/** Parse one frame at `buf[0]` (which must be STX). */
export function fromBuffer(buf: Uint8Array): FrameParse {
  if (buf[0] !== STX) return { ok: false, error: 'bad_frame', length: 1, detail: 'frame does not start with STX' };
  const lf = buf.indexOf(LF);
  if (lf < 0) {
    if (buf.length > MAX_FRAME_BYTES) return { ok: false, error: 'bad_frame', length: buf.length, detail: `no frame end within ${MAX_FRAME_BYTES} bytes` };
    return { ok: false, error: 'incomplete' };
  }
  const length = lf + 1;
  // STX FN [text] ETX C1 C2 CR LF -> minimum 7 bytes
  if (length < 7 || buf[lf - 1] !== CR) return { ok: false, error: 'bad_frame', length, detail: 'frame does not end with CR LF' };
  const endCh = buf[lf - 4];
  if (endCh !== ETX && endCh !== ETB) return { ok: false, error: 'bad_frame', length, detail: 'no ETX/ETB before the checksum' };
  const fnCh = buf[1]!;
  if (fnCh < 0x30 || fnCh > 0x37) return { ok: false, error: 'bad_fn', length, detail: `frame number byte 0x${fnCh.toString(16)}` };
  const want = checksum(buf, 1, lf - 3);
  const got = Buffer.from(buf.subarray(lf - 3, lf - 1)).toString('latin1').toUpperCase();
  if (want !== got) return { ok: false, error: 'bad_checksum', length, detail: `checksum ${got}, expected ${want}` };
  const text = Buffer.from(buf.subarray(2, lf - 4));
  if (text.includes(STX) || text.includes(ETX) || text.includes(ETB) || text.includes(LF)) return { ok: false, error: 'bad_frame', length, detail: 'control character inside frame text' };
  return { ok: true, frame: { fn: fnCh - 0x30, text, final: endCh === ETX }, length };
}

/**
 * Split a message (records separated by CR) into frames: one record per frame part, long
 * records continued with ETB. Frame numbers start at 1 and wrap modulo 8.
 */
export function messageToFrames(records: Buffer[]): Buffer[] {
  const frames: Buffer[] = [];
  let fn = 1;
  for (const r of records) {
    const rec = r[r.length - 1] === CR ? r : Buffer.concat([r, Buffer.from([CR])]);
    for (let off = 0; off < rec.length; off += MAX_FRAME_TEXT) {
      const text = rec.subarray(off, off + MAX_FRAME_TEXT);
      frames.push(toBuffer({ fn, text, final: off + MAX_FRAME_TEXT >= rec.length }));
      fn = (fn + 1) & 7;
    }
  }
  return frames;
}
