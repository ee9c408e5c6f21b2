/**
 * One hypertension / type 2 diabetes follow-up decision (national specification, 3rd ed.):
 * - Urgent referral (紧急转诊) at once when: SBP >= 180 and/or DBP >= 110; for T2DM also
 *   FBG >= 16.7 or <= 3.9, heart rate > 100, temperature > 39; any listed acute symptom;
 *   pregnant or lactating with BP above normal (>= 140/90; T2DM: glucose above normal).
 *   The referral is followed up within 2 weeks (next due = date + 14).
 * - Control: HTN < 140/90 (< 150/90 at >= 65); T2DM FBG < 7.0 (and > 3.9).
 * - First uncontrolled visit: adjust and revisit within 2 weeks (next due = date + 14).
 * - Two consecutive uncontrolled visits (this one and the previous follow-up of the same
 *   enrolment), or a new complication: refer, and follow the referral up within 2 weeks.
 * - Adverse drug reaction: adjust medication, revisit within 2 weeks.
 * - Controlled: next follow-up in 3 months (>= 4 a year).
 */
import { bpControlled, bpUrgent, classifyBp, type BpClass } from './bp.ts';
import { addDays, addMonths } from './dates.ts';
import { classifyFbg, fbgControlled, glucoseUrgent, type GlucoseClass } from './glucose.ts';

export type Disease = 'HTN' | 'T2DM';
export type Control = 'controlled' | 'uncontrolled' | 'adverse_reaction' | 'complication';

/** Acute symptoms that make a follow-up an urgent referral (codes with their form labels). */
export const URGENT_SYMPTOMS = {
  consciousness: '意识改变/行为改变',
  severe_headache: '剧烈头痛或头晕',
  nausea_vomiting: '恶心呕吐',
  blurred_vision: '视力模糊/视力骤降',
  eye_pain: '眼痛',
  palpitation_chest: '心悸、胸闷',
  orthopnoea: '喘憋不能平卧',
  chest_pain: '心前区疼痛',
  ketotic_breath: '呼气有烂苹果样丙酮味',
  sweating: '大汗',
  deep_breathing: '深大呼吸、皮肤潮红',
  polyuria_abdominal: '多饮多尿、腹痛',
} as const;
export type UrgentSymptom = keyof typeof URGENT_SYMPTOMS;
/** Non-urgent symptoms on the follow-up form. */
export const OTHER_SYMPTOMS = { none: '无症状', dizziness: '头晕头痛', tinnitus: '耳鸣', numbness: '四肢发麻', oedema: '下肢水肿', blurred: '视物模糊(慢性)', infection: '感染', polydipsia: '多饮', weight_loss: '体重下降' } as const;

export interface FollowupInput {
  disease: Disease;
  date: string;
  age: number;
  sbp?: number | undefined;
  dbp?: number | undefined;
  fbg?: number | undefined;
  heartRate?: number | undefined;
  temperatureC?: number | undefined;
  symptoms?: readonly string[] | undefined;
  pregnantOrLactating?: boolean | undefined;
  adverseReaction?: boolean | undefined;
  newComplication?: boolean | undefined;
}

export interface PreviousFollowup { date: string; control: Control }

export interface FollowupDecision {
  bpClass?: BpClass;
  glucoseClass?: GlucoseClass;
  control: Control;
  urgentReferral: boolean;
  urgentReasons: string[];
  /** Referral (urgent, two consecutive uncontrolled, complication), with its reason */
  referralReason?: string;
  nextDueDate: string;
  /** Why the next date was chosen */
  nextReason: string;
}

