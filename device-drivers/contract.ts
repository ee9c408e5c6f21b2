/**
 * The shared contract every `DeviceDriver` passes (as Hono runs one case file against
 * every router). A driver's test supplies a harness: how to build the driver against a
 * live peer and how to make the peer produce data.
 *
 *   runDriverContract(t, 'modbus', async () => ({ driver, produce, cleanup }));
 */
import type t from 'tap';
import { labResultSchema, observationSchema } from '../contracts/index.ts';
import type { DeviceDriver } from './driver.ts';
import { toRecord, type Reading } from './readings.ts';

type Test = typeof t;

export interface DriverHarness {
  driver: DeviceDriver;
  /** Make the peer send/offer one batch of data (no-op for polled drivers). */
  produce(): Promise<void>;
  cleanup(): Promise<void>;
}

async function until(what: string, cond: () => boolean, ms = 8000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export function runDriverContract(tap: Test, name: string, make: () => Promise<DriverHarness>): void {
  tap.test(`DeviceDriver contract: ${name}`, async (t) => {
    const h = await make();
    t.teardown(() => h.cleanup());
    const d = h.driver;

    t.equal(typeof d.protocol, 'string');
    const bad = d.validateConfig({ nonsense: true });
    t.equal(bad.ok, false, 'validateConfig rejects garbage');
    if (!bad.ok) t.ok(bad.errors.length > 0 && bad.errors.every((e) => typeof e === 'string'), 'with field messages');
    t.equal(d.state(), 'stopped', 'starts stopped');

    const batches: Reading[][] = [];
    let failStores = 0;
    let failed = 0;
    const ctx = {
      store: async (r: Reading[]) => {
        if (failStores > 0) { failStores--; failed++; throw new Error('store unavailable'); }
        batches.push(r);
      },
    };
    await d.start(ctx);
    await d.start(ctx); // idempotent
    t.ok(['running', 'degraded'].includes(d.state()), 'running after start');

    await h.produce();
    await until('first stored batch', () => batches.length > 0);
    const readings = batches.flat();
    t.ok(readings.length > 0, 'readings reach ctx.store');
    for (const r of readings) {
      const rec = toRecord(r, { id: 'rec-1', residentId: 'res-1' });
      const schema = rec.type === 'observation' ? observationSchema : labResultSchema;
      const parsed = schema.safeParse(rec.payload);
      if (!parsed.success) { t.fail(`${r.quantity} does not map onto ${rec.type}: ${parsed.error.message}`); break; }
      t.ok(r.sourceId && r.deviceId && r.profileId && !Number.isNaN(Date.parse(r.at)), `${r.quantity}: identified and timed`);
    }

    const now = await d.read();
    t.ok(Array.isArray(now) && now.length > 0, 'read() returns readings');
    t.match(await d.testConnection(), { ok: true }, 'testConnection ok with a live peer');
    const health = d.health();
    t.ok(health.some((x) => x.state === 'up' && x.readings > 0 && x.lastSeenAt), 'health shows the device up with readings');
    t.ok(Object.values(d.counters()).every((v) => typeof v === 'number' && Number.isFinite(v)), 'counters are numbers');

    // storage failure: no crash, counted, and data flows again afterwards
    failStores = 1;
    const before = batches.length;
    await h.produce();
    await until('a failed store', () => failed > 0);
    await h.produce();
    await until('data after a failed store', () => batches.length > before);
    t.ok(d.health().some((x) => x.errors > 0) || Object.entries(d.counters()).some(([k, v]) => /store/i.test(k) && v > 0), 'store failure counted');

    await d.stop();
    await d.stop();
    t.equal(d.state(), 'stopped', 'stopped after stop');
    const n = batches.length;
    await new Promise((r) => setTimeout(r, 100));
    t.equal(batches.length, n, 'no readings after stop');
  });
}
