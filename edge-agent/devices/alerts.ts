/** Critical-value alerts (危急值): raised by ingest, acknowledged by a named user with read-back. */
import type { Db } from '../../contracts/runtime/index.ts';
import type { Accounts, User } from '../web/accounts.ts';
import { RegistryError } from './registry.ts';

export interface Alert {
  id: string;
  readingId: string;
  deviceId: string;
  deviceName: string;
  residentId: string | null;
  residentName: string | null;
  summary: string;
  raisedAt: string;
  ackedBy: string | null;
  ackedByName: string | null;
  ackedAt: string | null;
  readBack: string | null;
}

/** Roles that see the banner and may acknowledge. */
export const CLINICAL_ROLES = ['doctor', 'nurse', 'lab_tech', 'clinic_admin'] as const;

const SELECT = `SELECT a.id, a.reading_id AS readingId, a.device_id AS deviceId, coalesce(d.name, a.device_id) AS deviceName, a.resident_id AS residentId, r.name AS residentName,
  a.summary, a.raised_at AS raisedAt, a.acked_by AS ackedBy, a.acked_by_name AS ackedByName, a.acked_at AS ackedAt, a.read_back AS readBack
  FROM critical_alerts a LEFT JOIN devices d ON d.id = a.device_id LEFT JOIN residents r ON r.resident_id = a.resident_id`;

export class Alerts {
  constructor(private readonly db: Db, private readonly accounts: Accounts) {}

  open(): Alert[] {
    return this.db.prepare<[], Alert>(`${SELECT} WHERE a.acked_at IS NULL ORDER BY a.raised_at`).all();
  }

  recent(limit = 100): Alert[] {
    return this.db.prepare<[number], Alert>(`${SELECT} ORDER BY a.raised_at DESC LIMIT ?`).all(limit);
  }

  openCount(): number {
    return this.db.prepare<[], { n: number }>('SELECT count(*) AS n FROM critical_alerts WHERE acked_at IS NULL').get()!.n;
  }

  /** Record who acknowledged, when, and the read-back text. The read-back is required. */
  acknowledge(id: string, user: User, readBack: string, ip: string): Alert {
    const text = readBack.trim();
    if (text.length < 2) {
      this.accounts.audit(user.username, 'critical.ack', id, ip, 'refused: no read-back');
      throw new RegistryError('readBack', '请填写复述内容（患者、项目、数值）/ enter the read-back (patient, test, value)');
    }
    const now = new Date().toISOString();
    const n = this.db.prepare('UPDATE critical_alerts SET acked_by = ?, acked_by_name = ?, acked_at = ?, read_back = ?, ack_ip = ? WHERE id = ? AND acked_at IS NULL')
      .run(user.username, user.displayName, now, text.slice(0, 500), ip, id).changes;
    if (n === 0) {
      this.accounts.audit(user.username, 'critical.ack', id, ip, 'refused: unknown or already acknowledged');
      throw new RegistryError('id', '该危急值不存在或已确认 / unknown or already acknowledged', 409);
    }
    this.accounts.audit(user.username, 'critical.ack', id, ip, `ok; read-back: ${text}`.slice(0, 500));
    return this.db.prepare<[string], Alert>(`${SELECT} WHERE a.id = ?`).get(id)!;
  }
}
