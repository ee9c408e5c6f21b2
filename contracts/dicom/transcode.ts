/**
 * A stored instance given in Explicit VR Little Endian (1.2.840.10008.1.2.1), the default
 * transfer syntax of DICOMweb (PS3.18 8.7.3.5), for a viewer that does not accept the syntax the
 * device sent: compressed pixel data decoded to native, an Implicit VR dataset given its VRs.
 *
 * Everything but the pixel data is kept byte for byte where the syntax allows it, so a patient
 * name in GB18030 stays exactly as the device wrote it (re-encoding through a parser's strings
 * would be the risk here):
 * - from an encapsulated syntax (whose dataset is explicit little endian already): the elements
 *   before and after Pixel Data are copied; only Photometric Interpretation (YBR_FULL_422 / ICT /
 *   RCT decoded to RGB), Planar Configuration and, for a lossy source, Lossy Image Compression
 *   (0028,2110) "01" and its method (0028,2114) are set;
 * - from Implicit VR Little Endian: every element gets the VR of the data dictionary (dcmjs's),
 *   private and unknown ones UN (whose value stays implicit VR, as PS3.5 6.2.2 says); sequences
 *   and items are written with undefined length; values are copied.
 * The file meta group is rewritten with the new transfer syntax and group length.
 *
 * Frames are decoded at full resolution by `codecs.ts` (the preview decoders). Nothing here is
 * lossy: a lossy source decodes to the same pixels every viewer would show. Errors are
 * TranscodeError saying what to ask for instead (the stored bytes: `transfer-syntax=*`).
 */
import { createRequire } from 'node:module';
import { CodecError, decodeFrame, DECODABLE, type FrameShape } from './codecs.ts';
import { num, readPart10, str } from './dicom-file.ts';
import { frameCount, InstanceReadError, readFrames, readLayout, type InstanceLayout } from './instance-reader.ts';
import { isDatasetError } from './dataset-walker.ts';
import { open } from 'node:fs/promises';

export const IMPLICIT_LE = '1.2.840.10008.1.2';
export const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const BIG_ENDIAN = '1.2.840.10008.1.2.2';

/** Why an instance could not be transcoded: its data is 'corrupt', a 'format' or 'syntax' not handled, the result 'too-large', or decoding took too long ('timeout', preview-pool.ts). */
export type TranscodeFailure = 'corrupt' | 'format' | 'syntax' | 'too-large' | 'timeout';

export class TranscodeError extends Error {
  override name = 'TranscodeError';
  constructor(message: string, readonly kind: TranscodeFailure = 'corrupt') {
    super(message);
  }
}

/** Whether an instance stored in `ts` can be given in Explicit VR Little Endian here. */
export function canTranscode(ts: string): boolean {
  return ts === EXPLICIT_LE || ts === IMPLICIT_LE || DECODABLE.has(ts);
}

/** Encapsulated syntaxes whose compression loses information (and the method's defined term). */
const LOSSY: Record<string, string> = {
  '1.2.840.10008.1.2.4.50': 'ISO_10918_1',
  '1.2.840.10008.1.2.4.51': 'ISO_10918_1',
  '1.2.840.10008.1.2.4.81': 'ISO_14495_1',
  '1.2.840.10008.1.2.4.91': 'ISO_15444_1',
};

/** Default limit of an instance's transcoded size (its native pixel data). */
export const MAX_TRANSCODED_BYTES = 512 * 1024 ** 2;

const tooLarge = (n: number, max: number) =>
  new TranscodeError(`uncompressed it would be ${Math.round(n / 1024 ** 2)} MB, above the ${Math.round(max / 1024 ** 2)} MB given uncompressed; ask for the stored bytes (transfer-syntax=*)`, 'too-large');

function readError(e: unknown): never {
  if (isDatasetError(e) || e instanceof InstanceReadError) throw new TranscodeError(`the stored file cannot be read: ${(e as Error).message}`, 'corrupt');
  if (e instanceof CodecError) throw new TranscodeError(e.message, e.kind);
  throw e;
}

