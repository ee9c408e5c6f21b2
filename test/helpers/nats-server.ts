/**
 * Starts a real `nats-server -js` for tests on OS-chosen loopback ports with a temp store.
 * Modelled on nats.js `nst/src/launcher.ts`: write a config with `port: -1`, wait for the
 * ports file while racing an early exit. The server can be stopped, killed and restarted
 * on the same port and store (fault tests), or have its store wiped (broker data loss).
 *
 *   await using ns = await startNatsServer();
 *   const nc = await connect({ servers: ns.url });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export interface NatsServerOptions {
  /** Extra config text appended to the generated config (users, permissions, ...). */
  extraConfig?: string;
  /** Full config body instead of the generated defaults (port/store/ports-file are still set). */
  configBody?: string;
  maxPayload?: number;
}

export interface NatsServerHandle extends AsyncDisposable {
  url: string;
  port: number;
  storeDir: string;
  dir: string;
  pid(): number | undefined;
  /** SIGTERM and wait for exit (lame duck is skipped). */
  stop(): Promise<void>;
  /** SIGKILL: no flush of the JetStream store. */
  kill(): Promise<void>;
  /** Start again on the same port and store. */
  restart(): Promise<void>;
  /** Delete the JetStream store (server must be stopped). */
  wipeStore(): void;
  log(): string;
}

export function natsServerBinary(): string {
  for (const p of [process.env.NATS_SERVER_BIN, '/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']) {
    if (p && existsSync(p)) return p;
  }
  throw new Error('nats-server not found: install it with `apt-get install -y nats-server` (scripts/ensure-system.sh does this)');
}

export async function startNatsServer(opts: NatsServerOptions = {}): Promise<NatsServerHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'nats-test-'));
  const storeDir = join(dir, 'js');
  const portsDir = join(dir, 'ports');
  const logFile = join(dir, 'server.log');
  let port = -1;
  let child: ChildProcess | undefined;
  let exited: Promise<void> = Promise.resolve();

  const writeConfig = () => {
    const body = opts.configBody ?? '';
    const conf = `listen: "127.0.0.1:${port}"
http: "127.0.0.1:-1"
ports_file_dir: "${portsDir}"
max_payload: ${opts.maxPayload ?? 8 * 1024 * 1024}
jetstream { store_dir: "${storeDir}", max_memory_store: 256MB, max_file_store: 4GB }
log_file: "${logFile}"
${body}
${opts.extraConfig ?? ''}
`;
    writeFileSync(join(dir, 'server.conf'), conf);
  };

  const launch = async () => {
    rmSync(portsDir, { recursive: true, force: true });
    mkdirSync(portsDir, { recursive: true });
    writeConfig();
    const c = spawn(natsServerBinary(), ['-c', join(dir, 'server.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => { stderr += d.toString(); });
    let exitCode: number | null | undefined;
    exited = new Promise((resolve) => c.once('exit', (code) => { exitCode = code; resolve(); }));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (exitCode !== undefined) throw new Error(`nats-server exited with ${exitCode} before it was ready: ${stderr}\n${safeRead(logFile)}`);
      const ports = readPorts(portsDir);
      if (ports) {
        port = ports;
        break;
      }
      if (Date.now() > deadline) {
        c.kill('SIGKILL');
        throw new Error(`nats-server did not write its ports file in 15 s\n${safeRead(logFile)}`);
      }
      await sleep(25);
    }
    // The ports file appears once the client listener is up; JetStream is ready shortly after.
    await waitTcp(port);
  };

  await launch();

  const handle: NatsServerHandle = {
    get url() { return `nats://127.0.0.1:${port}`; },
    get port() { return port; },
    storeDir,
    dir,
    pid: () => child?.pid,
    async stop() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const c = child;
      c.kill('SIGTERM');
      const timer = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    async kill() {
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await handle.stop();
      await launch();
    },
    wipeStore() {
      if (child && child.exitCode === null && child.signalCode === null) throw new Error('stop the server before wiping its store');
      rmSync(storeDir, { recursive: true, force: true });
    },
    log: () => safeRead(logFile),
    async [Symbol.asyncDispose]() {
      await handle.kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}

function readPorts(dir: string): number | null {
  if (!existsSync(dir)) return null;
  for (const f of readdirSync(dir)) {
    if (!f.endsWith('.ports')) continue;
    try {
      const j = JSON.parse(readFileSync(join(dir, f), 'utf8')) as { nats?: string[] };
      const u = j.nats?.[0];
      if (u) return Number(new URL(u).port);
    } catch {
      // partially written: try again
    }
  }
  return null;
}

async function waitTcp(port: number): Promise<void> {
  const { connect } = await import('node:net');
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(25);
  }
  throw new Error(`nats-server port ${port} not accepting connections`);
}

function safeRead(f: string): string {
  try { return readFileSync(f, 'utf8'); } catch { return ''; }
}
