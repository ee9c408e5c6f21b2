/**
 * Streaming structural walk of a DICOM dataset (little endian, implicit or explicit VR).
 * It sees every byte of a received instance once, keeps only a few bytes of state, and:
 *  - checks that every declared length fits (a dataset that ends inside an element,
 *    item or sequence is rejected: nothing truncated is ever stored);
 *  - bounds sequence nesting depth;
 *  - captures the raw values of selected top-level elements for the index.
 * Sequences and items of defined length are skipped, not descended into.
 */

export class DatasetError extends Error {
  override name = 'DatasetError';
  constructor(message: string, readonly offset: number) {
    super(`${message} (at byte ${offset})`);
  }
}

export function isDatasetError(e: unknown): e is DatasetError {
  return e instanceof DatasetError;
}

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
const UNDEFINED = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIM = 0xfffee00d;
const SEQ_DELIM = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;

type Frame =
  | { kind: 'seq'; explicit: boolean }
  | { kind: 'item'; explicit: boolean }
  | { kind: 'frags' };

export interface WalkerOptions {
  explicitVr: boolean;
  /** Tags (as 0xGGGGEEEE) whose top-level values are captured. */
  capture?: ReadonlySet<number>;
  /** Values longer than this are not captured (default 1024). */
  maxCaptureBytes?: number;
  /** Maximum nesting of undefined-length levels, a sequence and its item counting one each (default 16). */
  maxDepth?: number;
  /**
   * Stop right after the header of top-level Pixel Data (`pixelData` says where it is); the
   * bytes of the chunk after it are not consumed (`push` returns how many were). For readers
   * that fetch the header of a stored file and then only the frames they need.
   */
  stopAtPixelData?: boolean;
}

/** Where top-level Pixel Data starts, in bytes from the start of the dataset. */
export interface PixelDataPosition {
  /** Offset of the element's header. */
  headerOffset: number;
  /** Offset of its value (native) or of its first item, the Basic Offset Table (encapsulated). */
  valueOffset: number;
  /** Value length; null when undefined (encapsulated fragments follow). */
  length: number | null;
  /** OB or OW; '' in implicit VR. */
  vr: string;
}

export class DatasetWalker {
  /** Bytes consumed so far. */
  offset = 0;
  /** The last top-level tag whose header was read. */
  lastTopTag = -1;
  readonly values = new Map<number, Buffer>();
  /** Set when `stopAtPixelData` stopped the walk. */
  pixelData: PixelDataPosition | null = null;
  private pending: Buffer = Buffer.alloc(0);
  private skip = 0;
  private capturing: { tag: number; parts: Buffer[] } | null = null;
  private readonly stack: Frame[] = [];
  private readonly capture: ReadonlySet<number>;
  private readonly maxCapture: number;
  private readonly maxDepth: number;

  constructor(private readonly opts: WalkerOptions) {
    this.capture = opts.capture ?? new Set();
    this.maxCapture = opts.maxCaptureBytes ?? 1024;
    this.maxDepth = opts.maxDepth ?? 16;
  }

  /** True once the walk has reached Pixel Data at top level (all header elements seen). */
  get pastHeader(): boolean {
    return this.lastTopTag >= PIXEL_DATA;
  }

