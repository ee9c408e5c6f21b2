/** Front-desk statistics: registrations, visits per doctor, income by category and period; Excel export. */
import { excelJs } from '../../contracts/runtime/lazy-libs.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import { CATEGORY_ZH } from './charges.ts';
import { departmentName, type ChargeCategory } from './dict.ts';
import { cached } from './sql.ts';
import { addDays } from './time.ts';

export interface Stats {
  from: string; to: string; groupBy: 'day' | 'month';
  registrations: { total: number; byStatus: Record<string, number>; byDepartment: { code: string; name: string; n: number }[] };
  perDoctor: { doctor: string; name: string; registered: number; finished: number }[];
  byCategory: { category: string; name: string; fen: number }[];
  byPeriod: { period: string; invoices: number; grossFen: number; refundFen: number; netFen: number }[];
}

/** Statistics for local dates from..to (inclusive). Income is net of reversals. */
export function computeStats(db: Db, from: string, to: string, groupBy: 'day' | 'month' = 'day'): Stats {
  const byStatus: Record<string, number> = {};
  let total = 0;
  for (const r of cached(db).prepare<[string, string], { status: string; n: number }>('SELECT status, count(*) AS n FROM his_registrations WHERE visit_date BETWEEN ? AND ? GROUP BY status').all(from, to)) {
    byStatus[r.status] = r.n; total += r.n;
  }
  const live = "status IN ('booked','registered','in-visit','finished')";
  const byDepartment = cached(db).prepare<[string, string], { code: string; n: number }>(`SELECT department_code AS code, count(*) AS n FROM his_registrations WHERE visit_date BETWEEN ? AND ? AND ${live} GROUP BY department_code ORDER BY n DESC`)
    .all(from, to).map((r) => ({ ...r, name: departmentName(db, r.code) }));
  const perDoctor = cached(db).prepare<[string, string], { doctor: string; name: string | null; registered: number; finished: number }>(`SELECT g.doctor_username AS doctor, u.display_name AS name,
      sum(g.status IN ('registered','in-visit','finished')) AS registered, sum(g.status = 'finished') AS finished
    FROM his_registrations g LEFT JOIN users u ON u.username = g.doctor_username WHERE g.visit_date BETWEEN ? AND ? GROUP BY g.doctor_username ORDER BY registered DESC`)
    .all(from, to).map((r) => ({ ...r, name: r.name ?? r.doctor }));
  // Local dates as UTC instants, so that the index on issued_at is used.
  const fromAt = new Date(`${from}T00:00:00`).toISOString();
  const toAt = new Date(`${addDays(to, 1)}T00:00:00`).toISOString();
  const byCategory = cached(db).prepare<[string, string], { category: string; fen: number }>(`SELECT c.category, sum(c.amount_fen) AS fen FROM his_invoices i JOIN his_charges c ON c.invoice_id = i.invoice_id
    WHERE i.issued_at >= ? AND i.issued_at < ? GROUP BY c.category ORDER BY fen DESC`).all(fromAt, toAt)
    .map((r) => ({ ...r, name: CATEGORY_ZH[r.category as ChargeCategory] ?? r.category }));
  const fmt = groupBy === 'month' ? '%Y-%m' : '%Y-%m-%d';
  // The clinic's UTC offset as a fixed modifier: 'localtime' asks the C library per row (slow with a year of invoices).
  // China has no daylight saving time; elsewhere a period boundary may be off by the DST hour.
  const tzShift = `${-new Date(`${to}T12:00:00`).getTimezoneOffset()} minutes`;
  const byPeriod = cached(db).prepare<[string, string, string, string], { period: string; invoices: number; grossFen: number; refundFen: number }>(`SELECT strftime(?, issued_at, ?) AS period,
      sum(kind = 'invoice') AS invoices, sum(CASE WHEN kind = 'invoice' THEN total_fen ELSE 0 END) AS grossFen, -sum(CASE WHEN kind = 'reversal' THEN total_fen ELSE 0 END) AS refundFen
    FROM his_invoices WHERE issued_at >= ? AND issued_at < ? GROUP BY period ORDER BY period`).all(fmt, tzShift, fromAt, toAt)
    .map((r) => ({ ...r, netFen: r.grossFen - r.refundFen }));
  return { from, to, groupBy, registrations: { total, byStatus, byDepartment }, perDoctor, byCategory, byPeriod };
}

/** The statistics as an Excel workbook (one sheet per table, amounts in yuan). */
export async function statsWorkbook(s: Stats): Promise<Buffer> {
  const wb = new (excelJs().Workbook)();
  wb.creator = 'edge-agent his';
  const sheet = (name: string, header: string[], rows: (string | number)[][]) => {
    const ws = wb.addWorksheet(name);
    ws.addRow([`统计期间 ${s.from} 至 ${s.to}`]);
    ws.addRow(header).font = { bold: true };
    for (const r of rows) ws.addRow(r);
    ws.columns.forEach((c) => { c.width = 18; });
  };
  const y = (fen: number) => Math.round(fen) / 100;
  sheet('挂号统计', ['科室', '挂号人次'], s.registrations.byDepartment.map((d) => [d.name, d.n]));
  sheet('医生工作量', ['医生', '挂号人次', '完成就诊'], s.perDoctor.map((d) => [d.name, d.registered, d.finished]));
  sheet('收入分类', ['类别', '金额（元）'], s.byCategory.map((c) => [c.name, y(c.fen)]));
  sheet(s.groupBy === 'month' ? '月收入' : '日收入', ['期间', '发票数', '收入（元）', '退费（元）', '净收入（元）'], s.byPeriod.map((p) => [p.period, p.invoices, y(p.grossFen), y(p.refundFen), y(p.netFen)]));
  return Buffer.from(await wb.xlsx.writeBuffer());
}
