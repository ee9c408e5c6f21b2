/**
 * The regional image archive: instance files on disk (<root>/<clinic>/<study>/<sop>.dcm,
 * written to a temp file, sha256-verified, fsynced, renamed) and their index in the warehouse.
 * A PUT of bytes already held is a no-op (idempotent); a clinic may replace its own instance.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImagingIndex, IndexedInstance } from './index-store.ts';
import { num, parsePart10, str } from '../../contracts/dicom/dicom-file.ts';
import { diskBytes, gib, isDiskFull, readDisk, type DiskAmount, type DiskReading } from '../../contracts/runtime/disk.ts';

export class ArchiveError extends Error {
  override name = 'ArchiveError';
  /** For a resumable upload sent from the wrong offset (409): where central's copy ends. */
  offset?: number;
  constructor(readonly status: 400 | 409 | 413 | 422 | 507, message: string, offset?: number) {
    super(message);
    if (offset !== undefined) this.offset = offset;
  }
}

/** How often the archive's free space is read (statfs) at most; in between, what was written is subtracted. */
const DISK_READ_MS = 2_000;

export type { IndexedInstance } from './index-store.ts';

const UID = /^[0-9.]{1,64}$/;

async function sha256File(p: string): Promise<string> {
  const h = createHash('sha256');
  for await (const chunk of createReadStream(p, { highWaterMark: 1024 * 1024 })) h.update(chunk as Buffer);
  return h.digest('hex');
}

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
  /** Partial uploads removed by `sweepUploads` since start (abandoned resumable copies, temp files left by a crash). */
  abandoned = { files: 0, bytes: 0 };

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
      return await this.commitTemp(clinicId, sop, input.stationAe, tmp, size, got);
    } catch (e) {
      if (!isDiskFull(e)) throw e;
      this.refusedNoSpace++;
      this.disk = null; // read again at the next upload
      throw new ArchiveError(507, `archive disk full while writing ${sop}: nothing of it was kept; the clinic keeps the instance and sends it again`);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /**
   * What the archive holds of uploads not yet filed: resumable copies in `.uploads/<clinic>/`
   * (kept across cut connections until the clinic sends the rest) and `put`'s temp files in `.tmp/`.
   */
  async partialUploads(): Promise<{ files: number; bytes: number; oldestMs: number | null }> {
    let files = 0, bytes = 0, oldest: number | null = null;
    for (const f of await this.partialFiles()) {
      files++;
      bytes += f.size;
      if (oldest === null || f.mtimeMs < oldest) oldest = f.mtimeMs;
    }
    return { files, bytes, oldestMs: oldest };
  }

  private async partialFiles(): Promise<{ path: string; size: number; mtimeMs: number; kind: 'resumable' | 'temp' }[]> {
    const out: { path: string; size: number; mtimeMs: number; kind: 'resumable' | 'temp' }[] = [];
    const add = async (dir: string, kind: 'resumable' | 'temp') => {
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (!name.endsWith('.part')) continue;
        const path = join(dir, name);
        const st = await stat(path).catch(() => null);
        if (st?.isFile()) out.push({ path, size: st.size, mtimeMs: st.mtimeMs, kind });
      }
    };
    await add(join(this.root, '.tmp'), 'temp');
    for (const clinic of await readdir(join(this.root, '.uploads')).catch(() => [] as string[])) await add(join(this.root, '.uploads', clinic), 'resumable');
    return out;
  }

  /**
   * Removes partial uploads nobody continues: a resumable copy not added to for `keepMs` (the
   * clinic's edge was replaced, restored from a backup, or its instance deleted; an edge that comes
   * back later asks the offset, gets 0 and sends the whole instance again: nothing is lost), and a
   * temp file of `put` not written for `tempKeepMs` (a process that crashed mid-upload; a live
   * upload writes as the bytes arrive). A part being received is never touched.
   */
  async sweepUploads(opts: { keepMs: number; tempKeepMs?: number; now?: number }): Promise<{ files: number; bytes: number; kept: number }> {
    const now = opts.now ?? Date.now();
    const tempKeepMs = opts.tempKeepMs ?? 3_600_000;
    const r = { files: 0, bytes: 0, kept: 0 };
    for (const f of await this.partialFiles()) {
      const keep = f.kind === 'temp' ? tempKeepMs : opts.keepMs;
      if (this.partsBusy.has(f.path) || now - f.mtimeMs < keep) {
        r.kept++;
        continue;
      }
      // Held as busy while it is removed: a part arriving now is told to come back (409 with the
      // offset) rather than appended to a file on its way out; read again under the mark.
      this.partsBusy.add(f.path);
      try {
        const st = await stat(f.path).catch(() => null);
        if (!st) continue; // filed or finished meanwhile
        if (now - st.mtimeMs < keep) {
          r.kept++;
          continue;
        }
        await rm(f.path, { force: true });
        r.files++;
        r.bytes += st.size;
      } finally {
        this.partsBusy.delete(f.path);
      }
    }
    this.abandoned.files += r.files;
    this.abandoned.bytes += r.bytes;
    return r;
  }

  private partPath(clinicId: string, sop: string, sha256: string): string {
    return join(this.root, '.uploads', clinicId, `${sop}.${sha256}.part`);
  }

  private checkIds(clinicId: string, sop: string, sha256: string): void {
    if (!/^[a-z0-9][a-z0-9-]{1,31}$/.test(clinicId)) throw new ArchiveError(400, 'clinic id invalid');
    if (!UID.test(sop)) throw new ArchiveError(400, 'SOP Instance UID in the path is not a UID');
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new ArchiveError(400, 'X-Content-Sha256 (or sha256=) must be 64 lower-case hex digits');
  }

  /**
   * Resumable upload: how much of (clinic, sop, sha256) central holds. `complete` when the archive
   * already has the instance with these bytes (the edge marks it uploaded and sends nothing).
   */
  async uploadOffset(clinicId: string, sop: string, sha256: string): Promise<{ offset: number; complete: boolean }> {
    this.checkIds(clinicId, sop, sha256);
    const existing = await this.instance(sop);
    if (existing && existing.clinicId !== clinicId) throw new ArchiveError(409, `instance ${sop} belongs to clinic ${existing.clinicId}`);
    if (existing && existing.sha256 === sha256) return { offset: existing.size, complete: true };
    const size = await stat(this.partPath(clinicId, sop, sha256)).then((st) => st.size, () => 0);
    return { offset: size, complete: false };
  }

  private readonly partsBusy = new Set<string>();

  /**
   * One part of a resumable upload, at `offset` of `total` bytes. What arrives is appended and
   * made durable, also when the connection breaks mid-part (the next part starts where central's
   * copy ends: ask `uploadOffset`, or read the 409's offset). The part that completes it checks
   * the sha256 of the whole and files the instance as `put` does (a mismatch discards the copy: 422).
   */
  async putPart(input: { clinicId: string; sopInstanceUid: string; sha256: string; offset: number; total: number; stationAe?: string; body: ReadableStream<Uint8Array> | null }):
    Promise<{ offset: number; complete: boolean; stored?: boolean; instance?: IndexedInstance }> {
    const { clinicId, sopInstanceUid: sop, sha256, offset, total } = input;
    this.checkIds(clinicId, sop, sha256);
    if (!Number.isSafeInteger(total) || total < 1) throw new ArchiveError(400, 'X-Upload-Length must be the whole instance\'s size in bytes');
    if (total > this.maxBytes) throw new ArchiveError(413, `instance larger than ${this.maxBytes} bytes`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > total) throw new ArchiveError(400, 'X-Upload-Offset must be 0..X-Upload-Length');
    if (!input.body) throw new ArchiveError(400, 'empty body');
    const existing = await this.instance(sop);
    if (existing && existing.clinicId !== clinicId) throw new ArchiveError(409, `instance ${sop} belongs to clinic ${existing.clinicId}`);
    if (existing && existing.sha256 === sha256) return { offset: existing.size, complete: true, stored: false, instance: existing };
    const part = this.partPath(clinicId, sop, sha256);
    if (this.partsBusy.has(part)) throw new ArchiveError(409, `another part of ${sop} is being received`, await stat(part).then((st) => st.size, () => 0));
    this.partsBusy.add(part);
    try {
      await this.checkRoom();
      await mkdir(dirname(part), { recursive: true });
      const have = await stat(part).then((st) => st.size, () => 0);
      if (have !== offset) throw new ArchiveError(409, `central holds ${have} bytes of ${sop}, not ${offset}: send from ${have}`, have);
      let size = have;
      // Written chunk by chunk as it arrives (not through a buffering stream), so that a cut
      // connection leaves everything received on disk: the next part starts after it.
      const fh = await open(part, 'a');
      try {
        for await (const chunk of input.body as unknown as AsyncIterable<Uint8Array>) {
          if (size + chunk.length > total) throw new ArchiveError(400, `more bytes than X-Upload-Length (${total})`);
          for (let off = 0; off < chunk.length;) off += (await fh.write(chunk, off)).bytesWritten;
          size += chunk.length;
        }
      } catch (e) {
        // Too many bytes: take the part back. A cut connection: what arrived is kept (resumed from there).
        if (e instanceof ArchiveError) {
          await fh.truncate(have);
          throw e;
        }
        if (isDiskFull(e)) {
          await fh.truncate(have).catch(() => undefined);
          this.refusedNoSpace++;
          this.disk = null;
          throw new ArchiveError(507, `archive disk full while writing ${sop}: the part was not kept; the clinic sends it again`);
        }
        throw e;
      } finally {
        await fh.sync().catch(() => undefined);
        await fh.close();
      }
      this.written += size - have;
      if (size < total) return { offset: size, complete: false };
      const got = await sha256File(part);
      if (got !== sha256) {
        await rm(part, { force: true });
        throw new ArchiveError(422, `sha256 mismatch: the ${total} bytes received hash to ${got}, expected ${sha256}: transfer corrupted, send again from 0`, 0);
      }
      const r = await this.commitTemp(clinicId, sop, input.stationAe, part, total, got).catch(async (e: unknown) => {
        if (e instanceof ArchiveError) await rm(part, { force: true }); // not DICOM, wrong UID: sending it again changes nothing
        throw e;
      });
      this.written -= total; // counted as the parts arrived
      // Copies of earlier versions of this instance (other sha256) are of no use any more.
      for (const f of await readdir(dirname(part)).catch(() => [] as string[])) if (f.startsWith(`${sop}.`) && f.endsWith('.part')) await rm(join(dirname(part), f), { force: true });
      return { offset: total, complete: true, ...r };
    } finally {
      this.partsBusy.delete(part);
    }
  }

  /** A checked upload file (`size` bytes, sha256 `got`) filed as the clinic's instance: parsed, moved into place durably, indexed. */
  private async commitTemp(clinicId: string, sop: string, stationAe: string | undefined, tmp: string, size: number, got: string): Promise<{ stored: boolean; instance: IndexedInstance }> {
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
      stationAe: stationAe?.slice(0, 16) || str(f.meta, '00020016') || null, receivedAt: new Date().toISOString(),
    };
    await this.index.upsertInstance(row);
    this.written += size;
    return { stored: true, instance: (await this.instance(sop))! };
  }
}
