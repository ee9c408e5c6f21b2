/**
 * Typed projection tables of the warehouse, modelled on WS 365 (城乡居民健康档案基本数据集) and
 * the national health data sets (WS 363/364/445 data elements). One declaration per table
 * gives: the DDL for both backends, the rows a record projects to (written in the same
 * transaction as its generic `records` row) and the machine-readable data dictionary served at
 * `GET /api/data-dictionary`.
 *
 * The generic `records` table stays the source of truth: a record type without a projection
 * (new, unknown, or not yet modelled) still lands there, and a projection can be rebuilt from it.
 * Projections hold the latest version of each record only (a correction replaces its rows).
 *
 * Data-element identifiers (DE..) are given where the national data element is known; the ones
 * marked `check: true` were assigned from memory of WS 363 and must be confirmed against the
 * standard text before they are shown as authoritative (DOMAIN.md: keep unsure facts visible).
 */

export type ColType = 'text' | 'int' | 'num' | 'bool' | 'date' | 'datetime';

export interface ColumnDef {
  name: string;
  type: ColType;
  zh: string;
  en: string;
  /** National data-element identifier (WS 363 DE..), when one exists. */
  de?: string;
  /** WS data type of the element: S1 string, S3 coded, L boolean, N number, D date, DT date-time. */
  deType?: 'S1' | 'S2' | 'S3' | 'L' | 'N' | 'D' | 'DT';
  /** Representation format, e.g. `AN..50`, `D8`, `N..6,2`. */
  format?: string;
  /** Value domain (code system) of a coded column. */
  valueSet?: string;
  /** The DE identifier is not yet confirmed against the standard text. */
  check?: boolean;
}

/** Where a projection's rows come from: one record type, or the resident master (LWW winner). */
export type ProjectionSource = { kind: 'record'; type: string } | { kind: 'resident' };

export interface ProjectionDef {
  table: string;
  zh: string;
  en: string;
  /** Part of the WS 365 health record / national data set this table belongs to. */
  dataset: string;
  source: ProjectionSource;
  /** Warehouse migration that creates the table (append a new one to change a table). */
  migration: number;
  columns: ColumnDef[];
  /** Extra indexes (column lists) besides the key. */
  indexes?: string[][];
  /** Rows for one payload; keys are column names. Values are sanitised by `normaliseRow`. */
  rows(payload: Record<string, unknown>): Record<string, unknown>[];
}

/** Columns every record projection carries before its own (the key is clinic, record, line). */
export const RECORD_SYSTEM_COLUMNS: ColumnDef[] = [
  { name: 'clinic_id', type: 'text', zh: '机构标识', en: 'Clinic (edge) id', de: 'DE08.10.052.00', deType: 'S1', format: 'AN..20', check: true },
  { name: 'record_id', type: 'text', zh: '记录标识', en: 'Record id minted at the edge' },
  { name: 'version', type: 'int', zh: '版本', en: 'Record version (corrections increase it)' },
  { name: 'line_no', type: 'int', zh: '行号', en: 'Line within the record (0 for single-row records)' },
  { name: 'record_created_at', type: 'datetime', zh: '记录创建时间', en: 'When the edge wrote the record' },
];

/** Columns of the resident-master projections (keyed by resident). */
export const RESIDENT_SYSTEM_COLUMNS: ColumnDef[] = [
  { name: 'resident_id', type: 'text', zh: '居民标识', en: 'Warehouse resident id' },
  { name: 'source_clinic_id', type: 'text', zh: '来源机构', en: 'Clinic whose write holds (last writer by HLC)' },
  { name: 'line_no', type: 'int', zh: '行号', en: 'Line (identifiers)' },
];

const str = (v: unknown): string | null => (v === undefined || v === null || v === '' ? null : String(v));
const one = (p: Record<string, unknown>, map: Record<string, string>) => [Object.fromEntries(Object.entries(map).map(([col, field]) => [col, p[field]]))];

