/**
 * Reading a stored Part 10 file with dcmjs (already a dependency through dcmjs-dimse).
 * dcmjs ships no typings: it is loaded with `require` and typed here by the small subset used.
 */
import { createRequire } from 'node:module';
import { readFile } from 'node:fs/promises';

/** One element of the DICOM JSON model as dcmjs returns it. */
export interface JsonElement {
  vr: string;
  Value?: unknown[];
  InlineBinary?: string;
  BulkDataURI?: string;
  [k: string]: unknown;
}
export type JsonDataset = Record<string, JsonElement>;

interface Dcmjs {
  data: { DicomMessage: { readFile(buffer: ArrayBuffer, options?: { ignoreErrors?: boolean; untilTag?: string }): { meta: JsonDataset; dict: JsonDataset } } };
}
const dcmjs = createRequire(import.meta.url)('dcmjs') as Dcmjs;

export interface ParsedFile {
  meta: JsonDataset;
  dict: JsonDataset;
  transferSyntaxUid: string;
}

export function parsePart10(buf: Buffer, opts: { untilPixelData?: boolean } = {}): ParsedFile {
  const ab = buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength) as ArrayBuffer;
  const r = dcmjs.data.DicomMessage.readFile(ab, { ignoreErrors: true, ...(opts.untilPixelData ? { untilTag: '7FE00010' } : {}) });
  return { meta: r.meta, dict: r.dict, transferSyntaxUid: str(r.meta, '00020010') ?? '' };
}

export async function readPart10(path: string, opts: { untilPixelData?: boolean } = {}): Promise<ParsedFile> {
  return parsePart10(await readFile(path), opts);
}

/** First value of an element as a trimmed string (PN: the alphabetic, else ideographic group). */
export function str(ds: JsonDataset, tag: string): string | undefined {
  const v = ds[tag]?.Value?.[0];
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'object') {
    const pn = v as { Alphabetic?: string; Ideographic?: string };
    return (pn.Alphabetic || pn.Ideographic || '').replace(/[\0 ]+$/, '') || undefined;
  }
  return String(v).replace(/[\0 ]+$/, '').trim() || undefined;
}

export function num(ds: JsonDataset, tag: string): number | undefined {
  const s = str(ds, tag);
  if (s === undefined) return undefined;
  const n = Number(s.split('\\')[0]);
  return Number.isFinite(n) ? n : undefined;
}
