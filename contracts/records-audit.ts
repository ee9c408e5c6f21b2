/**
 * The replicated audit trail (MLPS level 3 / GB/T 22239 asks for central audit): every entry
 * an edge writes to its local `audit_log` (sign-in, sign-out, failed logins, lockouts, account
 * changes, every read or write of a resident's data in any module, refusals) is also emitted as
 * an `audit_event` record in the SAME SQLite transaction as the local row, through the outbox,
 * so central holds the same trail and an entry is never in one place only.
 *
 * Kept in its own file like the other feature types; `records.ts` merges it. (The front desk's
 * earlier `his_audit` type stays accepted for records already written.)
 */
import { z } from 'zod';

/** Field limits, exported so the emitter can clip free text instead of failing the write. */
export const AUDIT_LIMITS = { username: 64, action: 100, target: 500, sourceIp: 64, outcome: 300 } as const;

/** One audit entry: who, what, when, from where, outcome. */
export const auditEventSchema = z.object({
  auditId: z.string().min(1).max(64),
  /** When the access happened (edge clock, ISO 8601). */
  at: z.string().datetime({ offset: true }),
  /** Local account name ('(empty)' or the typed name for failed sign-ins). */
  username: z.string().min(1).max(AUDIT_LIMITS.username),
  /** e.g. 'login', 'logout', 'user.create', 'resident.view', 'clinical.visit.view' */
  action: z.string().min(1).max(AUDIT_LIMITS.action),
  /** 'resident:<id>', a record id, or a description without names or ID numbers */
  target: z.string().max(AUDIT_LIMITS.target),
  sourceIp: z.string().max(AUDIT_LIMITS.sourceIp),
  /** 'ok', 'forbidden', 'refused: ...', 'bad password (2/5)', ... */
  outcome: z.string().max(AUDIT_LIMITS.outcome),
});
export type AuditEvent = z.infer<typeof auditEventSchema>;

export const auditRecordTypes = {
  audit_event: auditEventSchema,
} as const satisfies Record<string, z.ZodType>;

/** An audit entry is written once and never changed. */
export const auditConflictPolicy: Record<keyof typeof auditRecordTypes, 'lww' | 'owner-append'> = {
  audit_event: 'owner-append',
};
