/**
 * What happens to a received instance before the device gets its C-STORE success: in one
 * group-committed transaction the instance is indexed, its study matched to an imaging
 * order (AccessionNumber + StudyInstanceUID, then PatientID) and the `imaging_study` record is
 * queued for central: at once for a new study, then one version once the study is quiet
 * (`studyRecordQuietMs`). Unmatched studies wait for a person.
 */
import { matchOrder, type InstanceMeta } from '../../device-drivers/dicom/index.ts';
import type { RecordPayload } from '../../contracts/index.ts';
import type { EdgeStore, Tx } from '../store/store.ts';
import { completeIfReported } from './reports.ts';
import { cached, isAwaitingImages, OPEN_ORDER_STATUSES, type ImagingRepo } from './repo.ts';

type StudyPayload = RecordPayload<'imaging_study'>;
/** What indexing needs of the repo (the index worker's repo has no device registry). */
import { completeIfPerformed, completeOnArrival } from './mpps.ts';

export type IndexRepo = Pick<ImagingRepo, 'candidates' | 'setOrderStatus'>;

const clip = (s: string | undefined | null, n: number) => (s ? s.trim().slice(0, n) : undefined) || undefined;
const modalityOf = (m: string | null | undefined): StudyPayload['modality'] => (m === 'US' || m === 'DX' || m === 'CR' ? m : 'OT');

/** Emits the study's current state as a new version of its `imaging_study` record. */
export function emitStudy(tx: Tx, studyUid: string): void {
  const s = cached<[string], { resident_id: string | null; accession_number: string | null; modality: string | null; study_date: string | null; description: string | null; station_ae: string | null }>(tx.db, 
    'SELECT resident_id, accession_number, modality, study_date, description, station_ae FROM imaging_studies WHERE study_instance_uid = ?').get(studyUid);
  if (!s) return;
  const c = cached<[string], { series: number; n: number }>(tx.db, 'SELECT count(DISTINCT series_instance_uid) AS series, count(*) AS n FROM imaging_instances WHERE study_instance_uid = ?').get(studyUid)!;
  const payload: StudyPayload = {
    studyInstanceUid: studyUid,
    residentId: s.resident_id ?? undefined,
    accessionNumber: clip(s.accession_number, 16),
    modality: modalityOf(s.modality),
    studyDate: clip(s.study_date, 8),
    description: clip(s.description, 200),
    seriesCount: c.series,
    instanceCount: c.n,
    stationAe: clip(s.station_ae, 16),
  };
  // Record id: the study UID (globally unique); the clinic owns it (owner-append).
  tx.emit('imaging_study', studyUid, payload);
}

/**
 * Records the study now if it is new (or coalescing is off), otherwise marks it due: the
 * mark is a row in the same transaction as the index row, so a crash loses no update.
 */
function recordStudy(tx: Tx, studyUid: string, isNew: boolean, quietMs: number): void {
  if (isNew || quietMs === 0) {
    emitStudy(tx, studyUid);
    return;
  }
  cached(tx.db, 'INSERT INTO imaging_study_dirty (study_instance_uid, last_touched_at) VALUES (?, ?) ON CONFLICT (study_instance_uid) DO UPDATE SET last_touched_at = excluded.last_touched_at')
    .run(studyUid, Date.now());
}

/** Emits one record version for every study marked due and quiet for `quietMs` (all with 0). Returns how many. */
export function flushDueStudies(tx: Tx, quietMs: number): number {
  const due = cached<[number], { study_instance_uid: string }>(tx.db, 'SELECT study_instance_uid FROM imaging_study_dirty WHERE last_touched_at <= ? ORDER BY last_touched_at LIMIT 500')
    .all(Date.now() - quietMs);
  for (const d of due) {
    emitStudy(tx, d.study_instance_uid);
    cached(tx.db, 'DELETE FROM imaging_study_dirty WHERE study_instance_uid = ?').run(d.study_instance_uid);
  }
  return due.length;
}

/**
 * Instances whose rename became durable after their index row was committed with
 * `file_synced = 0` (the SCP's `indexDuringDirSync`): marked 1 in the next index or study-timer
 * transaction, which needs no fsync of its own. A mark lost in a crash only makes the start-up
 * recovery (`recovery.ts`) check that file again.
 */
