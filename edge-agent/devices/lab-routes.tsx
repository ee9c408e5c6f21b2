/** Routes of the lab pages (role-checked by `ui.page`; every change audited by LabService). */
import type { Context } from 'hono';
import { clientIp, type WebUi } from '../web/app.tsx';
import type { User } from '../web/accounts.ts';
import type { PageCtx } from '../web/layout.tsx';
import { LAB_ROLES, type LabService } from './lab.ts';
import { LabImportPage, LabManualPage, LabResultPage, LabReviewPage, TrendPage } from './lab-pages.tsx';
import { RegistryError } from './registry.ts';
import { VIEW_ROLES, findResident, residentChoices, type DevicesService } from './service.ts';
import { trendSvg } from './trend.ts';

const errText = (e: unknown) => { if (e instanceof RegistryError) return e.message; throw e; };

export function mountLabPages(ui: WebUi, s: DevicesService, lab: LabService): void {
  const canLab = (u: User) => (LAB_ROLES as readonly string[]).includes(u.role);

  const review = (c: Context, u: User, ctx: PageCtx, msg: { error?: string; errors?: string[]; notice?: string } = {}, status: 200 | 400 = 200) =>
    ui.html(c, <LabReviewPage ctx={ctx} pending={lab.pending()} released={lab.released()} canRelease={canLab(u)} {...msg} />, status);
  ui.page('get', '/devices/lab', [...LAB_ROLES, 'doctor'], (c, u, ctx) => review(c, u, ctx));
  ui.page('post', '/devices/lab/approve', LAB_ROLES, async (c, u, ctx) => {
    const f = await c.req.parseBody({ all: true });
    const ids = ([] as unknown[]).concat(f.id ?? []).map(String).filter(Boolean);
    if (ids.length === 0) return review(c, u, ctx, { error: '请勾选要审核发布的结果' }, 400);
    const r = await lab.approve(ids, u, clientIp(c));
    return review(c, u, ctx, { notice: `已审核发布 ${r.released} 条结果`, ...(r.refused.length ? { errors: r.refused.map((x) => `${lab.get(x.id)?.display ?? x.id}：${x.reason}`) } : {}) });
  });

  ui.page('get', '/devices/lab/import', LAB_ROLES, (c, _u, ctx) => ui.html(c, <LabImportPage ctx={ctx} profiles={lab.labProfiles()} />));
  ui.page('post', '/devices/lab/import', LAB_ROLES, async (c, u, ctx) => {
    const f = await c.req.parseBody();
    const profileId = String(f.profileId ?? '');
    const file = f.file;
    const page = (props: { error?: string; outcome?: Awaited<ReturnType<LabService['importFile']>>; fileName?: string }, status: 200 | 400 = 200) =>
      ui.html(c, <LabImportPage ctx={ctx} profiles={lab.labProfiles()} selected={profileId} {...props} />, status);
    if (!(file instanceof File) || file.size === 0) return page({ error: '请选择要导入的文件（.xlsx 或 .csv）' }, 400);
    try {
      const outcome = await lab.importFile(profileId, file.name, new Uint8Array(await file.arrayBuffer()), u, clientIp(c));
      return page({ outcome, fileName: file.name }, outcome.imported === 0 && outcome.errors.length > 0 ? 400 : 200);
    } catch (e) { return page({ error: errText(e) }, 400); }
  });

  const manual = (c: Context, ctx: PageCtx, props: { selected?: string | undefined; form?: Record<string, string>; errors?: string[]; notice?: string } = {}, status: 200 | 400 = 200) =>
    ui.html(c, <LabManualPage ctx={ctx} profiles={lab.labProfiles()} residents={residentChoices(s.db)} {...props} />, status);
  ui.page('get', '/devices/lab/manual', LAB_ROLES, (c, _u, ctx) => manual(c, ctx, { selected: c.req.query('profileId') }));
  ui.page('post', '/devices/lab/manual', LAB_ROLES, async (c, u, ctx) => {
    const f = Object.fromEntries(Object.entries(await c.req.parseBody()).map(([k, v]) => [k, typeof v === 'string' ? v : '']));
    const values = Object.fromEntries(Object.entries(f).filter(([k]) => k.startsWith('v.')).map(([k, v]) => [k.slice(2), v]));
    const profileId = f.profileId ?? '';
    try {
      const r = await lab.manualEntry({ profileId, specimenId: f.specimenId ?? '', patientId: f.patientId ?? '', at: f.at ?? '', values }, u, clientIp(c));
      if (r.errors.length) return manual(c, ctx, { selected: profileId, form: f, errors: r.errors }, 400);
      const o = r.outcome;
      return manual(c, ctx, { selected: profileId, notice: `已保存 ${o.stored} 项结果，待审核${o.duplicates ? `；${o.duplicates} 项已存在` : ''}${o.unbound ? `；${o.unbound} 项未能关联居民（见待关联读数）` : ''}${o.critical ? `；${o.critical} 项危急值` : ''}` });
    } catch (e) { return manual(c, ctx, { selected: profileId, form: f, errors: [errText(e)] }, 400); }
  });

  ui.page('get', '/devices/trend', VIEW_ROLES, (c, _u, ctx) => {
    const q = String(c.req.query('resident') ?? '');
    const residents = residentChoices(s.db);
    if (!q.trim()) return ui.html(c, <TrendPage ctx={ctx} residents={residents} codes={[]} points={[]} />);
    const rid = findResident(s.db, q);
    if (!rid) return ui.html(c, <TrendPage ctx={ctx} residents={residents} codes={[]} points={[]} error={`居民不存在 / no resident ${q.slice(0, 40)}`} />, 400);
    const name = s.db.prepare<[string], { name: string }>('SELECT name FROM residents WHERE resident_id = ?').get(rid)?.name ?? rid;
    const codes = lab.trendCodes(rid);
    const code = codes.find((x) => x.code === c.req.query('code'))?.code ?? codes[0]?.code;
    const points = code ? lab.trend(rid, code) : [];
    const ranges = code ? lab.rangesFor(code) : null;
    const display = codes.find((x) => x.code === code)?.display ?? '';
    const svg = code ? trendSvg({ title: ranges?.displayZh ?? display, unit: points[0]?.unit ?? ranges?.unit ?? '', points, normal: ranges?.normal, critical: ranges?.critical }) : undefined;
    return ui.html(c, <TrendPage ctx={ctx} residents={residents} resident={{ residentId: rid, name }} codes={codes} code={code} svg={svg} points={points} />);
  });

  const detail = (c: Context, u: User, ctx: PageCtx, id: string, msg: { error?: string; notice?: string } = {}, status: 200 | 400 | 404 = 200) => {
    const r = lab.get(id);
    if (!r) return review(c, u, ctx, { error: `结果不存在 / no result ${id.slice(0, 64)}` }, 400);
    return ui.html(c, <LabResultPage ctx={ctx} r={r} versions={lab.versions(id)} canCorrect={canLab(u)} {...msg} />, status === 404 ? 400 : status);
  };
  ui.page('get', '/devices/lab/:id', [...LAB_ROLES, 'doctor'], (c, u, ctx) => detail(c, u, ctx, c.req.param('id') ?? ''));
  ui.page('post', '/devices/lab/:id/correct', LAB_ROLES, async (c, u, ctx) => {
    const id = c.req.param('id') ?? '';
    const f = await c.req.parseBody();
    try {
      await lab.correct(id, String(f.value ?? ''), String(f.reason ?? ''), u, clientIp(c));
      return detail(c, u, ctx, id, { notice: '已更正，新版本已同步' });
    } catch (e) { return detail(c, u, ctx, id, { error: errText(e) }, 400); }
  });
}
