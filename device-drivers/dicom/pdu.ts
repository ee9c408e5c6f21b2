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

  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
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
      out.push(this.take(total));
      this.need = null;
    }
    return out;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!.subarray(0, n);
    return Buffer.concat(this.chunks.slice(0, n)).subarray(0, n); // each chunk holds >= 1 byte
  }

  /** Removes and returns the first n bytes; copies only when a PDU spans chunks. */
  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    let pdu: Buffer;
    if (first.length >= n) {
      pdu = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
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
      pdu = Buffer.concat(parts, n);
    }
    this.buffered -= n;
    return pdu;
  }
}

export interface Pdv {
  presentationContextId: number;
  command: boolean;
  last: boolean;
  value: Buffer;
}

/** Splits a P-DATA-TF body into PDV items; every length must fit exactly. */
export function readPdvs(body: Buffer): Pdv[] {
  const out: Pdv[] = [];
  let off = 0;
  if (body.length === 0) throw new PduError('P-DATA-TF without PDV items', 'bad-item');
  while (off < body.length) {
    if (body.length - off < 6) throw new PduError('truncated PDV item header', 'bad-item');
    const len = body.readUInt32BE(off);
    if (len < 2) throw new PduError(`PDV item length ${len} < 2`, 'bad-item');
    if (len > body.length - off - 4) throw new PduError(`PDV item declares ${len} bytes, ${body.length - off - 4} left`, 'bad-length');
    const pcId = body[off + 4]!;
    const mch = body[off + 5]!;
    if (pcId % 2 === 0) throw new PduError(`even presentation context id ${pcId}`, 'bad-item');
    if (mch > 3) throw new PduError(`bad message control header 0x${mch.toString(16)}`, 'bad-item');
    out.push({ presentationContextId: pcId, command: (mch & 1) === 1, last: (mch & 2) === 2, value: body.subarray(off + 6, off + 4 + len) });
    off += 4 + len;
  }
  return out;
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
