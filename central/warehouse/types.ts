/**
 * The warehouse repository interface. The spine's ingest writes only through it, so the
 * SQLite (embedded default) and PostgreSQL (city scale) implementations are interchangeable.
 */
import type { DeadLetterReason, DictionaryItem, DictionaryName, DictionarySnapshot, Envelope, Heartbeat, RecordType, Refusals } from '../../contracts/index.ts';

export type IngestItem =
  | { kind: 'record'; envelope: Envelope; type: RecordType; payload: unknown; hash: string; raw: string }
  | { kind: 'dead'; subject: string; reason: DeadLetterReason; detail: string; raw: Uint8Array; clinicId?: string; seq?: number };

/** One record as both warehouse implementations apply it (also stored in `pending` while held). */
export interface RecordItem {
  clinicId: string;
  seq: number;
  recordId: string;
  type: RecordType;
  version: number;
  hlc: string;
  createdAt: string;
  payload: unknown;
  hash: string;
}

export type IngestOutcome = 'applied' | 'held' | 'duplicate' | 'dead';

export interface Watermark {
  clinicId: string;
  appliedSeq: number;
  /** Records received above the watermark, waiting for a missing seq. */
  pendingAbove: number;
  /** Lowest missing seq when pendingAbove > 0. */
  firstMissing: number | null;
}

export interface IngestResult {
  outcomes: IngestOutcome[];
  /** Clinics whose watermark or pending set changed in this batch. */
  changed: Watermark[];
  applied: { clinicId: string; type: RecordType; createdAt: string }[];
  conflicts: number;
  /** Messages dead-lettered in this batch: reason and the clinic their subject names (subjectClinicLabel). */
  deadLetters: { reason: DeadLetterReason; clinic: string }[];
}

export interface FleetRow {
  clinicId: string;
  lastHeartbeatAt: string | null;
  agentVersion: string | null;
  edgeLastSeq: number;
  edgeReceiptSeq: number;
  outboxDepth: number;
  oldestPendingAgeSec: number;
  relayState: string | null;
  dictionaries: Record<string, number>;
  appliedSeq: number;
  pendingAbove: number;
  firstMissing: number | null;
  /** Seconds behind: age of the oldest unapplied record at the edge (as of its last heartbeat). */
  lagSeconds: number;
  recordsApplied: number;
}

export interface DeadLetter {
  id: number;
  subject: string;
  clinicId: string | null;
  seq: number | null;
  reason: DeadLetterReason;
  detail: string;
  receivedAt: string;
  rawPreview: string;
}

export interface ResidentConflict {
  id: number;
  residentId: string;
  winnerHlc: string;
  winnerClinic: string;
  loserHlc: string;
  loserClinic: string;
  fields: string[];
  loserValues: Record<string, unknown>;
  winnerValues: Record<string, unknown>;
  at: string;
}

/** One audit entry (MLPS 3: who, what, when, from where, outcome); the log is append-only. */
export interface AuditEntry {
  actor: string;
  action: string;
  target: string;
  sourceIp: string;
  outcome: string;
}

/** A batch applied and committed, its durability still on the way (see `Warehouse.ingestPipelined`). */
export interface PipelinedIngest {
  result: IngestResult;
  /** Resolves once the batch survives a power loss; rejects when the flush failed. */
  durable: Promise<void>;
  /** After a failed flush: flush again (covers this batch and everything committed before it). */
  flushAgain(): Promise<void>;
}

/**
 * How far into a JetStream stream the warehouse holds everything: every message up to the one
 * at `seq`, which the stream stored at `storedAt`, is applied (or dead-lettered) here. Written in
 * the ingest's transactions, so a warehouse restored from a backup says where the ingest must
 * replay the stream from (central/ingest/consumer.ts, `planReplay`); `storedAt` tells whether
 * the stream still numbers its messages as it did (the message at `seq` is that one) and where
 * to start by time if not.
 */
export interface StreamCursor {
  stream: string;
  seq: number;
  /** ISO time (ms) the stream stored the message at `seq`. */
  storedAt: string;
}

export interface Warehouse {
  /** `cursor`: written in the same transaction (see StreamCursor); never moves back in time. */
  ingest(batch: IngestItem[], cursor?: StreamCursor): Promise<IngestResult>;
  /**
   * Optional: apply and commit `batch` now (synchronously, in call order) and report durability
   * separately, so the ingest can apply the next batch while this one is flushed. The caller
   * must not acknowledge the messages or publish receipts before `durable` resolves. Backends
   * without it are driven through `ingest`, one batch at a time.
   */
  ingestPipelined?(batch: IngestItem[], cursor?: StreamCursor): PipelinedIngest;
  /** The stream cursor last written, or null (a warehouse from before cursors, or a new one). */
  streamCursor(stream: string): Promise<StreamCursor | null>;
  /** Write the stream cursor on its own (when the ingest stops); never moves it back in time. */
  saveStreamCursor(cursor: StreamCursor): Promise<void>;
  watermark(clinicId: string): Promise<Watermark>;
  watermarks(): Promise<Watermark[]>;
  recordHeartbeat(hb: Heartbeat): Promise<void>;
  fleet(): Promise<FleetRow[]>;
  saveDictionary(name: DictionaryName, items: DictionaryItem[]): Promise<DictionarySnapshot>;
  latestDictionaries(): Promise<DictionarySnapshot[]>;
  /** The latest version of each dictionary published (no items: for metrics and status pages). */
  dictionaryVersions(): Promise<Record<string, number>>;
  /**
   * Store a snapshot with the version it was published under (taken back from the dictionaries
   * stream after a restore: the edges hold it, so its number must not be given to other content).
   * False when that version is already there.
   */
  importDictionary(snap: DictionarySnapshot): Promise<boolean>;
  /** Newest first; only the clinic's and/or the reason's when given. */
  deadLetters(limit: number, filter?: { clinicId?: string; reason?: DeadLetterReason }): Promise<DeadLetter[]>;
  /** The clinic's refused messages (dead letters other than lost_at_source): how many, and the latest. */
  refusals(clinicId: string): Promise<Refusals>;
  conflicts(limit: number): Promise<ResidentConflict[]>;
  /** Per-clinic record counts and apply order checks, for tests and audits. */
  countRecords(clinicId?: string): Promise<number>;
  appliedSeqs(clinicId: string): Promise<number[]>;
  /** Append an entry to the audit log (the repository writes the audit, not each route). */
  audit(entry: AuditEntry): Promise<void>;
  close(): Promise<void>;
}
