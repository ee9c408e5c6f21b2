import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrate, openDb } from '../../contracts/runtime/index.ts';
import { buildPart10, testUid } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { Archive, ArchiveError } from './archive.ts';
import { SqliteImagingIndex } from './index-store.ts';
import { imagingCentralMigrations } from './migrations.ts';
import { mountTmpfs, tmpfsUnavailable } from '../../test/helpers/tmpfs.ts';
import { Hono } from 'hono';
import { Registry } from 'prom-client';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { mountCentralImaging } from './index.ts';

const body = (b: Buffer) => new Blob([new Uint8Array(b)]).stream();
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

/** An empty archive in a temp directory of the test's own, its index in an in-memory SQLite. */
function freshArchive(t: { teardown(fn: () => void): void }, prefix: string): { dir: string; a: Archive } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const db = openDb(':memory:');
  migrate(db, imagingCentralMigrations);
  return { dir, a: new Archive(new SqliteImagingIndex(db), dir) };
}

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

t.test('archive disk: refused with 507 below the kept free space, and when the disk fills mid-upload; nothing half-kept', { skip: tmpfsUnavailable() }, async (t) => {
  const fs = mountTmpfs('archive-full', 3 * 1024 * 1024);
  if ('skip' in fs) throw new Error(fs.skip);
  t.teardown(() => fs.close());
  const db = openDb(':memory:');
  migrate(db, imagingCentralMigrations);
  const ix = new SqliteImagingIndex(db);
  const dicom = (rows: number) => buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'DX', patientId: 'P1', rows, columns: 1024, bitsAllocated: 16 });
  const sopOf = (b: Buffer) => (/(2\.25\.\d+)/.exec(b.subarray(0, 4096).toString('latin1')) ?? [])[1]!;
  const small = dicom(64); // 128 KiB
  // Kept free: 2 MiB on a 3 MiB disk. The first fits; the disk is then below what is kept.
  const kept = new Archive(ix, fs.dir, undefined, { bytes: 2 * 1024 * 1024 });
  t.equal((await kept.put({ clinicId: 'c01', sopInstanceUid: sopOf(small), sha256: sha(small), body: body(small) })).stored, true, 'room: stored');
  const big = dicom(512); // 1 MiB: the disk drops below the 2 MiB kept free
  t.equal((await kept.put({ clinicId: 'c01', sopInstanceUid: sopOf(big), sha256: sha(big), body: body(big) })).stored, true);
  const next = dicom(64);
  const refused = await kept.put({ clinicId: 'c01', sopInstanceUid: sopOf(next), sha256: sha(next), body: body(next) }).catch((e: unknown) => e);
  t.ok(refused instanceof ArchiveError && refused.status === 507, 'below the kept free space: 507');
  t.match((refused as Error).message, /archive disk low: \d+ MiB free, 2 MiB kept free \(CENTRAL_IMAGING_MIN_FREE\); the clinic keeps the instance and sends it again/);
  t.equal(kept.refusedNoSpace, 1);
  const d = await kept.diskStatus();
  t.ok(d && d.free < d.minFree && d.total === 3 * 1024 * 1024, 'diskStatus for the gauges');
  // No kept free space: an upload larger than what is left fills the disk and fails as 507.
  const bare = new Archive(ix, fs.dir);
  const huge = dicom(1024); // 2 MiB, with ~1.8 MiB left
  const full = await bare.put({ clinicId: 'c01', sopInstanceUid: sopOf(huge), sha256: sha(huge), body: body(huge) }).catch((e: unknown) => e);
  t.ok(full instanceof ArchiveError && full.status === 507, 'the disk full mid-upload: 507');
  t.match((full as Error).message, /archive disk full while writing/);
  t.same(readdirSync(join(fs.dir, '.tmp')), [], 'the partial upload removed');
  t.equal(await ix.instance(sopOf(huge)), null, 'nothing indexed');
  t.equal((await bare.put({ clinicId: 'c01', sopInstanceUid: sopOf(next), sha256: sha(next), body: body(next) })).stored, true, 'the archive goes on with what fits');
});

