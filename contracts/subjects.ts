/**
 * NATS subject names and stream names. Every subject an edge publishes lives under
 * `clinic.<clinicId>.>` so that one permission line confines a clinic to its own data.
 */
export const CLINIC_ID_PATTERN = /^[a-z0-9][a-z0-9-]{1,31}$/;

export const STREAMS = {
  /** Edge -> central records. */
  records: 'EDGE_RECORDS',
  /** Central -> edge dictionaries, last value per dictionary. */
  dictionaries: 'DICTIONARIES',
  /** Central -> edge EMPI person changes (links, merges, unmerges), per clinic. */
  empi: 'EMPI',
  /** Central -> edge health-record migrations (offers and decisions), per clinic. */
  transfers: 'CARE_TRANSFERS',
} as const;

export const subjects = {
  record: (clinicId: string, type: string) => `clinic.${clinicId}.rec.${type}`,
  recordsOf: (clinicId: string) => `clinic.${clinicId}.rec.>`,
  allRecords: 'clinic.*.rec.>',
  heartbeat: (clinicId: string) => `clinic.${clinicId}.hb`,
  allHeartbeats: 'clinic.*.hb',
  /** Applied-watermark receipts, central -> one clinic (core NATS). */
  receipt: (clinicId: string) => `central.receipt.${clinicId}`,
  dictionary: (name: string) => `central.dict.${name}`,
  allDictionaries: 'central.dict.>',
  /** EMPI person changes touching a clinic's residents, central -> that clinic (JetStream EMPI). */
  empi: (clinicId: string) => `central.empi.${clinicId}`,
  allEmpi: 'central.empi.>',
  /** Health-record migrations addressed to a clinic, central -> that clinic (JetStream CARE_TRANSFERS). */
  transfer: (clinicId: string) => `central.transfer.${clinicId}`,
  allTransfers: 'central.transfer.>',
  /** Per-clinic inbox prefix, so that a clinic can only read replies addressed to itself. */
  inboxPrefix: (clinicId: string) => `_INBOX_${clinicId.replace(/-/g, '_')}`,
} as const;

/** Parse `clinic.<id>.rec.<type>`; null when the subject is not a record subject. */
export function parseRecordSubject(subject: string): { clinicId: string; type: string } | null {
  const parts = subject.split('.');
  if (parts.length !== 4 || parts[0] !== 'clinic' || parts[2] !== 'rec') return null;
  return { clinicId: parts[1]!, type: parts[3]! };
}

/**
 * The clinic a message's subject names (`clinic.<id>` and below) when it is a well-formed clinic id,
 * else 'unknown': a bounded label for metrics. The subject, not the payload: NATS permissions confine
 * each clinic to its own subjects, while a payload's clinic is whatever the sender wrote.
 */
export function subjectClinicLabel(subject: string): string {
  const id = /^clinic\.([^.]+)/.exec(subject)?.[1];
  return id && CLINIC_ID_PATTERN.test(id) ? id : 'unknown';
}

export function parseClinicSubject(subject: string): string | null {
  const parts = subject.split('.');
  return parts[0] === 'clinic' && parts.length >= 3 ? parts[1]! : null;
}

/** Message-id header value used for JetStream de-duplication. */
export const msgId = (clinicId: string, seq: number) => `${clinicId}:${seq}`;
