/**
 * The preview renderer's thread (see preview-pool.ts): reads a stored instance, renders frame 1,
 * answers with the PNG. Requests are handled one after another, in the order they came.
 */
import { stat } from 'node:fs/promises';
import { parentPort, workerData } from 'node:worker_threads';
import { readPart10 } from './dicom-file.ts';
import { isDatasetError } from './dataset-walker.ts';
import { InstanceReadError, readFirstFrame } from './instance-reader.ts';
import { RenderError, renderPreview } from './render.ts';
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
      // The header and frame 1 only (a 300 MB cine is not read for its thumbnail); else the whole file.
      let file = await readFirstFrame(m.path).catch((e: unknown) => {
        if (isDatasetError(e) || e instanceof InstanceReadError) throw new RenderError(`the file's structure is broken: ${(e as Error).message}`, 'corrupt');
        throw e;
      });
      if (!file) {
        const size = (await stat(m.path)).size;
        if (size > maxFileBytes) throw new RenderError(`the file is ${Math.round(size / 1024 ** 2)} MB; previews read files up to ${Math.round(maxFileBytes / 1024 ** 2)} MB whole (the original is stored unchanged)`, 'too-large');
        file = await readPart10(m.path);
      }
      const png = await renderPreview(file, m.maxSize);
      reply = { id: m.id, ok: true, png: new Uint8Array(png.buffer, png.byteOffset, png.byteLength) };
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      reply = { id: m.id, ok: false, kind: e instanceof RenderError ? 'render' : err?.code === 'ENOENT' ? 'missing' : 'error', message: String(err?.message ?? e).slice(0, 500), ...(e instanceof RenderError ? { failure: e.kind } : {}) };
    }
    port.postMessage(reply);
  });
});
