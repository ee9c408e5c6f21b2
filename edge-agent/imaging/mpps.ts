/**
 * Modality Performed Procedure Step at the edge: the ultrasound or DR device says it started an
 * examination (N-CREATE, IN PROGRESS) and later that it completed or discontinued it (N-SET). The
 * steps are kept in `imaging_mpps` and shown on the worklist (设备：检查中 / 已完成 / 已中止).
 *
 * - A step is matched to an order by the Scheduled Step's Accession Number, else its Study
 *   Instance UID (the worklist gave the device both).
 * - COMPLETED completes the order (检查完成, a new version of its `order` record) when the images
 *   the step lists (Performed Series Sequence) are all here, or, for a step that lists none, when
 *   the order has any; images that come after the step (devices often send them at the end)
 *   complete it as they are filed (`completeIfPerformed`, `completeOnArrival`, called by
 *   ingest.ts). Listed images not received are shown on the worklist (设备记录 N 张，已收到 M 张).
 * - DISCONTINUED changes no order: the technician sees it and cancels or completes by hand.
 * - Refused with the PS3.4 status and a comment the device shows: a step that exists already
 *   (0x0111), an N-SET of an unknown step (0x0112) or of one already ended (0x0110), a status
 *   other than those above (0x0106).
 */
import type { MppsAnswer, MppsMessage, MppsProvider } from '../../device-drivers/dicom/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { EdgeStore, Tx } from '../store/store.ts';
import { cached } from './repo.ts';

type Attrs = Record<string, unknown>;
const STATUSES = new Set(['IN PROGRESS', 'COMPLETED', 'DISCONTINUED']);
const FINAL = new Set(['COMPLETED', 'DISCONTINUED']);
/** Images of one step kept for the check (a CT-sized step; US and DR steps list tens). */
const MAX_IMAGES = 10_000;

const text = (v: unknown): string | null => {
  const x = Array.isArray(v) ? v[0] : v;
  if (x === undefined || x === null) return null;
  const s = (typeof x === 'object' ? String((x as { Alphabetic?: string }).Alphabetic ?? '') : String(x)).replace(/[\0 ]+$/, '').trim();
  return s || null;
};
const items = (v: unknown): Attrs[] => (Array.isArray(v) ? v.filter((x): x is Attrs => !!x && typeof x === 'object') : []);

/** A DICOM date and time (China time, as the devices keep it) as an ISO instant; null when absent or malformed. */
export function dicomInstant(date: string | null, time: string | null): string | null {
  if (!date || !/^\d{8}$/.test(date)) return null;
  const t = /^(\d{2})(\d{2})?(\d{2})?/.exec(time ?? '') ?? [];
  const iso = `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}T${t[1] ?? '00'}:${t[2] ?? '00'}:${t[3] ?? '00'}+08:00`;
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? null : new Date(ms).toISOString();
}

/** What a step's attributes say (any subset: an N-SET carries only what changed). */
export interface StepFields {
  status: string | null;
  accessionNumber: string | null;
  studyInstanceUid: string | null;
  stationAe: string | null;
  startedAt: string | null;
  endedAt: string | null;
  /** Performed Series Sequence: series and images referenced; null when absent. */
  series: number | null;
  images: number | null;
  /** The SOP Instance UIDs of the images referenced (at most MAX_IMAGES); null when absent. */
  imageUids: string[] | null;
  reason: string | null;
}

