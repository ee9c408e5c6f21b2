/**
 * The image disk of the clinic's appliance (影像本地存储): how much room is left, refusing new
 * instances before the disk is full, and removing the files the central archive already holds.
 *
 * - **Reserve.** Below `diskReserve` free, the SCP's `admitStore` refuses each new instance with
 *   0xA700 (the device keeps it and sends it again): the clinic's database, on the same disk,
 *   never runs out of room because of images. Free space is read with statfs every
 *   `diskCheckMs`, after every 64 MiB received and after each eviction; in between, what was
 *   received is subtracted, so a burst cannot overrun the reserve between two reads.
 * - **Eviction.** Below `evictBelowFree` free (and, with `keepDays`, for uploads older than that),
 *   instances whose upload central confirmed (`fwd_state = 'done'`: central verified the sha256
 *   and made the file durable before answering) are removed from this disk, uploaded longest ago
 *   first, until a quarter more than `evictBelowFree` is free. An instance waiting for upload is
 *   never removed: it is the only copy. The index row stays (`evicted_at`); its previews come
 *   from central; a resend stores it here again.
 * - **No race with a resend.** Rows are marked and files removed in one synchronous step on the
 *   main thread, after asking the SCP whether a C-STORE of that instance is under way
 *   (`isStoring`): none can rename onto the file before the step ends. The marks are committed
 *   (fsync) before the files are removed, so a crash can leave marked rows whose files are still
 *   there, never a row that says "here" for a file that is gone. Batches run one after the other,
 *   so only the last one can be caught that way: at start, before the SCP listens, the files of
 *   the most recently marked rows are removed if still present (`finishInterrupted`).
 */
