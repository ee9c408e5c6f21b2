/**
 * Health-record migration between clinics (档案迁出/迁入), the clinic's part.
 *
 * Sending clinic: `CareService.migrateRecord` marks the record migrated and, in the same
 * transaction, writes the package (`record_transfer`) and a `care_transfer_out` row. Central
 * (central/care-transfer) routes the package to the receiving clinic on
 * `central.transfer.<toClinicId>` (JetStream CARE_TRANSFERS).
 *
 * Receiving clinic: `TransferSync` consumes its own subject (the only one its NATS user may
 * read) and keeps each offer in `care_transfer_in` (idempotent: a redelivered offer changes
 * nothing). Staff see them on /care/transfers and
 *   - accept: in ONE transaction the resident is found by ID number or created, the record is
 *     re-issued as this clinic's (same number, status active), the active chronic enrolments are
 *     re-issued under this clinic's resident, and the decision record is written; the follow-up
 *     history stays in the offer and is shown read-only on the resident's page;
 *   - refuse with a reason: the decision record is written.
 * Central routes the decision back to the sender, whose `TransferSync` applies it in one
 * transaction: refused -> the record is active again (new version); accepted -> its active
 * enrolments end (moved away). `TransferSync` keeps the stream position in the same
 * transaction, so a restart resumes there and an edge that was offline catches up; a message
 * that cannot be applied is parked (sync_dead_letter), never skipped silently.
 */
import { randomUUID } from 'node:crypto';
import { uuidv7 } from '../../contracts/ids.ts';
import type { NatsConnection } from '@nats-io/transport-node';
import type { NatsSource } from '../../contracts/runtime/nats-link.ts';
import { STREAMS, subjects } from '../../contracts/index.ts';
import { careTransferMessageSchema, type CareTransferMessage } from '../../contracts/records-care.ts';
import type { RecordPayload } from '../../contracts/index.ts';
import type { Logger, Migration } from '../../contracts/runtime/index.ts';
import type { Tx } from '../store/store.ts';
import { PermanentApplyError, StreamFollower, jsonDecoder } from '../sync/follower.ts';
import { FormError, type Actor, type CareService, type HealthRecord } from './service.ts';

export type RecordTransfer = RecordPayload<'record_transfer'>;
export type TransferDecision = RecordPayload<'record_transfer_decision'>;

export const transferMigrations: Migration[] = [{
  version: 401,
  name: 'care: health-record migrations in and out',
  up: (db) => db.exec(`
    -- Offers addressed to this clinic (from central), and what staff decided.
    CREATE TABLE care_transfer_in (
      transfer_id TEXT PRIMARY KEY,
      from_clinic_id TEXT NOT NULL,
      health_record_no TEXT NOT NULL,
      payload TEXT NOT NULL,
      status TEXT NOT NULL,           -- pending | accepted | refused
      received_at TEXT NOT NULL,
      decided_at TEXT,
      decided_by TEXT,
      reason TEXT,
      resident_id TEXT                -- this clinic's resident (accepted)
    );
    CREATE INDEX care_transfer_in_resident ON care_transfer_in (resident_id);
    -- Records this clinic migrated out, and the receiver's answer.
    CREATE TABLE care_transfer_out (
      transfer_id TEXT PRIMARY KEY,
      health_record_no TEXT NOT NULL,
      resident_id TEXT NOT NULL,
      to_clinic_id TEXT NOT NULL,
      status TEXT NOT NULL,           -- sent | accepted | refused
      sent_at TEXT NOT NULL,
      decided_at TEXT,
      reason TEXT
    );
    -- position before the shared follower (edge migration 5 copies it to sync_position); unused since
    CREATE TABLE care_transfer_sync (id INTEGER PRIMARY KEY CHECK (id = 1), stream_seq INTEGER NOT NULL);
  `),
}];

