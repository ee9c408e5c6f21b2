/**
 * Reading parts of a stored instance without reading all of it: the header (every element before
 * Pixel Data) and single frames by their position in the file.
 *
 * A multi-frame ultrasound cine is 50-300 MB. DICOMweb metadata, one frame of it, or a thumbnail
 * used to read and parse the whole file on the request path (hundreds of ms of a busy thread and
 * the file's size in memory, per request; a viewer asks for every frame). Here the header is
 * walked structurally (`DatasetWalker`, stopping at Pixel Data) and parsed with dcmjs; frames are
 * read with positional reads: native frames at `offset + (k - 1) * frameLength`, encapsulated
 * ones through the fragment item headers (8 bytes each) and the Basic Offset Table.
 *
 * Files this cannot read that way (deflated or big endian transfer syntax, a header above
 * `maxHeaderBytes`, no Part 10 preamble) answer `null`: callers then parse the whole file as
 * before. Elements after Pixel Data (trailing padding, digital signatures) are not in the header:
 * `readTrailing` parses them on their own.
 */
import { open, type FileHandle } from 'node:fs/promises';
import { DatasetWalker, DatasetError, type PixelDataPosition } from './dataset-walker.ts';
import { num, parsePart10, type JsonDataset, type ParsedFile } from './dicom-file.ts';

const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';
/** Transfer syntaxes whose dataset is little endian, not deflated: implicit, explicit, and every encapsulated one. */
const walkable = (ts: string) => ts === IMPLICIT_LE || ts === EXPLICIT_LE || (ts.startsWith('1.2.840.10008.1.2.') && ts !== '1.2.840.10008.1.2.1.99' && ts !== '1.2.840.10008.1.2.2');
const NATIVE = new Set([IMPLICIT_LE, EXPLICIT_LE, '1.2.840.10008.1.2.2']);
const ITEM = 0xfffee000;
const SEQ_DELIM = 0xfffee0dd;

export class InstanceReadError extends Error {
  override name = 'InstanceReadError';
  constructor(readonly kind: 'no-pixel-data' | 'no-frame' | 'corrupt' | 'parse-whole', message: string) {
    super(message);
  }
}

export interface InstanceLayout {
  /** dcmjs parse of the file up to Pixel Data (meta and dataset). */
  header: ParsedFile;
  /** Pixel Data, in file offsets; null when the instance has none. */
  pixel: (Omit<PixelDataPosition, 'headerOffset'> & { headerOffset: number }) | null;
  fileSize: number;
  /** Where the dataset starts (the end of the file meta group). */
  datasetStart: number;
}

/**
 * The header and where Pixel Data is, reading only the bytes before it (in `chunk`-byte reads).
 * Null when the file is not one this reader handles (see the module comment): parse it whole.
 * Throws DatasetError when the structure before Pixel Data is broken.
 */
export async function readLayout(path: string, opts: { maxHeaderBytes?: number; chunk?: number } = {}): Promise<InstanceLayout | null> {
  const fh = await open(path, 'r');
  try {
    return await layoutOf(fh, opts.maxHeaderBytes ?? 16 * 1024 * 1024, opts.chunk ?? 64 * 1024);
  } finally {
    await fh.close();
  }
}

