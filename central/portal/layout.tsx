/** Page shell, shared components and stylesheet of the portal (zh-CN first, English available, print-friendly). */
import type { Child } from 'hono/jsx';
import type { PortalUser } from './accounts.ts';
import type { Column, TableSpec } from './excel.ts';

export type Lang = 'zh-CN' | 'en';
export interface Ctx {
  lang: Lang;
  /** Pick the text of the current language. */
  t: (zh: string, en: string) => string;
  user: PortalUser | null;
  csrf: string;
  path: string;
  /** Current URL with its query (for the export and language links). */
  url: string;
  nav: { href: string; zh: string; en: string }[];
  asOf?: string | null;
}

export const ROLE_NAMES: Record<string, [string, string]> = {
  admin: ['数据管理员', 'Data administrator'], district_manager: ['区级管理者', 'District manager'], centre_manager: ['机构管理者', 'Institution manager'],
  qc_officer: ['质控员', 'QC officer'], auditor: ['审计员', 'Auditor'], radiologist: ['影像诊断医师', 'Radiologist'],
};

export function withQuery(url: string, set: Record<string, string | null>): string {
  const u = new URL(url, 'http://x');
  for (const [k, v] of Object.entries(set)) if (v === null) u.searchParams.delete(k); else u.searchParams.set(k, v);
  return `${u.pathname}${u.search}`;
}

export function fmt(v: unknown, kind: Column['kind']): string {
  if (v === null || v === undefined || v === '') return '—';
  if (kind === 'percent') return typeof v === 'number' ? `${(v * 100).toFixed(1)}%` : '—';
  if (kind === 'yuan') return typeof v === 'number' ? v.toLocaleString('zh-CN', { minimumFractionDigits: 2, maximumFractionDigits: 2 }) : String(v);
  if (kind === 'number') return typeof v === 'number' ? (Number.isInteger(v) ? v.toLocaleString('zh-CN') : v.toFixed(2)) : String(v);
  return String(v);
}

export function Layout(props: { ctx: Ctx; title: string; children?: Child; wide?: boolean; /** Reload the page after this many seconds. */ refreshSec?: number }) {
  const { ctx } = props;
  return (
    <html lang={ctx.lang}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        {props.refreshSec !== undefined && <meta http-equiv="refresh" content={String(props.refreshSec)} />}
        <title>{`${props.title} · ${ctx.t('区卫生健康管理平台', 'District Health Portal')}`}</title>
        <link rel="stylesheet" href="/portal/assets/portal.css" />
      </head>
      <body>
        <header>
          <a class="brand" href="/portal">{ctx.t('区卫生健康管理平台', 'District Health Portal')}</a>
          {ctx.user && (
            <nav>
              {ctx.nav.map((n) => <a href={n.href} class={(n.href === '/portal' ? ctx.path === '/portal' || ctx.path === '/portal/' : ctx.path.startsWith(n.href)) ? 'on' : ''}>{ctx.t(n.zh, n.en)}</a>)}
            </nav>
          )}
          <span class="who">
            {ctx.user && <span data-testid="who">{ctx.user.displayName}（{ctx.t(...(ROLE_NAMES[ctx.user.role] ?? [ctx.user.role, ctx.user.role]))}）</span>}
            <a href={withQuery(ctx.url, { lang: ctx.lang === 'en' ? 'zh-CN' : 'en' })} data-testid="lang">{ctx.lang === 'en' ? '中文' : 'English'}</a>
            {ctx.user && (
              <form method="post" action="/portal/logout" style="display:inline">
                <input type="hidden" name="_csrf" value={ctx.csrf} />
                <button type="submit">{ctx.t('退出', 'Sign out')}</button>
              </form>
            )}
          </span>
        </header>
        <main class={props.wide ? 'wide' : ''}>
          <div class="titlebar">
            <h1>{props.title}</h1>
            {ctx.user && <span class="noprint tools"><button type="button" data-print>{ctx.t('打印', 'Print')}</button></span>}
          </div>
          {ctx.asOf !== undefined && <p class="asof" data-testid="as-of">{ctx.t('数据截至', 'Data as of')} {ctx.asOf ? `${localTime(ctx.asOf)} ${ctx.t('（北京时间）', '(UTC+8)')}` : ctx.t('尚未汇总', 'not computed yet')}</p>}
          {props.children}
        </main>
        <script src="/portal/assets/ui.js"></script>
        <script src="/portal/assets/charts.js"></script>
      </body>
    </html>
  );
}

export function localTime(iso: string): string {
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return iso;
  return new Date(t + 8 * 3600_000).toISOString().replace('T', ' ').slice(0, 19);
}

/** A table with its Excel export link (the same URL with format=xlsx&table=<id>). */
/** A table card's title with its Excel export button. */
export function CardHead(props: { ctx: Ctx; table: TableSpec }) {
  const { ctx, table } = props;
  return (
    <div class="cardhead">
      <h2>{table.title}</h2>
      <a class="btn noprint" data-testid={`export-${table.id}`} href={withQuery(ctx.url, { format: 'xlsx', table: table.id })}>{ctx.t('导出 Excel', 'Export to Excel')}</a>
    </div>
  );
}

