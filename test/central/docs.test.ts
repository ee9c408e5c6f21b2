/** The API reference page is rendered from the live OpenAPI document: every operation is listed. */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';

t.test('central /docs lists every OpenAPI operation', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('docs');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.teardown(() => central.stop());
  const doc = await (await fetch(`${central.http.url}/openapi.json`)).json() as { paths: Record<string, Record<string, unknown>> };
  const expected = Object.entries(doc.paths).flatMap(([p, item]) => Object.keys(item).filter((m) => ['get', 'post', 'put', 'patch', 'delete'].includes(m)).map((m) => `${m.toUpperCase()} ${p}`)).sort();
  t.ok(expected.length > 20, `${expected.length} operations documented`);

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  const r = await page.goto(`${central.http.url}/docs`);
  t.equal(r?.status(), 200, 'served without a token');
  const listed = (await page.locator('details.op').evaluateAll((els) => els.map((e) => e.getAttribute('data-op') ?? ''))).sort();
  t.same(listed, expected, 'the page lists exactly the operations of /openapi.json');
  await page.locator('details.op[data-op="GET /api/fleet"] summary').click();
  t.match(await page.locator('details.op[data-op="GET /api/fleet"]').innerText(), /Responses[\s\S]*200/, 'an operation opens with its responses');
  t.ok(await page.locator('#schemas h3').count() > 0, 'component schemas listed');
  await page.screenshot({ path: screenshotPath('central-docs'), fullPage: false });
});