  /** Consumes `chunk`; returns the bytes consumed (all, unless `stopAtPixelData` stopped the walk in it). */
  push(chunk: Buffer): number {
    let off = 0;
    while (off < chunk.length && !this.pixelData) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        if (this.capturing) this.capturing.parts.push(Buffer.from(chunk.subarray(off, off + n)));
        this.skip -= n;
        off += n;
        this.offset += n;
        if (this.skip === 0) this.endValue();
        continue;
      }
      // need a header: gather up to 12 bytes
      const want = 12 - this.pending.length;
      const take = Math.min(want, chunk.length - off);
      const head = this.pending.length ? Buffer.concat([this.pending, chunk.subarray(off, off + take)]) : chunk.subarray(off, off + take);
      const before = this.offset;
      const used = this.readHeader(head);
      if (used < 0) {
        // not enough bytes for this header yet
        this.pending = Buffer.from(head);
        off += take;
        continue;
      }
      // `used` bytes of `head` form the header; some may come from pending
      const fromChunk = used - this.pending.length;
      this.offset += used;
      this.pending = Buffer.alloc(0);
      off += fromChunk;
      if (this.opts.stopAtPixelData && this.stack.length <= 1 && this.lastTopTag === PIXEL_DATA && this.atTopPixelHeader) {
        this.atTopPixelHeader = false;
        const defined = this.stack.length === 0;
        this.pixelData = { headerOffset: before, valueOffset: this.offset, length: defined ? this.skip : null, vr: this.pixelVr };
        // Not walked: the caller reads the value itself.
        this.skip = 0;
        this.capturing = null;
        if (!defined) this.stack.pop();
      }
    }
    return off;
  }

  private atTopPixelHeader = false;
  private pixelVr = '';

  /** Call at end of data: throws unless the dataset ended on an element boundary at top level. */
  finish(): void {
    if (this.pending.length) throw new DatasetError(`dataset ends inside an element header (${this.pending.length} bytes)`, this.offset);
    if (this.skip > 0) throw new DatasetError(`dataset ends ${this.skip} bytes short of a declared length`, this.offset);
    if (this.stack.length) throw new DatasetError(`dataset ends inside a ${this.stack[this.stack.length - 1]!.kind} (depth ${this.stack.length})`, this.offset);
  }

  private endValue(): void {
    if (!this.capturing) return;
    this.values.set(this.capturing.tag, Buffer.concat(this.capturing.parts));
    this.capturing = null;
  }

  /** Returns bytes consumed for the header at the start of `h`, or -1 if more are needed. */
  private readHeader(h: Buffer): number {
    if (h.length < 8) return -1;
    const tag = ((h.readUInt16LE(0) << 16) >>> 0) + h.readUInt16LE(2);
    const top = this.stack[this.stack.length - 1];
    if (top && top.kind !== 'item') {
      // inside an undefined-length sequence or fragment list: only items and the delimiter
      const len = h.readUInt32LE(4);
      if (tag === SEQ_DELIM) {
        this.stack.pop();
        return 8;
      }
      if (tag !== ITEM) throw new DatasetError(`expected an item tag in a ${top.kind}, got ${hex(tag)}`, this.offset);
      if (len === UNDEFINED) {
        if (top.kind === 'frags') throw new DatasetError('fragment item of undefined length', this.offset);
        this.pushFrame({ kind: 'item', explicit: top.explicit });
      } else {
        this.skipValue(len, -1);
      }
      return 8;
    }
    if (tag === ITEM_DELIM) {
      if (!top) throw new DatasetError('item delimiter at top level', this.offset);
      this.stack.pop();
      return 8;
    }
    if (tag === ITEM || tag === SEQ_DELIM) throw new DatasetError(`unexpected ${hex(tag)} outside a sequence`, this.offset);
    const explicit = top ? top.explicit : this.opts.explicitVr;
    let len: number;
    let used: number;
    let vr = '';
    if (explicit) {
      const a = h[4]!;
      const b = h[5]!;
      if (a < 0x41 || a > 0x5a || b < 0x41 || b > 0x5a) throw new DatasetError(`invalid VR bytes 0x${a.toString(16)} 0x${b.toString(16)} for ${hex(tag)}`, this.offset);
      vr = String.fromCharCode(a, b);
      if (LONG_VRS.has(vr)) {
        if (h.length < 12) return -1;
        len = h.readUInt32LE(8);
        used = 12;
      } else {
        len = h.readUInt16LE(6);
        used = 8;
      }
    } else {
      len = h.readUInt32LE(4);
      used = 8;
    }
    if (!top) {
      this.lastTopTag = tag;
      if (tag === PIXEL_DATA) {
        this.atTopPixelHeader = true;
        this.pixelVr = vr;
      }
    }
    if (len === UNDEFINED) {
      if (tag === PIXEL_DATA && (vr === 'OB' || vr === 'OW' || vr === '')) this.pushFrame({ kind: 'frags' });
      else if (vr === 'SQ' || vr === '') this.pushFrame({ kind: 'seq', explicit });
      else if (vr === 'UN') this.pushFrame({ kind: 'seq', explicit: false });
      else throw new DatasetError(`undefined length on VR ${vr} ${hex(tag)}`, this.offset);
      return used;
    }
    this.skipValue(len, !top && this.capture.has(tag) && len <= this.maxCapture ? tag : -1);
    return used;
  }

  private skipValue(len: number, captureTag: number): void {
    if (captureTag >= 0) {
      this.capturing = { tag: captureTag, parts: [] };
      if (len === 0) this.endValue();
    }
    this.skip = len;
  }

  private pushFrame(f: Frame): void {
    if (this.stack.length >= this.maxDepth) throw new DatasetError(`sequences nested deeper than ${this.maxDepth}`, this.offset);
    this.stack.push(f);
  }
}

function hex(tag: number): string {
  const s = tag.toString(16).padStart(8, '0').toUpperCase();
  return `(${s.slice(0, 4)},${s.slice(4)})`;
}
