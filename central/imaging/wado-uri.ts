/**
 * WADO-URI (PS3.18 chapter 9, the URI service; "WADO" as hospital systems and electronic records
 * link images by URL): `GET /api/imaging/wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…`.
 *
 * - `contentType` (a list, first served wins; default image/jpeg): `image/jpeg` or `image/png`, a
 *   rendered frame (`frameNumber`, default 1; `rows` / `columns` to fit within, aspect kept, never
 *   enlarged; `windowCenter` + `windowWidth` for a monochrome image; `imageQuality` 1-100 for JPEG,
 *   default 90), rendered in the preview thread; or `application/dicom`, the instance in
 *   `transferSyntax` (default Explicit VR Little Endian, transcoded when stored otherwise; the stored
 *   UID or `*` for the stored bytes).
 * - Not offered, refused with 400 and the reason: `region`, `anonymize=yes`, `presentationUID`;
 *   rendering parameters with application/dicom; `transferSyntax` with an image. `annotation`
 *   (burned-in text) is accepted and ignored: images are rendered without annotation.
 * Authenticated as the rest of /api (bearer token) and audited as `wado.uri`.
 */
import { readFile } from 'node:fs/promises';
import type { Context, Hono } from 'hono';
import type { IndexedInstance } from './index-store.ts';
import { choose } from './accept.ts';
import { EXPLICIT_LE, TranscodeError } from '../../contracts/dicom/transcode.ts';
import { RenderError } from '../../contracts/dicom/render.ts';
import { PreviewBusyError, type ImageOptions, type PreviewRenderer } from '../../contracts/dicom/preview-pool.ts';

const UID = /^[0-9]+(\.[0-9]+)*$/;
/** Largest side of a rendered image (the renderer's own limit is 50 M pixels). */
const MAX_SIDE = 16384;

export type WadoUriRequest =
  | { kind: 'image'; study: string; series: string; sop: string; format: 'jpeg' | 'png'; options: ImageOptions }
  | { kind: 'dicom'; study: string; series: string; sop: string; transferSyntax: string };

/** The request's parameters checked; `{ status, detail }` says what is wrong, to whom sent it. */
export function parseWadoUri(q: Record<string, string | undefined>): WadoUriRequest | { status: 400 | 406; detail: string } {
  const bad = (detail: string) => ({ status: 400 as const, detail });
  if (q.requestType !== 'WADO') return bad('requestType must be WADO');
  for (const k of ['studyUID', 'seriesUID', 'objectUID'] as const) {
    const v = q[k];
    if (!v) return bad(`${k} is required`);
    if (v.length > 64 || !UID.test(v)) return bad(`${k} "${v.slice(0, 70)}" is not a UID (digits and dots, at most 64 characters)`);
  }
  if (q.region !== undefined) return bad('region is not offered: ask for the whole frame (rows/columns scale it)');
  if (q.presentationUID !== undefined || q.presentationSeriesUID !== undefined) return bad('presentation states are not applied here: omit presentationUID');
  if (q.anonymize !== undefined && q.anonymize !== 'no') return bad('anonymize is not offered: retrieving images needs the right to see whose they are');
  const asked = (q.contentType ?? 'image/jpeg').split(',').map((s) => s.split(';')[0]!.trim().toLowerCase()).filter(Boolean);
  const served = asked.map((t) => (t === '*/*' || t === 'image/*' ? 'image/jpeg' : t)).find((t) => t === 'image/jpeg' || t === 'image/png' || t === 'application/dicom');
  if (!served) return { status: 406, detail: `contentType ${asked.join(',').slice(0, 100)} is not served: image/jpeg (the default), image/png or application/dicom` };
  const ids = { study: q.studyUID!, series: q.seriesUID!, sop: q.objectUID! };
  const rendering = ['rows', 'columns', 'windowCenter', 'windowWidth', 'frameNumber', 'imageQuality'].filter((k) => q[k] !== undefined);
  if (served === 'application/dicom') {
    if (rendering.length) return bad(`${rendering.join(', ')} apply to rendered images, not to application/dicom`);
    const ts = q.transferSyntax ?? EXPLICIT_LE;
    if (ts !== '*' && !UID.test(ts)) return bad(`transferSyntax "${ts.slice(0, 70)}" is not a UID`);
    return { kind: 'dicom', ...ids, transferSyntax: ts };
  }
  if (q.transferSyntax !== undefined) return bad('transferSyntax applies to application/dicom, not to a rendered image');
  const int = (k: string, lo: number, hi: number): number | undefined | string => {
    const v = q[k];
    if (v === undefined) return undefined;
    const n = Number(v);
    return /^[0-9]+$/.test(v) && n >= lo && n <= hi ? n : `${k} must be a whole number from ${lo} to ${hi}`;
  };
  const rows = int('rows', 1, MAX_SIDE);
  const cols = int('columns', 1, MAX_SIDE);
  const frame = int('frameNumber', 1, 100_000);
  const quality = int('imageQuality', 1, 100);
  for (const v of [rows, cols, frame, quality]) if (typeof v === 'string') return bad(v);
  if (quality !== undefined && served !== 'image/jpeg') return bad('imageQuality applies to image/jpeg');
  const options: ImageOptions = {};
  if ((q.windowCenter === undefined) !== (q.windowWidth === undefined)) return bad('windowCenter and windowWidth go together');
  if (q.windowCenter !== undefined) {
    const center = Number(q.windowCenter);
    const width = Number(q.windowWidth);
    if (!Number.isFinite(center) || !Number.isFinite(width) || width < 1 || q.windowCenter.trim() === '' || q.windowWidth!.trim() === '') return bad('windowCenter must be a number and windowWidth a number of at least 1');
    options.window = { center, width };
  }
  if (rows !== undefined || cols !== undefined) options.box = { ...(rows !== undefined ? { rows: rows as number } : {}), ...(cols !== undefined ? { cols: cols as number } : {}) };
  if (frame !== undefined) options.frame = frame as number;
  if (quality !== undefined) options.quality = quality as number;
  return { kind: 'image', ...ids, format: served === 'image/png' ? 'png' : 'jpeg', options: { ...options, format: served === 'image/png' ? 'png' : 'jpeg' } };
}

