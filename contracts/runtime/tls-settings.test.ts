/**
 * The TLS settings read at start (`loadNatsTls`, `loadHttps`) with generated file contents: every
 * bad file stops the start with an Error that names the setting, never another kind of failure,
 * and good files are accepted.
 */
import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadNatsTls } from './nats-tls.ts';
import { loadHttps } from './http.ts';
import { createCa, issueServerCert } from '../../provisioning/tls.ts';

const dir = mkdtempSync(join(tmpdir(), 'tls-settings-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const ca = createCa('Settings Test CA');
const server = issueServerCert(ca, ['127.0.0.1'], 's');

/** Text around, inside or instead of PEM blocks: what a wrong or damaged file holds. */
const damaged = fc.oneof(
  fc.string({ maxLength: 400 }),
  fc.uint8Array({ maxLength: 600 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.string({ maxLength: 200 }).map((s) => `-----BEGIN CERTIFICATE-----\n${s}\n-----END CERTIFICATE-----\n`),
  fc.tuple(fc.nat({ max: ca.cert.length - 1 }), fc.string({ minLength: 1, maxLength: 8 })).map(([i, s]) => ca.cert.slice(0, i) + s + ca.cert.slice(i + s.length)),
  fc.constant(server.cert), // the hub's own certificate instead of the CA
);

t.test('loadNatsTls: generated bad CA files are refused naming the setting; the CA passes', async (t) => {
  const f = join(dir, 'ca.crt');
  let refused = 0;
  fc.assert(fc.property(damaged, (text) => {
    writeFileSync(f, text);
    try {
      const r = loadNatsTls(f, 'natsTlsCaFile (TEST)');
      // A mutation can leave a valid CA certificate (e.g. only the text around the block changed).
      return r !== undefined && r.ca.includes('BEGIN CERTIFICATE');
    } catch (e) {
      refused++;
      return e instanceof Error && e.message.startsWith('natsTlsCaFile (TEST): ');
    }
  }), { numRuns: 300 });
  t.ok(refused > 200, `${refused} of 300 generated files refused with the setting named`);
  writeFileSync(f, ca.cert);
  t.ok(loadNatsTls(f, 'x'), 'the CA certificate is accepted');
  t.equal(loadNatsTls(undefined, 'x'), undefined, 'unset: no TLS');
});

t.test('loadHttps: generated bad certificate and key files are refused naming the setting', async (t) => {
  const cf = join(dir, 'server.crt');
  const kf = join(dir, 'server.key');
  const badKey = fc.oneof(fc.string({ maxLength: 300 }), fc.constant(ca.key), fc.string({ maxLength: 100 }).map((s) => `-----BEGIN PRIVATE KEY-----\n${s}\n-----END PRIVATE KEY-----\n`));
  fc.assert(fc.property(fc.oneof(damaged.map((c) => ({ c, k: server.key })), badKey.map((k) => ({ c: server.cert, k }))), ({ c, k }) => {
    writeFileSync(cf, c);
    writeFileSync(kf, k);
    try {
      loadHttps(cf, kf, 'TEST_');
      return c === server.cert && k === server.key;
    } catch (e) {
      return e instanceof Error && /^TEST_HTTPS_(CERT|KEY)_FILE: /.test(e.message);
    }
  }), { numRuns: 300 });
  writeFileSync(cf, server.cert);
  writeFileSync(kf, server.key);
  t.ok(loadHttps(cf, kf, 'TEST_'), 'the certificate with its own key is accepted');
  t.pass('300 generated pairs: each refused with the setting named, or a good pair accepted');
});

t.test('provisioning keeps or re-issues, never crashes, on generated damaged certificates in its state', async (t) => {
  const { serverCertProblem, caProblem } = await import('../../provisioning/tls.ts');
  fc.assert(fc.property(damaged, (text) => {
    const p = serverCertProblem(ca.cert, { cert: text, key: server.key }, ['127.0.0.1']);
    const q = caProblem({ cert: text, key: ca.key });
    return (p === null || typeof p === 'string') && (q === null || typeof q === 'string');
  }), { numRuns: 300 });
  t.pass('300 generated certificate files: each answered with a reason or accepted');
});
