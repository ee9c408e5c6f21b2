/**
 * The portal's backup page on real components: central's backup module (own SQLite backup +
 * restore drill, off-site target) mounted next to the portal, a clinic's encrypted backup
 * replicated to that target over HTTP; the page read as the district manager (central + clinic
 * rows, drill RPO/RTO, red when older than the limit), as a centre manager (own clinic only) and
 * in Chromium (screenshot /tmp/ui-portal-backup*.png).
 */
import t from 'tap';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HttpTarget, LocalDirTarget, clinicBackupToken, createBackup, generateKeyFile, replicate } from '../../contracts/backup/index.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { Client, PASSWORD, startPortal, totpCode } from './portal-server.ts';

const secret = 'portal-backup-target-secret-01';

t.test('backup page: central and clinic backups, drill results, age warning, scope', async (t) => {
  const boot = await import('node:fs').then((f) => f.mkdtempSync(join(process.env.TMPDIR ?? '/tmp', 'portal-bk-')));
  mkdirSync(join(boot, 'keys'));
  generateKeyFile(join(boot, 'keys', 'k'));
  const p = await startPortal({ backup: { keyFile: join(boot, 'keys', 'k'), localDir: join(boot, 'central-backups'), targetSecret: secret, targetMinFreeBytes: 0 } });
  t.teardown(async () => { await p.close(); (await import('node:fs')).rmSync(boot, { recursive: true, force: true }); delete process.env.PORTAL_BACKUP_MAX_AGE_HOURS; });

  // Central's own backup and restore drill.
  await p.backup!.runBackup('full');
  const drill = await p.backup!.runDrill();
  t.ok(drill.ok, 'central drill passed');
  // A clinic (c01) backs up locally and replicates to central's off-site target.
  mkdirSync(join(boot, 'src'));
  writeFileSync(join(boot, 'src', 'edge.db'), 'edge data '.repeat(1000));
  const key = generateKeyFile(join(boot, 'keys', 'edge'));
  const repo = new LocalDirTarget(join(boot, 'edge-repo'));
  await createBackup({ repo, key, source: { system: 'edge', owner: 'c01-xinhua', host: 'edge1', appVersion: 't', schema: {} }, sources: () => [{ path: 'data/edge.db', kind: 'file' as const, file: join(boot, 'src', 'edge.db') }] });
  await replicate(repo, new HttpTarget({ url: `${p.url}/backup/v1`, owner: 'c01-xinhua', token: clinicBackupToken(secret, 'c01-xinhua') }), key);

  const district = await Client.login(p.url, 'district', p.users.district);
  const html = await (await district.get('/portal/backup')).text();
  t.match(html, /区卫生健康局（中心云）/, 'central row');
  t.match(html, /新华社区卫生服务中心|c01-xinhua/, 'clinic row');
  t.match(html, /通过/, 'drill passed shown');
  t.match(html, /全量/, 'kind of the last good backup');
  t.notMatch(html, /<tr class="bad">/, 'nothing older than 36 h');
  process.env.PORTAL_BACKUP_MAX_AGE_HOURS = '0.0001';
  await new Promise((r) => setTimeout(r, 600));
  const red = await (await district.get('/portal/backup')).text();
  t.equal((red.match(/<tr class="bad">/g) ?? []).length, 2, 'both rows red once older than the configured limit');
  t.match(red, /超过 0\.0001 小时/);
  delete process.env.PORTAL_BACKUP_MAX_AGE_HOURS;
  const en = await (await district.get('/portal/backup?lang=en')).text();
  t.match(en, /Backups and restore drills/);
  t.match(en, /passed/);

  const a = await Client.login(p.url, 'managera', p.users.managera);
  const ha = await (await a.get('/portal/backup?lang=zh')).text();
  t.match(ha, /c01-xinhua/, 'centre A manager sees its clinic');
  t.notMatch(ha, /中心云/, 'but not central');
  const b = await Client.login(p.url, 'managerb', p.users.managerb);
  const hb = await (await b.get('/portal/backup?lang=zh')).text();
  t.notMatch(hb, /c01-xinhua/, 'centre B manager does not see centre A');
  const xl = await a.get('/portal/backup?format=xlsx&table=backup');
  t.equal(xl.status, 200, 'exports to Excel');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await page.goto(`${p.url}/portal/login`);
  await page.fill('input[name=username]', 'admin');
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/portal\/totp$/);
  await page.fill('input[name=code]', totpCode(p.users.admin));
  await page.click('button[type=submit]');
  await page.waitForURL(/\/portal$/);
  await page.goto(`${p.url}/portal/backup`);
  t.match(await page.textContent('main') ?? await page.textContent('body'), /RPO/);
  await page.screenshot({ path: screenshotPath('portal-backup'), fullPage: true });
  process.env.PORTAL_BACKUP_MAX_AGE_HOURS = '0.0001';
  await page.goto(`${p.url}/portal/backup?lang=en`);
  await page.screenshot({ path: screenshotPath('portal-backup-en-old'), fullPage: true });
});