/** `actions`: a last cell per row (buttons; not exported to Excel). */
export function Table(props: { ctx: Ctx; table: TableSpec; empty?: string; actions?: (r: TableSpec['rows'][number]) => unknown }) {
  const { ctx, table } = props;
  return (
    <div class="card">
      <CardHead ctx={ctx} table={table} />
      {table.rows.length === 0 ? <p class="hint">{props.empty ?? ctx.t('无数据', 'No data')}</p> : (
        <table data-testid={`table-${table.id}`}>
          <thead><tr>{table.columns.map((c) => <th class={c.kind && c.kind !== 'text' ? 'num' : ''}>{c.label}</th>)}{props.actions && <th class="noprint"></th>}</tr></thead>
          <tbody>
            {table.rows.map((r) => {
              const href = table.href?.(r) ?? null;
              return (
                <tr class={r._bad ? 'bad' : ''}>
                  {table.columns.map((c, i) => {
                    const text = fmt(r[c.key], c.kind);
                    return <td class={c.kind && c.kind !== 'text' ? 'num' : ''}>{i === 0 && href ? <a href={href}>{text}</a> : text}</td>;
                  })}
                  {props.actions && <td class="noprint">{props.actions(r) as never}</td>}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </div>
  );
}

export function Chart(props: { option: unknown; height?: number; id?: string }) {
  return <div class="chart" data-testid={props.id ?? 'chart'} style={`height:${props.height ?? 280}px`} data-option={JSON.stringify(props.option)}></div>;
}

/** Organisation breadcrumb + period selector (GET form, keeps other query values). */
export function Selector(props: { ctx: Ctx; path: { id: string; name: string; nameEn: string | null }[]; period: string; extra?: Record<string, string>; children?: Child }) {
  const { ctx } = props;
  const last = props.path[props.path.length - 1];
  return (
    <form class="selector noprint" method="get" action={ctx.path}>
      <span class="crumbs" data-testid="crumbs">
        {props.path.map((u, i) => <>{i > 0 && ' › '}<a href={withQuery(ctx.url, { org: u.id, format: null, table: null })}>{ctx.lang === 'en' ? u.nameEn ?? u.name : u.name}</a></>)}
      </span>
      <input type="hidden" name="org" value={last?.id ?? ''} />
      {Object.entries(props.extra ?? {}).map(([k, v]) => <input type="hidden" name={k} value={v} />)}
      <label>{ctx.t('期间', 'Period')} <input name="period" value={props.period} style="width:110px" title="2026 / 2026-Q3 / 2026-09" /></label>
      {props.children}
      <button type="submit">{ctx.t('查询', 'Show')}</button>
    </form>
  );
}

export const css = `
:root { --blue:#1d5fa7; --bg:#f4f6f9; --line:#d9dee6; --ok:#1f8a4c; --warn:#b7791f; --bad:#c0392b; }
* { box-sizing:border-box; }
body { margin:0; font:14px/1.55 "Noto Sans CJK SC","Microsoft YaHei","PingFang SC",sans-serif; background:var(--bg); color:#1f2933; }
header { background:var(--blue); color:#fff; display:flex; align-items:center; gap:18px; padding:0 18px; min-height:50px; flex-wrap:wrap; }
header .brand { font-weight:700; font-size:16px; color:#fff; text-decoration:none; white-space:nowrap; }
header nav { display:flex; flex-wrap:wrap; gap:2px 14px; }
header nav a { color:#dfe9f5; text-decoration:none; white-space:nowrap; }
header nav a.on, header nav a:hover { color:#fff; border-bottom:2px solid #fff; }
header .who { margin-left:auto; font-size:13px; white-space:nowrap; }
header .who a, header .who button { color:#fff; background:none; border:1px solid #ffffff80; border-radius:4px; padding:1px 9px; margin-left:8px; cursor:pointer; font:inherit; text-decoration:none; }
main { max-width:1180px; margin:18px auto; padding:0 18px; } main.wide { max-width:1500px; }
.titlebar { display:flex; align-items:center; } .titlebar .tools { margin-left:auto; }
h1 { font-size:21px; margin:0 0 8px; } h2 { font-size:16px; margin:0; }
.asof { color:#52606d; font-size:12px; margin:0 0 10px; }
.card { background:#fff; border:1px solid var(--line); border-radius:8px; padding:14px 16px; margin-bottom:16px; overflow-x:auto; }
.cardhead { display:flex; align-items:center; margin-bottom:8px; } .cardhead .btn { margin-left:auto; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(210px,1fr)); gap:12px; margin-bottom:16px; }
.kpi { background:#fff; border:1px solid var(--line); border-radius:8px; padding:10px 14px; text-decoration:none; color:inherit; display:block; }
.kpi .label { color:#52606d; font-size:13px; } .kpi .value { font-size:24px; font-weight:600; } .kpi .sub { font-size:12px; color:#52606d; }
.kpi.bad .value { color:var(--bad); } .kpi.ok .value { color:var(--ok); }
.formula { color:#3e4c59; background:#f0f4f8; border-left:3px solid var(--blue); padding:6px 10px; font-size:13px; margin:6px 0; }
table { width:100%; border-collapse:collapse; } th, td { text-align:left; padding:6px 9px; border-bottom:1px solid var(--line); font-size:13px; vertical-align:top; }
th { background:#eef2f7; font-weight:600; } td:first-child { white-space:nowrap; } td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tr.bad td { background:#fdf1f0; }
.badge { display:inline-block; padding:0 8px; border-radius:9px; font-size:12px; color:#fff; } .badge.ok { background:var(--ok); } .badge.warn { background:var(--warn); } .badge.bad { background:var(--bad); }
.selector { display:flex; flex-wrap:wrap; align-items:center; gap:10px; background:#fff; border:1px solid var(--line); border-radius:8px; padding:8px 12px; margin-bottom:14px; }
.selector .crumbs { font-weight:600; margin-right:auto; }
input, select, textarea { font:inherit; padding:5px 8px; border:1px solid #b8c2cc; border-radius:5px; }
form.stack label { display:block; margin:8px 0 3px; font-size:13px; color:#3e4c59; } form.stack input, form.stack select { width:100%; max-width:360px; }
form.inline { display:flex; flex-wrap:wrap; gap:8px; align-items:end; } form.inline label { font-size:12px; color:#3e4c59; display:flex; flex-direction:column; }
button, .btn { background:var(--blue); color:#fff; border:0; border-radius:5px; padding:5px 14px; font:inherit; cursor:pointer; text-decoration:none; display:inline-block; font-size:13px; }
button.secondary { background:#e4e7eb; color:#1f2933; }
.error { color:var(--bad); background:#fdecea; border:1px solid #f5c6cb; padding:8px 12px; border-radius:5px; margin:10px 0; }
.notice { color:#0b5132; background:#e6f4ea; border:1px solid #b7dfc3; padding:8px 12px; border-radius:5px; margin:10px 0; word-break:break-all; }
.login { max-width:400px; margin:60px auto; } .hint { color:#52606d; font-size:12px; }
.qr svg { width:200px; height:200px; } code { background:#f0f4f8; padding:1px 4px; border-radius:3px; word-break:break-all; }
table.dead th { white-space:nowrap; } details.raw { margin-top:4px; } details.raw summary { cursor:pointer; color:#52606d; font-size:12px; }
details.raw pre { white-space:pre-wrap; word-break:break-all; background:#f0f4f8; padding:6px 8px; border-radius:4px; font-size:12px; max-width:640px; margin:4px 0 0; }
.cols { display:grid; grid-template-columns:1fr 1fr; gap:16px; } @media (max-width:900px) { .cols { grid-template-columns:1fr; } }
@media print {
  header, .noprint, .cardhead .btn, form { display:none !important; }
  body { background:#fff; font-size:11pt; } main { max-width:none; margin:0; padding:0; }
  .card { border:0; padding:0; page-break-inside:avoid; } .kpi { border:1px solid #999; }
  table { font-size:10pt; } a { color:inherit; text-decoration:none; }
}
.thumbs{display:flex;flex-wrap:wrap;gap:12px}
.thumbs figure{margin:0;width:200px;border:1px solid #d9dee6;border-radius:6px;padding:6px;background:#fafbfc}
.thumbs img{width:188px;height:188px;object-fit:contain;background:#000;display:block}
.report{border-top:1px solid #e5e9ef;padding-top:6px;margin-top:6px}
`;

/**
 * Draws every `.chart[data-option]` of the page with ECharts (SVG renderer). ECharts (~1 MB)
 * is fetched only by pages that have a chart: most portal pages (tables, forms, sign-in)
 * have none, and a clinic PC on the health network should not parse it on every page.
 */
export const chartsJs = `(function(){
  var els = document.querySelectorAll('.chart[data-option]');
  if (!els.length) return;
  function draw(){
    els.forEach(function(el){
      var opt = JSON.parse(el.getAttribute('data-option'));
      opt.animation = false;
      var c = echarts.init(el, null, { renderer: 'svg' });
      c.setOption(opt);
      window.addEventListener('resize', function(){ c.resize(); });
    });
  }
  if (window.echarts) return draw();
  var s = document.createElement('script');
  s.src = '/portal/assets/echarts.min.js';
  s.onload = draw;
  s.onerror = function(){
    els.forEach(function(el){ el.textContent = /^zh/.test(document.documentElement.lang) ? '图表组件加载失败，请刷新页面。' : 'The chart library did not load: reload the page.'; });
  };
  document.head.appendChild(s);
})();`;
