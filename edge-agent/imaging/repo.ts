/** Reads and writes of the imaging tables (devices, orders, studies, instances). */
import { uuidv7 } from '../../contracts/ids.ts';
import type { DicomDevice, OrderCandidate } from '../../device-drivers/dicom/index.ts';
import type { RecordPayload } from '../../contracts/index.ts';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Tx } from '../store/store.ts';
import { DICOM_PROFILE_ID, type Actor, type DeviceRegistry } from '../devices/registry.ts';

const SYSTEM: Actor = { username: 'system', ip: 'local' };

export type Modality = 'US' | 'DX' | 'CR';
export type Order = RecordPayload<'order'>;

export interface DeviceRow extends DicomDevice {
  id: string;
  lastEchoAt: string | null;
  lastEchoResult: string | null;
}

/** Statuses of an order still waiting for images or being imaged (the SQL of `openOrders` and its partial index list the same). */
export const OPEN_ORDER_STATUSES: readonly string[] = ['requested', 'scheduled', 'in-progress'];
/** An order no image has reached yet, as far as its status says: the devices' worklist offers it, a person may cancel it. */
export const isAwaitingImages = (status: string) => status === 'requested' || status === 'scheduled';
/** 'YYYYMMDD' (DICOM DA, how orders keep their day) as 'YYYY-MM-DD'. */
export const isoDay = (da: string) => `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6, 8)}`;

export interface OrderRow {
  orderId: string;
  residentId: string;
  accessionNumber: string;
  studyInstanceUid: string;
  modality: Modality;
  code: string;
  display: string;
  stationAe: string | null;
  scheduledDate: string;
  scheduledTime: string | null;
  status: Order['status'];
  requestedBy: string;
  createdAt: string;
  residentName: string | null;
  residentSex: string | null;
  residentBirthDate: string | null;
  residentIdNumber: string | null;
  /** Instances received for the order's study and how many reached central. */
  instances: number;
  forwarded: number;
  /** The device's latest performed procedure step (MPPS): status and, discontinued, why, joined by U+001F; null without one. */
  mpps: string | null;
  /** Images the device's completed steps list, and how many of them are here. */
  mppsListed: number;
  mppsReceived: number;
}

export interface StudyRow {
  studyInstanceUid: string;
  orderId: string | null;
  residentId: string | null;
  accessionNumber: string | null;
  patientId: string | null;
  patientName: string | null;
  patientBirthDate: string | null;
  patientSex: string | null;
  modality: string | null;
  studyDate: string | null;
  description: string | null;
  stationAe: string | null;
  matchKind: string;
  matchReason: string | null;
  resolvedBy: string | null;
  firstReceivedAt: string;
  lastReceivedAt: string;
  instances: number;
  forwarded: number;
}

export interface InstanceRow {
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  size: number;
  sha256: string;
  path: string;
  modality: string | null;
  seriesNumber: string | null;
  instanceNumber: string | null;
  numberOfFrames: number | null;
  receivedAt: string;
  fwdState: 'pending' | 'done';
  fwdAttempts: number;
  fwdError: string | null;
  forwardedAt: string | null;
  /** Removed from this disk (the central archive holds it): previews come from central. */
  evictedAt: string | null;
}

const statements = new WeakMap<Db, Map<string, unknown>>();
/** `db.prepare`, kept per connection and SQL text (preparing costs more than running these one-row statements). */
export function cached<P extends unknown[] | object = unknown[], R = unknown>(db: Db, sql: string): ReturnType<typeof db.prepare<P, R>> {
  let m = statements.get(db);
  if (!m) statements.set(db, (m = new Map()));
  let st = m.get(sql) as ReturnType<typeof db.prepare<P, R>> | undefined;
  if (!st) m.set(sql, (st = db.prepare<P, R>(sql)));
  return st;
}

const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
function rows<T>(list: unknown[]): T[] {
  return list.map((r) => Object.fromEntries(Object.entries(r as Record<string, unknown>).map(([k, v]) => [camel(k), v])) as T);
}

export class ImagingRepo {
  /** `registry` is needed for device changes only (readers such as the clinical service pass none). */
  constructor(private readonly db: Db, private readonly registry?: DeviceRegistry) {}

  // ---- devices: the one device registry (edge-agent/devices, table `devices`, protocol 'dicom')
  private deviceSelect = `SELECT d.id, d.ae_title, d.connection, d.modality, d.room, d.enabled, s.last_test
    FROM devices d LEFT JOIN device_status s ON s.device_id = d.id WHERE d.protocol = 'dicom'`;

