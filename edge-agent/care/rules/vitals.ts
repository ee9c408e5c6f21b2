/**
 * Plausibility of vitals typed into a form (not the device profiles' ranges: those flag
 * device readings; these refuse a form value that cannot be a human measurement).
 * Every message says what is wrong in Chinese, next to the field.
 */
export interface VitalsInput { sbp?: number | undefined; dbp?: number | undefined; heartRate?: number | undefined; fbg?: number | undefined; weightKg?: number | undefined; heightCm?: number | undefined; waistCm?: number | undefined; temperatureC?: number | undefined }
export type FieldErrors = Record<string, string>;

export const VITAL_LIMITS = {
  sbp: { min: 50, max: 300, int: true, zh: '收缩压', unit: 'mmHg' },
  dbp: { min: 30, max: 200, int: true, zh: '舒张压', unit: 'mmHg' },
  heartRate: { min: 20, max: 250, int: true, zh: '心率', unit: '次/分' },
  fbg: { min: 1.0, max: 33.3, int: false, zh: '空腹血糖', unit: 'mmol/L' },
  weightKg: { min: 20, max: 250, int: false, zh: '体重', unit: 'kg' },
  heightCm: { min: 80, max: 230, int: false, zh: '身高', unit: 'cm' },
  waistCm: { min: 40, max: 200, int: false, zh: '腰围', unit: 'cm' },
  temperatureC: { min: 34, max: 43, int: false, zh: '体温', unit: '℃' },
} as const;

/** Parse a form string: '' -> undefined, otherwise a number or NaN. */
export function num(v: unknown): number | undefined {
  const s = String(v ?? '').trim();
  if (s === '') return undefined;
  return /^-?\d+(\.\d+)?$/.test(s) ? Number(s) : NaN;
}

export function checkVitals(v: VitalsInput): FieldErrors {
  const e: FieldErrors = {};
  for (const [k, lim] of Object.entries(VITAL_LIMITS) as [keyof VitalsInput, (typeof VITAL_LIMITS)[keyof typeof VITAL_LIMITS]][]) {
    const x = v[k];
    if (x === undefined) continue;
    if (!Number.isFinite(x)) e[k] = `${lim.zh}必须是数字`;
    else if (lim.int && !Number.isInteger(x)) e[k] = `${lim.zh}必须是整数`;
    else if (x < lim.min || x > lim.max) e[k] = `${lim.zh} ${x} ${lim.unit} 超出可信范围（${lim.min}~${lim.max} ${lim.unit}），请核对`;
  }
  if (!e.sbp && !e.dbp && v.sbp !== undefined && v.dbp !== undefined && Number.isFinite(v.sbp) && Number.isFinite(v.dbp) && v.sbp <= v.dbp) e.dbp = `舒张压（${v.dbp}）必须低于收缩压（${v.sbp}）`;
  if ((v.sbp === undefined) !== (v.dbp === undefined)) e[v.sbp === undefined ? 'sbp' : 'dbp'] = '收缩压和舒张压须同时填写';
  return e;
}

export function bmi(weightKg: number, heightCm: number): number {
  return Math.round((weightKg / (heightCm / 100) ** 2) * 10) / 10;
}
