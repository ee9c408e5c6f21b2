/**
 * The preview of an instance removed from this disk (storage.ts): the central archive renders it
 * (`GET /archive/instances/{sop}/rendered`, this clinic's upload token). Same ETag as a local
 * preview (the bytes are the same), so a browser that has it asks nothing. When the archive
 * cannot be reached the tile says so in words, and that it comes back with the connection.
 */
import { NO_PREVIEW, noPreviewSvg, type PreviewAnswer } from '../../contracts/dicom/no-preview.ts';
import { transferSyntaxName, type RenderFailure } from '../../contracts/dicom/render.ts';

const TIMEOUT_MS = 15_000;

export async function archivedPreview(central: { url: string | undefined; token: string | undefined }, i: { sopInstanceUid: string; sha256: string; transferSyntaxUid: string }, size: number,
  ifNoneMatch: string | undefined, t: (zh: string, en: string) => string): Promise<PreviewAnswer> {
  const etag = `"${i.sha256.slice(0, 32)}-${size}"`;
  const cache = { etag, 'cache-control': 'private, max-age=86400' };
  if (ifNoneMatch === etag) return { status: 304, body: null, headers: cache };
  const why = (zh: string, en: string, status: 415 | 503 | 500, failure: { kind: string; message: string }, extra: Record<string, string> = {}): PreviewAnswer =>
    ({ status, body: noPreviewSvg(t(zh, en)), headers: { 'content-type': 'image/svg+xml; charset=utf-8', 'cache-control': 'no-store', ...extra }, failure });
  const away = (message: string) => why('此图像已上传到区影像中心并已从本机清理；现在连不上区影像中心，恢复连接后刷新即可查看。',
    'This image is at the district archive and was removed from this appliance; the archive cannot be reached now: reload once the connection is back.', 503, { kind: 'unreachable', message }, { 'retry-after': '30' });
  if (!central.url || !central.token) return away('no central URL or upload token configured (EDGE_DICOM_CENTRAL_URL, EDGE_DICOM_UPLOAD_TOKEN)');
  let res: Response;
  try {
    res = await fetch(`${central.url.replace(/\/$/, '')}/archive/instances/${encodeURIComponent(i.sopInstanceUid)}/rendered?size=${size}`, {
      headers: { authorization: `Bearer ${central.token}` },
      signal: AbortSignal.timeout(TIMEOUT_MS),
    });
  } catch (e) {
    return away((e as Error).message);
  }
  if (res.ok) return { status: 200, body: new Uint8Array(await res.arrayBuffer()), headers: { 'content-type': 'image/png', ...cache } };
  const body = await res.json().catch(() => ({})) as { kind?: string; detail?: string };
  if (res.status === 415 && body.kind && body.kind in NO_PREVIEW) {
    const [zh, en] = NO_PREVIEW[body.kind as RenderFailure];
    const ts = transferSyntaxName(i.transferSyntaxUid);
    return why(zh.replace('{ts}', ts), en.replace('{ts}', ts), 415, { kind: body.kind, message: body.detail ?? '' });
  }
  if (res.status === 503) return why('预览繁忙，请稍后刷新', 'Previews busy: reload in a few seconds', 503, { kind: 'busy', message: 'archive busy' }, { 'retry-after': '5' });
  if (res.status === 404) {
    return why('区影像中心找不到此图像（本机已清理）。请联系技术人员核对上传记录。', 'The district archive does not hold this image (removed here). Ask the technician to check the upload records.', 500,
      { kind: 'missing-at-archive', message: body.detail ?? 'not found' });
  }
  return away(`archive answered ${res.status}: ${body.detail ?? ''}`);
}
