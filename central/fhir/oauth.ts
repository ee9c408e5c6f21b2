/**
 * OAuth 2.0 client credentials for third parties on the FHIR API (RFC 6749 §4.4, SMART backend
 * services scopes): a client registry (managed through /api/oauth by an administrator), short-lived
 * opaque bearer tokens with SMART system scopes, expiry and revocation (RFC 7009).
 *
 * Secrets and tokens are 256-bit random values; only their SHA-256 is stored (they are not
 * passwords: no slow hash is needed for values nobody can guess). Tables oauth_client and
 * oauth_token live next to the warehouse (both backends), created idempotently.
 *
 * Scopes: `system/<Type|*>.<read|write|*>` (SMART v1) or `system/<Type|*>.<c|r|u|d|s>+` (v2).
 * read = r + s, write = c + u + d.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Warehouse } from '../warehouse/types.ts';
import { all, run, sqlFor, type Op, type Sql } from '../empi/sql.ts';
import { fhirReader } from './store.ts';

export type Interaction = 'c' | 'r' | 'u' | 'd' | 's';
export interface Scope { type: string; ops: Set<Interaction> }

const SCOPE = /^system\/(\*|[A-Z][A-Za-z]{1,40})\.(read|write|\*|[cruds]{1,5})$/;

export function parseScope(s: string): Scope | null {
  const m = SCOPE.exec(s);
  if (!m) return null;
  const p = m[2]!;
  const ops = new Set<Interaction>(p === 'read' ? ['r', 's'] : p === 'write' ? ['c', 'u', 'd'] : p === '*' ? ['c', 'r', 'u', 'd', 's'] : [...p] as Interaction[]);
  return { type: m[1]!, ops };
}

/** Does `granted` (scope strings) allow interaction `op` on resource `type`? */
export function permits(granted: readonly string[], type: string, op: Interaction): boolean {
  return granted.some((g) => {
    const s = parseScope(g);
    return !!s && (s.type === '*' || s.type === type) && s.ops.has(op);
  });
}

/** Is every interaction of `requested` within one of `allowed`? */
function covered(requested: Scope, allowed: readonly string[]): boolean {
  return [...requested.ops].every((op) => (requested.type === '*' ? allowed.some((a) => { const s = parseScope(a); return !!s && s.type === '*' && s.ops.has(op); }) : permits(allowed, requested.type, op)));
}

export class OAuthError extends Error {
  override name = 'OAuthError';
  constructor(readonly status: 400 | 401 | 404 | 409, readonly error: 'invalid_request' | 'invalid_client' | 'invalid_grant' | 'unsupported_grant_type' | 'invalid_scope' | 'not_found' | 'conflict', message: string) {
    super(message);
  }
}

export interface ClientInfo { clientId: string; name: string; scopes: string[]; ratePerMinute: number; tokenTtlSeconds: number; createdAt: string; revokedAt: string | null }
export interface TokenInfo { clientId: string; scopes: string[]; expiresAt: number; rate: number }
export type VerifyResult = { ok: true; token: TokenInfo } | { ok: false; reason: string };

const CLIENT_ID = /^[a-z0-9][a-z0-9-]{1,23}$/;
const sha = (s: string) => createHash('sha256').update(s).digest('hex');
const secret = () => randomBytes(32).toString('base64url');

export const OAUTH_SCHEMA = [
  { sqlite: `CREATE TABLE IF NOT EXISTS oauth_client (client_id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT NOT NULL, scopes TEXT NOT NULL,
      rate_per_minute INTEGER NOT NULL, token_ttl_s INTEGER NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)`,
  pg: `CREATE TABLE IF NOT EXISTS oauth_client (client_id TEXT PRIMARY KEY, name TEXT NOT NULL, secret_hash TEXT NOT NULL, scopes TEXT NOT NULL,
      rate_per_minute INTEGER NOT NULL, token_ttl_s INTEGER NOT NULL, created_at TEXT NOT NULL, revoked_at TEXT)` },
  { sqlite: 'CREATE TABLE IF NOT EXISTS oauth_token (token_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, scopes TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at TEXT)',
    pg: 'CREATE TABLE IF NOT EXISTS oauth_token (token_hash TEXT PRIMARY KEY, client_id TEXT NOT NULL, scopes TEXT NOT NULL, issued_at BIGINT NOT NULL, expires_at BIGINT NOT NULL, revoked_at TEXT)' },
  { sqlite: 'CREATE INDEX IF NOT EXISTS oauth_token_client ON oauth_token (client_id)', pg: 'CREATE INDEX IF NOT EXISTS oauth_token_client ON oauth_token (client_id)' },
];

