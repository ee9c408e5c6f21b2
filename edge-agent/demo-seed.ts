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
import { ImagingRepo, type Modality } from './imaging/repo.ts';
import { newUid } from './imaging/index.ts';

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
  const img = seedImagingDemo(agent);
  lines.push(img > 0 ? `imaging orders for today ${img}` : 'imaging orders for today already there');
  log.info({ seed: lines }, 'demo data seeded');
  return lines;
}

/**
 * Today's imaging worklist: two ultrasound orders and a chest DR for the first residents, so that
 * the US room's worklist query (the demo runs findscu) and the 影像 page have something to show.
 * Only when the clinic has no imaging order for today yet (a restarted demo adds none).
 */
function seedImagingDemo(agent: EdgeAgent): number {
  const db = agent.store.db;
  if (!(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'imaging_orders'").get())) return 0; // imaging module off
  const today = new Date().toLocaleDateString('sv-SE', { timeZone: 'Asia/Shanghai' }).replaceAll('-', '');
  if (db.prepare('SELECT 1 FROM imaging_orders WHERE scheduled_date = ? LIMIT 1').get(today)) return 0;
  const residents = db.prepare('SELECT resident_id FROM residents ORDER BY rowid LIMIT 3').all() as { resident_id: string }[];
  const plan: { modality: Modality; code: string; display: string; time: string }[] = [
    { modality: 'US', code: 'US-ABD', display: '腹部超声（肝胆胰脾）', time: '090000' },
    { modality: 'US', code: 'US-THY', display: '甲状腺超声', time: '093000' },
    { modality: 'DX', code: 'DX-CHEST', display: '胸部正位片（DR）', time: '100000' },
  ];
  const repo = new ImagingRepo(db);
  return agent.store.transact((tx) => {
    let n = 0;
    for (const [i, r] of residents.entries()) {
      const p = plan[i]!;
      repo.createOrder(tx, { residentId: r.resident_id, modality: p.modality, code: p.code, display: p.display, stationAe: null, scheduledDate: today, scheduledTime: p.time, requestedBy: 'd0001' }, newUid());
      n++;
    }
    return n;
  });
}
