/**
 * A resident with a long history (a patient on a connected monitor: 20,000 observations) costs a
 * fact batch what any resident costs: the batch's recount of stored results and case lists reads
 * a bounded number of rows (counted at the SQL adapter, not timed), and the requirement
 * subqueries are index range reads that stop early (EXPLAIN QUERY PLAN). Results stay exact.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { Analytics, DISTRICT_SCOPE, INDICATOR_BY_ID } from './index.ts';
import { handWorkedDistrict } from './handworked.ts';
import { build as b, ingestRecords, type Rec } from './testkit.ts';
import { sqlFor, type Op, type SqlDb } from './sql.ts';
import { factWhere } from './engine.ts';
import { parsePeriod } from './periods.ts';
import { CASE_CNT_CAP, type CaseRec } from './cases.ts';

/** Counts the rows statements inside transactions (fact batches) hand back. */
function counting(db: SqlDb): { db: SqlDb; rows: { n: number; max: number; maxSql: string } } {
  const rows = { n: 0, max: 0, maxSql: '' };
  const wrapped: SqlDb = {
    ...db,
    dialect: db.dialect,
    all: db.all.bind(db), get: db.get.bind(db), run: db.run.bind(db), exec: db.exec.bind(db),
    txGen: <T>(gen: () => Generator<Op, T, unknown>) => db.txGen(function* () {
      const g = gen();
      let r = g.next();
      while (!r.done) {
        const o = r.value;
        const res: unknown = yield o;
        const k = o.op === 'all' ? (res as unknown[]).length : o.op === 'get' && res !== undefined ? 1 : 0;
        rows.n += k;
        if (k > rows.max) { rows.max = k; rows.maxSql = o.sql; }
        r = g.next(res);
      }
      return r.value;
    }),
  };
  return { db: wrapped, rows };
}

const obs = (rid: string, i: number): Rec => ({
  type: 'observation', recordId: `obs-${rid}-${i}`,
  payload: { observationId: `obs-${rid}-${i}`, residentId: rid, code: '8480-6', display: '收缩压', value: 100 + (i % 80), unit: 'mm[Hg]', effectiveAt: `2026-${String(1 + (i % 12)).padStart(2, '0')}-${String(1 + (i % 28)).padStart(2, '0')}T09:00:00+08:00`, deviceId: 'bp-1', interpretation: 'N' },
});

