/**
 * Bulk parameters for the PostgreSQL ingest statements: one array literal per column, unnested
 * server-side (`unnest($1::text[], $2::bigint[], …)`), instead of one `jsonb` document of all
 * rows. PostgreSQL parses an array literal far more cheaply than it builds a jsonb value (object
 * keys sorted, every field looked up again by `jsonb_to_recordset`), and the client writes the
 * literal itself: a value is escaped only when it holds `"` or `\`.
 *
 * JSON payloads travel as one text joined by U+001E (`joinJson`), split server-side by
 * `string_to_array($n, E'\x1e')`: JSON.stringify escapes every control character inside strings,
 * so the separator cannot occur in a payload, and nothing is escaped.
 */

const NEEDS_ESCAPE = /["\\]/;

/** One quoted array element (NULL for null/undefined). */
function element(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return 'NULL';
  if (typeof v === 'number') return String(v);
  if (typeof v === 'boolean') return v ? 't' : 'f';
  return NEEDS_ESCAPE.test(v) ? `"${v.replace(/[\\"]/g, '\\$&')}"` : `"${v}"`;
}

/** A PostgreSQL array literal (`{"a",NULL,"b"}`) of text, numbers or booleans; cast it to the column's array type in SQL. */
export function pgArray(values: readonly (string | number | boolean | null | undefined)[]): string {
  let s = '{';
  for (let i = 0; i < values.length; i++) s += (i ? ',' : '') + element(values[i]);
  return s + '}';
}

/** The array literal of column `col` of value rows (`pgArray(rows.map((r) => r[col]))` without the intermediate array). */
export function pgArrayColumn(rows: readonly (readonly (string | number | boolean | null | undefined)[])[], col: number): string {
  let s = '{';
  for (let i = 0; i < rows.length; i++) s += (i ? ',' : '') + element(rows[i]![col]);
  return s + '}';
}

/** The separator of `joinJson` (U+001E, never found in JSON.stringify's output). */
export const JSON_SEP = '\u001e';

/** JSON texts (each from JSON.stringify) as one parameter; SQL: `string_to_array($n, E'\x1e')`. */
export function joinJson(texts: readonly string[]): string {
  return texts.join(JSON_SEP);
}