export interface IncomingTransfer { transferId: string; fromClinicId: string; healthRecordNo: string; transfer: RecordTransfer; status: 'pending' | 'accepted' | 'refused'; receivedAt: string; decidedAt: string | null; decidedBy: string | null; reason: string | null; residentId: string | null }
export interface OutgoingTransfer { transferId: string; healthRecordNo: string; residentId: string; toClinicId: string; status: 'sent' | 'accepted' | 'refused'; sentAt: string; decidedAt: string | null; reason: string | null }

type InRow = { transfer_id: string; from_clinic_id: string; health_record_no: string; payload: string; status: IncomingTransfer['status']; received_at: string; decided_at: string | null; decided_by: string | null; reason: string | null; resident_id: string | null };
const inRow = (r: InRow): IncomingTransfer => ({ transferId: r.transfer_id, fromClinicId: r.from_clinic_id, healthRecordNo: r.health_record_no, transfer: JSON.parse(r.payload) as RecordTransfer, status: r.status, receivedAt: r.received_at, decidedAt: r.decided_at, decidedBy: r.decided_by, reason: r.reason, residentId: r.resident_id });

/** Reads and decisions on migrations, for the pages and the consumer. */
export class CareTransfers {
  constructor(private readonly s: CareService) {}
  private get db() { return this.s.db; }

  incoming(status?: IncomingTransfer['status']): IncomingTransfer[] {
    return this.db.prepare<unknown[], InRow>(`SELECT * FROM care_transfer_in ${status ? 'WHERE status = ?' : ''} ORDER BY received_at DESC`).all(...(status ? [status] : [])).map(inRow);
  }
  incomingOne(id: string): IncomingTransfer | null {
    const r = this.db.prepare<[string], InRow>('SELECT * FROM care_transfer_in WHERE transfer_id = ?').get(id);
    return r ? inRow(r) : null;
  }
  /** Accepted migrations of a local resident: their follow-up history is shown read-only. */
  acceptedFor(residentId: string): IncomingTransfer[] {
    return this.db.prepare<[string], InRow>("SELECT * FROM care_transfer_in WHERE resident_id = ? AND status = 'accepted' ORDER BY decided_at DESC").all(residentId).map(inRow);
  }
  outgoing(): OutgoingTransfer[] {
    return this.db.prepare<[], { transfer_id: string; health_record_no: string; resident_id: string; to_clinic_id: string; status: OutgoingTransfer['status']; sent_at: string; decided_at: string | null; reason: string | null }>('SELECT * FROM care_transfer_out ORDER BY sent_at DESC').all()
      .map((r) => ({ transferId: r.transfer_id, healthRecordNo: r.health_record_no, residentId: r.resident_id, toClinicId: r.to_clinic_id, status: r.status, sentAt: r.sent_at, decidedAt: r.decided_at, reason: r.reason }));
  }

  /**
   * Apply one message from central (offer to us, or the decision on one of ours). Returns what it
   * did. One transaction (a savepoint inside the follower's, which also moves its position).
   */
  apply(m: CareTransferMessage): 'offer' | 'decision' | 'duplicate' | 'ignored' {
    const clinic = this.s.clinicId;
    return this.s.store.transact((tx) => {
      let out: 'offer' | 'decision' | 'duplicate' | 'ignored' = 'ignored';
      if (m.kind === 'offer') {
        const t = m.transfer;
        if (t.toClinicId === clinic) {
          const n = tx.db.prepare("INSERT INTO care_transfer_in (transfer_id, from_clinic_id, health_record_no, payload, status, received_at) VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (transfer_id) DO NOTHING")
            .run(t.transferId, t.fromClinicId, t.healthRecordNo, JSON.stringify(t), new Date().toISOString()).changes;
          out = n ? 'offer' : 'duplicate';
        }
      } else {
        const d = m.decision;
        const row = tx.db.prepare<[string], { status: string; resident_id: string }>('SELECT status, resident_id FROM care_transfer_out WHERE transfer_id = ?').get(d.transferId);
        if (d.fromClinicId === clinic && row) {
          if (row.status !== 'sent') out = 'duplicate';
          else {
            tx.db.prepare('UPDATE care_transfer_out SET status = ?, decided_at = ?, reason = ? WHERE transfer_id = ?').run(d.decision, d.decidedAt, d.reason ?? null, d.transferId);
            this.applyDecision(tx, d, row.resident_id);
            out = 'decision';
          }
        }
      }
      return out;
    });
  }