const resident: ProjectionDef = {
  table: 'dw_resident', zh: '个人基本信息', en: 'Resident basic information', dataset: 'WS 365 个人基本信息 / WS 364 人口学及社会经济学特征',
  source: { kind: 'resident' }, migration: 100,
  columns: [
    { name: 'name', type: 'text', zh: '姓名', en: 'Name', de: 'DE02.01.039.00', deType: 'S1', format: 'A..50' },
    { name: 'sex_code', type: 'text', zh: '性别代码', en: 'Sex code', de: 'DE02.01.040.00', deType: 'S3', format: 'N1', valueSet: 'GB/T 2261.1' },
    { name: 'birth_date', type: 'date', zh: '出生日期', en: 'Birth date', de: 'DE02.01.005.01', deType: 'D', format: 'D8' },
    { name: 'id_type_code', type: 'text', zh: '身份证件类别代码', en: 'ID document type', de: 'DE02.01.031.00', deType: 'S3', format: 'N2', valueSet: 'CV02.01.101' },
    { name: 'id_number', type: 'text', zh: '身份证件号码', en: 'ID document number', de: 'DE02.01.030.00', deType: 'S1', format: 'AN..18' },
    { name: 'ethnicity_code', type: 'text', zh: '民族', en: 'Ethnicity', de: 'DE02.01.025.00', deType: 'S3', format: 'N2', valueSet: 'GB 3304' },
    { name: 'marital_status_code', type: 'text', zh: '婚姻状况代码', en: 'Marital status', de: 'DE02.01.018.00', deType: 'S3', format: 'N2', valueSet: 'GB/T 2261.2' },
    { name: 'phone', type: 'text', zh: '本人电话号码', en: 'Phone', de: 'DE02.01.010.00', deType: 'S1', format: 'AN..20', check: true },
    { name: 'address', type: 'text', zh: '现住址', en: 'Current address', de: 'DE02.01.009.00', deType: 'S1', format: 'AN..200', check: true },
    { name: 'insurance_card_no', type: 'text', zh: '医疗保险卡号', en: 'Medical insurance card number', de: 'DE01.00.021.00', deType: 'S1', format: 'AN..40', check: true },
    { name: 'health_card_id', type: 'text', zh: '电子健康卡号', en: 'E-health card id', deType: 'S1', format: 'AN..80' },
  ],
  indexes: [['id_number'], ['name']],
  rows: (p) => one(p, { name: 'name', sex_code: 'sex', birth_date: 'birthDate', id_type_code: 'idType', id_number: 'idNumber', ethnicity_code: 'ethnicity', marital_status_code: 'maritalStatus', phone: 'phone', address: 'address', insurance_card_no: 'insuranceCardNo', health_card_id: 'healthCardId' }),
};

const residentIdentifier: ProjectionDef = {
  table: 'dw_resident_identifier', zh: '居民身份标识', en: 'Resident identifiers', dataset: 'WS 365 个人基本信息 (证件/卡)',
  source: { kind: 'resident' }, migration: 100,
  columns: [
    { name: 'system', type: 'text', zh: '标识类别', en: 'Identifier system: id-document/<CV02.01.101>, insurance-card, ehealth-card' },
    { name: 'value', type: 'text', zh: '标识值', en: 'Identifier value' },
  ],
  indexes: [['system', 'value']],
  rows: (p) => {
    const out: Record<string, unknown>[] = [];
    if (str(p.idNumber)) out.push({ system: `id-document/${str(p.idType) ?? '01'}`, value: p.idNumber });
    if (str(p.insuranceCardNo)) out.push({ system: 'insurance-card', value: p.insuranceCardNo });
    if (str(p.healthCardId)) out.push({ system: 'ehealth-card', value: p.healthCardId });
    return out;
  },
};

