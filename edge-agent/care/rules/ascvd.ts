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
 * Coefficients shipped (`CHINA_PAR_2016`, the default): Supplemental Table 1 of the paper
 * (two-decimal coefficients, means of the linear predictor) and the worked formula of
 * Supplemental Table 2 (men's S10 = 0.9707), as transcribed, with page references to the
 * paper's PDF on the official China-PAR site (cvdrisk.com.cn), in the public repository
 * zwbao/longevity-skills, skills/china-par-ascvd-risk/ (references/contract.md,
 * scripts/presets.py, tests/test_manifest.py; commit ecf1aa6e333aed74e44ba220cd68343edf7f8c4c).
 * Two constants there are derived from numbers the paper prints, because the printed ones are
 * too coarse to reproduce the paper's own Table 2: the men's six continuous coefficients
 * (the "coefficient x value" column of the worked example divided by the example's values,
 * each rounding to the printed coefficient) and the women's S10 (printed 0.99; 0.9851 solves
 * the women's worked example, sum 119.22 -> 10.1 %). We use the same values. The worked
 * examples of the paper (Table 2, ages 40-70) and of the 2019 Chinese guideline are tested in
 * rules.test.ts. A clinic administrator may still paste another table on /care/settings.
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

/** The paper converts cholesterol with mg/dL x 0.0259 = mmol/L. */
export const MG_PER_MMOL_CHOLESTEROL = 1 / 0.0259;

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

// The men's worked example of Supplemental Table 1: age 60, untreated SBP 130 mmHg, TC 210 and
// HDL-C 55 mg/dL, waist 80 cm. Its "coefficient x value" column was computed with unrounded
// coefficients; dividing by the example's values recovers them (each rounds to the printed one).
const EX_LN_AGE = Math.log(60);
const EX_LN_SBP = Math.log(130);

/** China-PAR 10-year ASCVD equations (Yang X et al., Circulation 2016): lipids in mg/dL. */
export const CHINA_PAR_2016: CoefficientSet = {
  name: 'China-PAR（Yang X 等，Circulation 2016）',
  source: 'Yang X, Li J, Hu D, et al. Circulation 2016;134:1430-1440, Supplemental Tables 1-2, as transcribed in github.com/zwbao/longevity-skills skills/china-par-ascvd-risk (scripts/presets.py, references/contract.md); men\'s continuous coefficients and women\'s S10 derived there from the paper\'s worked examples',
  verified: true,
  lipidUnit: 'mg/dL',
  ageMin: 35,
  ageMax: 74,
  male: {
    coef: {
      lnAge: 130.88 / EX_LN_AGE, // printed 31.97
      lnTreatedSbp: 27.39,
      lnUntreatedSbp: 127.28 / EX_LN_SBP, // printed 26.15
      lnTc: 3.32 / Math.log(210), // printed 0.62
      lnHdl: -2.78 / Math.log(55), // printed -0.69
      lnWaist: -3.12 / Math.log(80), // printed -0.71
      smoker: 3.96,
      diabetes: 0.36,
      north: 0.48,
      urban: -0.16,
      familyHistory: 6.22,
      lnAgeXlnTreatedSbp: -6.02,
      lnAgeXlnUntreatedSbp: -114.21 / (EX_LN_AGE * EX_LN_SBP), // printed -5.73
      lnAgeXsmoker: -0.94,
      lnAgeXfamilyHistory: -1.53,
    },
    s10: 0.9707,
    meanSum: 140.68,
  },
  female: {
    // The women's equation has no urban or family-history terms.
    coef: { lnAge: 24.87, lnTreatedSbp: 20.71, lnUntreatedSbp: 19.98, lnTc: 0.06, lnHdl: -0.22, lnWaist: 1.48, smoker: 0.49, diabetes: 0.57, north: 0.54, lnAgeXlnTreatedSbp: -4.53, lnAgeXlnUntreatedSbp: -4.36 },
    s10: 0.9851, // printed 0.99; solved from the women's worked example (see the note at the top)
    meanSum: 117.26,
  },
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
