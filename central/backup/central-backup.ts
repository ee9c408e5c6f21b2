/**
 * Central's own backups: the SQLite warehouse (online backup API) and every other file of
 * the data dir (imaging archive, its index), or `pg_dump -Fc` of the PostgreSQL warehouse;
 * the restore drill (restore the latest point elsewhere, open it, compare with live, RPO/RTO).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join, relative, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  BackupError, HttpTarget, LocalDirTarget, Throttle, createBackup, listPoints, loadKeyFile, prune, readManifest, replicate, restoreBackup,
  type BackupKey, type BackupProgress, type BackupSource, type CreatedBackup, type DrillResult, type Manifest, type RetentionPolicy,
} from '../../contracts/backup/index.ts';
import type { CentralConfig } from '../config.ts';
import type { StreamCursor } from '../warehouse/types.ts';
import { STREAMS } from '../../contracts/index.ts';
import { targetDirOf, type CentralBackupConfig } from './config.ts';

const run = promisify(execFile);
export const CENTRAL_VERSION = '0.1.0';

const inside = (child: string, parent: string) => resolve(child).startsWith(resolve(parent) + sep) || resolve(child) === resolve(parent);
const isDb = (n: string) => /\.(db|sqlite)$/.test(n);
const isSidecar = (n: string) => /\.(db|sqlite)-(wal|shm|journal)$/.test(n);

function walk(dir: string, out: string[] = []): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

export interface CentralBackupContext {
  central: Pick<CentralConfig, 'dataDir' | 'warehouse' | 'pgUrl'>;
  backup: CentralBackupConfig;
  onProgress?: (p: BackupProgress) => void;
}

export function centralTargets(c: CentralBackupContext): { key: BackupKey; local: LocalDirTarget; remote: HttpTarget | null } {
  const b = c.backup;
  if (!b.keyFile || !b.localDir) throw new BackupError('KEY_FILE', 'central backups are not configured: set CENTRAL_BACKUP_KEY_FILE and CENTRAL_BACKUP_LOCAL_DIR (see central/backup/README.md)');
  if (inside(b.keyFile, b.localDir)) throw new BackupError('KEY_FILE', `the backup key file ${b.keyFile} is inside the backup directory ${b.localDir}: keep the key apart from the backups`);
  return {
    key: loadKeyFile(b.keyFile),
    local: new LocalDirTarget(b.localDir),
    remote: b.remoteUrl && b.remoteToken ? new HttpTarget({ url: b.remoteUrl, owner: b.remoteOwner, token: b.remoteToken }) : null,
  };
}

export const centralRetention = (b: CentralBackupConfig): RetentionPolicy => ({ daily: b.keepDaily, weekly: b.keepWeekly, monthly: b.keepMonthly, keepLast: 2 });

/** What central backs up: data dir (minus the backup directories) + the PostgreSQL dump. */
function centralSources(c: CentralBackupContext, pgDumpFile: string | null): BackupSource[] {
  // Also skipped: the image archive's uploads in progress (temp files and resumable parts, growing
  // while the backup reads them; the clinics still hold those instances and finish sending them).
  const skip = [targetDirOf(c.backup, c.central.dataDir), c.backup.localDir!, join(c.central.dataDir, 'imaging', '.tmp'), join(c.central.dataDir, 'imaging', '.uploads')];
  const out: BackupSource[] = [];
  for (const f of walk(c.central.dataDir)) {
    if (skip.some((s) => inside(f, s)) || isSidecar(basename(f))) continue;
    out.push({ path: `data/${relative(c.central.dataDir, f).split(sep).join('/')}`, kind: isDb(f) ? 'sqlite' : 'file', file: f });
  }
  if (pgDumpFile) out.push({ path: 'postgres/warehouse.dump', kind: 'pgdump', file: pgDumpFile });
  return out.sort((a, b) => (a.kind === 'file' ? 1 : 0) - (b.kind === 'file' ? 1 : 0) || a.path.localeCompare(b.path));
}

async function warehouseCounts(c: CentralBackupContext, sqliteFile: string | null): Promise<Record<string, number>> {
  if (sqliteFile) {
    const db = new Database(sqliteFile, { readonly: true });
    try {
      return {
        records: (db.prepare('SELECT count(*) AS n FROM records').get() as { n: number }).n,
        residents: (db.prepare('SELECT count(*) AS n FROM residents').get() as { n: number }).n,
        appliedSeqSum: (db.prepare('SELECT coalesce(sum(applied_seq), 0) AS n FROM clinic_state').get() as { n: number }).n,
      };
    } finally {
      db.close();
    }
  }
  return {};
}

/**
 * A short-lived client that cannot crash central: pg emits 'error' on an idle client whose
 * server went away, and an EventEmitter 'error' without a listener throws. Query failures
 * still reject the awaiting call.
 */
