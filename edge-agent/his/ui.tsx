/** Shared bits of the HIS pages: bilingual labels, form fields with their error, messages, styles. */
import type { Child } from 'hono/jsx';
import type { Lang } from '../web/i18n.ts';
import type { PageCtx } from '../web/layout.tsx';
import { ageOn, SEX_ZH, type ResidentView } from './residents.ts';
import { localDate, yuan } from './time.ts';

/** zh-CN first, English available: `tr(ctx)('挂号', 'Registration')`. */
export const tr = (ctx: PageCtx | Lang) => {
  const lang = typeof ctx === 'string' ? ctx : ctx.lang;
  return (zh: string, en: string) => (lang === 'en' ? en : zh);
};

export type Errors = Record<string, string>;

export function Field(props: { label: string; name: string; value?: string | undefined; errors?: Errors | undefined; type?: string; width?: string; children?: Child; placeholder?: string; required?: boolean; step?: string }) {
  const err = props.errors?.[props.name];
  return (
    <div class="field" style={props.width ? `width:${props.width}` : ''}>
      <label for={`f-${props.name}`}>{props.label}{props.required ? <span class="req">*</span> : null}</label>
      {props.children ?? <input id={`f-${props.name}`} name={props.name} value={props.value ?? ''} type={props.type ?? 'text'} placeholder={props.placeholder ?? ''} class={err ? 'invalid' : ''} aria-invalid={err ? 'true' : 'false'} {...(props.step ? { step: props.step } : {})} />}
      {err && <div class="field-error" role="alert" data-testid={`err-${props.name}`}>{err}</div>}
    </div>
  );
}

export function Select(props: { name: string; value?: string | undefined; options: [string, string][]; errors?: Errors | undefined; blank?: string }) {
  const err = props.errors?.[props.name];
  return (
    <select id={`f-${props.name}`} name={props.name} class={err ? 'invalid' : ''}>
      {props.blank !== undefined && <option value="">{props.blank}</option>}
      {props.options.map(([v, l]) => <option value={v} selected={v === props.value}>{l}</option>)}
    </select>
  );
}

export function Msg(props: { error?: string | undefined; notice?: string | undefined }) {
  return <>{props.error && <div class="error" role="alert" data-testid="error">{props.error}</div>}{props.notice && <div class="notice" data-testid="notice">{props.notice}</div>}</>;
}

export const money = (fen: number) => (fen < 0 ? `-¥${yuan(-fen)}` : `¥${yuan(fen)}`);

/** Mask the middle of an ID number on lists (full number on the resident's own card). */
export const maskId = (id: string) => (id.length >= 15 ? `${id.slice(0, 6)}********${id.slice(-4)}` : id);

export function ResidentCard(props: { ctx: PageCtx; r: ResidentView; actions?: Child }) {
  const t = tr(props.ctx);
  const r = props.r;
  return (
    <div class="card resident" data-testid="resident-card">
      <div class="row-between">
        <h2>{r.name} <span class="muted">{props.ctx.lang === 'en' ? ({ '1': 'M', '2': 'F' } as Record<string, string>)[r.sex] ?? '-' : SEX_ZH[r.sex]} · {ageOn(r.birthDate, localDate())}{t('岁', ' y')}</span></h2>
        <div>{props.actions}</div>
      </div>
      <div class="kv">
        <span>{t('证件号', 'ID')}：{r.idNumber}</span><span>{t('出生日期', 'Born')}：{r.birthDate}</span><span>{t('电话', 'Phone')}：{r.phone ?? '-'}</span>
        <span>{t('医保卡号', 'Insurance')}：{r.insuranceCardNo ?? '-'}</span><span>{t('电子健康卡', 'e-health card')}：{r.healthCardId ? t('已绑定', 'linked') : '-'}</span>
        {r.address && <span>{t('地址', 'Address')}：{r.address}</span>}
      </div>
    </div>
  );
}

export const hisCss = `
.field { display:inline-block; vertical-align:top; margin:0 14px 10px 0; min-width:140px; }
.field label { display:block; font-size:13px; color:#3e4c59; margin-bottom:3px; }
.field .req { color:var(--bad); margin-left:2px; }
.field input, .field select { max-width:none; }
.field-error { color:var(--bad); font-size:13px; margin-top:3px; }
input.invalid, select.invalid { border-color:var(--bad); background:#fff6f5; }
.row-between { display:flex; justify-content:space-between; align-items:center; gap:12px; flex-wrap:wrap; }
.kv { display:flex; flex-wrap:wrap; gap:6px 22px; font-size:14px; color:#3e4c59; }
.muted { color:#7b8794; font-weight:400; font-size:15px; }
h2 { font-size:18px; margin:0 0 10px; }
.btn { display:inline-block; background:#fff; color:var(--blue); border:1px solid var(--blue); border-radius:5px; padding:4px 12px; font:inherit; font-size:14px; cursor:pointer; text-decoration:none; }
.btn.primary { background:var(--blue); color:#fff; }
button.btn, button.btn.primary { display:inline-block; margin-top:0; padding:5px 14px; vertical-align:middle; }
button.btn.small { padding:1px 8px; }
button:disabled { opacity:.5; cursor:not-allowed; }
.btn.danger { color:var(--bad); border-color:var(--bad); }
.btn.small { padding:1px 8px; font-size:13px; }
.tabs a { margin-right:14px; }
.tabs a.on { font-weight:700; text-decoration:none; color:#1f2933; }
td.num, th.num { text-align:right; font-variant-numeric:tabular-nums; }
tr.total td { font-weight:700; border-top:2px solid var(--line); }
.badge.info { background:#1d5fa7; } .badge.grey { background:#7b8794; }
.inline { display:inline; }
form.inline-form { display:flex; gap:8px; align-items:flex-end; flex-wrap:wrap; }
.slip { max-width:360px; border:1px dashed #7b8794; padding:16px 20px; background:#fff; margin:0 auto 18px; font-size:15px; }
.slip h1 { text-align:center; font-size:18px; } .slip .big { font-size:36px; font-weight:700; text-align:center; }
.slip table td { border:0; padding:2px 4px; }
.warn-text { color:var(--warn); } .bad-text { color:var(--bad); }
.queue-card { border-left:4px solid var(--blue); }
@media print {
  header, nav, .no-print, form, .notice { display:none !important; }
  body { background:#fff; } main { margin:0; max-width:none; }
  .card { border:0; } .slip { border:0; margin:0; }
}
`;

export function Style() {
  return <style dangerouslySetInnerHTML={{ __html: hisCss }} />;
}

export function Tabs(props: { ctx: PageCtx; items: [string, string][] }) {
  return <div class="tabs no-print" style="margin-bottom:12px">{props.items.map(([href, label]) => <a href={href} class={props.ctx.path === href.split('?')[0] ? 'on' : ''}>{label}</a>)}</div>;
}
