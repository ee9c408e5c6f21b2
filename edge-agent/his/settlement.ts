/**
 * Daily settlement (日结) of one cashier: everything the cashier issued and has not yet
 * settled, totalled from the append-only invoices (reversals count negative). Settling
 * stamps those invoices with the settlement id (the only change their trigger allows).
 */
import { uuidv7 } from '../../contracts/ids.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Tx } from '../store/store.ts';
import { HisError } from './errors.ts';
import { localDate } from './time.ts';

export interface SettlementTotals {
  cashier: string; fromAt: string | null; toAt: string | null; invoiceCount: number; reversalCount: number; firstInvoiceNo: string | null; lastInvoiceNo: string | null;
  grossFen: number; refundFen: number; netFen: number; byMethod: Record<string, number>; byCategory: Record<string, number>; invoiceIds: string[];
}

/** Totals of a cashier's unsettled invoices (nothing written). */
export function settlementPreview(db: Db, cashier: string): SettlementTotals {
  const inv = db.prepare<[string], { invoice_id: string; invoice_no: string; kind: string; total_fen: number; payment_method: string; issued_at: string }>(
    'SELECT invoice_id, invoice_no, kind, total_fen, payment_method, issued_at FROM his_invoices WHERE cashier = ? AND settlement_id IS NULL ORDER BY seq').all(cashier);
  const byMethod: Record<string, number> = {};
  let gross = 0; let refund = 0; let nInv = 0; let nRev = 0;
  for (const i of inv) {
    if (i.kind === 'invoice') { gross += i.total_fen; nInv++; } else { refund += -i.total_fen; nRev++; }
    byMethod[i.payment_method] = (byMethod[i.payment_method] ?? 0) + i.total_fen;
  }
  const byCategory: Record<string, number> = {};
  for (const r of db.prepare<[string], { category: string; a: number }>(`SELECT c.category, sum(c.amount_fen) AS a FROM his_charges c JOIN his_invoices i ON i.invoice_id = c.invoice_id
    WHERE i.cashier = ? AND i.settlement_id IS NULL GROUP BY c.category ORDER BY c.category`).all(cashier)) byCategory[r.category] = r.a;
  return {
    cashier, fromAt: inv[0]?.issued_at ?? null, toAt: inv.at(-1)?.issued_at ?? null, invoiceCount: nInv, reversalCount: nRev,
    firstInvoiceNo: inv[0]?.invoice_no ?? null, lastInvoiceNo: inv.at(-1)?.invoice_no ?? null, grossFen: gross, refundFen: refund, netFen: gross - refund,
    byMethod, byCategory, invoiceIds: inv.map((i) => i.invoice_id),
  };
}

/** Close the cashier's day: write the settlement, stamp the invoices, replicate. */
export function settle(tx: Tx, cashier: string, settledBy: string): SettlementTotals & { settlementId: string } {
  const p = settlementPreview(tx.db, cashier);
  if (!p.invoiceIds.length) throw new HisError('cashier', '没有未日结的收费记录 / nothing to settle', 409);
  const settlementId = uuidv7();
  const now = new Date().toISOString();
  const date = localDate();
  tx.db.prepare(`INSERT INTO his_settlements (settlement_id, cashier, date, from_at, to_at, invoice_count, reversal_count, gross_fen, refund_fen, net_fen, detail, settled_by, settled_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(settlementId, cashier, date, p.fromAt, p.toAt, p.invoiceCount, p.reversalCount, p.grossFen, p.refundFen, p.netFen,
    JSON.stringify({ byMethod: p.byMethod, byCategory: p.byCategory, firstInvoiceNo: p.firstInvoiceNo, lastInvoiceNo: p.lastInvoiceNo }), settledBy, now);
  const stamp = tx.db.prepare('UPDATE his_invoices SET settlement_id = ? WHERE invoice_id = ? AND settlement_id IS NULL');
  for (const id of p.invoiceIds) stamp.run(settlementId, id);
  tx.emit('settlement', settlementId, {
    settlementId, cashier, date, fromAt: p.fromAt!, toAt: p.toAt!, invoiceCount: p.invoiceCount, reversalCount: p.reversalCount,
    ...(p.firstInvoiceNo ? { firstInvoiceNo: p.firstInvoiceNo } : {}), ...(p.lastInvoiceNo ? { lastInvoiceNo: p.lastInvoiceNo } : {}),
    grossFen: p.grossFen, refundFen: p.refundFen, netFen: p.netFen, byMethod: p.byMethod, byCategory: p.byCategory, settledBy, settledAt: now,
  });
  return { ...p, settlementId };
}

export function recentSettlements(db: Db, limit = 30): { settlement_id: string; cashier: string; date: string; invoice_count: number; reversal_count: number; gross_fen: number; refund_fen: number; net_fen: number; settled_at: string }[] {
  return db.prepare<[number], { settlement_id: string; cashier: string; date: string; invoice_count: number; reversal_count: number; gross_fen: number; refund_fen: number; net_fen: number; settled_at: string }>(
    'SELECT * FROM his_settlements ORDER BY settled_at DESC LIMIT ?').all(limit);
}
