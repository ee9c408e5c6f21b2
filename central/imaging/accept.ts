/**
 * WADO-RS content negotiation of the transfer syntax (PS3.18 8.7.3.5): which bytes an instance or
 * its frames are answered in, from the request's Accept header.
 *
 * - Each media range may name `transfer-syntax=` (a UID, or `*`: whatever is stored); without it a
 *   range asks for the default, Explicit VR Little Endian (1.2.840.10008.1.2.1): for
 *   `application/dicom` a Part 10 file in that syntax, for `application/octet-stream` frames
 *   uncompressed.
 * - Ranges are tried by `q` (highest first, then in the order given; `q=0` excludes). The first
 *   one this server can give wins: the stored bytes when the range names their syntax or `*`, a
 *   transcoding (contracts/dicom/transcode.ts) when it asks for Explicit VR Little Endian and the
 *   stored syntax can be decoded here.
 * - `multipart/related` ranges name the part's media type in `type=` (default: the resource's);
 *   a bare `application/dicom` or `application/octet-stream`, and `*` / `*` ranges, are read as
 *   asking for that part type. No Accept header is `*` / `*`.
 * Nothing here throws on any header: a malformed range is skipped, and when no range can be
 * given the answer says why (406).
 */
import { canTranscode, EXPLICIT_LE } from '../../contracts/dicom/transcode.ts';

export type PartType = 'application/dicom' | 'application/octet-stream';

/** One acceptable representation: a transfer syntax (`*`: as stored) with its weight. */
export interface Wanted { ts: string; q: number }

/** Native (uncompressed) syntaxes: their frames are the same bytes in any of them. */
const NATIVE = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);

/** Splits on `sep` outside double quotes. */
function split(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (const ch of s) {
    if (ch === '"') quoted = !quoted;
    if (ch === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

const unquote = (v: string) => v.trim().replace(/^"(.*)"$/, '$1').trim();

/**
 * The transfer syntaxes an Accept header asks for a part of `part`, best first. Empty when no range
 * accepts that part type at all.
 */
export function wantedSyntaxes(accept: string | undefined, part: PartType): Wanted[] {
  const header = (accept ?? '').trim() || '*/*';
  const out: (Wanted & { order: number })[] = [];
  split(header.slice(0, 4096), ',').forEach((range, order) => {
    const [mediaRaw = '', ...paramsRaw] = split(range, ';');
    const media = mediaRaw.trim().toLowerCase();
    const params = new Map<string, string>();
    for (const p of paramsRaw) {
      const eq = p.indexOf('=');
      if (eq > 0) params.set(p.slice(0, eq).trim().toLowerCase(), unquote(p.slice(eq + 1)));
    }
    let partType: string;
    if (media === 'multipart/related') partType = (params.get('type') ?? part).toLowerCase();
    else if (media === '*/*' || media === 'multipart/*') partType = part;
    else partType = media;
    if (partType !== part && partType !== '*/*') return;
    const qs = params.get('q');
    const q = qs === undefined ? 1 : Number(qs);
    if (!Number.isFinite(q) || q <= 0 || q > 1) return;
    const ts = params.get('transfer-syntax') ?? EXPLICIT_LE;
    if (ts !== '*' && !/^[0-9]+(\.[0-9]+)*$/.test(ts)) return;
    out.push({ ts, q, order });
  });
  return out.sort((a, b) => b.q - a.q || a.order - b.order).map(({ ts, q }) => ({ ts, q }));
}

/** How one instance (or its frames) is answered. */
export type Choice =
  | { give: 'stored' }
  | { give: 'transcode' }
  | { give: 'refuse'; detail: string };

/**
 * The representation of an instance stored in `stored` for what the client wants. For frames
 * (`application/octet-stream`) native stored frames are uncompressed already: asking for Explicit
 * VR Little Endian gets them as stored.
 */
export function choose(wanted: Wanted[], stored: string, part: PartType): Choice {
  for (const w of wanted) {
    if (w.ts === '*' || w.ts === stored) return { give: 'stored' };
    if (w.ts === EXPLICIT_LE) {
      if (part === 'application/octet-stream' && NATIVE.has(stored)) return { give: 'stored' };
      if (canTranscode(stored)) return { give: 'transcode' };
    }
  }
  const asked = wanted.length ? wanted.map((w) => w.ts).join(', ') : `no ${part} part`;
  return {
    give: 'refuse',
    detail: `the instance is stored in transfer syntax ${stored} and the Accept header asks for ${asked}; this server gives it as stored (transfer-syntax=*${stored ? ` or ${stored}` : ''})${canTranscode(stored) ? ` or in Explicit VR Little Endian (${EXPLICIT_LE}, the default)` : ''}`,
  };
}

/** The Content-Type of one part given in `ts`. */
export function partType(part: PartType, ts: string): string {
  // Frames in a native syntax are plain octets (their syntax is the default's, Explicit VR Little Endian).
  if (part === 'application/octet-stream' && NATIVE.has(ts)) return part;
  return `${part}; transfer-syntax=${ts}`;
}
