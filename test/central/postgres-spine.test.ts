/**
 * The spine's exactly-once check with the warehouse on PostgreSQL (its own database):
 * two edges -> NATS -> central -> PostgreSQL, every acknowledged record applied once, in order.
 */
import t from 'tap';
import { startCentral } from '../../central/app.ts';
import { loadCentralConfig } from '../../central/config.ts';
import type { Resource } from '../../central/fhir/map.ts';
import type { PostgresWarehouse } from '../../central/warehouse/postgres.ts';
import { writeActivity } from '../helpers/activity.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, quietLog, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { validateR4 } from './fhir-validate.ts';
import { createTestDatabase } from './postgres.ts';
import { connect } from '@nats-io/transport-node';
import { jetstream } from '@nats-io/jetstream';

const TOKEN = 'test-token-0123456789';

t.test('records from two edges arrive at central on PostgreSQL exactly once, in per-clinic order', async (t) => {
  await using ns = await startNatsServer();
  // Dropped in the teardown, after central stopped: `await using` would drop it (terminating
  // central's connections) before the teardown below runs.
  const db = await createTestDatabase('wh_spine');
  const tmp = tempDir('spine-pg');
  t.teardown(tmp.cleanup);
  const central = await startCentral<PostgresWarehouse>(loadCentralConfig({ dataDir: `${tmp.dir}/central`, natsUrl: ns.url, apiToken: TOKEN, warehouse: 'postgres', pgUrl: db.url }, {}), quietLog());
  const a = await edgeInProcess(ns.url, clinicName('pa'), `${tmp.dir}/a`);
  const b = await edgeInProcess(ns.url, clinicName('pb'), `${tmp.dir}/b`);
  t.teardown(async () => { await a.stop(); await b.stop(); await central.stop(); await db.drop(); });

  const ackA = writeActivity(a, 3000, 1);
  const ackB = writeActivity(b, 2000, 2);
  await waitFor('both watermarks', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === ackA && (await central.wh.watermark(b.config.clinicId)).appliedSeq === ackB, 60_000);
  for (const [edge, ack] of [[a, ackA], [b, ackB]] as const) {
    const clinicId = edge.config.clinicId;
    const seqs = await central.wh.appliedSeqs(clinicId);
    t.same(seqs.length, ack, `${clinicId}: every acknowledged seq applied`);
    t.ok(seqs.every((s, i) => s === i + 1), 'each seq once, in seq order');
    const rows = (await central.wh.pool.query<{ n: number; d: number }>('SELECT count(*) AS n, count(DISTINCT seq) AS d FROM records WHERE clinic_id = $1', [clinicId])).rows[0]!;
    t.equal(rows.n, rows.d, 'no seq produced two warehouse rows');
    await waitFor('outbox trimmed by receipts', () => edge.store.stats().outboxDepth === 0, 10_000);
  }
  t.equal(await central.wh.countRecords(), ackA + ackB, 'warehouse holds exactly the records written');

  await waitFor('fleet heartbeats', async () => (await central.wh.fleet()).filter((f) => f.lastHeartbeatAt && f.edgeLastSeq > 0).length === 2, 10_000);
  const res = await fetch(`${central.http.url}/api/fleet`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const fleet = (await res.json()) as { appliedSeq: number }[];
  t.same(fleet.map((f) => f.appliedSeq).sort((x, y) => x - y), [ackA, ackB].sort((x, y) => x - y), 'fleet API shows the watermarks');
  const dict = (await central.wh.latestDictionaries()).map((d) => d.name).sort();
  t.same(dict, ['charge_items', 'departments', 'drugs', 'icd10', 'staff'], 'starter dictionaries saved in PostgreSQL');

  t.equal((await fetch(`${central.http.url}/api/dead-letters`)).status, 401, 'API needs the token');
  t.equal((await fetch(`${central.http.url}/api/dead-letters`, { headers: { authorization: `Bearer ${TOKEN}` } })).status, 200);
  await waitFor('audit entries in PostgreSQL', async () => (await central.wh.pool.query('SELECT 1 FROM audit_log')).rowCount === 2, 5_000);
  const audit = (await central.wh.pool.query<{ action: string; outcome: string }>('SELECT action, outcome FROM audit_log ORDER BY id')).rows;
  t.same(audit, [{ action: 'GET /api/dead-letters', outcome: 'denied' }, { action: 'dead-letters.read', outcome: 'ok' }], 'denied and granted reads audited');
  // Bytes with NULs published on a clinic's subject: PostgreSQL text cannot hold U+0000, which the
  // dead letter's detail quotes; it is stored all the same and the clinic's next records still arrive.
  const forger = await connect({ servers: ns.url, name: 'test-forger' });
  await jetstream(forger).publish(`clinic.${a.config.clinicId}.rec.observation`, new Uint8Array([0, 1, 0x7b, 0, 0x22]));
  await forger.close();
  const more = writeActivity(a, 50, 3);
  await waitFor('the records published after it', async () => (await central.wh.watermark(a.config.clinicId)).appliedSeq === more, 30_000);
  // Not in the clinic's sequence (no envelope): the watermark does not wait for it.
  await waitFor('the dead letter', async () => (await central.wh.deadLetters(5)).some((l) => l.reason === 'not_json'), 15_000).catch(() => undefined);
  const letter = (await central.wh.deadLetters(5)).find((l) => l.reason === 'not_json');
  t.equal(letter?.clinicId, a.config.clinicId, `the message with NULs is dead-lettered under the clinic of its subject (${JSON.stringify(letter?.detail)})`);
  const health = (await (await fetch(`${central.http.url}/healthz`)).json()) as { checks: { warehouse: { ok: boolean } } };
  t.equal(health.checks.warehouse.ok, true, 'healthz checks the PostgreSQL warehouse');

  // The FHIR facade reads the same PostgreSQL warehouse the spine filled.
  const bundle = (await (await fetch(`${central.http.url}/fhir/Encounter?_count=2&_include=Encounter:patient`, { headers: { authorization: `Bearer ${TOKEN}` } })).json()) as Resource;
  validateR4(bundle);
  t.ok((bundle.total as number) > 0, 'encounters from the edges served as FHIR');
  t.ok((bundle.entry as { search: { mode: string } }[]).some((e) => e.search.mode === 'include'), 'with their patients');
});
