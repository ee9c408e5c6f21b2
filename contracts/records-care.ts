/**
 * Public-health and family-doctor record types ([care] issue): health records, follow-ups, assessments, contracts, referrals ...
 * Kept in their own file so the owning feature can add types without touching the core
 * registry; `records.ts` merges them. Payload fields follow WS 365 / WS 363 data elements
 * where one exists (note the DE identifier beside the field; identifiers are given only where
 * we are confident of them, otherwise the Chinese name of the form field is given).
 *
 * Conventions for the portal's indicators:
 * - Dates are `yyyy-MM-dd` (local clinic date); instants are ISO with offset.
 * - `teamId` is an `fd_team.teamId`; `doctorCode` is the staff code (dictionary `staff`, or the
 *   edge account's user name where no dictionary entry exists).
 * - Every record is re-emitted with a higher version when it changes (status changes,
 *   corrections); the latest version is the truth. Nothing is deleted: a cancelled or
 *   terminated record keeps its history.
 * - Diseases are 'HTN' (hypertension, 高血压) and 'T2DM' (type 2 diabetes, 2型糖尿病).
 *
 * How the edge fills them (for indicator definitions; DOMAIN.md "KPIs"):
 * - record rate: active `health_record` per resident / permanent residents (status 'active').
 * - dynamic use: `health_record.lastUpdatedDate` in the period, or any follow-up/check/contract
 *   record of that resident dated in the period.
 * - managed patients: `chronic_enrolment` with status 'active' (ended ones keep endedDate).
 * - standardised management: >= 4 `chronic_followup` of the enrolment in the year.
 * - control: `chronic_followup.control === 'controlled'` at the patient's latest follow-up of
 *   the year (the decision the edge rules took at the visit is stored, not recomputed).
 * - urgent referrals: `chronic_followup.urgentReferral`; the `referral` it created carries
 *   followupDueDate (date + 14) and followedUpDate/status 'completed' once followed up.
 * - contracts: `fd_contract` in force = status != 'terminated' and startDate <= day <= endDate;
 *   renewal = a contract with previousContractId (status 'renewed'); fulfilment = `fd_service`
 *   count per (contractId, packageId, serviceCode) against `fd_package.services[].timesPerYear`.
 */
import { z } from 'zod';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'date must be yyyy-MM-dd');
const isoDateTime = z.string().datetime({ offset: true });
const id = z.string().min(1).max(64);
const code = z.string().min(1).max(64);
const text = (n: number) => z.string().max(n);

export const CHRONIC_DISEASES = ['HTN', 'T2DM'] as const;
export const chronicDisease = z.enum(CHRONIC_DISEASES);

/**
 * Key-population tags (重点人群) used on contracts and screening. Codes are ours; Chinese labels
 * in edge-agent/care/i18n.ts. elderly >= 65; children 0-6; maternal = pregnant and postpartum;
 * severe_mental = 严重精神障碍; tb = 肺结核; disabled = 残疾人; low_income = 低保/特困;
 * family_planning = 计划生育特殊家庭.
 */
export const KEY_POPULATION_TAGS = ['elderly', 'hypertension', 'diabetes', 'children', 'maternal', 'severe_mental', 'tb', 'disabled', 'low_income', 'family_planning'] as const;
export const keyPopulationTag = z.enum(KEY_POPULATION_TAGS);

/**
 * Resident health record (城乡居民健康档案, WS 365 part 1 personal basic information plus the
 * record's administrative state). One per resident; 'lww' because a migration is written by
 * the clinic that hands it over and later maintained by the one that receives it.
 */
