/**
 * Decoding one compressed frame of an encapsulated transfer syntax, for previews.
 *
 * - JPEG baseline / extended 8-bit (1.2.840.10008.1.2.4.50, .51): libjpeg-turbo (WASM build of
 *   the cornerstone project, `@cornerstonejs/codec-libjpeg-turbo-8bit`); colour comes back RGB.
 * - JPEG lossless (.57, .70): libjpeg-turbo for 8-bit samples, `jpeg-lossless-decoder-js` (the
 *   decoder cornerstone uses; pure JS) for 9-16 bits.
 * - JPEG-LS (.80, .81): CharLS (`@cornerstonejs/codec-charls`, WASM).
 * - JPEG 2000 (.90, .91): OpenJPEG (`@cornerstonejs/codec-openjpeg`, WASM), decoded at the
 *   coarsest resolution level that still covers the preview size (a 2,500 x 3,000 DR image: ~15 ms
 *   at level 3 against ~2 s in full).
 * - RLE lossless (.5): `rle.ts`.
 *
 * Every codec is loaded on first use. The frame's own header (JPEG SOF, JPEG 2000 SIZ) is read
 * before decoding and must agree with the data set's Rows/Columns, so a forged header cannot make
 * a decoder allocate gigabytes. A codec that refuses a frame (a C++ exception) stays loaded; one
 * that aborted is loaded afresh for the next frame. Errors are `CodecError` saying what to do.
 */
import { createRequire } from 'node:module';
import { decodeRle, RleError } from './rle.ts';

/** Why a frame could not be decoded: its data ('corrupt'), a variant not decoded here ('format'), no decoder ('syntax'). */
export type CodecFailure = 'corrupt' | 'format' | 'syntax';

export class CodecError extends Error {
  override name = 'CodecError';
  constructor(message: string, readonly kind: CodecFailure = 'corrupt') {
    super(message);
  }
}

export const TS = {
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLosslessSv1: '1.2.840.10008.1.2.4.70',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpegLsNear: '1.2.840.10008.1.2.4.81',
  j2kLossless: '1.2.840.10008.1.2.4.90',
  j2k: '1.2.840.10008.1.2.4.91',
  rle: '1.2.840.10008.1.2.5',
} as const;

/** Encapsulated transfer syntaxes this module decodes. */
export const DECODABLE = new Set<string>(Object.values(TS));

/** What the data set says about the frame (Rows, Columns, Samples per Pixel, Bits Allocated). */
export interface FrameShape {
  rows: number;
  cols: number;
  spp: number;
  bitsAllocated: number;
  /** Pixel Representation 1. */
  signed: boolean;
}

export interface DecodedFrame {
  rows: number;
  cols: number;
  spp: number;
  /** 8 or 16; 16-bit samples little-endian in `data`. */
  bits: 8 | 16;
  /** Sample-interleaved (false) or colour-by-plane (true). */
  planar: boolean;
  /** The decoder converted YCbCr to RGB (JPEG baseline: libjpeg does for 3-component frames). */
  toRgb: boolean;
  data: Uint8Array;
}

// --------------------------------------------------------------------------- codec modules
const require = createRequire(import.meta.url);

interface FrameInfo { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned?: boolean }
interface WasmDecoder {
  getEncodedBuffer(length: number): Uint8Array;
  getDecodedBuffer(): Uint8Array;
  decode(): void;
  getFrameInfo(): FrameInfo;
  delete(): void;
}
interface J2KDecoder extends WasmDecoder {
  decodeSubResolution(level: number, layer: number): void;
}
interface CharlsDecoder extends WasmDecoder {
  getInterleaveMode(): number;
}
interface JpegModule { JPEGDecoder: new () => WasmDecoder }
interface CharlsModule { JpegLSDecoder: new () => CharlsDecoder }
interface OpenJpegModule { J2KDecoder: new () => J2KDecoder }
/** Emscripten factories: options `print`/`printErr` silence OpenJPEG's "[INFO]" lines on stdout. */
type Factory<M> = (opts: { print: (s: string) => void; printErr: (s: string) => void }) => Promise<M>;
interface LosslessDecoder {
  decode(buffer: ArrayBufferLike, offset: number, length: number, numBytes?: number): Uint8Array | Uint16Array;
}
interface LosslessModule { Decoder: new () => LosslessDecoder }

