/**
 * PNG preview of the first frame of an instance: the edge's study thumbnails and central's
 * WADO-RS `rendered` resource.
 *
 * Pixel data: uncompressed (implicit/explicit little endian, deflated) and the encapsulated
 * syntaxes of `codecs.ts` (JPEG baseline 8-bit, JPEG lossless, JPEG-LS, JPEG 2000, RLE).
 * Photometric interpretations: MONOCHROME1/2 (Bits Stored and Pixel Representation honoured,
 * Rescale and the first VOI window applied, else the frame's range), RGB, YBR_FULL,
 * YBR_FULL_422, YBR_ICT/YBR_RCT (JPEG 2000), PALETTE COLOR (ultrasound Doppler). What cannot be
 * rendered throws `RenderError` saying why; the original is stored and forwarded unchanged.
 *
 * Decoding a large DR frame takes up to seconds of CPU: services call this through
 * `PreviewRenderer` (`preview-pool.ts`), which runs it in a worker thread.
 */
import { CodecError, decodeFrame, DECODABLE, type DecodedFrame } from './codecs.ts';
import { num, str, type JsonDataset, type ParsedFile } from './dicom-file.ts';
import { encodePng } from './png.ts';

/**
 * Why there is no preview: 'corrupt' data, a 'format' (photometric, bit depth) or transfer
 * 'syntax' not rendered, 'no-image' (no pixel data), 'too-large', 'timeout' (preview-pool.ts).
 */
export type RenderFailure = 'corrupt' | 'format' | 'syntax' | 'no-image' | 'too-large' | 'timeout';

export class RenderError extends Error {
  override name = 'RenderError';
  constructor(message: string, readonly kind: RenderFailure = 'corrupt') {
    super(message);
  }
}

const TS_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.4.50': 'JPEG baseline', '1.2.840.10008.1.2.4.51': 'JPEG extended', '1.2.840.10008.1.2.4.57': 'JPEG lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG lossless SV1', '1.2.840.10008.1.2.4.80': 'JPEG-LS lossless', '1.2.840.10008.1.2.4.81': 'JPEG-LS near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 lossless', '1.2.840.10008.1.2.4.91': 'JPEG 2000', '1.2.840.10008.1.2.5': 'RLE lossless', '1.2.840.10008.1.2.1.99': 'deflate',
  '1.2.840.10008.1.2.4.201': 'HTJ2K lossless', '1.2.840.10008.1.2.4.202': 'HTJ2K lossless RPCL', '1.2.840.10008.1.2.4.203': 'HTJ2K',
  '1.2.840.10008.1.2.4.100': 'MPEG-2', '1.2.840.10008.1.2.4.102': 'MPEG-4 AVC/H.264', '1.2.840.10008.1.2.4.103': 'MPEG-4 AVC/H.264 BD',
};
/** Pixel data that dcmjs hands over uncompressed. */
const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99']);

export function transferSyntaxName(uid: string): string {
  return TS_NAMES[uid] ?? (NATIVE.has(uid) ? 'uncompressed' : uid);
}

/** Whether a preview of this transfer syntax can be made (the pixel data may still prove unrenderable). */
export function canPreview(transferSyntaxUid: string): boolean {
  return NATIVE.has(transferSyntaxUid) || DECODABLE.has(transferSyntaxUid);
}

/** Frames above this many pixels are refused (a 4,096 x 5,120 mammogram is 21 M). */
const MAX_PIXELS = 50_000_000;
const PHOTOMETRICS = new Set(['MONOCHROME1', 'MONOCHROME2', 'RGB', 'YBR_FULL', 'YBR_FULL_422', 'YBR_ICT', 'YBR_RCT', 'PALETTE COLOR']);

interface Shape {
  rows: number;
  cols: number;
  spp: number;
  bitsAllocated: number;
  bitsStored: number;
  signed: boolean;
  photometric: string;
  planar: boolean;
  frames: number;
}

