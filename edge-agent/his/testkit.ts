/** A throw-away edge store with the HIS tables, a few dictionary entries and users (tests and benches). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DictionaryItem } from '../../contracts/index.ts';
import { EdgeStore } from '../store/store.ts';
import { Accounts } from '../web/accounts.ts';
import { hisMigrations } from './migrations.ts';

export const TEST_DRUGS: DictionaryItem[] = [
  { code: '86900000000011', name: '阿莫西林胶囊', attrs: { spec: '0.25g*24粒', unit: '盒', priceFen: 850, category: 'western_drug' }, active: true },
  { code: '86900000000022', name: '连花清瘟胶囊', attrs: { spec: '0.35g*24粒', unit: '盒', priceFen: 1480, category: 'patent_drug' }, active: true },
  { code: '86900000000033', name: '氯化钠注射液', attrs: { spec: '0.9% 250ml', unit: '瓶', priceFen: 333 }, active: true },
];
export const TEST_CHARGE_ITEMS: DictionaryItem[] = [
  { code: '250101015', name: '血常规（五分类）', attrs: { priceFen: 2000, unit: '次', category: 'lab' }, active: true },
  { code: '110100001', name: '挂号费', attrs: { priceFen: 100, unit: '次', category: 'registration' }, active: true },
  { code: '210102001', name: 'DR摄影（胸部正位）', attrs: { priceFen: 7000, unit: '次' }, active: true },
];
export const TEST_DEPARTMENTS: DictionaryItem[] = [
  { code: 'GP', name: '全科诊室', attrs: {}, active: true },
  { code: 'IM', name: '内科', attrs: {}, active: true },
];

export function hisTestStore(tag = 'his'): { store: EdgeStore; accounts: Accounts; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `${tag}-`));
  const store = new EdgeStore(join(dir, 'edge.db'), `${tag}-${Math.random().toString(16).slice(2, 8)}`, hisMigrations);
  const at = new Date().toISOString();
  store.applyDictionary({ name: 'drugs', version: 1, publishedAt: at, items: TEST_DRUGS });
  store.applyDictionary({ name: 'charge_items', version: 1, publishedAt: at, items: TEST_CHARGE_ITEMS });
  store.applyDictionary({ name: 'departments', version: 1, publishedAt: at, items: TEST_DEPARTMENTS });
  const accounts = new Accounts(store.db);
  for (const [u, role] of [['doc1', 'doctor'], ['doc2', 'doctor'], ['reg1', 'registrar'], ['cash1', 'cashier'], ['pharm1', 'pharmacist'], ['admin1', 'clinic_admin']] as const) {
    accounts.create({ username: u, displayName: u.toUpperCase(), role, password: 'Test-pass-123' }, 'test', '127.0.0.1');
  }
  accounts.replicateTo(store); // like the agent: audit entries replicate after the bootstrap
  return { store, accounts, cleanup: () => { accounts.flush(); store.close(); rmSync(dir, { recursive: true, force: true }); } };
}
