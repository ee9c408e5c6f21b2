/** Durable file publication: write a temp file in the target dir, fsync, rename, fsync the dir. */
import { closeSync, fstatSync, fsync, open as openCb, statSync } from 'node:fs';
import { open, rename, unlink, mkdir } from 'node:fs/promises';
import { dirname, normalize, sep } from 'node:path';

export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** mkdir -p, then fsync the parent of every directory it created so the entry survives power loss. */
export async function mkdirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (!first) return;
  // `first` is the top-most directory created; sync its parent and each new level.
  let d = dir;
  const toSync: string[] = [];
  while (d.length >= first.length) {
    toSync.push(dirname(d));
    d = dirname(d);
  }
  for (const p of toSync.reverse()) await fsyncDir(p);
}

/** An open directory kept for its flushes (see `syncDirHandle`). */
interface DirHandle {
  fd: number;
  dev: number;
  ino: number;
  /** fsyncs in flight on this descriptor: it is closed only once none is. */
  users: number;
  retired: boolean;
}

/** Open study directories, least recently used first. */
const dirHandles = new Map<string, DirHandle>();
/** A clinic receives into a few studies at a time; each entry holds one descriptor. */
const MAX_DIR_HANDLES = 32;

function retire(dir: string, h: DirHandle): void {
  if (dirHandles.get(dir) === h) dirHandles.delete(dir);
  h.retired = true;
  if (h.users === 0) closeQuietSync(h.fd);
}

function closeQuietSync(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // nothing to do: a directory descriptor holds no data
  }
}

/** The directory at `path` now (dev, ino), or null if there is none. */
function statNow(path: string): { dev: number; ino: number } | null {
  try {
    return statSync(path);
  } catch {
    return null;
  }
}

/**
 * fsync of a directory through a descriptor kept open between calls: one thread-pool round trip
 * instead of three (open, fsync, close) for each instance stored in a study. The descriptor is used
 * only while it still names the directory at `dir` (same device and inode, checked synchronously:
 * a stat of a path just renamed into is a dentry-cache lookup); a study directory removed and
 * created again (a purge) gets a new one. An inode cannot be reused while we hold it open.
 */
async function syncDirHandle(dir: string): Promise<void> {
  let h = dirHandles.get(dir);
  if (h) {
    const now = statNow(dir);
    if (!now || now.dev !== h.dev || now.ino !== h.ino) {
      retire(dir, h);
      h = undefined;
    } else {
      dirHandles.delete(dir); // most recently used goes last
      dirHandles.set(dir, h);
    }
  }
  if (!h) {
    const fd = await new Promise<number>((resolve, reject) => openCb(dir, 'r', (e, n) => (e ? reject(e) : resolve(n))));
    let st: { dev: number; ino: number };
    try {
      st = fstatSync(fd);
    } catch (e) {
      closeQuietSync(fd);
      throw e;
    }
    h = { fd, dev: st.dev, ino: st.ino, users: 0, retired: false };
    const other = dirHandles.get(dir); // opened by a concurrent caller meanwhile
    if (other) retire(dir, other);
    dirHandles.set(dir, h);
    for (const [d, old] of dirHandles) {
      if (dirHandles.size <= MAX_DIR_HANDLES) break;
      retire(d, old);
    }
  }
  const handle = h;
  handle.users++;
  try {
    await new Promise<void>((resolve, reject) => fsync(handle.fd, (e) => (e ? reject(e) : resolve())));
  } catch (e) {
    retire(dir, handle); // a failed flush: next time from a fresh descriptor
    throw e;
  } finally {
    handle.users--;
    if (handle.retired && handle.users === 0) closeQuietSync(handle.fd);
  }
}

/** Closes the directory descriptors kept for flushes under `root` (those in use close when their fsync ends). */
export function releaseDirHandles(root: string): void {
  const r = normalize(root); // keys are join()ed paths, normalised the same way
  const prefix = r.endsWith(sep) ? r : r + sep;
  for (const [d, h] of dirHandles) if (d === r || d.startsWith(prefix)) retire(d, h);
}

/** The kept descriptor's directory identity for `dir` (tests). */
export function dirHandleIdentity(dir: string): { dev: number; ino: number } | null {
  const h = dirHandles.get(dir);
  return h ? { dev: h.dev, ino: h.ino } : null;
}

interface DirSync {
  running: Promise<void> | null;
  next: Promise<void> | null;
}
const dirSyncs = new Map<string, DirSync>();

/**
 * Group commit for directory fsyncs: a caller whose rename happened before an fsync of the
 * same directory *started* can share it. Callers arriving while one runs share the next
 * one, which starts when the running one ends. Concurrent associations writing the same
 * study then pay one directory flush instead of one each.
 */
export function fsyncDirShared(dir: string): Promise<void> {
  let s = dirSyncs.get(dir);
  if (!s) {
    s = { running: null, next: null };
    dirSyncs.set(dir, s);
  }
  const st = s;
  const start = (): Promise<void> => {
    const p = syncDirHandle(dir).finally(() => {
      st.running = null;
      if (st.next) return;
      if (dirSyncs.get(dir) === st) dirSyncs.delete(dir);
    });
    st.running = p;
    return p;
  };
  if (!st.running) return start();
  st.next ??= st.running.catch(() => {}).then(() => {
    st.next = null;
    return start();
  });
  return st.next;
}

/** Renames a fully written and fsynced temp file over `finalPath` and makes the rename durable. */
export async function publish(tempPath: string, finalPath: string): Promise<void> {
  await rename(tempPath, finalPath);
  await fsyncDirShared(dirname(finalPath));
}

export async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // already gone
  }
}
