/** Builds DICOM datasets byte by byte for tests and the bench (little endian). */
import { fileMetaToBuffer } from '../part10.ts';
import { TS } from '../uids.ts';

const LONG = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
const TEXT_PAD_NUL = new Set(['UI']);

export interface Enc {
  explicit: boolean;
}

export function tagHeader(tag: number, vr: string, len: number, enc: Enc): Buffer {
  const g = tag >>> 16;
  const e = tag & 0xffff;
  if (!enc.explicit || g === 0xfffe) {
    const b = Buffer.alloc(8);
    b.writeUInt16LE(g, 0);
    b.writeUInt16LE(e, 2);
    b.writeUInt32LE(len >>> 0, 4);
    return b;
  }
  if (LONG.has(vr)) {
    const b = Buffer.alloc(12);
    b.writeUInt16LE(g, 0);
    b.writeUInt16LE(e, 2);
    b.write(vr, 4, 'latin1');
    b.writeUInt32LE(len >>> 0, 8);
    return b;
  }
  const b = Buffer.alloc(8);
  b.writeUInt16LE(g, 0);
  b.writeUInt16LE(e, 2);
  b.write(vr, 4, 'latin1');
  b.writeUInt16LE(len, 6);
  return b;
}

/** One element; strings are padded to even length (NUL for UI, space otherwise). */
export function el(tag: number, vr: string, value: string | Buffer, enc: Enc): Buffer {
  let v = typeof value === 'string' ? Buffer.from(value, 'latin1') : value;
  if (v.length % 2) v = Buffer.concat([v, Buffer.from([TEXT_PAD_NUL.has(vr) || typeof value !== 'string' ? 0 : 0x20])]);
  return Buffer.concat([tagHeader(tag, vr, v.length, enc), v]);
}

/** A sequence of items, each item a concatenation of elements. */
export function seq(tag: number, items: Buffer[], enc: Enc, undefinedLength = false): Buffer {
  const parts = items.map((it) => (undefinedLength ? Buffer.concat([tagHeader(0xfffee000, '', 0xffffffff, enc), it, tagHeader(0xfffee00d, '', 0, enc)]) : Buffer.concat([tagHeader(0xfffee000, '', it.length, enc), it])));
  const body = Buffer.concat(parts);
  if (undefinedLength) return Buffer.concat([tagHeader(tag, 'SQ', 0xffffffff, enc), body, tagHeader(0xfffee0dd, '', 0, enc)]);
  return Buffer.concat([tagHeader(tag, 'SQ', body.length, enc), body]);
}

/** Encapsulated pixel data: empty offset table, then one fragment per buffer. */
export function encapsulated(fragments: Buffer[]): Buffer {
  const enc = { explicit: true };
  const frags = fragments.map((f) => {
    const v = f.length % 2 ? Buffer.concat([f, Buffer.from([0])]) : f;
    return Buffer.concat([tagHeader(0xfffee000, '', v.length, enc), v]);
  });
  return Buffer.concat([tagHeader(0x7fe00010, 'OB', 0xffffffff, enc), tagHeader(0xfffee000, '', 0, enc), ...frags, tagHeader(0xfffee0dd, '', 0, enc)]);
}

export interface TestInstance {
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  modality: string;
  transferSyntaxUid?: string;
  patientName?: Buffer | string;
  patientId?: string;
  specificCharacterSet?: string;
  accessionNumber?: string;
  studyDate?: string;
  /** InstanceNumber (0020,0013); 1 when not given. */
  instanceNumber?: number;
  /** Pixel bytes (native) or fragments (encapsulated TS). */
  pixels?: Buffer;
  rows?: number;
  columns?: number;
  samplesPerPixel?: number;
  bitsAllocated?: number;
  frames?: number;
  /** Photometric Interpretation; MONOCHROME2 (RGB with 3 samples) when not given. */
  photometric?: string;
  bitsStored?: number;
  /** Pixel Representation 1 (signed). */
  signed?: boolean;
  /** Planar Configuration 1 (colour by plane). */
  planar?: boolean;
  /** Encapsulated syntaxes: these fragments instead of `pixels` as one. */
  fragments?: Buffer[];
  /** Elements of group 0028 after (0028,0103) (window, rescale, palette tables), in tag order. */
  extra?: (enc: Enc) => Buffer[];
}

