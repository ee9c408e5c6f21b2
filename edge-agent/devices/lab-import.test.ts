import t from 'tap';
import fc from 'fast-check';
import ExcelJS from 'exceljs';
import iconv from 'iconv-lite';
import { builtinProfile } from '../../device-drivers/index.ts';
import { columnLetter, parseCsv, parseImportFile, parseTable } from './lab-import.ts';

const bio = builtinProfile('biochemistry-analyser');
const now = new Date('2026-11-30T00:00:00Z');

t.test('CSV with good and bad rows: good rows parsed, each error names row and column in Chinese', async (t) => {
  const csv = [
    '标本号,身份证号,项目代码,结果,单位,检测时间',
    'S001,,GLU,5.6,mmol/L,2026-11-28 09:30',
    'S001,,K,abc,mmol/L,2026-11-28 09:30',
    ',,NA,140,,2026-11-28 09:30',
    'S002,,XYZ,1,,2026-11-28 09:30',
    'S002,,钾,4.1,mg/dL,2026-11-28 09:31',
    'S003,,crea,"88",,2026/11/28 9:31',
    'S004,,GLU,6.1,,2026-13-01 10:00',
    '',
    'S005,,GLU,<0.5,,2026-11-28 10:00',
  ].join('\r\n');
  const r = await parseImportFile(Buffer.from(csv), bio, now);
  t.equal(r.total, 8, 'blank row not counted');
  t.same(r.rows.map((x) => [x.row, x.specimenId, x.quantityKey, x.value]), [[2, 'S001', 'glu', '5.6'], [7, 'S003', 'crea', '88'], [10, 'S005', 'glu', '<0.5']]);
  t.same(r.errors.map((e) => e.message), [
    '第 3 行，第 D 列（结果）：“abc”不是数字',
    '第 4 行，第 A 列（标本号）：不能为空',
    '第 5 行，第 C 列（项目代码）：未知项目“XYZ”（全自动生化分析仪 的项目：GLU、K、NA、ALT、AST、CREA、UREA、TC、TG、HDL、LDL）',
    '第 6 行，第 E 列（单位）：单位“mg/dL”与项目 钾 的单位“mmol/L”不一致',
    '第 8 行，第 F 列（检测时间）：“2026-13-01 10:00”不是有效时间（格式 2026-11-28 09:30）',
  ]);
  t.equal(r.rows[0]!.at, new Date(2026, 10, 28, 9, 30).toISOString(), 'local wall-clock time');
});

t.test('file-level problems: missing columns, empty, old .xls, GBK CSV', async (t) => {
  t.match((await parseImportFile(Buffer.from('标本号,结果\nS1,5'), bio, now)).errors[0]!.message, /第 1 行（表头）：缺少必需的列 “项目代码”/);
  t.match((await parseImportFile(Buffer.alloc(0), bio, now)).errors[0]!.message, /文件为空/);
  t.match((await parseImportFile(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 1, 2]), bio, now)).errors[0]!.message, /旧版 \.xls/);
  t.match((await parseImportFile(Buffer.from('PK\x03\x04garbage'), bio, now)).errors[0]!.message, /无法读取 Excel 文件/);
  const gbk = iconv.encode('标本号,项目代码,结果\nS9,葡萄糖,7.2\n', 'gbk');
  const r = await parseImportFile(gbk, bio, now);
  t.same(r.rows.map((x) => [x.specimenId, x.quantityKey, x.value, x.at]), [['S9', 'glu', '7.2', undefined]], 'GBK decoded; test found by its Chinese name; no time column');
});

t.test('Excel: numbers, dates (wall clock), rich text, formulas', async (t) => {
  const wb = new ExcelJS.Workbook();
  const ws = wb.addWorksheet('检验结果');
  ws.addRow(['Specimen', 'Test', 'Result', 'Time']);
  ws.addRow(['S100', 'HDL', 1.25, new Date(Date.UTC(2026, 10, 27, 8, 15))]);
  ws.addRow([{ richText: [{ text: 'S1' }, { text: '01' }] }, 'TG', { formula: '1+0.5', result: 1.5 }, '2026-11-27 08:20']);
  ws.addRow(['S102', 'LDL', '', '2026-11-27 08:20']);
  const buf = Buffer.from(await wb.xlsx.writeBuffer());
  const r = await parseImportFile(buf, bio, now);
  t.same(r.rows.map((x) => [x.row, x.specimenId, x.quantityKey, x.value, x.at]), [
    [2, 'S100', 'hdl', '1.25', new Date(2026, 10, 27, 8, 15).toISOString()],
    [3, 'S101', 'tg', '1.5', new Date(2026, 10, 27, 8, 20).toISOString()],
  ]);
  t.same(r.errors.map((e) => e.message), ['第 4 行，第 C 列（结果）：不能为空']);
});

t.test('generated input never throws; every row is either imported or reported', async (t) => {
  await fc.assert(fc.asyncProperty(fc.uint8Array({ maxLength: 600 }), async (bytes) => {
    const r = await parseImportFile(bytes, bio, now);
    return Array.isArray(r.rows) && Array.isArray(r.errors);
  }), { numRuns: 300 });
  const cell = fc.oneof(fc.constantFrom('GLU', 'K', '钾', '5.5', '-', '', '"', ',', '2026-11-28 08:00', 'S1'), fc.string({ maxLength: 12 }), fc.double().map(String));
  fc.assert(fc.property(fc.array(fc.array(cell, { maxLength: 7 }), { maxLength: 30 }), (rows) => {
    const table = [['标本号', '患者号', '项目代码', '结果', '单位', '检测时间'], ...rows];
    const r = parseTable(table, bio, now);
    const reported = new Set(r.errors.map((e) => e.row));
    // Each non-blank data row is accounted for: imported, or at least one error names it.
    for (let i = 1; i < table.length; i++) {
      if (table[i]!.every((c) => String(c).trim() === '')) continue;
      if (!r.rows.some((x) => x.row === i + 1) && !reported.has(i + 1)) return false;
    }
    return r.errors.every((e) => e.row === 0 || /^第 \d+ 行/.test(e.message));
  }), { numRuns: 500 });
  fc.assert(fc.property(fc.string({ maxLength: 300 }), (s) => Array.isArray(parseCsv(s))), { numRuns: 500 });
  t.same([columnLetter(0), columnLetter(25), columnLetter(26), columnLetter(27)], ['A', 'Z', 'AA', 'AB']);
});
