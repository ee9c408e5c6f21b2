/**
 * EMPI person changes, central -> edge on `central.empi.<clinicId>` (JetStream stream EMPI).
 * One event lists the current members of one person: an edge sets that person id on each of its
 * residents listed (idempotent; a later event id wins), so a merge, an unmerge or an automatic
 * link all reach the clinics that hold one of the residents.
 */
import { z } from 'zod';

export const empiEventSchema = z.object({
  /** Increasing per central; an edge ignores an event older than the one it applied. */
  eventId: z.number().int().positive(),
  kind: z.enum(['link', 'merge', 'unmerge', 'review-accepted']),
  /** The person (EMPI id) the residents belong to now. */
  personId: z.string().min(1).max(64),
  /** For a merge: the person that was absorbed; for an unmerge: the person split off again. */
  otherPersonId: z.string().max(64).optional(),
  residents: z.array(z.object({ residentId: z.string().min(1).max(64), clinicId: z.string().min(1).max(64) })).max(10_000),
  at: z.string(),
});
export type EmpiEvent = z.infer<typeof empiEventSchema>;
