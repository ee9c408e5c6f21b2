/**
 * Backup repositories. `LocalDirTarget` is a directory (the offline copy, e.g. a removable
 * disk; backups are built there). `HttpTarget` is the off-site target (central for edges, a
 * second site for central) speaking the resumable upload protocol of `protocol.ts`.
 */
import { createHash } from 'node:crypto';
import { createReadStream, mkdirSync, readdirSync, statSync } from 'node:fs';
import { open, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackupError, fsError } from './errors.ts';
import { OBJECT_NAME } from './manifest.ts';
import { protocol } from './protocol.ts';

export interface ObjectInfo {
  name: string;
  size: number;
}

export interface BackupTarget {
  readonly label: string;
  list(): Promise<ObjectInfo[]>;
  /** Whole object, or `length` bytes from `offset`. NOT_FOUND / TRUNCATED on short reads. */
  read(name: string, offset?: number, length?: number): Promise<Buffer>;
  stream(name: string): AsyncIterable<Buffer>;
  delete(name: string): Promise<void>;
}

function checkName(name: string): void {
  if (!OBJECT_NAME.test(name)) throw new BackupError('NOT_FOUND', `invalid backup object name ${JSON.stringify(name)}`);
}

/** Test hook: simulate a disk that fills up after `bytes` more bytes are written. */
export interface DiskFaults {
  failAfterBytes?: number;
}

export class PackWriter {
  private fh: FileHandle | null = null;
  private readonly hash = createHash('sha256');
  size = 0;
  constructor(private readonly target: LocalDirTarget, readonly name: string) {}

  private get partial(): string {
    return join(this.target.dir, `${this.name}.partial`);
  }

  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private flushed = 0;

  /** Append; returns the offset. Buffered: written in 4 MiB blocks (one syscall per block). */
  async write(buf: Buffer): Promise<number> {
    const at = this.size;
    this.hash.update(buf);
    this.size += buf.length;
    this.pending.push(buf);
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= 4 << 20) await this.flush();
    return at;
  }

  private async flush(): Promise<void> {
    if (this.pendingBytes === 0) return;
    const block = Buffer.concat(this.pending);
    this.pending = [];
    this.pendingBytes = 0;
    try {
      this.fh ??= await open(this.partial, 'w', 0o600);
      this.target.chargeWrite(block.length);
      await this.fh.write(block, 0, block.length, this.flushed);
    } catch (e) {
      throw fsError(e, this.partial, 'writing');
    }
    this.flushed += block.length;
  }

  /** fsync, rename into place, fsync the directory. Returns sha256 of the content. */
  async commit(): Promise<string> {
    await this.flush();
    try {
      this.fh ??= await open(this.partial, 'w', 0o600);
      await this.fh.sync();
      await this.fh.close();
      this.fh = null;
      await rename(this.partial, join(this.target.dir, this.name));
      await this.target.syncDir();
    } catch (e) {
      throw fsError(e, this.partial, 'finishing');
    }
    return this.hash.digest('hex');
  }

  async abort(): Promise<void> {
    await this.fh?.close().catch(() => undefined);
    this.fh = null;
    await rm(this.partial, { force: true });
  }
}

export class LocalDirTarget implements BackupTarget {
  readonly label: string;
  private written = 0;
  constructor(readonly dir: string, readonly faults: DiskFaults = {}) {
    this.label = dir;
    mkdirSync(dir, { recursive: true });
  }

  chargeWrite(n: number): void {
    this.written += n;
    if (this.faults.failAfterBytes !== undefined && this.written > this.faults.failAfterBytes) {
      throw Object.assign(new Error('ENOSPC: no space left on device (simulated)'), { code: 'ENOSPC' });
    }
  }

  async syncDir(): Promise<void> {
    const d = await open(this.dir, 'r');
    try { await d.sync(); } finally { await d.close(); }
  }

  path(name: string): string {
    checkName(name);
    return join(this.dir, name);
  }

  async list(): Promise<ObjectInfo[]> {
    return readdirSync(this.dir, { withFileTypes: true })
      .filter((e) => e.isFile() && OBJECT_NAME.test(e.name) && !e.name.endsWith('.partial'))
      .map((e) => ({ name: e.name, size: statSync(join(this.dir, e.name)).size }));
  }

  /** Leftovers of an interrupted run (`*.partial`, `tmp-*`). */
  leftovers(): string[] {
    return readdirSync(this.dir).filter((n) => n.endsWith('.partial') || n.startsWith('tmp-'));
  }

