/**
 * Turns raw SNMP counter readings into monotonic deltas without false spikes:
 * - a Counter32 that went down wrapped once if the implied delta is plausible;
 * - a Counter64 that went down is a discontinuity (a 64-bit wrap takes decades);
 * - after an agent restart (sysUpTime went backwards) every counter is re-baselined.
 * A discontinuity yields delta 0 (a lost interval beats a spike on a dashboard).
 */
export type CounterOutcome = 'first' | 'normal' | 'wrap' | 'discontinuity' | 'restart';

export interface CounterStep {
  delta: bigint;
  outcome: CounterOutcome;
}

const TWO_32 = 1n << 32n;

/**
 * One counter step. `maxPlausibleDelta` (e.g. link speed x elapsed x 2) lets a Counter32
 * wrap be told apart from a counter reset; undefined means "accept a single wrap".
 */
export function counterStep(prev: bigint | undefined, next: bigint, width: 32 | 64, restarted: boolean, maxPlausibleDelta?: bigint): CounterStep {
  if (prev === undefined) return { delta: 0n, outcome: 'first' };
  if (restarted) return { delta: 0n, outcome: 'restart' };
  if (next >= prev) return { delta: next - prev, outcome: 'normal' };
  if (width === 32 && prev < TWO_32 && next < TWO_32) {
    const wrapped = next + TWO_32 - prev;
    if (maxPlausibleDelta === undefined || wrapped <= maxPlausibleDelta) return { delta: wrapped, outcome: 'wrap' };
  }
  return { delta: 0n, outcome: 'discontinuity' };
}

/** Remembers the last raw value per key and hands out deltas. */
export class CounterTracker {
  readonly #last = new Map<string, bigint>();

  step(key: string, raw: bigint, width: 32 | 64, restarted: boolean, maxPlausibleDelta?: bigint): CounterStep {
    const s = counterStep(this.#last.get(key), raw, width, restarted, maxPlausibleDelta);
    this.#last.set(key, raw);
    return s;
  }

  forget(prefix: string): void {
    for (const k of this.#last.keys()) if (k.startsWith(prefix)) this.#last.delete(k);
  }
}

/** True when sysUpTime (centiseconds) went backwards: the agent restarted. */
export function agentRestarted(prevUptime: number | undefined, uptime: number): boolean {
  return prevUptime !== undefined && uptime < prevUptime;
}