function pgClient(url: string): pg.Client {
  const c = new pg.Client({ connectionString: url });
  c.on('error', () => undefined);
  return c;
}

/** The restored warehouse's stream cursor (null: none, or a warehouse from before cursors). */
async function pgStreamCursor(url: string): Promise<StreamCursor | null> {
  const client = pgClient(url);
  await client.connect();
  try {
    const t = await client.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'stream_cursor'");
    if (t.rowCount === 0) return null;
    const r = await client.query<{ stream: string; seq: string; stored_at: string }>('SELECT stream, seq, stored_at FROM stream_cursor WHERE stream = $1', [STREAMS.records]);
    const row = r.rows[0];
    return row ? { stream: row.stream, seq: Number(row.seq), storedAt: row.stored_at } : null;
  } finally {
    await client.end();
  }
}

async function pgCounts(url: string): Promise<Record<string, number>> {
  const client = pgClient(url);
  await client.connect();
  try {
    const q = async (sql: string) => Number((await client.query<{ n: string }>(sql)).rows[0]!.n);
    return { records: await q('SELECT count(*) AS n FROM records'), residents: await q('SELECT count(*) AS n FROM residents'), appliedSeqSum: await q('SELECT coalesce(sum(applied_seq), 0) AS n FROM clinic_state') };
  } finally {
    await client.end();
  }
}

export async function backupCentral(c: CentralBackupContext, opts: { kind?: 'full' | 'incremental' | 'auto'; throttle?: Throttle } = {}): Promise<CreatedBackup> {
  const t = centralTargets(c);
  let dumpDir: string | null = null;
  try {
    return await createBackup({
      repo: t.local, key: t.key, kind: opts.kind ?? 'auto', fullEveryDays: c.backup.fullEveryDays,
      source: { system: 'central', owner: 'central', host: '', appVersion: CENTRAL_VERSION, schema: {} },
      sources: async () => {
        let dump: string | null = null;
        if (c.central.warehouse === 'postgres') {
          // pg_dump's own consistent snapshot (one repeatable-read transaction), custom format.
          dumpDir = join(t.local.dir, `tmp-pgdump-${randomBytes(4).toString('hex')}`);
          mkdirSync(dumpDir);
          dump = join(dumpDir, 'warehouse.dump');
          try {
            await run(c.backup.pgDump, ['-Fc', '--no-owner', '--no-privileges', '-f', dump, '-d', c.central.pgUrl!], { maxBuffer: 16 << 20 });
          } catch (e) {
            const msg = (e as { stderr?: string }).stderr || (e as Error).message;
            throw new BackupError(/No space left/i.test(msg) ? 'NO_SPACE' : 'SOURCE', `pg_dump of the warehouse failed: ${msg.trim()} (is ${c.backup.pgDump} installed and the same major version as the server? scripts/ensure-system.sh installs it)`);
          }
        }
        return centralSources(c, dump);
      },
      inspect: async (staged) => {
        const wh = staged.get('data/warehouse.db') ?? null;
        const counts = c.central.warehouse === 'postgres' ? await pgCounts(c.central.pgUrl!) : await warehouseCounts(c, wh);
        return { warehouse: c.central.warehouse, counts };
      },
      throttle: opts.throttle, onProgress: c.onProgress,
    });
  } finally {
    if (dumpDir) rmSync(dumpDir, { recursive: true, force: true });
  }
}

export async function uploadAndPruneCentral(c: CentralBackupContext): Promise<{ uploaded: string[]; prunedLocal: number; prunedRemote: number }> {
  const t = centralTargets(c);
  const local = await prune(t.local, t.key, centralRetention(c.backup));
  if (!t.remote) return { uploaded: [], prunedLocal: local.deleted.length, prunedRemote: 0 };
  const r = await replicate(t.local, t.remote, t.key, { onProgress: c.onProgress });
  const remote = await prune(t.remote, t.key, centralRetention(c.backup));
  return { uploaded: r.uploaded, prunedLocal: local.deleted.length, prunedRemote: remote.deleted.length };
}

export async function restoreCentral(c: CentralBackupContext, opts: { dest: string; point?: string; from?: 'local' | 'remote' }): Promise<{ manifest: Manifest; dest: string; bytes: number }> {
  const t = centralTargets(c);
  const target = opts.from === 'remote' ? t.remote ?? (() => { throw new BackupError('NOT_FOUND', 'no second-site target configured (CENTRAL_BACKUP_REMOTE_URL)'); })() : t.local;
  return restoreBackup({ target, key: t.key, snapshotId: opts.point, dest: opts.dest, mapPath: (p) => (p.startsWith('data/') ? p.slice(5) : p), onProgress: c.onProgress });
}

