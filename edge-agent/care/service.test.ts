/**
 * Service-level checks on a real SQLite store: refused input saves nothing (no domain row,
 * no outbox row), follow-up rules wired to records, referral tracking, contracts, merge.
 * Plus property tests: arbitrary form input never crashes and never half-saves.
 */
import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeResidentId } from '../../contracts/identity.ts';
import { EdgeStore } from '../store/store.ts';
import { Accounts } from '../web/accounts.ts';
import { careMigrations } from './migrations.ts';
import { seedCareDemo } from './seed.ts';
import { CareService, FormError } from './service.ts';
import { CareTransfers } from './transfer.ts';

function setup(t: { teardown(fn: () => void): void }, today = '2026-11-28') {
  const dir = mkdtempSync(join(tmpdir(), 'care-'));
  const store = new EdgeStore(join(dir, 'edge.db'), 'c01-test', careMigrations);
  t.teardown(() => { store.close(); rmSync(dir, { recursive: true, force: true }); });
  const accounts = new Accounts(store.db);
  const s = new CareService(store, accounts, 'c01-test', '测试社区卫生服务中心', () => new Date(`${today}T10:00:00`));
  const addResident = (id: string, name: string, birth: string, sex: '1' | '2', seq = 11) => {
    const idNumber = makeResidentId('110105', new Date(`${birth}T00:00:00Z`), sex === '1' ? seq * 2 + 1 : seq * 2);
    store.write('resident', id, { residentId: id, name, sex, birthDate: birth, idType: '01', idNumber, phone: '13800138000' });
    return idNumber;
  };
  const seqs = () => store.stats().lastSeq;
  return { store, s, addResident, seqs, actor: { username: 'dr.li', ip: '127.0.0.1' } };
}

const errorsOf = (fn: () => unknown): Record<string, string> => { try { fn(); } catch (e) { if (e instanceof FormError) return e.errors; throw e; } return {}; };

t.test('health record: new resident with a future birth date is refused field by field, nothing written', async (t) => {
  const { s, seqs, actor } = setup(t);
  const before = seqs();
  const e = errorsOf(() => s.createHealthRecord({ newResident: { name: '张三', sex: '1', birthDate: '2027-01-01', idNumber: '110105202701010011', phone: '123' } }, actor));
  t.match(e.birthDate, /出生日期 2027-01-01 晚于今天（2026-11-28）/);
  t.match(e.idNumber, /身份证号码不正确/);
  t.match(e.phone, /电话格式不正确/);
  t.equal(seqs(), before, 'no record emitted');
  t.equal((s.db.prepare('SELECT count(*) AS n FROM residents').get() as { n: number }).n, 0, 'no resident row');
  const idn = makeResidentId('110105', new Date('1950-03-01T00:00:00Z'), 23);
  const rec = s.createHealthRecord({ newResident: { name: '张三', sex: '1', birthDate: '1950-03-01', idNumber: idn, phone: '13900139000' }, residenceType: '1', currentAddress: '新华路 8 号', aboBloodGroup: '3', doctorCode: 'dr.li' }, actor);
  t.equal(rec.healthRecordNo, '11010500100100001', 'prefix + serial 00001');
  t.equal(seqs(), before + 2, 'resident + health_record in one transaction');
  t.same(s.qc(rec.residentId), [], 'complete record passes QC');
  t.match(errorsOf(() => s.createHealthRecord({ residentId: rec.residentId }, actor)).residentId, /已有在档档案 11010500100100001/);
  // Cancellation needs a reason; "other" needs a note.
  t.match(errorsOf(() => s.cancelRecord(rec.healthRecordNo, 'other', '', actor)).cancelNote, /请填写说明/);
  const m = s.migrateRecord(rec.healthRecordNo, 'c02-east', '搬家到东区', actor);
  t.same([m.status, m.migratedToClinicId], ['migrated', 'c02-east']);
  t.match(errorsOf(() => s.cancelRecord(rec.healthRecordNo, 'death', '', actor))._, /只能|不能注销/);
});

