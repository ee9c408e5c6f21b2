/**
 * 数据同步 page when central lost records this clinic had already trimmed (central restored from
 * an old backup): the alarm names both seqs, the clinic admin re-seeds central from the page, the
 * outcome is shown and audited; other roles cannot. Central's receipts are published here by the
 * test (as a restored central would send them); the whole path with a real central restore is in
 * test/spine/central-restore.test.ts.
 */
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { edgeLogin, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { subjects, type Receipt } from '../../contracts/index.ts';

t.test('edge UI: central lost applied records -> alarm on the sync page, the clinic admin re-seeds central', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('ui-reseed');
  t.teardown(tmp.cleanup);
  const edge = await edgeInProcess(ns.url, clinicName('rsui'), `${tmp.dir}/edge`, { clinicName: '东湖社区卫生服务站', adminPassword: 'Admin-Pass-2026', receiptRegressionGraceMs: 2_000 });
  t.teardown(() => edge.stop());
  const clinic = edge.config.clinicId;
  const nc = await connect({ servers: ns.url });
  t.teardown(() => nc.close());
  const receipt = (appliedSeq: number) => nc.publish(subjects.receipt(clinic), JSON.stringify({ clinicId: clinic, appliedSeq, pendingAbove: 0, at: new Date().toISOString() } satisfies Receipt));

  const last = writeActivity(edge, 60, 9);
  receipt(last);
  await waitFor('the edge holds central\'s receipt and trimmed its outbox', () => edge.store.receiptSeq() === last && edge.store.stats().outboxDepth === 0, 10_000);
  // Add a nurse through the admin API of the accounts store (the users page is tested elsewhere).
  edge.accounts.create({ username: 'nurse.wu', displayName: '吴敏', role: 'nurse', password: 'Nurse-Pass-1', mustChangePassword: false }, 'admin', 'test');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  await page.goto(`${edge.http.url}/sync`);
  t.equal(await page.locator('[data-testid=reseed-alarm]').count(), 0, 'no alarm while central\'s receipts cover ours');

  // Central restored to seq 20: every receipt from now on says 20.
  const timer = setInterval(() => receipt(20), 250);
  t.teardown(() => clearInterval(timer));
  await waitFor('the edge raises CentralLostAppliedRecords (grace shortened to 2 s)', () => edge.relay.centralRegressed, 20_000);
  await page.reload();
  const alarm = await page.locator('[data-testid=reseed-alarm]').innerText();
  t.match(alarm, /中心只确认到序号 20，本站已确认到 60/, 'the alarm names central\'s seq and the one this clinic holds');
  t.match(alarm, /序号 21–60/, 'and what a re-seed covers');
  // On the other pages the clinic admin gets a banner pointing to the sync page.
  await page.goto(`${edge.http.url}/admin/users`);
  t.match(await page.locator('[data-testid=reseed-banner]').innerText(), /中心缺少本站已确认上传的记录.*前往数据同步页回补/, 'a banner on every other page for the clinic admin');
  await page.screenshot({ path: screenshotPath('edge-reseed-banner'), fullPage: true });
  await page.click('[data-testid=reseed-banner] a');
  await page.waitForURL(/\/sync$/);
  const shotAlarm = screenshotPath('edge-reseed-alarm');
  await page.screenshot({ path: shotAlarm, fullPage: true });
  console.log(`[ui] screenshot ${shotAlarm}`);

  // A nurse sees the alarm but no button, and may not post the action.
  const nurse = await fetch(`${edge.http.url}/login`, { method: 'POST', body: new URLSearchParams({ username: 'nurse.wu', password: 'Nurse-Pass-1' }), redirect: 'manual' });
  const nurseCookie = (nurse.headers.get('set-cookie') ?? '').split(';')[0]!;
  const nurseSync = await (await fetch(`${edge.http.url}/sync`, { headers: { cookie: nurseCookie } })).text();
  t.ok(nurseSync.includes('data-testid="reseed-alarm"') && !nurseSync.includes('data-testid="reseed-button"'), 'a nurse sees the alarm without the re-seed button');
  const nurseOther = await (await fetch(`${edge.http.url}/care`, { headers: { cookie: nurseCookie } })).text();
  t.notOk(nurseOther.includes('data-testid="reseed-banner"'), 'and no banner elsewhere (nothing a nurse can do)');
  t.equal((await fetch(`${edge.http.url}/sync/reseed`, { method: 'POST', headers: { cookie: nurseCookie } })).status, 403, 'and may not re-seed');

  clearInterval(timer);
  await page.click('[data-testid=reseed-button]');
  const notice = await page.locator('[data-testid=reseed-notice]').innerText();
  const m = /已开始回补：(\d+) 条记录重新上传，(\d+) 个序号登记为丢失/.exec(notice);
  t.ok(m, `the outcome is shown: ${notice}`);
  t.equal(Number(m![1]) + Number(m![2]), 40, 'every seq from 21 to 60 is re-sent or logged as lost');
  t.match(await page.locator('[data-testid=reseed-last]').innerText(), /最近一次回补：.*序号 21–60/);
  t.equal(await page.locator('[data-testid=reseed-alarm]').count(), 0, 'the alarm is gone: the edge now holds central\'s receipt');
  const shotDone = screenshotPath('edge-reseed-done');
  await page.screenshot({ path: shotDone, fullPage: true });
  console.log(`[ui] screenshot ${shotDone}`);
  await page.goto(`${edge.http.url}/admin/users`);
  t.equal(await page.locator('[data-testid=reseed-banner]').count(), 0, 'and so is the banner');
  await page.goto(`${edge.http.url}/sync`);

  // Audit entries replicate too (the sign-ins, the re-seed): they follow seq 60 in the outbox.
  const seqs = edge.store.db.prepare<[], { seq: number }>('SELECT seq FROM outbox ORDER BY seq').all().map((r) => r.seq);
  t.same(seqs.filter((s) => s <= 60), Array.from({ length: 40 }, (_, i) => 21 + i), 'the outbox holds seqs 21-60 again (no central here to take them)');
  t.ok(seqs.every((s, i) => s === 21 + i), `and stays contiguous up to the last seq written (${seqs.at(-1)})`);
  t.equal(edge.store.receiptSeq(), 20, 'the receipt is back at central\'s seq');
  const status = await (await fetch(`${edge.http.url}/api/status`)).json() as { centralRegressed: boolean; lastReseed: { fromSeq: number; toSeq: number } | null };
  t.same([status.centralRegressed, status.lastReseed?.fromSeq, status.lastReseed?.toSeq], [false, 20, 60], '/api/status reports it');
  t.ok(edge.accounts.recentAudit(20).some((a) => a.username === 'admin' && a.action === 'sync.reseed' && a.outcome.startsWith('ok rebuilt=')), 'the re-seed is audited');

  // Again now: refused with the reason, on the page.
  const again = await page.evaluate(async () => { const r = await fetch('/sync/reseed', { method: 'POST' }); return { status: r.status, text: await r.text() }; });
  t.equal(again.status, 400);
  t.match(again.text, /无法回补：central has not lost records/, 'a second re-seed is refused with the reason');
  await page.goto(`${edge.http.url}/sync?lang=en`);
  t.match(await page.locator('[data-testid=reseed-last]').innerText(), /Last re-seed: .*seqs 21–60/, 'English on request');

  // The agent stopping while a re-seed runs: the re-seed finishes, and the relay stays stopped.
  const timer2 = setInterval(() => receipt(10), 250);
  t.teardown(() => clearInterval(timer2));
  await waitFor('the alarm again (central now at seq 10)', () => edge.relay.centralRegressed, 20_000);
  clearInterval(timer2);
  const running = edge.relay.reseed();
  await edge.relay.stop();
  const r2 = await running;
  t.same([r2.fromSeq, r2.toSeq], [10, 20], 'the second re-seed covered 11-20');
  t.equal(edge.relay.mode, 'stopped', 'and did not start the relay again after the stop');
});
