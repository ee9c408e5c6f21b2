import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

t.test('edge UI: sign-in in Chinese, sync status, role-based access, lockout, audit', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('ui-edge');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const edge = await edgeInProcess(ns.url, clinicName('ui'), `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const acked = writeActivity(edge, 30, 3);
  await waitFor('applied', async () => (await central.wh.watermark(edge.config.clinicId)).appliedSeq === acked, 20_000);
  await waitFor('dictionaries', () => Object.keys(edge.store.dictionaryVersions()).length === 5, 20_000);

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await page.goto(`${edge.http.url}/`);
  t.match(page.url(), /\/login$/, 'not signed in: sent to the sign-in page');
  t.equal(await page.locator('h1').innerText(), '登录', 'sign-in page is in Chinese');
  await page.fill('#username', 'admin');
  await page.fill('#password', 'wrong-password');
  await page.click('button.primary');
  t.match(await page.locator('.error').innerText(), /用户名或密码错误/, 'wrong password: clear error');
  await page.fill('#password', 'Admin-Pass-2026');
  await page.click('button.primary');
  await page.waitForSelector('[data-testid=sync-card]');
  t.match(await page.locator('[data-testid=relay-state]').innerText(), /已连接/, 'sync status shows the relay connected');
  await waitFor('outbox drained on screen', async () => { await page.reload(); return (await page.locator('[data-testid=outbox-depth]').innerText()) === '0'; }, 10_000);
  const shot = screenshotPath('edge-home');
  await page.screenshot({ path: shot, fullPage: true });
  console.log(`[ui] screenshot ${shot}`);

  // Admin creates a nurse; a weak password is refused with the rule.
  await page.goto(`${edge.http.url}/admin/users`);
  await page.fill('#nu', 'nurse.liu');
  await page.fill('#nd', '刘晓燕');
  await page.selectOption('#nr', 'nurse');
  await page.fill('#np', 'short');
  await page.click('button.primary');
  t.match(await page.locator('.error').innerText(), /至少8位/, 'weak password refused');
  await page.fill('#nu', 'nurse.liu');
  await page.fill('#nd', '刘晓燕');
  await page.selectOption('#nr', 'nurse');
  await page.fill('#np', 'Nurse-Pass-1');
  await page.click('button.primary');
  t.match(await page.locator('.notice').innerText(), /已创建用户 nurse.liu/);
  await page.screenshot({ path: screenshotPath('edge-users'), fullPage: true });

  // English is available.
  await page.goto(`${edge.http.url}/?lang=en`);
  t.match(await page.locator('h1').first().innerText(), /Sync status/, 'English UI on request');
  await page.goto(`${edge.http.url}/?lang=zh-CN`);

  // The nurse may not manage users.
  await page.click('header button');
  await page.fill('#username', 'nurse.liu');
  await page.fill('#password', 'Nurse-Pass-1');
  await page.click('button.primary');
  const res = await page.goto(`${edge.http.url}/admin/users`);
  t.equal(res?.status(), 403, 'nurse gets 403 on user management');
  t.match(await page.locator('h1').innerText(), /无权访问/);

  // Five wrong passwords lock the account.
  const statuses: number[] = [];
  for (let i = 0; i < 5; i++) {
    const r = await fetch(`${edge.http.url}/login`, { method: 'POST', body: new URLSearchParams({ username: 'nurse.liu', password: 'nope' }) });
    statuses.push(r.status);
  }
  t.equal(statuses.at(-1), 423, 'locked after 5 failures');
  const ok = await fetch(`${edge.http.url}/login`, { method: 'POST', body: new URLSearchParams({ username: 'nurse.liu', password: 'Nurse-Pass-1' }), redirect: 'manual' });
  t.equal(ok.status, 423, 'even the right password is refused while locked');

  const audit = edge.accounts.recentAudit(50).map((a) => `${a.username} ${a.action} ${a.outcome}`);
  t.ok(audit.some((a) => a.startsWith('admin user.create ok')), 'account creation audited');
  t.ok(audit.some((a) => a.startsWith('nurse.liu GET /admin/users forbidden')), 'forbidden access audited');
  t.ok(audit.some((a) => /nurse.liu login bad password; locked until/.test(a)), 'lockout audited');
  t.throws(() => edge.store.db.prepare('DELETE FROM audit_log').run(), /append-only/, 'audit log cannot be deleted');
});
