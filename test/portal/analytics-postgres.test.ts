/** The same hand-worked indicators, QC and case lists on PostgreSQL (the analytics SQL is written once for both). */
import t from 'tap';
import { PostgresWarehouse } from '../../central/warehouse/postgres.ts';
import { handWorkedDistrict } from '../../central/analytics/handworked.ts';
import { DISTRICT_SCOPE, INDICATOR_BY_ID, scopeFor, ScopeError } from '../../central/analytics/index.ts';
import { createTestDatabase } from '../central/postgres.ts';

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
});
