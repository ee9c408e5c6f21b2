/** Devices module config: EDGE_DEVICES_* environment (or overrides), validated at start. */
import { z } from 'zod';
import { loadConfig } from '../../contracts/runtime/index.ts';

const port = z.coerce.number().int().min(0).max(65535).default(0);

export const devicesConfigSchema = z.object({
  /** MLLP listener for HL7 v2 monitors; 0 = disabled */
  hl7Port: port,
  /** ASTM E1381 listener for lab analysers over TCP; 0 = disabled */
  astmPort: port,
  /** Address the listeners bind */
  listenHost: z.string().default('127.0.0.1'),
  /** Directory of institution profile copies (YAML/JSON); empty = shipped profiles only */
  profileDir: z.string().default(''),
});
export type DevicesConfig = z.infer<typeof devicesConfigSchema>;

export function loadDevicesConfig(env: NodeJS.ProcessEnv = process.env): DevicesConfig {
  return loadConfig(devicesConfigSchema, { prefix: 'EDGE_DEVICES_', env });
}
