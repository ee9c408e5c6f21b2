/**
 * The Writable that dcmjs-dimse streams a C-STORE dataset into. It walks the dataset as it
 * arrives (structure check + index fields), holds back the first bytes until the header is
 * known (so the temp file can be created in the study's own directory), then streams to the
 * temp file while hashing. Memory per association: the header prefix plus stream buffers.
 * Publishing (rename + dir fsync) is the caller's step, after validation.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, fsync, open, openSync, write, writeSync, writev, writevSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { DatasetWalker, isDatasetError } from '../../contracts/dicom/dataset-walker.ts';
import { CAPTURED_TAGS, LAST_INDEXED_TAG, headerFields, type HeaderFields } from './instance-meta.ts';
import { fileMetaToBuffer } from './part10.ts';
import { mkdirDurable, unlinkQuiet } from './atomic-file.ts';
import { isValidUid, TS } from './uids.ts';

/** C-STORE failure statuses (PS3.4 B.2.3). */
export const StoreStatus = {
  Success: 0x0000,
  OutOfResources: 0xa700,
  DataSetDoesNotMatchSopClass: 0xa900,
  CannotUnderstand: 0xc000,
  SopClassNotSupported: 0x0122,
} as const;

export class InstanceError extends Error {
  override name = 'InstanceError';
  constructor(message: string, readonly status: number, readonly reason: 'too-large' | 'bad-dataset' | 'bad-uid' | 'mismatch' | 'io' | 'no-space' | 'callback' | 'aborted', options?: { cause?: unknown }) {
    super(message, options);
  }
}

/**
 * A file-system failure as the device's 0xA700 (out of resources: it keeps the instance and sends
 * it again): `no-space` when the disk or the quota is full (counted apart, the technician's page
 * and the alerts say so), `io` otherwise.
 */
export function ioError(what: string, e: unknown): InstanceError {
  const code = (e as NodeJS.ErrnoException)?.code;
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  return new InstanceError(`${what}: ${full ? 'storage full' : (e as Error)?.message ?? String(e)}`, StoreStatus.OutOfResources, full ? 'no-space' : 'io', { cause: e });
}

export interface SinkOptions {
  root: string;
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  callingAe: string;
  maxInstanceBytes: number;
  maxHeaderBytes: number;
  /** Default true; tests of the publish protocol never turn it off, benches may compare. */
  fsync?: boolean;
  /**
   * Open and write the temp file with synchronous calls (the fsync stays asynchronous). For the
   * store worker (store-worker.ts), whose thread may block for a page-cache copy: one call instead
   * of a thread-pool round trip (two thread wake-ups) per write. Never on the main thread.
   */
  syncWrites?: boolean;
}

export interface StoredTemp {
  tempPath: string;
  finalPath: string;
  size: number;
  sha256: string;
  fields: HeaderFields;
}

let tmpCounter = 0;
/** Bytes of one instance queued to the disk before the sink stops taking more. */
const MAX_INFLIGHT = 4 * 1024 * 1024;
/**
 * PDVs are gathered into one positional writev of about this size: a 512 KB instance in
 * 64 KiB PDUs is 2-3 thread-pool round trips instead of 9 (each costs main-thread dispatch,
 * a promise and a wake-up), with the same bytes.
 */
const WRITE_BATCH = 256 * 1024;

/*
 * The temp file is a plain descriptor driven by node:fs callbacks, not a FileHandle: its writes
 * and fsync run on the thread pool, and it is closed synchronously once its data is durable
 * (closing a regular file that was fsynced does no I/O), which saves one thread-pool round trip
 * per instance. A FileHandle cannot be closed synchronously.
 */
function openFd(path: string, flags: string, mode: number): Promise<number> {
  return new Promise((resolve, reject) => open(path, flags, mode, (e, fd) => (e ? reject(e) : resolve(fd))));
}

function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fsync(fd, (e) => (e ? reject(e) : resolve())));
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // EBADF/EIO on close: the data was fsynced (or is being thrown away)
  }
}

function writeAt(fd: number, buf: Buffer, off: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => write(fd, buf, off, buf.length - off, position, (e, n) => (e ? reject(e) : resolve(n))));
}

