import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer } from './helpers/nats-server.ts';
import { retry } from './helpers/wait.ts';

t.test('nats-server helper: start, JetStream publish, restart on same store, wipe', async (t) => {
  await using ns = await startNatsServer();
  const nc = await connect({ servers: ns.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  const jsm = await jetstreamManager(nc);
  await jsm.streams.add({ name: 'T', subjects: ['t.>'] });
  const js = jetstream(nc);
  const ack = await js.publish('t.a', 'hello', { msgID: 'm1' });
  t.equal(ack.seq, 1);
  const dup = await js.publish('t.a', 'hello', { msgID: 'm1' });
  t.ok(dup.duplicate, 'same msgID is de-duplicated');
  await ns.restart();
  const info = await retry(() => jsm.streams.info('T'));
  t.equal(info.state.messages, 1, 'message survives a graceful restart');
  await ns.stop();
  ns.wipeStore();
  await ns.restart();
  const err = await retry(async () => {
    try { await jsm.streams.info('T'); return 'still there'; } catch (e) { if ((e as Error).message.includes('stream not found')) return 'not found'; throw e; }
  });
  t.equal(err, 'not found', 'stream gone after wipe');
  await nc.close();
});
