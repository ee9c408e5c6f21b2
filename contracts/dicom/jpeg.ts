/**
 * JPEG encoding of rendered 8-bit images (WADO-URI's default content type, image/jpeg), by
 * libjpeg-turbo: the full WASM build of the package whose decoder `codecs.ts` uses
 * (`@cornerstonejs/codec-libjpeg-turbo-8bit/wasmjs`, which also holds the encoder). Loaded on
 * first use; a module that failed is loaded afresh next time.
 */
import { discard, load } from './codecs.ts';

interface FrameInfo { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean }
interface JpegEncoder {
  getDecodedBuffer(info: FrameInfo): Uint8Array;
  /** 1-100. */
  setQuality(quality: number): void;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
  delete(): void;
}
interface EncoderModule { JPEGEncoder: new () => JpegEncoder }

const PKG = '@cornerstonejs/codec-libjpeg-turbo-8bit/wasmjs';

/** A baseline JPEG of `pixels` (grey, or RGB by pixel) at `quality` (1-100). */
export async function encodeJpeg(width: number, height: number, channels: 1 | 3, pixels: Uint8Array, quality = 90): Promise<Buffer> {
  const m = await load<EncoderModule>(PKG);
  let e: JpegEncoder | null = null;
  try {
    e = new m.JPEGEncoder();
    e.getDecodedBuffer({ width, height, bitsPerSample: 8, componentCount: channels, isSigned: false }).set(pixels.subarray(0, width * height * channels));
    e.setQuality(Math.min(100, Math.max(1, Math.round(quality))));
    e.encode();
    // The WASM heap's view is reused: copy it out.
    return Buffer.from(e.getEncodedBuffer());
  } catch (err) {
    if (typeof err !== 'number') discard(PKG);
    throw new Error(`JPEG encoding failed: ${typeof err === 'number' ? 'the encoder refused the image' : String((err as Error)?.message ?? err).slice(0, 200)}`);
  } finally {
    try { e?.delete(); } catch { /* the module may be gone */ }
  }
}
