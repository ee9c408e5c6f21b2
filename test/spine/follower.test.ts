/**
 * StreamFollower (edge-agent/sync/follower.ts) against a real nats-server: resume after an edge
 * restart and after kill -9, broker restarts (graceful and kill -9) mid-stream, a wiped broker
 * store, poison messages (park and block), and exactly-once apply throughout.
 */
import t, { type Test } from 'tap';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager } from '@nats-io/jetstream';
import { Registry } from 'prom-client';
import { migrate, openDb, type Db } from '../../contracts/runtime/index.ts';
import { edgeMigrations } from '../../edge-agent/store/migrations.ts';
import { PermanentApplyError, StreamFollower, registerFollowerMetrics, type FollowerOptions } from '../../edge-agent/sync/follower.ts';
import { startNatsServer, type NatsServerHandle } from '../helpers/nats-server.ts';
import { quietLog, spawnProcess, tempDir } from '../helpers/spine.ts';
import { retry, waitFor } from '../helpers/wait.ts';

const STREAM = 'FT';

function edgeDb(file: string): Db {
  const db = openDb(file);
  migrate(db, edgeMigrations);
  db.exec('CREATE TABLE IF NOT EXISTS applied (id INTEGER PRIMARY KEY AUTOINCREMENT, seq INTEGER NOT NULL, k TEXT NOT NULL)');
  return db;
}

const natsClient = (url: string) => connect({ servers: url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });

/**
 * One nats-server, a publishing client and a temp dir per test. Cleanups run in reverse order
 * of `later`, clients closed before the server is killed (a client flushing into a socket the
 * server closed throws outside the test).
 */
async function setup(t: Test, prefix: string): Promise<{ ns: NatsServerHandle; tmp: { dir: string }; pub: NatsConnection; later: (fn: () => unknown) => void }> {
  const ns = await startNatsServer();
  const tmp = tempDir(prefix);
  const cleanups: (() => unknown)[] = [async () => { await ns[Symbol.asyncDispose](); tmp.cleanup(); }];
  const later = (fn: () => unknown) => { cleanups.push(fn); };
  t.teardown(async () => { for (const fn of cleanups.reverse()) await fn(); });
  const pub = await natsClient(ns.url);
  later(() => pub.close());
  return { ns, tmp, pub, later };
}

async function addStream(nc: NatsConnection): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await retry(() => jsm.streams.add({ name: STREAM, subjects: ['ft.>'] }));
}

/** Publishes k-from..k-(to-1), each until the broker acknowledges it (the msg id de-duplicates retries). */
async function publish(nc: NatsConnection, from: number, to: number, subject = 'ft.a'): Promise<void> {
  const js = jetstream(nc);
  for (let i = from; i < to; i++) {
    await retry(() => js.publish(subject, `k-${i}`, { msgID: `k-${i}`, timeout: 2_000 }), 60_000, 100);
  }
}

/** Keys applied, in apply order; the check: every key 0..n-1 once, in order. */
function appliedKeys(db: Db): string[] {
  return db.prepare<[], { k: string }>('SELECT k FROM applied ORDER BY id').all().map((r) => r.k);
}
const expected = (n: number, from = 0) => Array.from({ length: n - from }, (_, i) => `k-${i + from}`);

function follower(db: Db, nc: NatsConnection, opts: Partial<FollowerOptions<string>> = {}): StreamFollower<string> {
  const insert = db.prepare<[number, string]>('INSERT INTO applied (seq, k) VALUES (?, ?)');
  return new StreamFollower<string>(db, nc, {
    name: 'test', stream: STREAM, onFailure: 'park', maxAttempts: 3, retryDelayMs: 20, maxRetryDelayMs: 200, batch: 16,
    decode: (data) => Buffer.from(data).toString('utf8'),
    apply: (k, { seq }) => { insert.run(seq, k); },
    ...opts,
  }, quietLog());
}

