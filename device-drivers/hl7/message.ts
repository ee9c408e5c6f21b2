/**
 * HL7 v2 message parsing: bytes in, typed segments out. Pure functions, no I/O.
 * The charset is read from MSH-18 on the raw bytes (MSH-1..18 are ASCII), then the whole
 * message is decoded before splitting: GB18030 trail bytes can equal `|` or `^`.
 */
import { decode, encodingFor } from './charset.ts';

export interface Delimiters {
  field: string;
  component: string;
  repetition: string;
  escape: string;
  subcomponent: string;
}

export interface Segment {
  id: string;
  /** fields[n] is SEG-n (for MSH, fields[1] is the field separator itself, as in the standard) */
  fields: string[];
}

export interface Hl7Message {
  delimiters: Delimiters;
  segments: Segment[];
  /** iconv-lite encoding used to decode, reused for the ACK */
  encoding: string;
  /** MSH-18 as sent */
  charset: string;
  messageType: string;
  controlId: string;
  version: string;
}

export class Hl7ParseError extends Error {
  override readonly name = 'Hl7ParseError';
  constructor(message: string, readonly reason: 'not_hl7' | 'bad_msh' | 'charset' | 'too_many_segments', readonly partial?: { controlId?: string; encoding?: string }) {
    super(message);
  }
}

export const MAX_SEGMENTS = 5000;

function readMsh(bytes: Uint8Array): { d: Delimiters; fields: string[] } {
  if (bytes.length < 8 || bytes[0] !== 0x4d || bytes[1] !== 0x53 || bytes[2] !== 0x48) throw new Hl7ParseError('message does not start with MSH', 'not_hl7');
  let end = bytes.indexOf(0x0d);
  if (end < 0) end = bytes.length;
  // latin1 keeps one char per byte; fine for the ASCII header fields we read here
  const head = Buffer.from(bytes.buffer, bytes.byteOffset, end).toString('latin1');
  const field = head[3] ?? '';
  const enc = head.slice(4, 8);
  if (!field || /[A-Za-z0-9\r\n]/.test(field) || enc.length < 4 || enc.includes(field) || new Set(enc).size !== 4 || /[A-Za-z0-9]/.test(enc)) {
    throw new Hl7ParseError('MSH-1/MSH-2 delimiters invalid', 'bad_msh');
  }
  const d: Delimiters = { field, component: enc[0]!, repetition: enc[1]!, escape: enc[2]!, subcomponent: enc[3]! };
  return { d, fields: ['MSH', field, ...head.slice(4).split(field)] };
}

/** Parse one HL7 v2 message (without MLLP framing). Throws `Hl7ParseError`. */
export function parseMessage(bytes: Uint8Array): Hl7Message {
  const { d, fields: mshHead } = readMsh(bytes);
  const charset = mshHead[18] ?? '';
  const controlId = mshHead[10] ?? '';
  const encoding = encodingFor(charset);
  if (!encoding) throw new Hl7ParseError(`unsupported character set (MSH-18) ${JSON.stringify(charset)}`, 'charset', { controlId });
  const text = decode(bytes, encoding);
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.length > 0);
  if (lines.length > MAX_SEGMENTS) throw new Hl7ParseError(`more than ${MAX_SEGMENTS} segments`, 'too_many_segments', { controlId, encoding });
  const segments: Segment[] = lines.map((line, i) => {
    const parts = line.split(d.field);
    const id = parts[0] ?? '';
    if (i === 0) return { id, fields: ['MSH', d.field, ...parts.slice(1)] };
    return { id, fields: parts };
  });
  const msh = segments[0]!;
  if (!/^[A-Z0-9]{3}$/.test(msh.id)) throw new Hl7ParseError('bad MSH segment', 'bad_msh');
  for (const s of segments) if (!/^[A-Z][A-Z0-9]{2}$/.test(s.id)) throw new Hl7ParseError(`bad segment id ${JSON.stringify(s.id.slice(0, 10))}`, 'bad_msh', { controlId, encoding });
  const type = (msh.fields[9] ?? '').split(d.component);
  return {
    delimiters: d,
    segments,
    encoding,
    charset,
    messageType: [type[0] ?? '', type[1] ?? ''].filter(Boolean).join('^'),
    controlId: msh.fields[10] ?? '',
    version: (msh.fields[12] ?? '').split(d.component)[0] ?? '',
  };
}

