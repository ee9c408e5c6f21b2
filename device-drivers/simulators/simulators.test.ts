/** Every shipped profile: createDriver + startSimulator produce readings end to end. */
import t from 'tap';
import { createDriver } from '../factory.ts';
import { loadProfiles } from '../profiles/load.ts';
import type { Reading } from '../readings.ts';
import { startSimulator } from './index.ts';

for (const profile of loadProfiles().values()) {
  t.test(`simulator -> driver: ${profile.id}`, async (t) => {
    const stored: Reading[] = [];
    const store = async (r: Reading[]) => { stored.push(...r); };
    if (profile.protocol === 'modbus') {
      const sim = await startSimulator(profile, { seed: 2, mix: { criticalRate: 0.3, implausibleRate: 0.1 } });
      t.teardown(() => sim.stop());
      const d = createDriver({ deviceId: `${profile.id}-sim`, profile, connection: { type: 'tcp', host: '127.0.0.1', port: sim.port }, options: { pollIntervalMs: 20 } });
      await d.start({ store });
      t.teardown(() => d.stop());
    } else {
      const d = createDriver({ deviceId: `${profile.id}-sim`, profile, connection: { type: 'tcp', host: '127.0.0.1', port: 0 } });
      await d.start({ store });
      t.teardown(() => d.stop());
      const port = d.listenAddress?.()?.port ?? 0;
      t.ok(port > 0, 'listener has a port');
      const sim = await startSimulator(profile, { port, intervalMs: 10, seed: 2, mix: { criticalRate: 0.3, implausibleRate: 0.1 } });
      t.teardown(() => sim.stop());
    }
    const end = Date.now() + 8000;
    while (stored.length < profile.quantities.length * 3 && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    t.ok(stored.length >= profile.quantities.length * 3, `${stored.length} readings`);
    t.ok(stored.every((r) => r.profileId === profile.id));
  });
}
