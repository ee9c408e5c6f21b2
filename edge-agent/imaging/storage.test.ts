/**
 * The image disk (storage.ts) on a real small file system (tmpfs: statfs reports its real free
 * space, unlink gives it back) with a real edge store: eviction takes uploaded instances only,
 * oldest upload first, until the target; never one waiting for upload, never one a C-STORE is
 * rewriting; the refusal below the reserve; an interrupted eviction finished at start.
 */
import t from 'tap';
import fc from 'fast-check';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { InstanceMeta } from '../../device-drivers/dicom/index.ts';
import { readDisk } from '../../contracts/runtime/disk.ts';
import { createLogger } from '../../contracts/runtime/index.ts';
import { mountTmpfs, tmpfsUnavailable, type Tmpfs } from '../../test/helpers/tmpfs.ts';
import { EdgeStore } from '../store/store.ts';
import { deviceMigrations } from '../devices/migrations.ts';
import { imagingMigrations } from './migrations.ts';
import { indexInstance } from './ingest.ts';
import { ImagingRepo } from './repo.ts';
import { ImagingStorage } from './storage.ts';
import type { ImagingConfig } from './config.ts';

const MiB = 1024 * 1024;
const log = createLogger('storage-test', 'silent');
const skip = tmpfsUnavailable();

interface Fixture { fs: Tmpfs; store: EdgeStore; repo: ImagingRepo; dir: string; n: number; close(): void }

/** A tmpfs of `size` for the images, the edge store beside it (outside: its growth is not the images'). */
function fixture(name: string, size: number): Fixture {
  const fs = mountTmpfs(`img-${name}`, size);
  if ('skip' in fs) throw new Error(fs.skip);
  const dbDir = mkdtempSync(join(tmpdir(), `img-${name}-db-`));
  const store = new EdgeStore(join(dbDir, 'edge.db'), 'clinic-storage', [...deviceMigrations, ...imagingMigrations]);
  return {
    fs, store, repo: new ImagingRepo(store.db), dir: join(fs.dir, 'dicom'), n: 0,
    close() { store.close(); rmSync(dbDir, { recursive: true, force: true }); fs.close(); },
  };
}

/** One instance file of `bytes` bytes, indexed as the SCP's onInstance does. */
async function put(f: Fixture, bytes: number, study = '2.25.77'): Promise<{ sop: string; path: string; size: number; sha256: string; meta: InstanceMeta; data: Buffer }> {
  const sop = `2.25.9${++f.n}`;
  const dir = join(f.dir, study);
  mkdirSync(dir, { recursive: true });
  const b = Buffer.alloc(bytes, f.n & 0xff);
  b.write(`DICM ${sop}`, 0);
  const path = join(dir, `${sop}.dcm`);
  writeFileSync(path, b);
  const sha256 = createHash('sha256').update(b).digest('hex');
  const meta: InstanceMeta = {
    path, studyInstanceUid: study, seriesInstanceUid: '2.25.78', sopInstanceUid: sop, sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', transferSyntaxUid: '1.2.840.10008.1.2.1',
    size: bytes, sha256, patientId: 'P-1', modality: 'US', stationAe: 'US_ROOM1', callingAe: 'US_ROOM1', remoteHost: '127.0.0.1',
    device: { aeTitle: 'US_ROOM1', host: '*', port: 104, modality: 'US', enabled: true }, receivedAt: new Date().toISOString(),
  };
  await indexInstance(f.store, f.repo, meta, 0, true);
  return { sop, path, size: bytes, sha256, meta, data: b };
}

const uploaded = (f: Fixture, sop: string, at: Date) =>
  f.store.db.prepare("UPDATE imaging_instances SET fwd_state = 'done', forwarded_at = ? WHERE sop_instance_uid = ?").run(at.toISOString(), sop);
const evictedAt = (f: Fixture, sop: string) => f.store.db.prepare('SELECT evicted_at FROM imaging_instances WHERE sop_instance_uid = ?').pluck().get(sop) as string | null;

