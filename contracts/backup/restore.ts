/**
 * Verifying, restoring, copying off-site and pruning backup points.
 *
 * restore: refuse a non-empty destination; read + authenticate the manifest (wrong key and
 * corruption are told apart); check size + sha256 of every pack it needs BEFORE writing
 * anything; write into `<dest>.restoring` (chunks authenticated and content-hashed, every
 * file's sha256 checked, fsync), then rename to `<dest>`. A failed or killed restore leaves
 * no `<dest>`; its `.restoring` directory is removed (now or by the next restore).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, rmdirSync, renameSync } from 'node:fs';
import { chmod, open, utimes } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { openChunk, type BackupKey } from './crypto.ts';
import { BackupError, fsError } from './errors.ts';
import { manifestName, packName, parseSnapshotId, type Manifest } from './manifest.ts';
import { planRetention, type RetentionPlan, type RetentionPolicy } from './retention.ts';
import { listPoints, readManifest, type BackupProgress } from './snapshot.ts';
import type { BackupTarget, HttpTarget, LocalDirTarget } from './target.ts';

/** Check that every pack a manifest needs is present, complete and unmodified. */
export async function verifyPacks(target: BackupTarget, m: Manifest, onProgress?: (p: BackupProgress) => void): Promise<void> {
  const total = Object.values(m.packs).reduce((n, p) => n + p.size, 0);
  let done = 0;
  for (const [id, want] of Object.entries(m.packs)) {
    const where = `${target.label}/${packName(id)}`;
    const h = createHash('sha256');
    let size = 0;
    for await (const b of target.stream(packName(id))) {
      h.update(b);
      size += b.length;
      done += b.length;
      onProgress?.({ phase: 'verify', file: packName(id), done, total });
    }
    if (size < want.size) throw new BackupError('TRUNCATED', `${where} is truncated (${size} of ${want.size} bytes): the backup point ${m.snapshotId} cannot be restored; copy the file again or use another backup point`);
    if (size !== want.size || h.digest('hex') !== want.sha256) throw new BackupError('CORRUPT', `${where} is corrupted (checksum mismatch): the backup point ${m.snapshotId} cannot be restored; use another backup point`);
  }
}

export async function resolvePoint(target: BackupTarget, which: string | undefined): Promise<string> {
  const points = await listPoints(target);
  if (points.length === 0) throw new BackupError('NOT_FOUND', `no backup points in ${target.label}`);
  if (!which || which === 'latest') return points[0]!.snapshotId;
  const exact = points.find((p) => p.snapshotId === which);
  if (exact) return exact.snapshotId;
  // A time: the newest point at or before it (point-in-time restore at backup granularity).
  const t = Date.parse(which);
  if (!Number.isNaN(t)) {
    const p = points.find((x) => x.at.getTime() <= t);
    if (p) return p.snapshotId;
    throw new BackupError('NOT_FOUND', `no backup point at or before ${which} in ${target.label} (oldest is ${points[points.length - 1]!.at.toISOString()})`);
  }
  throw new BackupError('NOT_FOUND', `backup point ${which} is not in ${target.label}; list them with "backup list"`);
}

export interface RestoreOptions {
  target: BackupTarget;
  key: BackupKey;
  snapshotId?: string;
  dest: string;
  onProgress?: (p: BackupProgress) => void;
  /** Archive path -> destination-relative path (default: identity). */
  mapPath?: (path: string) => string;
}

