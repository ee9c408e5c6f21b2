/**
 * The portal in headless Chromium: sign in with password + TOTP (code computed here from the
 * secret), enrol on first sign-in, drill from the district to a centre to a failing case, export
 * a table to Excel and read the file back, and screenshot every page (/tmp/ui-portal-*.png).
 */
import t from 'tap';
import ExcelJS from 'exceljs';
import { readFileSync } from 'node:fs';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { PASSWORD, startPortal, totpCode } from './portal-server.ts';

t.test('portal UI', async (t) => {
  const p = await startPortal();
  t.teardown(() => p.close());
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const shot = (name: string) => page.screenshot({ path: screenshotPath(`portal-${name}`), fullPage: true });

  await page.goto(`${p.url}/portal`);
  t.match(page.url(), /\/portal\/login$/);
  await shot('login');
  await page.fill('input[name=username]', 'district');
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/portal\/totp$/);
  // First sign-in shows the QR code and the secret; the test reads the secret from the page.
  const secret = (await page.textContent('[data-testid=totp-secret]'))!.trim();
  t.equal(secret, p.users.district, 'enrolment shows the account secret');
  t.ok(await page.isVisible('.qr svg'), 'QR code rendered as SVG (no CDN)');
  await shot('totp-enrol');
  await page.fill('input[name=code]', totpCode(secret));
  await page.click('button[type=submit]');
  await page.waitForURL(/\/portal$/);

  // District overview for 2026.
  await page.goto(`${p.url}/portal?period=2026`);
  await page.waitForSelector('[data-testid=chart-children] svg');
  t.match(await page.textContent('[data-testid=kpi-htn_standard_mgmt]'), /50\.0%/, 'district HTN standardised management 2 of 4');
  t.match(await page.textContent('[data-testid=as-of]'), /数据截至 \d{4}-\d{2}-\d{2}/);
  await shot('overview');

  // Drill: district indicator -> centre c01 -> failing cases -> one resident.
  await page.click('[data-testid=kpi-htn_standard_mgmt]');
  await page.waitForSelector('[data-testid=chart-trend] svg');
  t.match(await page.textContent('[data-testid=formula]'), /≥4次随访/);
  await shot('indicator-district');
  await page.click('[data-testid=table-children] a:has-text("新华社区卫生服务中心")');
  await page.waitForURL(/org=c01-xinhua/);
  t.equal((await page.textContent('[data-testid=value]'))!.trim(), '33.3%');
  t.match(await page.textContent('[data-testid=crumbs]'), /城东区卫生健康局.*新华社区卫生服务中心/);
  await shot('indicator-centre');
  await page.click('[data-testid=cases-link]');
  await page.waitForSelector('[data-testid=table-cases]');
  const rows = await page.$$eval('[data-testid=table-cases] tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).innerText));
  t.equal(rows.length, 2);
  t.match(rows[0], /王二.*3.*期内高血压随访 3 次，少于要求的 4 次/s);
  await shot('cases');

  // Excel export of the case list, read back.
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-cases]')]);
  const file = await download.path();
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(readFileSync(file!) as unknown as ArrayBuffer);
  const ws = wb.worksheets[0]!;
  t.equal(ws.getRow(2).getCell(1).value, '居民ID', 'header row');
  t.equal(ws.rowCount, 4, 'title, header, 2 cases');
  t.equal(ws.getRow(3).getCell(2).value, '王二');

  await page.click('[data-testid=table-cases] tbody tr:first-child a');
  await page.waitForURL(/\/portal\/residents\/R2$/);
  t.match(await page.textContent('main'), /高血压随访/);
  await shot('resident');

  // Fleet: one edge as usual, one holding a receipt above what central applied (central restored
  // from an older backup): flagged, with what to do.
  const applied = (clinic: string) => p.wh.db.prepare<[string], { applied_seq: number }>('SELECT applied_seq FROM clinic_state WHERE clinic_id = ?').get(clinic)?.applied_seq ?? 0;
  const hb = (clinicId: string, receiptSeq: number) => p.wh.recordHeartbeat({ clinicId, agentVersion: '0.1.0', at: new Date().toISOString(), lastSeq: receiptSeq, receiptSeq, outboxDepth: 0, oldestPendingAgeSec: 0, relayState: 'connected', dictionaries: {} });
  await hb('c01-xinhua', applied('c01-xinhua'));
  await hb('c02-dongfeng', applied('c02-dongfeng') + 500);
  await page.goto(`${p.url}/portal/fleet`);
  const fleetRows = await page.locator('table tbody tr').allTextContents();
  t.ok(fleetRows.some((r) => r.includes('c02-dongfeng') && r.includes('中心缺记录')), 'the edge whose receipt is above central\'s watermark is flagged');
  t.ok(fleetRows.some((r) => r.includes('c01-xinhua') && r.includes('正常')), 'the other one is not');
  t.match(await page.textContent('[data-testid=fleet-behind-hint]'), /c02-dongfeng.*从本站回补中心数据/, 'with what to do');
  await shot('fleet-behind');

  for (const [name, path] of [['indicators', '/portal/indicators?period=2026'], ['medical', '/portal/medical?period=2026-03&org=c01-xinhua'], ['qc', '/portal/qc?period=2026'], ['qc-rule', '/portal/qc/htn_followups?period=2026'], ['qc-cases', '/portal/qc/htn_followups/cases?period=2026'], ['performance', '/portal/performance?period=2026'], ['fleet', '/portal/fleet'], ['uploads', '/portal/uploads'], ['dictionaries', '/portal/dictionaries?name=departments'], ['org', '/portal/org?year=2026']] as const) {
    const r = await page.goto(`${p.url}${path}`);
    t.equal(r!.status(), 200, path);
    await shot(name);
  }
  // English.
  await page.goto(`${p.url}/portal/indicators/htn_control?org=district&period=2026&lang=en`);
  t.match(await page.textContent('h1'), /Hypertension control rate/);
  await shot('indicator-en');
  await page.goto(`${p.url}/portal?lang=zh-CN`);

  // Admin pages with another account (first sign-in again enrols).
  const admin = await browser.newPage();
  await admin.goto(`${p.url}/portal/login`);
  await admin.fill('input[name=username]', 'admin');
  await admin.fill('input[name=password]', PASSWORD);
  await admin.click('button[type=submit]');
  await admin.waitForURL(/totp/);
  await admin.fill('input[name=code]', totpCode(p.users.admin));
  await admin.click('button[type=submit]');
  await admin.waitForURL(/\/portal$/);
  for (const [name, path] of [['users', '/portal/users'], ['qc-rules', '/portal/qc/rules'], ['audit', '/portal/audit']] as const) {
    await admin.goto(`${p.url}${path}`);
    await admin.screenshot({ path: screenshotPath(`portal-${name}`), fullPage: true });
  }
  t.match(await admin.textContent('[data-testid=table-audit]') ?? '', /portal\.cases\.view/);
});
