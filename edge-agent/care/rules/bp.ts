/**
 * Blood pressure classification and control (national basic public health service
 * specification, 3rd edition; see ../shared/DOMAIN.md):
 *   normal < 120/80; high-normal 120-139/80-89; grade 1 140-159/90-99;
 *   grade 2 160-179/100-109; grade 3 >= 180/110.
 * The class is the higher of the systolic and the diastolic class.
 * Controlled: < 140/90, or < 150/90 at 65 and over.
 */
export type BpClass = 'normal' | 'high_normal' | 'grade1' | 'grade2' | 'grade3';
const ORDER: BpClass[] = ['normal', 'high_normal', 'grade1', 'grade2', 'grade3'];

export const BP_CLASS_ZH: Record<BpClass, string> = { normal: '正常血压', high_normal: '正常高值', grade1: '1级高血压', grade2: '2级高血压', grade3: '3级高血压' };
export const BP_CLASS_EN: Record<BpClass, string> = { normal: 'normal', high_normal: 'high-normal', grade1: 'grade 1 hypertension', grade2: 'grade 2 hypertension', grade3: 'grade 3 hypertension' };

function sbpClass(sbp: number): BpClass {
  if (sbp >= 180) return 'grade3';
  if (sbp >= 160) return 'grade2';
  if (sbp >= 140) return 'grade1';
  if (sbp >= 120) return 'high_normal';
  return 'normal';
}

function dbpClass(dbp: number): BpClass {
  if (dbp >= 110) return 'grade3';
  if (dbp >= 100) return 'grade2';
  if (dbp >= 90) return 'grade1';
  if (dbp >= 80) return 'high_normal';
  return 'normal';
}

export function classifyBp(sbp: number, dbp: number): BpClass {
  return ORDER[Math.max(ORDER.indexOf(sbpClass(sbp)), ORDER.indexOf(dbpClass(dbp)))]!;
}

/** Hypertension target: < 140/90 below 65, < 150/90 at 65 and over. */
export function bpControlled(sbp: number, dbp: number, age: number): boolean {
  return sbp < (age >= 65 ? 150 : 140) && dbp < 90;
}

/** Urgent-referral BP: SBP >= 180 and/or DBP >= 110. */
export function bpUrgent(sbp: number, dbp: number): boolean {
  return sbp >= 180 || dbp >= 110;
}