export async function restoreBackup(o: RestoreOptions): Promise<{ manifest: Manifest; dest: string; bytes: number }> {
  const dest = resolve(o.dest);
  if (existsSync(dest) && readdirSync(dest).length > 0) {
    throw new BackupError('NOT_EMPTY', `restore destination ${dest} is not empty: restore into a new or empty directory (a restore never overwrites data)`);
  }
  const work = `${dest}.restoring`;
  rmSync(work, { recursive: true, force: true }); // leftover of a killed restore
  const snapshotId = await resolvePoint(o.target, o.snapshotId);
  const m = await readManifest(o.target, o.key, snapshotId);
  await verifyPacks(o.target, m, o.onProgress);
  const total = m.files.reduce((n, f) => n + f.size, 0);
  let done = 0;
  try {
    mkdirSync(work, { recursive: true });
    for (const f of m.files) {
      const rel = o.mapPath ? o.mapPath(f.path) : f.path;
      const out = join(work, rel);
      if (!resolve(out).startsWith(resolve(work) + '/')) throw new BackupError('CORRUPT', `manifest path ${f.path} escapes the destination`);
      mkdirSync(dirname(out), { recursive: true });
      const h = createHash('sha256');
      let fh;
      try {
        fh = await open(out, 'wx', 0o600);
      } catch (e) {
        throw fsError(e, out, 'creating');
      }
      try {
        let pos = 0;
        let out: Buffer[] = [];
        let outBytes = 0;
        const flushOut = async () => {
          if (outBytes === 0) return;
          const block = Buffer.concat(out);
          out = [];
          outBytes = 0;
          try {
            await fh.write(block, 0, block.length, pos);
          } catch (e) {
            throw fsError(e, join(o.dest, rel), 'writing');
          }
          pos += block.length;
        };
        // Read runs of chunks that are contiguous in one pack with one read (up to 4 MiB).
        for (let i = 0; i < f.chunks.length;) {
          const [, packId, off] = f.chunks[i]!;
          let j = i;
          let end = off;
          while (j < f.chunks.length && f.chunks[j]![1] === packId && f.chunks[j]![2] === end && end - off < (4 << 20)) { end += f.chunks[j]![3]; j++; }
          const run = await o.target.read(packName(packId), off, end - off);
          const chain = parseSnapshotId(packId)?.chainId ?? m.chainId;
          for (let k = i; k < j; k++) {
            const [id, , coff, len] = f.chunks[k]!;
            const data = openChunk(o.key, chain, id, run.subarray(coff - off, coff - off + len), `${o.target.label}/${packName(packId)}`);
            h.update(data);
            out.push(data);
            outBytes += data.length;
            done += data.length;
          }
          if (outBytes >= 4 << 20) await flushOut();
          o.onProgress?.({ phase: 'restore', file: f.path, done, total });
          i = j;
        }
        await flushOut();
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (h.digest('hex') !== f.sha256) throw new BackupError('CORRUPT', `restored ${f.path} does not match its checksum in ${snapshotId}: use another backup point`);
      await chmod(out, f.mode || 0o600);
      await utimes(out, new Date(), new Date(f.mtimeMs));
    }
    if (existsSync(dest)) rmdirSync(dest); // empty (checked above)
    renameSync(work, dest);
  } catch (e) {
    rmSync(work, { recursive: true, force: true });
    throw e;
  }
  return { manifest: m, dest, bytes: done };
}

/**
 * Copy backup points that the off-site target lacks (packs before manifests, so a manifest
 * there always has its packs). Uploads resume where an interrupted one stopped.
 */
export async function replicate(local: LocalDirTarget, remote: HttpTarget, key: BackupKey, opts: { onProgress?: (p: BackupProgress) => void; throttle?: { take(n: number): Promise<void> } } = {}): Promise<{ uploaded: string[]; bytes: number; resumedBytes: number }> {
  const have = new Map((await remote.list()).map((o) => [o.name, o.size]));
  const uploaded: string[] = [];
  let bytes = 0;
  let resumedBytes = 0;
  const points = (await listPoints(local)).reverse(); // oldest first
  for (const p of points) {
    if (have.has(manifestName(p.snapshotId))) continue;
    const m = await readManifest(local, key, p.snapshotId);
    for (const [packId, meta] of Object.entries(m.packs)) {
      if (have.get(packName(packId)) === meta.size) continue;
      const r = await remote.upload(packName(packId), local.path(packName(packId)), meta.sha256, (d, t) => opts.onProgress?.({ phase: 'upload', file: packName(packId), done: d, total: t }), opts.throttle);
      bytes += r.sent;
      resumedBytes += r.resumedAt;
      have.set(packName(packId), meta.size);
    }
    const mf = local.path(manifestName(p.snapshotId));
    const mhash = createHash('sha256').update(await local.read(manifestName(p.snapshotId))).digest('hex');
    await remote.upload(manifestName(p.snapshotId), mf, mhash);
    uploaded.push(p.snapshotId);
  }
  return { uploaded, bytes, resumedBytes };
}

/** Apply a retention policy to a target: drop expired manifests and the packs no kept point needs. */
export async function prune(target: BackupTarget, key: BackupKey, policy: RetentionPolicy): Promise<RetentionPlan & { deleted: string[] }> {
  const points = await listPoints(target);
  const plan = planRetention(points, policy);
  const needed = new Set<string>();
  for (const p of plan.keep) for (const packId of Object.keys((await readManifest(target, key, p.snapshotId)).packs)) needed.add(packId);
  const deleted: string[] = [];
  // Manifests first: a point disappears before any of its packs.
  for (const p of plan.drop) {
    await target.delete(manifestName(p.snapshotId));
    deleted.push(manifestName(p.snapshotId));
  }
  for (const o of await target.list()) {
    if (!o.name.endsWith('.pack')) continue;
    const id = o.name.slice(0, -'.pack'.length);
    if (!needed.has(id)) {
      await target.delete(o.name);
      deleted.push(o.name);
    }
  }
  return { ...plan, deleted };
}
