import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDb } from '../../contracts/runtime/index.ts';
import { buildPart10, testUid } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { Archive, ArchiveError } from './archive.ts';
import { SqliteImagingIndex } from './index-store.ts';
import { imagingCentralMigrations } from './migrations.ts';

const body = (b: Buffer) => new Blob([new Uint8Array(b)]).stream();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('archive: verify, store, idempotent, refuse', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'archive-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDb(':memory:');
  migrate(db, imagingCentralMigrations);
  const ix = new SqliteImagingIndex(db);
  const a = new Archive(ix, dir);
  const sop = testUid();
  const study = testUid();
  const file = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUid: sop, studyInstanceUid: study, seriesInstanceUid: testUid(), modality: 'US', patientId: 'P1', studyDate: '20261128' });

  const bad = await a.put({ clinicId: 'c01', sopInstanceUid: sop, sha256: '0'.repeat(64), body: body(file) }).catch((e: unknown) => e);
  t.ok(bad instanceof ArchiveError && bad.status === 422, 'sha256 mismatch refused');
  t.same(readdirSync(join(dir, '.tmp')), [], 'no temp file left behind');

  const r = await a.put({ clinicId: 'c01', sopInstanceUid: sop, sha256: sha(file), stationAe: 'US_ROOM1', body: body(file) });
  t.equal(r.stored, true);
  t.ok(readFileSync(r.instance.path).equals(file), 'stored byte-identical');
  t.equal(r.instance.stationAe, 'US_ROOM1');
  t.equal((await a.put({ clinicId: 'c01', sopInstanceUid: sop, sha256: sha(file), body: body(file) })).stored, false, 'same bytes again: no-op');

  const other = await a.put({ clinicId: 'c02', sopInstanceUid: sop, sha256: sha(file), body: body(file) }).catch((e: unknown) => e);
  t.ok(other instanceof ArchiveError && other.status === 409, 'another clinic cannot overwrite');
  const wrongPath = await a.put({ clinicId: 'c01', sopInstanceUid: testUid(), sha256: sha(file), body: body(file) }).catch((e: unknown) => e);
  t.ok(wrongPath instanceof ArchiveError && wrongPath.status === 400, 'SOP UID must match the path');
  const notDicom = Buffer.from('hello');
  const nd = await a.put({ clinicId: 'c01', sopInstanceUid: testUid(), sha256: sha(notDicom), body: body(notDicom) }).catch((e: unknown) => e);
  t.ok(nd instanceof ArchiveError && nd.status === 400, 'not DICOM refused');

  t.equal((await ix.searchStudies({ StudyDate: '20261101-20261130' })).length, 1, 'date range');
  t.equal((await ix.searchStudies({ StudyDate: '-20261127' })).length, 0, 'open range before');
  t.equal((await ix.searchStudies({ '00100020': 'P*' })).length, 1, 'tag key + wildcard');
  t.equal((await ix.searchStudies({ PatientID: 'P_' })).length, 0, 'SQL wildcard characters are literal');
});
