/**
 * Runs every step of the FHIR interaction guide (central/docs/fhir-guide.ts) against a
 * running central, in order, checking the documented status and response fields; then
 * renders the guide page in Chromium.
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { contains, fhirGuide, fill } from '../../central/docs/fhir-guide.ts';

const TOKEN = 'test-token-0123456789';

t.test('every example of the FHIR interaction guide works as documented', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('fhir-guide');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.teardown(() => central.stop());
  const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
  const vars: Record<string, string> = { apiToken: TOKEN, base: central.http.url, today };

  for (const g of fhirGuide) {
    for (const [j, raw] of g.steps.entries()) {
      const s = fill(raw, vars);
      const headers: Record<string, string> = { ...(s.headers ?? {}) };
      let body: string | undefined;
      if (s.form) { headers['content-type'] = 'application/x-www-form-urlencoded'; body = new URLSearchParams(s.form).toString(); }
      else if (s.body !== undefined) body = JSON.stringify(s.body);
      const res = await fetch(`${central.http.url}${s.path}`, { method: s.method, headers, body });
      const text = await res.text();
      let got: unknown = null;
      try { got = JSON.parse(text); } catch { /* not JSON: compared as absent */ }
      const name = `${g.id} step ${j + 1}: ${s.method} ${s.path.slice(0, 80)}`;
      t.equal(res.status, s.expect.status, `${name} -> ${s.expect.status}`, { body: text.slice(0, 400) });
      if (s.expect.body !== undefined) t.ok(contains(got, s.expect.body), `${name}: response has the documented fields`, { got: text.slice(0, 600), expected: s.expect.body });
      for (const [k, path] of Object.entries(s.capture ?? {})) {
        const v = path.split('.').reduce<unknown>((o, p) => (o as Record<string, unknown> | undefined)?.[p], got);
        t.type(v, 'string', `${name}: captured ${k}`);
        vars[k] = String(v);
      }
    }
  }

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  t.equal((await page.goto(`${central.http.url}/docs/fhir`))?.status(), 200);
  t.equal(await page.locator('section[data-scenario]').count(), fhirGuide.length, 'every scenario on the page');
  t.match(await page.locator('#register-resident').innerText(), /If-None-Exist|if-none-exist/i);
  await page.screenshot({ path: screenshotPath('fhir-guide'), fullPage: false });
});