export const healthRecordSchema = z.object({
  /** DE01.00.009.00 城乡居民健康档案编号: 17 digits (6 county + 3 street + 3 committee + 5 serial) */
  healthRecordNo: z.string().regex(/^\d{17}$/, 'health record number must be 17 digits'),
  residentId: id,
  /** active 在档; migrated 已迁出 (to `migratedToClinicId`); cancelled 已注销 (death, moved away, duplicate merged) */
  status: z.enum(['active', 'migrated', 'cancelled']),
  /** Clinic holding the record (建档/管理机构) */
  clinicId: z.string().min(1).max(64),
  /** 建档日期 */
  createdDate: isoDate,
  /** 建档人 (staff code) */
  createdBy: code,
  /** 责任医生 */
  doctorCode: code.optional(),
  teamId: id.optional(),
  /** 常住类型: 1 户籍, 2 非户籍 */
  residenceType: z.enum(['1', '2']).optional(),
  /** 现住址 (free text; the address on `resident` is the registered one) */
  currentAddress: text(200).optional(),
  /** Contact person (联系人姓名/电话) */
  contactName: text(50).optional(),
  contactPhone: text(20).optional(),
  /** DE04.50.001.00 ABO 血型代码: 1 A, 2 B, 3 O, 4 AB, 5 unknown */
  aboBloodGroup: z.enum(['1', '2', '3', '4', '5']).optional(),
  /** Rh 血型: 1 negative, 2 positive, 3 unknown */
  rhBloodGroup: z.enum(['1', '2', '3']).optional(),
  /** 文化程度 (GB/T 4658 code, free) */
  education: text(10).optional(),
  /** 职业 (GB/T 6565 code, free) */
  occupation: text(10).optional(),
  /** 医疗费用支付方式 (CV07.10.003 codes, several) */
  paymentModes: z.array(text(4)).max(8).default([]),
  /** 药物过敏史 */
  drugAllergies: z.array(text(50)).max(20).default([]),
  /** 既往史 - diseases with ICD-10 code and diagnosis date */
  pastDiseases: z.array(z.object({ code: text(20).optional(), name: text(100), diagnosedDate: isoDate.optional() })).max(30).default([]),
  /** 家族史 (relation: father/mother/sibling/child) */
  familyHistory: z.array(z.object({ relation: z.enum(['father', 'mother', 'sibling', 'child']), disease: text(100) })).max(30).default([]),
  /** 残疾情况 */
  disabilities: z.array(text(50)).max(10).default([]),
  /** Migration (迁出): when, to which clinic, why */
  migratedToClinicId: text(64).optional(),
  migratedDate: isoDate.optional(),
  migrationReason: text(200).optional(),
  /** Cancellation (注销) */
  cancelledDate: isoDate.optional(),
  cancelReason: z.enum(['death', 'moved_away', 'duplicate', 'other']).optional(),
  cancelNote: text(200).optional(),
  /** When cancelled as a duplicate: the surviving record it was merged into */
  mergedIntoRecordNo: z.string().regex(/^\d{17}$/).optional(),
  /** Record numbers merged into this one (duplicate merge, survivor side) */
  mergedFrom: z.array(z.string().regex(/^\d{17}$/)).max(20).default([]),
  /** Last time staff touched the record (for the dynamic use rate) */
  lastUpdatedDate: isoDate,
});

/** Enrolment in chronic-disease management (高血压/2型糖尿病患者管理). */
export const chronicEnrolmentSchema = z.object({
  enrolmentId: id,
  residentId: id,
  disease: chronicDisease,
  /** 纳入管理日期 */
  enrolledDate: isoDate,
  /** 确诊日期 */
  diagnosedDate: isoDate.optional(),
  teamId: id.optional(),
  doctorCode: code,
  /** active 管理中; ended 结案 (death, moved, diagnosis withdrawn) */
  status: z.enum(['active', 'ended']),
  endedDate: isoDate.optional(),
  endReason: z.enum(['death', 'moved_away', 'diagnosis_withdrawn', 'other']).optional(),
  /** BP at enrolment (mmHg) / fasting glucose (mmol/L) */
  sbp: z.number().int().min(40).max(300).optional(),
  dbp: z.number().int().min(20).max(200).optional(),
  fastingGlucose: z.number().min(0.5).max(50).optional(),
});

