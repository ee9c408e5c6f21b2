/**
 * Previews rendered in a worker thread, so that decoding a large compressed DR frame (up to
 * seconds of CPU) never holds the event loop of the edge agent (DICOM associations, the spine
 * relay, the clinic's pages) or of central.
 *
 * One thread, started on the first request and stopped after `idleMs` without one (the WASM
 * decoders' memory goes with it). At most `maxQueue` requests wait; beyond that `render` refuses
 * with PreviewBusyError (answer 503 with Retry-After). A request not answered within `timeoutMs`
 * of the thread beginning it (a decoder looping on a forged frame) is failed, the thread is
 * stopped and the requests behind it are sent to a new one. A thread that dies fails only the
 * request it was working on.
 */
import { Worker } from 'node:worker_threads';
import { workerBootstrap } from '../runtime/ts-worker.ts';
import { RenderError, type RenderFailure, type RenderOptions } from './render.ts';
import { MAX_TRANSCODED_BYTES, TranscodeError, type TranscodeFailure } from './transcode.ts';

/** A PNG preview (`maxSize`), or the instance given in Explicit VR Little Endian (`transcode`: the whole file, or frames). */
export type PreviewRequest =
  | ({ id: number; path: string; maxSize: number } & ImageOptions)
  | { id: number; path: string; transcode: { frames: number[] | null; maxBytes: number } };
export type PreviewReply =
  /** The thread begins this request: its time-out runs from here. */
  | { id: number; started: true }
  /** The PNG, the transcoded file, or the frames asked for. */
  | { id: number; ok: true; parts: Uint8Array[] }
  | { id: number; ok: false; kind: 'render' | 'transcode' | 'missing' | 'error'; message: string; failure?: RenderFailure | TranscodeFailure };

/** A rendering other than the default preview: frame `frame` (from 1), a window, a box to fit, JPEG at `quality`. */
export interface ImageOptions extends RenderOptions { frame?: number; format?: 'png' | 'jpeg'; quality?: number }

export class PreviewBusyError extends Error {
  override name = 'PreviewBusyError';
}

export interface PreviewStats {
  rendered: number;
  /** Instances or frames given in Explicit VR Little Endian. */
  transcoded: number;
  /** Not renderable or not transcodable (syntax, photometric, corrupt frame): RenderError. */
  unsupported: number;
  /** Other failures (file unreadable, thread died). */
  failed: number;
  timedOut: number;
  refusedBusy: number;
  threadStarts: number;
}

export interface PreviewRendererOptions {
  timeoutMs?: number;
  maxQueue?: number;
  idleMs?: number;
  /** Larger files get RenderError 'too-large' without being read (default 512 MiB): a preview reads the whole file. */
  maxFileBytes?: number;
  /** Transcoded instances (their native pixel data) above this are refused (default 512 MiB). */
  maxTranscodedBytes?: number;
  /** A thread died or was stopped after a time-out. */
  onThreadError?: (err: Error) => void;
}

interface Pending { req: PreviewRequest; resolve: (parts: Buffer[]) => void; reject: (e: Error) => void }

const ENTRY = new URL('./preview-worker.ts', import.meta.url);

export class PreviewRenderer {
  readonly stats: PreviewStats = { rendered: 0, transcoded: 0, unsupported: 0, failed: 0, timedOut: 0, refusedBusy: 0, threadStarts: 0 };
  private readonly timeoutMs: number;
  private readonly maxQueue: number;
  private readonly idleMs: number;
  private worker: Worker | null = null;
  /** In the order sent: the thread answers them in this order. */
  private readonly pending = new Map<number, Pending>();
  private ids = 0;
  private timer: NodeJS.Timeout | null = null;
  /** The request `timer` times. */
  private timed = 0;
  private idleTimer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(private readonly opts: PreviewRendererOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.maxQueue = opts.maxQueue ?? 32;
    this.idleMs = opts.idleMs ?? 60_000;
  }

  /**
   * PNG of frame 1 of the Part 10 file at `path`, fitting `maxSize` (or as `opts` say: another frame,
   * window or box, JPEG). Rejects with RenderError when it cannot be rendered.
   */
  async render(path: string, maxSize: number, opts: ImageOptions = {}): Promise<Buffer> {
    return (await this.send({ id: 0, path, maxSize, ...opts }))[0]!;
  }

  /**
   * The Part 10 file at `path` in Explicit VR Little Endian (one buffer), or, with `frames`, those
   * frames decoded to native pixel data (one buffer each), decoded in the thread
   * (contracts/dicom/transcode.ts). Rejects with TranscodeError when it cannot be done.
   */
  transcode(path: string, frames: number[] | null = null, maxBytes = this.opts.maxTranscodedBytes ?? MAX_TRANSCODED_BYTES): Promise<Buffer[]> {
    return this.send({ id: 0, path, transcode: { frames, maxBytes } });
  }

