/**
 * Local accounts of the edge web UI (MLPS 3): unique accounts, scrypt password hashes,
 * complexity rules, lockout after repeated failures, idle session timeout, audit of every
 * login and account change. Works offline: the clinic's accounts live at the clinic.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { hashPassword, NO_PASSWORD, verifyPassword } from '../../contracts/runtime/passwords.ts';
import { AUDIT_LIMITS } from '../../contracts/records-audit.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Statement } from 'better-sqlite3';
import type { Tx } from '../store/store.ts';

export const ROLES = ['registrar', 'doctor', 'nurse', 'pharmacist', 'cashier', 'lab_tech', 'imaging_tech', 'device_tech', 'clinic_admin'] as const;
export type Role = (typeof ROLES)[number];

export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MINUTES = 15;
export const SESSION_IDLE_MINUTES = 15;
/** A session's `last_seen_at` is written when it moved by more than this (the exact time is kept in memory). */
export const SESSION_TOUCH_WRITE_MS = 60_000;

export interface User {
  username: string;
  displayName: string;
  role: Role;
  mustChangePassword: boolean;
}

export class AccountError extends Error {
  override name = 'AccountError';
  constructor(readonly field: string, message: string) {
    super(message);
  }
}

/** GB/T 22239 level 3 asks for complexity: >= 8 characters from at least 3 of 4 classes. */
export function passwordProblem(p: string): string | null {
  if (p.length < 8) return '密码至少8位 / at least 8 characters';
  const classes = [/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z0-9]/].filter((r) => r.test(p)).length;
  if (classes < 3) return '密码须包含大写字母、小写字母、数字、符号中的至少三类 / use at least 3 of: upper case, lower case, digits, symbols';
  return null;
}

export type LoginResult = { ok: true; user: User; token: string } | { ok: false; reason: 'bad_credentials' | 'locked' | 'inactive'; lockedUntil?: string };

/** Where audit entries replicate: the edge store's transactional outbox (`EdgeStore`). */
export interface AuditOutbox {
  transact<T>(fn: (tx: Tx) => T): T;
}

export interface AccountsOptions {
  /**
   * Replicate every audit entry as an `audit_event` record, emitted in the same transaction as
   * its local `audit_log` row. Without it (tools, first-start bootstrap) entries are local only.
   */
  outbox?: AuditOutbox;
  /**
   * Group-commit window in ms (default 0 = the next turn of the event loop). Entries of all
   * requests in the window share one transaction, i.e. one fsync.
   */
  groupCommitMs?: number;
  /** Old behaviour for the benchmark's before/after: one synchronous commit per entry and per session touch. */
  unbatched?: boolean;
}

type AuditRow = { at: string; username: string; action: string; target: string; sourceIp: string; outcome: string };
type Pending = { entries: AuditRow[]; touches: Map<string, string>; promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void };

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n) : s);

/**
 * Audit durability (MLPS level 3 audit integrity): `audit()` queues the entry in a group commit
 * and `durable()` resolves once every entry queued so far is COMMITted (synchronous=FULL, so on
 * disk). The web layer awaits `durable()` before any response leaves (`mountWeb`), so data is
 * never shown before the audit entry describing its access is durable, while the entries of
 * concurrent requests share one transaction (one fsync) instead of one each. If the commit fails
 * the response is replaced by an error. `flush()` commits synchronously (clean shutdown, reads).
 */
export class Accounts {
  private outbox: AuditOutbox | undefined;
  private readonly groupCommitMs: number;
  private readonly unbatched: boolean;
  private pending: Pending | null = null;
  /** Exact last activity per session (token hash -> ms); the database copy lags by up to SESSION_TOUCH_WRITE_MS. */
  private readonly lastSeen = new Map<string, number>();
  private readonly st: {
    insertAudit: Statement<[string, string, string, string, string, string]>;
    touch: Statement<[string, string, string]>;
    session: Statement<[string], { username: string; last_seen_at: string; display_name: string; role: Role; active: number; must_change_password: number }>;
  };
  /** Group commits done and entries written (bench and metrics). */
  readonly counters = { commits: 0, entries: 0, touches: 0 };

  constructor(private readonly db: Db, opts: AccountsOptions = {}) {
    this.outbox = opts.outbox;
    this.groupCommitMs = opts.groupCommitMs ?? 0;
    this.unbatched = opts.unbatched ?? false;
    this.st = {
      insertAudit: db.prepare<[string, string, string, string, string, string]>('INSERT INTO audit_log (at, username, action, target, source_ip, outcome) VALUES (?, ?, ?, ?, ?, ?)'),
      touch: db.prepare<[string, string, string]>('UPDATE sessions SET last_seen_at = ? WHERE token_hash = ? AND last_seen_at < ?'),
      session: db.prepare<[string], { username: string; last_seen_at: string; display_name: string; role: Role; active: number; must_change_password: number }>(
        'SELECT s.username, s.last_seen_at, u.display_name, u.role, u.active, u.must_change_password FROM sessions s JOIN users u ON u.username = s.username WHERE s.token_hash = ?'),
    };
  }

