/**
 * The record envelope carried on `clinic.<id>.rec.<type>`. The edge assigns `seq`
 * (per-clinic, contiguous, starting at 1) in the same SQLite transaction as the domain write.
 */
import { z } from 'zod';
import { CLINIC_ID_PATTERN } from './subjects.ts';
import { HLC_PATTERN } from './hlc.ts';
import { isRecordType, recordTypes, type RecordType } from './records.ts';

export const SCHEMA_VERSION = 1;
/** Larger envelopes are dead-lettered: images travel by DICOM, not on the record bus. */
export const MAX_ENVELOPE_BYTES = 256 * 1024;

export const envelopeSchema = z.object({
  recordId: z.string().min(1).max(64),
  type: z.string().min(1).max(40),
  clinicId: z.string().regex(CLINIC_ID_PATTERN, 'clinic id must be lower-case letters, digits and dashes'),
  seq: z.number().int().positive(),
  version: z.number().int().positive(),
  hlc: z.string().regex(HLC_PATTERN, 'hlc must be an HLC timestamp'),
  schemaVersion: z.number().int().positive(),
  createdAt: z.string().datetime({ offset: true }),
  payload: z.unknown(),
});

export type Envelope = z.infer<typeof envelopeSchema>;

export type EnvelopeCheck =
  | { ok: true; envelope: Envelope; type: RecordType; payload: unknown }
  | { ok: false; reason: DeadLetterReason; detail: string; partial?: { clinicId?: string; seq?: number } };

export const DEAD_LETTER_REASONS = ['oversize', 'not_json', 'bad_envelope', 'unknown_type', 'schema', 'clinic_mismatch', 'type_mismatch', 'unsupported_schema_version', 'seq_collision', 'apply_error', 'lost_at_source'] as const;

/**
 * Not a record: the entry an edge re-seeding central (edge-agent/sync/reseed.ts) publishes for a
 * seq whose record it no longer holds as written (a later version superseded it, or the seq was
 * written before the edge kept each record's seq). Central logs it as `lost_at_source` in its
 * dead letters, where it takes its place in the clinic's sequence, and applies nothing.
 */
export const SEQ_LOST_TYPE = 'seq_lost';
export const seqLostSchema = z.object({
  /** superseded: a later version of the record is held (and re-sent at its own seq); not_kept: nothing says what the seq held. */
  reason: z.enum(['superseded', 'not_kept']),
  /** When the edge rebuilt it (the re-seed). */
  reseedAt: z.string().datetime({ offset: true }),
  /** superseded: the record whose later version replaced this one, when known. */
  recordId: z.string().max(64).optional(),
  type: z.string().max(40).optional(),
});
export type SeqLost = z.infer<typeof seqLostSchema>;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

/** Each reason's name as people read it (zh, en): central's portal and the clinic's home page. */
export const DEAD_LETTER_NAMES: Record<DeadLetterReason, [string, string]> = {
  oversize: ['超过大小上限', 'Too large'], not_json: ['不是 JSON', 'Not JSON'], bad_envelope: ['信封格式错误', 'Bad envelope'],
  unknown_type: ['未知记录类型', 'Unknown record type'], schema: ['内容不符合数据规范', 'Fails its schema'], clinic_mismatch: ['机构不符（疑似伪造）', 'Clinic mismatch (possibly forged)'],
  type_mismatch: ['类型与主题不符', 'Type does not match subject'], unsupported_schema_version: ['规范版本过高', 'Schema version too new'], seq_collision: ['序号冲突', 'Sequence collision'],
  apply_error: ['入库出错', 'Apply error'], lost_at_source: ['边缘已无此记录', 'Lost at the clinic'],
};

function issues(err: z.ZodError): string {
  return err.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}

/**
 * Full check of a message taken off the bus: size, JSON, envelope, subject/clinic agreement,
 * record type and payload schema. Never throws.
 */