async function writeFully(fd: number, buf: Buffer, position: number): Promise<void> {
  let off = 0;
  while (off < buf.length) {
    const bytesWritten = await writeAt(fd, buf, off, position + off);
    if (bytesWritten === 0) throw new Error('write returned 0 bytes');
    off += bytesWritten;
  }
}

/** writev at `position`; a short write (rare on regular files) finishes with plain writes. */
async function writevFully(fd: number, bufs: Buffer[], position: number): Promise<void> {
  if (bufs.length === 1) return writeFully(fd, bufs[0]!, position);
  let total = 0;
  for (const b of bufs) total += b.length;
  const bytesWritten = await new Promise<number>((resolve, reject) => writev(fd, bufs, position, (e, n) => (e ? reject(e) : resolve(n))));
  if (bytesWritten < total) await writeFully(fd, Buffer.concat(bufs).subarray(bytesWritten), position + bytesWritten);
}
/** Study directories known to exist (created durably by us); saves a mkdir per instance. */
const knownDirs = new Set<string>();

function openFdSync(path: string, flags: string, mode: number): Promise<number> {
  try {
    return Promise.resolve(openSync(path, flags, mode));
  } catch (e) {
    return Promise.reject(e as Error);
  }
}

/** writev at `position`, synchronously, until every byte is written. */
function writevFullySync(fd: number, bufs: Buffer[], position: number): void {
  let total = 0;
  for (const b of bufs) total += b.length;
  const n = bufs.length === 1 ? writeSync(fd, bufs[0]!, 0, total, position) : writevSync(fd, bufs, position);
  if (n >= total) return;
  const rest = Buffer.concat(bufs).subarray(n);
  for (let off = 0; off < rest.length;) {
    const k = writeSync(fd, rest, off, rest.length - off, position + n + off);
    if (k === 0) throw new Error('write returned 0 bytes');
    off += k;
  }
}

async function openTemp(dir: string, name: string, sync = false): Promise<number> {
  const openIt = sync ? openFdSync : openFd;
  if (!knownDirs.has(dir)) {
    await mkdirDurable(dir);
    if (knownDirs.size > 10_000) knownDirs.clear();
    knownDirs.add(dir);
  }
  try {
    return await openIt(join(dir, name), 'wx', 0o640);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    // removed behind our back (e.g. by a purge): create it again
    knownDirs.delete(dir);
    await mkdirDurable(dir);
    knownDirs.add(dir);
    return await openIt(join(dir, name), 'wx', 0o640);
  }
}

export class InstanceSink extends Writable {
  readonly done: Promise<StoredTemp>;
  /** Set when the dataset exceeded maxInstanceBytes: the association should be aborted. */
  tooLarge = false;
  private resolveDone!: (v: StoredTemp) => void;
  private rejectDone!: (e: Error) => void;
  private readonly walker: DatasetWalker;
  private readonly hash: Hash = createHash('sha256');
  private head: Buffer[] = [];
  private headBytes = 0;
  private received = 0;
  /** The temp file's descriptor, -1 when none is open. */
  private fd = -1;
  private tempPath = '';
  private finalPath = '';
  private fileSize = 0;
  private fields: HeaderFields = {};
  private failure: InstanceError | null = null;
  private readonly inflight = new Set<Promise<void>>();
  private inflightBytes = 0;
  /** Appended bytes not yet handed to a write (at most WRITE_BATCH), and where they go. */
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private batchPos = 0;
  private writeError: Error | null = null;
  /** The temp file is complete and handed over to the caller (who publishes or deletes it). */
  private handedOver = false;
  /** The temp file being created: a destroy waits for it, so no file outlives a rejected `done`. */
  private opening: Promise<void> | null = null;

  get transferSyntaxUid(): string {
    return this.o.transferSyntaxUid;
  }

  /** As announced by the C-STORE command. */
  get sopInstanceUid(): string {
    return this.o.sopInstanceUid;
  }

