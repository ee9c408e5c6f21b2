/** The directory flush keeps a descriptor per study directory: it must always name the directory at that path. */
import t from 'tap';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { dirHandleIdentity, fsyncDirShared, releaseDirHandles } from './atomic-file.ts';
import { tempDir } from './test-support/harness.ts';

const openFds = () => readdirSync('/proc/self/fd').length;
const identity = (dir: string) => {
  const s = statSync(dir);
  return { dev: s.dev, ino: s.ino };
};

t.test('one descriptor per directory, reused; a directory removed and created again gets a new one', async (t) => {
  using d = tempDir('atomic-');
  const study = join(d.dir, '1.2.3');
  mkdirSync(study);
  writeFileSync(join(study, '.a.tmp'), 'x');
  renameSync(join(study, '.a.tmp'), join(study, 'a.dcm'));
  await fsyncDirShared(study);
  t.same(dirHandleIdentity(study), identity(study), 'kept for the directory at that path');
  const fds = openFds();
  for (let i = 0; i < 5; i++) await fsyncDirShared(study);
  t.equal(openFds(), fds, 'no descriptor per flush');

  // a purge removes the study; a later instance of it creates the directory again
  rmSync(study, { recursive: true });
  mkdirSync(study);
  t.notSame(identity(study), dirHandleIdentity(study), 'the kept descriptor names the removed directory');
  await fsyncDirShared(study);
  t.same(dirHandleIdentity(study), identity(study), 'the flush used (and kept) the new directory');
  t.equal(openFds(), fds, 'the old descriptor was closed');

  rmSync(study, { recursive: true });
  await t.rejects(fsyncDirShared(study), { code: 'ENOENT' }, 'a directory that is gone is an error, as before');
  t.equal(dirHandleIdentity(study), null);
  t.equal(openFds(), fds - 1);
});

t.test('concurrent flushes share a descriptor; the number kept is bounded; release closes them', async (t) => {
  using d = tempDir('atomic-');
  const fds = openFds();
  const dirs = Array.from({ length: 50 }, (_, i) => join(d.dir, `2.25.${i}`));
  for (const dir of dirs) mkdirSync(dir);
  await Promise.all(dirs.flatMap((dir) => [fsyncDirShared(dir), fsyncDirShared(dir), fsyncDirShared(dir)]));
  const kept = dirs.filter((dir) => dirHandleIdentity(dir) !== null);
  t.ok(kept.length <= 32, `at most 32 kept (${kept.length})`);
  t.ok(openFds() - fds <= 32, 'descriptors bounded');
  for (const dir of kept) t.same(dirHandleIdentity(dir), identity(dir));
  releaseDirHandles(d.dir);
  t.equal(dirs.filter((dir) => dirHandleIdentity(dir) !== null).length, 0);
  t.equal(openFds(), fds, 'all closed');
});