function cfg(f: Fixture, over: Partial<ImagingConfig> = {}): Pick<ImagingConfig, 'storageDir' | 'diskReserve' | 'evictBelowFree' | 'keepDays' | 'diskCheckMs'> {
  return { storageDir: f.dir, diskReserve: { bytes: MiB }, evictBelowFree: { bytes: 2 * MiB }, keepDays: 0, diskCheckMs: 60_000, ...over };
}

t.test('pressure eviction (generated disks): uploaded instances only, oldest upload first, until a quarter more than the line is free', { skip }, async (t) => {
  const inst = fc.record({ kib: fc.integer({ min: 16, max: 1536 }), done: fc.boolean(), ageMin: fc.integer({ min: 0, max: 10_000 }), storing: fc.integer({ min: 0, max: 9 }).map((x) => x === 0) });
  let runs = 0;
  const seen = { above: 0, stoppedAtTarget: 0, exhausted: 0 };
  await fc.assert(fc.asyncProperty(fc.array(inst, { minLength: 1, maxLength: 30 }), fc.integer({ min: -40, max: 140 }).map((x) => x / 100), async (items, lineShare) => {
    runs++;
    const total = items.reduce((s, i) => s + i.kib * 1024, 0);
    const f = fixture(`prop${runs}`, total + MiB);
    try {
      mkdirSync(f.dir, { recursive: true });
      const now = Date.now();
      const rows = [];
      for (const i of items) {
        const r = await put(f, i.kib * 1024);
        if (i.done) uploaded(f, r.sop, new Date(now - i.ageMin * 60_000));
        rows.push({ ...r, ...i });
      }
      const storing = new Set(rows.filter((r) => r.storing).map((r) => r.sop));
      const free0 = (await readDisk(f.dir)).free;
      // The eviction line such that its target (1.25 x the line) is between "already met" and
      // "more than all the evictable uploads can give".
      const evictableBytes = rows.filter((x) => x.done && !x.storing).reduce((s, x) => s + x.size, 0);
      const line = Math.max(512 * 1024 + 1, Math.round((free0 + lineShare * evictableBytes) / 1.25));
      const st = new ImagingStorage(f.store.db, cfg(f, { diskReserve: { bytes: 256 * 1024 }, evictBelowFree: { bytes: line } }), log, (sop) => storing.has(sop));
      await st.refresh();
      const r = await st.sweep();
      const free1 = (await readDisk(f.dir)).free;
      const evicted = rows.filter((x) => evictedAt(f, x.sop) !== null);
      for (const x of rows) {
        if (!x.done) t.ok(existsSync(x.path) && evictedAt(f, x.sop) === null, 'an instance waiting for upload stays') || t.fail(x.sop);
        if (x.storing) t.equal(evictedAt(f, x.sop), null, 'an instance being stored stays');
        t.equal(existsSync(x.path), evictedAt(f, x.sop) === null, 'the file is gone exactly when the row says removed');
      }
      // Oldest upload first: no evictable instance left that was uploaded before one removed.
      const evictable = rows.filter((x) => x.done && !x.storing).sort((a, b) => b.ageMin - a.ageMin || (a.sop < b.sop ? -1 : 1));
      const k = evictable.findIndex((x) => evictedAt(f, x.sop) === null);
      const prefix = k === -1 ? evictable.length : k;
      t.same(evicted.map((x) => x.sop).sort(), evictable.slice(0, prefix).map((x) => x.sop).sort(), 'the removed ones are the oldest uploads');
      // Until the target, unless nothing evictable is left; never when already above the line.
      if (free0 >= line) {
        seen.above++;
        t.equal(evicted.length, 0, 'above the line: nothing removed');
      } else if (prefix < evictable.length) {
        seen.stoppedAtTarget++;
        t.ok(free1 >= line * 1.25, `stopped once ${free1} >= 1.25 x ${line}`);
        // and not much later: without the newest upload it removed, the target would not be met
        // (a file frees whole 4 KiB pages, a little more than its size).
        const newest = evictable[prefix - 1]!;
        t.ok(free1 - newest.size < line * 1.25 + 4096 * evicted.length, `no more than needed: ${free1} - ${newest.size} < 1.25 x ${line}`);
      } else seen.exhausted++;
      t.equal(r.evicted, evicted.length);
      t.equal(r.bytes, evicted.reduce((s, x) => s + x.size, 0));
      const tot = st.totals();
      t.same(tot.evicted, { n: evicted.length, bytes: r.bytes }, 'totals kept by the triggers');
      t.same(tot.local, { n: rows.filter((x) => x.done).length - evicted.length, bytes: rows.filter((x) => x.done).reduce((s, x) => s + x.size, 0) - r.bytes });
      t.same(tot.pending.n, rows.filter((x) => !x.done).length);
      return true;
    } finally {
      f.close();
    }
  }), { numRuns: 60, seed: Number(process.env.FC_SEED ?? Date.now() % 2 ** 31) });
  t.ok(seen.stoppedAtTarget > 0 && seen.exhausted > 0 && seen.above > 0, `the runs covered every case: ${JSON.stringify(seen)}`);
});