export class RenameMarks {
  private list: [sop: string, receivedAt: string][] = [];
  add(sop: string, receivedAt: string): void {
    this.list.push([sop, receivedAt]);
  }
  /** Hands the marks over (to the index worker, which flushes them in its next transaction). */
  take(): [sop: string, receivedAt: string][] {
    const l = this.list;
    this.list = [];
    return l;
  }
  /** Inside the caller's transaction. Keyed by receive time too: a resend indexed meanwhile keeps its own 0. */
  flush(db: Tx['db']): void {
    if (this.list.length === 0) return;
    const l = this.list;
    this.list = [];
    const st = cached(db, 'UPDATE imaging_instances SET file_synced = 1 WHERE sop_instance_uid = ? AND received_at = ? AND file_synced = 0');
    for (const [sop, at] of l) st.run(sop, at);
  }
}

/**
 * Index + match + record, awaited by the SCP before it answers the device. `fileSynced`: false when
 * the row is committed while the rename's directory fsync may still be running (then recovery.ts
 * checks the row after a crash); `marks`: earlier renames now durable, marked in the same commit.
 */
export function indexInstance(store: EdgeStore, repo: IndexRepo, meta: InstanceMeta, quietMs = 0, fileSynced = true, marks?: RenameMarks): Promise<void> {
  return store.transactAsync((tx) => {
    const db = tx.db;
    marks?.flush(db);
    const now = meta.receivedAt;
    const study = cached<[string], { order_id: string | null; match_kind: string; match_reason: string | null }>(db, 'SELECT order_id, match_kind, match_reason FROM imaging_studies WHERE study_instance_uid = ?').get(meta.studyInstanceUid);
    if (!study) {
      cached(db, `INSERT INTO imaging_studies (study_instance_uid, accession_number, patient_id, patient_name, patient_birth_date, patient_sex, modality, study_date, study_time, description, station_ae, match_kind, first_received_at, last_received_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'none', ?, ?)`).run(meta.studyInstanceUid, clip(meta.accessionNumber, 64) ?? null, clip(meta.patientId, 64) ?? null, clip(meta.patientName, 200) ?? null,
        meta.patientBirthDate ?? null, meta.patientSex ?? null, meta.modality ?? null, meta.studyDate ?? null, meta.studyTime ?? null, clip(meta.studyDescription, 200) ?? null, clip(meta.stationAe, 16) ?? null, now, now);
    } else {
      cached(db, 'UPDATE imaging_studies SET last_received_at = ? WHERE study_instance_uid = ?').run(now, meta.studyInstanceUid);
    }
    // A resent instance replaces the file: forward it again only if its bytes changed.
    cached(db, `INSERT INTO imaging_instances (sop_instance_uid, study_instance_uid, series_instance_uid, sop_class_uid, transfer_syntax_uid, size, sha256, path, modality, series_number, instance_number, number_of_frames, calling_ae, received_at, fwd_next_at, file_synced)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (sop_instance_uid) DO UPDATE SET size = excluded.size, path = excluded.path, transfer_syntax_uid = excluded.transfer_syntax_uid, received_at = excluded.received_at, file_synced = excluded.file_synced, evicted_at = NULL,
        fwd_state = CASE WHEN imaging_instances.sha256 = excluded.sha256 THEN imaging_instances.fwd_state ELSE 'pending' END,
        fwd_attempts = CASE WHEN imaging_instances.sha256 = excluded.sha256 THEN imaging_instances.fwd_attempts ELSE 0 END,
        fwd_next_at = excluded.fwd_next_at, sha256 = excluded.sha256`)
      .run(meta.sopInstanceUid, meta.studyInstanceUid, meta.seriesInstanceUid, meta.sopClassUid, meta.transferSyntaxUid, meta.size, meta.sha256, meta.path, meta.modality ?? null,
        meta.seriesNumber ?? null, meta.instanceNumber ?? null, meta.numberOfFrames ?? null, meta.callingAe, now, now, fileSynced ? 1 : 0);

    // An instance a device's completed step listed may be the last one its order waited for.
    if (study?.order_id) completeOnArrival(tx, meta.sopInstanceUid, (t, id) => repo.setOrderStatus(t, id, 'completed'));
    if (!study?.order_id) {
      const m = matchOrder({ accessionNumber: meta.accessionNumber, studyInstanceUid: meta.studyInstanceUid, patientId: meta.patientId, modality: meta.modality }, repo.candidates(db, { accessionNumber: meta.accessionNumber, patientId: meta.patientId }));
      if (m.kind === 'ambiguous' || m.kind === 'none') {
        // Every instance of a study still waiting for a person is matched again (an order may have
        // come meanwhile); the row is written only when the outcome changed.
        if (study?.match_kind !== m.kind || study.match_reason !== m.reason) {
          cached(db, 'UPDATE imaging_studies SET match_kind = ?, match_reason = ? WHERE study_instance_uid = ?').run(m.kind, m.reason, meta.studyInstanceUid);
        }
      } else {
        linkStudy(tx, repo, meta.studyInstanceUid, m.order.orderId, m.kind, null);
      }
    }
    recordStudy(tx, meta.studyInstanceUid, !study, quietMs);
  });
}

