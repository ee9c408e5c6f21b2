/**
 * The preview renderer's thread (see preview-pool.ts): reads a stored instance and renders frame 1
 * (answering the PNG), or gives it in Explicit VR Little Endian (transcode.ts: the file, or frames).
 * Requests are handled one after another, in the order they came.
 */
import { stat } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { readPart10 } from './dicom-file.ts';
import { isDatasetError } from './dataset-walker.ts';
import { InstanceReadError, readFrame } from './instance-reader.ts';
import { RenderError, renderImage, renderPreview } from './render.ts';
import { encodeJpeg } from './jpeg.ts';
import { TranscodeError, transcodeFrames, transcodeInstance } from './transcode.ts';
import type { PreviewReply, PreviewRequest } from './preview-pool.ts';

const port = parentPort!;
/** Files read whole (those `readFirstFrame` cannot cut) above this are refused: they would be parsed in memory. */
const maxFileBytes = (workerData as { maxFileBytes?: number } | undefined)?.maxFileBytes ?? 512 * 1024 ** 2;
let chain: Promise<void> = Promise.resolve();

port.on('message', (m: PreviewRequest) => {
  chain = chain.then(async () => {
    let reply: PreviewReply;
    port.postMessage({ id: m.id, started: true } satisfies PreviewReply);
    try {
      if ('transcode' in m) {
        const t = m.transcode;
        const parts = t.frames ? await transcodeFrames(m.path, t.frames, t.maxBytes) : [await transcodeInstance(m.path, t.maxBytes)];
        // Whole buffers are moved to the other thread, not copied (a transcoded cine is hundreds of MB);
        // a slice of a shared pool is copied (moving it would take its neighbours).
        const out = parts.map((b) => (b.byteOffset === 0 && b.byteLength === b.buffer.byteLength ? new Uint8Array(b.buffer, 0, b.byteLength) : new Uint8Array(b)));
        port.postMessage({ id: m.id, ok: true, parts: out } satisfies PreviewReply, [...new Set(out.map((b) => b.buffer as ArrayBuffer))]);
        return;
      }
      // The header and frame 1 only (a 300 MB cine is not read for its thumbnail); else the whole file.
      const frame = m.frame ?? 1;
      let file = await readFrame(m.path, frame).catch((e: unknown) => {
        if (e instanceof InstanceReadError && e.kind === 'no-frame') throw new RenderError(e.message, 'no-image');
        if (isDatasetError(e) || e instanceof InstanceReadError) throw new RenderError(`the file's structure is broken: ${(e as Error).message}`, 'corrupt');
        throw e;
      });
      if (!file) {
        if (frame > 1) throw new RenderError(`frame ${frame} of this file cannot be read on its own (its frames are told apart only by a whole parse); frame 1 can be rendered`, 'format');
        const size = (await stat(m.path)).size;
        if (size > maxFileBytes) throw new RenderError(`the file is ${Math.round(size / 1024 ** 2)} MB; previews read files up to ${Math.round(maxFileBytes / 1024 ** 2)} MB whole (the original is stored unchanged)`, 'too-large');
        file = await readPart10(m.path);
      }
      const opts = { ...(m.window ? { window: m.window } : {}), ...(m.box ? { box: m.box } : {}) };
      let out: Buffer;
      if (m.format === 'jpeg') {
        const img = await renderImage(file, m.maxSize, opts);
        out = await encodeJpeg(img.width, img.height, img.channels, img.pixels, m.quality);
      } else {
        out = await renderPreview(file, m.maxSize, opts);
      }
      reply = { id: m.id, ok: true, parts: [new Uint8Array(out.buffer, out.byteOffset, out.byteLength)] };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      const kind = e instanceof RenderError ? 'render' : e instanceof TranscodeError ? 'transcode' : err?.code === 'ENOENT' ? 'missing' : 'error';
      reply = { id: m.id, ok: false, kind, message: String(err?.message ?? e).slice(0, 500), ...(e instanceof RenderError || e instanceof TranscodeError ? { failure: e.kind } : {}) };
    }
    port.postMessage(reply);
  });
});
