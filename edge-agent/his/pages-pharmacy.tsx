/** Pharmacy pages: dispensing queue, returns, stock with warnings and receipts. */
import { Layout, type PageCtx } from '../web/layout.tsx';
import type { ChargeRow } from './charges.ts';
import type { DictEntry } from './dict.ts';
import { ResultsTable, SearchForm } from './pages-registration.tsx';
import type { QueueEntry } from './pharmacy.ts';
import type { ResidentView } from './residents.ts';
import type { StockOverview } from './stock.ts';
import { localStamp } from './time.ts';
import { Field, Msg, ResidentCard, Style, Tabs, tr, type Errors } from './ui.tsx';

export function PharmacyTabs(props: { ctx: PageCtx }) {
  const t = tr(props.ctx);
  return <Tabs ctx={props.ctx} items={[['/his/pharmacy', t('发药', 'Dispense')], ['/his/pharmacy/returns', t('退药', 'Returns')], ['/his/pharmacy/stock', t('库存/入库', 'Stock')]]} />;
}

export function DispensePage(props: { ctx: PageCtx; queue: QueueEntry[]; warnings: { low: number; nearExpiry: number; expired: number }; error?: string | undefined; notice?: string | undefined }) {
  const t = tr(props.ctx);
  const w = props.warnings;
  return (
    <Layout ctx={props.ctx} title={t('药房发药', 'Pharmacy')}>
      <Style />
      <div class="card">
        <h1>{t('药房发药', 'Pharmacy: dispensing')}</h1>
        <PharmacyTabs ctx={props.ctx} />
        <Msg error={props.error} notice={props.notice} />
        {(w.low > 0 || w.nearExpiry > 0 || w.expired > 0) && (
          <div class="error" role="status" data-testid="stock-warnings" style="background:#fff8e6;border-color:#f0d29a;color:#8a5a00">
            {t('库存提醒', 'Stock')}：{w.low > 0 && <a href="/his/pharmacy/stock">{t(`${w.low} 种药品库存不足`, `${w.low} drug(s) low`)}</a>}{w.low > 0 && (w.nearExpiry > 0 || w.expired > 0) && '；'}
            {w.nearExpiry > 0 && <a href="/his/pharmacy/stock">{t(`${w.nearExpiry} 个批次90天内到期`, `${w.nearExpiry} batch(es) expire within 90 days`)}</a>}{w.expired > 0 && <span class="bad-text">{t(`；${w.expired} 个批次已过期`, `; ${w.expired} expired`)}</span>}
          </div>
        )}
        <h2>{t('待发药', 'Waiting')}（{props.queue.length}）</h2>
        {props.queue.length === 0 && <p class="hint" data-testid="queue-empty">{t('没有待发药的处方。', 'No paid prescriptions waiting.')}</p>}
      </div>
      {props.queue.map((q) => (
        <div class="card queue-card" data-testid="queue-entry">
          <div class="row-between"><h2>{q.residentName} <span class="muted">{t('缴费时间', 'paid')} {localStamp(q.paidAt)}</span></h2></div>
          <form method="post" action="/his/pharmacy/dispense">
            <table>
              <thead><tr><th>{t('药品', 'Drug')}</th><th class="num">{t('应发', 'To give')}</th><th class="num">{t('在架库存', 'On shelf')}</th></tr></thead>
              <tbody>{q.lines.map((l) => (
                <tr><td><input type="hidden" name="chargeId" value={l.charge_id} />{l.item_name}</td><td class="num">{l.remaining}{l.unit}</td>
                  <td class={`num ${l.available < l.remaining ? 'bad-text' : ''}`}>{l.available}{l.unit}</td></tr>
              ))}</tbody>
            </table>
            <button class="btn primary" type="submit" data-testid="dispense" style="margin-top:8px">{t('核对无误，发药', 'Checked: dispense')}</button>
          </form>
        </div>
      ))}
    </Layout>
  );
}

