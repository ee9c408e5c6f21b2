/** Page shell: header with navigation by role, language switch, sign-out. */
import type { Child } from 'hono/jsx';
import type { User } from './accounts.ts';
import type { Lang, T } from './i18n.ts';
import type { NavItem } from '../modules.ts';

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
        <main>{ctx.banners}{props.children}</main>
      </body>
    </html>
  );
}
