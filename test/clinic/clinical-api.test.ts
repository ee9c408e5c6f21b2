/**
 * The workstations' form endpoints under arbitrary input (fast-check): never a 500, bad
 * input gets 400/404/409 with a message, and what is stored stays valid. Plus: device
 * readings of today are offered in the nurse's vitals form.
 */
import t from 'tap';
import fc from 'fast-check';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { signIn } from '../devices/helpers.ts';
import { starterDictionaries } from '../../central/dictionaries/starter.ts';
import { DICTIONARY_NAMES } from '../../contracts/index.ts';
import { devicesByStore } from '../../edge-agent/devices/index.ts';
import { payCharges } from '../../edge-agent/his/charges.ts';
import { today } from '../../edge-agent/his/clinical/service.ts';
import { seedClinicalDemo } from '../../edge-agent/his/clinical/index.ts';
import { DOCTOR, NURSE, clinicSetup, registerPatient } from './clinical-helpers.ts';

t.test('form endpoints under arbitrary input', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('clin-api');
  t.teardown(tmp.cleanup);
  const clinic = clinicName('clinapi');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(() => edge.stop());
  // No central here: the starter dictionaries are applied as the edge would receive them.
  const { slotId } = await clinicSetup(edge, {
    dictionariesFrom: async () => { for (const name of DICTIONARY_NAMES) edge.store.applyDictionary({ name, version: 1, publishedAt: new Date().toISOString(), items: starterDictionaries[name] }); },
  });
  const p = registerPatient(edge, slotId, 'r-sun', '孙桂芳', '19600218', '046');
  const url = edge.http.url;
  const doc = await signIn(url, DOCTOR.username, DOCTOR.password);
  const nurse = await signIn(url, NURSE.username, NURSE.password);
  const post = async (cookie: string, path: string, form: Record<string, string>) => {
    const r = await fetch(`${url}${path}`, { method: 'POST', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(form), redirect: 'manual' });
    await r.arrayBuffer();
    return r.status;
  };
  const start = await fetch(`${url}/clinic/doctor/visit/${p.registrationId}/start`, { method: 'POST', headers: { cookie: doc }, redirect: 'manual' });
  t.equal(start.status, 303);
  const visit = `/clinic/visit/${p.registrationId}`;

  const text = fc.oneof(fc.string({ maxLength: 30 }), fc.constantFrom('', '0', '-1', '1', '2.5', '1e9', 'NaN', 'Infinity', 'qd', 'st', 'ivgtt', 'im', 'mg', 'ml', '片', 'A09.900', 'I10.x00',
    '250101015', 'US-ABD', 'DX-CHEST', 'fever', 'dog_bite', 'notifiable', 'diarrhoea', 'III', '2020-01-01', '2999-01-01', '苯磺酸氨氯地平片', '氯化钠注射液', '<script>', "' OR 1=1 --"));
  const form = fc.dictionary(fc.constantFrom('drug', 'dose', 'doseUnit', 'frequency', 'route', 'days', 'quantity', 'group', 'diagnosis', 'item', 'procedure', 'kind', 'temperature',
    'stoolsPerDay', 'exposureGrade', 'icd10Code', 'onsetDate', 'chiefComplaint', 'barcode', 'patient', 'systolic', 'diastolic', 'spo2'), text);
  const doctorPaths = ['/rx', '/diagnoses', '/labs', '/imaging', '/reports', '/note', '/diagnoses/delete'];
  const statuses = new Map<number, number>();
  await fc.assert(fc.asyncProperty(fc.constantFrom(...doctorPaths, 'scan', 'vitals'), form, async (path, f) => {
    const status = path === 'scan' ? await post(nurse, '/clinic/nurse/scan', f)
      : path === 'vitals' ? await post(nurse, '/clinic/nurse/vitals?resident=r-sun', f)
      : await post(doc, `${visit}${path}`, f);
    statuses.set(status, (statuses.get(status) ?? 0) + 1);
    if (![200, 303, 400, 404, 409].includes(status)) throw new Error(`${path} ${JSON.stringify(f)} -> ${status}`);
  }), { numRuns: 300 });
  t.ok(!statuses.has(500), `statuses ${JSON.stringify([...statuses])}`);
  const lines = edge.store.db.prepare<[string], { line: string }>('SELECT line FROM clin_rx_lines WHERE registration_id = ?').all(p.registrationId).map((r) => JSON.parse(r.line) as { quantity: number; dose: number });
  t.ok(lines.every((l) => Number.isInteger(l.quantity) && l.quantity >= 1 && l.dose > 0), `${lines.length} accepted prescription lines are all valid`);
  const xss = await (await fetch(`${url}${visit}?dq=${encodeURIComponent('<script>alert(1)</script>')}`, { headers: { cookie: doc } })).text();
  t.notMatch(xss, /<script>alert\(1\)<\/script>/, 'search text is escaped');
});