const encounter: ProjectionDef = {
  table: 'dw_encounter', zh: '门诊就诊记录', en: 'Registrations and visits', dataset: 'WS 365 其他医疗卫生服务记录 / WS 445 门(急)诊病历',
  source: { kind: 'record', type: 'encounter' }, migration: 100,
  columns: [
    { name: 'encounter_id', type: 'text', zh: '门(急)诊号', en: 'Encounter id', de: 'DE01.00.010.00', deType: 'S1', format: 'AN..18', check: true },
    { name: 'resident_id', type: 'text', zh: '居民标识', en: 'Resident id' },
    { name: 'encounter_class', type: 'text', zh: '就诊类型', en: 'Class (outpatient, emergency, home, followup)' },
    { name: 'status', type: 'text', zh: '就诊状态', en: 'Status' },
    { name: 'department_code', type: 'text', zh: '就诊科室代码', en: 'Department code', de: 'DE08.10.025.00', deType: 'S3', format: 'AN..20', valueSet: 'dictionary:departments', check: true },
    { name: 'doctor_code', type: 'text', zh: '接诊医师工号', en: 'Doctor staff code', deType: 'S1', valueSet: 'dictionary:staff' },
    { name: 'visit_at', type: 'datetime', zh: '就诊日期时间', en: 'Registered / visit time', de: 'DE06.00.062.00', deType: 'DT', format: 'DT15', check: true },
    { name: 'chief_complaint', type: 'text', zh: '主诉', en: 'Chief complaint', de: 'DE04.01.119.00', deType: 'S1', format: 'AN..500', check: true },
    { name: 'fee_fen', type: 'int', zh: '门诊费用金额(分)', en: 'Visit fee in fen', deType: 'N', check: true },
  ],
  indexes: [['resident_id'], ['visit_at']],
  rows: (p) => one(p, { encounter_id: 'encounterId', resident_id: 'residentId', encounter_class: 'class', status: 'status', department_code: 'departmentCode', doctor_code: 'doctorCode', visit_at: 'registeredAt', chief_complaint: 'chiefComplaint', fee_fen: 'feeFen' }),
};

const diagnosis: ProjectionDef = {
  table: 'dw_diagnosis', zh: '诊断记录', en: 'Diagnoses of a visit', dataset: 'WS 445 门(急)诊病历 诊断',
  source: { kind: 'record', type: 'encounter' }, migration: 100,
  columns: [
    { name: 'encounter_id', type: 'text', zh: '门(急)诊号', en: 'Encounter id' },
    { name: 'resident_id', type: 'text', zh: '居民标识', en: 'Resident id' },
    { name: 'diagnosis_code', type: 'text', zh: '疾病诊断编码', en: 'Diagnosis code (ICD-10 clinical 2.0)', de: 'DE05.01.024.00', deType: 'S3', format: 'AN..11', valueSet: 'ICD-10 国家临床版 2.0', check: true },
    { name: 'diagnosis_name', type: 'text', zh: '疾病诊断名称', en: 'Diagnosis name', de: 'DE05.01.025.00', deType: 'S1', format: 'AN..100', check: true },
    { name: 'is_primary', type: 'bool', zh: '主要诊断标志', en: 'Primary diagnosis', deType: 'L' },
    { name: 'visit_at', type: 'datetime', zh: '诊断日期时间', en: 'Visit time' },
  ],
  indexes: [['resident_id'], ['diagnosis_code']],
  rows: (p) => (Array.isArray(p.diagnoses) ? p.diagnoses as Record<string, unknown>[] : []).map((d) => ({
    encounter_id: p.encounterId, resident_id: p.residentId, diagnosis_code: d.code, diagnosis_name: d.name, is_primary: d.primary, visit_at: p.registeredAt,
  })),
};

