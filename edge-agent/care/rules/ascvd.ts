/**
 * 10-year ASCVD risk with China-PAR.
 *
 * Source of the model: Yang X, Li J, Hu D, et al. "Predicting the 10-Year Risks of
 * Atherosclerotic Cardiovascular Disease in Chinese Population: The China-PAR Project
 * (Prediction for ASCVD Risk in China)". Circulation. 2016;134(19):1430-1440. The
 * sex-specific Cox equations are given in the paper's online supplement (the table of
 * coefficients, mean values of the linear predictor and 10-year baseline survival per sex).
 *
 *   risk = 1 - S10 ^ exp( sum(beta_i * x_i) - meanSum )
 *
 * Terms (x_i): ln(age), ln(treated SBP) / ln(untreated SBP), ln(TC), ln(HDL-C), ln(waist),
 * current smoking, diabetes, geographic region (north of the Yangtze = 1), urban (men),
 * family history of ASCVD (men), and interaction terms such as ln(age) x smoking.
 *
 * IMPORTANT: the person who wrote this code could NOT recall the published coefficients
 * with confidence and had no copy of the supplement at hand. No published coefficient set
 * is shipped. `DEMO_COEFFICIENTS` below are ILLUSTRATIVE numbers chosen only to make the
 * demo produce plausible magnitudes; they are NOT the China-PAR coefficients and every
 * result computed with them is stored with `coefficientsVerified: false` and shown with a
 * warning. A clinic administrator loads the real table (transcribed from the supplement
 * and checked by a second person) on the ASCVD settings page; it is stored with
 * `verified: true` only when the administrator ticks that it was checked.
 *
 * Bands (China-PAR): < 5 % low, 5-9.9 % medium, >= 10 % high.
 */
export const ASCVD_TERMS = ['lnAge', 'lnTreatedSbp', 'lnUntreatedSbp', 'lnAgeXlnTreatedSbp', 'lnAgeXlnUntreatedSbp', 'lnTc', 'lnHdl', 'lnWaist', 'smoker', 'lnAgeXsmoker', 'diabetes', 'north', 'urban', 'familyHistory', 'lnAgeXfamilyHistory'] as const;
export type AscvdTerm = (typeof ASCVD_TERMS)[number];

export interface SexEquation {
  coef: Partial<Record<AscvdTerm, number>>;
  /** 10-year baseline survival */
  s10: number;
  /** Mean of the linear predictor in the derivation cohort */
  meanSum: number;
}

export interface CoefficientSet {
  name: string;
  source: string;
  /** true only when transcribed from the publication and checked by a second person */
  verified: boolean;
  /** Unit the lipid terms were fitted in */
  lipidUnit: 'mmol/L' | 'mg/dL';
  ageMin: number;
  ageMax: number;
  male: SexEquation;
  female: SexEquation;
}

export interface AscvdInput {
  sex: '1' | '2';
  age: number;
  sbp: number;
  onBpTreatment: boolean;
  /** mmol/L */
  totalCholesterol: number;
  /** mmol/L */
  hdlCholesterol: number;
  waistCm: number;
  smoker: boolean;
  diabetes: boolean;
  region: 'north' | 'south';
  area: 'urban' | 'rural';
  familyHistory: boolean;
}

export type AscvdBand = 'low' | 'medium' | 'high';
export const ASCVD_BAND_ZH: Record<AscvdBand, string> = { low: '低危（<5%）', medium: '中危（5%~9.9%）', high: '高危（≥10%）' };

export function ascvdBand(riskPercent: number): AscvdBand {
  if (riskPercent < 5) return 'low';
  if (riskPercent < 10) return 'medium';
  return 'high';
}

const MG_PER_MMOL_CHOLESTEROL = 38.67;

export function linearPredictor(c: CoefficientSet, i: AscvdInput): number {
  const eq = i.sex === '1' ? c.male : c.female;
  const k = (v: number) => (c.lipidUnit === 'mg/dL' ? v * MG_PER_MMOL_CHOLESTEROL : v);
  const lnAge = Math.log(i.age);
  const lnSbp = Math.log(i.sbp);
  const x: Record<AscvdTerm, number> = {
    lnAge,
    lnTreatedSbp: i.onBpTreatment ? lnSbp : 0,
    lnUntreatedSbp: i.onBpTreatment ? 0 : lnSbp,
    lnAgeXlnTreatedSbp: i.onBpTreatment ? lnAge * lnSbp : 0,
    lnAgeXlnUntreatedSbp: i.onBpTreatment ? 0 : lnAge * lnSbp,
    lnTc: Math.log(k(i.totalCholesterol)),
    lnHdl: Math.log(k(i.hdlCholesterol)),
    lnWaist: Math.log(i.waistCm),
    smoker: i.smoker ? 1 : 0,
    lnAgeXsmoker: i.smoker ? lnAge : 0,
    diabetes: i.diabetes ? 1 : 0,
    north: i.region === 'north' ? 1 : 0,
    urban: i.area === 'urban' ? 1 : 0,
    familyHistory: i.familyHistory ? 1 : 0,
    lnAgeXfamilyHistory: i.familyHistory ? lnAge : 0,
  };
  return ASCVD_TERMS.reduce((s, t) => s + (eq.coef[t] ?? 0) * x[t], 0);
}

