/**
 * Start-up recovery of instances indexed while their rename's directory fsync was running
 * (`indexDuringDirSync`: the index row, and the study record, are committed beside the flush;
 * the device is answered only after both). A power loss in that window can leave a durable
 * row whose rename is not on disk. Such rows still carry `file_synced = 0`; for each one:
 *
 * - the final file holds the row's bytes (sha256): its directory is fsynced, the row marked;
 * - the rename was lost but the temp file (written and fsynced before the rename) is there with
 *   the row's bytes: the rename is done again and made durable, the row marked;
 * - the final file holds other bytes (a resend whose rename was lost over an earlier version):
 *   the row takes the file's size and sha256 and is forwarded again, unless the resend's bytes
 *   already reached central (`fwd_state = 'done'`: the forwarder can pick a committed row before
 *   its rename is durable, reading the file from the page cache): central keeps the newer bytes;
 * - no file with those bytes: the device was never answered for it (it resends), the row is
 *   removed and its study marked due, so one corrected `imaging_study` version (counts) follows;
 *   but a row already forwarded (`fwd_state = 'done'`) is kept, marked checked: central holds the
 *   instance, and dropping its row would lose it from the clinic's index and study counts.
 *
 * Rows whose mark only was lost (the common case) take a hash of their file and nothing else.
 * Runs before the SCP listens; running it twice changes nothing more.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import type { EdgeStore } from '../store/store.ts';
import { cached } from './repo.ts';

export interface RecoveryResult {
  checked: number;
  kept: number;
  renamed: number;
  replaced: number;
  removed: number;
  /** Rows kept without a local file because central already holds their bytes. */
  atCentralOnly: number;
}

async function fileHash(path: string): Promise<{ size: number; sha256: string } | null> {
  try {
    const h = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(path)) {
      h.update(chunk as Buffer);
      size += (chunk as Buffer).length;
    }
    return { size, sha256: h.digest('hex') };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Temp files the SCP wrote for this SOP instance (`.<sop>.<pid>.<n>.tmp` beside the final file). */
async function tempsFor(finalPath: string): Promise<string[]> {
  const dir = dirname(finalPath);
  const sop = basename(finalPath, '.dcm');
  try {
    return (await readdir(dir)).filter((n) => n.startsWith(`.${sop}.`) && n.endsWith('.tmp')).map((n) => join(dir, n));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export async function recoverUnsyncedInstances(store: EdgeStore, log?: { warn: (o: object, m: string) => void }): Promise<RecoveryResult> {
  type Row = { sop_instance_uid: string; study_instance_uid: string; path: string; size: number; sha256: string; received_at: string; fwd_state: string };
  const rows = store.db.prepare<[], Row>('SELECT sop_instance_uid, study_instance_uid, path, size, sha256, received_at, fwd_state FROM imaging_instances WHERE file_synced = 0').all();
  const r: RecoveryResult = { checked: rows.length, kept: 0, renamed: 0, replaced: 0, removed: 0, atCentralOnly: 0 };
  if (rows.length === 0) return r;
  const decisions: { row: Row; outcome: 'kept' | 'renamed' | 'removed' | 'atCentralOnly' | { size: number; sha256: string } }[] = [];
  const dirs = new Set<string>();
  for (const row of rows) {
    const final = await fileHash(row.path);
    const temps = await tempsFor(row.path);
    if (final && final.sha256 === row.sha256) {
      decisions.push({ row, outcome: 'kept' });
    } else {
      let restored = false;
      for (const t of temps) {
        const h = await fileHash(t);
        if (h && h.sha256 === row.sha256 && h.size === row.size) {
          await rename(t, row.path);
          restored = true;
          break;
        }
      }
      if (restored) decisions.push({ row, outcome: 'renamed' });
      else if (final) decisions.push({ row, outcome: final });
      else if (row.fwd_state === 'done') decisions.push({ row, outcome: 'atCentralOnly' });
      else decisions.push({ row, outcome: 'removed' });
    }
    // Temps left by the crash are never renamed by anyone else (their writer is gone).
    for (const t of await tempsFor(row.path)) await unlink(t).catch(() => {});
    dirs.add(dirname(row.path));
  }
  // The renames above (and the ones the crash left in the page cache of a live system) become durable.
  for (const d of dirs) await fsyncDir(d).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
  store.transact((tx) => {
    const db = tx.db;
    for (const { row, outcome } of decisions) {
      if (outcome === 'kept' || outcome === 'renamed') {
        cached(db, 'UPDATE imaging_instances SET file_synced = 1 WHERE sop_instance_uid = ?').run(row.sop_instance_uid);
        r[outcome]++;
      } else if (outcome === 'atCentralOnly') {
        cached(db, 'UPDATE imaging_instances SET file_synced = 1 WHERE sop_instance_uid = ?').run(row.sop_instance_uid);
        r.atCentralOnly++;
        log?.warn({ sopInstanceUid: row.sop_instance_uid, path: row.path }, 'imaging recovery: a crash lost the local file of an instance central already holds; its index row is kept');
      } else if (outcome === 'removed') {
        cached(db, 'DELETE FROM imaging_instances WHERE sop_instance_uid = ?').run(row.sop_instance_uid);
        // Due at once: the next study tick emits one version with the counts that are on disk.
        cached(db, 'INSERT INTO imaging_study_dirty (study_instance_uid, last_touched_at) VALUES (?, 0) ON CONFLICT (study_instance_uid) DO UPDATE SET last_touched_at = 0').run(row.study_instance_uid);
        r.removed++;
        log?.warn({ sopInstanceUid: row.sop_instance_uid, path: row.path }, 'imaging recovery: index row whose file a crash lost removed (the device was not answered; it resends)');
      } else {
        // Forwarded already: central holds the resend's newer bytes; sending the older file would replace them.
        if (row.fwd_state === 'done') cached(db, 'UPDATE imaging_instances SET size = ?, sha256 = ?, file_synced = 1 WHERE sop_instance_uid = ?').run(outcome.size, outcome.sha256, row.sop_instance_uid);
        else cached(db, "UPDATE imaging_instances SET size = ?, sha256 = ?, file_synced = 1, fwd_state = 'pending', fwd_attempts = 0 WHERE sop_instance_uid = ?").run(outcome.size, outcome.sha256, row.sop_instance_uid);
        r.replaced++;
        log?.warn({ sopInstanceUid: row.sop_instance_uid, path: row.path }, 'imaging recovery: a resend\'s rename was lost; the row now describes the earlier version on disk');
      }
    }
  });
  return r;
}
