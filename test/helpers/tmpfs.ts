/**
 * A small file system of its own (tmpfs of a given size) for tests of a full disk: the kernel
 * answers ENOSPC when it is full and statfs reports its real free space, as a clinic appliance's
 * data disk would. Needs root (CI and these machines run tests as root); elsewhere `mountTmpfs`
 * answers why not, and the test skips with that reason.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Tmpfs extends Disposable {
  dir: string;
  /** Unmounts (lazily, so an open descriptor cannot keep it) and removes the mount point. */
  close(): void;
}

export function mountTmpfs(prefix: string, sizeBytes: number): Tmpfs | { skip: string } {
  if (process.getuid?.() !== 0) return { skip: 'mounting a tmpfs needs root' };
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes},mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (e) {
    rmSync(dir, { recursive: true, force: true });
    return { skip: `cannot mount a tmpfs here: ${String((e as { stderr?: Buffer }).stderr ?? (e as Error).message).trim()}` };
  }
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  };
  return { dir, close, [Symbol.dispose]: close };
}

let probed: string | false | undefined;
/** Why no tmpfs can be mounted here (for `t.test(name, { skip: tmpfsUnavailable() }, …)`), or false. */
export function tmpfsUnavailable(): string | false {
  if (probed === undefined) {
    const fs = mountTmpfs('tmpfs-probe', 64 * 1024);
    if ('skip' in fs) probed = fs.skip;
    else {
      fs.close();
      probed = false;
    }
  }
  return probed;
}
