/**
 * Every indicator on a small district whose expected values are worked out by hand below.
 * Org (seeded demo district): centre c01-xinhua with station s01-heping under it; centre c02-dongfeng.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { Analytics, INDICATOR_BY_ID, DISTRICT_SCOPE, scopeFor, ScopeError } from './index.ts';
import { handWorkedDistrict } from './handworked.ts';
import { build as b, ingestRecords } from './testkit.ts';
import { parsePeriod, previousPeriod, yearAgo } from './periods.ts';
import type { CaseRec } from './cases.ts';

t.test('periods', async (t) => {
  t.same(parsePeriod('2026-Q4'), { kind: 'quarter', key: '2026-Q4', from: '2026-10-01', to: '2027-01-01', year: 2026, months: 3 });
  t.equal(previousPeriod(parsePeriod('2026-01')).key, '2025-12');
  t.equal(previousPeriod(parsePeriod('2026-Q1')).key, '2025-Q4');
  t.equal(yearAgo(parsePeriod('2026-03')).key, '2025-03');
  t.throws(() => parsePeriod('2026-13'));
});

t.test('indicators on the hand-worked district', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'an-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  const a = await handWorkedDistrict(wh);
  const S = DISTRICT_SCOPE(a.org());
  const val = async (id: string, node: string, period: string) => (await a.engine.value(INDICATOR_BY_ID.get(id)!, node, period, S));
  const eq = async (id: string, node: string, period: string, num: number, den: number | null, why: string) => {
    const v = await val(id, node, period);
    t.same({ num: v.num, den: v.den }, { num, den }, `${id} @ ${node} ${period}: ${why}`);
    if (den) t.equal(v.value, num / den);
  };
  // Record rate 2026: records created by the end of 2026, active. c01 centre counts its station.
  await eq('record_rate', 'c01-xinhua', '2026', 4, 15, 'R1 R2 R3 (c01) + R5 (s01); R4 created 2027; pop 10+5');
  await eq('record_rate', 's01-heping', '2026', 1, 5, 'R5');
  await eq('record_rate', 'c02-dongfeng', '2026', 2, 10, 'R7 R9; R8 cancelled');
  await eq('record_rate', 'district', '2026', 6, 25, 'all');
  // Dynamic use: records with any service in the period; R9 has none.
  await eq('record_use_rate', 'c02-dongfeng', '2026', 1, 2, 'R7 followed up, R9 idle');
  await eq('record_use_rate', 'district', '2026', 5, 6, 'R1 R2 R3 R5 R7 of 6');
  // HTN: R1 4 fu (last controlled), R2 3 fu (last uncontrolled), R4 ended 2026-06 with 1 fu (controlled); R7 4 fu (last uncontrolled).
  await eq('htn_standard_mgmt', 'c01-xinhua', '2026', 1, 3, 'R1 only has >= 4');
  await eq('htn_standard_mgmt', 'district', '2026', 2, 4, 'R1 R7');
  await eq('htn_standard_mgmt', 'c01-xinhua', '2026-Q4', 2, 2, 'quarter needs 1 fu; R4 ended before Q4');
  await eq('htn_control', 'c01-xinhua', '2026', 2, 3, 'R1 R4 controlled at latest');
  await eq('htn_control', 'c02-dongfeng', '2026', 0, 1, 'R7 last uncontrolled');
  await eq('htn_standard_mgmt', 'c01-t1', '2026', 1, 2, 'team via contract: R1 ok, R2 not');
  // T2DM: R5 at the station, 4 fu, last 6.5 mmol/L.
  await eq('dm_standard_mgmt', 'district', '2026', 1, 1, 'R5');
  await eq('dm_control', 's01-heping', '2026', 1, 1, 'R5 last fbg 6.5');
  // Elderly: checks in 2026 R1 R4 (c01) R5 (s01); R7's was 2025-12-30. Pop 65+: 4+2, 2, 4.
  await eq('elderly_mgmt', 'c01-xinhua', '2026', 3, 6, 'R1 R4 R5');
  await eq('elderly_mgmt', 'district', '2026', 3, 10, '');
  await eq('tcm_rate', 'c01-xinhua', '2026', 1, 6, 'R1 twice = 1 resident');
  await eq('tcm_rate', 'district', '2026', 2, 10, 'R1 R7');
  // Contracts in force during 2026: R1, R2 (renewal), R3 (to 2026-05-31), R6 (s01), R8 (terminated 2026-02-15).
  await eq('contract_rate', 'c01-xinhua', '2026', 4, 15, 'R1 R2 R3 R6');
  await eq('contract_rate', 'district', '2026', 5, 25, '');
  await eq('key_contract_rate', 'c01-xinhua', '2026', 2, 7, 'R1 R2 tagged');
  // Renewal: contracted during 2025: R2, R3; R2 renewed in 2026.
  await eq('renewal_rate', 'c01-xinhua', '2026', 1, 2, 'R2 renewed, R3 not');
  await eq('renewal_rate', 'c01-t2', '2026', 0, 1, 'R3');
  // Fulfilment: in force R1 R2 R3 R6 R8; services in 2026: R1 R2 (fu) R3 R6 (visits).
  await eq('fulfilment_rate', 'c01-xinhua', '2026', 4, 4, 'R6 visited c01 in March');
  await eq('fulfilment_rate', 'district', '2026', 4, 5, 'R8 none');
  // March visits: c01 R3 R1 R6 (R2 cancelled), c02 R1; R7 at 2026-03-31T17:30Z is 1 April in China.
  await eq('visits', 'c01-xinhua', '2026-03', 3, null, '');
  await eq('visits', 'district', '2026-03', 4, null, '');
  await eq('visits', 'c02-dongfeng', '2026-04', 1, null, 'R7 local date');
  // Contracted visit rate: contracted visitors R3 R1 (c01, own clinic) R6 (contract at s01, visit at c01) R1 (at c02).
  await eq('contracted_visit_rate', 'district', '2026-03', 2, 4, '');
  // Booked: reg-a and reg-b booked then checked in (v2), R3 walk-in, R6 cancelled (excluded).
  await eq('booked_visit_rate', 'c01-xinhua', '2026-03', 2, 3, '');
  await eq('prescriptions', 'c01-xinhua', '2026-03', 2, null, 'one cancelled');
  // Income: 30 drug + 20 lab - 10 refund = 40 yuan; treatment pending not income.
  await eq('income', 'c01-xinhua', '2026-03', 40, null, '');
  await eq('drug_income_share', 'c01-xinhua', '2026-03', 2000, 4000, '(3000-1000)/4000');
  await eq('staff', 'c01-xinhua', '2026', 46, null, '40 + 6');
  await eq('gps', 'district', '2026', 8, null, '');
  await eq('doctor_nurse_ratio', 'c01-xinhua', '2026', 12, 10, '');

  const ev = await a.engine.evaluate(INDICATOR_BY_ID.get('visits')!, 'c01-xinhua', '2026-03', S);
  t.equal(ev.prev.num, 1, 'MoM: one visit in February');
  t.equal(ev.yoy.num, 0, 'YoY: none in March 2025');
  t.same(ev.children.map((c) => [c.orgId, c.num]), [['s01-heping', 0], ['s02-yingbin', 0], ['c01-t1', 2], ['c01-t2', 2]], 'stations and teams under the centre (R6 contracted with team 2)');
  const trend = await a.engine.trend(INDICATOR_BY_ID.get('visits')!, 'district', '2026-03', 3, S);
  t.same(trend, [{ period: '2026-01', value: 0 }, { period: '2026-02', value: 1 }, { period: '2026-03', value: 4 }]);

  t.same(await a.engine.topDiagnoses('district', '2026-03', S), [{ code: 'I10', name: '原发性高血压', visits: 2 }, { code: 'J06.9', name: '急性上呼吸道感染', visits: 1 }]);
  t.same((await a.engine.incomeStructure('c01-xinhua', '2026-03', S)).map((r) => [r.category, r.yuan]), [['drug', 20], ['exam', 20]]);

  const cases = await a.engine.cases(INDICATOR_BY_ID.get('htn_standard_mgmt')!, 'c01-xinhua', '2026', S, { failingOnly: true });
  t.equal(cases.total, 2);
  t.same(cases.rows.map((r) => [r.residentId, r.count, r.reasons[0]]), [['R2', 3, '期内高血压随访 3 次，少于要求的 4 次'], ['R4', 1, '期内高血压随访 1 次，少于要求的 4 次']]);
  const ctl = await a.engine.cases(INDICATOR_BY_ID.get('htn_control')!, 'c02-dongfeng', '2026', S, { failingOnly: true });
  t.match(ctl.rows[0]!.reasons[0], /2026-11-01.*150\/95/);
  t.equal(ctl.rows[0]!.name, '周七');

  // Scope: a c02 manager cannot name c01 or the district, and sees only c02 rows.
  const s2 = scopeFor(a.org(), 'c02-dongfeng');
  await t.rejects(a.engine.value(INDICATOR_BY_ID.get('visits')!, 'c01-xinhua', '2026-03', s2), ScopeError);
  await t.rejects(a.engine.cases(INDICATOR_BY_ID.get('htn_control')!, 'district', '2026', s2), ScopeError);
  t.equal((await a.engine.value(INDICATOR_BY_ID.get('visits')!, 'c02-dongfeng', '2026-03', s2)).num, 1);
  t.same(await a.engine.topDiagnoses('c02-dongfeng', '2026-03', s2), [{ code: 'J06.9', name: '急性上呼吸道感染', visits: 1 }]);

  // Incremental: a new follow-up for R2 raises c01's standardised management after refresh.
  await ingestRecords(wh, 'c01-xinhua', [b.followup('R2', 'HTN', '2026-12-01', { sbp: 130, dbp: 80, controlled: true })]);
  const r = await a.facts.refresh();
  t.equal(r.records, 1, 'only the new record is read');
  await eq('htn_standard_mgmt', 'c01-xinhua', '2026', 2, 3, 'R2 now has 4');
  t.ok(await a.facts.asOf(), 'as-of time recorded');
});

t.test('QC rules and performance scores on the hand-worked district', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'an-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  const a = await handWorkedDistrict(wh);
  const S = DISTRICT_SCOPE(a.org());
  const overall = new Map((await a.qc.overall('c01-xinhua', '2026', S)).map((r) => [r.rule.id, [r.checked, r.failed]]));
  t.same(overall.get('htn_followups'), [3, 2], 'R1 R2 R4 managed; R2 (3) and R4 (1) short');
  t.same(overall.get('sbp_range'), [8, 0], '8 HTN follow-ups at c01 in 2026, all plausible');
  const d = new Map((await a.qc.overall('district', '2026', S)).map((r) => [r.rule.id, [r.checked, r.failed]]));
  t.same(d.get('elderly_no_check'), [4, 2], 'born <= 1961 with a record: R1 R2 R5 R7; R2 and R7 (checked 2025-12-30) fail');
  t.same(d.get('chronic_no_record'), [4, 1], 'R4 record only in 2027');
  const byInst = await a.qc.byInstitution('htn_followups', 'district', '2026', S);
  t.same(byInst.filter((r) => r.checked > 0).map((r) => [r.unit.id, r.checked, r.failed]), [['c01-xinhua', 3, 2], ['c02-dongfeng', 1, 0]]);
  const cases = await a.qc.cases('htn_followups', 'c01-xinhua', '2026', S);
  t.same(cases.rows.map((r) => [r.residentId, r.reason]), [['R2', '期内随访 3 次，要求至少 4 次'], ['R4', '期内随访 1 次，要求至少 4 次']]);
  // The QC officer tightens the range: now SBP 150 at R2's October visit is "abnormal" above 149.
  const rule = (await a.qc.rules()).find((r) => r.id === 'sbp_range')!;
  await a.qc.saveRule({ ...rule, params: { ...rule.params, max: 149 } }, 'qc1');
  const c2 = await a.qc.cases('sbp_range', 'c01-xinhua', '2026', S);
  t.same(c2.rows.map((r) => [r.residentId, r.day]), [['R1', '2026-05-10'], ['R2', '2026-10-01']]);
  await t.rejects(a.qc.saveRule({ ...rule, params: { ...rule.params, col: 'payload' } }, 'qc1'));
  await t.rejects(a.qc.cases('htn_followups', 'c01-xinhua', '2026', scopeFor(a.org(), 'c02-dongfeng')), ScopeError);

  await a.perf.saveTasks(2026, [{ indicatorId: 'record_rate', weight: 50, target: 0.5 }, { indicatorId: 'htn_control', weight: 50, target: 1 }], 'admin');
  const scores = await a.perf.scores('district', '2026', S, 'centre');
  const sc = new Map(scores.map((s) => [s.unit.id, s]));
  t.equal(sc.get('c01-xinhua')!.score, 60, '(50 x (4/15)/0.5 + 50 x 2/3) / 100');
  t.equal(sc.get('c02-dongfeng')!.score, 20, '(50 x 0.2/0.5 + 50 x 0) / 100');
  t.same(sc.get('c02-dongfeng')!.items.filter((i) => i.failed).map((i) => i.task.indicatorId).sort(), ['htn_control', 'record_rate']);
  await a.perf.saveData([{ orgId: 'c02-dongfeng', indicatorId: 'record_rate', period: '2026', value: 0.5 }], 'admin');
  t.equal((await a.perf.scores('district', '2026', S, 'centre')).find((s) => s.unit.id === 'c02-dongfeng')!.score, 50, 'imported value overrides');
  t.equal(scores[0]!.unit.id, 'c01-xinhua', 'best first');
});

t.test('stored indicator results follow every kind of fact change exactly (incremental = full recomputation)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'an-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  const a = await handWorkedDistrict(wh);
  const S = DISTRICT_SCOPE(a.org());
  const periods = ['2025', '2026', '2027', '2026-Q1', '2026-Q2', '2026-Q4', '2026-01', '2026-03', '2026-05', '2026-12'];
  // Register every indicator x period (stored from the facts as they are now).
  for (const ind of INDICATOR_BY_ID.values()) for (const p of periods) await a.engine.value(ind, 'district', p, S);
  // ... and every case list x period (stored case rows, cases.ts).
  for (const ind of INDICATOR_BY_ID.values()) if (ind.cases) for (const p of periods) await a.engine.cases(ind, 'district', p, S, { limit: 1 });
  // ... and the QC reports (per-patient rules read stored case rows too).
  const qcPeriods = ['2025', '2026', '2026-Q2', '2026-12'];
  for (const p of qcPeriods) await a.qc.overall('district', p, S);
  const warmed = await a.engine.warm([...INDICATOR_BY_ID.values()], new Date('2026-06-15T12:00:00+08:00'));
  t.ok(warmed > 0, `warm registered the current pages' periods too (${warmed})`);
  const before = await a.engine.value(INDICATOR_BY_ID.get('visits')!, 'district', '2026-03', S);

  await ingestRecords(wh, 'c01-xinhua', [
    // a new follow-up, and a new version of one turning it uncontrolled (latest flag changes)
    b.followup('R2', 'HTN', '2026-12-01', { sbp: 130, dbp: 80, controlled: true }),
    { ...b.followup('R1', 'HTN', '2026-11-10', { sbp: 150, dbp: 95, controlled: false }), version: 2 },
    // a visit, then its cancellation (a new version leaves no fact)
    { ...b.encounter('R3', '2026-03-06T10:00:00+08:00'), recordId: 'enc-inc' },
    // a new resident and record, enrolled and contracted to a team: her earlier team-less facts move to it
    b.resident('R10', '冯十', '1948-02-02', '2'), b.healthRecord('R10', 'c01-xinhua', '2026-02-01'), b.enrol('R10', 'T2DM', '2026-02-01'),
    b.followup('R10', 'T2DM', '2026-03-01', { fbg: 6.1, controlled: true }), b.elderlyCheck('R10', '2026-03-02'),
  ]);
  await a.refresh({ warm: false });
  await ingestRecords(wh, 'c01-xinhua', [
    { ...b.encounter('R3', '2026-03-06T10:00:00+08:00', { status: 'cancelled' }), recordId: 'enc-inc', version: 2 },
    b.contract('R10', 'c01-t2', '2026-04-01', '2027-03-31', { keyPopulationTags: ['elderly'] }),
    // an enrolment ended, a contract terminated early, a backdated record from 2025
    { ...b.enrol('R2', 'HTN', '2026-03-01', { status: 'ended', endedDate: '2026-09-01', endReason: 'moved_away' }), version: 2 },
    { ...b.contract('R1', 'c01-t1', '2026-01-01', '2026-12-31', { status: 'terminated', terminatedDate: '2026-04-30', keyPopulationTags: ['elderly', 'hypertension'] }), version: 2 },
    b.encounter('R1', '2025-11-03T09:00:00+08:00'),
    b.charge('R1', '2026-03-15T09:40:00+08:00', 'western_drug', 4500),
    // a corrected name: stored case rows of every period carry it (whatever the record's day)
    { ...b.resident('R2', '王贰', '1960-01-01', '2'), version: 2 },
  ]);
  // a visit without a resident (counts in plain visit counts only), not schema-validated on purpose
  await ingestRecords(wh, 's01-heping', [{ type: 'encounter', recordId: 'enc-anon', payload: { encounterId: 'enc-anon', class: 'outpatient', status: 'finished', registeredAt: '2026-03-09T09:00:00+08:00' } }], false);
  await a.refresh({ warm: false });
  t.equal((await a.engine.value(INDICATOR_BY_ID.get('visits')!, 'district', '2026-03', S)).num, before.num + 1, 'March visits: +1 anonymous, the added-then-cancelled one not counted');

  // A fresh instance reads only the stored rows; each must equal a full recomputation from the facts.
  const b2 = await Analytics.open(wh);
  const norm = (rows: { clinic_id?: string | null; team_id?: string | null; v: unknown }[]) => rows.filter((r) => Number(r.v) !== 0).map((r) => `${r.clinic_id}|${r.team_id ?? ''}|${Number(r.v)}`).sort();
  const keys = await b2.db.all<{ mkey: string; period: string }>('SELECT mkey, period FROM an_agg_key');
  t.ok(keys.length >= 150, `${keys.length} stored results checked`);
  let bad = 0;
  for (const k of keys) {
    const m = JSON.parse(k.mkey);
    const p = parsePeriod(k.period);
    const stored = norm(await b2.engine.measureRows(m, p, S));
    const full = norm(await b2.engine.recompute(m, p));
    if (JSON.stringify(stored) !== JSON.stringify(full)) { bad++; t.same(stored, full, `${k.period} ${k.mkey}`); }
  }
  t.equal(bad, 0, 'every stored result equals its full recomputation');

  // Stored case lists: every row equals the full recomputation from the facts, and per clinic
  // the rows count the stored denominator and their ok flags the stored numerator.
  const ckeys = await b2.engine.caseStore.keys();
  t.ok(ckeys.length > [...INDICATOR_BY_ID.values()].filter((i) => i.cases).length * periods.length, `${ckeys.length} stored case lists checked (indicators' and QC rules')`);
  const line = (r: CaseRec) => JSON.stringify([r.resident_id, r.clinic_id, r.team_id || '', r.since, Number(r.ok), r.cnt === null ? null : Number(r.cnt), r.last_day, r.n1, r.n2, r.n3, r.flag, r.name, r.sex, r.birth]);
  let badCases = 0;
  let rowsChecked = 0;
  for (const k of ckeys) {
    t.ok(k.ready, 'built');
    const stored = (await b2.engine.caseStore.stored(k.sid)).map(line).sort();
    const full = (await b2.engine.caseStore.recompute(k.def, k.period)).map(line).sort();
    rowsChecked += full.length;
    if (JSON.stringify(stored) !== JSON.stringify(full)) { badCases++; t.same(stored, full, `cases ${k.period.key} ${JSON.stringify(k.def.num)}`); }
    const perClinic = (rows: { clinic_id?: string | null; v: unknown }[]) => { const m = new Map<string, number>(); for (const r of rows) if (Number(r.v)) m.set(r.clinic_id!, (m.get(r.clinic_id!) ?? 0) + Number(r.v)); return [...m].sort(); };
    const rows = await b2.engine.caseStore.stored(k.sid);
    t.same(perClinic(rows.map((r) => ({ clinic_id: r.clinic_id, v: 1 }))), perClinic(await b2.engine.measureRows(k.def.den, k.period, S)), `denominator ${k.period.key}`);
    t.same(perClinic(rows.map((r) => ({ clinic_id: r.clinic_id, v: r.ok }))), perClinic(await b2.engine.measureRows(k.def.num, k.period, S)), `numerator ${k.period.key}`);
  }
  t.ok(rowsChecked > 100, `${rowsChecked} case rows`);
  t.equal(badCases, 0, 'every stored case list equals its full recomputation');

  // QC rules read from stored case rows give what their live subject queries give.
  for (const p of qcPeriods) {
    for (const r of await b2.qc.overall('district', p, S)) {
      const s = b2.qc.subjectSql(r.rule, parsePeriod(p), b2.org().root, S);
      const live = await b2.db.get<{ n: number; f: number }>(`SELECT COUNT(*) AS n, SUM(x.failed) AS f FROM (${s.sql}) x`, s.params);
      t.same([r.checked, r.failed], [Number(live?.n ?? 0), Number(live?.f ?? 0)], `QC ${r.rule.id} ${p}: stored = live`);
    }
  }
});

t.test('case list: count and pages from one pass, keyset pages follow the full order', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'an-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  const a = await handWorkedDistrict(wh);
  const S = DISTRICT_SCOPE(a.org());
  const ind = INDICATOR_BY_ID.get('htn_standard_mgmt')!;
  const full = await a.engine.cases(ind, 'district', '2026', S, { limit: 100 });
  t.same(full.rows.map((r) => [r.residentId, r.ok]), [['R2', false], ['R4', false], ['R1', true], ['R7', true]], 'failing first, then by clinic and resident');
  const walked: string[] = [];
  let after: { ok: number; clinic_id: string; resident_id: string } | undefined;
  for (;;) {
    const pg = await a.engine.cases(ind, 'district', '2026', S, { limit: 1, after });
    t.equal(pg.total, 4, 'total on every page');
    const r = pg.rows[0];
    if (!r) break;
    walked.push(r.residentId);
    after = { ok: r.ok ? 1 : 0, clinic_id: r.clinicId, resident_id: r.residentId };
  }
  t.same(walked, full.rows.map((r) => r.residentId), 'keyset pages of 1 walk the same order');
  t.equal((await a.engine.cases(ind, 'district', '2026', S, { failingOnly: true, limit: 100 })).total, 2);
});
