/**
 * Demo data for the front desk: a week of schedule for every local doctor and a stock
 * receipt for every drug in the dictionary. Idempotent per day: slots that exist are kept.
 *
 *   import { seedHisDemo } from './edge-agent/his/index.ts';
 *   seedHisDemo(agent.store);                 // after the dictionaries have arrived
 *   seedHisDemo(store, { drugs: starterDictionaries.drugs });   // or pass them
 *   seedHisDemo(store, { staffPassword: 'Demo-Pass-2026' });   // also local accounts for the
 *     // staff dictionary (d0001 张建华 doctor GP, r0001 registrar, p0001 pharmacist, ...) plus
 *     // a cashier c0001: only with an explicit password, never a default one.
 */
import type { DictionaryItem } from '../../contracts/index.ts';
import type { EdgeStore } from '../store/store.ts';
import { AccountError, Accounts, type Role } from '../web/accounts.ts';
import { dictList } from './dict.ts';
import { createSlots } from './schedule.ts';
import { FormErrors } from './residents.ts';
import { receiveStock } from './stock.ts';
import { addDays, localDate } from './time.ts';

export interface SeedResult { slots: number; receipts: number; notes: string[] }

const STAFF_ROLES: Record<string, Role> = { doctor: 'doctor', nurse: 'nurse', pharmacist: 'pharmacist', registrar: 'registrar', lab_technician: 'lab_tech', imaging_technician: 'imaging_tech', cashier: 'cashier' };

export function seedHisDemo(store: EdgeStore, opts: { days?: number; drugs?: DictionaryItem[]; departments?: string[]; staffPassword?: string } = {}): SeedResult & { accounts: string[] } {
  const notes: string[] = [];
  const db = store.db;
  const out = { slots: 0, receipts: 0, notes, accounts: [] as string[] };
  const staffDept = new Map<string, string>();
  if (opts.staffPassword) {
    const accounts = new Accounts(db);
    const staff = [...dictList(db, 'staff'), { code: 'C0001', name: '钱收费', attrs: { role: 'cashier', department: 'GP' }, active: true }];
    for (const s of staff) {
      const role = STAFF_ROLES[String(s.attrs.role)];
      const username = s.code.toLowerCase();
      if (!role) continue;
      staffDept.set(username, String(s.attrs.department ?? ''));
      if (db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM users WHERE username = ?').get(username)!.n) continue;
      try { accounts.create({ username, displayName: s.name, role, password: opts.staffPassword }, 'seed', 'local'); out.accounts.push(`${username} (${role})`); } catch (e) {
        if (e instanceof AccountError) { notes.push(`account ${username}: ${e.message}`); continue; }
        throw e;
      }
    }
  }
  const today = localDate();
  const depts = dictList(db, 'departments').map((d) => d.code);
  const wanted = opts.departments ?? ['GP', 'IM', 'TCM', 'PED'];
  const doctors = db.prepare<[], { username: string }>("SELECT username FROM users WHERE role = 'doctor' AND active = 1 ORDER BY username").all();
  if (!depts.length) notes.push('no departments dictionary yet: schedule skipped (start central or pass dictionaries)');
  else if (!doctors.length) notes.push('no local users with role doctor: schedule skipped');
  else {
    doctors.forEach((d, i) => {
      const own = staffDept.get(d.username);
      const dept = own && depts.includes(own) ? own : wanted.filter((w) => depts.includes(w))[i % Math.max(1, wanted.filter((w) => depts.includes(w)).length)] ?? depts[0]!;
      for (const [start, end, cap] of [['08:00', '11:30', 30], ['13:30', '17:00', 20]] as const) {
        try {
          out.slots += store.transact((tx) => createSlots(tx, { dateFrom: today, dateTo: addDays(today, (opts.days ?? 7) - 1), departmentCode: dept, doctorUsername: d.username, startTime: start, endTime: end, capacity: String(cap), fee: '1' })).length;
        } catch (e) { if (!(e instanceof FormErrors)) throw e; notes.push(`${d.username} ${start}: ${Object.values(e.fields).join('; ')}`); }
      }
    });
  }
  let drugs = opts.drugs?.map((d) => d.code) ?? dictList(db, 'drugs').map((d) => d.code);
  if (opts.drugs) {
    const known = new Set(dictList(db, 'drugs').map((d) => d.code));
    if (!known.size) store.applyDictionary({ name: 'drugs', version: 1, publishedAt: new Date().toISOString(), items: opts.drugs });
    drugs = drugs.filter((c) => !known.size || known.has(c));
  }
  const held = new Set(db.prepare<[], { drug_code: string }>("SELECT DISTINCT drug_code FROM his_stock_movements WHERE kind = 'receipt'").all().map((r) => r.drug_code));
  if (!drugs.length) notes.push('no drugs dictionary yet: stock receipts skipped');
  store.transact((tx) => {
    drugs.forEach((code, i) => {
      if (held.has(code)) return;
      const y = Number(today.slice(0, 4));
      // One batch a year out; every fifth drug also a batch near expiry, every seventh low stock: the warnings show in the demo.
      receiveStock(tx, { drugCode: code, batchNo: `B${y}${String(i + 1).padStart(3, '0')}`, expiryDate: `${y + 1}-12-31`, quantity: i % 7 === 3 ? 6 : 100, byUser: 'seed', refId: 'demo' });
      out.receipts++;
      if (i % 5 === 1) { receiveStock(tx, { drugCode: code, batchNo: `A${y}${String(i + 1).padStart(3, '0')}`, expiryDate: addDays(today, 45), quantity: 12, byUser: 'seed', refId: 'demo' }); out.receipts++; }
    });
  });
  return out;
}
