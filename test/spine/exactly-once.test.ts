import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { makeBloodPressure, makeEncounter, makeResident, prng } from '../../edge-agent/sim/generate.ts';
import type { EdgeAgent } from '../../edge-agent/agent.ts';

/** Write `n` realistic records at an edge; returns the last committed seq. */
export function writeActivity(edge: EdgeAgent, n: number, seed: number): number {
  const r = prng(seed);
  const residents: string[] = [];
  let last = 0;
  while (edge.store.stats().lastSeq < n) {
    if (residents.length < 3 || r() < 0.2) {
      const res = makeResident(r);
      residents.push(res.residentId);
      last = edge.store.write('resident', res.residentId, res);
    } else if (r() < 0.5) {
      const e = makeEncounter(r, residents[Math.floor(r() * residents.length)]!);
      last = edge.store.write('encounter', e.encounterId, e);
    } else {
      const [o] = makeBloodPressure(r, residents[0]!, 'bp-1');
      last = edge.store.write('observation', o!.observationId, o!);
    }
  }
  return last;
}

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
  t.match(metrics, new RegExp(`central_clinic_applied_seq\\{clinic="${a.config.clinicId}"\\} ${ackA}`), 'watermark exported as a metric');
  const edgeMetrics = await (await fetch(`${a.http.url}/metrics`)).text();
  t.match(edgeMetrics, /edge_outbox_depth\{clinic="[^"]+"\} 0/, 'edge exports its outbox depth');
});
