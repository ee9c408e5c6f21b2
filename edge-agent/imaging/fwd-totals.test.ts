/**
 * The forwarding totals (imaging_fwd_totals, kept by triggers since migration 206) always equal a
 * count of imaging_instances by state, through generated histories of the writes the product
 * makes: new instances and resends (same or changed bytes) through indexInstance, uploads marked
 * done by the forwarder, and the start-up recovery's size fix-ups and deletions.
 */
import t from 'tap';
import fc from 'fast-check';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceMeta } from '../../device-drivers/dicom/index.ts';
import { migrate, openDb } from '../../contracts/runtime/index.ts';
import { EdgeStore } from '../store/store.ts';
import { deviceMigrations } from '../devices/migrations.ts';
import { imagingMigrations } from './migrations.ts';
import { indexInstance } from './ingest.ts';
import { ImagingRepo } from './repo.ts';

const counted = (db: EdgeStore['db']) => {
  const rows = db.prepare<[], { fwd_state: string; n: number; bytes: number }>('SELECT fwd_state, count(*) AS n, coalesce(sum(size), 0) AS bytes FROM imaging_instances GROUP BY fwd_state').all();
  const get = (s: string) => rows.find((r) => r.fwd_state === s);
  return { pending: get('pending')?.n ?? 0, done: get('done')?.n ?? 0, pendingBytes: get('pending')?.bytes ?? 0 };
};

t.test('forwarding totals equal a count of the instances through generated histories', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'imaging-fwd-totals-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  let run = 0;
  const op = fc.oneof(
    fc.record({ op: fc.constant('store' as const), sop: fc.integer({ min: 1, max: 12 }), bytes: fc.integer({ min: 1, max: 3 }), size: fc.integer({ min: 1, max: 1_000_000 }) }),
    fc.record({ op: fc.constant('forwarded' as const), sop: fc.integer({ min: 1, max: 12 }) }),
    fc.record({ op: fc.constant('recoverSize' as const), sop: fc.integer({ min: 1, max: 12 }), size: fc.integer({ min: 1, max: 1_000_000 }) }),
    fc.record({ op: fc.constant('recoverDelete' as const), sop: fc.integer({ min: 1, max: 12 }) }),
  );
  await fc.assert(fc.asyncProperty(fc.array(op, { maxLength: 40 }), async (ops) => {
    const store = new EdgeStore(join(dir, `t-${++run}.db`), 'clinic-fwd', [...deviceMigrations, ...imagingMigrations]);
    try {
      const repo = new ImagingRepo(store.db);
      const db = store.db;
      for (const o of ops) {
        const sop = `2.25.77.${o.sop}`;
        if (o.op === 'store') {
          const meta: InstanceMeta = {
            path: join(dir, `${sop}.dcm`), studyInstanceUid: `2.25.70.${o.sop % 3}`, seriesInstanceUid: '2.25.71', sopInstanceUid: sop,
            sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', transferSyntaxUid: '1.2.840.10008.1.2.1', size: o.size, sha256: String(o.bytes).repeat(64),
            patientId: 'P-1', modality: 'US', stationAe: 'US_ROOM1', callingAe: 'US_ROOM1', remoteHost: '127.0.0.1',
            device: { aeTitle: 'US_ROOM1', host: '*', port: 104, modality: 'US', enabled: true }, receivedAt: new Date().toISOString(),
          };
          await indexInstance(store, repo, meta);
        } else if (o.op === 'forwarded') {
          // as the forwarder marks an upload central confirmed
          db.prepare("UPDATE imaging_instances SET fwd_state = 'done', forwarded_at = ?, fwd_error = NULL WHERE sop_instance_uid = ?").run(new Date().toISOString(), sop);
        } else if (o.op === 'recoverSize') {
          // as recovery.ts fixes a row whose file on disk differs (done rows keep their state)
          const row = db.prepare<[string], { fwd_state: string }>('SELECT fwd_state FROM imaging_instances WHERE sop_instance_uid = ?').get(sop);
          if (row?.fwd_state === 'done') db.prepare('UPDATE imaging_instances SET size = ?, file_synced = 1 WHERE sop_instance_uid = ?').run(o.size, sop);
          else db.prepare("UPDATE imaging_instances SET size = ?, file_synced = 1, fwd_state = 'pending', fwd_attempts = 0 WHERE sop_instance_uid = ?").run(o.size, sop);
        } else {
          db.prepare('DELETE FROM imaging_instances WHERE sop_instance_uid = ?').run(sop);
        }
        const want = counted(db);
        const got = repo.forwardStats();
        if (got.pending !== want.pending || got.done !== want.done || got.pendingBytes !== want.pendingBytes) {
          throw new Error(`after ${JSON.stringify(o)}: totals ${JSON.stringify(got)}, counted ${JSON.stringify(want)}`);
        }
      }
    } finally {
      store.close();
    }
  }), { numRuns: 60 });
  t.pass('totals = counts in every generated history');
});

t.test('migration 206 starts the totals from the instances already held', async (t) => {
  const db = openDb(':memory:');
  t.teardown(() => db.close());
  const all = [...deviceMigrations, ...imagingMigrations];
  migrate(db, all.filter((m) => m.version < 206));
  db.prepare("INSERT INTO imaging_studies (study_instance_uid, match_kind, first_received_at, last_received_at) VALUES ('2.25.1', 'none', 'x', 'x')").run();
  const put = db.prepare("INSERT INTO imaging_instances (sop_instance_uid, study_instance_uid, series_instance_uid, sop_class_uid, transfer_syntax_uid, size, sha256, path, calling_ae, received_at, fwd_state, fwd_next_at) VALUES (?, '2.25.1', 's', 'c', 't', ?, 'h', 'p', 'AE', 'x', ?, 'x')");
  put.run('1', 100, 'pending'); put.run('2', 250, 'pending'); put.run('3', 1000, 'done');
  migrate(db, all);
  t.same(new ImagingRepo(db).forwardStats(), { pending: 2, done: 1, pendingBytes: 350 });
  t.match(db.prepare<[null], { detail: string }>("EXPLAIN QUERY PLAN SELECT count(*) FROM imaging_studies s CROSS JOIN imaging_instances i ON i.study_instance_uid = s.study_instance_uid WHERE s.order_id = ? AND i.fwd_state = 'done'").all(null).map((r) => r.detail).join(' | '),
    /SEARCH s USING INDEX imaging_studies_order.*SEARCH i USING COVERING INDEX imaging_instances_study/, 'an order\'s forwarded instances: its studies, then their instances by (study, state)');
});
