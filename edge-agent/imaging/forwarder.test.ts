import t from 'tap';
import { pino } from 'pino';
import { openDb } from '../../contracts/runtime/index.ts';
import { loadImagingConfig } from './config.ts';
import { Forwarder, RateLimiter } from './forwarder.ts';

t.test('rate by window: unlimited, shaped, paused', async (t) => {
  const db = openDb(':memory:');
  const log = pino({ level: 'silent' });
  const f = (env: Record<string, string>) => new Forwarder(db, 'c01', loadImagingConfig('/x', env), log);
  const day = new Date(2026, 10, 28, 10);
  const night = new Date(2026, 10, 28, 22);
  t.equal(f({}).currentRate(day), Infinity, 'no limits');
  t.equal(f({ EDGE_DICOM_FORWARD_RATE: '100000' }).currentRate(day), 100000);
  const w = f({ EDGE_DICOM_FORWARD_WINDOWS: '19:00-07:00', EDGE_DICOM_FORWARD_OFF_WINDOW_RATE: '20000' });
  t.equal(w.currentRate(night), Infinity, 'night: full speed');
  t.equal(w.currentRate(day), 20000, 'day: trickle');
  t.equal(f({ EDGE_DICOM_FORWARD_WINDOWS: '19:00-07:00' }).currentRate(day), 0, 'day without an off-window rate: paused');
});

t.test('the token bucket lets a burst of one second through and then waits', async (t) => {
  let rate = 1_000_000;
  const l = new RateLimiter(() => rate);
  const ac = new AbortController();
  await l.take(1000, ac.signal);
  rate = 0;
  const paused = l.take(10, ac.signal);
  ac.abort();
  await t.rejects(paused, 'a paused take ends when aborted');
});