async function layoutOrFail(path: string): Promise<InstanceLayout> {
  const l = await readLayout(path).catch(readError);
  if (!l) throw new TranscodeError('the stored file is not one that can be transcoded here (deflated, big endian, or without a Part 10 header); ask for the stored bytes (transfer-syntax=*)', 'syntax');
  return l;
}

function checkSyntax(ts: string): void {
  if (ts === BIG_ENDIAN) throw new TranscodeError('the instance is stored in Explicit VR Big Endian (retired), which is not transcoded here; ask for the stored bytes (transfer-syntax=*)', 'syntax');
  if (!canTranscode(ts)) throw new TranscodeError(`the instance is stored in transfer syntax ${ts}, which has no decoder here; ask for the stored bytes (transfer-syntax=*)`, 'syntax');
}

function shapeOf(l: InstanceLayout): FrameShape & { frames: number; frameBytes: number } {
  const d = l.header.dict;
  const rows = num(d, '00280010') ?? 0;
  const cols = num(d, '00280011') ?? 0;
  const spp = Math.max(1, num(d, '00280002') ?? 1);
  const bitsAllocated = num(d, '00280100') ?? 0;
  if (!rows || !cols || (bitsAllocated !== 8 && bitsAllocated !== 16)) {
    throw new TranscodeError(`the image is ${cols} x ${rows} with Bits Allocated ${bitsAllocated}: only 8 or 16 bits are decoded; ask for the stored bytes (transfer-syntax=*)`, 'format');
  }
  return { rows, cols, spp, bitsAllocated, signed: num(d, '00280103') === 1, frames: frameCount(l.header), frameBytes: rows * cols * spp * (bitsAllocated / 8) };
}

/** Frames `wanted` of an encapsulated instance, decoded. */
async function decodedFrames(path: string, l: InstanceLayout, wanted: number[], maxBytes: number): Promise<{ frames: Buffer[]; planar: boolean; rgb: boolean }> {
  const ts = l.header.transferSyntaxUid;
  const s = shapeOf(l);
  if (wanted.length * s.frameBytes > maxBytes) throw tooLarge(wanted.length * s.frameBytes, maxBytes);
  let stored: Buffer[];
  try {
    stored = await readFrames(path, l, wanted);
  } catch (e) {
    if (!(e instanceof InstanceReadError && e.kind === 'parse-whole')) readError(e);
    // Several fragments per frame and no offset table: dcmjs tells the frames apart.
    const values = (await readPart10(path)).dict['7FE00010']?.Value ?? [];
    const all = values.map((v) => (v instanceof ArrayBuffer ? Buffer.from(v) : ArrayBuffer.isView(v) ? Buffer.from(v.buffer, v.byteOffset, v.byteLength) : null));
    const missing = wanted.filter((k) => !all[k - 1]);
    if (missing.length) throw new TranscodeError(`frame(s) ${missing.join(',')} not in the instance (it has ${all.length})`, 'corrupt');
    stored = wanted.map((k) => all[k - 1]!);
  }
  const frames: Buffer[] = [];
  let planar = false;
  let rgb = false;
  for (let k = 0; k < stored.length; k++) {
    const f = await decodeFrame(ts, stored[k]!, s).catch(readError);
    if (f.rows !== s.rows || f.cols !== s.cols || f.spp !== s.spp || f.bits !== s.bitsAllocated) {
      throw new TranscodeError(`frame ${wanted[k]} decodes to ${f.cols} x ${f.rows} x ${f.spp} samples of ${f.bits} bits, the header says ${s.cols} x ${s.rows} x ${s.spp} of ${s.bitsAllocated}: the file is inconsistent`, 'corrupt');
    }
    const b = Buffer.from(f.data.buffer, f.data.byteOffset, s.frameBytes);
    frames.push(b);
    planar = f.planar;
    rgb = f.toRgb;
  }
  return { frames, planar, rgb };
}

