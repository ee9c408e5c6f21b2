/**
 * STOW-RS (DICOM PS3.18 §10.5): `POST .../studies[/{study}]` with a body of
 * `multipart/related; type="application/dicom"`, one Part 10 instance per part. Each part
 * goes through the same archive path as edge uploads (sha256, temp file, fsync, rename,
 * index), so a third party (the district hospital's modality, a report system) stores
 * instances the same durable way. The answer is the Store Instances Response Module in
 * DICOM JSON: ReferencedSOPSequence for stored, FailedSOPSequence (with a reason) for
 * refused instances; 200 all stored, 202 some failed, 409 none stored.
 *
 * multipart/related is parsed here by hand (a boundary scan over one buffer): the body is
 * bounded by `maxBody`, and the usual multipart libraries (busboy, formidable) only speak
 * multipart/form-data.
 */
import { createHash } from 'node:crypto';
import { parsePart10, str } from '../../contracts/dicom/dicom-file.ts';
import { ArchiveError, type Archive } from './archive.ts';

export class MultipartError extends Error {
  override name = 'MultipartError';
}

/** Splits a multipart body into its parts (headers lower-cased, body bytes). */
export function parseMultipartRelated(contentType: string, body: Buffer): { headers: Record<string, string>; body: Buffer }[] {
  const ct = /^\s*multipart\/related\s*;(.*)$/i.exec(contentType);
  if (!ct) throw new MultipartError('Content-Type must be multipart/related; type="application/dicom"; boundary=...');
  const params = Object.fromEntries([...ct[1]!.matchAll(/([a-z-]+)\s*=\s*(?:"([^"]*)"|([^;\s]*))/gi)].map((m) => [m[1]!.toLowerCase(), m[2] ?? m[3] ?? '']));
  const type = params.type?.toLowerCase();
  if (type && type !== 'application/dicom') throw new MultipartError(`multipart type ${type} is not supported: send application/dicom parts (Part 10 files)`);
  const boundary = params.boundary;
  if (!boundary || boundary.length > 70) throw new MultipartError('multipart boundary missing or longer than 70 characters');
  const delim = Buffer.from(`--${boundary}`);
  const parts: { headers: Record<string, string>; body: Buffer }[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) throw new MultipartError('no multipart boundary found in the body');
  for (;;) {
    pos += delim.length;
    if (body.subarray(pos, pos + 2).toString() === '--') break; // closing delimiter
    if (body.subarray(pos, pos + 2).toString() === '\r\n') pos += 2;
    const headerEnd = body.indexOf('\r\n\r\n', pos);
    if (headerEnd < 0) throw new MultipartError(`part ${parts.length + 1}: headers not terminated by an empty line`);
    const headers: Record<string, string> = {};
    for (const line of body.subarray(pos, headerEnd).toString('latin1').split('\r\n')) {
      const i = line.indexOf(':');
      if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headerEnd + 4);
    if (next < 0) throw new MultipartError(`part ${parts.length + 1}: no closing boundary (body truncated?)`);
    parts.push({ headers, body: body.subarray(headerEnd + 4, next) });
    pos = next + 2;
  }
  return parts;
}

/** DICOM Failure Reason codes used in FailedSOPSequence (PS3.4 Annex GG / B.2.3). */
const FAIL = { processing: 0x0110, classNotSupported: 0x0122, refused: 0xa700, mismatch: 0xa900, cannotUnderstand: 0xc000 } as const;

type J = Record<string, { vr: string; Value?: unknown[] }>;

export interface StowResult {
  status: 200 | 202 | 409;
  body: J;
  stored: number;
  failed: number;
}

/** Stores every part; never throws for one bad part (it is listed as failed). */
export async function stow(archive: Archive, input: { clinicId: string; contentType: string; body: Buffer; study?: string; base: string }): Promise<StowResult> {
  const parts = parseMultipartRelated(input.contentType, input.body);
  const ok: J[] = [];
  const failed: J[] = [];
  const fail = (sopClass: string, sop: string, reason: number) => failed.push({
    '00081150': { vr: 'UI', Value: sopClass ? [sopClass] : undefined }, '00081155': { vr: 'UI', Value: sop ? [sop] : undefined }, '00081197': { vr: 'US', Value: [reason] },
  });
  for (const p of parts) {
    const type = (p.headers['content-type'] ?? 'application/dicom').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/dicom') { fail('', '', FAIL.classNotSupported); continue; }
    let sop = '';
    let sopClass = '';
    let study = '';
    try {
      const f = parsePart10(p.body, { untilPixelData: true });
      sop = str(f.dict, '00080018') ?? '';
      sopClass = str(f.dict, '00080016') ?? str(f.meta, '00020002') ?? '';
      study = str(f.dict, '0020000D') ?? '';
    } catch {
      fail('', '', FAIL.cannotUnderstand);
      continue;
    }
    if (!sop) { fail(sopClass, '', FAIL.cannotUnderstand); continue; }
    // PS3.18: with a study in the URL, instances of another study are refused.
    if (input.study && study !== input.study) { fail(sopClass, sop, FAIL.mismatch); continue; }
    try {
      await archive.put({
        clinicId: input.clinicId, sopInstanceUid: sop, sha256: createHash('sha256').update(p.body).digest('hex'),
        body: new Blob([new Uint8Array(p.body)]).stream(),
      });
      ok.push({
        '00081150': { vr: 'UI', Value: [sopClass] }, '00081155': { vr: 'UI', Value: [sop] },
        '00081190': { vr: 'UR', Value: [`${input.base}/studies/${study}/series/${(await seriesOf(archive, sop))}/instances/${sop}`] },
      });
    } catch (e) {
      if (!(e instanceof ArchiveError)) throw e;
      fail(sopClass, sop, e.status === 409 ? FAIL.refused : e.status === 400 ? FAIL.cannotUnderstand : FAIL.processing);
    }
  }
  const body: J = {};
  if (ok.length) body['00081199'] = { vr: 'SQ', Value: ok };
  if (failed.length) body['00081198'] = { vr: 'SQ', Value: failed };
  const status = failed.length === 0 ? 200 : ok.length ? 202 : 409;
  return { status, body, stored: ok.length, failed: failed.length };
}

async function seriesOf(archive: Archive, sop: string): Promise<string> {
  return (await archive.instance(sop))?.seriesInstanceUid ?? '';
}