export class AscvdInputError extends Error {
  override name = 'AscvdInputError';
  constructor(readonly field: string, message: string) { super(message); }
}

/** 10-year risk in percent, rounded to 0.1. */
export function ascvdRisk(c: CoefficientSet, i: AscvdInput): { riskPercent: number; band: AscvdBand; verified: boolean } {
  if (i.age < c.ageMin || i.age > c.ageMax) throw new AscvdInputError('age', `China-PAR 10 年风险适用于 ${c.ageMin}~${c.ageMax} 岁，该居民 ${i.age} 岁`);
  const eq = i.sex === '1' ? c.male : c.female;
  const lp = linearPredictor(c, i);
  const risk = 1 - Math.pow(eq.s10, Math.exp(lp - eq.meanSum));
  const riskPercent = Math.round(risk * 1000) / 10;
  return { riskPercent, band: ascvdBand(riskPercent), verified: c.verified };
}

/**
 * ILLUSTRATIVE ONLY - NOT the published China-PAR coefficients (see the note at the top).
 * Log hazard ratios of plausible size; meanSum is the linear predictor of a reference person
 * (55 years, SBP 130 untreated, TC 5.0, HDL 1.3 mmol/L, waist 85 cm, non-smoker, no diabetes,
 * south, urban, no family history), so that person's risk is 1 - s10.
 */
function demoEquation(s10: number, coef: Partial<Record<AscvdTerm, number>>): SexEquation {
  const ref: AscvdInput = { sex: '1', age: 55, sbp: 130, onBpTreatment: false, totalCholesterol: 5, hdlCholesterol: 1.3, waistCm: 85, smoker: false, diabetes: false, region: 'south', area: 'urban', familyHistory: false };
  const tmp: CoefficientSet = { name: '', source: '', verified: false, lipidUnit: 'mmol/L', ageMin: 0, ageMax: 200, male: { coef, s10, meanSum: 0 }, female: { coef, s10, meanSum: 0 } };
  return { coef, s10, meanSum: linearPredictor(tmp, ref) };
}

export const DEMO_COEFFICIENTS: CoefficientSet = {
  name: '演示系数（非论文数值）/ demo coefficients (NOT China-PAR)',
  source: 'Illustrative values written for the demo; replace with the table of Yang X et al., Circulation 2016;134:1430-1440 (online supplement)',
  verified: false,
  lipidUnit: 'mmol/L',
  ageMin: 35,
  ageMax: 74,
  male: demoEquation(0.95, { lnAge: 3.5, lnUntreatedSbp: 2.5, lnTreatedSbp: 2.8, lnTc: 0.8, lnHdl: -0.6, lnWaist: 0.8, smoker: 0.5, diabetes: 0.5, north: 0.4, urban: 0.1, familyHistory: 0.3 }),
  female: demoEquation(0.97, { lnAge: 3.8, lnUntreatedSbp: 2.6, lnTreatedSbp: 2.9, lnTc: 0.6, lnHdl: -0.7, lnWaist: 0.9, smoker: 0.5, diabetes: 0.6, north: 0.4 }),
};

/** Parse an administrator-supplied coefficient table (JSON); throws with a readable message. */
export function parseCoefficientSet(json: string): CoefficientSet {
  let v: unknown;
  try { v = JSON.parse(json); } catch (e) { throw new AscvdInputError('coefficients', `不是有效的 JSON：${(e as Error).message}`); }
  const o = v as Partial<CoefficientSet>;
  const eqOk = (e: unknown): e is SexEquation => {
    const q = e as SexEquation;
    return !!q && typeof q.s10 === 'number' && q.s10 > 0 && q.s10 < 1 && typeof q.meanSum === 'number' && typeof q.coef === 'object' && q.coef !== null
      && Object.entries(q.coef).every(([k, c]) => (ASCVD_TERMS as readonly string[]).includes(k) && typeof c === 'number' && Number.isFinite(c));
  };
  if (typeof o.name !== 'string' || typeof o.source !== 'string' || !o.source) throw new AscvdInputError('coefficients', '必须注明 name 与 source（出处：论文及补充材料表号）');
  if (o.lipidUnit !== 'mmol/L' && o.lipidUnit !== 'mg/dL') throw new AscvdInputError('coefficients', 'lipidUnit 必须为 "mmol/L" 或 "mg/dL"');
  if (!eqOk(o.male) || !eqOk(o.female)) throw new AscvdInputError('coefficients', `male/female 必须含 coef（仅限 ${ASCVD_TERMS.join(', ')}）、s10（0~1）、meanSum`);
  return { name: o.name, source: o.source, verified: o.verified === true, lipidUnit: o.lipidUnit, ageMin: typeof o.ageMin === 'number' ? o.ageMin : 35, ageMax: typeof o.ageMax === 'number' ? o.ageMax : 74, male: o.male, female: o.female };
}
