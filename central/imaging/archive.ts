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
import type { ImagingIndex, IndexedInstance } from './index-store.ts';
import { num, parsePart10, str } from '../../contracts/dicom/dicom-file.ts';
import { diskBytes, gib, isDiskFull, readDisk, type DiskAmount, type DiskReading } from '../../contracts/runtime/disk.ts';

export class ArchiveError extends Error {
  override name = 'ArchiveError';
  constructor(readonly status: 400 | 409 | 413 | 422 | 507, message: string) {
    super(message);
  }
}

/** How often the archive's free space is read (statfs) at most; in between, what was written is subtracted. */
const DISK_READ_MS = 2_000;

export type { IndexedInstance } from './index-store.ts';

const UID = /^[0-9.]{1,64}$/;

async function fsyncPath(p: string): Promise<void> {
  const fh = await open(p, 'r');
  try { await fh.sync(); } finally { await fh.close(); }
}

export class Archive {
  private n = 0;
  private disk: (DiskReading & { at: number }) | null = null;
  private written = 0;
  /** Uploads refused for lack of disk space (507), for the metric. */
  refusedNoSpace = 0;

  /**
   * `minFree`: below this much free space on the archive's disk, uploads are refused with 507
   * (the edge keeps the instance and retries; nothing is half-written). `read` reads the disk.
   */
  constructor(readonly index: ImagingIndex, readonly root: string, private readonly maxBytes = 2 * 1024 ** 3,
    readonly minFree: DiskAmount = { bytes: 0 }, private readonly read: (dir: string) => Promise<DiskReading> = readDisk) {}

  /** The archive disk's free space (read at most every 2 s, less what was written since) and its size. */
  async diskStatus(): Promise<{ free: number; total: number; minFree: number } | null> {
    if (!this.disk || Date.now() - this.disk.at > DISK_READ_MS) {
      try {
        await mkdir(this.root, { recursive: true });
        this.disk = { ...(await this.read(this.root)), at: Date.now() };
        this.written = 0;
      } catch {
        return null; // unreadable: uploads are not refused for it (the write itself would fail)
      }
    }
    return { free: Math.max(0, this.disk.free - this.written), total: this.disk.total, minFree: diskBytes(this.minFree, this.disk.total) };
  }

  private async checkRoom(): Promise<void> {
    const d = await this.diskStatus();
    if (d && d.free < d.minFree) {
      this.refusedNoSpace++;
      throw new ArchiveError(507, `archive disk low: ${gib(d.free)} free, ${gib(d.minFree)} kept free (CENTRAL_IMAGING_MIN_FREE); the clinic keeps the instance and sends it again`);
    }
  }

  instance(sop: string): Promise<IndexedInstance | null> {
    return this.index.instance(sop);
  }

  /** Stores one uploaded instance; returns whether bytes were written (false = already held). */
  async put(input: { clinicId: string; sopInstanceUid: string; sha256: string; stationAe?: string; body: ReadableStream<Uint8Array> | null }): Promise<{ stored: boolean; instance: IndexedInstance }> {
    const { clinicId, sopInstanceUid: sop } = input;
    // a clinic id, or external[.<sender>] for third-party STOW-RS (a dot is never in a clinic id)
    if (!/^[a-z0-9][a-z0-9-]{1,31}(\.[a-z0-9][a-z0-9-]{0,31})?$/.test(clinicId)) throw new ArchiveError(400, 'X-Clinic-Id missing or invalid');
    if (!UID.test(sop)) throw new ArchiveError(400, 'SOP Instance UID in the path is not a UID');
    if (!/^[0-9a-f]{64}$/.test(input.sha256)) throw new ArchiveError(400, 'X-Content-Sha256 must be 64 lower-case hex digits');
    if (!input.body) throw new ArchiveError(400, 'empty body');
    const existing = await this.instance(sop);
    if (existing && existing.clinicId !== clinicId) throw new ArchiveError(409, `instance ${sop} belongs to clinic ${existing.clinicId}`);
    await this.checkRoom();

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
      const row: IndexedInstance = {
        sopInstanceUid: sop, clinicId, studyInstanceUid: study, seriesInstanceUid: series, sopClassUid: str(d, '00080016') ?? str(f.meta, '00020002') ?? '',
        transferSyntaxUid: f.transferSyntaxUid, size, sha256: got, path: final,
        patientId: str(d, '00100020') ?? null, patientName: str(d, '00100010') ?? null, patientBirthDate: str(d, '00100030') ?? null, patientSex: str(d, '00100040') ?? null,
        accessionNumber: str(d, '00080050') ?? null, modality: str(d, '00080060') ?? null, studyDate: str(d, '00080020') ?? null, studyTime: str(d, '00080030') ?? null,
        studyDescription: str(d, '00081030') ?? null, seriesNumber: str(d, '00200011') ?? null, instanceNumber: str(d, '00200013') ?? null,
        rows: num(d, '00280010') ?? null, columns: num(d, '00280011') ?? null, numberOfFrames: num(d, '00280008') ?? null,
        stationAe: input.stationAe?.slice(0, 16) || str(f.meta, '00020016') || null, receivedAt: new Date().toISOString(),
      };
      await this.index.upsertInstance(row);
      this.written += size;
      return { stored: true, instance: (await this.instance(sop))! };
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      this.refusedNoSpace++;
      this.disk = null; // read again at the next upload
      throw new ArchiveError(507, `archive disk full while writing ${sop}: nothing of it was kept; the clinic keeps the instance and sends it again`);
    } finally {
      await rm(tmp, { force: true });
    }
  }
}
