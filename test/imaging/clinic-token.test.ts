/**
 * Per-clinic upload credentials: an edge holding its clinic token uploads instances to the
 * central archive as itself; a token cannot upload for another clinic; a forged or missing
 * token is refused; token verification never throws on arbitrary input.
 */
import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { imaging, imagingEnv, run, writeInstance } from './fixtures.ts';
import { clinicToken, verifyClinicToken } from '../../contracts/index.ts';

const TOKEN = 'test-token-0123456789';

t.test('clinic tokens: mint, verify, refuse forgeries', async (t) => {
  const tok = clinicToken(TOKEN, 'c01');
  t.equal(verifyClinicToken(TOKEN, tok), 'c01');
  t.equal(verifyClinicToken('another-secret-0123456', tok), null, 'other secret');
  t.equal(verifyClinicToken(TOKEN, tok.replace('c01.', 'c02.')), null, 'clinic id swapped');
  t.equal(verifyClinicToken(TOKEN, TOKEN), null, 'the shared token is not a clinic token');
  t.throws(() => clinicToken('short', 'c01'), /16 characters/);
  t.throws(() => clinicToken(TOKEN, 'C 01'), /not valid/);
  fc.assert(fc.property(fc.string({ maxLength: 120 }), (s) => verifyClinicToken(TOKEN, s) === null || s === clinicToken(TOKEN, s.slice(0, s.lastIndexOf('.')))), { numRuns: 1000 });
});

t.test('an edge with its clinic token forwards instances; tokens cannot cross clinics', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-token');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('tok');
  // No shared token at the edge: only its own clinic token.
  imagingEnv({ AE_TITLE: 'EDGE_TOK', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: central.http.url, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: clinicToken(TOKEN, clinic), FORWARD_RETRY_MAX_MS: '300' });
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  t.teardown(async () => { imagingEnv({ UPLOAD_TOKEN: undefined }); await edge.stop(); await central.stop(); });
  imaging(edge).repo.addDevice({ aeTitle: 'US_T', host: '127.0.0.1', port: 104, modality: 'US', room: 'B超室', enabled: true });
  const f = writeInstance(tmp.dir, { modality: 'US', name: '赵敏', patientId: 'T1' });
  const r = await run('storescu', ['-aet', 'US_T', '-aec', 'EDGE_TOK', '127.0.0.1', String(imaging(edge).scp!.port), f.path]);
  t.equal(r.code, 0, `storescu: ${r.stderr}`);
  await waitFor('instance archived at central', async () => !!central.wh.db.prepare('SELECT 1 FROM imaging_instances WHERE sop_instance_uid = ?').get(f.sop), 20_000);
  t.equal((central.wh.db.prepare('SELECT clinic_id FROM imaging_instances WHERE sop_instance_uid = ?').get(f.sop) as { clinic_id: string }).clinic_id, clinic, 'filed under the token\'s clinic');

  const put = (token: string, headers: Record<string, string> = {}) => fetch(`${central.http.url}/archive/instances/${f.sop}`, {
    method: 'PUT', headers: { authorization: `Bearer ${token}`, 'x-content-sha256': createHash('sha256').update(f.bytes).digest('hex'), ...headers }, body: new Uint8Array(f.bytes),
  });
  const other = await put(clinicToken(TOKEN, 'other-clinic'), { 'x-clinic-id': clinic });
  t.equal(other.status, 403, 'a token of another clinic cannot claim this one');
  t.match(await other.text(), /belongs to clinic other-clinic/);
  const stolen = await put(clinicToken(TOKEN, 'other-clinic'));
  t.equal(stolen.status, 409, 'nor overwrite this clinic\'s instance under its own name');
  t.equal((await put('forged.AAAA')).status, 401, 'forged token refused');
  t.equal((await put(TOKEN)).status, 401, 'the shared API token is not an upload token on /archive');
  const audit = central.wh.db.prepare("SELECT count(*) AS n FROM audit_log WHERE action = 'imaging.instance.put' AND outcome LIKE 'denied%'").get() as { n: number };
  t.equal(audit.n, 3, 'refusals audited');
});
