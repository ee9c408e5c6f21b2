/**
 * Clinic HIS record types ([clinic] issue, front desk): schedule, registrations, charges,
 * invoices (with reversal entries), stock movements, dispensing, daily settlements.
 * Kept in their own file so the owning feature can add types without touching the core
 * registry; `records.ts` merges them. Payload fields follow WS 365 / WS 363 data elements
 * where one exists (note the DE identifier beside the field).
 *
 * Money and stock are append-only: an invoice is never changed, a refund is a new
 * `invoice` of kind 'reversal' (冲账) referencing the original; stock is the sum of
 * `stock_movement` entries, never a stored balance.
 */
import { z } from 'zod';

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'date must be yyyy-MM-dd');
const isoDateTime = z.string().datetime({ offset: true });
const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'time must be HH:mm');
const id = z.string().min(1).max(64);
const code = z.string().min(1).max(64);
const fen = z.number().int();

export const REGISTRATION_STATUSES = ['booked', 'registered', 'in-visit', 'finished', 'cancelled', 'refunded'] as const;
export const CHARGE_SOURCE_KINDS = ['registration', 'prescription', 'lab', 'imaging', 'treatment', 'material'] as const;
export const CHARGE_CATEGORIES = ['western_drug', 'tcm_drug', 'patent_drug', 'lab', 'imaging', 'treatment', 'registration', 'material', 'exam'] as const;
export const PAYMENT_METHODS = ['cash', 'insurance', 'wechat', 'alipay', 'card'] as const;
export const STOCK_MOVEMENT_KINDS = ['receipt', 'dispense', 'return', 'adjust', 'transfer'] as const;

/** A schedule slot (号源/排班): one doctor, one department, one time window of one day. */
export const scheduleSlotSchema = z.object({
  slotId: id,
  date: isoDate,
  /** DE08.10.026.00 科室名称 (code from the departments dictionary) */
  departmentCode: code,
  /** local username of the doctor (edge `users.username`) */
  doctorUsername: z.string().min(1).max(32),
  startTime: hhmm,
  endTime: hhmm,
  capacity: z.number().int().positive().max(500),
  feeFen: fen.nonnegative(),
  status: z.enum(['open', 'closed']),
});

/** A registration or appointment (挂号/预约). Each status change is a new version. */
export const registrationSchema = z.object({
  registrationId: id,
  /** DE01.00.021.00 居民健康档案编号 (the local resident id) */
  residentId: id,
  departmentCode: code,
  doctorUsername: z.string().min(1).max(32),
  slotId: id,
  /** DE06.00.062.00 就诊日期 */
  visitDate: isoDate,
  queueNo: z.number().int().positive(),
  status: z.enum(REGISTRATION_STATUSES),
  feeFen: fen.nonnegative(),
  createdBy: z.string().min(1).max(32),
  updatedAt: isoDateTime,
});

/** A chargeable line (收费明细). A refund adds a negative line with `reversesChargeId`. */
export const chargeSchema = z.object({
  chargeId: id,
  registrationId: z.string().max(64).optional(),
  residentId: id,
  sourceKind: z.enum(CHARGE_SOURCE_KINDS),
  sourceId: z.string().max(64).optional(),
  /** drug code (本位码) or charge item code (收费项目编码) */
  itemCode: code,
  itemName: z.string().min(1).max(200),
  category: z.enum(CHARGE_CATEGORIES),
  quantity: z.number().finite(),
  unit: z.string().max(20),
  unitPriceFen: fen.nonnegative(),
  amountFen: fen,
  dispensable: z.boolean(),
  status: z.enum(['pending', 'paid', 'cancelled']),
  invoiceId: z.string().max(64).optional(),
  reversesChargeId: z.string().max(64).optional(),
  createdBy: z.string().min(1).max(32),
  createdAt: isoDateTime,
});

const invoiceLine = z.object({
  chargeId: id,
  itemCode: code,
  itemName: z.string().max(200),
  category: z.enum(CHARGE_CATEGORIES),
  quantity: z.number().finite(),
  unitPriceFen: fen.nonnegative(),
  amountFen: fen,
});

