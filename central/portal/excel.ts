/** Excel export of any portal table and import of assessment / population sheets (exceljs). */
import { PassThrough } from 'node:stream';
import type ExcelJS from 'exceljs';
import { excelJs } from '../../contracts/runtime/lazy-libs.ts';

export interface Column { key: string; label: string; kind?: 'text' | 'number' | 'percent' | 'yuan' }
export interface TableSpec {
  id: string; title: string; columns: Column[]; rows: Record<string, unknown>[]; href?: (row: Record<string, unknown>) => string | null;
  /**
   * For exports: the table's full rows, page by page (e.g. keyset pages straight from the
   * query), written as they come instead of `rows` (which then holds what the page shows).
   */
  source?: () => AsyncIterable<Record<string, unknown>[]>;
}

const BAD_XML = /[&<>"\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/;
const XML_ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' };
function xmlText(v: string): string {
  if (!BAD_XML.test(v)) return v;
  // Characters XML 1.0 cannot carry are dropped (as exceljs does), the rest escaped.
  return v.replace(/[&<>"\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, (c) => XML_ESC[c] ?? '');
}
const EDGE_SPACE = /^\s|\s$/;
function colName(i: number): string {
  let s = '';
  for (let n = i; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}
function cellValue(c: Column, v: unknown): string | number | null {
  if (v === null || v === undefined) return null;
  if (c.kind === 'number' || c.kind === 'percent' || c.kind === 'yuan') return typeof v === 'number' ? v : Number(v);
  return typeof v === 'object' ? JSON.stringify(v) : String(v);
}

/**
 * Sheet XML of plain rows (no styles), what exceljs's streaming writer would produce for them
 * without its per-cell object model: inline strings and numbers, one string per block of rows.
 * The CPU profile of a 100,000-row export had the cell/row models, XML builder and their garbage
 * on top (exceljs's own time ~10x the string building here); the workbook around the rows
 * (parts, relationships, zip) is still exceljs's.
 */
function plainRowsXml(columns: Column[], letters: string[], rows: Record<string, unknown>[], first: number): string {
  let out = '';
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i]!;
    const n = first + i;
    out += `<row r="${n}">`;
    for (let j = 0; j < columns.length; j++) {
      const v = cellValue(columns[j]!, r[columns[j]!.key]);
      if (v === null) continue;
      if (typeof v === 'number') { if (Number.isFinite(v)) out += `<c r="${letters[j]}${n}"><v>${v}</v></c>`; continue; }
      // xml:space only where it matters (leading/trailing white space): a fifth of the sheet's bytes,
      // which are then encoded and deflated.
      out += `<c r="${letters[j]}${n}" t="inlineStr"><is>${EDGE_SPACE.test(v) ? '<t xml:space="preserve">' : '<t>'}${xmlText(v)}</t></is></c>`;
    }
    out += '</row>';
  }
  return out;
}

/** Above this many rows a workbook is written without styles (header fill, number formats) and through the plain row writer. */
export const STYLED_ROWS_MAX = 10_000;

export async function tablesToXlsx(tables: TableSpec[], meta: { title: string; asOf: string | null; by: string; useStyles?: boolean }): Promise<Buffer> {
  // The streaming writer commits rows as they are added (large exports stay fast and small in memory).
  const chunks: Buffer[] = [];
  const sink = new PassThrough();
  sink.on('data', (c: Buffer) => chunks.push(c));
  const done = new Promise<void>((res, rej) => { sink.on('end', res); sink.on('error', rej); });
  // Styles cost about a third of the time per cell: large (or streamed) exports are written plain.
  const useStyles = meta.useStyles ?? (!tables.some((t) => t.source) && tables.reduce((n, t) => n + t.rows.length, 0) <= STYLED_ROWS_MAX);
  // Deflate level 1: a third of the zip time of the default for a few percent more bytes.
  const wb = new (excelJs().stream.xlsx.WorkbookWriter)({ stream: sink, useStyles, useSharedStrings: false, zip: { zlib: { level: 1 } } } as ConstructorParameters<typeof ExcelJS.stream.xlsx.WorkbookWriter>[0]);
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
    const pages: AsyncIterable<Record<string, unknown>[]> | Iterable<Record<string, unknown>[]> = t.source ? t.source() : [t.rows];
    if (useStyles) {
      const fmts = t.columns.map((c) => (c.kind === 'percent' ? '0.0%' : c.kind === 'yuan' ? '#,##0.00' : null));
      for await (const page of pages) {
        for (const r of page) {
          const row = ws.addRow(t.columns.map((c) => cellValue(c, r[c.key])));
          fmts.forEach((f, i) => { if (f) row.getCell(i + 1).numFmt = f; });
          row.commit();
        }
      }
    } else {
      // Header rows are committed (sheet data opened): the rows go straight into the sheet's zip entry.
      const out = (ws as unknown as { stream: { write(s: string): unknown } }).stream;
      const letters = t.columns.map((_, i) => colName(i + 1));
      let next = 3;
      for await (const page of pages) {
        for (let i = 0; i < page.length; i += 1000) {
          const block = page.slice(i, i + 1000);
          out.write(plainRowsXml(t.columns, letters, block, next));
          next += block.length;
        }
      }
    }
    ws.commit();
  }
  await wb.commit();
  await done;
  return Buffer.concat(chunks);
}

/** Rows of the first (or named) sheet as objects keyed by the header row's text. */
export async function readSheet(buf: Buffer, sheet?: string): Promise<Record<string, unknown>[]> {
  const wb = new (excelJs().Workbook)();
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