/** BP class per the national specification (DOMAIN.md). */
export const BP_CLASSES = ['normal', 'high_normal', 'grade1', 'grade2', 'grade3'] as const;

/**
 * One hypertension or type 2 diabetes follow-up (高血压/2型糖尿病患者随访服务记录表).
 * The classification fields are computed by edge-agent/care/rules at the time of the visit and
 * stored, so indicators read the decision that was made.
 */
export const chronicFollowupSchema = z.object({
  followupId: id,
  residentId: id,
  enrolmentId: id,
  disease: chronicDisease,
  /** 随访日期 */
  date: isoDate,
  /** 随访方式: clinic 门诊, home 家庭, phone 电话 */
  mode: z.enum(['clinic', 'home', 'phone']),
  /** 症状 (codes of the national form: none, headache_dizziness, nausea_vomiting, ... free) */
  symptoms: z.array(text(40)).max(20).default([]),
  /** DE04.10.174.00 收缩压 / DE04.10.176.00 舒张压 (mmHg) */
  sbp: z.number().int().min(40).max(300).optional(),
  dbp: z.number().int().min(20).max(200).optional(),
  heartRate: z.number().int().min(20).max(250).optional(),
  weightKg: z.number().min(2).max(300).optional(),
  heightCm: z.number().min(40).max(250).optional(),
  bmi: z.number().min(5).max(80).optional(),
  /** 空腹血糖 mmol/L (T2DM; optional for HTN) */
  fastingGlucose: z.number().min(0.5).max(50).optional(),
  hba1c: z.number().min(2).max(20).optional(),
  /** 足背动脉搏动 (T2DM) */
  footPulse: z.enum(['normal', 'weak', 'absent']).optional(),
  /** Lifestyle: cigarettes/day, liang of liquor/day, exercise sessions/week and minutes/session, salt */
  smokingPerDay: z.number().int().min(0).max(200).optional(),
  drinkingPerDay: z.number().min(0).max(50).optional(),
  exerciseTimesPerWeek: z.number().int().min(0).max(21).optional(),
  exerciseMinutes: z.number().int().min(0).max(600).optional(),
  saltIntake: z.enum(['light', 'moderate', 'heavy']).optional(),
  /** 服药依从性 */
  medicationAdherence: z.enum(['regular', 'intermittent', 'none']).optional(),
  adverseDrugReaction: text(200).optional(),
  medications: z.array(z.object({ name: text(100), dose: text(100) })).max(20).default([]),
  /** Where the vitals came from: device reading ids and/or a visit (encounter) id */
  sourceReadingIds: z.array(id).max(10).default([]),
  sourceEncounterId: id.optional(),
  /** Computed: BP class (HTN and T2DM), glucose class (T2DM) */
  bpClass: z.enum(BP_CLASSES).optional(),
  glucoseClass: z.enum(['low', 'normal', 'impaired', 'high']).optional(),
  /** 此次随访分类: controlled 控制满意; uncontrolled 控制不满意; adverse_reaction 不良反应; complication 并发症 */
  control: z.enum(['controlled', 'uncontrolled', 'adverse_reaction', 'complication']),
  /** Urgent referral (紧急转诊) flagged by the rules, with the reasons (Chinese text) */
  urgentReferral: z.boolean(),
  urgentReasons: z.array(text(100)).max(10).default([]),
  /** Referral decided at this visit (urgent, or two consecutive uncontrolled, or complication) */
  referral: z.object({ reason: text(200), toOrg: text(100).optional(), referralId: id.optional() }).optional(),
  /** 下次随访日期 */
  nextDueDate: isoDate,
  /** The follow-up this one closes (e.g. the 2-week check after an urgent referral) */
  closesFollowupId: id.optional(),
  doctorCode: code,
  teamId: id.optional(),
  note: text(500).optional(),
});

