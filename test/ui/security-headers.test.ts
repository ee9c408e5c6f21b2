/**
 * Web hardening of both UIs (MLPS 3): every response of the edge agent and of central carries the
 * Content-Security-Policy (scripts from the server's own files only), X-Frame-Options,
 * X-Content-Type-Options and Referrer-Policy; in Chromium an injected inline handler does not
 * run, a foreign page cannot frame the UI, and the page behaviours that replaced inline handlers
 * (`data-print`, `data-confirm`, `data-check-all`, `data-autosubmit`) work.
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { CONTENT_SECURITY_POLICY } from '../../contracts/runtime/http.ts';

t.test('security headers on every response, CSP enforced in the browser, page behaviours without inline script', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('ui-sec');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const edge = await edgeInProcess(ns.url, clinicName('sec'), `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });

  const urls = [
    // edge: pages, assets, ops, API (answered 401/302 without a session: headers all the same)
    `${edge.http.url}/login`, `${edge.http.url}/assets/app.css`, `${edge.http.url}/assets/ui.js`, `${edge.http.url}/healthz`, `${edge.http.url}/`, `${edge.http.url}/no-such-page`,
    // central: portal, its assets, API docs, FHIR, DICOMweb without a token
    `${central.http.url}/portal/login`, `${central.http.url}/portal/assets/charts.js`, `${central.http.url}/portal/assets/ui.js`, `${central.http.url}/docs`, `${central.http.url}/fhir/metadata`, `${central.http.url}/api/imaging/dicomweb/studies`, `${central.http.url}/healthz`,
  ];
  for (const u of urls) {
    const r = await fetch(u, { redirect: 'manual' });
    await r.arrayBuffer();
    const path = new URL(u).pathname;
    t.equal(r.headers.get('content-security-policy'), CONTENT_SECURITY_POLICY, `${path} (HTTP ${r.status}): CSP`);
    t.equal(r.headers.get('x-frame-options'), 'DENY', `${path}: not framed`);
    t.equal(r.headers.get('x-content-type-options'), 'nosniff', `${path}: no sniffing`);
    t.equal(r.headers.get('referrer-policy'), 'same-origin', `${path}: referrer kept in this origin`);
  }
  // A cross-site POST refused by the portal still carries them.
  const cross = await fetch(`${central.http.url}/portal/login`, { method: 'POST', headers: { origin: 'http://evil.example', 'content-type': 'application/x-www-form-urlencoded' }, body: 'username=a&password=b' });
  t.equal(cross.status, 403, 'cross-site form post refused');
  t.equal(cross.headers.get('x-frame-options'), 'DENY', 'with the headers');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  // window.print stubbed before any page script (init scripts are the test's, not the page's).
  await page.addInitScript(() => {
    const w = window as unknown as { __printed: number; print: () => void };
    w.__printed = 0;
    w.print = () => { w.__printed += 1; };
  });
  for (const base of [edge.http.url, `${central.http.url}/portal`]) {
    await page.goto(`${base}/login`);
    // Text that reached the page unescaped, as an attacker would write it: nothing runs.
    await page.evaluate(() => document.body.insertAdjacentHTML('beforeend', '<img id="xss" src="data:," onerror="window.__pwned = 1"><div id="xss2"></div>'));
    await page.evaluate(() => { document.getElementById('xss2')!.innerHTML = '<a id="xss3" href="#" onclick="window.__pwned = 2">x</a>'; });
    await page.click('#xss3');
    await waitFor('CSP refusals reported', () => browser.cspRefusals.length >= 2, 5_000);
    t.equal(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned), undefined, `${base}: injected inline handlers do not run`);
    t.match(browser.cspRefusals.join('\n'), /inline event handler/, 'the browser names the refusal');
    browser.cspRefusals.length = 0; // expected here; any other refusal fails the test at dispose

    // The behaviours that replaced inline handlers (the same script serves both UIs).
    await page.evaluate(() => document.body.insertAdjacentHTML('beforeend', `
      <button type="button" id="p" data-print>print</button>
      <form id="f" method="get" action="" data-confirm="确定提交？"><input type="hidden" name="confirmed" value="1"><button id="fs" type="submit">go</button></form>
      <input type="checkbox" id="all" data-check-all="input.c"><input type="checkbox" class="c"><input type="checkbox" class="c"><input type="checkbox" class="c" disabled>
      <form id="g" method="get" action=""><select name="lang" id="sel" data-autosubmit><option value="zh-CN">中文</option><option value="en">English</option></select></form>`));
    await page.click('#p');
    t.equal(await page.evaluate(() => (window as unknown as { __printed: number }).__printed), 1, 'data-print prints');
    let asked = '';
    page.once('dialog', (d) => { asked = d.message(); void d.dismiss(); });
    await page.click('#fs');
    await page.waitForTimeout(200); // a submit would navigate; nothing should
    t.equal(asked, '确定提交？', 'data-confirm asks with its text');
    t.notMatch(page.url(), /confirmed=1/, 'a dismissed confirmation does not submit');
    await page.check('#all');
    t.same(await page.$$eval('input.c', (xs) => xs.map((x) => (x as HTMLInputElement).checked)), [true, true, false], 'data-check-all sets the enabled boxes only');
    await Promise.all([page.waitForURL(/lang=en/), page.selectOption('#sel', 'en')]);
    t.pass('data-autosubmit submits its form on change');
    await page.screenshot({ path: screenshotPath(`security-${base.includes('/portal') ? 'portal' : 'edge'}-login`), fullPage: true });
  }

  // A page of another origin cannot frame either UI (clickjacking).
  const other = await browser.newPage();
  await other.goto('about:blank');
  await other.setContent(`<iframe id="e" src="${edge.http.url}/login"></iframe><iframe id="c" src="${central.http.url}/portal/login"></iframe>`);
  await other.waitForTimeout(500);
  for (const f of other.frames().slice(1)) {
    const blocked = await f.evaluate(() => document.querySelector('#username, input[name=username]') === null).catch(() => true);
    t.ok(blocked, `framing refused: ${f.url()}`);
  }
  t.equal(other.frames().length, 3, 'both frames were attempted');
});
