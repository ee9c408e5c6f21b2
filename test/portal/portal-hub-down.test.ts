/**
 * The portal of a central cut off from the hub (started during a hub outage): it is up, says
 * why clinics' data is not coming in, does not call the clinics offline, and shows a dictionary
 * version published meanwhile as pending; when the hub answers, both pages say so. Chromium.
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { createPortalUser, seedPortalDemo } from '../../central/portal/index.ts';
import { browserLogin } from './portal-server.ts';

t.test('portal while central is not connected to the hub', async (t) => {
  await using ns = await startNatsServer();
  const dirs = tempDir('portal-hubdown');
  t.teardown(dirs.cleanup);
  // A first life with the hub: the clinic's heartbeats put it in the fleet table.
  const first = await centralInProcess(ns.url, `${dirs.dir}/central`);
  const edge = await edgeInProcess(ns.url, 'c01-xinhua', `${dirs.dir}/edge`);
  await waitFor('fleet row', async () => (await first.wh.fleet()).some((f) => f.clinicId === 'c01-xinhua'), 20_000);
  await seedPortalDemo(first.wh, 2026);
  const { secret } = await createPortalUser(first.wh, { username: 'ops', displayName: '运维', password: 'Portal-Test-2026!', role: 'admin', orgId: 'district' });
  await edge.stop();
  await first.stop();

  await ns.stop();
  const central = await centralInProcess(ns.url, `${dirs.dir}/central`);
  t.teardown(() => central.stop());
  // Ten minutes without a heartbeat (what an outage of that length looks like in the table).
  central.wh.db.prepare('UPDATE fleet SET last_heartbeat_at = ?').run(new Date(Date.now() - 600_000).toISOString());
  const put = await fetch(`${central.http.url}/api/dictionaries/charge_items`, { method: 'PUT', headers: { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' }, body: JSON.stringify({ items: [{ code: 'FW001', name: '一般诊疗费', attrs: {}, active: true }] }) });
  t.equal(put.status, 202, 'dictionary version saved, distribution pending');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await browserLogin(page, central.http.url, 'ops', secret);
  await page.goto(`${central.http.url}/portal/fleet`);
  const banner = page.locator('[data-testid=hub-down]');
  t.ok(await banner.isVisible(), 'the fleet page says central is not connected to the hub');
  t.match(await banner.textContent(), /中心未连接数据交换平台.*不会丢失/s, 'and what it means: data waits at the clinics, nothing lost');
  t.match(await banner.textContent(), /hub not reached since start/, 'with the reason');
  const row = page.locator('[data-testid=table-fleet] tbody tr', { hasText: 'c01-xinhua' });
  t.match(await row.textContent(), /未知（中心未连接交换平台）/, 'the clinic is "unknown", not "offline"');
  t.notMatch(await row.textContent(), /离线/);
  await page.screenshot({ path: screenshotPath('portal-hub-down-fleet'), fullPage: true });

  await page.goto(`${central.http.url}/portal/dictionaries`);
  t.ok(await page.locator('[data-testid=hub-down]').isVisible(), 'the dictionaries page says so too');
  const charge = page.locator('[data-testid=table-dictionaries] tbody tr', { hasText: '收费项目' });
  t.match(await charge.textContent(), /待下发：交换平台恢复后自动下发/, 'the version published meanwhile is pending');
  t.match(await page.locator('[data-testid=table-dictionaries] tbody tr', { hasText: 'ICD' }).textContent(), /已进入交换平台/, 'the others are in the hub');
  await page.screenshot({ path: screenshotPath('portal-hub-down-dictionaries'), fullPage: true });

  await ns.restart();
  await waitFor('central connected and the version distributed', () => central.link.current() !== null && central.dictionaries.pendingNames().length === 0, 30_000);
  await page.reload();
  t.equal(await page.locator('[data-testid=hub-down]').count(), 0, 'no banner once the hub answers');
  t.match(await charge.textContent(), /已进入交换平台/, 'the version is in the hub');
  await page.goto(`${central.http.url}/portal/fleet?lang=en`);
  t.equal(await page.locator('[data-testid=hub-down]').count(), 0);
  t.match(await page.locator('[data-testid=table-fleet] tbody tr', { hasText: 'c01-xinhua' }).textContent(), /offline/, 'with the hub up, a clinic silent for 10 minutes is offline');
});
