/**
 * The cumulative-ack bookkeeping (ack-floor.ts) against a model of JetStream delivery: first
 * deliveries in stream order, some lost on the way, redeliveries of pending messages at any
 * time, settles in any order, missing messages fetched. Safety: an ack never covers a sequence
 * that is not settled. Liveness: once everything is received and settled, the floor reaches the
 * end and the last delivered message is acknowledged.
 */
import t from 'tap';
import fc from 'fast-check';
import { AckFloor } from './ack-floor.ts';

t.test('floor, copies and missing sequences by hand', async (t) => {
  const f = new AckFloor<string>(10);
  t.equal(f.receive(9), 'below', 'at or below the initial floor: settled already');
  t.equal(f.receive(11), 'new');
  t.equal(f.receive(11), 'copy', 'a redelivered copy of a held message');
  t.equal(f.receive(13), 'new');
  t.same(f.missing(10), [12], '12 was never received');
  t.equal(f.settle([{ seq: 13, msg: 'm13' }]), null, 'nothing to ack: 11 and 12 are not settled');
  t.equal(f.receive(13), 'copy', 'settled above the floor: still a copy, no ack');
  t.equal(f.settle([{ seq: 11, msg: 'm11' }]), 'm11', 'the floor passes 11 only');
  t.equal(f.floor, 11);
  t.equal(f.waiting, 1, '13 waits for 12');
  t.equal(f.receive(12), 'new', '12 fetched');
  t.equal(f.settle([{ seq: 12, msg: null }]), 'm13', 'fetched 12 settles: the ack goes to 13, the highest delivered one');
  t.equal(f.floor, 13);
  t.same(f.missing(10), []);
  t.equal(f.receive(12), 'below', 'the server redelivers 12 after its ack wait: ack it again');
  f.receive(14);
  f.release(14);
  t.same(f.missing(10), [], '14 released but nothing above it: not missing yet');
  f.receive(15);
  t.same(f.missing(10), [14], 'released and a later one seen: missing');
});

type Event =
  | { kind: 'deliver'; lost: boolean }
  | { kind: 'redeliver'; pick: number }
  | { kind: 'settle'; pick: number; count: number }
  | { kind: 'fill' };

const eventArb: fc.Arbitrary<Event> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ kind: fc.constant('deliver' as const), lost: fc.integer({ min: 0, max: 4 }).map((n) => n === 0) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('redeliver' as const), pick: fc.nat() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant('settle' as const), pick: fc.nat(), count: fc.integer({ min: 1, max: 5 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('fill' as const) }) },
);

t.test('model check: no ack covers an unsettled sequence; everything settles in the end', async (t) => {
  let runs = 0;
  fc.assert(fc.property(fc.integer({ min: 0, max: 5 }), fc.array(eventArb, { maxLength: 200 }), (floor0, events) => {
    runs++;
    const f = new AckFloor<number>(floor0);
    let nextDeliver = floor0 + 1;
    const pending = new Set<number>(); // delivered by the server, not covered by an ack yet
    const applying: number[] = []; // received here, not settled
    const settled = new Set<number>();
    for (let s = 1; s <= floor0; s++) settled.add(s);
    let acked = floor0;
    const ack = (m: number | null) => {
      if (m === null) return;
      for (let s = 1; s <= m; s++) if (!settled.has(s)) throw new Error(`ack of ${m} covers unsettled ${s}`);
      acked = Math.max(acked, m);
      for (const p of [...pending]) if (p <= acked) pending.delete(p);
    };
    const fetched = new Set<number>(); // taken from the stream: no message to acknowledge
    const receive = (seq: number) => {
      const r = f.receive(seq);
      if (r === 'new') { applying.push(seq); fetched.delete(seq); }
      if (r === 'below') ack(seq);
    };
    const fill = () => {
      for (const s of f.missing(1000)) {
        if (f.receive(s) === 'new') { applying.push(s); fetched.add(s); }
      }
    };
    const settleSome = (batch: number[]) => {
      for (const s of batch) settled.add(s);
      ack(f.settle(batch.map((seq) => ({ seq, msg: fetched.has(seq) ? null : seq }))));
    };
    for (const e of events) {
      if (e.kind === 'deliver') {
        const seq = nextDeliver++;
        pending.add(seq);
        if (!e.lost) receive(seq);
      } else if (e.kind === 'redeliver' && pending.size > 0) {
        receive([...pending][e.pick % pending.size]!);
      } else if (e.kind === 'settle' && applying.length > 0) {
        settleSome(applying.splice(e.pick % applying.length, e.count));
      } else if (e.kind === 'fill') {
        fill();
      }
    }
    // Drain: fill what is missing, settle everything, until nothing is left.
    for (let guard = 0; guard < 3; guard++) {
      fill();
      settleSome(applying.splice(0));
    }
    const top = nextDeliver - 1;
    // The last delivered messages may all have been lost: the floor reaches the last one seen.
    if (f.floor < top) {
      // Whatever is above the floor was never received: the server redelivers it after its ack wait.
      for (const p of [...pending].sort((a, b) => a - b)) receive(p);
      settleSome(applying.splice(0));
    }
    if (f.floor !== top) throw new Error(`floor ${f.floor}, expected ${top}`);
    if (f.waiting !== 0 || f.inFlight !== 0) throw new Error('bookkeeping left over');
  }), { numRuns: 500 });
  t.equal(runs, 500, 'generated delivery histories checked');
});
