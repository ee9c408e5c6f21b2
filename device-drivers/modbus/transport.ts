/** What the Modbus poller needs from a link: read registers/bits, close. */
import type { ReadFunction } from './pdu.ts';

export interface ModbusTransport {
  /** Register values (0..65535) or bits (0/1). Rejects with DeviceTimeoutError, ModbusExceptionError or DeviceProtocolError. */
  read(unitId: number, fc: ReadFunction, address: number, quantity: number, timeoutMs: number): Promise<number[]>;
  close(): Promise<void>;
  readonly open: boolean;
}

export interface TransportCounters {
  requests: number;
  timeouts: number;
  exceptions: number;
  badFrames: number;
  staleResponses: number;
}

export function newTransportCounters(): TransportCounters {
  return { requests: 0, timeouts: 0, exceptions: 0, badFrames: 0, staleResponses: 0 };
}
