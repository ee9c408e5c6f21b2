/**
 * PNG preview of the first frame of an instance with uncompressed pixel data (US, DX, CR,
 * SC: MONOCHROME1/2 and RGB, 8 or 16 bits). Compressed transfer syntaxes are stored and
 * forwarded as received but not rendered here: the error names the syntax.
 */
import { num, str, type ParsedFile } from './dicom-file.ts';
import { encodePng } from './png.ts';

export class RenderError extends Error {
  override name = 'RenderError';
}

const TS_NAMES: Record<string, string> = {
  '1.2.840.10008.1.2.4.50': 'JPEG baseline', '1.2.840.10008.1.2.4.51': 'JPEG extended', '1.2.840.10008.1.2.4.57': 'JPEG lossless',
  '1.2.840.10008.1.2.4.70': 'JPEG lossless SV1', '1.2.840.10008.1.2.4.80': 'JPEG-LS lossless', '1.2.840.10008.1.2.4.81': 'JPEG-LS near-lossless',
  '1.2.840.10008.1.2.4.90': 'JPEG 2000 lossless', '1.2.840.10008.1.2.4.91': 'JPEG 2000', '1.2.840.10008.1.2.5': 'RLE lossless', '1.2.840.10008.1.2.1.99': 'deflate',
};
const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']);

export function transferSyntaxName(uid: string): string {
  return TS_NAMES[uid] ?? (NATIVE.has(uid) ? 'uncompressed' : uid);
}

/** Renders frame 1 scaled to fit `maxSize` (nearest neighbour). Throws RenderError when unsupported. */
export function renderPng(f: ParsedFile, maxSize = 256): Buffer {
  if (!NATIVE.has(f.transferSyntaxUid)) throw new RenderError(`preview not available for ${transferSyntaxName(f.transferSyntaxUid)} (${f.transferSyntaxUid}); the original is stored unchanged`);
  const d = f.dict;
  const rows = num(d, '00280010');
  const cols = num(d, '00280011');
  const bits = num(d, '00280100') ?? 8;
  const spp = num(d, '00280002') ?? 1;
  const signed = num(d, '00280103') === 1;
  const photometric = str(d, '00280004') ?? 'MONOCHROME2';
  const planar = num(d, '00280006') === 1;
  const pixel = d['7FE00010']?.Value?.[0];
  if (!rows || !cols || !(pixel instanceof ArrayBuffer)) throw new RenderError('no pixel data');
  if (bits !== 8 && bits !== 16) throw new RenderError(`${bits}-bit pixels not rendered`);
  if (!(spp === 1 && photometric.startsWith('MONOCHROME')) && !(spp === 3 && photometric === 'RGB')) throw new RenderError(`photometric ${photometric} not rendered`);
  const bytes = new Uint8Array(pixel);
  const frameLen = rows * cols * spp * (bits / 8);
  if (bytes.length < frameLen) throw new RenderError('pixel data shorter than one frame');
  const scale = Math.min(1, maxSize / Math.max(rows, cols));
  const w = Math.max(1, Math.round(cols * scale));
  const h = Math.max(1, Math.round(rows * scale));
  const out = new Uint8Array(w * h * spp);
  const dv = new DataView(pixel, 0, frameLen);
  const sample = (x: number, y: number, c: number): number => {
    const idx = planar ? c * rows * cols + y * cols + x : (y * cols + x) * spp + c;
    if (bits === 8) return signed ? dv.getInt8(idx) : bytes[idx]!;
    return signed ? dv.getInt16(idx * 2, true) : dv.getUint16(idx * 2, true);
  };
  if (spp === 3) {
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const sx = Math.min(cols - 1, Math.floor(x / scale));
      const sy = Math.min(rows - 1, Math.floor(y / scale));
      for (let c = 0; c < 3; c++) out[(y * w + x) * 3 + c] = Math.max(0, Math.min(255, bits === 8 ? sample(sx, sy, c) : sample(sx, sy, c) >> 8));
    }
    return encodePng(w, h, 3, out);
  }
  const slope = num(d, '00281053') ?? 1;
  const intercept = num(d, '00281052') ?? 0;
  let center = num(d, '00281050');
  let width = num(d, '00281051');
  if (center === undefined || !width) {
    let lo = Infinity, hi = -Infinity;
    const step = Math.max(1, Math.floor((rows * cols) / 65536));
    for (let i = 0; i < rows * cols; i += step) {
      const v = sample(i % cols, Math.floor(i / cols), 0) * slope + intercept;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    center = (lo + hi) / 2;
    width = Math.max(1, hi - lo);
  }
  const invert = photometric === 'MONOCHROME1';
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
    const v = sample(Math.min(cols - 1, Math.floor(x / scale)), Math.min(rows - 1, Math.floor(y / scale)), 0) * slope + intercept;
    let g = Math.round(((v - (center - width / 2)) / width) * 255);
    g = Math.max(0, Math.min(255, g));
    out[y * w + x] = invert ? 255 - g : g;
  }
  return encodePng(w, h, 1, out);
}