t.test('resumable upload: parts at the offset central holds, a cut part kept, the wrong offset told, the whole checked', async (t) => {
  const { dir, a } = freshArchive(t, 'archive-parts-');
  const sop = testUid();
  const file = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.3.1', sopInstanceUid: sop, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', patientId: 'P2', rows: 512, columns: 512, frames: 8 });
  const h = sha(file);
  const part = (offset: number, bytes: Buffer, over: Partial<Parameters<Archive['putPart']>[0]> = {}) =>
    a.putPart({ clinicId: 'c01', sopInstanceUid: sop, sha256: h, offset, total: file.length, body: body(bytes), ...over });
  t.same(await a.uploadOffset('c01', sop, h), { offset: 0, complete: false }, 'nothing held yet');
  t.same(await part(0, file.subarray(0, 500_000)), { offset: 500_000, complete: false });
  const wrong = await part(0, file.subarray(0, 1000)).catch((e: unknown) => e);
  t.ok(wrong instanceof ArchiveError && wrong.status === 409 && wrong.offset === 500_000, 'the wrong offset: 409 with where central\'s copy ends');
  // The connection breaks in the middle of a part: what arrived is kept.
  let sent = 0;
  const cut = new ReadableStream<Uint8Array>({
    pull(c) {
      if (sent >= 300_000) { c.error(new Error('connection reset')); return; }
      c.enqueue(new Uint8Array(file.subarray(500_000 + sent, 500_000 + sent + 100_000)));
      sent += 100_000;
    },
  });
  await t.rejects(a.putPart({ clinicId: 'c01', sopInstanceUid: sop, sha256: h, offset: 500_000, total: file.length, body: cut }), /connection reset/);
  t.same(await a.uploadOffset('c01', sop, h), { offset: 800_000, complete: false }, 'the 300,000 bytes that arrived are kept');
  const tooMany = await part(800_000, Buffer.concat([file.subarray(800_000), Buffer.alloc(10)])).catch((e: unknown) => e);
  t.ok(tooMany instanceof ArchiveError && tooMany.status === 400, 'more bytes than the length: 400');
  t.same(await a.uploadOffset('c01', sop, h), { offset: 800_000, complete: false }, 'and that part taken back');
  const done = await part(800_000, file.subarray(800_000), { stationAe: 'US_ROOM2' });
  t.same([done.complete, done.stored, done.offset], [true, true, file.length]);
  t.ok(readFileSync(done.instance!.path).equals(file), 'filed byte-identical');
  t.equal(done.instance!.stationAe, 'US_ROOM2');
  t.same(readdirSync(join(dir, '.uploads', 'c01')), [], 'no partial copy left');
  t.same(await a.uploadOffset('c01', sop, h), { offset: file.length, complete: true }, 'held: the edge sends nothing');
  t.equal((await part(0, file.subarray(0, 10))).complete, true, 'a part of an instance already held: complete, nothing written');
  // A whole that does not hash to what was announced: discarded, start again from 0.
  const sop2 = testUid();
  const f2 = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUid: sop2, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', patientId: 'P3' });
  const bad = await a.putPart({ clinicId: 'c01', sopInstanceUid: sop2, sha256: 'a'.repeat(64), offset: 0, total: f2.length, body: body(f2) }).catch((e: unknown) => e);
  t.ok(bad instanceof ArchiveError && bad.status === 422 && bad.offset === 0, 'sha256 mismatch over the whole: 422, from 0');
  t.same(await a.uploadOffset('c01', sop2, 'a'.repeat(64)), { offset: 0, complete: false }, 'the copy discarded');
  const other = await a.putPart({ clinicId: 'c02', sopInstanceUid: sop, sha256: h, offset: 0, total: file.length, body: body(file) }).catch((e: unknown) => e);
  t.ok(other instanceof ArchiveError && other.status === 409 && other.offset === undefined, 'another clinic\'s instance: 409 without an offset');
  for (const [o, n] of [[-1, file.length], [0, 0], [file.length + 1, file.length]] as const) {
    const e = await part(o, file.subarray(0, 1), { total: n }).catch((x: unknown) => x);
    t.ok(e instanceof ArchiveError && e.status === 400, `offset ${o} of ${n}: 400`);
  }
});

