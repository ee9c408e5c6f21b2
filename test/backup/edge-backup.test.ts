/**
 * Edge backups end to end on real files: full -> incrementals -> restore of every point equals
 * what the live edge had at that point; faults (corrupted, truncated, wrong key, disk full,
 * non-empty destination) give clear errors and leave the live data and the repository intact.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BackupError, LocalDirTarget, createBackup, generateKeyFile, listPoints, packName } from '../../contracts/backup/index.ts';
import { EdgeStore } from '../../edge-agent/store/store.ts';
import { edgeMigrations } from '../../edge-agent/store/migrations.ts';
import { backupMigrations } from '../../edge-agent/backup/migrations.ts';
import { deviceMigrations } from '../../edge-agent/devices/migrations.ts';
import { imagingMigrations } from '../../edge-agent/imaging/migrations.ts';
import { loadEdgeBackupConfig } from '../../edge-agent/backup/config.ts';
import { backupEdge, drillEdge, listEdge, openTargets, restoreEdge, uploadAndPrune, type EdgeBackupContext } from '../../edge-agent/backup/edge-backup.ts';
import { makeResident, prng } from '../../edge-agent/sim/generate.ts';
import { writeActivity } from '../helpers/activity.ts';
import { tempDir } from '../helpers/spine.ts';

void edgeMigrations;

interface LiveState { records: string; residents: string; meta: string; files: Record<string, string> }

function liveState(dataDir: string): LiveState {
  const db = new Database(join(dataDir, 'edge.db'), { readonly: true });
  try {
    const files: Record<string, string> = {};
    const dicom = join(dataDir, 'dicom');
    if (existsSync(dicom)) for (const f of readdirSync(dicom, { recursive: true }) as string[]) {
      const p = join(dicom, f);
      if (statSync(p).isFile()) files[f] = createHash('sha256').update(readFileSync(p)).digest('hex');
    }
    return {
      records: JSON.stringify(db.prepare('SELECT * FROM records ORDER BY type, record_id').all()),
      residents: JSON.stringify(db.prepare('SELECT * FROM residents ORDER BY resident_id').all()),
      meta: JSON.stringify(db.prepare("SELECT * FROM meta WHERE key IN ('next_seq', 'receipt_seq', 'clinic_id') ORDER BY key").all()),
      files,
    };
  } finally {
    db.close();
  }
}

function addDicom(dataDir: string, n: number, tag: string): void {
  const dir = join(dataDir, 'dicom', tag);
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < n; i++) writeFileSync(join(dir, `${i}.dcm`), Buffer.concat([Buffer.from('DICM'), randomBytes(50_000 + i * 1000)]));
}

function setup(t: { teardown(fn: () => void): void }) {
  const tmp = tempDir('bk-edge');
  t.teardown(tmp.cleanup);
  const dataDir = join(tmp.dir, 'data');
  const keyFile = join(tmp.dir, 'keys', 'backup.key');
  mkdirSync(join(tmp.dir, 'keys'));
  generateKeyFile(keyFile);
  const clinicId = 'c01-bk';
  const store = new EdgeStore(join(dataDir, 'edge.db'), clinicId, backupMigrations);
  t.teardown(() => store.close());
  const ctx: EdgeBackupContext = { edge: { clinicId, dataDir }, backup: loadEdgeBackupConfig({ keyFile, localDir: join(tmp.dir, 'backups') }, {}) };
  return { tmp, dataDir, keyFile, store, ctx, clinicId };
}

t.test('full, then incrementals: every point restores to exactly what the live edge had', async (t) => {
  const { tmp, dataDir, store, ctx } = setup(t);
  const states: { id: string; state: LiveState }[] = [];
  writeActivity({ store }, 3000, 1, 50);
  addDicom(dataDir, 5, 'study-a');
  const full = await backupEdge(ctx);
  t.equal(full.manifest.kind, 'full');
  states.push({ id: full.manifest.snapshotId, state: liveState(dataDir) });
  const rnd = prng(7);
  for (let day = 1; day <= 3; day++) {
    writeActivity({ store }, 3000 + day * 400, 10 + day, 25);
    // A correction (new version) of an existing resident and new images each day.
    const res = makeResident(rnd);
    store.write('resident', res.residentId, res);
    store.write('resident', res.residentId, { ...res, phone: '13800000000' });
    addDicom(dataDir, 2, `study-d${day}`);
    const inc = await backupEdge(ctx);
    t.equal(inc.manifest.kind, 'incremental', `day ${day} is an incremental`);
    t.equal(inc.manifest.parentId, states[states.length - 1]!.id);
    t.ok(inc.manifest.stats.newBytes < inc.manifest.stats.totalBytes / 2, `day ${day}: stored ${inc.manifest.stats.newBytes} new of ${inc.manifest.stats.totalBytes} bytes`);
    states.push({ id: inc.manifest.snapshotId, state: liveState(dataDir) });
  }
  for (const [i, s] of states.entries()) {
    const dest = join(tmp.dir, `restore-${i}`);
    const r = await restoreEdge(ctx, { dest, point: s.id, rejoin: false });
    t.equal(r.manifest.snapshotId, s.id);
    t.same(liveState(dest), s.state, `point ${i} (${s.id}) equals the live state at that time`);
  }
  // Point-in-time by timestamp picks the newest point at or before it.
  const listed = await listEdge(ctx);
  t.equal(listed.length, 4);
  const dest = join(tmp.dir, 'restore-by-time');
  const r = await restoreEdge(ctx, { dest, point: new Date(Date.parse(listed[1]!.createdAt) + 1).toISOString(), rejoin: false });
  t.equal(r.manifest.snapshotId, listed[1]!.snapshotId);
  const drill = await drillEdge(ctx);
  t.ok(drill.ok, `drill: ${JSON.stringify(drill.checks)}`);
  t.ok(drill.rpoSeconds >= 0 && drill.rtoSeconds >= 0);
});

t.test('faults: non-empty destination, wrong key, corrupted and truncated packs, disk full', async (t) => {
  const { tmp, dataDir, store, ctx, keyFile } = setup(t);
  writeActivity({ store }, 2000, 3, 50);
  addDicom(dataDir, 3, 'x');
  const b = await backupEdge(ctx);
  const before = liveState(dataDir);

  const nonEmpty = join(tmp.dir, 'nonempty');
  mkdirSync(nonEmpty);
  writeFileSync(join(nonEmpty, 'keep.txt'), 'x');
  await t.rejects(restoreEdge(ctx, { dest: nonEmpty, rejoin: false }), { code: 'NOT_EMPTY' });
  t.equal(readFileSync(join(nonEmpty, 'keep.txt'), 'utf8'), 'x', 'existing data untouched');

  const otherKey = join(tmp.dir, 'keys', 'other.key');
  generateKeyFile(otherKey);
  const wrong = { ...ctx, backup: { ...ctx.backup, keyFile: otherKey } };
  await t.rejects(restoreEdge(wrong, { dest: join(tmp.dir, 'r-wrongkey'), rejoin: false }), { code: 'WRONG_KEY', message: /key file/ });
  t.notOk(existsSync(join(tmp.dir, 'r-wrongkey')));

  const pack = join(ctx.backup.localDir!, packName(b.manifest.snapshotId));
  const orig = readFileSync(pack);
  const bad = Buffer.from(orig);
  bad[Math.floor(bad.length / 2)]! ^= 0xff;
  writeFileSync(pack, bad);
  const e1 = await restoreEdge(ctx, { dest: join(tmp.dir, 'r-corrupt'), rejoin: false }).catch((e: BackupError) => e);
  t.equal((e1 as BackupError).code, 'CORRUPT');
  t.match((e1 as Error).message, new RegExp(`${packName(b.manifest.snapshotId)}.*corrupted`));
  t.notOk(existsSync(join(tmp.dir, 'r-corrupt')), 'nothing written before the checksums are verified');
  const drill = await drillEdge(ctx);
  t.notOk(drill.ok, 'a drill on a corrupted backup fails');
  t.match(drill.error, /corrupted/);

  writeFileSync(pack, orig);
  truncateSync(pack, orig.length - 1000);
  await t.rejects(restoreEdge(ctx, { dest: join(tmp.dir, 'r-trunc'), rejoin: false }), { code: 'TRUNCATED', message: /truncated/ });
  writeFileSync(pack, orig);

  // Disk full on the backup disk: clear error, no partial output, previous points still restore.
  const full = { ...ctx, faults: { failAfterBytes: 300_000 } };
  writeActivity({ store }, 2500, 4, 50);
  await t.rejects(backupEdge(full, { kind: 'full' }), { code: 'NO_SPACE', message: /disk full/ });
  t.same(readdirSync(ctx.backup.localDir!).filter((n) => n.endsWith('.partial') || n.startsWith('tmp-')), [], 'partial outputs removed');
  t.equal((await listPoints(new LocalDirTarget(ctx.backup.localDir!))).length, 1, 'still exactly one point');
  const ok = await restoreEdge(ctx, { dest: join(tmp.dir, 'r-ok'), rejoin: false });
  t.same(liveState(ok.dest), before);
  t.equal(store.db.pragma('integrity_check', { simple: true }), 'ok', 'live database intact');
  t.equal(readFileSync(keyFile).length > 0, true);
});

t.test('retention keeps dailies/weeklies/monthlies and never a pack a kept point needs', async (t) => {
  const { store, ctx } = setup(t);
  writeActivity({ store }, 500, 5, 50);
  let day = Date.parse('2026-01-01T02:00:00Z');
  const at = () => new Date(day);
  // 40 daily backups (weekly fulls) with a short policy.
  const c2 = { ...ctx, backup: { ...ctx.backup, keepDaily: 3, keepWeekly: 2, keepMonthly: 2 } };
  for (let i = 0; i < 40; i++) {
    writeActivity({ store }, 500 + (i + 1) * 20, 100 + i, 20);
    const tg = openTargets(c2);
    await createBackup({ repo: tg.local, key: tg.key, kind: 'auto', fullEveryDays: 7, now: at, source: { system: 'edge', owner: 'c01-bk', host: 'h', appVersion: 't', schema: {} }, sources: () => [{ path: 'data/edge.db', kind: 'sqlite', file: join(ctx.edge.dataDir, 'edge.db') }] });
    day += 86400_000;
  }
  const r = await uploadAndPrune(c2);
  t.ok(r.prunedLocal > 0);
  const left = await listEdge(c2);
  t.ok(left.length <= 3 + 2 + 2 + 2 && left.length >= 3, `${left.length} points kept`);
  // Every kept point restores (its packs survived pruning).
  const { tmp } = { tmp: tempDir('bk-ret') };
  t.teardown(tmp.cleanup);
  for (const m of left) await restoreEdge(c2, { dest: join(tmp.dir, m.snapshotId), point: m.snapshotId, rejoin: false });
  t.pass('every kept point restores');
});

t.test('drill after images were removed from the disk because the central archive holds them: not missing; a file lost otherwise is', async (t) => {
  const tmp = tempDir('bk-evict');
  t.teardown(tmp.cleanup);
  const dataDir = join(tmp.dir, 'data');
  const keyFile = join(tmp.dir, 'backup.key');
  generateKeyFile(keyFile);
  const store = new EdgeStore(join(dataDir, 'edge.db'), 'c02-bk', [...backupMigrations, ...deviceMigrations, ...imagingMigrations]);
  t.teardown(() => store.close());
  const ctx: EdgeBackupContext = { edge: { clinicId: 'c02-bk', dataDir }, backup: loadEdgeBackupConfig({ keyFile, localDir: join(tmp.dir, 'backups') }, {}) };
  const study = '2.25.300';
  mkdirSync(join(dataDir, 'dicom', study), { recursive: true });
  store.db.prepare("INSERT INTO imaging_studies (study_instance_uid, match_kind, first_received_at, last_received_at) VALUES (?, 'none', 'x', 'x')").run(study);
  const sops = ['2.25.301', '2.25.302', '2.25.303'];
  for (const sop of sops) {
    const path = join(dataDir, 'dicom', study, `${sop}.dcm`);
    writeFileSync(path, Buffer.concat([Buffer.from('DICM'), randomBytes(20_000)]));
    store.db.prepare(`INSERT INTO imaging_instances (sop_instance_uid, study_instance_uid, series_instance_uid, sop_class_uid, transfer_syntax_uid, size, sha256, path, calling_ae, received_at, fwd_state, fwd_next_at, forwarded_at)
      VALUES (?, ?, '2.25.399', 'c', 't', 20004, 'h', ?, 'US_ROOM1', 'x', 'done', '', ?)`).run(sop, study, path, new Date().toISOString());
  }
  await backupEdge(ctx);
  // Eviction removes 301 (and says so in its row); 302 disappears without a word.
  rmSync(join(dataDir, 'dicom', study, '2.25.301.dcm'));
  store.db.prepare('UPDATE imaging_instances SET evicted_at = ? WHERE sop_instance_uid = ?').run(new Date().toISOString(), '2.25.301');
  const saved = readFileSync(join(dataDir, 'dicom', study, '2.25.302.dcm'));
  rmSync(join(dataDir, 'dicom', study, '2.25.302.dcm'));
  const bad = await drillEdge(ctx);
  const check = bad.checks.find((c) => c.name === 'DICOM files match live');
  t.same([bad.ok, check?.ok], [false, false], 'a file gone without a reason fails the drill');
  t.match(check?.detail, /3 files, 1 missing or different in live, 1 since removed from this disk \(held by the central archive\)/);
  writeFileSync(join(dataDir, 'dicom', study, '2.25.302.dcm'), saved);
  const good = await drillEdge(ctx);
  t.ok(good.ok, `drill: ${JSON.stringify(good.checks)}`);
  t.match(good.checks.find((c) => c.name === 'DICOM files match live')?.detail, /0 missing or different in live, 1 since removed/);
});
