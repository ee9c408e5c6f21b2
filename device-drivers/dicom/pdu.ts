/**
 * Upper-layer PDU framing and structural checks (PS3.8 9.3), run in front of dcmjs-dimse
 * so that a hostile or broken peer cannot make it buffer without bound or parse garbage.
 * Shape borrowed from node-modbus: `readPduHeader()` is fromBuffer, `PduFramer` is the
 * stream handler that accumulates chunks and slices whole PDUs.
 */

export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PDataTf: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

export class PduError extends Error {
  override name = 'PduError';
  constructor(message: string, readonly code: 'unknown-type' | 'too-large' | 'bad-length' | 'bad-item' | 'unexpected') {
    super(message);
  }
}

export function isPduError(e: unknown): e is PduError {
  return e instanceof PduError;
}

export interface PduHeader {
  type: number;
  /** Length of the PDU body (after the 6-byte header). */
  length: number;
}

/** Reads the 6-byte PDU header: type, reserved, 32-bit big-endian length. Null if short. */
export function readPduHeader(buf: Uint8Array): PduHeader | null {
  if (buf.length < 6) return null;
  const type = buf[0]!;
  const length = ((buf[2]! << 24) >>> 0) + (buf[3]! << 16) + (buf[4]! << 8) + buf[5]!;
  return { type, length };
}

export function pduToBuffer(type: number, body: Uint8Array): Buffer {
  const h = Buffer.alloc(6);
  h[0] = type;
  h.writeUInt32BE(body.length, 2);
  return Buffer.concat([h, body]);
}

/** Body limits per PDU type; P-DATA is bounded by the negotiated maximum. */
function maxBodyFor(type: number, maxPData: number): number {
  switch (type) {
    case PduType.AssociateRq:
    case PduType.AssociateAc:
      return 64 * 1024;
    case PduType.AssociateRj:
    case PduType.ReleaseRq:
    case PduType.ReleaseRp:
    case PduType.Abort:
      return 4;
    case PduType.PDataTf:
      return maxPData;
    default:
      return -1;
  }
}

/**
 * A PDU as it arrived: `parts` are views into the socket's chunks (no copy when a PDU spans
 * chunks), together `6 + length` bytes, header included.
 */
export interface FramedPdu {
  type: number;
  /** Length of the body (after the 6-byte header). */
  length: number;
  parts: Buffer[];
}

/** One Buffer for a framed PDU (copies only when it spans chunks). */
export function joinPdu(p: FramedPdu): Buffer {
  return p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts, 6 + p.length);
}

/**
 * Accumulates socket chunks and returns whole PDUs. Throws PduError on an unknown type or
 * a declared length above the limit, before buffering the body, so memory stays bounded
 * by `maxPDataBody` + one chunk.
 */
export class PduFramer {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private need: PduHeader | null = null;

  constructor(readonly maxPDataBody: number) {}

  get bufferedBytes(): number {
    return this.buffered;
  }

  /** Whole PDUs as single Buffers (a PDU that spans chunks is copied into one). */
  push(chunk: Buffer): Buffer[] {
    return this.pushFramed(chunk).map(joinPdu);
  }

  /** Whole PDUs as views into the chunks received: nothing is copied. */
  pushFramed(chunk: Buffer): FramedPdu[] {
    if (chunk.length === 0) return [];
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: FramedPdu[] = [];
    for (;;) {
      if (!this.need) {
        if (this.buffered < 6) break;
        const head = this.peek(6);
        const h = readPduHeader(head)!;
        const max = maxBodyFor(h.type, this.maxPDataBody);
        if (max < 0) throw new PduError(`unknown PDU type 0x${h.type.toString(16)}`, 'unknown-type');
        if (h.length > max) throw new PduError(`PDU type ${h.type} declares ${h.length} bytes, limit ${max}`, 'too-large');
        this.need = h;
      }
      const total = 6 + this.need.length;
      if (this.buffered < total) break;
      out.push({ type: this.need.type, length: this.need.length, parts: this.take(total) });
      this.need = null;
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    return Buffer.concat(this.chunks.slice(0, n)).subarray(0, n); // each chunk holds >= 1 byte
  }

  /** Removes the first n bytes and returns them as views into the chunks. */
  private take(n: number): Buffer[] {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      const c = this.chunks[0]!;
      const need = n - got;
      if (c.length <= need) {
        parts.push(c);
        got += c.length;
        this.chunks.shift();
      } else {
        parts.push(c.subarray(0, need));
        this.chunks[0] = c.subarray(need);
        got += need;
      }
    }
    this.buffered -= n;
    return parts;
  }
}

export interface Pdv {
  presentationContextId: number;
  command: boolean;
  last: boolean;
  value: Buffer;
}

/** A PDV whose value is a list of views into the received chunks (`length` bytes in all). */
export interface PdvSlices {
  presentationContextId: number;
  command: boolean;
  last: boolean;
  parts: Buffer[];
  length: number;
}

/** The value of a PDV as one Buffer (copies only when it spans chunks). */
export function pdvValue(p: PdvSlices): Buffer {
  return p.parts.length === 1 ? p.parts[0]! : Buffer.concat(p.parts, p.length);
}

