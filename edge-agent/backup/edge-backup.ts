/**
 * What an edge backs up, and the backup / restore / drill operations used by the scheduler
 * (index.ts) and the CLI (cli.ts).
 *
 * Contents of an edge backup point:
 *   data/<...>.db          every SQLite database in the data dir, by the online backup API
 *   data/<...>             every other file of the data dir (DICOM store under data/dicom/)
 *   external/dicom/<...>   the DICOM store when EDGE_IMAGING_STORAGE_DIR is outside the data dir
 *   external/config/<f>    the EDGE_CONFIG file, if any
 * A restore writes data/ into the destination directory (which becomes EDGE_DATA_DIR) and
 * external/ into <dest>/restored-external/.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { tmpdir } from 'node:os';
import Database from 'better-sqlite3';
import {
  BackupError, HttpTarget, LocalDirTarget, Throttle, createBackup, keyFileTooOpen, listPoints, loadKeyFile, prune, readManifest, replicate, restoreBackup,
  type BackupKey, type BackupProgress, type BackupSource, type BackupTarget, type CreatedBackup, type DrillResult, type Manifest, type RetentionPolicy,
} from '../../contracts/backup/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { EdgeConfig } from '../config.ts';
import { loadImagingConfig } from '../imaging/config.ts';
import { configured, inWindow, type EdgeBackupConfig } from './config.ts';
import { markRejoinPending, rejoinFetchFor, rejoinRestoredEdge, type RejoinReport } from './rejoin.ts';

export const AGENT_VERSION = '0.1.0';

const isDbSidecar = (n: string) => /\.(db|sqlite)-(wal|shm|journal)$/.test(n);
const isDb = (n: string) => /\.(db|sqlite)$/.test(n);

function walk(dir: string, out: string[] = []): string[] {
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return out;
    throw e;
  }
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) walk(p, out);
    else if (e.isFile()) out.push(p);
  }
  return out;
}

const inside = (child: string, parent: string) => resolve(child).startsWith(resolve(parent) + sep) || resolve(child) === resolve(parent);

export function edgeSources(edge: Pick<EdgeConfig, 'dataDir'>, backupDir: string, env: NodeJS.ProcessEnv = process.env): BackupSource[] {
  const out: BackupSource[] = [];
  const rel = (p: string) => relative(edge.dataDir, p).split(sep).join('/');
  for (const f of walk(edge.dataDir)) {
    const n = basename(f);
    if (isDbSidecar(n) || n.endsWith('.partial') || inside(f, backupDir)) continue;
    out.push({ path: `data/${rel(f)}`, kind: isDb(n) ? 'sqlite' : 'file', file: f });
  }
  const storage = loadImagingConfig(edge.dataDir, env).storageDir;
  if (!inside(storage, edge.dataDir)) {
    for (const f of walk(storage)) out.push({ path: `external/dicom/${relative(storage, f).split(sep).join('/')}`, kind: 'file', file: f });
  }
  if (env.EDGE_CONFIG) out.push({ path: `external/config/${basename(env.EDGE_CONFIG)}`, kind: 'file', file: env.EDGE_CONFIG });
  // Databases first (the point in time), the main store before module databases.
  return out.sort((a, b) => (a.kind === 'sqlite' ? 0 : 1) - (b.kind === 'sqlite' ? 0 : 1) || (a.path === 'data/edge.db' ? -1 : b.path === 'data/edge.db' ? 1 : a.path.localeCompare(b.path)));
}

export const restoredPath = (p: string) => (p.startsWith('data/') ? p.slice(5) : `restored-external/${p.slice('external/'.length)}`);

/** Row counts of every user table (backup_runs excluded: it changes by backing up). */
export function tableCounts(db: Database.Database): Record<string, number> {
  const tables = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name <> 'backup_runs' ORDER BY name").all();
  return Object.fromEntries(tables.map((t) => [t.name, (db.prepare(`SELECT count(*) AS n FROM "${t.name.replaceAll('"', '""')}"`).get() as { n: number }).n]));
}

