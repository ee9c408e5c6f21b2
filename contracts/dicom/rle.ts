/**
 * DICOM RLE Lossless (1.2.840.10008.1.2.5) decoder, PS3.5 Annex G.
 *
 * Written here rather than taken from a package: the format is a 64-byte header of segment
 * offsets followed by PackBits-style segments (one per byte plane), about forty lines; the
 * packages that carry it (cornerstone's DICOM image loader, dcmjs-codecs) bring a browser
 * image pipeline or a WASM toolchain with them for this one function.
 */

export class RleError extends Error {
  override name = 'RleError';
  /** A variant not decoded here, rather than corrupt data. */
  constructor(message: string, readonly unsupported = false) {
    super(message);
  }
}

/**
 * Decodes one RLE frame into sample-interleaved pixels, little-endian for 16-bit samples
 * (the layout of uncompressed explicit VR little endian with Planar Configuration 0).
 */
export function decodeRle(frame: Uint8Array, rows: number, cols: number, spp: number, bitsAllocated: number): Uint8Array {
  const bytesPerSample = bitsAllocated / 8;
  if (bytesPerSample !== 1 && bytesPerSample !== 2) throw new RleError(`RLE with ${bitsAllocated}-bit samples is not supported`, true);
  if (frame.length < 64) throw new RleError('RLE frame shorter than its 64-byte header');
  const dv = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const segments = dv.getUint32(0, true);
  const expected = spp * bytesPerSample;
  if (segments !== expected) throw new RleError(`RLE header names ${segments} segments, ${expected} expected for ${spp} sample(s) of ${bitsAllocated} bits`);
  const offsets: number[] = [];
  for (let s = 0; s < segments; s++) offsets.push(dv.getUint32(4 + s * 4, true));
  const pixels = rows * cols;
  const out = new Uint8Array(pixels * expected);
  for (let s = 0; s < segments; s++) {
    const start = offsets[s]!;
    const end = s + 1 < segments ? offsets[s + 1]! : frame.length;
    if (start < 64 || end > frame.length || end < start) throw new RleError(`RLE segment ${s + 1} lies outside the frame (offset ${start}, frame ${frame.length} bytes)`);
    // Segment order: sample by sample, most significant byte first. Output: interleaved samples,
    // each little-endian, so the byte of segment s lands at sample * bytesPerSample + (its byte).
    const sample = Math.floor(s / bytesPerSample);
    const byteInSample = bytesPerSample - 1 - (s % bytesPerSample);
    const stride = expected;
    let o = sample * bytesPerSample + byteInSample;
    let written = 0;
    let i = start;
    while (i < end && written < pixels) {
      const n = (frame[i++]! << 24) >> 24; // signed header byte
      if (n >= 0) {
        const count = Math.min(n + 1, end - i, pixels - written);
        for (let k = 0; k < count; k++) { out[o] = frame[i + k]!; o += stride; }
        i += n + 1;
        written += count;
      } else if (n > -128) {
        if (i >= end) break;
        const v = frame[i++]!;
        const count = Math.min(1 - n, pixels - written);
        for (let k = 0; k < count; k++) { out[o] = v; o += stride; }
        written += count;
      }
      // n === -128: no operation
    }
    if (written < pixels) throw new RleError(`RLE segment ${s + 1} holds ${written} of ${pixels} pixels: the frame is truncated or corrupt`);
  }
  return out;
}
