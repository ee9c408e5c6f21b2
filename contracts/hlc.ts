/**
 * Hybrid logical clock (Kulkarni et al. 2014). Timestamps are strings that sort
 * lexicographically in causal order: `<physical ms, 15 digits>.<counter, 5 digits>.<node>`.
 * The node id breaks ties deterministically so that last-writer-wins never needs a coin flip.
 */
export interface HlcParts {
  ms: number;
  counter: number;
  node: string;
}

const MAX_COUNTER = 99_999;
/** Remote clocks further ahead than this are not trusted (a misconfigured clinic PC). */
export const MAX_DRIFT_MS = 5 * 60_000;

export class HlcDriftError extends Error {
  override name = 'HlcDriftError';
  constructor(readonly remote: string, readonly driftMs: number) {
    super(`remote HLC ${remote} is ${driftMs} ms ahead of the local clock (max ${MAX_DRIFT_MS} ms): check the sender's time sync (NTP)`);
  }
}

export function formatHlc(p: HlcParts): string {
  return `${String(p.ms).padStart(15, '0')}.${String(p.counter).padStart(5, '0')}.${p.node}`;
}

export function parseHlc(s: string): HlcParts {
  const m = /^(\d{15})\.(\d{5})\.(.+)$/.exec(s);
  if (!m) throw new Error(`not an HLC timestamp: ${JSON.stringify(s)}`);
  return { ms: Number(m[1]), counter: Number(m[2]), node: m[3]! };
}

export const HLC_PATTERN = /^\d{15}\.\d{5}\..+$/;

/** Compare two HLC strings: negative if a happened before b. */
export function compareHlc(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export class HybridLogicalClock {
  private last: HlcParts;
  constructor(readonly node: string, private readonly now: () => number = Date.now) {
    if (!node || /\s/.test(node)) throw new Error('HLC node id must be a non-empty token');
    this.last = { ms: 0, counter: 0, node };
  }

  /** A timestamp for a local event. */
  tick(): string {
    const wall = this.now();
    if (wall > this.last.ms) this.last = { ms: wall, counter: 0, node: this.node };
    else this.last = this.bump(this.last.ms, this.last.counter + 1);
    return formatHlc(this.last);
  }

  /** Merge a timestamp received from elsewhere; returns the timestamp for the receive event. */
  receive(remote: string): string {
    const r = parseHlc(remote);
    const wall = this.now();
    if (r.ms - wall > MAX_DRIFT_MS) throw new HlcDriftError(remote, r.ms - wall);
    const ms = Math.max(wall, this.last.ms, r.ms);
    let counter = 0;
    if (ms === this.last.ms && ms === r.ms) counter = Math.max(this.last.counter, r.counter) + 1;
    else if (ms === this.last.ms) counter = this.last.counter + 1;
    else if (ms === r.ms) counter = r.counter + 1;
    this.last = this.bump(ms, counter);
    return formatHlc(this.last);
  }

  /** Restore the clock after a restart so it never goes backwards. */
  seed(previous: string | null | undefined): void {
    if (!previous) return;
    const p = parseHlc(previous);
    if (p.ms > this.last.ms || (p.ms === this.last.ms && p.counter > this.last.counter)) this.last = { ...p, node: this.node };
  }

  private bump(ms: number, counter: number): HlcParts {
    // Counter overflow: borrow a millisecond rather than wrapping (which would reorder).
    if (counter > MAX_COUNTER) return { ms: ms + 1, counter: 0, node: this.node };
    return { ms, counter, node: this.node };
  }
}
