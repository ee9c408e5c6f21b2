import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { centralUser, clinicUser, hashPassword, renderAuthorization } from '../../provisioning/nats.ts';
import { writeActivity } from '../helpers/activity.ts';

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
