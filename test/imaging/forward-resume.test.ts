/** Forwarding survives an edge restart while central is unreachable, and catches up when it appears. */
import t from 'tap';
import { createServer } from 'node:net';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { clinicToken } from '../../contracts/clinic-token.ts';
import { waitFor } from '../helpers/wait.ts';
import { imaging, imagingEnv, run, testUid, writeInstance } from './fixtures.ts';

const freePort = () => new Promise<number>((resolve) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => resolve(p));
  });
});

t.test('pending uploads resume after an edge restart; central outage of unknown length', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-resume');
  t.teardown(tmp.cleanup);
  const centralPort = await freePort();
  const clinic = clinicName('imgrs');
  imagingEnv({ AE_TITLE: 'EDGE_RS', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: `http://127.0.0.1:${centralPort}`, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: clinicToken('test-token-0123456789', clinic), FORWARD_RETRY_MAX_MS: '300' });
  let edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  imaging(edge).repo.addDevice({ aeTitle: 'US_ROOM9', host: '127.0.0.1', port: 104, modality: 'US', enabled: true });
  const files = join(tmp.dir, 'files');
  mkdirSync(files);
  const study = testUid();
  const sent = [0, 1, 2, 3].map(() => writeInstance(files, { modality: 'US', name: '陈静', patientId: 'P-RS-1', study }));
  const r = await run('storescu', ['-aet', 'US_ROOM9', '-aec', 'EDGE_RS', '127.0.0.1', String(imaging(edge).scp!.port), ...sent.map((f) => f.path)], { env: { TCP_NODELAY: '1' } });
  t.equal(r.code, 0, r.stderr);
  await waitFor('attempts made', () => (imaging(edge).repo.instance(sent[0]!.sop)?.fwdAttempts ?? 0) > 0, 10_000);
  t.equal(imaging(edge).repo.forwardStats().pending, 4, 'nothing forwarded while central is unreachable');
  await edge.stop();

  edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`, { httpPort: centralPort });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  await waitFor('forwarded after restart', () => imaging(edge).repo.forwardStats().pending === 0, 30_000);
  const n = (central.wh.db.prepare('SELECT count(*) AS n FROM imaging_instances WHERE clinic_id = ?').get(clinic) as { n: number }).n;
  t.equal(n, 4, 'all four instances at central');
  t.equal(imaging(edge).repo.unreconciled().length, 1, 'the unmatched study is still waiting for reconciliation after the restart');
});