t.test('chronic follow-up: before enrolment and out-of-range values refused; urgent referral tracked to its 2-week follow-up', async (t) => {
  const { s, seqs, addResident, actor } = setup(t);
  addResident('r1', '王建国', '1958-05-20', '1');
  const base = { residentId: 'r1', disease: 'HTN' as const, mode: 'clinic', symptoms: [], medications: [], sourceReadingIds: [] };
  t.match(errorsOf(() => s.recordFollowup({ ...base, date: '2026-11-20', sbp: 150, dbp: 90 }, actor)).disease, /未纳入高血压管理/);
  s.enrol({ residentId: 'r1', disease: 'HTN', enrolledDate: '2026-11-01', sbp: 150, dbp: 95, doctorCode: 'dr.li' }, actor);
  const before = seqs();
  t.match(errorsOf(() => s.recordFollowup({ ...base, date: '2026-10-31', sbp: 150, dbp: 90 }, actor)).date, /随访日期 2026-10-31 早于纳入管理日期 2026-11-01/);
  t.match(errorsOf(() => s.recordFollowup({ ...base, date: '2026-11-29', sbp: 150, dbp: 90 }, actor)).date, /晚于今天/);
  t.match(errorsOf(() => s.recordFollowup({ ...base, date: '2026-11-20', sbp: 350, dbp: 90 }, actor)).sbp, /收缩压 350 mmHg 超出可信范围/);
  t.match(errorsOf(() => s.recordFollowup({ ...base, date: '2026-11-20', sbp: 120, dbp: 130 }, actor)).dbp, /必须低于收缩压/);
  t.equal(seqs(), before, 'refused follow-ups wrote nothing');
  t.equal(s.dueList()[0]!.dueDate, '2026-11-15', 'uncontrolled at enrolment: first follow-up 2 weeks after 2026-11-01');
  t.equal(s.dueList()[0]!.state, 'overdue');

  const u = s.recordFollowup({ ...base, date: '2026-11-14', sbp: 186, dbp: 112 }, actor);
  t.ok(u.decision.urgentReferral); t.equal(u.followup.nextDueDate, '2026-11-28');
  t.equal(seqs(), before + 2, 'follow-up and its referral in one transaction');
  t.same([u.referral!.urgent, u.referral!.status, u.referral!.followupDueDate], [true, 'issued', '2026-11-28']);
  const due = s.dueList();
  t.ok(due.some((d) => d.kind === 'referral' && d.dueDate === '2026-11-28' && d.state === 'due_soon'), 'urgent referral appears in the due list until followed up');
  const next = s.recordFollowup({ ...base, date: '2026-11-27', sbp: 150, dbp: 92 }, actor);
  t.equal(next.followup.closesFollowupId, u.followup.followupId, 'the 2-week visit closes the urgent one');
  const ref = s.get('referral', u.referral!.referralId)!;
  t.same([ref.status, ref.followedUpDate], ['completed', '2026-11-27']);
  t.notOk(s.dueList().some((d) => d.kind === 'referral'), 'no longer due');
  t.match(next.decision.referralReason, /连续两次控制不满意/, '186/112 then 150/92: two consecutive uncontrolled -> referral');
  t.match(errorsOf(() => s.bookAppointment({ residentId: 'r1', kind: 'home_visit', date: '2026-11-27' }, actor)).date, /不能早于今天/);
  t.match(errorsOf(() => s.bookAppointment({ residentId: 'r1', kind: 'home_visit', date: '2026-12-01', time: '25:00' }, actor)).time, /HH:mm/);
  const a = s.bookAppointment({ residentId: 'r1', kind: 'home_visit', date: '2026-12-01', time: '09:30' }, actor);
  t.ok(s.dueList().some((d) => d.kind === 'appointment' && d.dueDate === '2026-12-01' && d.state === 'due_soon' && d.note === '09:30'), 'booked appointment listed as due soon');
  s.setAppointmentStatus(a.appointmentId, 'done', actor);
  t.notOk(s.dueList().some((d) => d.kind === 'appointment'), 'done appointments leave the list');
});

