/** A pseudo-terminal pair from `socat` for serial-port tests; cleaned up on dispose. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface PtyPair extends AsyncDisposable {
  a: string;
  b: string;
  close(): Promise<void>;
}

export async function ptyPair(): Promise<PtyPair> {
  const dir = mkdtempSync(join(tmpdir(), 'dd-pty-'));
  const a = join(dir, 'a');
  const b = join(dir, 'b');
  const child = spawn('socat', [`pty,raw,echo=0,link=${a}`, `pty,raw,echo=0,link=${b}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  for (let i = 0; i < 200 && !(existsSync(a) && existsSync(b)); i++) {
    if (child.exitCode !== null) throw new Error(`socat exited: ${err}`);
    await sleep(20);
  }
  if (!(existsSync(a) && existsSync(b))) throw new Error(`socat did not create the pty pair: ${err}`);
  const close = async () => {
    if (child.exitCode === null) { child.kill('SIGTERM'); await exited; }
    rmSync(dir, { recursive: true, force: true });
  };
  return { a, b, close, [Symbol.asyncDispose]: close };
}