export function ReturnsPage(props: { ctx: PageCtx; q?: string | undefined; kind?: string | undefined; results: ResidentView[]; searchErrors?: Errors | undefined; resident: ResidentView | null;
  lines: (ChargeRow & { dispensed: number })[]; errors?: Errors | undefined; error?: string | undefined; notice?: string | undefined }) {
  const t = tr(props.ctx);
  return (
    <Layout ctx={props.ctx} title={t('退药', 'Returns')}>
      <Style />
      <div class="card">
        <h1>{t('退药', 'Drug returns')}</h1>
        <PharmacyTabs ctx={props.ctx} />
        <Msg error={props.error} notice={props.notice} />
        <SearchForm ctx={props.ctx} action="/his/pharmacy/returns" q={props.q} kind={props.kind} errors={props.searchErrors} />
        <ResultsTable ctx={props.ctx} rows={props.results} q={props.q && !props.searchErrors ? props.q : undefined} href={(x) => `/his/pharmacy/returns?rid=${encodeURIComponent(x.residentId)}`} />
      </div>
      {props.resident && <ResidentCard ctx={props.ctx} r={props.resident} />}
      {props.resident && (
        <div class="card">
          <h2>{t('已发药品（可部分退回，退回后到收费处退费）', 'Dispensed (partial returns allowed; refund at the cashier afterwards)')}</h2>
          {props.lines.length === 0 ? <p class="hint">{t('没有可退的药品。', 'Nothing to return.')}</p> : (
            <form method="post" action="/his/pharmacy/return">
              <input type="hidden" name="residentId" value={props.resident.residentId} />
              <table><thead><tr><th>{t('药品', 'Drug')}</th><th class="num">{t('已发', 'Dispensed')}</th><th>{t('退回数量', 'Return qty')}</th></tr></thead>
                <tbody>{props.lines.map((l) => (
                  <tr><td>{l.item_name}</td><td class="num">{l.dispensed}{l.unit}</td>
                    <td><input name={`qty_${l.charge_id}`} placeholder={`≤ ${l.dispensed}`} style="width:100px;padding:2px 6px" class={props.errors?.[`qty_${l.charge_id}`] ? 'invalid' : ''} data-testid="return-qty" />
                      {props.errors?.[`qty_${l.charge_id}`] && <div class="field-error" role="alert" data-testid="err-return-qty">{props.errors[`qty_${l.charge_id}`]}</div>}</td></tr>
                ))}</tbody></table>
              <button class="btn primary" type="submit" data-testid="return" style="margin-top:8px">{t('确认退药入库', 'Return to stock')}</button>
            </form>
          )}
        </div>
      )}
    </Layout>
  );
}

export function StockPage(props: { ctx: PageCtx; rows: StockOverview[]; drugs: DictEntry[]; form: Record<string, string>; errors?: Errors | undefined; error?: string | undefined; notice?: string | undefined; filter: string }) {
  const t = tr(props.ctx);
  const f = props.form;
  const rows = props.filter === 'warn' ? props.rows.filter((r) => r.low || r.nearExpiry.length > 0) : props.rows;
  return (
    <Layout ctx={props.ctx} title={t('药品库存', 'Stock')}>
      <Style />
      <div class="card">
        <h1>{t('药品库存', 'Drug stock')}</h1>
        <PharmacyTabs ctx={props.ctx} />
        <Msg error={props.error} notice={props.notice} />
        <h2>{t('入库', 'Stock receipt')}</h2>
        <form method="post" action="/his/pharmacy/stock" data-testid="receipt-form">
          <Field label={t('药品编码（本位码）', 'Drug code')} name="drugCode" errors={props.errors} width="300px">
            <input id="f-drugCode" name="drugCode" value={f.drugCode ?? ''} list="drug-list" class={props.errors?.drugCode ? 'invalid' : ''} />
          </Field>
          <datalist id="drug-list">{props.drugs.map((d) => <option value={d.code}>{d.name} {String(d.attrs.spec ?? '')}</option>)}</datalist>
          <Field label={t('批号', 'Batch')} name="batchNo" value={f.batchNo} errors={props.errors} />
          <Field label={t('有效期至', 'Expiry')} name="expiryDate" type="date" value={f.expiryDate} errors={props.errors} />
          <Field label={t('数量', 'Quantity')} name="quantity" value={f.quantity} errors={props.errors} />
          <div class="field"><label>&nbsp;</label><button class="btn primary" type="submit" data-testid="receive">{t('入库', 'Receive')}</button></div>
        </form>
      </div>
      <div class="card">
        <div class="row-between"><h2>{t('库存', 'Stock')}</h2><span class="tabs"><a href="/his/pharmacy/stock" class={props.filter !== 'warn' ? 'on' : ''}>{t('全部', 'All')}</a><a href="/his/pharmacy/stock?filter=warn" class={props.filter === 'warn' ? 'on' : ''}>{t('仅预警', 'Warnings only')}</a></span></div>
        <p class="hint">{t('实际库存 = 台账合计；可用库存 = 实际库存 − 已开单/已收费但未发药的数量。', 'Actual = ledger sum; available = actual − prescribed or paid but not yet dispensed.')}</p>
        <table data-testid="stock">
          <thead><tr><th>{t('药品', 'Drug')}</th><th>{t('规格', 'Spec')}</th><th class="num">{t('实际库存', 'Actual')}</th><th class="num">{t('可用库存', 'Available')}</th><th>{t('预警', 'Warnings')}</th></tr></thead>
          <tbody>{rows.map((r) => (
            <tr data-testid="stock-row"><td>{r.name}{r.volumeProcurement && <span class="badge info" style="margin-left:6px" title={t('国家集中带量采购', 'volume-based procurement')}>{t('集采', 'VBP')}</span>}<div class="muted" style="font-size:12px">{r.drugCode}</div></td>
              <td>{r.spec}</td><td class="num">{r.actual}{r.unit}</td><td class="num">{r.available}{r.unit}</td>
              <td>{r.low && <span class="badge warn">{t('库存不足', 'low')}</span>}{' '}
                {r.nearExpiry.map((b) => <span class={`badge ${b.expired ? 'bad' : 'warn'}`} style="margin:1px">{b.expired ? t('已过期', 'expired') : t('近效期', 'expiring')} {b.batchNo} {b.expiryDate} ×{b.quantity}</span>)}</td></tr>
          ))}</tbody>
        </table>
      </div>
    </Layout>
  );
}