/**
 * Frames `wanted` (from 1) of a stored instance as native pixel data (the frames of WADO-RS
 * `application/octet-stream` in the default transfer syntax). Native instances are not read here:
 * their frames are native already.
 */
export async function transcodeFrames(path: string, wanted: number[], maxBytes = MAX_TRANSCODED_BYTES): Promise<Buffer[]> {
  const l = await layoutOrFail(path);
  checkSyntax(l.header.transferSyntaxUid);
  if (!l.pixel) throw new TranscodeError('the instance has no pixel data', 'corrupt');
  if (!DECODABLE.has(l.header.transferSyntaxUid)) throw new TranscodeError('the instance is not compressed: its frames are native as stored', 'format');
  return (await decodedFrames(path, l, wanted, maxBytes)).frames;
}

/** The stored instance as a Part 10 file in Explicit VR Little Endian. */
export async function transcodeInstance(path: string, maxBytes = MAX_TRANSCODED_BYTES): Promise<Buffer> {
  const l = await layoutOrFail(path);
  const ts = l.header.transferSyntaxUid;
  checkSyntax(ts);
  const fh = await open(path, 'r');
  let file: Buffer;
  try {
    const size = (await fh.stat()).size;
    const read = async (from: number, to: number) => {
      const b = Buffer.alloc(Math.max(0, to - from));
      for (let got = 0; got < b.length;) {
        const { bytesRead } = await fh.read(b, got, b.length - got, from + got);
        if (bytesRead === 0) throw new TranscodeError(`the stored file ends at byte ${from + got}`, 'corrupt');
        got += bytesRead;
      }
      return b;
    };
    const preamble = await read(0, 132);
    const meta = await read(132, l.datasetStart);
    const px = l.pixel;
    const before = await read(l.datasetStart, px ? px.headerOffset : size);
    let pixel: Buffer[] = [];
    let after = Buffer.alloc(0);
    let patch: Map<number, Buffer | null> = new Map();
    if (px && DECODABLE.has(ts)) {
      const s = shapeOf(l);
      const d = await decodedFrames(path, l, Array.from({ length: s.frames }, (_, k) => k + 1), maxBytes);
      pixel = [pixelHeader(s.bitsAllocated > 8 ? 'OW' : 'OB', s.frames * s.frameBytes), ...d.frames];
      if ((s.frames * s.frameBytes) % 2) pixel.push(Buffer.alloc(1));
      after = await read(endOfEncapsulated(await read(px.valueOffset, size), px.valueOffset), size);
      patch = imagePatch(l, ts, d.rgb, d.planar);
    } else if (px) {
      // Native pixel data: the value as stored (implicit and explicit little endian are the same bytes).
      if (px.length === null) throw new TranscodeError('native pixel data of undefined length', 'corrupt');
      if (px.length > maxBytes) throw tooLarge(px.length, maxBytes);
      const vr = px.vr || ((num(l.header.dict, '00280100') ?? 16) > 8 ? 'OW' : 'OB');
      pixel = [pixelHeader(vr, px.length), await read(px.valueOffset, px.valueOffset + px.length)];
      after = await read(px.valueOffset + px.length, size);
    }
    const explicitBefore = ts === IMPLICIT_LE ? implicitToExplicit(before, num(l.header.dict, '00280103') === 1) : before;
    const explicitAfter = ts === IMPLICIT_LE ? implicitToExplicit(after, false) : after;
    file = Buffer.concat([preamble, rewriteMeta(meta), patch.size ? patchTopLevel(explicitBefore, patch) : explicitBefore, ...pixel, explicitAfter]);
  } finally {
    await fh.close();
  }
  return file;
}

// --------------------------------------------------------------------------- byte level

const ITEM = 0xfffee000;
const ITEM_DELIM = 0xfffee00d;
const SEQ_DELIM = 0xfffee0dd;
const UNDEFINED = 0xffffffff;
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
/** Nesting deeper than this is refused (the receiving SCP already bounds it at 16). */
const MAX_DEPTH = 32;

