/**
 * Libraries that only some requests need, loaded on first use from their CommonJS builds.
 * Importing them at module load cost every edge-agent and central start (and every test
 * process) about 0.9 CPU-s through the TypeScript loader: ExcelJS ~0.55 s, pinyin-pro ~0.17 s,
 * bwip-js ~0.14 s. The first Excel export, barcode or pinyin key pays it once instead.
 */
import { createRequire } from 'node:module';
import type ExcelJS from 'exceljs';
import type BwipJs from 'bwip-js';
import type * as PinyinPro from 'pinyin-pro';

const load = createRequire(import.meta.url);
let excel: typeof ExcelJS | undefined;
let bwip: typeof BwipJs | undefined;
let pinyinPro: typeof PinyinPro | undefined;

/** The `exceljs` module (Workbook, stream.xlsx.WorkbookWriter...). */
export const excelJs = (): typeof ExcelJS => (excel ??= load('exceljs') as typeof ExcelJS);
/** The `bwip-js` module (toSVG). */
export const bwipJs = (): typeof BwipJs => (bwip ??= load('bwip-js') as typeof BwipJs);
/** pinyin-pro's `pinyin()`. */
export const pinyin: typeof PinyinPro.pinyin = ((text: string, options?: object) => (pinyinPro ??= load('pinyin-pro') as typeof PinyinPro).pinyin(text, options as never)) as typeof PinyinPro.pinyin;
