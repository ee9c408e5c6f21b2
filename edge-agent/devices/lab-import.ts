/**
 * Analyser results from a file (CSV or Excel) for analysers without an interface. Parsing
 * never throws on content: every problem becomes an error naming the row and column in
 * Chinese (第 3 行，第 D 列（结果）：…), and the valid rows are imported.
 *
 * Columns (header row, Chinese or English names, any order):
 *   标本号 specimen (required) · 项目代码 test (required: ASTM test id, LOINC code, key or Chinese name)
 *   结果 value (required) · 患者号/身份证号 patient (optional) · 单位 unit (optional, must match the profile)
 *   检测时间 time (optional; default: time of import)
 */
import type ExcelJS from 'exceljs';
import { excelJs } from '../../contracts/runtime/lazy-libs.ts';
import iconv from 'iconv-lite';
import type { DeviceProfile } from '../../device-drivers/index.ts';

export const MAX_IMPORT_BYTES = 5 * 1024 * 1024;
export const MAX_IMPORT_ROWS = 5000;

type Field = 'specimen' | 'patient' | 'test' | 'value' | 'unit' | 'time';
const HEADERS: Record<Field, string[]> = {
  specimen: ['标本号', '标本条码', '条码', '条码号', 'specimen', 'specimenid', 'barcode', 'sampleid'],
  patient: ['患者号', '身份证号', '居民编号', '病人号', 'patient', 'patientid', 'idnumber'],
  test: ['项目代码', '项目', '检验项目', 'test', 'testcode', 'code', 'item'],
  value: ['结果', '数值', '检验结果', 'value', 'result'],
  unit: ['单位', 'unit'],
  time: ['检测时间', '时间', '报告时间', 'time', 'resultedat', 'datetime'],
};
const FIELD_ZH: Record<Field, string> = { specimen: '标本号', patient: '患者号', test: '项目代码', value: '结果', unit: '单位', time: '检测时间' };
const REQUIRED: Field[] = ['specimen', 'test', 'value'];

export interface ImportError {
  /** 1-based row number in the file (the header is row 1); 0 for file-level errors. */
  row: number;
  /** Column letter (A, B, ...) or '' for file-level and row-level errors. */
  col: string;
  message: string;
}

export interface ImportRow {
  row: number;
  specimenId: string;
  patientId?: string;
  quantityKey: string;
  value: string;
  numericValue?: number;
  unit: string;
  /** ISO time; undefined when the file has no time column. */
  at?: string;
}

export interface ParsedImport {
  rows: ImportRow[];
  errors: ImportError[];
  /** Data rows seen (excluding the header and blank rows). */
  total: number;
}

type Cell = string | number | boolean | Date | null;

export function columnLetter(i: number): string {
  let s = '';
  for (let n = i + 1; n > 0; n = Math.floor((n - 1) / 26)) s = String.fromCharCode(65 + ((n - 1) % 26)) + s;
  return s;
}

/** The message format every row error uses: 第 3 行，第 D 列（结果）：… */
export function rowError(row: number, colIndex: number | null, colName: string, message: string): ImportError {
  const col = colIndex === null ? '' : columnLetter(colIndex);
  return { row, col, message: colIndex === null ? `第 ${row} 行：${message}` : `第 ${row} 行，第 ${col} 列（${colName}）：${message}` };
}

/** RFC 4180 CSV (quotes, doubled quotes, CRLF/LF); tolerant: an unclosed quote ends at EOF. */
export function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let q = false;
  const sep = detectSeparator(text);
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (q) {
      if (ch === '"') {
        if (text[i + 1] === '"') { cell += '"'; i++; } else q = false;
      } else cell += ch;
    } else if (ch === '"' && cell === '') q = true;
    else if (ch === sep) { row.push(cell); cell = ''; }
    else if (ch === '\n' || ch === '\r') {
      if (ch === '\r' && text[i + 1] === '\n') i++;
      row.push(cell); out.push(row); row = []; cell = '';
    } else cell += ch;
  }
  if (cell !== '' || row.length > 0) { row.push(cell); out.push(row); }
  return out;
}

/** Excel in a Chinese locale may save with `;` or tabs; pick the separator of the header line. */
function detectSeparator(text: string): string {
  const first = text.slice(0, text.search(/\r|\n|$/));
  const counts = [',', ';', '\t'].map((s) => [s, first.split(s).length] as const);
  return counts.reduce((a, b) => (b[1] > a[1] ? b : a))[0];
}

