/**
 * Demo data for a clinic, run by `main.ts` when `EDGE_DEMO_SEED_PASSWORD` is set (the demo
 * sets it; production never does): local staff accounts from the staff dictionary with that
 * password, a week of schedule, drug stock, a family-doctor team with service packages, and
 * past signed visits with lab results for the first residents. Waits for central's
 * dictionaries first; every seed is idempotent, so a restarted demo seeds nothing twice.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../contracts/runtime/index.ts';
import type { EdgeAgent } from './agent.ts';
import { seedHisDemo } from './his/index.ts';
import { seedClinicalDemo } from './his/clinical/index.ts';
import { seedCareDemo } from './care/index.ts';

export async function seedDemo(agent: EdgeAgent, password: string, log: Logger): Promise<string[]> {
  const lines: string[] = [];
  for (let i = 0; i < 120 && Object.keys(agent.store.dictionaryVersions()).length < 5; i++) await sleep(500);
  if (Object.keys(agent.store.dictionaryVersions()).length < 5) {
    log.warn('dictionaries not received from central in 60 s: demo data not seeded (restart the demo once central runs)');
    return ['demo data not seeded: no dictionaries from central yet'];
  }
  // The simulated activity registers residents; the clinical seed needs a few.
  for (let i = 0; i < 60 && (agent.store.db.prepare('SELECT count(*) AS n FROM residents').get() as { n: number }).n < 3; i++) await sleep(500);
  const his = seedHisDemo(agent.store, { staffPassword: password });
  lines.push(`schedule slots ${his.slots}, stock receipts ${his.receipts}, accounts ${his.accounts.length ? his.accounts.join(', ') : 'already there'}`, ...his.notes);
  const care = seedCareDemo(agent.store, { doctor: 'd0001', doctorName: '张建华', nurse: 'n0001', nurseName: '刘晓燕' });
  lines.push(care ? `family-doctor team ${care.teamId} with ${care.packageIds.length} packages` : 'family-doctor team already there');
  const clin = await seedClinicalDemo(agent.store, { doctor: 'd0001' });
  lines.push(`past visits ${clin.visits}, lab results ${clin.labResults}`, ...clin.notes);
  log.info({ seed: lines }, 'demo data seeded');
  return lines;
}
