/**
 * Creating a backup point in a local repository (`LocalDirTarget`):
 *   1. lock the repository (one writer), remove leftovers of an interrupted run;
 *   2. choose full or incremental (a full starts a new chain every `fullEveryDays`);
 *   3. take consistent copies of the SQLite databases with SQLite's online backup API in a
 *      worker thread (one read transaction: writers are not blocked in WAL mode, the event
 *      loop is not blocked), never a file copy of a live database;
 *   4. split every file into chunks (page ranges for SQLite, so an incremental stores only
 *      the changed page ranges; unchanged plain files are not even read), store new chunks
 *      compressed + AES-256-GCM encrypted in one pack;
 *   5. fsync + rename the pack, then the encrypted manifest (the commit point).
 * On any failure (disk full, kill -9, ...) no manifest is written: the partial pack and the
 * staging copies are removed now or at the next run, and the live data is only ever read.
 */
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Worker } from 'node:worker_threads';
import { chunkId, openBlob, sealBlob, sealChunk, type BackupKey } from './crypto.ts';
import { BackupError, fsError } from './errors.ts';
import { MANIFEST_FORMAT, manifestName, manifestSchema, newSnapshotId, packName, parseSnapshotId, type ChunkRef, type FileEntry, type Manifest, type SnapshotKind } from './manifest.ts';
import type { BackupTarget, LocalDirTarget } from './target.ts';

export interface BackupSource {
  /** Path inside the backup. */
  path: string;
  kind: 'sqlite' | 'file' | 'pgdump';
  /** File on disk (for sqlite: the live database file, opened read-only by the worker). */
  file: string;
}

/** Token bucket on bytes; `bytesPerSecond()` may change over time (time window). */
export class Throttle {
  private allowance = 0;
  private last = Date.now();
  constructor(private readonly rate: () => number) {}
  async take(n: number): Promise<void> {
    for (;;) {
      const r = this.rate();
      if (!Number.isFinite(r) || r <= 0) return;
      const now = Date.now();
      this.allowance = Math.min(r, this.allowance + ((now - this.last) / 1000) * r);
      this.last = now;
      if (this.allowance >= n || n > r) {
        this.allowance -= n;
        if (this.allowance < 0) await sleep(Math.ceil((-this.allowance / r) * 1000));
        return;
      }
      await sleep(Math.ceil(((n - this.allowance) / r) * 1000));
    }
  }
}

export interface BackupProgress {
  phase: 'snapshot' | 'chunk' | 'commit' | 'upload' | 'verify' | 'restore';
  file?: string;
  done: number;
  total: number;
}

export interface CreateBackupOptions {
  repo: LocalDirTarget;
  key: BackupKey;
  /** auto: full when there is no chain yet or the chain's full is older than fullEveryDays. */
  kind?: SnapshotKind | 'auto';
  fullEveryDays?: number;
  source: Manifest['source'];
  /** Called once the SQLite copies exist (staged files by archive path): facts for drills. */
  sources: () => Promise<BackupSource[]> | BackupSource[];
  inspect?: (staged: Map<string, string>) => Promise<Record<string, unknown>> | Record<string, unknown>;
  throttle?: Throttle;
  onProgress?: (p: BackupProgress) => void;
  signal?: AbortSignal;
  /** Chunk sizes: SQLite page ranges / other files. */
  sqliteChunkBytes?: number;
  fileChunkBytes?: number;
  now?: () => Date;
}

export interface CreatedBackup {
  manifest: Manifest;
  packFile: string | null;
}

