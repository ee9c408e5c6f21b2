/**
 * Fasting (venous/capillary) plasma glucose, mmol/L:
 *   low <= 3.9 (hypoglycaemia in a diabetic patient; urgent referral per the specification);
 *   normal 3.9 < x < 6.1; impaired fasting glucose 6.1 <= x < 7.0; high >= 7.0.
 * T2DM follow-up is "controlled" when FBG < 7.0 (and not hypoglycaemic).
 * Urgent referral: glucose >= 16.7 or <= 3.9.
 */
export type GlucoseClass = 'low' | 'normal' | 'impaired' | 'high';
export const GLUCOSE_CLASS_ZH: Record<GlucoseClass, string> = { low: '低血糖', normal: '正常', impaired: '空腹血糖受损', high: '血糖升高' };
export const GLUCOSE_CLASS_EN: Record<GlucoseClass, string> = { low: 'hypoglycaemia', normal: 'normal', impaired: 'impaired fasting glucose', high: 'high' };

export function classifyFbg(fbg: number): GlucoseClass {
  if (fbg <= 3.9) return 'low';
  if (fbg < 6.1) return 'normal';
  if (fbg < 7.0) return 'impaired';
  return 'high';
}

export function fbgControlled(fbg: number): boolean {
  return fbg > 3.9 && fbg < 7.0;
}

export function glucoseUrgent(fbg: number): boolean {
  return fbg >= 16.7 || fbg <= 3.9;
}
