/** The 备份 page and status API at a running edge: clinic_admin only, "back up now" runs a backup. */
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generateKeyFile } from '../../contracts/backup/index.ts';
import { startNatsServer } from '../helpers/nats-server.ts';
import { clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';

t.test('backup page, status API, back up now, metrics', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('bk-page');
  t.teardown(tmp.cleanup);
  mkdirSync(join(tmp.dir, 'keys'));
  generateKeyFile(join(tmp.dir, 'keys', 'k'));
  Object.assign(process.env, { EDGE_BACKUP_KEY_FILE: join(tmp.dir, 'keys', 'k'), EDGE_BACKUP_LOCAL_DIR: join(tmp.dir, 'backups'), EDGE_BACKUP_TICK_MS: '3600000' });
  const edge = await edgeInProcess(ns.url, clinicName('pg'), join(tmp.dir, 'edge'), { adminPassword: 'Admin-Pass-123!' });
  t.teardown(() => edge.stop());
  writeActivity(edge, 300, 1, 50);
  const login = await fetch(`${edge.http.url}/login`, { method: 'POST', body: new URLSearchParams({ username: 'admin', password: 'Admin-Pass-123!' }), redirect: 'manual' });
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  t.ok(cookie.startsWith('edge_session='), 'signed in');
  const page = await fetch(`${edge.http.url}/backup`, { headers: { cookie } });
  t.equal(page.status, 200);
  t.match(await page.text(), /data-testid="backup-last-success">从未</);
  const run = await fetch(`${edge.http.url}/backup/run`, { method: 'POST', headers: { cookie } });
  t.equal(run.status, 200);
  await waitFor('backup done', async () => {
    const s = await (await fetch(`${edge.http.url}/api/backup/status`, { headers: { cookie } })).json() as { running: string | null; lastSuccess: unknown; lastDrill: unknown };
    return !s.running && !!s.lastSuccess && !!s.lastDrill;
  }, 60_000);
  const s = await (await fetch(`${edge.http.url}/api/backup/status?lang=en`, { headers: { cookie } })).json() as { lastSuccess: { kind: string }; lastDrill: { ok: boolean }; points: number };
  t.equal(s.lastSuccess.kind, 'full');
  t.equal(s.lastDrill.ok, true);
  t.equal(s.points, 1);
  t.match(await (await fetch(`${edge.http.url}/backup?lang=en`, { headers: { cookie } })).text(), /passed · RPO/);
  const m = await (await fetch(`${edge.http.url}/metrics`)).text();
  t.match(m, /edge_backup_last_success_timestamp_seconds\{[^}]*\} \d{10}/);
  t.match(m, /edge_backup_drill_ok\{[^}]*\} 1/);
  t.match(m, /edge_backup_runs_total\{what="backup",outcome="success"[^}]*\} 1/);
  t.equal((await fetch(`${edge.http.url}/backup`, { redirect: 'manual' })).status, 302, 'signed-out users are sent to the login page');
});
