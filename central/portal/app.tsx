/**
 * The portal's routes under /portal: login (password + TOTP), pages, Excel export of every table
 * (`?format=xlsx&table=<id>`), imports and uploads. Routes never touch the database: each request
 * gets a `PortalRepo` bound to the signed-in user's scope.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { Hono, type Context } from 'hono';
import { deleteCookie, getCookie, setCookie } from 'hono/cookie';
import { bwipJs } from '../../contracts/runtime/lazy-libs.ts';
import { UI_BEHAVIOURS_JS, isHttps, securityHeaders } from '../../contracts/runtime/http.ts';
import type { Analytics } from '../analytics/index.ts';
import { DOMAINS, INDICATORS, type IndicatorDef } from '../analytics/indicators.ts';
import type { CaseRow, NodeValue } from '../analytics/engine.ts';
import type { OrgLevel, OrgUnit } from '../analytics/org.ts';
import { currentPeriodKey, parsePeriod, trailing } from '../analytics/periods.ts';
import type { QcRule } from '../analytics/qc.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { AccountError, PORTAL_ROLES, type PortalAccounts, type PortalRole } from './accounts.ts';
import { col, readSheet, tablesToXlsx, type Column, type TableSpec } from './excel.ts';
import { Chart, css, chartsJs, Layout, localTime, ROLE_NAMES, Selector, Table, withQuery, type Ctx, type Lang } from './layout.tsx';
import { CAN, ForbiddenError, PortalRepo, ScopeError } from './repo.ts';
import type { BackupOverview } from '../backup/index.ts';
import { backupMaxAgeHours, backupTable } from './backup.tsx';
import { ReportError, type ImagingIndex, type Query, type ReportActivity, type StudySummary, type WorkloadRow } from '../imaging/index-store.ts';
import { MaintenanceError, type ExchangeAvailability } from '../availability/index.ts';
import { reportInputSchema } from '../imaging/reports.ts';
import { noPreviewSvg, previewAnswer } from '../../contracts/dicom/no-preview.ts';
import { modalityName, reportTemplate, studyTable, StudyView, type StudyRow, type StudyViewProps } from './reading.tsx';
import type { PreviewRenderer } from '../../contracts/dicom/preview-pool.ts';
import { readerTable, workloadPeriod, workloadView } from './imaging.tsx';
import { DEAD_LETTER_REASON_LIST, DeadLetterList, listTable, reasonName, summaryTable } from './dead-letters.tsx';

const COOKIE = 'portal_session';
/**
 * A page waiting this long for a first computation of a stored result (done by the fact worker,
 * tens of seconds at 1 M residents after a bulk load or for a period nobody opened before) shows
 * "being computed" with the data's as-of time and reloads itself; the computation goes on.
 */
const computeWaitMs = () => Number(process.env.PORTAL_COMPUTE_WAIT_MS ?? 3000);
const echartsJs = readFileSync(createRequire(import.meta.url).resolve('echarts/dist/echarts.min.js'), 'utf8');

export interface PortalDeps {
  analytics: Analytics;
  wh: Warehouse;
  accounts: PortalAccounts;
  /** Secure cookies (behind TLS). */
  secureCookies?: boolean;
  /** Backup and drill status of central and every clinic (central/backup's `GET /backup/v1/status`); null when not mounted. */
  backupStatus?: () => Promise<BackupOverview | null>;
  /** The regional image archive's workload (central/imaging `ImagingIndex.workload`); absent when imaging is not mounted. */
  imagingWorkload?: (from: string, to: string, clinicId?: string) => Promise<WorkloadRow[]>;
  /** Report versions issued in a period (the radiologists' workload). */
  imagingReports?: (from: string, to: string) => Promise<ReportActivity[]>;
  /** Remote reading (远程阅片): the image index and the preview thread; absent when imaging is not mounted. */
  reading?: { index: ImagingIndex; previews: PreviewRenderer | null };
  /** Central's connection to the hub and the dictionaries not distributed yet; absent: assumed connected (tests of the portal alone). */
  hub?: () => HubState;
  /** The outage log of the clinics' data exchange (central/availability); absent: the availability page says it is not tracked. */
  availability?: ExchangeAvailability;
}

/** What the fleet and dictionary pages say about central's own link to the data exchange (NATS hub). */
export interface HubState {
  connected: boolean;
  /** Why not, when not. */
  detail: string;
  /** Dictionaries whose latest version has not reached the hub yet. */
  pendingDictionaries: string[];
}

const NAV: { href: string; zh: string; en: string; perm: keyof typeof CAN }[] = [
  { href: '/portal', zh: '概览', en: 'Overview', perm: 'view' },
  { href: '/portal/indicators', zh: '指标', en: 'Indicators', perm: 'view' },
  { href: '/portal/medical', zh: '基本医疗', en: 'Medical', perm: 'view' },
  { href: '/portal/qc', zh: '质量控制', en: 'Quality control', perm: 'view' },
  { href: '/portal/performance', zh: '绩效考核', en: 'Performance', perm: 'view' },
  { href: '/portal/imaging', zh: '影像', en: 'Imaging', perm: 'view' },
  { href: '/portal/imaging/studies', zh: '远程阅片', en: 'Reading', perm: 'images' },
  { href: '/portal/fleet', zh: '运行状态', en: 'Fleet', perm: 'fleet' },
  { href: '/portal/uploads', zh: '数据上传', en: 'Uploads', perm: 'fleet' },
  { href: '/portal/backup', zh: '备份', en: 'Backups', perm: 'fleet' },
  { href: '/portal/dictionaries', zh: '字典', en: 'Dictionaries', perm: 'view' },
  { href: '/portal/org', zh: '机构与人口', en: 'Organisation', perm: 'view' },
  { href: '/portal/users', zh: '用户', en: 'Users', perm: 'admin' },
  { href: '/portal/audit', zh: '审计', en: 'Audit', perm: 'audit' },
];

const KPI_IDS = ['record_rate', 'record_use_rate', 'htn_standard_mgmt', 'htn_control', 'dm_standard_mgmt', 'dm_control', 'elderly_mgmt', 'tcm_rate', 'contract_rate', 'key_contract_rate', 'fulfilment_rate', 'visits'];
const COMPARE_IDS = ['record_rate', 'htn_standard_mgmt', 'htn_control', 'dm_standard_mgmt', 'dm_control', 'elderly_mgmt', 'contract_rate', 'visits'];

/** Central cut off from the hub: what it means for what the page shows. */
function HubDown({ ctx, detail }: { ctx: Ctx; detail: string }) {
  return (<div class="error" data-testid="hub-down" role="alert">{ctx.t(
    '中心未连接数据交换平台（NATS）：各机构的数据暂停汇入中心（数据保存在各机构，恢复后补传，不会丢失），新发布的字典待恢复后下发；此期间心跳停止，机构状态显示为“未知”。',
    'Central is not connected to the data exchange (NATS hub): clinics\' data is not coming in (it waits at the clinics and arrives when the hub answers, nothing is lost) and new dictionary versions are sent then; meanwhile no heartbeat arrives, so clinics show as "unknown".')}
    <br /><span class="hint">{detail}</span></div>);
}

function clientIp(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}

const unitKind = (i: IndicatorDef): Column['kind'] => (i.unit === 'percent' ? 'percent' : i.unit === 'yuan' ? 'yuan' : 'number');
const name = (ctx: Ctx, u: { name: string; nameEn: string | null }) => (ctx.lang === 'en' ? u.nameEn ?? u.name : u.name);
const iname = (ctx: Ctx, i: IndicatorDef) => ctx.t(i.name.zh, i.name.en);
/** Names of the standard dictionaries (contracts DICTIONARY_NAMES) as the portal shows them. */
const DICT_NAMES: Record<string, [string, string]> = { departments: ['科室', 'Departments'], staff: ['人员', 'Staff'], icd10: ['ICD-10 诊断', 'ICD-10 diagnoses'], drugs: ['药品', 'Drugs'], charge_items: ['收费项目', 'Charge items'] };
const LEVEL_NAMES: Record<OrgLevel, [string, string]> = { district: ['区', 'District'], centre: ['社区卫生服务中心', 'Centre'], station: ['社区卫生服务站', 'Station'], team: ['家庭医生团队', 'Team'] };

function fmtValue(i: IndicatorDef, v: number | null): string {
  if (v === null) return '—';
  if (i.unit === 'percent') return `${(v * 100).toFixed(1)}%`;
  if (i.unit === 'ratio') return v.toFixed(2);
  if (i.unit === 'yuan') return v.toLocaleString('zh-CN', { maximumFractionDigits: 2 });
  return v.toLocaleString('zh-CN');
}
function meets(i: IndicatorDef, v: number | null): boolean | null {
  if (i.target === undefined || v === null) return null;
  return i.better === 'lower' ? v <= i.target : v >= i.target;
}
function change(i: IndicatorDef, cur: number | null, prev: number | null): string {
  if (cur === null || prev === null) return '—';
  if (i.unit === 'percent') return `${cur - prev >= 0 ? '+' : ''}${((cur - prev) * 100).toFixed(1)} pp`;
  if (prev === 0) return '—';
  return `${cur >= prev ? '+' : ''}${(((cur - prev) / prev) * 100).toFixed(1)}%`;
}

