/**
 * Planned maintenance reaches the clinic: a window declared at central (its API) is in central's
 * answer to the clinic's next heartbeat, the edge's pages show it to the staff beforehand and
 * while it lasts, it survives an edge restart while the hub is out of reach (the maintenance
 * itself), and a cancelled window goes. Real nats-server, central and edge agent; Chromium
 * (/tmp/ui-edge-maintenance.png).
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { edgeLogin, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import type { MaintenanceNotice } from '../../contracts/index.ts';

const auth = { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' };

t.test('a planned maintenance window declared at central is shown on the clinic\'s pages', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('ui-maint');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const opts = { clinicName: '东湖社区卫生服务站', adminPassword: 'Admin-Pass-2026' };
  let edge = await edgeInProcess(ns.url, clinicName('mt'), `${tmp.dir}/edge`, opts);
  const other = await edgeInProcess(ns.url, clinicName('mu'), `${tmp.dir}/other`);
  t.teardown(async () => { await edge.stop(); await other.stop(); await central.stop(); });
  const clinic = edge.config.clinicId;
  const notices = async (e = edge) => ((await (await fetch(`${e.http.url}/api/status`)).json()) as { maintenance: MaintenanceNotice[] }).maintenance;
  await waitFor('central knows the clinic', async () => (await central.wh.fleet()).some((f) => f.clinicId === clinic), 15_000);
  t.same(await notices(), [], 'no window yet');

  const now = Date.now();
  const declare = async (body: Record<string, unknown>) => {
    const res = await fetch(`${central.http.url}/api/maintenance`, { method: 'POST', headers: auth, body: JSON.stringify({ declaredBy: '网络运维', ...body }) });
    t.equal(res.status, 201, `declared: ${String(body.reason)}`);
    return (await res.json()) as { id: number };
  };
  const own = await declare({ clinicId: clinic, startsAt: new Date(now - 60_000).toISOString(), endsAt: new Date(now + 2 * 3600_000).toISOString(), reason: '更换接入交换机' });
  await declare({ clinicId: null, startsAt: new Date(now + 3 * 3600_000).toISOString(), endsAt: new Date(now + 4 * 3600_000).toISOString(), reason: '区数据交换平台升级' });
  await declare({ clinicId: other.config.clinicId, startsAt: new Date(now).toISOString(), endsAt: new Date(now + 3600_000).toISOString(), reason: '另一机构的维护' });
  await waitFor('both windows of this clinic told in a heartbeat answer', async () => (await notices()).length === 2, 15_000);
  t.same((await notices()).map((n) => [n.scope, n.reason]), [['clinic', '更换接入交换机'], ['all', '区数据交换平台升级']], 'its own window and every clinic\'s, not another clinic\'s');
  await waitFor('the other clinic told of its own', async () => (await notices(other)).length === 2, 15_000);

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  const banner = async () => (await page.locator('[data-testid=maintenance-banner]').count()) ? (await page.locator('[data-testid=maintenance-banner]').textContent()) ?? '' : '';
  await page.goto(`${edge.http.url}/`);
  let text = await banner();
  t.match(text, /计划维护进行中.*本机构与区中心的连接：更换接入交换机/, 'in progress: the clinic\'s own window');
  t.match(text, /计划维护预告.*区数据交换平台：区数据交换平台升级/, 'announced: every clinic\'s, within 24 h');
  t.match(text, /照常工作/, 'and that the clinic works on meanwhile');
  await page.screenshot({ path: screenshotPath('edge-maintenance'), fullPage: true });
  await page.goto(`${edge.http.url}/sync`);
  t.match(await banner(), /更换接入交换机/, 'on every page, the sync page too');

  // The maintenance cuts the clinic off and the appliance restarts meanwhile: it still knows.
  await ns.stop();
  await edge.stop();
  edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, opts);
  t.equal((await notices()).length, 2, 'the windows kept across the restart, the hub out of reach');
  await ns.restart();

  // Cancelled at central: gone from the clinic's pages after its next heartbeat answer.
  t.equal((await fetch(`${central.http.url}/api/maintenance/${own.id}`, { method: 'DELETE', headers: auth })).status, 200);
  await waitFor('the cancelled window gone at the clinic', async () => (await notices()).length === 1, 30_000);
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  await page.goto(`${edge.http.url}/`);
  text = await banner();
  t.notMatch(text, /更换接入交换机/, 'the cancelled window no longer shown');
  t.match(text, /区数据交换平台升级/, 'the other still announced');
});