const modules = new Map<string, Promise<unknown>>();

export function load<M>(pkg: string): Promise<M> {
  let p = modules.get(pkg) as Promise<M> | undefined;
  if (!p) {
    // A fresh options object each time: Emscripten makes it the module object itself.
    p = (require(pkg) as Factory<M>)({ print: () => {}, printErr: () => {} });
    modules.set(pkg, p);
    p.catch(() => modules.delete(pkg));
  }
  return p;
}

/** After a decoder threw: the next frame gets a fresh instance of its module. */
export function discard(pkg: string): void {
  modules.delete(pkg);
}

function wasmError(what: string, e: unknown): CodecError {
  // Emscripten throws C++ exceptions as numbers (a pointer); nothing useful to show of those.
  const detail = typeof e === 'number' ? 'the data is corrupt or not of this kind' : String((e as Error)?.message ?? e).slice(0, 200);
  return new CodecError(`${what} could not decode frame 1: ${detail}`);
}

// --------------------------------------------------------------------------- frame headers
interface StreamHeader { width: number; height: number; comps: number; precision: number; levels?: number }

/** SOFn (JPEG) or SOF55 (JPEG-LS) of a JPEG-family stream; null if not found before SOS. */
export function jpegHeader(b: Uint8Array): StreamHeader | null {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0xd8) return null;
  let i = 2;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return null;
    const m = b[i + 1]!;
    if (m === 0xff) { i++; continue; } // fill byte
    if (m === 0xda || m === 0xd9) return null; // SOS / EOI before a frame header
    const len = (b[i + 2]! << 8) | b[i + 3]!;
    const sof = (m >= 0xc0 && m <= 0xcf && m !== 0xc4 && m !== 0xc8 && m !== 0xcc) || m === 0xf7;
    if (sof) {
      if (i + 10 > b.length) return null;
      return { precision: b[i + 4]!, height: (b[i + 5]! << 8) | b[i + 6]!, width: (b[i + 7]! << 8) | b[i + 8]!, comps: b[i + 9]! };
    }
    if (len < 2) return null;
    i += 2 + len;
  }
  return null;
}

/** SIZ and COD of a JPEG 2000 codestream (a JP2 file is unwrapped to its codestream first). */
export function j2kHeader(b: Uint8Array): StreamHeader | null {
  if (b.length < 4 || b[0] !== 0xff || b[1] !== 0x4f) return null;
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let i = 2;
  let h: StreamHeader | null = null;
  while (i + 4 <= b.length) {
    if (b[i] !== 0xff) return h;
    const m = b[i + 1]!;
    const len = dv.getUint16(i + 2);
    if (m === 0x51 && i + 40 <= b.length) {
      const x = dv.getUint32(i + 6), y = dv.getUint32(i + 10), x0 = dv.getUint32(i + 14), y0 = dv.getUint32(i + 18);
      const comps = dv.getUint16(i + 38);
      h = { width: x - x0, height: y - y0, comps, precision: i + 41 <= b.length ? (b[i + 40]! & 0x7f) + 1 : 0 };
    } else if (m === 0x52 && h && i + 10 <= b.length) {
      h.levels = b[i + 9]!;
      return h;
    } else if (m === 0x90 || m === 0x93) {
      return h; // SOT/SOD: main header over
    }
    if (len < 2) return h;
    i += 2 + len;
  }
  return h;
}

/** The codestream inside a JP2 file (box jp2c), or the input if it is a codestream already. */
function unwrapJp2(b: Uint8Array): Uint8Array {
  if (b.length > 12 && b[4] === 0x6a && b[5] === 0x50 && b[6] === 0x20 && b[7] === 0x20) {
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    let i = 0;
    while (i + 8 <= b.length) {
      let len = dv.getUint32(i);
      const type = String.fromCharCode(b[i + 4]!, b[i + 5]!, b[i + 6]!, b[i + 7]!);
      let head = 8;
      if (len === 1 && i + 16 <= b.length) { len = Number(dv.getBigUint64(i + 8)); head = 16; }
      if (len === 0) len = b.length - i;
      if (type === 'jp2c') return b.subarray(i + head, Math.min(b.length, i + len));
      if (len < head) break;
      i += len;
    }
  }
  return b;
}