/** UTF-8 (with or without BOM) or, failing that, GB18030 (what Excel saves on Chinese Windows). */
export function decodeText(buf: Uint8Array): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf).replace(/^\uFEFF/, '');
  } catch {
    return iconv.decode(Buffer.from(buf), 'gb18030');
  }
}

function cellValue(v: ExcelJS.CellValue): Cell {
  if (v === null || v === undefined) return null;
  // Excel stores wall-clock times without a zone and exceljs reads them as UTC: the clinic's local time.
  if (v instanceof Date) return new Date(v.getUTCFullYear(), v.getUTCMonth(), v.getUTCDate(), v.getUTCHours(), v.getUTCMinutes(), v.getUTCSeconds());
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') return v;
  if (typeof v === 'object') {
    if ('richText' in v) return v.richText.map((r) => r.text).join('');
    if ('result' in v) return cellValue((v as { result?: ExcelJS.CellValue }).result ?? null);
    if ('text' in v) return String((v as { text: unknown }).text);
    if ('error' in v) return `#ERROR ${String((v as { error: unknown }).error)}`;
  }
  return String(v);
}

/** First worksheet as rows of cells. Throws only when the file is not a readable workbook. */
export async function readXlsx(buf: Uint8Array): Promise<Cell[][]> {
  const wb = new (excelJs().Workbook)();
  await wb.xlsx.load(Buffer.from(buf) as unknown as ArrayBuffer);
  const ws = wb.worksheets[0];
  if (!ws) return [];
  const rows: Cell[][] = [];
  ws.eachRow({ includeEmpty: true }, (r, n) => {
    const vals = (r.values as ExcelJS.CellValue[]).slice(1);
    rows[n - 1] = vals.map(cellValue);
  });
  for (let i = 0; i < rows.length; i++) rows[i] ??= [];
  return rows;
}

const norm = (s: string) => s.trim().toLowerCase().replace(/[\s_\-（）()]/g, '');

/** Parse "2026-11-28 09:30", "2026/11/28 9:30:05", ISO with offset; local time when no offset. */
export function parseTime(v: Cell): Date | null {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? null : v;
  if (typeof v !== 'string') return null;
  const s = v.trim();
  const m = /^(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:[ T](\d{1,2}):(\d{2})(?::(\d{2}))?)?$/.exec(s);
  if (m) {
    const [y, mo, d, h, mi, se] = [m[1], m[2], m[3], m[4] ?? '0', m[5] ?? '0', m[6] ?? '0'].map(Number) as [number, number, number, number, number, number];
    const dt = new Date(y, mo - 1, d, h, mi, se);
    return dt.getFullYear() === y && dt.getMonth() === mo - 1 && dt.getDate() === d && h < 24 && mi < 60 && se < 60 ? dt : null;
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(s)) {
    const dt = new Date(s);
    return Number.isNaN(dt.getTime()) ? null : dt;
  }
  return null;
}

const text = (v: Cell): string => (v === null ? '' : v instanceof Date ? v.toISOString() : String(v)).trim();

/** Find a profile quantity by key, ASTM test id, LOINC code or Chinese name. */
export function findQuantity(profile: DeviceProfile, t: string) {
  const n = norm(t);
  return profile.quantities.find((q) => norm(q.key) === n || (q.astm && norm(q.astm.testId) === n) || norm(q.code) === n || (q.displayZh && norm(q.displayZh) === n));
}