export interface OAuthOptions {
  /** Milliseconds since the epoch (tests move time forward to expire tokens). */
  now?: () => number;
  /** Default token lifetime; SMART backend services recommends at most 5 minutes. */
  tokenTtlSeconds?: number;
  /**
   * How long a verified token is trusted from memory before the database is asked again (default
   * 1000 ms; 0 = ask on every request). Revocations through this instance take effect at once;
   * this bounds how late a revocation made by another central instance or process is seen.
   */
  tokenRecheckMs?: number;
}

/** Verified tokens kept in memory: at most this many. */
const CACHE_MAX = 10_000;

export class OAuth {
  private readonly sql: Sql;
  /** Plain reads outside a transaction (token checks: one indexed lookup, no lock). */
  private readonly read: ReturnType<typeof fhirReader>;
  private ready: Promise<void> | undefined;
  readonly now: () => number;
  private readonly ttl: number;
  private readonly recheckMs: number;
  /**
   * Verified tokens (in memory only, keyed by the token so a hit costs no hash; the database keeps
   * only hashes): a hit is used while younger than `recheckMs` and never past the token's expiry;
   * revocations through this instance drop entries.
   */
  private readonly verified = new Map<string, { token: TokenInfo; checkedAt: number }>();
  /** Bumped by every revocation here: a check that read the database before it does not fill the cache. */
  private revocations = 0;
  /** Token checks answered from memory / from the database (tests, metrics). */
  readonly verifyStats = { cached: 0, database: 0 };

  constructor(wh: Warehouse, opts: OAuthOptions = {}) {
    this.sql = sqlFor(wh);
    this.read = fhirReader(wh);
    this.now = opts.now ?? Date.now;
    this.ttl = opts.tokenTtlSeconds ?? 300;
    this.recheckMs = opts.tokenRecheckMs ?? 1000;
  }

  init(): Promise<void> {
    this.ready ??= this.sql.ensure(OAUTH_SCHEMA);
    return this.ready;
  }

  private async tx<T>(body: () => Generator<Op, T, unknown>): Promise<T> {
    await this.init();
    return this.sql.tx(body, 'oauth');
  }

  /** Register a client; the secret is returned once and only its hash is kept. */
  async createClient(c: { clientId: string; name: string; scopes: string[]; ratePerMinute?: number; tokenTtlSeconds?: number }): Promise<ClientInfo & { clientSecret: string }> {
    if (!CLIENT_ID.test(c.clientId)) throw new OAuthError(400, 'invalid_request', 'client id: 2-24 lower-case letters, digits and dashes');
    const bad = c.scopes.filter((s) => !parseScope(s));
    if (bad.length || c.scopes.length === 0) throw new OAuthError(400, 'invalid_scope', `scopes must look like system/Patient.read or system/*.write${bad.length ? `; not understood: ${bad.join(' ')}` : ''}`);
    const s = secret();
    const info: ClientInfo = { clientId: c.clientId, name: c.name, scopes: c.scopes, ratePerMinute: c.ratePerMinute ?? 600, tokenTtlSeconds: c.tokenTtlSeconds ?? this.ttl, createdAt: new Date(this.now()).toISOString(), revokedAt: null };
    await this.tx(function* () {
      if ((yield* all('SELECT 1 AS x FROM oauth_client WHERE client_id = ?', [c.clientId])).length) throw new OAuthError(409, 'conflict', `client ${c.clientId} exists`);
      yield* run('INSERT INTO oauth_client (client_id, name, secret_hash, scopes, rate_per_minute, token_ttl_s, created_at, revoked_at) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)',
        [info.clientId, info.name, sha(s), info.scopes.join(' '), info.ratePerMinute, info.tokenTtlSeconds, info.createdAt]);
    });
    return { ...info, clientSecret: s };
  }

