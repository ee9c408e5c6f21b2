import t from 'tap';
import fc from 'fast-check';
import { checkResidentId } from '../../contracts/index.ts';
import { addCharges, getCharge, payCharges, priceLine, refundCharges } from './charges.ts';
import { HisError } from './errors.ts';
import { book, cancelRegistration, checkIn, feeChargesOf, registerNow } from './frontdesk.ts';
import { dispense, dispenseQueue, returnDrugs } from './pharmacy.ts';
import { backfillExt, FormErrors, saveResident, searchResidents, validateResidentForm, type ResidentForm } from './residents.ts';
import { createSlots, getSlot } from './schedule.ts';
import { setRegistrationStatus } from './registrations.ts';
import { settle, settlementPreview } from './settlement.ts';
import { computeStats, statsWorkbook } from './stats.ts';
import { receiveStock, stockOf } from './stock.ts';
import { hisTestStore } from './testkit.ts';
import { localDate } from './time.ts';

const AMOX = '86900000000011';
const LHQW = '86900000000022';
const NACL = '86900000000033';
const blank: ResidentForm = { name: '', sex: '', birthDate: '', idType: '01', idNumber: '', phone: '', address: '', ethnicity: '', maritalStatus: '', insuranceCardNo: '', healthCardId: '' };

function withResident(t: { teardown(fn: () => void): void }) {
  const k = hisTestStore();
  t.teardown(k.cleanup);
  const r = validateResidentForm(k.store.db, { ...blank, name: '张三', idNumber: '11010519491231002X', phone: '13800138000', insuranceCardNo: 'YB12345678', healthCardId: 'EHC-TOKEN-1' });
  k.store.transact((tx) => saveResident(tx, r));
  return { ...k, rid: r.residentId };
}

t.test('ID numbers: checksum, derived birth date and sex, Chinese message next to the field', async (t) => {
  // 11010519491231002X: the GB 11643 example; weights sum 167 ... 167 mod 11 = 2 -> 'X'; sequence 002 even -> female.
  const c = checkResidentId('11010519491231002X');
  t.same(c, { ok: true, id: '11010519491231002X', birthDate: '1949-12-31', sex: '2', areaCode: '110105' });
  t.notOk(checkResidentId('110105194912310021').ok, 'wrong check character');
  const { store } = withResident(t);
  const r = validateResidentForm(store.db, { ...blank, name: '李四', idNumber: '440305199001011230' .slice(0, 17) + checkCharOf('44030519900101123') });
  t.equal(r.birthDate, '1990-01-01'); t.equal(r.sex, '1', 'sequence 123 odd -> male');
  try { validateResidentForm(store.db, { ...blank, name: '王五', idNumber: '110105194912310021' }); t.fail('accepted'); } catch (e) {
    t.ok(e instanceof FormErrors); t.match((e as FormErrors).fields.idNumber, /校验位错误，应为 X/);
  }
  try { validateResidentForm(store.db, { ...blank, name: '张三', idNumber: '11010519491231002x' }); t.fail('duplicate accepted'); } catch (e) {
    t.match((e as FormErrors).fields.idNumber, /已建档（张三）/, 'lower-case x is the same ID: duplicate');
  }
  try { validateResidentForm(store.db, { ...blank, name: '', idType: '99', idNumber: 'P1', birthDate: '2999-01-01', phone: '12', ethnicity: '77', maritalStatus: '5' }); t.fail(); } catch (e) {
    t.same(Object.keys((e as FormErrors).fields).sort(), ['birthDate', 'ethnicity', 'maritalStatus', 'name', 'phone', 'sex']);
  }
});

function checkCharOf(first17: string): string {
  const W = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
  return '10X98765432'[[...first17].reduce((s, d, i) => s + Number(d) * W[i]!, 0) % 11]!;
}