async function layoutOf(fh: FileHandle, maxHeader: number, chunk: number): Promise<InstanceLayout | null> {
  const fileSize = (await fh.stat()).size;
  const first = Buffer.alloc(Math.min(fileSize, Math.max(chunk, 4096)));
  await readFully(fh, first, 0);
  if (first.length < 144 || first.toString('latin1', 128, 132) !== 'DICM') return null;
  // File meta (group 0002, explicit VR little endian): its transfer syntax and where it ends.
  let pos = 132;
  let ts = '';
  while (pos + 8 <= first.length && first.readUInt16LE(pos) === 0x0002) {
    const elem = first.readUInt16LE(pos + 2);
    const vr = first.toString('latin1', pos + 4, pos + 6);
    const long = vr === 'OB' || vr === 'OW' || vr === 'UN' || vr === 'SQ' || vr === 'UT' || vr === 'UC' || vr === 'UR';
    const len = long ? (pos + 12 <= first.length ? first.readUInt32LE(pos + 8) : -1) : first.readUInt16LE(pos + 6);
    const head = long ? 12 : 8;
    if (len < 0 || len === 0xffffffff || pos + head + len > first.length) return null;
    if (elem === 0x0010) ts = first.toString('latin1', pos + head, pos + head + len).replace(/[\0 ]+$/, '');
    pos += head + len;
  }
  if (!ts || !walkable(ts)) return null;
  const datasetStart = pos;
  const walker = new DatasetWalker({ explicitVr: ts !== IMPLICIT_LE, stopAtPixelData: true });
  let at = datasetStart;
  let buf = first.subarray(datasetStart);
  for (;;) {
    walker.push(buf);
    at += buf.length;
    if (walker.pixelData || at >= fileSize) break;
    if (at - datasetStart > maxHeader) return null;
    buf = Buffer.alloc(Math.min(chunk, fileSize - at));
    await readFully(fh, buf, at);
  }
  const p = walker.pixelData;
  if (!p) walker.finish(); // no Pixel Data: the dataset must end on an element boundary
  const headerEnd = p ? datasetStart + p.headerOffset : fileSize;
  // Up to and with Pixel Data's own header: dcmjs stops there (ending the bytes before it makes
  // it read past the end and print a warning).
  const headerBytes = Buffer.alloc(p ? datasetStart + p.valueOffset : fileSize);
  await readFully(fh, headerBytes, 0);
  let header: ParsedFile;
  try {
    header = parsePart10(headerBytes, { untilPixelData: true });
  } catch (e) {
    // dcmjs trusts what the walk does not check (the meta group length, value contents).
    throw new DatasetError(`the header cannot be parsed: ${(e as Error).message}`, 0);
  }
  delete header.dict['7FE00010'];
  if (!p) return { header, pixel: null, fileSize, datasetStart };
  const pixel = { headerOffset: headerEnd, valueOffset: datasetStart + p.valueOffset, length: p.length, vr: p.vr };
  if (pixel.length !== null && pixel.valueOffset + pixel.length > fileSize) throw new DatasetError(`pixel data declares ${pixel.length} bytes, the file holds ${fileSize - pixel.valueOffset}`, pixel.valueOffset);
  return { header, pixel, fileSize, datasetStart };
}

async function readFully(fh: FileHandle, into: Buffer, position: number): Promise<void> {
  let got = 0;
  while (got < into.length) {
    const { bytesRead } = await fh.read(into, got, into.length - got, position + got);
    if (bytesRead === 0) throw new DatasetError(`file ends at byte ${position + got}, ${into.length - got} bytes short`, position + got);
    got += bytesRead;
  }
}

/** Frame length of native pixel data (rows x columns x samples x bytes), 0 when the header lacks them. */
export function nativeFrameLength(h: ParsedFile): number {
  const d = h.dict;
  const n = (tag: string) => num(d, tag) ?? 0;
  const bits = n('00280100');
  // 1-bit data packs frames bit by bit; not cut into frames here.
  if (bits < 8) return 0;
  return n('00280010') * n('00280011') * Math.max(1, n('00280002')) * (bits / 8);
}

export const frameCount = (h: ParsedFile) => Math.max(1, num(h.dict, '00280008') ?? 1);

/**
 * Frames `wanted` (numbered from 1) as stored: native frames cut at their position;
 * encapsulated ones as their compressed bytes (all fragments of a frame), found through the
 * Basic Offset Table, else one fragment per frame when there are as many fragments as frames,
 * else all fragments for a single-frame image. Throws InstanceReadError when a frame is not there
 * ('parse-whole' when frames can only be told apart from their codestreams: parse the file).
 */
export async function readFrames(path: string, layout: InstanceLayout, wanted: number[]): Promise<Buffer[]> {
  const fh = await open(path, 'r');
  try {
    const out: Buffer[] = [];
    for (const spans of await frameSpans(fh, layout, wanted)) {
      const parts: Buffer[] = [];
      for (const f of spans) {
        const b = Buffer.alloc(f.length);
        await readFully(fh, b, f.offset);
        parts.push(b);
      }
      out.push(parts.length === 1 ? parts[0]! : Buffer.concat(parts));
    }
    return out;
  } finally {
    await fh.close();
  }
}

/**
 * Where frames `wanted` lie in the file (see readFrames), one list of spans per frame, to send
 * them without reading them into memory. Native spans are not checked against the file's size.
 */