const LOCK = 'backup.lock';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** One writer per repository; a lock left by a killed process is taken over. */
export function lockRepo(repo: LocalDirTarget): () => void {
  const f = join(repo.dir, LOCK);
  for (let i = 0; i < 2; i++) {
    try {
      writeFileSync(f, `${process.pid}\n`, { flag: 'wx' });
      return () => rmSync(f, { force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fsError(e, f, 'creating');
      const pid = Number(readFileSync(f, 'utf8').trim());
      if (pid && pid !== process.pid && pidAlive(pid)) throw new BackupError('LOCKED', `another backup (pid ${pid}) is running on ${repo.dir}: wait for it to finish`);
      rmSync(f, { force: true });
    }
  }
  throw new BackupError('LOCKED', `cannot lock ${repo.dir}`);
}

/** Remove what an interrupted run left (partial packs/manifests, staging copies). */
export function cleanLeftovers(repo: LocalDirTarget): string[] {
  const gone = repo.leftovers();
  for (const n of gone) rmSync(join(repo.dir, n), { recursive: true, force: true });
  return gone;
}

/** Backup points in a target, newest first, from object names (no key needed). */
export async function listPoints(target: BackupTarget): Promise<(ReturnType<typeof parseSnapshotId> & {})[]> {
  const objs = await target.list();
  return objs.filter((o) => o.name.endsWith('.manifest')).map((o) => parseSnapshotId(o.name.slice(0, -'.manifest'.length))).filter((p) => p !== null).sort((a, b) => b.at.getTime() - a.at.getTime());
}

export async function readManifest(target: BackupTarget, key: BackupKey, snapshotId: string): Promise<Manifest> {
  const where = `${target.label}/${manifestName(snapshotId)}`;
  const { data } = openBlob(key, await target.read(manifestName(snapshotId)), where);
  const r = manifestSchema.safeParse(JSON.parse(data.toString('utf8')));
  if (!r.success) throw new BackupError('CORRUPT', `${where} is not a valid manifest: ${r.error.issues[0]?.message}`);
  if (r.data.snapshotId !== snapshotId) throw new BackupError('CORRUPT', `${where} describes ${r.data.snapshotId}, not ${snapshotId} (renamed?)`);
  return r.data;
}

const requireHere = createRequire(import.meta.url);

/**
 * Consistent copy of a live SQLite database with the online backup API, in a worker thread
 * (its own read-only connection; one backup step = one read transaction = a consistent point).
 */
export function sqliteSnapshot(src: string, dest: string): Promise<void> {
  const mod = requireHere.resolve('better-sqlite3');
  const code = `(() => {
    const { workerData, parentPort } = require('node:worker_threads');
    const Database = require(workerData.mod);
    let db;
    try {
      db = new Database(workerData.src, { readonly: true, fileMustExist: true });
      db.pragma('busy_timeout = 10000');
    } catch (e) { parentPort.postMessage({ ok: false, error: e.message, code: e.code }); return; }
    db.backup(workerData.dest, { progress: () => 0x7fffffff }).then(
      () => { db.close(); parentPort.postMessage({ ok: true }); },
      (e) => { db.close(); parentPort.postMessage({ ok: false, error: e.message, code: e.code }); });
  })();`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { mod, src, dest } });
    let settled = false;
    w.once('message', (m: { ok: boolean; error?: string; code?: string }) => {
      settled = true;
      if (m.ok) resolve();
      else if (m.code === 'SQLITE_FULL' || /disk is full|ENOSPC/i.test(m.error ?? '')) reject(fsError(Object.assign(new Error(m.error), { code: 'ENOSPC' }), dest, 'writing the snapshot of'));
      else reject(new BackupError('SOURCE', `online backup of the database ${src} failed: ${m.error}`));
      void w.terminate();
    });
    w.once('error', (e) => { if (!settled) reject(new BackupError('SOURCE', `online backup of ${src} failed: ${e.message}`)); });
    w.once('exit', () => { if (!settled) reject(new BackupError('SOURCE', `online backup of ${src} stopped`)); });
  });
}

