/**
 * Which resident a reading belongs to, in order: the patient id the device sent (resident
 * id or ID-card number), the specimen barcode of a lab order, the station's current patient.
 * Runs inside the ingest transaction (synchronous SQLite reads).
 */
import type { Db } from '../../contracts/runtime/index.ts';
import type { Reading } from '../../device-drivers/index.ts';

export interface Binding {
  residentId: string;
  by: 'device-id' | 'specimen' | 'station';
  orderId?: string;
}

export function bindReading(db: Db, deviceId: string, r: Reading): Binding | null {
  if (r.patientId) {
    const row = db.prepare<[string, string], { resident_id: string }>('SELECT resident_id FROM residents WHERE resident_id = ? OR id_number = ? LIMIT 1').get(r.patientId, r.patientId.toUpperCase());
    if (row) return { residentId: row.resident_id, by: 'device-id' };
  }
  if (r.type === 'lab_result' && r.specimenId && r.specimenId !== 'UNKNOWN') {
    const row = db.prepare<[string], { record_id: string; resident: string }>(
      `SELECT record_id, json_extract(payload, '$.residentId') AS resident FROM records
       WHERE type = 'order' AND json_extract(payload, '$.kind') = 'lab' AND json_extract(payload, '$.specimenId') = ?
         AND json_extract(payload, '$.status') != 'cancelled' ORDER BY updated_at DESC LIMIT 1`).get(r.specimenId);
    if (row) return { residentId: row.resident, by: 'specimen', orderId: row.record_id };
  }
  const st = db.prepare<[string], { resident_id: string }>('SELECT resident_id FROM device_station_patient WHERE device_id = ?').get(deviceId);
  if (st) return { residentId: st.resident_id, by: 'station' };
  return null;
}
