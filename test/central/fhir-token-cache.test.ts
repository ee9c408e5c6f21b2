/**
 * The FHIR facade's verified-token cache and audit group commit, on both backends:
 * - a token is checked against the database once, then answered from memory;
 * - revoked here (RFC 7009 or the client revoked by an administrator): the next request is refused,
 *   however long the cache would otherwise trust it;
 * - expired while cached: refused from the first millisecond after expiry;
 * - revoked by another central instance (another OAuth on the same warehouse): refused once the
 *   recheck interval has passed;
 * - audit: a granted answer arrives only after its entry is committed — read back through another
 *   connection and after the warehouse is closed and reopened (SQLite) — and concurrent requests
 *   share inserts (group commit) with every entry stored.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Hono } from 'hono';
import pg from 'pg';
import t from 'tap';
import { AuditWriter, OAuth, fhirApi, fhirStoreFor, oauthAdminApi } from '../../central/fhir/index.ts';
import { PostgresWarehouse } from '../../central/warehouse/postgres.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import type { AuditEntry, Warehouse } from '../../central/warehouse/types.ts';
import { formatHlc } from '../../contracts/index.ts';
import { createTestDatabase } from './postgres.ts';

const TOKEN = 'fhir-token-cache-test-token-0123';

async function seedResident(wh: Warehouse): Promise<void> {
  const payload = { residentId: 'res-c', name: '陈静', sex: '2', birthDate: '1970-01-01' };
  const r = await wh.ingest([{ kind: 'record', type: 'resident', payload, hash: 'h1', raw: '', envelope: { recordId: 'res-c', type: 'resident', clinicId: 'clinic-c', seq: 1, version: 1, hlc: formatHlc({ ms: 1_750_000_000_000, counter: 0, node: 'clinic-c' }), schemaVersion: 1, createdAt: new Date().toISOString(), payload } }]);
  if (r.outcomes[0] !== 'applied') throw new Error(`seed: ${r.outcomes[0]}`);
}

function suite(name: string, make: () => Promise<{ wh: Warehouse; reopen?: () => Warehouse; auditRows: () => Promise<AuditEntry[]>; cleanup: () => Promise<void> }>) {
  t.test(`token cache and audit durability on ${name}`, async (t) => {
    const env = await make();
    const { wh } = env;
    t.teardown(env.cleanup);
    await seedResident(wh);
    let now = Date.parse('2026-03-02T01:00:00Z');
    // This instance trusts a verified token for a minute: only revocations it sees and expiry cut that short.
    const oauth = new OAuth(wh, { now: () => now, tokenRecheckMs: 60_000 });
    await oauth.init();
    const audit = (e: AuditEntry) => wh.audit(e);
    const app = new Hono()
      .route('/api/oauth', oauthAdminApi({ oauth, audit }))
      .route('/fhir', fhirApi({ store: fhirStoreFor(wh), token: TOKEN, audit, oauth, now: () => now }));
    const read = async (token: string) => {
      const res = await app.request('http://central.test/fhir/Patient/res-c', { headers: { authorization: `Bearer ${token}` } });
      return { status: res.status, body: await res.json() as { issue?: { code: string; diagnostics: string }[] } };
    };
    const a = await oauth.createClient({ clientId: 'cache-a', name: 'a', scopes: ['system/*.read'], tokenTtlSeconds: 300 });
    const b = await oauth.createClient({ clientId: 'cache-b', name: 'b', scopes: ['system/*.read'] });
    const issue = async (c: { clientId: string; clientSecret: string }) => (await oauth.issueToken(c.clientId, c.clientSecret)).access_token;

    t.test('verified once, then from memory', async (t) => {
      const tok = await issue(a);
      const db0 = oauth.verifyStats.database;
      const c0 = oauth.verifyStats.cached;
      for (let i = 0; i < 5; i++) t.equal((await read(tok)).status, 200);
      t.equal(oauth.verifyStats.database - db0, 1, 'one database check');
      t.equal(oauth.verifyStats.cached - c0, 4, 'four answered from memory');
    });

    t.test('revoked (RFC 7009) while cached: the next request is refused', async (t) => {
      const tok = await issue(a);
      t.equal((await read(tok)).status, 200);
      t.equal((await read(tok)).status, 200, 'cached');
      await oauth.revokeToken(a.clientId, a.clientSecret, tok);
      t.match(await read(tok), { status: 401, body: { issue: [{ code: 'login', diagnostics: /revoked/ }] } });
    });

    t.test('client revoked by the administrator while its token is cached: refused', async (t) => {
      const tok = await issue(b);
      t.equal((await read(tok)).status, 200);
      t.equal((await read(tok)).status, 200, 'cached');
      const res = await app.request('http://central.test/api/oauth/clients/cache-b/revoke', { method: 'POST' });
      t.equal(res.status, 200);
      t.match(await read(tok), { status: 401, body: { issue: [{ code: 'login', diagnostics: /revoked/ }] } });
    });

    t.test('expired while cached: refused from the expiry on', async (t) => {
      const tok = await issue(a);
      const expiresAt = now + 300_000;
      t.equal((await read(tok)).status, 200);
      now = expiresAt - 1;
      t.equal((await read(tok)).status, 200, 'valid until the last millisecond (from memory)');
      now = expiresAt;
      t.match(await read(tok), { status: 401, body: { issue: [{ code: 'expired' }] } });
      now += 1;
      t.match(await read(tok), { status: 401, body: { issue: [{ code: 'expired' }] } }, 'still refused (from the database)');
    });

    t.test('revoked by another instance: refused once the recheck interval has passed', async (t) => {
      const here = new OAuth(wh, { now: () => now }); // default recheck: 1 s
      const other = new OAuth(wh, { now: () => now });
      const c = await here.createClient({ clientId: 'cache-c', name: 'c', scopes: ['system/*.read'] });
      const tok = (await here.issueToken(c.clientId, c.clientSecret)).access_token;
      t.match(await here.verify(tok), { ok: true });
      t.match(await here.verify(tok), { ok: true });
      t.equal(here.verifyStats.cached, 1);
      await other.revokeToken(c.clientId, c.clientSecret, tok);
      t.match(await other.verify(tok), { ok: false, reason: 'token revoked' }, 'the revoking instance refuses at once');
      now += 1000;
      t.match(await here.verify(tok), { ok: false, reason: 'token revoked' }, 'this one after at most 1 s');
      // A clock that goes backwards never extends trust.
      const tok2 = (await here.issueToken(c.clientId, c.clientSecret)).access_token;
      t.match(await here.verify(tok2), { ok: true });
      await other.revokeClient(c.clientId);
      now -= 5000;
      t.match(await here.verify(tok2), { ok: false, reason: 'token revoked' });
    });

    t.test('unknown and malformed tokens are never cached', async (t) => {
      const bogus = 'A'.repeat(43);
      t.equal((await read(bogus)).status, 401);
      t.equal((await read(bogus)).status, 401);
      t.equal((await read('short')).status, 401);
    });

    t.test('audit: a granted answer waits for its committed entry; concurrent entries share inserts', async (t) => {
      const writer = new AuditWriter(wh);
      const tok = await issue(a);
      const grouped = new Hono().route('/fhir', fhirApi({ store: fhirStoreFor(wh), token: TOKEN, audit: (e) => writer.write(e), oauth, now: () => now }));
      // Only this subtest's reads: other entries (the token issue's, earlier subtests') may still
      // be committing on another connection and interleave by id (PostgreSQL).
      const mine = (rows: AuditEntry[]) => rows.filter((e) => e.actor === 'client:cache-a' && e.action === 'fhir.read');
      const before = mine(await env.auditRows()).length;
      const N = 40;
      let answered = 0;
      const answers = await Promise.all(Array.from({ length: N }, () => Promise.resolve(grouped.request('http://central.test/fhir/Patient/res-c', { headers: { authorization: `Bearer ${tok}` } }))
        .then(async (res) => {
          // The k-th answer to arrive needs k committed entries: read them through another connection at once.
          const k = ++answered;
          return { status: res.status, k, rows: mine(await env.auditRows()).length - before };
        })));
      t.ok(answers.every((x) => x.status === 200), 'all answered');
      t.ok(answers.every((x) => x.rows >= x.k), 'no answer before its entry was committed');
      const after = await env.auditRows();
      t.equal(mine(after).length - before, N, 'every access has its entry');
      t.ok(mine(after).slice(before).every((e) => e.outcome === 'ok'));
      t.ok(writer.stats.inserts < N, `${N} entries in ${writer.stats.inserts} inserts (group commit)`);
      t.equal(writer.stats.entries, N);
      if (env.reopen) {
        await wh.close();
        const again = env.reopen();
        const n = ((again as SqliteWarehouse).db.prepare("SELECT count(*) AS n FROM audit_log WHERE actor = 'client:cache-a' AND action = 'fhir.read'").get() as { n: number }).n;
        t.ok(n >= N, 'the entries survive closing and reopening the warehouse');
        await again.close();
      }
    });
  });
}

suite('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fhir-cache-'));
  const file = join(dir, 'warehouse.db');
  const wh = new SqliteWarehouse(file);
  // Another connection, as an auditor would read the log.
  const reader = new Database(file, { readonly: true });
  let reopened = false;
  return {
    wh,
    reopen: () => { reopened = true; return new SqliteWarehouse(file); },
    auditRows: async () => reader.prepare('SELECT actor, action, target, source_ip AS sourceIp, outcome FROM audit_log ORDER BY id').all() as AuditEntry[],
    cleanup: async () => { reader.close(); if (!reopened) await wh.close(); rmSync(dir, { recursive: true, force: true }); },
  };
});

suite('postgres', async () => {
  const db = await createTestDatabase('wh_fhir_cache');
  const wh = await PostgresWarehouse.open(db.url);
  const reader = new pg.Client({ connectionString: db.url });
  await reader.connect();
  return {
    wh,
    auditRows: async () => (await reader.query('SELECT actor, action, target, source_ip AS "sourceIp", outcome FROM audit_log ORDER BY id')).rows as AuditEntry[],
    cleanup: async () => { await reader.end(); await wh.close(); await db.drop(); },
  };
});