export async function createBackup(o: CreateBackupOptions): Promise<CreatedBackup> {
  const started = Date.now();
  const now = o.now ?? (() => new Date());
  const unlock = lockRepo(o.repo);
  let staging: string | null = null;
  let pack: ReturnType<LocalDirTarget['writer']> | null = null;
  try {
    cleanLeftovers(o.repo);
    // Parent: the newest point, if its chain is young enough and readable with this key.
    let parent: Manifest | null = null;
    const points = await listPoints(o.repo);
    const wanted = o.kind ?? 'auto';
    if (wanted !== 'full' && points.length > 0) {
      const latest = points[0]!;
      const chainAge = (now().getTime() - parseSnapshotId(`${latest.chainId}_${latest.chainId.slice(1)}_full`)!.at.getTime()) / 86400_000;
      if (wanted === 'incremental' || chainAge < (o.fullEveryDays ?? 7)) {
        try {
          parent = await readManifest(o.repo, o.key, latest.snapshotId);
        } catch (e) {
          if (wanted === 'incremental') throw e;
          parent = null; // unreadable (other key, damaged): start a fresh chain
        }
      }
    }
    const name = newSnapshotId(parent ? 'incremental' : 'full', parent?.chainId ?? null, now());
    staging = join(o.repo.dir, `tmp-${name.snapshotId}`);
    mkdirSync(staging, { recursive: true });
    const sources = await o.sources();
    const staged = new Map<string, string>();
    // 1. consistent copies of the databases first (the backup point is their copy time).
    for (const [i, s] of sources.entries()) {
      if (s.kind !== 'sqlite') continue;
      o.onProgress?.({ phase: 'snapshot', file: s.path, done: i, total: sources.length });
      const dest = join(staging, `${i}.db`);
      try {
        o.repo.chargeWrite(statSync(s.file).size);
      } catch (e) {
        throw fsError(e, dest, 'writing the snapshot of the database to');
      }
      await sqliteSnapshot(s.file, dest);
      staged.set(s.path, dest);
    }
    const info = (await o.inspect?.(staged)) ?? {};
    // 2. chunk everything into one pack.
    const known = new Map<string, ChunkRef>();
    const parentFiles = new Map<string, FileEntry>();
    if (parent) {
      for (const f of parent.files) {
        parentFiles.set(f.path, f);
        for (const c of f.chunks) known.set(c[0], c);
      }
    }
    pack = o.repo.writer(packName(name.snapshotId));
    const files: FileEntry[] = [];
    const stats = { totalBytes: 0, newBytes: 0, packBytes: 0, newChunks: 0, reusedChunks: 0, durationMs: 0 };
    const grand = sources.reduce((n, s) => n + (staged.has(s.path) ? statSync(staged.get(s.path)!).size : statSync(s.file).size), 0);
    let done = 0;
    let sinceYield = 0;
    for (const s of sources) {
      if (o.signal?.aborted) throw new BackupError('ABORTED', 'backup aborted');
      const file = staged.get(s.path) ?? s.file;
      let st;
      try {
        st = statSync(file);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && s.kind === 'file') continue; // deleted meanwhile
        throw fsError(e, file, 'reading');
      }
      const prev = parentFiles.get(s.path);
      if (s.kind === 'file' && prev && prev.kind === 'file' && prev.size === st.size && prev.mtimeMs === st.mtimeMs) {
        files.push(prev); // unchanged file: not read again
        stats.totalBytes += st.size;
        stats.reusedChunks += prev.chunks.length;
        done += st.size;
        continue;
      }
      const size = s.kind === 'sqlite' ? (o.sqliteChunkBytes ?? 4096) : (o.fileChunkBytes ?? 256 << 10);
      const hash = createHash('sha256');
      const chunks: ChunkRef[] = [];
      let fh;
      try {
        fh = await open(file, 'r');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT' && s.kind === 'file') continue;
        throw fsError(e, file, 'reading');
      }
      let fileSize = 0;
      try {
        // Read in blocks of >= 1 MiB, cut into chunks in memory (4 KiB chunks = 256 per read).
        const block = Buffer.alloc(Math.max(size, Math.floor((1 << 20) / size) * size));
        for (;;) {
          const { bytesRead: got } = await fh.read(block, 0, block.length, null);
          if (got === 0) break;
          await o.throttle?.take(got);
          for (let off = 0; off < got; off += size) {
            const data = block.subarray(off, Math.min(got, off + size));
            const bytesRead = data.length;
            hash.update(data);
            fileSize += bytesRead;
            const id = chunkId(o.key, name.chainId, data);
            const have = known.get(id);
            if (have) {
              chunks.push(have);
              stats.reusedChunks++;
            } else {
              const sealed = sealChunk(o.key, id, data, true);
              const at = await pack.write(sealed);
              const ref: ChunkRef = [id, name.snapshotId, at, sealed.length];
              known.set(id, ref);
              chunks.push(ref);
              stats.newChunks++;
              stats.newBytes += bytesRead;
            }
            done += bytesRead;
            sinceYield += bytesRead;
            // Let the event loop serve the clinic's requests every 128 KiB of work.
            if (sinceYield >= 128 << 10) { sinceYield = 0; await new Promise<void>((r) => setImmediate(r)); }
          }
          o.onProgress?.({ phase: 'chunk', file: s.path, done, total: grand });
        }
      } finally {
        await fh.close();
      }
      stats.totalBytes += fileSize;
      files.push({ path: s.path, kind: s.kind, size: fileSize, sha256: hash.digest('hex'), mtimeMs: st.mtimeMs, mode: st.mode & 0o777, chunks });
    }
    // 3. commit: pack, then manifest.
    o.onProgress?.({ phase: 'commit', done: grand, total: grand });
    const packs: Manifest['packs'] = {};
    if (pack.size > 0) {
      stats.packBytes = pack.size;
      packs[name.snapshotId] = { size: pack.size, sha256: await pack.commit() };
    } else {
      await pack.abort();
    }
    pack = null;
    const used = new Set(files.flatMap((f) => f.chunks.map((c) => c[1])));
    for (const p of used) if (!packs[p]) {
      const prevPack = parent?.packs[p];
      if (!prevPack) throw new BackupError('CORRUPT', `parent backup ${parent?.snapshotId} does not describe pack ${p}`);
      packs[p] = prevPack;
    }
    stats.durationMs = Date.now() - started;
    const manifest: Manifest = {
      format: MANIFEST_FORMAT, snapshotId: name.snapshotId, chainId: name.chainId, kind: name.kind, parentId: parent?.snapshotId ?? null,
      createdAt: name.at.toISOString(), finishedAt: new Date().toISOString(),
      source: { ...o.source, host: o.source.host || hostname() }, files, packs, stats, info,
    };
    await o.repo.putSmall(manifestName(name.snapshotId), sealBlob(o.key, { snapshotId: name.snapshotId, format: MANIFEST_FORMAT }, Buffer.from(JSON.stringify(manifest))));
    return { manifest, packFile: packs[name.snapshotId] ? o.repo.path(packName(name.snapshotId)) : null };
  } catch (e) {
    throw e instanceof BackupError ? e : fsError(e, o.repo.dir, 'backing up into');
  } finally {
    await pack?.abort().catch(() => undefined);
    if (staging && existsSync(staging)) rmSync(staging, { recursive: true, force: true });
    unlock();
  }
}
