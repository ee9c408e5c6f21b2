/**
 * Central's apply path as its warehouse grows (issue [spine] (b2)): N observations of one clinic
 * over 2,000 residents (as the spine bench writes them), applied through `toItem` +
 * `SqliteWarehouse.ingestPipelined` in batches of BATCH (the ingest's batch under a backlog),
 * each batch's WAL flush awaited. Prints, per 40,000 records, CPU per 1,000 records and bytes the
 * process wrote per record: on SQLite every commit rewrites each page it changed, so indexes whose
 * entries land on scattered pages (by resident) cost more per record as they grow and less with
 * larger batches. `SQL='DROP INDEX ...; PRAGMA ...'` runs statements on the warehouse first (to
 * compare without an index or with other settings). Does not write RESULTS.md.
 *   node --import tsx bench/warehouse-growth.bench.ts            (N=200000 BATCH=4000)
 */
import { mkdtempSync, rmSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EdgeStore } from '../edge-agent/store/store.ts';
import { makeBloodPressure, prng } from '../edge-agent/sim/generate.ts';
import { SqliteWarehouse } from '../central/warehouse/sqlite.ts';
import { toItem } from '../central/ingest/consumer.ts';
import { subjects } from '../contracts/index.ts';

const N = Number(process.env.N ?? 200_000);
const BATCH = Number(process.env.BATCH ?? 4000);
const CHUNK = 40_000;
const dir = mkdtempSync(join(tmpdir(), 'warehouse-growth-'));
const cpu = () => { const u = process.cpuUsage(); return { all: (u.user + u.system) / 1000, sys: u.system / 1000 }; };
/** Bytes this process has caused to be written to storage (Linux /proc). */
const written = () => Number(/write_bytes: (\d+)/.exec(readFileSync('/proc/self/io', 'utf8'))?.[1] ?? NaN);
try {
  console.log(`[growth] writing ${N} observations at an edge store (not timed)`);
  const store = new EdgeStore(join(dir, 'edge.db'), 'growth-a');
  const r = prng(7);
  for (let i = 0; i < N; i += 1000) {
    store.transact((tx) => {
      for (let k = 0; k < 1000; k++) {
        const [o] = makeBloodPressure(r, `growth-a-r${Math.floor(r() * 2000)}`, 'bp-1');
        tx.emit('observation', o!.observationId, o!);
      }
    });
  }
  const msgs = store.outboxAfter(0, N).map((x) => ({ subject: subjects.record('growth-a', x.type), data: new Uint8Array(Buffer.from(x.envelope)) }));
  store.close();
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  for (const s of (process.env.SQL ?? '').split(';').filter((x) => x.trim())) wh.db.exec(s);
  console.log(`[growth] applying in batches of ${BATCH}${process.env.SQL ? ` after: ${process.env.SQL}` : ''}`);
  for (let c = 0; c < N; c += CHUNK) {
    const c0 = cpu(); const w0 = written(); const t0 = performance.now();
    for (let i = c; i < Math.min(N, c + CHUNK); i += BATCH) await wh.ingestPipelined(msgs.slice(i, Math.min(i + BATCH, c + CHUNK)).map(toItem)).durable;
    const c1 = cpu(); const n = Math.min(CHUNK, N - c);
    console.log(`[growth] records ${c}-${c + n}: ${(((c1.all - c0.all) / n) * 1000).toFixed(1)} ms CPU per 1,000 (system ${(((c1.sys - c0.sys) / n) * 1000).toFixed(1)}), ${((written() - w0) / n).toFixed(0)} bytes written per record, ${(n / ((performance.now() - t0) / 1000)).toFixed(0)} records/s`);
  }
  await wh.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