  constructor(private readonly o: SinkOptions) {
    super({ highWaterMark: 1 << 20 });
    this.done = new Promise((res, rej) => {
      this.resolveDone = res;
      this.rejectDone = rej;
    });
    this.done.catch(() => {}); // observed by the caller; avoid unhandled rejection when it is not
    this.walker = new DatasetWalker({ explicitVr: o.transferSyntaxUid !== TS.implicitLE, capture: CAPTURED_TAGS });
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (e?: Error | null) => void): void {
    this.consume(chunks.map((c) => c.chunk)).then(() => cb(), (e: Error) => cb(e));
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (e?: Error | null) => void): void {
    this.consume([chunk]).then(() => cb(), (e: Error) => cb(e));
  }

  override _final(cb: (e?: Error | null) => void): void {
    this.finishAll().then(() => cb(), (e: Error) => cb(e));
  }

  override _destroy(err: Error | null, cb: (e?: Error | null) => void): void {
    // Writable auto-destroys after 'finish': by then the temp file is the caller's (no error to build).
    if (this.handedOver) {
      cb(err);
      return;
    }
    this.cleanup(err ?? new InstanceError('transfer aborted', StoreStatus.OutOfResources, 'aborted')).then(() => cb(err), () => cb(err));
  }

  private async consume(chunks: Buffer[]): Promise<void> {
    for (const c of chunks) this.received += c.length;
    if (this.received > this.o.maxInstanceBytes && !this.tooLarge) {
      this.tooLarge = true;
      this.fail(new InstanceError(`instance larger than ${this.o.maxInstanceBytes} bytes`, StoreStatus.OutOfResources, 'too-large'));
      await this.dropFile();
      this.emit('too-large');
    }
    if (this.failure) return; // discard the rest of a failed instance
    try {
      for (const c of chunks) this.walker.push(c);
    } catch (e) {
      if (!isDatasetError(e)) throw e;
      this.fail(new InstanceError(`malformed dataset: ${e.message}`, StoreStatus.CannotUnderstand, 'bad-dataset', { cause: e }));
      await this.dropFile();
      return;
    }
    if (this.fd < 0) {
      this.head.push(...chunks);
      this.headBytes += chunks.reduce((n, c) => n + c.length, 0);
      if (this.walker.lastTopTag > LAST_INDEXED_TAG || this.headBytes >= this.o.maxHeaderBytes) await this.openFile();
      return;
    }
    await this.append(chunks);
  }

  /** Discard everything and fail with `e` (e.g. a SOP class this context does not carry). */
  refuse(e: InstanceError): void {
    this.fail(e);
  }

  private fail(e: InstanceError): void {
    if (!this.failure) this.failure = e;
    this.head = [];
  }

  private openFile(): Promise<void> {
    this.opening ??= this.doOpenFile();
    return this.opening;
  }

  private async doOpenFile(): Promise<void> {
    const f = headerFields(this.walker.values);
    this.fields = f;
    const err = this.validate(f);
    if (err) {
      this.fail(err);
      return;
    }
    const dir = join(this.o.root, f.studyInstanceUid!);
    try {
      const tempName = `.${f.sopInstanceUid}.${process.pid}.${++tmpCounter}.tmp`;
      this.tempPath = join(dir, tempName);
      this.finalPath = join(dir, `${f.sopInstanceUid}.dcm`);
      this.fd = await openTemp(dir, tempName, this.o.syncWrites);
      if (this.destroyed || this.failure) {
        await this.dropFile();
        return;
      }
      const head = this.head;
      this.head = [];
      await this.append([fileMetaToBuffer({ sopClassUid: this.o.sopClassUid, sopInstanceUid: f.sopInstanceUid!, transferSyntaxUid: this.o.transferSyntaxUid, sourceAe: this.o.callingAe }), ...head]);
    } catch (e) {
      this.fail(ioError('cannot write instance', e));
      await this.dropFile();
    }
  }

  private validate(f: HeaderFields): InstanceError | null {
    for (const k of ['studyInstanceUid', 'seriesInstanceUid', 'sopInstanceUid'] as const) {
      const v = f[k];
      if (!v || !isValidUid(v)) return new InstanceError(`${k} ${v === undefined ? 'missing' : `invalid: ${JSON.stringify(v.slice(0, 80))}`}`, StoreStatus.CannotUnderstand, 'bad-uid');
    }
    if (f.sopInstanceUid !== this.o.sopInstanceUid) return new InstanceError(`SOP Instance UID ${f.sopInstanceUid} differs from the command's ${this.o.sopInstanceUid}`, StoreStatus.CannotUnderstand, 'mismatch');
    if (f.sopClassUid !== undefined && f.sopClassUid !== this.o.sopClassUid) return new InstanceError(`SOP Class UID ${f.sopClassUid} differs from the command's ${this.o.sopClassUid}`, StoreStatus.DataSetDoesNotMatchSopClass, 'mismatch');
    return null;
  }

