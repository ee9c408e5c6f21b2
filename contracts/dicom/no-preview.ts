/**
 * What a thumbnail tile shows when an instance has no preview: the reason in words per
 * `RenderFailure`, zh-CN and English, and a picture of it (an <img> shows whatever image it is
 * given, whatever the status). Shared by the edge's study view and the portal's reading pages.
 */
import type { RenderFailure } from './render.ts';

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
