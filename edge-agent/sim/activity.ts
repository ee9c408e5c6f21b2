/** Demo activity: a clinic registering residents, seeing them and taking their blood pressure. */
import type { Logger } from '../../contracts/runtime/index.ts';
import type { EdgeStore } from '../store/store.ts';
import { makeBloodPressure, makeEncounter, makeResident, prng } from './generate.ts';

export class ActivitySimulator {
  private timer: NodeJS.Timeout | null = null;
  private readonly residents: string[] = [];
  private readonly rand = prng(Date.now());
  written = 0;

  constructor(private readonly store: EdgeStore, private readonly perSecond: number, private readonly log: Logger) {}

  start(): void {
    const tickMs = 100;
    let budget = 0;
    this.timer = setInterval(() => {
      budget += (this.perSecond * tickMs) / 1000;
      while (budget >= 1) {
        budget -= this.step();
      }
    }, tickMs);
  }

  /** One unit of activity; returns how many records it wrote. */
  private step(): number {
    const r = this.rand;
    try {
      if (this.residents.length < 5 || r() < 0.2) {
        const res = makeResident(r);
        this.store.write('resident', res.residentId, res);
        this.residents.push(res.residentId);
        this.written++;
        return 1;
      }
      const residentId = this.residents[Math.floor(r() * this.residents.length)]!;
      if (r() < 0.5) {
        const enc = makeEncounter(r, residentId);
        this.store.write('encounter', enc.encounterId, enc);
        this.written++;
        return 1;
      }
      const obs = makeBloodPressure(r, residentId, `${this.store.clinicId}-bp-01`);
      this.store.transact((tx) => { for (const o of obs) tx.emit('observation', o.observationId, o); });
      this.written += obs.length;
      return obs.length;
    } catch (e) {
      this.log.error({ err: (e as Error).message }, 'simulated activity failed');
      return 1;
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
