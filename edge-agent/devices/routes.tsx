/** The device technician's and clinicians' pages (server-rendered, role-checked by `ui.page`). */
import type { Context } from 'hono';
import { clientIp, type WebUi } from '../web/app.tsx';
import type { User } from '../web/accounts.ts';
import type { PageCtx } from '../web/layout.tsx';
import { CLINICAL_ROLES } from './alerts.ts';
import { dt } from './i18n.ts';
import { AlertBanner, AlertsPage, DevicePage, DevicesPage, RangesPage, UnboundPage } from './pages.tsx';
import { RegistryError } from './registry.ts';
import { BIND_ROLES, EDIT_ROLES, VIEW_ROLES, deviceRow, findResident, formToInput, residentChoices, type DevicesService } from './service.ts';

const can = (u: User, roles: readonly string[]) => roles.includes(u.role);
const errText = (e: unknown) => { if (e instanceof RegistryError) return e.message; throw e; };

export function mountDevicePages(ui: WebUi, s: DevicesService): void {
  const actor = (c: Context, u: User) => ({ username: u.username, ip: clientIp(c) });

  ui.addBanner((_c, user, lang) => ((CLINICAL_ROLES as readonly string[]).includes(user.role) ? AlertBanner({ lang, open: s.alerts.open() }) : null));

  const list = (c: Context, u: User, ctx: PageCtx, msg: { error?: string; notice?: string } = {}, status: 200 | 400 = 200) =>
    ui.html(c, <DevicesPage ctx={ctx} rows={s.registry.list().map((d) => deviceRow(s, d))} profiles={s.profiles.list()} canEdit={can(u, EDIT_ROLES)} listeners={s.manager.listeners()}
      unknown={s.registry.unknownSenders()} unboundCount={s.ingest.unboundCount()} error={msg.error} notice={msg.notice} />, status);

  const detail = (c: Context, u: User, ctx: PageCtx, id: string, extra: { error?: string; notice?: string; test?: { ok: boolean; detail: string; latencyMs?: number } } = {}, status: 200 | 400 = 200) => {
    const d = s.registry.get(id);
    if (!d) return list(c, u, ctx, { error: `no device ${id}` }, 400);
    return ui.html(c, <DevicePage ctx={ctx} row={deviceRow(s, d)} profile={s.profiles.get(d.profileId)} canEdit={can(u, EDIT_ROLES)} canSetPatient={can(u, BIND_ROLES)}
      recent={s.ingest.recent(id)} residents={residentChoices(s.db)} test={extra.test} error={extra.error} notice={extra.notice} />, status);
  };

  ui.page('get', '/devices', VIEW_ROLES, (c, u, ctx) => list(c, u, ctx));
  ui.page('post', '/devices', EDIT_ROLES, async (c, u, ctx) => {
    try {
      const d = s.registry.create({ ...formToInput(await c.req.parseBody()), enabled: true }, actor(c, u));
      return c.redirect(`/devices/${d.id}?created=1`, 303);
    } catch (e) { return list(c, u, ctx, { error: errText(e) }, 400); }
  });

  const unbound = (c: Context, u: User, ctx: PageCtx, msg: { error?: string; notice?: string } = {}, status: 200 | 400 = 200) =>
    ui.html(c, <UnboundPage ctx={ctx} rows={s.ingest.unbound()} residents={residentChoices(s.db)} canBind={can(u, BIND_ROLES)} error={msg.error} notice={msg.notice} />, status);
  ui.page('get', '/devices/unbound', VIEW_ROLES, (c, u, ctx) => unbound(c, u, ctx, c.req.query('bound') ? { notice: dt(ctx.lang)('bound') } : {}));
  ui.page('post', '/devices/unbound/:rid', BIND_ROLES, async (c, u, ctx) => {
    const f = await c.req.parseBody();
    const rid = findResident(s.db, String(f.resident ?? ''));
    if (!rid) return unbound(c, u, ctx, { error: `居民不存在 / no resident ${String(f.resident ?? '')}` }, 400);
    try {
      await s.ingest.resolve(c.req.param('rid') ?? '', rid, actor(c, u));
      return c.redirect('/devices/unbound?bound=1', 303);
    } catch (e) { return unbound(c, u, ctx, { error: errText(e) }, 400); }
  });

  const alerts = (c: Context, u: User, ctx: PageCtx, msg: { error?: string; notice?: string } = {}, status: 200 | 400 = 200) =>
    ui.html(c, <AlertsPage ctx={ctx} open={s.alerts.open()} recent={s.alerts.recent()} canAck={can(u, CLINICAL_ROLES)} error={msg.error} notice={msg.notice} />, status);
  ui.page('get', '/devices/alerts', [...CLINICAL_ROLES, 'device_tech'], (c, u, ctx) => alerts(c, u, ctx, c.req.query('acked') ? { notice: dt(ctx.lang)('acked') } : {}));
  ui.page('post', '/devices/alerts/:aid/ack', CLINICAL_ROLES, async (c, u, ctx) => {
    const f = await c.req.parseBody();
    try {
      s.alerts.acknowledge(c.req.param('aid') ?? '', u, String(f.readBack ?? ''), clientIp(c));
      // Redirect: the banner of this response was rendered before the acknowledgement.
      return c.redirect('/devices/alerts?acked=1', 303);
    } catch (e) { return alerts(c, u, ctx, { error: errText(e) }, 400); }
  });

  const ranges = (c: Context, u: User, ctx: PageCtx, msg: { error?: string; notice?: string } = {}, status: 200 | 400 = 200) =>
    ui.html(c, <RangesPage ctx={ctx} rows={s.ranges.list()} canEdit={can(u, ['clinic_admin', 'lab_tech', 'device_tech'])} error={msg.error} notice={msg.notice} />, status);
  ui.page('get', '/devices/ranges', VIEW_ROLES, (c, u, ctx) => ranges(c, u, ctx));
  ui.page('post', '/devices/ranges', ['clinic_admin', 'lab_tech', 'device_tech'], async (c, u, ctx) => {
    const f = await c.req.parseBody();
    const num = (k: string) => { const v = String(f[k] ?? '').trim(); return v === '' ? undefined : Number(v); };
    try {
      if (f.reset) s.ranges.reset(String(f.profileId), String(f.quantity), actor(c, u));
      else {
        const low = num('low'); const high = num('high');
        if ((low !== undefined && !Number.isFinite(low)) || (high !== undefined && !Number.isFinite(high))) throw new RegistryError('low', '请输入数字 / enter numbers');
        s.ranges.set(String(f.profileId), String(f.quantity), { ...(low !== undefined ? { low } : {}), ...(high !== undefined ? { high } : {}), inclusive: f.inclusive === '1' }, actor(c, u));
      }
      return ranges(c, u, ctx, { notice: dt(ctx.lang)('updated') });
    } catch (e) { return ranges(c, u, ctx, { error: errText(e) }, 400); }
  });

  ui.page('get', '/devices/:id', VIEW_ROLES, (c, u, ctx) => {
    const id = c.req.param('id') ?? '';
    const name = s.registry.get(id)?.name ?? id;
    return detail(c, u, ctx, id, c.req.query('created') ? { notice: dt(ctx.lang)('created', { n: name }) } : {});
  });
  ui.page('post', '/devices/:id', EDIT_ROLES, async (c, u, ctx) => {
    const id = c.req.param('id') ?? '';
    try {
      const { profileId: _p, ...rest } = formToInput(await c.req.parseBody());
      s.registry.update(id, rest, actor(c, u));
      return detail(c, u, ctx, id, { notice: dt(ctx.lang)('updated') });
    } catch (e) { return detail(c, u, ctx, id, { error: errText(e) }, 400); }
  });
  ui.page('post', '/devices/:id/test', EDIT_ROLES, async (c, u, ctx) => {
    const id = c.req.param('id') ?? '';
    const d = s.registry.get(id);
    if (!d) return list(c, u, ctx, { error: `no device ${id}` }, 400);
    const test = await s.manager.testConnection(d);
    s.registry.recordTest(id, test, actor(c, u));
    return detail(c, u, ctx, id, { test });
  });
  ui.page('post', '/devices/:id/enabled', EDIT_ROLES, async (c, u, ctx) => {
    const id = c.req.param('id') ?? '';
    try {
      s.registry.setEnabled(id, String((await c.req.parseBody()).enabled) === '1', actor(c, u));
      return detail(c, u, ctx, id, { notice: dt(ctx.lang)('updated') });
    } catch (e) { return detail(c, u, ctx, id, { error: errText(e) }, 400); }
  });
  ui.page('post', '/devices/:id/patient', BIND_ROLES, async (c, u, ctx) => {
    const id = c.req.param('id') ?? '';
    const f = await c.req.parseBody();
    try {
      if (f.clear) s.registry.setStationPatient(id, null, actor(c, u));
      else {
        const rid = findResident(s.db, String(f.resident ?? ''));
        if (!rid) throw new RegistryError('resident', `居民不存在 / no resident ${String(f.resident ?? '')}`);
        s.registry.setStationPatient(id, rid, actor(c, u));
      }
      return c.redirect(`/devices/${id}`, 303);
    } catch (e) { return detail(c, u, ctx, id, { error: errText(e) }, 400); }
  });
}