t.test('resumable upload, generated: parts of any sizes, cut parts, stale and wrong offsets, in any mix: the archive ends with the exact file or says where to go on', async (t) => {
  const { dir, a } = freshArchive(t, 'archive-parts-fc-');
  const step = fc.record({ len: fc.integer({ min: 1, max: 60_000 }), cutAfter: fc.option(fc.integer({ min: 0, max: 60_000 }), { nil: undefined }), skew: fc.constantFrom(0, 0, 0, -1000, 1000, -1, 1) });
  await fc.assert(fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), async (steps) => {
    const sop = testUid();
    const file = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUid: sop, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', patientId: 'P4', rows: 256, columns: 256 });
    const h = sha(file);
    let complete = false;
    for (const s of [...steps, ...Array.from({ length: 200 }, () => ({ len: 60_000, cutAfter: undefined, skew: 0 }))]) {
      if (complete) break;
      const at = (await a.uploadOffset('c01', sop, h)).offset;
      const from = Math.max(0, Math.min(file.length, at + s.skew));
      const bytes = file.subarray(from, Math.min(file.length, from + s.len));
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (s.cutAfter !== undefined && sent >= s.cutAfter) { c.error(new Error('cut')); return; }
          if (sent >= bytes.length) { c.close(); return; }
          const n = Math.min(7_000, bytes.length - sent, s.cutAfter === undefined ? Infinity : Math.max(1, s.cutAfter - sent));
          c.enqueue(new Uint8Array(bytes.subarray(sent, sent + n)));
          sent += n;
        },
      });
      const r = await a.putPart({ clinicId: 'c01', sopInstanceUid: sop, sha256: h, offset: from, total: file.length, body: stream }).catch((e: unknown) => e);
      if (r instanceof ArchiveError) {
        if (r.status !== 409 || r.offset !== at) return false; // only a wrong offset is refused, with where to go on
        if (from === at) return false;
      } else if (r instanceof Error) {
        if (r.message !== 'cut') throw r;
      } else {
        if (from !== at) return false;
        complete = (r as { complete: boolean }).complete;
      }
      // What central holds is always a prefix of the file.
      const held = (await a.uploadOffset('c01', sop, h));
      if (!held.complete && held.offset > 0 && !readFileSync(join(dir, '.uploads', 'c01', `${sop}.${h}.part`)).equals(file.subarray(0, held.offset))) return false;
    }
    const i = await a.instance(sop);
    return complete && i !== null && readFileSync(i.path).equals(file);
  }), { numRuns: 40 });
  t.pass('40 generated upload histories ended with the exact file');
});

t.test('abandoned partial uploads: idle resumable copies and crashed temp files removed, recent and busy ones kept; a clinic back later sends from 0 and ends with the exact file', async (t) => {
  const { dir, a } = freshArchive(t, 'archive-sweep-');
  const mk = (patientId: string) => {
    const sop = testUid();
    const file = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.3.1', sopInstanceUid: sop, studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', patientId, rows: 256, columns: 256, frames: 4 });
    return { sop, file, h: sha(file) };
  };
  const old = mk('P-OLD'), fresh = mk('P-NEW'), held = mk('P-HELD');
  const part = (x: typeof old, clinicId: string, offset: number, end: number) =>
    a.putPart({ clinicId, sopInstanceUid: x.sop, sha256: x.h, offset, total: x.file.length, body: body(x.file.subarray(offset, end)) });
  await part(old, 'c01', 0, 100_000);
  await part(fresh, 'c02', 0, 50_000);
  // The held one: a part arriving slowly while the sweep runs (its copy is as old as the others).
  await part(held, 'c01', 0, 20_000);
  // A temp file a crashed process left in .tmp, and one of a live upload.
  mkdirSync(join(dir, '.tmp'), { recursive: true });
  writeFileSync(join(dir, '.tmp', `${testUid()}.99999.1.part`), Buffer.alloc(7_000));
  writeFileSync(join(dir, '.tmp', `${testUid()}.99999.2.part`), Buffer.alloc(3_000));
  const now = Date.now();
  const ago = (p: string, ms: number) => utimesSync(p, new Date(now - ms), new Date(now - ms));
  const week = 7 * 24 * 3_600_000;
  ago(join(dir, '.uploads', 'c01', `${old.sop}.${old.h}.part`), week + 60_000);
  ago(join(dir, '.uploads', 'c02', `${fresh.sop}.${fresh.h}.part`), week - 3_600_000);
  ago(join(dir, '.uploads', 'c01', `${held.sop}.${held.h}.part`), week + 60_000);
  const tmps = readdirSync(join(dir, '.tmp')).sort();
  ago(join(dir, '.tmp', tmps[0]!), 2 * 3_600_000);
  ago(join(dir, '.tmp', tmps[1]!), 60_000);
  const before = await a.partialUploads();
  t.same([before.files, before.bytes], [5, 180_000], 'five partial files, 180,000 bytes');
  // (utimes goes through floating-point seconds: the time read back may differ by a fraction of a millisecond)
  t.ok(Math.abs(before.oldestMs! - (now - week - 60_000)) < 2, 'the oldest idle a week and a minute');

  // The held copy receives a part (slowly) while the sweep runs.
  let release!: () => void;
  const gate = new Promise<void>((r) => { release = r; });
  let first = true;
  const slow = new ReadableStream<Uint8Array>({
    async pull(c) {
      if (first) { first = false; c.enqueue(new Uint8Array(held.file.subarray(20_000, 30_000))); return; }
      await gate;
      c.close();
    },
  });
  const receiving = a.putPart({ clinicId: 'c01', sopInstanceUid: held.sop, sha256: held.h, offset: 20_000, total: held.file.length, body: slow });
  await new Promise((r) => setTimeout(r, 50));
  const r = await a.sweepUploads({ keepMs: week, now });
  release();
  t.same(await receiving, { offset: 30_000, complete: false }, 'the part under way was received in full');
  t.same(r, { files: 2, bytes: 107_000, kept: 3 }, 'removed: the copy idle over a week and the crashed temp file; kept: the recent copy, the one receiving, the live temp file');
  t.same(a.abandoned, { files: 2, bytes: 107_000 });
  t.same(await a.uploadOffset('c01', old.sop, old.h), { offset: 0, complete: false }, 'the abandoned copy is gone: offset 0');
  t.same(await a.uploadOffset('c02', fresh.sop, fresh.h), { offset: 50_000, complete: false }, 'the recent copy is kept');
  t.same(await a.uploadOffset('c01', held.sop, held.h), { offset: 30_000, complete: false }, 'the receiving copy is kept, with the part');
  t.same(readdirSync(join(dir, '.tmp')), [tmps[1]], 'the live temp file is kept');

  // The clinic whose copy was removed comes back: it asks, gets 0, sends everything: exact file.
  const back = await part(old, 'c01', 0, old.file.length);
  t.equal(back.complete, true);
  t.ok(readFileSync(back.instance!.path).equals(old.file), 'filed byte-identical after the restart from 0');
  // The other two go on from where central's copies end.
  t.ok(readFileSync((await part(fresh, 'c02', 50_000, fresh.file.length)).instance!.path).equals(fresh.file), 'the kept copy completed');
  t.ok(readFileSync((await part(held, 'c01', 30_000, held.file.length)).instance!.path).equals(held.file), 'the receiving copy completed');
  t.same(await a.sweepUploads({ keepMs: week }), { files: 0, bytes: 0, kept: 1 }, 'a second sweep: only the live temp file is left');
});