export const SELF_CARE_LEVELS = ['independent', 'mild', 'moderate', 'dependent'] as const;

/** Elderly annual health check (老年人健康管理: 生活自理能力评估 + 体检). */
export const elderlyCheckSchema = z.object({
  checkId: id,
  residentId: id,
  date: isoDate,
  /** 生活自理能力评估 item scores: eating 0/0/3/5, grooming 0/1/3/7, dressing 0/0/3/5, toileting 0/1/5/10, activity 0/1/5/10 */
  selfCare: z.object({
    eating: z.union([z.literal(0), z.literal(3), z.literal(5)]),
    grooming: z.union([z.literal(0), z.literal(1), z.literal(3), z.literal(7)]),
    dressing: z.union([z.literal(0), z.literal(3), z.literal(5)]),
    toileting: z.union([z.literal(0), z.literal(1), z.literal(5), z.literal(10)]),
    activity: z.union([z.literal(0), z.literal(1), z.literal(5), z.literal(10)]),
  }),
  selfCareScore: z.number().int().min(0).max(37),
  /** 0-3 可自理, 4-8 轻度依赖, 9-18 中度依赖, >= 19 不能自理 */
  selfCareLevel: z.enum(SELF_CARE_LEVELS),
  /** 老年人健康状态自我评估: 1 satisfied .. 5 dissatisfied */
  healthSelfRating: z.enum(['1', '2', '3', '4', '5']).optional(),
  /** 认知功能 / 情感状态 粗筛 */
  cognitiveScreenPositive: z.boolean().optional(),
  emotionalScreenPositive: z.boolean().optional(),
  sbp: z.number().int().min(40).max(300).optional(),
  dbp: z.number().int().min(20).max(200).optional(),
  heartRate: z.number().int().min(20).max(250).optional(),
  temperatureC: z.number().min(30).max(45).optional(),
  weightKg: z.number().min(2).max(300).optional(),
  heightCm: z.number().min(40).max(250).optional(),
  waistCm: z.number().min(30).max(250).optional(),
  fastingGlucose: z.number().min(0.5).max(50).optional(),
  /** Which of the annual items were done (blood/urine routine, liver, renal, lipids, ECG, abdominal US) */
  itemsDone: z.array(z.enum(['blood_routine', 'urine_routine', 'liver_function', 'renal_function', 'fasting_glucose', 'lipids', 'ecg', 'abdominal_us'])).max(8).default([]),
  /** 健康评价 / 健康指导 */
  conclusion: text(500).optional(),
  guidance: text(500).optional(),
  doctorCode: code,
  teamId: id.optional(),
});

export const TCM_TYPES = ['balanced', 'qi_deficiency', 'yang_deficiency', 'yin_deficiency', 'phlegm_damp', 'damp_heat', 'blood_stasis', 'qi_stagnation', 'special'] as const;
export const tcmType = z.enum(TCM_TYPES);

/** 老年人中医药健康管理: constitution identification (33 items -> 9 types) with guidance. */
export const tcmAssessmentSchema = z.object({
  assessmentId: id,
  residentId: id,
  date: isoDate,
  /** The 33 answers in question order, 1 (never) .. 5 (always) */
  answers: z.array(z.number().int().min(1).max(5)).length(33),
  /** Per type: raw score (sum of its items, reversed items flipped) */
  rawScores: z.record(tcmType, z.number().int().min(0).max(50)),
  /** yes 是; tendency 倾向是 (biased types) / basically 基本是 (balanced); no 否 */
  results: z.record(tcmType, z.enum(['yes', 'tendency', 'basically', 'no'])),
  /** Types judged yes (or balanced basically-yes); tendencies are listed separately */
  constitutions: z.array(tcmType).max(9),
  tendencies: z.array(tcmType).max(9).default([]),
  guidance: text(1000).optional(),
  doctorCode: code,
  teamId: id.optional(),
});

