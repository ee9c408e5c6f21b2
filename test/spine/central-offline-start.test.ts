/**
 * Central restarted while the hub is down (a broker upgrade, a failed hub host) must still serve
 * the district from its warehouse: the API, FHIR and the portal. Ingest, receipts and dictionary
 * distribution start when the hub answers; a dictionary version published meanwhile is kept and
 * reaches the edges then, and everything the clinics wrote meanwhile arrives exactly once.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { setCheck } from '../helpers/set-check.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

const TOKEN = 'test-token-0123456789';
const auth = { authorization: `Bearer ${TOKEN}` };
type Health = { status: string; checks: Record<string, { ok: boolean; detail?: string }> };

t.test('central started while the hub is down serves its API, FHIR and portal, then catches up once', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-central-offstart');
  t.teardown(tmp.cleanup);
  const id = clinicName('coff');
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.ok(central.link.current(), 'with the hub up, central is connected when its start returns');
  const edge = await edgeInProcess(ns.url, id, `${tmp.dir}/edge`);
  t.teardown(() => edge.stop());
  const first = writeActivity(edge, 300, 41);
  await waitFor('first records applied', async () => (await central.wh.watermark(id)).appliedSeq === first, 20_000);
  await waitFor('starter dictionaries at the edge', () => edge.store.dictionaryVersion('icd10') === 1, 20_000);
  const items = edge.store.dictionaryItems('icd10').map((i) => ({ code: i.code, name: i.name, attrs: i.attrs as Record<string, string>, active: i.active }));
  await central.stop();

  // The hub goes down and central restarts during the outage.
  await ns.stop();
  const t0 = Date.now();
  const c2 = await centralInProcess(ns.url, `${tmp.dir}/central`);
  t.teardown(() => c2.stop());
  t.pass(`central started without the hub in ${Date.now() - t0} ms`);
  t.equal(c2.link.current(), null, 'no connection yet');

  const h = await fetch(`${c2.http.url}/healthz`);
  const hb = await h.json() as Health;
  t.equal(h.status, 200, '/healthz answers 200: central serves (the network monitor probes reachability)');
  t.match(hb.checks.nats!.detail, /hub not reached since start.*no ingest from the clinics/, `and says why nothing comes in: ${hb.checks.nats!.detail}`);
  t.equal(hb.checks.warehouse!.ok, true, 'the warehouse is fine');

  // The district keeps reading what the warehouse holds.
  const fleet = await fetch(`${c2.http.url}/api/fleet`, { headers: auth });
  t.equal(fleet.status, 200, 'fleet API answers');
  t.ok((await fleet.json() as { clinicId: string }[]).some((f) => f.clinicId === id), 'with the clinic in it');
  const patients = await fetch(`${c2.http.url}/fhir/Patient?_count=5`, { headers: auth });
  t.equal(patients.status, 200, 'FHIR Patient search answers');
  const bundle = await patients.json() as { resourceType: string; entry?: unknown[] };
  t.equal(bundle.resourceType, 'Bundle');
  t.ok((bundle.entry ?? []).length > 0, `with the residents replicated before the outage (${(bundle.entry ?? []).length} on the first page)`);
  t.equal((await fetch(`${c2.http.url}/portal/login`)).status, 200, 'the portal sign-in page is up');
  t.equal((await fetch(`${c2.http.url}/openapi.json`)).status, 200, 'OpenAPI served');

  // A dictionary version published during the outage is saved and said to be pending, not lost.
  const put = await fetch(`${c2.http.url}/api/dictionaries/icd10`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ items: [...items, { code: 'E66.900', name: '肥胖症', attrs: { edition: '国家临床版2.0' }, active: true }] }) });
  const pb = await put.json() as { version: number; distributed: boolean; detail?: string };
  t.equal(put.status, 202, 'accepted: saved, distribution pending');
  t.same([pb.version, pb.distributed], [2, false], 'version 2, not distributed yet');
  t.match(pb.detail, /hub has not been reached/, `with the reason: ${pb.detail}`);
  const latest = await (await fetch(`${c2.http.url}/api/dictionaries/icd10`, { headers: auth })).json() as { version: number };
  t.equal(latest.version, 2, 'the warehouse holds version 2');
  const h2 = await (await fetch(`${c2.http.url}/healthz`)).json() as Health;
  t.match(h2.checks.dictionaries!.detail, /not distributed yet: icd10/, 'healthz names the pending dictionary');
  const m1 = await (await fetch(`${c2.http.url}/metrics`)).text();
  t.match(m1, /^central_hub_connected 0$/m, 'metrics: not connected (CentralHubDisconnected alerts on it)');
  t.match(m1, /^central_dictionaries_pending 1$/m, 'metrics: one dictionary pending');

  // The clinic keeps working meanwhile.
  const acked = writeActivity(edge, first + 600, 42);
  await sleep(1000);
  t.equal((await c2.wh.watermark(id)).appliedSeq, first, 'nothing new applied while the hub is down');

  await ns.restart();
  await waitFor('outbox drained to central', async () => (await c2.wh.watermark(id)).appliedSeq === acked, 60_000);
  const r = await setCheck(c2.wh, id, acked);
  t.same([r.lost, r.duplicated, r.unexpected, r.inOrder], [0, 0, 0, true], `acknowledged=${acked} present=${r.present}: none lost, none twice, in order`);
  await waitFor('receipt back at the edge', () => edge.store.stats().outboxDepth === 0, 30_000);
  t.pass('receipts flow: the outbox is trimmed');
  await waitFor('version 2 reaches the edge', () => edge.store.dictionaryVersion('icd10') === 2, 30_000);
  t.ok(edge.store.dictionaryItems('icd10').some((i) => i.code === 'E66.900'), 'with the code added during the outage');
  await waitFor('nothing pending', () => c2.dictionaries.pendingNames().length === 0, 20_000);
  const h3 = await (await fetch(`${c2.http.url}/healthz`)).json() as Health;
  t.match(h3.checks.nats!.detail, /connected to the hub/);
  t.match(h3.checks.dictionaries!.detail, /every latest version is in the stream/, 'nothing pending');
  const audit = c2.wh.db.prepare("SELECT outcome FROM audit_log WHERE action = 'dictionary.publish' AND target = 'icd10@2'").all() as { outcome: string }[];
  t.same(audit.map((a) => a.outcome), ['ok (saved; distribution pending)'], 'the publication is audited, with its pending distribution');
  const m2 = await (await fetch(`${c2.http.url}/metrics`)).text();
  t.match(m2, /^central_hub_connected 1$/m, 'metrics: connected');
  t.match(m2, /^central_dictionaries_pending 0$/m, 'metrics: nothing pending');
});

t.test('central started without the hub stops at once', async (t) => {
  const tmp = tempDir('spine-central-offstop');
  t.teardown(tmp.cleanup);
  // A port nothing listens on: every attempt is refused.
  const ns = await startNatsServer();
  const url = ns.url;
  await ns.stop();
  const c = await centralInProcess(url, `${tmp.dir}/central`);
  const t0 = Date.now();
  await c.stop();
  t.pass(`stopped in ${Date.now() - t0} ms`);
  await ns[Symbol.asyncDispose]();
});

t.test('a dictionary published while the broker is down (central connected before) is distributed when it returns', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-dict-brokerdown');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const edge = await edgeInProcess(ns.url, clinicName('dbd'), `${tmp.dir}/edge`);
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  await waitFor('starter dictionaries at the edge', () => edge.store.dictionaryVersion('drugs') === 1, 20_000);
  const items = edge.store.dictionaryItems('drugs').map((i) => ({ code: i.code, name: i.name, attrs: i.attrs as Record<string, string>, active: i.active }));
  await ns.stop();
  await waitFor('central sees the connection lost', () => !central.link.status().connected, 10_000);
  t.match(central.link.status().detail, /connection to the hub lost \d+ s ago, reconnecting; no ingest from the clinics/, 'status: lost, reconnecting');
  const put = await fetch(`${central.http.url}/api/dictionaries/drugs`, { method: 'PUT', headers: { ...auth, 'content-type': 'application/json' }, body: JSON.stringify({ items: items.slice(1) }) });
  const pb = await put.json() as { version: number; distributed: boolean; detail?: string };
  // Before: 500 after the version had been saved, no audit entry, and the edges got it only with a later version.
  t.equal(put.status, 202, `accepted with the broker down (${pb.detail})`);
  t.same([pb.version, pb.distributed], [2, false]);
  await ns.restart();
  await waitFor('version 2 reaches the edge after the broker returns', () => edge.store.dictionaryVersion('drugs') === 2, 40_000);
  t.equal(edge.store.dictionaryItems('drugs').length, items.length - 1, 'with its content');
  t.same(central.dictionaries.pendingNames(), [], 'nothing pending at central');
});
