/**
 * Typed access to the CommonJS `modbus-serial` package from ESM. Under NodeNext its
 * `export default` declaration types the default import as the module namespace, while at
 * run time the default import is the ModbusRTU constructor itself.
 */
import pkg from 'modbus-serial';
import { ServerTCP } from 'modbus-serial';

type ModbusRTUCtor = (typeof import('modbus-serial'))['default'];
export const ModbusRTU = pkg as unknown as ModbusRTUCtor;
export type ModbusRTU = InstanceType<ModbusRTUCtor>;
export { ServerTCP };
