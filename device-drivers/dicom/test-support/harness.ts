/** Test harness: an SCP on an OS-chosen loopback port with a temp store, and dcmtk runners. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDicomScp, type DicomScpServer } from '../server.ts';
import type { DicomScpOptions } from '../config.ts';
import type { DicomDevice, InstanceMeta } from '../types.ts';

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function run(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; timeoutMs?: number; cwd?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { env: { ...process.env, ...opts.env }, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    c.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => c.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    c.on('error', reject);
    c.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

export function tempDir(prefix: string): { dir: string; [Symbol.dispose](): void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, [Symbol.dispose]: () => rmSync(dir, { recursive: true, force: true }) };
}

export const MODALITY_AE = 'US_ROOM1';
export const SCP_AE = 'EDGE_SCP';

export function device(over: Partial<DicomDevice> = {}): DicomDevice {
  return { aeTitle: MODALITY_AE, host: '127.0.0.1', port: 104, modality: 'US', room: 'B超室', enabled: true, ...over };
}

export interface TestScp {
  server: DicomScpServer;
  dir: string;
  stored: InstanceMeta[];
  close(): Promise<void>;
}

/** Starts an SCP knowing `devices` (by AE title); collects onInstance metas. */
export async function startTestScp(devices: DicomDevice[] = [device()], over: Partial<DicomScpOptions> = {}): Promise<TestScp> {
  const dir = mkdtempSync(join(tmpdir(), 'dicom-scp-'));
  const stored: InstanceMeta[] = [];
  const server = await startDicomScp({
    aeTitle: SCP_AE,
    host: '127.0.0.1',
    port: 0,
    storageDir: join(dir, 'store'),
    lookupDevice: (ae) => devices.find((d) => d.aeTitle === ae) ?? null,
    onInstance: async (m) => {
      stored.push(m);
    },
    ...over,
  });
  return {
    server,
    dir,
    stored,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** storescu to the test SCP with TCP no-delay. */
export function storescu(scp: DicomScpServer, files: string[], extra: string[] = [], callingAe = MODALITY_AE): Promise<RunResult> {
  return run('storescu', ['-aet', callingAe, '-aec', scp.aeTitle, ...extra, '127.0.0.1', String(scp.port), ...files], { env: { TCP_NODELAY: '1' } });
}
