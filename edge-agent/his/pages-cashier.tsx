/** Cashier pages: pending lines and payment, paid lines and refunds by reversal, invoice print, daily settlement. */
import { Layout, type PageCtx } from '../web/layout.tsx';
import { CATEGORY_ZH, PAYMENT_METHOD_ZH, type ChargeRow, type InvoiceRow, type PaymentMethod } from './charges.ts';
import type { ChargeCategory } from './dict.ts';
import { payOptions, ResultsTable, SearchForm } from './pages-registration.tsx';
import type { ResidentView } from './residents.ts';
import type { SettlementTotals } from './settlement.ts';
import { localStamp } from './time.ts';
import { Field, money, Msg, ResidentCard, Select, Style, Tabs, tr, type Errors } from './ui.tsx';

export type PaidLine = ChargeRow & { refundable: number; refunded: number; dispensed: number; invoice_no: string };

const cat = (ctx: PageCtx, c: string) => (ctx.lang === 'en' ? c : CATEGORY_ZH[c as ChargeCategory] ?? c);

export function CashierTabs(props: { ctx: PageCtx }) {
  const t = tr(props.ctx);
  return <Tabs ctx={props.ctx} items={[['/his/cashier', t('收费', 'Charges')], ['/his/cashier/settlement', t('日结', 'Daily settlement')]]} />;
}

