/**
 * DICOMweb over the archive: QIDO-RS (studies, series, instances; DICOM JSON), WADO-RS
 * (instances as multipart/related application/dicom, byte-identical to what the clinic
 * sent; metadata JSON with BulkDataURI for pixel data) and a rendered PNG.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import type { Db } from '../../contracts/runtime/index.ts';
import { toInstances, type IndexedInstance } from './archive.ts';
import { readPart10, type JsonDataset, type JsonElement } from '../../contracts/dicom/dicom-file.ts';

type J = Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>;
const v = (vr: string, x: unknown): { vr: string; Value?: unknown[] } => (x === null || x === undefined || x === '' ? { vr } : { vr, Value: [x] });
const pn = (x: string | null) => (x ? { vr: 'PN', Value: [{ Alphabetic: x }] } : { vr: 'PN' });

export interface Query { [k: string]: string | undefined }

const KEYS: Record<string, string> = {
  '00100020': 'PatientID', '00100010': 'PatientName', '00080050': 'AccessionNumber', '00080020': 'StudyDate', '00080061': 'ModalitiesInStudy',
  '00080060': 'Modality', '0020000D': 'StudyInstanceUID', '0020000E': 'SeriesInstanceUID', '00080018': 'SOPInstanceUID',
};

/** SQL conditions for QIDO matching: wildcards (* ?), date ranges, UID lists, plus ClinicID (ours). */
function where(q: Query): { sql: string; args: unknown[] } {
  const get = (k: string) => q[k] ?? q[Object.keys(KEYS).find((t) => KEYS[t] === k) ?? ''];
  const conds: string[] = [];
  const args: unknown[] = [];
  const like = (col: string, val: string) => {
    if (/[*?]/.test(val)) { conds.push(`${col} LIKE ? ESCAPE '\\'`); args.push(val.replace(/[\\%_]/g, '\\$&').replaceAll('*', '%').replaceAll('?', '_')); }
    else { conds.push(`${col} = ?`); args.push(val); }
  };
  const pid = get('PatientID'); if (pid) like('patient_id', pid);
  const name = get('PatientName'); if (name) like('patient_name', name);
  const acc = get('AccessionNumber'); if (acc) like('accession_number', acc);
  const mod = get('ModalitiesInStudy') ?? get('Modality'); if (mod) { conds.push('modality = ?'); args.push(mod); }
  const clinic = q.ClinicID; if (clinic) { conds.push('clinic_id = ?'); args.push(clinic); }
  for (const [k, col] of [['StudyInstanceUID', 'study_instance_uid'], ['SeriesInstanceUID', 'series_instance_uid'], ['SOPInstanceUID', 'sop_instance_uid']] as const) {
    const list = get(k)?.split(/[,\\]/).filter(Boolean);
    if (list?.length) { conds.push(`${col} IN (${list.map(() => '?').join(',')})`); args.push(...list); }
  }
  // DICOM ranges: a-b, -b, a- (dates yyyyMMdd; ISO yyyy-MM-dd accepted too).
  const date = get('StudyDate')?.replace(/(\d{4})-(\d{2})-(\d{2})/g, '$1$2$3');
  if (date) {
    const m = /^(\d{8})?-(\d{8})?$/.exec(date);
    if (m) {
      if (m[1]) { conds.push('study_date >= ?'); args.push(m[1]); }
      if (m[2]) { conds.push('study_date <= ?'); args.push(m[2]); }
    } else { conds.push('study_date = ?'); args.push(date); }
  }
  return { sql: conds.length ? `WHERE ${conds.join(' AND ')}` : '', args };
}

const page = (q: Query) => ({ limit: Math.min(1000, Math.max(1, Number(q.limit) || 100)), offset: Math.max(0, Number(q.offset) || 0) });