export function stepFields(a: Attrs): StepFields {
  const scheduled = items(a.ScheduledStepAttributesSequence)[0] ?? {};
  const performed = a.PerformedSeriesSequence === undefined ? null : items(a.PerformedSeriesSequence);
  const reason = items(a.PerformedProcedureStepDiscontinuationReasonCodeSequence)[0];
  return {
    status: text(a.PerformedProcedureStepStatus)?.toUpperCase() ?? null,
    accessionNumber: text(scheduled.AccessionNumber),
    studyInstanceUid: text(scheduled.StudyInstanceUID),
    stationAe: text(a.PerformedStationAETitle),
    startedAt: dicomInstant(text(a.PerformedProcedureStepStartDate), text(a.PerformedProcedureStepStartTime)),
    endedAt: dicomInstant(text(a.PerformedProcedureStepEndDate), text(a.PerformedProcedureStepEndTime)),
    series: performed ? performed.length : null,
    images: performed ? performed.reduce((n, s) => n + items(s.ReferencedImageSequence).length, 0) : null,
    imageUids: performed ? [...new Set(performed.flatMap((s) => items(s.ReferencedImageSequence).map((i) => text(i.ReferencedSOPInstanceUID)).filter((u): u is string => !!u && u.length <= 64)))].slice(0, MAX_IMAGES) : null,
    reason: reason ? text(reason.CodeMeaning) ?? text(reason.CodeValue) : null,
  };
}

interface StepRow { sop_instance_uid: string; order_id: string | null; status: string }

export interface MppsDeps {
  store: EdgeStore;
  /** Completes an order that has images ('no_images' otherwise), in the given transaction. */
  completeOrder(tx: Tx, orderId: string): string;
  log: Pick<Logger, 'info' | 'warn'>;
  now?: () => Date;
}

