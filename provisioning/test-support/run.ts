/** Test helpers: run the CLI in-process or as a real process, snapshot a state directory, a hub nats-server. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { main } from '../cli.ts';
import { natsServerBin } from '../reload.ts';
import { nodeCommand, TS_IMPORT } from '../../test/helpers/node-child.ts';

export const ROOT = resolve(import.meta.dirname, '../..');

export interface Run { code: number; out: string; err: string }

/** The CLI in this process (fast: modules load once). */
export async function cli(...argv: string[]): Promise<Run> {
  let out = '';
  let err = '';
  const code = await main(argv, { out: (s) => { out += s; }, err: (s) => { err += s; } });
  return { code, out, err };
}

/** The CLI as the operator runs it (`node --import tsx provisioning/cli.ts ...`; here through the tests' loader, the same transform). */
export function cliProcess(...argv: string[]): Run {
  const cmd = nodeCommand([...TS_IMPORT, 'provisioning/cli.ts', ...argv]);
  const r = spawnSync(cmd.file, cmd.args, { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

export function tempState(prefix = 'provision-test-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every file under dir: path -> content, mode and mtime (to prove nothing was rewritten). */
export function snapshot(dir: string): Map<string, { content: string; mode: number; mtimeMs: number }> {
  const m = new Map<string, { content: string; mode: number; mtimeMs: number }>();
  const visit = (p: string) => {
    if (!existsSync(p)) return;
    const st = statSync(p);
    if (st.isDirectory()) for (const f of readdirSync(p).sort()) visit(join(p, f));
    else m.set(relative(dir, p), { content: readFileSync(p, 'utf8'), mode: st.mode & 0o777, mtimeMs: st.mtimeMs });
  };
  visit(dir);
  return m;
}

export const uniq = (p: string) => `${p}-${process.pid.toString(36)}${Math.floor(Math.random() * 1e4).toString(36)}`.slice(0, 32);

export interface Hub extends AsyncDisposable { url: string; pid: number; log(): string }

/** nats-server started from the generated hub.conf (listen 127.0.0.1:-1, port read from the ports file). */
export async function startHub(confFile: string): Promise<Hub> {
  const bin = natsServerBin();
  if (!bin) throw new Error('nats-server not installed');
  const dir = mkdtempSync(join(tmpdir(), 'provision-hub-'));
  const portsDir = join(dir, 'ports');
  mkdirSync(portsDir);
  const logFile = join(dir, 'hub.log');
  const child: ChildProcess = spawn(bin, ['-c', confFile, '--ports_file_dir', portsDir, '-l', logFile], { stdio: 'ignore' });
  let exited = false;
  const gone = new Promise<void>((res) => child.once('exit', () => { exited = true; res(); }));
  const log = () => { try { return readFileSync(logFile, 'utf8'); } catch { return ''; } };
  let url = '';
  for (const deadline = Date.now() + 10_000; !url; await sleep(25)) {
    if (exited) throw new Error(`nats-server exited: ${log()}`);
    if (Date.now() > deadline) { child.kill('SIGKILL'); throw new Error(`no ports file: ${log()}`); }
    for (const f of existsSync(portsDir) ? readdirSync(portsDir) : []) {
      try { url = (JSON.parse(readFileSync(join(portsDir, f), 'utf8')) as { nats: string[] }).nats[0] ?? ''; } catch { /* partial */ }
    }
  }
  return {
    url, pid: child.pid!, log,
    async [Symbol.asyncDispose]() {
      if (!exited) { child.kill('SIGKILL'); await gone; }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