t.test('a fact batch reads a bounded number of rows for a resident with 20,000 observations', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'an-hist-'));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  t.teardown(async () => { await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  await handWorkedDistrict(wh);
  const c = counting(sqlFor(wh));
  const a = await Analytics.fromSql(c.db);
  const S = DISTRICT_SCOPE(a.org());
  await ingestRecords(wh, 'c01-xinhua', [
    b.resident('M1', '孟一', '1950-05-05', '1'), b.healthRecord('M1', 'c01-xinhua', '2025-06-01'), b.enrol('M1', 'HTN', '2025-06-01'),
    b.contract('M1', 'c01-t1', '2026-01-01', '2026-12-31'),
    ...Array.from({ length: 12 }, (_, i) => b.followup('M1', 'HTN', `2026-${String(i + 1).padStart(2, '0')}-10`, { sbp: 130, dbp: 80, controlled: true })),
  ]);
  const N = 20_000;
  await ingestRecords(wh, 'c01-xinhua', Array.from({ length: N }, (_, i) => obs('M1', i)));
  // Stored results and case lists of every indicator for periods the observations fall in.
  const periods = ['2026', '2026-Q2', '2026-03'];
  for (const ind of INDICATOR_BY_ID.values()) for (const p of periods) await a.engine.value(ind, 'district', p, S);
  for (const ind of INDICATOR_BY_ID.values()) if (ind.cases) for (const p of periods) await a.engine.cases(ind, 'district', p, S, { limit: 1 });
  await a.refresh({ warm: false });
  t.ok(Number((await a.db.get<{ n: number }>("SELECT COUNT(*) AS n FROM an_fact WHERE resident_id = 'M1' AND kind = 'obs'"))?.n) >= N, `M1 has ${N} observation facts`);

  // A batch of 20 more readings and a follow-up: rows read by the batch's statements.
  c.rows.n = 0; c.rows.max = 0;
  await ingestRecords(wh, 'c01-xinhua', [...Array.from({ length: 20 }, (_, i) => obs('M1', N + i)), b.followup('M1', 'HTN', '2026-03-20', { sbp: 150, dbp: 95, controlled: false })]);
  await a.refresh({ warm: false });
  t.ok(c.rows.n > 0, `the batch read ${c.rows.n} rows`);
  t.ok(c.rows.n < 500, `rows read by the batch (${c.rows.n}) do not grow with the resident's ${N} facts (largest statement: ${c.rows.max} rows ${c.rows.maxSql.slice(0, 120)})`);

  // The requirement subqueries of the recount are index range reads (no scan of the resident's facts in SQL either).
  const sqlite = (wh as unknown as { db: { prepare(s: string): { all(...p: unknown[]): { detail: string }[] } } }).db;
  for (const id of ['record_use_rate', 'htn_standard_mgmt', 'htn_control']) {
    const m = INDICATOR_BY_ID.get(id)!.numerator;
    if (m.type !== 'cohort') continue;
    const w = factWhere(m, parsePeriod('2026'), { orgId: '', clinics: null, teams: null });
    const plan = sqlite.prepare(`EXPLAIN QUERY PLAN SELECT c.clinic_id, COUNT(DISTINCT c.resident_id) FROM an_fact c INDEXED BY an_fact_res_kind_day WHERE c.resident_id IN ('M1') AND ${w.sql} GROUP BY c.clinic_id`).all(...w.params).map((r) => r.detail);
    t.notOk(plan.some((d) => /^SCAN r\b/.test(d) || /SEARCH r USING .*INDEX (?!an_fact_res_kind_day)/.test(d)), `${id}: requirement read through (resident_id, kind, day): ${plan.join(' | ')}`);
  }

  // Exact: every stored result and case list equals its full recomputation; the count is capped.
  const norm = (rows: { clinic_id?: string | null; team_id?: string | null; v: unknown }[]) => rows.filter((r) => Number(r.v) !== 0).map((r) => `${r.clinic_id}|${r.team_id ?? ''}|${Number(r.v)}`).sort();
  const fresh = await Analytics.open(wh);
  let bad = 0;
  for (const k of await fresh.db.all<{ mkey: string; period: string }>('SELECT mkey, period FROM an_agg_key')) {
    const m = JSON.parse(k.mkey);
    const p = parsePeriod(k.period);
    if (JSON.stringify(norm(await fresh.engine.measureRows(m, p, S))) !== JSON.stringify(norm(await fresh.engine.recompute(m, p)))) bad++;
  }
  t.equal(bad, 0, 'stored results = full recomputation');
  const line = (r: CaseRec) => JSON.stringify([r.resident_id, r.clinic_id, r.team_id || '', r.since, Number(r.ok), r.cnt === null ? null : Number(r.cnt), r.last_day, r.n1, r.n2, r.n3, r.flag, r.name]);
  let badCases = 0;
  for (const k of await fresh.engine.caseStore.keys()) {
    const stored = (await fresh.engine.caseStore.stored(k.sid)).map(line).sort();
    const full = (await fresh.engine.caseStore.recompute(k.def, k.period)).map(line).sort();
    if (JSON.stringify(stored) !== JSON.stringify(full)) { badCases++; t.same(stored, full, `cases ${k.period.key} ${JSON.stringify(k.def.num)}`); }
  }
  t.equal(badCases, 0, 'stored case lists = full recomputation');
  const use = await a.engine.cases(INDICATOR_BY_ID.get('record_use_rate')!, 'district', '2026', S, { limit: 100 });
  t.equal(use.rows.find((r) => r.residentId === 'M1')?.count, CASE_CNT_CAP, `activity count capped at ${CASE_CNT_CAP}`);
  const mgmt = await a.engine.cases(INDICATOR_BY_ID.get('htn_standard_mgmt')!, 'district', '2026', S, { limit: 100 });
  t.same(mgmt.rows.filter((r) => r.residentId === 'M1').map((r) => [r.ok, r.count]), [[true, 13]], 'follow-ups counted exactly below the cap');
});
