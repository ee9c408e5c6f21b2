/**
 * The edge web UI: server-rendered (Hono JSX), zh-CN first. Sessions are HttpOnly,
 * SameSite=Strict cookies (no cross-site form posts), idle timeout in `accounts.ts`.
 * Feature modules add their pages with `ui.page(path, roles, handler)`.
 */
import type { Context, Hono } from 'hono';
import type { Child } from 'hono/jsx';
import { getCookie, setCookie, deleteCookie } from 'hono/cookie';
import type { Heartbeat, MaintenanceNotice, Refusals } from '../../contracts/index.ts';
import { AccountError, Accounts, type Role, type User } from './accounts.ts';
import { css } from './assets.ts';
import { UI_BEHAVIOURS_JS, isHttps } from '../../contracts/runtime/http.ts';
import { translator, type Lang } from './i18n.ts';
import type { PageCtx } from './layout.tsx';
import type { NavItem } from '../modules.ts';
import { AuditPage, ForbiddenPage, HomePage, LoginPage, UsersPage, type ReseedView } from './pages.tsx';

const SESSION = 'edge_session';

export interface WebDeps {
  accounts: Accounts;
  clinicName: string;
  nav: readonly NavItem[];
  status: () => { hb: Heartbeat; lastReceiptAt: string | null; refused?: Refusals | null; maintenance?: MaintenanceNotice[] };
  /** Re-seeding central from this edge (sync/reseed.ts): its state for the sync page, and the action. */
  reseed?: {
    view: () => ReseedView;
    /** The alarm alone (checked on every admin page for the banner: no database read). */
    regressed: () => boolean;
    /** Resolves with the counts shown to the admin; rejects with a `ReseedRefused` (shown as is) or another error. */
    run: () => Promise<{ rebuilt: number; superseded: number; notKept: number; resentAtNewSeq: number; fromSeq: number; toSeq: number }>;
  };
}

// Hono's generic parameters vary per app; any concrete app is accepted here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyHono = Hono<any, any, any>;

