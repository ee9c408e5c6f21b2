/**
 * HL7 v2 character sets (MSH-18, table 0211) as iconv-lite encodings. Chinese devices send
 * GB18030 (sometimes labelled GBK or GB 2312) or "UNICODE UTF-8"; several send a bare
 * "UNICODE" meaning UTF-8. UTF-16/32 cannot travel inside MLLP framing bytes: refused.
 */
import iconv from 'iconv-lite';

const MAP: Record<string, string> = {
  '': 'utf8', // absent MSH-18: ASCII by the standard; UTF-8 is a superset and what devices send
  ASCII: 'utf8',
  'UNICODE UTF-8': 'utf8',
  'UTF-8': 'utf8',
  UTF8: 'utf8',
  UNICODE: 'utf8',
  GB18030: 'gb18030',
  'GB 18030-2000': 'gb18030',
  'GB18030-2000': 'gb18030',
  GBK: 'gbk',
  'GB 2312': 'gb2312',
  GB2312: 'gb2312',
  'CNS 11643-1992': 'big5',
  BIG5: 'big5',
  '8859/1': 'latin1',
  'ISO-8859-1': 'latin1',
  'ISO IR6': 'utf8',
  'ISO IR100': 'latin1',
  'ISO_IR 192': 'utf8',
};

/** iconv-lite encoding for an MSH-18 value, or null when unsupported. */
export function encodingFor(msh18: string): string | null {
  const key = msh18.trim().toUpperCase().split('~')[0] ?? '';
  const enc = MAP[key];
  return enc && iconv.encodingExists(enc) ? enc : null;
}

export function decode(bytes: Uint8Array, encoding: string): string {
  return iconv.decode(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), encoding);
}

export function encode(text: string, encoding: string): Buffer {
  return iconv.encode(text, encoding);
}
