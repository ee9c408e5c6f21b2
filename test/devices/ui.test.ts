import t from 'tap';
import { builtinProfile, startModbusSimulator, type ModbusProfile } from '../../device-drivers/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { addResident, signIn } from './helpers.ts';

t.test('device technician registers a Modbus BP monitor, tests it, readings arrive, a critical value is acknowledged with read-back', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('dev-ui');
  t.teardown(tmp.cleanup);
  const edge = await edgeInProcess(ns.url, clinicName('devui'), `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(() => edge.stop());
  edge.accounts.create({ username: 'tech.wang', displayName: '王建国', role: 'device_tech', password: 'Tech-Pass-2026' }, 'test', 'local');
  edge.accounts.create({ username: 'nurse.liu', displayName: '刘晓燕', role: 'nurse', password: 'Nurse-Pass-2026' }, 'test', 'local');
  addResident(edge, 'r-zhang', '张秀英', '19520314', '022');
  const profile = builtinProfile('bp-monitor') as ModbusProfile;
  const sim = await startModbusSimulator({ profile, updateMs: 3_600_000, mix: { criticalRate: 0, implausibleRate: 0 } });
  t.teardown(() => sim.stop());
  sim.set('systolic', 128); sim.set('diastolic', 82); sim.set('pulse', 72);

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const login = async (u: string, p: string) => {
    await page.goto(`${edge.http.url}/login`);
    await page.fill('#username', u); await page.fill('#password', p); await page.click('button.primary');
    await page.waitForURL(`${edge.http.url}/`);
  };

  // Technician registers the device from its profile.
  await login('tech.wang', 'Tech-Pass-2026');
  await page.click('header nav >> text=设备管理');
  t.equal(await page.locator('h1').first().innerText(), '设备管理');
  await page.selectOption('#profileId', 'bp-monitor');
  await page.fill('#name', '诊室1 电子血压计');
  await page.fill('#room', '一楼诊室1');
  await page.selectOption('#connType', 'tcp');
  await page.fill('#host', '127.0.0.1');
  await page.fill('#port', String(sim.port));
  await page.fill('#pollIntervalMs', '300');
  await page.click('[data-testid=register-form] button.primary');
  t.match(await page.locator('[data-testid=notice]').innerText(), /已登记设备 诊室1 电子血压计/);
  const deviceUrl = page.url().replace(/\?.*$/, '');
  t.match(deviceUrl, /\/devices\/dev-[0-9a-f]{8}$/, 'detail page of the new device');

  await page.click('[data-testid=test-button]');
  t.match(await page.locator('[data-testid=test-result]').innerText(), /连接正常.*systolic=128/, 'test connection reads the device');
  await page.screenshot({ path: screenshotPath('devices-detail'), fullPage: true });

  // First measurement arrives before a patient is chosen: it waits in the unbound list.
  await waitFor('first reading', async () => { await page.goto(deviceUrl); return /收缩压 128/.test(await page.locator('[data-testid=last-reading]').innerText()); }, 15_000);
  t.match(await page.locator('[data-testid=device-state]').innerText(), /在线/);

  // The nurse selects the station's current patient; the next measurement is bound to her.
  await page.click('header button');
  await login('nurse.liu', 'Nurse-Pass-2026');
  await page.goto(deviceUrl);
  await page.fill('#resident', 'r-zhang');
  await page.click('[data-testid=set-patient]');
  t.match(await page.locator('[data-testid=current-patient]').innerText(), /张秀英/);
  sim.set('systolic', 191); sim.set('diastolic', 96); sim.set('pulse', 88);
  await waitFor('critical banner', async () => { await page.goto(`${edge.http.url}/`); return (await page.locator('[data-testid=critical-banner]').count()) > 0; }, 15_000);
  const banner = await page.locator('[data-testid=critical-banner]').innerText();
  t.match(banner, /危急值待确认/, 'banner on the home page');
  t.match(banner, /张秀英 收缩压 191/, 'banner names the patient and value');
  await page.screenshot({ path: screenshotPath('devices-banner'), fullPage: true });
  await page.goto(`${edge.http.url}/devices`);
  t.match(await page.locator('[data-testid=devices-table]').innerText(), /诊室1 电子血压计[\s\S]*在线[\s\S]*收缩压 191/, 'list shows status and last reading');
  await page.screenshot({ path: screenshotPath('devices-list'), fullPage: true });

  // Acknowledge with read-back.
  await page.click('[data-testid=critical-banner] a');
  await page.fill('[data-testid=read-back]', '张秀英，收缩压 191 mmHg，已通知医生');
  await page.screenshot({ path: screenshotPath('devices-alerts'), fullPage: true });
  await page.click('[data-testid=ack-button]');
  t.match(await page.locator('[data-testid=alert-history]').innerText(), /刘晓燕（nurse.liu）[\s\S]*张秀英，收缩压 191 mmHg/, 'who and read-back recorded');
  t.equal(await page.locator('[data-testid=critical-banner]').count(), 0, 'banner gone after acknowledgement');

  // The earlier unbound reading is resolved by choosing the resident.
  await page.goto(`${edge.http.url}/devices/unbound`);
  const rows = page.locator('[data-testid=unbound-table] tbody tr');
  t.ok(await rows.count() >= 3, 'unbound readings listed (sys, dia, pulse of the first measurement)');
  await page.screenshot({ path: screenshotPath('devices-unbound'), fullPage: true });
  while (await rows.count() > 0) {
    await rows.first().locator('input[name=resident]').fill('r-zhang');
    await rows.first().locator('button').click();
  }
  const obs = edge.store.db.prepare<[], { payload: string }>("SELECT payload FROM records WHERE type = 'observation'").all().map((r) => JSON.parse(r.payload) as { residentId?: string; value: number; code: string; interpretation?: string });
  t.ok(obs.length >= 6 && obs.every((o) => o.residentId === 'r-zhang'), `every observation record carries the resident (${obs.length})`);
  t.ok(obs.some((o) => o.code === '8480-6' && o.value === 191 && o.interpretation === 'HH'), 'critical systolic recorded as HH');

  await page.goto(`${edge.http.url}/devices/ranges`);
  t.match(await page.locator('h1').first().innerText(), /危急值范围/);
  await page.screenshot({ path: screenshotPath('devices-ranges') });

  // English is available.
  await page.goto(`${edge.http.url}/devices?lang=en`);
  t.equal(await page.locator('h1').first().innerText(), 'Devices');
  await page.goto(`${edge.http.url}/devices?lang=zh-CN`);

  // JSON API: OpenAPI document, cookie auth, roles.
  const spec = await (await fetch(`${edge.http.url}/api/devices/openapi.json`)).json() as { paths: Record<string, unknown> };
  t.ok(spec.paths['/'] && spec.paths['/{id}/test'], 'OpenAPI document lists the routes');
  t.equal((await fetch(`${edge.http.url}/api/devices`)).status, 401, 'API needs a session');
  const tech = await signIn(edge.http.url, 'tech.wang', 'Tech-Pass-2026');
  const nurse = await signIn(edge.http.url, 'nurse.liu', 'Nurse-Pass-2026');
  const list = await (await fetch(`${edge.http.url}/api/devices`, { headers: { cookie: nurse } })).json() as { id: string; status: { state: string; readings: number } }[];
  t.equal(list.length, 1); t.equal(list[0]!.status.state, 'online');
  t.equal((await fetch(`${edge.http.url}/api/devices/${list[0]!.id}`, { method: 'PATCH', headers: { cookie: nurse, 'content-type': 'application/json' }, body: '{"room":"x"}' })).status, 403, 'nurse may not change devices');
  const bad = await fetch(`${edge.http.url}/api/devices`, { method: 'POST', headers: { cookie: tech, 'content-type': 'application/json' }, body: JSON.stringify({ name: 'x', profileId: 'bp-monitor', connection: { type: 'tcp', host: '127.0.0.1', port: 99999 } }) });
  t.equal(bad.status, 400, 'bad port refused with 400');
  const metrics = await (await fetch(`${edge.http.url}/metrics`)).text();
  t.match(metrics, /device_up\{[^}]*device="dev-[^}]*\} 1/, 'device up metric');
  t.match(metrics, /device_readings_total\{[^}]*device="dev-/, 'per-device readings metric');
  t.match(metrics, /edge_device_ingest_total\{[^}]*outcome="critical"[^}]*\} 1/, 'critical counted');
  const off = await fetch(`${edge.http.url}/api/devices/${list[0]!.id}`, { method: 'PATCH', headers: { cookie: tech, 'content-type': 'application/json' }, body: '{"enabled":false}' });
  t.equal(((await off.json()) as { status: { state: string } }).status.state, 'disabled', 'disabled over the API');

  const audit = edge.accounts.recentAudit(200).map((a) => `${a.username} ${a.action} ${a.outcome}`);
  for (const want of ['tech.wang device.create ok', 'tech.wang device.test ok', 'nurse.liu device.current_patient ok', 'nurse.liu critical.ack ok', 'nurse.liu device.reading.bind ok', 'tech.wang device.update ok']) {
    t.ok(audit.some((a) => a.startsWith(want)), `audited: ${want}`);
  }
});
