import t from 'tap';
import { seedHisDemo } from './seed.ts';
import { stockOf } from './stock.ts';
import { hisTestStore, TEST_DRUGS } from './testkit.ts';

t.test('demo seed: staff accounts only with an explicit password, a week of slots, stock; safe to re-run', async (t) => {
  const k = hisTestStore('seed');
  t.teardown(k.cleanup);
  k.store.applyDictionary({ name: 'staff', version: 1, publishedAt: new Date().toISOString(), items: [
    { code: 'D0009', name: '李秀梅', attrs: { role: 'doctor', department: 'IM' }, active: true },
    { code: 'R0009', name: '郑小红', attrs: { role: 'registrar', department: 'GP' }, active: true },
  ] });
  const a = seedHisDemo(k.store, { staffPassword: 'Demo-Pass-2026' });
  t.same(a.accounts, ['d0009 (doctor)', 'r0009 (registrar)', 'c0001 (cashier)']);
  t.equal(a.slots, 3 * 2 * 7, 'two slots a day for a week for doc1, doc2 and d0009');
  t.equal(k.store.db.prepare<[], { d: string }>("SELECT DISTINCT department_code AS d FROM his_schedule WHERE doctor_username = 'd0009'").get()!.d, 'IM', 'the doctor works in their own department');
  t.ok((await k.accounts.login('d0009', 'Demo-Pass-2026', 'x')).ok);
  t.ok(a.receipts >= TEST_DRUGS.length);
  t.ok(stockOf(k.store.db, TEST_DRUGS[0]!.code).actual > 0);
  const b = seedHisDemo(k.store, { staffPassword: 'Demo-Pass-2026' });
  t.same([b.accounts.length, b.slots, b.receipts], [0, 0, 0], 'second run adds nothing');
  t.ok(b.notes.length > 0, 'and says why');
});