function checkShape(kind: string, h: StreamHeader | null, s: FrameShape): StreamHeader {
  if (!h) throw new CodecError(`${kind} frame 1 has no readable frame header: the data is corrupt or of another syntax than the file meta says`);
  if (h.width !== s.cols || h.height !== s.rows) {
    throw new CodecError(`${kind} frame 1 is ${h.width} x ${h.height} pixels but the header's Columns x Rows say ${s.cols} x ${s.rows}: the file is inconsistent; ask the device vendor`);
  }
  if (h.comps !== s.spp) throw new CodecError(`${kind} frame 1 has ${h.comps} component(s) but Samples per Pixel is ${s.spp}`);
  return h;
}

/** The stream ends with EOI (FF D9), then at most a few pad bytes of 0. */
function endsWithEoi(b: Uint8Array): boolean {
  let end = b.length;
  while (end > 2 && b.length - end < 4 && b[end - 1] === 0) end--;
  return end >= 2 && b[end - 2] === 0xff && b[end - 1] === 0xd9;
}

// --------------------------------------------------------------------------- decoding
function copyOut(src: ArrayLike<number> & { buffer: ArrayBufferLike; byteOffset: number; byteLength: number }): Uint8Array {
  // The WASM heap's view is reused by the next decode: copy it out.
  return new Uint8Array(src.buffer, src.byteOffset, src.byteLength).slice();
}

async function wasmDecode<M>(pkg: string, kind: string, make: (m: M) => WasmDecoder, frame: Uint8Array, run: (d: WasmDecoder) => void): Promise<{ info: FrameInfo; data: Uint8Array; decoder: WasmDecoder }> {
  const mod = await load<M>(pkg);
  let d: WasmDecoder | null = null;
  try {
    d = make(mod);
    d.getEncodedBuffer(frame.length).set(frame);
    run(d);
    const info = d.getFrameInfo();
    return { info, data: copyOut(d.getDecodedBuffer()), decoder: d };
  } catch (e) {
    // A C++ exception (thrown as a number) is the codec refusing the data: the module stays usable.
    // Anything else (an abort, a memory fault) leaves it unusable: load a fresh one next time.
    if (typeof e !== 'number') discard(pkg);
    throw wasmError(kind, e);
  } finally {
    try { d?.delete(); } catch { /* the module may be gone */ }
  }
}

function expectLength(kind: string, data: Uint8Array, rows: number, cols: number, spp: number, bytes: number): void {
  const want = rows * cols * spp * bytes;
  if (data.length < want) throw new CodecError(`${kind} frame 1 decoded to ${data.length} bytes, ${want} expected: the data is truncated or corrupt`);
}

/**
 * Decodes frame 1 of `ts` to pixels. `maxSize` lets JPEG 2000 decode at a lower resolution level
 * (the result is then smaller than Rows x Columns; `rows`/`cols` say what it is).
 */
