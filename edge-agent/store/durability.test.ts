import type { KeptDescriptor } from '../../contracts/runtime/kept-fd.ts';
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { EdgeStore } from './store.ts';
import { makeBloodPressure, prng } from '../sim/generate.ts';
import { RelayCore, durableBelow } from '../sync/relay-core.ts';
import { outboxSource } from '../sync/outbox-source.ts';
import type { AckPublisher, PublishDone } from '../sync/publisher.ts';

/** The disk's fsync of the WAL, held until the test lets it finish (a slow disk). */
function holdFsync(store: EdgeStore): { release: (err?: Error) => void; pending: () => number } {
  const waiting: ((err: Error | null) => void)[] = [];
  // Replaces the private thread-pool fsync: the only seam between a commit and its durability.
  (store as unknown as { fsyncWal: (cb: (err: Error | null) => void) => void }).fsyncWal = (cb) => { waiting.push(cb); };
  return { release: (err) => { for (const cb of waiting.splice(0)) cb(err ?? null); }, pending: () => waiting.length };
}

t.test('group commit: callers resolve after the WAL fsync, and the relay publishes nothing that is not durable yet', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-durable-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new EdgeStore(join(dir, 'edge.db'), 'dur-a');
  t.teardown(() => store.close());
  t.equal(store.groupCommitFsync, 'async');
  const r = prng(3);
  // One durable row first (synchronous transaction, fsync inside COMMIT).
  const [o0] = makeBloodPressure(r, 'dur-a-r1', 'bp-1');
  t.equal(store.write('observation', o0!.observationId, o0!), 1);
  t.equal(durableBelow(store.durability), Infinity, 'nothing pending');

  const disk = holdFsync(store);
  const published: number[] = [];
  const publisher = { publish: (_s: string, _d: unknown, id: string, done: PublishDone) => { published.push(Number(id.split(':')[1])); setImmediate(() => done(null, false)); }, inflight: 0, close() {} } as unknown as AckPublisher;
  const core = new RelayCore('dur-a', outboxSource(store.db), publisher, () => false, { warn() {}, error() {} }, { pollMs: 20 }, 0, undefined, () => true, store.durability);
  store.on('written', core.kick);
  core.start();
  t.teardown(() => core.stop());
  await sleep(60);
  t.same(published, [1], 'the durable row is published');

  let resolved = 0;
  const writes = Array.from({ length: 10 }, () => {
    const [o] = makeBloodPressure(r, 'dur-a-r2', 'bp-1');
    return store.transactAsync((tx) => tx.emit('observation', o!.observationId, o!)).then((seq) => { resolved++; return seq; });
  });
  await sleep(120);
  t.equal(disk.pending(), 1, 'one fsync for the group');
  t.equal(store.outboxAfter(0, 100).length, 11, 'the group is committed: its rows are visible to readers');
  t.equal(durableBelow(store.durability), 2, 'readers are held below the first row not yet durable');
  t.equal(resolved, 0, 'no caller is answered before the fsync');
  t.same(published, [1], 'the relay read the rows but published none of them (several polls)');

  disk.release();
  t.same((await Promise.all(writes)).sort((a, b) => a - b), [2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'callers get their seqs once durable');
  t.equal(durableBelow(store.durability), Infinity, 'hold released');
  await sleep(100);
  t.same(published, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 'then the relay publishes them, in order');

  // A failed fsync: the callers get an error naming the file; nothing is published until a later fsync succeeds.
  const [bad] = makeBloodPressure(r, 'dur-a-r3', 'bp-1');
  const failed = store.transactAsync((tx) => tx.emit('observation', bad!.observationId, bad!));
  await sleep(50);
  disk.release(new Error('EIO: i/o error'));
  await t.rejects(failed, /edge\.db: fsync of the write-ahead log failed \(EIO: i\/o error\)/);
  await sleep(80);
  t.equal(published.length, 11, 'the row whose fsync failed is not published');
  const [next] = makeBloodPressure(r, 'dur-a-r3', 'bp-1');
  const ok = store.transactAsync((tx) => tx.emit('observation', next!.observationId, next!));
  await sleep(50);
  disk.release();
  t.equal(await ok, 13);
  await sleep(100);
  t.same(published.slice(11), [12, 13], 'a later successful fsync covers it: both are published');
});

t.test('EDGE_GROUP_COMMIT_FSYNC=inline: the fsync inside COMMIT, as before', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-durable-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  process.env.EDGE_GROUP_COMMIT_FSYNC = 'inline';
  const store = new EdgeStore(join(dir, 'edge.db'), 'dur-b');
  delete process.env.EDGE_GROUP_COMMIT_FSYNC;
  t.teardown(() => store.close());
  t.equal(store.groupCommitFsync, 'inline');
  const r = prng(4);
  const seqs = await Promise.all(Array.from({ length: 5 }, () => { const [o] = makeBloodPressure(r, 'dur-b-r1', 'bp-1'); return store.transactAsync((tx) => tx.emit('observation', o!.observationId, o!)); }));
  t.same(seqs, [1, 2, 3, 4, 5]);
  t.equal(durableBelow(store.durability), Infinity);
  t.equal(store.db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL');
});

t.test('group commits fsync the WAL through one descriptor kept open, checked against the WAL path, closed with the store', async (t) => {
  const { readdirSync, readlinkSync, renameSync, statSync } = await import('node:fs');
  const dir = mkdtempSync(join(tmpdir(), 'edge-durable-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'edge.db');
  const store = new EdgeStore(file, 'dur-c');
  const walFds = () => readdirSync('/proc/self/fd').filter((fd) => { try { return readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${file}-wal`); } catch { return false; } }).length;
  const r = prng(5);
  const commit = () => { const [o] = makeBloodPressure(r, 'dur-c-r1', 'bp-1'); return store.transactAsync((tx) => tx.emit('observation', o!.observationId, o!)); };
  await commit();
  const sqliteOwn = walFds() - 1; // SQLite's own descriptor(s) of the WAL, plus ours
  for (let i = 0; i < 5; i++) await commit();
  t.equal(walFds(), sqliteOwn + 1, 'one kept descriptor, not one per commit');
  // The path names another file now (not something SQLite does while open; the check must notice it).
  const wal = `${file}-wal`;
  const before = statSync(wal).ino;
  renameSync(wal, `${wal}.moved`);
  renameSync(`${wal}.moved`, `${wal}.old`);
  const { copyFileSync } = await import('node:fs');
  copyFileSync(`${wal}.old`, wal);
  t.not(statSync(wal).ino, before);
  // The store's KeptDescriptor (private: reached for this check only).
  const kept = (store as unknown as { walFd: KeptDescriptor }).walFd;
  await commit().catch(() => {}); // SQLite writes to its own (moved) descriptor; we only check which file we fsync
  t.equal(kept.identity()?.ino, statSync(wal).ino, 'the fsync used a descriptor of the file now at the WAL path');
  store.close();
  t.equal(kept.identity(), null);
  await sleep(50);
  t.equal(walFds(), 0, 'closed with the store');
});
