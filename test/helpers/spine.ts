/**
 * Builders for spine tests: central and edge agents in this process or as child processes
 * (for kill -9), each with its own temp directory and names.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import { pino } from 'pino';
// Central and the edge agent are loaded when a test first starts one (each costs 1.5-2 CPU-s to
// load through tsx): many files use only one of them, or only tempDir and ROOT.
import type { Central } from '../../central/app.ts';
import type { EdgeAgent } from '../../edge-agent/agent.ts';
import { nodeCommand, TS_IMPORT } from './node-child.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const quietLog = () => pino({ level: process.env.TEST_LOG_LEVEL ?? 'silent' });

export function tempDir(prefix: string): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

export const testToken = () => randomBytes(16).toString('hex');

export async function centralInProcess(natsUrl: string, dataDir: string, extra: Record<string, unknown> = {}): Promise<Central> {
  const [{ startCentral }, { loadCentralConfig }] = await Promise.all([import('../../central/app.ts'), import('../../central/config.ts')]);
  return startCentral(loadCentralConfig({ dataDir, natsUrl, apiToken: 'test-token-0123456789', ...extra }, {}), quietLog());
}

export async function edgeInProcess(natsUrl: string, clinicId: string, dataDir: string, extra: Record<string, unknown> = {}): Promise<EdgeAgent> {
  const [{ startEdgeAgent }, { loadEdgeConfig }] = await Promise.all([import('../../edge-agent/agent.ts'), import('../../edge-agent/config.ts')]);
  return startEdgeAgent(loadEdgeConfig({ clinicId, dataDir, natsUrl, heartbeatMs: 500, resendAfterMs: 3000, ...extra }, {}), quietLog());
}

export interface ChildHandle {
  proc: ChildProcess;
  url: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
  output(): string;
}

/** Spawn `node <entry>` (TypeScript through the tests' loader) with env; resolves when it prints its `{"ready":true}` line. */
/** `nodeArgs`: extra node options before the entry (e.g. `--cpu-prof`, which NODE_OPTIONS does not take). */
export async function spawnProcess(entry: string, env: Record<string, string>, nodeArgs: string[] = []): Promise<ChildHandle> {
  const cmd = nodeCommand([...nodeArgs, ...TS_IMPORT, join(ROOT, entry)]);
  const proc = spawn(cmd.file, cmd.args, {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'warn', EXIT_WITH_PARENT_PID: String(process.pid), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  proc.stderr!.on('data', (d: Buffer) => { out += d.toString(); if (out.length > 200_000) out = out.slice(-100_000); });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const url = await new Promise<string>((resolveUrl, reject) => {
    const rl = createInterface({ input: proc.stdout! });
    // A liveness bound, not a speed check: generous, because a loaded CI machine can take long.
    // A child that never became ready is killed, so it cannot outlive the test.
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`${entry} not ready in 120 s:\n${out}`));
    }, 120_000);
    rl.on('line', (line) => {
      out += line + '\n';
      if (line.startsWith('{"ready":true')) {
        clearTimeout(timer);
        resolveUrl((JSON.parse(line) as { url: string }).url);
      }
    });
    proc.once('exit', (code) => { clearTimeout(timer); reject(new Error(`${entry} exited with ${code} before ready:\n${out}`)); });
  });
  return {
    proc,
    url,
    async kill(signal: NodeJS.Signals = 'SIGKILL') {
      if (proc.exitCode !== null || proc.signalCode !== null) return;
      proc.kill(signal);
      await exited;
    },
    output: () => out,
  };
}

export function centralEnv(natsUrl: string, dataDir: string): Record<string, string> {
  return { CENTRAL_DATA_DIR: dataDir, CENTRAL_NATS_URL: natsUrl, CENTRAL_API_TOKEN: 'test-token-0123456789' };
}

export function edgeEnv(natsUrl: string, clinicId: string, dataDir: string, extra: Record<string, string> = {}): Record<string, string> {
  return { EDGE_CLINIC_ID: clinicId, EDGE_DATA_DIR: dataDir, EDGE_NATS_URL: natsUrl, EDGE_HEARTBEAT_MS: '500', EDGE_RESEND_AFTER_MS: '3000', ...extra };
}

/** A unique clinic id per test (isolation by names, not by cleaning up). */
export function clinicName(tag: string): string {
  return `${tag}-${randomBytes(3).toString('hex')}`.toLowerCase();
}
