/**
 * HTTPS for the clinic's web UI and for central (MLPS 3: staff passwords and patient data do not
 * cross the clinic LAN or the district network in clear): with `httpsCertFile`/`httpsKeyFile` the
 * edge agent and central serve TLS only, verified against the district CA; session cookies are
 * Secure; HSTS is sent; plaintext HTTP gets no page; a bad certificate setting stops the start
 * naming the setting and file. In Chromium a registrar signs in over HTTPS.
 */
import t from 'tap';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { edgeLogin, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { createCa, issueServerCert } from '../../provisioning/tls.ts';

interface Answer { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function get(url: string, ca: string, opts: { method?: string; body?: string; headers?: Record<string, string> } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? 'GET', ca, headers: opts.headers }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

t.test('edge agent and central over HTTPS', async (t) => {
  const tmp = tempDir('ui-https');
  t.teardown(tmp.cleanup);
  const ca = createCa('Test District CA');
  const cert = issueServerCert(ca, ['127.0.0.1'], 'clinic-edge');
  const f = (n: string, s: string) => { writeFileSync(join(tmp.dir, n), s); return join(tmp.dir, n); };
  const certFile = f('edge.crt', cert.cert);
  const keyFile = f('edge.key', cert.key);
  await using ns = await startNatsServer();
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`, { httpsCertFile: certFile, httpsKeyFile: keyFile });
  const edge = await edgeInProcess(ns.url, clinicName('https'), `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026', httpsCertFile: certFile, httpsKeyFile: keyFile });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  t.match(edge.http.url, /^https:\/\/127\.0\.0\.1:\d+$/, 'the edge serves HTTPS');
  t.match(central.http.url, /^https:\/\//, 'central too');

  const login = await get(`${edge.http.url}/login`, ca.cert);
  t.equal(login.status, 200, 'sign-in page over TLS, verified against the district CA');
  t.equal(login.headers['strict-transport-security'], 'max-age=31536000', 'HSTS sent');
  t.match(String(login.headers['content-security-policy']), /script-src 'self'/, 'with the CSP');
  const signIn = await get(`${edge.http.url}/login`, ca.cert, { method: 'POST', body: 'username=admin&password=Admin-Pass-2026', headers: { 'content-type': 'application/x-www-form-urlencoded', origin: edge.http.url } });
  const cookie = ([] as string[]).concat(signIn.headers['set-cookie'] ?? []).find((c) => c.startsWith('edge_session='));
  t.ok(cookie, `signed in (HTTP ${signIn.status})`);
  t.match(cookie ?? '', /; Secure/, 'the session cookie is Secure');
  t.match(cookie ?? '', /HttpOnly/, 'and HttpOnly');

  for (const path of ['/portal/login', '/fhir/metadata', '/healthz']) {
    const r = await get(`${central.http.url}${path}`, ca.cert);
    t.equal(r.status, 200, `central ${path} over TLS`);
    t.equal(r.headers['strict-transport-security'], 'max-age=31536000', `central ${path}: HSTS`);
  }
  // Plain HTTP to the HTTPS port: no page.
  const port = new URL(edge.http.url).port;
  const plain = await new Promise<string>((resolve) => {
    const req = httpRequest(`http://127.0.0.1:${port}/login`, (res) => resolve(`HTTP ${res.statusCode}`));
    req.on('error', (e) => resolve(`error: ${e.message}`));
    req.setTimeout(5000, () => { req.destroy(); resolve('timeout'); });
    req.end();
  });
  t.notMatch(plain, /HTTP 200/, `plaintext HTTP gets no page (${plain})`);
  // A client that does not trust the district CA refuses the server.
  await t.rejects(get(`${edge.http.url}/login`, createCa('Other').cert), /certificate|self.signed|verify/i, 'a certificate from another CA is refused by clients');

  // In the browser (which cannot be given the test CA: its errors are ignored, TLS still used).
  await using browser = await launchBrowser({ ignoreHTTPSErrors: true });
  const page = await browser.newPage();
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  await page.waitForSelector('[data-testid=sync-card]');
  t.match(page.url(), /^https:/, 'signed in over HTTPS in Chromium');
  const c = (await browser.cookies(edge.http.url)).find((x) => x.name === 'edge_session');
  t.equal(c?.secure, true, 'the browser holds a Secure session cookie');
  await page.screenshot({ path: screenshotPath('edge-https-home'), fullPage: true });
});

t.test('bad HTTPS settings stop the start, naming the setting and file', async (t) => {
  const tmp = tempDir('ui-https-bad');
  t.teardown(tmp.cleanup);
  const ca = createCa('Test CA');
  const a = issueServerCert(ca, ['127.0.0.1'], 'a');
  const b = issueServerCert(ca, ['127.0.0.1'], 'b');
  writeFileSync(join(tmp.dir, 'a.crt'), a.cert);
  writeFileSync(join(tmp.dir, 'b.key'), b.key);
  writeFileSync(join(tmp.dir, 'junk.crt'), 'junk');
  const id = clinicName('https-bad');
  await t.rejects(edgeInProcess('nats://127.0.0.1:1', id, `${tmp.dir}/e1`, { httpsCertFile: join(tmp.dir, 'a.crt') }), /EDGE_HTTPS_CERT_FILE and EDGE_HTTPS_KEY_FILE go together/, 'certificate without key');
  await t.rejects(edgeInProcess('nats://127.0.0.1:1', id, `${tmp.dir}/e2`, { httpsCertFile: join(tmp.dir, 'a.crt'), httpsKeyFile: join(tmp.dir, 'b.key') }), /EDGE_HTTPS_KEY_FILE: .*b\.key is not the key of the certificate in .*a\.crt/, "another certificate's key");
  await t.rejects(edgeInProcess('nats://127.0.0.1:1', id, `${tmp.dir}/e3`, { httpsCertFile: join(tmp.dir, 'junk.crt'), httpsKeyFile: join(tmp.dir, 'b.key') }), /EDGE_HTTPS_CERT_FILE: .*junk\.crt is not a PEM certificate/, 'not a certificate');
  await t.rejects(centralInProcess('nats://127.0.0.1:1', `${tmp.dir}/c`, { httpsCertFile: join(tmp.dir, 'a.crt'), httpsKeyFile: join(tmp.dir, 'missing.key') }), /CENTRAL_HTTPS_KEY_FILE: cannot read .*missing\.key \(ENOENT\)/, 'central: missing key file');
});
