/** What routes and pages share: the module's parts, wired once in index.ts. */
import type { Db } from '../../contracts/runtime/index.ts';
import type { Alerts } from './alerts.ts';
import type { Ingest } from './ingest.ts';
import type { LabService } from './lab.ts';
import type { DeviceManager } from './manager.ts';
import type { DeviceRow } from './pages.tsx';
import type { ProfileCatalog } from './profiles.ts';
import type { CriticalRanges } from './ranges.ts';
import type { Device, DeviceRegistry } from './registry.ts';

export interface DevicesService {
  db: Db;
  registry: DeviceRegistry;
  manager: DeviceManager;
  ingest: Ingest;
  alerts: Alerts;
  ranges: CriticalRanges;
  profiles: ProfileCatalog;
  /** Lab review, import, manual entry, trends (lab.ts). */
  lab?: LabService;
}

export const EDIT_ROLES = ['device_tech', 'clinic_admin'] as const;
export const VIEW_ROLES = ['device_tech', 'clinic_admin', 'nurse', 'doctor', 'lab_tech'] as const;
/** Who may set the station's current patient and bind unbound readings. */
export const BIND_ROLES = ['nurse', 'doctor', 'lab_tech', 'device_tech', 'clinic_admin'] as const;

export function deviceRow(s: DevicesService, d: Device): DeviceRow {
  const h = s.manager.health(d);
  return { device: d, status: s.registry.status(d.id), state: s.manager.liveState(d), liveErrors: h?.errors ?? 0, patient: s.registry.stationPatient(d.id) };
}

/** A resident by resident id or ID-card number (what a nurse types or scans). */
export function findResident(db: Db, text: string): string | null {
  const v = text.trim();
  if (!v) return null;
  return db.prepare<[string, string], { resident_id: string }>('SELECT resident_id FROM residents WHERE resident_id = ? OR id_number = ? LIMIT 1').get(v, v.toUpperCase())?.resident_id ?? null;
}

export function residentChoices(db: Db): { residentId: string; name: string; idNumber: string }[] {
  return db.prepare<[], { residentId: string; name: string; idNumber: string }>('SELECT resident_id AS residentId, name, id_number AS idNumber FROM residents ORDER BY name LIMIT 500').all();
}

/** The registry's input from an HTML form (same shape as the JSON API). */
export function formToInput(f: Record<string, unknown>): Record<string, unknown> {
  const s = (k: string) => (typeof f[k] === 'string' ? (f[k] as string).trim() : '');
  const type = s('connType') || 'tcp';
  const connection = type === 'tcp' ? { type, host: s('host'), port: s('port') } : type === 'rtu' ? { type, path: s('path'), baudRate: s('baudRate') || '9600' } : { type: 'listener' };
  return {
    ...(s('name') ? { name: s('name') } : {}), ...(s('profileId') ? { profileId: s('profileId') } : {}), room: s('room'), connection,
    ...(s('sourceName') ? { sourceName: s('sourceName') } : {}), ...(s('aeTitle') ? { aeTitle: s('aeTitle') } : {}), ...(s('modality') ? { modality: s('modality') } : {}),
    ...(s('pollIntervalMs') ? { pollIntervalMs: s('pollIntervalMs') } : {}),
  };
}
