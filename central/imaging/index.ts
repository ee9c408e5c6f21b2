/**
 * Central imaging: the regional archive (upload from edges), DICOMweb (QIDO-RS, WADO-RS,
 * STOW-RS, rendered PNG) and workload statistics, mounted under /api/imaging on the management API
 * app, so the same bearer-token check applies; every access is audited.
 *
 *   mountCentralImaging(api, { wh, dataDir: config.dataDir });
 *
 * The index (`ImagingIndex`, index-store.ts) lives in the warehouse's own database: SQLite
 * (migrations 200-203 appended to its list) or PostgreSQL (`PgImagingIndex`, same numbers in the
 * warehouse's schema_migrations). `await archive.index.ready()` at start surfaces a failed migration.
 */
import { join } from 'node:path';
import type { Context, Hono } from 'hono';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { PostgresWarehouse } from '../warehouse/postgres.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { Archive, ArchiveError, type IndexedInstance } from './archive.ts';
import { FrameError, frameList, instanceBulkData, instanceFrames, instanceJson, instanceMetadata, multipartDicom, multipartOctets, seriesJson, studiesJson, type DicomPart, type OctetPart, type Query } from './dicomweb.ts';
import { choose, wantedSyntaxes } from './accept.ts';
import { mountWadoUri } from './wado-uri.ts';
import { TranscodeError } from '../../contracts/dicom/transcode.ts';
import './migrations.ts';
import { SqliteImagingIndex, type ImagingIndex } from './index-store.ts';
import { PgImagingIndex } from './index-store-pg.ts';
import { MultipartError, stow } from './stow.ts';
import { ReportError, reportInputSchema } from './reports.ts';
import { registerImagingOpenApi } from './openapi.ts';
import { requestBodyLimit } from '../../contracts/runtime/index.ts';
import { verifyClinicToken } from '../../contracts/clinic-token.ts';
import { RenderError } from '../../contracts/dicom/render.ts';
import { PreviewBusyError, PreviewRenderer } from '../../contracts/dicom/preview-pool.ts';
import type { DiskAmount } from '../../contracts/runtime/disk.ts';
import { metricNames } from '../../contracts/index.ts';
import { Counter, Gauge, type Registry } from 'prom-client';
import type { Logger } from 'pino';

/** The archive disk's gauges (one statfs per scrape at most every 2 s) and the uploads refused for space. */
function registerArchiveMetrics(registry: Registry, archive: Archive): void {
  const m = metricNames.central;
  const gauge = (name: string, help: string, pick: (d: { free: number; total: number; minFree: number }) => number) =>
    new Gauge({ name, help, registers: [registry], async collect() {
      const d = await archive.diskStatus();
      if (d) this.set(pick(d));
      else this.reset();
    } });
  gauge(m.archiveDiskFree, 'Free space on the image archive\'s disk', (d) => d.free);
  gauge(m.archiveDiskSize, 'Size of the file system holding the image archive', (d) => d.total);
  gauge(m.archiveMinFree, 'Free space kept on the archive disk: uploads are refused (507) below it', (d) => d.minFree);
  // Partial uploads (resumable copies, temp files): read from the disk at each scrape (a few files:
  // one per clinic with a large instance under way).
  const partial = () => archive.partialUploads().catch(() => ({ files: 0, bytes: 0, oldestMs: null }));
  new Gauge({ name: m.archivePartialBytes, help: 'Bytes of uploads not yet filed (resumable copies waiting for the rest, temp files), and their number (label what=files)', labelNames: ['what'], registers: [registry], async collect() {
    const p = await partial();
    this.set({ what: 'bytes' }, p.bytes);
    this.set({ what: 'files' }, p.files);
  } });
  new Gauge({ name: m.archivePartialOldest, help: 'How long the least recently written partial upload has not been added to (0 when there is none): a copy idle for CENTRAL_IMAGING_UPLOAD_KEEP_HOURS is removed by the sweep', registers: [registry], async collect() {
    const p = await partial();
    this.set(p.oldestMs === null ? 0 : Math.max(0, Math.floor((Date.now() - p.oldestMs) / 1000)));
  } });
  new Counter({ name: m.archiveAbandoned, help: 'Partial uploads removed as abandoned (the clinic sends the instance again from the start if it still has it), files and bytes (label what)', labelNames: ['what'], registers: [registry], collect() {
    this.reset();
    this.inc({ what: 'files' }, archive.abandoned.files);
    this.inc({ what: 'bytes' }, archive.abandoned.bytes);
  } });
  new Counter({ name: m.archiveRefused, help: 'Instance uploads refused, by reason (no-space: below the kept free space or the disk full; the clinic retries)', labelNames: ['reason'], registers: [registry], collect() {
    this.reset();
    this.inc({ reason: 'no-space' }, archive.refusedNoSpace);
  } });
}