t.test('abandoned partial uploads, mounted: swept at start and on a timer, shown in metrics and logged; stop waits for the sweep', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'archive-sweep-mount-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(() => wh.close());
  // A copy left by a clinic two weeks ago, and one of today.
  const uploads = join(dir, 'imaging', '.uploads', 'c07');
  mkdirSync(uploads, { recursive: true });
  const stale = join(uploads, `${testUid()}.${'a'.repeat(64)}.part`);
  const today = join(uploads, `${testUid()}.${'b'.repeat(64)}.part`);
  writeFileSync(stale, Buffer.alloc(40_000));
  writeFileSync(today, Buffer.alloc(12_000));
  const twoWeeks = new Date(Date.now() - 14 * 24 * 3_600_000);
  utimesSync(stale, twoWeeks, twoWeeks);
  const logged: unknown[] = [];
  const log = { info: (o: unknown) => logged.push(o), error: (o: unknown) => logged.push(o) };
  const registry = new Registry();
  const imaging = mountCentralImaging(new Hono(), { wh, dataDir: dir, registry, uploadKeepMs: 7 * 24 * 3_600_000, sweepEveryMs: 100, log });
  const metric = async (name: string) => (await registry.getSingleMetric(name)!.get()).values.map((v) => [v.labels['what'] ?? '', v.value]);
  for (let i = 0; i < 50 && imaging.abandoned.files === 0; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(imaging.abandoned, { files: 1, bytes: 40_000 }, 'the copy idle two weeks removed at start');
  t.notOk(existsSync(stale));
  t.ok(existsSync(today), 'today\'s copy kept');
  t.match(logged, [{ event: 'imaging.uploads.abandoned', files: 1, bytes: 40_000, kept: 1 }], 'logged with what was removed and kept');
  t.same(await metric('central_imaging_uploads_abandoned_total'), [['files', 1], ['bytes', 40_000]]);
  t.same(await metric('central_imaging_uploads_partial_bytes'), [['bytes', 12_000], ['files', 1]]);
  const idle = async () => (await registry.getSingleMetric('central_imaging_uploads_partial_idle_seconds')!.get()).values[0]?.value;
  t.ok((await idle())! < 60, 'the partial upload left was written just now');
  // The timer: today's copy, once idle past the limit, goes at the next sweep.
  utimesSync(today, twoWeeks, twoWeeks);
  for (let i = 0; i < 50 && imaging.abandoned.files < 2; i++) await new Promise((r) => setTimeout(r, 20));
  t.same(imaging.abandoned, { files: 2, bytes: 52_000 }, 'swept again on the timer');
  t.same(await metric('central_imaging_uploads_partial_bytes'), [['bytes', 0], ['files', 0]]);
  t.equal(await idle(), 0, 'no partial upload: idle 0');
  await imaging.stop();
  const n = imaging.abandoned.files;
  writeFileSync(stale, Buffer.alloc(1));
  utimesSync(stale, twoWeeks, twoWeeks);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(imaging.abandoned.files, n, 'stopped: no sweep after stop()');
});