t.test('resident search by ID, name, pinyin initials, phone, insurance and e-health card', async (t) => {
  const { store, rid } = withResident(t);
  const ids = (q: string, k?: Parameters<typeof searchResidents>[2]) => searchResidents(store.db, q, k).map((r) => r.residentId);
  t.same(ids('11010519491231002x'), [rid], 'ID (lower-case x)');
  t.same(ids('张'), [rid], 'name prefix');
  t.same(ids('ZS'), [rid], 'pinyin initials');
  t.same(ids('13800138000'), [rid], 'phone');
  t.same(ids('YB12345678'), [rid], 'insurance card');
  t.same(ids('EHC-TOKEN-1'), [rid], 'e-health card token');
  t.same(ids('李'), []);
  t.throws(() => searchResidents(store.db, '110105194912310021'), /校验位错误/, 'bad checksum is an error, not an empty result');
  // A resident written by someone else (central, the simulator) gets its search keys from the backfill.
  store.write('resident', 'r-central', { residentId: 'r-central', name: '单雄信', sex: '1', birthDate: '1960-05-05', idType: '99', idNumber: 'C-1', insuranceCardNo: 'YB99887766' });
  t.same(ids('sxx'), [], 'no search keys yet');
  const first = backfillExt(store.db);
  t.equal(first.filled, 1);
  t.same(ids('sxx'), ['r-central'], 'pinyin of a surname read as a surname (单 = shan)');
  t.same(ids('YB99887766'), ['r-central'], 'insurance card from the record payload');
  t.same(backfillExt(store.db, first.lastRowid), { filled: 0, lastRowid: first.lastRowid }, 'nothing new after the last rowid');
  // In time slices (the module's background pass): a slice out of time stops after one resident,
  // the next call goes on from there, and every resident gets its keys.
  const names = ['尉迟恭', '长孙无忌', '秦琼', '程咬金', '罗成'];
  store.transact((tx) => names.forEach((name, i) => tx.emit('resident', `r-slice-${i}`, { residentId: `r-slice-${i}`, name, sex: '1', birthDate: '1960-05-05', idType: '99', idNumber: `S-${i}` })));
  let at = first.lastRowid;
  const calls: number[] = [];
  for (;;) {
    const r = backfillExt(store.db, at, 2000, 0);
    if (r.lastRowid === at) break;
    calls.push(r.filled);
    at = r.lastRowid;
  }
  t.same(calls, [1, 1, 1, 1, 1], 'one resident per slice');
  t.same(ids('yc'), ['r-slice-0'], '尉迟 read as a compound surname (yuchi)');
  t.same(ids('cyj'), ['r-slice-3'], 'the last slices filled too');
});

t.test('pricing from the dictionaries; unknown codes and negative quantities refused', async (t) => {
  const { store, rid } = withResident(t);
  const lines = store.transact((tx) => addCharges(tx, [
    { residentId: rid, sourceKind: 'prescription', itemCode: AMOX, quantity: 3, createdBy: 'doc1' },
    { residentId: rid, sourceKind: 'prescription', itemCode: NACL, quantity: 1.5, createdBy: 'doc1' },
    { residentId: rid, sourceKind: 'lab', itemCode: '250101015', quantity: 1, createdBy: 'doc1' },
    { residentId: rid, sourceKind: 'imaging', itemCode: '210102001', quantity: 1, createdBy: 'doc1' },
    { residentId: rid, sourceKind: 'prescription', itemCode: LHQW, quantity: 2, createdBy: 'doc1' },
  ]));
  // 3 x 8.50 = 25.50; 1.5 x 3.33 = 4.995 -> 5.00 (half away from zero); 20.00; 70.00; 2 x 14.80 = 29.60
  t.same(lines.map((l) => l.amount_fen), [2550, 500, 2000, 7000, 2960]);
  t.same(lines.map((l) => l.category), ['western_drug', 'western_drug', 'lab', 'imaging', 'patent_drug']);
  t.same(lines.map((l) => l.dispensable), [1, 1, 0, 0, 1]);
  const err = (f: () => unknown) => { try { f(); return null; } catch (e) { return e as HisError; } };
  t.match(err(() => priceLine(store.db, { residentId: rid, sourceKind: 'prescription', itemCode: '869999', quantity: 1, createdBy: 'd' })), { field: 'itemCode', message: /未知药品编码 869999/ });
  t.match(err(() => priceLine(store.db, { residentId: rid, sourceKind: 'prescription', itemCode: AMOX, quantity: -1, createdBy: 'd' })), { field: 'quantity', message: /数量必须大于0/ });
  const before = store.stats().lastSeq;
  t.throws(() => store.transact((tx) => addCharges(tx, [
    { residentId: rid, sourceKind: 'prescription', itemCode: AMOX, quantity: 1, createdBy: 'd' },
    { residentId: rid, sourceKind: 'lab', itemCode: 'NOPE', quantity: 1, createdBy: 'd' }])), /第2行：未知收费项目编码 NOPE/);
  t.equal(store.stats().lastSeq, before, 'all lines or none');
});