  /** Start replicating audit entries through the outbox (the agent attaches it after the first-start bootstrap). */
  replicateTo(outbox: AuditOutbox): void {
    this.flush(); // entries queued before stay local
    this.outbox = outbox;
  }

  /** Queue an audit entry (who, what, when, from where, outcome); durable at the next group commit. */
  audit(username: string, action: string, target: string, sourceIp: string, outcome: string): void {
    const row: AuditRow = { at: new Date().toISOString(), username, action, target, sourceIp, outcome };
    if (this.unbatched) { this.commit([row], new Map()); return; }
    this.batch().entries.push(row);
  }

  /** Resolves when every audit entry and session touch queued so far is committed; rejects if that commit failed. */
  durable(): Promise<void> {
    return this.pending ? this.pending.promise : Promise.resolve();
  }

  /** Commit what is queued now, synchronously (clean shutdown; reads of the audit log). */
  flush(): void {
    const p = this.pending;
    if (!p) return;
    this.pending = null;
    try {
      this.commit(p.entries, p.touches);
      p.resolve();
    } catch (e) {
      p.reject(e);
      throw e;
    }
  }

  private batch(): Pending {
    if (this.pending) return this.pending;
    let resolve!: () => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej; });
    promise.catch(() => undefined); // a failed commit is reported to whoever awaits durable()
    const p: Pending = { entries: [], touches: new Map(), promise, resolve, reject };
    this.pending = p;
    const run = () => { if (this.pending === p) { try { this.flush(); } catch { /* rejected above */ } } };
    if (this.groupCommitMs > 0) setTimeout(run, this.groupCommitMs);
    else setImmediate(run);
    return p;
  }

  /** One transaction: local audit rows + their `audit_event` outbox records + session touches. */
  private commit(entries: AuditRow[], touches: Map<string, string>): void {
    if (entries.length === 0 && touches.size === 0) return;
    const write = (tx: Tx | null) => {
      for (const e of entries) {
        this.st.insertAudit.run(e.at, e.username, e.action, e.target, e.sourceIp, e.outcome);
        if (tx) {
          const auditId = randomUUID();
          tx.emit('audit_event', auditId, {
            auditId, at: e.at, username: clip(e.username || '(empty)', AUDIT_LIMITS.username), action: clip(e.action || '(none)', AUDIT_LIMITS.action),
            target: clip(e.target, AUDIT_LIMITS.target), sourceIp: clip(e.sourceIp, AUDIT_LIMITS.sourceIp), outcome: clip(e.outcome, AUDIT_LIMITS.outcome),
          });
        }
      }
      for (const [hash, at] of touches) this.st.touch.run(at, hash, at);
    };
    if (this.outbox && entries.length > 0) this.outbox.transact((tx) => write(tx));
    else this.db.transaction(() => write(null)).immediate();
    this.counters.commits++;
    this.counters.entries += entries.length;
    this.counters.touches += touches.size;
  }

  count(): number {
    return this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM users').get()!.n;
  }

  create(u: { username: string; displayName: string; role: Role; password: string; mustChangePassword?: boolean }, actor: string, ip: string): void {
    if (!/^[a-z][a-z0-9_.-]{2,31}$/.test(u.username)) throw new AccountError('username', '用户名须为3-32位小写字母、数字或 _ . - / username: 3-32 lower-case letters, digits, _ . -');
    if (!(ROLES as readonly string[]).includes(u.role)) throw new AccountError('role', `unknown role ${u.role}`);
    if (!u.displayName.trim()) throw new AccountError('displayName', '请填写姓名 / display name is required');
    const problem = passwordProblem(u.password);
    if (problem) throw new AccountError('password', problem);
    const now = new Date().toISOString();
    try {
      this.db.prepare('INSERT INTO users (username, display_name, role, password_hash, password_changed_at, must_change_password, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(u.username, u.displayName.trim(), u.role, hashPassword(u.password), now, u.mustChangePassword ? 1 : 0, now);
    } catch (e) {
      if (/UNIQUE/.test((e as Error).message)) throw new AccountError('username', `用户名 ${u.username} 已存在 / already exists`);
      throw e;
    }
    this.audit(actor, 'user.create', `${u.username} (${u.role})`, ip, 'ok');
  }

  /**
   * Checks the password off the event loop (see contracts/runtime/passwords.ts); an unknown user
   * name costs the same check, so the answer's timing does not tell which names exist.
   */
  async login(username: string, password: string, ip: string): Promise<LoginResult> {
    const row = this.db.prepare<[string], { username: string; display_name: string; role: Role; password_hash: string; locked_until: string | null; active: number; must_change_password: number }>(
      'SELECT * FROM users WHERE username = ?').get(username);
    const now = new Date();
    if (!row) {
      await verifyPassword(password, NO_PASSWORD);
      this.audit(username || '(empty)', 'login', 'web', ip, 'unknown user');
      return { ok: false, reason: 'bad_credentials' };
    }
    if (row.locked_until && Date.parse(row.locked_until) > now.getTime()) {
      this.audit(username, 'login', 'web', ip, 'locked');
      return { ok: false, reason: 'locked', lockedUntil: row.locked_until };
    }
    if (!row.active) {
      this.audit(username, 'login', 'web', ip, 'inactive');
      return { ok: false, reason: 'inactive' };
    }
    if (!(await verifyPassword(password, row.password_hash))) {
      // Counted in SQL: attempts checked at the same time each count (a read before the check and
      // a write after it would lose all but one of them).
      const failed = this.db.prepare<[string], { failed_logins: number }>('UPDATE users SET failed_logins = failed_logins + 1 WHERE username = ? RETURNING failed_logins').get(username)?.failed_logins ?? 1;
      const lockedUntil = failed >= MAX_FAILED_LOGINS ? new Date(Date.now() + LOCKOUT_MINUTES * 60_000).toISOString() : null;
      if (lockedUntil) this.db.prepare('UPDATE users SET failed_logins = 0, locked_until = ? WHERE username = ?').run(lockedUntil, username);
      this.audit(username, 'login', 'web', ip, lockedUntil ? `bad password; locked until ${lockedUntil}` : `bad password (${failed}/${MAX_FAILED_LOGINS})`);
      return lockedUntil ? { ok: false, reason: 'locked', lockedUntil } : { ok: false, reason: 'bad_credentials' };
    }
    // The account may have been locked or disabled while the password was being checked.
    const current = this.db.prepare<[string], { locked_until: string | null; active: number }>('SELECT locked_until, active FROM users WHERE username = ?').get(username);
    if (!current || !current.active) {
      this.audit(username, 'login', 'web', ip, 'inactive');
      return { ok: false, reason: 'inactive' };
    }
    if (current.locked_until && Date.parse(current.locked_until) > Date.now()) {
      this.audit(username, 'login', 'web', ip, 'locked');
      return { ok: false, reason: 'locked', lockedUntil: current.locked_until };
    }
    this.db.prepare('UPDATE users SET failed_logins = 0, locked_until = NULL WHERE username = ?').run(username);
    const token = randomBytes(32).toString('base64url');
    this.db.prepare('INSERT INTO sessions (token_hash, username, created_at, last_seen_at, source_ip) VALUES (?, ?, ?, ?, ?)').run(sha(token), username, now.toISOString(), now.toISOString(), ip);
    this.audit(username, 'login', 'web', ip, 'ok');
    return { ok: true, token, user: { username, displayName: row.display_name, role: row.role, mustChangePassword: row.must_change_password === 1 } };
  }

  /** The session's user, or null if unknown or idle for longer than the timeout (then it is ended). */
  session(token: string | undefined): User | null {
    if (!token) return null;
    const hash = sha(token);
    const row = this.st.session.get(hash);
    if (!row) { this.lastSeen.delete(hash); return null; }
    const now = Date.now();
    const stored = Date.parse(row.last_seen_at);
    const seen = Math.max(stored, this.lastSeen.get(hash) ?? 0);
    if (!row.active || now - seen > SESSION_IDLE_MINUTES * 60_000) {
      this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(hash);
      this.lastSeen.delete(hash);
      return null;
    }
    // The idle timeout runs from the exact last activity (memory); the database copy is written
    // only when it moved by > SESSION_TOUCH_WRITE_MS, in the audit group commit (no fsync of its
    // own). After a restart a session may so end up to that much earlier, never later.
    this.lastSeen.set(hash, now);
    if (this.lastSeen.size > 10_000) this.pruneLastSeen(now);
    if (this.unbatched) { this.db.prepare('UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?').run(new Date(now).toISOString(), hash); this.counters.commits++; this.counters.touches++; }
    else if (now - stored > SESSION_TOUCH_WRITE_MS) this.batch().touches.set(hash, new Date(now).toISOString());
    return { username: row.username, displayName: row.display_name, role: row.role, mustChangePassword: row.must_change_password === 1 };
  }

  private pruneLastSeen(now: number): void {
    for (const [h, t] of this.lastSeen) if (now - t > SESSION_IDLE_MINUTES * 60_000) this.lastSeen.delete(h);
  }

  logout(token: string | undefined): void {
    if (!token) return;
    this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(sha(token));
    this.lastSeen.delete(sha(token));
  }

  list(): (User & { lockedUntil: string | null; active: boolean })[] {
    return this.db.prepare<[], { username: string; display_name: string; role: Role; must_change_password: number; locked_until: string | null; active: number }>('SELECT * FROM users ORDER BY username').all()
      .map((r) => ({ username: r.username, displayName: r.display_name, role: r.role, mustChangePassword: r.must_change_password === 1, lockedUntil: r.locked_until, active: r.active === 1 }));
  }

  recentAudit(limit: number): { at: string; username: string; action: string; target: string; sourceIp: string; outcome: string }[] {
    this.flush();
    return this.db.prepare<[number], { at: string; username: string; action: string; target: string; source_ip: string; outcome: string }>('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(limit)
      .map((r) => ({ at: r.at, username: r.username, action: r.action, target: r.target, sourceIp: r.source_ip, outcome: r.outcome }));
  }
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
