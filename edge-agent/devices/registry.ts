/**
 * The device registry (repository): devices, their status, the station's current patient.
 * Every change goes through here and is audited here, so no route can forget it.
 */
import { randomUUID } from 'node:crypto';
// zod-openapi's z: the API documents these schemas, whatever module loads first.
import { z } from '@hono/zod-openapi';
import type { Db } from '../../contracts/runtime/index.ts';
import type { Accounts } from '../web/accounts.ts';
import type { ProfileCatalog } from './profiles.ts';

export const tcpConnection = z.object({ type: z.literal('tcp'), host: z.string().min(1).max(255), port: z.coerce.number().int().min(1).max(65535) });
export const serialConnection = z.object({
  type: z.literal('rtu'),
  path: z.string().min(1).max(255),
  baudRate: z.coerce.number().int().positive().default(9600),
  parity: z.enum(['none', 'even', 'odd']).default('none'),
  dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
  stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
});
/** Listener devices (HL7/ASTM over TCP) connect to us; they have no address of their own. */
export const listenerConnection = z.object({ type: z.literal('listener') });
export const connectionSchema = z.discriminatedUnion('type', [tcpConnection, serialConnection, listenerConnection]);
export type DeviceConnection = z.infer<typeof connectionSchema>;

export const deviceInputSchema = z.object({
  name: z.string().trim().min(1).max(100),
  profileId: z.string().min(1).max(64),
  room: z.string().max(100).default(''),
  connection: connectionSchema,
  /** HL7 MSH-3[@MSH-4] / ASTM H-5 sender name */
  sourceName: z.string().trim().min(1).max(64).optional(),
  /** DICOM devices ([imaging]) */
  aeTitle: z.string().regex(/^[ -~]{1,16}$/).optional(),
  modality: z.enum(['US', 'DX', 'CR', 'OT']).optional(),
  pollIntervalMs: z.coerce.number().int().min(100).max(3_600_000).optional(),
  enabled: z.boolean().default(true),
});
export type DeviceInput = z.infer<typeof deviceInputSchema>;

export interface Device {
  id: string;
  name: string;
  profileId: string;
  kind: string;
  protocol: string;
  room: string;
  connection: DeviceConnection;
  sourceName: string | null;
  aeTitle: string | null;
  modality: string | null;
  pollIntervalMs: number | null;
  enabled: boolean;
  createdAt: string;
  updatedAt: string;
}

export interface DeviceStatus {
  readings: number;
  errors: number;
  implausible: number;
  critical: number;
  lastReadingAt: string | null;
  lastReading: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  lastTest: string | null;
}

/** Pseudo profile id of imaging modalities registered here for [imaging]. */
export const DICOM_PROFILE_ID = 'dicom-modality';

export class RegistryError extends Error {
  override name = 'RegistryError';
  constructor(readonly field: string, message: string, readonly status: 400 | 404 | 409 = 400) {
    super(message);
  }
}

interface Row {
  id: string; name: string; profile_id: string; kind: string; protocol: string; room: string; connection: string;
  source_name: string | null; ae_title: string | null; modality: string | null; options: string; enabled: number; created_at: string; updated_at: string;
}

