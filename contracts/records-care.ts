/**
 * Public-health and family-doctor record types ([care] issue): health records, follow-ups, assessments, contracts, referrals ...
 * Kept in their own file so the owning feature can add types without touching the core
 * registry; `records.ts` merges them. Payload fields follow WS 365 / WS 363 data elements
 * where one exists (note the DE identifier beside the field).
 */
import { z } from 'zod';

export const careRecordTypes = {
} as const satisfies Record<string, z.ZodType>;

/** 'owner-append' for clinical/financial events, 'lww' for master data edited in several places. */
export const careConflictPolicy: Record<keyof typeof careRecordTypes, 'lww' | 'owner-append'> = {
};
