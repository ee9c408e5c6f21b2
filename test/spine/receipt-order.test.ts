/**
 * Receipts never go backwards, so an edge never cries "central lost applied records" while
 * nothing is lost. Central answers every heartbeat with its current durable watermark; the
 * receipts of batches made durable by the same flush leave its settle chain a moment later.
 * Before the fix the heartbeat's answer overtook them and the edge logged the regression alarm
 * (seen in `npm run bench`, 256 writers: receipts 24,057 then 20,387 ... 23,724). Heartbeats
 * every 10 ms while a 20,000-record backlog drains make that overtaking likely. Then central
 * stops and the test publishes what a central restored to an older point would answer: the edge
 * raises the alarm (log, event, edge_relay_central_watermark_regressed) after the 10 s grace.
 */
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { receiptSchema, subjects } from '../../contracts/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

t.test('receipts of one central never go backwards; the edge raises no false regression alarm, and a real one after the grace period', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-receipts');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('rcpt');
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { heartbeatMs: 10 });
  t.teardown(async () => { await edge.stop(); await central.stop(); });

  const watcher = await connect({ servers: ns.url });
  t.teardown(() => watcher.close());
  const seen: number[] = [];
  watcher.subscribe(subjects.receipt(clinic), { callback: (_e, m) => { seen.push(receiptSchema.parse(m.json()).appliedSeq); } });
  await watcher.flush();
  const alarms: unknown[] = [];
  edge.relay.on('watermark-regression', (e) => alarms.push(e));

  const ack = writeActivity(edge, 20_000, 11, 50); // 50 per transaction: the backlog, not 20,000 fsyncs, is the point
  await waitFor('all applied', async () => (await central.wh.watermark(clinic)).appliedSeq === ack, 120_000);
  await waitFor('outbox trimmed', () => edge.store.stats().outboxDepth === 0, 20_000);
  await watcher.flush();

  const backwards = seen.flatMap((s, i) => (i > 0 && s < seen[i - 1]! ? [[seen[i - 1], s]] : []));
  t.comment(`receipts seen ${seen.length}, backwards steps ${backwards.length}, stale receipts dropped at central ${central.ingest.staleReceiptsDropped}, stale at the edge ${edge.relay.staleReceipts}, alarms ${alarms.length}`);
  t.same(backwards.slice(0, 5), [], 'each receipt is at or above the one before');
  t.ok(seen.length >= 10, 'receipts kept coming (batches and heartbeat answers)');
  t.equal(seen.at(-1), ack, 'the last receipt covers everything written');
  t.same(alarms, [], 'no regression alarm at the edge');
  const r = await setCheck(central.wh, clinic, ack);
  t.equal(r.lost + r.duplicated + r.unexpected, 0, `set check: ${JSON.stringify(r)}`);
  const metric = async () => (await (await fetch(`${edge.http.url}/metrics`)).text()).match(/^edge_relay_central_watermark_regressed\{[^}]*\} (\d)$/m)?.[1];
  t.equal(await metric(), '0', 'the edge exports that central has not regressed');

  // What a central restored to an older point looks like: every receipt (batch or heartbeat
  // answer) below what the edge holds. Alarm once the grace period (10 s) has passed, not before.
  const lower = JSON.stringify({ clinicId: clinic, appliedSeq: ack - 500, pendingAbove: 0, at: new Date().toISOString() });
  await central.stop(); // no real answers meanwhile: the test speaks for a restored central
  const started = Date.now();
  while (alarms.length === 0 && Date.now() - started < 20_000) {
    watcher.publish(subjects.receipt(clinic), lower);
    await new Promise((res) => setTimeout(res, 500));
  }
  t.equal(alarms.length, 1, 'the edge raises the alarm');
  t.ok(Date.now() - started >= 10_000, `only after the grace period (${Date.now() - started} ms)`);
  t.equal(await metric(), '1', 'and exports it for the CentralLostAppliedRecords alert');
  watcher.publish(subjects.receipt(clinic), JSON.stringify({ clinicId: clinic, appliedSeq: ack, pendingAbove: 0, at: new Date().toISOString() }));
  await waitFor('regression cleared by a receipt at the held seq', async () => (await metric()) === '0', 5_000);
});
