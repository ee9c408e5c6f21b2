/** Durable file publication: write a temp file in the target dir, fsync, rename, fsync the dir. */
import { open, rename, unlink, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

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
    const p = fsyncDir(dir).finally(() => {
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