/** Health education activity (健康教育活动). Uploaded files stay at the clinic; only their digest travels. */
export const healthEducationSchema = z.object({
  activityId: id,
  date: isoDate,
  /** print 发放印刷资料; video 播放音像资料; board 宣传栏; consultation 公众健康咨询; lecture 健康知识讲座; individual 个体化教育 */
  kind: z.enum(['print', 'video', 'board', 'consultation', 'lecture', 'individual']),
  topic: text(200).min(1),
  location: text(100).optional(),
  organiser: text(100).optional(),
  attendeeCount: z.number().int().min(0).max(100000),
  attendeeResidentIds: z.array(id).max(500).default([]),
  /** Printed copies handed out (for 'print') */
  copies: z.number().int().min(0).max(1000000).optional(),
  materials: z.array(z.object({ name: text(200), bytes: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/), mime: text(100) })).max(20).default([]),
  summary: text(1000).optional(),
  teamId: id.optional(),
  recordedBy: code,
});

/** Family-doctor team (家庭医生团队) of a centre. */
export const fdTeamSchema = z.object({
  teamId: id,
  name: text(100).min(1),
  leaderCode: code,
  members: z.array(z.object({ staffCode: code, name: text(50), role: z.enum(['gp', 'nurse', 'public_health', 'pharmacist', 'specialist', 'other']) })).min(1).max(30),
  active: z.boolean(),
});

/** Service package (服务包): basic 基础包 or personalised 个性化包. Prices in fen. */
export const fdPackageSchema = z.object({
  packageId: id,
  name: text(100).min(1),
  kind: z.enum(['basic', 'personalised']),
  priceFen: z.number().int().nonnegative(),
  /** Part paid by the resident (the rest by insurance/public-health funds) */
  selfPayFen: z.number().int().nonnegative(),
  /** Services with the agreed number per contract year (for the fulfilment rate) */
  services: z.array(z.object({ code: code, name: text(100), timesPerYear: z.number().int().min(0).max(365) })).max(50),
  /** Recommended for residents with any of these tags */
  targetTags: z.array(keyPopulationTag).max(10).default([]),
  active: z.boolean(),
});

/**
 * Family-doctor contract (家庭医生签约服务协议). A renewal is a new contract whose
 * `previousContractId` names the one it renews; termination is a new version of the contract.
 */
export const fdContractSchema = z.object({
  contractId: id,
  residentId: id,
  teamId: id,
  doctorCode: code,
  packageIds: z.array(id).min(1).max(10),
  /** signed 已签约; renewed 已续约 (this contract is a renewal); terminated 已解约 */
  status: z.enum(['signed', 'renewed', 'terminated']),
  signedDate: isoDate,
  startDate: isoDate,
  endDate: isoDate,
  previousContractId: id.optional(),
  terminatedDate: isoDate.optional(),
  terminationReason: text(200).optional(),
  keyPopulationTags: z.array(keyPopulationTag).max(10).default([]),
  /** How the resident identified at signing: ID card 身份证, e-health card 电子健康卡, other */
  signMethod: z.enum(['id_card', 'e_health_card', 'manual']),
  /** Signed by the resident or an agent (代签) */
  signerName: text(50),
  signerRelation: z.enum(['self', 'spouse', 'child', 'parent', 'other']).default('self'),
  feeFen: z.number().int().nonnegative(),
});

/**
 * A service delivered under a contract (履约服务), for the fulfilment rate: each delivery of a
 * package service item (`fd_package.services[].code`) to the contracted resident.
 */
export const fdServiceSchema = z.object({
  serviceId: id,
  contractId: id,
  residentId: id,
  packageId: id,
  serviceCode: code,
  serviceName: text(100),
  date: isoDate,
  note: text(200).optional(),
  doctorCode: code,
  teamId: id.optional(),
});

