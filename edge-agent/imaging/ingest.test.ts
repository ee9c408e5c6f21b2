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
