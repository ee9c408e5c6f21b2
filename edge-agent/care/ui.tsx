/** Small form building blocks for the care pages: every field shows its own error beside it. */
import type { Child } from 'hono/jsx';
import type { PageCtx } from '../web/layout.tsx';
import type { FieldErrors } from './rules/vitals.ts';

export interface FormState { v: Record<string, string>; e: FieldErrors }
export const emptyForm = (v: Record<string, string> = {}): FormState => ({ v, e: {} });

/** zh-CN first, English when the user switched. */
export const tr = (ctx: PageCtx, zh: string, en: string) => (ctx.lang === 'en' ? en : zh);

export const CARE_CSS = `
.subnav { display:flex; flex-wrap:wrap; gap:6px 14px; margin:-6px 0 16px; font-size:14px; }
.subnav a { color:var(--blue); text-decoration:none; } .subnav a.on { font-weight:700; text-decoration:underline; }
.fld { margin:8px 0; } .fld label { display:block; font-size:14px; color:#3e4c59; margin-bottom:3px; }
.fld.inline { display:inline-block; margin-right:14px; vertical-align:top; }
.fld.inline input, .fld.inline select { width:auto; min-width:90px; }
.ferr { display:block; color:var(--bad); font-size:13px; margin-top:3px; }
.fld.inline .ferr { max-width:240px; }
.fld.has-error input, .fld.has-error select, .fld.has-error textarea { border-color:var(--bad); background:#fff6f5; }
textarea { font:inherit; padding:7px 10px; border:1px solid #b8c2cc; border-radius:5px; width:100%; max-width:720px; min-height:64px; }
.urgent { background:#fdecea; border:2px solid var(--bad); color:#7b1d12; padding:10px 14px; border-radius:6px; margin:10px 0; font-weight:600; }
.source { color:#52606d; font-size:13px; background:#eef5ff; border-left:3px solid var(--blue); padding:4px 10px; margin:4px 0 10px; }
.cols { display:grid; grid-template-columns:repeat(auto-fit,minmax(320px,1fr)); gap:16px; }
.kv { display:grid; grid-template-columns:max-content 1fr; gap:4px 14px; font-size:14px; } .kv dt { color:#52606d; } .kv dd { margin:0; }
.tag { display:inline-block; background:#e8eef7; color:#1d5fa7; border-radius:10px; padding:0 8px; font-size:12px; margin:0 4px 2px 0; }
.btn { display:inline-block; background:#fff; color:var(--blue); border:1px solid var(--blue); border-radius:5px; padding:4px 12px; text-decoration:none; font:inherit; font-size:14px; cursor:pointer; margin:2px 6px 2px 0; }
.btn.danger { color:var(--bad); border-color:var(--bad); }
button.primary.inline { display:inline-block; }
.q { border-bottom:1px solid var(--line); padding:6px 0; } .q .opts label { display:inline-block; margin-right:12px; font-size:14px; }
.q.has-error { background:#fff6f5; }
.opts input[type=radio], .opts input[type=checkbox], .chk input { width:auto; margin-right:4px; }
.chk, .fld label.chk { display:inline-block; margin:0 14px 2px 0; font-size:14px; color:inherit; }
.empty { color:#9aa5b1; font-size:13px; }
form > button.btn, form > .fld.inline + button.btn { vertical-align:bottom; margin-bottom:10px; }
table.compact td, table.compact th { padding:5px 8px; font-size:13px; }
.state-overdue { color:var(--bad); font-weight:700; } .state-due_soon { color:var(--warn); font-weight:600; }
.warnbox { background:#fff8e1; border:1px solid #f0c36d; padding:8px 12px; border-radius:5px; margin:10px 0; font-size:14px; }
`;

export function CareCss() {
  return <link rel="stylesheet" href="/care/care.css" />;
}

export function SubNav(props: { ctx: PageCtx }) {
  const { ctx } = props;
  const items: [string, string, string][] = [
    ['/care/records', '健康档案', 'Health records'], ['/care/qc', '档案质控', 'Record QC'], ['/care/records/duplicates', '重复档案', 'Duplicates'],
    ['/care/due', '随访管理', 'Follow-ups due'], ['/care/referrals', '双向转诊', 'Referrals'], ['/care/contracts', '家医签约', 'Contracts'],
    ['/care/teams', '团队与服务包', 'Teams & packages'], ['/care/screening', '人群筛查', 'Screening'], ['/care/education', '健康教育', 'Health education'],
    ...(ctx.user?.role === 'clinic_admin' ? [['/care/settings', '公卫设置', 'Settings'] as [string, string, string]] : []),
  ];
  return <nav class="subnav" data-testid="care-subnav">{items.map(([h, zh, en]) => <a href={h} class={ctx.path === h ? 'on' : ''}>{tr(ctx, zh, en)}</a>)}</nav>;
}