/** Health plan (健康计划) with its goals; follow-up appointments are `care_appointment`. */
export const carePlanSchema = z.object({
  planId: id,
  residentId: id,
  createdDate: isoDate,
  periodStart: isoDate,
  periodEnd: isoDate,
  problems: z.array(text(200)).max(20).default([]),
  goals: z.array(text(200)).max(20).default([]),
  interventions: z.array(text(200)).max(30).default([]),
  status: z.enum(['active', 'completed', 'cancelled']),
  doctorCode: code,
  teamId: id.optional(),
});

/** Appointment / scheduled service (预约随访、体检、上门服务). */
export const careAppointmentSchema = z.object({
  appointmentId: id,
  residentId: id,
  kind: z.enum(['htn_followup', 't2dm_followup', 'elderly_check', 'tcm', 'home_visit', 'consultation', 'other']),
  date: isoDate,
  time: z.string().regex(/^\d{2}:\d{2}$/).optional(),
  status: z.enum(['booked', 'done', 'missed', 'cancelled']),
  planId: id.optional(),
  note: text(200).optional(),
  doctorCode: code,
  teamId: id.optional(),
});

/** Two-way referral (双向转诊): up 上转 to a higher-level hospital, down 下转 back to the community. */
export const referralSchema = z.object({
  referralId: id,
  residentId: id,
  direction: z.enum(['up', 'down']),
  date: isoDate,
  urgent: z.boolean(),
  fromOrg: text(100),
  toOrg: text(100),
  toDepartment: text(100).optional(),
  reason: text(500).min(1),
  /** Initial diagnosis (ICD-10) */
  diagnosisCode: text(20).optional(),
  diagnosisName: text(200).optional(),
  /** The follow-up that triggered it, if any */
  followupId: id.optional(),
  /** issued 已转出; received 对方已接收; completed 已回访 (the 2-week follow-up done); cancelled */
  status: z.enum(['issued', 'received', 'completed', 'cancelled']),
  /** Follow-up due (urgent referral: within 2 weeks) and when it was done */
  followupDueDate: isoDate.optional(),
  followedUpDate: isoDate.optional(),
  outcome: text(500).optional(),
  doctorCode: code,
  teamId: id.optional(),
});

/**
 * 10-year ASCVD risk by China-PAR (Yang X et al., Circulation 2016). Inputs are stored with
 * the result so the portal can recompute or audit. `coefficientsVerified` is the `verified` flag
 * of the coefficient table used (true for the published table shipped in
 * edge-agent/care/rules/ascvd.ts; an administrator's pasted table carries its own flag).
 */
export const ascvdAssessmentSchema = z.object({
  assessmentId: id,
  residentId: id,
  date: isoDate,
  model: z.literal('china-par-2016'),
  coefficientsVerified: z.boolean(),
  sex: z.enum(['1', '2']),
  age: z.number().int().min(20).max(120),
  sbp: z.number().int().min(60).max(300),
  onBpTreatment: z.boolean(),
  totalCholesterol: z.number().min(1).max(20),
  hdlCholesterol: z.number().min(0.1).max(5),
  waistCm: z.number().min(40).max(200),
  smoker: z.boolean(),
  diabetes: z.boolean(),
  region: z.enum(['north', 'south']),
  area: z.enum(['urban', 'rural']),
  familyHistory: z.boolean(),
  risk10yPercent: z.number().min(0).max(100),
  /** < 5 low, 5-9.9 medium, >= 10 high */
  band: z.enum(['low', 'medium', 'high']),
  doctorCode: code,
  teamId: id.optional(),
});

const clinicIdText = z.string().regex(/^[a-z0-9][a-z0-9-]{1,31}$/, 'clinic id: lower-case letters, digits and dashes');

/**
 * Health-record migration (档案迁出/迁入), sender side: the package the sending clinic hands over,
 * written in the same transaction that marks its `health_record` migrated. Central routes it to
 * the receiving clinic (`central.transfer.<toClinicId>`, edge-agent/care/transfer.ts), which
 * accepts (the record, its chronic enrolments and, read-only, the follow-up history become that
 * clinic's) or refuses with a reason (`record_transfer_decision`, routed back to the sender,
 * whose record becomes active again). recordId = transferId.
 */