/** Facts about the edge database at the backup point, stored in the manifest for drills. */
export function inspectEdgeDb(file: string): { clinicId: string | null; lastSeq: number; lastHlc: string | null; receiptSeq: number; schema: number; counts: Record<string, number> } {
  const db = new Database(file, { readonly: true });
  try {
    const meta = (k: string) => (db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(k)?.value ?? null);
    return {
      clinicId: meta('clinic_id'),
      lastSeq: Number(meta('next_seq') ?? '1') - 1,
      // The HLC of the newest record in the copy: point-in-time restore picks points by it.
      lastHlc: meta('last_hlc'),
      receiptSeq: Number(meta('receipt_seq') ?? '0'),
      schema: (db.prepare('SELECT max(version) AS v FROM schema_migrations').get() as { v: number | null }).v ?? 0,
      counts: tableCounts(db),
    };
  } finally {
    db.close();
  }
}

export interface EdgeBackupContext {
  edge: Pick<EdgeConfig, 'clinicId' | 'dataDir'>;
  backup: EdgeBackupConfig;
  log?: Logger;
  onProgress?: (p: BackupProgress) => void;
  /** Test hook: simulated disk faults of the local directory. */
  faults?: { failAfterBytes?: number };
  env?: NodeJS.ProcessEnv;
}

export interface Targets {
  key: BackupKey;
  local: LocalDirTarget;
  remote: HttpTarget | null;
}

export function openTargets(c: EdgeBackupContext): Targets {
  const b = c.backup;
  if (!configured(b)) throw new BackupError('KEY_FILE', 'backups are not configured: set EDGE_BACKUP_KEY_FILE and EDGE_BACKUP_LOCAL_DIR (see edge-agent/backup/README.md)');
  const key = loadKeyFile(b.keyFile);
  if (keyFileTooOpen(b.keyFile)) c.log?.warn({ file: b.keyFile }, 'backup key file is readable by other users: chmod 600 it');
  if (inside(b.keyFile, b.localDir)) throw new BackupError('KEY_FILE', `the backup key file ${b.keyFile} is inside the backup directory ${b.localDir}: keep the key apart from the backups`);
  const local = new LocalDirTarget(b.localDir, c.faults);
  const remote = b.remoteUrl && b.remoteToken ? new HttpTarget({ url: b.remoteUrl, owner: c.edge.clinicId, token: b.remoteToken }) : null;
  return { key, local, remote };
}

export const retentionOf = (b: EdgeBackupConfig): RetentionPolicy => ({ daily: b.keepDaily, weekly: b.keepWeekly, monthly: b.keepMonthly, keepLast: 2 });

export function throttleFor(b: EdgeBackupConfig): Throttle {
  return new Throttle(() => (inWindow(b) ? b.nightRate : b.dayRate));
}

export async function backupEdge(c: EdgeBackupContext, opts: { kind?: 'full' | 'incremental' | 'auto'; throttle?: Throttle; signal?: AbortSignal } = {}): Promise<CreatedBackup> {
  const t = openTargets(c);
  return createBackup({
    repo: t.local, key: t.key, kind: opts.kind ?? 'auto', fullEveryDays: c.backup.fullEveryDays,
    source: { system: 'edge', owner: c.edge.clinicId, host: '', appVersion: AGENT_VERSION, schema: {} },
    sources: () => edgeSources(c.edge, c.backup.localDir!, c.env),
    inspect: (staged) => {
      const main = staged.get('data/edge.db');
      if (!main) return {};
      const i = inspectEdgeDb(main);
      if (i.clinicId && i.clinicId !== c.edge.clinicId) throw new BackupError('SOURCE', `the database in ${c.edge.dataDir} belongs to clinic ${i.clinicId}, not ${c.edge.clinicId}: check EDGE_CLINIC_ID`);
      return i;
    },
    throttle: opts.throttle, signal: opts.signal, onProgress: c.onProgress,
  });
}

/** Copy new points off-site, then prune both places. */
export async function uploadAndPrune(c: EdgeBackupContext, throttle?: Throttle): Promise<{ uploaded: string[]; bytes: number; resumedBytes: number; prunedLocal: number; prunedRemote: number }> {
  const t = openTargets(c);
  const policy = retentionOf(c.backup);
  const local = await prune(t.local, t.key, policy);
  if (!t.remote) return { uploaded: [], bytes: 0, resumedBytes: 0, prunedLocal: local.deleted.length, prunedRemote: 0 };
  const r = await replicate(t.local, t.remote, t.key, { onProgress: c.onProgress, throttle });
  const remote = await prune(t.remote, t.key, policy);
  return { ...r, prunedLocal: local.deleted.length, prunedRemote: remote.deleted.length };
}