t.test("today's device readings fill the nurse's vitals form", async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('clin-dev');
  t.teardown(tmp.cleanup);
  const clinic = clinicName('clindev');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(() => edge.stop());
  const { slotId } = await clinicSetup(edge, {
    dictionariesFrom: async () => { for (const name of DICTIONARY_NAMES) edge.store.applyDictionary({ name, version: 1, publishedAt: new Date().toISOString(), items: starterDictionaries[name] }); },
  });
  registerPatient(edge, slotId, 'r-zhou', '周建国', '19551103', '017');
  const dev = devicesByStore.get(clinic)!;
  const by = { username: 'nurse.liu', ip: 'local' };
  const bp = dev.registry.create({ name: '分诊台血压计', profileId: 'bedside-monitor-hl7', room: '分诊台', connection: { type: 'listener' }, sourceName: 'TRIAGE' }, by);
  dev.registry.setStationPatient(bp.id, 'r-zhou', by);
  const obs = (quantity: string, code: string, display: string, value: number, unit: string) => ({
    type: 'observation' as const, deviceId: bp.id, profileId: 'bedside-monitor-hl7', quantity, at: new Date().toISOString(), implausible: false, critical: false, sourceId: `m1-${quantity}`, code, display, value, unit,
  });
  await dev.ingest.storeBatch(bp, [obs('sys', '8480-6', 'Systolic blood pressure', 146, 'mm[Hg]'), obs('dia', '8462-4', 'Diastolic blood pressure', 88, 'mm[Hg]'), obs('hr', '8867-4', 'Heart rate', 76, '/min')]);
  const nurse = await signIn(edge.http.url, NURSE.username, NURSE.password);
  const html = await (await fetch(`${edge.http.url}/clinic/nurse/vitals?resident=r-zhou`, { headers: { cookie: nurse } })).text();
  t.match(html, /已带入今日设备读数 3 项/);
  t.match(html, /id="v-systolic" size="6" value="146"/, 'systolic from the device');
  t.match(html, /id="v-pulse" size="6" value="76"/, 'pulse from the device');
  t.match(html, /id="v-temperature" size="6" value=""/, 'nothing invented');
});

t.test('seedClinicalDemo: past visits and lab trends through the real paths, idempotent', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('clin-seed');
  t.teardown(tmp.cleanup);
  const clinic = clinicName('clinseed');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(() => edge.stop());
  const { slotId } = await clinicSetup(edge, {
    dictionariesFrom: async () => { for (const name of DICTIONARY_NAMES) edge.store.applyDictionary({ name, version: 1, publishedAt: new Date().toISOString(), items: starterDictionaries[name] }); },
  });
  registerPatient(edge, slotId, 'r-qian', '钱玉珍', '19500808', '028');
  const r = await seedClinicalDemo(edge.store, { doctor: DOCTOR.username });
  t.match(r, { visits: 3, labResults: 6, notes: [] });
  t.match(await seedClinicalDemo(edge.store, { doctor: DOCTOR.username }), { visits: 0 }, 'second run adds nothing');
  const doc = await signIn(edge.http.url, DOCTOR.username, DOCTOR.password);
  const html = await (await fetch(`${edge.http.url}/clinic/residents/r-qian/history`, { headers: { cookie: doc } })).text();
  t.equal((html.match(/慢病复诊取药|高血压、糖尿病复诊|头晕2周/g) ?? []).length, 3, 'three past visits');
  t.match(html, /data-testid="trend-4548-4" data-chart="[^"]*8\.4,7\.6,6\.9/, 'HbA1c trend chart data, oldest first');
  const js = await fetch(`${edge.http.url}/clinic/assets/echarts.min.js`);
  t.equal(js.status, 200, 'ECharts served from the package');
  t.ok((await js.text()).length > 500_000);
  t.equal(edge.store.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM his_charges WHERE resident_id = 'r-qian' AND status = 'pending' AND source_kind != 'registration'").get()!.n, 0, 'past visits are paid');
});

