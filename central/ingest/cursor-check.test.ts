/**
 * checkCursor / restoreReplayable against a real nats-server stream: same numbering (with and
 * without expired messages), a renumbered stream, no cursor.
 */
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { startNatsServer } from '../../test/helpers/nats-server.ts';
import { STREAMS, subjects } from '../../contracts/index.ts';
import { ensureStreams } from './streams.ts';
import { checkCursor, restoreReplayable } from './cursor-check.ts';

t.test('a backup point is replayable while the stream holds every message after its cursor', async (t) => {
  await using ns = await startNatsServer();
  const nc = await connect({ servers: ns.url });
  t.teardown(() => nc.close());
  const jsm = await jetstreamManager(nc);
  await ensureStreams(jsm);
  const js = jetstream(nc);
  for (let i = 1; i <= 10; i++) await js.publish(subjects.record('cc-a', 'observation'), `{"n":${i}}`, { msgID: `cc-a:${i}` });
  const at = async (seq: number) => (await jsm.streams.getMessage(STREAMS.records, { seq }))!.time.toISOString();
  const cursor = { stream: STREAMS.records, seq: 4, storedAt: await at(4) };

  t.same(await checkCursor(jsm, await jsm.streams.info(STREAMS.records), cursor), { kind: 'same', from: 5, lost: 0 });
  const ok = await restoreReplayable(jsm, cursor);
  t.ok(ok.ok, ok.detail);
  t.match(ok.detail, /replays 6 messages and loses nothing/);

  t.notOk((await restoreReplayable(jsm, null)).ok, 'a point without a cursor is not known to be replayable');

  // A cursor naming another message at its seq: the stream was recreated since.
  const other = { ...cursor, storedAt: new Date(Date.parse(cursor.storedAt) - 60_000).toISOString() };
  const ren = await checkCursor(jsm, await jsm.streams.info(STREAMS.records), other);
  t.equal(ren.kind, 'renumbered');
  t.ok(ren.kind === 'renumbered' && ren.fromTime < other.storedAt, 'replayed from a little before the cursor time');
  const renOk = await restoreReplayable(jsm, other);
  t.notOk(renOk.ok, `the recreated stream starts after the cursor time: ${renOk.detail}`);

  // The oldest messages expire (max_age): what the point lacks is gone.
  await jsm.streams.purge(STREAMS.records, { seq: 8 });
  t.same(await checkCursor(jsm, await jsm.streams.info(STREAMS.records), cursor), { kind: 'same', from: 8, lost: 3 });
  const gone = await restoreReplayable(jsm, cursor);
  t.notOk(gone.ok);
  t.match(gone.detail, /no longer holds 3 messages after the point's cursor \(seq 4; the stream starts at 8\)/);
});
