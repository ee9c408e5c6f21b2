/** OIDs polled and received. Numeric only: the monitor loads no MIB files. */
export const OID = {
  sysDescr: '1.3.6.1.2.1.1.1.0',
  sysObjectID: '1.3.6.1.2.1.1.2.0',
  sysUpTime: '1.3.6.1.2.1.1.3.0',
  sysName: '1.3.6.1.2.1.1.5.0',
  ifTable: '1.3.6.1.2.1.2.2.1',
  ifXTable: '1.3.6.1.2.1.31.1.1.1',
  hrProcessorLoad: '1.3.6.1.2.1.25.3.3.1.2',
  hrStorageTable: '1.3.6.1.2.1.25.2.3.1',
  snmpTrapOID: '1.3.6.1.6.3.1.1.4.1.0',
  snmpTrapAddress: '1.3.6.1.6.3.18.1.3.0',
  ifIndex: '1.3.6.1.2.1.2.2.1.1',
} as const;

/** ifTable (1.3.6.1.2.1.2.2.1.<col>) columns used. */
export const IF_COL = {
  descr: 2, speed: 5, adminStatus: 7, operStatus: 8,
  inOctets: 10, inUcast: 11, inDiscards: 13, inErrors: 14,
  outOctets: 16, outUcast: 17, outDiscards: 19, outErrors: 20,
} as const;

/** ifXTable (1.3.6.1.2.1.31.1.1.1.<col>) columns used. */
export const IFX_COL = {
  name: 1, hcInOctets: 6, hcInUcast: 7, hcInMulticast: 8, hcInBroadcast: 9,
  hcOutOctets: 10, hcOutUcast: 11, hcOutMulticast: 12, hcOutBroadcast: 13,
  highSpeed: 15, alias: 18,
} as const;

/** hrStorageEntry columns. */
export const HR_STORAGE_COL = { type: 2, descr: 3, allocationUnits: 4, size: 5, used: 6 } as const;

/** Standard notifications (SNMPv2-MIB snmpTraps). */
export const TRAP_OIDS: Record<string, TrapKind> = {
  '1.3.6.1.6.3.1.1.5.1': 'coldStart',
  '1.3.6.1.6.3.1.1.5.2': 'warmStart',
  '1.3.6.1.6.3.1.1.5.3': 'linkDown',
  '1.3.6.1.6.3.1.1.5.4': 'linkUp',
  '1.3.6.1.6.3.1.1.5.5': 'authenticationFailure',
};
/** SNMPv1 generic-trap numbers. */
export const V1_GENERIC: Record<number, TrapKind> = { 0: 'coldStart', 1: 'warmStart', 2: 'linkDown', 3: 'linkUp', 4: 'authenticationFailure' };

export type TrapKind = 'coldStart' | 'warmStart' | 'linkDown' | 'linkUp' | 'authenticationFailure' | 'other';

/** hrStorageType OIDs (HOST-RESOURCES-TYPES) to short names. */
export const HR_STORAGE_TYPES: Record<string, string> = {
  '1.3.6.1.2.1.25.2.1.1': 'other',
  '1.3.6.1.2.1.25.2.1.2': 'ram',
  '1.3.6.1.2.1.25.2.1.3': 'virtual_memory',
  '1.3.6.1.2.1.25.2.1.4': 'fixed_disk',
  '1.3.6.1.2.1.25.2.1.5': 'removable_disk',
  '1.3.6.1.2.1.25.2.1.6': 'floppy',
  '1.3.6.1.2.1.25.2.1.7': 'compact_disc',
  '1.3.6.1.2.1.25.2.1.8': 'ram_disk',
  '1.3.6.1.2.1.25.2.1.9': 'flash',
  '1.3.6.1.2.1.25.2.1.10': 'network_disk',
};
