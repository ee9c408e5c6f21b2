/**
 * Bulk parameters for the PostgreSQL ingest statements: one array literal per column, unnested
 * server-side (`unnest($1::text[], $2::bigint[], …)`), instead of one `jsonb` document of all
 * rows. PostgreSQL parses an array literal far more cheaply than it builds a jsonb value (object
 * keys sorted, every field looked up again by `jsonb_to_recordset`), and the client writes the
 * literal itself: a value is escaped only when it holds `"` or `\`.
 * (The records' JSON payloads travel as one JSON array instead, see `flush` in postgres-ingest.ts.)
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
