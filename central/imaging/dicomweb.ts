/**
 * DICOMweb over the archive: QIDO-RS (studies, series, instances; DICOM JSON), WADO-RS
 * (instances as multipart/related application/dicom, byte-identical to what the clinic sent or
 * transcoded to Explicit VR Little Endian as the Accept header asks, accept.ts; metadata JSON
 * with BulkDataURI for pixel data) and a rendered PNG.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { IndexedInstance, SeriesSummary, StudySummary } from './index-store.ts';
import { readPart10, type JsonDataset, type JsonElement, type ParsedFile } from '../../contracts/dicom/dicom-file.ts';
import { frameSpans, InstanceReadError, pixelDataSpans, readLayout, readTrailing, type InstanceLayout, type Span } from '../../contracts/dicom/instance-reader.ts';
import { isDatasetError } from '../../contracts/dicom/dataset-walker.ts';
import { EXPLICIT_LE } from '../../contracts/dicom/transcode.ts';
import { partType } from './accept.ts';

type J = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;
const v = (vr: string, x: unknown): { vr: string; Value?: unknown[] } => (x === null || x === undefined || x === '' ? { vr } : { vr, Value: [x] });
const pn = (x: string | null) => (x ? { vr: 'PN', Value: [{ Alphabetic: x }] } : { vr: 'PN' });

export type { Query } from './index-store.ts';

/** QIDO-RS studies as DICOM JSON. */
export function studiesJson(list: StudySummary[], base: string): J[] {
  return list.map((r) => ({
    '00080020': v('DA', r.studyDate), '00080030': v('TM', r.studyTime), '00080050': v('SH', r.accessionNumber),
    '00080061': { vr: 'CS', Value: r.modalities }, '00081030': v('LO', r.studyDescription),
    '00081190': v('UR', `${base}/studies/${r.studyInstanceUid}`),
    '00100010': pn(r.patientName), '00100020': v('LO', r.patientId), '00100030': v('DA', r.patientBirthDate), '00100040': v('CS', r.patientSex),
    '0020000D': v('UI', r.studyInstanceUid), '00201206': v('IS', r.series), '00201208': v('IS', r.instances),
    // Private-free extension: the clinic that sent the study (Institution Name would be a guess).
    '00080080': v('LO', r.clinicId),
  }));
}

/** QIDO-RS series as DICOM JSON. */
export function seriesJson(list: SeriesSummary[], base: string): J[] {
  return list.map((r) => ({
    '00080060': v('CS', r.modality), '0020000D': v('UI', r.studyInstanceUid), '0020000E': v('UI', r.seriesInstanceUid), '00200011': v('IS', r.seriesNumber),
    '00201209': v('IS', r.instances), '00081190': v('UR', `${base}/studies/${r.studyInstanceUid}/series/${r.seriesInstanceUid}`),
  }));
}

export function instanceJson(i: IndexedInstance, base: string): J {
  return {
    '00080016': v('UI', i.sopClassUid), '00080018': v('UI', i.sopInstanceUid), '00080060': v('CS', i.modality), '0020000D': v('UI', i.studyInstanceUid),
    '0020000E': v('UI', i.seriesInstanceUid), '00200013': v('IS', i.instanceNumber), '00280010': v('US', i.rows), '00280011': v('US', i.columns),
    '00280008': v('IS', i.numberOfFrames), '00081190': v('UR', `${base}/studies/${i.studyInstanceUid}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}`),
  };
}

/**
 * The stored file's header and Pixel Data position, read without the pixel data
 * (contracts/dicom/instance-reader.ts); null when that reader cannot (then the file is parsed whole).
 * A file whose structure is broken is a 404 with the reason, not a 500.
 */
async function layout(i: IndexedInstance): Promise<InstanceLayout | null> {
  try {
    return await readLayout(i.path);
  } catch (e) {
    if (isDatasetError(e) || e instanceof InstanceReadError) throw new FrameError(404, `the stored file cannot be read: ${e.message}`);
    throw e;
  }
}

/** The elements after Pixel Data; null when only the whole-file parse can tell them. */
async function trailingOf(i: IndexedInstance, l: InstanceLayout): Promise<JsonDataset | null> {
  try {
    return await readTrailing(i.path, l);
  } catch (e) {
    if (isDatasetError(e) || e instanceof InstanceReadError) return null;
    throw e;
  }
}