t.test('age: with keepDays, uploads older than that go whatever the room; newer ones and pending stay', { skip }, async (t) => {
  const f = fixture('age', 16 * MiB);
  t.teardown(() => f.close());
  const old = await put(f, 100_000);
  const recent = await put(f, 100_000);
  const waiting = await put(f, 100_000);
  uploaded(f, old.sop, new Date(Date.now() - 40 * 86_400_000));
  uploaded(f, recent.sop, new Date(Date.now() - 5 * 86_400_000));
  const st = new ImagingStorage(f.store.db, cfg(f, { keepDays: 30 }), log, () => false);
  await st.refresh();
  const r = await st.sweep();
  t.same([r.evicted, r.reason], [1, 'age']);
  t.same([existsSync(old.path), existsSync(recent.path), existsSync(waiting.path)], [false, true, true]);
  t.same(st.status().lastSweep && { n: st.status().lastSweep!.evicted, reason: st.status().lastSweep!.reason }, { n: 1, reason: 'age' });
});

t.test('never under a C-STORE: a store under way, or a resend that changed the bytes, keeps its file', { skip }, async (t) => {
  const f = fixture('race', 16 * MiB);
  t.teardown(() => f.close());
  const a = await put(f, 50_000);
  const b = await put(f, 50_000);
  uploaded(f, a.sop, new Date(Date.now() - 60_000));
  uploaded(f, b.sop, new Date(Date.now() - 60_000));
  const st = new ImagingStorage(f.store.db, cfg(f), log, (sop) => sop === a.sop);
  // b was selected, then a resend replaced its file with other bytes (the row's sha256 changed).
  const stale = { sop: b.sop, path: b.path, sha256: b.sha256, size: b.size, forwardedAt: new Date().toISOString() };
  f.store.db.prepare("UPDATE imaging_instances SET sha256 = 'f00d', fwd_state = 'pending' WHERE sop_instance_uid = ?").run(b.sop);
  const r = st.evictBatch([{ sop: a.sop, path: a.path, sha256: a.sha256, size: a.size, forwardedAt: stale.forwardedAt }, stale]);
  t.same(r, { evicted: 0, bytes: 0, skipped: 2, failed: 0 });
  t.ok(existsSync(a.path) && existsSync(b.path), 'both files kept');
});

