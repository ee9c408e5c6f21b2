/**
 * Start-up recovery of rows indexed while their rename's directory fsync ran: the crash states a
 * power loss can leave (rename on disk; rename lost with the temp file there; rename of a resend
 * lost over the earlier version; no file at all) are built on disk by hand, then recovery runs
 * twice. The study record is corrected exactly once, and only when counts changed. Rows the
 * forwarder had already sent to central before the crash are never dropped nor sent back older.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceMeta } from '../../device-drivers/dicom/index.ts';
import { EdgeStore } from '../store/store.ts';
import { deviceMigrations } from '../devices/migrations.ts';
import { imagingMigrations } from './migrations.ts';
import { flushDueStudies, indexInstance, RenameMarks } from './ingest.ts';
import { ImagingRepo } from './repo.ts';
import { recoverUnsyncedInstances } from './recovery.ts';

const STUDY = '2.25.1001';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('recovery after a crash between the index commit and the rename\'s directory fsync', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imaging-recovery-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new EdgeStore(join(dir, 'edge.db'), 'clinic-recovery', [...deviceMigrations, ...imagingMigrations]);
  t.teardown(() => store.close());
  const repo = new ImagingRepo(store.db);
  const studyDir = join(dir, 'dicom', STUDY);
  mkdirSync(studyDir, { recursive: true });

  const bytes = (sop: string, v = 1) => Buffer.from(`DICM ${sop} version ${v} `.repeat(100));
  const meta = (sop: string, b: Buffer): InstanceMeta => ({
    path: join(studyDir, `${sop}.dcm`), studyInstanceUid: STUDY, seriesInstanceUid: '2.25.2001', sopInstanceUid: sop,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', transferSyntaxUid: '1.2.840.10008.1.2.1', size: b.length, sha256: sha(b),
    patientId: 'P-1', modality: 'US', stationAe: 'US_ROOM1', callingAe: 'US_ROOM1', remoteHost: '127.0.0.1',
    device: { aeTitle: 'US_ROOM1', host: '*', port: 104, modality: 'US', enabled: true }, receivedAt: new Date().toISOString(),
  });
  const studyVersions = () => store.db.prepare("SELECT count(*) FROM outbox WHERE type = 'imaging_study' AND record_id = ?").pluck().get(STUDY) as number;
  const lastCount = () => (JSON.parse(store.db.prepare("SELECT envelope FROM outbox WHERE type = 'imaging_study' AND record_id = ? ORDER BY seq DESC LIMIT 1").pluck().get(STUDY) as string) as { payload: { instanceCount: number } }).payload.instanceCount;
  const row = (sop: string) => store.db.prepare('SELECT size, sha256, file_synced, fwd_state FROM imaging_instances WHERE sop_instance_uid = ?').get(sop) as { size: number; sha256: string; file_synced: number; fwd_state: string } | undefined;

  // Index rows as the agent commits them, beside the directory fsync (file_synced = 0).
  const a = bytes('2.25.1'), b = bytes('2.25.2'), c = bytes('2.25.3'), e1 = bytes('2.25.5', 1), e2 = bytes('2.25.5', 2), d = bytes('2.25.4');
  await indexInstance(store, repo, meta('2.25.1', a), 0, false);
  await indexInstance(store, repo, meta('2.25.2', b), 0, false);
  await indexInstance(store, repo, meta('2.25.3', c), 0, false);
  await indexInstance(store, repo, meta('2.25.4', d), 0, false);
  await indexInstance(store, repo, meta('2.25.5', e2), 0, false); // a resend: its row holds version 2
  // One rename whose durability was recorded before the crash (mark committed with the next row).
  const marks = new RenameMarks();
  const m4 = store.db.prepare('SELECT received_at FROM imaging_instances WHERE sop_instance_uid = ?').pluck().get('2.25.4') as string;
  marks.add('2.25.4', m4);
  store.transact((tx) => marks.flush(tx.db));
  t.equal(row('2.25.4')!.file_synced, 1, 'a durable rename is marked in a later commit');
  const before = studyVersions();
  t.equal(lastCount(), 5, 'the study record counted five instances before the crash');

  // What the disk holds after the power loss:
  writeFileSync(join(studyDir, '2.25.1.dcm'), a); // rename on disk
  writeFileSync(join(studyDir, '.2.25.2.4242.7.tmp'), b); // rename lost; temp file (fsynced before the rename) there
  writeFileSync(join(studyDir, '.2.25.3.4242.8.tmp'), c.subarray(0, 100)); // rename lost and only a partial temp: not this row's bytes
  writeFileSync(join(studyDir, '2.25.4.dcm'), d);
  writeFileSync(join(studyDir, '2.25.5.dcm'), e1); // the resend's rename lost over version 1

  const r = await recoverUnsyncedInstances(store);
  t.same(r, { checked: 4, kept: 1, renamed: 1, replaced: 1, removed: 1, atCentralOnly: 0 });
  t.same(readFileSync(join(studyDir, '2.25.2.dcm')), b, 'the lost rename is redone from the temp file');
  t.notOk(existsSync(join(studyDir, '.2.25.2.4242.7.tmp')));
  t.notOk(existsSync(join(studyDir, '.2.25.3.4242.8.tmp')), 'a partial temp file is removed, never published');
  t.notOk(existsSync(join(studyDir, '2.25.3.dcm')));
  t.equal(row('2.25.3'), undefined, 'a row without its file is removed (the device got no success and resends)');
  t.same(row('2.25.5'), { size: e1.length, sha256: sha(e1), file_synced: 1, fwd_state: 'pending' }, 'a row describes the bytes on disk');
  for (const s of ['2.25.1', '2.25.2', '2.25.4']) t.equal(row(s)!.file_synced, 1, `${s} checked`);

  // One corrected study record version, emitted by the study tick; a second recovery changes nothing.
  t.equal(store.transact((tx) => flushDueStudies(tx, 2000)), 1, 'the study is due at once');
  t.equal(studyVersions(), before + 1, 'one corrected version');
  t.equal(lastCount(), 4, 'with the instances that are on disk');
  t.same(await recoverUnsyncedInstances(store), { checked: 0, kept: 0, renamed: 0, replaced: 0, removed: 0, atCentralOnly: 0 }, 'nothing left to check');
  t.equal(store.transact((tx) => flushDueStudies(tx, 0)), 0);
  t.equal(studyVersions(), before + 1, 'exactly once');
});

t.test('a rename mark does not cover a resend indexed after it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imaging-recovery-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new EdgeStore(join(dir, 'edge.db'), 'clinic-recovery', [...deviceMigrations, ...imagingMigrations]);
  t.teardown(() => store.close());
  const repo = new ImagingRepo(store.db);
  const base = { studyInstanceUid: STUDY, seriesInstanceUid: '2.25.2001', sopInstanceUid: '2.25.9', sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', transferSyntaxUid: '1.2.840.10008.1.2.1',
    stationAe: 'X', callingAe: 'X', remoteHost: '127.0.0.1', device: { aeTitle: 'X', host: '*', port: 104, modality: 'US' as const, enabled: true }, path: join(dir, 'x.dcm'), size: 1 };
  await indexInstance(store, repo, { ...base, sha256: 'a', receivedAt: '2026-11-29T01:00:00.000Z' }, 0, false);
  const marks = new RenameMarks();
  marks.add('2.25.9', '2026-11-29T01:00:00.000Z');
  await indexInstance(store, repo, { ...base, sha256: 'b', receivedAt: '2026-11-29T01:00:00.500Z' }, 0, false);
  store.transact((tx) => marks.flush(tx.db));
  t.equal(store.db.prepare('SELECT file_synced FROM imaging_instances').pluck().get(), 0, 'the resend stays to be checked');
});

t.test('an instance central already holds is never dropped by recovery, nor replaced there by older bytes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imaging-recovery-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new EdgeStore(join(dir, 'edge.db'), 'clinic-recovery', [...deviceMigrations, ...imagingMigrations]);
  t.teardown(() => store.close());
  const repo = new ImagingRepo(store.db);
  const studyDir = join(dir, 'dicom', STUDY);
  mkdirSync(studyDir, { recursive: true });
  const bytes = (sop: string, v = 1) => Buffer.from(`DICM ${sop} version ${v} `.repeat(100));
  const meta = (sop: string, b: Buffer): InstanceMeta => ({
    path: join(studyDir, `${sop}.dcm`), studyInstanceUid: STUDY, seriesInstanceUid: '2.25.2001', sopInstanceUid: sop,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', transferSyntaxUid: '1.2.840.10008.1.2.1', size: b.length, sha256: sha(b),
    patientId: 'P-1', modality: 'US', stationAe: 'US_ROOM1', callingAe: 'US_ROOM1', remoteHost: '127.0.0.1',
    device: { aeTitle: 'US_ROOM1', host: '*', port: 104, modality: 'US', enabled: true }, receivedAt: new Date().toISOString(),
  });
  const row = (sop: string) => store.db.prepare('SELECT size, sha256, file_synced, fwd_state FROM imaging_instances WHERE sop_instance_uid = ?').get(sop) as { size: number; sha256: string; file_synced: number; fwd_state: string } | undefined;
  // The forwarder's success update (forwarder.ts): central answered 2xx for these bytes.
  const forwarded = (sop: string, b: Buffer) => store.db.prepare("UPDATE imaging_instances SET fwd_state = 'done', forwarded_at = ?, fwd_error = NULL WHERE sop_instance_uid = ? AND sha256 = ?").run(new Date().toISOString(), sop, sha(b));

  const a = bytes('2.25.11'), p = bytes('2.25.12'), e1 = bytes('2.25.13', 1), e2 = bytes('2.25.13', 2);
  // Rows committed beside the directory fsync; the forwarder picked two of them up (reading the
  // files from the page cache) and central stored them, then the power failed before the renames were durable.
  await indexInstance(store, repo, meta('2.25.11', a), 0, false);
  await indexInstance(store, repo, meta('2.25.12', p), 0, false);
  await indexInstance(store, repo, meta('2.25.13', e2), 0, false); // a resend of version 2 over version 1
  forwarded('2.25.11', a);
  forwarded('2.25.13', e2);
  // On disk after the crash: nothing for 2.25.11 nor 2.25.12; version 1 of 2.25.13 (its resend's rename lost).
  writeFileSync(join(studyDir, '2.25.13.dcm'), e1);

  const r = await recoverUnsyncedInstances(store);
  t.same(r, { checked: 3, kept: 0, renamed: 0, replaced: 1, removed: 1, atCentralOnly: 1 });
  t.same(row('2.25.11'), { size: a.length, sha256: sha(a), file_synced: 1, fwd_state: 'done' }, 'the forwarded instance keeps its index row though its local file is lost');
  t.equal(row('2.25.12'), undefined, 'an instance central never got, without a file, is removed (the device resends it)');
  t.same(row('2.25.13'), { size: e1.length, sha256: sha(e1), file_synced: 1, fwd_state: 'done' }, 'the older bytes on disk are not forwarded over the newer ones central holds');
  t.same(await recoverUnsyncedInstances(store), { checked: 0, kept: 0, renamed: 0, replaced: 0, removed: 0, atCentralOnly: 0 }, 'nothing left to check');
  // The study's corrected record counts the kept instance.
  t.equal(store.transact((tx) => flushDueStudies(tx, 2000)), 1);
  const last = JSON.parse(store.db.prepare("SELECT envelope FROM outbox WHERE type = 'imaging_study' AND record_id = ? ORDER BY seq DESC LIMIT 1").pluck().get(STUDY) as string) as { payload: { instanceCount: number } };
  t.equal(last.payload.instanceCount, 2, 'the study record still counts the instance central holds');
});
