/**
 * An edge restored from backup rejoins the spine: nothing lost, nothing applied twice.
 *
 * The edge backs up (uploading to central, the off-site target), goes on writing (new
 * records and a correction of a record that is in the backup), central applies all of it,
 * then the edge's disk is lost. The clinic restores the backup from central into a new
 * directory; the restore reconciles with central (watermark, records since the backup) and
 * the edge starts on the restored directory and keeps writing. Central must end with every
 * seq exactly once, in order, no seq collision dead-lettered, and the restored edge must hold
 * every record central has for the clinic at its latest version.
 */
import t from 'tap';
import { rmSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { clinicBackupToken, generateKeyFile } from '../../contracts/backup/index.ts';
import { loadEdgeBackupConfig } from '../../edge-agent/backup/config.ts';
import { restoreEdge, type EdgeBackupContext } from '../../edge-agent/backup/edge-backup.ts';
import { runningBackups } from '../../edge-agent/backup/index.ts';
import { makeResident, prng } from '../../edge-agent/sim/generate.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { setCheck } from '../helpers/set-check.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

t.test('an edge restored from backup rejoins the spine without loss or double apply', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('bk-rejoin');
  t.teardown(tmp.cleanup);
  const secret = 'test-backup-target-secret-0123';
  const clinicId = clinicName('rj');
  const keyDir = join(tmp.dir, 'keys');
  mkdirSync(keyDir);
  const keyFile = join(keyDir, 'backup.key');
  generateKeyFile(keyFile);
  process.env.CENTRAL_BACKUP_TARGET_SECRET = secret;
  process.env.CENTRAL_BACKUP_TARGET_MIN_FREE_BYTES = '0';
  const central = await centralInProcess(ns.url, join(tmp.dir, 'central'));
  t.teardown(() => central.stop());
  const backupEnv = {
    EDGE_BACKUP_KEY_FILE: keyFile,
    EDGE_BACKUP_LOCAL_DIR: join(tmp.dir, 'edge-backups'),
    EDGE_BACKUP_REMOTE_URL: `${central.http.url}/backup/v1`,
    EDGE_BACKUP_REMOTE_TOKEN: clinicBackupToken(secret, clinicId),
    EDGE_BACKUP_TICK_MS: '3600000',
  };
  Object.assign(process.env, backupEnv);
  const dataDir = join(tmp.dir, 'edge');
  let edge = await edgeInProcess(ns.url, clinicId, dataDir);
  t.teardown(() => edge.stop());

  // Before the backup: 2000 records applied, then 300 more written just before it (some not yet applied).
  writeActivity(edge, 2000, 1, 20);
  await waitFor('first records applied', async () => (await central.wh.watermark(clinicId)).appliedSeq === 2000, 60_000);
  const rnd = prng(99);
  const corrected = makeResident(rnd);
  edge.store.write('resident', corrected.residentId, corrected);
  writeActivity(edge, 2300, 2, 20);
  const svc = runningBackups.get(clinicId)!;
  t.ok(svc, 'backup service running in the edge');
  await svc.runAll('test');
  const st = svc.status();
  t.ok(st.lastSuccess, 'backup done');
  t.ok(st.lastUpload?.ok, `uploaded to central: ${st.lastUpload?.detail}`);
  t.ok(st.lastDrill?.ok, `drill passed: ${JSON.stringify(st.lastDrill?.checks)}`);

  // After the backup: more records and a correction (version 2) of a record in the backup.
  edge.store.write('resident', corrected.residentId, { ...corrected, phone: '13912345678' });
  writeActivity(edge, 3500, 3, 20);
  const lastBeforeLoss = edge.store.stats().lastSeq;
  await waitFor('everything applied before the disk is lost', async () => (await central.wh.watermark(clinicId)).appliedSeq === lastBeforeLoss, 60_000);

  // The overview for the portal lists the clinic's backups and its report.
  const ov = await (await fetch(`${central.http.url}/backup/v1/status`, { headers: { authorization: 'Bearer test-token-0123456789' } })).json() as { owners: { owner: string; points: number; lastReport: { lastDrill: { ok: boolean } | null } | null }[] };
  const mine = ov.owners.find((o) => o.owner === clinicId);
  t.equal(mine?.points, 1, 'central holds the clinic\'s backup point');
  t.equal(mine?.lastReport?.lastDrill?.ok, true, 'and its drill result');
  const metrics = await (await fetch(`${central.http.url}/metrics`)).text();
  t.match(metrics, new RegExp(`backup_last_good_age_seconds\\{owner="${clinicId}"\\} \\d`), 'backup age exported per clinic');
  t.match(metrics, new RegExp(`backup_rpo_seconds\\{owner="${clinicId}"\\}`), 'RPO exported');
  t.match(metrics, /central_clinic_applied_seq/, 'central\'s own metrics still there');

  // Disaster: the edge's disk (data dir and local backups) is gone.
  await edge.stop();
  rmSync(dataDir, { recursive: true, force: true });
  rmSync(backupEnv.EDGE_BACKUP_LOCAL_DIR, { recursive: true, force: true });

  const restored = join(tmp.dir, 'edge-restored');
  const ctx: EdgeBackupContext = { edge: { clinicId, dataDir: restored }, backup: loadEdgeBackupConfig({}, { ...backupEnv }) };
  const r = await restoreEdge(ctx, { dest: restored, from: 'remote' });
  const bSeq = Number(r.manifest.info.lastSeq);
  t.ok(bSeq >= 2300 && bSeq < lastBeforeLoss, `backup point at seq ${bSeq}`);
  t.ok(r.rejoin, 'reconciled with central');
  t.equal(r.rejoin!.centralAppliedSeq, lastBeforeLoss);
  t.equal(r.rejoin!.recovered, lastBeforeLoss - bSeq, 'records written after the backup recovered from central');
  t.equal(r.rejoin!.nextSeq, lastBeforeLoss + 1, 'seq fast-forwarded past central\'s watermark');
  t.equal(r.rejoin!.unfillableGap, null);

  edge = await edgeInProcess(ns.url, clinicId, restored);
  t.equal(edge.store.stats().lastSeq, lastBeforeLoss);
  const res = edge.store.db.prepare<[string], { version: number; payload: string }>("SELECT version, payload FROM records WHERE type = 'resident' AND record_id = ?").get(corrected.residentId)!;
  t.equal(res.version, 2, 'the correction made after the backup is back at the edge');
  t.match(JSON.parse(res.payload), { phone: '13912345678' });
  // A further correction gets version 3 (version 2 is at central already: no collision).
  edge.store.write('resident', corrected.residentId, { ...corrected, phone: '13700000000' });
  writeActivity(edge, lastBeforeLoss + 1000, 4, 20);
  const finalSeq = edge.store.stats().lastSeq;
  await waitFor('restored edge caught up', async () => (await central.wh.watermark(clinicId)).appliedSeq === finalSeq, 60_000);
  const check = await setCheck(central.wh, clinicId, finalSeq);
  t.same([check.lost, check.duplicated, check.unexpected, check.inOrder], [0, 0, 0, true], check.line);
  const dead = (await central.wh.deadLetters(1000)).filter((d) => d.clinicId === clinicId);
  t.same(dead.map((d) => d.reason), [], 'no seq collision or other dead letter');
  // Nothing lost at the edge either: it holds every record central has for the clinic, latest version.
  const centralLatest = central.wh.db.prepare<[string], { type: string; record_id: string; v: number }>('SELECT type, record_id, max(version) AS v FROM records WHERE clinic_id = ? GROUP BY type, record_id').all(clinicId);
  const edgeRows = new Map(edge.store.db.prepare<[], { type: string; record_id: string; version: number }>('SELECT type, record_id, version FROM records').all().map((x) => [`${x.type}/${x.record_id}`, x.version]));
  const missing = centralLatest.filter((x) => edgeRows.get(`${x.type}/${x.record_id}`) !== x.v);
  t.equal(missing.length, 0, `edge holds all ${centralLatest.length} records at their latest version`);
  await waitFor('outbox trimmed', () => edge.store.stats().outboxDepth === 0, 20_000);
});