function fromRow(r: Row): Device {
  const opts = JSON.parse(r.options) as { pollIntervalMs?: number };
  return {
    id: r.id, name: r.name, profileId: r.profile_id, kind: r.kind, protocol: r.protocol, room: r.room,
    connection: JSON.parse(r.connection) as DeviceConnection, sourceName: r.source_name, aeTitle: r.ae_title, modality: r.modality,
    pollIntervalMs: opts.pollIntervalMs ?? null, enabled: r.enabled === 1, createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

export interface Actor { username: string; ip: string }

export class DeviceRegistry {
  /** Called after every change so the manager can (re)start drivers. */
  onChange: (id: string) => void = () => undefined;

  constructor(private readonly db: Db, private readonly accounts: Accounts, private readonly profiles: ProfileCatalog) {}

  list(): Device[] {
    return this.db.prepare<[], Row>('SELECT * FROM devices ORDER BY room, name').all().map(fromRow);
  }

  get(id: string): Device | undefined {
    const r = this.db.prepare<[string], Row>('SELECT * FROM devices WHERE id = ?').get(id);
    return r ? fromRow(r) : undefined;
  }

  bySourceName(name: string): Device | undefined {
    const r = this.db.prepare<[string], Row>('SELECT * FROM devices WHERE source_name = ?').get(name);
    return r ? fromRow(r) : undefined;
  }

  status(id: string): DeviceStatus {
    const r = this.db.prepare<[string], Record<string, string | number | null>>('SELECT * FROM device_status WHERE device_id = ?').get(id);
    return {
      readings: Number(r?.readings ?? 0), errors: Number(r?.errors ?? 0), implausible: Number(r?.implausible ?? 0), critical: Number(r?.critical ?? 0),
      lastReadingAt: (r?.last_reading_at as string | null) ?? null, lastReading: (r?.last_reading as string | null) ?? null,
      lastError: (r?.last_error as string | null) ?? null, lastErrorAt: (r?.last_error_at as string | null) ?? null, lastTest: (r?.last_test as string | null) ?? null,
    };
  }

  private check(input: DeviceInput): { kind: string; protocol: string } {
    if (input.profileId === DICOM_PROFILE_ID) {
      // Imaging modalities ([imaging]) have no device-drivers profile: AE title, host/port and modality are the registration.
      if (!input.aeTitle || !input.modality) throw new RegistryError('aeTitle', 'DICOM 设备需要 AE Title 和检查类型 / a DICOM device needs an AE title and a modality');
      if (input.connection.type !== 'tcp') throw new RegistryError('connection', 'DICOM 设备需要地址和端口 / a DICOM device needs host and port');
      return { kind: 'imaging', protocol: 'dicom' };
    }
    const p = this.profiles.get(input.profileId);
    if (!p) throw new RegistryError('profileId', `未知的设备模板 / unknown profile ${input.profileId}`);
    const c = input.connection.type;
    if (p.protocol === 'modbus' && c === 'listener') throw new RegistryError('connection', 'Modbus 设备需要地址和端口或串口 / a Modbus device needs host+port or a serial port');
    if (p.protocol !== 'modbus' && c !== 'listener' && !(p.protocol === 'astm' && c === 'rtu')) throw new RegistryError('connection', 'HL7/ASTM 设备连接本机监听端口 / HL7 and ASTM devices connect to the edge listener');
    if (p.protocol !== 'modbus' && !input.sourceName) throw new RegistryError('sourceName', '请填写设备发送的名称（HL7 MSH-3 / ASTM H-5）/ the name the device sends is required');
    return { kind: p.kind, protocol: p.protocol };
  }

  private unique<T>(fn: () => T): T {
    try {
      return fn();
    } catch (e) {
      const m = (e as Error).message;
      if (/UNIQUE.*source_name/.test(m)) throw new RegistryError('sourceName', '发送名称已被其他设备使用 / source name already registered', 409);
      if (/UNIQUE.*ae_title/.test(m)) throw new RegistryError('aeTitle', 'AE Title 已被其他设备使用 / AE title already registered', 409);
      throw e;
    }
  }

  create(raw: unknown, by: Actor): Device {
    const input = parse(raw);
    let kp: { kind: string; protocol: string };
    try {
      kp = this.check(input);
    } catch (e) {
      this.accounts.audit(by.username, 'device.create', input.name, by.ip, `refused: ${(e as Error).message}`);
      throw e;
    }
    const id = `dev-${randomUUID().slice(0, 8)}`;
    const now = new Date().toISOString();
    this.unique(() => this.db.transaction(() => {
      this.db.prepare(`INSERT INTO devices (id, name, profile_id, kind, protocol, room, connection, source_name, ae_title, modality, options, enabled, created_at, updated_at)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(id, input.name, input.profileId, kp.kind, kp.protocol, input.room, JSON.stringify(input.connection),
        input.sourceName ?? null, input.aeTitle ?? null, input.modality ?? null, JSON.stringify(input.pollIntervalMs ? { pollIntervalMs: input.pollIntervalMs } : {}), input.enabled ? 1 : 0, now, now);
      this.db.prepare('INSERT INTO device_status (device_id) VALUES (?)').run(id);
      this.accounts.audit(by.username, 'device.create', `${id} ${input.name} (${input.profileId}) ${JSON.stringify(input.connection)}`, by.ip, 'ok');
    })());
    this.onChange(id);
    return this.get(id)!;
  }

  update(id: string, raw: unknown, by: Actor): Device {
    const cur = this.get(id);
    if (!cur) throw new RegistryError('id', `设备不存在 / no device ${id}`, 404);
    const merged = { name: cur.name, profileId: cur.profileId, room: cur.room, connection: cur.connection, enabled: cur.enabled,
      ...(cur.sourceName ? { sourceName: cur.sourceName } : {}), ...(cur.aeTitle ? { aeTitle: cur.aeTitle } : {}), ...(cur.modality ? { modality: cur.modality } : {}),
      ...(cur.pollIntervalMs ? { pollIntervalMs: cur.pollIntervalMs } : {}), ...(raw as Record<string, unknown>) };
    const input = parse(merged);
    const kp = this.check(input);
    this.unique(() => this.db.transaction(() => {
      this.db.prepare(`UPDATE devices SET name = ?, profile_id = ?, kind = ?, protocol = ?, room = ?, connection = ?, source_name = ?, ae_title = ?, modality = ?, options = ?, enabled = ?, updated_at = ? WHERE id = ?`)
        .run(input.name, input.profileId, kp.kind, kp.protocol, input.room, JSON.stringify(input.connection), input.sourceName ?? null, input.aeTitle ?? null, input.modality ?? null,
          JSON.stringify(input.pollIntervalMs ? { pollIntervalMs: input.pollIntervalMs } : {}), input.enabled ? 1 : 0, new Date().toISOString(), id);
      const changed = Object.keys(raw as object).join(',');
      this.accounts.audit(by.username, 'device.update', `${id} ${changed}: ${JSON.stringify(raw)}`.slice(0, 500), by.ip, 'ok');
    })());
    this.onChange(id);
    return this.get(id)!;
  }

  setEnabled(id: string, enabled: boolean, by: Actor): Device {
    const d = this.update(id, { enabled }, by);
    this.accounts.audit(by.username, enabled ? 'device.enable' : 'device.disable', id, by.ip, 'ok');
    return d;
  }

  remove(id: string, by: Actor): void {
    if (!this.get(id)) throw new RegistryError('id', `设备不存在 / no device ${id}`, 404);
    this.db.prepare('DELETE FROM devices WHERE id = ?').run(id);
    this.accounts.audit(by.username, 'device.delete', id, by.ip, 'ok');
    this.onChange(id);
  }

  recordTest(id: string, result: { ok: boolean; detail: string; latencyMs?: number }, by: Actor): void {
    const text = `${new Date().toISOString()} ${result.ok ? 'OK' : 'FAIL'} ${result.detail}`.slice(0, 500);
    this.db.prepare('UPDATE device_status SET last_test = ? WHERE device_id = ?').run(text, id);
    this.accounts.audit(by.username, 'device.test', id, by.ip, result.ok ? 'ok' : `failed: ${result.detail}`.slice(0, 300));
  }

  recordError(id: string, message: string): void {
    this.db.prepare('UPDATE device_status SET errors = errors + 1, last_error = ?, last_error_at = ? WHERE device_id = ?').run(message.slice(0, 300), new Date().toISOString(), id);
  }

  /** The patient now at this device/station (nurse's choice); null clears it. */
  setStationPatient(id: string, residentId: string | null, by: Actor): void {
    if (!this.get(id)) throw new RegistryError('id', `设备不存在 / no device ${id}`, 404);
    if (residentId === null) this.db.prepare('DELETE FROM device_station_patient WHERE device_id = ?').run(id);
    else {
      const ok = this.db.prepare<[string], { n: number }>('SELECT count(*) AS n FROM residents WHERE resident_id = ?').get(residentId)!.n > 0;
      if (!ok) throw new RegistryError('residentId', `居民不存在 / no resident ${residentId}`, 404);
      this.db.prepare(`INSERT INTO device_station_patient (device_id, resident_id, set_by, set_at) VALUES (?, ?, ?, ?)
        ON CONFLICT (device_id) DO UPDATE SET resident_id = excluded.resident_id, set_by = excluded.set_by, set_at = excluded.set_at`).run(id, residentId, by.username, new Date().toISOString());
    }
    this.accounts.audit(by.username, 'device.current_patient', `${id} -> ${residentId ?? '(none)'}`, by.ip, 'ok');
  }

  stationPatient(id: string): { residentId: string; name: string; setBy: string; setAt: string } | null {
    return this.db.prepare<[string], { residentId: string; name: string; setBy: string; setAt: string }>(
      `SELECT s.resident_id AS residentId, r.name AS name, s.set_by AS setBy, s.set_at AS setAt FROM device_station_patient s JOIN residents r ON r.resident_id = s.resident_id WHERE s.device_id = ?`).get(id) ?? null;
  }

  noteUnknownSender(name: string, protocol: string, remote: string): void {
    this.db.prepare(`INSERT INTO device_unknown_senders (name, protocol, remote, count, last_at) VALUES (?, ?, ?, 1, ?)
      ON CONFLICT (name) DO UPDATE SET count = count + 1, remote = excluded.remote, last_at = excluded.last_at`).run(name.slice(0, 100), protocol, remote, new Date().toISOString());
  }

  unknownSenders(): { name: string; protocol: string; remote: string; count: number; lastAt: string }[] {
    return this.db.prepare<[], { name: string; protocol: string; remote: string; count: number; lastAt: string }>('SELECT name, protocol, remote, count, last_at AS lastAt FROM device_unknown_senders ORDER BY last_at DESC LIMIT 50').all();
  }
}

function parse(raw: unknown): DeviceInput {
  const r = deviceInputSchema.safeParse(raw);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new RegistryError(i.path.join('.') || '(body)', `${i.path.join('.')}: ${i.message}`);
  }
  return r.data;
}