export function searchStudies(db: Db, q: Query, base: string): J[] {
  const w = where(q);
  const { limit, offset } = page(q);
  const list = db.prepare(`SELECT study_instance_uid, max(clinic_id) AS clinic_id, max(patient_id) AS patient_id, max(patient_name) AS patient_name, max(patient_birth_date) AS patient_birth_date,
      max(patient_sex) AS patient_sex, max(accession_number) AS accession_number, max(study_date) AS study_date, max(study_time) AS study_time, max(study_description) AS study_description,
      group_concat(DISTINCT modality) AS modalities, count(DISTINCT series_instance_uid) AS series, count(*) AS instances
    FROM imaging_instances ${w.sql} GROUP BY study_instance_uid ORDER BY max(received_at) DESC LIMIT ? OFFSET ?`).all(...w.args, limit, offset) as Record<string, string | number | null>[];
  return list.map((r) => ({
    '00080020': v('DA', r.study_date), '00080030': v('TM', r.study_time), '00080050': v('SH', r.accession_number),
    '00080061': { vr: 'CS', Value: String(r.modalities ?? '').split(',').filter(Boolean) }, '00081030': v('LO', r.study_description),
    '00081190': v('UR', `${base}/studies/${r.study_instance_uid}`),
    '00100010': pn(r.patient_name as string | null), '00100020': v('LO', r.patient_id), '00100030': v('DA', r.patient_birth_date), '00100040': v('CS', r.patient_sex),
    '0020000D': v('UI', r.study_instance_uid), '00201206': v('IS', r.series), '00201208': v('IS', r.instances),
    // Private-free extension: the clinic that sent the study (Institution Name would be a guess).
    '00080080': v('LO', r.clinic_id),
  }));
}

export function searchSeries(db: Db, q: Query, base: string): J[] {
  const w = where(q);
  const { limit, offset } = page(q);
  const list = db.prepare(`SELECT study_instance_uid, series_instance_uid, max(modality) AS modality, max(series_number) AS series_number, count(*) AS instances
    FROM imaging_instances ${w.sql} GROUP BY series_instance_uid ORDER BY CAST(max(series_number) AS INTEGER) LIMIT ? OFFSET ?`).all(...w.args, limit, offset) as Record<string, string | number | null>[];
  return list.map((r) => ({
    '00080060': v('CS', r.modality), '0020000D': v('UI', r.study_instance_uid), '0020000E': v('UI', r.series_instance_uid), '00200011': v('IS', r.series_number),
    '00201209': v('IS', r.instances), '00081190': v('UR', `${base}/studies/${r.study_instance_uid}/series/${r.series_instance_uid}`),
  }));
}

export function findInstances(db: Db, q: Query): IndexedInstance[] {
  const w = where(q);
  const { limit, offset } = page(q);
  return toInstances(db.prepare(`SELECT * FROM imaging_instances ${w.sql} ORDER BY series_number, CAST(instance_number AS INTEGER) LIMIT ? OFFSET ?`).all(...w.args, limit, offset));
}

export function instanceJson(i: IndexedInstance, base: string): J {
  return {
    '00080016': v('UI', i.sopClassUid), '00080018': v('UI', i.sopInstanceUid), '00080060': v('CS', i.modality), '0020000D': v('UI', i.studyInstanceUid),
    '0020000E': v('UI', i.seriesInstanceUid), '00200013': v('IS', i.instanceNumber), '00280010': v('US', i.rows), '00280011': v('US', i.columns),
    '00280008': v('IS', i.numberOfFrames), '00081190': v('UR', `${base}/studies/${i.studyInstanceUid}/series/${i.seriesInstanceUid}/instances/${i.sopInstanceUid}`),
  };
}

