/**
 * One entry point for the edge's device registry: build the right driver for a profile.
 *
 *   const d = createDriver({ deviceId: 'bp-3', profile, connection: { type: 'tcp', host, port: 502 } });
 *   const check = d.validateConfig(...); await d.start({ store });
 */
import type { DeviceDriver } from './driver.ts';
import type { DeviceProfile } from './profiles/schema.ts';
import { ModbusDriver } from './modbus/driver.ts';
import { Hl7Driver } from './hl7/driver.ts';
import { AstmDriver } from './astm/driver.ts';

export type Connection =
  | { type: 'tcp'; host: string; port: number }
  | { type: 'rtu' | 'serial'; path: string; baudRate?: number; parity?: 'none' | 'even' | 'odd'; dataBits?: 7 | 8; stopBits?: 1 | 2 };

export interface DeviceSpec {
  deviceId: string;
  profile: DeviceProfile;
  /** Modbus: the device's address; HL7/ASTM over TCP: where we listen; ASTM serial: the port */
  connection: Connection;
  /** Driver-specific overrides (pollIntervalMs, timeoutMs, allowedDevices, ...) */
  options?: Record<string, unknown>;
}

/** Build (not start) the driver for a device. Throws with field names on a bad spec. */
export function createDriver(s: DeviceSpec): DeviceDriver {
  const c = s.connection;
  switch (s.profile.protocol) {
    case 'modbus':
      return new ModbusDriver({ deviceId: s.deviceId, profile: s.profile, transport: c.type === 'tcp' ? c : { ...c, type: 'rtu' }, ...s.options });
    case 'hl7':
      if (c.type !== 'tcp') throw new Error(`HL7 device ${s.deviceId}: MLLP needs a tcp connection`);
      return new Hl7Driver({ profile: s.profile, host: c.host, port: c.port, ...s.options });
    case 'astm':
      return new AstmDriver({ profile: s.profile, deviceId: s.deviceId, transport: c.type === 'tcp' ? c : { ...c, type: 'serial' }, ...s.options });
  }
}
