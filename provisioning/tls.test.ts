/**
 * `init --nats-tls on`: a district CA and the hub's certificate, the hub's tls block, the CA path
 * in every edge and central config; stable across runs; the hub certificate re-issued when the
 * hub gets another name; a lost CA key refused by name; `validate` checks both certificates and
 * runs `nats-server -t` with them; a real hub started from the generated files takes the generated
 * edge credentials over TLS and nothing in plaintext.
 */
import t from 'tap';
import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { X509Certificate } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { natsTlsOption } from '../contracts/runtime/nats-tls.ts';
import { cli, snapshot, startHub, tempState, uniq } from './test-support/run.ts';
import { createCa, issueServerCert } from './tls.ts';

interface EdgeFile { natsUser: string; natsPassword: string; natsTlsCaFile?: string }

t.test('nats-tls: certificates made, kept, re-issued for a new name, checked, and used by a real hub', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const a = uniq('tl');
  const init = await cli('init', '--state', st.dir, '--nats-url', 'nats://127.0.0.1:4222', '--hub-listen', '127.0.0.1:-1', '--hub-store-dir', join(st.dir, 'js'),
    '--nats-tls', 'on', '--hub-tls-dir', join(st.dir, 'out/nats'));
  t.equal(init.code, 0, `init: ${init.err}`);
  t.match(init.out, /district CA created: install out\/tls\/ca\.crt on every edge/, 'says where the CA certificate goes');
  t.match(init.out, /hub TLS certificate issued for 127\.0\.0\.1/, 'and the hub certificate');
  const mode = (p: string) => statSync(join(st.dir, p)).mode & 0o777;
  t.equal(mode('tls/ca.key'), 0o600, 'CA key kept private, outside out/');
  t.equal(mode('out/tls/ca.crt'), 0o644, 'CA certificate public');
  t.equal(mode('out/nats/hub.key'), 0o600, 'hub key private');
  const hubConf = readFileSync(join(st.dir, 'out/nats/hub.conf'), 'utf8');
  t.match(hubConf, /tls \{\n\s+cert_file: ".*out\/nats\/hub\.crt"\n\s+key_file: ".*out\/nats\/hub\.key"/, 'hub.conf requires TLS with the issued certificate');
  t.notMatch(readFileSync(join(st.dir, 'clinics.json'), 'utf8'), /PRIVATE KEY/, 'no key in the registry');

  t.equal((await cli('enrol', '--state', st.dir, '--clinic', a, '--name', '玉林社区卫生服务中心', '--edge-url', 'http://127.0.0.1:18081')).code, 0, 'enrol');
  const edge = JSON.parse(readFileSync(join(st.dir, `out/edges/${a}.json`), 'utf8')) as EdgeFile;
  t.equal(edge.natsTlsCaFile, '/etc/health-edge/nats-ca.crt', 'the edge config names where its CA certificate is installed');
  t.match(readFileSync(join(st.dir, `out/edges/${a}.env`), 'utf8'), /# Install out\/tls\/ca\.crt as \/etc\/health-edge\/nats-ca\.crt/, 'and the env file says so');
  t.equal((JSON.parse(readFileSync(join(st.dir, 'out/central/central.json'), 'utf8')) as EdgeFile).natsTlsCaFile, '/etc/health-central/nats-ca.crt', 'central too');

  const v = await cli('validate', '--state', st.dir);
  t.equal(v.code, 0, `validate passes: ${v.out}${v.err}`);
  t.match(v.out, /out\/tls\/ca\.crt.*district CA/, 'validate checks the CA');
  t.match(v.out, /out\/nats\/hub\.crt.*signed by the district CA, names 127\.0\.0\.1/, 'and the hub certificate');

  // Stable: a second run rewrites nothing, certificates included.
  const before = snapshot(st.dir);
  t.equal((await cli('enrol', '--state', st.dir, '--clinic', a, '--name', '玉林社区卫生服务中心', '--edge-url', 'http://127.0.0.1:18081')).code, 0);
  t.equal((await cli('init', '--state', st.dir)).code, 0);
  const after = snapshot(st.dir);
  for (const p of ['tls/ca.key', 'out/tls/ca.crt', 'out/nats/hub.crt', 'out/nats/hub.key']) t.same(after.get(p), before.get(p), `${p} unchanged (content, mode, mtime)`);

  // A real hub from the generated files: the generated edge credentials over TLS, nothing in plaintext.
  await using hub = await startHub(join(st.dir, 'out/nats/hub.conf'));
  const url = hub.url.replace(/^tls:/, 'nats:');
  const ca = readFileSync(join(st.dir, 'out/tls/ca.crt'), 'utf8');
  const nc = await connect({ servers: url, user: edge.natsUser, pass: edge.natsPassword, inboxPrefix: `_INBOX_${a.replace(/-/g, '_')}`, ...natsTlsOption({ ca }, [url]) });
  nc.publish(`clinic.${a}.rec.x`, '{"ok":true}');
  await nc.flush();
  t.pass('the clinic connected over TLS with its generated credentials and the district CA');
  await nc.close();
  await t.rejects(connect({ servers: url, user: edge.natsUser, pass: edge.natsPassword, timeout: 3000 }), /certificate|verify/i, 'a client without the CA cannot use the hub');

  // Another name for the hub: its certificate is re-issued by the same CA.
  const caBefore = readFileSync(join(st.dir, 'out/tls/ca.crt'), 'utf8');
  const re = await cli('init', '--state', st.dir, '--nats-tls-hosts', 'nats-hub.district.example');
  t.equal(re.code, 0, `init with another name: ${re.err}`);
  t.match(re.out, /hub TLS certificate re-issued \(the old one does not name nats-hub\.district\.example\) for 127\.0\.0\.1, nats-hub\.district\.example/, 'the reason is given');
  t.equal(readFileSync(join(st.dir, 'out/tls/ca.crt'), 'utf8'), caBefore, 'the CA is kept');
  const names = new X509Certificate(readFileSync(join(st.dir, 'out/nats/hub.crt'))).subjectAltName ?? '';
  t.match(names, /IP Address:127\.0\.0\.1.*DNS:nats-hub\.district\.example|DNS:nats-hub\.district\.example.*IP Address:127\.0\.0\.1/, `new certificate names both: ${names}`);

  // validate names a hub certificate that is not the district CA's.
  const goodCert = readFileSync(join(st.dir, 'out/nats/hub.crt'), 'utf8');
  const foreign = issueServerCert(createCa('Someone else'), ['127.0.0.1'], 'x');
  writeFileSync(join(st.dir, 'out/nats/hub.crt'), foreign.cert);
  const bad = await cli('validate', '--state', st.dir);
  t.not(bad.code, 0, 'validate fails');
  t.match(`${bad.out}${bad.err}`, /out\/nats\/hub\.crt.*not signed by the district CA/, 'naming the file and the reason');
  writeFileSync(join(st.dir, 'out/nats/hub.crt'), goodCert);

  // A lost CA key is refused by name, nothing written.
  const key = readFileSync(join(st.dir, 'tls/ca.key'), 'utf8');
  rmSync(join(st.dir, 'tls/ca.key'));
  const snap = snapshot(st.dir);
  const lost = await cli('enrol', '--state', st.dir, '--clinic', uniq('tm'), '--name', '新站', '--edge-url', 'http://127.0.0.1:18082');
  t.equal(lost.code, 2, 'exit 2');
  t.match(lost.err, /tls\/ca\.key.*missing while out\/tls\/ca\.crt exists: put it back/, `the file and what to do: ${lost.err.trim()}`);
  t.same(snapshot(st.dir), snap, 'nothing written');
  writeFileSync(join(st.dir, 'tls/ca.key'), key, { mode: 0o600 });
  t.ok(existsSync(join(st.dir, 'tls/ca.key')));
});

t.test('nats-tls: bad values refused naming the flag', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const r = await cli('init', '--state', st.dir, '--nats-tls', 'yes');
  t.equal(r.code, 2);
  t.match(r.err, /--nats-tls "yes"/, r.err.trim());
  const h = await cli('init', '--state', st.dir, '--nats-tls-hosts', 'a b');
  t.equal(h.code, 2);
  t.match(h.err, /--nats-tls-hosts "a b".*host names or IP addresses/, h.err.trim());
});