  private send(req: PreviewRequest): Promise<Buffer[]> {
    if (this.closed) return Promise.reject(new Error('preview renderer closed'));
    if (this.pending.size >= this.maxQueue) {
      this.stats.refusedBusy++;
      return Promise.reject(new PreviewBusyError(`${this.pending.size} previews are being rendered; try again in a few seconds`));
    }
    return new Promise<Buffer[]>((resolve, reject) => {
      const p: Pending = { req: { ...req, id: ++this.ids }, resolve, reject };
      this.pending.set(p.req.id, p);
      if (this.idleTimer) { clearTimeout(this.idleTimer); this.idleTimer = null; }
      const w = this.thread();
      w.ref();
      w.postMessage(p.req);
    });
  }

  /** Requests waiting or being rendered. */
  get queued(): number {
    return this.pending.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.idleTimer) clearTimeout(this.idleTimer);
    for (const p of this.pending.values()) p.reject(new Error('preview renderer closed'));
    this.pending.clear();
    const w = this.worker;
    this.worker = null;
    await w?.terminate();
  }

  private thread(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(workerBootstrap(ENTRY, 'throw'), { eval: true, workerData: { maxFileBytes: this.opts.maxFileBytes }, resourceLimits: { maxOldGenerationSizeMb: 512 } });
    this.stats.threadStarts++;
    this.worker = w;
    w.on('message', (m: PreviewReply) => this.answer(m));
    const gone = (err: Error) => {
      if (this.worker !== w) return; // replaced already (time-out) or closed
      this.worker = null;
      if (this.closed) return;
      this.opts.onThreadError?.(err);
      // The request it had begun is the one it died on (else the oldest); the others are sent again.
      if (this.timer) { clearTimeout(this.timer); this.timer = null; }
      const head = this.pending.get(this.timed) ?? this.pending.values().next().value as Pending | undefined;
      const rest = [...this.pending.values()].filter((p) => p !== head);
      if (head) {
        this.pending.delete(head.req.id);
        this.stats.failed++;
        head.reject(new Error(`the preview thread stopped while ${'transcode' in head.req ? 'transcoding' : 'rendering'} this instance: ${err.message}`));
      }
      if (rest.length) {
        const nw = this.thread();
        for (const p of rest) nw.postMessage(p.req);
      }
      this.armTimer();
    };
    w.on('error', gone);
    w.on('exit', (code) => gone(new Error(`exited with code ${code}`)));
    return w;
  }

  private answer(m: PreviewReply): void {
    const p = this.pending.get(m.id);
    if (!p) return;
    if ('started' in m) {
      this.timeHead(m.id);
      return;
    }
    this.pending.delete(m.id);
    if (this.timed === m.id && this.timer) { clearTimeout(this.timer); this.timer = null; }
    if (m.ok) {
      if ('transcode' in p.req) this.stats.transcoded++;
      else this.stats.rendered++;
      p.resolve(m.parts.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
    } else if (m.kind === 'render') {
      this.stats.unsupported++;
      p.reject(new RenderError(m.message, m.failure as RenderFailure | undefined));
    } else if (m.kind === 'transcode') {
      this.stats.unsupported++;
      p.reject(new TranscodeError(m.message, m.failure as TranscodeFailure | undefined));
    } else {
      this.stats.failed++;
      const e = new Error(m.message) as NodeJS.ErrnoException;
      if (m.kind === 'missing') e.code = 'ENOENT';
      p.reject(e);
    }
    this.armTimer();
  }

  /** After an answer or a lost thread: idle the thread when nothing is left. */
  private armTimer(): void {
    if (this.pending.size) return;
    if (this.timer) { clearTimeout(this.timer); this.timer = null; }
    this.worker?.unref();
    if (this.worker && !this.idleTimer && !this.closed) {
      this.idleTimer = setTimeout(() => {
        this.idleTimer = null;
        if (this.pending.size) return;
        const w = this.worker;
        this.worker = null;
        void w?.terminate();
      }, this.idleMs);
      this.idleTimer.unref();
    }
  }

  /** The thread began request `id`: fail it if no answer comes within the time-out. */
  private timeHead(id: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timed = id;
    this.timer = setTimeout(() => {
      this.timer = null;
      const p = this.pending.get(id);
      if (!p) return;
      this.pending.delete(id);
      this.stats.timedOut++;
      const secs = Math.round(this.timeoutMs / 1000);
      p.reject('transcode' in p.req
        ? new TranscodeError(`decoding took longer than ${secs} s and was stopped; the image may be corrupt; ask for the stored bytes (transfer-syntax=*)`, 'timeout')
        : new RenderError(`rendering took longer than ${secs} s and was stopped; the image may be corrupt (the original is stored unchanged)`, 'timeout'));
      const w = this.worker;
      this.worker = null;
      if (w) {
        this.opts.onThreadError?.(new Error(`${'transcode' in p.req ? 'transcoding' : 'preview'} of ${p.req.path} timed out after ${this.timeoutMs} ms; thread stopped`));
        void w.terminate();
      }
      const rest = [...this.pending.values()];
      if (rest.length) {
        const nw = this.thread();
        for (const r of rest) nw.postMessage(r.req);
      }
      this.armTimer();
    }, this.timeoutMs);
    this.timer.unref();
  }
}
