/**
 * Point-in-time restore of an edge between backup points (`npm run restore -- --at TIME`).
 *
 * A backup point is a consistent copy at one moment. Between points, the journal of what the
 * edge wrote is the spine itself: every change the edge makes is one record with a
 * per-clinic contiguous seq and an HLC timestamp (outbox), and central keeps every applied
 * record, every version. So a restore "at T":
 *   1. restores the newest point whose content is entirely at or before T (its newest
 *      record's HLC <= T; `info.lastHlc` in the manifest, else the point's finish time);
 *   2. replays central's records of the clinic after the point's seq, in seq order, up to the
 *      last one whose HLC physical time is <= T, into `records` / `residents` exactly as the
 *      edge wrote them (rejoin.ts: recordApplier);
 *   3. sets next_seq / last_hlc to the last replayed record and marks the directory as not
 *      reconciled (`backup_rejoin_pending`, `backup_pitr_at`): it is a view of the past for
 *      inspection or extraction, and the edge reports unhealthy on it. `restore --rejoin-only`
 *      would bring it forward to the present (as after a normal restore).
 *
 * Granularity: one replicated record, to the millisecond (an edge's HLC is its wall clock,
 * and within a clinic seq order = HLC order). What cannot be replayed: records that had not
 * reached central when the restore runs (the report then says up to which time the copy is
 * known to be complete), and local-only tables (sessions, local audit, module queues and the
 * imaging index, DICOM files) which are as of the restored point.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { BackupError, listPoints, readManifest, restoreBackup, type BackupTarget, type Manifest } from '../../contracts/backup/index.ts';
import { parseHlc } from '../../contracts/hlc.ts';
import { openDb } from '../../contracts/runtime/index.ts';
import { openTargets, restoredPath, type EdgeBackupContext } from './edge-backup.ts';
import { markRejoinPending, recordApplier, rejoinFetchFor } from './rejoin.ts';

export interface PitrReport {
  /** The requested time. */
  at: string;
  pointId: string;
  pointSeq: number;
  /** Records replayed from central after the point. */
  replayed: number;
  /** Seq and HLC of the last change in the restored copy. */
  lastSeq: number;
  lastHlc: string | null;
  /**
   * true: central holds a record of this clinic after T, so the copy holds every change up to T.
   * false: central has nothing after `completeTo`; changes made between it and T that had not
   * reached central when the restore ran are missing (or none were made).
   */
  complete: boolean;
  /** The copy is known to hold every change up to this time. */
  completeTo: string;
  note: string;
}

/** The time up to which a point's content is known to be complete (its newest record). */
function pointTime(m: Manifest): number {
  const h = typeof m.info.lastHlc === 'string' ? m.info.lastHlc : null;
  return h ? parseHlc(h).ms : Date.parse(m.finishedAt);
}

const hlcMs = (h: string) => parseHlc(h).ms;

