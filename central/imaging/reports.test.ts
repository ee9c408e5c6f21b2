import { clinicToken } from '../../contracts/clinic-token.ts';
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { buildPart10, testUid } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { createTestDatabase } from '../../test/central/postgres.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { mountCentralImaging } from './index.ts';

for (const backend of ['sqlite', 'postgres'] as const) t.test(`radiology reports over HTTP (${backend}): versions, amendment rules, positive rate in the workload`, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'reports-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let wh: SqliteWarehouse | PostgresWarehouse;
  if (backend === 'sqlite') wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  else {
    const db = await createTestDatabase('imgrep');
    t.teardown(() => db.drop());
    wh = await PostgresWarehouse.open(db.url);
  }
  t.teardown(() => wh.close());
  const app = new Hono();
  const uploadSecret = 'reports-test-secret-0123456789';
  await mountCentralImaging(app, { wh, dataDir: dir, uploadSecret }).index.ready();
  const studies = [testUid(), testUid(), testUid()];
  const parts = studies.map((st) => {
    const body = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUid: testUid(), studyInstanceUid: st, seriesInstanceUid: testUid(), modality: 'US', studyDate: '20261128' });
    return Buffer.concat([Buffer.from('--b\r\nContent-Type: application/dicom\r\n\r\n'), body, Buffer.from('\r\n')]);
  });
  const stored = await app.request('http://central/api/imaging/dicomweb/studies', {
    method: 'POST', headers: { 'content-type': 'multipart/related; boundary=b', authorization: `Bearer ${clinicToken(uploadSecret, 'c07')}` }, body: new Uint8Array(Buffer.concat([...parts, Buffer.from('--b--\r\n')])),
  });
  t.equal(stored.status, 200);

  const post = (study: string, body: unknown) => app.request(`http://central/api/imaging/studies/${study}/reports`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const rep = (status: string, positive: boolean) => ({ status, findings: '肝脏形态大小正常', impression: positive ? '胆囊结石' : '未见明显异常', positive, radiologist: '区医院 王医生' });

  t.equal((await post(studies[0]!, rep('preliminary', false))).status, 201, 'preliminary report');
  t.equal((await post(studies[0]!, rep('final', true))).status, 201, 'final report, positive');
  const again = await post(studies[0]!, rep('preliminary', false));
  t.equal(again.status, 409, 'no preliminary after final');
  t.match(await again.text(), /amendment/);
  t.equal((await post(studies[1]!, rep('amended', true))).status, 409, 'amendment without a final refused');
  t.equal((await post(studies[1]!, rep('final', true))).status, 201);
  t.equal((await post(studies[1]!, rep('amended', false))).status, 201, 'amended to negative');
  const bad = await post(studies[2]!, { ...rep('final', false), findings: '' });
  t.equal(bad.status, 400);
  t.match(await bad.text(), /findings/);
  t.equal((await post(testUid(), rep('final', false))).status, 404, 'unknown study');

  const versions = await (await app.request(`http://central/api/imaging/studies/${studies[1]}/reports`)).json() as { version: number; status: string; positive: boolean }[];
  t.same(versions.map((v) => [v.version, v.status, v.positive]), [[1, 'final', true], [2, 'amended', false]], 'earlier versions kept');

  const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
  const stats = await (await app.request(`http://central/api/imaging/stats?from=${today}&to=${today}&clinic=c07`)).json() as { studies: number; reported: number; positive: number; positiveRate: number | null }[];
  // 3 studies; reported (final/amended): study 0 positive, study 1 amended to negative; study 2 unreported -> 1/2.
  t.same(stats.map((s) => [s.studies, s.reported, s.positive, s.positiveRate]), [[3, 2, 1, 0.5]], 'positive rate over reported studies, latest version counts');
  for (const [q, why] of [['from=2026-13-01', /from: "2026-13-01" is not a date/], ['from=2026-02-30', /from: "2026-02-30" is not a date/], ['to=today', /to: "today" is not a date/], ['from=2026-11-28&to=2026-11-01', /from \(2026-11-28\) is after to/]] as const) {
    const r = await app.request(`http://central/api/imaging/stats?${q}`);
    t.equal(r.status, 400, `${q}: refused`);
    t.match(((await r.json()) as { error: string }).error, why, 'with the field named');
  }
  const qido = await (await app.request('http://central/api/imaging/dicomweb/studies?ClinicID=c07&ModalitiesInStudy=US')).json() as Record<string, { Value?: unknown[] }>[];
  t.same(qido.map((s) => s['0020000D']?.Value?.[0]).sort(), [...studies].sort(), 'QIDO-RS answers from the same index');
  if (wh instanceof SqliteWarehouse) t.throws(() => (wh as SqliteWarehouse).db.prepare('DELETE FROM imaging_reports').run(), /versioned/, 'reports cannot be deleted');
  else await t.rejects(wh.pool.query('DELETE FROM imaging_reports'), /versioned/, 'reports cannot be deleted');
});
