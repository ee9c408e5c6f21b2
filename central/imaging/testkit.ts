/** Test setup shared by central's imaging route tests: a warehouse in a temp directory and the routes on a Hono app. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import type { Registry } from 'prom-client';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { mountCentralImaging } from './index.ts';

interface Teardown { teardown(fn: () => unknown): void }

export function imagingApp(t: Teardown, prefix: string, opts: { registry?: Registry } = {}) {
  const dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(() => wh.close());
  const app = new Hono();
  const imaging = mountCentralImaging(app, { wh, dataDir: dir, ...opts });
  t.teardown(() => imaging.stop());
  /** STOW-RS of Part 10 files in one request; its status. */
  const stow = async (...files: Buffer[]) => (await app.request('http://central/api/imaging/dicomweb/studies', {
    method: 'POST', headers: { 'content-type': 'multipart/related; type="application/dicom"; boundary=b' },
    body: new Uint8Array(Buffer.concat([...files.flatMap((f) => [Buffer.from('--b\r\nContent-Type: application/dicom\r\n\r\n'), f, Buffer.from('\r\n')]), Buffer.from('--b--\r\n')])),
  })).status;
  return { dir, wh, app, imaging, stow };
}