/** Field `n` of a segment, raw (still escaped, with components). */
export function field(seg: Segment | undefined, n: number): string {
  return seg?.fields[n] ?? '';
}

/** Component `c` (1-based) of the first repetition of a raw field, unescaped. */
export function component(raw: string, c: number, d: Delimiters): string {
  const rep = raw.split(d.repetition)[0] ?? '';
  return unescape((rep.split(d.component)[c - 1] ?? '').split(d.subcomponent)[0] ?? '', d);
}

/** Undo HL7 escape sequences (\F\ \S\ \T\ \R\ \E\ \Xhh..\ \.br\). */
export function unescape(s: string, d: Delimiters): string {
  if (!s.includes(d.escape)) return s;
  const e = d.escape.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return s.replace(new RegExp(`${e}([^${e}]*)${e}`, 'g'), (_m, seq: string) => {
    switch (seq) {
      case 'F': return d.field;
      case 'S': return d.component;
      case 'T': return d.subcomponent;
      case 'R': return d.repetition;
      case 'E': return d.escape;
      case '.br': return '\n';
      default:
        if (/^X([0-9A-Fa-f]{2})+$/.test(seq)) return Buffer.from(seq.slice(1), 'hex').toString('latin1');
        return '';
    }
  });
}

/** Escape delimiter characters in a value for an outgoing message. */
export function escapeValue(s: string, d: Delimiters): string {
  let out = '';
  for (const ch of s) {
    if (ch === d.escape) out += `${d.escape}E${d.escape}`;
    else if (ch === d.field) out += `${d.escape}F${d.escape}`;
    else if (ch === d.component) out += `${d.escape}S${d.escape}`;
    else if (ch === d.subcomponent) out += `${d.escape}T${d.escape}`;
    else if (ch === d.repetition) out += `${d.escape}R${d.escape}`;
    else if (ch === '\r' || ch === '\n') out += `${d.escape}.br${d.escape}`;
    else out += ch;
  }
  return out;
}

/**
 * HL7 TS/DTM (YYYY[MM[DD[HH[MM[SS[.S+]]]]]][+/-ZZZZ]) to ISO 8601 with offset.
 * Without an offset the device's local zone is assumed (`defaultOffset`, China +08:00).
 */
export function parseHl7Time(ts: string, defaultOffset = '+08:00'): string | null {
  const m = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.(\d{1,4}))?([+-]\d{4})?$/.exec(ts.trim());
  if (!m) return null;
  const [, y, mo = '01', d = '01', h = '00', mi = '00', s = '00', frac, off] = m;
  if (+mo < 1 || +mo > 12 || +d < 1 || +d > 31 || +h > 23 || +mi > 59 || +s > 59) return null;
  const ms = frac ? `.${frac.padEnd(3, '0').slice(0, 3)}` : '.000';
  const offset = off ? `${off.slice(0, 3)}:${off.slice(3)}` : defaultOffset;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}${ms}${offset}`;
  return Number.isNaN(Date.parse(iso)) ? null : iso;
}

/** Current time as HL7 TS with +0800-style offset. */
export function hl7Now(date = new Date()): string {
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const offMin = -date.getTimezoneOffset();
  const sign = offMin >= 0 ? '+' : '-';
  const a = Math.abs(offMin);
  return `${date.getFullYear()}${p(date.getMonth() + 1)}${p(date.getDate())}${p(date.getHours())}${p(date.getMinutes())}${p(date.getSeconds())}${sign}${p(Math.floor(a / 60))}${p(a % 60)}`;
}