/** A plausible image dataset (not a full IOD: the SCP does not validate IODs). */
export function buildDataset(i: TestInstance): Buffer {
  const ts = i.transferSyntaxUid ?? TS.explicitLE;
  const enc = { explicit: ts !== TS.implicitLE };
  const rows = i.rows ?? 64;
  const cols = i.columns ?? 64;
  const spp = i.samplesPerPixel ?? 1;
  const bits = i.bitsAllocated ?? 8;
  const pixels = i.pixels ?? Buffer.alloc(rows * cols * spp * (bits / 8) * (i.frames ?? 1), 0x55);
  const us = (n: number) => {
    const b = Buffer.alloc(2);
    b.writeUInt16LE(n, 0);
    return b;
  };
  const parts: Buffer[] = [];
  if (i.specificCharacterSet) parts.push(el(0x00080005, 'CS', i.specificCharacterSet, enc));
  parts.push(
    el(0x00080016, 'UI', i.sopClassUid, enc),
    el(0x00080018, 'UI', i.sopInstanceUid, enc),
    el(0x00080020, 'DA', i.studyDate ?? '20261128', enc),
    el(0x00080050, 'SH', i.accessionNumber ?? '', enc),
    el(0x00080060, 'CS', i.modality, enc),
    el(0x00100010, 'PN', i.patientName ?? 'TEST^PATIENT', enc),
    el(0x00100020, 'LO', i.patientId ?? 'P0001', enc),
    el(0x0020000d, 'UI', i.studyInstanceUid, enc),
    el(0x0020000e, 'UI', i.seriesInstanceUid, enc),
    el(0x00200013, 'IS', String(i.instanceNumber ?? 1), enc),
    el(0x00280002, 'US', us(spp), enc),
    el(0x00280004, 'CS', i.photometric ?? (spp === 3 ? 'RGB' : 'MONOCHROME2'), enc),
  );
  if (spp === 3) parts.push(el(0x00280006, 'US', us(i.planar ? 1 : 0), enc));
  if (i.frames) parts.push(el(0x00280008, 'IS', String(i.frames), enc));
  const stored = i.bitsStored ?? bits;
  parts.push(el(0x00280010, 'US', us(rows), enc), el(0x00280011, 'US', us(cols), enc), el(0x00280100, 'US', us(bits), enc), el(0x00280101, 'US', us(stored), enc), el(0x00280102, 'US', us(stored - 1), enc), el(0x00280103, 'US', us(i.signed ? 1 : 0), enc));
  if (i.extra) parts.push(...i.extra(enc));
  const native = ts === TS.implicitLE || ts === TS.explicitLE;
  parts.push(native ? el(0x7fe00010, bits > 8 ? 'OW' : 'OB', pixels, enc) : encapsulated(i.fragments ?? [pixels]));
  return Buffer.concat(parts);
}

export function buildPart10(i: TestInstance): Buffer {
  return Buffer.concat([fileMetaToBuffer({ sopClassUid: i.sopClassUid, sopInstanceUid: i.sopInstanceUid, transferSyntaxUid: i.transferSyntaxUid ?? TS.explicitLE }), buildDataset(i)]);
}

let uidCounter = 0;
/** Unique UIDs for tests (2.25 root). */
export function testUid(): string {
  return `2.25.${Date.now()}${process.pid}${++uidCounter}`;
}

/** 24-bit BMP with a deterministic pattern, for img2dcm. */
export function makeBmp(width: number, height: number, seed = 1): Buffer {
  const rowBytes = Math.ceil((width * 3) / 4) * 4;
  const size = 54 + rowBytes * height;
  const b = Buffer.alloc(size);
  b.write('BM', 0, 'latin1');
  b.writeUInt32LE(size, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(width, 18);
  b.writeInt32LE(height, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.writeUInt32LE(rowBytes * height, 34);
  let x = seed;
  for (let y = 0; y < height; y++) {
    for (let c = 0; c < width * 3; c++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      b[54 + y * rowBytes + c] = (x >> 16) & 0xff;
    }
  }
  return b;
}
