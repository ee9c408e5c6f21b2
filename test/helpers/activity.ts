import { makeBloodPressure, makeEncounter, makeResident, prng } from '../../edge-agent/sim/generate.ts';
import type { EdgeStore, Tx } from '../../edge-agent/store/store.ts';

/**
 * Write realistic records at an edge until its last seq is `n`; returns the last committed seq.
 * `perTx` records share one transaction (a batch of device readings, say); default one each.
 */
export function writeActivity(edge: { store: EdgeStore }, n: number, seed: number, perTx = 1): number {
  const r = prng(seed);
  const residents: string[] = [];
  let last = edge.store.stats().lastSeq;
  const one = (tx: Tx): number => {
    if (residents.length < 3 || r() < 0.2) {
      const res = makeResident(r);
      residents.push(res.residentId);
      return tx.emit('resident', res.residentId, res);
    }
    if (r() < 0.5) {
      const e = makeEncounter(r, residents[Math.floor(r() * residents.length)]!);
      return tx.emit('encounter', e.encounterId, e);
    }
    const [o] = makeBloodPressure(r, residents[0]!, 'bp-1');
    return tx.emit('observation', o!.observationId, o!);
  };
  while (last < n) {
    const k = Math.min(perTx, n - last);
    last = edge.store.transact((tx) => {
      let s = 0;
      for (let i = 0; i < k; i++) s = one(tx);
      return s;
    });
  }
  return last;
}