  async read(name: string, offset = 0, length?: number): Promise<Buffer> {
    const p = this.path(name);
    if (length === undefined) {
      try {
        return await readFile(p);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupError('NOT_FOUND', `${p} does not exist: the backup is incomplete (was it copied fully?)`);
        throw fsError(e, p, 'reading');
      }
    }
    let fh: FileHandle;
    try {
      fh = await open(p, 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupError('NOT_FOUND', `${p} does not exist: the backup is incomplete (was it copied fully?)`);
      throw fsError(e, p, 'reading');
    }
    try {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await fh.read(buf, 0, length, offset);
      if (bytesRead < length) throw new BackupError('TRUNCATED', `${p} is truncated (needed bytes ${offset}..${offset + length}, file has ${(await fh.stat()).size}): restore from another backup point or copy the file again`);
      return buf;
    } finally {
      await fh.close();
    }
  }

  async *stream(name: string): AsyncIterable<Buffer> {
    const p = this.path(name);
    try {
      for await (const b of createReadStream(p, { highWaterMark: 1 << 20 })) yield b as Buffer;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new BackupError('NOT_FOUND', `${p} does not exist: the backup is incomplete`);
      throw fsError(e, p, 'reading');
    }
  }

  async delete(name: string): Promise<void> {
    await rm(this.path(name), { force: true });
  }

  async size(name: string): Promise<number | null> {
    try {
      return (await stat(this.path(name))).size;
    } catch {
      return null;
    }
  }

  writer(name: string): PackWriter {
    checkName(name);
    return new PackWriter(this, name);
  }

  /** Write a small object atomically (manifests). */
  async putSmall(name: string, data: Buffer): Promise<void> {
    const w = this.writer(name);
    try {
      await w.write(data);
      await w.commit();
    } catch (e) {
      await w.abort();
      throw e;
    }
  }
}

export interface HttpTargetOptions {
  /** Base URL of the target, e.g. https://central.example/backup/v1 */
  url: string;
  /** Owner namespace on the target (the clinic id, or "central-<site>"). */
  owner: string;
  token: string;
  /** Bytes per PATCH request. */
  partSize?: number;
  /** Attempts per request before the target counts as gone. */
  attempts?: number;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

/** Client of the off-site target (see protocol.ts). */
export class HttpTarget implements BackupTarget {
  readonly label: string;
  private readonly o: Required<Omit<HttpTargetOptions, 'fetch'>> & { fetch: typeof fetch };
  constructor(opts: HttpTargetOptions) {
    this.o = { partSize: 4 << 20, attempts: 4, timeoutMs: 30_000, fetch: globalThis.fetch, ...opts, url: opts.url.replace(/\/+$/, '') };
    this.label = `${this.o.url} (${opts.owner})`;
  }

  private u(path: string): string {
    return `${this.o.url}/owners/${encodeURIComponent(this.o.owner)}${path}`;
  }

  /** One request with retries on network errors and 5xx; 4xx are final. */
  async request(method: string, path: string, init: { headers?: Record<string, string>; body?: Buffer | string; what: string }): Promise<Response> {
    let last: unknown;
    for (let i = 0; i < this.o.attempts; i++) {
      if (i > 0) await sleep(Math.min(200 * 2 ** i, 3000));
      try {
        const res = await this.o.fetch(this.u(path), {
          method,
          headers: { authorization: `Bearer ${this.o.token}`, ...(init.headers ?? {}) },
          body: init.body as unknown as string | undefined,
          signal: AbortSignal.timeout(this.o.timeoutMs),
        });
        if (res.status >= 500 && res.status !== 507) { last = new Error(`HTTP ${res.status}: ${await res.text().catch(() => '')}`); continue; }
        return res;
      } catch (e) {
        last = e;
      }
    }
    throw new BackupError('TARGET_UNREACHABLE', `off-site target ${this.label} did not answer ${init.what} (${(last as Error)?.message ?? last}): check the network and the target; an interrupted upload resumes where it stopped on the next run`, { cause: last });
  }

  private async fail(res: Response, what: string): Promise<never> {
    const body = await res.text().catch(() => '');
    let msg = body;
    try { msg = (JSON.parse(body) as { error?: string }).error ?? body; } catch { /* text */ }
    if (res.status === 404) throw new BackupError('NOT_FOUND', `${what}: not found on ${this.label}`);
    if (res.status === 401 || res.status === 403) throw new BackupError('TARGET_REFUSED', `${what}: ${this.label} refused the credentials (HTTP ${res.status}): check the backup token configured for this clinic`);
    if (res.status === 507) throw new BackupError('NO_SPACE', `${what}: the off-site target ${this.label} is out of space (${msg}): ask its operator to free space; the upload resumes on the next run`);
    throw new BackupError('TARGET_REFUSED', `${what}: ${this.label} answered HTTP ${res.status}: ${msg}`);
  }

