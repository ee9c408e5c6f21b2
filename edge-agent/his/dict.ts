/** Read access to central's dictionaries held at the edge (`dictionary_items`). */
import type { Db } from '../../contracts/runtime/index.ts';
import type { CHARGE_CATEGORIES } from '../../contracts/records-his.ts';
import { cached } from './sql.ts';

export type ChargeCategory = (typeof CHARGE_CATEGORIES)[number];

export interface DictEntry { code: string; name: string; attrs: Record<string, unknown>; active: boolean }

export function dictItem(db: Db, dictionary: string, code: string): DictEntry | null {
  const r = cached(db).prepare<[string, string], { code: string; name: string; attrs: string; active: number }>(
    'SELECT code, name, attrs, active FROM dictionary_items WHERE dictionary = ? AND code = ?').get(dictionary, code);
  return r ? { code: r.code, name: r.name, attrs: JSON.parse(r.attrs) as Record<string, unknown>, active: r.active === 1 } : null;
}

export function dictList(db: Db, dictionary: string): DictEntry[] {
  return cached(db).prepare<[string], { code: string; name: string; attrs: string; active: number }>(
    'SELECT code, name, attrs, active FROM dictionary_items WHERE dictionary = ? AND active = 1 ORDER BY code').all(dictionary)
    .map((r) => ({ code: r.code, name: r.name, attrs: JSON.parse(r.attrs) as Record<string, unknown>, active: r.active === 1 }));
}

export const DRUG_CATEGORIES: readonly ChargeCategory[] = ['western_drug', 'tcm_drug', 'patent_drug'];

/** A drug's category: the dictionary's `category` attribute, else western drug. */
export function drugCategory(attrs: Record<string, unknown>): ChargeCategory {
  const c = attrs.category;
  return c === 'tcm_drug' || c === 'patent_drug' || c === 'western_drug' ? c : 'western_drug';
}

/**
 * A charge item's category: the dictionary's `category` attribute, else from the national
 * service price code's leading digits (11 consultation, 21/22 imaging, 25 lab, 31 exams,
 * 12/33/44 treatment).
 */
export function chargeItemCategory(code: string, attrs: Record<string, unknown>): ChargeCategory {
  const c = attrs.category;
  if (typeof c === 'string' && ['lab', 'imaging', 'treatment', 'registration', 'material', 'exam'].includes(c)) return c as ChargeCategory;
  if (code === '110100001') return 'registration';
  if (code.startsWith('25')) return 'lab';
  if (code.startsWith('21') || code.startsWith('22')) return 'imaging';
  if (code.startsWith('31') || code.startsWith('11')) return 'exam';
  return 'treatment';
}

export function departmentName(db: Db, code: string): string {
  return dictItem(db, 'departments', code)?.name ?? code;
}
