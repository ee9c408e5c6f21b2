/**
 * 被拒绝的连接: refused DICOM associations (real echoscu) are kept per calling AE, address and
 * reason, survive a restart, are audited and counted by reason, and the page says what to do
 * and registers the device from its row (Chromium). A flood of refusals writes one row; the
 * log's sums are checked against generated refusals (fast-check).
 */
import t from 'tap';
import fc from 'fast-check';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { edgeLogin, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { imaging, imagingEnv, run } from './fixtures.ts';
import { RefusalLog } from '../../edge-agent/imaging/refusals.ts';
import type { AssociationRefusal, RejectWhy } from '../../device-drivers/dicom/index.ts';

const REASONS: RejectWhy[] = ['called-ae', 'unknown-ae', 'host-mismatch', 'disabled', 'limit', 'unavailable'];

t.test('refused DICOM associations: kept, explained, audited, fixed from the page, kept across a restart', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-refusals');
  t.teardown(tmp.cleanup);
  const clinic = clinicName('imgrf');
  imagingEnv({ AE_TITLE: 'EDGE_RF', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: undefined, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: undefined });
  let edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { clinicName: '东湖社区卫生服务站', adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); });
  let img = imaging(edge);
  const echo = (calling: string, called = 'EDGE_RF') => run('echoscu', ['-aet', calling, '-aec', called, '127.0.0.1', String(img.scp!.port)]);

  // One of each reason the technician can act on, from real dcmtk.
  img.repo.addDevice({ aeTitle: 'DR_MOVED', host: '10.20.30.40', port: 104, modality: 'DX', room: '放射科', enabled: true });
  const off = img.repo.addDevice({ aeTitle: 'US_OFF', host: '127.0.0.1', port: 104, modality: 'US', room: 'B超室', enabled: true });
  img.repo.setDeviceEnabled(off, false);
  for (let k = 0; k < 3; k++) t.not((await echo('US_NEW')).code, 0, 'unregistered AE refused');
  t.not((await echo('DR_MOVED')).code, 0, 'registered at another address: refused');
  t.not((await echo('US_OFF')).code, 0, 'disabled: refused');
  t.not((await echo('US_OFF', 'PACS')).code, 0, 'calling another AE title: refused');
  // A peer chooses its AE title: markup in it is text on the page.
  t.not((await echo('<b>X</b>')).code, 0);

  const rows = img.refusals.list();
  const find = (ae: string, reason: string) => rows.find((r) => r.callingAe === ae && r.reason === reason);
  t.equal(find('US_NEW', 'unknown-ae')?.count, 3, 'three refusals of one peer: one row, counted 3');
  t.equal(find('US_NEW', 'unknown-ae')?.remoteHost, '127.0.0.1');
  t.ok(find('DR_MOVED', 'host-mismatch'), 'host mismatch kept');
  t.ok(find('US_OFF', 'disabled'), 'disabled kept');
  t.equal(find('US_OFF', 'called-ae')?.calledAe, 'PACS', 'the AE title it called is kept');
  await waitFor('audit entries committed', () => (edge.store.db.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'dicom.association.refused'").get() as { n: number }).n >= 5, 10_000);
  const audit = edge.store.db.prepare<[], { target: string; outcome: string; source_ip: string }>("SELECT target, outcome, source_ip FROM audit_log WHERE action = 'dicom.association.refused'").all();
  // One entry per peer and second, "x3" when it sums several.
  const auditCount = (ae: string) => audit.filter((a) => a.target.startsWith(`${ae}@`)).reduce((n, a) => n + (Number(/x(\d+)$/.exec(a.outcome)?.[1]) || 1), 0);
  t.equal(auditCount('US_NEW'), 3, 'the audit log holds every refusal of US_NEW (summed entries say how many)');
  t.match(audit.find((a) => a.target.startsWith('DR_MOVED@'))?.outcome, /refused: host-mismatch/, 'with the reason');
  t.equal(audit.find((a) => a.target.startsWith('DR_MOVED@'))?.source_ip, '127.0.0.1', 'and the address it came from');
  const metrics = await (await fetch(`${edge.http.url}/metrics`)).text();
  t.match(metrics, /device_dicom_associations_rejected_total\{reason="unknown-ae",clinic="[^"]+"\} 4/, 'rejections counted by reason (US_NEW x3 and the markup AE)');
  t.match(metrics, /device_dicom_associations_rejected_total\{reason="called-ae",clinic="[^"]+"\} 1/);

  // Restart on the same data directory: the list is still there.
  await edge.stop();
  edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { clinicName: '东湖社区卫生服务站', adminPassword: 'Admin-Pass-2026' });
  img = imaging(edge);
  t.equal(img.refusals.list().find((r) => r.callingAe === 'US_NEW')?.count, 3, 'kept across a restart of the agent');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  await page.goto(`${edge.http.url}/imaging/devices`);
  const row = (ae: string, reason: string) => page.locator(`tr[data-refusal="${ae}|127.0.0.1|${reason}"]`);
  t.match(await row('US_NEW', 'unknown-ae').innerText(), /AE 标题 US_NEW 未登记[\s\S]*3[\s\S]*请登记它/, 'unknown AE: what happened, how often, what to do');
  t.match(await row('DR_MOVED', 'host-mismatch').innerText(), /登记的地址是 10\.20\.30\.40，连接来自 127\.0\.0\.1[\s\S]*修改登记的地址/, 'another address: both addresses named');
  t.match(await row('US_OFF', 'disabled').innerText(), /设备已停用/);
  t.match(await row('US_OFF', 'called-ae').innerText(), /呼叫的 AE 标题是 PACS，本机是 EDGE_RF[\s\S]*改为 EDGE_RF/, 'wrong called AE: the title to set on the device');
  t.equal(await page.locator('[data-testid=refusals] b').count(), 0, 'a peer\'s markup is shown as text');
  t.match(await row('<b>X</b>', 'unknown-ae').innerText(), /<b>X<\/b>/);
  await page.screenshot({ path: screenshotPath('imaging-refusals'), fullPage: true });

  // Register the new ultrasound machine from its row: the form is filled in; then it connects.
  await row('US_NEW', 'unknown-ae').locator('[data-testid=register-refused]').click();
  t.equal(await page.inputValue('#ae'), 'US_NEW', 'AE title filled in');
  t.equal(await page.inputValue('#host'), '127.0.0.1', 'address filled in');
  t.ok(await page.locator('[data-testid=prefill]').isVisible(), 'and the page says so');
  await page.selectOption('#modality', 'US');
  await page.fill('#room', 'B超二室');
  await page.click('button.primary');
  t.match(await page.locator('.notice').first().innerText(), /已登记设备 US_NEW/);
  t.equal((await echo('US_NEW')).code, 0, 'the device connects once registered');
  t.match(await row('US_NEW', 'unknown-ae').innerText(), /已登记/, 'its row now says it is registered');
  t.equal(await row('US_NEW', 'unknown-ae').locator('[data-testid=register-refused]').count(), 0, 'no second register button');
  // Enabling the disabled device resolves its row too.
  await page.click('tr[data-ae="US_OFF"] button:has-text("启用")');
  t.match(await row('US_OFF', 'disabled').innerText(), /已重新启用/);

  // Dismiss: off the list, audited; a second dismiss of the same row says it is gone.
  await row('US_NEW', 'unknown-ae').locator('button:has-text("移除")').click();
  t.match(await page.locator('#refusals .notice').innerText(), /已从列表中移除 US_NEW/);
  t.equal(await row('US_NEW', 'unknown-ae').count(), 0, 'row gone');
  const again = await page.request.post(`${edge.http.url}/imaging/devices/refusals/dismiss`, { form: { callingAe: 'US_NEW', remoteHost: '127.0.0.1', reason: 'unknown-ae' } });
  t.equal(again.status(), 400, 'dismissing a row that is gone (two technicians at once) is refused');
  t.match(await again.text(), /该记录已不存在/, 'and says so');
  edge.accounts.flush();
  t.ok(edge.store.db.prepare("SELECT 1 FROM audit_log WHERE action = 'imaging.refusal.dismiss' AND outcome = 'ok'").get(), 'dismiss audited');

  // A flood from one unregistered peer: one row, every refusal counted, other devices still served.
  const flood = await Promise.all(Array.from({ length: 24 }, () => echo('FLOOD_AE')));
  t.ok(flood.every((r) => r.code !== 0), 'all refused');
  t.equal(img.refusals.list().find((r) => r.callingAe === 'FLOOD_AE')?.count, 24, 'one row counting all 24');
  t.equal((await echo('US_NEW')).code, 0, 'a registered device is still served');
  await page.goto(`${edge.http.url}/imaging/devices?lang=en`);
  t.match(await page.locator('#refusals h1').innerText(), /Refused connections|被拒绝的连接/);
});

t.test('refusal log: sums equal what was refused, rows and memory bounded (generated refusals)', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-refusals-prop');
  t.teardown(tmp.cleanup);
  imagingEnv({ AE_TITLE: 'EDGE_RP', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: undefined, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: undefined });
  const edge = await edgeInProcess(ns.url, clinicName('imgrp'), `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); });
  const db = edge.store.db;
  const quiet = { warn() {}, error() {} };
  const refusal = fc.record({
    reason: fc.constantFrom(...REASONS),
    callingAe: fc.oneof(fc.constantFrom('US_1', 'DR_2', '', ' '), fc.string({ maxLength: 80 }), fc.string({ unit: 'grapheme', maxLength: 20 })),
    calledAe: fc.string({ maxLength: 20 }),
    remoteHost: fc.constantFrom('127.0.0.1', '10.0.0.7', '::1', 'fe80::1%eth0'),
  });
  let runs = 0;
  await fc.assert(fc.asyncProperty(fc.array(refusal, { maxLength: 120 }), fc.integer({ min: 1, max: 40 }), async (list, maxPending) => {
    runs++;
    db.exec('DELETE FROM imaging_refusals');
    const log = new RefusalLog(db, edge.accounts, quiet, { maxPending, maxRows: 1000, flushMs: 60_000 });
    const at = new Date().toISOString();
    // Flush part-way through as the timer would.
    list.forEach((r, k) => { log.record({ ...r, device: null, at } satisfies AssociationRefusal); if (k === 50) log.flush(); });
    const rows = log.list(10_000);
    const total = rows.reduce((n, r) => n + r.count, 0);
    if (total !== list.length) throw new Error(`counted ${total}, refused ${list.length}`);
    const byReason = (rows2: { reason: string; count: number }[], why: string) => rows2.filter((r) => r.reason === why).reduce((n, r) => n + r.count, 0);
    for (const why of REASONS) if (byReason(rows, why) !== list.filter((r) => r.reason === why).length) throw new Error(`reason ${why} miscounted`);
    // Per-peer counts are exact for peers kept apart (everything beyond maxPending is under "*").
    for (const r of rows.filter((x) => x.callingAe !== '*' || x.remoteHost !== '*')) {
      const want = list.filter((x) => x.reason === r.reason && x.callingAe.slice(0, 64) === r.callingAe && x.remoteHost === r.remoteHost).length;
      if (r.count > want) throw new Error(`${r.callingAe} counted ${r.count} > ${want}`);
    }
    if (rows.length > maxPending * 2 + REASONS.length * 2) throw new Error(`${rows.length} rows from ${maxPending} kept apart per flush`);
    log.close();
  }), { numRuns: 60 });
  t.equal(runs, 60, 'property held on 60 generated batches');

  // The table keeps the most recent maxRows rows.
  db.exec('DELETE FROM imaging_refusals');
  const small = new RefusalLog(db, edge.accounts, quiet, { maxRows: 10, flushMs: 60_000 });
  for (let k = 0; k < 25; k++) small.record({ reason: 'unknown-ae', callingAe: `AE_${String(k).padStart(2, '0')}`, calledAe: 'EDGE_RP', remoteHost: '10.0.0.1', device: null, at: new Date(Date.UTC(2026, 0, 1, 0, 0, k)).toISOString() });
  const kept = small.list(100);
  t.equal(kept.length, 10, 'ten rows kept');
  t.same(kept.map((r) => r.callingAe), Array.from({ length: 10 }, (_, k) => `AE_${String(24 - k).padStart(2, '0')}`), 'the ten most recent');
  t.notOk(small.dismiss('AE_24', '10.0.0.1', 'DROP TABLE'), 'an unknown reason is refused');
  t.ok(small.dismiss('AE_24', '10.0.0.1', 'unknown-ae'));
  small.close();
});