export interface WadoUriDeps {
  instance(sop: string): Promise<IndexedInstance | null>;
  previews: PreviewRenderer;
  audit(c: Context, action: string, target: string, outcome: string): void;
  /** An instance given transcoded, or one that could not be. */
  transcoded(ok: boolean): void;
}

// Hono's generic parameters vary per app; any concrete app is accepted here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export function mountWadoUri(app: Hono<any, any, any>, deps: WadoUriDeps): void {
  app.get('/api/imaging/wado', async (c) => {
    const r = parseWadoUri(c.req.query());
    const target = c.req.query('objectUID')?.slice(0, 64) ?? '';
    const refuse = (status: 400 | 404 | 406 | 503, detail: string, headers?: Record<string, string>) => {
      deps.audit(c, 'wado.uri', target, `refused ${status}: ${detail}`);
      return c.json({ error: status === 404 ? 'not found' : status === 406 ? 'not acceptable' : status === 503 ? 'busy' : 'bad request', detail }, status, headers);
    };
    if ('status' in r) return refuse(r.status, r.detail);
    const i = await deps.instance(r.sop);
    if (!i || i.studyInstanceUid !== r.study || i.seriesInstanceUid !== r.series) return refuse(404, `no instance ${r.sop} in series ${r.series} of study ${r.study}`);
    try {
      if (r.kind === 'dicom') {
        const choice = choose([{ ts: r.transferSyntax, q: 1 }], i.transferSyntaxUid, 'application/dicom');
        if (choice.give === 'refuse') return refuse(406, choice.detail);
        let body: Uint8Array<ArrayBuffer>;
        if (choice.give === 'stored') {
          body = new Uint8Array(await readFile(i.path));
        } else {
          const [b] = await deps.previews.transcode(i.path);
          deps.transcoded(true);
          body = new Uint8Array(b!.buffer as ArrayBuffer, b!.byteOffset, b!.byteLength);
        }
        deps.audit(c, 'wado.uri', i.sopInstanceUid, `ok application/dicom${choice.give === 'transcode' ? ` in ${EXPLICIT_LE}` : ''}`);
        return c.body(body, 200, { 'content-type': 'application/dicom', 'content-disposition': `attachment; filename="${i.sopInstanceUid}.dcm"` });
      }
      const img = await deps.previews.render(i.path, MAX_SIDE, r.options);
      deps.audit(c, 'wado.uri', i.sopInstanceUid, `ok image/${r.format}${r.options.frame ? ` frame ${r.options.frame}` : ''}`);
      return c.body(new Uint8Array(img), 200, { 'content-type': `image/${r.format}` });
    } catch (e) {
      if (e instanceof PreviewBusyError) return refuse(503, e.message, { 'retry-after': '5' });
      if (e instanceof TranscodeError) {
        deps.transcoded(false);
        return refuse(406, `${e.message}`);
      }
      if (e instanceof RenderError) {
        if (e.kind === 'no-image' && /not in the instance/.test(e.message)) return refuse(404, e.message);
        return refuse(406, `${e.message}; contentType=application/dicom gives the instance itself`);
      }
      throw e;
    }
  });
}