const observation: ProjectionDef = {
  table: 'dw_observation', zh: '体征及设备测量', en: 'Vital signs and device readings', dataset: 'WS 365 健康体检 / 随访 体征',
  source: { kind: 'record', type: 'observation' }, migration: 100,
  columns: [
    { name: 'observation_id', type: 'text', zh: '测量标识', en: 'Observation id' },
    { name: 'resident_id', type: 'text', zh: '居民标识', en: 'Resident id' },
    { name: 'code', type: 'text', zh: '测量项目代码', en: 'LOINC or local code', valueSet: 'LOINC / local' },
    { name: 'display', type: 'text', zh: '测量项目名称', en: 'Item name' },
    { name: 'value_num', type: 'num', zh: '测量值', en: 'Value', deType: 'N', format: 'N..8,2' },
    { name: 'unit', type: 'text', zh: '计量单位', en: 'Unit' },
    { name: 'effective_at', type: 'datetime', zh: '测量日期时间', en: 'Measured at', deType: 'DT', format: 'DT15' },
    { name: 'device_id', type: 'text', zh: '设备标识', en: 'Device id' },
    { name: 'interpretation', type: 'text', zh: '异常标志', en: 'Interpretation (N/L/H/LL/HH)' },
    { name: 'implausible', type: 'bool', zh: '不合理值标志', en: 'Outside plausible range (flagged for review)' },
  ],
  indexes: [['resident_id', 'code'], ['effective_at']],
  rows: (p) => one(p, { observation_id: 'observationId', resident_id: 'residentId', code: 'code', display: 'display', value_num: 'value', unit: 'unit', effective_at: 'effectiveAt', device_id: 'deviceId', interpretation: 'interpretation', implausible: 'implausible' }),
};

const labResult: ProjectionDef = {
  table: 'dw_lab_result', zh: '检验结果', en: 'Laboratory results', dataset: 'WS 445 检验记录 / WS 365 健康体检 辅助检查',
  source: { kind: 'record', type: 'lab_result' }, migration: 100,
  columns: [
    { name: 'result_id', type: 'text', zh: '检验结果标识', en: 'Result id' },
    { name: 'resident_id', type: 'text', zh: '居民标识', en: 'Resident id' },
    { name: 'specimen_id', type: 'text', zh: '标本编号', en: 'Specimen (barcode) id', de: 'DE01.00.027.00', deType: 'S1', format: 'AN..20', check: true },
    { name: 'order_id', type: 'text', zh: '申请单号', en: 'Order id' },
    { name: 'test_code', type: 'text', zh: '检验项目代码', en: 'Test code (LOINC where mapped)', valueSet: 'LOINC / local' },
    { name: 'test_name', type: 'text', zh: '检验项目名称', en: 'Test name', de: 'DE04.30.020.00', deType: 'S1', check: true },
    { name: 'value_text', type: 'text', zh: '检验结果', en: 'Result as reported', de: 'DE04.30.017.00', deType: 'S1', check: true },
    { name: 'value_num', type: 'num', zh: '检验定量结果', en: 'Numeric result when the value is a number', deType: 'N' },
    { name: 'unit', type: 'text', zh: '检验定量结果计量单位', en: 'Unit' },
    { name: 'reference_range', type: 'text', zh: '参考值范围', en: 'Reference range' },
    { name: 'flag', type: 'text', zh: '结果异常标志', en: 'Abnormal flag' },
    { name: 'status', type: 'text', zh: '报告状态', en: 'preliminary / final / corrected' },
    { name: 'resulted_at', type: 'datetime', zh: '检验报告日期时间', en: 'Resulted at', deType: 'DT', format: 'DT15' },
    { name: 'analyser_id', type: 'text', zh: '检验仪器标识', en: 'Analyser id' },
  ],
  indexes: [['resident_id', 'test_code'], ['resulted_at']],
  rows: (p) => [{
    result_id: p.resultId, resident_id: p.residentId, specimen_id: p.specimenId, order_id: p.orderId, test_code: p.testCode, test_name: p.testName,
    value_text: p.value, value_num: typeof p.value === 'string' && /^-?\d+(\.\d+)?$/.test(p.value.trim()) ? Number(p.value) : null,
    unit: p.unit, reference_range: p.referenceRange, flag: p.flag, status: p.status, resulted_at: p.resultedAt, analyser_id: p.analyserId,
  }],
};

