/**
 * FHIR reader threads on SQLite: a thread answers a batch of requests from one read transaction
 * (store.ts `snapshot`). Each request must still see every write committed before it was sent,
 * and no read transaction may outlive its batch (it would hold back checkpoints).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { ReadPool, fhirStoreFor } from '../../central/fhir/index.ts';
import { readerSourceOf } from '../../central/fhir/store.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import type { IngestItem } from '../../central/warehouse/types.ts';
import { formatHlc, recordTypes } from '../../contracts/index.ts';

const CLINIC = 'fhir-readers-1';
let seq = 0;
function observation(id: string, value: number): IngestItem {
  seq++;
  const p = recordTypes.observation.parse({ observationId: id, residentId: 'res-r', code: '8867-4', display: '心率', value, unit: '/min', effectiveAt: '2026-03-01T08:00:00+08:00' });
  return { kind: 'record', type: 'observation', payload: p, hash: `h${seq}`, raw: '',
    envelope: { recordId: id, type: 'observation', clinicId: CLINIC, seq, version: 1, hlc: formatHlc({ ms: 1_750_000_000_000 + seq, counter: 0, node: CLINIC }), schemaVersion: 1, createdAt: new Date().toISOString(), payload: p } };
}

t.test('batched reads see every earlier commit and leave no read transaction open', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fhir-readers-'));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  const readers = new ReadPool(readerSourceOf(wh)!, 1, fhirStoreFor(wh), (e) => t.fail(`reader thread lost: ${e.message}`));
  t.teardown(async () => { await readers.close(); await wh.close(); rmSync(dir, { recursive: true, force: true }); });
  t.ok((await wh.ingest([observation('obs-r-0', 60)])).outcomes.every((o) => o === 'applied'));

  for (let i = 1; i <= 12; i++) {
    // Requests of one turn go to the thread as one batch: one read transaction for all of them.
    const batch = await Promise.all(Array.from({ length: 8 }, () => readers.answer({ op: 'search', type: 'Observation', query: '?patient=res-r', base: 'http://central.test/fhir' })));
    for (const a of batch) t.equal(a.entries, i, `batch ${i}: every answer holds the ${i} observations written so far`);
    t.ok((await wh.ingest([observation(`obs-r-${i}`, 60 + i)])).outcomes.every((o) => o === 'applied'));
    // Sent after the commit: the next batch's snapshot includes it.
    const read = await readers.answer({ op: 'read', type: 'Observation', id: `obs-r-${i}` });
    t.match(JSON.parse(read.body), { resourceType: 'Observation', id: `obs-r-${i}`, valueQuantity: { value: 60 + i } }, `obs-r-${i} read right after its commit`);
  }
  // A failing request in a batch does not keep the batch's transaction open either.
  const mixed = await Promise.allSettled([
    readers.answer({ op: 'read', type: 'Observation', id: 'obs-r-1' }),
    readers.answer({ op: 'search', type: 'Observation', query: '?bogus=1', base: 'http://central.test/fhir' }),
    readers.answer({ op: 'read', type: 'Observation', id: 'no-such-obs' }),
  ]);
  t.same(mixed.map((m) => m.status), ['fulfilled', 'rejected', 'rejected']);
  t.equal(readers.stats.threaded, 12 * 9 + 3, 'all answered by the thread');
  // A reader still inside a read transaction would keep the WAL from being truncated (busy = 1).
  const [cp] = wh.db.pragma('wal_checkpoint(TRUNCATE)') as { busy: number }[];
  t.equal(cp!.busy, 0, 'no read transaction left open by the reader thread');
});
