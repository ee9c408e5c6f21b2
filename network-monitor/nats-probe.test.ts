/**
 * The central_nats probe against real nats-servers, with and without TLS, and against peers that
 * are not a working hub.
 */
import t from 'tap';
import { createServer } from 'node:net';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '../test/helpers/nats-server.ts';
import { tempDir } from '../test/helpers/spine.ts';
import { createCa, issueServerCert } from '../provisioning/tls.ts';
import { natsProbe } from './probes.ts';

t.test('natsProbe: plaintext hub, TLS hub (handshake completed, no error in the hub log), not-a-hub, broken TLS', async (t) => {
  const plain = await startNatsServer();
  t.teardown(() => plain[Symbol.asyncDispose]());
  await natsProbe(plain.url, 3000);
  t.pass('plaintext hub: up');

  const tmp = tempDir('netmon-tls');
  t.teardown(tmp.cleanup);
  const ca = createCa('Probe Test CA');
  const hub = issueServerCert(ca, ['127.0.0.1'], 'hub');
  writeFileSync(join(tmp.dir, 'hub.crt'), hub.cert);
  writeFileSync(join(tmp.dir, 'hub.key'), hub.key);
  const secure = await startNatsServer({ extraConfig: `tls { cert_file: "${join(tmp.dir, 'hub.crt')}", key_file: "${join(tmp.dir, 'hub.key')}", timeout: 5 }` });
  t.teardown(() => secure[Symbol.asyncDispose]());
  const errors = () => (secure.log().match(/TLS handshake error/g) ?? []).length;
  // The helper's own readiness check (a TCP connect and close) leaves one such line; it is written
  // a moment after start: wait for it, so that only the probes' lines are counted.
  for (const end = Date.now() + 3000; errors() < 1 && Date.now() < end;) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 200));
  const before = errors();
  for (let i = 0; i < 3; i++) await natsProbe(secure.url, 3000);
  await new Promise((r) => setTimeout(r, 300));
  t.pass('TLS hub: up');
  t.equal(errors(), before, 'three probes left no handshake error in the hub log');

  // A service that is not NATS, and one that claims TLS but cannot do it.
  const fake = (greeting: string) => new Promise<{ port: number; close: () => void }>((resolve) => {
    const s = createServer((c) => { c.write(greeting); c.on('data', () => c.write('garbage that is not TLS\r\n')); c.on('error', () => undefined); });
    s.listen(0, '127.0.0.1', () => resolve({ port: (s.address() as { port: number }).port, close: () => s.close() }));
  });
  const http = await fake('HTTP/1.1 400 Bad Request\r\n\r\n');
  t.teardown(http.close);
  await t.rejects(natsProbe(`nats://127.0.0.1:${http.port}`, 2000), /not a NATS server/, 'a service that is not NATS is down');
  const broken = await fake('INFO {"server_id":"x","tls_required":true}\r\n');
  t.teardown(broken.close);
  await t.rejects(natsProbe(`nats://127.0.0.1:${broken.port}`, 2000), /TLS handshake with the hub failed|no NATS INFO/, 'a hub whose TLS does not work is down');
});
