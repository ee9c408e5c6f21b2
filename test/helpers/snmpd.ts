/**
 * Starts a real Debian `snmpd` for tests on an OS-chosen loopback UDP port, with a v2c
 * read-only community and a v3 authPriv user (SHA + AES), persistent state in a temp dir.
 * Same shape as nats-server.ts: spawn, wait until it answers, stop/restart, dispose.
 *
 *   await using agent = await startSnmpd();
 *   // agent.port, agent.community, agent.v3 = { user, authKey, privKey }
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface SnmpdOptions {
  community?: string;
  user?: string;
  authKey?: string;
  privKey?: string;
  sysName?: string;
  /** Extra snmpd.conf lines. */
  extraConfig?: string;
}

export interface SnmpdHandle extends AsyncDisposable {
  port: number;
  host: string;
  community: string;
  v3: { user: string; authKey: string; privKey: string };
  dir: string;
  /** Environment for the Debian snmp tools (snmpget, snmptrap): temp persistent dir, no MIBs. */
  toolEnv: NodeJS.ProcessEnv;
  pid(): number | undefined;
  running(): boolean;
  stop(): Promise<void>;
  /** Start again on the same port (sysUpTime restarts from 0). */
  restart(): Promise<void>;
  log(): string;
}

export function snmpdBinary(): string {
  for (const p of [process.env.SNMPD_BIN, '/usr/sbin/snmpd', '/usr/bin/snmpd']) {
    if (p && existsSync(p)) return p;
  }
  throw new Error('snmpd not found: install it with `apt-get install -y snmpd snmp`');
}

/** A free loopback UDP port: bind to 0, read it, close. The caller retries on conflict. */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve, reject) => {
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => resolve());
  });
  const { port } = s.address();
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export async function startSnmpd(opts: SnmpdOptions = {}): Promise<SnmpdHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'snmpd-test-'));
  const community = opts.community ?? 'public-ro';
  const v3 = { user: opts.user ?? 'netmon', authKey: opts.authKey ?? 'auth-pass-123', privKey: opts.privKey ?? 'priv-pass-123' };
  const host = '127.0.0.1';
  let port = 0;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();
  let output = '';
  const env = { ...process.env, SNMP_PERSISTENT_DIR: dir, MIBS: '', MIBDIRS: '/dev/null' };

  const launch = async (fixedPort?: number): Promise<boolean> => {
    port = fixedPort ?? (await freeUdpPort());
    const conf = join(dir, 'snmpd.conf');
    writeFileSync(conf, `agentAddress udp:${host}:${port}
rocommunity ${community} 127.0.0.1
createUser ${v3.user} SHA "${v3.authKey}" AES "${v3.privKey}"
rouser ${v3.user} priv
sysName ${opts.sysName ?? 'test-agent'}
sysLocation test-lab
sysContact netops@example.invalid
${opts.extraConfig ?? ''}
`);
    const c = spawn(snmpdBinary(), ['-f', '-C', '-c', conf, '-m', '', '-M', '/dev/null', '-Lo', `-p`, join(dir, 'snmpd.pid')], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    let exitCode: number | null | undefined;
    exited = new Promise((resolve) => c.once('exit', (code) => { exitCode = code ?? -1; resolve(); }));
    c.stdout?.on('data', (d: Buffer) => { output += d.toString(); });
    c.stderr?.on('data', (d: Buffer) => { output += d.toString(); });
    const deadline = Date.now() + 120_000; // a generous bound on a loaded machine, not a speed check
    while (Date.now() < deadline) {
      if (exitCode !== undefined) return false;
      if (await answers(host, port, community, env)) return true;
      await sleep(50);
    }
    c.kill('SIGKILL');
    throw new Error(`snmpd did not answer on ${host}:${port} in 120 s\n${output}`);
  };

  let ok = false;
  for (let attempt = 0; attempt < 5 && !ok; attempt++) ok = await launch();
  if (!ok) throw new Error(`snmpd failed to start after 5 attempts\n${output}`);

  const handle: SnmpdHandle = {
    get port() { return port; },
    host,
    community,
    v3,
    dir,
    toolEnv: env,
    pid: () => child?.pid,
    running: () => !!child && child.exitCode === null && child.signalCode === null,
    async stop() {
      if (!handle.running() || !child) return;
      const c = child;
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    async restart() {
      await handle.stop();
      // The port may be briefly taken by someone else: retry a few times on the same port.
      for (let i = 0; i < 20; i++) {
        if (await launch(port)) return;
        await sleep(100);
      }
      throw new Error(`snmpd could not restart on port ${port}\n${output}`);
    },
    log: () => output,
    async [Symbol.asyncDispose]() {
      await handle.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

/** One v2c GET of sysUpTime with the Debian `snmpget`, 300 ms timeout, no retry. */
function answers(host: string, port: number, community: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  return new Promise((resolve) => {
    execFile('snmpget', ['-v', '2c', '-c', community, '-t', '0.3', '-r', '0', '-m', '', '-M', '/dev/null', `${host}:${port}`, '1.3.6.1.2.1.1.3.0'], { env }, (err) => resolve(!err));
  });
}
