/** Central's side of a restored edge's rejoin: its watermark, what it holds, the records after a seq. */
import type { RejoinResponse } from '../../contracts/backup/index.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import type { Warehouse } from '../warehouse/types.ts';

interface Row { seq: number; type: string; record_id: string; version: number; hlc: string; created_at: unknown; payload: unknown }

export async function rejoinQuery(wh: Warehouse, clinicId: string, after: number, limit: number): Promise<RejoinResponse> {
  const w = await wh.watermark(clinicId);
  let rows: Row[];
  let maxPending: number;
  if (wh instanceof SqliteWarehouse) {
    rows = wh.db.prepare<[string, number, number, number], Row>('SELECT seq, type, record_id, version, hlc, created_at, payload FROM records WHERE clinic_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?').all(clinicId, after, w.appliedSeq, limit + 1);
    maxPending = (wh.db.prepare<[string], { m: number | null }>('SELECT max(seq) AS m FROM pending WHERE clinic_id = ?').get(clinicId)?.m) ?? 0;
  } else if (wh instanceof PostgresWarehouse) {
    rows = (await wh.pool.query<Row>('SELECT seq, type, record_id, version, hlc, created_at, payload FROM records WHERE clinic_id = $1 AND seq > $2 AND seq <= $3 ORDER BY seq LIMIT $4', [clinicId, after, w.appliedSeq, limit + 1])).rows;
    maxPending = Number((await wh.pool.query<{ m: number | null }>('SELECT max(seq) AS m FROM pending WHERE clinic_id = $1', [clinicId])).rows[0]?.m ?? 0);
  } else {
    throw new Error('unknown warehouse backend');
  }
  const more = rows.length > limit;
  return {
    clinicId,
    appliedSeq: w.appliedSeq,
    pendingAbove: w.pendingAbove,
    firstMissing: w.firstMissing,
    maxKnownSeq: Math.max(w.appliedSeq, maxPending),
    records: rows.slice(0, limit).map((r) => ({
      seq: Number(r.seq), type: r.type, recordId: r.record_id, version: Number(r.version), hlc: r.hlc,
      createdAt: r.created_at instanceof Date ? r.created_at.toISOString() : String(r.created_at),
      payload: typeof r.payload === 'string' ? JSON.parse(r.payload) : r.payload,
    })),
    more,
  };
}
