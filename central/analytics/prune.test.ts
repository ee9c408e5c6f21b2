/**
 * Pruning of stored case lists (cases.ts `prune`): lists of a superseded definition go after an
 * hour without a reader, lists of a current definition after a week, the kept ones (the current
 * year's) never; a list an export is still reading is not pruned; a pruned list read again is
 * built again and equals its full recomputation; fact batches do not bring pruned rows back.
 * Time is the case store's clock, moved on by the test (no waiting, no timing thresholds).
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { Analytics, DISTRICT_SCOPE, INDICATOR_BY_ID } from './index.ts';
import { handWorkedDistrict } from './handworked.ts';
import { build as b, ingestRecords } from './testkit.ts';
import { caseDef, caseKey, type CaseDef, type CaseRec } from './cases.ts';
import { currentPeriodKey, parsePeriod, previousPeriod } from './periods.ts';
import { storedRule } from './qc.ts';

const MIN = 60_000;
const line = (r: CaseRec) => JSON.stringify([r.resident_id, r.clinic_id, r.team_id || '', r.since, Number(r.ok), r.cnt === null ? null : Number(r.cnt), r.last_day, r.n1, r.n2, r.n3, r.flag, r.name, r.sex, r.birth]);

t.test('stored case lists nobody reads are pruned; kept, current and exported ones stay', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'an-prune-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  const a = await handWorkedDistrict(wh);
  const S = DISTRICT_SCOPE(a.org());
  const store = a.engine.caseStore;
  let now = Date.now();
  store.clock = () => now;

  const ind = INDICATOR_BY_ID.get('htn_standard_mgmt')!;
  const d = caseDef(ind);
  // The same list with 6 follow-ups a year: a definition since replaced (e.g. a QC parameter changed back).
  const req = d.num.require![0]!;
  const old: CaseDef = { den: d.den, num: { ...d.num, require: [{ ...req, minPerYear: 6 }] } };
  const sid = (def: CaseDef, period: string) => caseKey(def, period).sid;
  const rows = async (s: string) => Number((await a.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM an_case WHERE sid = ?', [s]))?.n);
  const key = async (s: string) => (await a.db.get<{ ready: number }>('SELECT ready FROM an_case_key WHERE sid = ?', [s]))?.ready;

  for (const p of ['2026', '2026-03', '2026-Q1']) await a.engine.cases(ind, 'district', p, S, { limit: 5 });
  await store.ensure(old, parsePeriod('2026'));
  const Y = sid(d, '2026'); const M = sid(d, '2026-03'); const Q = sid(d, '2026-Q1'); const O = sid(old, '2026');
  for (const s of [Y, M, Q, O]) t.ok(await rows(s) > 0, `list ${s} stored with rows`);
  const keep = new Set([Y]);
  const current = new Set([caseKey(d, '').ckey]);

  // An export of the Q1 list stays open, reading a page every 20 minutes (far slower than a real one).
  const exportPage = () => a.engine.cases(ind, 'district', '2026-Q1', S, { limit: 1, noCount: true });
  const advance = async (ms: number) => { for (const end = now + ms; now < end;) { now += 20 * MIN; await exportPage(); } };

  await advance(2 * 60 * MIN);
  let r = await store.prune({ keep, current });
  t.same(r.lists, 1, 'after 2 hours: one list pruned');
  t.equal(await key(O), undefined, 'the superseded definition\'s list is gone');
  t.equal(await rows(O), 0, 'with its rows');
  for (const s of [Y, M, Q]) t.equal(await key(s), 1, `${s} kept (current definition, idle less than a week, or being read)`);

  await advance(8 * 24 * 60 * MIN);
  r = await store.prune({ keep, current });
  t.same(r.lists, 1, 'after 8 more days: one more list pruned');
  t.equal(await key(M), undefined, 'the March list nobody read for 8 days is gone');
  t.equal(await rows(M), 0, 'with its rows');
  t.equal(await key(Y), 1, 'the kept (current year) list stays although nobody read it');
  t.equal(await key(Q), 1, 'the list the open export reads stays');
  t.ok((await exportPage()).rows.length === 1, 'the export still gets its rows');

  // A fact batch for residents of the pruned lists does not write rows for them again.
  await ingestRecords(wh, 'c01-xinhua', [b.followup('R2', 'HTN', '2026-03-15', { sbp: 128, dbp: 78, controlled: true })]);
  await a.refresh({ warm: false });
  t.equal(await rows(M) + await rows(O), 0, 'fact batches leave pruned lists alone');

  // Read again (this process still remembered March as ready): noticed at the touch, built again, exact.
  now += 2 * MIN;
  const again = await a.engine.cases(ind, 'district', '2026-03', S, { limit: 100 });
  t.ok(again.total > 0, `the March list is built again (${again.total} rows)`);
  t.equal(await key(M), 1, 'registered again');
  t.same((await store.stored(M)).map(line).sort(), (await store.recompute(d, parsePeriod('2026-03'))).map(line).sort(), 'rebuilt list = full recomputation');

  // An interrupted prune (key marked, some rows deleted) is taken back by a reader...
  await a.db.run('UPDATE an_case_key SET ready = -1 WHERE sid = ?', [Q]);
  await a.db.run('DELETE FROM an_case WHERE sid = ? AND resident_id IN (SELECT resident_id FROM an_case WHERE sid = ? ORDER BY resident_id LIMIT 1)', [Q, Q]);
  const other = await Analytics.open(wh);
  const q1 = await other.engine.cases(ind, 'district', '2026-Q1', DISTRICT_SCOPE(other.org()), { limit: 100 });
  t.equal(await key(Q), 1, 'a reader took the marked list back');
  t.same((await store.stored(Q)).map(line).sort(), (await store.recompute(d, parsePeriod('2026-Q1'))).map(line).sort(), 'and rebuilt it exactly');
  t.equal(q1.total, (await store.recompute(d, parsePeriod('2026-Q1'))).length, 'its count is the full one');
  // ... or finished by the next prune, whatever its last read.
  await a.db.run('UPDATE an_case_key SET ready = -1 WHERE sid = ?', [Q]);
  r = await store.prune({ keep, current });
  t.equal(await key(Q), undefined, 'a marked list is pruned by the next pass');
  t.equal(await rows(Q), 0, 'with its rows');
});

t.test('Analytics.pruneCases keeps the current year of every indicator and drops idle older lists', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'an-prune-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  const a = await handWorkedDistrict(wh);
  const S = DISTRICT_SCOPE(a.org());
  let now = Date.now();
  a.engine.caseStore.clock = () => now;
  const year = parsePeriod(currentPeriodKey('year', new Date(now)));
  const last = previousPeriod(year);
  const ind = INDICATOR_BY_ID.get('htn_control')!;
  for (const p of [year, last]) await a.engine.cases(ind, 'district', p.key, S, { limit: 1 });
  // QC rules' lists (a current definition: not superseded).
  await a.qc.overall('district', last.key, S);
  await a.qc.warm(year);
  const before = (await a.engine.caseStore.keys()).length;
  now += 3 * MIN;
  const r = await a.pruneCases({ force: true, now: new Date(now), idleMs: 0 });
  const left = await a.engine.caseStore.keys();
  t.ok(r.lists > 0 && left.length === before - r.lists, `${r.lists} of ${before} lists pruned (idle longer than the 2-minute floor)`);
  t.ok(left.some((k) => k.sid === caseKey(caseDef(ind), year.key).sid), 'the current year\'s list is kept');
  t.notOk(left.some((k) => k.period.key === last.key), 'last year\'s lists (indicator and QC) idle past the limit are gone');
  for (const s of (await a.qc.rules()).filter((x) => x.enabled).map((x) => storedRule(x, year)).filter((x) => x !== null)) t.ok(left.some((k) => k.sid === caseKey(s.def, year.key).sid), `the current year's QC list ${JSON.stringify(s.def.num.require)} is kept`);
  t.same(await a.pruneCases({ now: new Date(now) }), { lists: 0, rows: 0 }, 'not again within the interval unless forced');
});

t.test('the refresh loop builds the current year\'s lists of the enabled QC rules (and of every indicator)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'an-prune-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  const a = await handWorkedDistrict(wh);
  await a.refresh();
  const year = parsePeriod(currentPeriodKey('year'));
  const ready = new Set((await a.engine.caseStore.keys()).filter((k) => k.ready).map((k) => k.sid));
  const rules = (await a.qc.rules()).filter((r) => r.enabled).map((r) => storedRule(r, year)).filter((s) => s !== null);
  t.ok(rules.length >= 4, `${rules.length} per-patient QC rules`);
  for (const s of rules) t.ok(ready.has(caseKey(s.def, year.key).sid), `QC list ${JSON.stringify(s.def.num.require)} ${year.key} built`);
  for (const ind of INDICATOR_BY_ID.values()) if (ind.cases) t.ok(ready.has(caseKey(caseDef(ind), year.key).sid), `${ind.id} ${year.key} built`);
});

t.test('a list built in many chunks of changing size has every resident of its cohort', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'an-prune-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  const a = await handWorkedDistrict(wh);
  const N = 3000;
  const recs = [];
  for (let i = 0; i < N; i++) recs.push(b.resident(`C${i}`, `多${i}`, '1950-01-01'), b.enrol(`C${i}`, 'HTN', '2025-01-01'), ...(i % 2 ? [b.followup(`C${i}`, 'HTN', '2026-02-01', { sbp: 130, dbp: 80, controlled: true })] : []));
  await ingestRecords(wh, 'c01-xinhua', recs, false);
  await a.refresh({ warm: false });
  const ind = INDICATOR_BY_ID.get('htn_control')!;
  const d = caseDef(ind);
  const p = parsePeriod('2026');
  await a.engine.caseStore.ensure(d, p);
  const stored = (await a.engine.caseStore.stored(caseKey(d, '2026').sid)).map(line).sort();
  const full = (await a.engine.caseStore.recompute(d, p)).map(line).sort();
  t.ok(full.length > N, `${full.length} residents in the cohort (chunks start at 200 and adapt to the transaction time)`);
  t.equal(stored.length, full.length, 'every resident stored');
  t.same(stored, full, 'stored list = full recomputation');
});
