import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { centralUser, clinicUser, hashPassword, renderAuthorization } from '../../provisioning/nats.ts';
import { writeActivity } from '../helpers/activity.ts';
import { STREAMS, subjects } from '../../contracts/index.ts';
import { ensureEmpiStream } from '../../central/empi/index.ts';

t.test('per-clinic NATS users: a clinic replicates with its own user and cannot publish as another', async (t) => {
  const a = clinicName('pa');
  const b = clinicName('pb');
  const auth = renderAuthorization([
    centralUser(hashPassword('central-secret', 4)),
    clinicUser(a, hashPassword('secret-a', 4)),
    clinicUser(b, hashPassword('secret-b', 4)),
  ]);
  await using ns = await startNatsServer({ extraConfig: auth });
  const tmp = tempDir('spine-perm');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`, { natsUser: 'central', natsPassword: 'central-secret' });
  const edgeA = await edgeInProcess(ns.url, a, `${tmp.dir}/a`, { natsUser: `clinic-${a}`, natsPassword: 'secret-a' });
  t.teardown(async () => { await edgeA.stop(); await central.stop(); });
  t.teardown(() => { const v = ns.log().split('\n').filter((l) => /violation/i.test(l)); if (v.length) console.log(v.slice(0, 5).join('\n')); });

  // The edge's own user is enough for the whole spine: publish, receipts, dictionaries.
  const acked = writeActivity(edgeA, 50, 7);
  await waitFor('clinic A applied', async () => (await central.wh.watermark(a)).appliedSeq === acked, 30_000);
  await waitFor('clinic A outbox trimmed by receipt', () => edgeA.store.stats().outboxDepth === 0, 10_000);
  await waitFor('clinic A received dictionaries', () => Object.keys(edgeA.store.dictionaryVersions()).length === 5, 20_000);
  t.pass(`clinic A replicated ${acked} records and received ${Object.keys(edgeA.store.dictionaryVersions()).length} dictionaries with its own user`);

  // Clinic A's credentials try to publish a record on clinic B's subject.
  const rogue = await connect({ servers: ns.url, user: `clinic-${a}`, pass: 'secret-a', inboxPrefix: `_INBOX_${a.replace(/-/g, '_')}` });
  const errors: string[] = [];
  void (async () => { for await (const s of rogue.status()) if (s.type === 'error') errors.push(String((s as { error?: Error }).error?.message ?? s.type)); })();
  rogue.publish(`clinic.${b}.rec.resident`, '{"forged":true}');
  await rogue.flush();
  await waitFor('permissions violation reported', () => errors.some((e) => /permissions violation/i.test(e)), 5_000).catch(() => undefined);
  t.ok(errors.some((e) => /permissions violation/i.test(e)), `server refused: ${errors[0] ?? 'no error seen'}`);
  // Subscribing to another clinic's receipts is refused too.
  rogue.subscribe(`central.receipt.${b}`);
  await rogue.flush().catch(() => undefined);
  await waitFor('subscribe violation reported', () => errors.filter((e) => /permissions violation/i.test(e)).length >= 2, 5_000).catch(() => undefined);
  t.ok(errors.filter((e) => /subscription/i.test(e)).length >= 1, 'cannot read another clinic\'s receipts');
  await rogue.close().catch(() => undefined);

  // Nothing arrived at central for clinic B.
  t.equal((await central.wh.watermark(b)).appliedSeq, 0, 'nothing applied for clinic B');
  t.equal((await central.wh.deadLetters(10)).length, 0, 'the forged message never reached the stream');
});

t.test('per-clinic NATS users: a clinic reads EMPI person changes on its own subject only', async (t) => {
  const a = clinicName('ea');
  const b = clinicName('eb');
  const auth = renderAuthorization([centralUser(hashPassword('central-secret', 4)), clinicUser(a, hashPassword('secret-a', 4))]);
  await using ns = await startNatsServer({ extraConfig: auth });
  const tmp = tempDir('spine-perm-empi');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`, { natsUser: 'central', natsPassword: 'central-secret' });
  t.teardown(() => central.stop());
  const admin = await connect({ servers: ns.url, user: 'central', pass: 'central-secret' });
  t.teardown(() => admin.close());
  const { jetstream } = await import('@nats-io/jetstream');
  // Central creates the stream with its first person change; here directly, with its config.
  await ensureEmpiStream(admin);
  await jetstream(admin).publish(subjects.empi(a), JSON.stringify({ hello: a }));
  await jetstream(admin).publish(subjects.empi(b), JSON.stringify({ hello: b }));

  const nc = await connect({ servers: ns.url, user: `clinic-${a}`, pass: 'secret-a', inboxPrefix: `_INBOX_${a.replace(/-/g, '_')}` });
  t.teardown(() => nc.close());
  const js = jetstream(nc);
  const own = await js.consumers.get(STREAMS.empi, { filter_subjects: subjects.empi(a) });
  const m = await own.next({ expires: 5_000 });
  t.same(m?.json(), { hello: a }, 'its own person change is readable');
  const other = await js.consumers.get(STREAMS.empi, { filter_subjects: subjects.empi(b) }).then(async (c) => c.next({ expires: 2_000 })).then(() => 'read', (e: Error) => e.message);
  t.not(other, 'read', `another clinic's EMPI subject is refused (${other})`);
  const all = await js.consumers.get(STREAMS.empi, {}).then(async (c) => c.next({ expires: 2_000 })).then(() => 'read', (e: Error) => e.message);
  t.not(all, 'read', `an unfiltered EMPI consumer is refused (${all})`);
});
