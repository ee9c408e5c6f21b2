/**
 * RelayCore's backoff: a broker outage fails a whole window of publishes at once. That is one
 * failed round (one backoff step), not one step per message; and when the client reconnects the
 * relay publishes again at once instead of sleeping out a backoff that grew while the link was
 * down. The publisher here is a recorder whose acks the test answers (the real AckPublisher
 * against nats-server is covered by the spine tests: broker-down, broker-wipe, edge-kill).
 */
import t from 'tap';
import { RelayCore, type OutboxSourceRow } from './relay-core.ts';
import type { PublishDone } from './publisher.ts';

interface Sent { seq: number; at: number; done: PublishDone }

function harness(rows: number, opts: { minBackoffMs?: number; maxBackoffMs?: number; resendAfterMs?: number } = {}) {
  const outbox: OutboxSourceRow[] = Array.from({ length: rows }, (_, i) => ({ seq: i + 1, type: 'observation', envelope: `{"seq":${i + 1}}` }));
  const sent: Sent[] = [];
  let waiter: (() => void) | null = null;
  let link = true;
  const core = new RelayCore(
    'c-test',
    {
      after: (afterSeq, limit) => outbox.filter((r) => r.seq > afterSeq).slice(0, limit),
      priorityAfter: () => [],
    },
    {
      publish: (_subject: string, _data: string | Uint8Array, id: string, done: PublishDone) => {
        sent.push({ seq: Number(id.split(':')[1]), at: Date.now(), done });
        waiter?.();
      },
    },
    () => false,
    { warn: () => {}, error: () => {} },
    { window: 512, pollMs: 20, resendAfterMs: 600_000, ...opts },
    0,
    () => {},
    () => link,
  );
  /** Resolves once `n` publishes have been handed out in total. */
  const sentCount = async (n: number): Promise<void> => {
    while (sent.length < n) await new Promise<void>((resolve) => { waiter = resolve; });
    waiter = null;
  };
  return { core, sent, sentCount, setLink: (up: boolean) => { link = up; } };
}

t.test('a whole window failing together is one backoff step', async (t) => {
  const h = harness(100, { minBackoffMs: 100, maxBackoffMs: 5_000 });
  h.core.start();
  t.teardown(() => h.core.stop());
  await h.sentCount(100);
  const first = h.sent.splice(0, 100);
  for (const s of first) s.done(new Error('timeout'), false);
  t.equal(h.core.counters.publishErrors, 100, 'every failed publish is counted');
  t.equal(h.core.backoff, 100, 'one step (100 ms), not doubled per message (it reached the 5 s cap before)');
  t.equal(h.core.state, 'backoff');
  // The next round re-sends from the first failed seq; its failure is the second step.
  await h.sentCount(100);
  t.same(h.sent.map((s) => s.seq), first.map((s) => s.seq), 're-sent from seq 1 after the backoff');
  for (const s of h.sent.splice(0, 100)) s.done(new Error('timeout'), false);
  t.equal(h.core.backoff, 200, 'second failed round: 200 ms');
  await h.sentCount(100);
  for (const s of h.sent.splice(0, 100)) s.done(null, false);
  t.equal(h.core.backoff, 0, 'success resets the backoff');
  t.equal(h.core.counters.published, 100);
});

// The timeout only guards against a hang if the reconnect path breaks (it would wait 600 s).
t.test('the link coming back ends a backoff that began while it was down', { timeout: 60_000 }, async (t) => {
  // A long first step, so the re-send can only come from the reconnect, not from the timer.
  const h = harness(10, { minBackoffMs: 600_000, maxBackoffMs: 600_000 });
  h.core.start();
  t.teardown(() => h.core.stop());
  await h.sentCount(10);
  h.setLink(false);
  const failedAt = Date.now();
  for (const s of h.sent.splice(0, 10)) s.done(new Error('disconnected'), false);
  t.equal(h.core.backoff, 600_000);
  h.setLink(true);
  h.core.kick(); // what link-state does on the client's `reconnect` status
  await h.sentCount(10);
  t.ok(h.sent[0]!.at - failedAt < 600_000, 're-sent on reconnect, before the backoff ran out');
  t.same(h.sent.map((s) => s.seq), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  for (const s of h.sent.splice(0, 10)) s.done(null, false);
  t.equal(h.core.counters.published, 10);
});

t.test('a failure while the link is up keeps its backoff when kicked', async (t) => {
  // The broker answered with an error (the link is up): a kick (new rows) must not cut it short.
  const h = harness(5, { minBackoffMs: 600_000, maxBackoffMs: 600_000 });
  h.core.start();
  await h.sentCount(5);
  for (const s of h.sent.splice(0, 5)) s.done(new Error('JetStream error: insufficient resources'), false);
  h.core.kick();
  await new Promise((r) => setTimeout(r, 100));
  t.equal(h.sent.length, 0, 'nothing re-sent while backing off');
  t.equal(h.core.state, 'backoff');
  await h.core.stop();
});

t.test('a reconnect restarts the re-send timer at its base interval', async (t) => {
  // PubAcks arrive but central never answers (down): the relay re-sends from the watermark, each
  // time waiting twice as long. When the link drops and returns, the broker may have lost what it
  // acknowledged: the next re-send comes after the base interval again.
  const h = harness(3, { resendAfterMs: 20 });
  h.core.start();
  t.teardown(() => h.core.stop());
  let acked = 0;
  while (h.core.resendInterval < 160) {
    await h.sentCount(acked + 1);
    for (const s of h.sent.slice(acked)) s.done(null, false);
    acked = h.sent.length;
  }
  t.ok(h.core.counters.republished >= 3 * 3, `re-sent ${h.core.counters.republished} times while the watermark stood still`);
  h.setLink(false);
  h.core.kick();
  await new Promise((r) => setTimeout(r, 50));
  t.ok(h.core.resendInterval >= 160, 'the interval does not reset while the link is down');
  h.setLink(true);
  h.core.kick();
  await new Promise((r) => setTimeout(r, 10));
  t.equal(h.core.resendInterval, 20, 'back to the base interval once the link returns');
  for (const s of h.sent.slice(acked)) s.done(null, false);
});