const imagingStudy: ProjectionDef = {
  table: 'dw_imaging_study', zh: '影像检查索引', en: 'Imaging study index', dataset: 'WS 445 检查记录 (影像)',
  source: { kind: 'record', type: 'imaging_study' }, migration: 100,
  columns: [
    { name: 'study_instance_uid', type: 'text', zh: '检查实例UID', en: 'StudyInstanceUID' },
    { name: 'resident_id', type: 'text', zh: '居民标识', en: 'Resident id' },
    { name: 'accession_number', type: 'text', zh: '检查申请号', en: 'Accession number' },
    { name: 'modality', type: 'text', zh: '检查类别', en: 'Modality (US/DX/CR)', valueSet: 'DICOM modality' },
    { name: 'study_date', type: 'date', zh: '检查日期', en: 'Study date', deType: 'D', format: 'D8' },
    { name: 'description', type: 'text', zh: '检查项目名称', en: 'Study description' },
    { name: 'series_count', type: 'int', zh: '序列数', en: 'Series' },
    { name: 'instance_count', type: 'int', zh: '图像数', en: 'Instances' },
    { name: 'station_ae', type: 'text', zh: '设备AE', en: 'Station AE title' },
  ],
  indexes: [['resident_id'], ['accession_number']],
  rows: (p) => [{
    study_instance_uid: p.studyInstanceUid, resident_id: p.residentId, accession_number: p.accessionNumber, modality: p.modality,
    study_date: typeof p.studyDate === 'string' && /^\d{8}$/.test(p.studyDate) ? `${p.studyDate.slice(0, 4)}-${p.studyDate.slice(4, 6)}-${p.studyDate.slice(6)}` : null,
    description: p.description, series_count: p.seriesCount, instance_count: p.instanceCount, station_ae: p.stationAe,
  }],
};

const order: ProjectionDef = {
  table: 'dw_order', zh: '医嘱及检查检验申请', en: 'Orders (lab, imaging, drug, treatment)', dataset: 'WS 445 医嘱',
  source: { kind: 'record', type: 'order' }, migration: 100,
  columns: [
    { name: 'order_id', type: 'text', zh: '医嘱/申请单号', en: 'Order id' },
    { name: 'resident_id', type: 'text', zh: '居民标识', en: 'Resident id' },
    { name: 'encounter_id', type: 'text', zh: '门(急)诊号', en: 'Encounter id' },
    { name: 'kind', type: 'text', zh: '医嘱类别', en: 'lab / imaging / drug / treatment', de: 'DE06.00.286.00', deType: 'S3', check: true },
    { name: 'code', type: 'text', zh: '医嘱项目代码', en: 'Item code' },
    { name: 'display', type: 'text', zh: '医嘱项目内容', en: 'Item', de: 'DE06.00.287.00', deType: 'S1', check: true },
    { name: 'status', type: 'text', zh: '医嘱状态', en: 'Status' },
    { name: 'requested_at', type: 'datetime', zh: '医嘱开立日期时间', en: 'Requested at', de: 'DE06.00.220.00', deType: 'DT', check: true },
    { name: 'accession_number', type: 'text', zh: '检查申请号', en: 'Accession number' },
    { name: 'modality', type: 'text', zh: '检查类别', en: 'Modality' },
    { name: 'specimen_id', type: 'text', zh: '标本编号', en: 'Specimen id' },
  ],
  indexes: [['resident_id'], ['encounter_id']],
  rows: (p) => one(p, { order_id: 'orderId', resident_id: 'residentId', encounter_id: 'encounterId', kind: 'kind', code: 'code', display: 'display', status: 'status', requested_at: 'requestedAt', accession_number: 'accessionNumber', modality: 'modality', specimen_id: 'specimenId' }),
};

