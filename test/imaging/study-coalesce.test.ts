/**
 * A study sent as many instances becomes few `imaging_study` record versions: the first
 * instance is recorded at once, the rest once the study is quiet (and at shutdown), with
 * the final counts; nothing is lost between the marks and the flush.
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { imaging, imagingEnv, run, testUid, writeInstance } from './fixtures.ts';

t.test('imaging_study record versions are coalesced per quiet study', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-coalesce');
  t.teardown(tmp.cleanup);
  imagingEnv({ AE_TITLE: 'EDGE_CO', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: undefined, STUDY_RECORD_QUIET_MS: '3000' }); // longer than any gap between instances of one association, even on a loaded machine
  const clinic = clinicName('coal');
  let edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  t.teardown(() => edge.stop());
  imaging(edge).repo.addDevice({ aeTitle: 'US_CINE', host: '127.0.0.1', port: 104, modality: 'US', room: 'B超室', enabled: true });
  const study = testUid();
  const series = testUid();
  const files = Array.from({ length: 6 }, () => writeInstance(tmp.dir, { modality: 'US', name: '王芳', patientId: 'X1', study, series }).path);
  const r = await run('storescu', ['-aet', 'US_CINE', '-aec', 'EDGE_CO', '127.0.0.1', String(imaging(edge).scp!.port), ...files]);
  t.equal(r.code, 0, `storescu: ${r.stderr}`);

  const latest = () => edge.store.db.prepare("SELECT version, payload FROM records WHERE type = 'imaging_study' AND record_id = ?").get(study) as { version: number; payload: string } | undefined;
  const outboxVersions = () => (edge.store.db.prepare("SELECT count(*) AS n FROM outbox WHERE type = 'imaging_study' AND record_id = ?").get(study) as { n: number }).n;
  await waitFor('final study record', async () => JSON.parse(latest()?.payload ?? '{}').instanceCount === 6, 30_000);
  t.equal(latest()!.version, 2, 'six instances: one version at once, one when quiet');
  t.ok(outboxVersions() <= 2, 'at most two imaging_study rows queued for central');

  // Instances arriving with a long quiet time are still recorded at shutdown, and the
  // marks survive a restart until flushed.
  await edge.stop();
  imagingEnv({ STUDY_RECORD_QUIET_MS: '600000' });
  edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  const more = Array.from({ length: 3 }, () => writeInstance(tmp.dir, { modality: 'US', name: '王芳', patientId: 'X1', study, series }).path);
  t.equal((await run('storescu', ['-aet', 'US_CINE', '-aec', 'EDGE_CO', '127.0.0.1', String(imaging(edge).scp!.port), ...more])).code, 0);
  t.equal(latest()!.version, 2, 'quiet time not reached: no new version yet');
  t.equal((edge.store.db.prepare('SELECT count(*) AS n FROM imaging_study_dirty').get() as { n: number }).n, 1, 'the study is marked due, durably');
  await edge.stop();
  imagingEnv({ STUDY_RECORD_QUIET_MS: undefined });
  edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  t.equal(latest()!.version, 3, 'flushed at shutdown');
  t.equal(JSON.parse(latest()!.payload).instanceCount, 9, 'with all nine instances');
});
