/** `DeviceDriver` for ASTM analysers: listens on TCP, or reads a serial port, same code. */
import { z } from 'zod';
import type { SerialPort } from 'serialport';
import type { ConfigCheck, ConnectionTest, DeviceDriver, DeviceHealth, DriverContext, DriverCounters, DriverState } from '../driver.ts';
import { astmProfileSchema, type AstmProfile } from '../profiles/schema.ts';
import type { Reading } from '../readings.ts';
import { attachAstmReceiver, newLinkState, startAstmServer, type AstmLinkState, type AstmServer } from './server.ts';
import { closeSerialPort, openSerialPort } from './serial.ts';
import { canListen } from '../util.ts';

export const astmDriverConfigSchema = z.object({
  profile: astmProfileSchema,
  deviceId: z.string().max(64).optional(),
  transport: z.discriminatedUnion('type', [
    z.object({ type: z.literal('tcp'), host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(0) }),
    z.object({
      type: z.literal('serial'),
      path: z.string().min(1),
      baudRate: z.number().int().positive().default(9600),
      dataBits: z.union([z.literal(7), z.literal(8)]).default(8),
      parity: z.enum(['none', 'even', 'odd']).default('none'),
      stopBits: z.union([z.literal(1), z.literal(2)]).default(1),
    }),
  ]),
  encoding: z.string().optional(),
  receiveTimeoutMs: z.number().int().min(100).optional(),
});
export type AstmDriverConfig = z.infer<typeof astmDriverConfigSchema>;

export class AstmDriver implements DeviceDriver<AstmDriverConfig> {
  readonly protocol = 'astm';
  readonly config: AstmDriverConfig;
  private st: DriverState = 'stopped';
  private server: AstmServer | undefined;
  private serial: { port: SerialPort; detach: () => void; state: AstmLinkState } | undefined;

  constructor(raw: z.input<typeof astmDriverConfigSchema>) {
    const c = this.validateConfig(raw);
    if (!c.ok) throw new Error(`invalid ASTM driver config: ${c.errors.join('; ')}`);
    this.config = c.config;
  }

  validateConfig(raw: unknown): ConfigCheck<AstmDriverConfig> {
    const r = astmDriverConfigSchema.safeParse(raw);
    return r.success ? { ok: true, config: r.data } : { ok: false, errors: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`) };
  }

  get port(): number {
    return this.server?.port ?? 0;
  }

  private linkState(): AstmLinkState | undefined {
    return this.server?.state ?? this.serial?.state;
  }

  async start(ctx: DriverContext): Promise<void> {
    if (this.server || this.serial) return;
    this.st = 'starting';
    const c = this.config;
    const opts = {
      profile: c.profile as AstmProfile,
      store: (r: Reading[]) => ctx.store(r),
      ...(c.deviceId ? { deviceId: c.deviceId } : {}),
      ...(c.encoding ? { encoding: c.encoding } : {}),
      ...(c.receiveTimeoutMs ? { receiveTimeoutMs: c.receiveTimeoutMs } : {}),
      onEvent: (e: { type: string; link: string; detail?: string }) => ctx.log?.('warn', `astm ${e.type}`, { link: e.link, detail: e.detail }),
    };
    if (c.transport.type === 'tcp') {
      this.server = await startAstmServer({ ...opts, host: c.transport.host, port: c.transport.port });
    } else {
      const port = await openSerialPort(c.transport);
      const state = newLinkState();
      const { detach } = attachAstmReceiver(port, c.transport.path, opts, state);
      this.serial = { port, detach, state };
    }
    this.st = 'running';
  }

  async stop(): Promise<void> {
    this.st = 'stopping';
    await this.server?.close();
    this.server = undefined;
    if (this.serial) {
      this.serial.detach();
      await closeSerialPort(this.serial.port);
      this.serial = undefined;
    }
    this.st = 'stopped';
  }

  async read(): Promise<Reading[]> {
    return this.linkState()?.last ?? [];
  }

  async testConnection(): Promise<ConnectionTest> {
    const t = this.config.transport;
    if (t.type === 'serial' && !this.serial) {
      try {
        const p = await openSerialPort(t);
        await closeSerialPort(p);
        return { ok: true, detail: `serial port ${t.path} opens at ${t.baudRate} baud` };
      } catch (e) {
        return { ok: false, detail: `cannot open ${t.path}: ${(e as Error).message}` };
      }
    }
    if (!this.server && !this.serial && t.type === 'tcp') return canListen(t.host, t.port);
    if (!this.server && !this.serial) return { ok: false, detail: 'not started' };
    const s = this.linkState()!;
    return { ok: true, detail: `${t.type === 'tcp' ? `listening on ${this.server!.host}:${this.server!.port}` : `reading ${t.path}`}; ${s.counters.sessions} session(s), ${s.counters.messages} message(s)` };
  }

  listenAddress(): { host: string; port: number } | undefined {
    return this.server ? { host: this.server.host, port: this.server.port } : undefined;
  }

  state(): DriverState {
    return this.st;
  }
  health(): DeviceHealth[] {
    return [...(this.linkState()?.healths.values() ?? [])].map((h) => ({ ...h }));
  }
  counters(): DriverCounters {
    return { ...(this.linkState()?.counters ?? {}) };
  }
}