export function CashierPage(props: { ctx: PageCtx; q?: string | undefined; kind?: string | undefined; results: ResidentView[]; searchErrors?: Errors | undefined; resident: ResidentView | null;
  pending: ChargeRow[]; paid: PaidLine[]; invoices: InvoiceRow[]; visits?: Map<string, string>; waiting: { resident_id: string; name: string; n: number; fen: number }[]; errors?: Errors | undefined; error?: string | undefined; notice?: string | undefined }) {
  const t = tr(props.ctx);
  const r = props.resident;
  const total = props.pending.reduce((s, c) => s + c.amount_fen, 0);
  return (
    <Layout ctx={props.ctx} title={t('收费', 'Cashier')}>
      <Style />
      <div class="card">
        <h1>{t('门诊收费', 'Outpatient cashier')}</h1>
        <CashierTabs ctx={props.ctx} />
        <Msg error={props.error} notice={props.notice} />
        <SearchForm ctx={props.ctx} action="/his/cashier" q={props.q} kind={props.kind} errors={props.searchErrors} />
        <ResultsTable ctx={props.ctx} rows={props.results} q={props.q && !props.searchErrors ? props.q : undefined} href={(x) => `/his/cashier?rid=${encodeURIComponent(x.residentId)}`} />
        {!r && props.waiting.length > 0 && (
          <>
            <h2>{t('待收费', 'Waiting to pay')}</h2>
            <table data-testid="waiting"><thead><tr><th>{t('姓名', 'Name')}</th><th class="num">{t('项目数', 'Lines')}</th><th class="num">{t('金额', 'Amount')}</th><th></th></tr></thead>
              <tbody>{props.waiting.map((w) => <tr><td>{w.name}</td><td class="num">{w.n}</td><td class="num">{money(w.fen)}</td><td><a class="btn small" href={`/his/cashier?rid=${encodeURIComponent(w.resident_id)}`}>{t('收费', 'Charge')}</a></td></tr>)}</tbody></table>
          </>
        )}
      </div>
      {r && <ResidentCard ctx={props.ctx} r={r} />}
      {r && (
        <div class="card" data-testid="pending-card">
          <h2>{t('待收费项目', 'Pending lines')}</h2>
          {props.pending.length === 0 ? <p class="hint">{t('没有待收费项目。', 'Nothing to pay.')}</p> : (
            <form method="post" action="/his/cashier/pay">
              <input type="hidden" name="residentId" value={r.residentId} />
              <table data-testid="pending">
                <thead><tr><th></th><th>{t('项目', 'Item')}</th><th>{t('类别', 'Category')}</th><th class="num">{t('数量', 'Qty')}</th><th class="num">{t('单价', 'Price')}</th><th class="num">{t('金额', 'Amount')}</th><th>{t('开单', 'Ordered by')}</th><th>{t('就诊', 'Visit')}</th></tr></thead>
                <tbody>
                  {props.pending.map((c) => (
                    <tr><td><input type="checkbox" name="chargeId" value={c.charge_id} checked style="width:auto" /></td><td>{c.item_name}</td><td>{cat(props.ctx, c.category)}</td>
                      <td class="num">{c.quantity}{c.unit}</td><td class="num">{money(c.unit_price_fen)}</td><td class="num">{money(c.amount_fen)}</td><td>{c.created_by}</td><td class="muted" style="font-size:13px">{c.registration_id ? props.visits?.get(c.registration_id) ?? '' : ''}</td></tr>
                  ))}
                  <tr class="total"><td></td><td colspan={4}>{t('合计', 'Total')}</td><td class="num" data-testid="pending-total">{money(total)}</td><td></td><td></td></tr>
                </tbody>
              </table>
              {props.errors?.chargeIds && <div class="field-error" role="alert">{props.errors.chargeIds}</div>}
              <div style="margin-top:10px">
                <Field label={t('支付方式', 'Payment')} name="paymentMethod" errors={props.errors}><Select name="paymentMethod" value="cash" options={payOptions()} errors={props.errors} /></Field>
                <div class="field"><label>&nbsp;</label><button class="btn primary" type="submit" data-testid="pay">{t('收费并打印票据', 'Charge and print')}</button></div>
              </div>
            </form>
          )}
        </div>
      )}
      {r && props.paid.length > 0 && (
        <div class="card" data-testid="paid-card">
          <h2>{t('已收费项目（退费以冲账方式进行，原票据保留）', 'Paid lines (refunds are reversal entries; the original invoice is kept)')}</h2>
          <form method="post" action="/his/cashier/refund">
            <input type="hidden" name="residentId" value={r.residentId} />
            <table data-testid="paid">
              <thead><tr><th>{t('票据号', 'Invoice')}</th><th>{t('项目', 'Item')}</th><th class="num">{t('数量', 'Qty')}</th><th class="num">{t('金额', 'Amount')}</th><th class="num">{t('已发药', 'Dispensed')}</th><th class="num">{t('已退', 'Refunded')}</th><th>{t('退费数量', 'Refund qty')}</th></tr></thead>
              <tbody>{props.paid.map((c) => (
                <tr><td>{c.invoice_no}</td><td>{c.item_name}</td><td class="num">{c.quantity}{c.unit}</td><td class="num">{money(c.amount_fen)}</td>
                  <td class="num">{c.dispensable ? c.dispensed : '-'}</td><td class="num">{c.refunded || ''}</td>
                  <td>{c.refundable > 0 ? <input name={`qty_${c.charge_id}`} value="" placeholder={`≤ ${c.refundable}`} style="width:90px;padding:2px 6px" data-testid="refund-qty" />
                    : c.dispensable && c.dispensed > 0 ? <span class="warn-text">{t('已发药，需先到药房退药', 'dispensed: return at pharmacy first')}</span> : <span class="muted">-</span>}
                    {props.errors?.[`qty_${c.charge_id}`] && <div class="field-error" role="alert">{props.errors[`qty_${c.charge_id}`]}</div>}</td></tr>
              ))}</tbody>
            </table>
            <Field label={t('退费原因', 'Reason')} name="reason" errors={props.errors} width="320px" />
            <div class="field"><label>&nbsp;</label><button class="btn danger" type="submit" data-testid="refund">{t('退费（冲账）', 'Refund (reversal)')}</button></div>
          </form>
        </div>
      )}
      {r && props.invoices.length > 0 && (
        <div class="card">
          <h2>{t('票据', 'Invoices')}</h2>
          <InvoiceList ctx={props.ctx} rows={props.invoices} />
        </div>
      )}
    </Layout>
  );
}

