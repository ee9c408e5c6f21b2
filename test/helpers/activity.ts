import { makeBloodPressure, makeEncounter, makeResident, prng } from '../../edge-agent/sim/generate.ts';
import type { EdgeStore } from '../../edge-agent/store/store.ts';

/** Write `n` realistic records at an edge; returns the last committed seq. */
export function writeActivity(edge: { store: EdgeStore }, n: number, seed: number): number {
  const r = prng(seed);
  const residents: string[] = [];
  let last = 0;
  while (edge.store.stats().lastSeq < n) {
    if (residents.length < 3 || r() < 0.2) {
      const res = makeResident(r);
      residents.push(res.residentId);
      last = edge.store.write('resident', res.residentId, res);
    } else if (r() < 0.5) {
      const e = makeEncounter(r, residents[Math.floor(r() * residents.length)]!);
      last = edge.store.write('encounter', e.encounterId, e);
    } else {
      const [o] = makeBloodPressure(r, residents[0]!, 'bp-1');
      last = edge.store.write('observation', o!.observationId, o!);
    }
  }
  return last;
}

