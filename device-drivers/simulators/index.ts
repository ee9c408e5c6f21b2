/**
 * One simulator per profile, for `npm run demo` and tests:
 *   Modbus profiles -> a device (server) on a free port;
 *   HL7 / ASTM profiles -> a sender pushing to the given host:port (the edge's listener).
 *
 *   const sim = await startSimulator(profile, { host: '127.0.0.1', port: listenerPort });
 *   ...; await sim.stop();
 */
import type { DeviceProfile } from '../profiles/schema.ts';
import { startModbusSimulator } from './modbus-sim.ts';
import { startHl7Simulator } from './hl7-sender.ts';
import { startAstmSimulator } from './astm-sender.ts';
import type { ValueMix } from './values.ts';

export interface SimulatorOptions {
  host?: string;
  /** Modbus: port to serve on (0 = free); HL7/ASTM: port to send to (required) */
  port?: number;
  /** HL7/ASTM: time between messages */
  intervalMs?: number;
  /** Name the device announces (MSH-3 / H-5) */
  deviceName?: string;
  seed?: number;
  mix?: ValueMix;
  /** HL7: MSH-18, e.g. 'GB18030' */
  charset?: string;
}

export interface RunningSimulator {
  /** Modbus: the port the device listens on; HL7/ASTM: the port it sends to */
  port: number;
  stop(): Promise<void>;
}

export async function startSimulator(profile: DeviceProfile, o: SimulatorOptions = {}): Promise<RunningSimulator> {
  const host = o.host ?? '127.0.0.1';
  const common = { ...(o.seed !== undefined ? { seed: o.seed } : {}), ...(o.mix ? { mix: o.mix } : {}) };
  switch (profile.protocol) {
    case 'modbus':
      return startModbusSimulator({ profile, host, ...(o.port ? { port: o.port } : {}), ...common });
    case 'hl7':
      if (!o.port) throw new Error('HL7 simulator: give the port of the MLLP listener to send to');
      return startHl7Simulator({ profile, host, port: o.port, ...(o.intervalMs ? { intervalMs: o.intervalMs } : {}), ...(o.deviceName ? { deviceName: o.deviceName } : {}), ...(o.charset ? { charset: o.charset } : {}), ...common });
    case 'astm':
      if (!o.port) throw new Error('ASTM simulator: give the port of the ASTM listener to send to');
      return startAstmSimulator({ profile, host, port: o.port, ...(o.intervalMs ? { intervalMs: o.intervalMs } : {}), ...(o.deviceName ? { sender: o.deviceName } : {}), ...common });
  }
}