t.test('https:// edge and central URLs: certificates from the district CA, config and env name them, a real edge serves them', async (t) => {
  const st = tempState();
  t.teardown(st.cleanup);
  const id = uniq('th');
  const init = await cli('init', '--state', st.dir, '--central-url', 'https://127.0.0.1:18443');
  t.equal(init.code, 0, `init: ${init.err}`);
  t.match(init.out, /district CA created.*trusted root on the clinics' and managers' browsers/, 'the CA, and where it must be trusted');
  t.match(init.out, /central HTTPS certificate issued for 127\.0\.0\.1/, "central's certificate");
  t.notOk(existsSync(join(st.dir, 'out/nats/hub.crt')), 'no hub certificate without --nats-tls on');
  const enrol = await cli('enrol', '--state', st.dir, '--clinic', id, '--name', '浆洗街社区卫生服务中心', '--edge-url', 'https://127.0.0.1:18444');
  t.equal(enrol.code, 0, `enrol: ${enrol.err}`);
  t.match(enrol.out, new RegExp(`${id} HTTPS certificate issued for 127\\.0\\.0\\.1`), "the edge's certificate");
  const edgeCfg = JSON.parse(readFileSync(join(st.dir, `out/edges/${id}.json`), 'utf8')) as Record<string, unknown>;
  t.match(edgeCfg, { httpPort: 18444, httpsCertFile: '/etc/health-edge/https.crt', httpsKeyFile: '/etc/health-edge/https.key' }, 'the edge config serves HTTPS on the URL\'s port');
  t.notOk('natsTlsCaFile' in edgeCfg, 'the hub stays plaintext unless --nats-tls on');
  const env = readFileSync(join(st.dir, `out/edges/${id}.env`), 'utf8');
  t.match(env, /^NODE_EXTRA_CA_CERTS=\/etc\/health-edge\/nats-ca\.crt$/m, 'the edge trusts the district CA for HTTPS calls to central');
  t.match(JSON.parse(readFileSync(join(st.dir, 'out/central/central.json'), 'utf8')) as Record<string, unknown>, { httpPort: 18443, httpsCertFile: '/etc/health-central/https.crt' }, 'central config');
  t.equal(statSync(join(st.dir, `out/edges/${id}.https.key`)).mode & 0o777, 0o600, 'edge HTTPS key private');
  t.match(readFileSync(join(st.dir, 'out/prometheus/targets/edges.json'), 'utf8'), /"__scheme__": "https"/, 'Prometheus scrapes the edge over HTTPS');
  t.match(readFileSync(join(st.dir, 'out/prometheus/prometheus.yml'), 'utf8'), /tls_config:\n\s+ca_file: district-ca\.crt/, 'verifying it with its copy of the district CA');
  const v = await cli('validate', '--state', st.dir);
  t.equal(v.code, 0, `validate passes (promtool with the CA file): ${v.out.split('\n').filter((l) => /FAIL/.test(l)).join('; ')}`);
  t.match(v.out, new RegExp(`out/edges/${id}\\.https\\.crt: signed by the district CA, names 127\\.0\\.0\\.1`), 'and checks the edge certificate');
  const before = snapshot(st.dir);
  t.equal((await cli('enrol', '--state', st.dir, '--clinic', id, '--name', '浆洗街社区卫生服务中心', '--edge-url', 'https://127.0.0.1:18444')).code, 0);
  t.same(snapshot(st.dir), before, 'a second run rewrites nothing');

  // A real edge agent with the generated certificate (paths pointed at the state directory).
  const { edgeInProcess, tempDir } = await import('../test/helpers/spine.ts');
  const data = tempDir('prov-https-edge');
  t.teardown(data.cleanup);
  const edge = await edgeInProcess('nats://127.0.0.1:1', id, data.dir, { httpPort: 0, httpsCertFile: join(st.dir, `out/edges/${id}.https.crt`), httpsKeyFile: join(st.dir, `out/edges/${id}.https.key`) });
  t.teardown(() => edge.stop());
  const { request } = await import('node:https');
  const status = await new Promise<number>((resolve, reject) => {
    request(`${edge.http.url}/login`, { ca: readFileSync(join(st.dir, 'out/tls/ca.crt'), 'utf8') }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject).end();
  });
  t.equal(status, 200, `the edge serves its sign-in page with the generated certificate, verified against out/tls/ca.crt (${edge.http.url})`);
});
