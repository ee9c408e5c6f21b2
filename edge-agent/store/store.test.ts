import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClinicMismatchError, EdgeStore, OUTBOX_DEPTH_SQL, RecordValidationError } from './store.ts';
import { makeResident, prng } from '../sim/generate.ts';

t.test('edge store: outbox rows commit with the domain row, seqs stay contiguous, receipts trim', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-store-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'edge.db');
  const store = new EdgeStore(file, 'c01');
  t.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  t.equal(store.db.pragma('synchronous', { simple: true }), 2, 'synchronous=FULL');
  const r = prng(9);
  const res = makeResident(r);
  t.equal(store.write('resident', res.residentId, res), 1);
  // A failing transaction writes neither the domain row nor the outbox row, and burns no seq.
  t.throws(() => store.transact((tx) => {
    tx.db.prepare("INSERT INTO meta (key, value) VALUES ('probe', 'x')").run();
    tx.emit('resident', 'bad', { ...res, idNumber: '110105194912310021' });
  }), RecordValidationError);
  t.equal(store.getMeta('probe'), null, 'domain write rolled back with the invalid record');
  const r2 = makeResident(r);
  t.equal(store.write('resident', r2.residentId, r2), 2, 'next seq is contiguous');
  t.equal(store.write('resident', res.residentId, { ...res, phone: '13700000000' }), 3);
  const [, , third] = store.outboxAfter(0, 10);
  t.equal(JSON.parse(third!.envelope).version, 2, 'second write of a record is version 2');
  t.ok(store.applyReceipt(2));
  t.same(store.stats(), { lastSeq: 3, receiptSeq: 2, outboxDepth: 1, oldestPendingAt: store.stats().oldestPendingAt });
  t.notOk(store.applyReceipt(1), 'older receipt ignored');
  store.close();
  // Reopen: counters survive; trimming every row never lets a seq be reused.
  const again = new EdgeStore(file, 'c01');
  again.applyReceipt(3);
  const r3 = makeResident(r);
  t.equal(again.write('resident', r3.residentId, r3), 4, 'seq continues after restart and full trim');
  again.close();
  t.throws(() => new EdgeStore(file, 'c02'), ClinicMismatchError, 'a database belongs to one clinic');
});

t.test('group commit: concurrent callers share a commit; a failing caller rolls back only itself and leaves no seq gap', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-gc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new EdgeStore(join(dir, 'edge.db'), 'c01');
  t.teardown(() => store.close());
  const r = prng(4);
  const good = Array.from({ length: 50 }, () => makeResident(r));
  const calls = good.map((res, i) => store.transactAsync((tx) => {
    if (i === 10 || i === 30) tx.emit('resident', 'bad' + i, { ...res, birthDate: '1900-01-01' });
    return tx.emit('resident', res.residentId, res);
  }));
  const settled = await Promise.allSettled(calls);
  t.equal(settled.filter((s) => s.status === 'rejected').length, 2, 'two callers failed');
  const seqs = settled.flatMap((s) => (s.status === 'fulfilled' ? [s.value as number] : []));
  t.same(seqs, Array.from({ length: 48 }, (_, i) => i + 1), 'the others got contiguous seqs 1..48');
  t.equal(store.stats().lastSeq, 48);
  t.equal(store.outboxAfter(0, 100).length, 48, 'no outbox row of a failed caller');
});

t.test('closing with writes queued or being flushed: they are committed and answered, later writes refused, no crash', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-store-close-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'edge.db');
  const r = prng(21);
  const store = new EdgeStore(file, 'c01');
  const write = () => { const res = makeResident(r); return store.transactAsync((tx) => tx.emit('resident', res.residentId, res)); };
  // 300 writes committed (fsync on the thread pool) and 200 still queued when close() comes.
  const flushing = Array.from({ length: 300 }, write);
  await new Promise<void>((resolve) => setImmediate(resolve));
  const queued = Array.from({ length: 200 }, write);
  store.close();
  const seqs = await Promise.all([...flushing, ...queued]);
  t.same(seqs, Array.from({ length: 500 }, (_, i) => i + 1), 'every caller answered with its seq');
  await t.rejects(write(), { name: 'StoreClosedError', message: /store is closed/ }, 'a write after close is refused with a clear error');
  // Whatever timers the closed store had left run without throwing (the agent used to crash here).
  await new Promise((resolve) => setTimeout(resolve, 50));
  const again = new EdgeStore(file, 'c01');
  t.teardown(() => again.close());
  t.equal(again.stats().lastSeq, 500, 'all 500 committed');
  t.equal(again.stats().outboxDepth, 500, 'and queued for central');
});

t.test('outbox depth and oldest entry (read from the seq range) match a count of the rows through writes, receipts and re-seeds', async (t) => {
  const { reseedOutbox } = await import('../sync/reseed.ts');
  const dir = mkdtempSync(join(tmpdir(), 'edge-store-depth-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let run = 0;
  await fc.assert(fc.asyncProperty(
    fc.array(fc.oneof(
      fc.record({ op: fc.constant('write' as const), n: fc.integer({ min: 1, max: 5 }) }),
      fc.record({ op: fc.constant('receipt' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
      fc.record({ op: fc.constant('reseed' as const), frac: fc.double({ min: 0, max: 1, noNaN: true }) }),
    ), { maxLength: 25 }),
    async (ops) => {
      const store = new EdgeStore(join(dir, `depth-${++run}.db`), 'c01');
      try {
        const r = prng(run);
        for (const o of ops) {
          const s = store.stats();
          if (o.op === 'write') for (let i = 0; i < o.n; i++) { const res = makeResident(r); store.write('resident', res.residentId, res); }
          else if (o.op === 'receipt') store.applyReceipt(Math.floor(s.lastSeq * o.frac));
          else if (s.receiptSeq > 0) reseedOutbox(store, Math.floor((s.receiptSeq - 1) * o.frac));
          const counted = store.db.prepare<[], { n: number; oldest: string | null }>('SELECT count(*) AS n, (SELECT created_at FROM outbox ORDER BY seq LIMIT 1) AS oldest FROM outbox').get()!;
          const now = store.stats();
          if (now.outboxDepth !== counted.n || now.oldestPendingAt !== counted.oldest) return false;
        }
        return true;
      } finally {
        store.close();
      }
    },
  ), { numRuns: 40 });
  t.pass('depth = max - min + 1 held in every generated history');
});

t.test('the outbox depth is read by look-ups on the primary key, not a scan of the outbox', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'edge-store-depth-plan-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const store = new EdgeStore(join(dir, 'plan.db'), 'c01');
  t.teardown(() => store.close());
  const plan = store.db.prepare<[], { detail: string }>(`EXPLAIN QUERY PLAN ${OUTBOX_DEPTH_SQL}`).all().map((r) => r.detail);
  // min(seq) and max(seq) each a SEARCH (one b-tree descent); the oldest row read in seq order with LIMIT 1.
  t.equal(plan.filter((d) => /^SEARCH outbox/.test(d)).length, 2, `min and max answered from the primary key: ${plan.join(' | ')}`);
  t.equal(plan.filter((d) => /^SCAN outbox/.test(d)).length, 1, 'one ordered read of the first row only');
  // And the single-statement form this replaced does scan (SQLite's min/max optimisation needs a lone aggregate).
  const old = store.db.prepare<[], { detail: string }>('EXPLAIN QUERY PLAN SELECT min(seq) AS lo, max(seq) AS hi FROM outbox').all().map((r) => r.detail);
  t.ok(old.some((d) => /^SCAN outbox/.test(d)), 'min and max in one select scan the table');
});
