/**
 * An in-process central HTTP surface with the portal mounted (no NATS needed: the portal reads
 * the warehouse), on the hand-worked district, with accounts for each role; and a small HTTP
 * client that signs in with password + TOTP like a browser (cookies, CSRF).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as OTPAuth from 'otpauth';
import { Hono } from 'hono';
import { createLogger, listen } from '../../contracts/runtime/index.ts';
import { handWorkedDistrict } from '../../central/analytics/handworked.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import { createPortalAdmin, createPortalUser, mountPortal } from '../../central/portal/index.ts';
import type { CentralConfig } from '../../central/config.ts';
import { mountCentralBackup } from '../../central/backup/index.ts';
import { PreviewRenderer } from '../../contracts/dicom/preview-pool.ts';
import { ExchangeAvailability } from '../../central/availability/index.ts';

export const PASSWORD = 'Portal-Test-2026!';

/** `backup`: also mount central's real backup module (own backups + off-site target) on the same data dir. */
export async function startPortal(opts: { backup?: Record<string, unknown>; /** A real preview thread for the reading pages. */ previews?: boolean; /** Central's outage log and maintenance windows (the availability pages). */ availability?: boolean } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'portal-'));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  await handWorkedDistrict(wh);
  const admin = await createPortalAdmin(wh, { username: 'admin', displayName: '系统管理员', password: PASSWORD });
  const users = {
    admin: admin.secret,
    district: (await createPortalUser(wh, { username: 'district', displayName: '区卫健局王科长', password: PASSWORD, role: 'district_manager', orgId: 'district' })).secret,
    managera: (await createPortalUser(wh, { username: 'managera', displayName: '新华中心李主任', password: PASSWORD, role: 'centre_manager', orgId: 'c01-xinhua' })).secret,
    managerb: (await createPortalUser(wh, { username: 'managerb', displayName: '东风中心周主任', password: PASSWORD, role: 'centre_manager', orgId: 'c02-dongfeng' })).secret,
    qc: (await createPortalUser(wh, { username: 'qcofficer', displayName: '质控员', password: PASSWORD, role: 'qc_officer', orgId: 'district' })).secret,
    auditor: (await createPortalUser(wh, { username: 'auditor', displayName: '审计员', password: PASSWORD, role: 'auditor', orgId: 'district' })).secret,
    radiologist: (await createPortalUser(wh, { username: 'radiologist', displayName: '区医院赵医生', password: PASSWORD, role: 'radiologist', orgId: 'district' })).secret,
  };
  const app = new Hono();
  const log = createLogger('portal-test', 'silent' as never);
  const config = { dataDir: dir, apiToken: 'portal-test-api-token-0123' } as CentralConfig;
  const previews = opts.previews ? new PreviewRenderer() : null;
  const availability = opts.availability ? new ExchangeAvailability(wh, log) : undefined;
  const mounted = await mountPortal(app, { config, wh, log, previews, availability });
  const backup = opts.backup ? await mountCentralBackup(app, { config, wh, log, backup: { ...opts.backup } }) : null;
  await mounted.analytics.facts.refresh();
  const http = await listen(app, '127.0.0.1', 0);
  return {
    url: http.url, wh, users, app, analytics: mounted.analytics, backup, dir, availability,
    async close() { await http.close(); await backup?.stop(); await mounted.stop(); await previews?.close(); await wh.close(); rmSync(dir, { recursive: true, force: true }); },
  };
}

export function totpCode(secret: string, offsetSteps = 0): string {
  return new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret), digits: 6, period: 30, algorithm: 'SHA1' }).generate({ timestamp: Date.now() + offsetSteps * 30_000 });
}

/** A signed-in HTTP client. */
export class Client {
  cookie = '';
  csrf = '';
  constructor(readonly base: string) {}
  async req(method: string, path: string, body?: Record<string, string> | FormData): Promise<Response> {
    const headers: Record<string, string> = { cookie: this.cookie, origin: this.base };
    let payload: BodyInit | undefined;
    if (body instanceof FormData) payload = body;
    else if (body) { headers['content-type'] = 'application/x-www-form-urlencoded'; payload = new URLSearchParams(body).toString(); }
    const r = await fetch(this.base + path, { method, headers, body: payload, redirect: 'manual' });
    for (const c of r.headers.getSetCookie()) {
      const [kv] = c.split(';');
      const [k, v] = kv!.split('=');
      const jar = new Map(this.cookie.split('; ').filter(Boolean).map((x) => x.split('=') as [string, string]));
      if (v === '' || /Max-Age=0/i.test(c)) jar.delete(k!); else jar.set(k!, v!);
      this.cookie = [...jar].map(([a, b]) => `${a}=${b}`).join('; ');
    }
    return r;
  }
  get(path: string) { return this.req('GET', path); }
  post(path: string, body: Record<string, string> | FormData) {
    if (body instanceof FormData) body.set('_csrf', this.csrf); else body = { _csrf: this.csrf, ...body };
    return this.req('POST', path, body);
  }
  static async login(base: string, username: string, secret: string, password = PASSWORD): Promise<Client> {
    const c = new Client(base);
    const r1 = await c.req('POST', '/portal/login', { username, password });
    if (r1.status !== 302) throw new Error(`password step: ${r1.status}`);
    const r2 = await c.req('POST', '/portal/totp', { code: totpCode(secret) });
    if (r2.status !== 302) throw new Error(`totp step: ${r2.status} ${await r2.text()}`);
    const home = await (await c.get('/portal/fleet')).text();
    const home2 = home.includes('_csrf') ? home : await (await c.get('/portal/audit')).text();
    c.csrf = /name="_csrf" value="([^"]+)"/.exec(home2)?.[1] ?? /name="_csrf" value="([^"]+)"/.exec(await (await c.get('/portal/qc')).text())?.[1] ?? '';
    return c;
  }
}

/** Signs `username` in through the login and TOTP pages in a browser page (first sign-in enrols). */
export async function browserLogin(page: import('playwright-core').Page, base: string, username: string, secret: string, landing: RegExp = /\/portal$/): Promise<void> {
  await page.goto(`${base}/portal/login`);
  await page.fill('input[name=username]', username);
  await page.fill('input[name=password]', PASSWORD);
  await page.click('button[type=submit]');
  await page.waitForURL(/\/portal\/totp$/);
  await page.fill('input[name=code]', totpCode(secret));
  await page.click('button[type=submit]');
  await page.waitForURL(landing);
}
