/**
 * What the records stream can give back to a warehouse whose stream cursor is `cur`: the check
 * the ingest makes before it replays (consumer.ts, `planReplay`) and the restore drill makes for
 * a backup point (backup/central-backup.ts, `drillCentral`).
 *
 * The stream's numbering is checked first: the message at the cursor's sequence must be the one
 * the cursor names (same storage time). If it is not (the broker lost the stream and it was
 * recreated, numbering from 1 again), what the stream stored after the cursor's time is what can
 * be replayed. (The stream's `created` time is no identity: nats-server 2.9 reported a new one
 * for the same stream after a kill -9.)
 */
import type { JetStreamManager, StreamInfo } from '@nats-io/jetstream';
import { STREAMS } from '../../contracts/index.ts';
import type { StreamCursor } from '../warehouse/types.ts';

export type CursorCheck =
  /** Same numbering: replay from `from`; `lost` messages between the cursor and the stream's first are gone (expired). */
  | { kind: 'same'; from: number; lost: number }
  /** Renumbered: replay what was stored from `fromTime`; `gapAfterCursor`: the stream's first message is later than the cursor's (what lay between is gone). */
  | { kind: 'renumbered'; fromTime: string; gapAfterCursor: boolean };

/** Replays of a renumbered stream start this long before the cursor's time (clock steps). */
export const REPLAY_TIME_MARGIN_MS = 2_000;

export async function checkCursor(jsm: JetStreamManager, si: StreamInfo, cur: StreamCursor): Promise<CursorCheck> {
  const first = si.state.first_seq;
  const last = si.state.last_seq;
  const storedAt = async (seq: number) => (await jsm.streams.getMessage(STREAMS.records, { seq }))?.time.toISOString() ?? null;
  let same: boolean;
  let firstAt: string | null = null;
  if (cur.seq > last) same = false;
  else if (cur.seq < first) same = last === 0 || ((firstAt = await storedAt(first)) ?? '') >= cur.storedAt;
  else same = (await storedAt(cur.seq)) === cur.storedAt;
  if (same) return { kind: 'same', from: Math.max(cur.seq + 1, first), lost: Math.max(0, first - (cur.seq + 1)) };
  if (last > 0 && first > 0 && firstAt === null) firstAt = await storedAt(first);
  return { kind: 'renumbered', fromTime: new Date(Date.parse(cur.storedAt) - REPLAY_TIME_MARGIN_MS).toISOString(), gapAfterCursor: firstAt !== null && firstAt > cur.storedAt };
}

/**
 * For the restore drill: would a restore of a backup point whose warehouse holds `cur` lose
 * anything? Only if the records stream no longer holds what central applied after the point.
 */
export async function restoreReplayable(jsm: JetStreamManager, cur: StreamCursor | null): Promise<{ ok: boolean; detail: string }> {
  if (!cur) return { ok: false, detail: 'the point holds no stream cursor (taken before cursors existed): a restore of it would not replay what central applied after it' };
  let si: StreamInfo;
  try {
    si = await jsm.streams.info(STREAMS.records);
  } catch (e) {
    return { ok: false, detail: `cannot read the records stream (${(e as Error).message}): whether a restore of this point would lose records is unknown` };
  }
  const c = await checkCursor(jsm, si, cur);
  if (c.kind === 'same') {
    return c.lost === 0
      ? { ok: true, detail: `the records stream holds every message after the point's cursor (seq ${cur.seq}): a restore replays ${Math.max(0, si.state.last_seq - cur.seq)} messages and loses nothing` }
      : { ok: false, detail: `the records stream no longer holds ${c.lost} messages after the point's cursor (seq ${cur.seq}; the stream starts at ${si.state.first_seq}): a restore of this point would lose the records central applied from them` };
  }
  return c.gapAfterCursor
    ? { ok: false, detail: `the records stream was recreated after the point (${cur.storedAt}) and starts later: a restore would lose what central applied in between` }
    : { ok: true, detail: `the records stream was recreated but holds everything stored after the point's cursor (${cur.storedAt}): a restore replays it by time` };
}
