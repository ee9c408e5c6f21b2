/**
 * ReceiptMonitor: out-of-order receipts are stale, not an alarm; receipts that stay below what
 * the edge holds for the whole grace period are central having lost records (an alarm, repeated
 * at most once per repeat interval while it lasts).
 */
import t from 'tap';
import fc from 'fast-check';
import { ReceiptMonitor } from './receipt-monitor.ts';

t.test('a receipt overtaken by a newer one is stale; the newer one keeps the lead', async (t) => {
  const m = new ReceiptMonitor(0, 10_000);
  t.equal(m.observe(5_000, 0), 'newer');
  t.equal(m.observe(9_000, 1), 'newer', 'a heartbeat answer ahead of the batch receipts');
  t.equal(m.observe(6_000, 2), 'stale');
  t.equal(m.observe(8_000, 3), 'stale');
  t.equal(m.observe(9_000, 4), 'same', 'caught up');
  t.equal(m.observe(7_000, 20_000), 'stale', 'a new run of lower receipts starts its own grace period');
  t.equal(m.held, 9_000);
  t.equal(m.stale, 3);
});

t.test('lower receipts for the whole grace period: regression, repeated once per repeat interval', async (t) => {
  const m = new ReceiptMonitor(10_000, 10_000, 60_000);
  const verdicts: string[] = [];
  // Central restored to an older point: every heartbeat answer (every 2 s) says 4,000.
  for (let now = 0; now <= 130_000; now += 2_000) verdicts.push(`${now}:${m.observe(4_000, now)}`);
  t.same(verdicts.filter((v) => v.endsWith('regression')), ['10000:regression', '70000:regression', '130000:regression']);
  t.ok(m.regressed(130_000));
  t.equal(m.held, 10_000, 'the held receipt is never lowered (rows below it are trimmed already)');
  t.equal(m.observe(10_001, 131_000), 'newer', 'central caught up (re-sent records)');
  t.notOk(m.regressed(131_000));
});

t.test('generated histories: receipts delivered out of order within the grace period never alarm; a lasting drop always does', async (t) => {
  fc.assert(fc.property(
    fc.array(fc.integer({ min: 1, max: 500 }), { minLength: 1, maxLength: 200 }),
    // < grace - 100 ms: a run of lower receipts then ends before the grace period does
    fc.array(fc.integer({ min: 0, max: 9_899 }), { minLength: 200, maxLength: 200 }),
    fc.integer({ min: 0, max: 10_000 }),
    (steps, delays, start) => {
      // A watermark that only grows, one receipt per 100 ms, each delayed by up to 9.9 s.
      let wm = start;
      const sent = steps.map((s, i) => ({ seq: (wm += s), at: i * 100 + delays[i]! }));
      sent.sort((a, b) => a.at - b.at);
      const m = new ReceiptMonitor(start, 10_000);
      for (const r of sent) if (m.observe(r.seq, r.at) === 'regression') return false;
      return m.held === wm;
    },
  ), { numRuns: 300 });
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 1_000_000 }),
    fc.integer({ min: 0, max: 999_999 }),
    fc.integer({ min: 500, max: 5_000 }),
    (held, below, every) => {
      const m = new ReceiptMonitor(held, 10_000);
      const lower = below % held;
      let alarmed = false;
      for (let now = 0; now <= 10_000 + every; now += every) alarmed ||= m.observe(lower, now) === 'regression';
      return alarmed;
    },
  ), { numRuns: 300 });
});

t.test('central replaying its stream after a restore: lower receipts flagged as catching up never alarm; the grace starts when the flag ends', async (t) => {
  const m = new ReceiptMonitor(10_000, 10_000);
  // A long replay: every heartbeat answer for 60 s is below, flagged.
  for (let now = 0; now <= 60_000; now += 2_000) t.equal(m.observe(2_000 + now / 10, now, true), 'catching-up');
  t.notOk(m.regressed(60_000), 'no alarm during the replay, however long');
  t.equal(m.catchingUp, 31);
  t.equal(m.stale, 0);
  // The replay ended short of what the edge holds (the stream had lost some): the grace period starts now.
  t.equal(m.observe(8_000, 62_000), 'stale');
  t.notOk(m.regressed(70_000));
  t.equal(m.observe(8_000, 72_000), 'regression', 'a lasting drop after the replay is a regression');
});

t.test('generated: a drop flagged as catching up never alarms; unflagged for the grace period it always does', async (t) => {
  fc.assert(fc.property(
    fc.integer({ min: 1, max: 1_000_000 }),
    fc.array(fc.tuple(fc.integer({ min: 0, max: 999_999 }), fc.integer({ min: 1, max: 5_000 })), { minLength: 1, maxLength: 100 }),
    (held, receipts) => {
      const m = new ReceiptMonitor(held, 10_000);
      let now = 0;
      for (const [below, dt] of receipts) {
        now += dt;
        if (m.observe(below % held, now, true) !== 'catching-up') return false;
      }
      let alarmed = false;
      for (let k = 0; k <= 6; k++) alarmed ||= m.observe(0, now + 1 + k * 2_000) === 'regression';
      return !m.regressed(now) && alarmed;
    },
  ), { numRuns: 300 });
});
