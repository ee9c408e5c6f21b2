/** The same hand-worked indicators, QC and case lists on PostgreSQL (the analytics SQL is written once for both). */
import t from 'tap';
import fc from 'fast-check';
import { PostgresWarehouse } from '../../central/warehouse/postgres.ts';
import { handWorkedDistrict } from '../../central/analytics/handworked.ts';
import { Analytics, DISTRICT_SCOPE, INDICATOR_BY_ID, scopeFor, ScopeError } from '../../central/analytics/index.ts';
import { parsePeriod } from '../../central/analytics/periods.ts';
import type { CaseRec } from '../../central/analytics/cases.ts';
import { build as b, ingestRecords } from '../../central/analytics/testkit.ts';
import { createTestDatabase } from '../central/postgres.ts';
import { PortalRepo } from '../../central/portal/repo.ts';
import { toItem } from '../../central/ingest/consumer.ts';

t.test('indicators on PostgreSQL', async (t) => {
  const tdb = await createTestDatabase('portal');
  const wh = await PostgresWarehouse.open(tdb.url);
  t.teardown(async () => { await wh.close(); await tdb.drop(); });
  const a = await handWorkedDistrict(wh);
  const S = DISTRICT_SCOPE(a.org());
  const v = async (id: string, node: string, period: string) => { const r = await a.engine.value(INDICATOR_BY_ID.get(id)!, node, period, S); return [r.num, r.den]; };
  t.same(await v('record_rate', 'c01-xinhua', '2026'), [4, 15]);
  t.same(await v('htn_standard_mgmt', 'district', '2026'), [2, 4]);
  t.same(await v('htn_control', 'c01-xinhua', '2026'), [2, 3]);
  t.same(await v('renewal_rate', 'c01-xinhua', '2026'), [1, 2]);
  t.same(await v('fulfilment_rate', 'district', '2026'), [4, 5]);
  t.same(await v('contracted_visit_rate', 'district', '2026-03'), [2, 4]);
  t.same(await v('booked_visit_rate', 'c01-xinhua', '2026-03'), [2, 3]);
  t.same(await v('income', 'c01-xinhua', '2026-03'), [40, null]);
  t.same(await v('doctor_nurse_ratio', 'c01-xinhua', '2026'), [12, 10]);
  const cases = await a.engine.cases(INDICATOR_BY_ID.get('htn_standard_mgmt')!, 'c01-xinhua', '2026', S, { failingOnly: true });
  t.same(cases.rows.map((r) => [r.residentId, r.count]), [['R2', 3], ['R4', 1]]);
  const qc = new Map((await a.qc.overall('district', '2026', S)).map((r) => [r.rule.id, [r.checked, r.failed]]));
  t.same(qc.get('elderly_no_check'), [4, 2]);
  await t.rejects(a.engine.value(INDICATOR_BY_ID.get('visits')!, 'c01-xinhua', '2026-03', scopeFor(a.org(), 'c02-dongfeng')), ScopeError);

  // Stored results kept current by fact batches on PostgreSQL too: a new follow-up, a replaced one,
  // a contract moving a resident's facts to a team; every stored result = its full recomputation.
  for (const ind of INDICATOR_BY_ID.values()) for (const p of ['2026', '2026-Q2', '2026-03']) await a.engine.value(ind, 'district', p, S);
  for (const ind of INDICATOR_BY_ID.values()) if (ind.cases) for (const p of ['2026', '2026-Q2']) await a.engine.cases(ind, 'district', p, S, { limit: 1 });
  await ingestRecords(wh, 'c01-xinhua', [
    b.followup('R2', 'HTN', '2026-12-01', { sbp: 130, dbp: 80, controlled: true }),
    { ...b.followup('R1', 'HTN', '2026-11-10', { sbp: 150, dbp: 95, controlled: false }), version: 2 },
    b.resident('R10', '冯十', '1948-02-02', '2'), b.encounter('R10', '2026-03-02T09:00:00+08:00'), b.contract('R10', 'c01-t2', '2026-04-01', '2027-03-31'),
  ]);
  await a.refresh({ warm: false });
  t.same(await v('htn_standard_mgmt', 'district', '2026'), [3, 4], 'R2 now has 4 follow-ups');
  const fresh = await Analytics.open(wh);
  const norm = (rows: { clinic_id?: string | null; team_id?: string | null; v: unknown }[]) => rows.filter((r) => Number(r.v) !== 0).map((r) => `${r.clinic_id}|${r.team_id ?? ''}|${Number(r.v)}`).sort();
  let bad = 0;
  const keys = await fresh.db.all<{ mkey: string; period: string }>('SELECT mkey, period FROM an_agg_key');
  for (const k of keys) {
    const m = JSON.parse(k.mkey);
    const p = parsePeriod(k.period);
    const stored = norm(await fresh.engine.measureRows(m, p, S));
    const full = norm(await fresh.engine.recompute(m, p));
    if (JSON.stringify(stored) !== JSON.stringify(full)) { bad++; t.same(stored, full, `${k.period} ${k.mkey}`); }
  }
  t.ok(keys.length > 30, `${keys.length} stored results`);
  t.equal(bad, 0, 'every stored result equals its full recomputation');

  // Stored case lists (an_case) likewise; keyset pages in the same order as the whole list.
  const line = (r: CaseRec) => JSON.stringify([r.resident_id, r.clinic_id, r.team_id || '', r.since, Number(r.ok), r.cnt === null ? null : Number(r.cnt), r.last_day, r.n1, r.n2, r.n3, r.flag, r.name, r.sex, r.birth]);
  const ckeys = await fresh.engine.caseStore.keys();
  t.ok(ckeys.length >= 14, `${ckeys.length} stored case lists`);
  let badCases = 0;
  for (const k of ckeys) {
    const stored = (await fresh.engine.caseStore.stored(k.sid)).map(line).sort();
    const full = (await fresh.engine.caseStore.recompute(k.def, k.period)).map(line).sort();
    if (JSON.stringify(stored) !== JSON.stringify(full)) { badCases++; t.same(stored, full, `cases ${k.period.key}`); }
  }
  t.equal(badCases, 0, 'every stored case list equals its full recomputation');
  const ind = INDICATOR_BY_ID.get('htn_standard_mgmt')!;
  const all = await fresh.engine.cases(ind, 'district', '2026', S, { limit: 100 });
  const walked: string[] = [];
  let after: { ok: number; clinic_id: string; resident_id: string } | undefined;
  for (let r; (r = (await fresh.engine.cases(ind, 'district', '2026', S, { limit: 1, after })).rows[0]);) { walked.push(r.residentId); after = { ok: r.ok ? 1 : 0, clinic_id: r.clinicId, resident_id: r.residentId }; }
  t.same(walked, all.rows.map((r) => r.residentId), 'keyset pages walk the list order');
  t.same(all.rows.map((r) => [r.residentId, r.ok]), [['R4', false], ['R1', true], ['R2', true], ['R7', true]], 'R2 met after her 4th follow-up; failing first, then clinic (code-point order), then resident');

  // The portal's data-flow views on PostgreSQL: dead letters (bytea start and length), the latest
  // dictionary versions. The second message's NUL bytes reach the letter's detail (the JSON
  // parser quotes its input), which PostgreSQL text cannot hold: stored with U+FFFD instead.
  await wh.ingest([
    toItem({ subject: 'clinic.c01-xinhua.rec.observation', data: Buffer.from('{"名字":"张三", bad') }),
    toItem({ subject: 'clinic.c02-dongfeng.rec.observation', data: Buffer.from('\u0000\u0001xyz') }),
  ]);
  await wh.saveDictionary('drugs', [{ code: 'X01', name: '阿司匹林肠溶片', active: true, attrs: {} }]);
  const district = new PortalRepo(a, wh, { username: 'pg-district', displayName: 'd', role: 'district_manager', orgId: 'district' }, '127.0.0.1');
  const centre = new PortalRepo(a, wh, { username: 'pg-centre', displayName: 'c', role: 'centre_manager', orgId: 'c01-xinhua' }, '127.0.0.1');
  t.same((await district.deadLetterSummary()).map((r) => [r.clinicId, r.reason, r.n]), [['c01-xinhua', 'not_json', 1], ['c02-dongfeng', 'not_json', 1]], 'dead letters per clinic and reason');
  const letters = await district.deadLetters({ limit: 10 });
  t.same(letters.map((r) => [r.clinicId, r.rawPreview, r.rawBytes]), [['c02-dongfeng', '··xyz', 5], ['c01-xinhua', '{"名字":"张三", bad', 23]], 'newest first, the start as text, control characters shown as dots, the size in bytes');
  t.same((await centre.deadLetters({ limit: 10 })).map((r) => r.clinicId), ['c01-xinhua'], 'a centre manager sees only their clinic\'s');
  t.same((await centre.deadLetters({ limit: 10, clinicId: 'c02-dongfeng' })).length, 0, 'even when asking for another');
  t.equal((await district.latestDictionaryVersions()).get('drugs'), 1, 'latest dictionary versions');
  // Whatever bytes arrive on a subject, the PostgreSQL warehouse takes them in (applied or
  // dead-lettered) without an error: an error here would have the consumer retry the batch for ever.
  const before = (await district.deadLetters({ limit: 1 }))[0]!.id;
  let runs = 0;
  await fc.assert(fc.asyncProperty(fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.string({ unit: 'binary', maxLength: 200 }).map((x) => Buffer.from(x)), fc.json({ maxDepth: 3 }).map((x) => Buffer.from(x))), async (bytes) => {
    runs++;
    await wh.ingest([toItem({ subject: 'clinic.c01-xinhua.rec.observation', data: bytes })]);
  }), { numRuns: 60 });
  const c01 = await district.deadLetters({ limit: 100, clinicId: 'c01-xinhua' });
  t.equal(c01.filter((l) => l.id > before).length, runs, `${runs} generated messages, each dead-lettered`);
  // What the clinic is told in the answer to its heartbeat.
  const told = await wh.refusals('c01-xinhua');
  t.same([told.count, told.last?.reason, told.last?.detail], [c01.length, c01[0]!.reason, c01[0]!.detail.slice(0, 300)], 'refusals: the count and the latest, as the dead-letter list has them');
  t.same(await wh.refusals('s01-heping'), { count: 0, last: null }, 'none for a clinic without dead letters');
  t.notOk(letters[0]!.detail.includes('\u0000'), `a NUL in the detail is stored as U+FFFD (${JSON.stringify(letters[0]!.detail)})`);
});
