/**
 * The clinic front desk in headless Chromium: registration -> (doctor's prescription) ->
 * cashier -> pharmacy -> return and refund -> settlement -> statistics, once online and
 * once with NATS down; every record reaches central. Screenshots in /tmp/ui-his-*.png.
 */
import t from 'tap';

type Test = Pick<typeof t, 'match' | 'ok' | 'equal'>;
import type { Page } from 'playwright-core';
import type { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import { addCharges, setRegistrationStatus } from '../../edge-agent/his/index.ts';
import { seedHisDemo } from '../../edge-agent/his/seed.ts';
import type { EdgeAgent } from '../../edge-agent/agent.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';

const PASS = 'Clinic-Pass-2026';
const AMOX_NAME = '阿莫西林胶囊';

async function login(page: Page, base: string, user: string) {
  await page.goto(`${base}/login`);
  if (await page.locator('header form button').count()) { await page.click('header form button'); await page.goto(`${base}/login`); }
  await page.fill('#username', user);
  await page.fill('#password', user === 'admin' ? 'Admin-Pass-2026' : PASS);
  await page.click('button.primary');
  await page.waitForURL((u) => !u.pathname.startsWith('/login'));
}
const shot = async (page: Page, name: string) => { const p = screenshotPath(`his-${name}`); await page.screenshot({ path: p, fullPage: true }); console.log(`[ui] screenshot ${p}`); };

function doctorPrescribes(edge: EdgeAgent, registrationId: string, residentId: string, drugCode: string) {
  // The doctor's workstation (another module) does this when a prescription is signed.
  edge.store.transact((tx) => {
    setRegistrationStatus(tx, registrationId, 'in-visit');
    addCharges(tx, [
      { residentId, registrationId, sourceKind: 'prescription', sourceId: 'rx-1', itemCode: drugCode, quantity: 2, createdBy: 'doc1' },
      { residentId, registrationId, sourceKind: 'lab', sourceId: 'lab-1', itemCode: '250101015', quantity: 1, createdBy: 'doc1' },
    ]);
    setRegistrationStatus(tx, registrationId, 'finished');
  });
}

async function centralTypes(wh: SqliteWarehouse, clinicId: string): Promise<Record<string, number>> {
  return Object.fromEntries(wh.db.prepare<[string], { type: string; n: number }>('SELECT type, count(*) AS n FROM records WHERE clinic_id = ? GROUP BY type').all(clinicId).map((r) => [r.type, r.n]));
}

/** One outpatient visit through the front desk pages; returns the resident's name. */
async function visit(t: Test, page: Page, base: string, edge: EdgeAgent, o: { idNumber: string; name: string; shots: boolean; offline: boolean }) {
  await login(page, base, 'reg1');
  await page.goto(`${base}/his/registration`);
  t.match(await page.locator('[data-testid=sync-online]').innerText(), o.offline ? '离线' : '在线', `sync pill says ${o.offline ? 'offline' : 'online'}`);
  // A wrong check character is an error next to the search field.
  await page.fill('#f-q', o.idNumber.slice(0, 17) + (o.idNumber.endsWith('1') ? '2' : '1'));
  await page.click('[data-testid=search]');
  t.match(await page.locator('[data-testid=err-q]').innerText(), /校验位错误/, 'bad ID checksum: message next to the field');
  await page.fill('#f-q', o.idNumber);
  await page.click('[data-testid=search]');
  // Wait for the answer page: count() right after the click can still see the previous page under load.
  t.ok(await page.locator('[data-testid=no-results]').waitFor({ timeout: 15_000 }).then(() => true, () => false), 'new resident not found');
  await page.click('[data-testid=new-resident]');
  t.equal(await page.inputValue('#f-idNumber'), o.idNumber, 'ID carried into the new-resident form');
  await page.fill('#f-phone', '12345');
  await page.click('[data-testid=save-resident]');
  t.match(await page.locator('[data-testid=err-name]').innerText(), /请填写姓名/);
  t.match(await page.locator('[data-testid=err-phone]').innerText(), /11位/);
  if (o.shots) await shot(page, 'resident-form-errors');
  await page.fill('#f-name', o.name);
  await page.fill('#f-phone', '13912345678');
  await page.fill('#f-insuranceCardNo', `YB${o.idNumber.slice(-8)}`);
  await page.click('[data-testid=save-resident]');
  await page.waitForSelector('[data-testid=resident-card]');
  t.match(await page.locator('[data-testid=resident-card]').innerText(), o.name);
  await page.locator('[data-testid=slot-radio]').first().check();
  if (o.shots) await shot(page, 'registration');
  await page.click('[data-testid=register]');
  await page.waitForSelector('[data-testid=slip]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /挂号成功/);
  if (o.shots) await shot(page, 'slip');
  const reg = edge.store.db.prepare<[string], { registration_id: string; resident_id: string }>(
    'SELECT g.registration_id, g.resident_id FROM his_registrations g JOIN residents r ON r.resident_id = g.resident_id WHERE r.id_number = ?').get(o.idNumber)!;
  t.ok(reg, 'registration stored');

  const drug = edge.store.dictionaryItems('drugs').find((d) => d.name === AMOX_NAME)!;
  doctorPrescribes(edge, reg.registration_id, reg.resident_id, drug.code);

  await login(page, base, 'cash1');
  await page.goto(`${base}/his/cashier?q=${encodeURIComponent(o.name)}`);
  await page.click('[data-testid=pick]');
  const total = await page.locator('[data-testid=pending-total]').innerText();
  t.equal(total, `¥${((2 * Number(drug.attrs.priceFen) + 2000) / 100).toFixed(2)}`, 'priced from the dictionaries: 2 boxes + blood count');
  if (o.shots) await shot(page, 'cashier');
  await page.selectOption('#f-paymentMethod', 'wechat');
  await page.click('[data-testid=pay]');
  await page.waitForSelector('[data-testid=invoice]');
  t.equal(await page.locator('[data-testid=invoice-total]').innerText(), total);
  if (o.shots) await shot(page, 'invoice');

  await login(page, base, 'pharm1');
  await page.goto(`${base}/his/pharmacy`);
  const entry = page.locator('[data-testid=queue-entry]', { hasText: o.name });
  t.equal(await entry.count(), 1, 'paid prescription in the pharmacy queue');
  if (o.shots) await shot(page, 'pharmacy');
  await entry.locator('[data-testid=dispense]').click();
  await page.waitForSelector('[data-testid=notice]');
  t.equal(await page.locator('[data-testid=queue-entry]', { hasText: o.name }).count(), 0, 'dispensed: off the queue');
  // Partial return of one box, then the refund at the till.
  await page.goto(`${base}/his/pharmacy/returns?rid=${encodeURIComponent(reg.resident_id)}`);
  await page.fill('[data-testid=return-qty]', '-1');
  await page.click('[data-testid=return]');
  t.match(await page.locator('[data-testid=err-return-qty]').innerText(), /不能为负数/, 'negative quantity: message next to the field');
  await page.fill('[data-testid=return-qty]', '1');
  await page.click('[data-testid=return]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /退药完成/);

  await login(page, base, 'cash1');
  await page.goto(`${base}/his/cashier?rid=${encodeURIComponent(reg.resident_id)}`);
  const amoxRow = page.locator('[data-testid=paid] tr', { hasText: AMOX_NAME });
  await amoxRow.locator('[data-testid=refund-qty]').fill('2');
  await page.fill('#f-reason', '患者退回一盒');
  await page.click('[data-testid=refund]');
  t.match(await page.locator('.field-error').first().innerText(), /已发药，请先到药房退药/, 'dispensed box cannot be refunded');
  await page.locator('[data-testid=paid] tr', { hasText: AMOX_NAME }).locator('[data-testid=refund-qty]').fill('1');
  await page.fill('#f-reason', '患者退回一盒');
  await page.click('[data-testid=refund]');
  t.match(await page.locator('[data-testid=notice]').innerText(), /冲账/);
  t.equal(await page.locator('[data-testid=invoices] tr', { hasText: '冲账' }).count(), 1, 'reversal invoice listed beside the original');
  if (o.shots) await shot(page, 'cashier-refund');
  return reg;
}


t.test('front desk in Chromium, online then offline; records reach central', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('his-ui');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const edge = await edgeInProcess(ns.url, clinicName('his'), `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  await waitFor('dictionaries', () => Object.keys(edge.store.dictionaryVersions()).length === 5, 20_000);
  for (const [u, name, role] of [['doc1', '张建华', 'doctor'], ['reg1', '郑小红', 'registrar'], ['cash1', '王收费', 'cashier'], ['pharm1', '孙立新', 'pharmacist']] as const) {
    edge.accounts.create({ username: u, displayName: name, role, password: PASS }, 'test', 'local');
  }
  const seeded = seedHisDemo(edge.store);
  t.ok(seeded.slots >= 14 && seeded.receipts >= 30, `demo seed: ${seeded.slots} slots, ${seeded.receipts} receipts`);
  const wh = central.wh as unknown as SqliteWarehouse;
  const clinicId = edge.config.clinicId;

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const base = edge.http.url;

  await t.test('online', async (t) => {
    await visit(t, page, base, edge, { idNumber: '11010519491231002X', name: '赵秀兰', shots: true, offline: false });
    await login(page, base, 'pharm1');
    await page.goto(`${base}/his/pharmacy/stock`);
    await page.fill('#f-drugCode', '86900000000000');
    await page.fill('#f-batchNo', 'X1');
    await page.fill('#f-expiryDate', '2030-01-01');
    await page.fill('#f-quantity', '-5');
    await page.click('[data-testid=receive]');
    t.match(await page.locator('[data-testid=err-drugCode]').innerText(), /未知药品编码/, 'unknown drug code next to the field');
    await page.fill('#f-drugCode', edge.store.dictionaryItems('drugs')[0]!.code);
    await page.click('[data-testid=receive]');
    t.match(await page.locator('[data-testid=err-quantity]').innerText(), /数量必须大于0/, 'negative quantity next to the field');
    await shot(page, 'stock');
    await login(page, base, 'cash1');
    await page.goto(`${base}/his/cashier/settlement`);
    await page.click('[data-testid=settle]');
    t.match(await page.locator('[data-testid=notice]').innerText(), /日结完成/);
    await shot(page, 'settlement');
    await login(page, base, 'admin');
    await page.goto(`${base}/his/stats`);
    t.ok(Number(await page.locator('[data-testid=stat-registrations]').innerText()) >= 1);
    await shot(page, 'stats');
    const dl = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export]')]);
    t.match(dl[0].suggestedFilename(), /\.xlsx$/, 'Excel export');
    await page.goto(`${base}/admin/audit`);
    const auditText = await page.locator('table').innerText();
    for (const a of ['resident.create', 'registration.create', 'cashier.pay', 'pharmacy.dispense', 'cashier.refund', 'resident.search']) t.match(auditText, a, `audited: ${a}`);
    await waitFor('online records applied at central', async () => (await wh.watermark(clinicId)).appliedSeq >= edge.store.stats().lastSeq, 20_000);
    const types = await centralTypes(wh, clinicId);
    for (const ty of ['resident', 'schedule_slot', 'registration', 'encounter', 'charge', 'invoice', 'stock_movement', 'dispense', 'settlement', 'audit_event']) t.ok(types[ty], `central holds ${ty} (${types[ty]})`);
  });

  await t.test('offline: NATS down, the clinic keeps working, everything arrives afterwards', async (t) => {
    await ns.stop();
    await page.goto(`${base}/his/registration`).catch(() => undefined);
    await waitFor('the header shows the clinic offline', async () => { await page.reload(); return (await page.locator('[data-testid=sync-online]').innerText()) === '离线'; }, 40_000, 1000);
    const before = edge.store.stats().lastSeq;
    const reg = await visit(t, page, base, edge, { idNumber: '44030519900101123X', name: '钱国强', shots: false, offline: true }).catch(async (e) => { await shot(page, 'offline-failure'); throw e; });
    t.ok(reg);
    await page.goto(`${base}/his/cashier`);
    const depth = Number(await page.locator('[data-testid=sync-depth]').innerText());
    t.ok(depth > 0, `records waiting while offline: ${depth}`);
    await shot(page, 'offline');
    const after = edge.store.stats().lastSeq;
    t.ok(after > before, `${after - before} records written offline`);
    await ns.restart();
    await waitFor('offline records applied at central', async () => (await wh.watermark(clinicId)).appliedSeq >= after, 60_000);
    const rows = wh.db.prepare<[string, number, number], { n: number }>('SELECT count(DISTINCT seq) AS n FROM records WHERE clinic_id = ? AND seq > ? AND seq <= ?').get(clinicId, before, after)!;
    t.equal(rows.n, after - before, 'every offline record present at central');
  });
});