/** Turn a table (first row = header) into import rows for `profile`, with per-row errors. */
export function parseTable(table: Cell[][], profile: DeviceProfile, now = new Date()): ParsedImport {
  const errors: ImportError[] = [];
  const rows: ImportRow[] = [];
  const headerIdx = table.findIndex((r) => r.some((c) => text(c) !== ''));
  if (headerIdx < 0) return { rows, errors: [{ row: 0, col: '', message: '文件为空：没有表头和数据' }], total: 0 };
  const header = table[headerIdx]!.map((c) => norm(text(c)));
  const col: Partial<Record<Field, number>> = {};
  for (const f of Object.keys(HEADERS) as Field[]) {
    const i = header.findIndex((h) => HEADERS[f].some((name) => norm(name) === h));
    if (i >= 0) col[f] = i;
  }
  const missing = REQUIRED.filter((f) => col[f] === undefined);
  if (missing.length > 0) {
    return { rows, errors: [{ row: headerIdx + 1, col: '', message: `第 ${headerIdx + 1} 行（表头）：缺少必需的列 ${missing.map((f) => `“${FIELD_ZH[f]}”`).join('、')}（可用列名：${REQUIRED.map((f) => HEADERS[f].slice(0, 2).join('/')).join('，')}）` }], total: 0 };
  }
  let total = 0;
  for (let i = headerIdx + 1; i < table.length; i++) {
    const r = table[i] ?? [];
    if (r.every((c) => text(c) === '')) continue;
    total++;
    const rowNo = i + 1;
    if (total > MAX_IMPORT_ROWS) {
      errors.push({ row: rowNo, col: '', message: `第 ${rowNo} 行起未导入：每个文件最多 ${MAX_IMPORT_ROWS} 行，请拆分文件` });
      break;
    }
    const get = (f: Field) => (col[f] === undefined ? null : r[col[f]!] ?? null);
    const err = (f: Field, msg: string) => errors.push(rowError(rowNo, col[f]!, FIELD_ZH[f], msg));
    const before = errors.length;
    const specimenId = text(get('specimen'));
    if (!specimenId) err('specimen', '不能为空');
    else if (specimenId.length > 64) err('specimen', '过长（最多 64 个字符）');
    const testText = text(get('test'));
    const q = testText ? findQuantity(profile, testText) : undefined;
    if (!testText) err('test', '不能为空');
    else if (!q) err('test', `未知项目“${testText.slice(0, 40)}”（${profile.nameZh ?? profile.name} 的项目：${profile.quantities.map((x) => x.astm?.testId ?? x.key).join('、')}）`);
    const raw = get('value');
    const value = typeof raw === 'number' ? String(raw) : text(raw);
    let numericValue: number | undefined;
    if (!value) err('value', '不能为空');
    else if (value.length > 100) err('value', '过长（最多 100 个字符）');
    else if (q && q.dataType !== 'string') {
      const num = Number(value.replace(/^[<>]=?/, ''));
      if (!/^[<>]?=?\s*[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(value) || !Number.isFinite(num)) err('value', `“${value.slice(0, 40)}”不是数字`);
      else numericValue = num;
    }
    const unitText = text(get('unit'));
    if (q && unitText && norm(unitText) !== norm(q.unit)) err('unit', `单位“${unitText.slice(0, 20)}”与项目 ${q.displayZh ?? q.key} 的单位“${q.unit}”不一致`);
    let at: string | undefined;
    if (col.time !== undefined) {
      const tv = get('time');
      if (text(tv) === '') err('time', '不能为空（或删除整列，按导入时间记录）');
      else {
        const d = parseTime(tv);
        if (!d) err('time', `“${text(tv).slice(0, 30)}”不是有效时间（格式 2026-11-28 09:30）`);
        else if (d.getTime() > now.getTime() + 5 * 60_000) err('time', '检测时间晚于当前时间');
        else at = d.toISOString();
      }
    }
    const patientId = text(get('patient'));
    if (patientId.length > 64) err('patient', '过长（最多 64 个字符）');
    if (errors.length > before || !q) continue;
    rows.push({ row: rowNo, specimenId, ...(patientId ? { patientId } : {}), quantityKey: q.key, value, ...(numericValue !== undefined ? { numericValue } : {}), unit: q.unit, ...(at ? { at } : {}) });
  }
  if (total === 0 && errors.length === 0) errors.push({ row: 0, col: '', message: '文件只有表头，没有数据行' });
  return { rows, errors, total };
}

/** Parse an uploaded file: .xlsx (zip signature) or CSV text. Never throws. */
export async function parseImportFile(buf: Uint8Array, profile: DeviceProfile, now = new Date()): Promise<ParsedImport> {
  if (buf.byteLength === 0) return { rows: [], errors: [{ row: 0, col: '', message: '文件为空' }], total: 0 };
  if (buf.byteLength > MAX_IMPORT_BYTES) return { rows: [], errors: [{ row: 0, col: '', message: `文件过大（${(buf.byteLength / 1048576).toFixed(1)} MB，最大 5 MB）` }], total: 0 };
  const isZip = buf[0] === 0x50 && buf[1] === 0x4b;
  if (isZip) {
    try {
      return parseTable(await readXlsx(buf), profile, now);
    } catch (e) {
      return { rows: [], errors: [{ row: 0, col: '', message: `无法读取 Excel 文件（仅支持 .xlsx）：${(e as Error).message.slice(0, 120)}` }], total: 0 };
    }
  }
  if (buf[0] === 0xd0 && buf[1] === 0xcf) return { rows: [], errors: [{ row: 0, col: '', message: '不支持旧版 .xls 文件：请在 Excel 中另存为 .xlsx 或 CSV' }], total: 0 };
  return parseTable(parseCsv(decodeText(buf)), profile, now);
}
