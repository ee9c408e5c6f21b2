/** Durable file publication: write a temp file in the target dir, fsync, rename, fsync the dir. */
import { KeptDescriptor } from '../../contracts/runtime/kept-fd.ts';
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

/** Study directories' kept descriptors (contracts/runtime/kept-fd.ts), least recently used first. */
const dirHandles = new Map<string, KeptDescriptor>();
/** A clinic receives into a few studies at a time; each entry holds one descriptor. */
const MAX_DIR_HANDLES = 32;

/**
 * fsync of a directory through a descriptor kept open between calls: one thread-pool round trip
 * instead of three for each instance stored in a study; a study directory removed and created
 * again (a purge) gets a new descriptor (KeptDescriptor checks device + inode before each fsync).
 */
function syncDirHandle(dir: string): Promise<void> {
  let h = dirHandles.get(dir);
  if (h) dirHandles.delete(dir); // most recently used goes last
  else h = new KeptDescriptor(dir);
  dirHandles.set(dir, h);
  for (const [d, old] of dirHandles) {
    if (dirHandles.size <= MAX_DIR_HANDLES) break;
    dirHandles.delete(d);
    old.close();
  }
  return h.fsyncAsync();
}

/** Closes the directory descriptors kept for flushes under `root` (those in use close when their fsync ends). */
export function releaseDirHandles(root: string): void {
  const r = normalize(root); // keys are join()ed paths, normalised the same way
  const prefix = r.endsWith(sep) ? r : r + sep;
  for (const [d, h] of dirHandles) if (d === r || d.startsWith(prefix)) { dirHandles.delete(d); h.close(); }
}

/** The kept descriptor's directory identity for `dir` (tests). */
export function dirHandleIdentity(dir: string): { dev: number; ino: number } | null {
  return dirHandles.get(dir)?.identity() ?? null;
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
