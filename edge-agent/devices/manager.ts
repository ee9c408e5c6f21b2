/**
 * Runs the drivers for the registry: one Modbus poller per enabled Modbus device, one HL7
 * MLLP listener and one ASTM listener for every device that connects to us (ports from
 * config, 0 = off), and an ASTM receiver per serial analyser. Readings go to `Ingest`,
 * whose promise (durable commit) is what the drivers wait for before acknowledging.
 */
import {
  AstmDriver, Hl7Driver, createDriver, type AstmProfile, type Connection, type DeviceDriver, type DeviceHealth, type Hl7Profile, type Reading,
} from '../../device-drivers/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { DevicesConfig } from './config.ts';
import { hl7SenderName } from './hl7-sender.ts';
import type { Ingest } from './ingest.ts';
import type { ProfileCatalog } from './profiles.ts';
import type { Device, DeviceRegistry } from './registry.ts';

export type LiveState = 'online' | 'offline' | 'error' | 'disabled';

export class UnknownDeviceError extends Error {
  override name = 'UnknownDeviceError';
}

export class DeviceManager {
  private pollers = new Map<string, DeviceDriver>();
  private hl7: Hl7Driver | undefined;
  private astm: AstmDriver | undefined;
  readonly counters = { unknownSender: 0, startFailures: 0 };

  constructor(private readonly cfg: DevicesConfig, private readonly registry: DeviceRegistry, private readonly profiles: ProfileCatalog, private readonly ingest: Ingest, private readonly log: Logger) {}

  /** Every driver now running, for metrics (`registerDeviceMetrics`). */
  drivers(): { id: string; driver: DeviceDriver }[] {
    return [...[...this.pollers].map(([id, driver]) => ({ id, driver })), ...(this.hl7 ? [{ id: 'hl7-listener', driver: this.hl7 as DeviceDriver }] : []), ...(this.astm ? [{ id: 'astm-listener', driver: this.astm as DeviceDriver }] : [])];
  }

  listeners(): { hl7?: { host: string; port: number }; astm?: { host: string; port: number } } {
    const h = this.hl7?.listenAddress?.();
    const a = this.astm?.listenAddress();
    return { ...(h ? { hl7: h } : {}), ...(a ? { astm: a } : {}) };
  }

  async start(): Promise<void> {
    if (this.cfg.hl7Port > 0) {
      const profile = this.profiles.list().find((p): p is Hl7Profile => p.protocol === 'hl7');
      if (profile) {
        this.hl7 = new Hl7Driver({ profile, host: this.cfg.listenHost, port: this.cfg.hl7Port }, {
          resolveDevice: (msg, remote) => {
            const s = hl7SenderName(msg);
            const d = this.registry.bySourceName(s.full) ?? this.registry.bySourceName(s.app);
            const p = d?.enabled ? this.profiles.get(d.profileId) : undefined;
            if (!d || !p || p.protocol !== 'hl7') {
              this.counters.unknownSender++;
              this.registry.noteUnknownSender(s.full || '(empty MSH-3)', 'hl7', remote);
              return null;
            }
            return { deviceId: d.id, profile: p };
          },
        });
        await this.hl7.start({ store: (r) => this.storeFor(r) });
        this.log.info({ port: this.hl7.port }, 'HL7 MLLP listener started');
      }
    }
    if (this.cfg.astmPort > 0) {
      this.astm = new AstmDriver({ profile: this.mergedAstmProfile(), transport: { type: 'tcp', host: this.cfg.listenHost, port: this.cfg.astmPort } });
      await this.astm.start({ store: (r) => this.storeFor(r, 'astm'), log: (level, msg, f) => this.log[level]({ ...f }, msg) });
      this.log.info({ port: this.astm.port }, 'ASTM listener started');
    }
    for (const d of this.registry.list()) await this.sync(d.id);
  }

  /** One listener serves every analyser: decode with the test ids of every ASTM profile. */
  private mergedAstmProfile(): AstmProfile {
    const astm = this.profiles.list().filter((p): p is AstmProfile => p.protocol === 'astm');
    const seen = new Set<string>();
    const quantities = astm.flatMap((p) => p.quantities).filter((q) => { const k = q.astm!.testId.toUpperCase(); if (seen.has(k) || seen.has(`key:${q.key}`)) return false; seen.add(k); seen.add(`key:${q.key}`); return true; });
    return { ...astm[0]!, id: 'astm-listener', name: 'ASTM listener', quantities };
  }