export async function frameSpans(fh: FileHandle, layout: InstanceLayout, wanted: number[]): Promise<Span[][]> {
  const px = layout.pixel;
  if (!px) throw new InstanceReadError('no-pixel-data', 'the instance has no pixel data');
  const count = frameCount(layout.header);
  if (NATIVE.has(layout.header.transferSyntaxUid)) {
    const len = nativeFrameLength(layout.header);
    if (len <= 0 || px.length === null) throw new InstanceReadError('corrupt', 'pixel data or image geometry missing');
    const have = Math.min(count, Math.floor(px.length / len));
    const missing = wanted.filter((k) => k > have);
    if (missing.length) throw new InstanceReadError('no-frame', `frame(s) ${missing.join(',')} not in the instance (it has ${have})`);
    return wanted.map((k) => [{ offset: px.valueOffset + (k - 1) * len, length: len }]);
  }
  return encapsulatedFrames(fh, px.valueOffset, layout.fileSize, count, wanted);
}

/**
 * Where the whole Pixel Data value of a native (uncompressed) instance lies in its file, for
 * sending it straight from the file (a cine's value is hundreds of MB). Same errors as
 * readNativePixelData.
 */
export function nativePixelDataRange(layout: InstanceLayout): { offset: number; length: number } {
  const px = layout.pixel;
  if (!px) throw new InstanceReadError('no-pixel-data', 'the instance has no pixel data');
  if (!NATIVE.has(layout.header.transferSyntaxUid) || px.length === null) throw new InstanceReadError('parse-whole', 'encapsulated pixel data');
  if (px.valueOffset + px.length > layout.fileSize) throw new InstanceReadError('corrupt', `Pixel Data declares ${px.length} bytes past the end of the file`);
  return { offset: px.valueOffset, length: px.length };
}

/** Trailing elements above this size are left to the whole-file parse. */
const MAX_TRAILING = 16 * 1024 * 1024;

/**
 * The elements after Pixel Data (Data Set Trailing Padding, Digital Signatures, the rare private
 * group above 7FE0), parsed on their own: the file meta followed by the bytes after Pixel Data's
 * value (native) or its sequence delimiter (encapsulated, found through the item headers). Empty
 * when Pixel Data ends the file. InstanceReadError 'corrupt', or 'parse-whole' for more than
 * 16 MiB of them; DatasetError when they cannot be parsed.
 */
export async function readTrailing(path: string, layout: InstanceLayout): Promise<JsonDataset> {
  const px = layout.pixel;
  if (!px) return {};
  const fh = await open(path, 'r');
  try {
    let end: number;
    if (px.length !== null) end = px.valueOffset + px.length;
    else {
      const head = Buffer.alloc(8);
      // With a Basic Offset Table, from the last frame's first fragment (a cine's 300 item
      // headers are 300 reads); without one, or if it does not point at an item, from the start.
      let pos = px.valueOffset;
      const bot = await itemAt(fh, head, pos, layout.fileSize);
      if (bot.tag === ITEM && bot.len >= 4 && bot.len % 4 === 0) {
        const last = Buffer.alloc(4);
        await readFully(fh, last, pos + 8 + bot.len - 4);
        const at = pos + 8 + bot.len + last.readUInt32LE(0);
        if (at + 8 <= layout.fileSize) {
          await readFully(fh, head, at);
          if (((head.readUInt16LE(0) << 16) >>> 0) + head.readUInt16LE(2) === ITEM) pos = at;
        }
      }
      for (; ;) {
        const it = await itemAt(fh, head, pos, layout.fileSize);
        if (it.tag === SEQ_DELIM) {
          end = pos + 8;
          break;
        }
        pos += 8 + it.len;
      }
    }
    if (end >= layout.fileSize) return {};
    if (layout.fileSize - end > MAX_TRAILING) throw new InstanceReadError('parse-whole', `${layout.fileSize - end} bytes after Pixel Data`);
    const bytes = Buffer.alloc(layout.datasetStart + layout.fileSize - end);
    await readFully(fh, bytes.subarray(0, layout.datasetStart), 0);
    await readFully(fh, bytes.subarray(layout.datasetStart), end);
    // The walk checks their structure first (dcmjs reads past a wrong length with a warning).
    const walker = new DatasetWalker({ explicitVr: layout.header.transferSyntaxUid !== IMPLICIT_LE, stopAtPixelData: false });
    walker.push(bytes.subarray(layout.datasetStart));
    walker.finish();
    try {
      return parsePart10(bytes).dict;
    } catch (e) {
      throw new DatasetError(`the elements after Pixel Data cannot be parsed: ${(e as Error).message}`, end);
    }
  } finally {
    await fh.close();
  }
}

