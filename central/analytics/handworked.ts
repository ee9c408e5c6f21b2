/**
 * The small hand-worked district every indicator test (and the portal tests) use; the expected
 * values are worked out in analytics.test.ts. Org (seeded demo district): centre c01-xinhua with
 * station s01-heping under it; centre c02-dongfeng.
 */
import type { Warehouse } from '../warehouse/types.ts';
import { Analytics } from './index.ts';
import { build as b, ingestRecords } from './testkit.ts';

export async function handWorkedDistrict(wh: Warehouse): Promise<Analytics> {
  const a = await Analytics.open(wh, { seedDemoDistrict: true });
  const pop = (org: string, permanent: number, elderly: number, key: number) => a.db.run('INSERT INTO an_population (org_id, year, permanent, elderly, key_pop) VALUES (?, 2026, ?, ?, ?)', [org, permanent, elderly, key]);
  await pop('c01-xinhua', 10, 4, 5);
  await pop('s01-heping', 5, 2, 2);
  await pop('c02-dongfeng', 10, 4, 4);
  await a.db.run("INSERT INTO an_staffing (org_id, staff, doctors, gps, nurses) VALUES ('c01-xinhua', 40, 10, 6, 8), ('s01-heping', 6, 2, 2, 2)");
  const fu = (r: string, d: 'HTN' | 'T2DM', date: string, controlled: boolean, v: { sbp?: number; dbp?: number; fbg?: number } = { sbp: controlled ? 135 : 150, dbp: controlled ? 85 : 95 }) => b.followup(r, d, date, { ...v, controlled });
  await ingestRecords(wh, 'c01-xinhua', [
    b.resident('R1', '张一', '1950-03-01'), b.resident('R2', '王二', '1960-01-01', '2'), b.resident('R3', '李三', '1980-05-05'), b.resident('R4', '赵四', '1945-07-07'),
    b.healthRecord('R1', 'c01-xinhua', '2025-05-01'), b.healthRecord('R2', 'c01-xinhua', '2026-02-01'), b.healthRecord('R3', 'c01-xinhua', '2026-07-01'), b.healthRecord('R4', 'c01-xinhua', '2027-01-05'),
    b.enrol('R1', 'HTN', '2025-01-01'), b.enrol('R2', 'HTN', '2026-03-01'), b.enrol('R4', 'HTN', '2026-01-10', { status: 'ended', endedDate: '2026-06-01', endReason: 'moved_away' }),
    fu('R1', 'HTN', '2026-02-10', true), fu('R1', 'HTN', '2026-05-10', false), fu('R1', 'HTN', '2026-08-10', true), fu('R1', 'HTN', '2026-11-10', true),
    fu('R2', 'HTN', '2026-04-01', true), fu('R2', 'HTN', '2026-07-01', true), fu('R2', 'HTN', '2026-10-01', false),
    fu('R4', 'HTN', '2026-03-01', true),
    b.elderlyCheck('R1', '2026-06-01'), b.elderlyCheck('R4', '2026-05-01'),
    b.tcm('R1', '2026-06-01'), b.tcm('R1', '2026-09-01'),
    b.contract('R1', 'c01-t1', '2026-01-01', '2026-12-31', { keyPopulationTags: ['elderly', 'hypertension'] }),
    b.contract('R2', 'c01-t1', '2025-01-01', '2025-12-31'),
    b.contract('R2', 'c01-t1', '2026-01-01', '2026-12-31', { status: 'renewed', previousContractId: 'ct-R2-2025-01-01', keyPopulationTags: ['hypertension'] }),
    b.contract('R3', 'c01-t2', '2025-06-01', '2026-05-31'),
    b.encounter('R3', '2026-03-05T10:00:00+08:00', { diagnoses: [{ code: 'I10', name: '原发性高血压', primary: true }] }),
    b.encounter('R1', '2026-03-10T09:00:00+08:00', { diagnoses: [{ code: 'I10', name: '原发性高血压', primary: true }] }),
    b.encounter('R6', '2026-03-20T09:00:00+08:00'),
    b.encounter('R1', '2026-02-10T09:00:00+08:00'),
    b.encounter('R2', '2026-03-02T09:00:00+08:00', { status: 'cancelled' }),
    { ...b.registration('R1', '2026-03-10', 'booked'), recordId: 'reg-a' }, { ...b.registration('R2', '2026-03-11', 'booked'), recordId: 'reg-b' },
    b.registration('R3', '2026-03-05', 'registered'), b.registration('R6', '2026-03-20', 'cancelled'),
    b.prescription('R1', '2026-03-10T09:30:00+08:00'), b.prescription('R3', '2026-03-05T10:30:00+08:00'), b.prescription('R3', '2026-03-05T10:40:00+08:00', { status: 'cancelled' }),
    b.charge('R1', '2026-03-10T09:40:00+08:00', 'western_drug', 3000), b.charge('R3', '2026-03-05T10:50:00+08:00', 'lab', 2000),
    b.charge('R3', '2026-03-05T10:55:00+08:00', 'treatment', 1000, { status: 'pending' }),
    b.charge('R1', '2026-03-11T09:00:00+08:00', 'western_drug', -1000, { reversesChargeId: 'ch-x', unitPriceFen: 1000 }),
  ]);
  // Second versions: both booked registrations later checked in / finished (still booked visits).
  await ingestRecords(wh, 'c01-xinhua', [
    { ...b.registration('R1', '2026-03-10', 'finished'), recordId: 'reg-a', version: 2 },
    { ...b.registration('R2', '2026-03-11', 'registered'), recordId: 'reg-b', version: 2 },
  ]);
  await ingestRecords(wh, 's01-heping', [
    b.resident('R5', '钱五', '1955-01-01'), b.resident('R6', '孙六', '1990-01-01', '2'),
    b.healthRecord('R5', 's01-heping', '2024-01-01'),
    b.enrol('R5', 'T2DM', '2025-01-01'),
    fu('R5', 'T2DM', '2026-01-15', true, { fbg: 6.8 }), fu('R5', 'T2DM', '2026-04-15', false, { fbg: 7.9 }), fu('R5', 'T2DM', '2026-07-15', true, { fbg: 6.6 }), fu('R5', 'T2DM', '2026-10-15', true, { fbg: 6.5 }),
    b.elderlyCheck('R5', '2026-04-01'),
    b.contract('R6', 'c01-t2', '2026-03-01', '2027-02-28'),
  ]);
  await ingestRecords(wh, 'c02-dongfeng', [
    b.resident('R7', '周七', '1950-01-01'), b.resident('R8', '吴八', '1970-01-01'), b.resident('R9', '郑九', '1985-01-01'),
    b.healthRecord('R7', 'c02-dongfeng', '2026-03-01'), b.healthRecord('R8', 'c02-dongfeng', '2026-03-01', { status: 'cancelled', cancelledDate: '2026-04-01', cancelReason: 'death' }),
    b.healthRecord('R9', 'c02-dongfeng', '2026-01-01'),
    b.enrol('R7', 'HTN', '2026-01-01'),
    fu('R7', 'HTN', '2026-02-01', true), fu('R7', 'HTN', '2026-05-01', true), fu('R7', 'HTN', '2026-08-01', true), fu('R7', 'HTN', '2026-11-01', false),
    b.elderlyCheck('R7', '2025-12-30'), b.tcm('R7', '2026-02-01'),
    b.contract('R8', 'c02-t1', '2026-01-01', '2026-12-31', { status: 'terminated', terminatedDate: '2026-02-15' }),
    b.encounter('R1', '2026-03-12T09:00:00+08:00', { diagnoses: [{ code: 'J06.9', name: '急性上呼吸道感染', primary: true }] }),
    b.encounter('R7', '2026-03-31T17:30:00Z'),
  ]);
  await a.facts.refresh();
  return a;
}