t.test('prefill takes the latest BP measurement and the latest visit', async (t) => {
  const { s, store, addResident } = setup(t);
  addResident('r2', '李秀英', '1950-01-02', '2');
  const obs = (id: string, code: string, value: number, at: string) => store.write('observation', id, { observationId: id, residentId: 'r2', code, display: code, value, unit: 'mm[Hg]', effectiveAt: at, deviceId: 'dev-1' });
  obs('o1', '8480-6', 150, '2026-11-27T08:00:00+08:00'); obs('o2', '8462-4', 95, '2026-11-27T08:00:00+08:00');
  obs('o3', '8480-6', 182, '2026-11-28T09:00:00+08:00'); obs('o4', '8462-4', 104, '2026-11-28T09:00:00+08:00'); obs('o5', '8867-4', 88, '2026-11-28T09:00:00+08:00');
  store.write('encounter', 'e1', { encounterId: 'e1', residentId: 'r2', class: 'outpatient', status: 'finished', departmentCode: 'GP', registeredAt: '2026-11-28T08:30:00+08:00', diagnoses: [{ code: 'I10', name: '原发性高血压', primary: true }] });
  const p = s.prefill('r2');
  t.same([p.sbp, p.dbp, p.heartRate, p.readingIds], [182, 104, 88, ['o3', 'o4', 'o5']]);
  t.match(p.encounter?.diagnoses, /原发性高血压（I10）/);
  const lab = (id: string, testCode: string, value: string, at: string) => store.write('lab_result', id, { resultId: id, residentId: 'r2', specimenId: 'S1', testCode, testName: testCode, value, unit: 'mmol/L', status: 'final', resultedAt: at });
  lab('l1', '14647-2', '6.10', '2026-11-20T10:00:00+08:00'); lab('l2', '14646-4', '0.95', '2026-11-20T10:00:00+08:00'); lab('l3', '14647-2', '5.40', '2026-10-01T10:00:00+08:00');
  lab('l4', '14749-6', '7.8', '2026-11-21T10:00:00+08:00');
  const q = s.prefill('r2');
  t.same([q.tc, q.hdl, q.fbg, q.glucoseSource], [6.1, 0.95, 7.8, '检验科'], 'latest lipids and the serum glucose (no meter reading)');
  obs('o6', '14743-9', 6.4, '2026-11-22T07:00:00+08:00');
  t.same([s.prefill('r2').fbg, s.prefill('r2').glucoseSource], [6.4, '血糖仪'], 'a later meter reading wins');
});

t.test('elderly check and TCM: missing answers named, under-65 refused, nothing saved', async (t) => {
  const { s, seqs, addResident, actor } = setup(t);
  addResident('old', '赵大妈', '1950-06-01', '2'); addResident('young', '钱先生', '1970-06-01', '1');
  const before = seqs();
  const ans = Array.from({ length: 33 }, () => 2) as (number | undefined)[]; ans[4] = undefined; ans[32] = undefined;
  const e = errorsOf(() => s.recordTcm({ residentId: 'old', date: '2026-11-28', answers: ans }, actor));
  t.same([e.q5, e.q33, Object.keys(e).length], ['第 5 题未作答', '第 33 题未作答', 2]);
  t.match(errorsOf(() => s.recordTcm({ residentId: 'young', date: '2026-11-28', answers: Array(33).fill(1) }, actor)).residentId, /65 岁及以上/);
  t.same(errorsOf(() => s.recordElderlyCheck({ residentId: 'old', date: '2026-11-28', columns: { eating: 0, grooming: 1 }, itemsDone: [] }, actor)), { sc_dressing: '请选择「穿衣」的评估结果', sc_toileting: '请选择「如厕」的评估结果', sc_activity: '请选择「活动」的评估结果' });
  t.equal(seqs(), before);
  const rec = s.recordTcm({ residentId: 'old', date: '2026-11-28', answers: Array(33).fill(1) }, actor);
  t.same(rec.constitutions, ['balanced']);
  const ec = s.recordElderlyCheck({ residentId: 'old', date: '2026-11-28', columns: { eating: 2, grooming: 1, dressing: 0, toileting: 0, activity: 0 }, itemsDone: ['ecg'] }, actor);
  t.same([ec.selfCareScore, ec.selfCareLevel], [4, 'mild'], 'eating 3 + grooming 1 = 4: mild');
});

