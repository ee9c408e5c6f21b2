/**
 * A full outpatient visit in headless Chromium, from registration to dispensing and the
 * infusion: registrar -> doctor -> cashier -> pharmacist -> nurse. Once online, once with
 * nats-server AND central stopped; every record the clinic wrote then reaches central.
 * Screenshots in $TMPDIR/ui-outpatient-*.png.
 */
import t, { type Test } from 'tap';
import type { Page } from 'playwright-core';
import type { EdgeAgent } from '../../edge-agent/agent.ts';
import { seedHisDemo } from '../../edge-agent/his/seed.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { residentIdNumber } from '../devices/helpers.ts';

const PASS = 'Clinic-Pass-2026';
const STAFF = [['reg1', '郑小红', 'registrar'], ['doc1', '张建华', 'doctor'], ['cash1', '王收费', 'cashier'], ['pharm1', '孙立新', 'pharmacist'], ['nurse1', '刘晓燕', 'nurse']] as const;

async function login(page: Page, base: string, user: string) {
  await page.goto(`${base}/login`);
  if (await page.locator('header form button').count()) { await page.click('header form button'); await page.goto(`${base}/login`); }
  await page.fill('#username', user);
  await page.fill('#password', PASS);
  await page.click('button.primary');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}

async function outpatientVisit(t: Test, page: Page, base: string, edge: EdgeAgent, o: { idNumber: string; name: string; tag: string }) {
  const shot = (name: string) => page.screenshot({ path: screenshotPath(`outpatient-${o.tag}-${name}`), fullPage: true });
  // Registration (挂号) with a new resident.
  await login(page, base, 'reg1');
  await page.goto(`${base}/his/registration`);
  await page.fill('#f-q', o.idNumber);
  await page.click('[data-testid=search]');
  await page.click('[data-testid=new-resident]');
  await page.fill('#f-name', o.name);
  await page.fill('#f-phone', '13812345678');
  await page.click('[data-testid=save-resident]');
  await page.waitForSelector('[data-testid=resident-card]');
  await page.locator('[data-testid=slot-radio]').first().check();
  await page.click('[data-testid=register]');
  await page.waitForSelector('[data-testid=slip]');
  await shot('slip');

  // Doctor: call, note, diagnosis, prescription (oral + infusion), lab, sign.
  await login(page, base, 'doc1');
  await page.goto(`${base}/clinic/doctor`);
  t.match(await page.locator('[data-testid=queue]').innerText(), new RegExp(`${o.name}[\\s\\S]*候诊`), 'the registered patient waits in the doctor\'s queue');
  await page.click('[data-testid=call-next]');
  await page.waitForURL(/\/clinic\/visit\//);
  t.match(await page.locator('[data-testid=patient-bar]').innerText(), o.name);
  const visitUrl = page.url().replace(/[#?].*$/, '');
  await page.fill('#chiefComplaint', '咽痛、发热2天');
  await page.fill('#objective', 'T 38.2℃，咽部充血，扁桃体Ⅱ度肿大');
  await page.click('[data-testid=save-note]');
  await page.fill('[data-testid=dx-code]', 'J03.900');
  await page.click('#dx form[method=post]:has([data-testid=dx-code]) button');
  await page.goto(`${visitUrl}?dq=${encodeURIComponent('阿莫西林')}#rx`);
  await page.click('[data-testid=drug-results] a.btn');
  await page.fill('#rx-dose', '0.5');
  await page.selectOption('#rx-unit', 'g');
  await page.selectOption('#rx-frequency', 'tid');
  await page.fill('#rx-days', '5');
  await page.click('[data-testid=add-rx]');
  await page.goto(`${visitUrl}?dq=${encodeURIComponent('氯化钠')}#rx`);
  await page.click('[data-testid=drug-results] a.btn');
  await page.fill('#rx-dose', '250');
  await page.selectOption('#rx-frequency', 'st');
  await page.selectOption('#rx-route', 'ivgtt');
  await page.click('[data-testid=add-rx]');
  t.match(await page.locator('[data-testid=rx-lines]').innerText(), /阿莫西林胶囊[\s\S]*0\.5g 口服 每日三次\s+5\s+2盒[\s\S]*氯化钠注射液[\s\S]*1瓶/, '0.5 g tid x 5 d = 30 capsules = 2 boxes of 24; saline once');
  await page.selectOption('[data-testid=lab-item]', '250101015');
  await page.click('[data-testid=add-lab]');
  await page.click('[data-testid=sign]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /已签名/);
  await shot('visit');

  // Cashier (收费): the doctor's charges, priced from the dictionaries.
  await login(page, base, 'cash1');
  await page.goto(`${base}/his/cashier?q=${encodeURIComponent(o.name)}`);
  await page.click('[data-testid=pick]');
  const drugs = edge.store.dictionaryItems('drugs');
  const price = (name: string) => Number(drugs.find((d) => d.name === name)!.attrs.priceFen);
  const expected = 2 * price('阿莫西林胶囊') + price('氯化钠注射液') + 2000 + 500;
  t.equal(await page.locator('[data-testid=pending-total]').innerText(), `¥${(expected / 100).toFixed(2)}`, 'amoxicillin x2 + saline + blood count + infusion fee');
  await page.selectOption('#f-paymentMethod', 'insurance');
  await page.click('[data-testid=pay]');
  await page.waitForSelector('[data-testid=invoice]');
  await shot('invoice');

  // Pharmacy (发药).
  await login(page, base, 'pharm1');
  await page.goto(`${base}/his/pharmacy`);
  const entry = page.locator('[data-testid=queue-entry]', { hasText: o.name });
  t.equal(await entry.count(), 1, 'paid prescription in the pharmacy queue');
  t.match(await entry.innerText(), /阿莫西林胶囊\s+2盒[\s\S]*氯化钠注射液\s+1瓶/);
  await entry.locator('[data-testid=dispense]').click();
  await page.waitForSelector('[data-testid=notice]');
  t.equal(await page.locator('[data-testid=queue-entry]', { hasText: o.name }).count(), 0, 'dispensed');
  await shot('pharmacy');

  // Nurse: the infusion, confirmed by scanning its label.
  await login(page, base, 'nurse1');
  await page.goto(`${base}/clinic/nurse`);
  const row = page.locator('[data-testid^=task-]', { hasText: o.name });
  t.match(await row.innerText(), /氯化钠注射液 250ml\s+静脉滴注\s+1\/1[\s\S]*已缴费/);
  const barcode = (await row.getAttribute('data-testid'))!.replace('task-', '');
  await page.fill('#barcode', barcode);
  await page.fill('#patient', o.idNumber);
  await page.click('[data-testid=confirm-exec]');
  t.match(await page.locator('[data-testid=notice]').innerText(), new RegExp(`已执行：${o.name}`));
  await shot('nurse');
}

t.test('outpatient visit from registration to dispensing, online and with the network down', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('outpatient');
  t.teardown(tmp.cleanup);
  let central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const edge = await edgeInProcess(ns.url, clinicName('op'), `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  await waitFor('dictionaries', () => Object.keys(edge.store.dictionaryVersions()).length === 5, 20_000);
  for (const [u, name, role] of STAFF) edge.accounts.create({ username: u, displayName: name, role, password: PASS }, 'test', 'local');
  seedHisDemo(edge.store);
  const clinicId = edge.config.clinicId;
  const wh = central.wh;

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const base = edge.http.url;

  await t.test('online', async (t) => {
    await outpatientVisit(t, page, base, edge, { idNumber: residentIdNumber('110105', '19850312', '045'), name: '吴晓梅', tag: 'online' });
    await waitFor('online records applied at central', async () => (await wh.watermark(clinicId)).appliedSeq === edge.store.stats().lastSeq, 30_000);
    const types = new Set(wh.db.prepare<[string], { type: string }>('SELECT DISTINCT type FROM records WHERE clinic_id = ?').all(clinicId).map((r) => r.type));
    for (const ty of ['resident', 'registration', 'encounter', 'visit_note', 'prescription', 'order', 'charge', 'invoice', 'dispense', 'stock_movement', 'order_execution']) t.ok(types.has(ty), `central holds ${ty}`);
  });

  await t.test('offline: NATS and central down', async (t) => {
    await central.stop();
    await ns.stop();
    const before = edge.store.stats().lastSeq;
    await outpatientVisit(t, page, base, edge, { idNumber: residentIdNumber('110105', '19620923', '013'), name: '郑国华', tag: 'offline' });
    const after = edge.store.stats().lastSeq;
    t.ok(after - before >= 20, `${after - before} records written while offline`);
    t.ok(edge.store.stats().outboxDepth >= after - before, 'waiting in the outbox');
    await ns.restart();
    central = await centralInProcess(ns.url, `${tmp.dir}/central`);
    await waitFor('offline records applied at central', async () => (await central.wh.watermark(clinicId)).appliedSeq === after, 60_000);
    const n = central.wh.db.prepare<[string, number, number], { n: number }>('SELECT count(DISTINCT seq) AS n FROM records WHERE clinic_id = ? AND seq > ? AND seq <= ?').get(clinicId, before, after)!.n;
    t.equal(n, after - before, 'every record of the offline visit is at central, once');
    const enc = central.wh.db.prepare<[string], { payload: string }>("SELECT payload FROM records WHERE clinic_id = ? AND type = 'encounter' ORDER BY version DESC").all(clinicId).map((r) => JSON.parse(r.payload) as { status: string; chiefComplaint?: string });
    t.ok(enc.some((e) => e.status === 'finished' && e.chiefComplaint === '咽痛、发热2天'), 'finished encounters at central');
  });
});