t.test('signed orders are voided before payment only; the worklist and the nurse list follow', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('clin-void');
  t.teardown(tmp.cleanup);
  const clinic = clinicName('clinvoid');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(() => edge.stop());
  const { svc, slotId } = await clinicSetup(edge, {
    dictionariesFrom: async () => { for (const name of DICTIONARY_NAMES) edge.store.applyDictionary({ name, version: 1, publishedAt: new Date().toISOString(), items: starterDictionaries[name] }); },
  });
  const p = registerPatient(edge, slotId, 'r-feng', '冯春梅', '19770615', '022');
  const id = p.registrationId;
  await svc.startVisit(id, DOCTOR.username);
  svc.saveNote(id, { chiefComplaint: '咳嗽', subjective: '', objective: '', assessment: '', plan: '' });
  svc.addDiagnosis(id, 'J20.900');
  svc.addRxLine(id, { drug: '氯化钠注射液', dose: '250', doseUnit: 'ml', frequency: 'qd', route: 'ivgtt', days: '2' });
  const lab = svc.addLab(id, '250101015');
  const img = svc.addImaging(id, 'DX-CHEST');
  await svc.sign(id, DOCTOR.username);
  const doc = await signIn(edge.http.url, DOCTOR.username, DOCTOR.password);
  const post = async (path: string) => { const r = await fetch(`${edge.http.url}/clinic/visit/${id}${path}`, { method: 'POST', headers: { cookie: doc }, redirect: 'manual' }); return { status: r.status, text: await r.text() }; };
  const charge = (sourceId: string) => edge.store.db.prepare<[string], { charge_id: string; status: string }>('SELECT charge_id, status FROM his_charges WHERE source_id = ?').get(sourceId)!;

  t.equal(svc.imaging.openOrders().filter((o) => o.residentId === 'r-feng').length, 1, 'chest DR on the worklist');
  const v1 = await post(`/orders/${img.lineId}/void`);
  t.match(v1.text, /申请已撤销，1 条待收费项目已取消/);
  t.equal(svc.imaging.openOrders().filter((o) => o.residentId === 'r-feng').length, 0, 'withdrawn order leaves the worklist');
  const labOrder = edge.store.db.prepare<[string], { order_id: string }>('SELECT order_id FROM clin_orders WHERE line_id = ?').get(lab.lineId)!.order_id;
  edge.store.transact((tx) => payCharges(tx, { residentId: 'r-feng', chargeIds: [charge(labOrder).charge_id], paymentMethod: 'cash', cashier: 'test' }));
  const v2 = await post(`/orders/${lab.lineId}/void`);
  t.equal(v2.status, 409);
  t.match(v2.text, /血常规（五分类） 已缴费，须先退费（冲账）再撤销/, 'a paid order needs a refund first');
  t.equal(svc.tasks(today()).filter((x) => x.residentId === 'r-feng').length, 1, "today's infusion on the nurse's list");
  const v3 = await post('/rx/void');
  t.match(v3.text, /处方已作废，2 条待收费项目已取消/, 'saline and the infusion fee');
  t.match(v3.text, /data-testid="rx-void"/);
  t.equal(svc.tasks(today()).filter((x) => x.residentId === 'r-feng').length, 0, 'doses leave the nurse list');
  t.equal((await post('/rx/void')).status, 409, 'void twice refused');
  const rec = (type: string, rid: string) => JSON.parse(edge.store.db.prepare<[string, string], { payload: string }>('SELECT payload FROM records WHERE type = ? AND record_id = ?').get(type, rid)!.payload) as { status: string };
  t.equal(rec('prescription', svc.visit(id)!.visit.prescription_id!).status, 'cancelled', 'prescription record: new version, cancelled');
  t.equal(edge.store.db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM his_charges WHERE registration_id = ? AND status = 'pending' AND source_kind != 'registration'").get(id)!.n, 0, 'nothing left to pay');
});