t.test('contracts: package recommendation, one contract in force per resident, renewal and termination', async (t) => {
  const { s, addResident, actor } = setup(t);
  seedCareDemo(s.store);
  const idn = addResident('r3', '孙奶奶', '1948-02-02', '2');
  s.enrol({ residentId: 'r3', disease: 'HTN', enrolledDate: '2026-01-05', doctorCode: 'dr.li' }, actor);
  t.same(s.recommendPackages('r3').map((p) => p.packageId).sort(), ['pkg-chronic', 'pkg-elderly'], 'elderly and hypertensive: both personalised packages');
  const sign = { residentId: 'r3', teamId: 'team-demo-1', doctorCode: 'dr.li', packageIds: ['pkg-basic', 'pkg-chronic'], signMethod: 'id_card', signerName: '孙奶奶', signerRelation: 'self', startDate: '2026-12-01', tags: [] };
  t.match(errorsOf(() => s.signContract({ ...sign, idCheck: '110105194802020000' }, actor)).idCheck, /不一致/);
  t.match(errorsOf(() => s.signContract({ ...sign, packageIds: ['pkg-chronic'], idCheck: idn }, actor)).packageIds, /基础服务包/);
  const c = s.signContract({ ...sign, idCheck: idn }, actor);
  t.same([c.status, c.startDate, c.endDate, c.feeFen], ['signed', '2026-12-01', '2027-11-30', 3000]);
  t.ok(c.keyPopulationTags.includes('elderly') && c.keyPopulationTags.includes('hypertension'));
  t.match(errorsOf(() => s.signContract({ ...sign, idCheck: idn }, actor)).residentId, /已与「全科一团队」签约/, 'second contract refused');
  t.match(errorsOf(() => s.recordService({ contractId: c.contractId, item: 'pkg-chronic|C01', date: '2026-11-28' }, actor)).serviceDate, /须在协议有效期内（2026-12-01 至 2027-11-30）/, 'service before the contract starts');
  t.match(errorsOf(() => s.recordService({ contractId: c.contractId, item: 'pkg-elderly|E01', date: '2026-12-01' }, actor)).item, /服务包中的服务项目/, 'package not in this contract');
  t.same(s.fulfilment(c.contractId).find((x) => x.code === 'C01'), { packageId: 'pkg-chronic', code: 'C01', name: '面对面随访', agreed: 4, delivered: 0 });
  const r = s.renewContract(c.contractId, actor);
  t.same([r.status, r.startDate, r.endDate, r.previousContractId], ['renewed', '2027-12-01', '2028-11-30', c.contractId]);
  t.match(errorsOf(() => s.renewContract(c.contractId, actor))._, /已续约/);
  t.equal(s.terminateContract(c.contractId, '居民搬离', actor).status, 'terminated');
});

t.test('duplicate merge moves care records to the survivor and cancels the duplicate', async (t) => {
  const { s, addResident, actor } = setup(t);
  addResident('a', '周明', '1960-01-01', '1', 30); addResident('b', '周明', '1960-01-01', '1', 31);
  const ra = s.createHealthRecord({ residentId: 'a' }, actor); const rb = s.createHealthRecord({ residentId: 'b' }, actor);
  t.same(s.duplicatePairs().map((p) => [p.a, p.b, p.certainty]), [[ra.healthRecordNo, rb.healthRecordNo, 'likely']]);
  s.enrol({ residentId: 'b', disease: 'T2DM', enrolledDate: '2026-02-01', doctorCode: 'dr.li', fbg: 8.1 }, actor);
  const m = s.mergeRecords(ra.healthRecordNo, rb.healthRecordNo, actor);
  t.equal(m.moved, 1);
  t.equal(s.enrolments('a').length, 1, 'enrolment now under the survivor');
  t.same([s.get('health_record', rb.healthRecordNo)!.status, s.get('health_record', rb.healthRecordNo)!.mergedIntoRecordNo], ['cancelled', ra.healthRecordNo]);
  t.same(s.get('health_record', ra.healthRecordNo)!.mergedFrom, [rb.healthRecordNo]);
  t.same(s.duplicatePairs(), []);
  const st = s.recordStats();
  t.same([st.residents, st.active, st.cancelled, st.recordRate, st.t2dm], [2, 1, 1, 50, 1], '2 residents, 1 active record -> 50 %');
});

