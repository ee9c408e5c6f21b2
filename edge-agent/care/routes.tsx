/** HTTP routes of the care pages: role-checked by `ui.page`, every access to a resident audited. */
import type { Context } from 'hono';
import { bwipJs, excelJs } from '../../contracts/runtime/lazy-libs.ts';
import { clientIp, type WebUi } from '../web/app.tsx';
import type { User } from '../web/accounts.ts';
import type { PageCtx } from '../web/layout.tsx';
import { urgentReasons } from './rules/followup.ts';
import { num } from './rules/vitals.ts';
import { today as todayOf } from './rules/dates.ts';
import { TCM_TYPES } from './rules/tcm.ts';
import { AscvdInputError, parseCoefficientSet } from './rules/ascvd.ts';
import { CARE_CSS, emptyForm, type FormState } from './ui.tsx';
import { FormError, KEY_TAG_ZH, type Actor, type CareService, type FollowupForm } from './service.ts';
import type { CareTransfers } from './transfer.ts';
import {
  AgreementPrint, AscvdPage, ContractPage, ContractsPage, DuePage, DuplicatesPage, EducationPage, ElderlyPage, FollowupPage, QcPage, RecordEditPage, RecordsPage,
  ReferralsPage, ResidentPage, ScreeningPage, SettingsPage, SignPage, TcmPage, TeamsPage, TransfersPage, followupSummary, type ResidentView,
} from './pages.tsx';

export const CARE_ROLES = ['doctor', 'nurse', 'clinic_admin'] as const;
const EDIT_TEAMS = ['doctor', 'clinic_admin'] as const;

type Body = Record<string, string | File | (string | File)[]>;
/** Form body as strings; repeated keys (checkboxes) joined with ','. */
async function formOf(c: Context): Promise<{ v: Record<string, string>; files: File[] }> {
  const b = (await c.req.parseBody({ all: true })) as Body;
  const v: Record<string, string> = {}; const files: File[] = [];
  for (const [k, x] of Object.entries(b)) {
    const arr = Array.isArray(x) ? x : [x];
    const strs = arr.filter((y): y is string => typeof y === 'string');
    for (const y of arr) if (typeof y !== 'string' && y.size > 0) files.push(y);
    v[k] = strs.join(',');
  }
  return { v, files };
}
const list = (s: string | undefined) => (s ?? '').split(',').map((x) => x.trim()).filter(Boolean);
const lines = (s: string | undefined) => (s ?? '').split(/\r?\n/).map((x) => x.trim()).filter(Boolean);

