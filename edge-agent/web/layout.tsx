/** Page shell: header with navigation by role, language switch, sign-out. */
import type { Child } from 'hono/jsx';
import type { User } from './accounts.ts';
import type { Lang, T } from './i18n.ts';
import type { NavItem } from '../modules.ts';
import type { MaintenanceNotice } from '../../contracts/index.ts';

export interface PageCtx {
  t: T;
  lang: Lang;
  user: User | null;
  clinicName: string;
  path: string;
  /** Entries added by feature modules. */
  nav: readonly NavItem[];
  /** Rendered at the top of every page (e.g. unacknowledged critical-value alerts); added by modules via `ui.addBanner`. */
  banners?: Child[];
  /** Replication status shown in the header of every signed-in page. */
  sync?: { relayState: string; outboxDepth: number; lastReceiptAt: string | null } | undefined;
  /** Central's planned maintenance windows for this clinic (shown while one is on or within 24 h). */
  maintenance?: MaintenanceNotice[];
}

/** China time, month-day hour:minute. */
const cst = (iso: string) => new Date(Date.parse(iso) + 8 * 3600_000).toISOString().slice(5, 16).replace('T', ' ');

/**
 * A planned maintenance window of the district's data exchange that is on now or starts within
 * 24 h: the clinic keeps working meanwhile (its records wait here and go up afterwards).
 */
function MaintenanceBanner(props: { ctx: PageCtx }) {
  const now = Date.now();
  const shown = (props.ctx.maintenance ?? []).filter((w) => Date.parse(w.endsAt) > now && Date.parse(w.startsAt) - now < 24 * 3600_000);
  if (shown.length === 0) return null;
  const zh = props.ctx.lang !== 'en';
  return (
    <div class="maint" role="status" data-testid="maintenance-banner">
      {shown.map((w) => {
        const on = Date.parse(w.startsAt) <= now;
        const who = w.scope === 'all' ? (zh ? '区数据交换平台' : 'the district data exchange') : (zh ? '本机构与区中心的连接' : 'this clinic\'s link to the district');
        return (
          <p>
            <strong>{zh ? (on ? '计划维护进行中' : '计划维护预告') : (on ? 'Planned maintenance in progress' : 'Planned maintenance')}</strong>
            {zh ? `：${cst(w.startsAt)} 至 ${cst(w.endsAt)}（北京时间），${who}：${w.reason}。期间本机构照常工作，数据保存在本机，恢复后自动上传。`
              : `: ${cst(w.startsAt)} to ${cst(w.endsAt)} (UTC+8), ${who}: ${w.reason}. The clinic works as usual meanwhile; its data is kept here and uploaded afterwards.`}
          </p>
        );
      })}
    </div>
  );
}

/** Online/offline, records waiting to upload and the last receipt from central, in the header. */
function SyncPill(props: { ctx: PageCtx }) {
  const s = props.ctx.sync;
  if (!s) return null;
  const zh = props.ctx.lang !== 'en';
  const ago = s.lastReceiptAt ? Math.max(0, Math.round((Date.now() - Date.parse(s.lastReceiptAt)) / 1000)) : null;
  // Central answers every heartbeat (2 s by default) with a receipt: none for 15 s means it is out of reach,
  // even while the relay has nothing to publish and so has not noticed yet.
  const online = s.relayState === 'connected' && ago !== null && ago < 15;
  const agoText = ago === null ? (zh ? '从未' : 'never') : ago < 120 ? (zh ? `${ago}秒前` : `${ago}s ago`) : ago < 7200 ? (zh ? `${Math.round(ago / 60)}分钟前` : `${Math.round(ago / 60)} min ago`) : (zh ? `${Math.round(ago / 3600)}小时前` : `${Math.round(ago / 3600)} h ago`);
  return (
    <a href="/sync" class={`syncpill ${online ? 'ok' : 'off'}`} data-testid="sync-pill" title={zh ? '数据同步状态' : 'Sync status'}>
      <span data-testid="sync-online">{online ? (zh ? '在线' : 'online') : (zh ? '离线' : 'offline')}</span>
      {' · '}{zh ? '待传' : 'queued'} <span data-testid="sync-depth">{s.outboxDepth}</span>
      {' · '}{zh ? '确认' : 'receipt'} {agoText}
    </a>
  );
}

const NAV: { href: string; key: 'home' | 'sync' | 'users' | 'audit'; roles?: string[] }[] = [
  { href: '/', key: 'home' },
  { href: '/admin/users', key: 'users', roles: ['clinic_admin'] },
  { href: '/admin/audit', key: 'audit', roles: ['clinic_admin'] },
];

export function Layout(props: { ctx: PageCtx; title: string; children?: Child }) {
  const { ctx } = props;
  const other = ctx.lang === 'en' ? 'zh-CN' : 'en';
  return (
    <html lang={ctx.lang}>
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${props.title} · ${ctx.t('appName')}`}</title>
        <link rel="stylesheet" href="/assets/app.css" />
        <script src="/assets/ui.js" defer></script>
      </head>
      <body>
        <header>
          <span class="brand">{ctx.clinicName || ctx.t('appName')}</span>
          {ctx.user && (
            <nav>
              {NAV.filter((n) => !n.roles || n.roles.includes(ctx.user!.role)).map((n) => (
                <a href={n.href} class={ctx.path === n.href ? 'on' : ''}>{ctx.t(n.key)}</a>
              ))}
              {ctx.nav.filter((n) => n.roles.length === 0 || n.roles.includes(ctx.user!.role)).map((n) => (
                <a href={n.href} class={ctx.path.startsWith(n.href) ? 'on' : ''}>{n.label[ctx.lang]}</a>
              ))}
            </nav>
          )}
          {ctx.user && <SyncPill ctx={ctx} />}
          <span class="who">
            {ctx.user && <span>{ctx.user.displayName}（{ctx.t(`role_${ctx.user.role}`)}）</span>}
            <a href={`?lang=${other}`} data-testid="lang">{ctx.t('language')}</a>
            {ctx.user && (
              <form method="post" action="/logout" style="display:inline">
                <button type="submit">{ctx.t('logout')}</button>
              </form>
            )}
          </span>
        </header>
        <main>{ctx.user && <MaintenanceBanner ctx={ctx} />}{ctx.banners}{props.children}</main>
      </body>
    </html>
  );
}