export function urgentReasons(i: FollowupInput): string[] {
  const r: string[] = [];
  if (i.sbp !== undefined && i.dbp !== undefined && bpUrgent(i.sbp, i.dbp)) r.push(`血压 ${i.sbp}/${i.dbp} mmHg（收缩压≥180 和/或 舒张压≥110）`);
  if (i.disease === 'T2DM' && i.fbg !== undefined && glucoseUrgent(i.fbg)) r.push(`空腹血糖 ${i.fbg} mmol/L（≥16.7 或 ≤3.9）`);
  if (i.disease === 'T2DM' && i.heartRate !== undefined && i.heartRate > 100) r.push(`心率 ${i.heartRate} 次/分（持续性心动过速 >100）`);
  if (i.disease === 'T2DM' && i.temperatureC !== undefined && i.temperatureC > 39) r.push(`体温 ${i.temperatureC} ℃（>39）`);
  for (const s of i.symptoms ?? []) if (s in URGENT_SYMPTOMS) r.push(`症状：${URGENT_SYMPTOMS[s as UrgentSymptom]}`);
  if (i.pregnantOrLactating) {
    const bpHigh = i.sbp !== undefined && i.dbp !== undefined && (i.sbp >= 140 || i.dbp >= 90);
    const gluHigh = i.disease === 'T2DM' && i.fbg !== undefined && i.fbg >= 6.1;
    if (bpHigh || gluHigh) r.push(bpHigh ? '妊娠期或哺乳期血压高于正常' : '妊娠期或哺乳期血糖高于正常');
  }
  return r;
}

export class FollowupRuleError extends Error {
  override name = 'FollowupRuleError';
  constructor(readonly field: string, message: string) { super(message); }
}

export function decideFollowup(i: FollowupInput, previous: readonly PreviousFollowup[]): FollowupDecision {
  if (i.disease === 'HTN' && (i.sbp === undefined || i.dbp === undefined)) throw new FollowupRuleError('sbp', '高血压随访必须填写血压（收缩压和舒张压）');
  if (i.disease === 'T2DM' && i.fbg === undefined) throw new FollowupRuleError('fastingGlucose', '糖尿病随访必须填写空腹血糖');
  const out: Partial<FollowupDecision> = {};
  if (i.sbp !== undefined && i.dbp !== undefined) out.bpClass = classifyBp(i.sbp, i.dbp);
  if (i.fbg !== undefined) out.glucoseClass = classifyFbg(i.fbg);
  const controlled = i.disease === 'HTN' ? bpControlled(i.sbp!, i.dbp!, i.age) : fbgControlled(i.fbg!);
  const control: Control = i.newComplication ? 'complication' : i.adverseReaction ? 'adverse_reaction' : controlled ? 'controlled' : 'uncontrolled';
  const urgent = urgentReasons(i);
  const prev = [...previous].filter((p) => p.date <= i.date).sort((a, b) => (a.date < b.date ? 1 : -1))[0];
  const twoUncontrolled = !controlled && !i.newComplication && prev !== undefined && (prev.control === 'uncontrolled');
  let referralReason: string | undefined;
  let nextDueDate: string;
  let nextReason: string;
  if (urgent.length > 0) {
    referralReason = `紧急转诊：${urgent.join('；')}`;
    nextDueDate = addDays(i.date, 14); nextReason = '紧急转诊后 2 周内随访转诊情况';
  } else if (i.newComplication) {
    referralReason = '出现新的并发症或原有并发症加重';
    nextDueDate = addDays(i.date, 14); nextReason = '转诊后 2 周内随访转诊情况';
  } else if (twoUncontrolled) {
    referralReason = `连续两次控制不满意（上次 ${prev!.date}）`;
    nextDueDate = addDays(i.date, 14); nextReason = '转诊后 2 周内随访转诊情况';
  } else if (!controlled) {
    nextDueDate = addDays(i.date, 14); nextReason = '首次控制不满意，调整用药，2 周内随访';
  } else if (i.adverseReaction) {
    nextDueDate = addDays(i.date, 14); nextReason = '药物不良反应，调整用药，2 周内随访';
  } else {
    nextDueDate = addMonths(i.date, 3); nextReason = '控制满意，3 个月后常规随访';
  }
  return { ...out, control, urgentReferral: urgent.length > 0, urgentReasons: urgent, ...(referralReason ? { referralReason } : {}), nextDueDate, nextReason };
}

/** First follow-up after enrolment: 2 weeks when the enrolment values are not at target, else 3 months. */
export function firstDueAfterEnrolment(enrolledDate: string, controlledAtEnrolment: boolean): string {
  return controlledAtEnrolment ? addMonths(enrolledDate, 3) : addDays(enrolledDate, 14);
}

export type DueState = 'overdue' | 'due_soon' | 'scheduled';

/** Overdue when the due date is before today; due soon within the next 7 days (inclusive). */
export function dueState(dueDate: string, today: string): DueState {
  if (dueDate < today) return 'overdue';
  return dueDate <= addDays(today, 7) ? 'due_soon' : 'scheduled';
}