t.test('property: arbitrary follow-up and enrolment input never crashes and never half-saves', async (t) => {
  const { s, seqs, addResident, actor } = setup(t);
  addResident('p', '吴阿姨', '1955-09-09', '2');
  s.enrol({ residentId: 'p', disease: 'T2DM', enrolledDate: '2026-01-01', doctorCode: 'dr.li' }, actor);
  const numish = (lo: number, hi: number) => fc.oneof({ arbitrary: fc.integer({ min: lo, max: hi }), weight: 6 }, { arbitrary: fc.constant(undefined), weight: 1 }, { arbitrary: fc.double({ noNaN: false }), weight: 1 }, { arbitrary: fc.constantFrom(-1, 0, 3.9, 16.7, 300, 301, 1e9), weight: 1 });
  const dateArb = fc.oneof({ arbitrary: fc.constantFrom('2026-11-01', '2026-06-15', '2025-12-31', '2026-02-30', '2026-12-01'), weight: 5 }, { arbitrary: fc.string(), weight: 1 });
  let saved = 0; let refused = 0;
  fc.assert(fc.property(dateArb, numish(60, 250), numish(30, 160), numish(2, 30), numish(30, 180), fc.constantFrom('clinic', 'home', 'phone', 'x'), fc.array(fc.constantFrom('chest_pain', 'none', 'bogus'), { maxLength: 3 }),
    (date, sbp, dbp, fbg, hr, mode, symptoms) => {
      const before = seqs();
      try {
        const out = s.recordFollowup({ residentId: 'p', disease: 'T2DM', date, mode, symptoms, sbp, dbp, fbg, heartRate: hr, medications: [], sourceReadingIds: [] }, actor);
        saved++;
        const stored = s.get('chronic_followup', out.followup.followupId);
        return seqs() > before && stored !== null && stored.fastingGlucose === fbg && fbg! >= 1 && fbg! <= 33.3 && (!out.referral || s.get('referral', out.referral.referralId) !== null);
      } catch (e) {
        refused++;
        return e instanceof FormError && seqs() === before && Object.values(e.errors).every((m) => /[\u4e00-\u9fff]/.test(m));
      }
    }), { numRuns: 300 });
  t.ok(saved > 0 && refused > 0, `both outcomes exercised (saved ${saved}, refused ${refused})`);
  fc.assert(fc.property(fc.string(), fc.string(), fc.string(), fc.string(), (name, birth, idNumber, phone) => {
    const before = seqs();
    try { s.createHealthRecord({ newResident: { name, sex: '1', birthDate: birth, idNumber, phone } }, actor); return true; } catch (e) { return e instanceof FormError && seqs() === before; }
  }), { numRuns: 200 });
});