export function portalApp(deps: PortalDeps): Hono {
  const app = new Hono();
  const { accounts } = deps;

  const langOf = (c: Context): Lang => {
    const q = c.req.query('lang');
    if (q === 'en' || q === 'zh-CN') {
      setCookie(c, 'portal_lang', q, { path: '/portal', sameSite: 'Strict', maxAge: 365 * 86400 });
      return q;
    }
    return getCookie(c, 'portal_lang') === 'en' ? 'en' : 'zh-CN';
  };
  const mkCtx = (c: Context, repo: PortalRepo | null, csrf = ''): Ctx => {
    const lang = langOf(c);
    const u = new URL(c.req.url);
    return {
      lang, t: (zh, en) => (lang === 'en' ? en : zh), user: repo?.user ?? null, csrf, path: u.pathname, url: `${u.pathname}${u.search}`,
      nav: repo ? NAV.filter((n) => repo.can(n.perm)) : [],
    };
  };
  const html = (c: Context, node: unknown, status: 200 | 202 | 400 | 401 | 403 | 404 | 423 = 200) => c.html(`<!DOCTYPE html>${String(node)}`, status, { 'cache-control': 'no-store' });
  // Secure cookies when served over HTTPS (or when told: behind a TLS-terminating proxy).
  const secure = (c: Context) => deps.secureCookies ?? isHttps(c);

  // The security headers (CSP, no framing) here as well as on central's app: the portal is a UI
  // wherever it is mounted (its tests mount it alone).
  app.use('*', securityHeaders());
  // Same-origin check for every POST (login included): SameSite=Strict cookies plus Origin.
  app.use('*', async (c, next) => {
    if (c.req.method === 'POST') {
      const origin = c.req.header('origin');
      const host = c.req.header('host');
      if (origin && host && new URL(origin).host !== host) return c.text('cross-site request refused', 403);
    }
    return next();
  });

  app.get('/assets/portal.css', (c) => c.body(css, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600' }));
  app.get('/assets/echarts.min.js', (c) => c.body(echartsJs, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=86400' }));
  app.get('/assets/ui.js', (c) => c.body(UI_BEHAVIOURS_JS, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' }));
  app.get('/assets/charts.js', (c) => c.body(chartsJs, 200, { 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'max-age=3600' }));

  // ------------------------------------------------------------------ login
  const LoginPage = (p: { ctx: Ctx; error?: string; username?: string }) => (
    <Layout ctx={p.ctx} title={p.ctx.t('登录', 'Sign in')}>
      <div class="card login">
        {p.error && <div class="error" data-testid="error">{p.error}</div>}
        <form method="post" action="/portal/login" class="stack">
          <label>{p.ctx.t('用户名', 'Username')}<input name="username" value={p.username ?? ''} autocomplete="username" required /></label>
          <label>{p.ctx.t('密码', 'Password')}<input name="password" type="password" autocomplete="current-password" required /></label>
          <button type="submit" style="margin-top:12px">{p.ctx.t('下一步', 'Next')}</button>
        </form>
        <p class="hint">{p.ctx.t('所有账号均需口令 + 动态验证码（TOTP）双因素登录。连续失败 5 次锁定 15 分钟；15 分钟无操作自动退出。', 'Every account signs in with a password and a TOTP code. 5 failures lock the account for 15 minutes; 15 idle minutes end the session.')}</p>
      </div>
    </Layout>
  );
  const loginError = (ctx: Ctx, r: { reason: string; lockedUntil?: string }) => r.reason === 'locked' ? ctx.t(`账号已锁定至 ${localTime(r.lockedUntil ?? '')}`, `Account locked until ${localTime(r.lockedUntil ?? '')}`) : r.reason === 'inactive' ? ctx.t('账号已停用', 'Account disabled') : ctx.t('用户名、密码或验证码错误', 'Wrong username, password or code');

  app.get('/login', (c) => html(c, <LoginPage ctx={mkCtx(c, null)} />));
  app.post('/login', async (c) => {
    const f = await c.req.parseBody();
    const username = String(f.username ?? '').trim();
    const r = await accounts.login(username, String(f.password ?? ''), clientIp(c));
    const ctx = mkCtx(c, null);
    if (!r.ok) return html(c, <LoginPage ctx={ctx} error={loginError(ctx, r)} username={username} />, r.reason === 'locked' ? 423 : 401);
    setCookie(c, COOKIE, r.token, { path: '/portal', httpOnly: true, sameSite: 'Strict', secure: secure(c) });
    return c.redirect('/portal/totp');
  });

  const TotpPage = (p: { ctx: Ctx; error?: string; enrol?: { uri: string; secret: string; svg: string } | null }) => (
    <Layout ctx={p.ctx} title={p.ctx.t('动态验证码', 'Verification code')}>
      <div class="card login">
        {p.error && <div class="error" data-testid="error">{p.error}</div>}
        {p.enrol && (
          <div data-testid="enrol">
            <p>{p.ctx.t('首次登录：请用身份验证器（如 FreeOTP、Google Authenticator、微信小程序“腾讯身份验证器”）扫描二维码，或手工输入密钥，然后输入显示的 6 位数字。', 'First sign-in: scan the QR code with an authenticator app (or type the secret), then enter the 6-digit code it shows.')}</p>
            <div class="qr" dangerouslySetInnerHTML={{ __html: p.enrol.svg }}></div>
            <p class="hint">{p.ctx.t('密钥', 'Secret')}: <code data-testid="totp-secret">{p.enrol.secret}</code></p>
            <p class="hint"><code data-testid="totp-uri">{p.enrol.uri}</code></p>
          </div>
        )}
        <form method="post" action="/portal/totp" class="stack">
          <label>{p.ctx.t('6 位动态验证码', '6-digit code')}<input name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required autofocus /></label>
          <button type="submit" style="margin-top:12px">{p.ctx.t('登录', 'Sign in')}</button>
        </form>
      </div>
    </Layout>
  );
  const enrolInfo = async (token: string) => {
    const e = await accounts.enrolmentUri(token);
    return e ? { ...e, svg: bwipJs().toSVG({ bcid: 'qrcode', text: e.uri, scale: 3, paddingwidth: 4, paddingheight: 4 }) } : null;
  };
  app.get('/totp', async (c) => {
    const token = getCookie(c, COOKIE);
    const s = await accounts.session(token);
    if (!s || s.stage !== 'password') return c.redirect('/portal/login');
    return html(c, <TotpPage ctx={mkCtx(c, null)} enrol={await enrolInfo(token!)} />);
  });
  app.post('/totp', async (c) => {
    const token = getCookie(c, COOKIE);
    const s = await accounts.session(token);
    if (!s || s.stage !== 'password') return c.redirect('/portal/login');
    const f = await c.req.parseBody();
    const r = await accounts.verifyTotp(token!, String(f.code ?? '').trim(), clientIp(c));
    const ctx = mkCtx(c, null);
    if (!r.ok) {
      if (r.reason === 'locked') { deleteCookie(c, COOKIE, { path: '/portal' }); return html(c, <LoginPage ctx={ctx} error={loginError(ctx, r)} />, 423); }
      return html(c, <TotpPage ctx={ctx} error={loginError(ctx, r)} enrol={await enrolInfo(token!)} />, 401);
    }
    setCookie(c, COOKIE, r.token, { path: '/portal', httpOnly: true, sameSite: 'Strict', secure: secure(c) });
    return c.redirect('/portal');
  });
  app.post('/logout', async (c) => {
    const token = getCookie(c, COOKIE);
    const s = await accounts.session(token);
    const f = await c.req.parseBody();
    if (s && f._csrf !== s.csrf) return c.text('CSRF token missing or wrong', 403);
    await accounts.logout(token);
    if (s) await deps.wh.audit({ actor: `portal:${s.user.username}`, action: 'portal.logout', target: 'portal', sourceIp: clientIp(c), outcome: 'ok' });
    deleteCookie(c, COOKIE, { path: '/portal' });
    return c.redirect('/portal/login');
  });

  // ------------------------------------------------------------------ signed-in pages
  type Out = { title: string; tables?: TableSpec[]; body: () => unknown; wide?: boolean; asOf?: boolean };
  const respond = async (c: Context, ctx: Ctx, repo: PortalRepo, o: Out) => {
    if (c.req.query('format') === 'xlsx') {
      const want = c.req.query('table');
      const tables = (o.tables ?? []).filter((t) => !want || t.id === want);
      if (tables.length === 0) return c.text('no such table', 404);
      // Streamed tables (`source`) are counted as their pages go by.
      const written = new Map(tables.map((t) => [t.id, t.source ? 0 : t.rows.length]));
      const counted = tables.map((t) => (t.source ? { ...t, source: async function* () { for await (const pg of t.source!()) { written.set(t.id, written.get(t.id)! + pg.length); yield pg; } } } : t));
      const buf = await tablesToXlsx(counted, { title: o.title, asOf: o.asOf ? await repo.asOf() : null, by: repo.user.username });
      await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'portal.export', target: `${ctx.path} ${tables.map((t) => `${t.id}:${written.get(t.id)}`).join(',')}`, sourceIp: clientIp(c), outcome: 'ok' });
      return c.body(new Uint8Array(buf), 200, {
        'content-type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
        'content-disposition': `attachment; filename="portal-${(want ?? 'export').replace(/[^a-z0-9_-]/gi, '')}.xlsx"; filename*=UTF-8''${encodeURIComponent(o.title)}.xlsx`,
        'cache-control': 'no-store',
      });
    }
    if (o.asOf) ctx.asOf = await repo.asOf();
    return html(c, <Layout ctx={ctx} title={o.title} wide={o.wide}>{o.body() as never}</Layout>);
  };

  type Handler = (c: Context, repo: PortalRepo, ctx: Ctx) => Promise<Response>;
  const page = (method: 'get' | 'post', path: string, perm: keyof typeof CAN, h: Handler) => {
    app[method](path, async (c) => {
      const token = getCookie(c, COOKIE);
      const s = await accounts.session(token);
      if (!s || s.stage !== 'full') return method === 'get' ? c.redirect('/portal/login') : c.text('not signed in', 401);
      const repo = new PortalRepo(deps.analytics, deps.wh, s.user, clientIp(c));
      const ctx = mkCtx(c, repo, s.csrf);
      const deny = async (status: 403 | 404, why: string) => {
        await deps.wh.audit({ actor: `portal:${s.user.username}`, action: `${method.toUpperCase()} ${path}`, target: ctx.url.slice(0, 300), sourceIp: clientIp(c), outcome: `denied: ${why}`.slice(0, 300) });
        return html(c, <Layout ctx={ctx} title={status === 403 ? ctx.t('无权访问', 'Not allowed') : ctx.t('未找到', 'Not found')}><div class="error" data-testid="denied">{why}</div></Layout>, status);
      };
      if (method === 'post') {
        const body = c.req.header('content-type')?.startsWith('multipart/') || c.req.header('content-type')?.startsWith('application/x-www-form-urlencoded') ? await c.req.parseBody() : {};
        if (body._csrf !== s.csrf) return deny(403, 'CSRF token missing or wrong');
      }
      if (!repo.can(perm)) {
        // A role without the overview (a radiologist) lands on the first page it may use.
        if (method === 'get' && path === '/' && ctx.nav[0]) return c.redirect(ctx.nav[0].href);
        return deny(403, ctx.t('您的角色不能使用此功能', 'Your role cannot use this page'));
      }
      try {
        const res = h(c, repo, ctx);
        const engine = deps.analytics.engine;
        if (method === 'get' && c.req.query('format') !== 'xlsx' && engine.remoteLoad) {
          let timer: NodeJS.Timeout | undefined;
          const slow = new Promise<'slow'>((r) => { timer = setTimeout(() => r('slow'), computeWaitMs()); });
          const first = await Promise.race([res.then(() => 'done' as const, () => 'done' as const), slow]);
          clearTimeout(timer);
          const since = first === 'slow' ? deps.analytics.computingSince() : null;
          if (since !== null) {
            res.catch(() => undefined); // it finishes (and stores its results) in the background
            ctx.asOf = await repo.asOf();
            return html(c, <Layout ctx={ctx} title={ctx.t('正在计算', 'Being computed')} refreshSec={5}>
              <div class="card" data-testid="computing">
                <p>{ctx.t('本页所需的指标结果正在首次计算（大量数据导入后或首次查看的期间），完成后将保存并保持更新。页面每 5 秒自动刷新。', 'The results this page needs are being computed for the first time (after a bulk load, or a period nobody opened before); once done they are stored and kept current. This page reloads every 5 seconds.')}</p>
                <p class="hint">{ctx.t('开始于', 'Started at')} {localTime(new Date(since).toISOString())}</p>
              </div>
            </Layout>, 202);
          }
        }
        return await res;
      } catch (e) {
        if (e instanceof ScopeError) return deny(404, e.message);
        if (e instanceof ForbiddenError) return deny(403, e.message);
        throw e;
      }
    });
  };
  const periodOf = (c: Context, kind: 'month' | 'quarter' | 'year' = 'year') => {
    const p = c.req.query('period') || currentPeriodKey(kind);
    try { parsePeriod(p); return p; } catch { throw new ScopeError(`bad period ${p}`); }
  };
  const crumbs = (repo: PortalRepo, node: OrgUnit) => repo.org().path(node.id).filter((u) => repo.inScope(u.id));
  const childRows = (ctx: Ctx, ind: IndicatorDef, rows: NodeValue[]) => rows.map((r) => ({ org: name(ctx, r), orgId: r.orgId, level: ctx.t(...LEVEL_NAMES[r.level as OrgLevel]), num: r.num, den: r.den, value: r.value, target: ind.target ?? null, _bad: meets(ind, r.value) === false }));
  const valueCols = (ctx: Ctx, ind: IndicatorDef): Column[] => [
    { key: 'org', label: ctx.t('机构/团队', 'Unit') }, { key: 'level', label: ctx.t('层级', 'Level') },
    { key: 'num', label: ctx.t('分子', 'Numerator'), kind: ind.unit === 'yuan' ? 'yuan' : 'number' },
    ...(ind.denominator ? [{ key: 'den', label: ctx.t('分母', 'Denominator'), kind: 'number' as const }] : []),
    { key: 'value', label: iname(ctx, ind), kind: unitKind(ind) },
    ...(ind.target !== undefined ? [{ key: 'target', label: ctx.t('目标', 'Target'), kind: unitKind(ind) }] : []),
  ];

  // Overview
  page('get', '/', 'view', async (c, repo, ctx) => {
    const node = repo.node(c.req.query('org'));
    const period = periodOf(c);
    const kpis: { ind: IndicatorDef; v: NodeValue }[] = [];
    const compare: Record<string, Record<string, unknown>> = {};
    for (const id of KPI_IDS) {
      const ind = repo.indicator(id);
      if (!ind.levels.includes(node.level)) continue;
      const s = await repo.snapshot(ind, node.id, period);
      kpis.push({ ind, v: s.node });
      if (COMPARE_IDS.includes(id)) for (const k of s.children) {
        const row = compare[k.orgId] ??= { org: name(ctx, k), orgId: k.orgId, level: ctx.t(...LEVEL_NAMES[k.level as OrgLevel]) };
        row[id] = k.value;
      }
    }
    const cmpInds = COMPARE_IDS.map((id) => repo.indicator(id)).filter((i) => i.levels.includes(node.level));
    const table: TableSpec = {
      id: 'children', title: ctx.t(`下级机构对比（${period}）`, `Units compared (${period})`),
      columns: [{ key: 'org', label: ctx.t('机构/团队', 'Unit') }, ...cmpInds.map((i) => ({ key: i.id, label: iname(ctx, i), kind: unitKind(i) }))],
      rows: Object.values(compare), href: (r) => withQuery(ctx.url, { org: String(r.orgId), format: null, table: null }),
    };
    const htn = kpis.find((k) => k.ind.id === 'htn_standard_mgmt');
    const barRows = Object.values(compare).filter((r) => r.htn_standard_mgmt !== undefined);
    return respond(c, ctx, repo, {
      title: ctx.t(`${node.name} 综合概览`, `${name(ctx, node)} overview`), tables: [table], asOf: true, wide: true,
      body: () => (<>
        <Selector ctx={ctx} path={crumbs(repo, node)} period={period} />
        <div class="grid" data-testid="kpis">
          {kpis.map(({ ind, v }) => {
            const ok = meets(ind, v.value);
            return (
              <a class={`kpi ${ok === false ? 'bad' : ok ? 'ok' : ''}`} href={`/portal/indicators/${ind.id}?org=${node.id}&period=${period}`} data-testid={`kpi-${ind.id}`}>
                <div class="label">{iname(ctx, ind)}</div>
                <div class="value">{fmtValue(ind, v.value)}</div>
                <div class="sub">{ind.denominator ? `${fmtValue({ ...ind, unit: 'count' }, v.num)} / ${v.den === null ? '—' : fmtValue({ ...ind, unit: 'count' }, v.den)}` : ''}{ind.target !== undefined ? ` · ${ctx.t('目标', 'target')} ${fmtValue(ind, ind.target)}` : ''}</div>
              </a>
            );
          })}
        </div>
        {htn && barRows.length > 0 && (
          <div class="card"><h2>{iname(ctx, htn.ind)}</h2>
            <Chart id="chart-children" option={{ tooltip: {}, grid: { left: 50, right: 20, bottom: 90, top: 20 }, xAxis: { type: 'category', data: barRows.map((r) => r.org), axisLabel: { rotate: 40, fontSize: 11 } }, yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } }, series: [{ type: 'bar', data: barRows.map((r) => r.htn_standard_mgmt === null ? null : Math.round(Number(r.htn_standard_mgmt) * 1000) / 10), markLine: htn.ind.target ? { data: [{ yAxis: htn.ind.target * 100, name: 'target' }], symbol: 'none' } : undefined }] }} />
          </div>
        )}
        <Table ctx={ctx} table={table} />
      </>),
    });
  });

  // Indicator list
  page('get', '/indicators', 'view', async (c, repo, ctx) => {
    const node = repo.node(c.req.query('org'));
    const period = periodOf(c);
    const rows: Record<string, unknown>[] = [];
    for (const ind of INDICATORS) {
      if (!ind.levels.includes(node.level)) continue;
      const v = await repo.value(ind, node.id, period);
      const dom = DOMAINS.find((d) => d.id === ind.domain);
      rows.push({ id: ind.id, domain: dom ? ctx.t(dom.zh, dom.en) : '', name: iname(ctx, ind), value: fmtValue(ind, v.value), num: v.num, den: v.den, target: ind.target !== undefined ? fmtValue(ind, ind.target) : null, formula: ctx.t(ind.formula.zh, ind.formula.en), _bad: meets(ind, v.value) === false });
    }
    const table: TableSpec = {
      id: 'indicators', title: ctx.t(`指标一览（${period}）`, `Indicators (${period})`),
      columns: [{ key: 'domain', label: ctx.t('类别', 'Domain') }, { key: 'name', label: ctx.t('指标', 'Indicator') }, { key: 'value', label: ctx.t('值', 'Value') }, { key: 'num', label: ctx.t('分子', 'Numerator'), kind: 'number' }, { key: 'den', label: ctx.t('分母', 'Denominator'), kind: 'number' }, { key: 'target', label: ctx.t('目标', 'Target') }, { key: 'formula', label: ctx.t('计算公式', 'Formula') }],
      rows, href: (r) => `/portal/indicators/${r.id}?org=${node.id}&period=${period}`,
    };
    table.columns = [table.columns[1]!, table.columns[0]!, ...table.columns.slice(2)];
    return respond(c, ctx, repo, { title: ctx.t('指标', 'Indicators'), tables: [table], asOf: true, wide: true, body: () => (<><Selector ctx={ctx} path={crumbs(repo, node)} period={period} /><Table ctx={ctx} table={table} /></>) });
  });

  // One indicator: value, formula, MoM/YoY, trend, children (drill-down), cases link
  page('get', '/indicators/:id', 'view', async (c, repo, ctx) => {
    const ind = repo.indicator(c.req.param('id')!);
    const node = repo.node(c.req.query('org'));
    const period = periodOf(c, ind.period);
    const ev = await repo.evaluate(ind, node.id, period);
    const p = parsePeriod(period);
    const trend = await repo.trend(ind, node.id, period, p.kind === 'month' ? 12 : p.kind === 'quarter' ? 8 : 5);
    const kids: TableSpec = { id: 'children', title: ctx.t('下钻：下级机构/团队', 'Drill down: units below'), columns: valueCols(ctx, ind), rows: childRows(ctx, ind, ev.children), href: (r) => `/portal/indicators/${ind.id}?org=${r.orgId}&period=${period}` };
    const trendT: TableSpec = { id: 'trend', title: ctx.t('趋势', 'Trend'), columns: [{ key: 'period', label: ctx.t('期间', 'Period') }, { key: 'value', label: iname(ctx, ind), kind: unitKind(ind) }], rows: trend };
    const pct = ind.unit === 'percent';
    const scale = (v: number | null) => (v === null ? null : pct ? Math.round(v * 1000) / 10 : Math.round(v * 100) / 100);
    const ok = meets(ind, ev.node.value);
    return respond(c, ctx, repo, {
      title: iname(ctx, ind), tables: [kids, trendT], asOf: true,
      body: () => (<>
        <Selector ctx={ctx} path={crumbs(repo, node)} period={period} />
        <div class="card">
          <div class="grid" style="margin-bottom:4px">
            <div class={`kpi ${ok === false ? 'bad' : ok ? 'ok' : ''}`}><div class="label">{name(ctx, node)} · {period}</div><div class="value" data-testid="value">{fmtValue(ind, ev.node.value)}</div><div class="sub">{ind.denominator ? `${ev.node.num} / ${ev.node.den ?? '—'}` : ''}{ind.target !== undefined ? ` · ${ctx.t('目标', 'target')} ${fmtValue(ind, ind.target)}` : ''}</div></div>
            <div class="kpi"><div class="label">{p.kind === 'year' ? ctx.t('同比', 'YoY') : ctx.t('环比', 'MoM')}（{ev.prevPeriod}）</div><div class="value" style="font-size:18px">{change(ind, ev.node.value, ev.prev.value)}</div><div class="sub">{fmtValue(ind, ev.prev.value)}</div></div>
            {p.kind !== 'year' && <div class="kpi"><div class="label">{ctx.t('同比', 'YoY')}（{ev.yoyPeriod}）</div><div class="value" style="font-size:18px">{change(ind, ev.node.value, ev.yoy.value)}</div><div class="sub">{fmtValue(ind, ev.yoy.value)}</div></div>}
          </div>
          <div class="formula" data-testid="formula">{ctx.t('计算公式', 'Formula')}：{ctx.t(ind.formula.zh, ind.formula.en)}</div>
          {ind.cases && repo.can('residents') && <p class="noprint"><a class="btn" data-testid="cases-link" href={`/portal/indicators/${ind.id}/cases?org=${node.id}&period=${period}&failing=1`}>{ctx.t('查看未达标个案', 'Cases not meeting it')}</a></p>}
        </div>
        <div class="cols">
          <div class="card"><h2>{ctx.t('趋势', 'Trend')}</h2><Chart id="chart-trend" option={{ tooltip: { trigger: 'axis' }, grid: { left: 50, right: 20, top: 20, bottom: 30 }, xAxis: { type: 'category', data: trend.map((t) => t.period) }, yAxis: { type: 'value', axisLabel: { formatter: pct ? '{value}%' : '{value}' } }, series: [{ type: 'line', data: trend.map((t) => scale(t.value)), label: { show: true } }] }} /></div>
          <div class="card"><h2>{ctx.t('下级对比', 'Units compared')}</h2><Chart id="chart-kids" option={{ tooltip: {}, grid: { left: 50, right: 20, top: 20, bottom: 80 }, xAxis: { type: 'category', data: ev.children.map((k) => name(ctx, k)), axisLabel: { rotate: 35, fontSize: 11 } }, yAxis: { type: 'value' }, series: [{ type: 'bar', data: ev.children.map((k) => scale(k.value)) }] }} /></div>
        </div>
        <Table ctx={ctx} table={kids} empty={ctx.t('无下级单位', 'No units below')} />
        <Table ctx={ctx} table={trendT} />
      </>),
    });
  });

  const sexName = (ctx: Ctx, s: string | null) => (s === '1' ? ctx.t('男', 'M') : s === '2' ? ctx.t('女', 'F') : '—');
  page('get', '/indicators/:id/cases', 'residents', async (c, repo, ctx) => {
    const ind = repo.indicator(c.req.param('id')!);
    if (!ind.cases) throw new ScopeError(`${ind.id} has no case list`);
    const node = repo.node(c.req.query('org'));
    const period = periodOf(c, ind.period);
    const failing = c.req.query('failing') !== '0';
    const xlsx = c.req.query('format') === 'xlsx';
    // The rows are fresh from the stored list: completed in place (a copy with spread cost ~1 s of
    // CPU per 100,000 exported rows, measured at 1 M residents, against ~15 ms for this).
    const met = ctx.t('达标', 'met');
    const notMet = ctx.t('未达标', 'not met');
    const shape = (rows: CaseRow[]) => rows.map((x) => {
      const o = x as unknown as Record<string, unknown>; // CaseRow plus the display columns
      o.sex = sexName(ctx, x.sex); o.status = x.ok ? met : notMet; o.reason = x.reasons.join('；'); o._bad = !x.ok;
      return o;
    });
    // An export streams the stored list page by page (keyset reads, each page audited) into the
    // workbook, up to 100,000 rows; the page shows the first 200.
    const r = xlsx ? { total: 0, rows: [] as CaseRow[] } : await repo.indicatorCases(ind, node.id, period, { failingOnly: failing, limit: 200, offset: 0 });
    const table: TableSpec = {
      id: 'cases', title: xlsx ? ctx.t('个案', 'Cases') : ctx.t(`个案（共 ${r.total} 人）`, `Cases (${r.total})`),
      columns: [{ key: 'residentId', label: ctx.t('居民ID', 'Resident') }, { key: 'name', label: ctx.t('姓名', 'Name') }, { key: 'sex', label: ctx.t('性别', 'Sex') }, { key: 'birthDate', label: ctx.t('出生日期', 'Born') }, { key: 'institution', label: ctx.t('管理机构', 'Institution') }, { key: 'team', label: ctx.t('团队', 'Team') }, { key: 'since', label: ctx.t('纳入日期', 'Since') }, { key: 'count', label: ctx.t('服务次数', 'Services'), kind: 'number' }, { key: 'lastDay', label: ctx.t('末次', 'Latest') }, { key: 'status', label: ctx.t('结果', 'Result') }, { key: 'reason', label: ctx.t('原因', 'Reason') }],
      rows: shape(r.rows),
      source: xlsx ? async function* () { for await (const pg of repo.indicatorCasePages(ind, node.id, period, { failingOnly: failing, max: 100_000 })) yield shape(pg.rows); } : undefined,
      href: (x) => `/portal/residents/${encodeURIComponent(String(x.residentId))}`,
    };
    return respond(c, ctx, repo, {
      title: `${iname(ctx, ind)} · ${ctx.t('个案', 'cases')}`, tables: [table], asOf: true, wide: true,
      body: () => (<>
        <Selector ctx={ctx} path={crumbs(repo, node)} period={period} extra={{ failing: failing ? '1' : '0' }} />
        <div class="formula">{ctx.t(ind.formula.zh, ind.formula.en)}</div>
        <p class="noprint"><a href={withQuery(ctx.url, { failing: failing ? '0' : '1' })}>{failing ? ctx.t('显示全部个案', 'Show all cases') : ctx.t('只显示未达标', 'Only cases not met')}</a> · <a href={`/portal/indicators/${ind.id}?org=${node.id}&period=${period}`}>{ctx.t('返回指标', 'Back to the indicator')}</a></p>
        <Table ctx={ctx} table={table} />
        {r.total > r.rows.length && <p class="hint">{ctx.t(`页面显示前 ${r.rows.length} 条，导出 Excel 可得全部（至多 10 万条）。`, `Showing the first ${r.rows.length}; export to Excel for all (up to 100,000).`)}</p>}
      </>),
    });
  });

  const KIND_LABEL: Record<string, [string, string]> = { visit: ['就诊', 'Visit'], registration: ['挂号', 'Registration'], rx: ['处方', 'Prescription'], charge: ['收费', 'Charge'], obs: ['体征', 'Vital sign'], lab: ['检验', 'Lab'], health_record: ['健康档案', 'Health record'], htn_enrol: ['高血压纳入管理', 'HTN enrolment'], dm_enrol: ['糖尿病纳入管理', 'T2DM enrolment'], htn_fu: ['高血压随访', 'HTN follow-up'], dm_fu: ['糖尿病随访', 'T2DM follow-up'], elderly_check: ['老年人体检', 'Elderly check'], tcm: ['中医体质辨识', 'TCM assessment'], contract: ['家庭医生签约', 'Contract'] };
  page('get', '/residents/:id', 'residents', async (c, repo, ctx) => {
    const id = c.req.param('id')!;
    const r = await repo.resident(id);
    if (!r) throw new ScopeError(ctx.t('您的管辖范围内没有该居民的记录', 'No records of this resident in your scope'));
    const table: TableSpec = {
      id: 'facts', title: ctx.t('服务记录（本辖区）', 'Service records (your scope)'),
      columns: [{ key: 'day', label: ctx.t('日期', 'Date') }, { key: 'kind', label: ctx.t('类型', 'Type') }, { key: 'institution', label: ctx.t('机构', 'Institution') }, { key: 'team', label: ctx.t('团队', 'Team') }, { key: 'detail', label: ctx.t('内容', 'Detail') }],
      rows: r.facts.map((f) => ({ ...f, kind: ctx.t(...(KIND_LABEL[f.kind] ?? [f.kind, f.kind])), detail: [f.code, f.label, f.n1 !== null && f.n2 !== null && f.kind.endsWith('_fu') ? `${f.n1}/${f.n2} mmHg` : null, f.n3 !== null ? `FBG ${f.n3}` : null, f.kind.endsWith('_fu') && f.flag !== null ? (f.flag ? ctx.t('控制满意', 'controlled') : ctx.t('控制不满意', 'uncontrolled')) : null].filter(Boolean).join(' · ') })),
    };
    return respond(c, ctx, repo, {
      title: `${r.name ?? id}`, tables: [table], asOf: true,
      body: () => (<>
        <div class="card"><p>{ctx.t('居民ID', 'Resident')}: <b>{id}</b> · {sexName(ctx, r.sex)} · {ctx.t('出生', 'born')} {r.birthDate ?? '—'}</p><p class="hint">{ctx.t('本次查看已记入审计日志。', 'This view is recorded in the audit log.')}</p></div>
        <Table ctx={ctx} table={table} />
      </>),
    });
  });

  // Basic medical services
  page('get', '/medical', 'view', async (c, repo, ctx) => {
    const node = repo.node(c.req.query('org'));
    const period = periodOf(c, 'month');
    const ids = ['visits', 'prescriptions', 'income', 'drug_income_share', 'booked_visit_rate', 'staff', 'gps', 'doctor_nurse_ratio'];
    const kpis: { ind: IndicatorDef; v: NodeValue }[] = [];
    for (const id of ids) {
      const ind = repo.indicator(id);
      if (ind.levels.includes(node.level)) kpis.push({ ind, v: (await repo.snapshot(ind, node.id, ind.domain === 'resources' ? String(parsePeriod(period).year) : period)).node });
    }
    const dx = await repo.topDiagnoses(node.id, period);
    const income = node.level === 'team' ? [] : await repo.incomeStructure(node.id, period);
    const CAT: Record<string, [string, string]> = { drug: ['药品', 'Drugs'], exam: ['检查检验', 'Tests and imaging'], treatment: ['治疗', 'Treatment'], registration: ['挂号诊查', 'Registration'], material: ['卫生材料', 'Materials'], other: ['其他', 'Other'] };
    const dxT: TableSpec = { id: 'diagnoses', title: ctx.t('前十位诊断', 'Top 10 diagnoses'), columns: [{ key: 'code', label: 'ICD-10' }, { key: 'name', label: ctx.t('诊断', 'Diagnosis') }, { key: 'visits', label: ctx.t('人次', 'Visits'), kind: 'number' }], rows: dx };
    const incT: TableSpec = { id: 'income', title: ctx.t('收入结构', 'Income structure'), columns: [{ key: 'cat', label: ctx.t('类别', 'Category') }, { key: 'yuan', label: ctx.t('金额（元）', 'Amount (yuan)'), kind: 'yuan' }, { key: 'share', label: ctx.t('占比', 'Share'), kind: 'percent' }], rows: income.map((r) => ({ ...r, cat: ctx.t(...(CAT[r.category] ?? [r.category, r.category])) })) };
    return respond(c, ctx, repo, {
      title: ctx.t('基本医疗与卫生资源', 'Basic medical services and resources'), tables: [dxT, incT], asOf: true,
      body: () => (<>
        <Selector ctx={ctx} path={crumbs(repo, node)} period={period} />
        <div class="grid">{kpis.map(({ ind, v }) => <a class="kpi" href={`/portal/indicators/${ind.id}?org=${node.id}&period=${ind.domain === 'resources' ? parsePeriod(period).year : period}`}><div class="label">{iname(ctx, ind)}</div><div class="value">{fmtValue(ind, v.value)}</div></a>)}</div>
        <div class="cols">
          <Table ctx={ctx} table={dxT} />
          <div>
            {income.length > 0 && <div class="card"><Chart id="chart-income" height={240} option={{ tooltip: { trigger: 'item' }, series: [{ type: 'pie', radius: ['35%', '65%'], data: incT.rows.map((r) => ({ name: r.cat, value: r.yuan })) }] }} /></div>}
            <Table ctx={ctx} table={incT} />
          </div>
        </div>
      </>),
    });
  });

  // Quality control
  page('get', '/qc', 'view', async (c, repo, ctx) => {
    const node = repo.node(c.req.query('org'));
    const period = periodOf(c);
    const rows = await repo.qcOverall(node.id, period);
    const table: TableSpec = {
      id: 'qc', title: ctx.t(`质控总体情况（${period}）`, `QC overall (${period})`),
      columns: [{ key: 'name', label: ctx.t('质控规则', 'Rule') }, { key: 'severity', label: ctx.t('级别', 'Severity') }, { key: 'checked', label: ctx.t('检查数', 'Checked'), kind: 'number' }, { key: 'failed', label: ctx.t('问题数', 'Failed'), kind: 'number' }, { key: 'rate', label: ctx.t('合格率', 'Pass rate'), kind: 'percent' }],
      rows: rows.map((r) => ({ id: r.rule.id, name: ctx.t(r.rule.name.zh, r.rule.name.en), severity: r.rule.abnormal ? ctx.t('异常值', 'abnormal value') : r.rule.severity === 'error' ? ctx.t('错误', 'error') : ctx.t('提醒', 'warning'), checked: r.checked, failed: r.failed, rate: r.checked ? 1 - r.failed / r.checked : null, _bad: r.failed > 0 })),
      href: (r) => `/portal/qc/${r.id}?org=${node.id}&period=${period}`,
    };
    return respond(c, ctx, repo, {
      title: ctx.t('质量控制', 'Quality control'), tables: [table], asOf: true,
      body: () => (<>
        <Selector ctx={ctx} path={crumbs(repo, node)} period={period} />
        {repo.can('editQc') && <p class="noprint"><a class="btn" href="/portal/qc/rules">{ctx.t('编辑质控规则', 'Edit QC rules')}</a></p>}
        <Table ctx={ctx} table={table} />
      </>),
    });
  });

  page('get', '/qc/rules', 'editQc', async (c, repo, ctx) => {
    const rules = await repo.qcRules();
    const table: TableSpec = { id: 'rules', title: ctx.t('质控规则', 'QC rules'), columns: [{ key: 'id', label: 'ID' }, { key: 'name', label: ctx.t('名称', 'Name') }, { key: 'template', label: ctx.t('模板', 'Template') }, { key: 'enabled', label: ctx.t('启用', 'Enabled') }, { key: 'params', label: ctx.t('参数', 'Parameters') }], rows: rules.map((r) => ({ ...r, name: ctx.t(r.name.zh, r.name.en), enabled: r.enabled ? '✓' : '✗', params: JSON.stringify(r.params) })) };
    const notice = c.req.query('saved');
    return respond(c, ctx, repo, {
      title: ctx.t('质控规则', 'QC rules'), tables: [table],
      body: () => (<>
        {notice && <div class="notice">{ctx.t(`已保存 ${notice}`, `Saved ${notice}`)}</div>}
        {rules.map((r) => (
          <div class="card">
            <form method="post" action={`/portal/qc/rules/${r.id}`} class="inline" data-testid={`rule-${r.id}`}>
              <input type="hidden" name="_csrf" value={ctx.csrf} />
              <label>{ctx.t('名称', 'Name')}<input name="name_zh" value={r.name.zh} style="width:320px" /></label>
              <label>{ctx.t('启用', 'Enabled')}<select name="enabled"><option value="1" selected={r.enabled}>✓</option><option value="0" selected={!r.enabled}>✗</option></select></label>
              <label>{ctx.t('级别', 'Severity')}<select name="severity"><option value="error" selected={r.severity === 'error'}>error</option><option value="warning" selected={r.severity === 'warning'}>warning</option></select></label>
              {Object.entries(r.params).map(([k, v]) => <label>{k}<input name={`p_${k}`} value={String(v)} style="width:90px" /></label>)}
              <button type="submit">{ctx.t('保存', 'Save')}</button>
            </form>
          </div>
        ))}
      </>),
    });
  });
  page('post', '/qc/rules/:id', 'editQc', async (c, repo) => {
    const f = await c.req.parseBody();
    const rule = (await repo.qcRules()).find((r) => r.id === c.req.param('id'));
    if (!rule) throw new ScopeError('unknown rule');
    const params: QcRule['params'] = {};
    for (const [k, v] of Object.entries(rule.params)) {
      const got = f[`p_${k}`];
      params[k] = got === undefined ? v : typeof v === 'number' ? Number(got) : String(got);
    }
    try {
      await repo.saveQcRule({ ...rule, name: { zh: String(f.name_zh ?? rule.name.zh).slice(0, 100) || rule.name.zh, en: rule.name.en }, enabled: f.enabled !== '0', severity: f.severity === 'warning' ? 'warning' : 'error', params });
    } catch (e) {
      if (e instanceof ForbiddenError) throw e;
      return c.text(`invalid rule: ${(e as Error).message}`, 400);
    }
    return c.redirect(`/portal/qc/rules?saved=${rule.id}`);
  });

  page('get', '/qc/:rule', 'view', async (c, repo, ctx) => {
    const node = repo.node(c.req.query('org'));
    const period = periodOf(c);
    const rule = (await repo.qcRules()).find((r) => r.id === c.req.param('rule'));
    if (!rule) throw new ScopeError('unknown rule');
    const rows = await repo.qcByInstitution(rule.id, node.id, period);
    const table: TableSpec = {
      id: 'by-unit', title: ctx.t('按机构汇总', 'By institution'),
      columns: [{ key: 'org', label: ctx.t('机构/团队', 'Unit') }, { key: 'checked', label: ctx.t('检查数', 'Checked'), kind: 'number' }, { key: 'failed', label: ctx.t('问题数', 'Failed'), kind: 'number' }, { key: 'rate', label: ctx.t('合格率', 'Pass rate'), kind: 'percent' }],
      rows: rows.map((r) => ({ org: name(ctx, r.unit), orgId: r.unit.id, checked: r.checked, failed: r.failed, rate: r.checked ? 1 - r.failed / r.checked : null, _bad: r.failed > 0 })),
      href: (r) => `/portal/qc/${rule.id}?org=${r.orgId}&period=${period}`,
    };
    return respond(c, ctx, repo, {
      title: ctx.t(rule.name.zh, rule.name.en), tables: [table], asOf: true,
      body: () => (<>
        <Selector ctx={ctx} path={crumbs(repo, node)} period={period} />
        {repo.can('residents') && <p class="noprint"><a class="btn" data-testid="qc-cases-link" href={`/portal/qc/${rule.id}/cases?org=${node.id}&period=${period}`}>{ctx.t('查看问题个案', 'Failing cases')}</a></p>}
        <Table ctx={ctx} table={table} />
      </>),
    });
  });

  page('get', '/qc/:rule/cases', 'residents', async (c, repo, ctx) => {
    const node = repo.node(c.req.query('org'));
    const period = periodOf(c);
    const rule = (await repo.qcRules()).find((r) => r.id === c.req.param('rule'));
    if (!rule) throw new ScopeError('unknown rule');
    const r = await repo.qcCases(rule.id, node.id, period, c.req.query('format') === 'xlsx' ? 100_000 : 200);
    const table: TableSpec = {
      id: 'cases', title: ctx.t(`问题个案（共 ${r.total} 条）`, `Failing cases (${r.total})`),
      columns: [{ key: 'residentId', label: ctx.t('居民ID', 'Resident') }, { key: 'name', label: ctx.t('姓名', 'Name') }, { key: 'institution', label: ctx.t('机构', 'Institution') }, { key: 'team', label: ctx.t('团队', 'Team') }, { key: 'day', label: ctx.t('日期', 'Date') }, { key: 'reason', label: ctx.t('问题', 'Problem') }],
      rows: r.rows.map((x) => { (x as unknown as Record<string, unknown>)._bad = true; return x as unknown as Record<string, unknown>; }), href: (x) => `/portal/residents/${encodeURIComponent(String(x.residentId))}`,
    };
    return respond(c, ctx, repo, { title: `${ctx.t(rule.name.zh, rule.name.en)} · ${ctx.t('个案', 'cases')}`, tables: [table], asOf: true, wide: true, body: () => (<><Selector ctx={ctx} path={crumbs(repo, node)} period={period} /><Table ctx={ctx} table={table} /></>) });
  });

  // Performance evaluation
  page('get', '/performance', 'view', async (c, repo, ctx) => {
    const node = repo.node(c.req.query('org'));
    const period = periodOf(c);
    const defaultLevel: OrgLevel = node.level === 'district' ? 'centre' : node.level === 'centre' ? 'team' : 'team';
    const level = (['centre', 'station', 'team'].includes(c.req.query('level') ?? '') ? c.req.query('level') : defaultLevel) as 'centre' | 'station' | 'team';
    const scores = await repo.perfScores(node.id, period, level);
    const tasks = await repo.perfTasks(parsePeriod(period).year);
    const docs = await repo.rectifications(period);
    const scoreT: TableSpec = {
      id: 'scores', title: ctx.t('考核得分', 'Scores'),
      columns: [{ key: 'rank', label: ctx.t('名次', 'Rank'), kind: 'number' }, { key: 'org', label: ctx.t('机构/团队', 'Unit') }, { key: 'score', label: ctx.t('得分', 'Score'), kind: 'number' }, { key: 'failed', label: ctx.t('未达标指标数', 'Targets missed'), kind: 'number' }, { key: 'warnings', label: ctx.t('异常提示', 'Warnings') }],
      rows: scores.map((s, i) => ({ rank: i + 1, org: name(ctx, s.unit), orgId: s.unit.id, score: s.score, failed: s.items.filter((x) => x.failed).length, warnings: s.items.every((x) => x.value === null) ? ctx.t('无数据（未上报或未录入人口）', 'no data (nothing received or no population entered)') : s.items.filter((x) => x.warning || x.value === null).map((x) => `${iname(ctx, x.indicator)}: ${x.warning ?? ctx.t('无数据', 'no data')}`).join('；'), _bad: s.items.every((x) => x.value === null) })),
    };
    const failedT: TableSpec = {
      id: 'failed', title: ctx.t('未达标指标（需整改；无数据的见得分表提示）', 'Targets missed (rectification needed; missing data is flagged in the scores)'),
      columns: [{ key: 'org', label: ctx.t('机构/团队', 'Unit') }, { key: 'indicator', label: ctx.t('指标', 'Indicator') }, { key: 'value', label: ctx.t('实际值', 'Value') }, { key: 'target', label: ctx.t('目标值', 'Target') }, { key: 'source', label: ctx.t('来源', 'Source') }, { key: 'docs', label: ctx.t('整改材料', 'Rectification') }],
      rows: scores.flatMap((s) => s.items.filter((x) => x.failed && x.value !== null).map((x) => ({ org: name(ctx, s.unit), orgId: s.unit.id, indicatorId: x.indicator.id, indicator: iname(ctx, x.indicator), value: fmtValue(x.indicator, x.value), target: fmtValue(x.indicator, x.task.target), source: x.manual ? ctx.t('导入', 'imported') : ctx.t('系统计算', 'computed'), docs: docs.filter((d) => d.orgId === s.unit.id && d.indicatorId === x.indicator.id).map((d) => d.filename).join('，') || '—', _bad: true }))),
    };
    const taskT: TableSpec = { id: 'tasks', title: ctx.t(`考核任务（${parsePeriod(period).year}年）`, `Assessment tasks (${parsePeriod(period).year})`), columns: [{ key: 'indicatorId', label: ctx.t('指标编码', 'Indicator code') }, { key: 'name', label: ctx.t('指标', 'Indicator') }, { key: 'weight', label: ctx.t('权重', 'Weight'), kind: 'number' }, { key: 'target', label: ctx.t('目标值', 'Target'), kind: 'number' }], rows: tasks.map((t) => ({ ...t, name: iname(ctx, repo.indicator(t.indicatorId)) })) };
    const docT: TableSpec = { id: 'docs', title: ctx.t('整改材料', 'Rectification documents'), columns: [{ key: 'filename', label: ctx.t('文件', 'File') }, { key: 'org', label: ctx.t('机构', 'Unit') }, { key: 'indicatorId', label: ctx.t('指标', 'Indicator') }, { key: 'note', label: ctx.t('说明', 'Note') }, { key: 'uploadedBy', label: ctx.t('上传人', 'By') }, { key: 'uploadedAt', label: ctx.t('时间', 'At') }], rows: docs.map((d) => ({ ...d, org: repo.org().byId.get(d.orgId)?.name ?? d.orgId })), href: (d) => `/portal/performance/rectifications/${d.id}` };
    const failedOrgs = [...new Map(failedT.rows.map((r) => [r.orgId, r.org])).entries()];
    return respond(c, ctx, repo, {
      title: ctx.t('绩效考核', 'Performance evaluation'), tables: [scoreT, failedT, taskT, docT], asOf: true, wide: true,
      body: () => (<>
        <Selector ctx={ctx} path={crumbs(repo, node)} period={period}>
          <label>{ctx.t('考核对象', 'Level')} <select name="level">{(['centre', 'station', 'team'] as const).map((l) => <option value={l} selected={l === level}>{ctx.t(...LEVEL_NAMES[l])}</option>)}</select></label>
        </Selector>
        {scores.length > 0 && <div class="card"><Chart id="chart-scores" height={260} option={{ tooltip: {}, grid: { left: 40, right: 20, top: 20, bottom: 90 }, xAxis: { type: 'category', data: scoreT.rows.map((r) => r.org), axisLabel: { rotate: 40, fontSize: 11 } }, yAxis: { type: 'value', max: 100 }, series: [{ type: 'bar', data: scoreT.rows.map((r) => r.score) }] }} /></div>}
        <Table ctx={ctx} table={scoreT} />
        <Table ctx={ctx} table={failedT} empty={ctx.t('全部达标', 'All targets met')} />
        {repo.can('rectify') && failedOrgs.length > 0 && (
          <div class="card noprint"><h2>{ctx.t('上传整改材料', 'Upload rectification document')}</h2>
            <form method="post" action="/portal/performance/rectifications" enctype="multipart/form-data" class="inline">
              <input type="hidden" name="_csrf" value={ctx.csrf} /><input type="hidden" name="period" value={period} />
              <label>{ctx.t('机构', 'Unit')}<select name="orgId">{failedOrgs.map(([id, n]) => <option value={String(id)}>{String(n)}</option>)}</select></label>
              <label>{ctx.t('指标', 'Indicator')}<select name="indicatorId">{tasks.map((t) => <option value={t.indicatorId}>{iname(ctx, repo.indicator(t.indicatorId))}</option>)}</select></label>
              <label>{ctx.t('文件', 'File')}<input type="file" name="file" required /></label>
              <label>{ctx.t('说明', 'Note')}<input name="note" style="width:240px" /></label>
              <button type="submit">{ctx.t('上传', 'Upload')}</button>
            </form>
          </div>
        )}
        <Table ctx={ctx} table={docT} empty={ctx.t('暂无整改材料', 'No documents yet')} />
        <Table ctx={ctx} table={taskT} />
        {repo.can('editPerf') && (
          <div class="card noprint"><h2>{ctx.t('导入考核任务 / 考核数据（Excel）', 'Import assessment tasks / data (Excel)')}</h2>
            <p class="hint">{ctx.t('工作表“考核任务”：指标编码、权重、目标值；工作表“考核数据”：机构编码、指标编码、期间、数值（导入值优先于系统计算值）。', 'Sheet "考核任务" (tasks): 指标编码 indicator, 权重 weight, 目标值 target. Sheet "考核数据" (data): 机构编码 unit, 指标编码 indicator, 期间 period, 数值 value (imported values override computed ones).')}</p>
            <form method="post" action="/portal/performance/import" enctype="multipart/form-data" class="inline">
              <input type="hidden" name="_csrf" value={ctx.csrf} /><input type="hidden" name="year" value={String(parsePeriod(period).year)} />
              <input type="file" name="file" accept=".xlsx" required /><button type="submit">{ctx.t('导入', 'Import')}</button>
            </form>
          </div>
        )}
      </>),
    });
  });
  page('post', '/performance/import', 'editPerf', async (c, repo) => {
    const f = await c.req.parseBody();
    const file = f.file;
    if (!(file instanceof File)) return c.text('no file', 400);
    const buf = Buffer.from(await file.arrayBuffer());
    const year = Number(f.year) || new Date().getFullYear();
    try {
      let tasks: Record<string, unknown>[] = [];
      let data: Record<string, unknown>[] = [];
      try { tasks = await readSheet(buf, '考核任务'); } catch { /* optional */ }
      try { data = await readSheet(buf, '考核数据'); } catch { /* optional */ }
      if (tasks.length === 0 && data.length === 0) return c.text('the workbook has no 考核任务 or 考核数据 sheet with rows', 400);
      if (tasks.length) await repo.savePerfTasks(year, tasks.map((r) => ({ indicatorId: String(col(r, '指标编码', 'indicator') ?? ''), weight: Number(col(r, '权重', 'weight')), target: Number(col(r, '目标值', 'target')) })));
      if (data.length) await repo.savePerfData(data.map((r) => ({ orgId: String(col(r, '机构编码', 'unit', 'org') ?? ''), indicatorId: String(col(r, '指标编码', 'indicator') ?? ''), period: String(col(r, '期间', 'period') ?? ''), value: Number(col(r, '数值', 'value')) })));
    } catch (e) {
      if (e instanceof ForbiddenError || e instanceof ScopeError) throw e;
      return c.text(`import refused: ${(e as Error).message}`, 400);
    }
    return c.redirect(`/portal/performance?period=${year}`);
  });
  page('post', '/performance/rectifications', 'rectify', async (c, repo) => {
    const f = await c.req.parseBody();
    const file = f.file;
    if (!(file instanceof File)) return c.text('no file', 400);
    const period = String(f.period ?? '');
    parsePeriod(period);
    repo.indicator(String(f.indicatorId ?? ''));
    try {
      await repo.addRectification({ orgId: String(f.orgId ?? ''), indicatorId: String(f.indicatorId), period, filename: file.name || 'document', mime: file.type || 'application/octet-stream', content: Buffer.from(await file.arrayBuffer()), note: String(f.note ?? '') });
    } catch (e) {
      if (e instanceof ForbiddenError || e instanceof ScopeError) throw e;
      return c.text(`upload refused: ${(e as Error).message}`, 400);
    }
    return c.redirect(`/portal/performance?period=${period}`);
  });
  page('get', '/performance/rectifications/:id', 'view', async (c, repo) => {
    const f = await repo.rectificationFile(c.req.param('id')!);
    return c.body(new Uint8Array(f.content), 200, { 'content-type': 'application/octet-stream', 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(f.filename)}`, 'x-content-type-options': 'nosniff' });
  });

  // Fleet and replication
  page('get', '/fleet', 'fleet', async (c, repo, ctx) => {
    const hub = deps.hub?.() ?? null;
    const hubDown = hub !== null && !hub.connected;
    const rows = await repo.fleet();
    const latest = await repo.latestDictionaryVersions();
    const deadByClinic = new Map<string | null, number>();
    for (const d of await repo.deadLetterSummary()) if (d.reason !== 'lost_at_source') deadByClinic.set(d.clinicId, (deadByClinic.get(d.clinicId) ?? 0) + d.n);
    const deadTotal = [...deadByClinic.values()].reduce((a, b) => a + b, 0);
    const dictName = (n: string) => (DICT_NAMES[n] ? ctx.t(...DICT_NAMES[n]!) : n);
    const now = Date.now();
    // Clinics in a planned maintenance window now: silent or behind as planned, not a fault.
    const windows = deps.availability ? await deps.availability.openWindows(new Date(now)) : [];
    const windowOf = (clinicId: string) => windows.find((w) => w.clinicId === clinicId) ?? windows.find((w) => w.clinicId === null);
    // Clinics taken out of service (停用): shown as such, not as faults.
    const retired = new Map((deps.availability ? await deps.availability.retired() : []).map((r) => [r.clinicId, r]));
    const canRetire = repo.can('maintain') && deps.availability !== undefined;
    const table: TableSpec = {
      id: 'fleet', title: ctx.t('各机构边缘节点复制状态', 'Replication status of every edge'),
      columns: [{ key: 'clinicId', label: ctx.t('节点', 'Clinic') }, { key: 'institution', label: ctx.t('机构', 'Institution') }, { key: 'state', label: ctx.t('状态', 'State') }, { key: 'lastHeartbeat', label: ctx.t('最近心跳', 'Last heartbeat') }, { key: 'agentVersion', label: ctx.t('版本', 'Version') }, { key: 'edgeLastSeq', label: ctx.t('边缘序号', 'Edge seq'), kind: 'number' }, { key: 'appliedSeq', label: ctx.t('中心已应用', 'Applied'), kind: 'number' }, { key: 'edgeReceiptSeq', label: ctx.t('边缘已确认', 'Confirmed at edge'), kind: 'number' }, { key: 'outboxDepth', label: ctx.t('待上传', 'Outbox'), kind: 'number' }, { key: 'pendingAbove', label: ctx.t('缺号等待', 'Held'), kind: 'number' }, { key: 'lagSeconds', label: ctx.t('延迟（秒）', 'Lag (s)'), kind: 'number' }, { key: 'recordsApplied', label: ctx.t('累计记录', 'Records'), kind: 'number' }, { key: 'dead', label: ctx.t('无法入库', 'Not applied'), kind: 'number' }, { key: 'dictionaries', label: ctx.t('标准字典', 'Dictionaries') }],
      rows: rows.map((r) => {
        const age = r.lastHeartbeatAt ? (now - Date.parse(r.lastHeartbeatAt)) / 1000 : Infinity;
        // The edge holds a receipt above what central has applied: central's warehouse went back to
        // an older point (restored from a backup). It replays its stream; what the stream no longer
        // holds, the clinic's admin re-seeds from the edge (edge-agent/sync/reseed.ts).
        const behind = age <= 120 && r.edgeReceiptSeq > r.appliedSeq;
        // Central itself cut off from the hub hears no heartbeat: that says nothing about the clinic.
        const base = age > 120 ? (hubDown ? ctx.t('未知（中心未连接交换平台）', 'unknown (central not connected to the hub)') : ctx.t('离线', 'offline')) : behind ? ctx.t('中心缺记录', 'central behind') : r.pendingAbove > 0 ? ctx.t('缺号', 'gap') : r.outboxDepth > 1000 || r.lagSeconds > 300 ? ctx.t('积压', 'backlog') : ctx.t('正常', 'ok');
        const w = windowOf(r.clinicId);
        const off = retired.get(r.clinicId);
        // A clinic out of service that still beats: its appliance was not removed (or it is back and should be reinstated).
        const stillBeating = off && r.lastHeartbeatAt && Date.parse(r.lastHeartbeatAt) > Date.parse(off.retiredAt) && age <= 120;
        const state = off ? ctx.t(`已停用（${localTime(off.retiredAt).slice(0, 10)}：${off.reason}）${stillBeating ? '，但仍有心跳：设备未撤除或应恢复' : ''}`, `out of service since ${localTime(off.retiredAt).slice(0, 10)}: ${off.reason}${stillBeating ? '; still beating: appliance not removed, or to be put back in service' : ''}`)
          : w ? ctx.t(`${base}（计划维护至 ${localTime(w.endsAt).slice(5, 16)}：${w.reason}）`, `${base} (planned maintenance until ${localTime(w.endsAt).slice(5, 16)}: ${w.reason})`) : base;
        // Dictionaries: the version the edge reported in its last heartbeat against central's latest.
        const old = [...latest].filter(([n, v]) => (r.dictionaries[n] ?? 0) < v).map(([n, v]) => ctx.t(`${dictName(n)} v${r.dictionaries[n] ?? 0}（最新 v${v}）`, `${dictName(n)} v${r.dictionaries[n] ?? 0} (latest v${v})`));
        const dictionaries = !r.lastHeartbeatAt ? '—' : old.length === 0 ? ctx.t(`均为最新（${latest.size} 种）`, `all ${latest.size} up to date`) : old.join(ctx.t('；', '; '));
        return { ...r, lastHeartbeat: r.lastHeartbeatAt ? localTime(r.lastHeartbeatAt) : '—', state, dead: deadByClinic.get(r.clinicId) ?? 0, dictionaries, _bad: !off && ((age > 120 && !w) || r.pendingAbove > 0 || behind) };
      }),
    };
    const behind = rows.filter((r) => r.lastHeartbeatAt && (now - Date.parse(r.lastHeartbeatAt)) / 1000 <= 120 && r.edgeReceiptSeq > r.appliedSeq).map((r) => r.clinicId);
    return respond(c, ctx, repo, {
      title: ctx.t('运行与复制状态', 'Fleet and replication'), tables: [table], wide: true,
      body: () => (<>
        {hubDown && <HubDown ctx={ctx} detail={hub.detail} />}
        {c.req.query('error') && <div class="error" data-testid="fleet-error">{c.req.query('error')}</div>}
        <Table ctx={ctx} table={table} empty={ctx.t('尚无边缘节点上报心跳', 'No edge has reported yet')} />
        {canRetire && rows.length > 0 && (<div class="card noprint" data-testid="fleet-retire"><h2>{ctx.t('停用 / 恢复机构节点', 'Take a clinic out of service / back')}</h2>
          <p class="hint">{ctx.t('机构撤并或设备撤除后停用：不再计算其可用率，告警暂停，记录与历史保留。恢复后从恢复时起重新计算。', 'For a clinic closed or merged, its appliance removed: its availability is no longer measured and its alerts hold; its records and history stay. Once back in service it is measured again from then.')}</p>
          <form method="post" action="/portal/fleet/retire" class="inline" data-confirm={ctx.t('停用该机构节点？其告警将暂停。', 'Take this clinic out of service? Its alerts will hold.')}>
            <input type="hidden" name="_csrf" value={ctx.csrf} />
            <label>{ctx.t('机构', 'Clinic')}<select name="clinicId">{rows.filter((r) => !retired.has(r.clinicId)).map((r) => <option value={r.clinicId}>{`${r.institution ?? r.clinicId}（${r.clinicId}）`}</option>)}</select></label>
            <label>{ctx.t('事由', 'Reason')}<input name="reason" required maxlength={200} style="width:260px" /></label>
            <button type="submit">{ctx.t('停用', 'Take out of service')}</button>
          </form>
          {[...retired.values()].filter((r) => rows.some((x) => x.clinicId === r.clinicId)).map((r) => (
            <form method="post" action="/portal/fleet/reinstate" class="inline" data-testid="fleet-reinstate">
              <input type="hidden" name="_csrf" value={ctx.csrf} /><input type="hidden" name="clinicId" value={r.clinicId} />
              <span>{`${r.clinicId}（${ctx.t('停用于', 'since')} ${localTime(r.retiredAt).slice(0, 16)}，${r.retiredBy}：${r.reason}）`}</span> <button type="submit" class="secondary">{ctx.t('恢复', 'Back in service')}</button>
            </form>))}
        </div>)}
        {behind.length > 0 && (
          <p class="hint" data-testid="fleet-behind-hint">{ctx.t(
            `中心缺记录：${behind.join('、')} 已确认的记录多于中心已应用的（中心从较早的备份恢复）。中心会先重放消息总线中仍保存的记录；之后仍缺的，由该机构管理员在本站“数据同步”页点击“从本站回补中心数据”。`,
            `Central behind: ${behind.join(', ')} hold confirmations above what central has applied (central restored from an older backup). Central first replays what its message bus still holds; what is still missing after that, the clinic's administrator re-seeds from the edge's Sync page ("Re-seed central from this clinic").`)}</p>
        )}
        <div class="card" data-testid="fleet-legend"><p class="hint">{ctx.t(
          '边缘序号、待上传、边缘已确认与标准字典版本是该机构最近一次心跳（每几秒一次）报告的值，中心已应用是当前值，所以中心已应用可能略高于边缘序号。延迟：最早一条未确认记录的等待时间。无法入库：中心拒收并保存待查的消息（不含回补时边缘已无原记录的登记）。',
          'Edge seq, outbox, confirmed at edge and dictionary versions are what the clinic reported in its last heartbeat (every few seconds); applied is current, so it may be slightly above the edge seq. Lag: how long the oldest unconfirmed record has waited. Not applied: messages central refused and keeps for review (not counting entries for records a clinic no longer held when it re-seeded).')}</p>
          <p><a class="btn" href="/portal/dead-letters" data-testid="fleet-dead-link">{ctx.t(`查看无法入库的消息（${deadTotal}）`, `Messages not applied (${deadTotal})`)}</a> <a class="btn" href="/portal/availability" data-testid="fleet-availability-link">{ctx.t('数据交换可用性（月报）', 'Data exchange availability (monthly)')}</a> <a class="btn" href="/portal/maintenance" data-testid="fleet-maintenance-link">{ctx.t('计划维护', 'Planned maintenance')}</a></p>
        </div>
      </>),
    });
  });

  const fleetBack = (c: Context, error?: string) => c.redirect(`/portal/fleet${error ? `?error=${encodeURIComponent(error)}` : ''}`);
  page('post', '/fleet/retire', 'maintain', async (c, repo) => {
    if (!deps.availability) return c.text('availability is not tracked here', 404);
    const f = await c.req.parseBody();
    const clinicId = String(f.clinicId ?? '');
    if (!(await repo.fleet()).some((r) => r.clinicId === clinicId)) return fleetBack(c, `unknown clinic ${clinicId}`);
    try {
      await deps.availability.retire(clinicId, String(f.reason ?? ''), repo.user.username);
      await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'fleet.retire', target: clinicId, sourceIp: clientIp(c), outcome: 'ok' });
    } catch (e) {
      if (!(e instanceof MaintenanceError)) throw e;
      await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'fleet.retire', target: clinicId, sourceIp: clientIp(c), outcome: `refused: ${e.message}`.slice(0, 300) });
      return fleetBack(c, e.message);
    }
    return fleetBack(c);
  });
  page('post', '/fleet/reinstate', 'maintain', async (c, repo) => {
    if (!deps.availability) return c.text('availability is not tracked here', 404);
    const clinicId = String((await c.req.parseBody()).clinicId ?? '');
    if (!(await repo.fleet()).some((r) => r.clinicId === clinicId) || !(await deps.availability.reinstate(clinicId))) return fleetBack(c, `${clinicId} is not out of service`);
    await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'fleet.reinstate', target: clinicId, sourceIp: clientIp(c), outcome: 'ok' });
    return fleetBack(c);
  });

  // Data-exchange availability and loss rate per clinic and month (tender 1.2.2: >= 99.9 %, no outage over 2 h, loss < 0.1 %).
  page('get', '/availability', 'fleet', async (c, repo, ctx) => {
    const nowCst = new Date(Date.now() + 8 * 3600_000);
    const thisMonth = `${nowCst.getUTCFullYear()}-${String(nowCst.getUTCMonth() + 1).padStart(2, '0')}`;
    const asked = c.req.query('month') ?? '';
    const month = /^\d{4}-(0[1-9]|1[0-2])$/.test(asked) ? asked : thisMonth;
    const [y, m] = month.split('-').map(Number) as [number, number];
    const from = new Date(`${month}-01T00:00:00+08:00`);
    const to = new Date(`${m === 12 ? y + 1 : y}-${String(m === 12 ? 1 : m + 1).padStart(2, '0')}-01T00:00:00+08:00`);
    const title = ctx.t('数据交换可用性', 'Data exchange availability');
    if (!deps.availability) return respond(c, ctx, repo, { title, body: () => <div class="card"><p class="hint">{ctx.t('本中心未记录可用性。', 'Availability is not tracked by this central.')}</p></div> });
    const visible = new Map((await repo.fleet()).map((r) => [r.clinicId, r.institution]));
    const report = await deps.availability.report(from, to);
    const rows = report.clinics.filter((r) => visible.has(r.clinicId));
    const outages = report.outages.filter((o) => visible.has(o.clinicId));
    const dur = (sec: number) => { const s = Math.round(sec); const h = Math.floor(s / 3600); const mm = Math.floor((s % 3600) / 60); return h > 0 ? ctx.t(`${h} 小时 ${mm} 分`, `${h} h ${mm} min`) : mm > 0 ? ctx.t(`${mm} 分 ${s % 60} 秒`, `${mm} min ${s % 60} s`) : ctx.t(`${s} 秒`, `${s} s`); };
    const cause = (k: 'clinic' | 'district' | 'planned') => (k === 'clinic' ? ctx.t('机构侧', 'clinic side') : k === 'district' ? ctx.t('区级侧（中心/交换平台）', 'district side (central/hub)') : ctx.t('计划维护', 'planned maintenance'));
    const summary: TableSpec = {
      id: 'availability', title: ctx.t(`各机构数据交换可用性（${month}，目标：可用率 ≥ 99.9%，单次中断 ≤ 2 小时，丢失率 < 0.1%）`, `Data exchange availability by clinic (${month}; target: >= 99.9 %, no outage over 2 h, loss < 0.1 %)`),
      columns: [{ key: 'clinicId', label: ctx.t('节点', 'Clinic') }, { key: 'institution', label: ctx.t('机构', 'Institution') }, { key: 'availabilityText', label: ctx.t('可用率', 'Availability') }, { key: 'outages', label: ctx.t('中断次数', 'Outages'), kind: 'number' }, { key: 'longest', label: ctx.t('最长中断', 'Longest') }, { key: 'downtime', label: ctx.t('累计中断', 'Downtime') }, { key: 'planned', label: ctx.t('计划维护', 'Planned') }, { key: 'causes', label: ctx.t('中断原因', 'Causes') }, { key: 'records', label: ctx.t('汇入记录', 'Records'), kind: 'number' }, { key: 'lostRecords', label: ctx.t('丢失记录', 'Records lost'), kind: 'number' }, { key: 'lossRate', label: ctx.t('丢失率', 'Loss rate') }, { key: 'refusedRecords', label: ctx.t('拒收（待查）', 'Refused (kept)'), kind: 'number' }, { key: 'state', label: ctx.t('当前', 'Now') }, { key: 'met', label: ctx.t('达标', 'Target met') }],
      rows: rows.map((r) => ({
        clinicId: r.clinicId, institution: visible.get(r.clinicId) ?? '—',
        availabilityText: `${(Math.floor(r.availability * 100_000) / 1000).toFixed(3)}%`,
        outages: r.outages, longest: r.longestOutageSeconds > 0 ? dur(r.longestOutageSeconds) : '—', downtime: r.downtimeSeconds > 0 ? dur(r.downtimeSeconds) : '—', planned: r.plannedSeconds > 0 ? dur(r.plannedSeconds) : '—',
        causes: r.outages ? (['clinic', 'district', 'planned'] as const).filter((k) => r.byCause[k] > 0).map((k) => `${cause(k)} ${r.byCause[k]}`).join(ctx.t('；', '; ')) : '—',
        state: r.retiredAt ? ctx.t(`已停用（自 ${localTime(r.retiredAt).slice(0, 10)}）`, `out of service since ${localTime(r.retiredAt).slice(0, 10)}`) : r.downSince ? ctx.t(`中断中（自 ${localTime(r.downSince)}）`, `down since ${localTime(r.downSince)}`) : ctx.t('正常', 'ok'),
        records: r.records, lostRecords: r.lostRecords, refusedRecords: r.refusedRecords,
        lossRate: r.records > 0 ? `${(r.lossRate * 100).toFixed(3)}%${r.recordsCountedFrom ? ctx.t(`（自 ${localTime(r.recordsCountedFrom)} 起）`, ` (since ${localTime(r.recordsCountedFrom)})`) : ''}` : '—',
        met: r.meetsTarget ? '✓' : '✗', _bad: !r.meetsTarget || r.downSince !== null || r.lostRecords > 0,
      })),
    };
    const log: TableSpec = {
      id: 'outages', title: ctx.t('中断记录', 'Outages'),
      columns: [{ key: 'clinicId', label: ctx.t('节点', 'Clinic') }, { key: 'started', label: ctx.t('开始（最后一次心跳）', 'Started (last heartbeat)') }, { key: 'ended', label: ctx.t('恢复', 'Restored') }, { key: 'length', label: ctx.t('时长', 'Length') }, { key: 'cause', label: ctx.t('原因', 'Cause') }, { key: 'planned', label: ctx.t('计划维护', 'Planned') }],
      rows: outages.slice().reverse().slice(0, 500).map((o) => ({
        clinicId: o.clinicId, started: localTime(o.startedAt), ended: o.endedAt ? localTime(o.endedAt) : ctx.t('未恢复', 'not yet'), length: dur(((o.endedAt ? Date.parse(o.endedAt) : Date.now()) - Date.parse(o.startedAt)) / 1000), cause: cause(o.cause),
        planned: o.planned === 'all' ? ctx.t('全部在计划维护内', 'all of it') : o.planned === 'partly' ? ctx.t('部分在计划维护内', 'partly') : '—',
        _bad: o.planned !== 'all' && (!o.endedAt || ((o.endedAt ? Date.parse(o.endedAt) : Date.now()) - Date.parse(o.startedAt)) / 1000 > 7200),
      })),
    };
    const missed = rows.filter((r) => !r.meetsTarget).length;
    return respond(c, ctx, repo, {
      title, tables: [summary, log], wide: true,
      body: () => (<>
        <form method="get" action="/portal/availability" class="card noprint" data-testid="availability-period">
          <label>{ctx.t('月份', 'Month')} <input type="month" name="month" value={month} max={thisMonth} /></label> <button type="submit" class="btn">{ctx.t('查看', 'Show')}</button>
          {' '}<a class="btn" href="/portal/maintenance" data-testid="maintenance-link">{ctx.t('计划维护', 'Planned maintenance')}</a>
        </form>
        <div class="card" data-testid="availability-summary"><p>{rows.length === 0 ? ctx.t('尚无机构上报心跳。', 'No clinic has reported yet.') : missed === 0
          ? ctx.t(`本月 ${rows.length} 个机构均达标。`, `All ${rows.length} clinics meet the target this month.`)
          : ctx.t(`本月 ${missed} 个机构未达标（共 ${rows.length} 个）。`, `${missed} of ${rows.length} clinics miss the target this month.`)}</p>
          <p class="hint">{ctx.t('中断：机构连续 2 分钟无心跳即计为中断，从最后一次心跳算起，到中心再次收到心跳且积压记录已汇入为止；机构有心跳但记录滞留超过 2 分钟未到中心（转发或入库停滞）也计为中断，从最早滞留的记录写入时算起。机构侧：中心在线而该机构无心跳（机构设备、网络或到交换平台的链路）；区级侧：中心未连接交换平台或刚启动。计划维护：事先登记的维护时段内的中断不计入中断时长（从登记时起算，补登无效）。可用率从机构首次上报起计算。丢失记录：机构回补时已不再保存的记录；拒收：中心拒收并保存待查的消息（见“无法入库的消息”），不算丢失。汇入记录：本月中心收到并核对的该机构记录数（按机构连续序号计，含拒收与丢失）；丢失率 = 丢失记录 ÷ 汇入记录。',
            'An outage starts at a clinic\'s last heartbeat once it has been silent for 2 minutes and ends when central hears from it again and its backlog is in; a clinic that beats while its records wait more than 2 minutes (a stuck relay or ingest) is in an outage too, from when the oldest waiting record was written. Clinic side: central was listening and the clinic was silent (its appliance, network or path to the hub); district side: central was not connected to the hub or had just started. Planned maintenance: outage time inside a window declared beforehand is not downtime (counted from its declaration; declaring afterwards does not excuse it). Availability counts from the clinic\'s first heartbeat. Records lost: records a clinic no longer held when it re-seeded central; refused: messages central refused and keeps for review (see Messages not applied), not lost. Records: the clinic\'s records central accounted for this month (by the clinic\'s contiguous sequence numbers, refused and lost ones included); loss rate = records lost / records.')}</p></div>
        <Table ctx={ctx} table={summary} empty={ctx.t('尚无机构上报心跳', 'No clinic has reported yet')} />
        <Table ctx={ctx} table={log} empty={ctx.t('本月无中断', 'No outage this month')} />
      </>),
    });
  });

  // Planned maintenance windows (计划维护): outage time inside them is not downtime; clinic alerts hold meanwhile.
  const maintenanceBack = (c: Context, error?: string) => c.redirect(`/portal/maintenance${error ? `?error=${encodeURIComponent(error)}` : ''}`);
  /** A datetime-local value (China time) as an ISO instant, or the text unchanged (refused later with the reason). */
  const chinaTime = (v: string) => {
    const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2})(:\d{2})?$/.exec(v);
    const d = m ? new Date(`${m[1]}${m[2] ?? ':00'}+08:00`) : null;
    return d && !Number.isNaN(d.getTime()) ? d.toISOString() : 'invalid';
  };
  page('get', '/maintenance', 'fleet', async (c, repo, ctx) => {
    const title = ctx.t('计划维护', 'Planned maintenance');
    if (!deps.availability) return respond(c, ctx, repo, { title, body: () => <div class="card"><p class="hint">{ctx.t('本中心未记录可用性。', 'Availability is not tracked by this central.')}</p></div> });
    const visible = new Map((await repo.fleet()).map((r) => [r.clinicId, r.institution]));
    const now = Date.now();
    const windows = (await deps.availability.maintenance(new Date(now - 90 * 86400_000), new Date(now + 400 * 86400_000))).filter((w) => w.clinicId === null || visible.has(w.clinicId));
    const canEdit = repo.can('maintain');
    const err = c.req.query('error');
    const state = (w: (typeof windows)[number]) => {
      if (w.cancelledAt) return ctx.t(`已取消（${localTime(w.cancelledAt)}）`, `cancelled ${localTime(w.cancelledAt)}`);
      if (Date.parse(w.endsAt) <= now) return ctx.t('已结束', 'over');
      return Date.parse(w.startsAt) <= now ? ctx.t('进行中', 'in progress') : ctx.t('未开始', 'upcoming');
    };
    const table: TableSpec = {
      id: 'maintenance', title: ctx.t('维护时段（近 90 天及以后）', 'Windows (last 90 days and ahead)'),
      columns: [{ key: 'scope', label: ctx.t('范围', 'Scope') }, { key: 'starts', label: ctx.t('开始', 'Starts') }, { key: 'ends', label: ctx.t('结束', 'Ends') }, { key: 'reason', label: ctx.t('事由', 'Reason') }, { key: 'declared', label: ctx.t('登记', 'Declared') }, { key: 'state', label: ctx.t('状态', 'State') }],
      rows: windows.slice().reverse().map((w) => ({
        _id: w.id, _open: !w.cancelledAt && Date.parse(w.endsAt) > now,
        scope: w.clinicId ? `${visible.get(w.clinicId) ?? w.clinicId}（${w.clinicId}）` : ctx.t('全部机构（交换平台/中心）', 'every clinic (hub/central)'),
        starts: localTime(w.startsAt), ends: localTime(w.endsAt), reason: w.reason, declared: `${w.declaredBy} ${localTime(w.declaredAt)}`, state: state(w),
      })),
    };
    const nowLocal = new Date(now + 8 * 3600_000).toISOString().slice(0, 16);
    return respond(c, ctx, repo, {
      title, tables: [table], wide: true,
      body: () => (<>
        {err && <div class="error" data-testid="maintenance-error">{err}</div>}
        <div class="card"><p class="hint">{ctx.t('事先登记的维护时段内，机构数据交换中断不计入中断时长和可用率（从登记时起算，事后补登不能抵消已发生的中断），该机构的心跳、延迟、转发和链路告警暂停。每个时段最长 72 小时。',
          'Outage time of a clinic inside a window declared beforehand is not counted as downtime or against availability (from the moment it is declared: declaring afterwards does not excuse an outage that happened), and the clinic\'s heartbeat, lag, relay and link alerts hold meanwhile. Each window is at most 72 hours.')}</p>
          <p><a class="btn" href="/portal/availability">{ctx.t('数据交换可用性', 'Data exchange availability')}</a></p></div>
        {canEdit && (<div class="card noprint"><h2>{ctx.t('登记维护时段', 'Declare a window')}</h2>
          <form method="post" action="/portal/maintenance" class="inline" data-testid="maintenance-form">
            <input type="hidden" name="_csrf" value={ctx.csrf} />
            <label>{ctx.t('范围', 'Scope')}<select name="clinicId">
              <option value="">{ctx.t('全部机构（交换平台/中心维护）', 'every clinic (hub/central maintenance)')}</option>
              {[...visible].map(([id, inst]) => <option value={id}>{`${inst ?? id}（${id}）`}</option>)}
            </select></label>
            <label>{ctx.t('开始（北京时间）', 'Starts (UTC+8)')}<input type="datetime-local" name="startsAt" required value={nowLocal} /></label>
            <label>{ctx.t('结束（北京时间）', 'Ends (UTC+8)')}<input type="datetime-local" name="endsAt" required /></label>
            <label>{ctx.t('事由', 'Reason')}<input name="reason" required maxlength={200} style="width:260px" /></label>
            <button type="submit">{ctx.t('登记', 'Declare')}</button>
          </form></div>)}
        <Table ctx={ctx} table={table} empty={ctx.t('没有维护时段', 'No maintenance window')} actions={canEdit ? (r: TableSpec['rows'][number]) => (r._open ? (
          <form method="post" action={`/portal/maintenance/${r._id}/cancel`} class="inline" data-confirm={ctx.t('取消此维护时段？取消后不再计为计划维护。', 'Cancel this window? From now on it no longer counts as planned.')}>
            <input type="hidden" name="_csrf" value={ctx.csrf} /><button type="submit" class="secondary">{ctx.t('取消', 'Cancel')}</button>
          </form>) : null) : undefined} />
      </>),
    });
  });
  page('post', '/maintenance', 'maintain', async (c, repo) => {
    if (!deps.availability) return c.text('availability is not tracked here', 404);
    const f = await c.req.parseBody();
    const clinicId = String(f.clinicId ?? '') || null;
    if (clinicId && !(await repo.fleet()).some((r) => r.clinicId === clinicId)) return maintenanceBack(c, `unknown clinic ${clinicId}`);
    const who = `portal:${repo.user.username}`;
    try {
      const w = await deps.availability.declareMaintenance({ clinicId, startsAt: chinaTime(String(f.startsAt ?? '')), endsAt: chinaTime(String(f.endsAt ?? '')), reason: String(f.reason ?? ''), declaredBy: repo.user.username });
      await deps.wh.audit({ actor: who, action: 'maintenance.declare', target: `#${w.id} ${w.clinicId ?? 'all'} ${w.startsAt}..${w.endsAt}`, sourceIp: clientIp(c), outcome: 'ok' });
    } catch (e) {
      if (!(e instanceof MaintenanceError)) throw e;
      await deps.wh.audit({ actor: who, action: 'maintenance.declare', target: `${clinicId ?? 'all'}`, sourceIp: clientIp(c), outcome: `refused: ${e.message}` });
      return maintenanceBack(c, e.message);
    }
    return maintenanceBack(c);
  });
  page('post', '/maintenance/:id/cancel', 'maintain', async (c, repo) => {
    if (!deps.availability) return c.text('availability is not tracked here', 404);
    const id = Number(c.req.param('id'));
    const visible = new Set((await repo.fleet()).map((r) => r.clinicId));
    const w = Number.isInteger(id) && id > 0 ? await deps.availability.window(id) : null;
    if (!w || (w.clinicId !== null && !visible.has(w.clinicId))) return maintenanceBack(c, 'no such maintenance window');
    await deps.availability.cancelMaintenance(id);
    await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'maintenance.cancel', target: `#${id}`, sourceIp: clientIp(c), outcome: 'ok' });
    return maintenanceBack(c);
  });

  // Remote reading (远程阅片): clinic studies, their images, reports (tender 1.5.2 §2)
  const imagingInScope = (repo: PortalRepo) => (id: string) => !repo.scope.teams && (!repo.scope.clinics || repo.scope.clinics.includes(id));
  const clinicLabel = (repo: PortalRepo, ctx: Ctx) => (id: string) => { const u = repo.org().institutionOf(id); return u ? `${name(ctx, u)}` : id; };
  const STUDY_PAGE = 50;
  page('get', '/imaging/studies', 'images', async (c, repo, ctx) => {
    const reading = deps.reading;
    const inScope = imagingInScope(repo);
    const clinicsKnown = [...new Set([...repo.org().units.filter((u) => u.clinicId && inScope(u.clinicId)).map((u) => u.clinicId!), ...(await repo.fleet().catch(() => [])).map((r) => r.clinicId).filter(inScope)])].sort();
    const q = {
      clinic: c.req.query('clinic') || '', from: c.req.query('from') || '', to: c.req.query('to') || '', modality: c.req.query('modality') || '',
      name: (c.req.query('name') || '').trim().slice(0, 64), id: (c.req.query('id') || '').trim().slice(0, 64),
      status: c.req.query('status') || (repo.can('report') ? 'unreported' : 'all'), offset: Math.max(0, Number(c.req.query('offset')) || 0),
    };
    const isDay = (d: string) => /^\d{4}-\d{2}-\d{2}$/.test(d) && !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d);
    const error = (q.from && !isDay(q.from)) || (q.to && !isDay(q.to)) ? ctx.t('日期格式应为 年-月-日', 'Dates are year-month-day')
      : q.clinic && !inScope(q.clinic) ? ctx.t(`机构 ${q.clinic} 不在您的管理范围内`, `Clinic ${q.clinic} is outside your scope`)
      : q.modality && !/^[A-Z]{2}$/.test(q.modality) ? ctx.t('检查类型无效', 'Unknown modality') : null;
    let rows: StudyRow[] = [];
    let more = false;
    if (reading && !error && !repo.scope.teams) {
      // The unreported list is cut from the 500 most recent matches; other lists page through the archive.
      // Several clinics (a centre's, or an ID searched as patient ID and accession) are merged before
      // the page is cut, so each query starts at 0 and brings enough rows for the page.
      const clinics = q.clinic ? [q.clinic] : repo.scope.clinics ? clinicsKnown : [undefined];
      const queries = q.id ? [{ PatientID: q.id }, { AccessionNumber: q.id }] : [{}];
      const merged = clinics.length * queries.length > 1;
      const want = q.status === 'unreported' ? 500 : merged ? Math.min(1000, q.offset + STUDY_PAGE + 1) : STUDY_PAGE + 1;
      const base: Query = { limit: String(want), offset: String(q.status === 'unreported' || merged ? 0 : q.offset) };
      if (q.from || q.to) base.StudyDate = `${q.from.replaceAll('-', '')}-${q.to.replaceAll('-', '')}`;
      if (q.modality) base.ModalitiesInStudy = q.modality;
      // Names are stored as devices write them (刘^淑英): a Chinese name typed whole (刘淑英) matches
      // with the separator anywhere between its characters.
      if (q.name) base.PatientName = q.name.includes('*') ? q.name : /^[\u3400-\u9fff]+$/.test(q.name) ? `*${[...q.name].join('*')}*` : `*${q.name}*`;
      const found = new Map<string, StudySummary>();
      for (const clinic of clinics) for (const extra of queries) {
        for (const st of await reading.index.searchStudies({ ...base, ...extra, ...(clinic ? { ClinicID: clinic } : {}) })) if (inScope(st.clinicId)) found.set(`${st.clinicId}/${st.studyInstanceUid}`, st);
      }
      // The archive's order: the study whose images arrived last first (then by UID), across clinics too.
      const sorted = [...found.values()].sort((a, b) => (a.lastReceivedAt < b.lastReceivedAt ? 1 : a.lastReceivedAt > b.lastReceivedAt ? -1 : a.studyInstanceUid < b.studyInstanceUid ? -1 : 1));
      const withReports = await Promise.all(sorted.map(async (st) => ({ study: st, latest: (await reading.index.reports(st.studyInstanceUid)).at(-1) })));
      const filtered = q.status === 'unreported' ? withReports.filter((r) => !r.latest) : q.status === 'preliminary' ? withReports.filter((r) => r.latest?.status === 'preliminary') : withReports;
      const start = q.status === 'unreported' || merged ? q.offset : 0;
      rows = filtered.slice(start, start + STUDY_PAGE);
      more = filtered.length > start + STUDY_PAGE;
    }
    const table = studyTable(ctx, rows, (id) => `${clinicLabel(repo, ctx)(id)}`);
    await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'portal.imaging.studies', target: new URL(ctx.url, 'http://x').search.slice(0, 300) || '(recent)', sourceIp: clientIp(c), outcome: `${rows.length} studies` });
    return respond(c, ctx, repo, {
      title: ctx.t('远程阅片', 'Remote reading'), tables: [table], wide: true,
      body: () => (<>
        <form class="selector noprint" method="get" action="/portal/imaging/studies" data-testid="studies-filter">
          <label>{ctx.t('报告', 'Report')} <select name="status">{([['unreported', '待报告', 'Not reported'], ['preliminary', '仅初步报告', 'Preliminary only'], ['all', '全部', 'All']] as const).map(([v, zh, en]) => <option value={v} selected={q.status === v}>{ctx.t(zh, en)}</option>)}</select></label>
          <label>{ctx.t('机构', 'Clinic')} <select name="clinic"><option value="">{ctx.t('全部', 'All')}</option>{clinicsKnown.map((id) => <option value={id} selected={id === q.clinic}>{`${id} ${clinicLabel(repo, ctx)(id)}`}</option>)}</select></label>
          <label>{ctx.t('类型', 'Modality')} <select name="modality"><option value="">{ctx.t('全部', 'All')}</option>{['US', 'DX', 'CR'].map((m) => <option value={m} selected={m === q.modality}>{modalityName(ctx, m)}</option>)}</select></label>
          <label>{ctx.t('检查日期', 'Study date')} <input type="date" name="from" value={q.from} /> – <input type="date" name="to" value={q.to} /></label>
          <label>{ctx.t('姓名', 'Name')} <input name="name" value={q.name} size={8} /></label>
          <label>{ctx.t('患者ID/检查号', 'Patient ID / accession')} <input name="id" value={q.id} size={14} /></label>
          <button type="submit">{ctx.t('查询', 'Search')}</button>
        </form>
        {error && <div class="error" data-testid="studies-error">{error}</div>}
        {!reading && <div class="card"><p class="hint">{ctx.t('区影像中心未在本中心运行。', 'The regional image archive is not running on this central.')}</p></div>}
        {repo.scope.teams && <div class="card"><p class="hint">{ctx.t('团队账号不能调阅影像。', 'Team accounts cannot open images.')}</p></div>}
        <Table ctx={ctx} table={table} empty={q.status === 'unreported' ? ctx.t('没有待报告的检查。', 'No study waits for a report.') : ctx.t('没有符合条件的检查。', 'No study matches.')} />
        <p class="noprint">
          {q.offset > 0 && <a href={withQuery(ctx.url, { offset: String(Math.max(0, q.offset - STUDY_PAGE)) })}>{ctx.t('上一页', 'Previous')}</a>}{' '}
          {more && <a href={withQuery(ctx.url, { offset: String(q.offset + STUDY_PAGE) })} data-testid="next-page">{ctx.t('下一页', 'Next')}</a>}
        </p>
        <div class="card"><p class="hint">{ctx.t(
          '各机构上传到区影像中心的检查，最近到达的在前。“待报告”列出最近到达的 500 个符合条件的检查中尚无报告的；查看检查和图像会记入审计日志。',
          'Studies the clinics sent to the regional archive, latest arrivals first. "Not reported" lists those of the 500 latest matching arrivals without a report; opening a study or its images is audited.')}</p></div>
      </>),
    });
  });

  /** The study's instances and summary, or ScopeError (404) when unknown or outside the caller's scope. */
  const studyFor = async (repo: PortalRepo, uid: string) => {
    const reading = deps.reading;
    if (!reading || repo.scope.teams) throw new ScopeError('no such study in your scope');
    const instances = await reading.index.findInstances({ StudyInstanceUID: uid, limit: '1000' });
    const clinicId = instances[0]?.clinicId;
    if (!clinicId || !imagingInScope(repo)(clinicId)) throw new ScopeError('no such study in your scope');
    const study = (await reading.index.searchStudies({ StudyInstanceUID: uid, ClinicID: clinicId, limit: '1' }))[0];
    if (!study) throw new ScopeError('no such study in your scope');
    // The same patient's other studies at this clinic (历史检查), newest first, with their current
    // report: read beside this one (tender 1.3.3: earlier reports shown with the current one).
    const pid = study.patientId?.trim() ?? '';
    const priors = !pid || /[*?\\]/.test(pid) ? [] : (await reading.index.searchStudies({ PatientID: pid, ClinicID: clinicId, limit: '21' }))
      .filter((st) => st.studyInstanceUid !== uid)
      .sort((a, b) => ((a.studyDate ?? '') + (a.studyTime ?? '') < (b.studyDate ?? '') + (b.studyTime ?? '') ? 1 : -1)).slice(0, 20);
    const priorRows = await Promise.all(priors.map(async (st) => ({ study: st, latest: (await reading.index.reports(st.studyInstanceUid)).at(-1) })));
    return { reading, study, instances: instances.filter((i) => i.clinicId === clinicId), reports: await reading.index.reports(uid), priors: priorRows };
  };
  const studyPage = async (c: Context, repo: PortalRepo, ctx: Ctx, uid: string, extra: Partial<StudyViewProps> = {}, status: 200 | 400 = 200) => {
    const v = await studyFor(repo, uid);
    await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'portal.imaging.study.view', target: `${v.study.clinicId} ${uid}`, sourceIp: clientIp(c), outcome: `${v.instances.length} images, ${v.reports.length} report version(s), ${v.priors.length} earlier stud${v.priors.length === 1 ? 'y' : 'ies'} listed` });
    // A report template chosen (套用模板, a GET of this page): the form starts from its text.
    const template = reportTemplate(c.req.query('template') ?? '');
    const fromTemplate = template && !extra.draft ? { draft: { findings: template.findings, impression: template.impression, positive: template.positive }, template: template.code } : {};
    const out = await respond(c, ctx, repo, {
      title: ctx.t('检查', 'Study'), wide: true,
      body: () => <StudyView ctx={ctx} study={v.study} clinicName={`${v.study.clinicId} ${clinicLabel(repo, ctx)(v.study.clinicId)}`} instances={v.instances} reports={v.reports} priors={v.priors} canReport={repo.can('report')} previews={!!v.reading.previews} {...fromTemplate} {...extra} />,
    });
    return status === 200 ? out : new Response(out.body, { status, headers: out.headers });
  };
  page('get', '/imaging/studies/:uid', 'images', async (c, repo, ctx) => {
    const saved = Number(c.req.query('saved')) || 0;
    return studyPage(c, repo, ctx, c.req.param('uid') ?? '', saved ? { notice: ctx.t(`第 ${saved} 版报告已签发，并将回传到检查所在的机构。`, `Report version ${saved} issued; it goes back to the clinic.`) } : {});
  });
  page('post', '/imaging/studies/:uid/reports', 'report', async (c, repo, ctx) => {
    const uid = c.req.param('uid') ?? '';
    const v = await studyFor(repo, uid);
    const f = await c.req.parseBody();
    const draft = { status: String(f.status ?? ''), findings: String(f.findings ?? '').trim(), impression: String(f.impression ?? '').trim(), positive: f.positive === '1' };
    const refuse = async (why: string, outcome: string) => {
      await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'portal.imaging.report.add', target: uid, sourceIp: clientIp(c), outcome: `refused: ${outcome}`.slice(0, 300) });
      return studyPage(c, repo, ctx, uid, { error: why, draft }, 400);
    };
    // Someone else issued a version since this form was opened: show it rather than stack on it unseen.
    const after = Number(f.after ?? 0);
    if ((v.reports.at(-1)?.version ?? 0) !== after) return refuse(ctx.t(`打开此页后已有新版本报告（第 ${v.reports.at(-1)?.version} 版），请先阅读再签发。`, `A newer version (${v.reports.at(-1)?.version}) was issued since you opened this page; read it first.`), 'stale form');
    const parsed = reportInputSchema.safeParse({ ...draft, radiologist: `${repo.user.displayName}（${repo.user.username}）`.slice(0, 50) });
    if (!parsed.success) {
      const FIELD: Record<string, [string, string]> = { findings: ['检查所见', 'Findings'], impression: ['诊断意见', 'Impression'], status: ['报告类型', 'Status'] };
      const i = parsed.error.issues[0]!;
      const field = String(i.path[0] ?? '');
      return refuse(ctx.t(`${FIELD[field]?.[0] ?? field}：${i.code === 'too_small' ? '不能为空' : i.code === 'too_big' ? '太长' : '无效'}`, `${FIELD[field]?.[1] ?? field}: ${i.message}`), `${field} ${i.code}`);
    }
    try {
      const r = await v.reading.index.addReport(uid, parsed.data);
      await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'portal.imaging.report.add', target: uid, sourceIp: clientIp(c), outcome: `version ${r.version} ${r.status}${r.positive ? ' positive' : ''}` });
      return c.redirect(`/portal/imaging/studies/${encodeURIComponent(uid)}?saved=${r.version}`, 303);
    } catch (e) {
      if (!(e instanceof ReportError)) throw e;
      const why = e.status === 409
        ? ctx.t('报告类型顺序不对：正式报告之后只能签发修订报告，初步报告不能在正式报告之后。', 'Out of order: after a final report only an amendment can be issued, and a preliminary one cannot follow a final one.')
        : ctx.t('检查不存在。', 'Unknown study.');
      return refuse(why, `${e.status} ${e.message}`);
    }
  });
  page('get', '/imaging/instances/:sop/preview.png', 'images', async (c, repo, ctx) => {
    const reading = deps.reading;
    const i = reading ? await reading.index.instance(c.req.param('sop') ?? '') : null;
    if (!reading || !i || !imagingInScope(repo)(i.clinicId) || repo.scope.teams) throw new ScopeError('no such image in your scope');
    const size = Math.min(2048, Math.max(16, Number(c.req.query('size')) || 256));
    // A full-size view is a look at the image itself: audited (thumbnails are covered by the study view's entry).
    if (size > 256) await deps.wh.audit({ actor: `portal:${repo.user.username}`, action: 'portal.imaging.image.view', target: `${i.clinicId} ${i.studyInstanceUid} ${i.sopInstanceUid}`, sourceIp: clientIp(c), outcome: `size ${size}` });
    if (!reading.previews) return c.body(noPreviewSvg(ctx.t('本中心未启用图像预览', 'Previews are not available here')), 503, { 'content-type': 'image/svg+xml; charset=utf-8', 'cache-control': 'no-store' });
    const a = await previewAnswer(reading.previews, i, size, c.req.header('if-none-match'), ctx.t, 3600);
    return new Response(a.body, { status: a.status, headers: a.headers });
  });

  // Imaging workload of the regional archive (aggregates only)
  page('get', '/imaging', 'view', async (c, repo, ctx) => {
    const period = workloadPeriod({ from: c.req.query('from'), to: c.req.query('to') });
    const inScope = (id: string) => !repo.scope.teams && (!repo.scope.clinics || repo.scope.clinics.includes(id));
    const clinicIds = (await repo.fleet().catch(() => [])).map((r) => r.clinicId);
    const scoped = repo.org().units.filter((u) => u.clinicId && inScope(u.clinicId)).map((u) => u.clinicId!);
    const clinics = [...new Set([...scoped, ...clinicIds.filter(inScope)])].sort();
    const clinicId = c.req.query('clinic') || undefined;
    const institution = (id: string) => { const u = repo.org().institutionOf(id); return u ? name(ctx, u) : ''; };
    const error = 'error' in period ? ctx.t(...period.error) : clinicId && !inScope(clinicId) ? ctx.t(`机构 ${clinicId} 不在您的管理范围内`, `Clinic ${clinicId} is outside your scope`) : null;
    const { from, to } = 'error' in period ? workloadPeriod({}) as { from: string; to: string } : period;
    // One query per clinic: each reads its period through the index on (clinic_id, received_at)
    // instead of every instance the archive holds (central/imaging chinaDaysUtc).
    const wanted = clinicId ? [clinicId] : clinics;
    const rows = error || !deps.imagingWorkload ? [] : (await Promise.all(wanted.map((id) => deps.imagingWorkload!(from, to, id)))).flat().filter((r) => inScope(r.clinicId));
    const v = workloadView(ctx, rows, from, to, institution);
    // Reports on studies of the clinics in view (the clinic chosen, or the caller's scope).
    const activity = error || !deps.imagingReports ? [] : (await deps.imagingReports(from, to)).filter((r) => inScope(r.clinicId) && (!clinicId || r.clinicId === clinicId));
    const readers = readerTable(ctx, activity);
    const pct = (x: number | null) => (x === null ? '—' : `${(x * 100).toFixed(1)}%`);
    return respond(c, ctx, repo, {
      title: ctx.t('影像工作量', 'Imaging workload'), tables: [v.byClinic, v.byDevice, readers], wide: true,
      body: () => (<>
        <form class="selector noprint" method="get" action="/portal/imaging" data-testid="imaging-filter">
          <label>{ctx.t('从', 'From')} <input type="date" name="from" value={from} /></label>
          <label>{ctx.t('至', 'To')} <input type="date" name="to" value={to} /></label>
          <label>{ctx.t('机构', 'Clinic')} <select name="clinic"><option value="">{ctx.t('全部', 'All')}</option>{clinics.map((id) => <option value={id} selected={id === clinicId}>{`${id} ${institution(id)}`.trim()}</option>)}</select></label>
          <button type="submit">{ctx.t('查询', 'Show')}</button>
        </form>
        {error && <div class="error" data-testid="imaging-error">{error}</div>}
        {!deps.imagingWorkload && <div class="card"><p class="hint">{ctx.t('区影像中心未在本中心运行。', 'The regional image archive is not running on this central.')}</p></div>}
        <div class="grid" data-testid="imaging-kpis">
          <div class="kpi"><div class="label">{ctx.t('检查数', 'Studies')}</div><div class="value" data-testid="imaging-studies">{v.total.studies.toLocaleString('zh-CN')}</div><div class="sub">{from} – {to}</div></div>
          <div class="kpi"><div class="label">{ctx.t('图像数', 'Images')}</div><div class="value">{v.total.instances.toLocaleString('zh-CN')}</div><div class="sub">{ctx.t(`数据量 ${v.total.mb.toLocaleString('zh-CN')} MB`, `${v.total.mb.toLocaleString('en')} MB`)}</div></div>
          <div class="kpi"><div class="label">{ctx.t('阳性率', 'Positive rate')}</div><div class="value" data-testid="imaging-positive-rate">{pct(v.total.positiveRate)}</div><div class="sub">{ctx.t(`已出正式报告 ${v.total.reported}，阳性 ${v.total.positive}`, `${v.total.reported} reported, ${v.total.positive} positive`)}</div></div>
          <div class="kpi"><div class="label">{ctx.t('报告用时中位数', 'Report turnaround, median')}</div><div class="value" data-testid="imaging-turnaround">{readers.turnaroundMedianH === null ? '—' : ctx.t(`${readers.turnaroundMedianH} 小时`, `${readers.turnaroundMedianH} h`)}</div><div class="sub">{ctx.t(`此期间出具正式报告 ${readers.finals} 份（从图像到达至正式报告）`, `${readers.finals} first final reports in the period (from images received to the final report)`)}</div></div>
        </div>
        {rows.length > 0 && <div class="card"><h2>{ctx.t('每日检查数（按类型）', 'Studies per day, by modality')}</h2><Chart id="imaging-daily" option={v.chart} height={260} /></div>}
        <Table ctx={ctx} table={v.byClinic} empty={ctx.t('此期间没有收到影像。', 'No images were received in this period.')} />
        <Table ctx={ctx} table={v.byDevice} empty={ctx.t('此期间没有收到影像。', 'No images were received in this period.')} />
        <Table ctx={ctx} table={readers} empty={ctx.t('此期间没有签发诊断报告。', 'No report was issued in this period.')} />
        <div class="card"><p class="hint">{ctx.t(
          '按影像到达区影像中心的日期（北京时间）统计；同一检查的图像分几天到达时，每天各计一次。阳性率只计已出正式报告（final/amended）的检查，未出报告的检查不计入也不推测。设备按设备发送时使用的 AE 名称区分。',
          'Counted by the day (China time) images reached the regional archive; a study whose images arrived over several days counts once on each. The positive rate counts only studies with a final or amended report; unreported ones are neither counted nor guessed. Devices are told apart by the AE title they send with.')}</p>
          <p class="hint">{ctx.t(
            '医师工作量按报告签发的日期（北京时间）统计：每签发一版计一份；“出具正式报告”计该检查的第一份正式报告，其后的为修订。报告用时从检查的第一张图像到达区影像中心起，到第一份正式报告签发止。',
            'Radiologists\' workload is counted by the day (China time) a report was issued: each version counts once; "studies reported" counts a study\'s first final report, later ones are amendments. Turnaround runs from the study\'s first image reaching the archive to its first final report.')}</p></div>
      </>),
    });
  });

  page('get', '/dead-letters', 'fleet', async (c, repo, ctx) => {
    const clinicId = c.req.query('clinic') || undefined;
    const reasonQ = c.req.query('reason') || undefined;
    const reason = reasonQ && (DEAD_LETTER_REASON_LIST as readonly string[]).includes(reasonQ) ? reasonQ : undefined;
    const before = Number(c.req.query('before')) || undefined;
    const limit = 100;
    const clinicName = (id: string | null) => (id === null ? ctx.t('（未知机构）', '(no clinic)') : `${id} ${repo.org().institutionOf(id)?.name ?? ''}`.trim());
    const summary = await repo.deadLetterSummary();
    const list = await repo.deadLetters({ clinicId, reason, beforeId: before, limit });
    const sum = summaryTable(ctx, summary, clinicName);
    const tableL = listTable(ctx, list, clinicName);
    const clinics = [...new Set([...(await repo.fleet()).map((r) => r.clinicId), ...summary.map((s) => s.clinicId).filter((x): x is string => x !== null)])].sort();
    const next = list.length === limit ? withQuery(ctx.url, { before: String(list[list.length - 1]!.id) }) : null;
    return respond(c, ctx, repo, {
      title: ctx.t('无法入库的消息', 'Messages not applied'), tables: [sum, tableL], wide: true,
      body: () => (<>
        <div class="card"><p class="hint">{ctx.t(
          '中心收到但无法入库的消息：每条保存原始内容和原因，不影响该机构其他记录的入库，也计入监控指标 central_dead_letters_total。原因与处理办法见下表；内容可能含居民信息，查看会记入审计日志。',
          'Messages central received and could not apply: each is kept as received with its reason; other records of the clinic keep flowing, and the metric central_dead_letters_total counts them. Reasons and what to do are below; a message may hold a resident\'s data, so viewing them is audited.')}</p></div>
        <Table ctx={ctx} table={sum} empty={ctx.t('没有无法入库的消息。', 'No message was refused.')} />
        <form class="selector noprint" method="get" action="/portal/dead-letters" data-testid="dead-letters-filter">
          <label>{ctx.t('节点', 'Clinic')} <select name="clinic"><option value="">{ctx.t('全部', 'All')}</option>{clinics.map((id) => <option value={id} selected={id === clinicId}>{clinicName(id)}</option>)}</select></label>
          <label>{ctx.t('原因', 'Reason')} <select name="reason"><option value="">{ctx.t('全部', 'All')}</option>{DEAD_LETTER_REASON_LIST.map((r) => <option value={r} selected={r === reason}>{reasonName(ctx, r)}</option>)}</select></label>
          <button type="submit">{ctx.t('筛选', 'Filter')}</button>
        </form>
        <DeadLetterList ctx={ctx} table={tableL} next={next} />
      </>),
    });
  });

  // Backups and restore drills (per clinic on central's off-site target, and central's own)
  page('get', '/backup', 'fleet', async (c, repo, ctx) => {
    const ov = deps.backupStatus ? await deps.backupStatus() : null;
    const maxAgeHours = backupMaxAgeHours();
    const table = backupTable(ctx, ov, { clinics: repo.scope.teams ? [] : repo.scope.clinics, district: !repo.scope.clinics && !repo.scope.teams, maxAgeHours, org: repo.org() });
    return respond(c, ctx, repo, {
      title: ctx.t('备份与恢复演练', 'Backups and restore drills'), tables: [table], wide: true,
      body: () => (<>
        <div class="card"><p class="hint" data-testid="backup-generated">{ov ? `${ctx.t('状态生成于', 'Status generated at')} ${localTime(ov.generatedAt)} · ${ctx.t(`最近成功备份超过 ${maxAgeHours} 小时或恢复演练未通过的行标红（与告警规则 BackupTooOld 一致）。RPO：演练恢复出的最新数据的时长；RTO：恢复并打开所用时间。`, `Rows whose last good backup is older than ${maxAgeHours} h, or whose last restore drill failed, are red (as the BackupTooOld alert). RPO: age of the newest restored data; RTO: time to restore and open.`)}` : ctx.t('备份模块未在本中心运行。', 'The backup module is not running on this central.')}</p></div>
        <Table ctx={ctx} table={table} empty={ctx.t('尚无备份记录', 'No backups yet')} />
      </>),
    });
  });

  page('get', '/uploads', 'fleet', async (c, repo, ctx) => {
    const st = await repo.ingestStatus();
    const city = await repo.cityUploads();
    const table: TableSpec = { id: 'ingest', title: ctx.t('各机构数据汇入', 'Data received from each clinic'), columns: [{ key: 'clinicId', label: ctx.t('节点', 'Clinic') }, { key: 'institution', label: ctx.t('机构', 'Institution') }, { key: 'applied', label: ctx.t('已入库记录', 'Records applied'), kind: 'number' }, { key: 'lastApplied', label: ctx.t('最近入库', 'Last applied') }, { key: 'factsCursor', label: ctx.t('已汇总至序号', 'Analysed up to seq'), kind: 'number' }, { key: 'dead', label: ctx.t('无法入库', 'Dead letters'), kind: 'number' }], rows: st.map((r) => ({ ...r, lastApplied: r.lastAppliedAt ? localTime(r.lastAppliedAt) : '—', _bad: r.dead > 0 })), href: (r) => (Number(r.dead) > 0 ? `/portal/dead-letters?clinic=${encodeURIComponent(String(r.clinicId))}` : null) };
    const tables = [table];
    if (city && city.length) tables.push({ id: 'city', title: ctx.t('上报市平台', 'Upload to the city platform'), columns: Object.keys(city[0]!).map((k) => ({ key: k, label: k })), rows: city });
    return respond(c, ctx, repo, {
      title: ctx.t('数据上传监控', 'Data upload monitor'), tables, asOf: true,
      body: () => (<>
        {tables.map((t) => <Table ctx={ctx} table={t} />)}
        {!city && <div class="card"><p class="hint">{ctx.t('上报市平台的任务状态将在市平台对接功能上线后显示在此处。', 'Upload jobs to the city platform appear here once that interface is running.')}</p></div>}
      </>),
    });
  });

  page('get', '/dictionaries', 'view', async (c, repo, ctx) => {
    const dicts = await repo.dictionaries();
    const want = c.req.query('name');
    const d = dicts.find((x) => x.name === want);
    const hub = deps.hub?.() ?? null;
    const pending = new Set(hub?.pendingDictionaries ?? []);
    const list: TableSpec = { id: 'dictionaries', title: ctx.t('标准字典（中心维护，下发各机构）', 'Standard dictionaries (edited centrally, sent to every clinic)'), columns: [{ key: 'label', label: ctx.t('字典', 'Dictionary') }, { key: 'version', label: ctx.t('版本', 'Version'), kind: 'number' }, { key: 'publishedAt', label: ctx.t('发布时间', 'Published') }, { key: 'items', label: ctx.t('条目数', 'Items'), kind: 'number' }, { key: 'distribution', label: ctx.t('下发', 'Distribution') }],
      rows: dicts.map((x) => ({ name: x.name, label: DICT_NAMES[x.name] ? ctx.t(...DICT_NAMES[x.name]!) : x.name, version: x.version, publishedAt: localTime(x.publishedAt), items: x.items.length,
        distribution: pending.has(x.name) ? ctx.t('待下发：交换平台恢复后自动下发', 'pending: sent when the hub answers') : ctx.t('已进入交换平台', 'in the hub'), _bad: pending.has(x.name) })),
      href: (r) => `/portal/dictionaries?name=${r.name}` };
    const tables = [list];
    if (d) tables.push({ id: 'items', title: `${DICT_NAMES[d.name] ? ctx.t(...DICT_NAMES[d.name]!) : d.name} v${d.version}`, columns: [{ key: 'code', label: ctx.t('编码', 'Code') }, { key: 'name', label: ctx.t('名称', 'Name') }, { key: 'active', label: ctx.t('启用', 'Active') }, { key: 'attrs', label: ctx.t('属性', 'Attributes') }], rows: d.items.map((i) => ({ ...i, active: i.active ? '✓' : '✗', attrs: JSON.stringify(i.attrs) })) });
    return respond(c, ctx, repo, {
      title: ctx.t('字典管理', 'Dictionaries'), tables,
      body: () => (<>
        {hub && !hub.connected && <HubDown ctx={ctx} detail={hub.detail} />}
        <div class="card"><p class="hint">{ctx.t('新版本通过中心管理接口发布（PUT /api/dictionaries/{name}，见 /openapi.json），发布后自动下发到所有机构。', 'New versions are published through the central management API (PUT /api/dictionaries/{name}, see /openapi.json) and sent to every clinic.')} <a href="/openapi.json">/openapi.json</a></p></div>
        {tables.map((t) => <Table ctx={ctx} table={t} />)}
      </>),
    });
  });

  // Organisation, population, staffing
  page('get', '/org', 'view', async (c, repo, ctx) => {
    const year = Number(c.req.query('year')) || new Date().getFullYear();
    const org = repo.org();
    const units = org.subtree(repo.scope.orgId);
    const pop = new Map((await repo.population(year)).map((p) => [p.orgId, p]));
    const staff = new Map((await repo.staffing()).map((s) => [s.orgId, s]));
    const depth = (u: OrgUnit) => org.path(u.id).length - 1;
    const table: TableSpec = {
      id: 'org', title: ctx.t('机构层级', 'Organisation hierarchy'),
      columns: [{ key: 'name', label: ctx.t('名称', 'Name') }, { key: 'id', label: ctx.t('编码', 'Code') }, { key: 'level', label: ctx.t('层级', 'Level') }, { key: 'clinicId', label: ctx.t('边缘节点', 'Clinic id') }, { key: 'permanent', label: ctx.t(`常住人口（${year}）`, `Population (${year})`), kind: 'number' }, { key: 'elderly', label: ctx.t('65岁及以上', '65+'), kind: 'number' }, { key: 'keyPop', label: ctx.t('重点人群', 'Key population'), kind: 'number' }, { key: 'staff', label: ctx.t('在岗人员', 'Staff'), kind: 'number' }, { key: 'doctors', label: ctx.t('医师', 'Doctors'), kind: 'number' }, { key: 'gps', label: ctx.t('全科医生', 'GPs'), kind: 'number' }, { key: 'nurses', label: ctx.t('护士', 'Nurses'), kind: 'number' }],
      rows: units.sort((a, b) => org.path(a.id).map((x) => `${String(x.sort).padStart(4, '0')}${x.id}`).join('/').localeCompare(org.path(b.id).map((x) => `${String(x.sort).padStart(4, '0')}${x.id}`).join('/'))).map((u) => ({ name: `${'　'.repeat(depth(u))}${name(ctx, u)}`, id: u.id, level: ctx.t(...LEVEL_NAMES[u.level]), clinicId: u.clinicId, ...(pop.get(u.id) ?? {}), ...(staff.get(u.id) ?? {}) })),
    };
    const err = c.req.query('error');
    const admin = repo.can('admin');
    const parents = units.filter((u) => u.level !== 'team' && u.level !== 'station');
    return respond(c, ctx, repo, {
      title: ctx.t('机构与人口', 'Organisation and population'), tables: [table], wide: true,
      body: () => (<>
        {err && <div class="error">{err}</div>}
        <Table ctx={ctx} table={table} />
        {admin && (<div class="cols noprint">
          <div class="card"><h2>{ctx.t('新增/修改机构或团队', 'Add or edit a unit')}</h2>
            <form method="post" action="/portal/org/units" class="stack">
              <input type="hidden" name="_csrf" value={ctx.csrf} />
              <label>{ctx.t('编码', 'Code')}<input name="id" required pattern="[a-z0-9][a-z0-9-]{1,31}" /></label>
              <label>{ctx.t('名称', 'Name')}<input name="name" required /></label>
              <label>{ctx.t('英文名称', 'English name')}<input name="nameEn" /></label>
              <label>{ctx.t('层级', 'Level')}<select name="level">{(['centre', 'station', 'team'] as const).map((l) => <option value={l}>{ctx.t(...LEVEL_NAMES[l])}</option>)}</select></label>
              <label>{ctx.t('上级', 'Parent')}<select name="parentId">{parents.map((u) => <option value={u.id}>{u.name}</option>)}</select></label>
              <label>{ctx.t('边缘节点编码（中心/站）', 'Clinic id (centres/stations)')}<input name="clinicId" /></label>
              <label>{ctx.t('团队编码（签约记录中的 teamId）', 'Team code (teamId on contracts)')}<input name="code" /></label>
              <button type="submit" style="margin-top:10px">{ctx.t('保存', 'Save')}</button>
            </form>
          </div>
          <div>
            <div class="card"><h2>{ctx.t('人口数据', 'Population')}</h2>
              <form method="post" action="/portal/org/population" class="inline">
                <input type="hidden" name="_csrf" value={ctx.csrf} />
                <label>{ctx.t('机构', 'Unit')}<select name="orgId">{units.filter((u) => u.level === 'centre' || u.level === 'station').map((u) => <option value={u.id}>{u.name}</option>)}</select></label>
                <label>{ctx.t('年度', 'Year')}<input name="year" value={String(year)} style="width:70px" /></label>
                <label>{ctx.t('常住人口', 'Permanent')}<input name="permanent" style="width:90px" /></label>
                <label>{ctx.t('65岁及以上', '65+')}<input name="elderly" style="width:80px" /></label>
                <label>{ctx.t('重点人群', 'Key pop.')}<input name="keyPop" style="width:80px" /></label>
                <button type="submit">{ctx.t('保存', 'Save')}</button>
              </form>
              <form method="post" action="/portal/org/population/import" enctype="multipart/form-data" class="inline" style="margin-top:10px">
                <input type="hidden" name="_csrf" value={ctx.csrf} />
                <label>{ctx.t('Excel 导入（列：机构编码、年度、常住人口、65岁及以上人口、重点人群）', 'Excel import (columns: 机构编码, 年度, 常住人口, 65岁及以上人口, 重点人群)')}<input type="file" name="file" accept=".xlsx" required /></label>
                <button type="submit">{ctx.t('导入', 'Import')}</button>
              </form>
            </div>
            <div class="card"><h2>{ctx.t('人员配置', 'Staffing')}</h2>
              <form method="post" action="/portal/org/staffing" class="inline">
                <input type="hidden" name="_csrf" value={ctx.csrf} />
                <label>{ctx.t('机构', 'Unit')}<select name="orgId">{units.filter((u) => u.level === 'centre' || u.level === 'station').map((u) => <option value={u.id}>{u.name}</option>)}</select></label>
                {(['staff', 'doctors', 'gps', 'nurses'] as const).map((k) => <label>{k}<input name={k} style="width:70px" /></label>)}
                <button type="submit">{ctx.t('保存', 'Save')}</button>
              </form>
            </div>
          </div>
        </div>)}
      </>),
    });
  });
  const back = (c: Context, error?: string) => c.redirect(`/portal/org${error ? `?error=${encodeURIComponent(error)}` : ''}`);
  page('post', '/org/units', 'admin', async (c, repo) => {
    const f = await c.req.parseBody();
    const level = String(f.level) as OrgLevel;
    const id = String(f.id ?? '').trim();
    if (!/^[a-z0-9][a-z0-9-]{1,31}$/.test(id) || !['centre', 'station', 'team'].includes(level) || !String(f.name ?? '').trim()) return back(c, 'code, name and level are required (code: lower-case letters, digits, dashes)');
    const existing = repo.org().byId.get(id);
    try {
      await repo.saveOrgUnit({ id, name: String(f.name).trim(), nameEn: String(f.nameEn ?? '').trim() || null, level, parentId: String(f.parentId ?? '') || 'district', clinicId: level === 'team' ? null : String(f.clinicId ?? '').trim() || null, code: level === 'team' ? String(f.code ?? '').trim() || id : null, sort: existing?.sort ?? 500 });
    } catch (e) {
      if (e instanceof ForbiddenError) throw e;
      return back(c, (e as Error).message);
    }
    return back(c);
  });
  page('post', '/org/units/:id/delete', 'admin', async (c, repo) => {
    try { await repo.deleteOrgUnit(c.req.param('id')!); } catch (e) { if (e instanceof ForbiddenError) throw e; return back(c, (e as Error).message); }
    return back(c);
  });
  page('post', '/org/population', 'admin', async (c, repo) => {
    const f = await c.req.parseBody();
    try {
      await repo.savePopulation([{ orgId: String(f.orgId), year: Number(f.year), permanent: Number(f.permanent), elderly: Number(f.elderly), keyPop: Number(f.keyPop) }]);
    } catch (e) { if (e instanceof ForbiddenError) throw e; return back(c, (e as Error).message); }
    return c.redirect(`/portal/org?year=${Number(f.year)}`);
  });
  page('post', '/org/population/import', 'admin', async (c, repo) => {
    const f = await c.req.parseBody();
    if (!(f.file instanceof File)) return back(c, 'no file');
    try {
      const rows = await readSheet(Buffer.from(await f.file.arrayBuffer()));
      await repo.savePopulation(rows.map((r) => ({ orgId: String(col(r, '机构编码', 'org') ?? ''), year: Number(col(r, '年度', 'year')), permanent: Number(col(r, '常住人口', 'permanent')), elderly: Number(col(r, '65岁及以上人口', '65岁及以上', 'elderly')), keyPop: Number(col(r, '重点人群', 'key_pop') ?? 0) })));
    } catch (e) { if (e instanceof ForbiddenError) throw e; return back(c, (e as Error).message); }
    return back(c);
  });
  page('post', '/org/staffing', 'admin', async (c, repo) => {
    const f = await c.req.parseBody();
    const n = (k: string) => Number(f[k] ?? 0);
    if (!['staff', 'doctors', 'gps', 'nurses'].every((k) => Number.isInteger(n(k)) && n(k) >= 0)) return back(c, 'staffing numbers must be whole numbers >= 0');
    try { await repo.saveStaffing({ orgId: String(f.orgId), staff: n('staff'), doctors: n('doctors'), gps: n('gps'), nurses: n('nurses') }); } catch (e) { if (e instanceof ForbiddenError) throw e; return back(c, (e as Error).message); }
    return back(c);
  });

  // Users and roles
  const usersPage = async (c: Context, repo: PortalRepo, ctx: Ctx, msg?: { notice?: string; error?: string; uri?: string; secret?: string }) => {
    const users = await accounts.list();
    const org = repo.org();
    const table: TableSpec = {
      id: 'users', title: ctx.t('用户与角色', 'Users and roles'),
      columns: [{ key: 'username', label: ctx.t('用户名', 'Username') }, { key: 'displayName', label: ctx.t('姓名', 'Name') }, { key: 'role', label: ctx.t('角色', 'Role') }, { key: 'org', label: ctx.t('管辖范围', 'Scope') }, { key: 'state', label: ctx.t('状态', 'State') }, { key: 'enrolled', label: 'TOTP' }],
      rows: users.map((u) => ({ ...u, role: ctx.t(...(ROLE_NAMES[u.role] ?? [u.role, u.role])), org: org.byId.get(u.orgId)?.name ?? u.orgId, state: !u.active ? ctx.t('停用', 'disabled') : u.lockedUntil && Date.parse(u.lockedUntil) > Date.now() ? ctx.t('锁定', 'locked') : ctx.t('正常', 'active'), enrolled: u.enrolled ? '✓' : ctx.t('待绑定', 'pending') })),
    };
    const units = org.units.filter((u) => u.level !== 'team' || true);
    return respond(c, ctx, repo, {
      title: ctx.t('用户管理', 'Users'), tables: [table],
      body: () => (<>
        {msg?.notice && <div class="notice" data-testid="notice">{msg.notice}{msg.uri && <><br />TOTP: <code data-testid="new-uri">{msg.uri}</code></>}</div>}
        {msg?.error && <div class="error">{msg.error}</div>}
        <Table ctx={ctx} table={table} />
        <div class="cols noprint">
          <div class="card"><h2>{ctx.t('新建用户', 'New user')}</h2>
            <form method="post" action="/portal/users" class="stack">
              <input type="hidden" name="_csrf" value={ctx.csrf} />
              <label>{ctx.t('用户名', 'Username')}<input name="username" required /></label>
              <label>{ctx.t('姓名', 'Name')}<input name="displayName" required /></label>
              <label>{ctx.t('角色', 'Role')}<select name="role">{PORTAL_ROLES.map((r) => <option value={r}>{ctx.t(...ROLE_NAMES[r]!)}</option>)}</select></label>
              <label>{ctx.t('管辖范围', 'Scope')}<select name="orgId">{units.map((u) => <option value={u.id}>{`${'　'.repeat(org.path(u.id).length - 1)}${u.name}`}</option>)}</select></label>
              <label>{ctx.t('初始密码', 'Initial password')}<input name="password" type="password" required autocomplete="new-password" /></label>
              <button type="submit" style="margin-top:10px">{ctx.t('创建', 'Create')}</button>
            </form>
            <p class="hint">{ctx.t('新用户首次登录时须绑定动态验证码（TOTP）。', 'New users bind their TOTP authenticator at first sign-in.')}</p>
          </div>
          <div class="card"><h2>{ctx.t('账号操作', 'Account actions')}</h2>
            <form method="post" action="/portal/users/update" class="stack">
              <input type="hidden" name="_csrf" value={ctx.csrf} />
              <label>{ctx.t('用户名', 'Username')}<select name="username">{users.map((u) => <option value={u.username}>{u.username}</option>)}</select></label>
              <label>{ctx.t('操作', 'Action')}<select name="action"><option value="unlock">{ctx.t('解锁', 'Unlock')}</option><option value="disable">{ctx.t('停用', 'Disable')}</option><option value="enable">{ctx.t('启用', 'Enable')}</option><option value="resetTotp">{ctx.t('重置动态验证码', 'Reset TOTP')}</option><option value="password">{ctx.t('重设密码', 'Set password')}</option><option value="role">{ctx.t('修改角色/范围', 'Change role/scope')}</option></select></label>
              <label>{ctx.t('新密码（重设密码时）', 'New password')}<input name="password" type="password" autocomplete="new-password" /></label>
              <label>{ctx.t('角色（修改时）', 'Role')}<select name="role">{PORTAL_ROLES.map((r) => <option value={r}>{ctx.t(...ROLE_NAMES[r]!)}</option>)}</select></label>
              <label>{ctx.t('范围（修改时）', 'Scope')}<select name="orgId">{units.map((u) => <option value={u.id}>{u.name}</option>)}</select></label>
              <button type="submit" style="margin-top:10px">{ctx.t('执行', 'Apply')}</button>
            </form>
          </div>
        </div>
      </>),
    });
  };
  page('get', '/users', 'admin', async (c, repo, ctx) => usersPage(c, repo, ctx));
  page('post', '/users', 'admin', async (c, repo, ctx) => {
    const f = await c.req.parseBody();
    const orgId = String(f.orgId ?? '');
    if (!repo.org().byId.has(orgId)) return usersPage(c, repo, ctx, { error: 'unknown organisation unit' });
    try {
      await accounts.create({ username: String(f.username ?? '').trim(), displayName: String(f.displayName ?? ''), role: String(f.role) as PortalRole, orgId, password: String(f.password ?? '') }, `portal:${repo.user.username}`, clientIp(c));
      return usersPage(c, repo, ctx, { notice: ctx.t(`已创建用户 ${String(f.username)}，首次登录时绑定动态验证码`, `User ${String(f.username)} created; they bind TOTP at first sign-in`) });
    } catch (e) {
      if (!(e instanceof AccountError)) throw e;
      return usersPage(c, repo, ctx, { error: e.message });
    }
  });
  page('post', '/users/update', 'admin', async (c, repo, ctx) => {
    const f = await c.req.parseBody();
    const username = String(f.username ?? '');
    const action = String(f.action ?? '');
    if (username === repo.user.username && (action === 'disable' || action === 'role')) return usersPage(c, repo, ctx, { error: ctx.t('不能停用或降级自己的账号', 'You cannot disable or change your own account') });
    try {
      const change = action === 'unlock' ? { unlock: true } : action === 'disable' ? { active: false } : action === 'enable' ? { active: true } : action === 'resetTotp' ? { resetTotp: true } : action === 'password' ? { password: String(f.password ?? '') } : action === 'role' ? { role: String(f.role) as PortalRole, orgId: repo.org().byId.has(String(f.orgId)) ? String(f.orgId) : undefined } : null;
      if (!change) return usersPage(c, repo, ctx, { error: 'unknown action' });
      const r = await accounts.update(username, change, `portal:${repo.user.username}`, clientIp(c));
      return usersPage(c, repo, ctx, { notice: ctx.t(`已更新 ${username}`, `${username} updated`), uri: r.uri });
    } catch (e) {
      if (!(e instanceof AccountError)) throw e;
      return usersPage(c, repo, ctx, { error: e.message });
    }
  });

  page('get', '/audit', 'audit', async (c, repo, ctx) => {
    const actor = c.req.query('actor') || undefined;
    const action = c.req.query('action') || undefined;
    const xlsx = c.req.query('format') === 'xlsx';
    const rows = await repo.auditLog({ actor, action, limit: xlsx ? 100_000 : 300 });
    const ef = { clinicId: c.req.query('eclinic') || undefined, username: c.req.query('euser') || undefined, action: c.req.query('eaction') || undefined, target: c.req.query('etarget') || undefined };
    const edgeRows = await repo.clinicAuditLog({ ...ef, limit: xlsx ? 100_000 : 300 });
    const clinicName = (id: string) => repo.org().units.find((u) => u.clinicId === id)?.name ?? id;
    const edgeTable: TableSpec = { id: 'clinic-audit', title: ctx.t('各机构审计记录（自诊所边缘端复制）', 'Clinic audit trail (replicated from the clinics)'), columns: [{ key: 'at', label: ctx.t('时间', 'Time') }, { key: 'clinic', label: ctx.t('机构', 'Clinic') }, { key: 'username', label: ctx.t('用户', 'User') }, { key: 'action', label: ctx.t('操作', 'Action') }, { key: 'target', label: ctx.t('对象', 'Target') }, { key: 'sourceIp', label: ctx.t('来源', 'From') }, { key: 'outcome', label: ctx.t('结果', 'Outcome') }],
      rows: edgeRows.map((r) => ({ ...r, at: localTime(r.at), clinic: clinicName(r.clinicId), _bad: /^(forbidden|refused|denied|locked|bad password|unknown user)/.test(r.outcome) })) };
    const table: TableSpec = { id: 'audit', title: ctx.t('审计日志（只增不改）', 'Audit log (append-only)'), columns: [{ key: 'at', label: ctx.t('时间', 'Time') }, { key: 'actor', label: ctx.t('用户', 'User') }, { key: 'action', label: ctx.t('操作', 'Action') }, { key: 'target', label: ctx.t('对象', 'Target') }, { key: 'sourceIp', label: ctx.t('来源', 'From') }, { key: 'outcome', label: ctx.t('结果', 'Outcome') }], rows: rows.map((r) => ({ ...r, at: localTime(r.at), _bad: r.outcome.startsWith('denied') })) };
    return respond(c, ctx, repo, {
      title: ctx.t('审计日志', 'Audit log'), tables: [table, edgeTable], wide: true,
      body: () => (<>
        <form method="get" action="/portal/audit" class="selector noprint">
          <label>{ctx.t('用户', 'User')} <input name="actor" value={actor ?? ''} placeholder="portal:username" /></label>
          <label>{ctx.t('操作前缀', 'Action prefix')} <input name="action" value={action ?? ''} placeholder="portal.resident" /></label>
          <button type="submit">{ctx.t('查询', 'Show')}</button>
        </form>
        <Table ctx={ctx} table={table} />
        <form method="get" action="/portal/audit" class="selector noprint" data-testid="clinic-audit-form">
          <label>{ctx.t('机构', 'Clinic')} <select name="eclinic"><option value="">{ctx.t('全部', 'All')}</option>{repo.org().units.filter((u) => u.clinicId && repo.inScope(u.id)).map((u) => <option value={u.clinicId!} selected={u.clinicId === ef.clinicId}>{u.name}</option>)}</select></label>
          <label>{ctx.t('用户', 'User')} <input name="euser" value={ef.username ?? ''} /></label>
          <label>{ctx.t('操作前缀', 'Action prefix')} <input name="eaction" value={ef.action ?? ''} placeholder="resident." /></label>
          <label>{ctx.t('对象包含', 'Target contains')} <input name="etarget" value={ef.target ?? ''} placeholder="resident:" /></label>
          <button type="submit">{ctx.t('查询', 'Show')}</button>
        </form>
        <Table ctx={ctx} table={edgeTable} />
      </>),
    });
  });

  app.notFound((c) => c.text('not found', 404));
  return app;
}