t.test('fast-check: pricing never yields a wrong amount, form validation only fails with field messages', async (t) => {
  const { store, rid } = withResident(t);
  fc.assert(fc.property(fc.oneof(fc.double(), fc.integer({ min: -5, max: 1000 })), fc.option(fc.integer({ min: -10, max: 100000 }), { nil: undefined }), (q, price) => {
    try {
      const p = priceLine(store.db, { residentId: rid, sourceKind: 'prescription', itemCode: AMOX, quantity: q, unitPriceFen: price, createdBy: 'd' });
      return q > 0 && p.amount_fen === Math.round(q * (price ?? 850)) && p.amount_fen >= 0;
    } catch (e) { return e instanceof HisError && (e.field === 'quantity' || e.field === 'unitPriceFen') && /[\u4e00-\u9fff]/.test(e.message); }
  }), { numRuns: 300 });
  const str = fc.string({ maxLength: 30 });
  fc.assert(fc.property(fc.record({ name: str, sex: str, birthDate: str, idType: fc.constantFrom('01', '03', '99', 'zz'), idNumber: fc.oneof(str, fc.stringMatching(/^\d{17}[\dX]$/)), phone: str, address: str, ethnicity: str, maritalStatus: str, insuranceCardNo: str, healthCardId: str }), (f) => {
    try { validateResidentForm(store.db, f); return true; } catch (e) {
      return e instanceof FormErrors && Object.values(e.fields).every((m) => /[\u4e00-\u9fff]/.test(m));
    }
  }), { numRuns: 300 });
});

