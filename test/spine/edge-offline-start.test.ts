/**
 * A clinic's appliance restarted while the district network is down (a power cut during an
 * outage) must open at once and work offline: web UI, writes, health. When the hub answers, the
 * outbox drains exactly once, heartbeats and receipts flow and the dictionaries arrive.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

t.test('an edge started while the hub is unreachable works offline, then catches up once', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-offstart');
  t.teardown(tmp.cleanup);
  const id = clinicName('offstart');
  // First life: connected, some records replicated (the hub's port is then known and kept).
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  let edge = await edgeInProcess(ns.url, id, `${tmp.dir}/edge`);
  t.ok(edge.nats.current(), 'with the hub up, the agent is connected when its start returns (one attempt is awaited)');
  const first = writeActivity(edge, 200, 31);
  await waitFor('first records applied', async () => (await central.wh.watermark(id)).appliedSeq === first, 20_000);
  await edge.stop();
  await central.stop();

  // Outage, and the appliance restarts during it.
  await ns.stop();
  const t0 = Date.now();
  edge = await edgeInProcess(ns.url, id, `${tmp.dir}/edge`);
  t.teardown(() => edge.stop());
  t.pass(`edge agent started without the hub in ${Date.now() - t0} ms`);
  const health = await fetch(`${edge.http.url}/healthz`);
  const body = await health.json() as { status: string; checks: { nats: { ok: boolean; detail: string } } };
  t.equal(health.status, 200, '/healthz answers 200: working offline is not unhealthy');
  t.match(body.checks.nats.detail, /hub not reached since start.*working offline/, `the reason is named: ${body.checks.nats.detail}`);
  t.equal((await fetch(`${edge.http.url}/login`)).status, 200, 'the clinic web UI is up');
  const acked = writeActivity(edge, first + 800, 32); // writes up to this seq
  t.equal(acked, first + 800, 'writes accepted offline');
  await sleep(1500);
  t.equal(edge.store.stats().outboxDepth, 800, 'they wait in the outbox');
  t.equal(edge.nats.current(), null, 'no connection yet');

  // The network returns.
  await ns.restart();
  const central2 = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.teardown(() => central2.stop());
  await waitFor('outbox drained to central', async () => (await central2.wh.watermark(id)).appliedSeq === acked, 60_000);
  const r = await setCheck(central2.wh, id, acked);
  t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `acknowledged=${acked} present=${r.present}: none lost, none twice, in order`);
  await waitFor('receipt back at the edge', () => edge.store.stats().outboxDepth === 0, 30_000);
  t.pass('the receipt trimmed the outbox');
  await waitFor('heartbeat seen by central', async () => (await central2.wh.fleet()).some((f) => f.clinicId === id && f.edgeLastSeq === acked), 20_000);
  t.pass('central sees the clinic in its fleet view');
  await waitFor('dictionaries applied', () => Object.keys(edge.store.dictionaryVersions()).length === 5, 30_000);
  t.pass('the dictionary follower started with the connection');
  const after = await (await fetch(`${edge.http.url}/healthz`)).json() as { checks: { nats: { detail: string } } };
  t.match(after.checks.nats.detail, /connected to the hub/, 'healthz says connected');
});

t.test('an edge stopped before the hub was ever reached stops cleanly', async (t) => {
  const tmp = tempDir('spine-offstop');
  t.teardown(tmp.cleanup);
  // Nothing listens on port 1.
  const edge = await edgeInProcess('nats://127.0.0.1:1', clinicName('offstop'), `${tmp.dir}/edge`);
  writeActivity(edge, 10, 33);
  const t0 = Date.now();
  await edge.stop();
  t.pass(`stopped in ${Date.now() - t0} ms with the connection still being retried`);
  await t.rejects(edge.nats.ready, /closed before the hub was reached/, 'the pending connection ended with the agent');
});