  private toDevice(r: { id: string; ae_title: string; connection: string; modality: string; room: string; enabled: number; last_test: string | null }): DeviceRow {
    const c = JSON.parse(r.connection) as { host?: string; port?: number };
    // device_status.last_test is "<ISO time> OK|FAIL <detail>" (DeviceRegistry.recordTest).
    const m = /^(\S+) (?:OK|FAIL) ?(.*)$/s.exec(r.last_test ?? '');
    return {
      id: r.id, aeTitle: r.ae_title, host: c.host ?? '*', port: Number(c.port ?? 0), modality: r.modality as DeviceRow['modality'], room: r.room || undefined,
      enabled: r.enabled === 1, lastEchoAt: m ? m[1]! : null, lastEchoResult: m ? m[2]! : null,
    };
  }

  devices(): DeviceRow[] {
    return this.db.prepare<[], Parameters<ImagingRepo['toDevice']>[0]>(`${this.deviceSelect} ORDER BY d.ae_title`).all().map((r) => this.toDevice(r));
  }

  /** Read for every association (the SCP's lookupDevice): one indexed row. */
  deviceByAe(ae: string): DeviceRow | null {
    const r = this.db.prepare<[string], Parameters<ImagingRepo['toDevice']>[0]>(`${this.deviceSelect} AND d.ae_title = ?`).get(ae);
    return r ? this.toDevice(r) : null;
  }

  device(id: string): DeviceRow | null {
    const r = this.db.prepare<[string], Parameters<ImagingRepo['toDevice']>[0]>(`${this.deviceSelect} AND d.id = ?`).get(id);
    return r ? this.toDevice(r) : null;
  }

  private reg(): DeviceRegistry {
    if (!this.registry) throw new Error('ImagingRepo: device changes need the device registry');
    return this.registry;
  }

  /** Registers a DICOM device in the device registry (validated and audited there); returns its id. */
  addDevice(d: Omit<DicomDevice, 'id'>, by: Actor = SYSTEM): string {
    return this.reg().create({
      name: d.aeTitle, profileId: DICOM_PROFILE_ID, room: d.room ?? '', connection: { type: 'tcp', host: d.host, port: d.port },
      aeTitle: d.aeTitle, modality: d.modality, enabled: d.enabled,
    }, by).id;
  }

  setDeviceEnabled(id: string, enabled: boolean, by: Actor = SYSTEM): void {
    this.reg().setEnabled(id, enabled, by);
  }

  recordEcho(id: string, result: { ok: boolean; detail: string }, by: Actor = SYSTEM): void {
    this.reg().recordTest(id, result, by);
  }

  // ---- orders
  // CROSS JOIN keeps the order's studies as the outer loop: left to choose, SQLite read every
  // forwarded instance (the fwd_state index) once per order.
  private orderSelect = `SELECT o.*, r.name AS resident_name, r.sex AS resident_sex, r.birth_date AS resident_birth_date, r.id_number AS resident_id_number,
      (SELECT count(*) FROM imaging_studies s CROSS JOIN imaging_instances i ON i.study_instance_uid = s.study_instance_uid WHERE s.order_id = o.order_id) AS instances,
      (SELECT count(*) FROM imaging_studies s CROSS JOIN imaging_instances i ON i.study_instance_uid = s.study_instance_uid WHERE s.order_id = o.order_id AND i.fwd_state = 'done') AS forwarded,
      (SELECT m.status || char(31) || coalesce(m.reason, '') FROM imaging_mpps m WHERE m.order_id = o.order_id ORDER BY m.updated_at DESC LIMIT 1) AS mpps,
      (SELECT count(*) FROM imaging_mpps m JOIN imaging_mpps_images x ON x.mpps_uid = m.sop_instance_uid WHERE m.order_id = o.order_id AND m.status = 'COMPLETED') AS mpps_listed,
      (SELECT count(*) FROM imaging_mpps m JOIN imaging_mpps_images x ON x.mpps_uid = m.sop_instance_uid JOIN imaging_instances i ON i.sop_instance_uid = x.sop_instance_uid
        WHERE m.order_id = o.order_id AND m.status = 'COMPLETED') AS mpps_received
    FROM imaging_orders o LEFT JOIN residents r ON r.resident_id = o.resident_id`;

  ordersOn(date: string): OrderRow[] {
    return rows<OrderRow>(this.db.prepare(`${this.orderSelect} WHERE o.scheduled_date = ? ORDER BY o.scheduled_time, o.created_at`).all(date));
  }

  openOrders(): OrderRow[] {
    return rows<OrderRow>(this.db.prepare(`${this.orderSelect} WHERE o.status IN ('requested', 'scheduled', 'in-progress') ORDER BY o.scheduled_date, o.scheduled_time`).all());
  }