/** pg_restore a dump into a new database next to `pgUrl`'s; returns its URL and a drop(). */
export async function pgRestoreScratch(c: CentralBackupContext, dump: string, prefix = 'drill'): Promise<{ url: string; drop: () => Promise<void> }> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new URL(c.central.pgUrl!);
  const adminClient = pgClient(admin.toString());
  await adminClient.connect();
  try {
    await adminClient.query(`CREATE DATABASE ${name}`);
  } finally {
    await adminClient.end();
  }
  const u = new URL(c.central.pgUrl!);
  u.pathname = `/${name}`;
  const drop = async () => {
    const a = pgClient(admin.toString());
    await a.connect();
    try { await a.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`); } finally { await a.end(); }
  };
  try {
    await run(c.backup.pgRestore, ['--no-owner', '--no-privileges', '--exit-on-error', '-d', u.toString(), dump], { maxBuffer: 16 << 20 });
  } catch (e) {
    await drop().catch(() => undefined);
    throw new BackupError('CORRUPT', `pg_restore of ${dump} failed: ${((e as { stderr?: string }).stderr || (e as Error).message).trim()}`);
  }
  return { url: u.toString(), drop };
}

/**
 * `live.replayable`: given the restored point's stream cursor, would a restore of it lose records
 * (the records stream no longer holding what central applied after it)? Central passes one that
 * asks the broker (ingest/cursor-check.ts); without it the check is left out.
 */
export async function drillCentral(c: CentralBackupContext, live: { counts: () => Promise<Record<string, number>>; replayable?: (cursor: StreamCursor | null) => Promise<{ ok: boolean; detail: string }> }): Promise<DrillResult> {
  const t = centralTargets(c);
  const points = await listPoints(t.local);
  const at = new Date().toISOString();
  if (points.length === 0) return { snapshotId: '', at, ok: false, rpoSeconds: 0, rtoSeconds: 0, checks: [], error: `no backup points in ${t.local.label}` };
  const base = await mkdtemp(join(tmpdir(), 'central-drill-'));
  const checks: DrillResult['checks'] = [];
  const started = Date.now();
  const snapshotId = points[0]!.snapshotId;
  try {
    const m = await readManifest(t.local, t.key, snapshotId);
    const r = await restoreBackup({ target: t.local, key: t.key, snapshotId, dest: join(base, 'restored'), mapPath: (p) => p, onProgress: c.onProgress });
    checks.push({ name: 'checksums', ok: true, detail: `${r.manifest.files.length} files, ${r.bytes} bytes verified` });
    let restoredCounts: Record<string, number>;
    let cursor: StreamCursor | null = null;
    if (m.info.warehouse === 'postgres') {
      const s = await pgRestoreScratch(c, join(r.dest, 'postgres/warehouse.dump'));
      try {
        restoredCounts = await pgCounts(s.url);
        if (live.replayable) cursor = await pgStreamCursor(s.url);
      } finally { await s.drop(); }
    } else {
      const f = join(r.dest, 'data/warehouse.db');
      const db = new Database(f, { readonly: true });
      try {
        const ic = db.pragma('quick_check', { simple: true });
        checks.push({ name: 'sqlite quick_check', ok: ic === 'ok', detail: String(ic) });
        const hasCursor = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'stream_cursor'").get() !== undefined;
        cursor = hasCursor ? db.prepare<[string], StreamCursor>('SELECT stream, seq, stored_at AS storedAt FROM stream_cursor WHERE stream = ?').get(STREAMS.records) ?? null : null;
      } finally { db.close(); }
      restoredCounts = await warehouseCounts(c, f);
    }
    const rto = (Date.now() - started) / 1000;
    const want = (m.info.counts ?? {}) as Record<string, number>;
    const diff = Object.keys(want).filter((k) => want[k] !== restoredCounts[k]);
    checks.push({ name: 'counts = backup manifest', ok: diff.length === 0, detail: diff.length ? diff.map((k) => `${k}: ${restoredCounts[k]} != ${want[k]}`).join(', ') : JSON.stringify(restoredCounts) });
    const now = await live.counts();
    const behind = Object.keys(restoredCounts).filter((k) => now[k] !== undefined && restoredCounts[k]! > now[k]!);
    checks.push({ name: 'not ahead of live', ok: behind.length === 0, detail: `live ${JSON.stringify(now)}` });
    if (live.replayable) {
      const empty = !cursor && !restoredCounts.records && !restoredCounts.appliedSeqSum;
      checks.push({ name: 'records stream covers the point', ...(empty ? { ok: true, detail: 'the point holds no records yet: nothing to replay' } : await live.replayable(cursor)) });
    }
    return { snapshotId, at, ok: checks.every((x) => x.ok), rpoSeconds: (Date.now() - Date.parse(m.createdAt)) / 1000, rtoSeconds: rto, checks };
  } catch (e) {
    return { snapshotId, at, ok: false, rpoSeconds: (Date.now() - points[0]!.at.getTime()) / 1000, rtoSeconds: (Date.now() - started) / 1000, checks, error: (e as Error).message };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

export { warehouseCounts, pgCounts };
