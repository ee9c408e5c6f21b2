/**
 * The spine's two SQLite write paths alone, without NATS or other processes (issue [spine] (b2)):
 * the edge store's group commit (64 concurrent writers, one observation each) and central's
 * apply (`toItem` + `SqliteWarehouse.ingest`, batches of BATCH envelopes the edge produced).
 * Prints CPU time per 1,000 records (and its system part: commits, fsync), which hardly depends
 * on the machine's load, unlike the rates. `node --import tsx bench/spine-apply.bench.ts`
 * (N=20000 BATCH=250 by default). Does not write RESULTS.md.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgeStore } from '../edge-agent/store/store.ts';
import { makeBloodPressure, prng } from '../edge-agent/sim/generate.ts';
import { SqliteWarehouse } from '../central/warehouse/sqlite.ts';
import { toItem } from '../central/ingest/consumer.ts';
import { subjects } from '../contracts/index.ts';

const N = Number(process.env.N ?? 20000);
const BATCH = Number(process.env.BATCH ?? 250);
const dir = mkdtempSync(join(tmpdir(), 'spine-micro-'));
const cpu = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
const sys = () => process.cpuUsage().system / 1000;
try {
  const store = new EdgeStore(join(dir, 'edge.db'), 'micro-a');
  const r = prng(7);
  let next = 0;
  let c0 = cpu(); let t0 = performance.now();
  const e0 = sys();
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < N) {
      next++;
      const [o] = makeBloodPressure(r, `micro-a-r${Math.floor(r() * 2000)}`, 'bp-1');
      await store.transactAsync((tx) => tx.emit('observation', o!.observationId, o!));
    }
  }));
  console.log(`edge: ${(((cpu() - c0) / N) * 1000).toFixed(1)} ms CPU per 1,000 (system ${(((sys() - e0) / N) * 1000).toFixed(1)}) (${(N / ((performance.now() - t0) / 1000)).toFixed(0)}/s)`);
  const rows = store.outboxAfter(0, N);
  store.close();
  const msgs = rows.map((x) => ({ subject: subjects.record('micro-a', x.type), data: new Uint8Array(Buffer.from(x.envelope)) }));
  const wh = new SqliteWarehouse(join(dir, 'wh.db'));
  c0 = cpu(); t0 = performance.now();
  const s0 = sys();
  let tItem = 0;
  for (let i = 0; i < msgs.length; i += BATCH) {
    const a = cpu();
    const items = msgs.slice(i, i + BATCH).map(toItem);
    tItem += cpu() - a;
    const res = await wh.ingest(items);
    if (res.outcomes.some((o) => o !== 'applied')) throw new Error(`unexpected outcome ${res.outcomes.find((o) => o !== 'applied')}`);
  }
  console.log(`central: ${(((cpu() - c0) / N) * 1000).toFixed(1)} ms CPU per 1,000 (toItem ${((tItem / N) * 1000).toFixed(1)}, system ${(((sys() - s0) / N) * 1000).toFixed(1)}), batch ${BATCH} (${(N / ((performance.now() - t0) / 1000)).toFixed(0)}/s)`);
  await wh.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