/** Every projection, in DDL order. Append new ones (with a new migration number) as record types land. */
export const projections: ProjectionDef[] = [resident, residentIdentifier, encounter, diagnosis, observation, labResult, imagingStudy, order];

export const recordProjections = (type: string): ProjectionDef[] => projections.filter((p) => p.source.kind === 'record' && p.source.type === type);
export const residentProjections = (): ProjectionDef[] => projections.filter((p) => p.source.kind === 'resident');

export const allColumns = (p: ProjectionDef): ColumnDef[] => [...(p.source.kind === 'record' ? RECORD_SYSTEM_COLUMNS : RESIDENT_SYSTEM_COLUMNS), ...p.columns];

// ---- value sanitising: a projection never fails the ingest transaction ----

const DATE = /^\d{4}-\d{2}-\d{2}$/;

function sanitise(t: ColType, v: unknown): string | number | boolean | null {
  if (v === undefined || v === null || v === '') return null;
  switch (t) {
    case 'text': return (typeof v === 'object' ? JSON.stringify(v) : String(v)).slice(0, 4000);
    case 'int': { const n = Number(v); return Number.isSafeInteger(n) ? n : null; }
    case 'num': { const n = Number(v); return Number.isFinite(n) ? n : null; }
    case 'bool': return typeof v === 'boolean' ? v : v === 1 || v === '1' || v === 'true' ? true : v === 0 || v === '0' || v === 'false' ? false : null;
    case 'date': { const s = String(v); return DATE.test(s) && !Number.isNaN(Date.parse(s)) ? s : null; }
    case 'datetime': { const ms = Date.parse(String(v)); return Number.isNaN(ms) ? null : new Date(ms).toISOString(); }
  }
}

/** Business rows of one payload, each value sanitised to its column type (unknown keys dropped). */
export function projectRows(p: ProjectionDef, payload: unknown): Record<string, string | number | boolean | null>[] {
  if (!payload || typeof payload !== 'object') return [];
  let rows: Record<string, unknown>[];
  try {
    rows = p.rows(payload as Record<string, unknown>);
  } catch {
    return []; // a payload of an unexpected shape keeps its generic `records` row only
  }
  return rows.map((r) => Object.fromEntries(p.columns.map((c) => [c.name, sanitise(c.type, r[c.name])])));
}

// ---- DDL for both dialects ----

const SQLITE_TYPES: Record<ColType, string> = { text: 'TEXT', int: 'INTEGER', num: 'REAL', bool: 'INTEGER', date: 'TEXT', datetime: 'TEXT' };
export const PG_TYPES: Record<ColType, string> = { text: 'text', int: 'bigint', num: 'double precision', bool: 'boolean', date: 'date', datetime: 'timestamptz' };

export function projectionDdl(dialect: 'sqlite' | 'postgres', migration: number): string {
  const types = dialect === 'sqlite' ? SQLITE_TYPES : PG_TYPES;
  const out: string[] = [];
  for (const p of projections.filter((x) => x.migration === migration)) {
    const key = p.source.kind === 'record' ? 'clinic_id, record_id, line_no' : 'resident_id, line_no';
    const notNull = p.source.kind === 'record' ? ['clinic_id', 'record_id', 'version', 'line_no'] : ['resident_id', 'line_no'];
    const cols = allColumns(p).map((c) => `${c.name} ${types[c.type]}${notNull.includes(c.name) ? ' NOT NULL' : ''}`);
    out.push(`CREATE TABLE ${p.table} (${cols.join(', ')}, PRIMARY KEY (${key}));`);
    for (const ix of p.indexes ?? []) out.push(`CREATE INDEX ${p.table}_${ix.join('_')} ON ${p.table} (${ix.join(', ')});`);
  }
  return out.join('\n');
}
