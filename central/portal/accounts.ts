/**
 * Portal accounts (MLPS level 3): unique accounts, scrypt password hashes with complexity rules,
 * TOTP second factor for EVERY account (otpauth, RFC 6238, one use per time step), lockout after
 * repeated failures, idle and absolute session timeouts, per-session CSRF token. Each account has
 * a role and an organisation unit that scopes what it can see.
 */
import { createHash, randomBytes } from 'node:crypto';
import { hashPassword, NO_PASSWORD, verifyPassword } from '../../contracts/runtime/passwords.ts';
import * as OTPAuth from 'otpauth';
import type { SqlDb } from '../analytics/sql.ts';

export const PORTAL_ROLES = ['admin', 'district_manager', 'centre_manager', 'qc_officer', 'auditor', 'radiologist'] as const;
export type PortalRole = (typeof PORTAL_ROLES)[number];

export const MAX_FAILED = 5;
export const LOCK_MINUTES = 15;
export const IDLE_MINUTES = 15;
export const ABSOLUTE_HOURS = 8;
const ISSUER = '区卫健局管理平台';

export interface PortalUser {
  username: string;
  displayName: string;
  role: PortalRole;
  orgId: string;
}

export interface Session { user: PortalUser; stage: 'password' | 'full'; csrf: string; enrolled: boolean }

export class AccountError extends Error {
  override name = 'AccountError';
  constructor(readonly field: string, message: string) { super(message); }
}

export function passwordProblem(p: string): string | null {
  if (p.length < 10) return '密码至少10位 / at least 10 characters';
  if ([/[a-z]/, /[A-Z]/, /\d/, /[^A-Za-z0-9]/].filter((r) => r.test(p)).length < 3) return '密码须包含大写、小写、数字、符号中的至少三类 / use 3 of: upper, lower, digits, symbols';
  return null;
}

