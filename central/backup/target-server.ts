/**
 * The off-site backup target central offers to edges (and to other sites): the protocol of
 * contracts/backup/protocol.ts, one directory per owner. Objects arrive encrypted by their
 * owner (central never holds an edge's backup key). Uploads are resumable: a part is
 * accepted only at the offset the target already holds, a completed upload is checked
 * against its sha256 before it becomes visible, a full disk answers 507 without losing what
 * was received before.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, statfsSync, writeFileSync } from 'node:fs';
import { open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Context, Hono } from 'hono';
import { OBJECT_NAME, OWNER_PATTERN, backupStatusReportSchema, checkBackupToken, parseSnapshotId, protocol, type BackupStatusReport, type RejoinResponse } from '../../contracts/backup/index.ts';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { rejoinQuery } from './rejoin-query.ts';

export interface OwnerSummary {
  owner: string;
  objects: number;
  bytes: number;
  points: number;
  latestPoint: string | null;
  latestPointAt: string | null;
  uploadsInProgress: number;
  lastReport: BackupStatusReport | null;
}

export class BackupStore {
  constructor(readonly root: string, readonly minFreeBytes: number) {
    mkdirSync(root, { recursive: true });
  }

  dir(owner: string): string {
    return join(this.root, owner);
  }

  private uploads(owner: string): string {
    return join(this.root, owner, '.uploads');
  }

  objects(owner: string): { name: string; size: number; mtimeMs: number }[] {
    const d = this.dir(owner);
    if (!existsSync(d)) return [];
    return readdirSync(d, { withFileTypes: true }).filter((e) => e.isFile() && OBJECT_NAME.test(e.name)).map((e) => {
      const st = statSync(join(d, e.name));
      return { name: e.name, size: st.size, mtimeMs: st.mtimeMs };
    });
  }

  owners(): string[] {
    return readdirSync(this.root, { withFileTypes: true }).filter((e) => e.isDirectory() && OWNER_PATTERN.test(e.name)).map((e) => e.name).sort();
  }

  uploadState(owner: string, name: string): { offset: number; complete: boolean } {
    if (existsSync(join(this.dir(owner), name))) return { offset: statSync(join(this.dir(owner), name)).size, complete: true };
    const p = join(this.uploads(owner), name);
    return { offset: existsSync(p) ? statSync(p).size : 0, complete: false };
  }

  freeBytes(): number {
    const s = statfsSync(this.root);
    return s.bavail * s.bsize;
  }

  /** Append a part at `offset`. Returns the new offset, or the actual one on mismatch. */
  async append(owner: string, name: string, offset: number, data: Buffer): Promise<{ ok: true; offset: number } | { ok: false; status: 409 | 507; offset: number; error: string }> {
    mkdirSync(this.uploads(owner), { recursive: true });
    const p = join(this.uploads(owner), name);
    const cur = existsSync(p) ? statSync(p).size : 0;
    if (existsSync(join(this.dir(owner), name))) return { ok: false, status: 409, offset: statSync(join(this.dir(owner), name)).size, error: 'object already complete' };
    if (offset !== cur) return { ok: false, status: 409, offset: cur, error: `expected offset ${cur}` };
    if (this.freeBytes() - data.length < this.minFreeBytes) return { ok: false, status: 507, offset: cur, error: `target disk has ${this.freeBytes()} bytes free (keeps ${this.minFreeBytes} free)` };
    const fh = await open(p, 'a', 0o600);
    try {
      await fh.write(data, 0, data.length, offset);
      await fh.sync();
    } catch (e) {
      await fh.close().catch(() => undefined);
      await truncate(p, cur).catch(() => undefined); // keep what was good
      if ((e as NodeJS.ErrnoException).code === 'ENOSPC') return { ok: false, status: 507, offset: cur, error: 'target disk full' };
      throw e;
    }
    await fh.close();
    return { ok: true, offset: cur + data.length };
  }

  async complete(owner: string, name: string, size: number, sha256: string): Promise<{ ok: boolean; error?: string }> {
    const final = join(this.dir(owner), name);
    if (existsSync(final)) return { ok: true };
    const p = join(this.uploads(owner), name);
    if (!existsSync(p)) return { ok: false, error: 'no upload in progress' };
    const have = statSync(p).size;
    if (have !== size) return { ok: false, error: `received ${have} of ${size} bytes` };
    const h = createHash('sha256');
    for await (const b of createReadStream(p)) h.update(b as Buffer);
    if (h.digest('hex') !== sha256) {
      rmSync(p, { force: true });
      return { ok: false, error: 'sha256 mismatch: the upload was discarded, send it again' };
    }
    renameSync(p, final);
    const d = await open(this.dir(owner), 'r');
    await d.sync().finally(() => d.close());
    return { ok: true };
  }

  report(owner: string): BackupStatusReport | null {
    const p = join(this.dir(owner), '.status.json');
    if (!existsSync(p)) return null;
    try {
      return backupStatusReportSchema.parse(JSON.parse(readFileSync(p, 'utf8')));
    } catch {
      return null;
    }
  }

  saveReport(owner: string, r: BackupStatusReport): void {
    mkdirSync(this.dir(owner), { recursive: true });
    writeFileSync(join(this.dir(owner), '.status.json.tmp'), JSON.stringify(r));
    renameSync(join(this.dir(owner), '.status.json.tmp'), join(this.dir(owner), '.status.json'));
  }

  summary(owner: string): OwnerSummary {
    const objs = this.objects(owner);
    const points = objs.filter((o) => o.name.endsWith('.manifest')).map((o) => parseSnapshotId(o.name.slice(0, -9))).filter((p) => p !== null).sort((a, b) => b.at.getTime() - a.at.getTime());
    const up = join(this.uploads(owner));
    return {
      owner,
      objects: objs.length,
      bytes: objs.reduce((n, o) => n + o.size, 0),
      points: points.length,
      latestPoint: points[0]?.snapshotId ?? null,
      latestPointAt: points[0]?.at.toISOString() ?? null,
      uploadsInProgress: existsSync(up) ? readdirSync(up).length : 0,
      lastReport: this.report(owner),
    };
  }
}