/** Full metadata of an instance (DICOM JSON model); binary values become BulkDataURIs. */
export async function instanceMetadata(i: IndexedInstance, base: string): Promise<JsonDataset> {
  // A broken structure: what dcmjs makes of the whole file (lenient), as before.
  const l = await layout(i).catch((e: unknown) => { if (e instanceof FrameError) return null; throw e; });
  let f: ParsedFile;
  const trailing = l ? await trailingOf(i, l) : null;
  if (l && trailing) {
    // Pixel Data is named, not read: its BulkDataURI is all the metadata carries of it. The
    // elements after it (trailing padding, signatures) are parsed on their own.
    f = l.pixel ? { ...l.header, dict: { ...l.header.dict, '7FE00010': { vr: l.pixel.vr || 'OW', Value: [new ArrayBuffer(0)] }, ...trailing } } : l.header;
  } else {
    f = await readPart10(i.path);
  }
  const uri = `${base}/studies/${i.studyInstanceUid}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}`;
  const clean = (ds: JsonDataset, path: string): JsonDataset => {
    const out: JsonDataset = {};
    for (const [tag, el] of Object.entries(ds)) {
      if (!/^[0-9A-F]{8}$/i.test(tag)) continue;
      const e: JsonElement = { vr: el.vr };
      if (el.vr === 'SQ') e.Value = (el.Value ?? []).map((item, n) => clean(item as JsonDataset, `${path}${tag}.${n}.`));
      else if (el.Value?.some((x) => x instanceof ArrayBuffer || ArrayBuffer.isView(x))) e.BulkDataURI = `${uri}/bulkdata/${path}${tag}`;
      else if (el.Value !== undefined) e.Value = el.Value.map((x) => (typeof x === 'string' ? x.replace(/[\0 ]+$/, '') : x));
      out[tag.toUpperCase()] = e;
    }
    return out;
  };
  return clean(f.dict, '');
}

/**
 * One part of a WADO-RS retrieve: the stored file as it is, or (`transcoded`) the bytes given
 * instead, made when the part is sent (one instance in memory at a time).
 */
export interface DicomPart { file: IndexedInstance; transcoded?: () => Promise<Buffer> }

/**
 * multipart/related; type="application/dicom" with the instances, streamed in order; each part
 * names its transfer syntax. A transcoding that fails after the answer began (only in a study's
 * or series' retrieve; a single instance is transcoded before answering) ends the body with an
 * error: the client sees the response cut, and `onPartError` is told.
 */
export function multipartDicom(files: DicomPart[], onPartError?: (f: IndexedInstance, e: unknown) => void): { body: ReadableStream<Uint8Array>; contentType: string } {
  const boundary = `dpc-${randomBytes(12).toString('hex')}`;
  const head = (f: IndexedInstance, ts: string, length: number) =>
    Buffer.from(`--${boundary}\r\nContent-Type: ${partType('application/dicom', ts)}\r\nContent-Length: ${length}\r\nContent-Location: /studies/${f.studyInstanceUid}/series/${f.seriesInstanceUid}/instances/${f.sopInstanceUid}\r\n\r\n`);
  async function* parts() {
    for (const { file: f, transcoded } of files) {
      if (transcoded) {
        let b: Buffer;
        try {
          b = await transcoded();
        } catch (e) {
          onPartError?.(f, e);
          throw e;
        }
        yield head(f, EXPLICIT_LE, b.length);
        yield b;
      } else {
        yield head(f, f.transferSyntaxUid, f.size);
        for await (const chunk of createReadStream(f.path)) yield chunk as Buffer;
      }
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return { body: Readable.toWeb(Readable.from(parts())) as ReadableStream<Uint8Array>, contentType: `multipart/related; type="application/dicom"; boundary=${boundary}` };
}

export class FrameError extends Error {
  override name = 'FrameError';
  constructor(readonly status: 400 | 404, message: string) {
    super(message);
  }
}

const toBuf = (x: unknown): Buffer | null =>
  x instanceof ArrayBuffer ? Buffer.from(x) : ArrayBuffer.isView(x) ? Buffer.from(x.buffer, x.byteOffset, x.byteLength) : null;

/**
 * A part sent straight from an open file: the bytes of `spans` in order, `length` in all. The
 * handle belongs to the body it is given to, which closes it after the last part that uses it is
 * sent, or when the response is abandoned.
 */
export interface FileRange { fh: FileHandle; spans: Span[]; length: number }
export type OctetPart = Buffer | FileRange;
const isRange = (p: OctetPart): p is FileRange => !Buffer.isBuffer(p);
/** Bytes read from a file range per pull: what one pull holds in memory. */
const RANGE_CHUNK = 1 << 20;

/**
 * One multipart/related body of binary parts (frames, bulk data), sent part by part: the parts are
 * not copied into one buffer (a cine's uncompressed Pixel Data is hundreds of MB), and a file
 * range is read up to 1 MiB at a time as the client takes it, so memory stays at one chunk per
 * response.
 */
export function multipartOctets(parts: OctetPart[], type: string): { body: ReadableStream<Uint8Array>; contentType: string; length: number } {
  const boundary = `dpc-${randomBytes(12).toString('hex')}`;
  const chunks: OctetPart[] = [];
  for (const p of parts) chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\nContent-Length: ${p.length}\r\n\r\n`), p, Buffer.from('\r\n'));
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  const length = chunks.reduce((n, c) => n + c.length, 0);
  // Parts may share a handle (the frames of one instance): how many parts still need each one.
  const uses = new Map<FileHandle, number>();
  for (const p of parts) if (isRange(p)) uses.set(p.fh, (uses.get(p.fh) ?? 0) + 1);
  let next = 0;
  // Position inside the file range being sent: its span, and bytes of that span already sent.
  let span = 0;
  let inSpan = 0;
  let sentOfRange = 0;
  const closeRanges = async () => {
    const open = [...uses].filter(([, n]) => n > 0).map(([fh]) => fh);
    uses.clear();
    chunks.length = 0;
    await Promise.all(open.map((fh) => fh.close().catch(() => undefined)));
  };
  const body = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const c = chunks[next];
      if (!c) return controller.close();
      if (!isRange(c)) {
        chunks[next++] = EMPTY; // sent: let it go
        return controller.enqueue(c);
      }
      try {
        const b = Buffer.allocUnsafe(Math.min(RANGE_CHUNK, c.length - sentOfRange));
        for (let got = 0; got < b.length;) {
          const s = c.spans[span];
          if (!s) throw new Error(`the part's spans hold ${sentOfRange + got} of its ${c.length} bytes`);
          if (inSpan === s.length) {
            span++;
            inSpan = 0;
            continue;
          }
          const { bytesRead } = await c.fh.read(b, got, Math.min(b.length - got, s.length - inSpan), s.offset + inSpan);
          // The archive's files are written once; one that shrank under us cannot be sent whole.
          if (bytesRead === 0) throw new Error(`stored file ended ${c.length - sentOfRange - got} bytes before the part's end`);
          got += bytesRead;
          inSpan += bytesRead;
        }
        sentOfRange += b.length;
        if (sentOfRange === c.length) {
          chunks[next++] = EMPTY;
          span = inSpan = sentOfRange = 0;
          const left = uses.get(c.fh)! - 1;
          uses.set(c.fh, left);
          if (left === 0) await c.fh.close(); // after the last part that uses it
        }
        controller.enqueue(b);
      } catch (e) {
        await closeRanges();
        controller.error(e);
      }
    },
    cancel: closeRanges,
  }, { highWaterMark: 1 });
  return { body, contentType: `multipart/related; type="${type}"; boundary=${boundary}`, length };
}
const EMPTY = Buffer.alloc(0);