export function totpFor(username: string, secret: string): OTPAuth.TOTP {
  return new OTPAuth.TOTP({ issuer: ISSUER, label: username, secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' });
}

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

type UserRow = { username: string; display_name: string; role: PortalRole; org_id: string; password_hash: string; totp_secret: string; totp_enrolled: number; last_totp_step: number | null; failed_logins: number; locked_until: string | null; active: number };

export type LoginResult = { ok: true; token: string; enrolled: boolean } | { ok: false; reason: 'bad_credentials' | 'locked' | 'inactive'; lockedUntil?: string };

export class PortalAccounts {
  constructor(private readonly db: SqlDb, private readonly audit: (actor: string, action: string, target: string, ip: string, outcome: string) => Promise<void>) {}

  async count(): Promise<number> {
    return Number((await this.db.get<{ n: number }>('SELECT count(*) AS n FROM portal_users'))?.n ?? 0);
  }

  /** Creates an account with a fresh TOTP secret; returns the secret and otpauth URI (shown once). */
  async create(u: { username: string; displayName: string; role: PortalRole; orgId: string; password: string; enrolled?: boolean }, actor: string, ip: string): Promise<{ secret: string; uri: string }> {
    if (!/^[a-z][a-z0-9_.-]{2,31}$/.test(u.username)) throw new AccountError('username', '用户名须为3-32位小写字母、数字或 _ . - / 3-32 lower-case letters, digits, _ . -');
    if (!(PORTAL_ROLES as readonly string[]).includes(u.role)) throw new AccountError('role', `unknown role ${u.role}`);
    if (!u.displayName.trim()) throw new AccountError('displayName', '请填写姓名 / name required');
    const problem = passwordProblem(u.password);
    if (problem) throw new AccountError('password', problem);
    const secret = new OTPAuth.Secret({ size: 20 }).base32;
    const now = new Date().toISOString();
    if (await this.db.get('SELECT 1 AS x FROM portal_users WHERE username = ?', [u.username])) throw new AccountError('username', `用户名 ${u.username} 已存在 / already exists`);
    await this.db.run(`INSERT INTO portal_users (username, display_name, role, org_id, password_hash, totp_secret, totp_enrolled, failed_logins, active, created_at, password_changed_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, 0, 1, ?, ?)`, [u.username, u.displayName.trim(), u.role, u.orgId, hashPassword(u.password), secret, u.enrolled ? 1 : 0, now, now]);
    await this.audit(actor, 'portal.user.create', `${u.username} (${u.role} @ ${u.orgId})`, ip, 'ok');
    return { secret, uri: totpFor(u.username, secret).toString() };
  }

  private async row(username: string): Promise<UserRow | undefined> {
    return this.db.get<UserRow>('SELECT * FROM portal_users WHERE username = ?', [username]);
  }

  /** Step 1: password. A good password opens a half session that can only do the TOTP step. */
  async login(username: string, password: string, ip: string): Promise<LoginResult> {
    const row = await this.row(username);
    const now = new Date();
    if (!row) {
      // Same work as a real check so timing does not reveal which usernames exist.
      await verifyPassword(password, NO_PASSWORD);
      await this.audit(username || '(empty)', 'portal.login', 'password', ip, 'unknown user');
      return { ok: false, reason: 'bad_credentials' };
    }
    if (row.locked_until && Date.parse(row.locked_until) > now.getTime()) {
      await this.audit(username, 'portal.login', 'password', ip, 'locked');
      return { ok: false, reason: 'locked', lockedUntil: row.locked_until };
    }
    if (!row.active) {
      await this.audit(username, 'portal.login', 'password', ip, 'inactive');
      return { ok: false, reason: 'inactive' };
    }
    if (!(await verifyPassword(password, row.password_hash))) return this.fail(row, ip, 'bad password');
    // The account may have been locked or disabled while the password was being checked.
    const current = await this.row(username);
    if (!current || !current.active) {
      await this.audit(username, 'portal.login', 'password', ip, 'inactive');
      return { ok: false, reason: 'inactive' };
    }
    if (current.locked_until && Date.parse(current.locked_until) > Date.now()) {
      await this.audit(username, 'portal.login', 'password', ip, 'locked');
      return { ok: false, reason: 'locked', lockedUntil: current.locked_until };
    }
    const token = randomBytes(32).toString('base64url');
    await this.db.run('INSERT INTO portal_sessions (token_hash, username, stage, csrf, created_at, last_seen_at, source_ip) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [sha(token), username, 'password', randomBytes(24).toString('base64url'), now.toISOString(), now.toISOString(), ip]);
    await this.audit(username, 'portal.login', 'password', ip, 'password ok, awaiting TOTP');
    return { ok: true, token, enrolled: row.totp_enrolled === 1 };
  }

  private async fail(row: UserRow, ip: string, what: string): Promise<LoginResult> {
    // Counted in SQL: failures checked at the same time each count (the row read before an
    // awaited check would give them all the same count).
    const counted = await this.db.get<{ failed_logins: number }>('UPDATE portal_users SET failed_logins = failed_logins + 1 WHERE username = ? RETURNING failed_logins', [row.username]);
    const failed = Number(counted?.failed_logins ?? 1);
    const lockedUntil = failed >= MAX_FAILED ? new Date(Date.now() + LOCK_MINUTES * 60_000).toISOString() : null;
    if (lockedUntil) await this.db.run('UPDATE portal_users SET failed_logins = 0, locked_until = ? WHERE username = ?', [lockedUntil, row.username]);
    await this.audit(row.username, 'portal.login', what.includes('TOTP') ? 'totp' : 'password', ip, lockedUntil ? `${what}; locked until ${lockedUntil}` : `${what} (${failed}/${MAX_FAILED})`);
    return lockedUntil ? { ok: false, reason: 'locked', lockedUntil } : { ok: false, reason: 'bad_credentials' };
  }

  /** Step 2: TOTP code (also confirms enrolment). Failures count towards the same lockout. */
  async verifyTotp(token: string, code: string, ip: string): Promise<LoginResult> {
    const s = await this.db.get<{ username: string; stage: string }>('SELECT username, stage FROM portal_sessions WHERE token_hash = ?', [sha(token)]);
    if (!s || s.stage !== 'password') return { ok: false, reason: 'bad_credentials' };
    const row = await this.row(s.username);
    if (!row || !row.active) return { ok: false, reason: 'inactive' };
    if (row.locked_until && Date.parse(row.locked_until) > Date.now()) return { ok: false, reason: 'locked', lockedUntil: row.locked_until };
    const totp = totpFor(row.username, row.totp_secret);
    const delta = /^\d{6}$/.test(code) ? totp.validate({ token: code, window: 1 }) : null;
    const step = delta === null ? null : Math.floor(Date.now() / 30_000) + delta;
    // A code is good once: a replayed (or older) step is refused.
    if (delta === null || (row.last_totp_step !== null && step! <= Number(row.last_totp_step))) {
      const r = await this.fail(row, ip, delta === null ? 'bad TOTP code' : 'TOTP code replayed');
      if (!r.ok && r.reason === 'locked') await this.db.run('DELETE FROM portal_sessions WHERE username = ?', [row.username]);
      return r;
    }
    await this.db.run('UPDATE portal_users SET failed_logins = 0, locked_until = NULL, last_totp_step = ?, totp_enrolled = 1 WHERE username = ?', [step, row.username]);
    // A new token after the second factor (session fixation).
    const fresh = randomBytes(32).toString('base64url');
    const now = new Date().toISOString();
    await this.db.run('UPDATE portal_sessions SET token_hash = ?, stage = ?, created_at = ?, last_seen_at = ? WHERE token_hash = ?', [sha(fresh), 'full', now, now, sha(token)]);
    await this.audit(row.username, 'portal.login', 'totp', ip, row.totp_enrolled ? 'ok' : 'ok (TOTP enrolled)');
    return { ok: true, token: fresh, enrolled: true };
  }

  /** The session (null when unknown, idle too long or too old; such sessions are ended). */
  async session(token: string | undefined): Promise<Session | null> {
    if (!token) return null;
    const s = await this.db.get<{ username: string; stage: 'password' | 'full'; csrf: string; created_at: string; last_seen_at: string; display_name: string; role: PortalRole; org_id: string; active: number; totp_enrolled: number }>(
      `SELECT s.username, s.stage, s.csrf, s.created_at, s.last_seen_at, u.display_name, u.role, u.org_id, u.active, u.totp_enrolled
       FROM portal_sessions s JOIN portal_users u ON u.username = s.username WHERE s.token_hash = ?`, [sha(token)]);
    if (!s) return null;
    const now = Date.now();
    const idle = s.stage === 'password' ? 5 : IDLE_MINUTES;
    if (!s.active || now - Date.parse(s.last_seen_at) > idle * 60_000 || now - Date.parse(s.created_at) > ABSOLUTE_HOURS * 3600_000) {
      await this.db.run('DELETE FROM portal_sessions WHERE token_hash = ?', [sha(token)]);
      return null;
    }
    await this.db.run('UPDATE portal_sessions SET last_seen_at = ? WHERE token_hash = ?', [new Date(now).toISOString(), sha(token)]);
    return { user: { username: s.username, displayName: s.display_name, role: s.role, orgId: s.org_id }, stage: s.stage, csrf: s.csrf, enrolled: s.totp_enrolled === 1 };
  }

  async enrolmentUri(token: string): Promise<{ uri: string; secret: string } | null> {
    const s = await this.db.get<{ username: string; totp_secret: string; totp_enrolled: number }>('SELECT u.username, u.totp_secret, u.totp_enrolled FROM portal_sessions s JOIN portal_users u ON u.username = s.username WHERE s.token_hash = ? AND s.stage = ?', [sha(token), 'password']);
    if (!s || s.totp_enrolled) return null;
    return { uri: totpFor(s.username, s.totp_secret).toString(), secret: s.totp_secret };
  }

  async logout(token: string | undefined): Promise<void> {
    if (token) await this.db.run('DELETE FROM portal_sessions WHERE token_hash = ?', [sha(token)]);
  }

  async list(): Promise<(PortalUser & { active: boolean; lockedUntil: string | null; enrolled: boolean; createdAt: string })[]> {
    const rows = await this.db.all<UserRow & { created_at: string }>('SELECT * FROM portal_users ORDER BY username');
    return rows.map((r) => ({ username: r.username, displayName: r.display_name, role: r.role, orgId: r.org_id, active: r.active === 1, lockedUntil: r.locked_until, enrolled: r.totp_enrolled === 1, createdAt: r.created_at }));
  }

  async update(username: string, change: { role?: PortalRole; orgId?: string; active?: boolean; unlock?: boolean; resetTotp?: boolean; password?: string }, actor: string, ip: string): Promise<{ secret?: string; uri?: string }> {
    const row = await this.row(username);
    if (!row) throw new AccountError('username', `no such user ${username}`);
    if (change.role && !(PORTAL_ROLES as readonly string[]).includes(change.role)) throw new AccountError('role', 'unknown role');
    if (change.password !== undefined) {
      const p = passwordProblem(change.password);
      if (p) throw new AccountError('password', p);
    }
    const out: { secret?: string; uri?: string } = {};
    if (change.role) await this.db.run('UPDATE portal_users SET role = ? WHERE username = ?', [change.role, username]);
    if (change.orgId) await this.db.run('UPDATE portal_users SET org_id = ? WHERE username = ?', [change.orgId, username]);
    if (change.active !== undefined) await this.db.run('UPDATE portal_users SET active = ? WHERE username = ?', [change.active ? 1 : 0, username]);
    if (change.unlock) await this.db.run('UPDATE portal_users SET locked_until = NULL, failed_logins = 0 WHERE username = ?', [username]);
    if (change.password !== undefined) await this.db.run('UPDATE portal_users SET password_hash = ?, password_changed_at = ? WHERE username = ?', [hashPassword(change.password), new Date().toISOString(), username]);
    if (change.resetTotp) {
      out.secret = new OTPAuth.Secret({ size: 20 }).base32;
      out.uri = totpFor(username, out.secret).toString();
      await this.db.run('UPDATE portal_users SET totp_secret = ?, totp_enrolled = 0, last_totp_step = NULL WHERE username = ?', [out.secret, username]);
    }
    // Any change to an account ends its sessions: the new role/scope applies at once.
    await this.db.run('DELETE FROM portal_sessions WHERE username = ?', [username]);
    await this.audit(actor, 'portal.user.update', `${username}: ${Object.keys(change).filter((k) => k !== 'password').join(', ')}${change.password !== undefined ? ', password' : ''}`, ip, 'ok');
    return out;
  }
}
