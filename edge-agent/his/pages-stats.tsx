/** Statistics page: registrations, visits per doctor, income by category and by day/month, Excel export. */
import { Layout, type PageCtx } from '../web/layout.tsx';
import { registrationStatusZh, type RegistrationStatus } from './registrations.ts';
import type { Stats } from './stats.ts';
import { Field, money, Select, Style, tr } from './ui.tsx';

export function StatsPage(props: { ctx: PageCtx; s: Stats; error?: string | undefined }) {
  const t = tr(props.ctx);
  const s = props.s;
  const q = `from=${s.from}&to=${s.to}&groupBy=${s.groupBy}`;
  const income = s.byCategory.reduce((a, c) => a + c.fen, 0);
  return (
    <Layout ctx={props.ctx} title={t('统计', 'Statistics')}>
      <Style />
      <div class="card">
        <div class="row-between"><h1>{t('门诊统计', 'Outpatient statistics')}</h1><a class="btn" href={`/his/stats/export.xlsx?${q}`} data-testid="export">{t('导出 Excel', 'Export to Excel')}</a></div>
        {props.error && <div class="error" role="alert">{props.error}</div>}
        <form method="get" action="/his/stats" class="inline-form">
          <Field label={t('开始日期', 'From')} name="from" type="date" value={s.from} />
          <Field label={t('结束日期', 'To')} name="to" type="date" value={s.to} />
          <Field label={t('汇总', 'Group by')} name="groupBy"><Select name="groupBy" value={s.groupBy} options={[['day', t('按日', 'day')], ['month', t('按月', 'month')]]} /></Field>
          <div class="field"><button class="btn primary" type="submit">{t('统计', 'Show')}</button></div>
        </form>
        <div class="grid">
          <div class="stat"><div class="label">{t('挂号人次', 'Registrations')}</div><div class="value" data-testid="stat-registrations">{s.registrations.total - (s.registrations.byStatus.cancelled ?? 0) - (s.registrations.byStatus.refunded ?? 0)}</div></div>
          <div class="stat"><div class="label">{t('完成就诊', 'Visits finished')}</div><div class="value">{s.registrations.byStatus.finished ?? 0}</div></div>
          <div class="stat"><div class="label">{t('退号/取消', 'Cancelled')}</div><div class="value">{(s.registrations.byStatus.cancelled ?? 0) + (s.registrations.byStatus.refunded ?? 0)}</div></div>
          <div class="stat"><div class="label">{t('净收入', 'Net income')}</div><div class="value" data-testid="stat-income">{money(income)}</div></div>
        </div>
      </div>
      <div class="grid">
        <div class="card"><h2>{t('各科室挂号', 'By department')}</h2>
          <table><thead><tr><th>{t('科室', 'Department')}</th><th class="num">{t('人次', 'n')}</th></tr></thead><tbody>{s.registrations.byDepartment.map((d) => <tr><td>{d.name}</td><td class="num">{d.n}</td></tr>)}</tbody></table>
          <p class="hint">{Object.entries(s.registrations.byStatus).map(([k, v]) => `${registrationStatusZh(k as RegistrationStatus)} ${v}`).join(' · ')}</p></div>
        <div class="card"><h2>{t('医生工作量', 'Visits per doctor')}</h2>
          <table data-testid="per-doctor"><thead><tr><th>{t('医生', 'Doctor')}</th><th class="num">{t('挂号', 'Registered')}</th><th class="num">{t('完成', 'Finished')}</th></tr></thead><tbody>{s.perDoctor.map((d) => <tr><td>{d.name}</td><td class="num">{d.registered}</td><td class="num">{d.finished}</td></tr>)}</tbody></table></div>
      </div>
      <div class="grid">
        <div class="card"><h2>{t('收入分类（扣除退费）', 'Income by category (net of refunds)')}</h2>
          <table data-testid="by-category"><thead><tr><th>{t('类别', 'Category')}</th><th class="num">{t('金额', 'Amount')}</th></tr></thead><tbody>{s.byCategory.map((c) => <tr><td>{c.name}</td><td class="num">{money(c.fen)}</td></tr>)}
            <tr class="total"><td>{t('合计', 'Total')}</td><td class="num">{money(income)}</td></tr></tbody></table></div>
        <div class="card"><h2>{s.groupBy === 'month' ? t('月收入', 'By month') : t('日收入', 'By day')}</h2>
          <table><thead><tr><th>{t('期间', 'Period')}</th><th class="num">{t('票据', 'Invoices')}</th><th class="num">{t('收入', 'Gross')}</th><th class="num">{t('退费', 'Refunds')}</th><th class="num">{t('净收入', 'Net')}</th></tr></thead>
            <tbody>{s.byPeriod.map((p) => <tr><td>{p.period}</td><td class="num">{p.invoices}</td><td class="num">{money(p.grossFen)}</td><td class="num">{money(p.refundFen)}</td><td class="num">{money(p.netFen)}</td></tr>)}</tbody></table></div>
      </div>
    </Layout>
  );
}
