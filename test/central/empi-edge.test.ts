/**
 * EMPI end to end: two clinic edges register the same resident (same ID card) through the spine;
 * central's EMPI links them into one person and each edge learns, on its own subject, the
 * person id and the resident at the other clinic; an unmerge through the API reaches both.
 */
import t from 'tap';
import { empiSyncs } from '../../edge-agent/sync/empi.ts';
import { makeResidentId } from '../../contracts/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';

t.test('EMPI person changes reach the edges', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('empi-edge');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const a = await edgeInProcess(ns.url, clinicName('ea'), `${tmp.dir}/a`);
  const b = await edgeInProcess(ns.url, clinicName('eb'), `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); await central.stop(); });

  const idNumber = makeResidentId('110101', new Date(Date.UTC(1956, 2, 7)), 14);
  a.store.write('resident', 'ra-1', { residentId: 'ra-1', name: '王秀英', sex: '2', birthDate: '1956-03-07', idType: '01', idNumber });
  b.store.write('resident', 'rb-1', { residentId: 'rb-1', name: '王秀英', sex: '2', birthDate: '1956-03-07', idType: '01', idNumber, phone: '13800000000' });
  const syncA = empiSyncs.get(a.config.clinicId)!;
  const syncB = empiSyncs.get(b.config.clinicId)!;
  t.ok(syncA && syncB, 'the EMPI module runs at both edges');

  await waitFor('edge A knows the person', () => syncA.personOf('ra-1') !== null, 30_000);
  await waitFor('edge B knows the person', () => syncB.personOf('rb-1') !== null, 30_000);
  const pa = syncA.personOf('ra-1')!;
  const pb = syncB.personOf('rb-1')!;
  t.equal(pa.personId, pb.personId, 'one person at both clinics');
  t.same(pa.others, [{ residentId: 'rb-1', clinicId: b.config.clinicId }], 'A learns the resident at B');
  t.same(pb.others, [{ residentId: 'ra-1', clinicId: a.config.clinicId }]);

  // A manual merge of another person into this one, then its unmerge, both reach the edges.
  b.store.write('resident', 'rb-2', { residentId: 'rb-2', name: '李强', sex: '1', birthDate: '1990-11-01', idType: '01', idNumber: makeResidentId('110105', new Date(Date.UTC(1990, 10, 1)), 31) });
  const headers = { authorization: 'Bearer test-token-0123456789', 'content-type': 'application/json' };
  await waitFor('rb-2 indexed', async () => (await fetch(`${central.http.url}/api/empi/residents/rb-2/person`, { headers })).status === 200, 30_000);
  const p2 = await (await fetch(`${central.http.url}/api/empi/residents/rb-2/person`, { headers })).json() as { personId: string };
  const merge = await (await fetch(`${central.http.url}/api/empi/merge`, { method: 'POST', headers, body: JSON.stringify({ survivorPersonId: pa.personId, mergedPersonId: p2.personId, reason: 'test' }) })).json() as { id: number };
  await waitFor('edge A sees the merge', () => syncA.personOf('ra-1')!.others.length === 2, 30_000);
  await waitFor('edge B sees the merge', () => syncB.personOf('rb-2')?.personId === pa.personId, 30_000);
  t.pass('the merged resident moved at B');
  const un = await fetch(`${central.http.url}/api/empi/unmerge`, { method: 'POST', headers, body: JSON.stringify({ mergeId: merge.id }) });
  t.equal(un.status, 200);
  await waitFor('edge B sees the unmerge', () => syncB.personOf('rb-2')?.personId === p2.personId, 30_000);
  t.equal(syncA.personOf('ra-1')!.others.length, 1, 'and A is back to one other resident');
});