function shapeOf(d: JsonDataset): Shape {
  const rows = num(d, '00280010') ?? 0;
  const cols = num(d, '00280011') ?? 0;
  const bitsAllocated = num(d, '00280100') ?? 8;
  const spp = num(d, '00280002') ?? 1;
  const photometric = (str(d, '00280004') ?? (spp === 3 ? 'RGB' : 'MONOCHROME2')).toUpperCase();
  if (!rows || !cols) throw new RenderError('no Rows/Columns in the header: not an image', 'no-image');
  if (rows * cols > MAX_PIXELS) throw new RenderError(`frame of ${cols} x ${rows} pixels is above the preview limit of ${MAX_PIXELS / 1e6} M pixels`, 'too-large');
  if (bitsAllocated !== 8 && bitsAllocated !== 16) throw new RenderError(`${bitsAllocated}-bit pixels not rendered`, 'format');
  if (!PHOTOMETRICS.has(photometric)) throw new RenderError(`photometric ${photometric} not rendered`, 'format');
  const colour = photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2' && photometric !== 'PALETTE COLOR';
  if (colour ? spp !== 3 : spp !== 1) throw new RenderError(`photometric ${photometric} with ${spp} sample(s) per pixel is inconsistent`);
  const bitsStored = Math.min(bitsAllocated, Math.max(1, num(d, '00280101') ?? bitsAllocated));
  return { rows, cols, spp, bitsAllocated, bitsStored, signed: num(d, '00280103') === 1, photometric, planar: num(d, '00280006') === 1, frames: Math.max(1, num(d, '00280008') ?? 1) };
}

function u8(b: ArrayBuffer): Uint8Array {
  return new Uint8Array(b);
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
}

/** A fragment that starts a new compressed frame (JPEG SOI, JPEG 2000 SOC or a JP2 signature box). */
function startsFrame(b: Uint8Array): boolean {
  return (b[0] === 0xff && (b[1] === 0xd8 || b[1] === 0x4f)) || (b[4] === 0x6a && b[5] === 0x50 && b[6] === 0x20 && b[7] === 0x20);
}

/**
 * Frame 1's compressed bytes. dcmjs returns one buffer per frame when the Basic Offset Table is
 * filled, else one per fragment: with as many fragments as frames each is a frame; a single-frame
 * image is all its fragments; otherwise frame 1 runs up to the next fragment that starts a frame.
 */
function encapsulatedFrameOne(value: unknown[], frames: number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const v of value) {
    if (v instanceof ArrayBuffer) parts.push(u8(v));
    else if (Array.isArray(v)) parts.push(concat(v.filter((x): x is ArrayBuffer => x instanceof ArrayBuffer).map(u8)));
  }
  if (!parts.length || parts.every((p) => p.length === 0)) throw new RenderError('no pixel data', 'no-image');
  if (parts.length === 1 || parts.length === frames) return parts[0]!;
  if (frames === 1) return concat(parts);
  let n = 1;
  while (n < parts.length && !startsFrame(parts[n]!)) n++;
  return concat(parts.slice(0, n));
}

async function frameOne(f: ParsedFile, s: Shape, maxSize: number): Promise<DecodedFrame> {
  const value = f.dict['7FE00010']?.Value;
  if (!value?.length) throw new RenderError('no pixel data', 'no-image');
  const bits = s.bitsAllocated as 8 | 16;
  if (NATIVE.has(f.transferSyntaxUid)) {
    const px = value[0];
    if (!(px instanceof ArrayBuffer)) throw new RenderError('no pixel data', 'no-image');
    const bytes = u8(px);
    const need = s.photometric === 'YBR_FULL_422' ? s.rows * s.cols * 2 : s.rows * s.cols * s.spp * (bits / 8);
    if (bytes.length < need) throw new RenderError(`pixel data holds ${bytes.length} bytes, one frame needs ${need}: the file is truncated`);
    return { rows: s.rows, cols: s.cols, spp: s.spp, bits, planar: s.planar, toRgb: false, data: bytes };
  }
  if (!DECODABLE.has(f.transferSyntaxUid)) throw new RenderError(`preview not available for ${transferSyntaxName(f.transferSyntaxUid)} (${f.transferSyntaxUid}); the original is stored unchanged`, 'syntax');
  try {
    return await decodeFrame(f.transferSyntaxUid, encapsulatedFrameOne(value, s.frames), { rows: s.rows, cols: s.cols, spp: s.spp, bitsAllocated: bits, signed: s.signed }, maxSize);
  } catch (e) {
    if (e instanceof CodecError) throw new RenderError(e.message, e.kind);
    throw e;
  }
}