  order(orderId: string): OrderRow | null {
    return rows<OrderRow>(this.db.prepare(`${this.orderSelect} WHERE o.order_id = ?`).all(orderId))[0] ?? null;
  }

  /** Creates an order inside the caller's transaction and emits its `order` record. */
  createOrder(tx: Tx, o: { residentId: string; modality: Modality; code: string; display: string; stationAe: string | null; scheduledDate: string; scheduledTime: string | null; requestedBy: string; encounterId?: string }, studyUid: string): OrderRow {
    const orderId = uuidv7();
    const now = new Date().toISOString();
    // The per-edge counter is the table's next rowid (orders are never deleted, so it equals the
    // order count): one look-up at the end of the rowid b-tree, where count(*) read every row.
    const seqNo = (tx.db.prepare<[], { n: number }>('SELECT coalesce(max(rowid), 0) AS n FROM imaging_orders').get()?.n ?? 0) + 1;
    // Accession numbers: 16 characters max (SH); date + modality + a per-edge counter.
    const accessionNumber = `${o.scheduledDate.slice(2)}${o.modality}${String(seqNo).padStart(16 - 6 - o.modality.length, '0')}`.slice(0, 16);
    const payload: Order = { orderId, residentId: o.residentId, ...(o.encounterId ? { encounterId: o.encounterId } : {}), kind: 'imaging', code: o.code, display: o.display, status: 'scheduled', requestedAt: now, accessionNumber, modality: o.modality };
    tx.db.prepare(`INSERT INTO imaging_orders (order_id, resident_id, accession_number, study_instance_uid, modality, code, display, station_ae, scheduled_date, scheduled_time, status, requested_by, payload, created_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(orderId, o.residentId, accessionNumber, studyUid, o.modality, o.code, o.display, o.stationAe, o.scheduledDate, o.scheduledTime, 'scheduled', o.requestedBy, JSON.stringify(payload), now);
    tx.emit('order', orderId, payload);
    return this.order(orderId)!;
  }

  /** Moves an order to `status` (emitting a new version) when it is not there already. */
  /**
   * Cancels an order that no image has reached (a study linked to it, by the matcher or by hand,
   * keeps it: the images are filed under it). Emits the order's record like every status change.
   */
  cancelOrder(tx: Tx, orderId: string): 'cancelled' | 'unknown' | 'has_images' | 'closed' {
    const o = tx.db.prepare<[string], { status: string }>('SELECT status FROM imaging_orders WHERE order_id = ?').get(orderId);
    if (!o) return 'unknown';
    if (!isAwaitingImages(o.status)) return o.status === 'in-progress' ? 'has_images' : 'closed';
    if (tx.db.prepare<[string], { x: number }>('SELECT 1 AS x FROM imaging_studies WHERE order_id = ? LIMIT 1').get(orderId)) return 'has_images';
    this.setOrderStatus(tx, orderId, 'cancelled');
    return 'cancelled';
  }

  /**
   * Marks an examination done (检查完成): the technician after the last image, or the district
   * radiologist's final report (reports.ts). Only an order with images: one without any is
   * cancelled instead. A study that arrives later is still filed under it; it stays completed.
   */
  completeOrder(tx: Tx, orderId: string): 'completed' | 'unknown' | 'no_images' | 'closed' {
    const o = tx.db.prepare<[string], { status: string }>('SELECT status FROM imaging_orders WHERE order_id = ?').get(orderId);
    if (!o) return 'unknown';
    if (o.status === 'completed' || o.status === 'cancelled') return 'closed';
    if (!tx.db.prepare<[string], { x: number }>('SELECT 1 AS x FROM imaging_studies WHERE order_id = ? LIMIT 1').get(orderId)) return 'no_images';
    this.setOrderStatus(tx, orderId, 'completed');
    return 'completed';
  }

  setOrderStatus(tx: Tx, orderId: string, status: Order['status']): void {
    const row = tx.db.prepare<[string], { payload: string; status: string }>('SELECT payload, status FROM imaging_orders WHERE order_id = ?').get(orderId);
    if (!row || row.status === status) return;
    const payload = { ...(JSON.parse(row.payload) as Order), status };
    tx.db.prepare('UPDATE imaging_orders SET status = ?, payload = ? WHERE order_id = ?').run(status, JSON.stringify(payload), orderId);
    tx.emit('order', orderId, payload);
  }

  /**
   * Imaging orders of the last 90 days as `matchOrder` candidates, with every identifier a device may
   * echo as PatientID (bounded so that matching cost does not grow with the clinic's history).
   * With `keys`, only the orders `matchOrder` can pick for them (same accession number, or a resident
   * whose id or ID number is the PatientID), found through indexes: the result of `matchOrder` is the
   * same as over all candidates, at a cost that does not grow with the number of orders.
   */
  candidates(db: Db = this.db, keys?: { accessionNumber?: string; patientId?: string }): OrderCandidate[] {
    const cols = 'SELECT o.payload, o.study_instance_uid, o.resident_id, r.id_number FROM imaging_orders o LEFT JOIN residents r ON r.resident_id = o.resident_id';
    const recent = `o.status != 'cancelled' AND o.created_at >= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-90 days')`;
    type Row = { payload: string; study_instance_uid: string; resident_id: string; id_number: string | null };
    let list: Row[];
    if (!keys) list = db.prepare<[], Row>(`${cols} WHERE ${recent}`).all();
    else {
      const acc = keys.accessionNumber?.trim() ?? '';
      const pid = keys.patientId?.trim() ?? '';
      if (!acc && !pid) return [];
      // Each arm of the union uses an index (accession number, resident id, residents' ID number).
      list = cached(db, `${cols} WHERE ${recent} AND o.order_id IN (
          SELECT order_id FROM imaging_orders WHERE accession_number = @acc AND @acc != ''
          UNION SELECT order_id FROM imaging_orders WHERE resident_id = @pid AND @pid != ''
          UNION SELECT order_id FROM imaging_orders WHERE resident_id IN (SELECT resident_id FROM residents WHERE id_number = @pid AND @pid != ''))`).all({ acc, pid }) as Row[];
    }
    return list.map((r) => ({ order: JSON.parse(r.payload) as Order, studyInstanceUid: r.study_instance_uid, patientIds: [r.resident_id, ...(r.id_number ? [r.id_number] : [])] }));
  }

  // ---- studies and instances
  private studySelect = `SELECT s.*, (SELECT count(*) FROM imaging_instances i WHERE i.study_instance_uid = s.study_instance_uid) AS instances,
      (SELECT count(*) FROM imaging_instances i WHERE i.study_instance_uid = s.study_instance_uid AND i.fwd_state = 'done') AS forwarded FROM imaging_studies s`;

  study(uid: string): StudyRow | null {
    return rows<StudyRow>(this.db.prepare(`${this.studySelect} WHERE s.study_instance_uid = ?`).all(uid))[0] ?? null;
  }

  studiesForOrder(orderId: string): StudyRow[] {
    return rows<StudyRow>(this.db.prepare(`${this.studySelect} WHERE s.order_id = ?`).all(orderId));
  }

  recentStudies(limit = 50): StudyRow[] {
    return rows<StudyRow>(this.db.prepare(`${this.studySelect} ORDER BY s.last_received_at DESC LIMIT ?`).all(limit));
  }

  /** Studies that need a person: not matched to an order, or matched ambiguously. */
  /** Studies waiting on the reconciliation list (the sub-navigation shows how many). */
  unreconciledCount(): number {
    return (this.db.prepare('SELECT count(*) AS n FROM imaging_studies WHERE order_id IS NULL').get() as { n: number }).n;
  }

  unreconciled(): StudyRow[] {
    return rows<StudyRow>(this.db.prepare(`${this.studySelect} WHERE s.order_id IS NULL ORDER BY s.last_received_at DESC`).all());
  }

  instances(studyUid: string): InstanceRow[] {
    return rows<InstanceRow>(this.db.prepare('SELECT * FROM imaging_instances WHERE study_instance_uid = ? ORDER BY series_number, CAST(instance_number AS INTEGER), received_at').all(studyUid));
  }

  instance(sop: string): InstanceRow | null {
    return rows<InstanceRow>(this.db.prepare('SELECT * FROM imaging_instances WHERE sop_instance_uid = ?').all(sop))[0] ?? null;
  }

  forwardStats(): { pending: number; done: number; pendingBytes: number } {
    // Kept by triggers on imaging_instances (migration 206): two rows, whatever the archive's size.
    const r = this.db.prepare<[], { pending: number | null; done: number | null; pending_bytes: number | null }>(
      `SELECT (SELECT n FROM imaging_fwd_totals WHERE fwd_state = 'pending') AS pending, (SELECT n FROM imaging_fwd_totals WHERE fwd_state = 'done') AS done,
        (SELECT bytes FROM imaging_fwd_totals WHERE fwd_state = 'pending') AS pending_bytes`).get();
    return { pending: r?.pending ?? 0, done: r?.done ?? 0, pendingBytes: r?.pending_bytes ?? 0 };
  }
}