  private applyDecision(tx: Tx, d: TransferDecision, residentId: string): void {
    const today = this.s.today();
    const cur = this.s.get('health_record', d.healthRecordNo);
    if (d.decision === 'refused') {
      // The receiver refused: the record stays ours and active.
      if (cur && cur.status === 'migrated' && cur.migratedToClinicId === d.toClinicId) {
        const { migratedToClinicId: _to, migratedDate: _d, migrationReason: _r, ...rest } = cur;
        tx.emit('health_record', cur.healthRecordNo, { ...rest, status: 'active', lastUpdatedDate: today });
      }
    } else {
      // Accepted: the patient is managed at the receiving clinic from now on.
      for (const en of this.s.byResident('chronic_enrolment', residentId).filter((x) => x.status === 'active')) {
        tx.emit('chronic_enrolment', en.enrolmentId, { ...en, status: 'ended', endedDate: today, endReason: 'moved_away' });
      }
    }
  }

  accept(transferId: string, actor: Actor): { residentId: string; record: HealthRecord } {
    const t = this.incomingOne(transferId);
    if (!t) throw new FormError({ _: `迁入申请 ${transferId} 不存在` });
    if (t.status !== 'pending') throw new FormError({ _: `迁入申请已处理（${t.status === 'accepted' ? '已接收' : '已拒绝'}）` });
    const p = t.transfer;
    const existing = p.resident.idNumber ? this.db.prepare<[string], { resident_id: string }>('SELECT resident_id FROM residents WHERE id_number = ?').get(p.resident.idNumber.toUpperCase())?.resident_id : undefined;
    if (existing) {
      const active = this.s.byResident('health_record', existing).find((h) => h.status === 'active');
      if (active) throw new FormError({ _: `本机构已有该居民（${existing}）的在档档案 ${active.healthRecordNo}：请拒绝迁入，或先处理本机构档案` });
    }
    if (this.s.get('health_record', p.healthRecordNo)?.status === 'active') throw new FormError({ _: `档案编号 ${p.healthRecordNo} 在本机构已在档` });
    const today = this.s.today();
    return this.s.transact(actor, 'care.transfer.accept', `${transferId} (${p.healthRecordNo} from ${p.fromClinicId})`, (tx) => {
      let residentId = existing;
      if (!residentId) {
        residentId = `r-${randomUUID().slice(0, 8)}`;
        const r = p.resident;
        tx.emit('resident', residentId, {
          residentId, name: r.name, sex: r.sex, birthDate: r.birthDate, idType: (['01', '02', '03', '04', '05', '06', '07', '99'].includes(r.idType) ? r.idType : '99') as '01', idNumber: r.idNumber,
          ...(r.phone ? { phone: r.phone } : {}), ...(r.address ? { address: r.address } : {}),
        });
      }
      // The record becomes ours: same number, our clinic, active; the sender's team/doctor do not apply here.
      const { teamId: _team, doctorCode: _doc, migratedToClinicId: _to, migratedDate: _md, migrationReason: _mr, ...rest } = p.healthRecord;
      const record: HealthRecord = { ...rest, residentId, status: 'active', clinicId: this.s.clinicId, doctorCode: actor.username, lastUpdatedDate: today };
      tx.emit('health_record', record.healthRecordNo, record);
      for (const en of p.enrolments.filter((x) => x.status === 'active')) {
        const { teamId: _t, ...e } = en;
        const enrolmentId = `en-${uuidv7()}`;
        tx.emit('chronic_enrolment', enrolmentId, { ...e, enrolmentId, residentId, doctorCode: actor.username });
      }
      const decision: TransferDecision = { transferId, healthRecordNo: p.healthRecordNo, fromClinicId: p.fromClinicId, toClinicId: this.s.clinicId, decision: 'accepted', decidedAt: new Date().toISOString(), decidedBy: actor.username, residentId };
      tx.emit('record_transfer_decision', transferId, decision);
      tx.db.prepare("UPDATE care_transfer_in SET status = 'accepted', decided_at = ?, decided_by = ?, resident_id = ? WHERE transfer_id = ?").run(decision.decidedAt, actor.username, residentId, transferId);
      return { residentId, record };
    });
  }