export function mountCarePages(ui: WebUi, s: CareService, transfers: CareTransfers): void {
  const actor = (c: Context, u: User): Actor => ({ username: u.username, ip: clientIp(c) });
  const page = (m: 'get' | 'post', path: string, h: (c: Context, u: User, ctx: PageCtx) => Response | Promise<Response>, roles: readonly string[] = CARE_ROLES) => ui.page(m, path, roles as never, h);
  const bad = (c: Context, node: unknown) => ui.html(c, node, 400);
  /** A refused form is audited (who, which page, what was wrong) before the page is shown again. */
  const refused = (c: Context, u: User, e: unknown): e is FormError => {
    if (!(e instanceof FormError)) return false;
    s.audit(actor(c, u), 'care.form.refused', `${c.req.method} ${c.req.path}`, `refused: ${Object.entries(e.errors).map(([k, m]) => `${k}: ${m}`).join('; ')}`);
    return true;
  };

  // On the home page, clinicians see their follow-up workload at a glance.
  ui.addBanner((c, user) => {
    if (c.req.path !== '/' || !['doctor', 'nurse'].includes(user.role)) return null;
    const rows = s.dueList(user.role === 'doctor' ? { doctorCode: user.username } : {});
    const overdue = rows.filter((r) => r.state === 'overdue').length; const soon = rows.filter((r) => r.state === 'due_soon').length;
    const urgent = rows.filter((r) => r.kind === 'referral').length;
    if (!overdue && !soon && !urgent) return null;
    return <div class="notice" data-testid="care-banner">公卫提醒：逾期随访 <b>{overdue}</b> 人，7 天内到期 <b>{soon}</b> 人{urgent ? <>，紧急转诊待回访 <b>{urgent}</b> 人</> : null}　<a href={`/care/due${user.role === 'doctor' ? `?doctor=${encodeURIComponent(user.username)}` : ''}`}>查看随访清单</a></div>;
  });

  // Stylesheet of the care pages (no CDN).
  ui.page('get', '/care/care.css', [], (c) => c.body(CARE_CSS, 200, { 'content-type': 'text/css; charset=utf-8', 'cache-control': 'max-age=3600' }));
  page('get', '/care', (c) => c.redirect('/care/records'));

  // ---------- resident lookup and view ----------
  const residentView = (rid: string): ResidentView | null => {
    const r = s.resident(rid);
    if (!r) return null;
    const byDate = <T,>(xs: T[], k: (x: T) => string) => xs.sort((a, b) => (k(a) < k(b) ? 1 : -1));
    const readings = byDate(s.byResident('observation', rid), (o) => o.effectiveAt).map((o) => ({ code: o.code, display: o.display, value: o.value, unit: o.unit, at: o.effectiveAt, device: o.deviceId ? s.deviceName(o.deviceId) : '手工录入', interpretation: o.interpretation }));
    return {
      r, age: s.age(r), record: s.healthRecordOf(rid), issues: s.qc(rid), tags: s.tagsOf(rid), enrolments: s.enrolments(rid), followups: s.followups(rid), readings,
      visits: byDate(s.byResident('encounter', rid), (x) => x.registeredAt), labs: byDate(s.byResident('lab_result', rid), (x) => x.resultedAt), images: byDate(s.byResident('imaging_study', rid), (x) => x.studyDate ?? ''),
      elderly: byDate(s.byResident('elderly_check', rid), (x) => x.date), tcm: byDate(s.byResident('tcm_assessment', rid), (x) => x.date), ascvd: byDate(s.byResident('ascvd_assessment', rid), (x) => x.date),
      contracts: byDate(s.byResident('fd_contract', rid), (x) => x.startDate), referrals: byDate(s.byResident('referral', rid), (x) => x.date), plans: byDate(s.byResident('care_plan', rid), (x) => x.createdDate),
      appointments: byDate(s.byResident('care_appointment', rid), (x) => x.date), teamName: (id) => s.teamName(id), staffName: (x) => s.staffName(x),
      priorFollowups: transfers.acceptedFor(rid).map((t) => ({ fromClinicId: t.fromClinicId, fromClinicName: t.transfer.fromClinicName, date: t.decidedAt?.slice(0, 10) ?? '', followups: t.transfer.followups })),
    };
  };
  const showResident = (c: Context, u: User, ctx: PageCtx, rid: string, forms: { ef?: FormState; pf?: FormState; af?: FormState; rf?: FormState; notice?: string; urgent?: string } = {}, status: 200 | 400 = 200) => {
    const v = residentView(rid);
    if (!v) return ui.html(c, <RecordsPage ctx={ctx} rows={s.healthRecords()} q={rid} status="" search={[]} f={{ v: {}, e: { _: `居民 ${rid} 不存在` } }} />, 400);
    s.audit(actor(c, u), 'care.resident.view', rid, 'ok');
    const t = s.today();
    return ui.html(c, <ResidentPage ctx={ctx} v={v} ef={forms.ef ?? emptyForm({ enrolledDate: t })} pf={forms.pf ?? emptyForm({ periodStart: t, periodEnd: `${Number(t.slice(0, 4))}-12-31` })} af={forms.af ?? emptyForm()} rf={forms.rf ?? emptyForm({ date: t })} notice={forms.notice} urgentNotice={forms.urgent} />, status);
  };
  page('get', '/care/r/:rid', (c, u, ctx) => {
    const saved = c.req.query('saved');
    let notice: string | undefined; let urgent: string | undefined;
    if (saved?.startsWith('followup:')) {
      const f = s.get('chronic_followup', saved.slice(9));
      if (f) { notice = followupSummary(f, ctx.lang); if (f.urgentReferral) urgent = `⚠ 紧急转诊：${f.urgentReasons.join('；')}。已生成上转记录，请于 ${f.nextDueDate} 前随访转诊情况。`; }
    } else if (saved) notice = `已保存：${saved}`;
    return showResident(c, u, ctx, c.req.param('rid')!, { ...(notice ? { notice } : {}), ...(urgent ? { urgent } : {}) });
  });

  // ---------- health records ----------
  const recordsPage = (c: Context, ctx: PageCtx, f: FormState = emptyForm(), status: 200 | 400 = 200, notice?: string) => {
    const q = c.req.query('q') ?? ''; const st = c.req.query('status') ?? '';
    return ui.html(c, <RecordsPage ctx={ctx} rows={s.healthRecords({ status: st })} q={q} status={st} search={s.searchResidents(q)} f={f} notice={notice} stats={s.recordStats()} />, status);
  };
  page('get', '/care/records', (c, _u, ctx) => recordsPage(c, ctx));
  const pastDiseases = (txt: string | undefined) => lines(txt).map((l) => { const [name, d] = l.split(/[,，]/).map((x) => x.trim()); return { name: name ?? l, ...(d ? { diagnosedDate: d } : {}) }; });
  page('post', '/care/records', async (c, u, ctx) => {
    const { v } = await formOf(c);
    try {
      const team = s.teamOf(u.username);
      const rec = s.createHealthRecord({
        ...(v.mode === 'existing' ? { residentId: v.residentId ?? '' } : { newResident: { name: v.name ?? '', sex: v.sex ?? '', birthDate: v.birthDate ?? '', idNumber: (v.idNumber ?? '').trim().toUpperCase(), phone: (v.phone ?? '').trim() } }),
        ...(v.residenceType ? { residenceType: v.residenceType } : {}), ...(v.currentAddress ? { currentAddress: v.currentAddress } : {}), ...(v.aboBloodGroup ? { aboBloodGroup: v.aboBloodGroup } : {}),
        drugAllergies: list(v.drugAllergies?.replace(/[，、]/g, ',')), pastDiseases: pastDiseases(v.pastDiseases), doctorCode: u.role === 'doctor' ? u.username : '', ...(team ? { teamId: team.teamId } : {}),
      }, actor(c, u));
      return c.redirect(`/care/r/${rec.residentId}?saved=${encodeURIComponent(`建档 ${rec.healthRecordNo}`)}`, 303);
    } catch (e) {
      if (!refused(c, u, e)) throw e;
      if (v.mode === 'existing') return showResident(c, u, ctx, v.residentId ?? '', { ef: { v: {}, e: e.errors } }, 400);
      return recordsPage(c, ctx, { v, e: e.errors }, 400);
    }
  });
  const recordForm = (no: string): FormState | null => {
    const h = s.get('health_record', no);
    if (!h) return null;
    return emptyForm({ residenceType: h.residenceType ?? '', aboBloodGroup: h.aboBloodGroup ?? '', doctorCode: h.doctorCode ?? '', currentAddress: h.currentAddress ?? '', contactName: h.contactName ?? '', contactPhone: h.contactPhone ?? '', drugAllergies: h.drugAllergies.join(','), pastDiseases: h.pastDiseases.map((d) => `${d.name}${d.diagnosedDate ? `,${d.diagnosedDate}` : ''}`).join('\n'),
      familyHistory: h.familyHistory.map((x) => `${({ father: '父亲', mother: '母亲', sibling: '兄弟姐妹', child: '子女' })[x.relation]},${x.disease}`).join('\n') });
  };
  const editPage = (c: Context, u: User, ctx: PageCtx, no: string, forms: { f?: FormState; mf?: FormState; cf?: FormState; notice?: string } = {}, status: 200 | 400 = 200) => {
    const h = s.get('health_record', no); const base = recordForm(no);
    if (!h || !base) return recordsPage(c, ctx, { v: {}, e: { _: `档案 ${no} 不存在` } }, 400);
    const r = s.resident(h.residentId)!;
    s.audit(actor(c, u), 'care.record.view', no, 'ok');
    return ui.html(c, <RecordEditPage ctx={ctx} rec={h} r={r} age={s.age(r)} issues={s.qc(h.residentId)} f={forms.f ?? base} mf={forms.mf ?? emptyForm()} cf={forms.cf ?? emptyForm()} notice={forms.notice} />, status);
  };
  page('get', '/care/records/duplicates', (c, _u, ctx) => ui.html(c, <DuplicatesPage ctx={ctx} pairs={s.duplicatePairs()} f={emptyForm()} notice={c.req.query('merged') ? `已合并，迁移 ${c.req.query('merged')} 条服务记录` : undefined} />));
  page('post', '/care/records/merge', async (c, u, ctx) => {
    const { v } = await formOf(c);
    try {
      const r = s.mergeRecords(v.survivorNo ?? '', v.duplicateNo ?? '', actor(c, u));
      return c.redirect(`/care/records/duplicates?merged=${r.moved}`, 303);
    } catch (e) { if (!refused(c, u, e)) throw e; return bad(c, <DuplicatesPage ctx={ctx} pairs={s.duplicatePairs()} f={{ v, e: e.errors }} />); }
  });
  page('get', '/care/qc', (c, _u, ctx) => ui.html(c, <QcPage ctx={ctx} rows={s.qcSummary()} />));
  page('get', '/care/records/:no', (c, u, ctx) => editPage(c, u, ctx, c.req.param('no')!, c.req.query('ok') ? { notice: '已保存' } : {}));
  page('post', '/care/records/:no', async (c, u, ctx) => {
    const no = c.req.param('no')!; const { v } = await formOf(c);
    try {
      const pd = pastDiseases(v.pastDiseases);
      const h = s.get('health_record', no); const r = h ? s.resident(h.residentId) : null;
      const bad = pd.find((d) => d.diagnosedDate && (!/^\d{4}-\d{2}-\d{2}$/.test(d.diagnosedDate) || d.diagnosedDate > s.today() || (r && d.diagnosedDate < r.birthDate)));
      if (bad) throw new FormError({ pastDiseases: `既往史「${bad.name}」的确诊日期 ${bad.diagnosedDate} 不合理（须在出生日期与今天之间）` });
      if (v.contactPhone && !/^1[3-9]\d{9}$|^0\d{2,3}-?\d{7,8}$/.test(v.contactPhone)) throw new FormError({ contactPhone: '联系人电话格式不正确' });
      const REL: Record<string, 'father' | 'mother' | 'sibling' | 'child'> = { 父亲: 'father', 母亲: 'mother', 兄弟姐妹: 'sibling', 子女: 'child' };
      const fh = lines(v.familyHistory).map((l) => { const [rel, dis] = l.split(/[,，]/).map((x) => x.trim()); return { rel: rel ?? '', relation: REL[rel ?? ''], disease: (dis ?? '').slice(0, 100), l }; });
      const badFh = fh.find((x) => !x.relation || !x.disease);
      if (badFh) throw new FormError({ familyHistory: `家族史「${badFh.l}」格式应为：父亲/母亲/兄弟姐妹/子女,疾病名称` });
      s.updateHealthRecord(no, {
        ...(v.residenceType === '1' || v.residenceType === '2' ? { residenceType: v.residenceType } : {}), ...(v.aboBloodGroup ? { aboBloodGroup: v.aboBloodGroup as '1' } : {}),
        ...(v.doctorCode ? { doctorCode: v.doctorCode } : {}), ...(v.currentAddress ? { currentAddress: v.currentAddress } : {}), ...(v.contactName ? { contactName: v.contactName } : {}), ...(v.contactPhone ? { contactPhone: v.contactPhone } : {}),
        drugAllergies: list(v.drugAllergies?.replace(/[，、]/g, ',')), pastDiseases: pd, familyHistory: fh.map((x) => ({ relation: x.relation!, disease: x.disease })),
      }, actor(c, u));
      return c.redirect(`/care/records/${no}?ok=1`, 303);
    } catch (e) { if (!refused(c, u, e)) throw e; return editPage(c, u, ctx, no, { f: { v, e: e.errors } }, 400); }
  });
  page('post', '/care/records/:no/migrate', async (c, u, ctx) => {
    const no = c.req.param('no')!; const { v } = await formOf(c);
    try { s.migrateRecord(no, (v.toClinicId ?? '').trim(), v.migrationReason ?? '', actor(c, u)); return c.redirect(`/care/records/${no}?ok=1`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return editPage(c, u, ctx, no, { mf: { v, e: e.errors } }, 400); }
  });
  // ---------- health-record migrations in and out ----------
  const transfersPage = (c: Context, ctx: PageCtx, f?: FormState, failedId?: string, status: 200 | 400 = 200, notice?: string) =>
    ui.html(c, <TransfersPage ctx={ctx} incoming={transfers.incoming()} outgoing={transfers.outgoing()} residentName={(id) => s.resident(id)?.name ?? id} f={f ?? emptyForm({})} failedId={failedId} notice={notice} />, status);
  page('get', '/care/transfers', (c, u, ctx) => {
    s.audit(actor(c, u), 'care.transfer.list', '/care/transfers', 'ok');
    const ok = c.req.query('ok');
    return transfersPage(c, ctx, undefined, undefined, 200, ok === 'accepted' ? `已接收，档案已转为本机构在档（居民 ${c.req.query('rid') ?? ''}），迁出机构将收到通知` : ok === 'refused' ? '已拒绝，迁出机构将收到拒绝原因，其档案恢复在档' : undefined);
  });
  page('post', '/care/transfers/:id/accept', async (c, u, ctx) => {
    const id = c.req.param('id')!;
    try { const r = transfers.accept(id, actor(c, u)); return c.redirect(`/care/transfers?ok=accepted&rid=${encodeURIComponent(r.residentId)}`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return transfersPage(c, ctx, { v: {}, e: e.errors }, id, 400); }
  });
  page('post', '/care/transfers/:id/refuse', async (c, u, ctx) => {
    const id = c.req.param('id')!; const { v } = await formOf(c);
    try { transfers.refuse(id, v.reason ?? '', actor(c, u)); return c.redirect('/care/transfers?ok=refused', 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return transfersPage(c, ctx, { v, e: e.errors }, id, 400); }
  });
  page('post', '/care/records/:no/cancel', async (c, u, ctx) => {
    const no = c.req.param('no')!; const { v } = await formOf(c);
    try { s.cancelRecord(no, v.cancelReason ?? '', v.cancelNote ?? '', actor(c, u)); return c.redirect(`/care/records/${no}?ok=1`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return editPage(c, u, ctx, no, { cf: { v, e: e.errors } }, 400); }
  });

  // ---------- chronic disease ----------
  page('post', '/care/r/:rid/enrol', async (c, u, ctx) => {
    const rid = c.req.param('rid')!; const { v } = await formOf(c);
    try {
      const team = s.teamOf(u.username);
      s.enrol({ residentId: rid, disease: v.disease ?? '', enrolledDate: v.enrolledDate ?? '', ...(v.diagnosedDate ? { diagnosedDate: v.diagnosedDate } : {}), sbp: num(v.sbp), dbp: num(v.dbp), fbg: num(v.fbg), doctorCode: u.username, ...(team ? { teamId: team.teamId } : {}) } as never, actor(c, u));
      return c.redirect(`/care/r/${rid}?saved=${encodeURIComponent(`纳入${v.disease === 'HTN' ? '高血压' : '糖尿病'}管理`)}`, 303);
    } catch (e) { if (!refused(c, u, e)) throw e; return showResident(c, u, ctx, rid, { ef: { v, e: e.errors } }, 400); }
  });

  const followupForm = (v: Record<string, string>, rid: string, disease: 'HTN' | 'T2DM'): FollowupForm => ({
    residentId: rid, disease, date: v.date ?? '', mode: v.mode ?? '', symptoms: list(v.symptoms),
    sbp: num(v.sbp), dbp: num(v.dbp), heartRate: num(v.heartRate), fbg: num(v.fbg), weightKg: num(v.weightKg), heightCm: num(v.heightCm), temperatureC: num(v.temperatureC),
    footPulse: (['normal', 'weak', 'absent'].includes(v.footPulse ?? '') ? v.footPulse : undefined) as FollowupForm['footPulse'],
    smokingPerDay: num(v.smokingPerDay), drinkingPerDay: num(v.drinkingPerDay), exerciseTimesPerWeek: num(v.exerciseTimesPerWeek),
    saltIntake: (['light', 'moderate', 'heavy'].includes(v.saltIntake ?? '') ? v.saltIntake : undefined) as FollowupForm['saltIntake'],
    medicationAdherence: (['regular', 'intermittent', 'none'].includes(v.medicationAdherence ?? '') ? v.medicationAdherence : undefined) as FollowupForm['medicationAdherence'],
    adverseDrugReaction: v.adverseDrugReaction?.trim() || undefined, medications: lines(v.medications).map((l) => { const [name, dose] = l.split(/[,，]/); return { name: (name ?? '').trim().slice(0, 100), dose: (dose ?? '').trim().slice(0, 100) }; }),
    pregnant: v.pregnant === '1', newComplication: v.newComplication === '1', referralTo: v.referralTo, sourceReadingIds: list(v.sourceReadingIds), sourceEncounterId: v.sourceEncounterId || undefined, note: v.note?.trim() || undefined,
  });
  const lifestyleInts = (f: FollowupForm) => {
    const e: Record<string, string> = {};
    const chk = (k: 'smokingPerDay' | 'drinkingPerDay' | 'exerciseTimesPerWeek', max: number, zh: string) => { const x = f[k]; if (x !== undefined && (!Number.isFinite(x) || x < 0 || x > max)) e[k] = `${zh}应为 0~${max} 的数字`; };
    chk('smokingPerDay', 200, '日吸烟量'); chk('drinkingPerDay', 50, '日饮酒量'); chk('exerciseTimesPerWeek', 21, '运动次数');
    return e;
  };
  const followupPage = (c: Context, u: User, ctx: PageCtx, rid: string, disease: 'HTN' | 'T2DM', f?: FormState, status: 200 | 400 = 200) => {
    const r = s.resident(rid);
    if (!r) return showResident(c, u, ctx, rid);
    const p = s.prefill(rid);
    const form = f ?? emptyForm({
      date: s.today(), mode: 'clinic', ...(p.sbp !== undefined ? { sbp: String(p.sbp) } : {}), ...(p.dbp !== undefined ? { dbp: String(p.dbp) } : {}), ...(p.heartRate !== undefined ? { heartRate: String(p.heartRate) } : {}),
      ...(p.fbg !== undefined ? { fbg: String(p.fbg) } : {}), ...(p.weightKg !== undefined ? { weightKg: String(p.weightKg) } : {}), ...(p.heightCm !== undefined ? { heightCm: String(p.heightCm) } : {}),
      sourceReadingIds: p.readingIds.join(','), ...(p.encounter ? { sourceEncounterId: p.encounter.encounterId } : {}),
      ...((): Record<string, string> => { const last = s.followups(rid, disease)[0]; return last ? { medications: last.medications.map((m) => `${m.name},${m.dose}`).join('\n') } : {}; })(),
    } as Record<string, string>);
    const fv = followupForm(form.v, rid, disease);
    // Flag from plausible values only: a value refused beside its field is not evidence.
    const ok = (k: string, x: number | undefined) => (form.e[k] || x === undefined || !Number.isFinite(x) ? undefined : x);
    const bpOk = !form.e.sbp && !form.e.dbp;
    const urgentNow = urgentReasons({ disease, date: fv.date, age: s.age(r), sbp: bpOk ? ok('sbp', fv.sbp) : undefined, dbp: bpOk ? ok('dbp', fv.dbp) : undefined, fbg: ok('fbg', fv.fbg), heartRate: ok('heartRate', fv.heartRate), temperatureC: ok('temperatureC', fv.temperatureC), symptoms: fv.symptoms, pregnantOrLactating: fv.pregnant });
    s.audit(actor(c, u), 'care.followup.view', `${rid} ${disease}`, 'ok');
    return ui.html(c, <FollowupPage ctx={ctx} r={r} age={s.age(r)} disease={disease} f={form} prefill={p} urgentNow={urgentNow} previous={s.followups(rid, disease)} />, status);
  };
  const diseaseOf = (c: Context): 'HTN' | 'T2DM' => (c.req.query('disease') === 'T2DM' ? 'T2DM' : 'HTN');
  page('get', '/care/r/:rid/followup', (c, u, ctx) => followupPage(c, u, ctx, c.req.param('rid')!, diseaseOf(c)));
  page('post', '/care/r/:rid/followup', async (c, u, ctx) => {
    const rid = c.req.param('rid')!; const disease = diseaseOf(c); const { v } = await formOf(c);
    const fv = followupForm(v, rid, disease);
    try {
      const extra = lifestyleInts(fv);
      if (Object.keys(extra).length) throw new FormError(extra);
      const out = s.recordFollowup(fv, actor(c, u));
      return c.redirect(`/care/r/${rid}?saved=followup:${out.followup.followupId}`, 303);
    } catch (e) { if (!refused(c, u, e)) throw e; return followupPage(c, u, ctx, rid, disease, { v, e: e.errors }, 400); }
  });
  page('get', '/care/due', (c, u, ctx) => {
    const q = { doctor: c.req.query('doctor') ?? '', team: c.req.query('team') ?? '', state: c.req.query('state') ?? '' };
    const rows = s.dueList({ ...(q.doctor ? { doctorCode: q.doctor } : {}), ...(q.team ? { teamId: q.team } : {}), ...(q.state ? { state: q.state } : {}) });
    const doctors = [...new Set(s.list('chronic_enrolment').map((e) => e.doctorCode).concat(s.list('chronic_followup').map((f) => f.doctorCode)))].sort();
    s.audit(actor(c, u), 'care.due.view', `${q.doctor}/${q.team}/${q.state}`, 'ok');
    return ui.html(c, <DuePage ctx={ctx} rows={rows} teams={s.teams()} doctors={doctors} q={q} staffName={(x) => s.staffName(x)} teamName={(id) => s.teamName(id)} />);
  });

  // ---------- elderly, TCM, ASCVD ----------
  const elderlyPage = (c: Context, u: User, ctx: PageCtx, rid: string, f?: FormState, status: 200 | 400 = 200) => {
    const r = s.resident(rid); if (!r) return showResident(c, u, ctx, rid);
    const p = s.prefill(rid);
    return ui.html(c, <ElderlyPage ctx={ctx} r={r} age={s.age(r)} f={f ?? emptyForm({ date: s.today(), ...(p.sbp !== undefined ? { sbp: String(p.sbp), dbp: String(p.dbp ?? '') } : {}), ...(p.heartRate !== undefined ? { heartRate: String(p.heartRate) } : {}) })} history={s.byResident('elderly_check', rid)} />, status);
  };
  page('get', '/care/r/:rid/elderly', (c, u, ctx) => elderlyPage(c, u, ctx, c.req.param('rid')!));
  page('post', '/care/r/:rid/elderly', async (c, u, ctx) => {
    const rid = c.req.param('rid')!; const { v } = await formOf(c);
    const col = (k: string) => (v[`sc_${k}`] === undefined || v[`sc_${k}`] === '' ? undefined : Number(v[`sc_${k}`]));
    try {
      s.recordElderlyCheck({ residentId: rid, date: v.date ?? '', columns: { eating: col('eating'), grooming: col('grooming'), dressing: col('dressing'), toileting: col('toileting'), activity: col('activity') } as never,
        ...(v.healthSelfRating ? { healthSelfRating: v.healthSelfRating } : {}), cognitivePositive: v.cognitivePositive === '1', emotionalPositive: v.emotionalPositive === '1',
        sbp: num(v.sbp), dbp: num(v.dbp), heartRate: num(v.heartRate), temperatureC: num(v.temperatureC), weightKg: num(v.weightKg), heightCm: num(v.heightCm), waistCm: num(v.waistCm), fbg: num(v.fbg),
        itemsDone: list(v.itemsDone), ...(v.conclusion ? { conclusion: v.conclusion } : {}), ...(v.guidance ? { guidance: v.guidance } : {}) } as never, actor(c, u));
      return c.redirect(`/care/r/${rid}?saved=${encodeURIComponent('老年人健康体检')}`, 303);
    } catch (e) { if (!refused(c, u, e)) throw e; return elderlyPage(c, u, ctx, rid, { v, e: e.errors }, 400); }
  });

  const tcmPage = (c: Context, u: User, ctx: PageCtx, rid: string, f?: FormState, status: 200 | 400 = 200, result?: string) => {
    const r = s.resident(rid); if (!r) return showResident(c, u, ctx, rid);
    const res = result ? s.get('tcm_assessment', result) ?? undefined : undefined;
    return ui.html(c, <TcmPage ctx={ctx} r={r} age={s.age(r)} f={f ?? emptyForm({ date: s.today() })} method={s.tcmMethod()} result={res} />, status);
  };
  page('get', '/care/r/:rid/tcm', (c, u, ctx) => tcmPage(c, u, ctx, c.req.param('rid')!, undefined, 200, c.req.query('result')));
  page('post', '/care/r/:rid/tcm', async (c, u, ctx) => {
    const rid = c.req.param('rid')!; const { v } = await formOf(c);
    const answers = Array.from({ length: 33 }, (_, i) => { const x = v[`q${i + 1}`]; return x === undefined || x === '' ? undefined : Number(x); });
    try {
      const rec = s.recordTcm({ residentId: rid, date: v.date ?? '', answers }, actor(c, u));
      return c.redirect(`/care/r/${rid}/tcm?result=${rec.assessmentId}`, 303);
    } catch (e) { if (!refused(c, u, e)) throw e; return tcmPage(c, u, ctx, rid, { v, e: e.errors }, 400); }
  });

  const ascvdPage = (c: Context, u: User, ctx: PageCtx, rid: string, f?: FormState, status: 200 | 400 = 200, result?: string) => {
    const r = s.resident(rid); if (!r) return showResident(c, u, ctx, rid);
    const p = s.prefill(rid);
    const diabetic = s.enrolments(rid).some((e) => e.disease === 'T2DM' && e.status === 'active');
    const onTx = s.followups(rid, 'HTN')[0]?.medications.length ? '1' : '';
    const res = result ? s.get('ascvd_assessment', result) ?? undefined : undefined;
    const b = (x: boolean) => (x ? '1' : '');
    const fromResult = res ? { date: res.date, sbp: String(res.sbp), onBpTreatment: b(res.onBpTreatment), totalCholesterol: String(res.totalCholesterol), hdlCholesterol: String(res.hdlCholesterol), waistCm: String(res.waistCm), smoker: b(res.smoker), diabetes: b(res.diabetes), familyHistory: b(res.familyHistory), region: res.region, area: res.area } : null;
    return ui.html(c, <AscvdPage ctx={ctx} r={r} age={s.age(r)} coef={s.coefficients()} result={res}
      f={f ?? emptyForm(fromResult ?? { date: s.today(), region: 'north', area: 'urban', ...(p.sbp !== undefined ? { sbp: String(p.sbp) } : {}), ...(p.tc !== undefined ? { totalCholesterol: String(p.tc) } : {}), ...(p.hdl !== undefined ? { hdlCholesterol: String(p.hdl) } : {}), ...(diabetic ? { diabetes: '1' } : {}), ...(onTx ? { onBpTreatment: '1' } : {}) })} />, status);
  };
  page('get', '/care/r/:rid/ascvd', (c, u, ctx) => ascvdPage(c, u, ctx, c.req.param('rid')!, undefined, 200, c.req.query('result')));
  page('post', '/care/r/:rid/ascvd', async (c, u, ctx) => {
    const rid = c.req.param('rid')!; const { v } = await formOf(c);
    try {
      const rec = s.recordAscvd({ residentId: rid, date: v.date ?? '', sbp: num(v.sbp)!, onBpTreatment: v.onBpTreatment === '1', totalCholesterol: num(v.totalCholesterol)!, hdlCholesterol: num(v.hdlCholesterol)!, waistCm: num(v.waistCm)!,
        smoker: v.smoker === '1', diabetes: v.diabetes === '1', familyHistory: v.familyHistory === '1', region: v.region === 'south' ? 'south' : 'north', area: v.area === 'rural' ? 'rural' : 'urban' }, actor(c, u));
      return c.redirect(`/care/r/${rid}/ascvd?result=${rec.assessmentId}`, 303);
    } catch (e) { if (!refused(c, u, e)) throw e; return ascvdPage(c, u, ctx, rid, { v, e: e.errors }, 400); }
  });

  // ---------- contracts ----------
  const signPage = (c: Context, u: User, ctx: PageCtx, rid: string, f?: FormState, status: 200 | 400 = 200) => {
    const r = s.resident(rid); if (!r) return showResident(c, u, ctx, rid);
    const team = s.teamOf(u.username);
    return ui.html(c, <SignPage ctx={ctx} r={r} age={s.age(r)} teams={s.teams()} packages={s.packages()} recommended={s.recommendPackages(rid).map((p) => p.packageId)} tags={s.tagsOf(rid)} staffName={(x) => s.staffName(x)}
      f={f ?? emptyForm({ startDate: s.today(), signerRelation: 'self', signerName: r.name, signMethod: 'id_card', ...(team ? { teamId: team.teamId } : {}), ...(u.role === 'doctor' ? { doctorCode: u.username } : {}), tags: s.tagsOf(rid).join(',') })} />, status);
  };
  page('get', '/care/r/:rid/contract', (c, u, ctx) => signPage(c, u, ctx, c.req.param('rid')!));
  page('post', '/care/r/:rid/contract', async (c, u, ctx) => {
    const rid = c.req.param('rid')!; const { v } = await formOf(c);
    try {
      const k = s.signContract({ residentId: rid, teamId: v.teamId ?? '', doctorCode: v.doctorCode ?? '', packageIds: list(v.packageIds), signMethod: v.signMethod ?? '', signerName: v.signerName ?? '', signerRelation: v.signerRelation ?? 'self', startDate: v.startDate ?? '', idCheck: v.idCheck ?? '', tags: list(v.tags) }, actor(c, u));
      return c.redirect(`/care/contracts/${k.contractId}?signed=1`, 303);
    } catch (e) { if (!refused(c, u, e)) throw e; return signPage(c, u, ctx, rid, { v, e: e.errors }, 400); }
  });
  page('get', '/care/contracts', (c, u, ctx) => {
    const st = c.req.query('status') ?? '';
    s.audit(actor(c, u), 'care.contracts.view', st, 'ok');
    return ui.html(c, <ContractsPage ctx={ctx} rows={s.contracts({ status: st }).map((k) => ({ ...k, name: s.resident(k.residentId)?.name ?? k.residentId }))} teamName={(id) => s.teamName(id)} q={{ status: st }} />);
  });
  const contractPage = (c: Context, u: User, ctx: PageCtx, id: string, f: FormState = emptyForm(), status: 200 | 400 = 200, notice?: string, sf: FormState = emptyForm({ serviceDate: s.today() })) => {
    const k = s.get('fd_contract', id);
    if (!k) return ui.html(c, <ContractsPage ctx={ctx} rows={[]} teamName={() => ''} q={{ status: '' }} />, 400);
    s.audit(actor(c, u), 'care.contract.view', id, 'ok');
    const renewed = s.byResident('fd_contract', k.residentId).some((x) => x.previousContractId === id);
    return ui.html(c, <ContractPage ctx={ctx} c={k} r={s.resident(k.residentId)!} packages={k.packageIds.map((p) => s.get('fd_package', p)).filter((p) => p !== null)} teamName={s.teamName(k.teamId)} doctorName={s.staffName(k.doctorCode)} f={f} notice={notice} renewed={renewed} fulfilment={s.fulfilment(id)} sf={sf} />, status);
  };
  page('get', '/care/contracts/:id', (c, u, ctx) => contractPage(c, u, ctx, c.req.param('id')!, emptyForm(), 200, c.req.query('signed') ? '签约成功，可打印协议书交居民签字留存。' : c.req.query('ok') ? '已保存' : undefined));
  page('get', '/care/contracts/:id/print', async (c, u) => {
    const k = s.get('fd_contract', c.req.param('id')!);
    if (!k) return c.text('协议不存在', 404);
    const r = s.resident(k.residentId)!;
    s.audit(actor(c, u), 'care.contract.print', k.contractId, 'ok');
    let barcodeSvg = '';
    try { barcodeSvg = bwipJs().toSVG({ bcid: 'code128', text: k.contractId.slice(0, 18).toUpperCase(), height: 10, includetext: true, textsize: 8 }); } catch { barcodeSvg = ''; }
    const node = <AgreementPrint c={k} r={r} age={s.age(r)} packages={k.packageIds.map((p) => s.get('fd_package', p)).filter((p) => p !== null)} team={s.get('fd_team', k.teamId)} doctorName={s.staffName(k.doctorCode)} clinicName={s.clinicName || s.clinicId} barcodeSvg={barcodeSvg} address={s.healthRecordOf(r.residentId)?.currentAddress ?? r.address ?? ''} />;
    return ui.html(c, node);
  });
  page('post', '/care/contracts/:id/renew', async (c, u, ctx) => {
    const id = c.req.param('id')!;
    try { const k = s.renewContract(id, actor(c, u)); return c.redirect(`/care/contracts/${k.contractId}?signed=1`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return contractPage(c, u, ctx, id, { v: {}, e: e.errors }, 400); }
  });
  page('post', '/care/contracts/:id/service', async (c, u, ctx) => {
    const id = c.req.param('id')!; const { v } = await formOf(c);
    try { s.recordService({ contractId: id, item: v.item ?? '', date: v.serviceDate ?? '', ...(v.note ? { note: v.note } : {}) }, actor(c, u)); return c.redirect(`/care/contracts/${id}?ok=1`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return contractPage(c, u, ctx, id, emptyForm(), 400, undefined, { v, e: e.errors }); }
  });
  page('post', '/care/contracts/:id/terminate', async (c, u, ctx) => {
    const id = c.req.param('id')!; const { v } = await formOf(c);
    try { s.terminateContract(id, v.terminationReason ?? '', actor(c, u)); return c.redirect(`/care/contracts/${id}?ok=1`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return contractPage(c, u, ctx, id, { v, e: e.errors }, 400); }
  });

  // ---------- teams, packages ----------
  const teamsPage = (c: Context, u: User, ctx: PageCtx, forms: { tf?: FormState; pf?: FormState; notice?: string } = {}, status: 200 | 400 = 200) =>
    ui.html(c, <TeamsPage ctx={ctx} teams={s.teams()} packages={s.packages()} tf={forms.tf ?? emptyForm()} pf={forms.pf ?? emptyForm()} canEdit={(EDIT_TEAMS as readonly string[]).includes(u.role)} notice={forms.notice} />, status);
  page('get', '/care/teams', (c, u, ctx) => teamsPage(c, u, ctx, c.req.query('ok') ? { notice: '已保存' } : {}));
  page('post', '/care/teams', async (c, u, ctx) => {
    const { v } = await formOf(c);
    try { s.saveTeam({ name: v.name ?? '', leaderCode: v.leaderCode ?? '', membersText: v.members ?? '', active: true }, actor(c, u)); return c.redirect('/care/teams?ok=1', 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return teamsPage(c, u, ctx, { tf: { v, e: e.errors } }, 400); }
  }, EDIT_TEAMS);
  page('post', '/care/packages', async (c, u, ctx) => {
    const { v } = await formOf(c);
    try { s.savePackage({ name: v.name ?? '', kind: v.kind ?? '', priceYuan: v.priceYuan ?? '', selfPayYuan: v.selfPayYuan ?? '', servicesText: v.services ?? '', targetTags: list(v.targetTags), active: true }, actor(c, u)); return c.redirect('/care/teams?ok=1', 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return teamsPage(c, u, ctx, { pf: { v, e: e.errors } }, 400); }
  }, EDIT_TEAMS);

  // ---------- plans, appointments, referrals ----------
  page('post', '/care/r/:rid/plan', async (c, u, ctx) => {
    const rid = c.req.param('rid')!; const { v } = await formOf(c);
    try { s.savePlan({ residentId: rid, periodStart: v.periodStart ?? '', periodEnd: v.periodEnd ?? '', problems: lines(v.problems), goals: lines(v.goals), interventions: lines(v.interventions) }, actor(c, u)); return c.redirect(`/care/r/${rid}?saved=${encodeURIComponent('健康计划')}`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return showResident(c, u, ctx, rid, { pf: { v, e: e.errors } }, 400); }
  });
  page('post', '/care/r/:rid/appointment', async (c, u, ctx) => {
    const rid = c.req.param('rid')!; const { v } = await formOf(c);
    try { s.bookAppointment({ residentId: rid, kind: v.kind ?? '', date: v.date ?? '', ...(v.time ? { time: v.time } : {}), ...(v.note ? { note: v.note } : {}) }, actor(c, u)); return c.redirect(`/care/r/${rid}?saved=${encodeURIComponent('预约')}`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return showResident(c, u, ctx, rid, { af: { v, e: e.errors } }, 400); }
  });
  page('post', '/care/appointments/:id/status', async (c, u, ctx) => {
    const id = c.req.param('id')!; const { v } = await formOf(c);
    const a = s.get('care_appointment', id);
    try { s.setAppointmentStatus(id, (['done', 'missed', 'cancelled'].includes(v.status ?? '') ? v.status : 'done') as 'done', actor(c, u)); return c.redirect(`/care/r/${a?.residentId ?? ''}?saved=${encodeURIComponent('预约状态')}`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return showResident(c, u, ctx, a?.residentId ?? '', { af: { v, e: e.errors } }, 400); }
  });
  page('post', '/care/r/:rid/referral', async (c, u, ctx) => {
    const rid = c.req.param('rid')!; const { v } = await formOf(c);
    try { s.createReferral({ residentId: rid, direction: v.direction ?? '', date: v.date ?? '', urgent: v.urgent === '1', toOrg: v.toOrg ?? '', reason: v.reason ?? '', ...(v.diagnosisName ? { diagnosisName: v.diagnosisName } : {}) }, actor(c, u)); return c.redirect(`/care/r/${rid}?saved=${encodeURIComponent('转诊记录')}`, 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return showResident(c, u, ctx, rid, { rf: { v, e: e.errors } }, 400); }
  });
  const referralsPage = (c: Context, ctx: PageCtx, f: FormState = emptyForm(), status: 200 | 400 = 200, notice?: string) =>
    ui.html(c, <ReferralsPage ctx={ctx} rows={s.list('referral').sort((a, b) => (a.date < b.date ? 1 : -1)).map((x) => ({ ...x, name: s.resident(x.residentId)?.name ?? x.residentId }))} f={f} notice={notice} />, status);
  page('get', '/care/referrals', (c, u, ctx) => { s.audit(actor(c, u), 'care.referrals.view', '', 'ok'); return referralsPage(c, ctx, emptyForm(), 200, c.req.query('ok') ? '已更新' : undefined); });
  page('post', '/care/referrals/:id', async (c, u, ctx) => {
    const { v } = await formOf(c);
    try { s.updateReferral(c.req.param('id')!, (['received', 'completed', 'cancelled'].includes(v.status ?? '') ? v.status : 'received') as 'received', v.outcome ?? '', actor(c, u)); return c.redirect('/care/referrals?ok=1', 303); }
    catch (e) { if (!refused(c, u, e)) throw e; return referralsPage(c, ctx, { v, e: e.errors }, 400); }
  });

  // ---------- education ----------
  const eduPage = (c: Context, ctx: PageCtx, f?: FormState, status: 200 | 400 = 200, notice?: string) =>
    ui.html(c, <EducationPage ctx={ctx} rows={s.list('health_education').sort((a, b) => (a.date < b.date ? 1 : -1))} f={f ?? emptyForm({ date: s.today() })} notice={notice} />, status);
  page('get', '/care/education', (c, _u, ctx) => eduPage(c, ctx, undefined, 200, c.req.query('ok') ? '已保存' : undefined));
  page('post', '/care/education', async (c, u, ctx) => {
    const { v, files } = await formOf(c);
    try {
      const data = await Promise.all(files.map(async (f) => ({ name: f.name, type: f.type, data: Buffer.from(await f.arrayBuffer()) })));
      const cnt = num(v.attendeeCount); const copies = num(v.copies);
      s.recordEducation({ date: v.date ?? '', kind: v.kind ?? '', topic: v.topic ?? '', ...(v.location ? { location: v.location } : {}), ...(v.organiser ? { organiser: v.organiser } : {}), attendeeCount: cnt, ...(copies !== undefined && Number.isInteger(copies) && copies >= 0 ? { copies } : {}), ...(v.summary ? { summary: v.summary } : {}), files: data }, actor(c, u));
      return c.redirect('/care/education?ok=1', 303);
    } catch (e) { if (!refused(c, u, e)) throw e; return eduPage(c, ctx, { v, e: e.errors }, 400); }
  });
  page('get', '/care/materials/:sha', (c, u) => {
    const m = s.material(c.req.param('sha')!);
    if (!m) return c.text('not found', 404);
    s.audit(actor(c, u), 'care.material.download', c.req.param('sha')!, 'ok');
    return c.body(new Uint8Array(m.data), 200, { 'content-type': m.mime, 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(m.name)}` });
  });

  // ---------- screening ----------
  const screeningQuery = (c: Context) => {
    const qv = (k: string) => c.req.queries(k) ?? [];
    const one = (k: string) => c.req.query(k) ?? '';
    const v: Record<string, string> = { tags: qv('tags').join(','), ageMin: one('ageMin'), ageMax: one('ageMax'), sex: one('sex'), contracted: one('contracted'), teamId: one('teamId'), hasRecord: one('hasRecord'), noFollowupThisQuarter: one('noFollowupThisQuarter') };
    const n = (x: string) => { const y = num(x); return y !== undefined && Number.isFinite(y) ? y : undefined; };
    const query = { tags: list(v.tags).filter((t) => t in KEY_TAG_ZH), ageMin: n(v.ageMin!), ageMax: n(v.ageMax!), sex: v.sex || undefined, contracted: v.contracted || undefined, teamId: v.teamId || undefined, hasRecord: v.hasRecord || undefined, noFollowupThisQuarter: v.noFollowupThisQuarter === '1' };
    const qs = new URL(c.req.url).search.slice(1);
    return { v, query, qs, ran: qs.length > 0 };
  };
  page('get', '/care/screening', (c, u, ctx) => {
    const { v, query, qs, ran } = screeningQuery(c);
    const rows = ran ? s.screen(query) : [];
    if (ran) s.audit(actor(c, u), 'care.screening', qs.slice(0, 200), `${rows.length} rows`);
    return ui.html(c, <ScreeningPage ctx={ctx} rows={rows} f={{ v, e: {} }} teams={s.teams()} query={qs} ran={ran} />);
  });
  page('get', '/care/screening.xlsx', async (c, u) => {
    const { query, qs } = screeningQuery(c);
    const rows = s.screen(query);
    s.audit(actor(c, u), 'care.screening.export', qs.slice(0, 200), `${rows.length} rows`);
    const wb = new (excelJs().Workbook)();
    const ws = wb.addWorksheet('筛查结果');
    ws.columns = [{ header: '姓名', key: 'name', width: 12 }, { header: '性别', key: 'sex', width: 6 }, { header: '年龄', key: 'age', width: 6 }, { header: '电话', key: 'phone', width: 14 },
      { header: '人群标签', key: 'tags', width: 30 }, { header: '档案编号', key: 'no', width: 20 }, { header: '签约团队', key: 'team', width: 18 }, { header: '最近随访', key: 'last', width: 12 }];
    for (const r of rows) ws.addRow({ name: r.name, sex: r.sex === '1' ? '男' : r.sex === '2' ? '女' : '', age: r.age, phone: r.phone, tags: r.tags.map((t) => KEY_TAG_ZH[t]).join('、'), no: r.healthRecordNo, team: r.team, last: r.lastFollowup });
    ws.getRow(1).font = { bold: true };
    const meta = wb.addWorksheet('查询条件');
    meta.addRow(['查询条件', decodeURIComponent(qs)]); meta.addRow(['导出时间', new Date().toISOString()]); meta.addRow(['导出人', u.username]); meta.addRow(['机构', s.clinicName || s.clinicId]);
    const buf = await wb.xlsx.writeBuffer();
    return c.body(new Uint8Array(buf as ArrayBuffer), 200, { 'content-type': 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet', 'content-disposition': `attachment; filename*=UTF-8''${encodeURIComponent(`人群筛查-${todayOf()}.xlsx`)}` });
  });

  // ---------- settings ----------
  const settingsPage = (c: Context, ctx: PageCtx, f?: FormState, status: 200 | 400 = 200, notice?: string) =>
    ui.html(c, <SettingsPage ctx={ctx} coef={s.coefficients()} f={f ?? emptyForm({ recordNoPrefix: s.recordNoPrefix(), tcmMethod: s.tcmMethod() })} notice={notice} />, status);
  page('get', '/care/settings', (c, _u, ctx) => settingsPage(c, ctx, undefined, 200, c.req.query('ok') ? '已保存' : undefined), ['clinic_admin']);
  page('post', '/care/settings', async (c, u, ctx) => {
    const { v } = await formOf(c);
    const e: Record<string, string> = {};
    if (!/^\d{12}$/.test(v.recordNoPrefix ?? '')) e.recordNoPrefix = '应为 12 位数字（县6+街道3+居委会3）';
    let coef: string | undefined;
    if (v.coefficients?.trim()) { try { coef = JSON.stringify(parseCoefficientSet(v.coefficients)); } catch (err) { if (err instanceof AscvdInputError) e.coefficients = err.message; else throw err; } }
    if (Object.keys(e).length) return settingsPage(c, ctx, { v, e }, 400);
    const a = actor(c, u);
    s.setSetting('recordNoPrefix', v.recordNoPrefix!, a);
    s.setSetting('tcmMethod', v.tcmMethod === 'transformed' ? 'transformed' : 'elderly-raw', a);
    if (coef) s.setSetting('ascvdCoefficients', coef, a);
    else if (v.useDefault === '1') s.usePublishedCoefficients(a);
    return c.redirect('/care/settings?ok=1', 303);
  }, ['clinic_admin']);
  void TCM_TYPES;
}