/**
 * Links a study to an order (automatic match or a person's decision) and marks the order in
 * progress when it was waiting for images; a completed order stays completed (a late study of a
 * finished examination is filed under it without reopening it).
 */
export function linkStudy(tx: Tx, repo: IndexRepo, studyUid: string, orderId: string, kind: string, by: string | null): void {
  const o = cached<[string], { resident_id: string; accession_number: string; modality: string; status: string }>(tx.db, 'SELECT resident_id, accession_number, modality, status FROM imaging_orders WHERE order_id = ?').get(orderId);
  if (!o) throw new Error(`unknown order ${orderId}`);
  cached(tx.db, `UPDATE imaging_studies SET order_id = ?, resident_id = ?, accession_number = ?, match_kind = ?, match_reason = NULL, resolved_by = ?, resolved_at = ?,
    modality = coalesce(modality, ?) WHERE study_instance_uid = ?`).run(orderId, o.resident_id, o.accession_number, kind, by, by ? new Date().toISOString() : null, o.modality, studyUid);
  if (isAwaitingImages(o.status)) repo.setOrderStatus(tx, orderId, 'in-progress');
  // The device may have reported the examination completed (MPPS) before its images came.
  if (isAwaitingImages(o.status) || o.status === 'in-progress') completeIfPerformed(tx, orderId, (t, id) => repo.setOrderStatus(t, id, 'completed'));
  // The district radiologist may have reported the study before anyone linked it here.
  completeIfReported(tx, studyUid, (t, id, status) => repo.setOrderStatus(t, id, status));
}

/** Why a person's link was refused (`code`, for the page to say it in the user's language). */
export class ReconcileError extends Error {
  constructor(readonly code: 'no_order' | 'unknown_study' | 'already_linked' | 'unknown_order' | 'order_closed', message: string, readonly order: { accession?: string; status?: string } = {}) {
    super(message);
    this.name = 'ReconcileError';
  }
}

/** A person resolves a study from the reconciliation list: only to an open order, only a study not linked yet. */
export function resolveStudy(store: EdgeStore, repo: ImagingRepo, studyUid: string, orderId: string, by: string): Promise<void> {
  if (!orderId) return Promise.reject(new ReconcileError('no_order', 'no order chosen'));
  return store.transactAsync((tx) => {
    const s = cached<[string], { order_id: string | null }>(tx.db, 'SELECT order_id FROM imaging_studies WHERE study_instance_uid = ?').get(studyUid);
    if (!s) throw new ReconcileError('unknown_study', `unknown study ${studyUid}`);
    if (s.order_id) {
      const acc = cached<[string], { accession_number: string }>(tx.db, 'SELECT accession_number FROM imaging_orders WHERE order_id = ?').get(s.order_id)?.accession_number ?? s.order_id;
      throw new ReconcileError('already_linked', `study already linked to order ${acc}`, { accession: acc });
    }
    const o = cached<[string], { status: string; accession_number: string }>(tx.db, 'SELECT status, accession_number FROM imaging_orders WHERE order_id = ?').get(orderId);
    if (!o) throw new ReconcileError('unknown_order', `unknown order ${orderId}`);
    if (!OPEN_ORDER_STATUSES.includes(o.status)) throw new ReconcileError('order_closed', `order ${o.accession_number} is ${o.status}`, { accession: o.accession_number, status: o.status });
    linkStudy(tx, repo, studyUid, orderId, 'manual', by);
    emitStudy(tx, studyUid);
    cached(tx.db, 'DELETE FROM imaging_study_dirty WHERE study_instance_uid = ?').run(studyUid);
  });
}
