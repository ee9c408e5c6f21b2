/**
 * The clinic learns what central refused of its messages ("bad input gets a clear error to
 * whoever sent it"): messages published on the clinic's subjects that central dead-letters are
 * counted in central's answer to the clinic's next heartbeat, and the clinic's home page (数据同步)
 * shows how many, the latest with its reason in Chinese, and where it is looked into, while its
 * own records keep arriving. Real nats-server, central and edge agent; the page in Chromium
 * (/tmp/ui-edge-refused.png).
 */
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { edgeLogin, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { HybridLogicalClock, SCHEMA_VERSION, type Refusals } from '../../contracts/index.ts';

t.test('edge home page: what central refused of this clinic', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('ui-refused');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const edge = await edgeInProcess(ns.url, clinicName('rf'), `${tmp.dir}/edge`, { clinicName: '东湖社区卫生服务站', adminPassword: 'Admin-Pass-2026' });
  const other = await edgeInProcess(ns.url, clinicName('rg'), `${tmp.dir}/other`);
  t.teardown(async () => { await edge.stop(); await other.stop(); await central.stop(); });
  const clinic = edge.config.clinicId;
  const status = async () => ((await (await fetch(`${edge.http.url}/api/status`)).json()) as { refusedByCentral: Refusals | null }).refusedByCentral;
  await waitFor('central answered a heartbeat', async () => (await status()) !== null, 15_000);
  t.same(await status(), { count: 0, last: null }, 'nothing refused yet');

  // Bytes that are not JSON, then a record claiming another clinic, on this clinic's subject.
  const nc = await connect({ servers: ns.url, name: 'test-publisher' });
  t.teardown(() => nc.close());
  const js = jetstream(nc);
  await js.publish(`clinic.${clinic}.rec.observation`, 'not json {');
  const forged = JSON.stringify({ recordId: 'r1', type: 'observation', clinicId: other.config.clinicId, seq: 1, version: 1, hlc: new HybridLogicalClock(clinic).tick(), schemaVersion: SCHEMA_VERSION, createdAt: new Date().toISOString(),
    payload: { observationId: 'o1', code: '8480-6', display: 'SBP', value: 120, unit: 'mm[Hg]', effectiveAt: new Date().toISOString() } });
  await js.publish(`clinic.${clinic}.rec.observation`, forged);
  await waitFor('the clinic is told about both', async () => (await status())?.count === 2, 15_000);
  const r = (await status())!;
  t.equal(r.last?.reason, 'clinic_mismatch', 'the latest refusal with its reason');
  t.match(r.last?.detail, new RegExp(`envelope clinic ${other.config.clinicId}`), 'and central\'s detail');
  const theirs = ((await (await fetch(`${other.http.url}/api/status`)).json()) as { refusedByCentral: Refusals | null }).refusedByCentral;
  t.equal(theirs?.count ?? 0, 0, 'the clinic named inside the forged record is not told: the refusal is the subject\'s clinic\'s');

  // The clinic's own records still arrive.
  const acked = writeActivity(edge, 50, 3);
  await waitFor('own records applied', async () => (await central.wh.watermark(clinic)).appliedSeq === acked, 20_000);
  t.pass(`${acked} records of the clinic applied after the refusals`);

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  await page.goto(`${edge.http.url}/sync`);
  const box = await page.locator('[data-testid=refused-by-central]').innerText();
  t.match(box, /区平台拒收了本机构 2 条数据/, 'the count');
  t.match(box, /机构不符（疑似伪造）/, 'the latest reason in Chinese');
  t.match(box, /无法入库的消息/, 'where it is looked into');
  await page.screenshot({ path: screenshotPath('edge-refused'), fullPage: true });
  await page.goto(`${edge.http.url}/sync?lang=en`);
  t.match(await page.locator('[data-testid=refused-by-central]').innerText(), /refused 2 message\(s\) of this clinic/, 'in English too');
});
