import t from 'tap';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPart10, testUid } from './test-support/dataset-builder.ts';
import { run, startTestScp, storescu, MODALITY_AE, SCP_AE } from './test-support/harness.ts';

t.test('echo and store one file', async (t) => {
  const scp = await startTestScp();
  t.teardown(() => scp.close());
  const e = await run('echoscu', ['-aet', MODALITY_AE, '-aec', SCP_AE, '127.0.0.1', String(scp.server.port)]);
  t.equal(e.code, 0, e.stderr);
  const f = join(scp.dir, 'a.dcm');
  writeFileSync(f, buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US' }));
  const s = await storescu(scp.server, [f]);
  t.equal(s.code, 0, s.stderr);
  t.equal(scp.stored.length, 1);
  t.same(scp.server.counters.storesOk, 1);
});