export { Archive } from './archive.ts';

const DICOM_JSON = 'application/dicom+json';

// Hono's generic parameters vary per app; any concrete app is accepted here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type AnyHono = Hono<any, any, any>;

/**
 * `uploadSecret` (central's API token in app.ts) enables `PUT /archive/instances/{sop}` for
 * edges holding a per-clinic token (`contracts/clinic-token.ts`): the clinic is the token's,
 * not a header the caller chooses. It is the only upload route.
 */
export function mountCentralImaging(app: AnyHono, deps: {
  wh: Warehouse; dataDir: string; archiveDir?: string; uploadSecret?: string; previews?: PreviewRenderer; /** STOW-RS body limit (default 1 GiB). */ stowMaxBytes?: number;
  /** Free space kept on the archive's disk: uploads are refused with 507 below it (default none). */ minFree?: DiskAmount;
  /** Where the archive's disk gauges go (central's registry). */ registry?: Registry;
  /**
   * Partial uploads untouched this long are removed (an hourly sweep and one at start); none when
   * unset. A temp file of an upload is removed after an hour without writes.
   */
  uploadKeepMs?: number; sweepEveryMs?: number; log?: Pick<Logger, 'info' | 'error'>;
}): Archive & { previews: PreviewRenderer; stop(): Promise<void> } {
  const root = deps.archiveDir ?? join(deps.dataDir, 'imaging');
  const index = openImagingIndex(deps.wh);
  const archive = new Archive(index, root, undefined, deps.minFree);
  if (deps.registry) registerArchiveMetrics(deps.registry, archive);
  // Rendered previews are decoded in a thread of their own (a compressed DR frame: up to seconds).
  const previews = deps.previews ?? new PreviewRenderer();
  /** WADO-RS answers given in Explicit VR Little Endian by transcoding, and those that could not be. */
  const transcoded = { instances: 0, frames: 0, failed: 0, busy: 0 };
  if (deps.registry) {
    new Counter({ name: metricNames.central.wadoTranscoded, help: 'WADO-RS instances and frames given in Explicit VR Little Endian by decoding what was stored (what=instances|frames), and requests that could not be (what=failed: corrupt or undecodable data, too large; what=busy: the decoding thread\'s queue full, 503)', labelNames: ['what'], registers: [deps.registry], collect() {
      this.reset();
      for (const [what, n] of Object.entries(transcoded)) this.inc({ what }, n);
    } });
  }
  registerImagingOpenApi(app);
  const audit = (c: Context, actor: string, action: string, target: string, outcome: string) => {
    deps.wh.audit({ actor, action, target, sourceIp: ip(c), outcome }).catch(() => undefined);
  };
  const base = (c: Context) => `${new URL(c.req.url).origin}/api/imaging/dicomweb`;
  const q = (c: Context): Query => c.req.query();

  const upload = async (c: Context, clinicId: string) => {
    const sop = c.req.param('sop') ?? '';
    try {
      const r = await archive.put({ clinicId, sopInstanceUid: sop, sha256: (c.req.header('x-content-sha256') ?? '').toLowerCase(), stationAe: c.req.header('x-station-ae'), body: c.req.raw.body });
      audit(c, `edge:${clinicId}`, 'imaging.instance.put', sop, r.stored ? 'stored' : 'already held');
      return c.json({ stored: r.stored, sha256: r.instance.sha256, size: r.instance.size }, r.stored ? 201 : 200);
    } catch (e) {
      if (!(e instanceof ArchiveError)) throw e;
      audit(c, `edge:${clinicId}`, 'imaging.instance.put', sop, `refused ${e.status}: ${e.message}`);
      return c.json({ error: 'instance refused', detail: e.message }, e.status);
    }
  };
  // Uploads only with a per-clinic token. (The former PUT /api/imaging/instances/:sop with the
  // shared API token filed instances under whatever X-Clinic-Id the caller sent: removed.)
  // Per-clinic token: the clinic is proven by the token; a different X-Clinic-Id is refused.
  app.put('/archive/instances/:sop', async (c) => {
    const token = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
    const clinicId = deps.uploadSecret ? verifyClinicToken(deps.uploadSecret, token) : null;
    if (!clinicId) {
      audit(c, 'anonymous', 'imaging.instance.put', c.req.param('sop') ?? '', 'denied: no valid clinic token');
      return c.json({ error: 'unauthorized', detail: 'send Authorization: Bearer <clinic upload token> (EDGE_DICOM_UPLOAD_TOKEN, minted per clinic)' }, 401);
    }
    const claimed = c.req.header('x-clinic-id');
    if (claimed && claimed !== clinicId) {
      audit(c, `edge:${clinicId}`, 'imaging.instance.put', c.req.param('sop') ?? '', `denied: token of ${clinicId} claims ${claimed}`);
      return c.json({ error: 'forbidden', detail: `this token belongs to clinic ${clinicId}, not ${claimed}` }, 403);
    }
    return upload(c, clinicId);
  });

  // Resumable uploads of large instances (the edge's forwarder above EDGE_DICOM_FORWARD_CHUNK_BYTES):
  // parts appended at the offset central holds, kept across cut connections; the last part files
  // the instance after checking the whole sha256. Clinic token, as PUT /archive/instances.
  const clinicOf = (c: Context) => {
    const token = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
    return deps.uploadSecret ? verifyClinicToken(deps.uploadSecret, token) : null;
  };
  const refused = (c: Context, clinicId: string, action: string, sop: string, e: unknown) => {
    if (!(e instanceof ArchiveError)) throw e;
    audit(c, `edge:${clinicId}`, action, sop, `refused ${e.status}: ${e.message}`);
    return c.json({ error: 'upload refused', detail: e.message, ...(e.offset !== undefined ? { offset: e.offset } : {}) }, e.status);
  };
  app.get('/archive/uploads/:sop', async (c) => {
    const clinicId = clinicOf(c);
    const sop = c.req.param('sop') ?? '';
    if (!clinicId) return c.json({ error: 'unauthorized', detail: 'send Authorization: Bearer <clinic upload token>' }, 401);
    try {
      return c.json(await archive.uploadOffset(clinicId, sop, (c.req.query('sha256') ?? '').toLowerCase()), 200);
    } catch (e) {
      return refused(c, clinicId, 'imaging.upload.offset', sop, e);
    }
  });
  app.put('/archive/uploads/:sop', async (c) => {
    const clinicId = clinicOf(c);
    const sop = c.req.param('sop') ?? '';
    if (!clinicId) {
      audit(c, 'anonymous', 'imaging.upload.part', sop, 'denied: no valid clinic token');
      return c.json({ error: 'unauthorized', detail: 'send Authorization: Bearer <clinic upload token>' }, 401);
    }
    const offset = Number(c.req.header('x-upload-offset') ?? 'NaN');
    try {
      const r = await archive.putPart({ clinicId, sopInstanceUid: sop, sha256: (c.req.header('x-content-sha256') ?? '').toLowerCase(), offset, total: Number(c.req.header('x-upload-length') ?? 'NaN'),
        stationAe: c.req.header('x-station-ae'), body: c.req.raw.body });
      if (!r.complete) return c.json({ offset: r.offset, complete: false }, 202);
      audit(c, `edge:${clinicId}`, 'imaging.instance.put', sop, `${r.stored ? 'stored' : 'already held'} (resumable, last part at ${offset})`);
      return c.json({ offset: r.offset, complete: true, stored: r.stored ?? false, sha256: r.instance?.sha256, size: r.instance?.size }, r.stored ? 201 : 200);
    } catch (e) {
      return refused(c, clinicId, 'imaging.upload.part', sop, e);
    }
  });

  // A clinic's own instance rendered, for the edge whose copy was removed from its disk once the
  // archive held it (edge-agent/imaging/storage.ts): the edge's study view shows it from here.
  // Only the token's clinic's instances (another clinic's: 404, as an unknown one).
  app.get('/archive/instances/:sop/rendered', async (c) => {
    const token = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
    const clinicId = deps.uploadSecret ? verifyClinicToken(deps.uploadSecret, token) : null;
    const sop = c.req.param('sop') ?? '';
    if (!clinicId) {
      audit(c, 'anonymous', 'imaging.instance.rendered', sop, 'denied: no valid clinic token');
      return c.json({ error: 'unauthorized', detail: 'send Authorization: Bearer <clinic upload token>' }, 401);
    }
    const i = await archive.instance(sop);
    if (!i || i.clinicId !== clinicId) {
      audit(c, `edge:${clinicId}`, 'imaging.instance.rendered', sop, 'not found');
      return c.json({ error: 'not found', detail: `no instance ${sop.slice(0, 64)} of clinic ${clinicId} in the archive` }, 404);
    }
    try {
      const size = Math.min(2048, Math.max(16, Number(c.req.query('size')) || 256));
      const png = await previews.render(i.path, size);
      audit(c, `edge:${clinicId}`, 'imaging.instance.rendered', sop, `ok size ${size}`);
      return c.body(new Uint8Array(png), 200, { 'content-type': 'image/png', 'x-content-sha256': i.sha256 });
    } catch (e) {
      if (e instanceof PreviewBusyError) {
        audit(c, `edge:${clinicId}`, 'imaging.instance.rendered', sop, 'busy');
        return c.json({ error: 'busy', detail: e.message }, 503, { 'retry-after': '5' });
      }
      if (!(e instanceof RenderError)) throw e;
      audit(c, `edge:${clinicId}`, 'imaging.instance.rendered', sop, `unsupported: ${e.message}`);
      return c.json({ error: 'cannot render', kind: e.kind, detail: e.message }, 415);
    }
  });

  // Reports flow back to the clinic that sent the study: the edge pulls with its clinic token
  // from a cursor (report row order), so a clinic offline for days catches up and sees only its own.
  app.get('/archive/reports', async (c) => {
    const token = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
    const clinicId = deps.uploadSecret ? verifyClinicToken(deps.uploadSecret, token) : null;
    if (!clinicId) return c.json({ error: 'unauthorized', detail: 'send Authorization: Bearer <clinic upload token>' }, 401);
    const after = Math.max(0, Number(c.req.query('after')) || 0);
    const rows = await index.reportsForClinic(clinicId, after, 200);
    audit(c, `edge:${clinicId}`, 'imaging.report.pull', `after ${after}`, `${rows.length} report(s)`);
    return c.json({ reports: rows }, 200);
  });

  const dw = '/api/imaging/dicomweb';
  app.get(`${dw}/studies`, async (c) => {
    audit(c, 'api-token', 'qido.studies', new URL(c.req.url).search, 'ok');
    return c.body(JSON.stringify(studiesJson(await index.searchStudies(q(c)), base(c))), 200, { 'content-type': DICOM_JSON });
  });
  app.get(`${dw}/studies/:study/series`, async (c) => {
    audit(c, 'api-token', 'qido.series', c.req.param('study') ?? '', 'ok');
    return c.body(JSON.stringify(seriesJson(await index.searchSeries({ ...q(c), StudyInstanceUID: c.req.param('study') }), base(c))), 200, { 'content-type': DICOM_JSON });
  });
  const instances = async (c: Context, extra: Query) => {
    audit(c, 'api-token', 'qido.instances', JSON.stringify(extra), 'ok');
    return c.body(JSON.stringify((await index.findInstances({ ...q(c), ...extra })).map((i) => instanceJson(i, base(c)))), 200, { 'content-type': DICOM_JSON });
  };
  app.get(`${dw}/instances`, (c) => instances(c, {}));
  app.get(`${dw}/studies/:study/instances`, (c) => instances(c, { StudyInstanceUID: c.req.param('study') }));
  app.get(`${dw}/studies/:study/series/:series/instances`, (c) => instances(c, { StudyInstanceUID: c.req.param('study'), SeriesInstanceUID: c.req.param('series') }));

  // STOW-RS: third parties (the district hospital, a report system) store instances. Only a
  // clinic's own upload token files them under that clinic; with the shared API token they go
  // under "external", or "external.<source>" when X-Clinic-Id names the sender. A dot never
  // occurs in a clinic id, so a third party cannot file instances as (or over) a clinic's.
  const STOW_MAX = deps.stowMaxBytes ?? 1024 ** 3;
  const store = async (c: Context, study?: string) => {
    const token = (c.req.header('authorization') ?? '').replace(/^Bearer\s+/i, '');
    const tokenClinic = deps.uploadSecret ? verifyClinicToken(deps.uploadSecret, token) : null;
    const claimed = c.req.header('x-clinic-id');
    if (tokenClinic && claimed && claimed !== tokenClinic) {
      audit(c, `edge:${tokenClinic}`, 'stow.store', study ?? '*', `denied: token of ${tokenClinic} claims ${claimed}`);
      return c.json({ error: 'forbidden', detail: `this token belongs to clinic ${tokenClinic}, not ${claimed}` }, 403);
    }
    if (!tokenClinic && claimed !== undefined && !/^[a-z0-9][a-z0-9-]{0,31}$/.test(claimed)) {
      audit(c, 'api-token', 'stow.store', study ?? '*', 'refused: bad X-Clinic-Id');
      return c.json({ error: 'bad X-Clinic-Id', detail: 'X-Clinic-Id names the sending system: lower-case letters, digits and dashes, at most 32' }, 400);
    }
    const clinicId = tokenClinic ?? (claimed ? `external.${claimed}` : 'external');
    const body = Buffer.from(await c.req.arrayBuffer()); // capped by the route's requestBodyLimit
    try {
      const r = await stow(archive, { clinicId, contentType: c.req.header('content-type') ?? '', body, study, base: base(c) });
      audit(c, 'api-token', 'stow.store', study ?? '*', `stored ${r.stored}, failed ${r.failed}`);
      return c.body(JSON.stringify(r.body), r.status, { 'content-type': DICOM_JSON });
    } catch (e) {
      if (!(e instanceof MultipartError)) throw e;
      audit(c, 'api-token', 'stow.store', study ?? '*', `refused: ${e.message}`);
      return c.json({ error: 'bad multipart body', detail: e.message }, 400);
    }
  };
  // The STOW-RS limit applied as the bytes arrive (central's default limit exempts these routes).
  const stowLimit = requestBodyLimit({ maxBytes: STOW_MAX, onRefused: (c) => audit(c, 'api-token', 'stow.store', c.req.param('study') ?? '*', `refused: body over ${STOW_MAX} bytes`) });
  app.post(`${dw}/studies`, stowLimit, (c) => store(c));
  app.post(`${dw}/studies/:study`, stowLimit, (c) => store(c, c.req.param('study')));

  // WADO-RS retrieve in the transfer syntax the Accept header asks for (accept.ts): the stored
  // bytes, or Explicit VR Little Endian transcoded in the preview thread. One instance is
  // transcoded before answering, so a failure is a 406 with the reason; a study's or series'
  // instances one at a time as the body is sent.
  const transcodeRefusal = (c: Context, action: string, target: string, e: unknown) => {
    if (e instanceof PreviewBusyError) {
      transcoded.busy++;
      audit(c, 'api-token', action, target, 'busy');
      return c.json({ error: 'busy', detail: e.message }, 503, { 'retry-after': '5' });
    }
    if (!(e instanceof TranscodeError)) throw e;
    transcoded.failed++;
    audit(c, 'api-token', action, target, `not transcoded: ${e.message}`);
    return c.json({ error: 'not acceptable', kind: e.kind, detail: e.message }, 406);
  };
  const retrieve = async (c: Context, sel: Query, what: string) => {
    const files = await index.findInstances({ ...sel, limit: '1000' });
    if (!files.length) {
      audit(c, 'api-token', 'wado.retrieve', what, 'not found');
      return c.json({ error: 'not found' }, 404);
    }
    const wanted = wantedSyntaxes(c.req.header('accept'), 'application/dicom');
    if (!wanted.length) {
      audit(c, 'api-token', 'wado.retrieve', what, 'refused 406: media type');
      return c.json({ error: 'not acceptable', detail: 'WADO-RS retrieve answers multipart/related; type="application/dicom" (transfer-syntax=* for the stored bytes; without it, Explicit VR Little Endian)' }, 406);
    }
    const choices = files.map((f) => ({ f, choice: choose(wanted, f.transferSyntaxUid, 'application/dicom') }));
    const refused = choices.filter((x) => x.choice.give === 'refuse');
    if (refused.length) {
      const first = refused[0]!.choice as { detail: string };
      audit(c, 'api-token', 'wado.retrieve', what, `refused 406: ${refused.length} of ${files.length} not in an accepted transfer syntax`);
      return c.json({ error: 'not acceptable', detail: refused.length === 1 && files.length === 1 ? first.detail : `${refused.length} of the ${files.length} instances cannot be given in a transfer syntax the Accept header names; the first: ${first.detail}` }, 406);
    }
    const toTranscode = choices.filter((x) => x.choice.give === 'transcode').length;
    const parts: DicomPart[] = choices.map(({ f, choice }) => (choice.give === 'transcode'
      ? { file: f, transcoded: async () => { const [b] = await previews.transcode(f.path); transcoded.instances++; return b!; } }
      : { file: f }));
    if (files.length === 1 && parts[0]!.transcoded) {
      // One instance: transcoded now, so that a failure is answered as such.
      try {
        const b = await parts[0]!.transcoded();
        parts[0] = { file: files[0]!, transcoded: async () => b };
      } catch (e) {
        return transcodeRefusal(c, 'wado.retrieve', what, e);
      }
    }
    audit(c, 'api-token', 'wado.retrieve', what, `ok (${files.length}${toTranscode ? `, ${toTranscode} in Explicit VR Little Endian` : ''})`);
    const m = multipartDicom(parts, (f, e) => {
      transcoded.failed++;
      deps.log?.error({ sop: f.sopInstanceUid, err: String((e as Error)?.message ?? e) }, 'WADO-RS retrieve cut: an instance could not be transcoded after the answer began');
    });
    return c.body(m.body, 200, { 'content-type': m.contentType });
  };
  app.get(`${dw}/studies/:study`, (c) => retrieve(c, { StudyInstanceUID: c.req.param('study') }, c.req.param('study') ?? ''));
  app.get(`${dw}/studies/:study/series/:series`, (c) => retrieve(c, { StudyInstanceUID: c.req.param('study'), SeriesInstanceUID: c.req.param('series') }, c.req.param('series') ?? ''));
  app.get(`${dw}/studies/:study/series/:series/instances/:sop`, (c) => retrieve(c, { StudyInstanceUID: c.req.param('study'), SeriesInstanceUID: c.req.param('series'), SOPInstanceUID: c.req.param('sop') }, c.req.param('sop') ?? ''));

  const metadata = async (c: Context, sel: Query, what: string) => {
    const files = await index.findInstances({ ...sel, limit: '1000' });
    audit(c, 'api-token', 'wado.metadata', what, files.length ? 'ok' : 'not found');
    if (!files.length) return c.json({ error: 'not found' }, 404);
    const out = [];
    for (const f of files) out.push(await instanceMetadata(f, base(c)));
    return c.body(JSON.stringify(out), 200, { 'content-type': DICOM_JSON });
  };
  app.get(`${dw}/studies/:study/metadata`, (c) => metadata(c, { StudyInstanceUID: c.req.param('study') }, c.req.param('study') ?? ''));
  app.get(`${dw}/studies/:study/series/:series/metadata`, (c) => metadata(c, { StudyInstanceUID: c.req.param('study'), SeriesInstanceUID: c.req.param('series') }, c.req.param('series') ?? ''));
  app.get(`${dw}/studies/:study/series/:series/instances/:sop/metadata`, (c) => metadata(c, { StudyInstanceUID: c.req.param('study'), SOPInstanceUID: c.req.param('sop') }, c.req.param('sop') ?? ''));

  const binary = async (c: Context, action: string, get: (i: IndexedInstance) => Promise<{ parts: OctetPart[]; type: string }>) => {
    const i = await archive.instance(c.req.param('sop') ?? '');
    if (!i || i.studyInstanceUid !== c.req.param('study')) {
      audit(c, 'api-token', action, c.req.param('sop') ?? '', 'not found');
      return c.json({ error: 'not found' }, 404);
    }
    try {
      const r = await get(i);
      const m = multipartOctets(r.parts, r.type); // owns the parts' open files from here
      try {
        audit(c, 'api-token', action, i.sopInstanceUid, `ok (${r.parts.length})`);
      } catch (e) {
        await m.body.cancel(); // closes them
        throw e;
      }
      return c.body(m.body, 200, { 'content-type': m.contentType, 'content-length': String(m.length) });
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      audit(c, 'api-token', action, i.sopInstanceUid, `refused ${e.status}: ${e.message}`);
      return c.json({ error: 'cannot retrieve', detail: e.message }, e.status);
    }
  };
  app.get(`${dw}/studies/:study/series/:series/instances/:sop/frames/:frames`, async (c) => {
    // Compressed frames decoded when the Accept header asks for native ones (the default).
    const i = await archive.instance(c.req.param('sop') ?? '');
    const choice = i ? choose(wantedSyntaxes(c.req.header('accept'), 'application/octet-stream'), i.transferSyntaxUid, 'application/octet-stream') : null;
    const found = i && i.studyInstanceUid === c.req.param('study');
    if (!found || choice?.give !== 'transcode') {
      if (found && choice?.give === 'refuse') {
        audit(c, 'api-token', 'wado.frames', i.sopInstanceUid, `refused 406: ${choice.detail}`);
        return c.json({ error: 'not acceptable', detail: choice.detail }, 406);
      }
      return binary(c, 'wado.frames', async (x) => {
        const r = await instanceFrames(x, c.req.param('frames') ?? '');
        return { parts: r.frames, type: r.type };
      });
    }
    let frames: Buffer[];
    try {
      frames = await previews.transcode(i.path, frameList(c.req.param('frames') ?? ''));
      transcoded.frames += frames.length;
    } catch (e) {
      if (e instanceof FrameError) {
        audit(c, 'api-token', 'wado.frames', i.sopInstanceUid, `refused ${e.status}: ${e.message}`);
        return c.json({ error: 'cannot retrieve', detail: e.message }, e.status);
      }
      // A frame beyond the instance is a 404, as for stored frames.
      if (e instanceof TranscodeError && /not in the instance/.test(e.message)) {
        audit(c, 'api-token', 'wado.frames', i.sopInstanceUid, `refused 404: ${e.message}`);
        return c.json({ error: 'cannot retrieve', detail: e.message }, 404);
      }
      return transcodeRefusal(c, 'wado.frames', i.sopInstanceUid, e);
    }
    const m = multipartOctets(frames, 'application/octet-stream');
    audit(c, 'api-token', 'wado.frames', i.sopInstanceUid, `ok (${frames.length} decoded)`);
    return c.body(m.body, 200, { 'content-type': m.contentType, 'content-length': String(m.length) });
  });
  app.get(`${dw}/studies/:study/series/:series/instances/:sop/bulkdata/:path`, (c) => binary(c, 'wado.bulkdata', async (i) => ({ parts: [await instanceBulkData(i, c.req.param('path') ?? '')], type: 'application/octet-stream' })));

  mountWadoUri(app, {
    instance: (sop) => archive.instance(sop), previews,
    audit: (c, action, target, outcome) => audit(c, 'api-token', action, target, outcome),
    transcoded: (ok) => { if (ok) transcoded.instances++; else transcoded.failed++; },
  });

  app.get(`${dw}/studies/:study/series/:series/instances/:sop/rendered`, async (c) => {
    const i = await archive.instance(c.req.param('sop') ?? '');
    if (!i || i.studyInstanceUid !== c.req.param('study')) {
      audit(c, 'api-token', 'wado.rendered', c.req.param('sop') ?? '', 'not found');
      return c.json({ error: 'not found' }, 404);
    }
    try {
      const size = Math.min(2048, Math.max(16, Number(c.req.query('size')) || 1024));
      const png = await previews.render(i.path, size);
      audit(c, 'api-token', 'wado.rendered', i.sopInstanceUid, 'ok');
      return c.body(new Uint8Array(png), 200, { 'content-type': 'image/png' });
    } catch (e) {
      if (e instanceof PreviewBusyError) {
        audit(c, 'api-token', 'wado.rendered', i.sopInstanceUid, 'busy');
        return c.json({ error: 'busy', detail: e.message }, 503, { 'retry-after': '5' });
      }
      if (!(e instanceof RenderError)) throw e;
      audit(c, 'api-token', 'wado.rendered', i.sopInstanceUid, `unsupported: ${e.message}`);
      return c.json({ error: 'cannot render', detail: e.message }, 415);
    }
  });

  app.post('/api/imaging/studies/:study/reports', async (c) => {
    const study = c.req.param('study') ?? '';
    const parsed = reportInputSchema.safeParse(await c.req.json().catch(() => null));
    if (!parsed.success) {
      audit(c, 'api-token', 'imaging.report.add', study, 'invalid');
      return c.json({ error: 'invalid report', issues: parsed.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })) }, 400);
    }
    try {
      const r = await index.addReport(study, parsed.data);
      audit(c, parsed.data.radiologist, 'imaging.report.add', study, `version ${r.version} ${r.status}`);
      return c.json(r, 201);
    } catch (e) {
      if (!(e instanceof ReportError)) throw e;
      audit(c, parsed.data.radiologist, 'imaging.report.add', study, `refused ${e.status}: ${e.message}`);
      return c.json({ error: 'report refused', detail: e.message }, e.status);
    }
  });
  app.get('/api/imaging/studies/:study/reports', async (c) => {
    const study = c.req.param('study') ?? '';
    const list = await index.reports(study);
    audit(c, 'api-token', 'imaging.report.read', study, `${list.length} version(s)`);
    return c.json(list, 200);
  });

  app.get('/api/imaging/stats', async (c) => {
    // Both default to today (China time); a date that is not one is refused, not replaced by today.
    const todayCn = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10);
    const from = c.req.query('from') || todayCn;
    const to = c.req.query('to') || todayCn;
    for (const [k, v] of [['from', from], ['to', to]] as const) if (!isDay(v)) return c.json({ error: `${k}: "${v.slice(0, 40)}" is not a date (yyyy-MM-dd)` }, 400);
    if (from > to) return c.json({ error: `from (${from}) is after to (${to})` }, 400);
    audit(c, 'api-token', 'imaging.stats', `${from}..${to}`, 'ok');
    return c.json(await index.workload(from, to, c.req.query('clinic')), 200);
  });
  // Partial uploads nobody continues (an edge replaced or restored, an instance deleted at the
  // clinic) would otherwise stay on the archive's disk for ever.
  let sweeping: Promise<unknown> = Promise.resolve();
  const sweep = () => {
    if (deps.uploadKeepMs === undefined) return;
    sweeping = archive.sweepUploads({ keepMs: deps.uploadKeepMs }).then((r) => {
      if (r.files) deps.log?.info({ event: 'imaging.uploads.abandoned', files: r.files, bytes: r.bytes, kept: r.kept }, `removed ${r.files} partial upload(s) idle for ${Math.round(deps.uploadKeepMs! / 3_600_000)} h or more (${r.bytes} bytes)`);
    }, (e: Error) => deps.log?.error({ err: e.message, dir: join(root, '.uploads') }, 'imaging: the sweep of abandoned partial uploads failed; check the permissions of the archive directory'));
  };
  sweep();
  const sweepTimer = deps.uploadKeepMs === undefined ? null : setInterval(sweep, deps.sweepEveryMs ?? 3_600_000);
  sweepTimer?.unref();
  const stop = async () => {
    if (sweepTimer) clearInterval(sweepTimer);
    await sweeping;
    await previews.close();
  };
  return Object.assign(archive, { previews, stop });
}

/** A real calendar day written yyyy-MM-dd (2026-02-30 is not one). */
export function isDay(s: string): boolean {
  const t = /^\d{4}-\d{2}-\d{2}$/.test(s) ? Date.parse(`${s}T00:00:00Z`) : NaN;
  return !Number.isNaN(t) && new Date(t).toISOString().slice(0, 10) === s;
}

/** The image index in the warehouse's own database (SQLite file or PostgreSQL). */
export function openImagingIndex(wh: Warehouse): ImagingIndex {
  if (wh instanceof SqliteWarehouse) return new SqliteImagingIndex(wh.db);
  if (wh instanceof PostgresWarehouse) return PgImagingIndex.lazy(wh.pool);
  throw new Error('central imaging: unknown warehouse backend (expected SqliteWarehouse or PostgresWarehouse)');
}

function ip(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? 'unknown';
}