/** A run of bytes in a file. */
export interface Span { offset: number; length: number }

/**
 * Where the Pixel Data element's bulk data lies in the file, to send it without reading it into
 * memory: native, the value itself; encapsulated, every fragment's bytes in order (the Basic
 * Offset Table item and the item headers left out: the bytes a whole-file parse joins). Reads
 * only the item headers. InstanceReadError 'no-pixel-data' or 'corrupt'.
 */
export async function pixelDataSpans(fh: FileHandle, layout: InstanceLayout): Promise<Span[]> {
  const px = layout.pixel;
  if (!px) throw new InstanceReadError('no-pixel-data', 'the instance has no pixel data');
  if (NATIVE.has(layout.header.transferSyntaxUid)) return [nativePixelDataRange(layout)];
  if (px.length !== null) throw new InstanceReadError('corrupt', 'encapsulated pixel data with a defined length');
  const head = Buffer.alloc(8);
  const first = await itemAt(fh, head, px.valueOffset, layout.fileSize);
  if (first.tag !== ITEM) throw new InstanceReadError('corrupt', 'encapsulated pixel data without a Basic Offset Table item');
  const spans: Span[] = [];
  for (let pos = px.valueOffset + 8 + first.len; ;) {
    const it = await itemAt(fh, head, pos, layout.fileSize);
    if (it.tag === SEQ_DELIM) return spans;
    spans.push({ offset: pos + 8, length: it.len });
    pos += 8 + it.len;
  }
}

/**
 * The whole Pixel Data value of a native (uncompressed) instance, read by position: the same bytes
 * a whole-file parse gives as its value. InstanceReadError 'parse-whole' for encapsulated pixel data
 * (its bulk data is what the whole-file parse makes of the fragments).
 */
export async function readNativePixelData(path: string, layout: InstanceLayout): Promise<Buffer> {
  const r = nativePixelDataRange(layout);
  const fh = await open(path, 'r');
  try {
    const b = Buffer.alloc(r.length);
    await readFully(fh, b, r.offset);
    return b;
  } finally {
    await fh.close();
  }
}

type Fragment = Span;

/** One item header (tag and length) at `pos`, checked to lie inside the file. */
async function itemAt(fh: FileHandle, head: Buffer, pos: number, fileSize: number): Promise<{ tag: number; len: number }> {
  if (pos + 8 > fileSize) throw new InstanceReadError('corrupt', `encapsulated pixel data ends without a sequence delimiter (byte ${pos})`);
  await readFully(fh, head, pos);
  const tag = ((head.readUInt16LE(0) << 16) >>> 0) + head.readUInt16LE(2);
  const len = head.readUInt32LE(4);
  if (tag === SEQ_DELIM) return { tag, len };
  if (tag !== ITEM || len === 0xffffffff) throw new InstanceReadError('corrupt', `expected a fragment item at byte ${pos}`);
  if (pos + 8 + len > fileSize) throw new InstanceReadError('corrupt', `fragment at byte ${pos} declares ${len} bytes past the end of the file`);
  return { tag, len };
}

/**
 * The fragments of each wanted frame. With a filled Basic Offset Table only the item headers of
 * the wanted frames are read (a cine's frame k costs its own few reads, not one per fragment of
 * the whole cine); without one every item header is read to count the fragments.
 */
