/**
 * `DeviceDriver` for one Modbus device (TCP or RTU): polls the profile's register map at
 * its interval, turns registers into typed readings, hands them to `ctx.store`, keeps
 * per-device health, and reconnects with exponential backoff.
 */
import { z } from 'zod';
import type { ConfigCheck, ConnectionTest, DeviceHealth, DiscoverableDriver, DiscoveredDevice, DriverContext, DriverCounters, DriverState } from '../driver.ts';
import { newHealth } from '../driver.ts';
import { isDeviceTimeout, isModbusException } from '../errors.ts';
import { modbusProfileSchema, type ModbusProfile } from '../profiles/schema.ts';
import { evaluate, roundTo, type ObservationReading, type Reading } from '../readings.ts';
import { decodeRaw, planReads, type ReadBlock } from './registers.ts';
import { ModbusRtuClient } from './rtu-client.ts';
import { ModbusTcpClient } from './tcp-client.ts';
import { newTransportCounters, type ModbusTransport, type TransportCounters } from './transport.ts';
import { withTimeout } from '../util.ts';

export const modbusDriverConfigSchema = z.object({
  deviceId: z.string().min(1).max(64),
  profile: modbusProfileSchema,
  transport: z.discriminatedUnion('type', [
    z.object({ type: z.literal('tcp'), host: z.string().min(1), port: z.number().int().min(1).max(65535).default(502) }),
    z.object({
      type: z.literal('rtu'),
      path: z.string().min(1),
      baudRate: z.number().int().positive().default(9600),
      parity: z.enum(['none', 'even', 'odd']).default('none'),
      dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
      stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
    }),
  ]),
  /** Overrides of the profile's defaults */
  unitId: z.number().int().min(0).max(247).optional(),
  pollIntervalMs: z.number().int().min(10).optional(),
  timeoutMs: z.number().int().min(20).optional(),
  /** Consecutive failed polls before the connection is dropped and re-opened */
  failuresBeforeReconnect: z.number().int().min(1).default(3),
  backoff: z.object({ initialMs: z.number().int().min(10).default(500), maxMs: z.number().int().min(10).default(30_000) }).default({ initialMs: 500, maxMs: 30_000 }),
  /** Batches kept for retry when `store` fails */
  maxPendingBatches: z.number().int().min(0).default(100),
  /** A store slower than this counts as failed (the batch is kept for retry) */
  storeTimeoutMs: z.number().int().min(10).default(10_000),
});
export type ModbusDriverConfig = z.infer<typeof modbusDriverConfigSchema>;

const LATENCY_RING = 2048;

export class ModbusDriver implements DiscoverableDriver<ModbusDriverConfig> {
  readonly protocol = 'modbus';
  readonly config: ModbusDriverConfig;
  readonly profile: ModbusProfile;
  private readonly blocks: ReadBlock[];
  private transport: ModbusTransport | undefined;
  private connecting: Promise<ModbusTransport> | undefined;
  private st: DriverState = 'stopped';
  private timer: NodeJS.Timeout | undefined;
  private ctx: DriverContext | undefined;
  private failures = 0;
  private everConnected = false;
  private backoffMs: number;
  private nextConnectAt = 0;
  private pendingBatches: Reading[][] = [];
  private last: Reading[] = [];
  private latencies: number[] = [];
  private loop: Promise<void> | undefined;
  private readonly h: DeviceHealth;
  readonly tc: TransportCounters = newTransportCounters();
  private readonly c = { polls: 0, pollErrors: 0, /** connections re-opened after a failure */ reconnects: 0, connectFailures: 0, readings: 0, implausible: 0, critical: 0, storeErrors: 0, droppedBatches: 0 };

  constructor(raw: z.input<typeof modbusDriverConfigSchema>) {
    const r = this.validateConfig(raw);
    if (!r.ok) throw new Error(`invalid Modbus driver config: ${r.errors.join('; ')}`);
    this.config = r.config;
    this.profile = r.config.profile as ModbusProfile;
    this.blocks = planReads(this.profile);
    this.backoffMs = this.config.backoff.initialMs;
    this.h = newHealth(this.config.deviceId);
  }

