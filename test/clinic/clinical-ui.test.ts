/**
 * Doctor's queue -> visit -> sign -> cashier -> nurse execution in headless Chromium, with
 * a real nats-server and central: the visit's records reach central. Screenshots in
 * $TMPDIR/ui-clinical-*.png.
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { payCharges } from '../../edge-agent/his/charges.ts';
import { devicesByStore } from '../../edge-agent/devices/index.ts';
import { CASHIER, DOCTOR, NURSE, clinicSetup, registerPatient } from './clinical-helpers.ts';

t.test('queue -> visit -> sign -> pay -> nurse executes; records reach central', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('clin-ui');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('clinui');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const { svc, slotId } = await clinicSetup(edge);
  const p1 = registerPatient(edge, slotId, 'r-wang', '王秀兰', '19580412', '024');
  registerPatient(edge, slotId, 'r-li', '李国强', '19700101', '013');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const url = edge.http.url;
  const login = async (u: string, p: string) => {
    await page.goto(`${url}/login`);
    await page.fill('#username', u); await page.fill('#password', p); await page.click('button.primary');
    await page.waitForURL(`${url}/`);
  };
  const shot = (name: string) => page.screenshot({ path: screenshotPath(`clinical-${name}`), fullPage: true });

  // ---- doctor: queue, call next
  await login(DOCTOR.username, DOCTOR.password);
  await page.click('header nav >> text=医生工作站');
  t.match(await page.locator('[data-testid=queue]').innerText(), /王秀兰[\s\S]*候诊[\s\S]*李国强/, 'queue lists today\'s patients in order');
  t.equal(await page.locator('[data-testid=waiting]').innerText(), '2');
  await shot('queue');
  await page.click('[data-testid=call-next]');
  await page.waitForURL(/\/clinic\/visit\//);
  t.match(await page.locator('[data-testid=patient-bar]').innerText(), /王秀兰[\s\S]*女[\s\S]*就诊中/, 'first patient called, in visit');
  const visitUrl = page.url().replace(/[#?].*$/, '');

  // ---- SOAP note
  await page.fill('#chiefComplaint', '腹泻3天，发热1天');
  await page.fill('#subjective', '3天前进食不洁食物后出现水样便，每日5-6次，昨日起发热，最高38.6℃。');
  await page.fill('#objective', 'T 38.5℃，P 96次/分，BP 150/95mmHg。腹软，脐周轻压痛。');
  await page.fill('#assessment', '感染性腹泻；原发性高血压');
  await page.fill('#plan', '补液、抗感染，血常规，腹部B超。');
  await page.click('[data-testid=save-note]');

  // ---- diagnoses: search, add; a notifiable code raises the reminder
  await page.fill('[data-testid=icd-search]', '腹泻');
  await page.click('#dx form[method=get] button');
  t.match(await page.locator('[data-testid=icd-results]').innerText(), /A09\.900\s+感染性腹泻\s*法定传染病/, 'search result flags a notifiable disease');
  await page.click('[data-testid="add-dx-A09.900"]');
  await page.fill('[data-testid=dx-code]', 'I10.x00');
  await page.click('#dx form[method=post]:has([data-testid=dx-code]) button');
  t.match(await page.locator('[data-testid=diagnoses]').innerText(), /A09\.900\s+感染性腹泻\s*主要诊断[\s\S]*I10\.x00\s+原发性高血压/);
  await page.fill('[data-testid=dx-code]', 'Z99.999');
  await page.click('#dx form[method=post]:has([data-testid=dx-code]) button');
  t.match(await page.locator('[data-testid=err-diagnosis]').innerText(), /未知ICD-10编码：Z99\.999/, 'unknown ICD-10 code: message next to the field');
  t.match(await page.locator('[data-testid=infectious-reminder]').innerText(), /A09\.900 其它感染性腹泻病（丙类），须在 24 小时内网络直报/, 'infectious-disease reminder');

  // ---- prescription: search, choose, computed quantity; wrong input gets a message next to the field
  await page.fill('[data-testid=drug-search]', '氨氯地平');
  await page.click('#rx form[method=get] button');
  const results = await page.locator('[data-testid=drug-results]').innerText();
  t.match(results, /苯磺酸氨氯地平片\s*集采\s+5mg\*28片\s+12\.60\/盒\s+100 \/ 100 盒/, 'search shows VBP mark, price and available/actual stock');
  await page.click('[data-testid=drug-results] a.btn');
  await page.fill('#rx-dose', '5');
  await page.selectOption('#rx-frequency', 'qd');
  await page.fill('#rx-days', '30');
  await page.click('[data-testid=add-rx]');
  t.match(await page.locator('[data-testid=rx-lines]').innerText(), /苯磺酸氨氯地平片\s*集采\s+5mg\*28片\s+5mg 口服 每日一次\s+30\s+2盒\s+100盒/, '5 mg qd x 30 days = 2 boxes; stock shown');

  await page.fill('#rx-drug', '86999999999999');
  await page.fill('#rx-dose', '1');
  await page.click('[data-testid=add-rx]');
  t.match(await page.locator('[data-testid=err-drug]').innerText(), /未知药品编码：86999999999999/, 'unknown drug code: Chinese message next to the field');
  await page.fill('#rx-drug', '头孢呋辛酯片');
  await page.fill('#rx-dose', '0.25');
  await page.fill('#rx-unit', 'g');
  await page.fill('#rx-days', '3');
  await page.fill('#rx-quantity', '-2');
  await page.click('[data-testid=add-rx]');
  t.match(await page.locator('[data-testid=err-quantity]').innerText(), /数量必须大于0，不能为负数/, 'negative quantity: message next to the field');
  await shot('visit-errors');
  await page.fill('#rx-quantity', '');
  await page.selectOption('#rx-frequency', 'bid');
  await page.click('[data-testid=add-rx]');
  // saline 250 ml IV drip once a day for 3 days (group 1): 3 bottles, nurse gives it 3 times
  await page.goto(`${visitUrl}?dq=氯化钠#rx`);
  await page.click('[data-testid=drug-results] a.btn');
  await page.fill('#rx-dose', '250');
  await page.selectOption('#rx-frequency', 'qd');
  await page.selectOption('#rx-route', 'ivgtt');
  await page.fill('#rx-days', '3');
  await page.fill('#rx-group', '1');
  await page.click('[data-testid=add-rx]');
  const rx = await page.locator('[data-testid=rx-lines]').innerText();
  t.match(rx, /头孢呋辛酯片[\s\S]*0\.25g 口服 每日两次\s+3\s+1盒/, '0.25 g bid x 3 d = 6 tablets = 1 box of 12');
  t.match(rx, /氯化钠注射液[\s\S]*250ml 静脉滴注 每日一次\s+3\s+3瓶/, 'saline 3 bottles');

  // ---- lab with specimen barcode, imaging order for the worklist
  await page.selectOption('[data-testid=lab-item]', '250101015');
  await page.click('[data-testid=add-lab]');
  const specimenId = (await page.locator('[data-testid^=specimen-]').first().getAttribute('data-testid'))!.replace('specimen-', '');
  t.match(specimenId, /^S\d{6}\d{4}$/, 'specimen barcode id');
  t.equal(await page.locator('[data-testid^=specimen-] svg').count(), 1, 'specimen barcode drawn as SVG');
  t.ok(await page.locator('[data-testid^=specimen-] svg path').count() >= 1, 'its bars are drawn (code 128), not the text fallback');
  await page.selectOption('[data-testid=imaging-procedure]', 'US-ABD');
  await page.click('[data-testid=add-imaging]');

  // ---- fever register; a bad temperature first
  await page.fill('[data-testid=fever-form] input[name=temperature]', '48');
  await page.click('[data-testid=fever-form] button');
  t.match(await page.locator('[data-testid=err-temperature]').innerText(), /请填写体温（34-43\.5℃）/);
  await page.fill('[data-testid=fever-form] input[name=temperature]', '38.5');
  await page.click('[data-testid=fever-form] button');
  await page.click('[data-testid="report-A09.900"]');
  t.match(await page.locator('[data-testid=reports]').innerText(), /发热登记\s+体温 38\.5℃[\s\S]*传染病报告卡\s+A09\.900 其它感染性腹泻病（丙类，24小时内直报）/);
  await shot('visit');

  // ---- sign: ONE transaction with records and pending charges
  const auditCount = () => edge.store.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM audit_log').get()!.n;
  const seqBefore = edge.store.stats().lastSeq;
  const auditBefore = auditCount();
  await page.click('[data-testid=sign]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /已签名：生成 3 个医嘱\/申请、6 条待收费项目/, 'drug series + lab + imaging; 3 drugs + lab + US + infusion fee');
  t.match(await page.locator('[data-testid=visit-charges]').innerText(), /苯磺酸氨氯地平片\s+2盒\s+25\.20\s+待收费[\s\S]*静脉输液\s+3次\s+15\.00/);
  await shot('visit-signed');
  await page.goto(`${visitUrl}?lang=en`);
  t.match(await page.locator('#rx h1').innerText(), 'Prescription', 'English available');
  await shot('visit-en');
  await page.goto(`${visitUrl}?lang=zh-CN`);
  const regStatus = edge.store.db.prepare<[string], { status: string }>('SELECT status FROM his_registrations WHERE registration_id = ?').get(p1.registrationId)!.status;
  t.equal(regStatus, 'finished', 'registration finished');
  // Every audit entry (page views included) is also an audit_event record: count the others.
  const emitted = edge.store.stats().lastSeq - seqBefore - (auditCount() - auditBefore);
  const signAudit = edge.store.db.prepare<[], { target: string }>("SELECT target FROM audit_log WHERE action = 'clinical.visit.sign' AND outcome = 'ok'").get()!.target;
  // encounter, visit_note, prescription, 3 orders, 6 charges, registration (+ the imaging order row's own record)
  t.match(signAudit, new RegExp(`: ${emitted} records, 3 orders, 6 charges`), `signing emitted ${emitted} records in one transaction`);
  t.ok(emitted >= 13, 'encounter, note, prescription, orders, charges, registration');
  const worklist = svc.imaging.openOrders().filter((o) => o.residentId === 'r-wang');
  t.equal(worklist.length, 1, 'imaging order is on the DICOM worklist');
  t.equal(worklist[0]!.modality, 'US');
  // ---- the analyser sends results for the specimen barcode: bound to the resident by the lab order; K+ 6.8 is critical
  const dev = devicesByStore.get(clinic)!;
  const by = { username: 'test', ip: 'local' };
  const analyser = dev.registry.create({ name: '生化分析仪', profileId: 'biochemistry-analyser', room: '检验科', connection: { type: 'listener' }, sourceName: 'BIOCHEM' }, by);
  const lab = (quantity: string, testCode: string, testName: string, value: number, unit: string, minutesAgo: number, critical = false) => ({
    type: 'lab_result' as const, deviceId: analyser.id, profileId: 'biochemistry-analyser', quantity, at: new Date(Date.now() - minutesAgo * 60_000).toISOString(), implausible: false, critical,
    sourceId: `${specimenId}-${quantity}-${minutesAgo}`, specimenId, testCode, testName, value: String(value), numericValue: value, unit, status: 'final' as const,
  });
  await dev.ingest.storeBatch(analyser, [
    lab('glu', '14749-6', 'Glucose', 7.9, 'mmol/L', 120), lab('glu', '14749-6', 'Glucose', 6.4, 'mmol/L', 60), lab('glu', '14749-6', 'Glucose', 5.6, 'mmol/L', 5),
    lab('k', '2823-3', 'Potassium', 6.8, 'mmol/L', 5, true),
  ]);
  await page.click('text=既往史与检验趋势');
  await page.waitForSelector('[data-testid="trend-14749-6"][data-rendered="1"] svg');
  t.match(await page.locator('[data-testid="trend-14749-6"] svg').innerHTML(), /7\.9[\s\S]*6\.4[\s\S]*5\.6/, 'glucose trend chart drawn by ECharts served from the package');
  t.match(await page.locator('[data-testid=lab-trends]').innerText(), /Potassium\s+6\.8 mmol\/L HH/, 'results listed with flags');
  t.match(await page.locator('[data-testid=visit-alerts]').innerText(), /钾 6\.8/, 'critical value shown on the workstation');
  await page.fill('[data-testid=alert-readback]', '王秀兰，血钾6.8mmol/L，已复查心电图并处理');
  await page.click('[data-testid=alert-ack]');
  t.match(await page.locator('[data-testid=alert-acked]').innerText(), /张建华 .*王秀兰，血钾6\.8mmol\/L/, 'acknowledged with read-back on the workstation');
  t.equal(await page.locator('[data-testid=critical-banner]').count(), 0, 'banner gone');

  t.match(await page.locator('[data-testid=past-visits]').innerText(), /腹泻3天，发热1天[\s\S]*感染性腹泻（A09\.900）/);
  t.match(await page.locator('[data-testid=history-images]').innerText(), /US[\s\S]*腹部超声（肝胆胰脾）[\s\S]*检查号/);
  await shot('history');

  // ---- cashier takes the payment (front desk function), then the nurse executes
  const pending = edge.store.db.prepare<[string], { charge_id: string }>("SELECT charge_id FROM his_charges WHERE resident_id = ? AND status = 'pending'").all('r-wang').map((r) => r.charge_id);
  await page.click('header button');
  await login(NURSE.username, NURSE.password);
  await page.click('header nav >> text=护士工作站');
  const tasksText = await page.locator('[data-testid=pending-tasks]').innerText();
  t.match(tasksText, /王秀兰\s+氯化钠注射液 250ml\s+静脉滴注\s+1\/3[\s\S]*未缴费/, 'execution list from the signed order, not paid yet');
  const barcodes = await page.locator('[data-testid^=task-]').evaluateAll((els) => els.map((e) => e.getAttribute('data-testid')!.replace('task-', '')));
  t.equal(barcodes.length, 1, 'only today\'s dose is listed (the others are planned for the next days)');
  const today1 = barcodes[0]!;
  await page.fill('#barcode', today1);
  await page.click('[data-testid=confirm-exec]');
  t.match(await page.locator('[data-testid=error]').innerText(), /药品未缴费，请患者先到收费处缴费/, 'unpaid: refused');
  edge.store.transact((tx) => payCharges(tx, { residentId: 'r-wang', chargeIds: pending, paymentMethod: 'wechat', cashier: CASHIER.username }));
  await page.goto(`${url}/clinic/nurse`);
  await page.click('[data-testid^=labels-]');
  t.equal(await page.locator('[data-testid=labels] .btl').count(), 3, 'one bottle label per dose');
  t.match(await page.locator(`[data-testid=label-${today1}]`).innerText(), /王秀兰 女 \d+岁[\s\S]*氯化钠注射液 250ml[\s\S]*静脉滴注 · 每日一次 · 第1\/3次/);
  await shot('labels');
  await page.goto(`${url}/clinic/nurse`);
  await page.fill('#barcode', 'E0000000000000');
  await page.click('[data-testid=confirm-exec]');
  t.match(await page.locator('[data-testid=error]').innerText(), /条码 E0000000000000 不存在，请核对瓶签/, 'wrong barcode: clear error');
  await page.fill('#barcode', today1.replace(/01$/, '02'));
  await page.click('[data-testid=confirm-exec]');
  t.match(await page.locator('[data-testid=error]').innerText(), /第2\/3次）计划于 \d{4}-\d{2}-\d{2} 执行，不是今天/, 'tomorrow\'s bottle refused today');
  await page.fill('#barcode', today1);
  await page.fill('#patient', 'r-li');
  await page.click('[data-testid=confirm-exec]');
  t.match(await page.locator('[data-testid=error]').innerText(), /患者与瓶签不符：该瓶签属于 王秀兰/, 'another patient\'s wristband refused');
  await page.fill('#barcode', today1.toLowerCase());
  await page.fill('#patient', p1.idNumber);
  await page.click('[data-testid=confirm-exec]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /已执行：王秀兰 氯化钠注射液（第1\/3次）/);
  t.match(await page.locator('[data-testid=done-tasks]').innerText(), /王秀兰[\s\S]*1\/3\s+刘晓燕（nurse\.liu）/, 'who and when recorded');
  await page.fill('#barcode', today1);
  await page.click('[data-testid=confirm-exec]');
  t.match(await page.locator('[data-testid=error]').innerText(), /该瓶签已于 .* 由 刘晓燕 执行，不能重复执行/, 'second scan refused');
  await shot('nurse');

  // ---- vital signs
  await page.goto(`${url}/clinic/nurse/vitals?resident=${p1.idNumber}`);
  await page.fill('#v-temperature', '38.4');
  await page.fill('#v-systolic', '148');
  await page.fill('#v-diastolic', '160');
  await page.click('[data-testid=save-vitals]');
  t.match(await page.locator('[data-testid=err-diastolic]').innerText(), /舒张压应低于收缩压/);
  await page.fill('#v-diastolic', '92');
  await page.fill('#v-pulse', '94');
  await page.click('[data-testid=save-vitals]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /已保存 4 项体征/);
  t.match(await page.locator('[data-testid=recent-vitals]').innerText(), /体温\s+38\.4 ℃/);
  await shot('vitals');

  // ---- audit: reads and writes of the resident's data
  const audit = edge.store.db.prepare<[], { username: string; action: string; target: string; outcome: string }>("SELECT username, action, target, outcome FROM audit_log WHERE action LIKE 'clinical.%'").all();
  for (const a of ['clinical.queue.view', 'clinical.call-next', 'clinical.visit.view', 'clinical.rx.add', 'clinical.visit.sign', 'clinical.history.view', 'clinical.exec.confirm', 'clinical.vitals.record']) {
    t.ok(audit.some((x) => x.action === a && x.outcome === 'ok'), `audited ${a}`);
  }
  t.ok(audit.some((x) => x.action === 'clinical.rx.add' && /refused: 未知药品编码/.test(x.outcome)), 'refused input audited');
  t.ok(audit.some((x) => x.action === 'clinical.visit.view' && x.target.includes('r-wang') && x.username === DOCTOR.username), 'audit names the resident and the user');

  // ---- roles
  const forbidden = await page.goto(`${url}/clinic/doctor`);
  t.equal(forbidden!.status(), 403, 'a nurse cannot open the doctor\'s workstation');

  // ---- everything reaches central
  const atCentral = (type: string) => central.wh.db.prepare<[string, string], { payload: string }>('SELECT payload FROM records WHERE clinic_id = ? AND type = ?').all(clinic, type).map((r) => JSON.parse(r.payload) as Record<string, unknown>);
  await waitFor('records at central', () => atCentral('order_execution').length === 1 && atCentral('observation').length >= 4 && atCentral('lab_result').length === 4, 30_000);
  t.ok(atCentral('encounter').some((e) => e.encounterId === p1.registrationId && e.status === 'finished' && (e.diagnoses as unknown[]).length === 2), 'finished encounter with diagnoses at central');
  t.equal(atCentral('visit_note').length, 1);
  t.match(atCentral('prescription')[0], { items: [{ drugName: '苯磺酸氨氯地平片', quantity: 2, volumeProcurement: true }, { quantity: 1 }, { route: 'ivgtt', quantity: 3, group: 1 }] });
  t.ok(atCentral('order').some((o) => o.kind === 'lab' && o.specimenId === specimenId), 'lab order with the specimen id (for the analyser) at central');
  t.ok(atCentral('order').some((o) => o.kind === 'imaging' && o.modality === 'US'), 'imaging order at central');
  t.ok(atCentral('order').some((o) => o.kind === 'drug' && o.status === 'in-progress'), 'infusion order in progress after the first dose');
  t.equal(atCentral('infectious_report').length, 2, 'fever register and notifiable report card');
  t.ok(atCentral('charge').some((c) => c.itemCode === '120400001' && c.quantity === 3), 'infusion fee charged per bottle');
  t.ok(atCentral('lab_result').some((r) => r.residentId === 'r-wang' && r.specimenId === specimenId && r.orderId), 'analyser results bound to the resident by the specimen barcode');
  t.match(atCentral('order_execution')[0], { residentId: 'r-wang', executedBy: NURSE.username, sequence: 1, total: 3 });
});
