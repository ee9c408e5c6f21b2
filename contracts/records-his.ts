/**
 * Clinic HIS record types ([clinic] issue, front desk): registrations, schedule, charges, invoices, payments, stock movements, dispensing ...
 * Kept in their own file so the owning feature can add types without touching the core
 * registry; `records.ts` merges them. Payload fields follow WS 365 / WS 363 data elements
 * where one exists (note the DE identifier beside the field).
 */
import { z } from 'zod';

export const hisRecordTypes = {
} as const satisfies Record<string, z.ZodType>;

/** 'owner-append' for clinical/financial events, 'lww' for master data edited in several places. */
export const hisConflictPolicy: Record<keyof typeof hisRecordTypes, 'lww' | 'owner-append'> = {
};