export const recordTransferSchema = z.object({
  transferId: id,
  healthRecordNo: z.string().regex(/^\d{17}$/),
  fromClinicId: clinicIdText,
  fromClinicName: text(100).optional(),
  toClinicId: clinicIdText,
  date: isoDate,
  reason: text(200),
  sentBy: code,
  /** The resident's demographics at the sender (the receiver creates or finds its own resident). */
  resident: z.object({
    residentId: id, name: z.string().min(1).max(50), sex: z.enum(['0', '1', '2', '9']), birthDate: isoDate,
    idType: text(4), idNumber: z.string().min(1).max(32), phone: text(20).optional(), address: text(200).optional(),
  }),
  /** The record as it was before the migration (status active). */
  healthRecord: healthRecordSchema,
  enrolments: z.array(chronicEnrolmentSchema).max(10),
  /** Follow-up history, newest 100 (kept read-only at the receiver; keeps the envelope well under 256 KB). */
  followups: z.array(chronicFollowupSchema).max(100),
});

/** Health-record migration, receiver side: accepted or refused (with a reason). recordId = transferId. */
export const recordTransferDecisionSchema = z.object({
  transferId: id,
  healthRecordNo: z.string().regex(/^\d{17}$/),
  fromClinicId: clinicIdText,
  toClinicId: clinicIdText,
  decision: z.enum(['accepted', 'refused']),
  reason: text(200).optional(),
  decidedAt: isoDateTime,
  decidedBy: code,
  /** The receiving clinic's resident holding the record (accepted). */
  residentId: id.optional(),
}).refine((d) => d.decision === 'accepted' || !!d.reason?.trim(), { message: 'a refusal needs a reason', path: ['reason'] });

/**
 * Central -> edge message on `central.transfer.<clinicId>` (JetStream stream CARE_TRANSFERS):
 * an offer to the receiving clinic, or the receiver's decision back to the sending clinic.
 */
export const careTransferMessageSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('offer'), transfer: recordTransferSchema }),
  z.object({ kind: z.literal('decision'), decision: recordTransferDecisionSchema }),
]);
export type CareTransferMessage = z.infer<typeof careTransferMessageSchema>;

export const careRecordTypes = {
  health_record: healthRecordSchema,
  chronic_enrolment: chronicEnrolmentSchema,
  chronic_followup: chronicFollowupSchema,
  elderly_check: elderlyCheckSchema,
  tcm_assessment: tcmAssessmentSchema,
  health_education: healthEducationSchema,
  fd_team: fdTeamSchema,
  fd_package: fdPackageSchema,
  fd_contract: fdContractSchema,
  fd_service: fdServiceSchema,
  care_plan: carePlanSchema,
  care_appointment: careAppointmentSchema,
  referral: referralSchema,
  ascvd_assessment: ascvdAssessmentSchema,
  record_transfer: recordTransferSchema,
  record_transfer_decision: recordTransferDecisionSchema,
} as const satisfies Record<string, z.ZodType>;

/** 'owner-append' for clinical/financial events, 'lww' for master data edited in several places. */
export const careConflictPolicy: Record<keyof typeof careRecordTypes, 'lww' | 'owner-append'> = {
  health_record: 'lww',
  chronic_enrolment: 'owner-append',
  chronic_followup: 'owner-append',
  elderly_check: 'owner-append',
  tcm_assessment: 'owner-append',
  health_education: 'owner-append',
  fd_team: 'lww',
  fd_package: 'lww',
  fd_contract: 'owner-append',
  fd_service: 'owner-append',
  care_plan: 'owner-append',
  care_appointment: 'owner-append',
  referral: 'owner-append',
  ascvd_assessment: 'owner-append',
  record_transfer: 'owner-append',
  record_transfer_decision: 'owner-append',
};
