/**
 * Order matching of a study that waits for a person: every instance is matched again (an order may
 * have come meanwhile), and the study row is written only when the outcome changed.
 */
import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceMeta } from '../../device-drivers/dicom/index.ts';
import { EdgeStore } from '../store/store.ts';
import { deviceMigrations } from '../devices/migrations.ts';
import { imagingMigrations } from './migrations.ts';
import { indexInstance, ReconcileError, resolveStudy } from './ingest.ts';
import { ImagingRepo } from './repo.ts';

const STUDY = '2.25.3001';

/** An edge store with the imaging migrations in a temp directory of the test's own. */
function imagingStore(t: Test, name: string): { dir: string; store: EdgeStore; repo: ImagingRepo } {
  const dir = mkdtempSync(join(tmpdir(), `imaging-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new EdgeStore(join(dir, 'edge.db'), `clinic-${name}`, [...deviceMigrations, ...imagingMigrations]);
  t.teardown(() => store.close());
  return { dir, store, repo: new ImagingRepo(store.db) };
}

t.test('re-matching an unmatched study writes its row only when the outcome changes', async (t) => {
  const { dir, store, repo } = imagingStore(t, 'ingest');
  // counts writes of the match outcome (a temporary trigger of this connection)
  store.db.exec(`CREATE TEMP TABLE match_writes (kind TEXT);
    CREATE TEMP TRIGGER count_match_writes AFTER UPDATE OF match_kind, match_reason ON imaging_studies BEGIN INSERT INTO match_writes VALUES (new.match_kind); END;`);
  const writes = () => store.db.prepare('SELECT count(*) FROM match_writes').pluck().get() as number;
  const study = () => store.db.prepare('SELECT match_kind, match_reason, order_id FROM imaging_studies WHERE study_instance_uid = ?').get(STUDY) as { match_kind: string; match_reason: string | null; order_id: string | null };
  let n = 0;
  const meta = (): InstanceMeta => ({
    path: join(dir, `${++n}.dcm`), studyInstanceUid: STUDY, seriesInstanceUid: '2.25.3002', sopInstanceUid: `2.25.3003.${n}`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', transferSyntaxUid: '1.2.840.10008.1.2.1', size: 10, sha256: 'a'.repeat(64),
    patientId: 'P-7', accessionNumber: 'NOSUCH', modality: 'US', stationAe: 'US_ROOM1', callingAe: 'US_ROOM1', remoteHost: '127.0.0.1',
    device: { aeTitle: 'US_ROOM1', host: '*', port: 104, modality: 'US', enabled: true }, receivedAt: new Date().toISOString(),
  });

  await indexInstance(store, repo, meta());
  t.same(study(), { match_kind: 'none', match_reason: 'no open imaging order for patient P-7', order_id: null });
  t.equal(writes(), 1, 'the new study gets its outcome');
  for (let i = 0; i < 3; i++) await indexInstance(store, repo, meta());
  t.equal(writes(), 1, 'same outcome: the row is not written again');
  t.equal(study().match_kind, 'none');

  // two open US orders for the patient arrive: the next instance finds the study ambiguous
  const order = { residentId: 'P-7', modality: 'US' as const, code: 'US-ABD', display: '腹部超声', stationAe: null, scheduledDate: '20261129', scheduledTime: null, requestedBy: 'dr' };
  await store.transactAsync((tx) => { repo.createOrder(tx, order, '2.25.9001'); repo.createOrder(tx, order, '2.25.9002'); });
  await indexInstance(store, repo, meta());
  t.same(study(), { match_kind: 'ambiguous', match_reason: '2 open US orders for patient P-7', order_id: null }, 'a changed outcome is written');
  t.equal(writes(), 2);
  await indexInstance(store, repo, meta());
  t.equal(writes(), 2, 'and not again while it stays the same');
  t.equal(store.db.prepare('SELECT count(*) FROM imaging_instances WHERE study_instance_uid = ?').pluck().get(STUDY), 6, 'every instance indexed');
});

t.test('accession numbers: scheduled date, modality and a counter of the edge\'s imaging orders', async (t) => {
  const { store, repo } = imagingStore(t, 'accession');
  const order = (modality: 'US' | 'DX') => ({ residentId: 'P-9', modality, code: 'X', display: '检查', stationAe: null, scheduledDate: '20261130', scheduledTime: null, requestedBy: 'dr' });
  const made = await store.transactAsync((tx) => [1, 2, 3].map((i) => repo.createOrder(tx, order(i === 2 ? 'DX' : 'US'), `2.25.77${i}`)));
  t.same(made.map((o) => o.accessionNumber), ['261130US00000001', '261130DX00000002', '261130US00000003'], 'date, modality, a counter of the edge\'s orders; 16 characters');
  const again = await store.transactAsync((tx) => repo.createOrder(tx, order('US'), '2.25.774'));
  t.equal(again.accessionNumber, '261130US00000004', 'the next order, in a later transaction');
});

t.test('a person links a study only to an open order, and only once', async (t) => {
  const { dir, store, repo } = imagingStore(t, 'resolve');
  const meta: InstanceMeta = {
    path: join(dir, '1.dcm'), studyInstanceUid: STUDY, seriesInstanceUid: '2.25.3002', sopInstanceUid: '2.25.3003.1',
    sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', transferSyntaxUid: '1.2.840.10008.1.2.1', size: 10, sha256: 'a'.repeat(64),
    patientId: 'UNKNOWN-1', modality: 'US', stationAe: 'US_ROOM1', callingAe: 'US_ROOM1', remoteHost: '127.0.0.1',
    device: { aeTitle: 'US_ROOM1', host: '*', port: 104, modality: 'US', enabled: true }, receivedAt: new Date().toISOString(),
  };
  await indexInstance(store, repo, meta);
  const order = { residentId: 'P-7', modality: 'US' as const, code: 'US-ABD', display: '腹部超声', stationAe: null, scheduledDate: '20261129', scheduledTime: null, requestedBy: 'dr' };
  const [done, open] = await store.transactAsync((tx) => [repo.createOrder(tx, order, '2.25.9001'), repo.createOrder(tx, order, '2.25.9002')]);
  await store.transactAsync((tx) => repo.setOrderStatus(tx, done!.orderId, 'completed'));
  const refused = async (orderId: string, code: string) => {
    const e = await resolveStudy(store, repo, STUDY, orderId, 'admin').then(() => null, (err: unknown) => err);
    t.ok(e instanceof ReconcileError && e.code === code, `refused: ${code}`);
  };
  await refused('', 'no_order');
  await refused('no-such-order', 'unknown_order');
  await refused(done!.orderId, 'order_closed');
  t.equal(repo.study(STUDY)!.orderId, null, 'nothing linked by a refused attempt');
  t.equal(repo.order(done!.orderId)!.status, 'completed', 'the completed order is not reopened');
  await resolveStudy(store, repo, STUDY, open!.orderId, 'admin');
  t.equal(repo.study(STUDY)!.orderId, open!.orderId);
  await refused(open!.orderId, 'already_linked');
  const e = await resolveStudy(store, repo, '2.25.404', open!.orderId, 'admin').then(() => null, (err: unknown) => err);
  t.ok(e instanceof ReconcileError && e.code === 'unknown_study', 'an unknown study: refused');
});

t.test('completing an examination: only with images, once; a late study keeps it completed; a final report that came first completes it when a person links the study', async (t) => {
  const { dir, store, repo } = imagingStore(t, 'complete');
  const order = { residentId: 'P-9', modality: 'US' as const, code: 'US-ABD', display: '腹部超声', stationAe: null, scheduledDate: '20261129', scheduledTime: null, requestedBy: 'dr' };
  const [a, b] = await store.transactAsync((tx) => [repo.createOrder(tx, order, '2.25.7001'), repo.createOrder(tx, order, '2.25.7002')]);
  const versions = (orderId: string) => store.db.prepare<[string], { version: number }>("SELECT version FROM records WHERE type = 'order' AND record_id = ?").get(orderId)!.version;
  const complete = (orderId: string) => store.transactAsync((tx) => repo.completeOrder(tx, orderId));
  t.equal(await complete(a!.orderId), 'no_images', 'no image yet: not completed (cancel it instead)');
  t.equal(await complete('nope'), 'unknown');
  let n = 0;
  const meta = (study: string, patientId: string, accession: string): InstanceMeta => ({
    path: join(dir, `${++n}.dcm`), studyInstanceUid: study, seriesInstanceUid: `${study}.1`, sopInstanceUid: `${study}.1.${n}`,
    sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', transferSyntaxUid: '1.2.840.10008.1.2.1', size: 10, sha256: 'a'.repeat(64),
    patientId, accessionNumber: accession, modality: 'US', stationAe: 'US_ROOM1', callingAe: 'US_ROOM1', remoteHost: '127.0.0.1',
    device: { aeTitle: 'US_ROOM1', host: '*', port: 104, modality: 'US', enabled: true }, receivedAt: new Date().toISOString(),
  });
  await indexInstance(store, repo, meta('2.25.7001', 'P-9', a!.accessionNumber));
  t.equal(repo.order(a!.orderId)!.status, 'in-progress');
  const v = versions(a!.orderId);
  t.equal(await complete(a!.orderId), 'completed');
  t.equal(repo.order(a!.orderId)!.status, 'completed');
  t.equal(versions(a!.orderId), v + 1, 'a new version of the order record');
  t.equal(await complete(a!.orderId), 'closed', 'completed twice: refused');
  // Another study of the same examination arrives later (a second sweep of the probe).
  await indexInstance(store, repo, meta('2.25.7009', 'P-9', a!.accessionNumber));
  t.equal(repo.order(a!.orderId)!.status, 'completed', 'a late study is filed under the order without reopening it');
  t.equal(versions(a!.orderId), v + 1, 'and without another version');

  // A study of b's examination that the device sent without the accession number or a known id:
  // it waits for a person; meanwhile the district radiologist's final report arrives.
  await indexInstance(store, repo, meta('2.25.7020', 'UNKNOWN', ''));
  t.equal(repo.study('2.25.7020')!.orderId, null, 'unmatched');
  store.db.prepare(`INSERT INTO imaging_reports (study_instance_uid, version, status, findings, impression, positive, radiologist, reported_at, received_at)
    VALUES ('2.25.7020', 1, 'final', '未见异常', '正常', 0, '区医院 王医生', ?, ?)`).run(new Date().toISOString(), new Date().toISOString());
  await resolveStudy(store, repo, '2.25.7020', b!.orderId, 'admin');
  t.equal(repo.order(b!.orderId)!.status, 'completed', 'linked after its final report: completed at once');
  t.equal(await store.transactAsync((tx) => repo.cancelOrder(tx, b!.orderId)), 'closed', 'and no longer cancellable');
});
