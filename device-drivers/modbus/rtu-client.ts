/**
 * Modbus RTU over a serial line through `modbus-serial` (CRC, inter-frame timing and the
 * serial port binding are its job). Exception responses and timeouts are mapped onto our
 * error classes; only read functions are reachable through this wrapper.
 */
import { ModbusRTU } from './lib.ts';
import { DeviceProtocolError, DeviceTimeoutError, ModbusExceptionError } from '../errors.ts';
import { checkReadRequest, type ReadFunction } from './pdu.ts';
import { newTransportCounters, type ModbusTransport, type TransportCounters } from './transport.ts';

export interface RtuSettings {
  path: string;
  baudRate?: number;
  parity?: 'none' | 'even' | 'odd';
  dataBits?: 7 | 8;
  stopBits?: 1 | 2;
}

export class ModbusRtuClient implements ModbusTransport {
  private chain: Promise<unknown> = Promise.resolve();
  private constructor(private readonly client: ModbusRTU, readonly counters: TransportCounters) {}

  static async connect(s: RtuSettings, counters: TransportCounters = newTransportCounters()): Promise<ModbusRtuClient> {
    const c = new ModbusRTU();
    try {
      await c.connectRTUBuffered(s.path, { baudRate: s.baudRate ?? 9600, parity: s.parity ?? 'none', dataBits: s.dataBits ?? 8, stopBits: s.stopBits ?? 1 });
    } catch (e) {
      throw new DeviceProtocolError(`cannot open ${s.path}: ${(e as Error).message}`, 'modbus', 'connect', { cause: e });
    }
    return new ModbusRtuClient(c, counters);
  }

  get open(): boolean {
    return this.client.isOpen;
  }

  read(unitId: number, fc: ReadFunction, address: number, quantity: number, timeoutMs: number): Promise<number[]> {
    const run = () => this.send(unitId, fc, address, quantity, timeoutMs);
    const p = this.chain.then(run, run);
    this.chain = p.catch(() => undefined);
    return p;
  }

  private async send(unitId: number, fc: ReadFunction, address: number, quantity: number, timeoutMs: number): Promise<number[]> {
    checkReadRequest(fc, address, quantity);
    this.client.setID(unitId);
    this.client.setTimeout(timeoutMs);
    this.counters.requests++;
    try {
      switch (fc) {
        case 1: return (await this.client.readCoils(address, quantity)).data.slice(0, quantity).map((b: boolean) => (b ? 1 : 0));
        case 2: return (await this.client.readDiscreteInputs(address, quantity)).data.slice(0, quantity).map((b: boolean) => (b ? 1 : 0));
        case 3: return (await this.client.readHoldingRegisters(address, quantity)).data;
        case 4: return (await this.client.readInputRegisters(address, quantity)).data;
      }
    } catch (e) {
      const err = e as { errno?: string; modbusCode?: number; message?: string };
      if (typeof err.modbusCode === 'number') { this.counters.exceptions++; throw new ModbusExceptionError(fc, err.modbusCode); }
      if (err.errno === 'ETIMEDOUT' || /timed out/i.test(err.message ?? '')) { this.counters.timeouts++; throw new DeviceTimeoutError(`no answer from unit ${unitId} within ${timeoutMs} ms`, 'modbus', timeoutMs, { cause: e }); }
      this.counters.badFrames++;
      throw new DeviceProtocolError(`RTU read failed: ${err.message ?? String(e)}`, 'modbus', 'rtu', { cause: e });
    }
  }

  close(): Promise<void> {
    return new Promise((resolve) => { if (!this.client.isOpen) { resolve(); return; } this.client.close(() => resolve()); });
  }
}
