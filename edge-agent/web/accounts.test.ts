import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { auditEventSchema } from '../../contracts/records-audit.ts';
import { EdgeStore } from '../store/store.ts';
import { Accounts, SESSION_IDLE_MINUTES, SESSION_TOUCH_WRITE_MS } from './accounts.ts';
import { mountWeb } from './app.tsx';

function setup(t: Test, opts: { replicate?: boolean; groupCommitMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'accounts-'));
  const store = new EdgeStore(join(dir, 'edge.db'), `acc-${Math.random().toString(16).slice(2, 8)}`);
  const accounts = new Accounts(store.db, { groupCommitMs: opts.groupCommitMs });
  accounts.create({ username: 'admin1', displayName: '管理员', role: 'clinic_admin', password: 'Test-pass-123' }, 'system', 'local');
  if (opts.replicate !== false) accounts.replicateTo(store);
  t.teardown(() => { try { accounts.flush(); } catch { /* closed */ } store.close(); rmSync(dir, { recursive: true, force: true }); });
  return { store, accounts };
}
const auditRows = (s: EdgeStore) => s.db.prepare<[], { action: string; outcome: string; username: string }>('SELECT action, outcome, username FROM audit_log ORDER BY id').all();
const outboxAudit = (s: EdgeStore) => s.db.prepare<[], { envelope: string }>("SELECT envelope FROM outbox WHERE type = 'audit_event' ORDER BY seq").all()
  .map((r) => (JSON.parse(r.envelope) as { payload: unknown }).payload);

t.test('every audit entry after the bootstrap replicates as an audit_event in the same commit as its local row', async (t) => {
  // Commits gathered over 1 s: the two sign-ins below are checked concurrently (each password on
  // the thread pool) and their audit entries queued within that window.
  const { store, accounts } = setup(t, { groupCommitMs: 1000 });
  t.equal(outboxAudit(store).length, 0, 'the bootstrap account creation stays local');
  t.equal(auditRows(store).length, 1);
  const [wrong, nobody] = await Promise.all([accounts.login('admin1', 'wrong', '10.0.0.7'), accounts.login('nobody', 'x', '10.0.0.7')]);
  t.equal(wrong.ok, false);
  t.equal(nobody.ok, false);
  t.equal(auditRows(store).length, 1, 'queued, not yet committed');
  await accounts.durable();
  // The two checks ran concurrently: their entries are in whichever order they finished.
  t.same(auditRows(store).map((r) => `${r.username} ${r.action} ${r.outcome}`).sort(), ['admin1 login bad password (1/5)', 'nobody login unknown user', 'system user.create ok']);
  const events = outboxAudit(store);
  t.equal(events.length, 2, 'one audit_event per entry');
  for (const e of events) t.ok(auditEventSchema.safeParse(e).success, 'valid audit_event');
  t.match(events.find((e) => (e as { username: string }).username === 'admin1'), { username: 'admin1', action: 'login', target: 'web', sourceIp: '10.0.0.7', outcome: 'bad password (1/5)' });
  t.equal(accounts.counters.commits, 2, 'the two sign-in failures shared one commit (the first was the bootstrap)');

  // Over-long free text is clipped to the schema, never fails the write.
  accounts.audit('admin1', 'x'.repeat(300), 'y'.repeat(900), 'ip', 'z'.repeat(900));
  accounts.flush();
  const last = outboxAudit(store).at(-1) as { action: string; target: string };
  t.equal(last.action.length, 100);
  t.equal(last.target.length, 500);

  // A failing commit rejects durable(); nothing half-written.
  const before = auditRows(store).length;
  store.db.exec("CREATE TRIGGER audit_fail BEFORE INSERT ON outbox WHEN NEW.type = 'audit_event' BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END");
  accounts.audit('admin1', 'resident.view', 'resident:r1', 'ip', 'ok');
  await t.rejects(accounts.durable(), /disk full/, 'durable() reports the failed commit');
  t.equal(auditRows(store).length, before, 'the local row rolled back with its outbox row');
  store.db.exec('DROP TRIGGER audit_fail');
});

