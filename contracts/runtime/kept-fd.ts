/**
 * fsync of one path through a descriptor kept open between calls: one thread-pool round trip
 * (the fsync) instead of three (open, fsync, close). Used by the edge store for its WAL after
 * each group commit and by the DICOM SCP for study directories after each rename.
 *
 * The descriptor is used only while it still names what is at the path (device + inode, checked
 * with a stat before each fsync: a file or directory removed and created again gets a new
 * descriptor; an inode cannot be reused while we hold it open). A failed fsync drops it, so the
 * next flush starts from a fresh one. A descriptor is closed only once no fsync is in flight on it.
 */
import { close, closeSync, fstatSync, fsync, open, statSync } from 'node:fs';

interface Held { fd: number; dev: number; ino: number; users: number; retired: boolean }

export class KeptDescriptor {
  private held: Held | null = null;
  private closed = false;

  constructor(readonly path: string) {}

  /** fsync what is at `path`; an open error (ENOENT included) is passed to `cb` as is. */
  fsync(cb: (err: NodeJS.ErrnoException | null) => void): void {
    if (this.held) {
      let now: { dev: number; ino: number } | null = null;
      try { now = statSync(this.path); } catch { /* gone: open again below, which reports it */ }
      if (!now || now.dev !== this.held.dev || now.ino !== this.held.ino) this.drop();
    }
    if (this.held) { this.syncHeld(this.held, cb); return; }
    open(this.path, 'r', (e, fd) => {
      if (e) { cb(e); return; }
      let st: { dev: number; ino: number };
      try { st = fstatSync(fd); } catch (e2) { close(fd, () => {}); cb(e2 as NodeJS.ErrnoException); return; }
      const h: Held = { fd, dev: st.dev, ino: st.ino, users: 0, retired: false };
      if (this.closed) h.retired = true; // closed meanwhile: this descriptor goes after its fsync
      else { this.drop(); this.held = h; } // another call opened one meanwhile: keep the newest
      this.syncHeld(h, cb);
    });
  }

  fsyncAsync(): Promise<void> {
    return new Promise((resolve, reject) => this.fsync((e) => (e ? reject(e) : resolve())));
  }

  /** The kept descriptor's identity (tests), or null. */
  identity(): { dev: number; ino: number } | null {
    return this.held ? { dev: this.held.dev, ino: this.held.ino } : null;
  }

  /** Closes the kept descriptor (one in use closes when its fsync ends); later fsyncs keep nothing. */
  close(): void {
    this.closed = true;
    this.drop();
  }

  private drop(): void {
    const h = this.held;
    if (!h) return;
    this.held = null;
    h.retired = true;
    if (h.users === 0) closeQuiet(h.fd);
  }

  private syncHeld(h: Held, cb: (err: NodeJS.ErrnoException | null) => void): void {
    h.users++;
    fsync(h.fd, (e) => {
      h.users--;
      if (e && this.held === h) this.drop(); // a failed flush: the next one from a fresh descriptor
      else if (h.retired && h.users === 0) closeQuiet(h.fd);
      cb(e);
    });
  }
}

function closeQuiet(fd: number): void {
  try { closeSync(fd); } catch { /* nothing to do: closing after a completed fsync loses no data */ }
}

/**
 * Group fsync: every `request()` is served by an fsync that starts after it was made; requests
 * made while one runs share the next one. One fsync in flight at a time, so a burst of commits
 * costs two flushes, not one each. `idle()` resolves once everything requested so far is flushed
 * (an error included: callers that must know use the promise of their own request).
 */
export class GroupFsync {
  private running: Promise<void> | null = null;
  private waiting: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private last: Promise<void> = Promise.resolve();

  /** `sync` flushes once and calls back (a KeptDescriptor's fsync, or a test's stand-in). */
  constructor(private readonly sync: (cb: (err: NodeJS.ErrnoException | null) => void) => void) {}

  request(): Promise<void> {
    const p = new Promise<void>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.last = p.catch(() => undefined);
    this.kick();
    return p;
  }

  /** Resolves when every request made so far has been served. */
  idle(): Promise<void> {
    return this.last;
  }

  /** True while a request waits or its fsync runs. */
  get busy(): boolean {
    return this.running !== null || this.waiting.length > 0;
  }

  private kick(): void {
    if (this.running || this.waiting.length === 0) return;
    const group = this.waiting;
    this.waiting = [];
    this.running = new Promise<void>((done) => {
      this.sync((err) => {
        for (const w of group) {
          if (err) w.reject(err);
          else w.resolve();
        }
        done();
      });
    }).then(() => {
      this.running = null;
      this.kick();
    });
  }
}
