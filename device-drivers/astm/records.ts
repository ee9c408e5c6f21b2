/**
 * ASTM E1394 (CLSI LIS02) records: H header, P patient, O order, R result, C comment,
 * L terminator (Q and M are passed through). Pure: message text in, typed records out.
 * Delimiters come from the header (`H|\^&`: field, repeat, component, escape).
 */
export interface AstmDelimiters {
  field: string;
  repeat: string;
  component: string;
  escape: string;
}

export interface AstmRecord {
  type: string;
  /** fields[n] is field n of the record (fields[1] is the type letter, as E1394 numbers them) */
  fields: string[];
}

export class AstmParseError extends Error {
  override readonly name = 'AstmParseError';
}

export const MAX_RECORDS = 10_000;

/** Parse the records of one message (CR-separated). The first must be H. */
export function parseRecords(text: string): { delimiters: AstmDelimiters; records: AstmRecord[] } {
  const lines = text.split(/\r\n|\r|\n/).filter((l) => l.length > 0);
  if (lines.length === 0) throw new AstmParseError('empty message');
  if (lines.length > MAX_RECORDS) throw new AstmParseError(`more than ${MAX_RECORDS} records`);
  const h = lines[0]!;
  if (h[0] !== 'H' || h.length < 5) throw new AstmParseError('message does not start with an H record');
  const d: AstmDelimiters = { field: h[1]!, repeat: h[2]!, component: h[3]!, escape: h[4]! };
  if (new Set(Object.values(d)).size !== 4 || /[A-Za-z0-9 ]/.test(Object.values(d).join(''))) throw new AstmParseError('H record delimiters invalid');
  const records = lines.map((line, i) => {
    const parts = line.split(d.field);
    const type = (parts[0] ?? '').replace(/^\d/, ''); // some analysers prefix the frame number
    if (!/^[HPOCRLQMS]$/.test(type)) throw new AstmParseError(`unknown record type ${JSON.stringify((parts[0] ?? '').slice(0, 5))} at record ${i + 1}`);
    // fields[1] = type; for H, fields[2] is the delimiter definition
    return { type, fields: ['', ...parts] };
  });
  return { delimiters: d, records };
}

/** Field n of a record (1-based, E1394 numbering). */
export function fieldOf(r: AstmRecord | undefined, n: number): string {
  return r?.fields[n] ?? '';
}

/** Component c (1-based) of the first repeat of a field, with escapes removed. */
export function componentOf(raw: string, c: number, d: AstmDelimiters): string {
  const first = raw.split(d.repeat)[0] ?? '';
  return unescapeAstm(first.split(d.component)[c - 1] ?? '', d);
}

export function unescapeAstm(s: string, d: AstmDelimiters): string {
  if (!s.includes(d.escape)) return s;
  const e = d.escape.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  return s.replace(new RegExp(`${e}([FSRE])${e}`, 'g'), (_m, c: string) => (c === 'F' ? d.field : c === 'S' ? d.component : c === 'R' ? d.repeat : d.escape));
}

/** Build one record line (no CR) from fields 2..n; field 1 is the type. */
export function buildRecord(type: string, fields: string[], d: AstmDelimiters = { field: '|', repeat: '\\', component: '^', escape: '&' }): string {
  return [type, ...fields].join(d.field);
}