t.test('health-record migration at the edges (messages passed by hand, as central would): package, idempotent offer, accept/refuse checks, refusal reactivates', async (t) => {
  const a = setup(t);
  const dirB = mkdtempSync(join(tmpdir(), 'care-b-'));
  const storeB = new EdgeStore(join(dirB, 'edge.db'), 'c02-test', careMigrations);
  t.teardown(() => { storeB.close(); rmSync(dirB, { recursive: true, force: true }); });
  const sB = new CareService(storeB, new Accounts(storeB.db), 'c02-test', '接收中心', () => new Date('2026-11-28T10:00:00'));
  const trA = new CareTransfers(a.s); const trB = new CareTransfers(sB);
  const idn = a.addResident('ra', '周国强', '1950-03-03', '1');
  const rec = a.s.createHealthRecord({ residentId: 'ra' }, a.actor);
  a.s.enrol({ residentId: 'ra', disease: 'HTN', enrolledDate: '2026-10-01', doctorCode: 'dr.li' }, a.actor);
  const count = (s: CareService, type: string) => (s.db.prepare('SELECT count(*) AS n FROM records WHERE type = ?').get(type) as { n: number }).n;

  // Refused input: nothing written, no package.
  const before = a.seqs();
  t.match(errorsOf(() => a.s.migrateRecord(rec.healthRecordNo, 'c02-test', ' ', a.actor)).migrationReason, /请填写迁出原因/);
  t.match(errorsOf(() => a.s.migrateRecord(rec.healthRecordNo, 'c01-test', '迁居', a.actor)).toClinicId, /不能是本机构/);
  t.same([a.seqs(), count(a.s, 'record_transfer'), trA.outgoing().length], [before, 0, 0]);
  // Migrate: record migrated and the package in the same transaction (2 records).
  a.s.migrateRecord(rec.healthRecordNo, 'c02-test', '迁居', a.actor);
  t.equal(a.seqs(), before + 2);
  const pkg = a.s.list('record_transfer')[0]!;
  t.same([pkg.fromClinicId, pkg.toClinicId, pkg.healthRecord.status, pkg.resident.idNumber, pkg.enrolments.length], ['c01-test', 'c02-test', 'active', idn, 1]);
  t.same(trA.outgoing().map((o) => o.status), ['sent']);

  // Receiver: the offer once, a redelivery changes nothing, an offer for someone else is ignored.
  t.equal(trB.apply({ kind: 'offer', transfer: pkg }), 'offer');
  t.equal(trB.apply({ kind: 'offer', transfer: pkg }), 'duplicate');
  t.equal(trB.apply({ kind: 'offer', transfer: { ...pkg, transferId: 'tr-x', toClinicId: 'c03-test' } }), 'ignored');
  t.same(trB.incoming().map((x) => x.status), ['pending']);
  // Refusal needs a reason (<= 200 characters); nothing written.
  const bBefore = storeB.stats().lastSeq;
  t.match(errorsOf(() => trB.refuse(pkg.transferId, '', a.actor)).reason, /须填写原因/);
  t.match(errorsOf(() => trB.refuse(pkg.transferId, '长'.repeat(201), a.actor)).reason, /不超过 200 字/);
  // The receiver already holds an active record for this person: accepting is refused, nothing written.
  storeB.write('resident', 'rb', { residentId: 'rb', name: '周国强', sex: '1', birthDate: '1950-03-03', idType: '01', idNumber: idn });
  const local = sB.createHealthRecord({ residentId: 'rb' }, a.actor);
  const bAfterLocal = storeB.stats().lastSeq;
  t.match(errorsOf(() => trB.accept(pkg.transferId, a.actor))._, new RegExp(`已有该居民（rb）的在档档案 ${local.healthRecordNo}`));
  t.equal(storeB.stats().lastSeq, bAfterLocal);
  t.ok(bAfterLocal > bBefore);
  // Refuse with a reason; deciding twice is refused.
  const d = trB.refuse(pkg.transferId, '本中心已有该居民档案', a.actor);
  t.match(errorsOf(() => trB.accept(pkg.transferId, a.actor))._, /已处理（已拒绝）/);

  // Sender: the refusal makes the record active again, once.
  t.equal(trA.apply({ kind: 'decision', decision: d }), 'decision');
  const back = a.s.get('health_record', rec.healthRecordNo)!;
  t.same([back.status, back.migratedToClinicId], ['active', undefined]);
  t.same(trA.outgoing().map((o) => [o.status, o.reason]), [['refused', '本中心已有该居民档案']]);
  const s2 = a.seqs();
  t.equal(trA.apply({ kind: 'decision', decision: d }), 'duplicate');
  t.equal(a.seqs(), s2, 'a repeated decision writes nothing');
  t.equal(trA.apply({ kind: 'decision', decision: { ...d, transferId: 'tr-unknown' } }), 'ignored');
  t.same(a.s.byResident('chronic_enrolment', 'ra').map((e) => e.status), ['active'], 'enrolment kept after a refusal');
});