t.test('the web layer answers only after the audit entry is committed; a failed commit shows nothing', async (t) => {
  const { store, accounts } = setup(t);
  const app = new Hono();
  const ui = mountWeb(app, { accounts, clinicName: '测试', nav: [], status: () => ({ hb: { relayState: 'connected', outboxDepth: 0 } as never, lastReceiptAt: null }) });
  ui.page('get', '/secret', [], (c, u) => { accounts.audit(u.username, 'resident.view', 'resident:r9', 'ip', 'ok'); return c.text('resident r9 data'); });
  const l = await accounts.login('admin1', 'Test-pass-123', 'ip');
  if (!l.ok) throw new Error('login');
  await accounts.durable();
  const seqBefore = store.stats().lastSeq;
  const res = await app.request('/secret', { headers: { cookie: `edge_session=${l.token}` } });
  t.equal(await res.text(), 'resident r9 data');
  // No await between the response and this read: the entry was durable before the response.
  t.equal(store.stats().lastSeq, seqBefore + 1, 'the audit_event was committed before the response');
  t.match(auditRows(store).at(-1), { action: 'resident.view', outcome: 'ok' });

  store.db.exec("CREATE TRIGGER audit_fail BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk full (test)'); END");
  const bad = await app.request('/secret', { headers: { cookie: `edge_session=${l.token}` } });
  t.equal(bad.status, 503, 'audit not durable: the data is not shown');
  t.notMatch(await bad.text(), /r9 data/);
  store.db.exec('DROP TRIGGER audit_fail');
});

t.test('session touch: written only when it moved by more than a minute; the idle timeout stays exact', async (t) => {
  const { store, accounts } = setup(t, { replicate: false });
  const l = await accounts.login('admin1', 'Test-pass-123', 'ip');
  if (!l.ok) throw new Error('login');
  await accounts.durable();
  const stored = () => store.db.prepare<[], { last_seen_at: string }>('SELECT last_seen_at FROM sessions').get()!.last_seen_at;
  const first = stored();
  const realNow = Date.now;
  t.teardown(() => { Date.now = realNow; });
  let now = realNow();
  Date.now = () => now;
  now += 30_000;
  t.ok(accounts.session(l.token), 'active after 30 s');
  await accounts.durable();
  t.equal(stored(), first, 'not written: moved by less than a minute');
  now += SESSION_TOUCH_WRITE_MS - 20_000; // 70 s after sign-in
  t.ok(accounts.session(l.token));
  await accounts.durable();
  t.equal(Date.parse(stored()), now, 'written once it moved by more than a minute');
  // Activity every 50 s keeps the session alive far beyond the timeout (written at most once a minute).
  for (let i = 0; i < 30; i++) { now += 50_000; t.ok(accounts.session(l.token), `active at +${i * 50} s`); }
  await accounts.durable();
  // Exactly the idle timeout after the last activity: still valid; 1 ms later: ended.
  now += 30_000;
  t.ok(accounts.session(l.token));
  await accounts.durable();
  t.ok(Date.parse(stored()) < now, 'the database copy lags the last activity');
  now += SESSION_IDLE_MINUTES * 60_000;
  t.ok(accounts.session(l.token), 'valid at exactly the idle timeout after the last activity');
  now += SESSION_IDLE_MINUTES * 60_000 + 1;
  t.equal(accounts.session(l.token), null, 'ended after the idle timeout');
  t.equal((store.db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n, 0, 'the ended session is deleted');
});

t.test('sign-in: concurrent wrong passwords each count towards the lockout; an unknown name costs a real check', async (t) => {
  const { store, accounts } = setup(t, { replicate: false });
  let ticked = false;
  setImmediate(() => { ticked = true; });
  t.equal((await accounts.login('ghost', 'Whatever-1', 'ip')).ok, false);
  t.ok(ticked, 'an unknown user name went through a password check too (off the event loop)');
  // Five wrong passwords at once: checked concurrently, all counted (a read before the check and
  // a write after it would have counted one).
  const results = await Promise.all(Array.from({ length: 5 }, () => accounts.login('admin1', 'Wrong-pass-1', 'ip')));
  t.equal(results.filter((r) => !r.ok && r.reason === 'locked').length, 1, 'the fifth failure locks the account');
  const locked = await accounts.login('admin1', 'Test-pass-123', 'ip');
  t.match(locked, { ok: false, reason: 'locked' }, 'even the right password is refused while locked');
  await accounts.durable();
  t.equal(store.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM audit_log WHERE username = 'admin1' AND outcome LIKE 'bad password%'").get()!.n, 5, 'five failures audited');

  // An account disabled while its password was being checked is not signed in.
  accounts.create({ username: 'nurse1', displayName: '护士', role: 'nurse', password: 'Test-pass-123' }, 'admin1', 'ip');
  const pending = accounts.login('nurse1', 'Test-pass-123', 'ip');
  store.db.prepare("UPDATE users SET active = 0 WHERE username = 'nurse1'").run();
  t.match(await pending, { ok: false, reason: 'inactive' });
  t.equal(store.db.prepare<[], { n: number }>("SELECT count(*) AS n FROM sessions WHERE username = 'nurse1'").get()!.n, 0, 'no session was created');
});
