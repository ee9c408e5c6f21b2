/**
 * TLS between the edges, central and the hub (MLPS 3, communication confidentiality and
 * integrity): records replicate over TLS end to end; the hub refuses plaintext; a client refuses
 * a hub whose certificate the district CA did not sign, one that does not name the host dialled,
 * and one that offers no TLS at all (no downgrade); a wrong CA setting stops the start with the
 * setting and the file named.
 */
import t from 'tap';
import { connect as netConnect } from 'node:net';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { natsTlsOption } from '../../contracts/runtime/nats-tls.ts';
import { join } from 'node:path';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { createCa, issueServerCert } from '../../provisioning/tls.ts';

function tlsFiles(dir: string, hosts: string[]) {
  const ca = createCa('Test District CA');
  const hub = issueServerCert(ca, hosts, 'nats-hub');
  const f = { ca: join(dir, 'ca.crt'), cert: join(dir, 'hub.crt'), key: join(dir, 'hub.key'), hubCertAsCa: join(dir, 'hub-as-ca.crt') };
  writeFileSync(f.ca, ca.cert);
  writeFileSync(f.cert, hub.cert);
  writeFileSync(f.key, hub.key, { mode: 0o600 });
  writeFileSync(f.hubCertAsCa, hub.cert);
  return f;
}

const tlsBlock = (f: { cert: string; key: string }) => `tls { cert_file: ${JSON.stringify(f.cert)}, key_file: ${JSON.stringify(f.key)}, timeout: 5 }`;

/** A plaintext client: what the hub sent it, and whether the hub closed the connection. */
function plaintextClient(port: number): Promise<{ got: string; closedByHub: boolean }> {
  return new Promise((resolve, reject) => {
    const s = netConnect(port, '127.0.0.1');
    let got = '';
    let sent = false;
    s.on('data', (d) => {
      got += d.toString();
      if (!sent && got.includes('\n')) {
        sent = true;
        s.write('CONNECT {"verbose":true}\r\nPUB clinic.x.rec.a 2\r\nhi\r\nPING\r\n');
      }
    });
    const timer = setTimeout(() => { s.destroy(); resolve({ got, closedByHub: false }); }, 5000);
    s.on('close', () => { clearTimeout(timer); resolve({ got, closedByHub: true }); });
    s.on('error', (e) => { if (!got) reject(e); });
  });
}

t.test('edges and central replicate over TLS to the hub; plaintext and foreign certificates are refused', async (t) => {
  const tmp = tempDir('spine-tls');
  t.teardown(tmp.cleanup);
  const f = tlsFiles(tmp.dir, ['127.0.0.1']);
  await using ns = await startNatsServer({ extraConfig: tlsBlock(f) });

  const central = await centralInProcess(ns.url, `${tmp.dir}/central`, { natsTlsCaFile: f.ca });
  const a = await edgeInProcess(ns.url, clinicName('tls-a'), `${tmp.dir}/a`, { natsTlsCaFile: f.ca });
  const b = await edgeInProcess(ns.url, clinicName('tls-b'), `${tmp.dir}/b`, { natsTlsCaFile: f.ca });
  t.teardown(async () => { await a.stop(); await b.stop(); await central.stop(); });
  const ackA = writeActivity(a, 600, 41);
  const ackB = writeActivity(b, 400, 42);
  await waitFor('both clinics applied over TLS', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === ackA && (await central.wh.watermark(b.config.clinicId)).appliedSeq === ackB, 60_000);
  for (const [e, ack] of [[a, ackA], [b, ackB]] as const) {
    const r = await setCheck(central.wh, e.config.clinicId, ack);
    t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `${e.config.clinicId}: acknowledged=${ack} present=${r.present}, over TLS`);
  }
  await waitFor('dictionaries over TLS', () => Object.keys(a.store.dictionaryVersions()).length === 5, 30_000);
  t.pass('dictionaries reached the edge over TLS');
  await waitFor('outbox trimmed by receipts over TLS', () => a.store.stats().outboxDepth === 0, 30_000);
  t.pass('receipts reached the edge over TLS');

  // The hub expects a TLS handshake after its INFO: plaintext is not read as protocol, the connection is closed.
  const plain = await plaintextClient(ns.port);
  t.match(plain.got, /"tls_required":true/, 'the hub announces TLS as required');
  t.ok(plain.closedByHub, 'and closes a client that answers in plaintext');
  t.notMatch(plain.got, /\+OK|PONG/, 'without accepting its CONNECT, PUB or PING');
  t.match(ns.log(), /TLS handshake error/, 'the hub logs the refused handshake');

  // A client that does not hold the district CA cannot verify the hub (as a hub impostor would be refused).
  await t.rejects(connect({ servers: ns.url, timeout: 3000 }), /certificate|self.signed|verify/i, 'a client without the district CA does not trust the hub');
  mkdirSync(join(tmp.dir, 'other'));
  const other = tlsFiles(join(tmp.dir, 'other'), ['127.0.0.1']);
  await t.rejects(connect({ servers: ns.url, timeout: 3000, tls: { caFile: other.ca } }), /certificate|verify|signature/i, 'a client with another CA refuses the hub');
});