export function Msg(props: { error?: string | undefined; notice?: string | undefined; errors?: FieldErrors }) {
  const general = props.errors?._;
  return <>
    {props.error && <div class="error" role="alert" data-testid="error">{props.error}</div>}
    {general && <div class="error" role="alert" data-testid="error">{general}</div>}
    {props.errors && Object.keys(props.errors).filter((k) => k !== '_').length > 0 && <div class="error" role="alert" data-testid="form-error">未保存：请按字段旁的提示修改（共 {Object.keys(props.errors).filter((k) => k !== '_').length} 处），本次没有写入任何数据。
      <ul style="margin:4px 0 0;padding-left:20px;font-size:13px">{Object.entries(props.errors).filter(([k]) => k !== '_').map(([, m]) => <li>{m}</li>)}</ul></div>}
    {props.notice && <div class="notice" data-testid="notice">{props.notice}</div>}
  </>;
}

export function Err(props: { f: FormState; name: string }) {
  const m = props.f.e[props.name];
  return m ? <span class="ferr" data-error-for={props.name}>{m}</span> : null;
}

export function Input(props: { f: FormState; name: string; label: string; type?: string; inline?: boolean; placeholder?: string; style?: string; required?: boolean; step?: string }) {
  const { f, name } = props;
  return (
    <div class={`fld${props.inline ? ' inline' : ''}${f.e[name] ? ' has-error' : ''}`}>
      <label for={name}>{props.label}{props.required ? ' *' : ''}</label>
      <input id={name} name={name} type={props.type ?? 'text'} value={f.v[name] ?? ''} placeholder={props.placeholder} style={props.style} step={props.step} />
      <Err f={f} name={name} />
    </div>
  );
}

export function Select(props: { f: FormState; name: string; label: string; options: readonly (readonly [string, string])[]; inline?: boolean; blank?: boolean; required?: boolean }) {
  const { f, name } = props;
  return (
    <div class={`fld${props.inline ? ' inline' : ''}${f.e[name] ? ' has-error' : ''}`}>
      <label for={name}>{props.label}{props.required ? ' *' : ''}</label>
      <select id={name} name={name}>
        {props.blank !== false && <option value="">—</option>}
        {props.options.map(([v, l]) => <option value={v} selected={f.v[name] === v}>{l}</option>)}
      </select>
      <Err f={f} name={name} />
    </div>
  );
}

export function TextArea(props: { f: FormState; name: string; label: string; placeholder?: string; rows?: number }) {
  const { f, name } = props;
  return (
    <div class={`fld${f.e[name] ? ' has-error' : ''}`}>
      <label for={name}>{props.label}</label>
      <textarea id={name} name={name} placeholder={props.placeholder} rows={props.rows ?? 3}>{f.v[name] ?? ''}</textarea>
      <Err f={f} name={name} />
    </div>
  );
}

/** Multi-choice checkboxes; the form value is the comma-joined list. */
export function Checks(props: { f: FormState; name: string; label: string; options: readonly (readonly [string, string])[] }) {
  const { f, name } = props;
  const sel = new Set((f.v[name] ?? '').split(',').filter(Boolean));
  return (
    <div class={`fld${f.e[name] ? ' has-error' : ''}`}>
      <label>{props.label}</label>
      {props.options.map(([v, l]) => <label class="chk"><input type="checkbox" name={name} value={v} checked={sel.has(v)} />{l}</label>)}
      <Err f={f} name={name} />
    </div>
  );
}

export function Section(props: { title: string; children?: Child; id?: string; testid?: string }) {
  return <div class="card" id={props.id} data-testid={props.testid}><h2 style="font-size:17px;margin:0 0 10px">{props.title}</h2>{props.children}</div>;
}

export const SEX_ZH: Record<string, string> = { '0': '未知', '1': '男', '2': '女', '9': '未说明' };
export const yuan = (fen: number) => (fen / 100).toFixed(2);
