/**
 * Planned maintenance windows (计划维护) on the portal, in Chromium: declared by a district
 * manager, refused with the reason when they cannot be planned, counted as planned on the
 * availability page, cancelled; a centre manager sees them but cannot declare; audited.
 */
import t from 'tap';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { browserLogin, Client, startPortal } from './portal-server.ts';
import { run, sqlFor } from '../../central/empi/sql.ts';

t.test('declare, see counted as planned, cancel; roles and audit', async (t) => {
  const portal = await startPortal({ availability: true });
  t.teardown(() => portal.close());
  const { wh } = portal;
  const availability = portal.availability!;
  for (const clinicId of ['c01-xinhua', 'c02-dongfeng']) {
    await wh.recordHeartbeat({ clinicId, agentVersion: '0.1.0', at: new Date().toISOString(), lastSeq: 0, receiptSeq: 0, outboxDepth: 0, oldestPendingAgeSec: 0, relayState: 'connected', dictionaries: {} });
    await availability.onHeartbeat(clinicId, new Date(Date.now() - 3600_000));
  }

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await browserLogin(page, portal.url, 'district', portal.users.district);
  await page.goto(`${portal.url}/portal/availability`);
  await page.click('[data-testid=maintenance-link]');
  await page.waitForURL(/\/portal\/maintenance$/);

  // A window that ends before it starts: refused, the reason shown.
  const local = (ms: number) => new Date(ms + 8 * 3600_000).toISOString().slice(0, 16);
  const now = Date.now();
  await page.selectOption('select[name=clinicId]', 'c01-xinhua');
  await page.fill('input[name=startsAt]', local(now + 2 * 3600_000));
  await page.fill('input[name=endsAt]', local(now + 3600_000));
  await page.fill('input[name=reason]', '更换核心交换机');
  await page.click('[data-testid=maintenance-form] button[type=submit]');
  t.match(await page.locator('[data-testid=maintenance-error]').textContent(), /end after it starts/, 'refused with the reason');

  // Now, for two hours: declared.
  await page.selectOption('select[name=clinicId]', 'c01-xinhua');
  await page.fill('input[name=startsAt]', local(now - 60_000));
  await page.fill('input[name=endsAt]', local(now + 2 * 3600_000));
  await page.fill('input[name=reason]', '更换核心交换机 core switch replacement');
  await page.click('[data-testid=maintenance-form] button[type=submit]');
  await page.waitForURL(/\/portal\/maintenance$/);
  const row = page.locator('[data-testid=table-maintenance] tbody tr', { hasText: 'c01-xinhua' });
  t.match(await row.textContent(), /新华社区卫生服务中心.*更换核心交换机.*district.*进行中/, 'listed: scope, reason, who, in progress');
  const inMaintenance = await availability.inMaintenance();
  t.same([...inMaintenance.clinics], ['c01-xinhua'], 'central sees c01-xinhua in maintenance (its alerts hold)');
  await page.screenshot({ path: screenshotPath('portal-maintenance'), fullPage: true });
  await page.goto(`${portal.url}/portal/fleet`);
  t.match(await page.locator('[data-testid=table-fleet] tbody tr', { hasText: 'c01-xinhua' }).textContent(), /计划维护至 \d\d-\d\d \d\d:\d\d：更换核心交换机/, 'the fleet page says the clinic is in planned maintenance, until when and why');
  t.notMatch(await page.locator('[data-testid=table-fleet] tbody tr', { hasText: 'c02-dongfeng' }).textContent(), /计划维护/, 'not the other clinic');
  await page.screenshot({ path: screenshotPath('portal-fleet-maintenance'), fullPage: true });

  // As if it had been declared an hour ago for then: c01 and c02 went silent for a minute half an
  // hour ago; c01's outage is planned, c02's is not.
  const sql = sqlFor(wh);
  await sql.tx(function* () { yield* run('UPDATE exchange_maintenance SET declared_at = ?, starts_at = ?', [new Date(now - 3600_000).toISOString(), new Date(now - 3600_000).toISOString()]); });
  const since = new Date(now - 30 * 60_000).toISOString();
  const until = new Date(now - 29 * 60_000).toISOString();
  for (const id of ['c01-xinhua', 'c02-dongfeng']) await sql.tx(function* () { yield* run('INSERT INTO exchange_outages (clinic_id, started_at, ended_at, cause) VALUES (?, ?, ?, ?)', [id, since, until, 'clinic']); });
  await page.goto(`${portal.url}/portal/availability`);
  const c01 = (await page.locator('[data-testid=table-availability] tbody tr', { hasText: 'c01-xinhua' }).textContent()) ?? '';
  const c02 = (await page.locator('[data-testid=table-availability] tbody tr', { hasText: 'c02-dongfeng' }).textContent()) ?? '';
  t.match(c01, /1 分 0 秒.*计划维护 1/, 'c01: the minute counted as planned maintenance');
  t.match(c01, /100\.000%/, 'c01: availability not reduced');
  t.match(c02, /机构侧 1/, 'c02: a clinic-side outage');
  t.notMatch(c02, /100\.000%/, 'c02: availability reduced');
  t.match(await page.locator('[data-testid=table-outages]').textContent(), /全部在计划维护内/, 'the outage log says which outage was planned');
  await page.screenshot({ path: screenshotPath('portal-availability-planned'), fullPage: true });

  // A centre manager sees the windows of its clinic, cannot declare or cancel.
  const manager = await Client.login(portal.url, 'managera', portal.users.managera);
  const html = await (await manager.get('/portal/maintenance')).text();
  t.match(html, /更换核心交换机/, 'the centre manager sees its clinic\'s window');
  t.notMatch(html, /data-testid="maintenance-form"/, 'without the form');
  t.equal((await manager.post('/portal/maintenance', { clinicId: 'c01-xinhua', startsAt: local(now), endsAt: local(now + 3600_000), reason: 'x' })).status, 403, 'declaring refused for the role');
  t.equal((await availability.maintenance(new Date(now - 86400_000), new Date(now + 86400_000))).length, 1, 'nothing declared by the refusal');

  // Cancelled from the page (the confirmation accepted).
  await page.goto(`${portal.url}/portal/maintenance`);
  page.once('dialog', (d) => void d.accept());
  await page.click('[data-testid=table-maintenance] tbody tr button[type=submit]');
  await page.waitForURL(/\/portal\/maintenance$/);
  t.match(await page.locator('[data-testid=table-maintenance] tbody tr', { hasText: 'c01-xinhua' }).textContent(), /已取消/, 'cancelled');
  t.same([...(await availability.inMaintenance()).clinics], [], 'no longer in maintenance');

  // c02 is closed (merged into c01): taken out of service from the fleet page, then back.
  await page.goto(`${portal.url}/portal/fleet`);
  await page.selectOption('[data-testid=fleet-retire] select[name=clinicId]', 'c02-dongfeng');
  await page.fill('[data-testid=fleet-retire] input[name=reason]', '并入新华社区卫生服务中心');
  page.once('dialog', (d) => void d.accept());
  await page.click('[data-testid=fleet-retire] form button[type=submit]');
  await page.waitForURL(/\/portal\/fleet$/);
  const c02Row = page.locator('[data-testid=table-fleet] tbody tr', { hasText: 'c02-dongfeng' });
  t.match(await c02Row.textContent(), /已停用（\d{4}-\d\d-\d\d：并入新华社区卫生服务中心）/, 'the fleet page says out of service, since when and why');
  t.notOk(await c02Row.evaluate((el) => el.classList.contains('bad')), 'not marked as a fault');
  t.ok(availability.isRetired('c02-dongfeng'), 'central takes it out of service');
  // Its appliance was not switched off: it still beats after the retirement.
  await new Promise((r) => setTimeout(r, 20));
  await wh.recordHeartbeat({ clinicId: 'c02-dongfeng', agentVersion: '0.1.0', at: new Date().toISOString(), lastSeq: 0, receiptSeq: 0, outboxDepth: 0, oldestPendingAgeSec: 0, relayState: 'connected', dictionaries: {} });
  await page.goto(`${portal.url}/portal/fleet`);
  t.match(await c02Row.textContent(), /仍有心跳/, 'a clinic out of service that still beats is pointed out');
  await page.screenshot({ path: screenshotPath('portal-fleet-retired'), fullPage: true });
  await page.goto(`${portal.url}/portal/availability`);
  t.match(await page.locator('[data-testid=table-availability] tbody tr', { hasText: 'c02-dongfeng' }).textContent(), /已停用/, 'the availability page too');
  t.equal((await manager.post('/portal/fleet/retire', { clinicId: 'c01-xinhua', reason: 'x' })).status, 403, 'a centre manager cannot take a clinic out of service');
  await page.goto(`${portal.url}/portal/fleet`);
  await page.click('[data-testid=fleet-reinstate] button[type=submit]');
  await page.waitForURL(/\/portal\/fleet$/);
  t.notMatch(await page.locator('[data-testid=table-fleet] tbody tr', { hasText: 'c02-dongfeng' }).textContent(), /已停用/, 'back in service');
  t.notOk(availability.isRetired('c02-dongfeng'));

  const audit = wh.db.prepare<[], { action: string; outcome: string; actor: string }>("SELECT action, outcome, actor FROM audit_log WHERE action LIKE 'maintenance.%' OR action LIKE 'fleet.%' ORDER BY id").all();
  t.ok(audit.every((a) => a.actor === 'portal:district'), 'by the district manager');
  const actions = audit.map((a) => `${a.action} ${a.outcome.split(':')[0]}`);
  t.same(actions.sort(), ['fleet.reinstate ok', 'fleet.retire ok', 'maintenance.cancel ok', 'maintenance.declare ok', 'maintenance.declare refused'].sort(), 'declared, refused, cancelled, retired and reinstated: audited');
});
