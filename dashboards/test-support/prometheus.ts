/**
 * Starts a real Prometheus (Debian package) for tests on an OS-chosen loopback port with
 * a temp config and TSDB; retries with a new port if the chosen one was taken meanwhile.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

export async function freeTcpPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

export interface PrometheusHandle extends AsyncDisposable {
  url: string;
  dir: string;
  query(expr: string): Promise<{ status: string; error?: string; data?: { resultType: string; result: unknown[] } }>;
  stop(): Promise<void>;
  log(): string;
}

/** `config` is the prometheus.yml body; write rule files into `dir` via `files` first. */
export async function startPrometheus(config: (dir: string) => string, files: Record<string, string> = {}): Promise<PrometheusHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'prom-test-'));
  for (const [name, body] of Object.entries(files)) writeFileSync(join(dir, name), body);
  writeFileSync(join(dir, 'prometheus.yml'), config(dir));
  let child: ChildProcess | undefined;
  let out = '';
  let url = '';
  for (let attempt = 0; attempt < 5 && !url; attempt++) {
    const port = await freeTcpPort();
    const c = spawn('prometheus', [
      `--config.file=${join(dir, 'prometheus.yml')}`, `--web.listen-address=127.0.0.1:${port}`,
      `--storage.tsdb.path=${join(dir, 'data')}`, '--log.level=warn', '--web.enable-lifecycle',
    ], { stdio: ['ignore', 'pipe', 'pipe'] });
    c.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    c.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
    child = c;
    const deadline = Date.now() + 120_000; // a generous bound on a loaded machine, not a speed check
    while (Date.now() < deadline && c.exitCode === null) {
      try {
        if ((await fetch(`http://127.0.0.1:${port}/-/ready`)).ok) { url = `http://127.0.0.1:${port}`; break; }
      } catch { /* not yet listening */ }
      await sleep(100);
    }
    if (!url) c.kill('SIGKILL');
  }
  if (!url || !child) throw new Error(`prometheus did not become ready\n${out}`);
  const c = child;
  const exited = new Promise<void>((r) => (c.exitCode !== null ? r() : c.once('exit', () => r())));
  const handle: PrometheusHandle = {
    url, dir,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query`, { method: 'POST', body: new URLSearchParams({ query: expr }) });
      return (await res.json()) as Awaited<ReturnType<PrometheusHandle['query']>>;
    },
    async stop() {
      if (c.exitCode !== null) return;
      c.kill('SIGTERM');
      const t = setTimeout(() => c.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(t);
    },
    log: () => out,
    async [Symbol.asyncDispose]() {
      await handle.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return handle;
}