  validateConfig(raw: unknown): ConfigCheck<ModbusDriverConfig> {
    const r = modbusDriverConfigSchema.safeParse(raw);
    return r.success ? { ok: true, config: r.data } : { ok: false, errors: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  }

  get unitId(): number { return this.config.unitId ?? this.profile.modbus.unitId; }
  get intervalMs(): number { return this.config.pollIntervalMs ?? this.profile.pollIntervalMs; }
  get timeoutMs(): number { return this.config.timeoutMs ?? this.profile.modbus.timeoutMs; }

  private open(): Promise<ModbusTransport> {
    const t = this.config.transport;
    return t.type === 'tcp' ? ModbusTcpClient.connect(t.host, t.port, Math.max(this.timeoutMs, 1000), this.tc) : ModbusRtuClient.connect(t, this.tc);
  }

  private async ensureTransport(): Promise<ModbusTransport> {
    if (this.transport?.open) return this.transport;
    this.connecting ??= this.open().finally(() => { this.connecting = undefined; });
    this.transport = await this.connecting;
    if (this.everConnected) this.c.reconnects++;
    this.everConnected = true;
    return this.transport;
  }

  private async dropTransport(): Promise<void> {
    const t = this.transport;
    this.transport = undefined;
    await t?.close();
  }

  /** Read every block once and turn it into readings. Partial results survive a failing block. */
  private async acquire(t: ModbusTransport): Promise<{ readings: ObservationReading[]; errors: Error[] }> {
    const at = new Date().toISOString();
    const readings: ObservationReading[] = [];
    const errors: Error[] = [];
    for (const b of this.blocks) {
      let words: number[];
      try {
        words = await t.read(this.unitId, b.fc, b.address, b.quantity, this.timeoutMs);
      } catch (e) {
        errors.push(e as Error);
        if (!t.open || isDeviceTimeout(e)) break; // the rest would time out too
        continue;
      }
      for (const { q, offset } of b.items) {
        const raw = decodeRaw(q, words, offset, this.profile.modbus.wordOrder);
        const value = roundTo(raw * q.scale + q.offset, q.decimals);
        const ev = evaluate(q, value);
        readings.push({
          type: 'observation', deviceId: this.config.deviceId, profileId: this.profile.id, quantity: q.key, at,
          implausible: ev.implausible, critical: ev.critical, sourceId: `${this.config.deviceId}:${q.key}:${at}`,
          code: q.code, display: q.display, value: Number.isFinite(value) ? value : 0, unit: q.unit,
          ...(ev.interpretation ? { interpretation: ev.interpretation } : {}),
        });
      }
    }
    return { readings, errors };
  }

  /** One acquisition now (used by the poll loop, the registry's "read now" and tests). */
  async read(): Promise<Reading[]> {
    const t0 = performance.now();
    const t = this.transport?.open ? this.transport : await this.ensureTransport();
    const { readings, errors } = await this.acquire(t);
    if (errors.length && readings.length === 0) throw errors[0]!;
    this.recordLatency(performance.now() - t0);
    return readings;
  }

  private recordLatency(ms: number): void {
    this.h.lastLatencyMs = Math.round(ms * 100) / 100;
    if (this.latencies.length >= LATENCY_RING) this.latencies.shift();
    this.latencies.push(ms);
  }

  /** Recent poll latencies in ms (bounded ring), for percentiles. */
  recentLatencies(): number[] {
    return [...this.latencies];
  }

  async start(ctx: DriverContext): Promise<void> {
    if (this.st === 'running' || this.st === 'degraded') return;
    this.ctx = ctx;
    this.st = 'running';
    this.schedule(0);
  }

  private schedule(delay: number): void {
    if (this.st === 'stopping' || this.st === 'stopped') return;
    this.timer = setTimeout(() => {
      // a bug in decoding must not become an unhandled rejection that kills the edge
      this.loop = this.tick().catch((e: unknown) => {
        this.markError(e instanceof Error ? e : new Error(String(e)));
        this.schedule(this.intervalMs);
      });
    }, delay);
  }

  private async tick(): Promise<void> {
    const started = Date.now();
    if (started < this.nextConnectAt) { this.schedule(this.nextConnectAt - started); return; }
    this.c.polls++;
    let t: ModbusTransport;
    try {
      t = await this.ensureTransport();
    } catch (e) {
      this.c.connectFailures++;
      this.markError(e as Error);
      this.nextConnectAt = Date.now() + this.backoffMs;
      this.backoffMs = Math.min(this.backoffMs * 2, this.config.backoff.maxMs);
      this.schedule(Math.max(this.nextConnectAt - Date.now(), this.intervalMs - (Date.now() - started)));
      return;
    }
    const t0 = performance.now();
    const { readings, errors } = await this.acquire(t);
    if (readings.length) {
      this.recordLatency(performance.now() - t0);
      this.backoffMs = this.config.backoff.initialMs;
      this.h.state = 'up';
      this.h.lastSeenAt = new Date().toISOString();
      this.h.readings += readings.length;
      this.c.readings += readings.length;
      for (const r of readings) { if (r.implausible) this.c.implausible++; if (r.critical) this.c.critical++; }
      this.last = readings;
      await this.deliver(readings);
    }
    if (errors.length) {
      this.markError(errors[0]!);
      if (readings.length === 0) this.failures++;
      if (!t.open || this.failures >= this.config.failuresBeforeReconnect) {
        this.failures = 0;
        await this.dropTransport();
        this.nextConnectAt = Date.now() + this.backoffMs;
        this.backoffMs = Math.min(this.backoffMs * 2, this.config.backoff.maxMs);
      }
    } else {
      this.failures = 0;
      if (this.st === 'degraded') this.st = 'running';
    }
    this.schedule(Math.max(0, this.intervalMs - (Date.now() - started)));
  }

  private markError(e: Error): void {
    this.c.pollErrors++;
    this.h.errors++;
    this.h.lastError = e.message;
    // an exception response means the device is there but refused: still "up"
    if (!isModbusException(e)) this.h.state = 'down';
    if (this.st === 'running') this.st = 'degraded';
    this.ctx?.log?.('warn', 'modbus poll failed', { deviceId: this.config.deviceId, error: e.message });
  }

  private async deliver(readings: Reading[]): Promise<void> {
    if (!this.ctx) return;
    this.pendingBatches.push(readings);
    while (this.pendingBatches.length) {
      try {
        await withTimeout(this.ctx.store(this.pendingBatches[0]!), this.config.storeTimeoutMs, 'store');
        this.pendingBatches.shift();
      } catch (e) {
        this.c.storeErrors++;
        this.ctx.log?.('error', 'store failed; readings kept for retry', { deviceId: this.config.deviceId, error: (e as Error).message });
        while (this.pendingBatches.length > this.config.maxPendingBatches) { this.pendingBatches.shift(); this.c.droppedBatches++; }
        return;
      }
    }
  }

  async stop(): Promise<void> {
    this.st = 'stopping';
    clearTimeout(this.timer);
    await this.loop;
    clearTimeout(this.timer);
    await this.dropTransport();
    this.st = 'stopped';
  }

  async testConnection(): Promise<ConnectionTest> {
    const t0 = performance.now();
    let t: ModbusTransport | undefined;
    const temporary = !this.transport?.open;
    try {
      t = temporary ? await this.open() : this.transport!;
      const { readings, errors } = await this.acquire(t);
      const latencyMs = Math.round(performance.now() - t0);
      if (errors.length) return { ok: readings.length > 0, detail: `${readings.length} value(s) read; ${errors.map((e) => e.message).join('; ')}`, latencyMs };
      return { ok: true, detail: `${readings.length} value(s) read from unit ${this.unitId}: ${readings.map((r) => `${r.quantity}=${(r as ObservationReading).value}`).join(', ')}`, latencyMs };
    } catch (e) {
      return { ok: false, detail: (e as Error).message };
    } finally {
      if (temporary) await t?.close();
    }
  }

  /** Scan unit ids (RTU bus or TCP gateway) for devices answering the profile's first read. */
  async discover(opts: { timeoutMs?: number; units?: number[] } = {}): Promise<DiscoveredDevice[]> {
    const units = opts.units ?? Array.from({ length: 16 }, (_, i) => i + 1);
    const b = this.blocks[0]!;
    const t = await this.open();
    const found: DiscoveredDevice[] = [];
    try {
      for (const u of units) {
        try {
          await t.read(u, b.fc, b.address, b.quantity, opts.timeoutMs ?? 200);
          found.push({ address: `unit ${u}`, detail: `answers function ${b.fc} at ${b.address}` });
        } catch (e) {
          if (isModbusException(e)) found.push({ address: `unit ${u}`, detail: `present, but ${(e as Error).message}` });
          if (!t.open) break;
        }
      }
    } finally {
      await t.close();
    }
    return found;
  }

  state(): DriverState { return this.st; }
  health(): DeviceHealth[] { return [{ ...this.h }]; }
  counters(): DriverCounters { return { ...this.c, ...this.tc, pendingBatches: this.pendingBatches.length }; }
  /** The last successful poll's readings (no device access). */
  lastReadings(): Reading[] { return this.last; }
}
