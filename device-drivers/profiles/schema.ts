/**
 * Device profiles are data (YAML files next to this one), validated here at load time.
 * A profile lists the measured quantities with code, unit, scaling, data type, where the
 * value sits in the protocol (Modbus register / HL7 OBX-3 / ASTM test id), and the
 * plausible and critical ranges.
 */
import { z } from 'zod';

export const rangeSchema = z.object({
  low: z.number().finite().optional(),
  high: z.number().finite().optional(),
  /** Whether a value equal to a bound is already outside (e.g. SBP >= 180 is critical). */
  inclusive: z.boolean().default(false),
}).refine((r) => r.low === undefined || r.high === undefined || r.low <= r.high, 'low must be <= high');

export const modbusDataTypes = ['bool', 'uint16', 'int16', 'uint32', 'int32', 'float32'] as const;

export const modbusLocationSchema = z.object({
  /** coil = FC01, discrete = FC02, holding = FC03, input = FC04 */
  table: z.enum(['coil', 'discrete', 'holding', 'input']),
  address: z.number().int().min(0).max(65535),
});

export const quantitySchema = z.object({
  key: z.string().regex(/^[a-z][a-zA-Z0-9_]*$/, 'key must be an identifier'),
  /** LOINC where one exists, else a local code `LOCAL:xxx` */
  code: z.string().min(1).max(64),
  codeSystem: z.enum(['LOINC', 'LOCAL']),
  display: z.string().min(1).max(100),
  displayZh: z.string().max(50).optional(),
  unit: z.string().max(20),
  dataType: z.enum([...modbusDataTypes, 'number', 'string']),
  /** value = raw * scale + offset */
  scale: z.number().finite().default(1),
  offset: z.number().finite().default(0),
  decimals: z.number().int().min(0).max(6).default(0),
  modbus: modbusLocationSchema.optional(),
  /** HL7: OBX-3 identifiers (component 1) this quantity is matched by */
  hl7: z.object({ observationIds: z.array(z.string().min(1)).min(1) }).optional(),
  /** ASTM: the test id in R-4 (universal test id, 4th component, `^^^GLU`) */
  astm: z.object({ testId: z.string().min(1) }).optional(),
  /** Outside this the device is wrong, not the patient: flagged implausible. */
  plausible: rangeSchema,
  /** Reference (normal) range for L/H interpretation. */
  normal: rangeSchema.optional(),
  /** Critical values (危急值): LL/HH. Institutions may override per device. */
  critical: rangeSchema.optional(),
  /** Simulator hints: typical mean and spread. */
  sim: z.object({ mean: z.number(), sd: z.number().nonnegative() }).optional(),
});

const base = {
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{1,62}$/),
  name: z.string().min(1).max(100),
  nameZh: z.string().max(50).optional(),
  kind: z.enum(['vital-signs', 'lab-analyser']),
  quantities: z.array(quantitySchema).min(1),
};

export const modbusProfileSchema = z.object({
  ...base,
  protocol: z.literal('modbus'),
  recordType: z.literal('observation'),
  pollIntervalMs: z.number().int().min(100).max(3_600_000),
  modbus: z.object({
    unitId: z.number().int().min(0).max(247).default(1),
    /** 32-bit values: which 16-bit word comes first */
    wordOrder: z.enum(['big', 'little']).default('big'),
    timeoutMs: z.number().int().min(50).max(30_000).default(1000),
  }),
});

export const hl7ProfileSchema = z.object({
  ...base,
  protocol: z.literal('hl7'),
  recordType: z.literal('observation'),
  hl7: z.object({ messageTypes: z.array(z.string()).min(1).default(['ORU^R01']) }),
});

export const astmProfileSchema = z.object({
  ...base,
  protocol: z.literal('astm'),
  recordType: z.literal('lab_result'),
  astm: z.object({ /** link-layer timeouts per E1381 */ receiveTimeoutMs: z.number().int().min(100).default(30_000) }),
});

export const profileSchema = z.discriminatedUnion('protocol', [modbusProfileSchema, hl7ProfileSchema, astmProfileSchema]).superRefine((p, ctx) => {
  const keys = new Set<string>();
  p.quantities.forEach((q, i) => {
    if (keys.has(q.key)) ctx.addIssue({ code: 'custom', path: ['quantities', i, 'key'], message: `duplicate quantity key ${q.key}` });
    keys.add(q.key);
    if (p.protocol === 'modbus' && !q.modbus) ctx.addIssue({ code: 'custom', path: ['quantities', i, 'modbus'], message: 'modbus profile quantity needs a register location' });
    if (p.protocol === 'modbus' && !(modbusDataTypes as readonly string[]).includes(q.dataType)) ctx.addIssue({ code: 'custom', path: ['quantities', i, 'dataType'], message: `modbus data type must be one of ${modbusDataTypes.join(', ')}` });
    if (p.protocol === 'hl7' && !q.hl7) ctx.addIssue({ code: 'custom', path: ['quantities', i, 'hl7'], message: 'hl7 profile quantity needs observationIds' });
    if (p.protocol === 'astm' && !q.astm) ctx.addIssue({ code: 'custom', path: ['quantities', i, 'astm'], message: 'astm profile quantity needs a testId' });
    if (q.codeSystem === 'LOINC' && !/^\d{1,7}-\d$/.test(q.code)) ctx.addIssue({ code: 'custom', path: ['quantities', i, 'code'], message: `not a LOINC code: ${q.code}` });
  });
});

export type Range = z.infer<typeof rangeSchema>;
export type Quantity = z.infer<typeof quantitySchema>;
export type ModbusProfile = z.infer<typeof modbusProfileSchema>;
export type Hl7Profile = z.infer<typeof hl7ProfileSchema>;
export type AstmProfile = z.infer<typeof astmProfileSchema>;
export type DeviceProfile = z.infer<typeof profileSchema>;