async function encapsulatedFrames(fh: FileHandle, start: number, fileSize: number, count: number, wanted: number[]): Promise<Fragment[][]> {
  const head = Buffer.alloc(8);
  const first = await itemAt(fh, head, start, fileSize);
  if (first.tag !== ITEM) throw new InstanceReadError('corrupt', 'encapsulated pixel data without a Basic Offset Table item');
  const bot = { offset: start + 8, length: first.len };
  const firstItem = bot.offset + bot.length;
  if (count > 1 && bot.length >= 4 && bot.length % 4 === 0) {
    // Offsets of each frame's first fragment item, from the first fragment item.
    const table = Buffer.alloc(bot.length);
    await readFully(fh, table, bot.offset);
    const starts = Array.from({ length: bot.length / 4 }, (_, k) => firstItem + table.readUInt32LE(k * 4));
    if (starts[0] !== firstItem) throw new InstanceReadError('corrupt', 'the Basic Offset Table does not start at the first fragment');
    for (let k = 1; k < starts.length; k++) {
      if (starts[k]! <= starts[k - 1]!) throw new InstanceReadError('corrupt', 'the Basic Offset Table names a frame without a fragment');
    }
    const missing = wanted.filter((k) => k > starts.length);
    if (missing.length) throw new InstanceReadError('no-frame', `frame(s) ${missing.join(',')} not in the instance (it has ${starts.length})`);
    const out: Fragment[][] = [];
    for (const k of wanted) {
      const end = k < starts.length ? starts[k]! : Infinity;
      const frame: Fragment[] = [];
      let pos = starts[k - 1]!;
      while (pos < end) {
        const it = await itemAt(fh, head, pos, fileSize);
        if (it.tag === SEQ_DELIM) {
          if (end !== Infinity) throw new InstanceReadError('corrupt', `the Basic Offset Table names frame ${k + 1} past the last fragment`);
          break;
        }
        frame.push({ offset: pos + 8, length: it.len });
        pos += 8 + it.len;
      }
      if (pos !== end && end !== Infinity) throw new InstanceReadError('corrupt', `the Basic Offset Table's frame ${k + 1} does not start at a fragment item`);
      if (!frame.length) throw new InstanceReadError('corrupt', `the Basic Offset Table names frame ${k} without a fragment`);
      out.push(frame);
    }
    return out;
  }
  const fragments: Fragment[] = [];
  for (let pos = firstItem; ;) {
    const it = await itemAt(fh, head, pos, fileSize);
    if (it.tag === SEQ_DELIM) break;
    fragments.push({ offset: pos + 8, length: it.len });
    pos += 8 + it.len;
  }
  let frames: Fragment[][];
  if (fragments.length === 0) frames = [];
  else if (count === 1) frames = [fragments];
  else if (fragments.length === count) frames = fragments.map((f) => [f]);
  // More fragments than frames and no offset table: which fragment starts a frame is only known
  // from the codestreams; the caller parses the whole file instead.
  else throw new InstanceReadError('parse-whole', `${fragments.length} fragments for ${count} frames and no Basic Offset Table`);
  const missing = wanted.filter((k) => k > frames.length);
  if (missing.length) throw new InstanceReadError('no-frame', `frame(s) ${missing.join(',')} not in the instance (it has ${frames.length})`);
  return wanted.map((k) => frames[k - 1]!);
}

/**
 * The instance as `renderPreview` needs it: the header and frame 1 only (the Pixel Data value
 * holds that frame). Null when this reader cannot (the caller parses the whole file). A broken
 * structure before or inside Pixel Data is a RenderError-worthy DatasetError/InstanceReadError.
 */
export async function readFirstFrame(path: string): Promise<ParsedFile | null> {
  return readFrame(path, 1);
}

/**
 * As readFirstFrame, with frame `k` (from 1) as the Pixel Data value. InstanceReadError 'no-frame'
 * when the instance has fewer frames.
 */
export async function readFrame(path: string, k: number): Promise<ParsedFile | null> {
  const layout = await readLayout(path);
  if (!layout) return null;
  if (!layout.pixel) return layout.header;
  // No frame geometry (not an image, 1-bit): the header alone lets the renderer say why.
  if (NATIVE.has(layout.header.transferSyntaxUid) && nativeFrameLength(layout.header) <= 0) return layout.header;
  let frame: Buffer;
  try {
    [frame] = (await readFrames(path, layout, [k])) as [Buffer];
  } catch (e) {
    if (e instanceof InstanceReadError && e.kind === 'parse-whole') return null;
    throw e;
  }
  const value = frame.buffer.slice(frame.byteOffset, frame.byteOffset + frame.byteLength);
  return { ...layout.header, dict: { ...layout.header.dict, '7FE00010': { vr: layout.pixel.vr || 'OW', Value: [value] } } };
}