t.test('resume after an edge restart: every message applied once, the consumer starts after the stored position', async (t) => {
  const { ns, tmp, pub, later } = await setup(t, 'follower-resume');
  await addStream(pub);
  await publish(pub, 0, 100);

  let db = edgeDb(`${tmp.dir}/edge.db`);
  let nc = await natsClient(ns.url);
  let f = follower(db, nc);
  f.start();
  await waitFor('first 100 applied', () => f.position() === 100, 30_000);
  await f.stop();
  await nc.close();
  db.close();

  await publish(pub, 100, 250); // while the edge is down
  db = edgeDb(`${tmp.dir}/edge.db`);
  nc = await natsClient(ns.url);
  f = follower(db, nc);
  f.start();
  later(async () => { await f.stop(); await nc.close(); db.close(); });
  await waitFor('all 250 applied', () => f.position() === 250, 30_000);
  t.same(appliedKeys(db), expected(250), 'each message applied exactly once, in stream order');
  t.equal(f.counters.applied, 150, 'the second run applied only what came after its position');
  t.equal(f.counters.duplicates, 0, 'nothing before the position was delivered again');
  t.equal(f.openDeadLetters(), 0);
});

t.test('edge killed (kill -9) mid-stream: the position commits with the apply, so nothing is lost or applied twice', async (t) => {
  const { ns, tmp, pub, later } = await setup(t, 'follower-kill');
  await addStream(pub);
  await publish(pub, 0, 1500);
  const env = { FOLLOWER_DB: `${tmp.dir}/edge.db`, FOLLOWER_NATS: ns.url, FOLLOWER_STREAM: STREAM };
  const count = () => { const db = openDb(env.FOLLOWER_DB); try { return (db.prepare('SELECT count(*) AS n FROM applied').get() as { n: number }).n; } catch { return 0; } finally { db.close(); } };
  let child = await spawnProcess('test/helpers/follower-child.ts', env);
  later(() => child.kill());
  await waitFor('some applied', () => count() >= 200, 60_000, 20);
  await child.kill('SIGKILL');
  const atKill = count();
  t.ok(atKill < 1500, `killed mid-stream after ${atKill} of 1500`);
  child = await spawnProcess('test/helpers/follower-child.ts', env);
  await waitFor('all applied after the restart', () => count() >= 1500, 60_000);
  await child.kill('SIGTERM');
  const db = openDb(env.FOLLOWER_DB);
  t.same(appliedKeys(db), expected(1500), 'every message once, in order, across the kill');
  t.equal((db.prepare("SELECT stream_seq FROM sync_position WHERE follower = 'child'").get() as { stream_seq: number }).stream_seq, 1500);
  db.close();
});

t.test('broker restarted (graceful and kill -9) while messages are published and applied', async (t) => {
  const { ns, tmp, pub, later } = await setup(t, 'follower-broker');
  await addStream(pub);
  const db = edgeDb(`${tmp.dir}/edge.db`);
  const nc = await natsClient(ns.url);
  const f = follower(db, nc);
  f.start();
  later(async () => { await f.stop(); await nc.close(); db.close(); });

  const publishing = publish(pub, 0, 600);
  await waitFor('some applied', () => f.position() >= 100, 60_000);
  await ns.restart(); // SIGTERM: the file store is flushed
  await waitFor('more applied after the graceful restart', () => f.position() >= 300, 60_000);
  const consumersBefore = f.counters.consumers;
  await publishing;
  await waitFor('all 600 applied', () => f.position() === 600, 60_000);
  t.ok(consumersBefore >= 2, `the consumer was created again from the stored position (${consumersBefore} consumers)`);

  // kill -9: the broker may lose its unsynced tail; messages published after must still arrive.
  const consumers = f.counters.consumers;
  await ns.kill();
  await ns.restart();
  // The follower re-reads the stream on reconnect (a truncated tail moves its position back) before
  // new messages arrive; see follower.ts for the window this leaves.
  await waitFor('consumer created again after the crash', () => f.counters.consumers > consumers, 60_000);
  await publish(pub, 600, 700);
  await waitFor('the 100 published after the broker crash applied', () => appliedKeys(db).includes('k-699'), 60_000);
  const keys = appliedKeys(db);
  t.equal(new Set(keys).size, keys.length, 'no message applied twice');
  t.same(keys.slice(0, 600), expected(600), 'the first 600 once each, in order');
  t.same(keys.slice(600).filter((k) => Number(k.slice(2)) >= 600), expected(700, 600), 'the ones after the crash, in order');
  t.equal(f.openDeadLetters(), 0);
});

