/**
 * Decodes DICOM text values by Specific Character Set (0008,0005). Chinese devices send
 * GB18030, some write the non-standard label "GBK"; both decode with the WHATWG GB18030
 * decoder (GBK is its two-byte subset). ISO 2022 IR 58 (GB2312 with escapes) is decoded
 * by dropping the escape sequences, since GB2312 bytes are valid GB18030.
 */

const decoders = new Map<string, TextDecoder>();

function decoder(label: string): TextDecoder {
  let d = decoders.get(label);
  if (!d) {
    d = new TextDecoder(label);
    decoders.set(label, d);
  }
  return d;
}

/** Maps a Specific Character Set value (possibly multi-valued) to a WHATWG encoding label. */
export function encodingFor(specificCharacterSet: string | undefined): string {
  const terms = (specificCharacterSet ?? '').split('\\').map((t) => t.trim().toUpperCase().replace(/[\s_-]+/g, ' ')).filter(Boolean);
  for (const t of terms) {
    if (t === 'ISO IR 192' || t === 'UTF 8' || t === 'UTF8') return 'utf-8';
    if (t === 'GB18030' || t === 'GBK' || t === 'GB2312' || t === 'ISO 2022 IR 58' || t === 'ISO IR 58') return 'gb18030';
  }
  // ISO_IR 6 (default repertoire), ISO_IR 100 and anything unknown: Latin-1 never fails.
  return 'latin1';
}

/** Decodes a text value and strips DICOM padding (trailing spaces/NULs, leading spaces kept for PN? no: trimmed). */
export function decodeText(bytes: Uint8Array, specificCharacterSet: string | undefined): string {
  const enc = encodingFor(specificCharacterSet);
  let b = bytes;
  if (enc === 'gb18030' && b.includes(0x1b)) b = stripIso2022Escapes(b);
  return decoder(enc).decode(b).replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

/** For ASCII-only VRs (UI, CS, DA, TM, AE, IS, DS). */
export function decodeAscii(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('latin1').replace(/[\0 ]+$/, '').trim();
}

function stripIso2022Escapes(b: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) {
    if (b[i] === 0x1b) {
      // ESC $ ) A, ESC ( B, ESC - A ...: intermediate bytes 0x20-0x2F then one final byte
      i++;
      while (i < b.length && b[i]! >= 0x20 && b[i]! <= 0x2f) i++;
      continue;
    }
    out.push(b[i]!);
  }
  return Uint8Array.from(out);
}
