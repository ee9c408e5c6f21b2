/** GB 11643 resident identity numbers (居民身份证号码). */

const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2] as const;
const CHECK_CHARS = '10X98765432';

/** The check character for the first 17 digits. */
export function idCheckChar(first17: string): string {
  if (!/^\d{17}$/.test(first17)) throw new Error('need exactly 17 digits');
  let sum = 0;
  for (let i = 0; i < 17; i++) sum += Number(first17[i]) * WEIGHTS[i]!;
  return CHECK_CHARS[sum % 11]!;
}

export type IdCheck =
  | { ok: true; id: string; birthDate: string; sex: '1' | '2'; areaCode: string }
  | { ok: false; reason: string };

/**
 * Validate an 18-digit ID (or convert a 15-digit one) and derive birth date (yyyy-MM-dd)
 * and sex (GB/T 2261.1: 1 male, 2 female).
 */
export function checkResidentId(input: string): IdCheck {
  let id = input.trim().toUpperCase();
  if (/^\d{15}$/.test(id)) {
    const first17 = id.slice(0, 6) + '19' + id.slice(6);
    id = first17 + idCheckChar(first17);
  }
  if (!/^\d{17}[\dX]$/.test(id)) return { ok: false, reason: '身份证号应为18位（最后一位可为X） / must be 18 characters, digits with an optional final X' };
  const expected = idCheckChar(id.slice(0, 17));
  if (id[17] !== expected) return { ok: false, reason: `校验位错误，应为 ${expected} / check character should be ${expected}` };
  const y = Number(id.slice(6, 10));
  const m = Number(id.slice(10, 12));
  const d = Number(id.slice(12, 14));
  const date = new Date(Date.UTC(y, m - 1, d));
  if (y < 1880 || date.getUTCFullYear() !== y || date.getUTCMonth() !== m - 1 || date.getUTCDate() !== d) {
    return { ok: false, reason: `出生日期无效 / invalid birth date ${id.slice(6, 14)}` };
  }
  const birthDate = `${id.slice(6, 10)}-${id.slice(10, 12)}-${id.slice(12, 14)}`;
  const sex = Number(id[16]) % 2 === 1 ? '1' : '2';
  return { ok: true, id, birthDate, sex, areaCode: id.slice(0, 6) };
}

/** Build a valid ID from its parts (used by simulators and tests). */
export function makeResidentId(areaCode: string, birth: Date, sequence: number): string {
  const ymd = `${birth.getUTCFullYear()}${String(birth.getUTCMonth() + 1).padStart(2, '0')}${String(birth.getUTCDate()).padStart(2, '0')}`;
  const first17 = `${areaCode}${ymd}${String(sequence % 1000).padStart(3, '0')}`;
  return first17 + idCheckChar(first17);
}
