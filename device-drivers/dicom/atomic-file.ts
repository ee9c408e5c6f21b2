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

/** Renames a fully written and fsynced temp file over `finalPath` and makes the rename durable. */
export async function publish(tempPath: string, finalPath: string): Promise<void> {
  await rename(tempPath, finalPath);
  await fsyncDir(dirname(finalPath));
}

export async function unlinkQuiet(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch {
    // already gone
  }
}
