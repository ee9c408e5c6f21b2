/**
 * The one interface every device driver implements (modelled on EdgeX's ProtocolDriver:
 * lifecycle + read + validate; discovery lives apart in `DiscoverableDriver`).
 *
 * Readings flow out through `DriverContext.store`, supplied by the caller (the edge agent).
 * A driver treats a reading as delivered only when `store` resolved: push protocols
 * (HL7 ACK, ASTM frame ACK) acknowledge the device only after that.
 */
import type { Reading } from './readings.ts';

/** What the caller hands to `start`: where readings go and how to log. */
export interface DriverContext {
  /** Durably store a batch of readings; resolve only when they are safe (e.g. committed). */
  store(readings: Reading[]): Promise<void>;
  /** Optional structured log sink (pino-compatible shape). */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', msg: string, fields?: Record<string, unknown>) => void;
}

export type ConfigCheck<C> = { ok: true; config: C } | { ok: false; errors: string[] };

export interface ConnectionTest {
  ok: boolean;
  /** Human-readable outcome, suitable for the technician's UI. */
  detail: string;
  latencyMs?: number;
}

export type DriverState = 'stopped' | 'starting' | 'running' | 'degraded' | 'stopping';

/** Per-device health as shown in the device registry and exported as metrics. */
export interface DeviceHealth {
  deviceId: string;
  state: 'unknown' | 'up' | 'down';
  lastSeenAt?: string;
  lastError?: string;
  readings: number;
  errors: number;
  /** Last successful poll/round-trip latency (pull drivers) in ms. */
  lastLatencyMs?: number;
}

/** Counters every driver keeps; protocol drivers add their own keys. */
export type DriverCounters = Record<string, number>;

export interface DeviceDriver<C = unknown> {
  /** 'modbus' | 'hl7-mllp' | 'astm' | ... */
  readonly protocol: string;
  /** Validate a raw config object (from a file or the registry UI) without side effects. */
  validateConfig(raw: unknown): ConfigCheck<C>;
  /** Begin polling or listening; readings go to `ctx.store`. Idempotent per instance. */
  start(ctx: DriverContext): Promise<void>;
  /** Stop polling/listening and close every socket; resolves when all are closed. */
  stop(): Promise<void>;
  /**
   * One acquisition now. Pull drivers (Modbus) read the device; push drivers (HL7, ASTM)
   * return the readings of the last stored message. Does not call `store`.
   */
  read(): Promise<Reading[]>;
  /** Check the device/peer can be reached with the current config. */
  testConnection(): Promise<ConnectionTest>;
  state(): DriverState;
  /** One entry per device the driver serves. */
  health(): DeviceHealth[];
  counters(): DriverCounters;
  /** Listening drivers (HL7, ASTM over TCP): where devices should connect, once started. */
  listenAddress?(): { host: string; port: number } | undefined;
}

export interface DiscoveredDevice {
  address: string;
  detail: string;
}

/** Optional extra: drivers that can scan for devices (e.g. Modbus unit ids on a bus). */
export interface DiscoverableDriver<C = unknown> extends DeviceDriver<C> {
  discover(opts?: { timeoutMs?: number }): Promise<DiscoveredDevice[]>;
}

export function isDiscoverable<C>(d: DeviceDriver<C>): d is DiscoverableDriver<C> {
  return typeof (d as Partial<DiscoverableDriver<C>>).discover === 'function';
}

/** Helper for drivers: a mutable health record. */
export function newHealth(deviceId: string): DeviceHealth {
  return { deviceId, state: 'unknown', readings: 0, errors: 0 };
}
