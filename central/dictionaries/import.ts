/**
 * Dictionary import from CSV or Excel (.xlsx): parse, validate every cell, and build the next
 * version of a dictionary. Nothing is published when any row is invalid; every error names its
 * spreadsheet row (the header is row 1) and column.
 *
 * Columns: `code`, `name`, optional `active`, plus the dictionary's attributes (`ATTRIBUTES`).
 * Headers may be given in English or Chinese (编码, 名称, 启用, ...). CSV may be UTF-8 (with or
 * without BOM) or GB18030/GBK as saved by Excel on Chinese Windows.
 *
 * Modes: `replace` (the file is the whole dictionary; codes no longer listed are kept but
 * deactivated, so history that refers to them stays readable) or `merge` (rows add or update
 * items of the latest version).
 */
import type ExcelJS from 'exceljs';
import { excelJs } from '../../contracts/runtime/lazy-libs.ts';
import iconv from 'iconv-lite';
import type { DictionaryItem, DictionaryName } from '../../contracts/index.ts';
import { drugCodeCheckDigit } from './starter.ts';

type AttrType = { kind: 'string'; max?: number; pattern?: RegExp; hint?: string } | { kind: 'int'; min?: number } | { kind: 'number' } | { kind: 'bool' } | { kind: 'enum'; values: string[] };

export interface AttrDef { key: string; zh: string; type: AttrType; required?: boolean }

const text = (max = 200): AttrType => ({ kind: 'string', max });

/** Attribute columns per dictionary (the keys of `DictionaryItem.attrs`). */
export const ATTRIBUTES: Record<DictionaryName, AttrDef[]> = {
  departments: [{ key: 'en', zh: '英文名称', type: text(100) }],
  staff: [
    { key: 'role', zh: '角色', type: { kind: 'enum', values: ['doctor', 'nurse', 'pharmacist', 'lab_technician', 'imaging_technician', 'registrar', 'cashier', 'device_technician', 'clinic_admin'] }, required: true },
    { key: 'department', zh: '科室', type: text(64), required: true },
    { key: 'title', zh: '职称', type: text(50) },
  ],
  icd10: [{ key: 'insurance', zh: '医保编码', type: { kind: 'string', max: 20, pattern: /^[A-Z]\d{2}(\.[0-9A-Za-z]{1,4})?$/, hint: 'an ICD-10 code such as E11.900' } }],
  drugs: [
    { key: 'spec', zh: '规格', type: text(100), required: true },
    { key: 'unit', zh: '单位', type: text(20), required: true },
    { key: 'route', zh: '给药途径', type: text(20) },
    { key: 'priceFen', zh: '价格(分)', type: { kind: 'int', min: 0 }, required: true },
    { key: 'volumeProcurement', zh: '带量采购', type: { kind: 'bool' } },
    { key: 'annualQuantity', zh: '约定采购量', type: { kind: 'int', min: 0 } },
    { key: 'category', zh: '药品类别', type: { kind: 'enum', values: ['western_drug', 'patent_drug', 'tcm_drug'] } },
  ],
  charge_items: [
    { key: 'priceFen', zh: '价格(分)', type: { kind: 'int', min: 0 }, required: true },
    { key: 'unit', zh: '计价单位', type: text(20) },
    { key: 'category', zh: '收费类别', type: { kind: 'enum', values: ['registration', 'exam', 'lab', 'imaging', 'treatment', 'drug', 'material', 'other'] } },
  ],
};

/** Code rules per dictionary (beyond 1-64 characters). */
const CODE_RULES: Partial<Record<DictionaryName, (code: string) => string | null>> = {
  icd10: (c) => (/^[A-Z]\d{2}(\.[0-9A-Za-z]{1,4})?$/.test(c) ? null : 'not an ICD-10 code (letter, two digits, optional .extension, e.g. I10.x00)'),
  drugs: (c) => {
    if (!/^869\d{11}$/.test(c)) return 'national drug code must be 14 digits starting 869';
    return drugCodeCheckDigit(c.slice(0, 13)) === c[13] ? null : `check digit should be ${drugCodeCheckDigit(c.slice(0, 13))}`;
  },
  charge_items: (c) => (/^[0-9A-Za-z-]{1,20}$/.test(c) ? null : 'charge item codes are letters, digits and "-" (up to 20)'),
};

