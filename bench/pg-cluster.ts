/**
 * A dedicated PostgreSQL 15 cluster for a benchmark: Debian's initdb + postgres in a temporary
 * directory, listening on a loopback port the OS chose, with the settings a production deployment
 * of central would use on this machine (24 GiB RAM, SSD, 2 cores) instead of the packaged defaults
 * (shared_buffers 128 MB, random_page_cost 4). Durability settings stay as shipped: fsync on,
 * synchronous_commit on, full_page_writes on — only memory, planner costs and checkpoint spacing change.
 *
 *   const pgc = await startPgCluster();          // pgc.url: postgres://postgres@127.0.0.1:<port>/postgres
 *   const url = await pgc.createDatabase('fhirbench');
 *   await pgc.stop();                            // stops the server and removes the directory
 *
 * As root (initdb refuses to run as root) the cluster is created and run as the `postgres` user.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

const BIN = process.env.PG_BIN ?? '/usr/lib/postgresql/15/bin';

/** Production-style settings for a 24 GiB machine with SSD storage (see bench/README.md). */
export const PRODUCTION_SETTINGS: Record<string, string> = {
  shared_buffers: '6GB', // ~25% of RAM
  effective_cache_size: '16GB', // shared_buffers + the OS page cache the planner may count on
  work_mem: '16MB',
  maintenance_work_mem: '1GB',
  random_page_cost: '1.1', // SSD
  effective_io_concurrency: '200',
  wal_buffers: '16MB',
  max_wal_size: '8GB',
  min_wal_size: '1GB',
  checkpoint_timeout: '15min',
  checkpoint_completion_target: '0.9',
  max_connections: '200',
  jit: 'off', // short OLTP queries: compiling costs more than it saves
  huge_pages: 'try',
  shared_preload_libraries: 'pg_stat_statements',
  // Durability as shipped (stated, not changed): success only after the WAL is on disk.
  fsync: 'on',
  synchronous_commit: 'on',
  full_page_writes: 'on',
};

export interface PgCluster { url: string; dir: string; port: number; settings: Record<string, string>; createDatabase(name: string): Promise<string>; stop(): Promise<void> }

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** `detached`: the server outlives this process (a benchmark's --keep); stop it with `pg_ctl -D <dir>/data stop`. */
export async function startPgCluster(settings: Record<string, string> = PRODUCTION_SETTINGS, opts: { detached?: boolean } = {}): Promise<PgCluster> {
  const dir = mkdtempSync(join(tmpdir(), 'pg-bench-'));
  const data = join(dir, 'data');
  const asRoot = process.getuid?.() === 0;
  const uid = asRoot ? Number(execFileSync('id', ['-u', 'postgres']).toString().trim()) : undefined;
  const gid = asRoot ? Number(execFileSync('id', ['-g', 'postgres']).toString().trim()) : undefined;
  if (asRoot) chownSync(dir, uid!, gid!);
  const run = (cmd: string, argv: string[]) => (asRoot ? ['runuser', ['-u', 'postgres', '--', cmd, ...argv]] as const : [cmd, argv] as const);
  const [c0, a0] = run(join(BIN, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--locale=C.UTF-8']);
  execFileSync(c0, a0, { stdio: ['ignore', 'ignore', 'inherit'] });
  const port = await freePort();
  const conf = { ...settings, listen_addresses: "'127.0.0.1'", port: String(port), unix_socket_directories: `'${dir}'` };
  writeFileSync(join(data, 'postgresql.auto.conf'), Object.entries(conf).map(([k, v]) => `${k} = ${/^'/.test(v) ? v : `'${v}'`}`).join('\n') + '\n');
  if (asRoot) chownSync(join(data, 'postgresql.auto.conf'), uid!, gid!);
  const [c1, a1] = run(join(BIN, 'postgres'), ['-D', data]);
  const child: ChildProcess = spawn(c1, a1, { stdio: ['ignore', 'ignore', opts.detached ? 'ignore' : 'pipe'], detached: opts.detached });
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000); });
  if (opts.detached) child.unref();
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const until = Date.now() + 60_000;
  for (;;) {
    const c = new pg.Client({ connectionString: url });
    try {
      await c.connect();
      await c.end();
      break;
    } catch (e) {
      await c.end().catch(() => undefined);
      if (child.exitCode !== null || Date.now() > until) {
        child.kill('SIGINT');
        rmSync(dir, { recursive: true, force: true });
        throw new Error(`dedicated PostgreSQL did not start: ${(e as Error).message}\n${stderr}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  return {
    url, dir, port, settings,
    createDatabase: async (name) => {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } finally {
        await c.end();
      }
      const u = new URL(url);
      u.pathname = `/${name}`;
      // For looking into the hot queries (pg_stat_statements is preloaded); nothing depends on it.
      const d = new pg.Client({ connectionString: u.toString() });
      await d.connect();
      await d.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements').catch(() => undefined);
      await d.end();
      return u.toString();
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGINT to the postmaster itself (under runuser, its parent): "fast" shutdown.
        const pid = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
        await new Promise<void>((resolve) => { child.once('exit', () => resolve()); process.kill(pid, 'SIGINT'); });
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
