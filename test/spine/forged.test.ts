import t from 'tap';
import fc from 'fast-check';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { HybridLogicalClock, SCHEMA_VERSION } from '../../contracts/index.ts';

t.test('forged and malformed messages are dead-lettered with reasons; the consumer keeps going', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('spine-forged');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const a = await edgeInProcess(ns.url, clinicName('fa'), `${tmp.dir}/a`);
  const victim = clinicName('fv');
  t.teardown(async () => { await a.stop(); await central.stop(); });
  writeActivity(a, 100, 1);

  const nc = await connect({ servers: ns.url });
  t.teardown(() => nc.close());
  const js = jetstream(nc);
  const hlc = new HybridLogicalClock(victim).tick();
  const env = (over: Record<string, unknown>) => JSON.stringify({ recordId: 'r1', type: 'observation', clinicId: victim, seq: 1, version: 1, hlc, schemaVersion: SCHEMA_VERSION, createdAt: new Date().toISOString(),
    payload: { observationId: 'o1', code: '8480-6', display: 'SBP', value: 120, unit: 'mm[Hg]', effectiveAt: new Date().toISOString() }, ...over });
  const cases: [string, string | Uint8Array, string][] = [
    [`clinic.${victim}.rec.observation`, 'not json at all {', 'not_json'],
    [`clinic.${victim}.rec.observation`, JSON.stringify({ hello: 'world' }), 'bad_envelope'],
    [`clinic.${victim}.rec.observation`, env({ clinicId: a.config.clinicId }), 'clinic_mismatch'],
    [`clinic.${victim}.rec.spaceship`, env({ type: 'spaceship', seq: 2 }), 'unknown_type'],
    [`clinic.${victim}.rec.observation`, env({ seq: 3, payload: { observationId: 'o3', value: 'high' } }), 'schema'],
    [`clinic.${victim}.rec.resident`, env({ seq: 4 }), 'type_mismatch'],
    [`clinic.${victim}.rec.observation`, env({ seq: 5, schemaVersion: 99 }), 'unsupported_schema_version'],
    [`clinic.${victim}.rec.observation`, new Uint8Array(300 * 1024).fill(0x7b), 'oversize'],
  ];
  for (const [subject, data] of cases) await js.publish(subject, data);
  // Generated garbage: random bytes and random JSON on random clinics' subjects.
  const garbage = fc.sample(fc.oneof(fc.uint8Array({ maxLength: 512 }), fc.json().map((s) => new TextEncoder().encode(s))), 200);
  for (const g of garbage) await js.publish(`clinic.${victim}.rec.observation`, g);
  const expected = cases.length + garbage.length;
  await waitFor('all dead-lettered', async () => (await central.wh.deadLetters(1000)).length >= expected, 30_000);
  const dead = await central.wh.deadLetters(1000);
  const reasons = new Set(dead.map((d) => d.reason));
  for (const [, , reason] of cases) t.ok(reasons.has(reason as never), `dead-lettered with reason ${reason}`);
  t.equal(dead.length, expected, `${expected} bad messages kept with their reasons, none applied`);
  t.equal(await central.wh.countRecords(victim), 0, 'nothing applied for the forged clinic');
  // The consumer still applies good records afterwards.
  const acked = writeActivity(a, 200, 2);
  await waitFor('good records still flow', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === acked, 30_000);
  t.pass(`consumer kept going: clinic ${a.config.clinicId} at ${acked}`);
  const metrics = await (await fetch(`${central.http.url}/metrics`)).text();
  t.match(metrics, new RegExp(`central_dead_letters_total\\{reason="clinic_mismatch",clinic="${victim}"\\} 1`), 'dead letters counted by reason and by the clinic the subject names');
  t.notMatch(metrics, new RegExp(`central_dead_letters_total\\{[^}]*clinic="${a.config.clinicId}"`), 'never by the clinic a payload claims');
  const api = await fetch(`${central.http.url}/api/dead-letters?limit=5`, { headers: { authorization: 'Bearer test-token-0123456789' } });
  t.equal(((await api.json()) as unknown[]).length, 5, 'dead letters readable through the API');
  const auth = { headers: { authorization: 'Bearer test-token-0123456789' } };
  const schema = (await (await fetch(`${central.http.url}/api/dead-letters?clinic=${victim}&reason=schema`, auth)).json()) as { clinicId: string; reason: string }[];
  t.ok(schema.length >= 1 && schema.every((d) => d.clinicId === victim && d.reason === 'schema'), `filtered by clinic and reason (${schema.length})`);
  t.same(await (await fetch(`${central.http.url}/api/dead-letters?clinic=${a.config.clinicId}`, auth)).json(), [], 'none for the clinic whose own records were good');
  const bad = await fetch(`${central.http.url}/api/dead-letters?reason=spaceship`, auth);
  t.equal(bad.status, 400, 'an unknown reason is refused');
});
