/** Tells a running hub nats-server to re-read its config (`nats-server --signal reload=<pid>`, else SIGHUP). */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { InputError } from './errors.ts';
import { pid as parsePid } from './input.ts';

export function natsServerBin(): string | null {
  for (const p of [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (p && existsSync(p)) return p;
  }
  return null;
}

export function resolvePid(opts: { natsPid?: string; natsPidFile?: string }): number | undefined {
  if (opts.natsPid !== undefined) return parsePid(opts.natsPid, '--nats-pid');
  if (opts.natsPidFile !== undefined) {
    let text: string;
    try {
      text = readFileSync(opts.natsPidFile, 'utf8');
    } catch {
      throw new InputError(`--nats-pid-file ${JSON.stringify(opts.natsPidFile)}`, 'cannot read the file');
    }
    return parsePid(text, `--nats-pid-file ${JSON.stringify(opts.natsPidFile)}`);
  }
  return undefined;
}

/** Checks the process exists before anything is written, so a typo does not leave a half-applied enrolment. */
export function checkPidAlive(pid: number): void {
  try {
    process.kill(pid, 0);
  } catch {
    throw new InputError('--nats-pid', `no running process ${pid}`);
  }
}

export function reloadHub(pid: number): string {
  const bin = natsServerBin();
  if (bin) {
    const r = spawnSync(bin, ['--signal', `reload=${pid}`], { encoding: 'utf8' });
    if (r.status === 0) return `hub reloaded (nats-server --signal reload=${pid})`;
  }
  process.kill(pid, 'SIGHUP');
  return `hub reloaded (SIGHUP to ${pid})`;
}