/** Full metadata of an instance (DICOM JSON model); binary values become BulkDataURIs. */
export async function instanceMetadata(i: IndexedInstance, base: string): Promise<JsonDataset> {
  const f = await readPart10(i.path);
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

/** multipart/related; type="application/dicom" with the stored files, streamed in order. */
export function multipartDicom(files: IndexedInstance[]): { body: ReadableStream<Uint8Array>; contentType: string } {
  const boundary = `dpc-${randomBytes(12).toString('hex')}`;
  async function* parts() {
    for (const f of files) {
      yield Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\nContent-Length: ${f.size}\r\nContent-Location: /studies/${f.studyInstanceUid}/series/${f.seriesInstanceUid}/instances/${f.sopInstanceUid}\r\n\r\n`);
      for await (const chunk of createReadStream(f.path)) yield chunk as Buffer;
      yield Buffer.from('\r\n');
    }
    yield Buffer.from(`--${boundary}--\r\n`);
  }
  return { body: Readable.toWeb(Readable.from(parts())) as ReadableStream<Uint8Array>, contentType: `multipart/related; type="application/dicom"; boundary=${boundary}` };
}

/**
 * Workload per clinic, device (station AE) and day (China time), with bytes archived and the
 * positive rate over reported studies (latest final or amended report of each study);
 * `positiveRate` is null where no study of the group has a final report, never guessed.
 */
export function workload(db: Db, from: string, to: string, clinicId?: string) {
  const rows = db.prepare(`WITH latest AS (
        SELECT r.study_instance_uid, r.positive FROM imaging_reports r
        WHERE r.status != 'preliminary' AND r.version = (SELECT max(x.version) FROM imaging_reports x WHERE x.study_instance_uid = r.study_instance_uid AND x.status != 'preliminary'))
      SELECT date(i.received_at, '+8 hours') AS day, i.clinic_id, coalesce(i.station_ae, '') AS station_ae, coalesce(i.modality, '') AS modality,
        count(DISTINCT i.study_instance_uid) AS studies, count(*) AS instances, sum(i.size) AS bytes,
        count(DISTINCT CASE WHEN l.study_instance_uid IS NOT NULL THEN i.study_instance_uid END) AS reported,
        count(DISTINCT CASE WHEN l.positive = 1 THEN i.study_instance_uid END) AS positive
    FROM imaging_instances i LEFT JOIN latest l ON l.study_instance_uid = i.study_instance_uid
    WHERE date(i.received_at, '+8 hours') BETWEEN ? AND ? ${clinicId ? 'AND i.clinic_id = ?' : ''}
    GROUP BY day, i.clinic_id, station_ae, modality ORDER BY day, i.clinic_id, station_ae`).all(from, to, ...(clinicId ? [clinicId] : [])) as
    { day: string; clinic_id: string; station_ae: string; modality: string; studies: number; instances: number; bytes: number; reported: number; positive: number }[];
  return rows.map((r) => ({
    day: r.day, clinicId: r.clinic_id, stationAe: r.station_ae, modality: r.modality, studies: r.studies, instances: r.instances, bytes: r.bytes,
    reported: r.reported, positive: r.positive, positiveRate: r.reported ? r.positive / r.reported : null,
  }));
}

export class FrameError extends Error {
  override name = 'FrameError';
  constructor(readonly status: 400 | 404, message: string) {
    super(message);
  }
}

const toBuf = (x: unknown): Buffer | null =>
  x instanceof ArrayBuffer ? Buffer.from(x) : ArrayBuffer.isView(x) ? Buffer.from(x.buffer, x.byteOffset, x.byteLength) : null;

/** One multipart/related body of binary parts (frames, bulk data). */
export function multipartOctets(parts: Buffer[], type: string): { body: Buffer; contentType: string } {
  const boundary = `dpc-${randomBytes(12).toString('hex')}`;
  const chunks: Buffer[] = [];
  for (const p of parts) chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${type}\r\nContent-Length: ${p.length}\r\n\r\n`), p, Buffer.from('\r\n'));
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/related; type="${type}"; boundary=${boundary}` };
}

const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);

/**
 * WADO-RS frames: frame numbers start at 1. Native (uncompressed) pixel data is cut into
 * frames of rows × columns × samples × bits/8 bytes; encapsulated pixel data (JPEG, RLE,
 * JPEG-LS, JPEG 2000) answers each frame's compressed bytes as stored, typed with its
 * transfer syntax (no transcoding).
 */
export async function instanceFrames(i: IndexedInstance, list: string): Promise<{ frames: Buffer[]; type: string }> {
  const wanted = list.split(',').map((s) => Number(s.trim()));
  if (!wanted.length || wanted.some((n) => !Number.isInteger(n) || n < 1)) throw new FrameError(400, `frame list "${list}" must be positive integers separated by commas (frames start at 1)`);
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

/** The bytes of one binary element named by a metadata BulkDataURI path (`tag` or `SQtag.item.tag`). */
export async function instanceBulkData(i: IndexedInstance, path: string): Promise<Buffer> {
  const f = await readPart10(i.path);
  const steps = path.split('.');
  let ds: JsonDataset = f.dict;
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
