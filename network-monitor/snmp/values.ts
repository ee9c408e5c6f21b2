/**
 * Decoding of varbind values as net-snmp delivers them. Agents are external input:
 * every decoder returns null on a value of the wrong shape instead of throwing.
 */
import type { Varbind } from './net-snmp.ts';

/** ASN.1 tags of SNMP types (RFC 2578) as net-snmp reports them in `varbind.type`. */
export const T = {
  Integer: 2, OctetString: 4, Null: 5, OID: 6, IpAddress: 64, Counter32: 65, Gauge32: 66,
  TimeTicks: 67, Opaque: 68, Counter64: 70, NoSuchObject: 128, NoSuchInstance: 129, EndOfMibView: 130,
} as const;

export function isExceptionType(type: number): boolean {
  return type === T.NoSuchObject || type === T.NoSuchInstance || type === T.EndOfMibView || type === T.Null;
}

/** Counter64 arrives as a 1–8 byte Buffer; other integers as numbers. */
export function toBigInt(vb: Varbind): bigint | null {
  const v = vb.value;
  if (Buffer.isBuffer(v)) {
    if (v.length > 8) return null;
    return BigInt('0x' + (v.toString('hex') || '0'));
  }
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return BigInt(v);
  if (typeof v === 'bigint' && v >= 0n && v < 1n << 64n) return v;
  return null;
}

export function toNumber(vb: Varbind): number | null {
  if (vb.type === T.Counter64) {
    const b = toBigInt(vb);
    return b === null ? null : Number(b);
  }
  const v = vb.value;
  if (typeof v === 'number' && Number.isFinite(v)) return v;
  return null;
}

/** Printable text of an OctetString; control characters are dropped (labels stay clean). */
export function toText(vb: Varbind, max = 256): string | null {
  const v = vb.value;
  let s: string;
  if (Buffer.isBuffer(v)) s = v.toString('utf8');
  else if (typeof v === 'string') s = v;
  else return null;
  // eslint-disable-next-line no-control-regex
  return s.replace(/[\u0000-\u001f\u007f\ufffd]/g, '').slice(0, max);
}

export function toOid(vb: Varbind): string | null {
  return typeof vb.value === 'string' && /^\d+(\.\d+)*$/.test(vb.value) ? vb.value : null;
}

/** Width in bits of a counter type, or null when the varbind is not a counter. */
export function counterWidth(vb: Varbind): 32 | 64 | null {
  if (vb.type === T.Counter64) return 64;
  if (vb.type === T.Counter32) return 32;
  return null;
}

/**
 * Split `<table>.<column>.<index...>` into column and index; null when `oid` is not
 * under `table` or has no index.
 */
export function splitTableOid(table: string, oid: string): { column: number; index: string } | null {
  if (!oid.startsWith(table + '.')) return null;
  const rest = oid.slice(table.length + 1).split('.');
  if (rest.length < 2) return null;
  const column = Number(rest[0]);
  const index = rest.slice(1).join('.');
  if (!Number.isInteger(column) || column < 0 || !/^\d+(\.\d+)*$/.test(index)) return null;
  return { column, index };
}

/** Group table varbinds into rows keyed by index: row -> column -> varbind. */
export function groupRows(table: string, varbinds: readonly Varbind[]): Map<string, Map<number, Varbind>> {
  const rows = new Map<string, Map<number, Varbind>>();
  for (const vb of varbinds) {
    if (!vb || typeof vb.oid !== 'string' || typeof vb.type !== 'number' || isExceptionType(vb.type)) continue;
    const at = splitTableOid(table, vb.oid);
    if (!at) continue;
    let row = rows.get(at.index);
    if (!row) rows.set(at.index, (row = new Map()));
    row.set(at.column, vb);
  }
  return rows;
}
