/** Error classes of the device layer: each has a `name`, structured fields and `cause`. */

export class DeviceProtocolError extends Error {
  override readonly name: string = 'DeviceProtocolError';
  constructor(
    message: string,
    readonly protocol: 'modbus' | 'hl7' | 'astm' | 'profile',
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A device that did not answer in time (includes "no answer from unit N" for Modbus). */
export class DeviceTimeoutError extends DeviceProtocolError {
  override readonly name = 'DeviceTimeoutError';
  constructor(message: string, protocol: DeviceProtocolError['protocol'], readonly timeoutMs: number, options?: { cause?: unknown }) {
    super(message, protocol, 'timeout', options);
  }
}

/** A Modbus exception response (function code | 0x80). */
export class ModbusExceptionError extends DeviceProtocolError {
  override readonly name = 'ModbusExceptionError';
  constructor(readonly functionCode: number, readonly exceptionCode: number) {
    super(`modbus exception ${exceptionCode} (${MODBUS_EXCEPTIONS[exceptionCode] ?? 'unknown'}) for function 0x${functionCode.toString(16).padStart(2, '0')}`, 'modbus', 'exception');
  }
}

export const MODBUS_EXCEPTIONS: Record<number, string> = {
  1: 'illegal function',
  2: 'illegal data address',
  3: 'illegal data value',
  4: 'server device failure',
  5: 'acknowledge',
  6: 'server device busy',
  10: 'gateway path unavailable',
  11: 'gateway target failed to respond',
};

/** A profile file that does not validate. */
export class ProfileError extends DeviceProtocolError {
  override readonly name = 'ProfileError';
  constructor(message: string, readonly file: string, readonly issues: string[]) {
    super(message, 'profile', 'invalid_profile');
  }
}

export function isDeviceTimeout(e: unknown): e is DeviceTimeoutError {
  return e instanceof DeviceTimeoutError;
}
export function isModbusException(e: unknown): e is ModbusExceptionError {
  return e instanceof ModbusExceptionError;
}
export function isProtocolError(e: unknown): e is DeviceProtocolError {
  return e instanceof DeviceProtocolError;
}
