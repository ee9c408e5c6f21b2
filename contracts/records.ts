/**
 * The registry of replicated record types and their payload schemas. Payload fields
 * follow the WS 365 / WS 363 data elements where one exists (the DE identifier is noted).
 * Adding a type: add its schema here, then its apply rule at central.
 */
import { z } from 'zod';
import { checkResidentId } from './identity.ts';
import { auditConflictPolicy, auditRecordTypes } from './records-audit.ts';
import { careConflictPolicy, careRecordTypes } from './records-care.ts';
import { clinicalConflictPolicy, clinicalRecordTypes } from './records-clinical.ts';
import { hisConflictPolicy, hisRecordTypes } from './records-his.ts';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'date must be yyyy-MM-dd');
const isoDateTime = z.string().datetime({ offset: true });
const code = z.string().min(1).max(64);

/** Resident basic information (个人基本信息). Demographics are last-writer-wins by HLC. */
export const residentSchema = z.object({
  residentId: z.string().min(1).max(64),
  /** DE02.01.039.00 姓名 */
  name: z.string().min(1).max(50),
  /** DE02.01.040.00 性别代码 GB/T 2261.1 */
  sex: z.enum(['0', '1', '2', '9']),
  /** DE02.01.005.01 出生日期 */
  birthDate: isoDate,
  /** DE02.01.031.00 身份证件类别代码 CV02.01.101 */
  idType: z.enum(['01', '02', '03', '04', '05', '06', '07', '99']).default('01'),
  /** DE02.01.030.00 身份证件号码 */
  idNumber: z.string().min(1).max(32),
  /** DE02.01.025.00 民族 GB 3304 */
  ethnicity: z.string().regex(/^\d{2}$/).optional(),
  /** DE02.01.018.00 婚姻状况代码 GB/T 2261.2 */
  maritalStatus: z.enum(['10', '20', '21', '22', '23', '30', '40', '90']).optional(),
  phone: z.string().max(20).optional(),
  address: z.string().max(200).optional(),
  insuranceCardNo: z.string().max(40).optional(),
  healthCardId: z.string().max(80).optional(),
}).superRefine((r, ctx) => {
  if (r.idType !== '01') return;
  const c = checkResidentId(r.idNumber);
  if (!c.ok) ctx.addIssue({ code: 'custom', path: ['idNumber'], message: c.reason });
  else if (c.birthDate !== r.birthDate) ctx.addIssue({ code: 'custom', path: ['birthDate'], message: `birth date ${r.birthDate} does not match the ID number (${c.birthDate})` });
});

/** A registration or visit (挂号/就诊). */
export const encounterSchema = z.object({
  encounterId: z.string().min(1).max(64),
  residentId: z.string().min(1).max(64),
  /** outpatient, emergency, home visit, public-health follow-up */
  class: z.enum(['outpatient', 'emergency', 'home', 'followup']),
  status: z.enum(['registered', 'in-progress', 'finished', 'cancelled']),
  departmentCode: code,
  doctorCode: code.optional(),
  registeredAt: isoDateTime,
  chiefComplaint: z.string().max(500).optional(),
  diagnoses: z.array(z.object({ code, name: z.string().max(200), primary: z.boolean().default(false) })).max(20).default([]),
  feeFen: z.number().int().nonnegative().optional(),
});

/** A device or manual reading (体征/设备测量). */
export const observationSchema = z.object({
  observationId: z.string().min(1).max(64),
  residentId: z.string().min(1).max(64).optional(),
  /** LOINC where one exists, otherwise a local code */
  code,
  display: z.string().max(100),
  value: z.number().finite(),
  unit: z.string().max(20),
  effectiveAt: isoDateTime,
  deviceId: z.string().max(64).optional(),
  interpretation: z.enum(['N', 'L', 'H', 'LL', 'HH']).optional(),
  /** Outside the device profile's plausible range: flagged for review, never dropped. */
  implausible: z.boolean().optional(),
});

export const labResultSchema = z.object({
  resultId: z.string().min(1).max(64),
  residentId: z.string().min(1).max(64).optional(),
  specimenId: z.string().min(1).max(64),
  orderId: z.string().max(64).optional(),
  testCode: code,
  testName: z.string().max(100),
  value: z.string().max(100),
  unit: z.string().max(20).optional(),
  referenceRange: z.string().max(50).optional(),
  flag: z.enum(['N', 'L', 'H', 'LL', 'HH', 'A']).optional(),
  status: z.enum(['preliminary', 'final', 'corrected']),
  resultedAt: isoDateTime,
  analyserId: z.string().max(64).optional(),
  /** Outside the analyser profile's plausible range: flagged for review, never dropped. */
  implausible: z.boolean().optional(),
});

export const imagingStudySchema = z.object({
  studyInstanceUid: z.string().regex(/^[0-9.]{1,64}$/),
  residentId: z.string().max(64).optional(),
  accessionNumber: z.string().max(16).optional(),
  modality: z.enum(['US', 'DX', 'CR', 'OT']),
  studyDate: z.string().max(8).optional(),
  description: z.string().max(200).optional(),
  seriesCount: z.number().int().nonnegative(),
  instanceCount: z.number().int().nonnegative(),
  stationAe: z.string().max(16).optional(),
});

export const orderSchema = z.object({
  orderId: z.string().min(1).max(64),
  residentId: z.string().min(1).max(64),
  encounterId: z.string().max(64).optional(),
  kind: z.enum(['lab', 'imaging', 'drug', 'treatment']),
  code,
  display: z.string().max(200),
  status: z.enum(['requested', 'scheduled', 'in-progress', 'completed', 'cancelled']),
  requestedAt: isoDateTime,
  accessionNumber: z.string().max(16).optional(),
  modality: z.enum(['US', 'DX', 'CR']).optional(),
  specimenId: z.string().max(64).optional(),
});

export const recordTypes = {
  resident: residentSchema,
  encounter: encounterSchema,
  observation: observationSchema,
  lab_result: labResultSchema,
  imaging_study: imagingStudySchema,
  order: orderSchema,
  ...hisRecordTypes,
  ...clinicalRecordTypes,
  ...careRecordTypes,
  ...auditRecordTypes,
} as const;

export type RecordType = keyof typeof recordTypes;
export type RecordPayload<T extends RecordType> = z.infer<(typeof recordTypes)[T]>;
export const RECORD_TYPE_NAMES = Object.keys(recordTypes) as RecordType[];

export function isRecordType(t: string): t is RecordType {
  return Object.prototype.hasOwnProperty.call(recordTypes, t);
}

/** How each type resolves concurrent writes: clinical events are owned and append-only. */
export const conflictPolicy: Record<RecordType, 'lww' | 'owner-append'> = {
  resident: 'lww',
  encounter: 'owner-append',
  observation: 'owner-append',
  lab_result: 'owner-append',
  imaging_study: 'owner-append',
  order: 'owner-append',
  ...hisConflictPolicy,
  ...clinicalConflictPolicy,
  ...careConflictPolicy,
  ...auditConflictPolicy,
};