export function InvoiceList(props: { ctx: PageCtx; rows: InvoiceRow[] }) {
  const t = tr(props.ctx);
  return (
    <table data-testid="invoices">
      <thead><tr><th>{t('票据号', 'No.')}</th><th>{t('类型', 'Kind')}</th><th>{t('时间', 'Time')}</th><th class="num">{t('金额', 'Amount')}</th><th>{t('支付方式', 'Payment')}</th><th>{t('收费员', 'Cashier')}</th><th></th></tr></thead>
      <tbody>{props.rows.map((i) => (
        <tr><td>{i.invoice_no}</td><td>{i.kind === 'reversal' ? <span class="badge bad">{t('冲账', 'reversal')}</span> : <span class="badge ok">{t('收费', 'invoice')}</span>}</td><td>{localStamp(i.issued_at)}</td>
          <td class="num">{money(i.total_fen)}</td><td>{PAYMENT_METHOD_ZH[i.payment_method]}</td><td>{i.cashier}</td><td><a class="btn small" href={`/his/cashier/invoices/${i.invoice_id}`}>{t('查看/打印', 'View/print')}</a></td></tr>
      ))}</tbody>
    </table>
  );
}

export function InvoicePage(props: { ctx: PageCtx; clinicName: string; inv: InvoiceRow; lines: ChargeRow[]; resident: ResidentView | null; original: InvoiceRow | null; notice?: string | undefined }) {
  const t = tr(props.ctx);
  const i = props.inv;
  return (
    <Layout ctx={props.ctx} title={`${t('票据', 'Invoice')} ${i.invoice_no}`}>
      <Style />
      <Msg notice={props.notice} />
      <div class="card" data-testid="invoice" style="max-width:720px;margin:0 auto 18px">
        <h1 style="text-align:center">{props.clinicName} {i.kind === 'reversal' ? t('门诊收费票据（冲账）', 'Receipt (reversal)') : t('门诊收费票据', 'Outpatient receipt')}</h1>
        <div class="kv"><span>{t('票据号', 'No.')}：<b data-testid="invoice-no">{i.invoice_no}</b></span><span>{t('姓名', 'Name')}：{props.resident?.name ?? i.resident_id}</span>
          <span>{t('时间', 'Time')}：{localStamp(i.issued_at)}</span><span>{t('收费员', 'Cashier')}：{i.cashier}</span><span>{t('支付方式', 'Payment')}：{PAYMENT_METHOD_ZH[i.payment_method as PaymentMethod]}</span>
          {props.original && <span>{t('冲销原票据', 'Reverses')}：{props.original.invoice_no}</span>}{i.reason && <span>{t('原因', 'Reason')}：{i.reason}</span>}</div>
        <table style="margin-top:10px">
          <thead><tr><th>{t('项目', 'Item')}</th><th>{t('类别', 'Category')}</th><th class="num">{t('数量', 'Qty')}</th><th class="num">{t('单价', 'Price')}</th><th class="num">{t('金额', 'Amount')}</th></tr></thead>
          <tbody>{props.lines.map((l) => <tr><td>{l.item_name}</td><td>{cat(props.ctx, l.category)}</td><td class="num">{l.quantity}{l.unit}</td><td class="num">{money(l.unit_price_fen)}</td><td class="num">{money(l.amount_fen)}</td></tr>)}
            <tr class="total"><td colspan={4}>{t('合计', 'Total')}</td><td class="num" data-testid="invoice-total">{money(i.total_fen)}</td></tr></tbody>
        </table>
      </div>
      <div class="no-print" style="text-align:center"><button class="btn primary" type="button" data-print>{t('打印', 'Print')}</button> <a class="btn" href={`/his/cashier?rid=${encodeURIComponent(i.resident_id)}`}>{t('返回', 'Back')}</a></div>
    </Layout>
  );
}