/** An invoice (发票/收据) or its reversal (红冲/冲账). Never changed once written. */
export const invoiceSchema = z.object({
  invoiceId: id,
  /** per-clinic contiguous number, e.g. C001-00000042 */
  invoiceNo: z.string().min(1).max(40),
  kind: z.enum(['invoice', 'reversal']),
  reversesInvoiceId: z.string().max(64).optional(),
  residentId: id,
  registrationId: z.string().max(64).optional(),
  lines: z.array(invoiceLine).min(1).max(200),
  /** sum of lines; negative for a reversal */
  totalFen: fen,
  paymentMethod: z.enum(PAYMENT_METHODS),
  cashier: z.string().min(1).max(32),
  issuedAt: isoDateTime,
  reason: z.string().max(200).optional(),
}).superRefine((v, ctx) => {
  const sum = v.lines.reduce((s, l) => s + l.amountFen, 0);
  if (sum !== v.totalFen) ctx.addIssue({ code: 'custom', path: ['totalFen'], message: `total ${v.totalFen} != sum of lines ${sum}` });
  if (v.kind === 'reversal' && !v.reversesInvoiceId) ctx.addIssue({ code: 'custom', path: ['reversesInvoiceId'], message: 'a reversal references its original invoice' });
});

/** One entry of the drug stock ledger (+ in, - out). Stock = sum of entries. */
export const stockMovementSchema = z.object({
  movementId: id,
  /** drug code (本位码) */
  drugCode: code,
  /** DE08.50.045.00 药品批号 */
  batchNo: z.string().min(1).max(40),
  /** DE08.50.046.00 药品有效期 */
  expiryDate: isoDate,
  quantity: z.number().finite().refine((q) => q !== 0, 'quantity must not be 0'),
  kind: z.enum(STOCK_MOVEMENT_KINDS),
  refKind: z.string().max(32).optional(),
  refId: z.string().max(64).optional(),
  byUser: z.string().min(1).max(32),
  at: isoDateTime,
});

/** A dispensing (发药) or a return (退药) at the pharmacy. */
export const dispenseSchema = z.object({
  dispenseId: id,
  kind: z.enum(['dispense', 'return']),
  residentId: id,
  registrationId: z.string().max(64).optional(),
  lines: z.array(z.object({
    chargeId: id,
    drugCode: code,
    batchNo: z.string().max(40),
    /** positive: units dispensed or returned */
    quantity: z.number().positive(),
  })).min(1).max(200),
  /** DE02.01.039.00-style: the pharmacist's username */
  byUser: z.string().min(1).max(32),
  at: isoDateTime,
});

/** Daily settlement of one cashier (日结). A snapshot of append-only invoices. */
export const settlementSchema = z.object({
  settlementId: id,
  cashier: z.string().min(1).max(32),
  date: isoDate,
  fromAt: isoDateTime,
  toAt: isoDateTime,
  invoiceCount: z.number().int().nonnegative(),
  reversalCount: z.number().int().nonnegative(),
  firstInvoiceNo: z.string().max(40).optional(),
  lastInvoiceNo: z.string().max(40).optional(),
  grossFen: fen,
  refundFen: fen,
  netFen: fen,
  byMethod: z.record(z.string(), fen),
  byCategory: z.record(z.string(), fen),
  settledBy: z.string().min(1).max(32),
  settledAt: isoDateTime,
});

/**
 * An access to a resident's data at the front desk (MLPS 3 audit: who, what, when, from
 * where, outcome), replicated so that central keeps the trail beside the local audit_log.
 */
export const hisAuditSchema = z.object({
  auditId: id,
  at: isoDateTime,
  username: z.string().min(1).max(64),
  action: z.string().min(1).max(64),
  /** 'resident:<id>' or a description without personal data */
  target: z.string().max(200),
  sourceIp: z.string().max(64),
  outcome: z.string().max(300),
});

export const hisRecordTypes = {
  schedule_slot: scheduleSlotSchema,
  registration: registrationSchema,
  charge: chargeSchema,
  invoice: invoiceSchema,
  stock_movement: stockMovementSchema,
  dispense: dispenseSchema,
  settlement: settlementSchema,
  his_audit: hisAuditSchema,
} as const satisfies Record<string, z.ZodType>;

/** 'owner-append' for clinical/financial events, 'lww' for master data edited in several places. */
export const hisConflictPolicy: Record<keyof typeof hisRecordTypes, 'lww' | 'owner-append'> = {
  schedule_slot: 'owner-append',
  registration: 'owner-append',
  charge: 'owner-append',
  invoice: 'owner-append',
  stock_movement: 'owner-append',
  dispense: 'owner-append',
  settlement: 'owner-append',
  his_audit: 'owner-append',
};