import { statfsSync, unlinkSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { setImmediate as yieldLoop } from 'node:timers/promises';
import type { Db, Logger } from '../../contracts/runtime/index.ts';
import { diskBytes, gib, readDisk, type DiskReading } from '../../contracts/runtime/disk.ts';
import type { ImagingConfig } from './config.ts';

export interface EvictableRow { sop: string; path: string; sha256: string; size: number; forwardedAt: string }
export interface SweepResult { evicted: number; bytes: number; skipped: number; failed: number; reason: 'age' | 'pressure' | 'both' | null; stillBelow: boolean }

export interface StorageStatus {
  dir: string;
  /** null until the first statfs answered. */
  free: number | null;
  total: number | null;
  reserve: number | null;
  evictBelow: number | null;
  /** ok; evicting (below evictBelow); refusing (below the reserve: new instances refused). */
  state: 'ok' | 'low' | 'refusing' | 'unknown';
  pending: { n: number; bytes: number };
  /** Uploaded and still on this disk. */
  local: { n: number; bytes: number };
  evicted: { n: number; bytes: number };
  keepDays: number;
  lastSweep: { at: string; evicted: number; bytes: number; reason: SweepResult['reason'] } | null;
  refused: number;
  lastRefusalAt: string | null;
  lastError: string | null;
}

const BATCH = 128;
const REREAD_AFTER_BYTES = 64 * 1024 * 1024;

export class ImagingStorage {
  private disk: DiskReading | null = null;
  /** Bytes received since the last reading (subtracted from its free space). */
  private since = 0;
  private reading: Promise<void> | null = null;
  private sweeping: Promise<SweepResult> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  readonly counters = { evicted: 0, evictedBytes: 0, refused: 0, lastRefusalAt: null as string | null, lastSweep: null as StorageStatus['lastSweep'], lastError: null as string | null, evictFailures: 0 };

  constructor(
    private readonly db: Db,
    private readonly cfg: Pick<ImagingConfig, 'storageDir' | 'diskReserve' | 'evictBelowFree' | 'keepDays' | 'diskCheckMs'>,
    private readonly log: Logger,
    /** The SCP's isStoring (false when it is not running). */
    private readonly isStoring: (sop: string) => boolean,
    private readonly read: (dir: string) => Promise<DiskReading> = readDisk,
  ) {}

  /**
   * Before the SCP listens: removes the files of the last batch a crash caught between its
   * commit and its removals (at most one batch; a resend would have cleared the mark, and none
   * can arrive yet). Returns how many were left.
   */
  finishInterrupted(): number {
    const rows = this.db.prepare<[number], { path: string }>(
      'SELECT path FROM imaging_instances INDEXED BY imaging_instances_evicted WHERE evicted_at IS NOT NULL ORDER BY evicted_at DESC LIMIT ?').all(BATCH);
    let n = 0;
    for (const { path } of rows) {
      try {
        unlinkSync(path);
        n++;
      } catch {
        // gone, as it should be
      }
    }
    if (n) this.log.warn({ files: n }, 'imaging storage: removed files of instances marked as removed before an interruption');
    return n;
  }

  /** First reading (awaited: the SCP's first admission has figures), then the periodic check and sweep. */
  async start(): Promise<void> {
    await mkdir(this.cfg.storageDir, { recursive: true }).catch(() => undefined); // the SCP creates it too; read it before
    await this.refresh();
    this.timer = setInterval(() => void this.tick(), this.cfg.diskCheckMs);
    this.timer.unref();
    void this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.sweeping?.catch(() => undefined);
  }

  reserve(total = this.disk?.total ?? 0): number {
    return diskBytes(this.cfg.diskReserve, total);
  }

  /** The eviction line: at least twice the reserve. */
  evictBelow(total = this.disk?.total ?? 0): number {
    return Math.max(diskBytes(this.cfg.evictBelowFree, total), 2 * this.reserve(total));
  }

  /** Free space now: the last reading less what was received since. */
  free(): number | null {
    return this.disk ? Math.max(0, this.disk.free - this.since) : null;
  }

  /**
   * The SCP's admitStore: null admits; a refusal (below the reserve) names the figures, in the
   * 64 characters a device shows, and starts a sweep.
   */
  admit(): string | null {
    let free = this.free();
    if (free === null) return null;
    const reserve = this.reserve();
    if (free >= reserve) return null;
    // The estimate (last reading less what arrived since) counts on the safe side: read the disk
    // now (one statfs, microseconds; only this close to the reserve) before refusing a device.
    try {
      const s = statfsSync(this.cfg.storageDir);
      this.disk = { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
      this.since = 0;
      free = this.disk.free;
    } catch {
      // unreadable now: keep the estimate
    }
    if (free >= reserve) return null;
    this.counters.refused++;
    this.counters.lastRefusalAt = new Date().toISOString();
    void this.sweep();
    return `storage full: ${gib(free)} free, ${gib(reserve)} reserved`;
  }

  /** An instance was stored: its bytes leave the free space until the next reading. */
  noteStored(bytes: number): void {
    this.since += bytes;
    if (this.since >= REREAD_AFTER_BYTES) void this.refresh().then(() => this.sweepIfLow());
  }

  /** Reads the disk (one reading at a time). */
  refresh(): Promise<void> {
    this.reading ??= (async () => {
      const before = this.since;
      try {
        this.disk = await this.read(this.cfg.storageDir);
        // What arrived while statfs ran may or may not be in its figure: count it (the safe side).
        this.since = Math.max(0, this.since - before);
      } catch (e) {
        this.counters.lastError = `cannot read free space of ${this.cfg.storageDir}: ${(e as Error).message}`;
        this.log.error({ dir: this.cfg.storageDir, err: (e as Error).message }, 'imaging storage: free space unreadable; check the disk and EDGE_DICOM_STORAGE_DIR');
      } finally {
        this.reading = null;
      }
    })();
    return this.reading;
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    await this.refresh();
    if (this.cfg.keepDays > 0 || this.isLow()) await this.sweep().catch(() => undefined);
  }

  private isLow(): boolean {
    const free = this.free();
    return free !== null && free < this.evictBelow();
  }

  private sweepIfLow(): void {
    if (this.isLow()) void this.sweep().catch(() => undefined);
  }

  /** Age and pressure eviction (one sweep at a time). */
  sweep(): Promise<SweepResult> {
    this.sweeping ??= this.doSweep().finally(() => { this.sweeping = null; });
    return this.sweeping;
  }

  private async doSweep(): Promise<SweepResult> {
    const r: SweepResult = { evicted: 0, bytes: 0, skipped: 0, failed: 0, reason: null, stillBelow: false };
    const add = (b: { evicted: number; bytes: number; skipped: number; failed: number }, why: 'age' | 'pressure') => {
      r.evicted += b.evicted; r.bytes += b.bytes; r.skipped += b.skipped; r.failed += b.failed;
      if (b.evicted) r.reason = r.reason && r.reason !== why ? 'both' : why;
    };
    if (this.cfg.keepDays > 0) {
      const cutoff = new Date(Date.now() - this.cfg.keepDays * 86_400_000).toISOString();
      let after: [string, string] = ['', ''];
      while (!this.stopped) {
        const rows = this.candidates(after, cutoff);
        if (!rows.length) break;
        add(this.evictBatch(rows), 'age');
        after = [rows.at(-1)!.forwardedAt, rows.at(-1)!.sop];
        await yieldLoop();
      }
      if (r.evicted) await this.refresh();
    }
    if (this.isLow()) {
      const target = this.evictBelow() * 1.25;
      let after: [string, string] = ['', ''];
      while (!this.stopped && (this.free() ?? Infinity) < target) {
        // Only as many of the oldest uploads as the missing bytes (not a fixed batch: DR images of
        // 30 MB would overshoot by hundreds of MB); the disk is read again after each step.
        const need = target - (this.free() ?? 0);
        const rows = this.candidates(after, null);
        if (!rows.length) break;
        const take: EvictableRow[] = [];
        let sum = 0;
        for (const row of rows) {
          take.push(row);
          sum += row.size;
          if (sum >= need) break;
        }
        add(this.evictBatch(take), 'pressure');
        after = [take.at(-1)!.forwardedAt, take.at(-1)!.sop];
        await this.refresh();
      }
      r.stillBelow = this.isLow();
      if (r.stillBelow) {
        const p = this.totals().pending;
        this.log.warn({ free: this.free(), evictBelow: this.evictBelow(), reserve: this.reserve(), pendingInstances: p.n, pendingBytes: p.bytes },
          'imaging storage low and nothing more can be removed: what is left waits for upload to central (check the connection to central) or is not images; new instances are refused below the reserve');
      }
    }
    if (r.evicted || r.failed) {
      this.counters.lastSweep = { at: new Date().toISOString(), evicted: r.evicted, bytes: r.bytes, reason: r.reason };
      this.log.info({ event: 'imaging.evicted', evicted: r.evicted, bytes: r.bytes, reason: r.reason, skipped: r.skipped, failed: r.failed, free: this.free() },
        'removed from this disk instances the central archive holds');
    }
    return r;
  }

  /** Uploaded instances still here, uploaded longest ago first, after a (forwarded_at, sop) cursor; before `cutoff` when given. */
  private candidates(after: [string, string], cutoff: string | null, limit = BATCH): EvictableRow[] {
    return this.db.prepare<[string, string, string | null, string | null, number], EvictableRow>(
      `SELECT sop_instance_uid AS sop, path, sha256, size, forwarded_at AS forwardedAt FROM imaging_instances INDEXED BY imaging_instances_evictable
        WHERE fwd_state = 'done' AND evicted_at IS NULL AND (forwarded_at, sop_instance_uid) > (?, ?)
          AND (? IS NULL OR forwarded_at < ?) AND file_synced = 1
        ORDER BY forwarded_at, sop_instance_uid LIMIT ?`).all(after[0], after[1], cutoff, cutoff, limit);
  }

  /**
   * One synchronous step: mark the rows (still uploaded, same bytes, no C-STORE of them under
   * way), commit durably, remove their files. Nothing else runs on the main thread in between.
   */
  evictBatch(rows: readonly EvictableRow[]): { evicted: number; bytes: number; skipped: number; failed: number } {
    const now = new Date().toISOString();
    const mark = this.db.prepare(`UPDATE imaging_instances SET evicted_at = ? WHERE sop_instance_uid = ? AND fwd_state = 'done' AND sha256 = ? AND evicted_at IS NULL AND file_synced = 1`);
    const taken: EvictableRow[] = [];
    let skipped = 0;
    this.db.transaction(() => {
      for (const row of rows) {
        if (this.isStoring(row.sop) || mark.run(now, row.sop, row.sha256).changes !== 1) skipped++;
        else taken.push(row);
      }
    })();
    let bytes = 0;
    const undo: EvictableRow[] = [];
    for (const row of taken) {
      try {
        unlinkSync(row.path);
        bytes += row.size;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'ENOENT') continue; // already gone (removed by hand): the row now says so
        undo.push(row);
        this.counters.evictFailures++;
        this.counters.lastError = `cannot remove ${row.path}: ${(e as Error).message}`;
        this.log.error({ path: row.path, sop: row.sop, err: (e as Error).message }, 'imaging storage: cannot remove an uploaded instance; check the permissions of EDGE_DICOM_STORAGE_DIR');
      }
    }
    if (undo.length) {
      const unmark = this.db.prepare('UPDATE imaging_instances SET evicted_at = NULL WHERE sop_instance_uid = ? AND evicted_at = ?');
      this.db.transaction(() => { for (const row of undo) unmark.run(row.sop, now); })();
    }
    const evicted = taken.length - undo.length;
    this.counters.evicted += evicted;
    this.counters.evictedBytes += bytes;
    // The removed bytes count as free at once (the next reading confirms them).
    if (this.disk) this.disk = { ...this.disk, free: this.disk.free + bytes };
    return { evicted, bytes, skipped, failed: undo.length };
  }

  totals(): { pending: { n: number; bytes: number }; local: { n: number; bytes: number }; evicted: { n: number; bytes: number } } {
    const r = this.db.prepare<[], { pn: number | null; pb: number | null; dn: number | null; db: number | null; en: number | null; eb: number | null }>(
      `SELECT (SELECT n FROM imaging_fwd_totals WHERE fwd_state = 'pending') AS pn, (SELECT bytes FROM imaging_fwd_totals WHERE fwd_state = 'pending') AS pb,
        (SELECT n FROM imaging_fwd_totals WHERE fwd_state = 'done') AS dn, (SELECT bytes FROM imaging_fwd_totals WHERE fwd_state = 'done') AS db,
        (SELECT n FROM imaging_evicted_totals WHERE id = 1) AS en, (SELECT bytes FROM imaging_evicted_totals WHERE id = 1) AS eb`).get();
    const evicted = { n: r?.en ?? 0, bytes: r?.eb ?? 0 };
    return {
      pending: { n: r?.pn ?? 0, bytes: r?.pb ?? 0 },
      local: { n: Math.max(0, (r?.dn ?? 0) - evicted.n), bytes: Math.max(0, (r?.db ?? 0) - evicted.bytes) },
      evicted,
    };
  }

  status(): StorageStatus {
    const free = this.free();
    const total = this.disk?.total ?? null;
    const reserve = total === null ? null : this.reserve();
    const evictBelow = total === null ? null : this.evictBelow();
    const state = free === null ? 'unknown' : free < reserve! ? 'refusing' : free < evictBelow! ? 'low' : 'ok';
    return {
      dir: this.cfg.storageDir, free, total, reserve, evictBelow, state, ...this.totals(), keepDays: this.cfg.keepDays,
      lastSweep: this.counters.lastSweep, refused: this.counters.refused, lastRefusalAt: this.counters.lastRefusalAt, lastError: this.counters.lastError,
    };
  }
}