  /**
   * Positional writes, several in flight: the sink never waits for one write before
   * dispatching the next, so the file keeps up with the network and the tail of the
   * instance is not a queue of serial round trips when the last PDU arrives.
   */
  private async append(chunks: Buffer[]): Promise<void> {
    const fd = this.fd;
    if (fd < 0) return;
    for (const c of chunks) {
      this.hash.update(c);
      if (!this.batchBytes) this.batchPos = this.fileSize;
      this.fileSize += c.length;
      this.batch.push(c);
      this.batchBytes += c.length;
      if (this.batchBytes >= WRITE_BATCH) this.flushBatch(fd);
    }
    // bounded memory: wait while more than MAX_INFLIGHT bytes are queued to the disk
    while (this.inflightBytes > MAX_INFLIGHT && this.inflight.size) await Promise.race(this.inflight);
    if (this.writeError) throw ioError('cannot write instance', this.writeError);
  }

  /** Dispatches the gathered bytes as one positional write, without waiting for it. */
  private flushBatch(fd: number): void {
    if (!this.batchBytes) return;
    const bufs = this.batch;
    const n = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    if (this.o.syncWrites) {
      try {
        writevFullySync(fd, bufs, this.batchPos);
      } catch (e) {
        this.writeError ??= e as Error;
      }
      return;
    }
    this.inflightBytes += n;
    const p: Promise<void> = writevFully(fd, bufs, this.batchPos).then(
      () => {},
      (e: Error) => {
        this.writeError ??= e;
      },
    ).finally(() => {
      this.inflight.delete(p);
      this.inflightBytes -= n;
    });
    this.inflight.add(p);
  }

  private async settleWrites(): Promise<void> {
    while (this.inflight.size) await Promise.allSettled([...this.inflight]);
  }

  private async finishAll(): Promise<void> {
    if (!this.failure) {
      try {
        this.walker.finish();
      } catch (e) {
        if (!isDatasetError(e)) throw e;
        this.fail(new InstanceError(`malformed dataset: ${e.message}`, StoreStatus.CannotUnderstand, 'bad-dataset', { cause: e }));
      }
    }
    if (!this.failure && this.fd < 0) await this.openFile();
    if (this.failure) {
      await this.dropFile();
      this.rejectDone(this.failure);
      return;
    }
    try {
      this.flushBatch(this.fd);
      await this.settleWrites();
      if (this.writeError) throw this.writeError;
      if (this.o.fsync !== false) await fsyncFd(this.fd);
      // The data is durable: closing it does no I/O (no thread-pool round trip for it).
      const fd = this.fd;
      this.fd = -1;
      closeQuiet(fd);
    } catch (e) {
      await this.dropFile();
      this.rejectDone(ioError('cannot write instance', e));
      return;
    }
    this.handedOver = true;
    this.resolveDone({ tempPath: this.tempPath, finalPath: this.finalPath, size: this.fileSize, sha256: this.hash.digest('hex'), fields: this.fields });
  }

  private async dropFile(): Promise<void> {
    const fd = this.fd;
    this.fd = -1;
    this.batch = [];
    this.batchBytes = 0;
    // never close under an in-flight write: the fd number could be reused by another file
    await this.settleWrites();
    if (fd >= 0) closeQuiet(fd);
    if (this.tempPath) await unlinkQuiet(this.tempPath);
  }

  private async cleanup(err: Error): Promise<void> {
    // Writable auto-destroys after 'finish': by then the temp file belongs to the caller.
    if (this.handedOver) return;
    this.fail(err instanceof InstanceError ? err : new InstanceError(err.message, StoreStatus.OutOfResources, 'aborted', { cause: err }));
    // A temp file may be in the middle of being created: wait for it, then remove it.
    if (this.opening) await this.opening.catch(() => {});
    await this.dropFile();
    this.rejectDone(this.failure!);
  }
}