  async clients(): Promise<ClientInfo[]> {
    return this.tx(function* () {
      return (yield* all<{ client_id: string; name: string; scopes: string; rate_per_minute: number; token_ttl_s: number; created_at: string; revoked_at: string | null }>('SELECT * FROM oauth_client ORDER BY client_id'))
        .map((r) => ({ clientId: r.client_id, name: r.name, scopes: r.scopes.split(' '), ratePerMinute: Number(r.rate_per_minute), tokenTtlSeconds: Number(r.token_ttl_s), createdAt: r.created_at, revokedAt: r.revoked_at }));
    });
  }

  /** Revoke a client and every token it holds. */
  async revokeClient(clientId: string): Promise<void> {
    const at = new Date(this.now()).toISOString();
    await this.tx(function* () {
      if ((yield* run('UPDATE oauth_client SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL', [at, clientId])) === 0) {
        if (!(yield* all('SELECT 1 AS x FROM oauth_client WHERE client_id = ?', [clientId])).length) throw new OAuthError(404, 'not_found', `no client ${clientId}`);
      }
      yield* run('UPDATE oauth_token SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL', [at, clientId]);
    });
    this.revocations++;
    for (const [h, v] of this.verified) if (v.token.clientId === clientId) this.verified.delete(h);
  }

  /** A new secret; the old one stops working (tokens already issued run to their expiry). */
  async rotateSecret(clientId: string): Promise<string> {
    const s = secret();
    await this.tx(function* () {
      if ((yield* run('UPDATE oauth_client SET secret_hash = ? WHERE client_id = ? AND revoked_at IS NULL', [sha(s), clientId])) === 0) throw new OAuthError(404, 'not_found', `no active client ${clientId}`);
    });
    return s;
  }

  /** client_credentials grant: check the client, grant the requested scopes it holds, issue a token. */
  async issueToken(clientId: string, clientSecret: string, requested?: string): Promise<{ access_token: string; token_type: 'Bearer'; expires_in: number; scope: string }> {
    const now = this.now();
    const token = secret();
    return this.tx(function* () {
      const c = (yield* all<{ secret_hash: string; scopes: string; token_ttl_s: number; revoked_at: string | null }>('SELECT secret_hash, scopes, token_ttl_s, revoked_at FROM oauth_client WHERE client_id = ?', [clientId]))[0];
      const given = Buffer.from(sha(clientSecret));
      if (!c || c.revoked_at !== null || !timingSafeEqual(given, Buffer.from(c.secret_hash))) throw new OAuthError(401, 'invalid_client', 'unknown client, wrong secret or revoked client');
      const allowed = c.scopes.split(' ');
      let scopes = allowed;
      if (requested !== undefined && requested.trim() !== '') {
        const want = requested.trim().split(/\s+/);
        const unparsable = want.filter((w) => !parseScope(w));
        if (unparsable.length) throw new OAuthError(400, 'invalid_scope', `scope not understood: ${unparsable.join(' ').slice(0, 200)}`);
        scopes = want.filter((w) => covered(parseScope(w)!, allowed));
        if (scopes.length === 0) throw new OAuthError(400, 'invalid_scope', `none of the requested scopes is granted to this client (allowed: ${allowed.join(' ')})`);
      }
      const ttl = Number(c.token_ttl_s);
      yield* run('INSERT INTO oauth_token (token_hash, client_id, scopes, issued_at, expires_at, revoked_at) VALUES (?, ?, ?, ?, ?, NULL)', [sha(token), clientId, scopes.join(' '), now, now + ttl * 1000]);
      // Expired tokens are kept a day for the audit trail, then dropped.
      yield* run('DELETE FROM oauth_token WHERE client_id = ? AND expires_at < ?', [clientId, now - 86_400_000]);
      return { access_token: token, token_type: 'Bearer' as const, expires_in: ttl, scope: scopes.join(' ') };
    });
  }