t.test('a file that cannot be removed: the mark is taken back, the error named', { skip }, async (t) => {
  const f = fixture('unlink', 16 * MiB);
  t.teardown(() => f.close());
  const a = await put(f, 50_000);
  uploaded(f, a.sop, new Date(Date.now() - 60_000));
  // The row's path is a directory: unlink fails (EISDIR/EPERM) as a broken disk or permission would.
  rmSync(a.path);
  mkdirSync(a.path);
  const st = new ImagingStorage(f.store.db, cfg(f), log, () => false);
  const r = st.evictBatch([{ sop: a.sop, path: a.path, sha256: a.sha256, size: a.size, forwardedAt: '' }]);
  t.same(r, { evicted: 0, bytes: 0, skipped: 0, failed: 1 });
  t.equal(evictedAt(f, a.sop), null, 'still marked as here');
  t.match(st.status().lastError, new RegExp(`cannot remove ${a.path.replaceAll('.', '\\.')}`));
  t.same(st.totals().evicted, { n: 0, bytes: 0 });
});

t.test('an eviction interrupted between its commit and its removals is finished at start; a resend brings an instance back', { skip }, async (t) => {
  const f = fixture('interrupted', 16 * MiB);
  t.teardown(() => f.close());
  const a = await put(f, 50_000);
  const b = await put(f, 50_000);
  uploaded(f, a.sop, new Date(Date.now() - 60_000));
  uploaded(f, b.sop, new Date(Date.now() - 60_000));
  f.store.db.prepare('UPDATE imaging_instances SET evicted_at = ? WHERE sop_instance_uid = ?').run(new Date().toISOString(), a.sop);
  t.same(new ImagingStorage(f.store.db, cfg(f), log, () => false).status().evicted, { n: 1, bytes: 50_000 }, 'counted as removed by the trigger');
  const st = new ImagingStorage(f.store.db, cfg(f), log, () => false);
  t.equal(st.finishInterrupted(), 1);
  t.same([existsSync(a.path), existsSync(b.path)], [false, true], 'the marked one removed, the other kept');
  t.equal(st.finishInterrupted(), 0, 'twice: nothing more');
  // The device sends it again (same bytes, indexed as the SCP's onInstance does): local again, still
  // uploaded (central holds these bytes), the totals follow.
  writeFileSync(a.path, a.data);
  await indexInstance(f.store, f.repo, { ...a.meta, receivedAt: new Date().toISOString() }, 0, true);
  t.equal(evictedAt(f, a.sop), null, 'the resend clears the removal mark');
  t.equal(f.store.db.prepare('SELECT fwd_state FROM imaging_instances WHERE sop_instance_uid = ?').pluck().get(a.sop), 'done', 'same bytes: not uploaded again');
  t.same(st.totals().evicted, { n: 0, bytes: 0 });
  t.same(st.totals().local, { n: 2, bytes: 100_000 });
});

t.test('the reserve: a refusal with the figures below it, what is received counts before the next reading, admitted again once there is room', { skip }, async (t) => {
  const f = fixture('reserve', 8 * MiB);
  t.teardown(() => f.close());
  mkdirSync(f.dir, { recursive: true });
  const free0 = (await readDisk(f.dir)).free;
  const st = new ImagingStorage(f.store.db, cfg(f, { diskReserve: { bytes: free0 - 3 * MiB }, evictBelowFree: { bytes: 0 } }), log, () => false);
  await st.start();
  t.teardown(() => st.stop());
  t.equal(st.admit(), null, 'room: admitted');
  st.noteStored(2 * MiB); // received, not yet read from the disk
  t.equal(st.admit(), null, 'still 1 MiB above the reserve');
  const big = await put(f, 4 * MiB);
  st.noteStored(4 * MiB);
  const why = st.admit();
  t.match(why, /^storage full: \d+ MiB free, \d+ MiB reserved$/, 'refused, with the figures');
  t.ok(why!.length <= 64, 'fits the DICOM Error Comment');
  t.equal(st.status().state, 'refusing');
  t.equal(st.status().refused, 1);
  rmSync(big.path);
  await st.refresh();
  t.equal(st.admit(), null, 'room again after the next reading: admitted');
  t.not(st.status().state, 'refusing');
});
