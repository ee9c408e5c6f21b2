/**
 * Realistic values for simulated devices: normal around the profile's `sim` mean, with
 * occasional critical and implausible ones so alarms and flags get exercised.
 */
import type { Quantity } from '../profiles/schema.ts';
import { gauss, rng } from '../../contracts/runtime/prng.ts';

export { rng };

export interface ValueMix {
  /** Probability of a value in the critical range (default 0.03) */
  criticalRate?: number;
  /** Probability of an implausible value (default 0.01) */
  implausibleRate?: number;
}

export type ValueKind = 'normal' | 'critical' | 'implausible';

/** One value in engineering units, plus what kind it was meant to be. */
export function generateValue(q: Quantity, r: () => number, mix: ValueMix = {}): { value: number; kind: ValueKind } {
  const p = r();
  const ir = mix.implausibleRate ?? 0.01;
  const cr = mix.criticalRate ?? 0.03;
  const round = (v: number) => Math.round(v * 10 ** q.decimals) / 10 ** q.decimals;
  if (q.dataType === 'bool') return { value: r() < 0.5 ? 0 : 1, kind: 'normal' };
  if (p < ir) {
    const hi = q.plausible.high;
    const lo = q.plausible.low;
    // just outside the plausible range, but still representable in the register type
    if (hi !== undefined && (lo === undefined || r() < 0.7)) return { value: round(hi * 1.2 + 1), kind: 'implausible' };
    if (lo !== undefined && lo > 0) return { value: round(lo - Math.max(lo / 2, 10 ** -q.decimals)), kind: 'implausible' };
  }
  if (p < ir + cr && q.critical) {
    const { low, high } = q.critical;
    const useHigh = high !== undefined && (low === undefined || r() < 0.5);
    if (useHigh) {
      const top = q.plausible.high ?? high * 1.2;
      return { value: round(high + (top - high) * 0.3 + 0.1 * 10 ** -q.decimals), kind: 'critical' };
    }
    if (low !== undefined) {
      const bottom = q.plausible.low ?? low * 0.8;
      return { value: round(low - (low - bottom) * 0.3 - 10 ** -q.decimals), kind: 'critical' };
    }
  }
  const mean = q.sim?.mean ?? ((q.normal?.low ?? q.plausible.low ?? 0) + (q.normal?.high ?? q.plausible.high ?? 100)) / 2;
  const sd = q.sim?.sd ?? mean * 0.05;
  let v = round(mean + gauss(r) * sd);
  // keep "normal" draws out of the critical and implausible bands (after rounding, bounds may be inclusive)
  const lo = Math.max(q.critical?.low ?? -Infinity, q.plausible.low ?? -Infinity);
  const hi = Math.min(q.critical?.high ?? Infinity, q.plausible.high ?? Infinity);
  const span = 10 ** -q.decimals;
  if (v <= lo) v = round(lo + span);
  if (v >= hi) v = round(hi - span);
  return { value: v, kind: 'normal' };
}