export async function restoreEdgeAt(c: EdgeBackupContext, opts: { dest: string; at: Date; from?: 'local' | 'remote' }): Promise<{ manifest: Manifest; dest: string; bytes: number; pitr: PitrReport }> {
  const T = opts.at.getTime();
  if (Number.isNaN(T)) throw new BackupError('NOT_FOUND', 'restore --at needs a time such as 2026-11-27T14:30:00+08:00');
  if (T > Date.now()) throw new BackupError('NOT_FOUND', `restore --at ${opts.at.toISOString()} is in the future`);
  const t = openTargets(c);
  if (!t.remote) throw new BackupError('TARGET_UNREACHABLE', 'point-in-time restore replays the records central holds after the backup point: configure EDGE_BACKUP_REMOTE_URL / EDGE_BACKUP_REMOTE_TOKEN (or restore a backup point with --point)');
  const target: BackupTarget = opts.from === 'remote' ? t.remote : t.local;
  // Newest point first; manifests are small, read until one is entirely at or before T.
  let chosen: Manifest | null = null;
  const points = await listPoints(target);
  for (const p of points) {
    if (p.at.getTime() > T) continue; // started after T: cannot be at or before it
    const m = await readManifest(target, t.key, p.snapshotId);
    if (pointTime(m) <= T) { chosen = m; break; }
  }
  if (!chosen) {
    const oldest = points[points.length - 1];
    throw new BackupError('NOT_FOUND', `no backup point at or before ${opts.at.toISOString()} in ${target.label}${oldest ? ` (oldest is ${oldest.at.toISOString()})` : ''}`);
  }
  const r = await restoreBackup({ target, key: t.key, snapshotId: chosen.snapshotId, dest: opts.dest, mapPath: restoredPath, onProgress: c.onProgress });
  const dbFile = join(r.dest, 'edge.db');
  markRejoinPending(dbFile);
  const pointSeq = Number(r.manifest.info.lastSeq ?? 0);
  const fetchPage = rejoinFetchFor(t.remote);
  const db = openDb(dbFile);
  let ok = false;
  try {
    const meta = (k: string) => (db.prepare<[string], { value: string }>('SELECT value FROM meta WHERE key = ?').get(k)?.value ?? null);
    const apply = recordApplier(db);
    let lastSeq = Number(meta('next_seq') ?? '1') - 1;
    let lastHlc = meta('last_hlc');
    let replayed = 0;
    let passedT = false;
    let expect = lastSeq + 1;
    for (let after = lastSeq; !passedT;) {
      let res;
      try {
        res = await fetchPage(after, 1000);
      } catch (e) {
        throw new BackupError((e as BackupError).code ?? 'TARGET_UNREACHABLE', `replaying central's records after backup point ${chosen.snapshotId} up to ${opts.at.toISOString()} failed (${(e as Error).message}); ${r.dest} was removed: retry when central is reachable`, { cause: e });
      }
      const upTo: typeof res.records = [];
      for (const rec of res.records) {
        if (hlcMs(rec.hlc) > T) { passedT = true; break; }
        if (rec.seq !== expect) throw new BackupError('CORRUPT', `central's records of ${c.edge.clinicId} jump from seq ${expect - 1} to ${rec.seq}: cannot replay past the gap`);
        expect++;
        upTo.push(rec);
      }
      if (upTo.length) {
        const h = apply(upTo);
        if (!lastHlc || h > lastHlc) lastHlc = h;
        lastSeq = upTo[upTo.length - 1]!.seq;
        replayed += upTo.length;
      }
      if (!res.more || res.records.length === 0) break;
      after = res.records[res.records.length - 1]!.seq;
    }
    const set = db.prepare<[string, string]>('INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value');
    const completeTo = passedT ? T : Math.max(lastHlc ? hlcMs(lastHlc) : 0, pointTime(chosen));
    const report: PitrReport = {
      at: opts.at.toISOString(), pointId: chosen.snapshotId, pointSeq, replayed, lastSeq, lastHlc,
      complete: passedT, completeTo: new Date(completeTo).toISOString(),
      note: passedT
        ? `every change up to ${opts.at.toISOString()} (backup point seq ${pointSeq} + ${replayed} records replayed from central, to seq ${lastSeq})`
        : `central holds no record of ${c.edge.clinicId} after ${new Date(completeTo).toISOString()}: changes between then and ${opts.at.toISOString()} that had not reached central are not in this copy`,
    };
    db.transaction(() => {
      set.run('next_seq', String(lastSeq + 1));
      if (lastHlc) set.run('last_hlc', lastHlc);
      set.run('backup_pitr_at', report.at);
      set.run('backup_pitr_report', JSON.stringify(report));
    }).immediate();
    ok = true;
    return { ...r, pitr: report };
  } finally {
    db.close();
    // A copy that is not at the requested time is not left behind to be mistaken for one.
    if (!ok) rmSync(r.dest, { recursive: true, force: true });
  }
}