t.test('broker store wiped: the stream is created again and followed from its start', async (t) => {
  const { ns, tmp, pub, later } = await setup(t, 'follower-wipe');
  await addStream(pub);
  await publish(pub, 0, 50);
  const db = edgeDb(`${tmp.dir}/edge.db`);
  const nc = await natsClient(ns.url);
  const f = follower(db, nc);
  f.start();
  later(async () => { await f.stop(); await nc.close(); db.close(); });
  await waitFor('50 applied', () => f.position() === 50, 30_000);

  await ns.kill();
  ns.wipeStore();
  await ns.restart();
  await retry(() => addStream(pub));
  // Central publishes again into the new stream: seqs 1.. again, below the old position.
  await publish(pub, 1000, 1010);
  await waitFor('the new stream followed from its start', () => appliedKeys(db).includes('k-1009'), 60_000);
  t.same(appliedKeys(db).slice(50), expected(1010, 1000), 'all 10 of the new stream, although their seqs are below the old position');
  t.equal(f.counters.streamResets, 1, 'the reset is counted');
  t.equal(f.position(), 10);
});

t.test('poison messages with onFailure park: retried, then parked with the reason; the rest continues; replay', async (t) => {
  const { ns, tmp, pub, later } = await setup(t, 'follower-poison');
  await addStream(pub);
  const db = edgeDb(`${tmp.dir}/edge.db`);
  const nc = await natsClient(ns.url);
  let broken = true;
  let flaky = 2; // k-flaky fails twice, then applies
  const insert = db.prepare<[number, string]>('INSERT INTO applied (seq, k) VALUES (?, ?)');
  const f = follower(db, nc, {
    decode: (data) => { const s = Buffer.from(data).toString('utf8'); if (s === 'garbage') throw new Error('not a message'); return s; },
    apply: (k, { seq }) => {
      insert.run(seq, k); // rolled back when the apply throws below
      if (k === 'k-poison' && broken) throw new Error('UNIQUE constraint failed: something');
      if (k === 'k-flaky' && flaky-- > 0) throw new Error('SQLITE_BUSY: database is locked');
      if (k === 'k-bad') throw new PermanentApplyError('refers to a clinic that does not exist');
    },
  });
  const registry = new Registry();
  registerFollowerMetrics(registry, f);
  f.start();
  later(async () => { await f.stop(); await nc.close(); db.close(); });
  const js = jetstream(pub);
  for (const body of ['k-0', 'k-poison', 'k-1', 'garbage', 'k-flaky', 'k-bad', 'k-2']) await js.publish('ft.a', body);
  await waitFor('all dealt with', () => f.position() === 7, 60_000);

  t.same(appliedKeys(db), ['k-0', 'k-1', 'k-flaky', 'k-2'], 'the good messages applied once each; the failed applies left nothing behind');
  const dl = f.deadLetters();
  t.same(dl.map((d) => [d.streamSeq, d.data.toString(), d.attempts]), [[2, 'k-poison', 3], [4, 'garbage', 1], [6, 'k-bad', 1]], 'parked: the poison after 3 attempts, invalid and permanent ones at once');
  t.match(dl[0]!.reason, /failed after 3 attempt\(s\): UNIQUE constraint failed/);
  t.match(dl[1]!.reason, /permanent .*invalid message: not a message/);
  t.match(dl[2]!.reason, /clinic that does not exist/);
  t.equal(f.counters.retries, 2 + 2, 'two retries of the poison, two of the flaky one');
  t.equal(f.counters.parked, 3);
  const metrics = await registry.metrics();
  t.match(metrics, /edge_sync_dead_letters\{follower="test"\} 3/);
  t.match(metrics, /edge_sync_parked_total\{follower="test"\} 3/);
  t.match(metrics, /edge_sync_position\{follower="test"\} 7/);
  t.ok(f.health().ok, 'parked messages do not make the edge look down (its /healthz is a reachability probe)');
  t.match(f.health().detail, /3 dead letter/, 'but /healthz names them');

  // The cause is fixed: the parked message is applied from the table; the invalid one is discarded.
  broken = false;
  f.replay(dl[0]!.id);
  f.discard(dl[1]!.id, 'not a message from central');
  t.throws(() => f.replay(dl[0]!.id), /already resolved/);
  t.throws(() => f.replay(dl[2]!.id), /clinic that does not exist/, 'a replay that fails leaves the row open');
  t.same(f.deadLetters().map((d) => d.streamSeq), [6]);
  t.same(appliedKeys(db), ['k-0', 'k-1', 'k-flaky', 'k-2', 'k-poison']);
  t.same(f.deadLetters({ open: false }).map((d) => d.resolution), ['replayed', 'discarded: not a message from central', null]);
});