export function SettlementPage(props: { ctx: PageCtx; cashier: string; cashiers: string[]; p: SettlementTotals; recent: { settlement_id: string; cashier: string; date: string; invoice_count: number; reversal_count: number; gross_fen: number; refund_fen: number; net_fen: number; settled_at: string }[];
  canSettleOthers: boolean; error?: string | undefined; notice?: string | undefined }) {
  const t = tr(props.ctx);
  const p = props.p;
  return (
    <Layout ctx={props.ctx} title={t('日结', 'Daily settlement')}>
      <Style />
      <div class="card">
        <h1>{t('收费员日结', 'Cashier daily settlement')}</h1>
        <CashierTabs ctx={props.ctx} />
        <Msg error={props.error} notice={props.notice} />
        {props.canSettleOthers && (
          <form method="get" action="/his/cashier/settlement" class="inline-form"><Field label={t('收费员', 'Cashier')} name="cashier"><Select name="cashier" value={props.cashier} options={props.cashiers.map((c) => [c, c])} /></Field><div class="field"><button class="btn" type="submit">{t('查看', 'Show')}</button></div></form>
        )}
        <h2>{t('未日结', 'Not yet settled')}：{props.cashier}</h2>
        <div class="grid">
          <div class="stat"><div class="label">{t('收费票据', 'Invoices')}</div><div class="value" data-testid="st-count">{p.invoiceCount}</div></div>
          <div class="stat"><div class="label">{t('冲账票据', 'Reversals')}</div><div class="value">{p.reversalCount}</div></div>
          <div class="stat"><div class="label">{t('收入', 'Gross')}</div><div class="value">{money(p.grossFen)}</div></div>
          <div class="stat"><div class="label">{t('退费', 'Refunds')}</div><div class="value">{money(p.refundFen)}</div></div>
          <div class="stat"><div class="label">{t('应缴', 'Net')}</div><div class="value" data-testid="st-net">{money(p.netFen)}</div></div>
        </div>
        {p.firstInvoiceNo && <p class="hint">{t('票据号', 'Invoice numbers')} {p.firstInvoiceNo ?? '-'} — {p.lastInvoiceNo ?? '-'} · {p.fromAt ? localStamp(p.fromAt) : ''} — {p.toAt ? localStamp(p.toAt) : ''}</p>}
        <div class="grid">
          <table><thead><tr><th>{t('支付方式', 'Payment')}</th><th class="num">{t('金额', 'Amount')}</th></tr></thead><tbody>{Object.entries(p.byMethod).map(([m, f]) => <tr><td>{PAYMENT_METHOD_ZH[m as PaymentMethod] ?? m}</td><td class="num">{money(f)}</td></tr>)}</tbody></table>
          <table><thead><tr><th>{t('类别', 'Category')}</th><th class="num">{t('金额', 'Amount')}</th></tr></thead><tbody>{Object.entries(p.byCategory).map(([c, f]) => <tr><td>{cat(props.ctx, c)}</td><td class="num">{money(f)}</td></tr>)}</tbody></table>
        </div>
        <form method="post" action="/his/cashier/settlement" class="no-print"><input type="hidden" name="cashier" value={props.cashier} />
          <button class="btn primary" type="submit" disabled={p.invoiceIds.length === 0} data-testid="settle" style="margin-top:12px">{t('确认日结', 'Settle')}</button></form>
      </div>
      <div class="card">
        <h2>{t('日结记录', 'Settlements')}</h2>
        <table><thead><tr><th>{t('日期', 'Date')}</th><th>{t('收费员', 'Cashier')}</th><th class="num">{t('票据', 'Invoices')}</th><th class="num">{t('冲账', 'Reversals')}</th><th class="num">{t('收入', 'Gross')}</th><th class="num">{t('退费', 'Refunds')}</th><th class="num">{t('应缴', 'Net')}</th><th>{t('日结时间', 'Settled at')}</th></tr></thead>
          <tbody>{props.recent.map((s) => <tr><td>{s.date}</td><td>{s.cashier}</td><td class="num">{s.invoice_count}</td><td class="num">{s.reversal_count}</td><td class="num">{money(s.gross_fen)}</td><td class="num">{money(s.refund_fen)}</td><td class="num">{money(s.net_fen)}</td><td>{localStamp(s.settled_at)}</td></tr>)}</tbody></table>
      </div>
    </Layout>
  );
}
