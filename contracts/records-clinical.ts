/**
 * Clinical record types ([clinic] issue, doctor and nurse workstations): visit notes, prescriptions, order execution ...
 * Kept in their own file so the owning feature can add types without touching the core
 * registry; `records.ts` merges them. Payload fields follow WS 365 / WS 363 data elements
 * where one exists (note the DE identifier beside the field).
 *
 * The visit itself is the core `encounter` (encounterId = registration id); lab, imaging and
 * injection orders are core `order` records; vital signs are core `observation` records.
 */
import { z } from 'zod';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'date must be yyyy-MM-dd');
const isoDateTime = z.string().datetime({ offset: true });
const id = z.string().min(1).max(64);
const code = z.string().min(1).max(64);
const username = z.string().min(1).max(32);

/** Outpatient medical record, SOAP (门诊病历, WS 445 门急诊病历). One per encounter, signed once. */
export const visitNoteSchema = z.object({
  noteId: id,
  encounterId: id,
  residentId: id,
  /** DE04.01.119.00 主诉 */
  chiefComplaint: z.string().max(500),
  /** DE02.10.071.00 现病史 (S) */
  subjective: z.string().max(4000).default(''),
  /** DE04.10.258.00 体格检查 (O) */
  objective: z.string().max(4000).default(''),
  /** DE05.01.025.00 诊断依据/评估 (A) */
  assessment: z.string().max(4000).default(''),
  /** DE06.00.300.00 处理意见 (P) */
  plan: z.string().max(4000).default(''),
  diagnoses: z.array(z.object({ code, name: z.string().max(200), primary: z.boolean() })).max(20),
  doctor: username,
  signedAt: isoDateTime,
});

export const FREQUENCIES = ['qd', 'bid', 'tid', 'qid', 'q8h', 'q12h', 'qn', 'st', 'prn'] as const;
export const ROUTES = ['po', 'ivgtt', 'iv', 'im', 'sc', 'id', 'inh', 'ext'] as const;

/** A prescription (处方): one per encounter when the doctor signs; lines are immutable once signed. */
export const prescriptionSchema = z.object({
  prescriptionId: id,
  encounterId: id,
  residentId: id,
  prescriber: username,
  /** DE06.00.294.00 处方开立日期 */
  issuedAt: isoDateTime,
  status: z.enum(['active', 'cancelled']),
  items: z.array(z.object({
    lineNo: z.number().int().positive(),
    /** DE08.50.022.00 药品代码 (本位码) */
    drugCode: code,
    drugName: z.string().min(1).max(200),
    spec: z.string().max(100),
    /** DE08.50.023.00 药物使用次剂量 + DE08.50.024.00 剂量单位 */
    dose: z.number().positive().finite(),
    doseUnit: z.string().min(1).max(20),
    /** DE06.00.133.00 药物使用频率 */
    frequency: z.enum(FREQUENCIES),
    /** DE06.00.134.00 用药途径代码 */
    route: z.enum(ROUTES),
    days: z.number().int().positive().max(90),
    /** dispensing quantity in the sale unit (盒/瓶/支) */
    quantity: z.number().int().positive(),
    unit: z.string().min(1).max(20),
    /** infusion group (组号): lines of one group run in one bottle */
    group: z.number().int().positive().optional(),
    /** 国家集采 (volume-based procurement) drug */
    volumeProcurement: z.boolean(),
  })).min(1).max(50),
});

/** One administration of an injection/infusion confirmed at the bedside by scanning its label (执行记录). */
export const orderExecutionSchema = z.object({
  executionId: id,
  /** the `order` (kind 'drug') the administration belongs to */
  orderId: id,
  encounterId: id,
  residentId: id,
  prescriptionId: id,
  /** label barcode that was scanned */
  barcode: z.string().min(4).max(40),
  route: z.enum(ROUTES),
  /** 1..total within the order */
  sequence: z.number().int().positive(),
  total: z.number().int().positive(),
  drugs: z.array(z.object({ drugCode: code, drugName: z.string().max(200), dose: z.number().positive(), doseUnit: z.string().max(20) })).min(1).max(10),
  status: z.enum(['done', 'stopped']),
  executedBy: username,
  executedAt: isoDateTime,
  note: z.string().max(200).optional(),
});

/**
 * Fever / diarrhoea / dog-bite registration (发热、腹泻、犬伤登记) and the notifiable infectious
 * disease report card (传染病报告卡) started from a diagnosis.
 */
export const infectiousReportSchema = z.object({
  reportId: id,
  encounterId: id.optional(),
  residentId: id,
  kind: z.enum(['fever', 'diarrhoea', 'dog_bite', 'notifiable']),
  /** ICD-10 code behind the report (notifiable: required) */
  icd10Code: z.string().max(16).optional(),
  diseaseName: z.string().max(100).optional(),
  /** 甲类 A, 乙类 B, 丙类 C (notifiable) */
  diseaseClass: z.enum(['A', 'B', 'C']).optional(),
  /** DE02.10.011.00 发病日期 */
  onsetDate: isoDate,
  /** fever: body temperature °C */
  temperature: z.number().min(34).max(43.5).optional(),
  /** diarrhoea: stools per day, character */
  stoolsPerDay: z.number().int().min(1).max(50).optional(),
  stoolCharacter: z.enum(['watery', 'mucus', 'bloody', 'loose', 'other']).optional(),
  /** dog bite: animal, exposure grade (I/II/III per 狂犬病暴露预防处置工作规范 2016), site, actions */
  animal: z.enum(['dog', 'cat', 'other']).optional(),
  exposureGrade: z.enum(['I', 'II', 'III']).optional(),
  woundSite: z.string().max(100).optional(),
  woundTreated: z.boolean().optional(),
  vaccineStarted: z.boolean().optional(),
  immunoglobulin: z.boolean().optional(),
  /** epidemiological history / notes */
  notes: z.string().max(1000).default(''),
  reportedBy: username,
  reportedAt: isoDateTime,
  /** notifiable: hours allowed for the direct network report (2 or 24) */
  reportWithinHours: z.number().int().positive().optional(),
}).superRefine((r, ctx) => {
  if (r.kind === 'notifiable' && !r.icd10Code) ctx.addIssue({ code: 'custom', path: ['icd10Code'], message: 'a notifiable disease report needs its ICD-10 code' });
  if (r.kind === 'dog_bite' && !r.exposureGrade) ctx.addIssue({ code: 'custom', path: ['exposureGrade'], message: 'a dog-bite registration needs the exposure grade' });
  if (r.kind === 'fever' && r.temperature === undefined) ctx.addIssue({ code: 'custom', path: ['temperature'], message: 'a fever registration needs the temperature' });
});

export const clinicalRecordTypes = {
  visit_note: visitNoteSchema,
  prescription: prescriptionSchema,
  order_execution: orderExecutionSchema,
  infectious_report: infectiousReportSchema,
} as const satisfies Record<string, z.ZodType>;

/** 'owner-append' for clinical/financial events, 'lww' for master data edited in several places. */
export const clinicalConflictPolicy: Record<keyof typeof clinicalRecordTypes, 'lww' | 'owner-append'> = {
  visit_note: 'owner-append',
  prescription: 'owner-append',
  order_execution: 'owner-append',
  infectious_report: 'owner-append',
};