const bearer = (c: Context) => (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
const sourceIp = (c: Context) => c.req.header('x-forwarded-for') ?? 'unknown';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function mountTargetRoutes(app: Hono<any, any, any>, deps: { store: BackupStore; secret: string | undefined; wh: Warehouse; log: Logger; onReport?: (r: BackupStatusReport) => void }): void {
  const base = `${protocol.basePath}/owners/:owner`;
  const { store } = deps;
  const auth = (c: Context): string | Response => {
    const owner = c.req.param('owner') ?? '';
    if (!deps.secret) return c.json({ error: 'the off-site backup target is not configured on this central (CENTRAL_BACKUP_TARGET_SECRET)' }, 503);
    if (!OWNER_PATTERN.test(owner)) return c.json({ error: 'invalid owner id' }, 400);
    if (!checkBackupToken(deps.secret, owner, bearer(c))) {
      deps.log.warn({ owner }, 'backup target: bad token');
      return c.json({ error: 'bad backup token for this owner' }, 401);
    }
    return owner;
  };
  const name = (c: Context): string | null => {
    const n = c.req.param('name') ?? '';
    return OBJECT_NAME.test(n) ? n : null;
  };

  app.get(`${base}/objects`, (c) => {
    const owner = auth(c);
    if (typeof owner !== 'string') return owner;
    return c.json({ objects: store.objects(owner).map(({ name: n, size }) => ({ name: n, size })) });
  });

  app.get(`${base}/objects/:name`, (c) => {
    const owner = auth(c);
    if (typeof owner !== 'string') return owner;
    const n = name(c);
    const p = n ? join(store.dir(owner), n) : null;
    if (!p || !existsSync(p)) return c.json({ error: 'no such object' }, 404);
    const size = statSync(p).size;
    const m = /^bytes=(\d+)-(\d+)?$/.exec(c.req.header('range') ?? '');
    if (m) {
      const start = Number(m[1]);
      const end = Math.min(size - 1, m[2] ? Number(m[2]) : size - 1);
      if (start > end) return c.body(null, 416, { 'content-range': `bytes */${size}` });
      return new Response(Readable.toWeb(createReadStream(p, { start, end })) as ReadableStream, { status: 206, headers: { 'content-range': `bytes ${start}-${end}/${size}`, 'content-length': String(end - start + 1), 'content-type': 'application/octet-stream' } });
    }
    return new Response(Readable.toWeb(createReadStream(p)) as ReadableStream, { headers: { 'content-length': String(size), 'content-type': 'application/octet-stream' } });
  });

  app.delete(`${base}/objects/:name`, (c) => {
    const owner = auth(c);
    if (typeof owner !== 'string') return owner;
    const n = name(c);
    if (!n) return c.json({ error: 'invalid object name' }, 400);
    rmSync(join(store.dir(owner), n), { force: true });
    return c.body(null, 204);
  });

  app.get(`${base}/uploads/:name`, (c) => {
    const owner = auth(c);
    if (typeof owner !== 'string') return owner;
    const n = name(c);
    if (!n) return c.json({ error: 'invalid object name' }, 400);
    return c.json(store.uploadState(owner, n));
  });

  app.patch(`${base}/uploads/:name`, async (c) => {
    const owner = auth(c);
    if (typeof owner !== 'string') return owner;
    const n = name(c);
    if (!n) return c.json({ error: 'invalid object name' }, 400);
    const offset = Number(c.req.header(protocol.offsetHeader));
    if (!Number.isInteger(offset) || offset < 0) return c.json({ error: `missing or bad ${protocol.offsetHeader} header` }, 400);
    const len = Number(c.req.header('content-length') ?? '0');
    if (len > protocol.maxPartBytes) return c.json({ error: `part larger than ${protocol.maxPartBytes} bytes` }, 413);
    const data = Buffer.from(await c.req.arrayBuffer());
    if (data.length > protocol.maxPartBytes) return c.json({ error: `part larger than ${protocol.maxPartBytes} bytes` }, 413);
    const r = await store.append(owner, n, offset, data);
    if (!r.ok) {
      if (r.status === 507) deps.log.error({ owner, name: n, err: r.error }, 'backup target out of space');
      return c.json({ error: r.error }, r.status, { [protocol.offsetHeader]: String(r.offset) });
    }
    return c.body(null, 204, { [protocol.offsetHeader]: String(r.offset) });
  });

  app.post(`${base}/uploads/:name/complete`, async (c) => {
    const owner = auth(c);
    if (typeof owner !== 'string') return owner;
    const n = name(c);
    if (!n) return c.json({ error: 'invalid object name' }, 400);
    const body = (await c.req.json().catch(() => null)) as { size?: unknown; sha256?: unknown } | null;
    if (!body || typeof body.size !== 'number' || typeof body.sha256 !== 'string') return c.json({ error: 'body must be {size, sha256}' }, 400);
    const r = await store.complete(owner, n, body.size, body.sha256);
    return r.ok ? c.json({ ok: true }) : c.json({ error: r.error }, 400);
  });

  app.post(`${base}/status`, async (c) => {
    const owner = auth(c);
    if (typeof owner !== 'string') return owner;
    const r = backupStatusReportSchema.safeParse(await c.req.json().catch(() => null));
    if (!r.success) return c.json({ error: `invalid status report: ${r.error.issues[0]?.path.join('.')}: ${r.error.issues[0]?.message}` }, 400);
    if (r.data.owner !== owner) return c.json({ error: 'report owner differs from the path' }, 400);
    store.saveReport(owner, r.data);
    deps.onReport?.(r.data);
    return c.json({ ok: true });
  });

  // A restored edge learns central's watermark and gets back its records written after the
  // backup point (personal data: audited, fail closed).
  app.get(`${base}/rejoin`, async (c) => {
    const owner = auth(c);
    if (typeof owner !== 'string') return owner;
    const after = Number(c.req.query('after') ?? '0');
    const limit = Math.min(5000, Math.max(1, Number(c.req.query('limit') ?? '1000')));
    if (!Number.isInteger(after) || after < 0) return c.json({ error: 'after must be a non-negative integer' }, 400);
    let r: RejoinResponse;
    try {
      r = await rejoinQuery(deps.wh, owner, after, limit);
      await deps.wh.audit({ actor: `backup:${owner}`, action: 'backup.rejoin', target: `${owner} seq>${after}`, sourceIp: sourceIp(c), outcome: `ok ${r.records.length} records` });
    } catch (e) {
      deps.log.error({ owner, err: (e as Error).message }, 'rejoin failed');
      return c.json({ error: `rejoin failed: ${(e as Error).message}` }, 500);
    }
    return c.json(r);
  });
}