export function checkEnvelope(bytes: Uint8Array, subject: { clinicId: string; type: string }): EnvelopeCheck {
  if (bytes.byteLength > MAX_ENVELOPE_BYTES) return { ok: false, reason: 'oversize', detail: `${bytes.byteLength} bytes > ${MAX_ENVELOPE_BYTES}` };
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (e) {
    return { ok: false, reason: 'not_json', detail: (e as Error).message };
  }
  const env = envelopeSchema.safeParse(json);
  if (!env.success) return { ok: false, reason: 'bad_envelope', detail: issues(env.error) };
  const e = env.data;
  const partial = { clinicId: e.clinicId, seq: e.seq };
  if (e.clinicId !== subject.clinicId) {
    // Not ours to count against the subject's sequence: a forged or mis-routed record.
    return { ok: false, reason: 'clinic_mismatch', detail: `envelope clinic ${e.clinicId} published on subject of clinic ${subject.clinicId}` };
  }
  if (e.schemaVersion > SCHEMA_VERSION) return { ok: false, reason: 'unsupported_schema_version', detail: `schema ${e.schemaVersion} > supported ${SCHEMA_VERSION}: upgrade central`, partial };
  if (e.type === SEQ_LOST_TYPE && subject.type === SEQ_LOST_TYPE) {
    const l = seqLostSchema.safeParse(e.payload);
    if (!l.success) return { ok: false, reason: 'schema', detail: issues(l.error), partial };
    const what = l.data.reason === 'superseded'
      ? `superseded by a later version${l.data.recordId ? ` of ${l.data.type ?? 'record'} ${l.data.recordId}` : ''}`
      : 'the edge kept no record of what it held';
    return { ok: false, reason: 'lost_at_source', detail: `seq ${e.seq} re-seeded by the edge at ${l.data.reseedAt}: its record is lost (${what})`, partial };
  }
  if (!isRecordType(e.type)) return { ok: false, reason: 'unknown_type', detail: `unknown record type ${e.type}`, partial };
  if (e.type !== subject.type) return { ok: false, reason: 'type_mismatch', detail: `envelope type ${e.type} on subject type ${subject.type}`, partial };
  const p = recordTypes[e.type].safeParse(e.payload);
  if (!p.success) return { ok: false, reason: 'schema', detail: issues(p.error), partial };
  return { ok: true, envelope: e, type: e.type, payload: p.data };
}

/** A planned maintenance window as told to a clinic: `all` when it is of every clinic (the hub or central). */
export const maintenanceNoticeSchema = z.object({
  startsAt: z.string(),
  endsAt: z.string(),
  reason: z.string().max(200),
  scope: z.enum(['clinic', 'all']),
});

/** Central -> edge: highest contiguous seq applied for a clinic. */
export const receiptSchema = z.object({
  clinicId: z.string(),
  appliedSeq: z.number().int().nonnegative(),
  /** Seqs above the watermark held back waiting for a missing one (a gap). */
  pendingAbove: z.number().int().nonnegative(),
  at: z.string(),
  /**
   * Central is replaying the records stream into a warehouse restored from a backup: its
   * watermark is catching up, so a receipt below the edge's is expected until the replay ends.
   */
  replaying: z.boolean().optional(),
  /**
   * What central refused of this clinic's messages (its dead letters, without the re-seed's
   * lost_at_source entries): in the answer to each heartbeat, so the clinic sees it within seconds.
   */
  refused: z.object({
    count: z.number().int().nonnegative(),
    last: z.object({ seq: z.number().int().nullable(), reason: z.string().max(40), detail: z.string().max(300), at: z.string() }).nullable(),
  }).optional().catch(undefined), // a summary the edge cannot read never costs it the receipt itself
  /**
   * Planned maintenance windows (计划维护) of this clinic or of every clinic that have not ended
   * and start within 7 days, in the answer to each heartbeat (absent from other receipts: the edge
   * keeps what the last answer said), so the clinic's staff know of them beforehand.
   */
  maintenance: z.array(maintenanceNoticeSchema).max(50).optional().catch(undefined),
});
export type Receipt = z.infer<typeof receiptSchema>;
export type MaintenanceNotice = z.infer<typeof maintenanceNoticeSchema>;
export type Refusals = NonNullable<Receipt['refused']>;

/** Edge -> central: state of the edge, every few seconds. */
export const heartbeatSchema = z.object({
  clinicId: z.string().regex(CLINIC_ID_PATTERN),
  agentVersion: z.string().max(40),
  at: z.string(),
  lastSeq: z.number().int().nonnegative(),
  receiptSeq: z.number().int().nonnegative(),
  outboxDepth: z.number().int().nonnegative(),
  /** Age in seconds of the oldest record not yet covered by a receipt (0 if none). */
  oldestPendingAgeSec: z.number().nonnegative(),
  relayState: z.enum(['connected', 'backoff', 'disconnected', 'stopped']),
  dictionaries: z.record(z.string(), z.number().int().nonnegative()),
});
export type Heartbeat = z.infer<typeof heartbeatSchema>;