export interface EdgeRestoreResult {
  manifest: Manifest;
  dest: string;
  bytes: number;
  rejoin: RejoinReport | null;
}

/**
 * Restore a backup point into a new directory; then (unless `rejoin` is false) reconcile it
 * with central so it can be started as the clinic's edge (see rejoin.ts).
 */
export async function restoreEdge(c: EdgeBackupContext, opts: { dest: string; point?: string; from?: 'local' | 'remote'; rejoin?: boolean }): Promise<EdgeRestoreResult> {
  const t = openTargets(c);
  const target: BackupTarget = opts.from === 'remote' ? (t.remote ?? (() => { throw new BackupError('NOT_FOUND', 'no off-site target configured (EDGE_BACKUP_REMOTE_URL / EDGE_BACKUP_REMOTE_TOKEN)'); })()) : t.local;
  const r = await restoreBackup({ target, key: t.key, snapshotId: opts.point, dest: opts.dest, mapPath: restoredPath, onProgress: c.onProgress });
  if (r.manifest.source.owner !== c.edge.clinicId) {
    c.log?.warn({ owner: r.manifest.source.owner }, 'restored a backup of another clinic');
  }
  let rejoin: RejoinReport | null = null;
  const dbFile = join(r.dest, 'edge.db');
  if (opts.rejoin === false) {
    markRejoinPending(dbFile);
  } else {
    if (!t.remote) markRejoinPending(dbFile);
    if (!t.remote) throw new BackupError('TARGET_UNREACHABLE', `restored into ${r.dest}, but cannot reconcile with central: no off-site target configured. Do not start the edge on this directory until "restore --rejoin-only" succeeded (it would reuse sequence numbers central already holds)`);
    try {
      rejoin = await rejoinRestoredEdge(dbFile, r.manifest.source.owner, rejoinFetchFor(t.remote));
    } catch (e) {
      markRejoinPending(dbFile);
      throw new BackupError((e as BackupError).code ?? 'TARGET_UNREACHABLE', `restored into ${r.dest}, but reconciling with central failed (${(e as Error).message}). Do not start the edge on this directory yet: run "npm run restore -- --rejoin-only --to ${r.dest}" when central is reachable`, { cause: e });
    }
  }
  return { ...r, rejoin };
}

export async function rejoinOnly(c: EdgeBackupContext, dest: string): Promise<RejoinReport> {
  const t = openTargets(c);
  if (!t.remote) throw new BackupError('TARGET_UNREACHABLE', 'no off-site target configured (EDGE_BACKUP_REMOTE_URL / EDGE_BACKUP_REMOTE_TOKEN)');
  return rejoinRestoredEdge(join(dest, 'edge.db'), c.edge.clinicId, rejoinFetchFor(t.remote));
}

/**
 * Restore drill: restore the latest point into a temp directory, open it, compare with the
 * manifest and with the live database, report RPO and RTO; the restored copy is removed.
 */
