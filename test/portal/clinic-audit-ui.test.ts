/**
 * Replicated audit (MLPS 3 central audit), end to end with real nats-server, edge agent and
 * central: sign-in failures, a sign-in, a forbidden page and resident views at the edge become
 * `audit_event` records at central, and the portal's auditor finds them in headless Chromium
 * (filter by clinic and by target "resident:<id>": who looked at this resident).
 * Screenshot: /tmp/ui-portal-clinic-audit.png
 */
import t from 'tap';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { createPortalUser, seedPortalDemo } from '../../central/portal/index.ts';
import { PASSWORD, totpCode } from './portal-server.ts';

t.test('edge audit entries reach central and are searchable in the portal', async (t) => {
  const nats = await startNatsServer();
  const dirs = tempDir('portal-clinic-audit');
  const central = await centralInProcess(nats.url, `${dirs.dir}/central`);
  const edge = await edgeInProcess(nats.url, 'c01-xinhua', `${dirs.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); await nats[Symbol.asyncDispose](); dirs.cleanup(); });
  await seedPortalDemo(central.wh, 2026);
  const { secret } = await createPortalUser(central.wh, { username: 'auditor1', displayName: '审计员', password: PASSWORD, role: 'auditor', orgId: 'district' });

  // ---- at the edge: a failed sign-in, a sign-in, a page the role may not see, resident views
  const base = edge.http.url;
  const login = async (username: string, password: string) => {
    const r = await fetch(`${base}/login`, { method: 'POST', body: new URLSearchParams({ username, password }), redirect: 'manual' });
    return (r.headers.get('set-cookie') ?? '').split(';')[0] ?? '';
  };
  t.equal(await login('admin', 'wrong-password'), '', 'bad password refused');
  const admin = await login('admin', 'Admin-Pass-2026');
  t.match(admin, /^edge_session=/);
  const rid = 'r-audit-0001';
  edge.store.write('resident', rid, { residentId: rid, name: '审计测试', sex: '1', birthDate: '1960-01-01', idType: '01', idNumber: '110101196001010011' });
  for (const path of ['/his/registration?rid=' + rid, `/his/residents/${rid}/edit`]) {
    const r = await fetch(`${base}${path}`, { headers: { cookie: admin } });
    t.equal(r.status, 200, `${path} shown`);
  }
  const acked = edge.store.stats().lastSeq;
  await waitFor('edge records applied at central', async () => (await central.wh.watermark('c01-xinhua')).appliedSeq >= acked, 30_000);
  const atCentral = central.wh.db.prepare<[], { payload: string }>("SELECT payload FROM records WHERE type = 'audit_event' AND clinic_id = 'c01-xinhua'").all()
    .map((r) => JSON.parse(r.payload) as { username: string; action: string; target: string; outcome: string });
  t.ok(atCentral.some((e) => e.action === 'login' && /bad password/.test(e.outcome)), 'the failed sign-in is at central');
  t.ok(atCentral.some((e) => e.action === 'login' && e.outcome === 'ok'), 'the sign-in is at central');
  t.ok(atCentral.some((e) => e.action === 'resident.view' && e.target === `resident:${rid}`), 'the resident view is at central');
  const local = edge.store.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM audit_log').get()!.n;
  t.equal(atCentral.length, local - 1, 'every local entry but the first-start bootstrap is replicated');

  // ---- the auditor in the portal
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const portal = central.http.url;
  await page.goto(`${portal}/portal/login`);
  await page.fill('input[name=username]', 'auditor1');
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/portal\/totp$/);
  await page.fill('input[name=code]', totpCode(secret));
  await page.click('button[type=submit]');
  await page.waitForURL(/\/portal(\/audit)?$/);
  // The running portal re-reads the seeded organisation tree within a few seconds.
  await waitFor('clinic in the portal tree', async () => {
    await page.goto(`${portal}/portal/audit`);
    return (await page.locator('[data-testid=clinic-audit-form] select[name=eclinic]').innerText()).includes('新华社区卫生服务中心');
  }, 20_000);
  await page.selectOption('[data-testid=clinic-audit-form] select[name=eclinic]', 'c01-xinhua');
  await page.fill('[data-testid=clinic-audit-form] input[name=etarget]', `resident:${rid}`);
  await page.click('[data-testid=clinic-audit-form] button[type=submit]');
  await page.waitForURL(/etarget=/);
  const rows = await page.$$eval('[data-testid=table-clinic-audit] tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).innerText));
  t.ok(rows.length >= 1, `${rows.length} entries for the resident`);
  t.ok(rows.every((r) => r.includes(`resident:${rid}`)), 'only entries about this resident');
  t.match(rows.join('\n'), /新华社区卫生服务中心\s+admin\s+resident\.view/, 'clinic, user and action shown');
  await page.screenshot({ path: screenshotPath('portal-clinic-audit'), fullPage: true });

  // Failed sign-ins of the clinic, flagged in the table.
  await page.goto(`${portal}/portal/audit?eclinic=c01-xinhua&eaction=login`);
  const logins = await page.$$eval('[data-testid=table-clinic-audit] tbody tr', (trs) => trs.map((tr) => (tr as HTMLElement).innerText));
  t.ok(logins.some((r) => /bad password/.test(r)), 'failed sign-in listed');
  t.ok(logins.every((r) => /login/.test(r)), 'action prefix filter');
  // The auditor's search is itself audited at central.
  const own = central.wh.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM audit_log WHERE actor = 'portal:auditor1' AND action = 'portal.audit.clinic.view'").get()!.n;
  t.ok(own >= 2, 'the searches are in central audit_log');
});