t.test('poison message with onFailure block: later messages wait until it applies or is parked by hand', async (t) => {
  const { ns, tmp, pub, later } = await setup(t, 'follower-block');
  await addStream(pub);
  const db = edgeDb(`${tmp.dir}/edge.db`);
  const nc = await natsClient(ns.url);
  const insert = db.prepare<[number, string]>('INSERT INTO applied (seq, k) VALUES (?, ?)');
  let fixedAfter = Infinity;
  let tries = 0;
  const f = follower(db, nc, {
    onFailure: 'block',
    apply: (k, { seq }) => { if (k.startsWith('k-poison') && ++tries < fixedAfter) throw new Error(`cannot apply ${k}`); insert.run(seq, k); },
  });
  const registry = new Registry();
  registerFollowerMetrics(registry, f);
  f.start();
  later(async () => { await f.stop(); await nc.close(); db.close(); });
  const js = jetstream(pub);
  for (const body of ['k-0', 'k-poison-1', 'k-1']) await js.publish('ft.a', body);
  await waitFor('blocked', () => f.state === 'blocked', 30_000);
  t.same(appliedKeys(db), ['k-0'], 'nothing after the poison is applied');
  t.equal(f.position(), 1);
  t.match(await registry.metrics(), /edge_sync_blocked\{follower="test"\} 1/);
  t.notOk(f.health().ok);
  t.match(f.health().detail, /blocked.*cannot apply k-poison-1/);

  fixedAfter = tries + 2; // the cause goes away: the next retry but one succeeds
  await waitFor('unblocked', () => f.position() === 3, 30_000);
  t.same(appliedKeys(db), ['k-0', 'k-poison-1', 'k-1'], 'applied in order once it could');
  t.equal(f.openDeadLetters(), 0);

  fixedAfter = Infinity;
  await js.publish('ft.a', 'k-poison-2');
  await js.publish('ft.a', 'k-2');
  await waitFor('blocked again', () => f.state === 'blocked', 30_000);
  f.parkBlocked('operator: wrong message, decided to move on');
  await waitFor('moved on', () => f.position() === 5, 30_000);
  t.same(appliedKeys(db), ['k-0', 'k-poison-1', 'k-1', 'k-2']);
  t.match(f.deadLetters()[0]!.reason, /operator: wrong message/);
  t.match(await registry.metrics(), /edge_sync_blocked\{follower="test"\} 0/);
});

