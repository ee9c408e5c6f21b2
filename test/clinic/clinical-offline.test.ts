/**
 * A whole visit with central AND nats-server stopped: the doctor signs, the cashier takes
 * the money, the nurse gives the infusion and enters vital signs, all at the edge; when
 * the network and central come back, every record reaches central exactly once.
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { signIn } from '../devices/helpers.ts';
import { payCharges } from '../../edge-agent/his/charges.ts';
import { CASHIER, DOCTOR, NURSE, clinicSetup, registerPatient } from './clinical-helpers.ts';

t.test('doctor and nurse work through a visit while central and NATS are down; records replicate afterwards', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('clin-off');
  t.teardown(tmp.cleanup);
  let central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('clinoff');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const { slotId } = await clinicSetup(edge);
  await waitFor('edge caught up', () => edge.store.stats().outboxDepth === 0, 30_000);

  // The district network and the cloud go away.
  await central.stop();
  await ns.stop();
  const p = registerPatient(edge, slotId, 'r-zhao', '赵德明', '19490705', '031');
  const seqBefore = edge.store.stats().lastSeq;

  const url = edge.http.url;
  const post = async (cookie: string, path: string, form: Record<string, string>) => {
    const r = await fetch(`${url}${path}`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form), redirect: 'manual' });
    return { status: r.status, location: r.headers.get('location'), text: await r.text() };
  };
  const get = async (cookie: string, path: string) => { const r = await fetch(`${url}${path}`, { headers: { cookie } }); return { status: r.status, text: await r.text() }; };

  const doc = await signIn(url, DOCTOR.username, DOCTOR.password);
  const called = await post(doc, '/clinic/doctor/call-next', {});
  t.equal(called.status, 303);
  const visit = called.location!;
  t.match(visit, /^\/clinic\/visit\/[0-9a-f-]{36}$/);
  t.equal((await post(doc, `${visit}/note`, { chiefComplaint: '犬咬伤左小腿1小时', subjective: '被邻居家犬咬伤，伤口出血', objective: '左小腿后侧2处贯穿皮肤咬痕', assessment: '犬咬伤Ⅲ级暴露', plan: '清创、狂犬病疫苗、破伤风' })).status, 303);
  t.equal((await post(doc, `${visit}/diagnoses`, { diagnosis: 'T14.100' })).status, 303);
  t.equal((await post(doc, `${visit}/diagnoses`, { diagnosis: 'W54.x00' })).status, 303);
  const vaccine = await get(doc, `${visit}?dq=${encodeURIComponent('狂犬病疫苗')}`);
  const vaccineCode = /data-testid="choose-(\d{14})"/.exec(vaccine.text)![1]!;
  t.equal((await post(doc, `${visit}/rx`, { drug: vaccineCode, dose: '0.5', doseUnit: 'ml', frequency: 'st', route: 'im', days: '1' })).status, 303, 'rabies vaccine, first dose today');
  const bad = await post(doc, `${visit}/rx`, { drug: vaccineCode, dose: '0.5', doseUnit: 'mg', frequency: 'st', route: 'im', days: '1' });
  t.equal(bad.status, 400);
  t.match(bad.text, /data-testid="err-doseUnit">剂量单位 mg 与药品规格不符/, 'a dose unit that does not fit the drug is refused next to the field');
  const report = await post(doc, `${visit}/reports`, { kind: 'dog_bite', animal: 'dog', exposureGrade: 'III', woundSite: '左小腿', onsetDate: '' });
  t.equal(report.status, 303, 'dog-bite register');
  const page = await get(doc, visit);
  t.match(page.text, /犬伤登记<\/td><td>暴露Ⅲ级，伤口处置\+狂犬病疫苗\+被动免疫制剂/, 'grade III: wound care, vaccine and immunoglobulin');
  const signed = await post(doc, `${visit}/sign`, {});
  t.equal(signed.status, 200);
  t.match(signed.text, /已签名：生成 1 个医嘱\/申请、2 条待收费项目/, 'vaccine + injection fee');

  // Cashier (front desk function) and nurse, still offline.
  const pending = edge.store.db.prepare<[string], { charge_id: string }>("SELECT charge_id FROM his_charges WHERE resident_id = ? AND status = 'pending'").all('r-zhao').map((r) => r.charge_id);
  t.equal(pending.length, 2);
  edge.store.transact((tx) => payCharges(tx, { residentId: 'r-zhao', chargeIds: pending, paymentMethod: 'cash', cashier: CASHIER.username }));
  const nurse = await signIn(url, NURSE.username, NURSE.password);
  const list = await get(nurse, '/clinic/nurse');
  const barcode = /data-testid="task-(E\d+)"/.exec(list.text)![1]!;
  t.match(list.text, /狂犬病疫苗\(Vero细胞\) 0\.5ml<\/td><td>肌内注射<\/td><td>1\/1/);
  const done = await post(nurse, '/clinic/nurse/scan', { barcode, patient: p.idNumber });
  t.match(done.text, /已执行：赵德明 狂犬病疫苗\(Vero细胞\)（第1\/1次）/);
  const vit = await post(nurse, `/clinic/nurse/vitals?resident=r-zhao`, { temperature: '36.8', systolic: '132', diastolic: '84', pulse: '78' });
  t.match(vit.text, /已保存 4 项体征/);
  t.match((await get(doc, visit)).text, /今日体征<!-- -->：<!-- -->体温 36\.8℃ · 血压 132\/84mmHg · 脉搏 78次\/分|今日体征：体温 36\.8℃ · 血压 132\/84mmHg · 脉搏 78次\/分/, "the nurse's vital signs show on the doctor's visit page");
  const wrong = await post(nurse, `/clinic/nurse/vitals?resident=r-zhao`, { temperature: 'abc' });
  t.match(wrong.text, /data-testid="err-temperature">体温须为数字/);

  const written = edge.store.stats().lastSeq - seqBefore;
  t.ok(written >= 15, `${written} records written while offline`);
  t.equal(edge.store.stats().outboxDepth >= written, true, 'all of them wait in the outbox');

  // Network and central come back: everything replicates.
  await ns.restart();
  central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  await waitFor('outbox drained', () => edge.store.stats().outboxDepth === 0, 60_000);
  const atCentral = (type: string) => central.wh.db.prepare<[string, string], { payload: string }>('SELECT payload FROM records WHERE clinic_id = ? AND type = ?').all(clinic, type).map((r) => JSON.parse(r.payload) as Record<string, unknown>);
  const seqs = await central.wh.appliedSeqs(clinic);
  t.equal(new Set(seqs).size, seqs.length, 'each record applied once');
  t.equal(Math.max(...seqs), edge.store.stats().lastSeq, 'central holds every seq the edge wrote');
  t.ok(atCentral('encounter').some((e) => e.encounterId === p.registrationId && e.status === 'finished'), 'finished encounter');
  t.equal(atCentral('visit_note').length, 1);
  t.match(atCentral('prescription'), [{ items: [{ route: 'im', frequency: 'st', quantity: 1 }] }]);
  t.match(atCentral('infectious_report'), [{ kind: 'dog_bite', exposureGrade: 'III', immunoglobulin: true }]);
  t.match(atCentral('order_execution'), [{ residentId: 'r-zhao', barcode, executedBy: NURSE.username, sequence: 1, total: 1 }]);
  t.ok(atCentral('order').some((o) => o.kind === 'drug' && o.status === 'completed'), 'injection order completed');
  t.equal(atCentral('observation').filter((o) => o.residentId === 'r-zhao').length, 4, 'vital signs');
});