function clamp8(v: number): number {
  return v < 0 ? 0 : v > 255 ? 255 : Math.round(v);
}

/** How to render: a VOI window instead of the file's (monochrome images), and a box to fit within. */
export interface RenderOptions {
  window?: { center: number; width: number };
  /** Fit within this many rows and/or columns (aspect kept), as well as `maxSize`. */
  box?: { rows?: number; cols?: number };
}

/** 8-bit pixels, grey or RGB by pixel. */
export interface RenderedImage { width: number; height: number; channels: 1 | 3; pixels: Uint8Array }

/** Renders frame 1 scaled to fit `maxSize` (nearest neighbour) as a PNG. Throws RenderError when it cannot. */
export async function renderPreview(f: ParsedFile, maxSize = 256, opts: RenderOptions = {}): Promise<Buffer> {
  const r = await renderImage(f, maxSize, opts);
  return encodePng(r.width, r.height, r.channels, r.pixels);
}

/**
 * Frame 1 of `f` (the only frame its Pixel Data holds when read by `readFrame`) as 8-bit pixels,
 * scaled down to fit `maxSize` and `opts.box` (nearest neighbour). Throws RenderError when it cannot.
 */
export async function renderImage(f: ParsedFile, maxSize = 256, opts: RenderOptions = {}): Promise<RenderedImage> {
  const d = f.dict;
  const s = shapeOf(d);
  const fit = Math.min(maxSize / Math.max(s.rows, s.cols), opts.box?.rows ? opts.box.rows / s.rows : Infinity, opts.box?.cols ? opts.box.cols / s.cols : Infinity);
  const fr = await frameOne(f, s, Math.max(1, Math.ceil(fit * Math.max(s.rows, s.cols))));
  const scale = Math.min(1, fit);
  const w = Math.max(1, Math.round(s.cols * scale));
  const h = Math.max(1, Math.round(s.rows * scale));
  // Source pixel of an output pixel (the decoded frame may be a reduced JPEG 2000 level).
  const sxOf = new Int32Array(w);
  const syOf = new Int32Array(h);
  for (let x = 0; x < w; x++) sxOf[x] = Math.min(fr.cols - 1, Math.floor((x * fr.cols) / w));
  for (let y = 0; y < h; y++) syOf[y] = Math.min(fr.rows - 1, Math.floor((y * fr.rows) / h));
  const dv = new DataView(fr.data.buffer, fr.data.byteOffset, fr.data.byteLength);
  const plane = fr.rows * fr.cols;
  const raw = (x: number, y: number, c: number): number => {
    const idx = fr.planar ? c * plane + y * fr.cols + x : (y * fr.cols + x) * fr.spp + c;
    return fr.bits === 8 ? fr.data[idx]! : dv.getUint16(idx * 2, true);
  };

  let photometric = s.photometric;
  if (fr.toRgb || photometric === 'YBR_ICT' || photometric === 'YBR_RCT') photometric = 'RGB';

  if (photometric === 'RGB' || photometric === 'YBR_FULL' || photometric === 'YBR_FULL_422') {
    const out = new Uint8Array(w * h * 3);
    const shift = fr.bits === 16 ? 8 : 0;
    const native422 = photometric === 'YBR_FULL_422' && NATIVE.has(f.transferSyntaxUid);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const sx = sxOf[x]!, sy = syOf[y]!;
      let a: number, b: number, c: number;
      if (native422) {
        // Two pixels in four bytes: Y1 Y2 Cb Cr (PS3.3 C.7.6.3.1.2).
        const base = ((sy * fr.cols + sx) >> 1) * 4;
        a = fr.data[base + (sx & 1)]!; b = fr.data[base + 2]!; c = fr.data[base + 3]!;
      } else {
        a = raw(sx, sy, 0) >> shift; b = raw(sx, sy, 1) >> shift; c = raw(sx, sy, 2) >> shift;
      }
      const o = (y * w + x) * 3;
      if (photometric === 'RGB') {
        out[o] = a; out[o + 1] = b; out[o + 2] = c;
      } else {
        out[o] = clamp8(a + 1.402 * (c - 128));
        out[o + 1] = clamp8(a - 0.344136 * (b - 128) - 0.714136 * (c - 128));
        out[o + 2] = clamp8(a + 1.772 * (b - 128));
      }
    }
    return { width: w, height: h, channels: 3, pixels: out };
  }

  // One sample per pixel: the stored value (Bits Stored, sign) first.
  const mask = s.bitsStored >= 32 ? 0xffffffff : 2 ** s.bitsStored - 1;
  const signBit = 2 ** (s.bitsStored - 1);
  const stored = (x: number, y: number): number => {
    const v = raw(x, y, 0) & mask;
    return s.signed && v >= signBit ? v - 2 * signBit : v;
  };

  if (photometric === 'PALETTE COLOR') {
    const luts = [paletteLut(d, '1101', '1201'), paletteLut(d, '1102', '1202'), paletteLut(d, '1103', '1203')];
    const out = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const v = stored(sxOf[x]!, syOf[y]!);
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = luts[c]!(v);
    }
    return { width: w, height: h, channels: 3, pixels: out };
  }

  const slope = num(d, '00281053') ?? 1;
  const intercept = num(d, '00281052') ?? 0;
  let center = opts.window ? opts.window.center : num(d, '00281050');
  let width = opts.window ? opts.window.width : num(d, '00281051');
  if (center === undefined || !width || width < 1) {
    let lo = Infinity, hi = -Infinity;
    const step = Math.max(1, Math.floor(plane / 65536));
    for (let i = 0; i < plane; i += step) {
      const v = stored(i % fr.cols, Math.floor(i / fr.cols)) * slope + intercept;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    center = (lo + hi) / 2;
    width = Math.max(1, hi - lo);
  }
  const invert = photometric === 'MONOCHROME1';
  const out = new Uint8Array(w * h);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = stored(sxOf[x]!, syOf[y]!) * slope + intercept;
    const g = clamp8(((v - (center - width / 2)) / width) * 255);
    out[y * w + x] = invert ? 255 - g : g;
  }
  return { width: w, height: h, channels: 1, pixels: out };
}