const HEADER_ALIASES: Record<string, string> = { 编码: 'code', 代码: 'code', 名称: 'name', 启用: 'active', 有效: 'active', 状态: 'active' };

export interface ImportError { row: number; column: string; message: string }

export class ImportFailed extends Error {
  constructor(readonly errors: ImportError[]) {
    super(`${errors.length} error(s): ${errors.slice(0, 3).map((e) => `row ${e.row} ${e.column}: ${e.message}`).join('; ')}`);
  }
}

export type Cell = string | number | boolean | Date | null;
export interface Sheet { headers: string[]; rows: { row: number; cells: Cell[] }[] }

export const MAX_ROWS = 100_000;

// ---- CSV ----

/** Decode CSV bytes: UTF-8 (BOM stripped) unless the bytes are not valid UTF-8, then GB18030. */
export function decodeCsv(buf: Uint8Array): string {
  let s: string;
  try {
    s = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    s = iconv.decode(Buffer.from(buf), 'gb18030');
  }
  return s.replace(/^\uFEFF/, '');
}

/** RFC 4180 CSV (quotes, doubled quotes, CR/LF); comma or tab separated (guessed from the header). */
export function parseCsv(textIn: string): Sheet {
  const firstLine = textIn.slice(0, textIn.search(/\r?\n|$/));
  const sep = firstLine.includes('\t') && !firstLine.includes(',') ? '\t' : ',';
  const records: { row: number; cells: string[] }[] = [];
  let cells: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let startLine = 1;
  let i = 0;
  const endField = () => { cells.push(field); field = ''; };
  const endRecord = () => { endField(); records.push({ row: startLine, cells }); cells = []; startLine = line; };
  while (i < textIn.length) {
    const ch = textIn[i]!;
    if (quoted) {
      if (ch === '"') {
        if (textIn[i + 1] === '"') { field += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      if (ch === '\n') line++;
      field += ch; i++; continue;
    }
    if (ch === '"' && field === '') { quoted = true; i++; continue; }
    if (ch === sep) { endField(); i++; continue; }
    if (ch === '\r' && textIn[i + 1] === '\n') { i++; continue; }
    if (ch === '\n') { line++; endRecord(); i++; continue; }
    field += ch; i++;
  }
  if (quoted) throw new ImportFailed([{ row: startLine, column: '-', message: 'unterminated quoted field' }]);
  if (field !== '' || cells.length) endRecord();
  const nonEmpty = records.filter((r) => r.cells.some((c) => c.trim() !== ''));
  const [head, ...rows] = nonEmpty;
  return { headers: (head?.cells ?? []).map((h) => h.trim()), rows: rows.map((r) => ({ row: r.row, cells: r.cells })) };
}

// ---- Excel ----

function cellValue(v: ExcelJS.CellValue): Cell {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' || v instanceof Date) return v;
  if (typeof v === 'object') {
    if ('richText' in v) return v.richText.map((r) => r.text).join('');
    if ('result' in v) return cellValue(v.result as ExcelJS.CellValue);
    if ('text' in v) return String((v as { text: unknown }).text);
    if ('error' in v) return null;
  }
  return String(v);
}

/** The first worksheet (or the one named `sheetName`) of an .xlsx file. */
export async function parseXlsx(buf: Uint8Array, sheetName?: string): Promise<Sheet> {
  const wb = new (excelJs().Workbook)();
  try {
    await wb.xlsx.load(Buffer.from(buf) as unknown as ArrayBuffer);
  } catch (e) {
    throw new ImportFailed([{ row: 0, column: '-', message: `not a readable .xlsx file: ${(e as Error).message}` }]);
  }
  const ws = sheetName ? wb.getWorksheet(sheetName) : wb.worksheets[0];
  if (!ws) throw new ImportFailed([{ row: 0, column: '-', message: sheetName ? `no sheet named ${sheetName}` : 'the workbook has no sheet' }]);
  const rows: { row: number; cells: Cell[] }[] = [];
  let headers: string[] = [];
  ws.eachRow({ includeEmpty: false }, (r, n) => {
    const values = (r.values as ExcelJS.CellValue[]).slice(1).map(cellValue);
    if (!headers.length) { headers = values.map((v) => (v === null ? '' : String(v).trim())); return; }
    if (rows.length > MAX_ROWS) return;
    rows.push({ row: n, cells: values });
  });
  return { headers, rows };
}

// ---- validation ----

const colLetter = (i: number): string => (i < 26 ? String.fromCharCode(65 + i) : colLetter(Math.floor(i / 26) - 1) + String.fromCharCode(65 + (i % 26)));

function parseBool(v: Cell): boolean | undefined {
  if (typeof v === 'boolean') return v;
  const s = String(v).trim().toLowerCase();
  if (['1', 'true', 'y', 'yes', '是', '启用', '有效'].includes(s)) return true;
  if (['0', 'false', 'n', 'no', '否', '停用', '无效'].includes(s)) return false;
  return undefined;
}

/** Validate a sheet into dictionary items; throws `ImportFailed` with every error found. */
export function sheetToItems(name: DictionaryName, sheet: Sheet): DictionaryItem[] {
  const errors: ImportError[] = [];
  const attrs = ATTRIBUTES[name];
  const keyOf = (h: string): string | undefined => {
    const t = h.trim();
    if (['code', 'name', 'active'].includes(t)) return t;
    if (HEADER_ALIASES[t]) return HEADER_ALIASES[t];
    return attrs.find((a) => a.key === t || a.zh === t)?.key;
  };
  const keys = sheet.headers.map(keyOf);
  sheet.headers.forEach((h, i) => {
    if (h === '') return;
    if (!keys[i]) errors.push({ row: 1, column: `${colLetter(i)} (${h})`, message: `unknown column; expected code/编码, name/名称, active/启用${attrs.length ? `, ${attrs.map((a) => `${a.key}/${a.zh}`).join(', ')}` : ''}` });
    else if (keys.indexOf(keys[i]) !== i) errors.push({ row: 1, column: `${colLetter(i)} (${h})`, message: `column ${keys[i]} appears twice` });
  });
  for (const req of ['code', 'name', ...attrs.filter((a) => a.required).map((a) => a.key)]) {
    if (!keys.includes(req)) errors.push({ row: 1, column: req, message: 'required column missing' });
  }
  if (sheet.rows.length === 0) errors.push({ row: 2, column: '-', message: 'no data rows' });
  if (sheet.rows.length > MAX_ROWS) errors.push({ row: MAX_ROWS + 2, column: '-', message: `more than ${MAX_ROWS} rows` });
  if (errors.length) throw new ImportFailed(errors);

  const col = (k: string) => keys.indexOf(k);
  const label = (k: string) => { const i = col(k); return `${colLetter(i)} (${sheet.headers[i]})`; };
  const firstRowOf = new Map<string, number>();
  const items: DictionaryItem[] = [];
  for (const { row, cells } of sheet.rows) {
    if (errors.length >= 200) break; // enough to fix a file; more would only be noise
    const get = (k: string): Cell => { const i = col(k); return i < 0 ? null : cells[i] ?? null; };
    const str = (k: string) => { const v = get(k); return v === null ? '' : v instanceof Date ? v.toISOString().slice(0, 10) : String(v).trim(); };
    const err = (k: string, message: string) => errors.push({ row, column: label(k), message });
    const code = str('code');
    const itemName = str('name');
    if (!code) err('code', 'empty');
    else if (code.length > 64) err('code', 'longer than 64 characters');
    else {
      const rule = CODE_RULES[name]?.(code);
      if (rule) err('code', rule);
      const prev = firstRowOf.get(code);
      if (prev !== undefined) err('code', `code ${code} already on row ${prev}`);
      else firstRowOf.set(code, row);
    }
    if (!itemName) err('name', 'empty');
    else if (itemName.length > 200) err('name', 'longer than 200 characters');
    let active = true;
    if (col('active') >= 0 && str('active') !== '') {
      const b = parseBool(get('active'));
      if (b === undefined) err('active', `"${str('active')}" is not yes/no (是/否, 1/0, true/false)`);
      else active = b;
    }
    const out: DictionaryItem['attrs'] = {};
    for (const a of attrs) {
      if (col(a.key) < 0) continue;
      const raw = get(a.key);
      const s = str(a.key);
      if (s === '') {
        if (a.required) err(a.key, 'empty (required)');
        continue;
      }
      const t = a.type;
      if (t.kind === 'string') {
        if (t.max && s.length > t.max) err(a.key, `longer than ${t.max} characters`);
        else if (t.pattern && !t.pattern.test(s)) err(a.key, `"${s}" is not ${t.hint ?? 'valid'}`);
        else out[a.key] = s;
      } else if (t.kind === 'int') {
        const n = typeof raw === 'number' ? raw : Number(s);
        if (!Number.isSafeInteger(n)) err(a.key, `"${s}" is not a whole number`);
        else if (t.min !== undefined && n < t.min) err(a.key, `${n} is below ${t.min}`);
        else out[a.key] = n;
      } else if (t.kind === 'number') {
        const n = typeof raw === 'number' ? raw : Number(s);
        if (!Number.isFinite(n)) err(a.key, `"${s}" is not a number`);
        else out[a.key] = n;
      } else if (t.kind === 'bool') {
        const b = parseBool(raw);
        if (b === undefined) err(a.key, `"${s}" is not yes/no (是/否, 1/0, true/false)`);
        else out[a.key] = b;
      } else if (!t.values.includes(s)) err(a.key, `"${s}" is not one of ${t.values.join(', ')}`);
      else out[a.key] = s;
    }
    items.push({ code, name: itemName, attrs: out, active });
  }
  if (errors.length) throw new ImportFailed(errors);
  return items;
}

export interface ImportPlan {
  items: DictionaryItem[];
  added: number;
  changed: number;
  deactivated: number;
  unchanged: number;
}

/** The next version from the previous one and the imported items. */
export function planImport(previous: DictionaryItem[], imported: DictionaryItem[], mode: 'replace' | 'merge'): ImportPlan {
  const prev = new Map(previous.map((i) => [i.code, i]));
  const next = new Map<string, DictionaryItem>(mode === 'merge' ? prev : []);
  let added = 0, changed = 0, unchanged = 0, deactivated = 0;
  for (const it of imported) {
    const p = prev.get(it.code);
    if (!p) added++;
    else if (JSON.stringify(p) === JSON.stringify(it)) unchanged++;
    else changed++;
    next.set(it.code, it);
  }
  if (mode === 'replace') {
    for (const p of previous) {
      if (next.has(p.code)) continue;
      next.set(p.code, { ...p, active: false });
      if (p.active) deactivated++;
    }
  }
  return { items: [...next.values()], added, changed, deactivated, unchanged };
}

/** Cross-dictionary check: staff departments must exist in the departments dictionary. */
export function crossCheck(name: DictionaryName, items: DictionaryItem[], sheet: Sheet, others: Partial<Record<DictionaryName, DictionaryItem[]>>): void {
  if (name !== 'staff' || !others.departments) return;
  const depts = new Set(others.departments.map((d) => d.code));
  const errors: ImportError[] = [];
  const deptCol = sheet.headers.findIndex((h) => h.trim() === 'department' || h.trim() === '科室');
  items.forEach((it, i) => {
    const d = it.attrs.department;
    if (typeof d === 'string' && !depts.has(d)) errors.push({ row: sheet.rows[i]!.row, column: `${colLetter(deptCol)} (${sheet.headers[deptCol]})`, message: `department ${d} is not in the departments dictionary` });
  });
  if (errors.length) throw new ImportFailed(errors);
}

/** Parse + validate a CSV or .xlsx upload. `format` from the content type or file name. */
export async function readUpload(name: DictionaryName, buf: Uint8Array, format: 'csv' | 'xlsx'): Promise<{ items: DictionaryItem[]; sheet: Sheet }> {
  const sheet = format === 'xlsx' ? await parseXlsx(buf) : parseCsv(decodeCsv(buf));
  return { items: sheetToItems(name, sheet), sheet };
}