t.test('payment, partial refund by reversal, dispensed drugs need a return first; gapless invoice numbers', async (t) => {
  const { store, rid } = withResident(t);
  store.transact((tx) => receiveStock(tx, { drugCode: AMOX, batchNo: 'B2', expiryDate: '2030-06-30', quantity: 10, byUser: 'pharm1' }));
  store.transact((tx) => receiveStock(tx, { drugCode: AMOX, batchNo: 'B1', expiryDate: '2029-01-31', quantity: 2, byUser: 'pharm1' }));
  const [amox, lab] = store.transact((tx) => addCharges(tx, [
    { residentId: rid, sourceKind: 'prescription', itemCode: AMOX, quantity: 4, createdBy: 'doc1' },
    { residentId: rid, sourceKind: 'lab', itemCode: '250101015', quantity: 1, createdBy: 'doc1' }]));
  t.same(stockOf(store.db, AMOX), { actual: 12, available: 8 }, 'pending prescription reserves stock');
  t.throws(() => store.transact((tx) => dispense(tx, { chargeIds: [amox!.charge_id], by: 'pharm1' })), /尚未收费/);
  const inv = store.transact((tx) => payCharges(tx, { residentId: rid, chargeIds: [amox!.charge_id, lab!.charge_id], paymentMethod: 'wechat', cashier: 'cash1' }));
  t.equal(inv.invoice_no, '0000000001'); t.equal(inv.total_fen, 3400 + 2000);
  t.equal(dispenseQueue(store.db).length, 1, 'paid prescription waits at the pharmacy');
  const d = store.transact((tx) => dispense(tx, { chargeIds: [amox!.charge_id], by: 'pharm1' }));
  t.same(d.lines.map((l) => [l.batchNo, l.quantity]), [['B1', 2], ['B2', 2]], 'first-expiring batch first');
  t.same(stockOf(store.db, AMOX), { actual: 8, available: 8 });
  t.equal(dispenseQueue(store.db).length, 0);
  t.throws(() => store.transact((tx) => refundCharges(tx, { items: [{ chargeId: amox!.charge_id }], cashier: 'cash1', reason: '不需要' })), /已发药，请先到药房退药/);
  t.throws(() => store.transact((tx) => returnDrugs(tx, { items: [{ chargeId: amox!.charge_id, quantity: -1 }], by: 'pharm1' })), /不能为负数/);
  t.throws(() => store.transact((tx) => returnDrugs(tx, { items: [{ chargeId: amox!.charge_id, quantity: 5 }], by: 'pharm1' })), /最多可退 4/);
  store.transact((tx) => returnDrugs(tx, { items: [{ chargeId: amox!.charge_id, quantity: 3 }], by: 'pharm1' }));
  t.same(stockOf(store.db, AMOX), { actual: 11, available: 11 }, 'returned units back on the shelf, not reserved');
  const batches = store.db.prepare<[], { batch_no: string; q: number }>("SELECT batch_no, sum(quantity) AS q FROM his_stock_movements GROUP BY batch_no ORDER BY batch_no").all();
  t.same(batches, [{ batch_no: 'B1', q: 1 }, { batch_no: 'B2', q: 10 }], 'returns go back to the batches they came from, newest first');
  t.throws(() => store.transact((tx) => refundCharges(tx, { items: [{ chargeId: amox!.charge_id, quantity: 4 }], cashier: 'cash1', reason: 'x' })), /已发药.*可退 3/);
  const [rev] = store.transact((tx) => refundCharges(tx, { items: [{ chargeId: amox!.charge_id, quantity: 3 }, { chargeId: lab!.charge_id }], cashier: 'cash1', reason: '患者要求' }));
  t.equal(rev!.kind, 'reversal'); t.equal(rev!.invoice_no, '0000000002'); t.equal(rev!.reverses_invoice_id, inv.invoice_id);
  t.equal(rev!.total_fen, -(3 * 850 + 2000), 'reversal total');
  t.equal(getCharge(store.db, amox!.charge_id)!.status, 'paid', 'original line kept as it was');
  t.equal(store.db.prepare<[], { s: number }>('SELECT sum(amount_fen) AS s FROM his_charges WHERE status = \'paid\'').get()!.s, 850, 'net paid: the one dispensed box');
  t.throws(() => store.transact((tx) => refundCharges(tx, { items: [{ chargeId: lab!.charge_id }], cashier: 'cash1', reason: 'x' })), /已全部退费/);
  t.throws(() => store.db.prepare('UPDATE his_invoices SET total_fen = 0').run(), /append-only/);
  t.throws(() => store.db.prepare('DELETE FROM his_stock_movements').run(), /append-only/);
  t.throws(() => store.db.prepare('UPDATE his_stock_movements SET quantity = 1').run(), /append-only/);
  const seqs = store.db.prepare<[], { seq: number }>('SELECT seq FROM his_invoices ORDER BY seq').all().map((r) => r.seq);
  t.same(seqs, [1, 2]);
  t.throws(() => store.transact((tx) => { payCharges(tx, { residentId: rid, chargeIds: [], paymentMethod: 'cash', cashier: 'c' }); }), /请选择/);
  const types = store.outboxAfter(0, 1000).map((o) => o.type);
  for (const ty of ['resident', 'charge', 'invoice', 'stock_movement', 'dispense']) t.ok(types.includes(ty as never), `replicates ${ty}`);
});