const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);
/** Frames one WADO-RS frames request may list (an enhanced CT or MR multi-frame has a few thousand). */
const MAX_FRAMES_PER_REQUEST = 10_000;

/** The frame numbers of a WADO-RS frames request (from 1); FrameError 400 for a bad list. */
export function frameList(list: string): number[] {
  const wanted = list.split(',').map((s) => Number(s.trim()));
  if (!wanted.length || wanted.some((n) => !Number.isInteger(n) || n < 1)) throw new FrameError(400, `frame list "${list.slice(0, 80)}" must be positive integers separated by commas (frames start at 1)`);
  if (wanted.length > MAX_FRAMES_PER_REQUEST) throw new FrameError(400, `${wanted.length} frames asked in one request: at most ${MAX_FRAMES_PER_REQUEST}, ask in several`);
  return wanted;
}

/**
 * WADO-RS frames: frame numbers start at 1. Native (uncompressed) pixel data is cut into
 * frames of rows × columns × samples × bits/8 bytes; encapsulated pixel data (JPEG, RLE,
 * JPEG-LS, JPEG 2000) answers each frame's compressed bytes as stored, typed with its
 * transfer syntax (the route decodes them instead when the Accept header asks for native frames).
 */
export async function instanceFrames(i: IndexedInstance, list: string): Promise<{ frames: OctetPart[]; type: string }> {
  const wanted = frameList(list);
  // Only the frames asked for are read (a viewer asks for every frame of a cine, one by one).
  // They are sent from the file (one handle for all of them), not read into memory first.
  const l = await layout(i);
  if (l) {
    const type = NATIVE.has(l.header.transferSyntaxUid) ? 'application/octet-stream' : `application/octet-stream; transfer-syntax=${l.header.transferSyntaxUid}`;
    const fh = await open(i.path, 'r');
    try {
      const frames = await frameSpans(fh, l, wanted);
      await checkSpans(fh, frames.flat());
      return { frames: frames.map((spans) => ({ fh, spans, length: spans.reduce((n, s) => n + s.length, 0) })), type };
    } catch (e) {
      await fh.close();
      if (isDatasetError(e)) throw new FrameError(404, `the stored file cannot be read: ${e.message}`);
      if (!(e instanceof InstanceReadError)) throw e;
      if (e.kind !== 'parse-whole') throw new FrameError(404, e.message);
    }
  }
  const f = await readPart10(i.path);
  const values = f.dict['7FE00010']?.Value ?? [];
  if (!values.length) throw new FrameError(404, 'the instance has no pixel data');
  let all: Buffer[];
  let type = 'application/octet-stream';
  if (NATIVE.has(f.transferSyntaxUid)) {
    const d = f.dict;
    const n = (tag: string) => Number(d[tag]?.Value?.[0] ?? 0);
    const frameLen = n('00280010') * n('00280011') * Math.max(1, n('00280002')) * (Math.max(8, n('00280100')) / 8);
    const bytes = toBuf(values[0]);
    if (!bytes || frameLen <= 0) throw new FrameError(404, 'pixel data or image geometry missing');
    const count = Math.max(1, Number(d['00280008']?.Value?.[0] ?? 1));
    all = Array.from({ length: count }, (_, k) => bytes.subarray(k * frameLen, (k + 1) * frameLen)).filter((b) => b.length === frameLen);
  } else {
    all = values.map(toBuf).filter((b): b is Buffer => b !== null);
    type = `application/octet-stream; transfer-syntax=${f.transferSyntaxUid}`;
  }
  const missing = wanted.filter((k) => k > all.length);
  if (missing.length) throw new FrameError(404, `frame(s) ${missing.join(',')} not in the instance (it has ${all.length})`);
  return { frames: wanted.map((k) => all[k - 1]!), type };
}