export async function decodeFrame(ts: string, frame: Uint8Array, s: FrameShape, maxSize = Infinity): Promise<DecodedFrame> {
  const bytes = s.bitsAllocated > 8 ? 2 : 1;
  switch (ts) {
    case TS.rle: {
      try {
        const data = decodeRle(frame, s.rows, s.cols, s.spp, s.bitsAllocated);
        return { rows: s.rows, cols: s.cols, spp: s.spp, bits: bytes === 2 ? 16 : 8, planar: false, toRgb: false, data };
      } catch (e) {
        if (e instanceof RleError) throw new CodecError(e.message, e.unsupported ? 'format' : 'corrupt');
        throw e;
      }
    }
    case TS.jpegBaseline:
    case TS.jpegExtended: {
      const h = checkShape('JPEG', jpegHeader(frame), s);
      if (h.precision !== 8) throw new CodecError(`JPEG frame 1 has ${h.precision}-bit samples; previews decode 8-bit JPEG only (the original is stored unchanged)`, 'format');
      const { info, data } = await wasmDecode<JpegModule>('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEG', (m) => new m.JPEGDecoder(), frame, (d) => d.decode());
      expectLength('JPEG', data, info.height, info.width, info.componentCount, 1);
      return { rows: info.height, cols: info.width, spp: info.componentCount, bits: 8, planar: false, toRgb: info.componentCount === 3, data };
    }
    case TS.jpegLossless:
    case TS.jpegLosslessSv1: {
      const h = checkShape('JPEG lossless', jpegHeader(frame), s);
      if (h.precision <= 8) {
        // libjpeg-turbo decodes 8-bit lossless JPEG too, and is exact where jpeg-lossless-decoder-js
        // can leave a stream's last pixel 0 (seen with dcmtk's output); the latter has no 8-bit limit.
        const { info, data } = await wasmDecode<JpegModule>('@cornerstonejs/codec-libjpeg-turbo-8bit/decodewasmjs', 'JPEG lossless', (m) => new m.JPEGDecoder(), frame, (d) => d.decode());
        expectLength('JPEG lossless', data, info.height, info.width, info.componentCount, 1);
        return { rows: info.height, cols: info.width, spp: info.componentCount, bits: 8, planar: false, toRgb: false, data };
      }
      let out: Uint8Array | Uint16Array;
      try {
        const { Decoder } = require('jpeg-lossless-decoder-js') as LosslessModule;
        out = new Decoder().decode(frame.buffer, frame.byteOffset, frame.byteLength, bytes);
      } catch (e) {
        throw new CodecError(`JPEG lossless could not decode frame 1: ${String((e as Error)?.message ?? e).slice(0, 200)}`);
      }
      const data = new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
      expectLength('JPEG lossless', data, s.rows, s.cols, s.spp, bytes);
      return { rows: s.rows, cols: s.cols, spp: s.spp, bits: bytes === 2 ? 16 : 8, planar: false, toRgb: false, data };
    }
    case TS.jpegLsLossless:
    case TS.jpegLsNear: {
      checkShape('JPEG-LS', jpegHeader(frame), s);
      // CharLS spends seconds on a stream cut short (measured: ~2 s for a 128 x 96 frame) before it
      // gives up: a frame must end with EOI (then at most the even-length pad byte).
      if (!endsWithEoi(frame)) throw new CodecError('JPEG-LS frame 1 does not end with its EOI marker: the data is truncated');
      let interleave = 2;
      const { info, data } = await wasmDecode<CharlsModule>('@cornerstonejs/codec-charls/decodewasmjs', 'JPEG-LS', (m) => new m.JpegLSDecoder(), frame, (d) => {
        d.decode();
        interleave = (d as CharlsDecoder).getInterleaveMode();
      });
      const b = info.bitsPerSample > 8 ? 2 : 1;
      expectLength('JPEG-LS', data, info.height, info.width, info.componentCount, b);
      // Interleave mode 0 (none) leaves colour by plane; line and sample modes come back by pixel.
      return { rows: info.height, cols: info.width, spp: info.componentCount, bits: b === 2 ? 16 : 8, planar: info.componentCount > 1 && interleave === 0, toRgb: false, data };
    }
    case TS.j2kLossless:
    case TS.j2k: {
      const code = unwrapJp2(frame);
      const h = checkShape('JPEG 2000', j2kHeader(code), s);
      // The coarsest level whose image still covers maxSize on its longer side.
      let level = 0;
      const longer = Math.max(h.width, h.height);
      while (level < (h.levels ?? 0) && Math.ceil(longer / 2 ** (level + 1)) >= maxSize) level++;
      const { info, data } = await wasmDecode<OpenJpegModule>('@cornerstonejs/codec-openjpeg/decodewasmjs', 'JPEG 2000', (m) => new m.J2KDecoder(), code, (d) => {
        if (level > 0) (d as J2KDecoder).decodeSubResolution(level, 0);
        else d.decode();
      });
      const b = info.bitsPerSample > 8 ? 2 : 1;
      // getFrameInfo() reports the full size; the decoded buffer holds the level's.
      const cols = Math.ceil(h.width / 2 ** level);
      const rows = Math.ceil(h.height / 2 ** level);
      expectLength('JPEG 2000', data, rows, cols, info.componentCount, b);
      // YBR_ICT / YBR_RCT: OpenJPEG applies the inverse component transform; render.ts reads them as RGB.
      return { rows, cols, spp: info.componentCount, bits: b === 2 ? 16 : 8, planar: false, toRgb: false, data };
    }
    default:
      throw new CodecError(`no decoder for transfer syntax ${ts}`, 'syntax');
  }
}