t.test('registration: schedule, pay, queue numbers, cancel with reversal, booking and check-in, shared status change', async (t) => {
  const { store, rid } = withResident(t);
  const today = localDate();
  const r2 = validateResidentForm(store.db, { ...blank, name: '李四', idType: '99', idNumber: 'P-1', sex: '1', birthDate: '1980-02-03' });
  store.transact((tx) => saveResident(tx, r2));
  const [slot] = store.transact((tx) => createSlots(tx, { dateFrom: today, dateTo: '', departmentCode: 'GP', doctorUsername: 'doc1', startTime: '08:00', endTime: '12:00', capacity: '2', fee: '5' }));
  t.throws(() => store.transact((tx) => createSlots(tx, { dateFrom: today, dateTo: '', departmentCode: 'GP', doctorUsername: 'doc1', startTime: '11:00', endTime: '13:00', capacity: '2', fee: '5' })), FormErrors, 'overlapping slot');
  const a = store.transact((tx) => registerNow(tx, { residentId: rid, slotId: slot!.slot_id, paymentMethod: 'cash', by: 'reg1' }));
  t.equal(a.registration.queue_no, 1); t.equal(a.invoice!.total_fen, 500);
  t.throws(() => store.transact((tx) => registerNow(tx, { residentId: rid, slotId: slot!.slot_id, paymentMethod: 'cash', by: 'reg1' })), /当日已挂此医生的号/);
  const b = store.transact((tx) => book(tx, { residentId: r2.residentId, slotId: slot!.slot_id, by: 'reg1' }));
  t.equal(b.queue_no, 2); t.equal(getSlot(store.db, slot!.slot_id)!.booked, 2);
  const c = validateResidentForm(store.db, { ...blank, name: '王五', idType: '99', idNumber: 'P-2', sex: '2', birthDate: '1985-02-03' });
  store.transact((tx) => saveResident(tx, c));
  t.throws(() => store.transact((tx) => registerNow(tx, { residentId: c.residentId, slotId: slot!.slot_id, paymentMethod: 'cash', by: 'reg1' })), /已约满/);
  const ci = store.transact((tx) => checkIn(tx, { registrationId: b.registration_id, paymentMethod: 'insurance', by: 'reg1' }));
  t.equal(ci.registration.status, 'registered');
  const x = store.transact((tx) => cancelRegistration(tx, { registrationId: a.registration.registration_id, reason: '临时有事', by: 'reg1' }));
  t.equal(x.registration.status, 'refunded'); t.equal(x.reversals[0]!.total_fen, -500); t.equal(getSlot(store.db, slot!.slot_id)!.booked, 1, 'slot freed');
  const again = store.transact((tx) => registerNow(tx, { residentId: c.residentId, slotId: slot!.slot_id, paymentMethod: 'cash', by: 'reg1' }));
  t.equal(again.registration.queue_no, 3, 'queue numbers are never reused');
  store.transact((tx) => setRegistrationStatus(tx, again.registration.registration_id, 'in-visit'));
  t.throws(() => store.transact((tx) => cancelRegistration(tx, { registrationId: again.registration.registration_id, reason: 'x', by: 'reg1' })), /已就诊/);
  t.throws(() => store.transact((tx) => setRegistrationStatus(tx, again.registration.registration_id, 'booked')), /不能改为/);
  store.transact((tx) => setRegistrationStatus(tx, again.registration.registration_id, 'finished'));
  const fee = feeChargesOf(store.db, again.registration.registration_id)[0]!;
  t.throws(() => store.transact((tx) => refundCharges(tx, { items: [{ chargeId: fee.charge_id }], cashier: 'cash1', reason: 'x' })), /已就诊，挂号费不能退/, 'no fee refund after the visit');
  const enc = store.db.prepare<[string], { payload: string; version: number }>("SELECT payload, version FROM records WHERE type = 'encounter' AND record_id = ?").get(a.registration.registration_id)!;
  t.equal(JSON.parse(enc.payload).status, 'cancelled'); t.equal(enc.version, 2);

  // Daily settlement: reg1 took 5.00 cash + 5.00 insurance + 5.00 cash, refunded 5.00 cash.
  const p = settlementPreview(store.db, 'reg1');
  t.same({ n: p.invoiceCount, r: p.reversalCount, g: p.grossFen, f: p.refundFen, net: p.netFen, m: p.byMethod, c: p.byCategory },
    { n: 3, r: 1, g: 1500, f: 500, net: 1000, m: { cash: 500, insurance: 500 }, c: { registration: 1000 } });
  const s = store.transact((tx) => settle(tx, 'reg1', 'reg1'));
  t.equal(s.netFen, 1000);
  t.equal(settlementPreview(store.db, 'reg1').invoiceIds.length, 0, 'settled invoices are not counted twice');
  t.throws(() => store.transact((tx) => settle(tx, 'reg1', 'reg1')), /没有未日结/);
  const st = computeStats(store.db, today, today);
  t.equal(st.registrations.total, 3);
  t.same(st.perDoctor.map((d) => [d.doctor, d.registered, d.finished]), [['doc1', 2, 1]]);
  t.same(st.byCategory.map((c) => [c.category, c.fen]), [['registration', 1000]]);
  t.same(st.byPeriod.map((q) => [q.invoices, q.grossFen, q.refundFen, q.netFen]), [[3, 1500, 500, 1000]]);
  const xlsx = await statsWorkbook(st);
  t.equal(xlsx.subarray(0, 2).toString(), 'PK', 'an xlsx (zip) file');
});
