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

/** Columns from payload fields: `{ column: 'payloadField' }`. */
function pick(p: Record<string, unknown>, map: Record<string, string>): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const col in map) o[col] = p[map[col]!];
  return o;
}
const str = (v: unknown): string | null => (v === undefined || v === null || v === '' ? null : String(v));
const one = (p: Record<string, unknown>, map: Record<string, string>) => [pick(p, map)];

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
  indexes: [['resident_id']],
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
  indexes: [['resident_id']],
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
  indexes: [['resident_id']],
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
  indexes: [['resident_id']],
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
  indexes: [['resident_id']],
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
  indexes: [['resident_id']],
  rows: (p) => one(p, { order_id: 'orderId', resident_id: 'residentId', encounter_id: 'encounterId', kind: 'kind', code: 'code', display: 'display', status: 'status', requested_at: 'requestedAt', accession_number: 'accessionNumber', modality: 'modality', specimen_id: 'specimenId' }),
};

// ---- migration 102: clinic HIS, clinical workstation and public-health / family-doctor types ----

const t = (name: string, zh: string, en: string, extra: Partial<ColumnDef> = {}): ColumnDef => ({ name, type: 'text', zh, en, ...extra });
const n = (name: string, zh: string, en: string, extra: Partial<ColumnDef> = {}): ColumnDef => ({ name, type: 'num', zh, en, deType: 'N', ...extra });
const i = (name: string, zh: string, en: string, extra: Partial<ColumnDef> = {}): ColumnDef => ({ name, type: 'int', zh, en, deType: 'N', ...extra });
const d = (name: string, zh: string, en: string, extra: Partial<ColumnDef> = {}): ColumnDef => ({ name, type: 'date', zh, en, deType: 'D', format: 'D8', ...extra });
const dt = (name: string, zh: string, en: string, extra: Partial<ColumnDef> = {}): ColumnDef => ({ name, type: 'datetime', zh, en, deType: 'DT', format: 'DT15', ...extra });
const b = (name: string, zh: string, en: string, extra: Partial<ColumnDef> = {}): ColumnDef => ({ name, type: 'bool', zh, en, deType: 'L', ...extra });
const resid = t('resident_id', '居民标识', 'Resident id');
const list = (v: unknown): Record<string, unknown>[] => (Array.isArray(v) ? v as Record<string, unknown>[] : []);
const joinList = (v: unknown): string | null => (Array.isArray(v) && v.length ? v.map(String).join(',') : null);