const tagOf = (b: Buffer, at: number) => ((b.readUInt16LE(at) << 16) >>> 0) + b.readUInt16LE(at + 2);

function pixelHeader(vr: string, length: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16LE(0x7fe0, 0);
  h.writeUInt16LE(0x0010, 2);
  h.write(vr, 4, 'latin1');
  h.writeUInt32LE(length + (length % 2), 8);
  return h;
}

/** An explicit little endian element. */
function element(tag: number, vr: string, value: Buffer): Buffer {
  const long = LONG_VRS.has(vr);
  const h = Buffer.alloc(long ? 12 : 8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.write(vr, 4, 'latin1');
  if (long) h.writeUInt32LE(value.length, 8);
  else h.writeUInt16LE(value.length, 6);
  return Buffer.concat([h, value]);
}

/** A text value padded to even length with a space (UI: NUL). */
const text = (s: string, pad = ' ') => Buffer.from(s.length % 2 ? s + pad : s, 'latin1');

/** Where encapsulated Pixel Data ends (after its sequence delimiter), as an offset in the file. */
function endOfEncapsulated(b: Buffer, base: number): number {
  for (let pos = 0; ;) {
    if (pos + 8 > b.length) throw new TranscodeError('encapsulated pixel data ends without a sequence delimiter', 'corrupt');
    const tag = tagOf(b, pos);
    if (tag === SEQ_DELIM) return base + pos + 8;
    if (tag !== ITEM) throw new TranscodeError(`expected a fragment item at byte ${base + pos}`, 'corrupt');
    pos += 8 + b.readUInt32LE(pos + 4);
  }
}

/** The file meta group with Transfer Syntax UID set to Explicit VR Little Endian and its group length recomputed. */
function rewriteMeta(meta: Buffer): Buffer {
  const out: Buffer[] = [];
  for (let pos = 0; pos + 8 <= meta.length;) {
    const tag = tagOf(meta, pos);
    const vr = meta.toString('latin1', pos + 4, pos + 6);
    const long = LONG_VRS.has(vr);
    const len = long ? meta.readUInt32LE(pos + 8) : meta.readUInt16LE(pos + 6);
    const head = long ? 12 : 8;
    if (tag === 0x00020010) out.push(element(tag, 'UI', text(EXPLICIT_LE, '\0')));
    else if (tag !== 0x00020000) out.push(meta.subarray(pos, pos + head + len));
    pos += head + len;
  }
  const body = Buffer.concat(out);
  const gl = Buffer.alloc(4);
  gl.writeUInt32LE(body.length, 0);
  return Buffer.concat([element(0x00020000, 'UL', gl), body]);
}

/** Top-level elements to set (a value) or remove (null) in an explicit VR dataset, for a decoded image. */
function imagePatch(l: InstanceLayout, ts: string, toRgb: boolean, planar: boolean): Map<number, Buffer | null> {
  const d = l.header.dict;
  const p = new Map<number, Buffer | null>();
  const photometric = str(d, '00280004') ?? '';
  const spp = Math.max(1, num(d, '00280002') ?? 1);
  if (toRgb || photometric === 'YBR_ICT' || photometric === 'YBR_RCT' || (photometric === 'YBR_FULL_422' && spp === 3)) p.set(0x00280004, element(0x00280004, 'CS', text('RGB')));
  if (spp > 1) {
    const v = Buffer.alloc(2);
    v.writeUInt16LE(planar ? 1 : 0, 0);
    p.set(0x00280006, element(0x00280006, 'US', v));
  }
  const method = LOSSY[ts];
  // A JPEG 2000 (.91) stream may be lossless: the device's own statement is kept when it made one.
  if (method && str(d, '00282110') !== '01' && !(ts === '1.2.840.10008.1.2.4.91' && str(d, '00282110') === '00')) {
    p.set(0x00282110, element(0x00282110, 'CS', text('01')));
    if (!str(d, '00282114')) p.set(0x00282114, element(0x00282114, 'CS', text(method)));
  }
  return p;
}

/** Where the element starting at `pos` ends, in an explicit or implicit little endian dataset. */
function elementEnd(b: Buffer, pos: number, explicit: boolean, depth: number): number {
  if (depth > MAX_DEPTH) throw new TranscodeError(`sequences nested deeper than ${MAX_DEPTH}`, 'corrupt');
  if (pos + 8 > b.length) throw new TranscodeError(`the dataset ends inside an element header (byte ${pos})`, 'corrupt');
  let vr = '';
  let len: number;
  let head: number;
  if (explicit) {
    vr = b.toString('latin1', pos + 4, pos + 6);
    if (LONG_VRS.has(vr)) {
      if (pos + 12 > b.length) throw new TranscodeError(`the dataset ends inside an element header (byte ${pos})`, 'corrupt');
      len = b.readUInt32LE(pos + 8);
      head = 12;
    } else {
      len = b.readUInt16LE(pos + 6);
      head = 8;
    }
  } else {
    len = b.readUInt32LE(pos + 4);
    head = 8;
  }
  if (len !== UNDEFINED) {
    if (pos + head + len > b.length) throw new TranscodeError(`an element at byte ${pos} declares ${len} bytes past the end of the dataset`, 'corrupt');
    return pos + head + len;
  }
  // Undefined length: items up to the sequence delimiter (UN's content is implicit VR).
  const inner = explicit && vr !== 'UN';
  for (let at = pos + head; ;) {
    if (at + 8 > b.length) throw new TranscodeError(`a sequence at byte ${pos} has no delimiter`, 'corrupt');
    const t = tagOf(b, at);
    const l = b.readUInt32LE(at + 4);
    if (t === SEQ_DELIM) return at + 8;
    if (t !== ITEM) throw new TranscodeError(`expected an item at byte ${at}`, 'corrupt');
    if (l !== UNDEFINED) {
      if (at + 8 + l > b.length) throw new TranscodeError(`an item at byte ${at} declares ${l} bytes past the end of the dataset`, 'corrupt');
      at += 8 + l;
      continue;
    }
    at = undefinedItemEnd(b, at, inner, depth);
  }
}

/** Where the item of undefined length starting at `at` ends (after its delimiter). */
function undefinedItemEnd(b: Buffer, at: number, explicit: boolean, depth: number): number {
  for (let pos = at + 8; ;) {
    if (pos + 8 > b.length) throw new TranscodeError(`the item at byte ${at} has no delimiter`, 'corrupt');
    if (tagOf(b, pos) === ITEM_DELIM) return pos + 8;
    pos = elementEnd(b, pos, explicit, depth + 1);
  }
}

/** Sets or removes top-level elements of an explicit VR dataset (kept in tag order). */
function patchTopLevel(b: Buffer, patch: Map<number, Buffer | null>): Buffer {
  const out: Buffer[] = [];
  const todo = [...patch.keys()].sort((x, y) => x - y);
  for (let pos = 0; pos < b.length;) {
    const tag = tagOf(b, pos);
    const end = elementEnd(b, pos, true, 0);
    while (todo.length && todo[0]! < tag) {
      const v = patch.get(todo.shift()!);
      if (v) out.push(v);
    }
    if (todo[0] === tag) {
      const v = patch.get(todo.shift()!);
      if (v) out.push(v);
    } else {
      out.push(b.subarray(pos, end));
    }
    pos = end;
  }
  for (const k of todo) {
    const v = patch.get(k);
    if (v) out.push(v);
  }
  return Buffer.concat(out);
}

interface DictEntry { vr: string }
const dictionary = (createRequire(import.meta.url)('dcmjs') as { data: { DicomMetaDictionary: { dictionary: Record<string, DictEntry | undefined> } } }).data.DicomMetaDictionary.dictionary;

/** The VR an Implicit VR element gets in Explicit VR. */
function vrOf(tag: number, length: number, signed: boolean): string {
  const group = tag >>> 16;
  const elem = tag & 0xffff;
  if (elem === 0) return 'UL'; // group length
  if (group % 2 === 1) return elem >= 0x10 && elem <= 0xff ? 'LO' : 'UN'; // private creator; private data
  const key = `(${group.toString(16).padStart(4, '0').toUpperCase()},${elem.toString(16).padStart(4, '0').toUpperCase()})`;
  const vr = dictionary[key]?.vr ?? 'UN';
  let out: string;
  if (vr === 'xs') out = signed ? 'SS' : 'US';
  else if (vr === 'ox' || vr === 'lt') out = 'OW';
  else if (/^[A-Z]{2}$/.test(vr)) out = vr;
  else out = 'UN';
  // A value too long for a short VR's 2-byte length: UN (as PS3.5 6.2.2 allows for a VR not known to fit).
  if (!LONG_VRS.has(out) && length > 0xfffe) return 'UN';
  return out;
}

/** An Implicit VR Little Endian dataset (or item content) in Explicit VR Little Endian. */
function implicitToExplicit(b: Buffer, signed: boolean, depth = 0): Buffer {
  if (depth > MAX_DEPTH) throw new TranscodeError(`sequences nested deeper than ${MAX_DEPTH}`, 'corrupt');
  const out: Buffer[] = [];
  for (let pos = 0; pos < b.length;) {
    if (pos + 8 > b.length) throw new TranscodeError(`the dataset ends inside an element header (byte ${pos})`, 'corrupt');
    const tag = tagOf(b, pos);
    const len = b.readUInt32LE(pos + 4);
    const end = elementEnd(b, pos, false, depth);
    const vr = len === UNDEFINED ? (vrOf(tag, 0, signed) === 'UN' ? 'UN' : 'SQ') : vrOf(tag, len, signed);
    if (vr === 'SQ') {
      out.push(sequenceHeader(tag));
      const body = len === UNDEFINED ? b.subarray(pos + 8, end - 8) : b.subarray(pos + 8, end);
      for (let at = 0; at < body.length;) {
        if (at + 8 > body.length) throw new TranscodeError(`sequence ${hex(tag)} ends inside an item header`, 'corrupt');
        const t = tagOf(body, at);
        const l = body.readUInt32LE(at + 4);
        if (t !== ITEM) throw new TranscodeError(`expected an item in sequence ${hex(tag)}`, 'corrupt');
        const itemEnd = l === UNDEFINED ? undefinedItemEnd(body, at, false, depth + 1) : at + 8 + l;
        if (itemEnd > body.length) throw new TranscodeError(`an item of sequence ${hex(tag)} declares ${l} bytes past its end`, 'corrupt');
        const content = l === UNDEFINED ? body.subarray(at + 8, itemEnd - 8) : body.subarray(at + 8, itemEnd);
        out.push(itemHeader(), implicitToExplicit(content, signed, depth + 1), delimiter(ITEM_DELIM));
        at = itemEnd;
      }
      out.push(delimiter(SEQ_DELIM));
    } else if (len === UNDEFINED) {
      // UN of undefined length: its items stay in implicit VR, delimiters and all.
      const h = Buffer.alloc(12);
      h.writeUInt16LE(tag >>> 16, 0);
      h.writeUInt16LE(tag & 0xffff, 2);
      h.write('UN', 4, 'latin1');
      h.writeUInt32LE(UNDEFINED, 8);
      out.push(h, b.subarray(pos + 8, end));
    } else {
      out.push(element(tag, vr, b.subarray(pos + 8, end)));
    }
    pos = end;
  }
  return Buffer.concat(out);
}

function sequenceHeader(tag: number): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.write('SQ', 4, 'latin1');
  h.writeUInt32LE(UNDEFINED, 8);
  return h;
}
function itemHeader(): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(0xfffe, 0);
  h.writeUInt16LE(0xe000, 2);
  h.writeUInt32LE(UNDEFINED, 4);
  return h;
}
function delimiter(tag: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  return h;
}
const hex = (tag: number) => `(${(tag >>> 16).toString(16).padStart(4, '0')},${(tag & 0xffff).toString(16).padStart(4, '0')})`.toUpperCase();
