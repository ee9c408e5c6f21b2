/**
 * What a thumbnail tile shows when an instance has no preview: the reason in words per
 * `RenderFailure`, zh-CN and English, and a picture of it (an <img> shows whatever image it is
 * given, whatever the status). Shared by the edge's study view and the portal's reading pages.
 */
import { RenderError, transferSyntaxName, type RenderFailure } from './render.ts';
import { PreviewBusyError, type PreviewRenderer } from './preview-pool.ts';

/** The thumbnail tile's words when there is none: what happened and what to do, per reason. */
export const NO_PREVIEW: Record<RenderFailure, [string, string]> = {
  corrupt: ['图像数据不完整或已损坏，无法预览。原图已按收到的样子保存并上传；如需重看，请在设备上重新发送。', 'Image data incomplete or corrupt; stored and uploaded as received. Resend from the device if needed.'],
  format: ['此图像的格式暂不支持预览（原图已保存并上传）。', 'This image format has no preview (stored and uploaded).'],
  syntax: ['{ts} 压缩图像暂不支持预览（原图已保存并上传）。', '{ts}: no preview (stored and uploaded).'],
  'no-image': ['此对象不含图像（如结构化报告），没有预览。', 'Not an image (e.g. a structured report): no preview.'],
  'too-large': ['图像过大，无法生成预览（原图已保存并上传）。', 'Image too large for a preview (stored and uploaded).'],
  timeout: ['生成预览超时，图像可能已损坏（原图已保存并上传）。', 'Preview timed out; the image may be corrupt (stored and uploaded).'],
};


/** The thumbnail tile's picture when none can be made: the reason in words, wrapped, on the tile's dark ground. */
export function noPreviewSvg(text: string): string {
  const esc = (t: string) => t.replace(/[&<>"]/g, (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[ch]!);
  // ~13 CJK characters or ~26 Latin ones per 196-pixel line at 14 px.
  const lines: string[] = [];
  let line = '';
  let width = 0;
  for (const ch of text.slice(0, 200)) {
    const w = /[\u2e80-\uffff]/.test(ch) ? 2 : 1;
    if (width + w > 26) { lines.push(line); line = ''; width = 0; }
    line += ch;
    width += w;
  }
  if (line) lines.push(line);
  const shown = lines.slice(0, 11);
  const top = 128 - (shown.length * 20) / 2 + 14;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="256" height="256" viewBox="0 0 256 256"><rect width="256" height="256" fill="#333"/>${shown.map((l, k) => `<text x="128" y="${top + k * 20}" fill="#fff" font-size="14" font-family="'Noto Sans CJK SC',sans-serif" text-anchor="middle">${esc(l)}</text>`).join('')}</svg>`;
}

/** What a preview route answers: a PNG, a 304, or a picture of the reason (the route's UI language). */
export interface PreviewAnswer { status: 200 | 304 | 415 | 503 | 500; body: Uint8Array<ArrayBuffer> | string | null; headers: Record<string, string>; failure?: { kind: string; message: string } }

/**
 * The preview of a stored instance as the clinic's and the portal's routes answer it: ETag from
 * the instance's sha256 and the size (a browser holding it gets 304, no decode), the PNG from the
 * preview thread, or an SVG saying why (415 not renderable, 503 + Retry-After when busy, 500 else).
 */
export async function previewAnswer(renderer: PreviewRenderer, i: { path: string; sha256: string; transferSyntaxUid: string }, size: number, ifNoneMatch: string | undefined,
  t: (zh: string, en: string) => string, maxAgeSec: number): Promise<PreviewAnswer> {
  const etag = `"${i.sha256.slice(0, 32)}-${size}"`;
  const cache = { etag, 'cache-control': `private, max-age=${maxAgeSec}` };
  if (ifNoneMatch === etag) return { status: 304, body: null, headers: cache };
  const why = (zh: string, en: string, status: 415 | 503 | 500, extra: Record<string, string> = {}): PreviewAnswer =>
    ({ status, body: noPreviewSvg(t(zh, en)), headers: { 'content-type': 'image/svg+xml; charset=utf-8', 'cache-control': 'no-store', ...extra } });
  try {
    const png = await renderer.render(i.path, size);
    return { status: 200, body: new Uint8Array(png), headers: { 'content-type': 'image/png', ...cache } };
  } catch (e) {
    if (e instanceof RenderError) {
      const ts = transferSyntaxName(i.transferSyntaxUid);
      const [zh, en] = NO_PREVIEW[e.kind];
      return { ...why(zh.replace('{ts}', ts), `${en.replace('{ts}', ts)} (${e.message})`, 415), failure: { kind: e.kind, message: e.message } };
    }
    if (e instanceof PreviewBusyError) return why('预览繁忙，请稍后刷新', 'Previews busy: reload in a few seconds', 503, { 'retry-after': '5' });
    return { ...why('预览失败（原图已保存），请联系技术人员查看日志', 'Preview failed (original stored); see the log', 500), failure: { kind: 'error', message: (e as Error).message } };
  }
}