/** A palette channel as a function from stored value to 8-bit intensity (PS3.3 C.7.6.3.1.5-6). */
function paletteLut(d: JsonDataset, descTag: string, dataTag: string): (v: number) => number {
  const desc = d[`0028${descTag}`]?.Value;
  const data = d[`0028${dataTag}`]?.Value?.[0];
  if (!desc || desc.length < 3 || !(data instanceof ArrayBuffer)) throw new RenderError(`PALETTE COLOR without its lookup table (0028,${descTag}/${dataTag})`);
  const entries = Number(desc[0]) || 65536;
  const first = Number(desc[1]) || 0;
  const bits = Number(desc[2]);
  const bytes = u8(data);
  let lut: Uint8Array;
  if (bits === 16 || bytes.length >= entries * 2) {
    if (bytes.length < entries * 2) throw new RenderError(`palette table (0028,${dataTag}) holds ${bytes.length} bytes for ${entries} 16-bit entries`);
    const dv = new DataView(data);
    lut = new Uint8Array(entries);
    // 16-bit entries: the high byte; 8-bit entries kept one per 16-bit word: the low byte.
    for (let i = 0; i < entries; i++) lut[i] = bits === 16 ? dv.getUint16(i * 2, true) >> 8 : dv.getUint16(i * 2, true) & 0xff;
  } else {
    if (bytes.length < entries) throw new RenderError(`palette table (0028,${dataTag}) holds ${bytes.length} bytes for ${entries} entries`);
    lut = bytes.subarray(0, entries);
  }
  return (v) => lut[v <= first ? 0 : v - first >= entries ? entries - 1 : v - first]!;
}
