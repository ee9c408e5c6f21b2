/**
 * The warehouse data dictionary (tables, columns, DE identifiers) and reads of the projection
 * tables, identical on both backends.
 */
import { RECORD_TYPE_NAMES } from '../../contracts/index.ts';
import { allColumns, projections, type ColType, type ProjectionDef } from './projections.ts';
import { dateText, type Sql } from './sql.ts';

export interface DataDictionary {
  standard: string;
  note: string;
  tables: {
    table: string; zh: string; en: string; dataset: string; source: string;
    columns: { name: string; type: ColType; zh: string; en: string; de: string | null; deType: string | null; format: string | null; valueSet: string | null; deUnconfirmed: boolean }[];
  }[];
  /** Every replicated record type and the projection tables it fills (empty: kept in `records` only). */
  recordTypes: { type: string; tables: string[] }[];
}

export function dataDictionary(): DataDictionary {
  return {
    standard: 'WS 365-2011 城乡居民健康档案基本数据集; WS 363-2011 卫生信息数据元目录; WS 445-2014 电子病历基本数据集',
    note: 'Every record is kept as received in `records`; these tables are typed projections of the latest version. deUnconfirmed marks DE identifiers to be checked against the standard text.',
    tables: projections.map((p) => ({
      table: p.table, zh: p.zh, en: p.en, dataset: p.dataset, source: p.source.kind === 'record' ? `record:${p.source.type}` : 'resident master (last writer by HLC)',
      columns: allColumns(p).map((c) => ({ name: c.name, type: c.type, zh: c.zh, en: c.en, de: c.de ?? null, deType: c.deType ?? null, format: c.format ?? null, valueSet: c.valueSet ?? null, deUnconfirmed: !!c.check })),
    })),
    recordTypes: RECORD_TYPE_NAMES.map((type) => ({ type, tables: projections.filter((p) => p.source.kind === 'record' ? p.source.type === type : type === 'resident').map((p) => p.table) })),
  };
}

export function projectionByTable(table: string): ProjectionDef | undefined {
  return projections.find((p) => p.table === table);
}

export interface ProjectionQuery { clinicId?: string; residentId?: string; limit: number; offset: number }

/** Rows of one projection table, typed values on both backends (bool as boolean, dates as text). */
export async function readProjection(sql: Sql, p: ProjectionDef, q: ProjectionQuery): Promise<{ total: number; rows: Record<string, unknown>[] }> {
  const cols = allColumns(p);
  const where: string[] = [];
  const params: unknown[] = [];
  if (q.clinicId !== undefined && p.source.kind === 'record') { where.push('clinic_id = ?'); params.push(q.clinicId); }
  if (q.residentId !== undefined && cols.some((c) => c.name === 'resident_id')) { where.push('resident_id = ?'); params.push(q.residentId); }
  const w = where.length ? `WHERE ${where.join(' AND ')}` : '';
  const key = p.source.kind === 'record' ? 'clinic_id, record_id, line_no' : 'resident_id, line_no';
  const total = Number((await sql.all<{ n: number }>(`SELECT count(*) AS n FROM ${p.table} ${w}`, params))[0]!.n);
  const raw = await sql.all<Record<string, unknown>>(`SELECT ${cols.map((c) => c.name).join(', ')} FROM ${p.table} ${w} ORDER BY ${key} LIMIT ? OFFSET ?`, [...params, q.limit, q.offset]);
  const rows = raw.map((r) => Object.fromEntries(cols.map((c) => {
    const v = r[c.name];
    if (v === null || v === undefined) return [c.name, null];
    switch (c.type) {
      case 'bool': return [c.name, v === true || v === 1];
      case 'int': case 'num': return [c.name, Number(v)];
      case 'date': return [c.name, dateText(v)];
      case 'datetime': return [c.name, v instanceof Date ? v.toISOString() : String(v)];
      default: return [c.name, v];
    }
  })));
  return { total, rows };
}