/** The SCP's MPPS provider: records the step and applies it to its order, in one transaction. */
export function mppsProvider(deps: MppsDeps): MppsProvider {
  return async (m: MppsMessage): Promise<MppsAnswer> => {
    const f = stepFields(m.attributes);
    const now = (deps.now ?? (() => new Date()))().toISOString();
    if (f.status !== null && !STATUSES.has(f.status)) return { status: 0x0106, comment: `status ${f.status.slice(0, 20)}: IN PROGRESS, COMPLETED or DISCONTINUED` };
    // Answered after the step is durable (the store's group commit), as C-STORE is.
    return deps.store.transactAsync((tx): MppsAnswer => {
      const row = tx.db.prepare<[string], StepRow>('SELECT sop_instance_uid, order_id, status FROM imaging_mpps WHERE sop_instance_uid = ?').get(m.sopInstanceUid);
      if (m.kind === 'create') {
        if (row) return { status: 0x0111, comment: 'this performed procedure step exists already' };
        if (f.status !== 'IN PROGRESS') return { status: 0x0106, comment: 'N-CREATE must have status IN PROGRESS' };
        const order = (f.accessionNumber ? tx.db.prepare<[string], { order_id: string }>("SELECT order_id FROM imaging_orders WHERE accession_number = ? AND status != 'cancelled'").get(f.accessionNumber) : undefined)
          ?? (f.studyInstanceUid ? tx.db.prepare<[string], { order_id: string }>("SELECT order_id FROM imaging_orders WHERE study_instance_uid = ? AND status != 'cancelled'").get(f.studyInstanceUid) : undefined);
        tx.db.prepare(`INSERT INTO imaging_mpps (sop_instance_uid, order_id, accession_number, study_instance_uid, status, station_ae, calling_ae, started_at, ended_at, series, images, reason, created_at, updated_at)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(m.sopInstanceUid, order?.order_id ?? null, f.accessionNumber, f.studyInstanceUid, f.status, f.stationAe ?? m.callingAe, m.callingAe,
          f.startedAt ?? now, null, f.series ?? 0, f.images ?? 0, null, now, now);
        if (f.imageUids) keepImages(tx, m.sopInstanceUid, f.imageUids);
        deps.log.info({ event: 'imaging.mpps.started', sop: m.sopInstanceUid, orderId: order?.order_id ?? null, accession: f.accessionNumber, callingAe: m.callingAe }, order ? 'device started an examination' : 'device started an examination that matches no order');
        return { status: 0 };
      }
      if (!row) return { status: 0x0112, comment: 'no such performed procedure step' };
      if (FINAL.has(row.status)) return { status: 0x0110, comment: `the step is ${row.status} and can no longer be changed` };
      const status = f.status ?? row.status;
      tx.db.prepare(`UPDATE imaging_mpps SET status = ?, ended_at = coalesce(?, ended_at, CASE WHEN ? THEN ? END), series = coalesce(?, series), images = coalesce(?, images), reason = coalesce(?, reason), updated_at = ?
        WHERE sop_instance_uid = ?`).run(status, f.endedAt, FINAL.has(status) ? 1 : 0, now, f.series, f.images, f.reason, now, m.sopInstanceUid);
      if (f.imageUids) keepImages(tx, m.sopInstanceUid, f.imageUids);
      let outcome = '';
      if (status === 'COMPLETED' && row.order_id) {
        const p = performed(tx, row.order_id);
        outcome = p.state === 'complete' ? deps.completeOrder(tx, row.order_id) : `waiting for ${p.listed - p.received} of ${p.listed} listed image(s)`;
      }
      if (FINAL.has(status)) deps.log.info({ event: `imaging.mpps.${status.toLowerCase()}`, sop: m.sopInstanceUid, orderId: row.order_id, order: outcome || undefined, reason: f.reason ?? undefined }, `device reported the examination ${status.toLowerCase()}`);
      return { status: 0 };
    });
  };
}

/** The images a step lists, replacing what an earlier message listed. */
function keepImages(tx: Tx, mppsUid: string, uids: string[]): void {
  tx.db.prepare('DELETE FROM imaging_mpps_images WHERE mpps_uid = ?').run(mppsUid);
  const ins = tx.db.prepare('INSERT OR IGNORE INTO imaging_mpps_images (sop_instance_uid, mpps_uid) VALUES (?, ?)');
  for (const u of uids) ins.run(u, mppsUid);
}

/**
 * Whether the device reported `orderId` performed: 'none' (no COMPLETED step), 'missing' (its
 * steps list images not all received), 'complete'; with the counts of listed and received images.
 */
export function performed(tx: Tx, orderId: string): { state: 'none' | 'missing' | 'complete'; listed: number; received: number } {
  const steps = cached<[string], { n: number }>(tx.db, "SELECT count(*) AS n FROM imaging_mpps WHERE order_id = ? AND status = 'COMPLETED'").get(orderId)!.n;
  if (!steps) return { state: 'none', listed: 0, received: 0 };
  const c = cached<[string], { listed: number; received: number }>(tx.db, `SELECT count(*) AS listed, count(i.sop_instance_uid) AS received
    FROM imaging_mpps m JOIN imaging_mpps_images x ON x.mpps_uid = m.sop_instance_uid LEFT JOIN imaging_instances i ON i.sop_instance_uid = x.sop_instance_uid
    WHERE m.order_id = ? AND m.status = 'COMPLETED'`).get(orderId)!;
  return { state: c.received < c.listed ? 'missing' : 'complete', ...c };
}

/**
 * Completes `orderId` when its device reported the step COMPLETED (with its listed images here)
 * before the images came: called as a study is filed under the order (ingest.ts linkStudy), in the
 * same transaction.
 */
export function completeIfPerformed(tx: Tx, orderId: string, complete: (tx: Tx, orderId: string) => void): void {
  if (performed(tx, orderId).state === 'complete') complete(tx, orderId);
}

/**
 * An instance filed under an order that is under way: when a COMPLETED step lists it, the order
 * completes if that was the last listed image missing. One primary-key look-up per instance.
 */
export function completeOnArrival(tx: Tx, sopInstanceUid: string, complete: (tx: Tx, orderId: string) => void): void {
  const orders = cached<[string], { order_id: string; status: string }>(tx.db, `SELECT DISTINCT m.order_id, o.status FROM imaging_mpps_images x
    JOIN imaging_mpps m ON m.sop_instance_uid = x.mpps_uid JOIN imaging_orders o ON o.order_id = m.order_id
    WHERE x.sop_instance_uid = ? AND m.status = 'COMPLETED'`).all(sopInstanceUid);
  for (const o of orders) if (o.status === 'in-progress' && performed(tx, o.order_id).state === 'complete') complete(tx, o.order_id);
}