/** Reads a byte sequence held in several Buffers, front to back. */
class SegmentReader {
  private i = 0;
  private off = 0;
  remaining: number;

  constructor(private readonly segs: readonly Buffer[], length: number) {
    this.remaining = length;
  }

  byte(): number {
    while (this.off >= this.segs[this.i]!.length) {
      this.i++;
      this.off = 0;
    }
    this.remaining--;
    return this.segs[this.i]![this.off++]!;
  }

  u32be(): number {
    return ((this.byte() << 24) >>> 0) + (this.byte() << 16) + (this.byte() << 8) + this.byte();
  }

  /** The next n bytes as views (no copy). */
  take(n: number): Buffer[] {
    const out: Buffer[] = [];
    this.remaining -= n;
    while (n > 0) {
      const s = this.segs[this.i]!;
      const avail = s.length - this.off;
      if (avail === 0) {
        this.i++;
        this.off = 0;
        continue;
      }
      const k = Math.min(avail, n);
      out.push(this.off === 0 && k === s.length ? s : s.subarray(this.off, this.off + k));
      this.off += k;
      n -= k;
    }
    return out;
  }
}

/**
 * Splits a P-DATA-TF body held in several Buffers (`length` bytes after `skip` bytes: pass a
 * framed PDU's parts and 6 to skip its header) into PDV items without copying their values;
 * every length must fit exactly.
 */
export function readPdvSlices(segs: readonly Buffer[], length: number, skip = 0): PdvSlices[] {
  const out: PdvSlices[] = [];
  const r = new SegmentReader(segs, length + skip);
  if (skip) r.take(skip);
  if (length === 0) throw new PduError('P-DATA-TF without PDV items', 'bad-item');
  while (r.remaining > 0) {
    if (r.remaining < 6) throw new PduError('truncated PDV item header', 'bad-item');
    const len = r.u32be();
    if (len < 2) throw new PduError(`PDV item length ${len} < 2`, 'bad-item');
    if (len > r.remaining) throw new PduError(`PDV item declares ${len} bytes, ${r.remaining} left`, 'bad-length');
    const pcId = r.byte();
    const mch = r.byte();
    if (pcId % 2 === 0) throw new PduError(`even presentation context id ${pcId}`, 'bad-item');
    if (mch > 3) throw new PduError(`bad message control header 0x${mch.toString(16)}`, 'bad-item');
    out.push({ presentationContextId: pcId, command: (mch & 1) === 1, last: (mch & 2) === 2, parts: r.take(len - 2), length: len - 2 });
  }
  return out;
}

/** Splits a P-DATA-TF body into PDV items; every length must fit exactly. */
export function readPdvs(body: Buffer): Pdv[] {
  return readPdvSlices([body], body.length).map((p) => ({ presentationContextId: p.presentationContextId, command: p.command, last: p.last, value: p.parts.length ? pdvValue(p) : body.subarray(0, 0) }));
}

/**
 * Structural check of an A-ASSOCIATE-RQ body: fixed part, then items whose 16-bit
 * lengths must nest exactly. dcmjs-dimse reads the items; this makes sure it never
 * reads past the end.
 */
export function checkAssociateRq(body: Buffer): void {
  if (body.length < 68) throw new PduError(`A-ASSOCIATE-RQ body ${body.length} < 68 bytes`, 'bad-length');
  checkItems(body, 68, body.length, 0);
}

function checkItems(buf: Buffer, start: number, end: number, depth: number): void {
  let off = start;
  while (off < end) {
    if (end - off < 4) throw new PduError('truncated association item header', 'bad-item');
    const type = buf[off]!;
    const len = buf.readUInt16BE(off + 2);
    if (len > end - off - 4) throw new PduError(`association item 0x${type.toString(16)} declares ${len} bytes, ${end - off - 4} left`, 'bad-length');
    if (depth === 0 && (type === 0x20 || type === 0x50)) {
      // presentation context (4 fixed bytes, then sub-items) and user information
      const subStart = type === 0x20 ? off + 8 : off + 4;
      if (subStart > off + 4 + len) throw new PduError('presentation context item too short', 'bad-item');
      checkItems(buf, subStart, off + 4 + len, depth + 1);
    }
    off += 4 + len;
  }
}

/** Runs the structural checks that apply to a whole PDU (header included). */
export function checkPdu(pdu: Buffer): void {
  const h = readPduHeader(pdu);
  if (!h || pdu.length !== h.length + 6) throw new PduError('PDU length does not match its header', 'bad-length');
  const body = pdu.subarray(6);
  if (h.type === PduType.AssociateRq) checkAssociateRq(body);
  else if (h.type === PduType.PDataTf) readPdvs(body);
  else if ((h.type === PduType.ReleaseRq || h.type === PduType.ReleaseRp || h.type === PduType.Abort || h.type === PduType.AssociateRj) && h.length !== 4) {
    throw new PduError(`PDU type ${h.type} must have a 4-byte body, has ${h.length}`, 'bad-length');
  }
}