const registration: ProjectionDef = {
  table: 'dw_registration', zh: '挂号记录', en: 'Registrations and appointments', dataset: 'WS 365 其他医疗卫生服务记录 / 门诊挂号',
  source: { kind: 'record', type: 'registration' }, migration: 102,
  columns: [
    t('registration_id', '挂号标识', 'Registration id'), resid,
    t('department_code', '挂号科室代码', 'Department code', { valueSet: 'dictionary:departments' }), t('doctor_username', '挂号医师', 'Doctor (edge user)'),
    t('slot_id', '号源标识', 'Schedule slot'), d('visit_date', '就诊日期', 'Visit date', { de: 'DE06.00.062.00', check: true }), i('queue_no', '就诊序号', 'Queue number'),
    t('status', '挂号状态', 'booked/registered/in-visit/finished/cancelled/refunded'), i('fee_fen', '挂号费(分)', 'Registration fee, fen'), dt('updated_at', '更新时间', 'Last status change'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [pick(p, { registration_id: 'registrationId', resident_id: 'residentId', department_code: 'departmentCode', doctor_username: 'doctorUsername', slot_id: 'slotId', visit_date: 'visitDate', queue_no: 'queueNo', status: 'status', fee_fen: 'feeFen', updated_at: 'updatedAt' })],
};

const charge: ProjectionDef = {
  table: 'dw_charge', zh: '费用明细', en: 'Cost lines (charges, refunds as negative lines)', dataset: 'WS 445 门诊费用 / 费用明细',
  source: { kind: 'record', type: 'charge' }, migration: 102,
  columns: [
    t('charge_id', '费用明细标识', 'Charge id'), t('registration_id', '挂号标识', 'Registration id'), resid,
    t('source_kind', '费用来源', 'registration/prescription/lab/imaging/treatment/material'), t('item_code', '收费项目编码', 'Item code (drug code or charge item)', { valueSet: 'dictionary:charge_items / drugs' }),
    t('item_name', '收费项目名称', 'Item name'), t('category', '费用类别', 'Cost category', { de: 'DE07.00.004.00', deType: 'S3', check: true }),
    n('quantity', '数量', 'Quantity'), t('unit', '单位', 'Unit'), i('unit_price_fen', '单价(分)', 'Unit price, fen'), i('amount_fen', '金额(分)', 'Amount, fen (negative for a refund)', { de: 'DE07.00.010.00', check: true }),
    t('status', '收费状态', 'pending/paid/cancelled'), t('invoice_id', '发票标识', 'Invoice id'), t('reverses_charge_id', '冲销明细', 'Charge this line reverses'), dt('charged_at', '收费日期时间', 'Created at'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [pick(p, { charge_id: 'chargeId', registration_id: 'registrationId', resident_id: 'residentId', source_kind: 'sourceKind', item_code: 'itemCode', item_name: 'itemName', category: 'category', quantity: 'quantity', unit: 'unit', unit_price_fen: 'unitPriceFen', amount_fen: 'amountFen', status: 'status', invoice_id: 'invoiceId', reverses_charge_id: 'reversesChargeId', charged_at: 'createdAt' })],
};

const invoice: ProjectionDef = {
  table: 'dw_invoice', zh: '收费结算', en: 'Invoices and reversals', dataset: 'WS 445 门诊费用 结算',
  source: { kind: 'record', type: 'invoice' }, migration: 102,
  columns: [
    t('invoice_id', '发票标识', 'Invoice id'), t('invoice_no', '发票号', 'Invoice number'), t('kind', '票据类型', 'invoice / reversal'), t('reverses_invoice_id', '冲销发票', 'Reversed invoice'),
    resid, t('registration_id', '挂号标识', 'Registration id'), i('line_count', '明细数', 'Lines'), i('total_fen', '总金额(分)', 'Total, fen', { de: 'DE07.00.010.00', check: true }),
    t('payment_method', '支付方式', 'cash/insurance/wechat/alipay/card', { de: 'DE07.00.007.00', deType: 'S3', check: true }), t('cashier', '收费员', 'Cashier'), dt('issued_at', '结算日期时间', 'Issued at'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [{ ...pick(p, { invoice_id: 'invoiceId', invoice_no: 'invoiceNo', kind: 'kind', reverses_invoice_id: 'reversesInvoiceId', resident_id: 'residentId', registration_id: 'registrationId', total_fen: 'totalFen', payment_method: 'paymentMethod', cashier: 'cashier', issued_at: 'issuedAt' }), line_count: list(p.lines).length }],
};

const visitNote: ProjectionDef = {
  table: 'dw_visit_note', zh: '门诊病历', en: 'Outpatient medical record (SOAP)', dataset: 'WS 445 门(急)诊病历',
  source: { kind: 'record', type: 'visit_note' }, migration: 102,
  columns: [
    t('note_id', '病历标识', 'Note id'), t('encounter_id', '门(急)诊号', 'Encounter id'), resid,
    t('chief_complaint', '主诉', 'Chief complaint', { de: 'DE04.01.119.00', deType: 'S1' }), t('subjective', '现病史', 'History of present illness', { de: 'DE02.10.071.00', deType: 'S1' }),
    t('objective', '体格检查', 'Physical examination', { de: 'DE04.10.258.00', deType: 'S1' }), t('assessment', '诊断依据', 'Assessment', { de: 'DE05.01.025.00', check: true }),
    t('plan', '处理意见', 'Plan', { de: 'DE06.00.300.00', deType: 'S1' }), t('diagnosis_codes', '诊断编码', 'Diagnosis codes, comma separated (primary first)'),
    t('doctor', '接诊医师', 'Doctor'), dt('signed_at', '签名日期时间', 'Signed at'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [{ ...pick(p, { note_id: 'noteId', encounter_id: 'encounterId', resident_id: 'residentId', chief_complaint: 'chiefComplaint', subjective: 'subjective', objective: 'objective', assessment: 'assessment', plan: 'plan', doctor: 'doctor', signed_at: 'signedAt' }),
    diagnosis_codes: joinList([...list(p.diagnoses)].sort((x, y) => Number(!!y.primary) - Number(!!x.primary)).map((x) => x.code)) }],
};

const prescriptionItem: ProjectionDef = {
  table: 'dw_prescription_item', zh: '处方明细', en: 'Prescription lines (western, patent and TCM drugs)', dataset: 'WS 445 门诊处方 (西药/中药)',
  source: { kind: 'record', type: 'prescription' }, migration: 102,
  columns: [
    t('prescription_id', '处方编号', 'Prescription id', { de: 'DE01.00.020.00', check: true }), t('encounter_id', '门(急)诊号', 'Encounter id'), resid,
    t('prescriber', '处方开立医师', 'Prescriber'), dt('issued_at', '处方开立日期', 'Issued at', { de: 'DE06.00.294.00' }), t('status', '处方状态', 'active / cancelled'),
    i('item_line_no', '处方行号', 'Line'), t('drug_code', '药品代码', 'National drug code (本位码)', { de: 'DE08.50.022.00', valueSet: 'dictionary:drugs' }), t('drug_name', '药物名称', 'Drug name'),
    t('spec', '药物规格', 'Specification'), n('dose', '药物使用次剂量', 'Dose', { de: 'DE08.50.023.00' }), t('dose_unit', '药物使用剂量单位', 'Dose unit', { de: 'DE08.50.024.00' }),
    t('frequency', '药物使用频率', 'Frequency', { de: 'DE06.00.133.00', deType: 'S3' }), t('route', '用药途径代码', 'Route', { de: 'DE06.00.134.00', deType: 'S3' }),
    i('days', '用药天数', 'Days'), i('quantity', '发药数量', 'Quantity (sale units)'), t('unit', '发药单位', 'Sale unit'), i('infusion_group', '组号', 'Infusion group'),
    b('volume_procurement', '集采药品标志', 'Volume-based procurement drug'),
  ],
  indexes: [['resident_id']],
  rows: (p) => list(p.items).map((it) => ({
    ...pick(p, { prescription_id: 'prescriptionId', encounter_id: 'encounterId', resident_id: 'residentId', prescriber: 'prescriber', issued_at: 'issuedAt', status: 'status' }),
    ...pick(it, { item_line_no: 'lineNo', drug_code: 'drugCode', drug_name: 'drugName', spec: 'spec', dose: 'dose', dose_unit: 'doseUnit', frequency: 'frequency', route: 'route', days: 'days', quantity: 'quantity', unit: 'unit', infusion_group: 'group', volume_procurement: 'volumeProcurement' }),
  })),
};

const infectiousReport: ProjectionDef = {
  table: 'dw_infectious_report', zh: '传染病及发热腹泻犬伤登记', en: 'Infectious disease reports and fever/diarrhoea/dog-bite registrations', dataset: 'WS 375 疾病控制 传染病报告卡',
  source: { kind: 'record', type: 'infectious_report' }, migration: 102,
  columns: [
    t('report_id', '报告卡标识', 'Report id'), t('encounter_id', '门(急)诊号', 'Encounter id'), resid, t('kind', '登记类别', 'fever/diarrhoea/dog_bite/notifiable'),
    t('icd10_code', '疾病诊断编码', 'ICD-10 code', { valueSet: 'ICD-10' }), t('disease_name', '疾病名称', 'Disease'), t('disease_class', '传染病类别', 'Class A/B/C'),
    d('onset_date', '发病日期', 'Onset date', { de: 'DE02.10.011.00' }), n('temperature', '体温', 'Temperature, °C'), t('exposure_grade', '暴露分级', 'Dog-bite exposure grade'),
    t('reported_by', '报告人', 'Reported by'), dt('reported_at', '报告日期时间', 'Reported at'), i('report_within_hours', '报告时限(小时)', 'Hours allowed for the network report'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [pick(p, { report_id: 'reportId', encounter_id: 'encounterId', resident_id: 'residentId', kind: 'kind', icd10_code: 'icd10Code', disease_name: 'diseaseName', disease_class: 'diseaseClass', onset_date: 'onsetDate', temperature: 'temperature', exposure_grade: 'exposureGrade', reported_by: 'reportedBy', reported_at: 'reportedAt', report_within_hours: 'reportWithinHours' })],
};

const healthRecord: ProjectionDef = {
  table: 'dw_health_record', zh: '健康档案概要', en: 'Health record summary', dataset: 'WS 365 个人基本信息 (健康档案)',
  source: { kind: 'record', type: 'health_record' }, migration: 102,
  columns: [
    t('health_record_no', '城乡居民健康档案编号', 'Health record number (17 digits)', { de: 'DE01.00.009.00', deType: 'S1', format: 'N17' }), resid,
    t('status', '档案状态', 'active / migrated / cancelled'), t('holding_clinic_id', '建档机构', 'Clinic holding the record'), d('created_date', '建档日期', 'Created'),
    t('doctor_code', '责任医生', 'Responsible doctor'), t('team_id', '家庭医生团队', 'Family-doctor team'), t('residence_type', '常住类型', '1 registered / 2 non-registered'),
    t('abo_blood_group', 'ABO血型代码', 'ABO blood group', { de: 'DE04.50.001.00', deType: 'S3', valueSet: 'CV04.50.005' }), t('rh_blood_group', 'Rh血型代码', 'Rh blood group'),
    t('drug_allergies', '药物过敏史', 'Drug allergies, comma separated'), t('past_disease_codes', '既往疾病', 'Past disease codes or names, comma separated'),
    d('last_updated_date', '最近更新日期', 'Last touched (dynamic use rate)'), d('cancelled_date', '注销日期', 'Cancelled'), t('cancel_reason', '注销原因', 'Cancel reason'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [{ ...pick(p, { health_record_no: 'healthRecordNo', resident_id: 'residentId', status: 'status', holding_clinic_id: 'clinicId', created_date: 'createdDate', doctor_code: 'doctorCode', team_id: 'teamId', residence_type: 'residenceType', abo_blood_group: 'aboBloodGroup', rh_blood_group: 'rhBloodGroup', last_updated_date: 'lastUpdatedDate', cancelled_date: 'cancelledDate', cancel_reason: 'cancelReason' }),
    drug_allergies: joinList(p.drugAllergies), past_disease_codes: joinList(list(p.pastDiseases).map((x) => x.code ?? x.name)) }],
};

const chronicEnrolment: ProjectionDef = {
  table: 'dw_chronic_enrolment', zh: '慢病管理登记', en: 'Chronic-disease management enrolments', dataset: 'WS 365 高血压/2型糖尿病患者管理',
  source: { kind: 'record', type: 'chronic_enrolment' }, migration: 102,
  columns: [
    t('enrolment_id', '管理登记标识', 'Enrolment id'), resid, t('disease', '管理病种', 'HTN / T2DM'), d('enrolled_date', '纳入管理日期', 'Enrolled'), d('diagnosed_date', '确诊日期', 'Diagnosed'),
    t('team_id', '家庭医生团队', 'Team'), t('doctor_code', '责任医生', 'Doctor'), t('status', '管理状态', 'active / ended'), d('ended_date', '结案日期', 'Ended'), t('end_reason', '结案原因', 'End reason'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [pick(p, { enrolment_id: 'enrolmentId', resident_id: 'residentId', disease: 'disease', enrolled_date: 'enrolledDate', diagnosed_date: 'diagnosedDate', team_id: 'teamId', doctor_code: 'doctorCode', status: 'status', ended_date: 'endedDate', end_reason: 'endReason' })],
};

const chronicFollowup: ProjectionDef = {
  table: 'dw_chronic_followup', zh: '慢病随访服务记录', en: 'Hypertension / type 2 diabetes follow-ups', dataset: 'WS 365 高血压/2型糖尿病患者随访服务记录表',
  source: { kind: 'record', type: 'chronic_followup' }, migration: 102,
  columns: [
    t('followup_id', '随访标识', 'Follow-up id'), resid, t('enrolment_id', '管理登记标识', 'Enrolment id'), t('disease', '管理病种', 'HTN / T2DM'),
    d('followup_date', '随访日期', 'Follow-up date'), t('mode', '随访方式', 'clinic / home / phone'),
    i('sbp', '收缩压', 'Systolic BP, mmHg', { de: 'DE04.10.174.00' }), i('dbp', '舒张压', 'Diastolic BP, mmHg', { de: 'DE04.10.176.00' }), i('heart_rate', '心率', 'Heart rate'),
    n('weight_kg', '体重', 'Weight, kg'), n('bmi', '体质指数', 'BMI'), n('fasting_glucose', '空腹血糖值', 'Fasting glucose, mmol/L'), n('hba1c', '糖化血红蛋白', 'HbA1c, %'),
    t('bp_class', '血压分级', 'BP class'), t('control', '此次随访分类', 'controlled/uncontrolled/adverse_reaction/complication'), t('medication_adherence', '服药依从性', 'Adherence'),
    b('urgent_referral', '紧急转诊标志', 'Urgent referral flagged'), d('next_due_date', '下次随访日期', 'Next due'), t('doctor_code', '随访医生', 'Doctor'), t('team_id', '家庭医生团队', 'Team'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [pick(p, { followup_id: 'followupId', resident_id: 'residentId', enrolment_id: 'enrolmentId', disease: 'disease', followup_date: 'date', mode: 'mode', sbp: 'sbp', dbp: 'dbp', heart_rate: 'heartRate', weight_kg: 'weightKg', bmi: 'bmi', fasting_glucose: 'fastingGlucose', hba1c: 'hba1c', bp_class: 'bpClass', control: 'control', medication_adherence: 'medicationAdherence', urgent_referral: 'urgentReferral', next_due_date: 'nextDueDate', doctor_code: 'doctorCode', team_id: 'teamId' })],
};

const elderlyCheck: ProjectionDef = {
  table: 'dw_elderly_check', zh: '老年人健康体检', en: 'Elderly annual health checks', dataset: 'WS 365 健康体检 / 老年人健康管理',
  source: { kind: 'record', type: 'elderly_check' }, migration: 102,
  columns: [
    t('check_id', '体检标识', 'Check id'), resid, d('check_date', '体检日期', 'Check date'), i('self_care_score', '生活自理能力评分', 'Self-care score'), t('self_care_level', '生活自理能力', 'Self-care level'),
    i('sbp', '收缩压', 'Systolic BP', { de: 'DE04.10.174.00' }), i('dbp', '舒张压', 'Diastolic BP', { de: 'DE04.10.176.00' }), n('weight_kg', '体重', 'Weight, kg'), n('waist_cm', '腰围', 'Waist, cm'),
    n('fasting_glucose', '空腹血糖值', 'Fasting glucose'), t('items_done', '完成项目', 'Annual items done, comma separated'), t('doctor_code', '体检医生', 'Doctor'), t('team_id', '家庭医生团队', 'Team'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [{ ...pick(p, { check_id: 'checkId', resident_id: 'residentId', check_date: 'date', self_care_score: 'selfCareScore', self_care_level: 'selfCareLevel', sbp: 'sbp', dbp: 'dbp', weight_kg: 'weightKg', waist_cm: 'waistCm', fasting_glucose: 'fastingGlucose', doctor_code: 'doctorCode', team_id: 'teamId' }), items_done: joinList(p.itemsDone) }],
};

const fdContract: ProjectionDef = {
  table: 'dw_fd_contract', zh: '家庭医生签约', en: 'Family-doctor contracts', dataset: '家庭医生签约服务协议',
  source: { kind: 'record', type: 'fd_contract' }, migration: 102,
  columns: [
    t('contract_id', '签约协议标识', 'Contract id'), resid, t('team_id', '家庭医生团队', 'Team'), t('doctor_code', '签约医生', 'Doctor'), t('package_ids', '服务包', 'Packages, comma separated'),
    t('status', '签约状态', 'signed / renewed / terminated'), d('signed_date', '签约日期', 'Signed'), d('start_date', '协议开始日期', 'Start'), d('end_date', '协议结束日期', 'End'),
    t('previous_contract_id', '续约来源', 'Contract this one renews'), d('terminated_date', '解约日期', 'Terminated'), t('key_population_tags', '重点人群', 'Key-population tags, comma separated'),
    t('sign_method', '身份核验方式', 'id_card / e_health_card / manual'), i('fee_fen', '签约费用(分)', 'Fee, fen'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [{ ...pick(p, { contract_id: 'contractId', resident_id: 'residentId', team_id: 'teamId', doctor_code: 'doctorCode', status: 'status', signed_date: 'signedDate', start_date: 'startDate', end_date: 'endDate', previous_contract_id: 'previousContractId', terminated_date: 'terminatedDate', sign_method: 'signMethod', fee_fen: 'feeFen' }),
    package_ids: joinList(p.packageIds), key_population_tags: joinList(p.keyPopulationTags) }],
};

const fdService: ProjectionDef = {
  table: 'dw_fd_service', zh: '签约履约服务', en: 'Services delivered under a contract', dataset: '家庭医生签约服务 履约记录',
  source: { kind: 'record', type: 'fd_service' }, migration: 102,
  columns: [
    t('service_id', '履约服务标识', 'Service id'), t('contract_id', '签约协议标识', 'Contract id'), resid, t('package_id', '服务包', 'Package'), t('service_code', '服务项目代码', 'Service code'),
    t('service_name', '服务项目名称', 'Service'), d('service_date', '服务日期', 'Date'), t('doctor_code', '服务医生', 'Doctor'), t('team_id', '家庭医生团队', 'Team'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [pick(p, { service_id: 'serviceId', contract_id: 'contractId', resident_id: 'residentId', package_id: 'packageId', service_code: 'serviceCode', service_name: 'serviceName', service_date: 'date', doctor_code: 'doctorCode', team_id: 'teamId' })],
};

const referral: ProjectionDef = {
  table: 'dw_referral', zh: '双向转诊', en: 'Two-way referrals', dataset: 'WS 365 其他医疗卫生服务记录 转诊',
  source: { kind: 'record', type: 'referral' }, migration: 102,
  columns: [
    t('referral_id', '转诊标识', 'Referral id'), resid, t('direction', '转诊方向', 'up / down'), d('referral_date', '转诊日期', 'Date'), b('urgent', '紧急转诊标志', 'Urgent'),
    t('from_org', '转出机构', 'From'), t('to_org', '转入机构', 'To'), t('diagnosis_code', '初步诊断编码', 'Initial diagnosis (ICD-10)'), t('status', '转诊状态', 'issued/received/completed/cancelled'),
    d('followup_due_date', '回访期限', 'Follow-up due'), d('followed_up_date', '回访日期', 'Followed up'), t('doctor_code', '转诊医生', 'Doctor'), t('team_id', '家庭医生团队', 'Team'),
  ],
  indexes: [['resident_id']],
  rows: (p) => [pick(p, { referral_id: 'referralId', resident_id: 'residentId', direction: 'direction', referral_date: 'date', urgent: 'urgent', from_org: 'fromOrg', to_org: 'toOrg', diagnosis_code: 'diagnosisCode', status: 'status', followup_due_date: 'followupDueDate', followed_up_date: 'followedUpDate', doctor_code: 'doctorCode', team_id: 'teamId' })],
};

// ---- migration 121: the rest of the cost and dispensing records ----

const settlement: ProjectionDef = {
  table: 'dw_settlement', zh: '收费日结', en: 'Daily cashier settlements', dataset: 'WS 445 门诊费用 结算 (日结)',
  source: { kind: 'record', type: 'settlement' }, migration: 121,
  columns: [
    t('settlement_id', '日结标识', 'Settlement id'), t('cashier', '收费员', 'Cashier'), d('settlement_date', '日结日期', 'Business day'),
    dt('from_at', '起始时间', 'From'), dt('to_at', '截止时间', 'To'), i('invoice_count', '发票张数', 'Invoices'), i('reversal_count', '冲销张数', 'Reversals'),
    t('first_invoice_no', '起始发票号', 'First invoice number'), t('last_invoice_no', '截止发票号', 'Last invoice number'),
    i('gross_fen', '收费金额(分)', 'Gross, fen'), i('refund_fen', '退费金额(分)', 'Refunds, fen'), i('net_fen', '实收金额(分)', 'Net, fen'),
    t('by_method', '按支付方式', 'Amounts by payment method, fen (JSON)'), t('by_category', '按费用类别', 'Amounts by cost category, fen (JSON)'),
    t('settled_by', '日结人', 'Settled by'), dt('settled_at', '日结时间', 'Settled at'),
  ],
  rows: (p) => [pick(p, { settlement_id: 'settlementId', cashier: 'cashier', settlement_date: 'date', from_at: 'fromAt', to_at: 'toAt', invoice_count: 'invoiceCount', reversal_count: 'reversalCount', first_invoice_no: 'firstInvoiceNo', last_invoice_no: 'lastInvoiceNo', gross_fen: 'grossFen', refund_fen: 'refundFen', net_fen: 'netFen', by_method: 'byMethod', by_category: 'byCategory', settled_by: 'settledBy', settled_at: 'settledAt' })],
};

const dispenseItem: ProjectionDef = {
  table: 'dw_dispense_item', zh: '发药明细', en: 'Dispensing and return lines at the pharmacy', dataset: 'WS 445 门诊处方 发药',
  source: { kind: 'record', type: 'dispense' }, migration: 121,
  columns: [
    t('dispense_id', '发药标识', 'Dispensing id'), t('kind', '发药类别', 'dispense / return'), resid, t('registration_id', '挂号标识', 'Registration id'),
    t('charge_id', '费用明细标识', 'Charge line dispensed'), t('drug_code', '药品代码', 'National drug code (本位码)', { valueSet: 'dictionary:drugs' }),
    t('batch_no', '药品批号', 'Batch number'), n('quantity', '发药数量', 'Quantity (sale units; positive also for a return)'),
    t('by_user', '发药药师', 'Pharmacist'), dt('dispensed_at', '发药时间', 'Dispensed at'),
  ],
  indexes: [['resident_id']],
  rows: (p) => list(p.lines).map((l) => ({
    ...pick(p, { dispense_id: 'dispenseId', kind: 'kind', resident_id: 'residentId', registration_id: 'registrationId', by_user: 'byUser', dispensed_at: 'at' }),
    ...pick(l, { charge_id: 'chargeId', drug_code: 'drugCode', batch_no: 'batchNo', quantity: 'quantity' }),
  })),
};

/** Every projection, in DDL order. Append new ones (with a new migration number) as record types land. */
export const projections: ProjectionDef[] = [resident, residentIdentifier, encounter, diagnosis, observation, labResult, imagingStudy, order,
  registration, charge, invoice, visitNote, prescriptionItem, infectiousReport, healthRecord, chronicEnrolment, chronicFollowup, elderlyCheck, fdContract, fdService, referral,
  settlement, dispenseItem];

const byType = new Map<string, ProjectionDef[]>();
for (const p of projections) if (p.source.kind === 'record') byType.set(p.source.type, [...(byType.get(p.source.type) ?? []), p]);
const residentDefs = projections.filter((p) => p.source.kind === 'resident');
const NONE: ProjectionDef[] = [];
/** Projections of a record type (the same array on every call; do not modify). */
export const recordProjections = (type: string): ProjectionDef[] => byType.get(type) ?? NONE;
export const residentProjections = (): ProjectionDef[] => residentDefs;

export const allColumns = (p: ProjectionDef): ColumnDef[] => [...(p.source.kind === 'record' ? RECORD_SYSTEM_COLUMNS : RESIDENT_SYSTEM_COLUMNS), ...p.columns];

/**
 * Per record type searched by patient in the FHIR facade (central/fhir/store.ts), the projection
 * table that has a row with `line_no = 0` for every valid record of the type, carrying the latest version of the record
 * and its `resident_id`, indexed by resident. On SQLite the searches by patient start from these
 * indexes: the warehouse keeps no index of `records` by resident (migration 123 dropped
 * `records_type_resident`), because in SQLite's WAL every commit rewrites each page it changed
 * in full and a second index by resident, whose entries land on scattered pages, cost the ingest
 * about a fifth of its work per record once the warehouse held a few hundred thousand records
 * (bench/warehouse-growth.bench.ts). A projection holds the latest version only, so joining on its
 * version also replaces the "no newer version" test of the plain search.
 */
export const RESIDENT_PROJECTION_TABLES = {
  encounter: { table: 'dw_encounter' },
  // `code`: the column holding the record's `code` / `testCode` (the searches' code filter, applied
  // to the projection rows before their records are read).
  observation: { table: 'dw_observation', code: 'code' },
  lab_result: { table: 'dw_lab_result', code: 'test_code' },
  imaging_study: { table: 'dw_imaging_study' },
  prescription: { table: 'dw_prescription_item' }, // one row per item; items has at least one (contracts)
} as const satisfies Record<string, { table: string; code?: string }>;

// ---- value sanitising: a projection never fails the ingest transaction ----

const DATE = /^\d{4}-\d{2}-\d{2}$/;

export type CellValue = string | number | boolean | null;

function sanitise(t: ColType, v: unknown): CellValue {
  if (v === undefined || v === null || v === '') return null;
  switch (t) {
    case 'text': return typeof v === 'string' ? (v.length > 4000 ? v.slice(0, 4000) : v) : (typeof v === 'object' ? JSON.stringify(v) : String(v)).slice(0, 4000);
    case 'int': { const n = typeof v === 'number' ? v : Number(v); return Number.isSafeInteger(n) ? n : null; }
    case 'num': { const n = typeof v === 'number' ? v : Number(v); return Number.isFinite(n) ? n : null; }
    case 'bool': return typeof v === 'boolean' ? v : v === 1 || v === '1' || v === 'true' ? true : v === 0 || v === '0' || v === 'false' ? false : null;
    case 'date': { const s = String(v); return DATE.test(s) && !Number.isNaN(Date.parse(s)) ? s : null; }
    case 'datetime': { const ms = Date.parse(String(v)); return Number.isNaN(ms) ? null : new Date(ms).toISOString(); }
  }
}

/** The payload's rows before sanitising; [] for a payload of an unexpected shape. */
function rawRows(p: ProjectionDef, payload: unknown): Record<string, unknown>[] {
  if (!payload || typeof payload !== 'object') return [];
  try {
    return p.rows(payload as Record<string, unknown>);
  } catch {
    return []; // a payload of an unexpected shape keeps its generic `records` row only
  }
}

/** Business rows of one payload, each value sanitised to its column type (unknown keys dropped). */
export function projectRows(p: ProjectionDef, payload: unknown): Record<string, CellValue>[] {
  return rawRows(p, payload).map((r) => {
    const o: Record<string, CellValue> = {};
    for (const c of p.columns) o[c.name] = sanitise(c.type, r[c.name]);
    return o;
  });
}

/** The same rows as value lists in `p.columns` order (what the ingest writers bind). */
export function projectValues(p: ProjectionDef, payload: unknown): CellValue[][] {
  const cols = p.columns;
  return rawRows(p, payload).map((r) => {
    const out = new Array<CellValue>(cols.length);
    for (let i = 0; i < cols.length; i++) out[i] = sanitise(cols[i]!.type, r[cols[i]!.name]);
    return out;
  });
}

// ---- DDL for both dialects ----

/**
 * Indexes migrations 100 and 102 created that no reader uses (the projection tables are read by
 * clinic and resident through `readProjection`, and by key in retention); each one cost every
 * ingest a B-tree insert per row. Migration 120 drops them and keeps `(resident_id)`.
 */
const RETIRED_INDEXES_120: Record<string, string[][]> = {
  dw_encounter: [['visit_at']],
  dw_diagnosis: [['diagnosis_code']],
  dw_observation: [['resident_id', 'code'], ['effective_at']],
  dw_lab_result: [['resident_id', 'test_code'], ['resulted_at']],
  dw_imaging_study: [['accession_number']],
  dw_order: [['encounter_id']],
  dw_registration: [['visit_date']],
  dw_charge: [['charged_at'], ['category']],
  dw_invoice: [['issued_at']],
  dw_visit_note: [['encounter_id']],
  dw_prescription_item: [['drug_code'], ['issued_at']],
  dw_infectious_report: [['reported_at']],
  dw_health_record: [['health_record_no']],
  dw_chronic_enrolment: [['disease', 'status']],
  dw_chronic_followup: [['resident_id', 'disease'], ['followup_date']],
  dw_elderly_check: [['check_date']],
  dw_fd_contract: [['team_id', 'status']],
  dw_fd_service: [['contract_id']],
  dw_referral: [['referral_date']],
};

/** Migration 120 (both dialects): drop the retired indexes, make sure the resident index exists. */
export function projectionIndexDdl120(): string {
  const out: string[] = [];
  for (const [table, idx] of Object.entries(RETIRED_INDEXES_120)) {
    for (const ix of idx) out.push(`DROP INDEX IF EXISTS ${table}_${ix.join('_')};`);
    const p = projections.find((x) => x.table === table)!;
    for (const ix of p.indexes ?? []) out.push(`CREATE INDEX IF NOT EXISTS ${p.table}_${ix.join('_')} ON ${p.table} (${ix.join(', ')});`);
  }
  return out.join('\n');
}

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