export function clientIp(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

export function mountWeb(app: AnyHono, deps: WebDeps) {
  const lang = (c: Context): Lang => {
    const q = c.req.query('lang');
    if (q === 'en' || q === 'zh-CN') {
      setCookie(c, 'lang', q, { path: '/', sameSite: 'Strict', maxAge: 365 * 86400 });
      return q;
    }
    return getCookie(c, 'lang') === 'en' ? 'en' : 'zh-CN';
  };
  const banners: ((c: Context, user: User, lang: Lang) => Child)[] = [];
  const ctxOf = (c: Context, user: User | null): PageCtx => {
    const l = lang(c);
    const st = user ? deps.status() : null;
    const sync = st ? { relayState: st.hb.relayState, outboxDepth: st.hb.outboxDepth, lastReceiptAt: st.lastReceiptAt } : undefined;
    return { t: translator(l), lang: l, user, clinicName: deps.clinicName, path: c.req.path, nav: deps.nav, banners: user ? banners.map((b) => b(c, user, l)) : [], sync, maintenance: st?.maintenance ?? [] };
  };
  const html = (c: Context, node: unknown, status: 200 | 400 | 401 | 403 | 423 = 200) => c.html(`<!DOCTYPE html>${String(node)}`, status);

  // Audit integrity (MLPS 3): no response leaves before the audit entries queued so far, which
  // include this request's, are committed (see `Accounts`). Concurrent requests share the commit.
  app.use('*', async (c, next) => {
    await next();
    try {
      await deps.accounts.durable();
    } catch {
      c.res = new Response('审计日志写入失败，请联系管理员 / the audit log could not be written: nothing is shown', { status: 503, headers: { 'content-type': 'text/plain; charset=utf-8' } });
    }
  });
  app.get('/assets/app.css', (c) => c.body(css, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600' }));
  app.get('/assets/ui.js', (c) => c.body(UI_BEHAVIOURS_JS, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' }));
  app.get('/login', (c) => html(c, <LoginPage ctx={ctxOf(c, null)} />));
  app.post('/login', async (c) => {
    const form = await c.req.parseBody();
    const username = String(form.username ?? '').trim();
    const r = await deps.accounts.login(username, String(form.password ?? ''), clientIp(c));
    const ctx = ctxOf(c, null);
    if (!r.ok) {
      const error = r.reason === 'locked' ? ctx.t('locked', { until: (r.lockedUntil ?? '').replace('T', ' ').slice(0, 19) }) : r.reason === 'inactive' ? ctx.t('inactive') : ctx.t('badCredentials');
      return html(c, <LoginPage ctx={ctx} error={error} username={username} />, r.reason === 'locked' ? 423 : 401);
    }
    setCookie(c, SESSION, r.token, { path: '/', httpOnly: true, sameSite: 'Strict', secure: isHttps(c) });
    return c.redirect('/');
  });
  app.post('/logout', (c) => {
    const token = getCookie(c, SESSION);
    const user = deps.accounts.session(token);
    deps.accounts.logout(token);
    if (user) deps.accounts.audit(user.username, 'logout', 'web', clientIp(c), 'ok');
    deleteCookie(c, SESSION, { path: '/' });
    return c.redirect('/login');
  });

  /** Register a page that needs a signed-in user with one of `roles` (empty = any role). */
  const page = (method: 'get' | 'post', path: string, roles: readonly Role[], handler: (c: Context, user: User, ctx: PageCtx) => Response | Promise<Response>) => {
    app[method](path, async (c: Context) => {
      const user = deps.accounts.session(getCookie(c, SESSION));
      if (!user) return c.redirect('/login');
      const ctx = ctxOf(c, user);
      if (roles.length > 0 && !roles.includes(user.role)) {
        deps.accounts.audit(user.username, `${method.toUpperCase()} ${path}`, path, clientIp(c), 'forbidden');
        return html(c, <ForbiddenPage ctx={ctx} />, 403);
      }
      return handler(c, user, ctx);
    });
  };

  const home = (c: Context, ctx: PageCtx, extra: { error?: string; notice?: string } = {}, status: 200 | 400 = 200) => {
    const s = deps.status();
    return html(c, <HomePage ctx={ctx} hb={s.hb} lastReceiptAt={s.lastReceiptAt} refused={s.refused ?? null} reseed={deps.reseed?.view()} {...extra} />, status);
  };
  page('get', '/', [], (c, _u, ctx) => home(c, ctx));
  page('get', '/sync', [], (c, _u, ctx) => home(c, ctx));
  // 回补中心数据: only while central's receipts stay below ours (the relay refuses otherwise).
  page('post', '/sync/reseed', ['clinic_admin'], async (c, user, ctx) => {
    if (!deps.reseed) return home(c, ctx, { error: ctx.t('reseedRefused', { reason: 'not available' }) }, 400);
    try {
      const r = await deps.reseed.run();
      deps.accounts.audit(user.username, 'sync.reseed', `seq ${r.fromSeq + 1}-${r.toSeq}`, clientIp(c), `ok rebuilt=${r.rebuilt} resent=${r.resentAtNewSeq} lost=${r.superseded + r.notKept}`);
      return home(c, ctxOf(c, user), { notice: ctx.t('reseedStarted', { rebuilt: r.rebuilt + r.resentAtNewSeq, lost: r.superseded + r.notKept }) });
    } catch (e) {
      const msg = (e as Error).message;
      deps.accounts.audit(user.username, 'sync.reseed', 'central', clientIp(c), `refused: ${msg.slice(0, 200)}`);
      return home(c, ctx, { error: ctx.t('reseedRefused', { reason: msg }) }, 400);
    }
  });
  page('get', '/admin/users', ['clinic_admin'], (c, _u, ctx) => html(c, <UsersPage ctx={ctx} users={deps.accounts.list()} />));
  page('post', '/admin/users', ['clinic_admin'], async (c, user, ctx) => {
    const f = await c.req.parseBody();
    try {
      deps.accounts.create({ username: String(f.username ?? '').trim(), displayName: String(f.displayName ?? ''), role: String(f.role ?? '') as Role, password: String(f.password ?? ''), mustChangePassword: true }, user.username, clientIp(c));
      return html(c, <UsersPage ctx={ctx} users={deps.accounts.list()} notice={ctx.t('created', { u: String(f.username) })} />);
    } catch (e) {
      if (!(e instanceof AccountError)) throw e;
      deps.accounts.audit(user.username, 'user.create', String(f.username ?? ''), clientIp(c), `refused: ${e.field}`);
      return html(c, <UsersPage ctx={ctx} users={deps.accounts.list()} error={e.message} />, 400);
    }
  });
  page('get', '/admin/audit', ['clinic_admin'], (c, _u, ctx) => html(c, <AuditPage ctx={ctx} rows={deps.accounts.recentAudit(200)} />));
  /** A module's banner shown at the top of every signed-in page (return null for none). */
  const addBanner = (b: (c: Context, user: User, lang: Lang) => Child) => { banners.push(b); };
  // The clinic admin is told on every page while central lacks records this clinic trimmed (the
  // home and sync pages show the alarm itself, with the re-seed button).
  addBanner((c, user, l) => {
    if (user.role !== 'clinic_admin' || c.req.path === '/' || c.req.path === '/sync' || !deps.reseed?.regressed()) return null;
    const t = translator(l);
    return <div class="error" role="alert" data-testid="reseed-banner">{t('reseedBanner')} <a href="/sync">{t('reseedBannerLink')}</a></div>;
  });
  return { page, html, ctxOf, addBanner };
}

/** What feature modules use to add pages: role-checked `page()`, `html()` with DOCTYPE, and the page context. */
export type WebUi = ReturnType<typeof mountWeb>;