  async list(): Promise<ObjectInfo[]> {
    const res = await this.request('GET', '/objects', { what: 'the object list' });
    if (!res.ok) await this.fail(res, 'listing backups');
    return ((await res.json()) as { objects: ObjectInfo[] }).objects;
  }

  async read(name: string, offset = 0, length?: number): Promise<Buffer> {
    checkName(name);
    const headers: Record<string, string> = length !== undefined ? { range: `bytes=${offset}-${offset + length - 1}` } : {};
    const res = await this.request('GET', `/objects/${name}`, { headers, what: `reading ${name}` });
    if (!res.ok) await this.fail(res, `reading ${name}`);
    const buf = Buffer.from(await res.arrayBuffer());
    if (length !== undefined && buf.length < length) throw new BackupError('TRUNCATED', `${name} on ${this.label} is truncated (needed bytes ${offset}..${offset + length}, got ${buf.length})`);
    return buf;
  }

  async *stream(name: string): AsyncIterable<Buffer> {
    checkName(name);
    const res = await this.request('GET', `/objects/${name}`, { what: `reading ${name}` });
    if (!res.ok || !res.body) await this.fail(res, `reading ${name}`);
    try {
      for await (const b of res.body as unknown as AsyncIterable<Uint8Array>) yield Buffer.from(b);
    } catch (e) {
      throw new BackupError('TARGET_UNREACHABLE', `off-site target ${this.label} went away while sending ${name}: ${(e as Error).message}`, { cause: e });
    }
  }

  async delete(name: string): Promise<void> {
    checkName(name);
    const res = await this.request('DELETE', `/objects/${name}`, { what: `deleting ${name}` });
    if (!res.ok && res.status !== 404) await this.fail(res, `deleting ${name}`);
  }

  /**
   * Resumable upload of a local file: ask the target how much of `name` it already has,
   * send the rest in parts with `Upload-Offset`, then complete with the sha256 (the target
   * verifies it before the object becomes visible).
   */
  async upload(name: string, file: string, sha256: string, onProgress?: (sent: number, total: number) => void, throttle?: { take(n: number): Promise<void> }): Promise<{ resumedAt: number; sent: number }> {
    checkName(name);
    const total = statSync(file).size;
    const head = await this.request('GET', `/uploads/${name}`, { what: `the upload state of ${name}` });
    if (!head.ok) await this.fail(head, `starting the upload of ${name}`);
    const st = (await head.json()) as { offset: number; complete: boolean };
    if (st.complete) return { resumedAt: total, sent: 0 };
    let offset = st.offset > total ? 0 : st.offset;
    const resumedAt = offset;
    const fh = await open(file, 'r');
    let sent = 0;
    try {
      while (offset < total) {
        const n = Math.min(this.o.partSize, total - offset);
        const buf = Buffer.alloc(n);
        await fh.read(buf, 0, n, offset);
        await throttle?.take(n);
        const res = await this.request('PATCH', `/uploads/${name}`, { headers: { [protocol.offsetHeader]: String(offset), 'content-type': 'application/octet-stream' }, body: buf, what: `part ${offset}..${offset + n} of ${name}` });
        if (res.status === 409) {
          // The target has a different offset (an earlier part arrived after a timeout): follow it.
          offset = Number(res.headers.get(protocol.offsetHeader) ?? '0');
          continue;
        }
        if (!res.ok) await this.fail(res, `uploading ${name} at byte ${offset}`);
        offset = Number(res.headers.get(protocol.offsetHeader) ?? offset + n);
        sent += n;
        onProgress?.(offset, total);
      }
    } finally {
      await fh.close();
    }
    const done = await this.request('POST', `/uploads/${name}/complete`, { headers: { 'content-type': 'application/json' }, body: JSON.stringify({ size: total, sha256 }), what: `completing ${name}` });
    if (!done.ok) await this.fail(done, `completing the upload of ${name}`);
    return { resumedAt, sent };
  }

  async postJson(path: string, body: unknown, what: string): Promise<unknown> {
    const res = await this.request('POST', path, { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), what });
    if (!res.ok) await this.fail(res, what);
    return res.json();
  }

  async getJson(path: string, what: string): Promise<unknown> {
    const res = await this.request('GET', path, { what });
    if (!res.ok) await this.fail(res, what);
    return res.json();
  }
}
