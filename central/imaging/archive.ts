/**
 * The regional image archive: instance files on disk (<root>/<clinic>/<study>/<sop>.dcm,
 * written to a temp file, sha256-verified, fsynced, renamed) and their index in the warehouse.
 * A PUT of bytes already held is a no-op (idempotent); a clinic may replace its own instance.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Db } from '../../contracts/runtime/index.ts';
import { num, parsePart10, str } from '../../contracts/dicom/dicom-file.ts';

export class ArchiveError extends Error {
  override name = 'ArchiveError';
  constructor(readonly status: 400 | 409 | 413 | 422, message: string) {
    super(message);
  }
}

export interface IndexedInstance {
  sopInstanceUid: string;
  clinicId: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  size: number;
  sha256: string;
  path: string;
  patientId: string | null;
  patientName: string | null;
  patientBirthDate: string | null;
  patientSex: string | null;
  accessionNumber: string | null;
  modality: string | null;
  studyDate: string | null;
  studyTime: string | null;
  studyDescription: string | null;
  seriesNumber: string | null;
  instanceNumber: string | null;
  rows: number | null;
  columns: number | null;
  numberOfFrames: number | null;
  stationAe: string | null;
  receivedAt: string;
}

const UID = /^[0-9.]{1,64}$/;
const camel = (s: string) => s.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export function toInstances(list: unknown[]): IndexedInstance[] {
  return list.map((r) => Object.fromEntries(Object.entries(r as Record<string, unknown>).map(([k, v]) => [camel(k), v])) as unknown as IndexedInstance);
}

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

export class Archive {
  private n = 0;
  constructor(readonly db: Db, readonly root: string, private readonly maxBytes = 2 * 1024 ** 3) {}

  instance(sop: string): IndexedInstance | null {
    return toInstances(this.db.prepare('SELECT * FROM imaging_instances WHERE sop_instance_uid = ?').all(sop))[0] ?? null;
  }

  /** Stores one uploaded instance; returns whether bytes were written (false = already held). */
  async put(input: { clinicId: string; sopInstanceUid: string; sha256: string; stationAe?: string; body: ReadableStream<Uint8Array> | null }): Promise<{ stored: boolean; instance: IndexedInstance }> {
    const { clinicId, sopInstanceUid: sop } = input;
    if (!/^[a-z0-9][a-z0-9-]{1,31}$/.test(clinicId)) throw new ArchiveError(400, 'X-Clinic-Id missing or invalid');
    if (!UID.test(sop)) throw new ArchiveError(400, 'SOP Instance UID in the path is not a UID');
    if (!/^[0-9a-f]{64}$/.test(input.sha256)) throw new ArchiveError(400, 'X-Content-Sha256 must be 64 lower-case hex digits');
    if (!input.body) throw new ArchiveError(400, 'empty body');
    const existing = this.instance(sop);
    if (existing && existing.clinicId !== clinicId) throw new ArchiveError(409, `instance ${sop} belongs to clinic ${existing.clinicId}`);

    await mkdir(join(this.root, '.tmp'), { recursive: true });
    const tmp = join(this.root, '.tmp', `${sop}.${process.pid}.${++this.n}.part`);
    const hash = createHash('sha256');
    let size = 0;
    const max = this.maxBytes;
    try {
      await pipeline(Readable.fromWeb(input.body as import('node:stream/web').ReadableStream<Uint8Array>), new Transform({
        transform(chunk: Buffer, _e, cb) {
          size += chunk.length;
          if (size > max) return cb(new ArchiveError(413, `instance larger than ${max} bytes`));
          hash.update(chunk);
          cb(null, chunk);
        },
      }), createWriteStream(tmp));
      const got = hash.digest('hex');
      if (got !== input.sha256) throw new ArchiveError(422, `sha256 mismatch: received ${got}, expected ${input.sha256} (${size} bytes): transfer corrupted, send again`);
      if (existing && existing.sha256 === got) {
        await rm(tmp, { force: true });
        return { stored: false, instance: existing };
      }
      const bytes = await readFile(tmp);
      let f;
      try {
        f = parsePart10(bytes, { untilPixelData: true });
      } catch (e) {
        throw new ArchiveError(400, `not a DICOM Part 10 file: ${(e as Error).message}`);
      }
      const d = f.dict;
      const fileSop = str(d, '00080018');
      const study = str(d, '0020000D');
      const series = str(d, '0020000E');
      if (fileSop !== sop) throw new ArchiveError(400, `SOP Instance UID in the file (${fileSop ?? 'none'}) differs from the path`);
      if (!study || !UID.test(study) || !series || !UID.test(series)) throw new ArchiveError(400, 'study or series UID missing or invalid');
      const dir = join(this.root, clinicId, study);
      await mkdir(dir, { recursive: true });
      const final = join(dir, `${sop}.dcm`);
      await fsyncPath(tmp);
      await rename(tmp, final);
      await fsyncPath(dir);
      const row = {
        sop, clinicId, study, series, sopClass: str(d, '00080016') ?? str(f.meta, '00020002') ?? '', ts: f.transferSyntaxUid, size, sha256: got, path: final,
        patientId: str(d, '00100020') ?? null, patientName: str(d, '00100010') ?? null, birth: str(d, '00100030') ?? null, sex: str(d, '00100040') ?? null,
        accession: str(d, '00080050') ?? null, modality: str(d, '00080060') ?? null, studyDate: str(d, '00080020') ?? null, studyTime: str(d, '00080030') ?? null,
        desc: str(d, '00081030') ?? null, seriesNumber: str(d, '00200011') ?? null, instanceNumber: str(d, '00200013') ?? null,
        rows: num(d, '00280010') ?? null, columns: num(d, '00280011') ?? null, frames: num(d, '00280008') ?? null, station: input.stationAe?.slice(0, 16) || str(f.meta, '00020016') || null,
        at: new Date().toISOString(),
      };
      this.db.prepare(`INSERT INTO imaging_instances (sop_instance_uid, clinic_id, study_instance_uid, series_instance_uid, sop_class_uid, transfer_syntax_uid, size, sha256, path,
          patient_id, patient_name, patient_birth_date, patient_sex, accession_number, modality, study_date, study_time, study_description, series_number, instance_number, rows, columns, number_of_frames, station_ae, received_at)
        VALUES (@sop, @clinicId, @study, @series, @sopClass, @ts, @size, @sha256, @path, @patientId, @patientName, @birth, @sex, @accession, @modality, @studyDate, @studyTime, @desc, @seriesNumber, @instanceNumber, @rows, @columns, @frames, @station, @at)
        ON CONFLICT (sop_instance_uid) DO UPDATE SET study_instance_uid = excluded.study_instance_uid, series_instance_uid = excluded.series_instance_uid, transfer_syntax_uid = excluded.transfer_syntax_uid,
          size = excluded.size, sha256 = excluded.sha256, path = excluded.path, patient_id = excluded.patient_id, patient_name = excluded.patient_name, station_ae = excluded.station_ae, received_at = excluded.received_at`).run(row);
      return { stored: true, instance: this.instance(sop)! };
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