/** The spans lie inside the file as it is now (InstanceReadError 'corrupt' if not). */
async function checkSpans(fh: FileHandle, spans: Span[]): Promise<void> {
  const size = (await fh.stat()).size;
  const end = spans.reduce((n, s) => Math.max(n, s.offset + s.length), 0);
  if (size < end) throw new InstanceReadError('corrupt', `the file is ${size} bytes, Pixel Data ends at byte ${end}`);
}

/**
 * The bytes of one binary element named by a metadata BulkDataURI path (`tag` or `SQtag.item.tag`).
 * Pixel Data comes as spans of the stored file (an open handle: give it to multipartOctets, which
 * closes it): native, its value; encapsulated, its fragments' bytes joined, as the whole-file
 * parse gives them. Everything else as a buffer.
 */
export async function instanceBulkData(i: IndexedInstance, path: string): Promise<OctetPart> {
  // Bulk data before Pixel Data (icons, overlays, LUTs) comes from the header alone, Pixel Data by
  // its position, elements after it from the bytes after it; the whole file only when those fail.
  const l = await layout(i);
  if (l && path.toUpperCase() === '7FE00010') {
    const fh = await open(i.path, 'r');
    try {
      const spans = await pixelDataSpans(fh, l);
      await checkSpans(fh, spans);
      return { fh, spans, length: spans.reduce((n, s) => n + s.length, 0) };
    } catch (e) {
      await fh.close();
      if (!(e instanceof InstanceReadError) && !isDatasetError(e)) throw e;
      if (e instanceof InstanceReadError && e.kind === 'no-pixel-data') throw new FrameError(404, `no binary value at ${path}`);
      throw new FrameError(404, `the stored file cannot be read: ${e.message}`);
    }
  } else if (l) {
    // Elements after Pixel Data (tags above 7FE00010) from the bytes after it, the rest from the header.
    const trailing = /^[0-9A-F]{8}$/i.test(path.split('.')[0]!) && path.split('.')[0]!.toUpperCase() > '7FE00010' ? await trailingOf(i, l) : l.header.dict;
    // Both are what the whole-file parse would give (the same dcmjs parse): a path not there is
    // not in the file either, and a bogus path never costs a parse of a whole cine.
    if (trailing) return bulkFrom(trailing, path);
  }
  return bulkFrom((await readPart10(i.path)).dict, path);
}

function bulkFrom(dict: JsonDataset, path: string): Buffer {
  const steps = path.split('.');
  let ds: JsonDataset = dict;
  for (let k = 0; k < steps.length - 1; k += 2) {
    const item = (ds[steps[k]!.toUpperCase()] ?? ds[steps[k]!.toLowerCase()])?.Value?.[Number(steps[k + 1])];
    if (!item || typeof item !== 'object') throw new FrameError(404, `no sequence item at ${steps.slice(0, k + 2).join('.')}`);
    ds = item as JsonDataset;
  }
  const last = steps[steps.length - 1]!;
  if (!/^[0-9A-F]{8}$/i.test(last)) throw new FrameError(400, `"${last}" is not a tag (8 hex digits)`);
  const el = ds[last.toUpperCase()] ?? ds[last.toLowerCase()];
  const parts = (el?.Value ?? []).map(toBuf).filter((b): b is Buffer => b !== null);
  if (!parts.length) throw new FrameError(404, `no binary value at ${path}`);
  return Buffer.concat(parts);
}
