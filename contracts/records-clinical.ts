/**
 * Clinical record types ([clinic] issue, doctor and nurse workstations): visit notes, prescriptions, order execution ...
 * Kept in their own file so the owning feature can add types without touching the core
 * registry; `records.ts` merges them. Payload fields follow WS 365 / WS 363 data elements
 * where one exists (note the DE identifier beside the field).
 */
import { z } from 'zod';

export const clinicalRecordTypes = {
} as const satisfies Record<string, z.ZodType>;

/** 'owner-append' for clinical/financial events, 'lww' for master data edited in several places. */
export const clinicalConflictPolicy: Record<keyof typeof clinicalRecordTypes, 'lww' | 'owner-append'> = {
};
