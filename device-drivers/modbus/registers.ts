/**
 * From a profile's register map to read requests, and from register values to
 * engineering values (data type, word order, scale, offset). Pure.
 */
import type { ModbusProfile, Quantity } from '../profiles/schema.ts';
import { MAX_BITS, MAX_REGISTERS, type ReadFunction } from './pdu.ts';

const FC: Record<'coil' | 'discrete' | 'holding' | 'input', ReadFunction> = { coil: 1, discrete: 2, holding: 3, input: 4 };

export function registerCount(dataType: Quantity['dataType']): number {
  return dataType === 'uint32' || dataType === 'int32' || dataType === 'float32' ? 2 : 1;
}

export interface ReadBlock {
  fc: ReadFunction;
  address: number;
  quantity: number;
  /** quantities served by this block, with their offset in it */
  items: Array<{ q: Quantity; offset: number }>;
}

/**
 * Group a profile's quantities into as few reads as possible: contiguous (or nearly, gaps up
 * to `maxGap`) addresses of one table share a request, within the 125-register/2000-bit limits.
 */
export function planReads(profile: ModbusProfile, maxGap = 8): ReadBlock[] {
  const byFc = new Map<ReadFunction, Quantity[]>();
  for (const q of profile.quantities) {
    const fc = FC[q.modbus!.table];
    byFc.set(fc, [...(byFc.get(fc) ?? []), q]);
  }
  const blocks: ReadBlock[] = [];
  for (const [fc, qs] of [...byFc.entries()].sort((a, b) => a[0] - b[0])) {
    const max = fc <= 2 ? MAX_BITS : MAX_REGISTERS;
    qs.sort((a, b) => a.modbus!.address - b.modbus!.address);
    let cur: ReadBlock | undefined;
    for (const q of qs) {
      const addr = q.modbus!.address;
      const n = fc <= 2 ? 1 : registerCount(q.dataType);
      if (cur && addr - (cur.address + cur.quantity) <= maxGap && addr + n - cur.address <= max) {
        cur.quantity = Math.max(cur.quantity, addr + n - cur.address);
        cur.items.push({ q, offset: addr - cur.address });
      } else {
        cur = { fc, address: addr, quantity: n, items: [{ q, offset: 0 }] };
        blocks.push(cur);
      }
    }
  }
  return blocks;
}

/** Raw value of one quantity from the words/bits of its block. */
export function decodeRaw(q: Quantity, words: number[], offset: number, wordOrder: 'big' | 'little'): number {
  const w0 = words[offset] ?? 0;
  const w1 = words[offset + 1] ?? 0;
  const [hi, lo] = wordOrder === 'big' ? [w0, w1] : [w1, w0];
  const b = Buffer.allocUnsafe(4);
  switch (q.dataType) {
    case 'bool': return w0 ? 1 : 0;
    case 'uint16': return w0 & 0xffff;
    case 'int16': return (w0 << 16) >> 16;
    case 'uint32': return ((hi & 0xffff) * 0x10000) + (lo & 0xffff);
    case 'int32': return ((hi << 16) | (lo & 0xffff)) | 0;
    case 'float32':
      b.writeUInt16BE(hi & 0xffff, 0);
      b.writeUInt16BE(lo & 0xffff, 2);
      return b.readFloatBE(0);
    default: return Number.NaN;
  }
}

/** Inverse of decodeRaw + scaling, for simulators: engineering value -> register words. */
export function encodeValue(q: Quantity, value: number, wordOrder: 'big' | 'little'): number[] {
  const raw = q.dataType === 'float32' ? (value - q.offset) / q.scale : Math.round((value - q.offset) / q.scale);
  const b = Buffer.allocUnsafe(4);
  let words: number[];
  switch (q.dataType) {
    case 'bool': return [raw ? 1 : 0];
    case 'uint16': return [Math.max(0, Math.min(0xffff, raw))];
    case 'int16': return [Math.max(-0x8000, Math.min(0x7fff, raw)) & 0xffff];
    case 'uint32': b.writeUInt32BE(Math.max(0, Math.min(0xffffffff, raw)), 0); break;
    case 'int32': b.writeInt32BE(Math.max(-0x80000000, Math.min(0x7fffffff, raw)), 0); break;
    case 'float32': b.writeFloatBE(raw, 0); break;
    default: return [0];
  }
  words = [b.readUInt16BE(0), b.readUInt16BE(2)];
  return wordOrder === 'big' ? words : [words[1]!, words[0]!];
}
