/**
 * Point-in-time restore between backup points: a copy restored "at T" equals, record by
 * record, what the live edge held at T (records and residents tables, next seq), for times
 * between two backups, after the last backup, and exactly at a point; a time before the
 * oldest point is refused; a time after central's newest record is reported as incomplete.
 * Real nats-server, real central (the journal), a real edge writing while it is backed up.
 */
import t from 'tap';
import { mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { clinicBackupToken, generateKeyFile } from '../../contracts/backup/index.ts';
import { loadEdgeBackupConfig } from '../../edge-agent/backup/config.ts';
import { backupEdge, uploadAndPrune, type EdgeBackupContext } from '../../edge-agent/backup/edge-backup.ts';
import { restoreEdgeAt } from '../../edge-agent/backup/pitr.ts';
import { makeResident, prng } from '../../edge-agent/sim/generate.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

interface State { records: Record<string, unknown>[]; residents: Record<string, unknown>[]; nextSeq: string }

function state(dbFile: string): State {
  const db = new Database(dbFile, { readonly: true });
  try {
    return {
      records: db.prepare('SELECT type, record_id, version, hlc, payload, updated_at FROM records ORDER BY type, record_id').all() as Record<string, unknown>[],
      residents: db.prepare('SELECT * FROM residents ORDER BY resident_id').all() as Record<string, unknown>[],
      nextSeq: (db.prepare("SELECT value FROM meta WHERE key = 'next_seq'").get() as { value: string }).value,
    };
  } finally {
    db.close();
  }
}

/** Record-by-record comparison, naming the first differences (a failing test says which record). */
function diff(got: State, want: State): string[] {
  const key = (r: Record<string, unknown>) => `${String(r.type ?? 'resident')}/${String(r.record_id ?? r.resident_id)}`;
  const out: string[] = [];
  if (got.nextSeq !== want.nextSeq) out.push(`next_seq ${got.nextSeq} != ${want.nextSeq}`);
  for (const table of ['records', 'residents'] as const) {
    const g = new Map(got[table].map((r) => [key(r), JSON.stringify(r)]));
    const w = new Map(want[table].map((r) => [key(r), JSON.stringify(r)]));
    for (const [k, v] of w) if (g.get(k) !== v) out.push(`${table} ${k}: ${g.has(k) ? 'differs' : 'missing'}`);
    for (const k of g.keys()) if (!w.has(k)) out.push(`${table} ${k}: not in live at that time`);
  }
  return out.slice(0, 10);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('restore --at T between backups equals the live edge at T, record by record', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('bk-pitr');
  t.teardown(tmp.cleanup);
  const secret = 'test-backup-target-secret-pitr';
  const clinicId = clinicName('pt');
  mkdirSync(join(tmp.dir, 'keys'));
  const keyFile = join(tmp.dir, 'keys', 'backup.key');
  generateKeyFile(keyFile);
  process.env.CENTRAL_BACKUP_TARGET_SECRET = secret;
  process.env.CENTRAL_BACKUP_TARGET_MIN_FREE_BYTES = '0';
  const central = await centralInProcess(ns.url, join(tmp.dir, 'central'));
  t.teardown(() => central.stop());
  const dataDir = join(tmp.dir, 'edge');
  const edge = await edgeInProcess(ns.url, clinicId, dataDir);
  t.teardown(() => edge.stop());
  const ctx: EdgeBackupContext = {
    edge: { clinicId, dataDir },
    backup: loadEdgeBackupConfig({}, {
      EDGE_BACKUP_KEY_FILE: keyFile, EDGE_BACKUP_LOCAL_DIR: join(tmp.dir, 'edge-backups'),
      EDGE_BACKUP_REMOTE_URL: `${central.http.url}/backup/v1`, EDGE_BACKUP_REMOTE_TOKEN: clinicBackupToken(secret, clinicId),
    }),
  };
  const db = join(dataDir, 'edge.db');
  const rnd = prng(5);
  const corrected = makeResident(rnd);
  /** Write, then take T in a quiet moment: the state observed then is the live state at T. */
  const moments: { name: string; at: Date; state: State }[] = [];
  const mark = async (name: string) => {
    await sleep(5);
    const s = state(db);
    const at = new Date();
    moments.push({ name, at, state: s });
    await sleep(5);
  };

  writeActivity(edge, 800, 1, 10);
  edge.store.write('resident', corrected.residentId, corrected);
  await mark('before the first backup');
  await backupEdge(ctx, { kind: 'full' });
  await mark('exactly after the first backup');
  writeActivity(edge, 1200, 2, 10);
  edge.store.write('resident', corrected.residentId, { ...corrected, phone: '13911112222' });
  await mark('between backups (a correction included)');
  writeActivity(edge, 1500, 3, 1);
  edge.store.write('resident', corrected.residentId, { ...corrected, phone: '13933334444', name: '改名' });
  await mark('between backups, later (a second correction)');
  writeActivity(edge, 1700, 4, 5);
  await backupEdge(ctx);
  writeActivity(edge, 2100, 5, 10);
  await mark('after the last backup');
  writeActivity(edge, 2300, 6, 10);
  const last = edge.store.stats().lastSeq;
  await waitFor('central applied everything', async () => (await central.wh.watermark(clinicId)).appliedSeq === last, 60_000);
  await uploadAndPrune(ctx);

  // Before the oldest point: refused, nothing left behind.
  const tooEarly = join(tmp.dir, 'r-early');
  await t.rejects(restoreEdgeAt(ctx, { dest: tooEarly, at: new Date(moments[0]!.at.getTime() - 60_000) }), { code: 'NOT_FOUND', message: /no backup point at or before/ });
  t.notOk(existsSync(tooEarly), 'no directory for a refused restore');

  for (const [i, m] of moments.entries()) {
    if (i === 0) continue; // before the first point: not restorable (above)
    const dest = join(tmp.dir, `r-${i}`);
    const r = await restoreEdgeAt(ctx, { dest, at: m.at, from: i % 2 ? 'local' : 'remote' });
    t.ok(r.pitr.complete, `${m.name}: complete (${r.pitr.note})`);
    const d = diff(state(join(dest, 'edge.db')), m.state);
    t.same(d, [], `${m.name}: ${m.state.records.length} records, ${m.state.residents.length} residents equal to live at ${m.at.toISOString()} (point seq ${r.pitr.pointSeq} + ${r.pitr.replayed} replayed)`);
  }
  const between = await restoreEdgeAt(ctx, { dest: join(tmp.dir, 'r-between'), at: moments[2]!.at });
  t.ok(between.pitr.replayed > 0, 'between backups, records were replayed after the point');
  t.equal(between.pitr.pointSeq, 801, 'from the first point');
  const rdb = new Database(join(tmp.dir, 'r-between', 'edge.db'), { readonly: true });
  t.ok(rdb.prepare("SELECT value FROM meta WHERE key = 'backup_rejoin_pending'").get(), 'a past copy is marked as not reconciled');
  rdb.close();

  // Now (after central's newest record): the copy is everything central has, reported as such.
  await sleep(20);
  const now = await restoreEdgeAt(ctx, { dest: join(tmp.dir, 'r-now'), at: new Date() });
  t.equal(now.pitr.complete, false, 'no record after T at central: completeness unknown');
  t.equal(now.pitr.lastSeq, last);
  t.match(now.pitr.note, /not in this copy/);
});
