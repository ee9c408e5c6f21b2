import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

t.test('records from two edges arrive at central exactly once, in per-clinic order', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-eo');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const a = await edgeInProcess(ns.url, clinicName('a'), `${tmp.dir}/a`);
  const b = await edgeInProcess(ns.url, clinicName('b'), `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); await central.stop(); });

  const ackA = writeActivity(a, 3000, 1);
  const ackB = writeActivity(b, 2000, 2);
  await waitFor('both watermarks', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === ackA && (await central.wh.watermark(b.config.clinicId)).appliedSeq === ackB, 60_000);
  for (const [edge, ack] of [[a, ackA], [b, ackB]] as const) {
    const r = await setCheck(central.wh, edge.config.clinicId, ack);
    t.equal(r.lost, 0, `${edge.config.clinicId}: nothing lost`);
    t.equal(r.duplicated, 0, 'nothing applied twice');
    t.equal(r.unexpected, 0, 'nothing unexpected');
    t.ok(r.inOrder, 'applied in seq order');
    await waitFor('outbox trimmed by receipts', () => edge.store.stats().outboxDepth === 0, 10_000);
  }
  t.equal(await central.wh.countRecords(), ackA + ackB, 'warehouse holds exactly the records written');

  // Fleet status reflects both clinics after a heartbeat.
  await waitFor('fleet heartbeats', async () => (await central.wh.fleet()).filter((f) => f.lastHeartbeatAt && f.edgeLastSeq > 0).length === 2, 10_000);
  const res = await fetch(`${central.http.url}/api/fleet`, { headers: { authorization: 'Bearer test-token-0123456789' } });
  const fleet = (await res.json()) as { clinicId: string; appliedSeq: number; outboxDepth: number; lagSeconds: number }[];
  t.same(fleet.map((f) => f.appliedSeq).sort((x, y) => x - y), [ackB, ackA].sort((x, y) => x - y), 'fleet API shows the watermarks');
  const unauth = await fetch(`${central.http.url}/api/fleet`);
  t.equal(unauth.status, 401, 'fleet API needs the token');
  const metrics = await (await fetch(`${central.http.url}/metrics`)).text();
  t.match(metrics, /central_http_requests_total\{method="GET",route="\/api\/fleet",status="200"\} 1/, 'HTTP requests counted by matched route');
  t.match(metrics, /central_http_requests_total\{method="GET",route="\/api\/\*",status="401"\} 1/, 'refused requests counted too');
  t.match(metrics, new RegExp(`central_clinic_applied_seq\\{clinic="${a.config.clinicId}"\\} ${ackA}`), 'watermark exported as a metric');
  const edgeMetrics = await (await fetch(`${a.http.url}/metrics`)).text();
  t.match(edgeMetrics, /edge_outbox_depth\{clinic="[^"]+"\} 0/, 'edge exports its outbox depth');
});