export async function drillEdge(c: EdgeBackupContext, opts: { from?: 'local' | 'remote'; workDir?: string } = {}): Promise<DrillResult> {
  const t = openTargets(c);
  const target: BackupTarget = opts.from === 'remote' && t.remote ? t.remote : t.local;
  const points = await listPoints(target);
  const at = new Date().toISOString();
  if (points.length === 0) return { snapshotId: '', at, ok: false, rpoSeconds: 0, rtoSeconds: 0, checks: [], error: `no backup points in ${target.label}` };
  const base = await mkdtemp(join(opts.workDir ?? tmpdir(), 'edge-drill-'));
  const dest = join(base, 'restored');
  const checks: DrillResult['checks'] = [];
  const started = Date.now();
  let snapshotId = points[0]!.snapshotId;
  try {
    const r = await restoreBackup({ target, key: t.key, snapshotId, dest, mapPath: restoredPath, onProgress: c.onProgress });
    snapshotId = r.manifest.snapshotId;
    checks.push({ name: 'checksums', ok: true, detail: `${r.manifest.files.length} files, ${r.bytes} bytes verified` });
    const restoredDb = join(dest, 'edge.db');
    const db = new Database(restoredDb, { readonly: true });
    let rto: number;
    try {
      const ic = db.pragma('quick_check', { simple: true });
      checks.push({ name: 'sqlite quick_check', ok: ic === 'ok', detail: String(ic) });
      const counts = tableCounts(db);
      rto = (Date.now() - started) / 1000;
      const want = (r.manifest.info.counts ?? {}) as Record<string, number>;
      const diff = Object.keys(want).filter((k) => want[k] !== counts[k]);
      checks.push({ name: 'row counts = backup manifest', ok: diff.length === 0, detail: diff.length ? diff.map((k) => `${k}: ${counts[k]} != ${want[k]}`).join(', ') : `${Object.keys(want).length} tables, records=${counts.records ?? 0}, residents=${counts.residents ?? 0}` });
    } finally {
      db.close();
    }
    // Against the live system: every record the backup holds is live with the same or a newer version.
    const live = new Database(join(c.edge.dataDir, 'edge.db'), { readonly: true });
    try {
      live.prepare('ATTACH DATABASE ? AS r').run(restoredDb);
      const missing = (live.prepare('SELECT count(*) AS n FROM r.records x LEFT JOIN main.records m ON m.type = x.type AND m.record_id = x.record_id WHERE m.version IS NULL OR m.version < x.version').get() as { n: number }).n;
      const liveCount = (live.prepare('SELECT count(*) AS n FROM main.records').get() as { n: number }).n;
      const restoredCount = (live.prepare('SELECT count(*) AS n FROM r.records').get() as { n: number }).n;
      checks.push({ name: 'records present in live', ok: missing === 0, detail: `restored ${restoredCount}, live ${liveCount}, missing or older in live ${missing}` });
      const liveSeq = Number((live.prepare("SELECT value FROM main.meta WHERE key = 'next_seq'").get() as { value: string } | undefined)?.value ?? '1') - 1;
      const bSeq = Number(r.manifest.info.lastSeq ?? 0);
      checks.push({ name: 'seq not ahead of live', ok: bSeq <= liveSeq, detail: `backup seq ${bSeq}, live seq ${liveSeq} (${liveSeq - bSeq} records since the backup)` });
      // Files: each restored plain file still matches the live one (DICOM instances are immutable),
      // unless live removed it since because the central archive holds it (imaging storage's
      // eviction: the index row says so; the backup then still has a copy).
      const evicted = (() => {
        try {
          const q = live.prepare<[string], { evicted_at: string | null }>('SELECT evicted_at FROM main.imaging_instances WHERE sop_instance_uid = ?');
          return (sop: string) => q.get(sop)?.evicted_at != null;
        } catch {
          return () => false; // no imaging module in this edge
        }
      })();
      let compared = 0;
      let differ = 0;
      let removed = 0;
      for (const f of r.manifest.files) {
        if (f.kind !== 'file' || !f.path.startsWith('data/dicom/')) continue;
        compared++;
        try {
          if (statSync(join(c.edge.dataDir, f.path.slice(5))).size !== f.size) differ++;
        } catch {
          if (f.path.endsWith('.dcm') && evicted(basename(f.path, '.dcm'))) removed++;
          else differ++;
        }
      }
      if (compared) checks.push({ name: 'DICOM files match live', ok: differ === 0, detail: `${compared} files, ${differ} missing or different in live${removed ? `, ${removed} since removed from this disk (held by the central archive)` : ''}` });
    } finally {
      live.close();
    }
    const rpoSeconds = (Date.now() - Date.parse(r.manifest.createdAt)) / 1000;
    return { snapshotId, at, ok: checks.every((x) => x.ok), rpoSeconds, rtoSeconds: rto, checks };
  } catch (e) {
    return { snapshotId, at, ok: false, rpoSeconds: (Date.now() - points[0]!.at.getTime()) / 1000, rtoSeconds: (Date.now() - started) / 1000, checks, error: (e as Error).message };
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}

export async function listEdge(c: EdgeBackupContext, from: 'local' | 'remote' = 'local'): Promise<Manifest[]> {
  const t = openTargets(c);
  const target = from === 'remote' && t.remote ? t.remote : t.local;
  const out: Manifest[] = [];
  for (const p of await listPoints(target)) out.push(await readManifest(target, t.key, p.snapshotId));
  return out;
}
