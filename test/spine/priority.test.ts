import t from 'tap';
import { randomUUID } from 'node:crypto';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { STREAMS, type RecordPayload } from '../../contracts/index.ts';
import { EdgeStore } from '../../edge-agent/store/store.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';

const obs = (value: number, interpretation: 'N' | 'HH'): RecordPayload<'observation'> => ({
  observationId: randomUUID(), residentId: 'r1', code: '8480-6', display: '收缩压', value, unit: 'mm[Hg]', effectiveAt: new Date().toISOString(), interpretation,
});

t.test('critical values are published ahead of a backlog; central still applies in seq order, once', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-prio');
  t.teardown(tmp.cleanup);
  // Central creates the streams, then is away while the clinic's backlog is published.
  let central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  await central.stop();

  const clinicId = clinicName('prio');
  const store = new EdgeStore(`${tmp.dir}/edge/edge.db`, clinicId);
  const bulk1 = 3000, bulk2 = 500;
  for (let i = 0; i < bulk1; i += 100) store.transact((tx) => { for (let k = 0; k < 100; k++) tx.emit('observation', randomUUID(), obs(120, 'N')); });
  const critical = store.write('observation', randomUUID(), obs(230, 'HH'));
  const lab: RecordPayload<'lab_result'> = { resultId: randomUUID(), residentId: 'r1', specimenId: 'S1', testCode: 'K', testName: '钾', value: '7.1', unit: 'mmol/L', flag: 'HH', status: 'final', resultedAt: new Date().toISOString() };
  const criticalLab = store.write('lab_result', lab.resultId, lab);
  const explicit = store.transact((tx) => tx.emit('observation', randomUUID(), obs(150, 'N'), { priority: true }));
  for (let i = 0; i < bulk2; i += 100) store.transact((tx) => { for (let k = 0; k < 100; k++) tx.emit('observation', randomUUID(), obs(121, 'N')); });
  const acknowledged = store.stats().lastSeq;
  t.same([critical, criticalLab, explicit, acknowledged], [bulk1 + 1, bulk1 + 2, bulk1 + 3, bulk1 + bulk2 + 3], 'seqs stay contiguous: priority does not change the sequence');
  store.close();

  const edge = await edgeInProcess(ns.url, clinicId, `${tmp.dir}/edge`);
  t.teardown(() => edge.stop());
  await waitFor('backlog published', () => edge.relay.counters.published >= acknowledged, 60_000);
  t.equal(edge.relay.mode, 'worker', 'the relay publishes from its worker thread');

  // The broker's stream order is the publish order: the three priority rows come first.
  const nc = await connect({ servers: ns.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  const firstThree: string[] = [];
  for (let s = 1; s <= 3; s++) firstThree.push((await jsm.streams.getMessage(STREAMS.records, { seq: s }))!.header.get('Nats-Msg-Id'));
  t.same(firstThree, [`${clinicId}:${critical}`, `${clinicId}:${criticalLab}`, `${clinicId}:${explicit}`], 'critical observation, critical lab result and an explicit priority row are the first three messages in the stream');
  t.ok(edge.relay.counters.publishedAhead >= 3, `publishedAhead=${edge.relay.counters.publishedAhead}`);

  // Central returns: it receives the critical rows first, holds them above the gap, applies in order.
  central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.teardown(() => central.stop());
  await waitFor('central caught up', async () => (await central.wh.watermark(clinicId)).appliedSeq === acknowledged, 90_000);
  const r = await setCheck(central.wh, clinicId, acknowledged);
  t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `acknowledged=${acknowledged} present=${r.present}, none lost or twice, applied in seq order`);
  await waitFor('receipt trims the outbox', () => edge.store.stats().outboxDepth === 0, 30_000);
});
