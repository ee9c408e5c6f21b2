/**
 * Local accounts of the edge web UI (MLPS 3): unique accounts, scrypt password hashes,
 * complexity rules, lockout after repeated failures, idle session timeout, audit of every
 * login and account change. Works offline: the clinic's accounts live at the clinic.
 */
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { Db } from '../../contracts/runtime/index.ts';

export const ROLES = ['registrar', 'doctor', 'nurse', 'pharmacist', 'cashier', 'lab_tech', 'imaging_tech', 'device_tech', 'clinic_admin'] as const;
export type Role = (typeof ROLES)[number];

export const MAX_FAILED_LOGINS = 5;
export const LOCKOUT_MINUTES = 15;
export const SESSION_IDLE_MINUTES = 15;

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

export function hashPassword(plain: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(plain, salt, 32, { N: 16384, r: 8, p: 1 });
  return `scrypt$16384$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function verifyPassword(plain: string, stored: string): boolean {
  const [, n, salt, key] = stored.split('$');
  if (!n || !salt || !key) return false;
  const want = Buffer.from(key, 'base64');
  const got = scryptSync(plain, Buffer.from(salt, 'base64'), want.length, { N: Number(n), r: 8, p: 1 });
  return timingSafeEqual(want, got);
}

/** GB/T 22239 level 3 asks for complexity: >= 8 characters from at least 3 of 4 classes. */
export function passwordProblem(p: string): string | null {
  if (p.length < 8) return '密码至少8位 / at least 8 characters';
  const classes = [/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z0-9]/].filter((r) => r.test(p)).length;
  if (classes < 3) return '密码须包含大写字母、小写字母、数字、符号中的至少三类 / use at least 3 of: upper case, lower case, digits, symbols';
  return null;
}

export type LoginResult = { ok: true; user: User; token: string } | { ok: false; reason: 'bad_credentials' | 'locked' | 'inactive'; lockedUntil?: string };

export class Accounts {
  constructor(private readonly db: Db) {}

  audit(username: string, action: string, target: string, sourceIp: string, outcome: string): void {
    this.db.prepare('INSERT INTO audit_log (at, username, action, target, source_ip, outcome) VALUES (?, ?, ?, ?, ?, ?)').run(new Date().toISOString(), username, action, target, sourceIp, outcome);
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

  login(username: string, password: string, ip: string): LoginResult {
    const row = this.db.prepare<[string], { username: string; display_name: string; role: Role; password_hash: string; failed_logins: number; locked_until: string | null; active: number; must_change_password: number }>(
      'SELECT * FROM users WHERE username = ?').get(username);
    const now = new Date();
    if (!row) {
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
    if (!verifyPassword(password, row.password_hash)) {
      const failed = row.failed_logins + 1;
      const lockedUntil = failed >= MAX_FAILED_LOGINS ? new Date(now.getTime() + LOCKOUT_MINUTES * 60_000).toISOString() : null;
      this.db.prepare('UPDATE users SET failed_logins = ?, locked_until = ? WHERE username = ?').run(lockedUntil ? 0 : failed, lockedUntil, username);
      this.audit(username, 'login', 'web', ip, lockedUntil ? `bad password; locked until ${lockedUntil}` : `bad password (${failed}/${MAX_FAILED_LOGINS})`);
      return lockedUntil ? { ok: false, reason: 'locked', lockedUntil } : { ok: false, reason: 'bad_credentials' };
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
    const row = this.db.prepare<[string], { username: string; last_seen_at: string; display_name: string; role: Role; active: number; must_change_password: number }>(
      'SELECT s.username, s.last_seen_at, u.display_name, u.role, u.active, u.must_change_password FROM sessions s JOIN users u ON u.username = s.username WHERE s.token_hash = ?').get(sha(token));
    if (!row) return null;
    if (!row.active || Date.now() - Date.parse(row.last_seen_at) > SESSION_IDLE_MINUTES * 60_000) {
      this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(sha(token));
      return null;
    }
    this.db.prepare('UPDATE sessions SET last_seen_at = ? WHERE token_hash = ?').run(new Date().toISOString(), sha(token));
    return { username: row.username, displayName: row.display_name, role: row.role, mustChangePassword: row.must_change_password === 1 };
  }

  logout(token: string | undefined): void {
    if (token) this.db.prepare('DELETE FROM sessions WHERE token_hash = ?').run(sha(token));
  }

  list(): (User & { lockedUntil: string | null; active: boolean })[] {
    return this.db.prepare<[], { username: string; display_name: string; role: Role; must_change_password: number; locked_until: string | null; active: number }>('SELECT * FROM users ORDER BY username').all()
      .map((r) => ({ username: r.username, displayName: r.display_name, role: r.role, mustChangePassword: r.must_change_password === 1, lockedUntil: r.locked_until, active: r.active === 1 }));
  }

  recentAudit(limit: number): { at: string; username: string; action: string; target: string; sourceIp: string; outcome: string }[] {
    return this.db.prepare<[number], { at: string; username: string; action: string; target: string; source_ip: string; outcome: string }>('SELECT * FROM audit_log ORDER BY id DESC LIMIT ?').all(limit)
      .map((r) => ({ at: r.at, username: r.username, action: r.action, target: r.target, sourceIp: r.source_ip, outcome: r.outcome }));
  }
}

function sha(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}
