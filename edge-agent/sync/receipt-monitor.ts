/**
 * What a receipt from central means for an edge that already holds a higher one.
 *
 * Receipts can arrive out of order without anything being wrong: central answers every
 * heartbeat with its current durable watermark, while receipts of batches that became durable
 * at the same moment may still be on their way out of its settle chain; and with several
 * central instances on one PostgreSQL warehouse each publishes its own batches' receipts. Such a
 * stale receipt is followed within milliseconds by one at or above what the edge holds.
 *
 * A real regression (central's database restored to an older point) looks different: every
 * receipt from then on, heartbeat answers included, stays below. So a lower receipt raises the
 * alarm only when nothing at or above the held receipt has come for `graceMs` (several heartbeat
 * intervals), and then at most once per `repeatMs` while it lasts.
 *
 * Unless central says it is catching up: after a restore it replays the records stream
 * (receipts flagged `replaying`), and its watermark rises back to ours on its own. Those
 * receipts do not count towards the grace period; if receipts stay below once the replay is
 * over, the grace period starts then.
 */
export type ReceiptVerdict = 'newer' | 'same' | 'stale' | 'catching-up' | 'regression';

export class ReceiptMonitor {
  /** When the current run of lower receipts began (null: the last receipt was not lower). */
  private lowSince: number | null = null;
  private lastAlarmAt = Number.NEGATIVE_INFINITY;
  /** Lower receipts that did not (yet) count as a regression. */
  stale = 0;
  /** Lower receipts from a central replaying its stream (not counted in `stale`). */
  catchingUp = 0;

  /** The latest receipt below `held` (central's watermark while it is lower), null once one at or above came. */
  lastLow: number | null = null;

  constructor(private heldSeq: number, private readonly graceMs: number, private readonly repeatMs = 60_000) {}

  /** The edge re-seeded central from `seq` (sync/reseed.ts): that is the receipt held now. */
  rebase(seq: number): void {
    this.heldSeq = seq;
    this.lowSince = null;
    this.lastLow = null;
  }

  get held(): number {
    return this.heldSeq;
  }

  /** True while lower receipts have kept coming for `graceMs` without one at or above `held`. */
  regressed(now: number): boolean {
    return this.lowSince !== null && now - this.lowSince >= this.graceMs;
  }

  observe(appliedSeq: number, now: number, replaying = false): ReceiptVerdict {
    if (appliedSeq >= this.heldSeq) {
      this.lowSince = null;
      this.lastLow = null;
      if (appliedSeq === this.heldSeq) return 'same';
      this.heldSeq = appliedSeq;
      return 'newer';
    }
    this.lastLow = appliedSeq;
    if (replaying) {
      this.lowSince = null;
      this.catchingUp++;
      return 'catching-up';
    }
    this.lowSince ??= now;
    if (this.regressed(now) && now - this.lastAlarmAt >= this.repeatMs) {
      this.lastAlarmAt = now;
      return 'regression';
    }
    this.stale++;
    return 'stale';
  }
}
