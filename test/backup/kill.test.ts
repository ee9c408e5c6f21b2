/**
 * kill -9 of the backup CLI mid-backup and of the restore CLI mid-restore (child processes):
 * the live database stays intact and writable, no backup point or restored directory is
 * half-visible, and the next run cleans up and succeeds.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { LocalDirTarget, generateKeyFile, listPoints } from '../../contracts/backup/index.ts';
import { EdgeStore } from '../../edge-agent/store/store.ts';
import { backupMigrations } from '../../edge-agent/backup/migrations.ts';
import { loadEdgeBackupConfig } from '../../edge-agent/backup/config.ts';
import { backupEdge, restoreEdge, type EdgeBackupContext } from '../../edge-agent/backup/edge-backup.ts';
import { writeActivity } from '../helpers/activity.ts';
import { ROOT, tempDir } from '../helpers/spine.ts';
import { nodeCommand, TS_IMPORT } from '../helpers/node-child.ts';

/** Run the CLI; SIGKILL it as soon as a stderr line matches `killOn`. Resolves with its output. */
function runCli(args: string[], env: Record<string, string>, killOn: RegExp): Promise<{ killed: boolean; out: string }> {
  return new Promise((resolve) => {
    const cmd = nodeCommand([...TS_IMPORT, join(ROOT, 'edge-agent/backup/cli.ts'), ...args]);
    const p = spawn(cmd.file, cmd.args, { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let killed = false;
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    createInterface({ input: p.stderr! }).on('line', (line) => {
      out += `${line}\n`;
      if (!killed && killOn.test(line)) { killed = true; p.kill('SIGKILL'); }
    });
    p.once('exit', () => resolve({ killed, out }));
  });
}

const digest = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

t.test('kill -9 during backup and during restore', async (t) => {
  const tmp = tempDir('bk-kill');
  t.teardown(tmp.cleanup);
  const dataDir = join(tmp.dir, 'data');
  const clinicId = 'c03-kill';
  const store = new EdgeStore(join(dataDir, 'edge.db'), clinicId, backupMigrations);
  t.teardown(() => store.close());
  writeActivity({ store }, 5000, 1, 100);
  mkdirSync(join(dataDir, 'dicom', 's1'), { recursive: true });
  for (let i = 0; i < 24; i++) writeFileSync(join(dataDir, 'dicom', 's1', `${i}.dcm`), randomBytes(2 << 20));
  mkdirSync(join(tmp.dir, 'keys'));
  const keyFile = join(tmp.dir, 'keys', 'k');
  generateKeyFile(keyFile);
  const localDir = join(tmp.dir, 'backups');
  const env = { EDGE_CLINIC_ID: clinicId, EDGE_DATA_DIR: dataDir, EDGE_BACKUP_KEY_FILE: keyFile, EDGE_BACKUP_LOCAL_DIR: localDir };
  const ctx: EdgeBackupContext = { edge: { clinicId, dataDir }, backup: loadEdgeBackupConfig({ keyFile, localDir }, {}) };

  // 1. A first good point, made by the CLI.
  const first = await runCli(['backup', '--no-upload'], env, /^$/);
  t.match(first.out, /backup point .* \(full\)/, 'CLI prints a summary');

  // 2. kill -9 in the middle of the next backup (rate-limited so it is mid-way), while the clinic keeps writing.
  writeActivity({ store }, 6000, 2, 100);
  const writer = setInterval(() => writeActivity({ store }, store.stats().lastSeq + 20, Date.now() % 1000, 20), 20);
  const killedRun = await runCli(['backup', '--no-upload', '--full', '--rate', String(8 << 20)], env, /chunk\s+\d+%.*dicom/);
  clearInterval(writer);
  t.ok(killedRun.killed, 'backup killed mid-way');
  const repo = new LocalDirTarget(localDir);
  t.equal((await listPoints(repo)).length, 1, 'the killed backup is not a backup point');
  t.ok(repo.leftovers().length + (existsSync(join(localDir, 'backup.lock')) ? 1 : 0) > 0, `it left ${repo.leftovers().join(', ')}`);
  t.equal(store.db.pragma('integrity_check', { simple: true }), 'ok', 'live database intact');
  const before = store.stats().lastSeq;
  writeActivity({ store }, before + 10, 3, 10);
  t.equal(store.stats().lastSeq, before + 10, 'live database still writable');

  // 3. The next backup takes over the stale lock, removes the leftovers and succeeds.
  const b = await backupEdge(ctx);
  t.same(repo.leftovers(), [], 'leftovers removed');
  t.equal((await listPoints(repo)).length, 2);
  const liveSeq = store.stats().lastSeq;
  t.equal(b.manifest.info.lastSeq, liveSeq, 'the new point has everything committed before it');

  // 4. kill -9 mid-restore: no restored directory appears; a second restore succeeds.
  const dest = join(tmp.dir, 'restored');
  const killedRestore = await runCli(['restore', '--to', dest, '--no-rejoin'], env, /restore\s+\d+%/);
  t.ok(killedRestore.killed, 'restore killed mid-way');
  t.notOk(existsSync(dest) && readdirSync(dest).length > 0, 'no half-restored directory at the destination');
  const r = await restoreEdge(ctx, { dest, rejoin: false });
  t.notOk(existsSync(`${dest}.restoring`), 'the killed restore\'s work directory is gone');
  const differ = Array.from({ length: 24 }, (_, i) => `s1/${i}.dcm`).filter((f) => digest(join(r.dest, 'dicom', f)) !== digest(join(dataDir, 'dicom', f)));
  t.same(differ, [], 'every DICOM file restored byte-identical');
  const restored = new EdgeStore(join(r.dest, 'edge.db'), clinicId, backupMigrations);
  t.equal(restored.stats().lastSeq, liveSeq, 'restored database opens at the backup point');
  restored.close();
});
