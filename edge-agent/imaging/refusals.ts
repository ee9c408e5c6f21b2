/**
 * Refused DICOM associations, kept for the technician (影像 › DICOM 设备 › 被拒绝的连接).
 *
 * When a new ultrasound machine "cannot connect", the answer is nearly always on this list:
 * the calling AE title it uses is not registered, it comes from another address than the one
 * registered, it is disabled, or it calls another AE title than ours. The SCP tells us of each
 * rejection (`onAssociationRejected`); we keep one row per (calling AE, address, reason) with a
 * count, the first and the last time, so the page says exactly what to change, survives a
 * restart, and lets the technician register the device from the row.
 *
 * Every refusal is also a security event (MLPS level 3: attempts to connect that were refused
 * are audited). A flood of associations must neither write a row per association nor grow
 * memory or the table without bound: refusals are summed in memory and written once a second
 * (one transaction, one audit entry per row and second with its count); at most `maxPending`
 * distinct peers are kept apart per second (the rest are summed under calling AE and address
 * "*", so every refusal is still counted), and the table keeps the `maxRows` most recent rows.
 */
import type { AssociationRefusal, RejectWhy } from '../../device-drivers/dicom/index.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Accounts } from '../web/accounts.ts';

export interface RefusalRow {
  callingAe: string;
  remoteHost: string;
  reason: RejectWhy;
  calledAe: string;
  count: number;
  firstAt: string;
  lastAt: string;
}

interface Logger {
  warn(o: object, msg: string): void;
  error(o: object, msg: string): void;
}

const REASONS: readonly RejectWhy[] = ['called-ae', 'unknown-ae', 'host-mismatch', 'disabled', 'limit', 'unavailable'];
/** Column limits: a peer chooses its AE title (16 characters on the wire) and nothing else here. */
const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

export class RefusalLog {
  private pending = new Map<string, RefusalRow>();
  private timer: NodeJS.Timeout | null = null;
  /** Refusals told, rows written, refusals summed under "*" (too many peers in one second), failed writes. */
  readonly counters = { refused: 0, flushes: 0, overflow: 0, writeErrors: 0 };
  private readonly st;

  constructor(
    private readonly db: Db,
    private readonly accounts: Accounts,
    private readonly log: Logger,
    private readonly opts: { flushMs?: number; maxPending?: number; maxRows?: number } = {},
  ) {
    this.st = {
      upsert: db.prepare<[string, string, string, string, number, string, string]>(`
        INSERT INTO imaging_refusals (calling_ae, remote_host, reason, called_ae, count, first_at, last_at) VALUES (?, ?, ?, ?, ?, ?, ?)
        ON CONFLICT (calling_ae, remote_host, reason) DO UPDATE SET called_ae = excluded.called_ae, count = count + excluded.count, last_at = excluded.last_at`),
      count: db.prepare<[], { n: number }>('SELECT count(*) AS n FROM imaging_refusals'),
      trim: db.prepare<[number]>('DELETE FROM imaging_refusals WHERE rowid NOT IN (SELECT rowid FROM imaging_refusals ORDER BY last_at DESC LIMIT ?)'),
      list: db.prepare<[number], RefusalRow>(`SELECT calling_ae AS callingAe, remote_host AS remoteHost, reason, called_ae AS calledAe, count, first_at AS firstAt, last_at AS lastAt
        FROM imaging_refusals ORDER BY last_at DESC LIMIT ?`),
      remove: db.prepare<[string, string, string]>('DELETE FROM imaging_refusals WHERE calling_ae = ? AND remote_host = ? AND reason = ?'),
    };
  }

  /** The SCP's hook: sums in memory, written within `flushMs`. Never throws. */
  record(r: AssociationRefusal): void {
    this.counters.refused++;
    const callingAe = clip(r.callingAe, 64);
    const remoteHost = clip(r.remoteHost, 64);
    let key = `${r.reason}\u0000${callingAe}\u0000${remoteHost}`;
    let row = this.pending.get(key);
    if (!row && this.pending.size >= (this.opts.maxPending ?? 256)) {
      this.counters.overflow++;
      key = `${r.reason}\u0000*\u0000*`;
      row = this.pending.get(key);
      if (!row) {
        row = { callingAe: '*', remoteHost: '*', reason: r.reason, calledAe: clip(r.calledAe, 64), count: 0, firstAt: r.at, lastAt: r.at };
        this.pending.set(key, row);
      }
    }
    if (!row) {
      row = { callingAe, remoteHost, reason: r.reason, calledAe: clip(r.calledAe, 64), count: 0, firstAt: r.at, lastAt: r.at };
      this.pending.set(key, row);
    }
    row.count++;
    row.lastAt = r.at;
    row.calledAe = clip(r.calledAe, 64);
    if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), this.opts.flushMs ?? 1000);
      this.timer.unref();
    }
  }

  /** Writes what is summed so far (also at stop); a failed write keeps the sums for the next try. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.pending.size === 0) return;
    const rows = [...this.pending.values()];
    try {
      this.db.transaction(() => {
        for (const r of rows) this.st.upsert.run(r.callingAe, r.remoteHost, r.reason, r.calledAe, r.count, r.firstAt, r.lastAt);
        const max = this.opts.maxRows ?? 500;
        if (this.st.count.get()!.n > max) this.st.trim.run(max);
      })();
    } catch (e) {
      this.counters.writeErrors++;
      this.log.error({ event: 'dicom.refusals.write-failed', err: (e as Error).message, rows: rows.length }, 'refused associations not written; kept and tried again');
      this.timer = setTimeout(() => this.flush(), 5_000);
      this.timer.unref();
      return;
    }
    this.pending.clear();
    this.counters.flushes++;
    for (const r of rows) {
      this.accounts.audit('system', 'dicom.association.refused', `${r.callingAe}@${r.remoteHost} -> ${r.calledAe}`, r.remoteHost, `refused: ${r.reason}${r.count > 1 ? ` x${r.count}` : ''}`);
    }
  }

  /** Most recent first (what is summed in memory is written first, so the page is current). */
  list(limit = 50): RefusalRow[] {
    this.flush();
    return this.st.list.all(limit);
  }

  /** Removes one row (the technician dealt with it); false when there was none. */
  dismiss(callingAe: string, remoteHost: string, reason: string): boolean {
    if (!REASONS.includes(reason as RejectWhy)) return false;
    this.flush();
    return this.st.remove.run(callingAe, remoteHost, reason).changes > 0;
  }

  close(): void {
    this.flush();
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }
}