  /** Listener readings: find the registered device by the name it sent. */
  private async storeFor(readings: Reading[], protocol?: 'astm'): Promise<void> {
    const first = readings[0];
    if (!first) return;
    const d = protocol === 'astm' ? this.registry.bySourceName(first.deviceId) : this.registry.get(first.deviceId);
    if (!d || !d.enabled) {
      this.counters.unknownSender++;
      this.registry.noteUnknownSender(first.deviceId, protocol ?? 'hl7', '');
      throw new UnknownDeviceError(`device ${first.deviceId} is not registered (or disabled) at this clinic`);
    }
    await this.ingest.storeBatch(d, readings.map((r) => ({ ...r, deviceId: d.id })));
  }

  /** Bring one device's driver in line with the registry (after create/update/enable/delete). */
  async sync(id: string): Promise<void> {
    const old = this.pollers.get(id);
    if (old) {
      this.pollers.delete(id);
      await old.stop().catch((e: Error) => this.log.warn({ device: id, err: e.message }, 'driver stop failed'));
    }
    const d = this.registry.get(id);
    if (!d || !d.enabled) return;
    const driver = this.buildPoller(d);
    if (!driver) return;
    try {
      await driver.start({ store: async (r) => { await this.ingest.storeBatch(this.registry.get(id) ?? d, r.map((x) => ({ ...x, deviceId: id }))); }, log: (level, msg, f) => this.log[level]({ device: id, ...f }, msg) });
      this.pollers.set(id, driver);
    } catch (e) {
      this.counters.startFailures++;
      this.registry.recordError(id, `start failed: ${(e as Error).message}`);
      this.log.warn({ device: id, err: (e as Error).message }, 'device driver did not start');
    }
  }

  /** Modbus devices and serial analysers get their own driver; listener devices share the listeners. */
  private buildPoller(d: Device, forTest = false): DeviceDriver | null {
    const p = this.profiles.get(d.profileId);
    if (!p) return null;
    const c = d.connection;
    if (c.type === 'listener') return null;
    const connection: Connection = c.type === 'tcp' ? c : { ...c, type: p.protocol === 'astm' ? 'serial' : 'rtu' };
    if (p.protocol === 'hl7') return null;
    try {
      return createDriver({ deviceId: d.id, profile: p, connection, options: { ...(d.pollIntervalMs ? { pollIntervalMs: d.pollIntervalMs } : {}), ...(forTest ? {} : {}) } });
    } catch (e) {
      this.registry.recordError(d.id, (e as Error).message);
      return null;
    }
  }

  /** C-ECHO for DICOM devices, set by the imaging module (it owns our AE title). */
  dicomTest?: (d: Device) => Promise<{ ok: boolean; detail: string; latencyMs?: number }>;

  /** The technician's "测试连接": the driver's own testConnection (DICOM: C-ECHO). */
  async testConnection(d: Device): Promise<{ ok: boolean; detail: string; latencyMs?: number }> {
    if (d.protocol === 'dicom') return this.dicomTest ? this.dicomTest(d) : { ok: false, detail: 'DICOM SCP not running: no C-ECHO (imaging module)' };
    const p = this.profiles.get(d.profileId);
    if (!p) return { ok: false, detail: `unknown profile ${d.profileId}` };
    if (d.connection.type === 'listener') {
      const l = p.protocol === 'hl7' ? this.hl7 : this.astm;
      if (!l) return { ok: false, detail: `${p.protocol.toUpperCase()} listener is disabled (set EDGE_DEVICES_${p.protocol === 'hl7' ? 'HL7' : 'ASTM'}_PORT)` };
      const t = await l.testConnection();
      const h = this.health(d);
      return { ...t, detail: `${t.detail}; ${h?.lastSeenAt ? `this device last sent data at ${h.lastSeenAt}` : 'this device has not sent data yet'}` };
    }
    const running = this.pollers.get(d.id);
    if (running) return running.testConnection();
    const tmp = this.buildPoller(d, true);
    if (!tmp) return { ok: false, detail: 'no driver for this device' };
    return tmp.testConnection();
  }

  health(d: Device): DeviceHealth | undefined {
    if (d.connection.type === 'listener') {
      const l = d.protocol === 'hl7' ? this.hl7 : this.astm;
      const key = d.protocol === 'astm' ? d.sourceName : d.id;
      return l?.health().find((h) => h.deviceId === key);
    }
    return this.pollers.get(d.id)?.health()[0];
  }

  liveState(d: Device): LiveState {
    if (!d.enabled) return 'disabled';
    const h = this.health(d);
    if (!h) return 'offline';
    if (h.state === 'up') return 'online';
    if (h.state === 'down') return h.lastError ? 'error' : 'offline';
    return 'offline';
  }

  async stop(): Promise<void> {
    const all = [...this.pollers.values(), ...(this.hl7 ? [this.hl7] : []), ...(this.astm ? [this.astm] : [])];
    this.pollers.clear();
    await Promise.all(all.map((d) => d.stop().catch(() => undefined)));
  }
}
