/** IF-MIB and HOST-RESOURCES rows -> typed samples. Pure; agents are untrusted input. */
import type { Varbind } from './net-snmp.ts';
import { HR_STORAGE_COL, HR_STORAGE_TYPES, IFX_COL, IF_COL, OID } from './oids.ts';
import { counterWidth, groupRows, toBigInt, toNumber, toOid, toText } from './values.ts';
import type { IfCounterName } from '../metrics.ts';

export interface CounterReading {
  raw: bigint;
  width: 32 | 64;
}

export interface IfSample {
  ifIndex: number;
  ifName: string;
  speedBps?: number;
  operStatus?: number;
  adminStatus?: number;
  counters: Partial<Record<IfCounterName, CounterReading>>;
}

const HC: [IfCounterName, number][] = [
  ['inOctets', IFX_COL.hcInOctets], ['outOctets', IFX_COL.hcOutOctets],
  ['inUcast', IFX_COL.hcInUcast], ['outUcast', IFX_COL.hcOutUcast],
  ['inMulticast', IFX_COL.hcInMulticast], ['outMulticast', IFX_COL.hcOutMulticast],
  ['inBroadcast', IFX_COL.hcInBroadcast], ['outBroadcast', IFX_COL.hcOutBroadcast],
];
const BASE: [IfCounterName, number][] = [
  ['inErrors', IF_COL.inErrors], ['outErrors', IF_COL.outErrors],
  ['inDiscards', IF_COL.inDiscards], ['outDiscards', IF_COL.outDiscards],
];
/** 32-bit fallbacks when the agent has no ifXTable row (SNMPv1-era devices). */
const FALLBACK32: [IfCounterName, number][] = [
  ['inOctets', IF_COL.inOctets], ['outOctets', IF_COL.outOctets], ['inUcast', IF_COL.inUcast], ['outUcast', IF_COL.outUcast],
];

function reading(vb: Varbind | undefined): CounterReading | undefined {
  if (!vb) return undefined;
  const width = counterWidth(vb);
  const raw = width === null ? null : toBigInt(vb);
  return width !== null && raw !== null ? { raw, width } : undefined;
}

/** Merge ifTable and ifXTable varbinds into one sample per interface index. */
export function parseInterfaces(ifTable: readonly Varbind[], ifXTable: readonly Varbind[]): IfSample[] {
  const base = groupRows(OID.ifTable, ifTable);
  const ext = groupRows(OID.ifXTable, ifXTable);
  const indexes = new Set([...base.keys(), ...ext.keys()].filter((i) => /^\d+$/.test(i)));
  const out: IfSample[] = [];
  for (const idx of indexes) {
    const ifIndex = Number(idx);
    if (!Number.isSafeInteger(ifIndex) || ifIndex <= 0) continue;
    const b = base.get(idx);
    const x = ext.get(idx);
    const name = (x?.get(IFX_COL.name) && toText(x.get(IFX_COL.name)!, 64)) || (b?.get(IF_COL.descr) && toText(b.get(IF_COL.descr)!, 64)) || `if${ifIndex}`;
    const counters: IfSample['counters'] = {};
    for (const [k, col] of HC) { const r = reading(x?.get(col)); if (r) counters[k] = r; }
    for (const [k, col] of FALLBACK32) { if (!counters[k]) { const r = reading(b?.get(col)); if (r) counters[k] = r; } }
    for (const [k, col] of BASE) { const r = reading(b?.get(col)); if (r) counters[k] = r; }
    const high = x?.get(IFX_COL.highSpeed) ? toNumber(x.get(IFX_COL.highSpeed)!) : null;
    const low = b?.get(IF_COL.speed) ? toNumber(b.get(IF_COL.speed)!) : null;
    const speedBps = high !== null && high > 0 ? high * 1e6 : low !== null && low >= 0 ? low : undefined;
    const oper = b?.get(IF_COL.operStatus) ? toNumber(b.get(IF_COL.operStatus)!) : null;
    const admin = b?.get(IF_COL.adminStatus) ? toNumber(b.get(IF_COL.adminStatus)!) : null;
    out.push({
      ifIndex, ifName: name, counters,
      ...(speedBps !== undefined ? { speedBps } : {}),
      ...(oper !== null && oper >= 1 && oper <= 7 ? { operStatus: oper } : {}),
      ...(admin !== null && admin >= 1 && admin <= 3 ? { adminStatus: admin } : {}),
    });
  }
  return out.sort((a, b) => a.ifIndex - b.ifIndex);
}

export interface StorageSample { index: string; descr: string; type: string; sizeBytes: number; usedBytes: number }

export function parseStorage(vbs: readonly Varbind[]): StorageSample[] {
  const out: StorageSample[] = [];
  for (const [index, row] of groupRows(OID.hrStorageTable, vbs)) {
    const unit = row.get(HR_STORAGE_COL.allocationUnits) ? toNumber(row.get(HR_STORAGE_COL.allocationUnits)!) : null;
    const size = row.get(HR_STORAGE_COL.size) ? toNumber(row.get(HR_STORAGE_COL.size)!) : null;
    const used = row.get(HR_STORAGE_COL.used) ? toNumber(row.get(HR_STORAGE_COL.used)!) : null;
    if (unit === null || size === null || used === null || unit < 0 || size < 0 || used < 0) continue;
    const typeOid = row.get(HR_STORAGE_COL.type) ? toOid(row.get(HR_STORAGE_COL.type)!) : null;
    out.push({
      index,
      descr: (row.get(HR_STORAGE_COL.descr) && toText(row.get(HR_STORAGE_COL.descr)!, 64)) || `storage${index}`,
      type: (typeOid && HR_STORAGE_TYPES[typeOid]) || 'other',
      sizeBytes: size * unit,
      usedBytes: used * unit,
    });
  }
  return out;
}

export function parseCpuLoad(vbs: readonly Varbind[]): { cpu: string; ratio: number }[] {
  const out: { cpu: string; ratio: number }[] = [];
  for (const vb of vbs) {
    if (!vb || typeof vb.oid !== 'string' || !vb.oid.startsWith(OID.hrProcessorLoad + '.')) continue;
    const v = toNumber(vb);
    if (v === null || v < 0 || v > 100) continue;
    out.push({ cpu: vb.oid.slice(OID.hrProcessorLoad.length + 1), ratio: v / 100 });
  }
  return out;
}