t.test('a hub certificate that does not name the host dialled is refused', async (t) => {
  const tmp = tempDir('spine-tls-name');
  t.teardown(tmp.cleanup);
  const f = tlsFiles(tmp.dir, ['nats-hub.district.example']);
  await using ns = await startNatsServer({ extraConfig: tlsBlock(f) });
  // As central and the edge agent connect (natsTlsOption checks the configured host, nats.js alone would check "localhost").
  await t.rejects(connect({ servers: ns.url, timeout: 3000, ...natsTlsOption({ ca: readFileSync(f.ca, 'utf8') }, [ns.url]) }), /IP: 127\.0\.0\.1 is not in the cert's list/, 'signed by the district CA, but for another name: refused');
});

t.test('a client with a CA refuses a hub that offers no TLS (no downgrade)', async (t) => {
  const tmp = tempDir('spine-tls-down');
  t.teardown(tmp.cleanup);
  const f = tlsFiles(tmp.dir, ['127.0.0.1']);
  await using ns = await startNatsServer();
  await t.rejects(connect({ servers: ns.url, timeout: 3000, tls: { caFile: f.ca } }), /server does not support 'tls'/, 'plaintext hub refused by a TLS client');
});

t.test('a wrong CA setting stops the start and names the setting and the file', async (t) => {
  const tmp = tempDir('spine-tls-cfg');
  t.teardown(tmp.cleanup);
  const f = tlsFiles(tmp.dir, ['127.0.0.1']);
  const id = clinicName('tls-cfg');
  await t.rejects(edgeInProcess('nats://127.0.0.1:1', id, `${tmp.dir}/e1`, { natsTlsCaFile: join(tmp.dir, 'missing.crt') }), /natsTlsCaFile \(EDGE_NATS_TLS_CA_FILE\): cannot read .*missing\.crt \(ENOENT\)/, 'missing file');
  writeFileSync(join(tmp.dir, 'junk.crt'), 'not a certificate\n');
  await t.rejects(edgeInProcess('nats://127.0.0.1:1', id, `${tmp.dir}/e2`, { natsTlsCaFile: join(tmp.dir, 'junk.crt') }), /holds no PEM certificate/, 'not PEM');
  await t.rejects(edgeInProcess('nats://127.0.0.1:1', id, `${tmp.dir}/e3`, { natsTlsCaFile: f.hubCertAsCa }), /not of a CA: install the district CA certificate/, "the hub's own certificate instead of the CA");
  await t.rejects(centralInProcess('nats://127.0.0.1:1', `${tmp.dir}/c`, { natsTlsCaFile: join(tmp.dir, 'missing.crt') }), /natsTlsCaFile \(CENTRAL_NATS_TLS_CA_FILE\): cannot read/, 'central names its own setting');
});
