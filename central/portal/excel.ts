/** Excel export of any portal table and import of assessment / population sheets (exceljs). */
import { PassThrough } from 'node:stream';
import ExcelJS from 'exceljs';

export interface Column { key: string; label: string; kind?: 'text' | 'number' | 'percent' | 'yuan' }
export interface TableSpec { id: string; title: string; columns: Column[]; rows: Record<string, unknown>[]; href?: (row: Record<string, unknown>) => string | null }

export async function tablesToXlsx(tables: TableSpec[], meta: { title: string; asOf: string | null; by: string; useStyles?: boolean }): Promise<Buffer> {
  // The streaming writer commits rows as they are added (large exports stay fast and small in memory).
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((res, rej) => { sink.on('end', res); sink.on('error', rej); });
  // Styles (bold/filled header, number formats) cost about a third of the time per cell: large
  // exports (case lists up to 100,000 rows) are written plain.
  const useStyles = meta.useStyles ?? tables.reduce((n, t) => n + t.rows.length, 0) <= 10_000;
  const wb = new ExcelJS.stream.xlsx.WorkbookWriter({ stream: sink, useStyles, useSharedStrings: false });
  wb.creator = meta.by;
  wb.created = new Date();
  const used = new Set<string>();
  for (const t of tables) {
    let name = t.title.replace(/[\\/?*[\]:]/g, ' ').slice(0, 28) || 'Sheet';
    for (let i = 2; used.has(name); i++) name = `${name.slice(0, 25)} ${i}`;
    used.add(name);
    const ws = wb.addWorksheet(name, { views: [{ state: 'frozen', ySplit: 2 }] });
    t.columns.forEach((c, i) => { ws.getColumn(i + 1).width = Math.max(10, Math.min(50, c.label.length * 2 + 4)); });
    const title = ws.addRow([meta.title, meta.asOf ? `数据截至 as of ${meta.asOf}` : '']);
    if (useStyles) title.font = { bold: true };
    title.commit();
    const header = ws.addRow(t.columns.map((c) => c.label));
    if (useStyles) {
      header.font = { bold: true };
      header.eachCell((cell) => { cell.fill = { type: 'pattern', pattern: 'solid', fgColor: { argb: 'FFEEF2F7' } }; });
    }
    header.commit();
    const fmts = useStyles ? t.columns.map((c) => (c.kind === 'percent' ? '0.0%' : c.kind === 'yuan' ? '#,##0.00' : null)) : [];
    for (const r of t.rows) {
      const row = ws.addRow(t.columns.map((c) => {
        const v = r[c.key];
        if (v === null || v === undefined) return null;
        if (c.kind === 'number' || c.kind === 'percent' || c.kind === 'yuan') return typeof v === 'number' ? v : Number(v);
        return typeof v === 'object' ? JSON.stringify(v) : String(v);
      }));
      if (useStyles) fmts.forEach((f, i) => { if (f) row.getCell(i + 1).numFmt = f; });
      row.commit();
    }
    ws.commit();
  }
  await wb.commit();
  await done;
  return Buffer.concat(chunks);
}

/** Rows of the first (or named) sheet as objects keyed by the header row's text. */
export async function readSheet(buf: Buffer, sheet?: string): Promise<Record<string, unknown>[]> {
  const wb = new ExcelJS.Workbook();
  await wb.xlsx.load(buf as unknown as ArrayBuffer);
  const ws = sheet ? wb.getWorksheet(sheet) : wb.worksheets[0];
  if (!ws) throw new Error(sheet ? `sheet ${sheet} not found` : 'workbook has no sheet');
  const headers: string[] = [];
  const out: Record<string, unknown>[] = [];
  ws.eachRow((row, n) => {
    const vals = (row.values as unknown[]).slice(1);
    if (n === 1) { vals.forEach((v, i) => { headers[i] = String(v ?? '').trim(); }); return; }
    const o: Record<string, unknown> = {};
    vals.forEach((v, i) => {
      const h = headers[i];
      if (!h) return;
      o[h] = v && typeof v === 'object' && 'result' in (v as object) ? (v as { result: unknown }).result : v;
    });
    if (Object.values(o).some((v) => v !== null && v !== undefined && v !== '')) out.push(o);
  });
  return out;
}

/** A value by any of several header spellings (Chinese or English). */
export function col(row: Record<string, unknown>, ...names: string[]): unknown {
  for (const n of names) if (row[n] !== undefined) return row[n];
  return undefined;
}
