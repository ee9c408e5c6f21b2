/** `DeviceDriver` for HL7 v2 monitors: an MLLP listener feeding `ctx.store`. */
import { z } from 'zod';
import type { ConfigCheck, ConnectionTest, DeviceDriver, DeviceHealth, DriverContext, DriverCounters, DriverState } from '../driver.ts';
import type { Hl7Profile } from '../profiles/schema.ts';
import { hl7ProfileSchema } from '../profiles/schema.ts';
import type { Reading } from '../readings.ts';
import { canListen } from '../util.ts';
import { singleProfileResolver, startMllpServer, type MllpServer, type MllpServerOptions } from './server.ts';

export const hl7DriverConfigSchema = z.object({
  host: z.string().default('127.0.0.1'),
  port: z.number().int().min(0).max(65535).default(0),
  profile: hl7ProfileSchema,
  /** Allowed device ids (`MSH-3@MSH-4`); empty = accept any sender */
  allowedDevices: z.array(z.string()).default([]),
  idleTimeoutMs: z.number().int().min(100).default(60_000),
  maxFrameBytes: z.number().int().min(1024).max(64 * 1024 * 1024).default(1024 * 1024),
  maxConnections: z.number().int().min(1).default(64),
  storeTimeoutMs: z.number().int().min(100).default(10_000),
});
export type Hl7DriverConfig = z.infer<typeof hl7DriverConfigSchema>;

export class Hl7Driver implements DeviceDriver<Hl7DriverConfig> {
  readonly protocol = 'hl7-mllp';
  private server: MllpServer | undefined;
  private st: DriverState = 'stopped';
  readonly config: Hl7DriverConfig;

  constructor(raw: z.input<typeof hl7DriverConfigSchema>, private readonly extra: Partial<Pick<MllpServerOptions, 'resolveDevice' | 'onEvent'>> = {}) {
    const c = this.validateConfig(raw);
    if (!c.ok) throw new Error(`invalid HL7 driver config: ${c.errors.join('; ')}`);
    this.config = c.config;
  }

  validateConfig(raw: unknown): ConfigCheck<Hl7DriverConfig> {
    const r = hl7DriverConfigSchema.safeParse(raw);
    return r.success ? { ok: true, config: r.data } : { ok: false, errors: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  }

  /** The listening port (after start). */
  get port(): number {
    return this.server?.port ?? 0;
  }

  async start(ctx: DriverContext): Promise<void> {
    if (this.server) return;
    this.st = 'starting';
    const c = this.config;
    const allowed = new Set(c.allowedDevices);
    this.server = await startMllpServer({
      host: c.host,
      port: c.port,
      idleTimeoutMs: c.idleTimeoutMs,
      maxFrameBytes: c.maxFrameBytes,
      maxConnections: c.maxConnections,
      storeTimeoutMs: c.storeTimeoutMs,
      resolveDevice: this.extra.resolveDevice ?? singleProfileResolver(c.profile as Hl7Profile, allowed.size ? (id) => allowed.has(id) : undefined),
      store: (readings) => ctx.store(readings),
      ...(this.extra.onEvent ? { onEvent: this.extra.onEvent } : {}),
    });
    this.st = 'running';
  }

  async stop(): Promise<void> {
    this.st = 'stopping';
    await this.server?.close();
    this.server = undefined;
    this.st = 'stopped';
  }

  async read(): Promise<Reading[]> {
    return this.server?.lastReadings() ?? [];
  }

  async testConnection(): Promise<ConnectionTest> {
    if (!this.server) return canListen(this.config.host, this.config.port);
    const h = this.server.health();
    const up = h.filter((x) => x.state === 'up');
    return { ok: true, detail: `listening on ${this.server.host}:${this.server.port}; ${up.length} device(s) have sent data` };
  }

  listenAddress(): { host: string; port: number } | undefined {
    return this.server ? { host: this.server.host, port: this.server.port } : undefined;
  }

  state(): DriverState {
    return this.st;
  }
  health(): DeviceHealth[] {
    return this.server?.health() ?? [];
  }
  counters(): DriverCounters {
    return { ...(this.server?.counters ?? {}) };
  }
}
