/**
 * Background forwarding of instance files to the central archive. Never on the C-STORE
 * path: the SCP only indexes; this loop picks `pending` instances, uploads each with its
 * sha256 (central verifies and answers idempotently) and marks it `done`. State lives in
 * SQLite per instance, so a restart or a day offline resumes where it stopped. Bandwidth
 * is shaped by a token bucket whose rate depends on the configured time windows.
 */
import { createReadStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import { inWindow, parseWindows, type ImagingConfig } from './config.ts';
import { cached } from './repo.ts';

/**
 * Forwarding state written without its own fsync: a commit with synchronous=NORMAL is a write to the
 * WAL, made durable by the next FULL commit on the connection (the index's, a few ms later) or the
 * next checkpoint. Losing such a mark in a crash only means the instance is uploaded again (central
 * answers a known sha256 idempotently); an fsync per upload on the agent's main thread would stall
 * the DICOM associations being received meanwhile.
 */
function lazyWrite(db: Db, fn: () => void): void {
  const prev = Number(db.pragma('synchronous', { simple: true }));
  if (prev > 1) db.pragma('synchronous = NORMAL');
  try {
    db.transaction(fn)();
  } finally {
    if (prev > 1) db.pragma(`synchronous = ${prev}`);
  }
}

export interface ForwarderCounters {
  uploaded: number;
  uploadedBytes: number;
  /** Resumable uploads taken up again where central's copy ended, and the bytes not sent again. */
  resumed: number;
  resumedBytes: number;
  failures: number;
  lastError: string | null;
  lastSuccessAt: string | null;
}

/** Token bucket shared by every upload; `rate()` is read on each take (0 = paused). */
export class RateLimiter {
  private tokens = 0;
  private last = Date.now();
  constructor(private readonly rate: () => number) {}

  async take(n: number, signal: AbortSignal): Promise<void> {
    for (;;) {
      const r = this.rate();
      if (r === Infinity) return;
      const now = Date.now();
      if (r > 0) this.tokens = Math.min(this.tokens + ((now - this.last) / 1000) * r, Math.max(r, n));
      this.last = now;
      if (r > 0 && this.tokens >= n) {
        this.tokens -= n;
        return;
      }
      const wait = r > 0 ? Math.min(1000, ((n - this.tokens) / r) * 1000) : 1000;
      await sleep(Math.max(5, wait), undefined, { signal });
    }
  }
}

interface Pending { sop_instance_uid: string; study_instance_uid: string; calling_ae: string; path: string; size: number; sha256: string; fwd_attempts: number }

export class Forwarder {
  readonly counters: ForwarderCounters = { uploaded: 0, uploadedBytes: 0, resumed: 0, resumedBytes: 0, failures: 0, lastError: null, lastSuccessAt: null };
  private readonly abort = new AbortController();
  private readonly waiters = new Set<() => void>();
  private loops: Promise<void>[] = [];
  private readonly inFlight = new Set<string>();
  private readonly limiter: RateLimiter;
  private readonly windows;

  constructor(private readonly db: Db, private readonly clinicId: string, private readonly cfg: ImagingConfig, private readonly log: Logger) {
    this.windows = parseWindows(cfg.forwardWindows);
    this.limiter = new RateLimiter(() => this.currentRate());
  }

  /** Bytes per second allowed now: Infinity = unlimited, 0 = paused (outside the windows). */
  currentRate(now = new Date()): number {
    const r = inWindow(this.windows, now) ? this.cfg.forwardRate : this.cfg.forwardOffWindowRate;
    if (r === 0) return inWindow(this.windows, now) ? Infinity : 0;
    return r;
  }

  start(): void {
    if (!this.cfg.centralUrl) {
      this.log.warn('EDGE_DICOM_CENTRAL_URL not set: instances are kept and indexed, forwarding waits');
      return;
    }
    if (!this.cfg.uploadToken) {
      // Central files an upload under the clinic of its per-clinic token, nothing else.
      this.log.warn('EDGE_DICOM_UPLOAD_TOKEN not set: instances are kept and indexed, forwarding waits (provisioning writes it to the edge env file)');
      return;
    }
    for (let i = 0; i < this.cfg.forwardConcurrency; i++) this.loops.push(this.loop());
  }

  /** New instance indexed: look for work now instead of at the next poll. */
  kick(): void {
    for (const w of [...this.waiters]) w();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.kick();
    await Promise.allSettled(this.loops);
  }

  private next(): Pending | null {
    const list = cached<[string], Pending>(this.db, `SELECT sop_instance_uid, study_instance_uid, calling_ae, path, size, sha256, fwd_attempts FROM imaging_instances
      WHERE fwd_state = 'pending' AND fwd_next_at <= ? ORDER BY received_at LIMIT 16`).all(new Date().toISOString());
    return list.find((p) => !this.inFlight.has(p.sop_instance_uid)) ?? null;
  }

  private async idle(ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const done = () => { clearTimeout(timer); this.waiters.delete(done); resolve(); };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  private async loop(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      if (this.currentRate() === 0) {
        await this.idle(30_000);
        continue;
      }
      const p = this.next();
      if (!p) {
        await this.idle(2_000);
        continue;
      }
      this.inFlight.add(p.sop_instance_uid);
      try {
        await this.upload(p, signal);
        // Only done if the row still has the bytes we sent (a resend may have replaced the file meanwhile).
        lazyWrite(this.db, () => cached(this.db, `UPDATE imaging_instances SET fwd_state = 'done', forwarded_at = ?, fwd_error = NULL WHERE sop_instance_uid = ? AND sha256 = ?`).run(new Date().toISOString(), p.sop_instance_uid, p.sha256));
        this.counters.uploaded++;
        this.counters.uploadedBytes += p.size;
        this.counters.lastSuccessAt = new Date().toISOString();
      } catch (e) {
        if (signal.aborted) break;
        // fetch's own message is "fetch failed"; the reason (ECONNREFUSED host:port, a timeout) is its cause.
        const cause = (e as { cause?: { code?: string; message?: string } }).cause;
        const msg = cause ? `${(e as Error).message}: ${cause.code ?? ''} ${cause.message ?? ''}`.trim() : (e as Error).message;
        const attempts = p.fwd_attempts + 1;
        const delay = Math.min(this.cfg.forwardRetryMaxMs, 500 * 2 ** Math.min(attempts, 16));
        lazyWrite(this.db, () => cached(this.db, 'UPDATE imaging_instances SET fwd_attempts = ?, fwd_error = ?, fwd_next_at = ? WHERE sop_instance_uid = ?')
          .run(attempts, msg.slice(0, 500), new Date(Date.now() + delay).toISOString(), p.sop_instance_uid));
        this.counters.failures++;
        this.counters.lastError = msg;
        if (attempts === 1 || attempts % 20 === 0) this.log.warn({ sop: p.sop_instance_uid, attempts, err: msg }, 'instance upload failed; will retry');
      } finally {
        this.inFlight.delete(p.sop_instance_uid);
      }
    }
  }

  private async upload(p: Pending, signal: AbortSignal): Promise<void> {
    if (p.size > this.cfg.forwardChunkBytes) return this.uploadInParts(p, signal);
    const { body, close } = this.body(p, signal);
    try {
      const base = this.cfg.centralUrl!.replace(/\/$/, '');
      const url = `${base}/archive/instances/${encodeURIComponent(p.sop_instance_uid)}`;
      const res = await fetch(url, {
        method: 'PUT',
        headers: {
          authorization: `Bearer ${this.cfg.uploadToken ?? ''}`,
          'content-type': 'application/dicom',
          'content-length': String(p.size),
          'x-clinic-id': this.clinicId,
          'x-study-instance-uid': p.study_instance_uid,
          'x-content-sha256': p.sha256,
          'x-station-ae': p.calling_ae,
        },
        body,
        // Node's fetch needs `duplex` for a streamed body; it is not in the DOM RequestInit type.
        duplex: 'half',
        signal,
      } as RequestInit & { duplex: 'half' });
      const text = await res.text();
      if (!res.ok) throw new Error(`central answered ${res.status}: ${text.slice(0, 200)}`);
    } finally {
      // A refused connection or an early answer (507, 401) leaves the body unread: without this
      // the file stayed open, one descriptor per attempt, for as long as central was away (and a
      // removed file's space was never given back).
      close();
    }
  }

  /** The file's bytes [start, end) through the shared rate limit, as a request body (and what to close after). */
  private body(p: Pending, signal: AbortSignal, start?: number, end?: number): { body: ReadableStream<Uint8Array>; close: () => void } {
    const limiter = this.limiter;
    const throttle = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        limiter.take(chunk.length, signal).then(() => cb(null, chunk), (e: Error) => cb(e));
      },
    });
    const file = createReadStream(p.path, { highWaterMark: 64 * 1024, ...(start !== undefined ? { start, end: end! - 1 } : {}) });
    file.on('error', (e) => throttle.destroy(e));
    return { body: Readable.toWeb(file.pipe(throttle)) as ReadableStream<Uint8Array>, close: () => { file.destroy(); throttle.destroy(); } };
  }

  /**
   * A large instance in parts (`/archive/uploads`): ask central how much it holds, send the rest
   * part by part. A cut (network, central restarted) loses at most what was in flight: the next
   * attempt starts where central's copy ends.
   */
  private async uploadInParts(p: Pending, signal: AbortSignal): Promise<void> {
    const url = `${this.cfg.centralUrl!.replace(/\/$/, '')}/archive/uploads/${encodeURIComponent(p.sop_instance_uid)}`;
    const auth = { authorization: `Bearer ${this.cfg.uploadToken ?? ''}` };
    const asked = await fetch(`${url}?sha256=${p.sha256}`, { headers: auth, signal });
    const state = await asked.json().catch(() => ({})) as { offset?: number; complete?: boolean; detail?: string };
    if (!asked.ok || typeof state.offset !== 'number') throw new Error(`central answered ${asked.status}: ${state.detail ?? 'no offset'}`);
    let offset = state.offset;
    let complete = state.complete === true;
    if (!complete && offset > 0) {
      this.counters.resumed++;
      this.counters.resumedBytes += offset;
      this.log.info({ sop: p.sop_instance_uid, offset, size: p.size }, 'instance upload taken up where central\'s copy ends');
    }
    let conflicts = 0;
    while (!complete) {
      const end = Math.min(p.size, offset + this.cfg.forwardChunkBytes);
      const { body, close } = this.body(p, signal, offset, end);
      try {
        const res = await fetch(url, {
          method: 'PUT',
          headers: {
            ...auth,
            'content-type': 'application/octet-stream',
            'content-length': String(end - offset),
            'x-clinic-id': this.clinicId,
            'x-study-instance-uid': p.study_instance_uid,
            'x-content-sha256': p.sha256,
            'x-station-ae': p.calling_ae,
            'x-upload-offset': String(offset),
            'x-upload-length': String(p.size),
          },
          body,
          duplex: 'half',
          signal,
        } as RequestInit & { duplex: 'half' });
        const r = await res.json().catch(() => ({})) as { offset?: number; complete?: boolean; detail?: string };
        // Central's copy ends elsewhere (an earlier attempt's bytes arrived after all): go on from there.
        if (res.status === 409 && typeof r.offset === 'number' && ++conflicts <= 3) {
          offset = r.offset;
          continue;
        }
        if (!res.ok || typeof r.offset !== 'number') throw new Error(`central answered ${res.status}: ${(r.detail ?? '').slice(0, 200)}`);
        offset = r.offset;
        complete = r.complete === true;
      } finally {
        close();
      }
    }
  }
}