  refuse(transferId: string, reason: string, actor: Actor): TransferDecision {
    const t = this.incomingOne(transferId);
    const e: Record<string, string> = {};
    if (!t) e._ = `迁入申请 ${transferId} 不存在`;
    else if (t.status !== 'pending') e._ = `迁入申请已处理（${t.status === 'accepted' ? '已接收' : '已拒绝'}）`;
    if (!reason.trim()) e.reason = '拒绝迁入须填写原因（将告知迁出机构）';
    else if (reason.trim().length > 200) e.reason = '原因不超过 200 字';
    if (Object.keys(e).length) throw new FormError(e);
    const p = t!.transfer;
    return this.s.transact(actor, 'care.transfer.refuse', `${transferId} (${p.healthRecordNo} from ${p.fromClinicId})`, (tx) => {
      const decision: TransferDecision = { transferId, healthRecordNo: p.healthRecordNo, fromClinicId: p.fromClinicId, toClinicId: this.s.clinicId, decision: 'refused', reason: reason.trim(), decidedAt: new Date().toISOString(), decidedBy: actor.username };
      tx.emit('record_transfer_decision', transferId, decision);
      tx.db.prepare("UPDATE care_transfer_in SET status = 'refused', decided_at = ?, decided_by = ?, reason = ? WHERE transfer_id = ?").run(decision.decidedAt, actor.username, decision.reason!, transferId);
      return decision;
    });
  }
}

/**
 * Follows `central.transfer.<clinicId>` with a `StreamFollower` (edge-agent/sync/follower.ts):
 * the position is kept in the transaction of each apply, so a restart resumes there.
 *
 * A message that fails to apply is retried, then parked in `sync_dead_letter` (not blocking):
 * the messages do not depend on each other (an offer is a transfer of its own; a decision refers
 * to a `care_transfer_out` row this clinic wrote itself, not to an earlier message), so one bad
 * message must not hold the offers and answers behind it. A message `apply` answers `ignored`
 * (an offer for another clinic, a decision on a transfer this clinic does not know) is parked at
 * once: central routed something to us that we cannot use, and staff should see it.
 */
export class TransferSync {
  readonly follower: StreamFollower<CareTransferMessage, 'offer' | 'decision' | 'duplicate'>;

  constructor(transfers: CareTransfers, db: CareService['db'], nc: NatsSource, clinicId: string, private readonly log: Logger) {
    this.follower = new StreamFollower(db, nc, {
      name: 'care-transfers',
      stream: STREAMS.transfers,
      filterSubject: subjects.transfer(clinicId),
      onFailure: 'park',
      batch: 16,
      decode: jsonDecoder(careTransferMessageSchema),
      apply: (m) => {
        const what = transfers.apply(m);
        if (what === 'ignored') throw new PermanentApplyError(m.kind === 'offer' ? `offer ${m.transfer.transferId} is addressed to ${m.transfer.toClinicId}, not this clinic` : `decision on transfer ${m.decision.transferId}, which this clinic did not send`);
        return what;
      },
      onApplied: (m, what) => { if (what !== 'duplicate') this.log.info({ kind: m.kind }, 'health-record transfer applied'); },
    }, log);
  }

  get applied(): number { return this.follower.counters.applied; }

  start(): void {
    this.follower.start();
  }

  async stop(): Promise<void> {
    await this.follower.stop();
  }
}
