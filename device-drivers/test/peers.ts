/** Real protocol peers for tests (Debian's pymodbus), on free loopback ports, cleaned up on stop. */
import { spawn, type ChildProcess } from 'node:child_process';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../simulators/free-port.ts';

export const PYTHON = '/usr/bin/python3';
const HERE = dirname(fileURLToPath(import.meta.url));

export interface Peer extends AsyncDisposable {
  port: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

async function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

function stopper(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((r) => { if (child.exitCode !== null) r(); else child.once('exit', () => r()); });
  return async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    const t = setTimeout(() => child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  };
}

/** pymodbus TCP server with the given holding/input register values. */
export async function startPymodbusTcp(o: { hr?: number[]; ir?: number[]; unit?: number } = {}): Promise<Peer> {
  const port = await freePort();
  const args = [join(HERE, 'pymodbus_server.py'), '--port', String(port), '--unit', String(o.unit ?? 1)];
  if (o.hr) args.push('--hr', o.hr.join(','));
  if (o.ir) args.push('--ir', o.ir.join(','));
  const child = spawn(PYTHON, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const stop = stopper(child);
  for (let i = 0; i < 300; i++) {
    if (child.exitCode !== null) throw new Error(`pymodbus server exited: ${err}`);
    if (await canConnect(port)) return { port, child, stop, [Symbol.asyncDispose]: stop };
    await sleep(30);
  }
  await stop();
  throw new Error(`pymodbus server did not listen on ${port}: ${err}`);
}

/** pymodbus RTU server on a serial device (one end of a pty pair). */
export async function startPymodbusRtu(path: string, o: { hr?: number[]; ir?: number[]; unit?: number } = {}): Promise<Peer> {
  const args = [join(HERE, 'pymodbus_server.py'), '--serial', path, '--unit', String(o.unit ?? 1)];
  if (o.hr) args.push('--hr', o.hr.join(','));
  if (o.ir) args.push('--ir', o.ir.join(','));
  const child = spawn(PYTHON, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const stop = stopper(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.once('data', () => resolve());
    child.once('exit', (c) => reject(new Error(`pymodbus RTU server exited with ${c}`)));
  });
  await sleep(400); // it opens the port after printing
  return { port: 0, child, stop, [Symbol.asyncDispose]: stop };
}