  async verify(token: string): Promise<VerifyResult> {
    if (!/^[A-Za-z0-9_-]{20,100}$/.test(token)) return { ok: false, reason: 'malformed token' };
    const now = this.now();
    const hit = this.verified.get(token);
    if (hit && now - hit.checkedAt < this.recheckMs && now >= hit.checkedAt) {
      if (hit.token.expiresAt <= now) {
        this.verified.delete(token);
        return { ok: false, reason: 'token expired' };
      }
      this.verifyStats.cached++;
      return { ok: true, token: hit.token };
    }
    this.verifyStats.database++;
    const generation = this.revocations;
    await this.init();
    // A single read, not a serialised transaction.
    const r = (await this.read<{ client_id: string; scopes: string; expires_at: number; revoked_at: string | null; client_revoked: string | null; rate: number }>(
      `SELECT t.client_id, t.scopes, t.expires_at, t.revoked_at, c.revoked_at AS client_revoked, c.rate_per_minute AS rate
       FROM oauth_token t JOIN oauth_client c ON c.client_id = t.client_id WHERE t.token_hash = ?`, [sha(token)]))[0];
    let result: VerifyResult;
    if (!r) result = { ok: false, reason: 'unknown token' };
    else if (r.revoked_at !== null || r.client_revoked !== null) result = { ok: false, reason: 'token revoked' };
    else if (Number(r.expires_at) <= now) result = { ok: false, reason: 'token expired' };
    else result = { ok: true, token: { clientId: r.client_id, scopes: r.scopes.split(' '), expiresAt: Number(r.expires_at), rate: Number(r.rate) } };
    if (!result.ok) this.verified.delete(token);
    else if (this.recheckMs > 0 && generation === this.revocations) {
      if (this.verified.size >= CACHE_MAX) {
        for (const [h, v] of this.verified) if (v.token.expiresAt <= now || now - v.checkedAt >= this.recheckMs) this.verified.delete(h);
        if (this.verified.size >= CACHE_MAX) this.verified.clear();
      }
      this.verified.set(token, { token: result.token, checkedAt: now });
    }
    return result;
  }

  /** RFC 7009: revoke a token the client holds (unknown tokens are not an error). */
  async revokeToken(clientId: string, clientSecret: string, token: string): Promise<void> {
    const at = new Date(this.now()).toISOString();
    await this.tx(function* () {
      const c = (yield* all<{ secret_hash: string; revoked_at: string | null }>('SELECT secret_hash, revoked_at FROM oauth_client WHERE client_id = ?', [clientId]))[0];
      if (!c || !timingSafeEqual(Buffer.from(sha(clientSecret)), Buffer.from(c.secret_hash))) throw new OAuthError(401, 'invalid_client', 'unknown client or wrong secret');
      yield* run('UPDATE oauth_token SET revoked_at = ? WHERE token_hash = ? AND client_id = ? AND revoked_at IS NULL', [at, sha(token), clientId]);
    });
    // Another client's token is not revoked by this call, but checking it again costs one read.
    this.revocations++;
    this.verified.delete(token);
  }
}

/** Per-client request budget (token bucket per minute), in memory per central instance. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  /** Seconds to wait, or 0 when the request may go ahead. */
  take(key: string, perMinute: number): number {
    const t = this.now();
    const b = this.buckets.get(key) ?? { tokens: perMinute, at: t };
    b.tokens = Math.min(perMinute, b.tokens + ((t - b.at) / 60_000) * perMinute);
    b.at = t;
    this.buckets.set(key, b);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.max(1, Math.ceil(((1 - b.tokens) * 60) / perMinute));
  }
}