t.test('migration 5 carries the positions of the per-module tables over to sync_position', async (t) => {
  const tmp = tempDir('follower-migrate');
  t.teardown(tmp.cleanup);
  const db = openDb(`${tmp.dir}/old.db`);
  t.teardown(() => db.close());
  const { empiEdgeMigrations } = await import('../../edge-agent/sync/empi.ts');
  const { transferMigrations } = await import('../../edge-agent/care/transfer.ts');
  // A database from before the shared follower: migrations up to 4, the EMPI and transfer tables.
  migrate(db, [...edgeMigrations.filter((m) => m.version < 5), ...empiEdgeMigrations, ...transferMigrations]);
  db.exec('INSERT INTO empi_sync (id, stream_seq) VALUES (1, 42); INSERT INTO care_transfer_sync (id, stream_seq) VALUES (1, 7);');
  migrate(db, [...edgeMigrations, ...empiEdgeMigrations, ...transferMigrations]);
  t.same(db.prepare('SELECT follower, stream, stream_seq, stream_created FROM sync_position ORDER BY follower').all(), [
    { follower: 'care-transfers', stream: 'CARE_TRANSFERS', stream_seq: 7, stream_created: null },
    { follower: 'empi', stream: 'EMPI', stream_seq: 42, stream_created: null },
  ]);
});

t.test('stop() does not wait for a JetStream request the broker does not answer', async (t) => {
  const { ns, tmp, pub, later } = await setup(t, 'follower-stop');
  await addStream(pub);
  const db = edgeDb(`${tmp.dir}/edge.db`);
  const nc = await natsClient(ns.url);
  later(async () => { await nc.close(); db.close(); });
  // A frozen broker (SIGSTOP): the connection stays open, requests go unanswered until the
  // client's request timeout (5 s for JetStream API calls), as with a broker that hangs.
  process.kill(ns.pid()!, 'SIGSTOP');
  later(() => process.kill(ns.pid()!, 'SIGCONT'));
  const f = follower(db, nc);
  f.start();
  await new Promise((r) => setTimeout(r, 200)); // the follower is now waiting for its stream info
  t.equal(f.state, 'connecting', 'waiting for the broker');
  const t0 = Date.now();
  await f.stop();
  const ms = Date.now() - t0;
  process.kill(ns.pid()!, 'SIGCONT');
  // Before, stop() waited for the unanswered request to time out (5 s): a shutdown or restart of
  // the edge agent hung that long whenever the broker was slow or restarting.
  t.ok(ms < 5_000, `stop() returned in ${ms} ms, without waiting for the request timeout`);
  t.equal(f.state, 'stopped');
});

t.test('a follower applying a backlog gives the event loop turns (device writes and requests run between its applies)', async (t) => {
  const { ns, tmp, pub, later } = await setup(t, 'follower-turns');
  await addStream(pub);
  await publish(pub, 0, 60);
  const db = edgeDb(`${tmp.dir}/edge.db`);
  const nc = await natsClient(ns.url);
  const insert = db.prepare<[number, string]>('INSERT INTO applied (seq, k) VALUES (?, ?)');
  // Each apply takes 6 ms of this thread (a slow one, as EMPI changes with an fsync each are on a
  // busy edge). Before the first apply an immediate is scheduled: the loop must run it soon, not
  // after the whole buffered batch.
  let turned = false;
  const turnedAt: number[] = [];
  const f = follower(db, nc, {
    batch: 64,
    apply: (k, { seq }) => {
      if (seq === 1) setImmediate(() => { turned = true; });
      else if (turned && turnedAt.length === 0) turnedAt.push(seq);
      const until = performance.now() + 6;
      while (performance.now() < until) { /* busy */ }
      insert.run(seq, k);
    },
  });
  f.start();
  later(async () => { await f.stop(); await nc.close(); db.close(); });
  await waitFor('all 60 applied', () => f.position() === 60, 30_000);
  t.same(appliedKeys(db), expected(60), 'every message applied once, in order');
  t.ok(turnedAt.length === 1 && turnedAt[0]! <= 3, `the event loop ran an immediate before apply #${turnedAt[0]} (of 60)`);
});
