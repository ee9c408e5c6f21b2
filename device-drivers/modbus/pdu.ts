/**
 * Modbus read requests/responses and the MBAP header (Modbus TCP). Pure functions:
 * `toBuffer` builds, `fromBuffer` reads one ADU at the start of a buffer and validates it.
 * Only the read function codes exist here: the poller can never write to a device.
 */
export const READ_FUNCTIONS = [0x01, 0x02, 0x03, 0x04] as const;
export type ReadFunction = (typeof READ_FUNCTIONS)[number];

/** Modbus application protocol spec v1.1b3: max quantity per request. */
export const MAX_REGISTERS = 125;
export const MAX_BITS = 2000;
/** MBAP length field counts unit id + PDU; the PDU is at most 253 bytes. */
export const MAX_MBAP_LENGTH = 254;

export function isReadFunction(fc: number): fc is ReadFunction {
  return fc === 1 || fc === 2 || fc === 3 || fc === 4;
}
export function isBitFunction(fc: ReadFunction): boolean {
  return fc === 1 || fc === 2;
}

export class ModbusFrameError extends Error {
  override readonly name = 'ModbusFrameError';
  constructor(message: string, readonly reason: 'protocol_id' | 'length' | 'function' | 'byte_count' | 'quantity' | 'address' | 'unit' | 'transaction') {
    super(message);
  }
}

/** Validate a read request; throws ModbusFrameError (quantity, address range, function). */
export function checkReadRequest(fc: number, address: number, quantity: number): asserts fc is ReadFunction {
  if (!isReadFunction(fc)) throw new ModbusFrameError(`function 0x${fc.toString(16)} is not a read function (only 0x01-0x04 are allowed)`, 'function');
  const max = isBitFunction(fc) ? MAX_BITS : MAX_REGISTERS;
  if (!Number.isInteger(quantity) || quantity < 1 || quantity > max) throw new ModbusFrameError(`quantity ${quantity} outside 1..${max}`, 'quantity');
  if (!Number.isInteger(address) || address < 0 || address + quantity > 0x10000) throw new ModbusFrameError(`address range ${address}+${quantity} outside 0..65535`, 'address');
}

/** Read request PDU: fc, address, quantity. */
export function readRequestPdu(fc: number, address: number, quantity: number): Buffer {
  checkReadRequest(fc, address, quantity);
  const b = Buffer.allocUnsafe(5);
  b[0] = fc;
  b.writeUInt16BE(address, 1);
  b.writeUInt16BE(quantity, 3);
  return b;
}

export interface Adu {
  transactionId: number;
  unitId: number;
  pdu: Buffer;
}

/** MBAP header + PDU. */
export function toBuffer(a: Adu): Buffer {
  const b = Buffer.allocUnsafe(7 + a.pdu.length);
  b.writeUInt16BE(a.transactionId & 0xffff, 0);
  b.writeUInt16BE(0, 2); // protocol id: 0 = Modbus
  b.writeUInt16BE(a.pdu.length + 1, 4);
  b[6] = a.unitId;
  a.pdu.copy(b, 7);
  return b;
}

/**
 * One ADU at the start of `buf`: null when incomplete; throws ModbusFrameError when the
 * header cannot be Modbus (protocol id != 0, length 0/1 or > 254): the stream cannot be
 * resynchronised after that and the connection must be dropped.
 */
export function fromBuffer(buf: Uint8Array): { adu: Adu; length: number } | null {
  if (buf.length < 7) return null;
  const view = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const protocolId = view.readUInt16BE(2);
  if (protocolId !== 0) throw new ModbusFrameError(`MBAP protocol id ${protocolId}, expected 0`, 'protocol_id');
  const len = view.readUInt16BE(4);
  if (len < 2 || len > MAX_MBAP_LENGTH) throw new ModbusFrameError(`MBAP length ${len} outside 2..${MAX_MBAP_LENGTH}`, 'length');
  if (buf.length < 6 + len) return null;
  return { adu: { transactionId: view.readUInt16BE(0), unitId: view[6]!, pdu: Buffer.from(view.subarray(7, 6 + len)) }, length: 6 + len };
}

export type ReadResult =
  | { ok: true; values: number[] }
  | { ok: false; exception: number };

/**
 * Decode the response PDU to a read request: register values (0..65535) or bits (0/1).
 * Validates the function code echo, the byte count against the quantity asked for.
 */
export function parseReadResponse(pdu: Uint8Array, fc: ReadFunction, quantity: number): ReadResult {
  if (pdu.length < 2) throw new ModbusFrameError('response PDU too short', 'length');
  if (pdu[0] === (fc | 0x80)) return { ok: false, exception: pdu[1]! };
  if (pdu[0] !== fc) throw new ModbusFrameError(`response function 0x${pdu[0]!.toString(16)} does not match request 0x${fc.toString(16)}`, 'function');
  const byteCount = pdu[1]!;
  const want = isBitFunction(fc) ? Math.ceil(quantity / 8) : quantity * 2;
  if (byteCount !== want) throw new ModbusFrameError(`byte count ${byteCount}, expected ${want} for ${quantity} ${isBitFunction(fc) ? 'bits' : 'registers'}`, 'byte_count');
  if (pdu.length !== 2 + byteCount) throw new ModbusFrameError(`PDU length ${pdu.length} does not match byte count ${byteCount}`, 'length');
  const values: number[] = new Array<number>(quantity);
  if (isBitFunction(fc)) {
    for (let i = 0; i < quantity; i++) values[i] = (pdu[2 + (i >> 3)]! >> (i & 7)) & 1;
  } else {
    for (let i = 0; i < quantity; i++) values[i] = (pdu[2 + 2 * i]! << 8) | pdu[3 + 2 * i]!;
  }
  return { ok: true, values };
}

/** Build a read response PDU (used by tests and the property suite). */
export function readResponsePdu(fc: ReadFunction, values: number[]): Buffer {
  if (isBitFunction(fc)) {
    const n = Math.ceil(values.length / 8);
    const b = Buffer.alloc(2 + n);
    b[0] = fc;
    b[1] = n;
    values.forEach((v, i) => { if (v) b[2 + (i >> 3)]! |= 1 << (i & 7); });
    return b;
  }
  const b = Buffer.allocUnsafe(2 + values.length * 2);
  b[0] = fc;
  b[1] = values.length * 2;
  values.forEach((v, i) => b.writeUInt16BE(v & 0xffff, 2 + 2 * i));
  return b;
}
