/** DICOM UIDs the edge SCP negotiates. Lists are data so a clinic can extend them by config. */

export const VERIFICATION = '1.2.840.10008.1.1';
export const MODALITY_WORKLIST_FIND = '1.2.840.10008.5.1.4.31';
/** Modality Performed Procedure Step SOP Class (N-CREATE / N-SET). */
export const MPPS = '1.2.840.10008.3.1.2.3.3';

/** Storage SOP classes accepted by default: US, DX, CR, Secondary Capture. */
export const STORAGE_SOP_CLASSES: Readonly<Record<string, string>> = {
  '1.2.840.10008.5.1.4.1.1.6.1': 'US Image',
  '1.2.840.10008.5.1.4.1.1.3.1': 'US Multi-frame Image',
  // Retired US classes: older ultrasound units still send them.
  '1.2.840.10008.5.1.4.1.1.6': 'US Image (retired)',
  '1.2.840.10008.5.1.4.1.1.3': 'US Multi-frame Image (retired)',
  '1.2.840.10008.5.1.4.1.1.1.1': 'DX Image For Presentation',
  '1.2.840.10008.5.1.4.1.1.1.1.1': 'DX Image For Processing',
  '1.2.840.10008.5.1.4.1.1.1': 'CR Image',
  '1.2.840.10008.5.1.4.1.1.7': 'Secondary Capture Image',
};

export const TS = {
  implicitLE: '1.2.840.10008.1.2',
  explicitLE: '1.2.840.10008.1.2.1',
  explicitBE: '1.2.840.10008.1.2.2',
  deflatedLE: '1.2.840.10008.1.2.1.99',
  jpegBaseline: '1.2.840.10008.1.2.4.50',
  jpegExtended: '1.2.840.10008.1.2.4.51',
  jpegLossless: '1.2.840.10008.1.2.4.57',
  jpegLosslessSV1: '1.2.840.10008.1.2.4.70',
  jpegLsLossless: '1.2.840.10008.1.2.4.80',
  jpegLsNearLossless: '1.2.840.10008.1.2.4.81',
  jpeg2000Lossless: '1.2.840.10008.1.2.4.90',
  jpeg2000: '1.2.840.10008.1.2.4.91',
  rle: '1.2.840.10008.1.2.5',
} as const;

/**
 * Transfer syntaxes accepted for storage, stored as received (no transcoding).
 * Deflate and big endian are left out: no US/DX device in scope sends them, and the
 * header reader would need to inflate or swap before it can index the instance.
 */
export const STORAGE_TRANSFER_SYNTAXES: readonly string[] = [
  TS.explicitLE, TS.implicitLE,
  TS.jpegBaseline, TS.jpegExtended, TS.jpegLossless, TS.jpegLosslessSV1,
  TS.jpegLsLossless, TS.jpegLsNearLossless, TS.jpeg2000Lossless, TS.jpeg2000, TS.rle,
];

/** Verification and worklist need no pixel codecs. */
export const UNCOMPRESSED_TRANSFER_SYNTAXES: readonly string[] = [TS.explicitLE, TS.implicitLE];

/** A UID as DICOM allows it (PS3.5 9.1); also what makes it safe as a file name. */
export function isValidUid(s: string): boolean {
  return s.length > 0 && s.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(s);
}
