/**
 * Indicators as declarative definitions: a numerator and a denominator measure over the fact
 * table (or the population / staffing tables), a period rule and the organisation levels they
 * are reported at. The engine (`engine.ts`) turns a measure into one grouped SQL query.
 */
export type FactCol = 'flag' | 'code' | 'day2' | 'n1' | 'n2' | 'n3';
export interface Cond { col: FactCol; op: '=' | '<>' | '>=' | '<=' | '<' | '>' | 'null' | 'notnull'; value?: string | number }

/**
 * `period`: fact day within the period; `to_end`: any day before the period ends;
 * `active`: started before the period ends and not ended before it starts (day2 = end);
 * `prev_active`: active during the period just before (same length).
 */
export type Window = 'period' | 'to_end' | 'active' | 'prev_active';

export interface Require {
  kind: string[];
  window: Window;
  where?: Cond[];
  /** At least this many facts per year, scaled to the period length (4/year -> 1/quarter). */
  minPerYear?: number;
  /** The latest fact in the window has flag = 1 (e.g. controlled at the last follow-up). */
  latestFlag?: boolean;
  /** Fact at the same clinic as the counted one. */
  sameClinic?: boolean;
  /** Negated: the resident has NO such fact. */
  none?: boolean;
}

export type Measure =
  | { type: 'population'; field: 'permanent' | 'elderly' | 'key_pop' }
  | { type: 'staffing'; field: 'staff' | 'doctors' | 'gps' | 'nurses' }
  /** Fact rows (or distinct residents, or a sum) in the window. */
  | { type: 'count'; kind: string[]; window: Window; where?: Cond[]; distinct?: boolean; sum?: 'n1'; require?: Require[] }
  /** Distinct residents of a cohort (attributed to the clinic/team of the cohort fact). */
  | { type: 'cohort'; kind: string[]; window: Window; where?: Cond[]; require?: Require[];
    /** Only residents this old or older in the period's year (born on or before 31 December of year - minAge; from their `resident` fact). */
    minAge?: number };

export type Domain = 'public_health' | 'chronic' | 'contract' | 'medical' | 'resources';

export interface IndicatorDef {
  id: string;
  domain: Domain;
  name: { zh: string; en: string };
  /** Human-readable formula, shown beside the value. */
  formula: { zh: string; en: string };
  unit: 'percent' | 'count' | 'yuan' | 'ratio';
  numerator: Measure;
  denominator?: Measure;
  /** Default period kind the indicator is usually read at. */
  period: 'month' | 'quarter' | 'year';
  /** Organisation levels it is reported at (teams have no population denominators). */
  levels: ('district' | 'centre' | 'station' | 'team')[];
  /** National / district target, for flags and performance evaluation. */
  target?: number;
  /** The denominator cohort can be listed case by case (who fails the numerator). */
  cases?: boolean;
  /** Higher is better (default) or lower is better. */
  better?: 'higher' | 'lower';
}

const ALL = ['district', 'centre', 'station', 'team'] as const;
const INST = ['district', 'centre', 'station'] as const;
const SERVICE_KINDS = ['visit', 'htn_fu', 'dm_fu', 'elderly_check', 'tcm'];
const ACTIVITY_KINDS = ['visit', 'htn_fu', 'dm_fu', 'elderly_check', 'tcm', 'obs', 'lab', 'rx'];

const chronic = (d: 'htn' | 'dm', zh: string, en: string): IndicatorDef[] => [
  {
    id: `${d}_standard_mgmt`, domain: 'chronic', name: { zh: `${zh}患者规范管理率`, en: `${en} standardised management rate` },
    formula: { zh: `按规范（每年≥4次随访，按期折算）管理的${zh}患者数 ÷ 在管${zh}患者数 × 100%`, en: `${en} patients with >= 4 follow-ups a year (pro rata) / managed ${en} patients x 100%` },
    unit: 'percent', period: 'year', levels: [...ALL], target: 0.65, cases: true,
    numerator: { type: 'cohort', kind: [`${d}_enrol`], window: 'active', require: [{ kind: [`${d}_fu`], window: 'period', minPerYear: 4 }] },
    denominator: { type: 'cohort', kind: [`${d}_enrol`], window: 'active' },
  },
  {
    id: `${d}_control`, domain: 'chronic', name: { zh: `${zh}患者控制率`, en: `${en} control rate` },
    formula: d === 'htn'
      ? { zh: '末次随访血压达标（<140/90 mmHg，65岁及以上 <150/90）的患者数 ÷ 在管患者数 × 100%', en: 'patients at target at the latest follow-up (< 140/90 mmHg, < 150/90 at 65+) / managed patients x 100%' }
      : { zh: '末次随访空腹血糖 <7.0 mmol/L 的患者数 ÷ 在管患者数 × 100%', en: 'patients with fasting glucose < 7.0 mmol/L at the latest follow-up / managed patients x 100%' },
    unit: 'percent', period: 'year', levels: [...ALL], target: 0.6, cases: true,
    numerator: { type: 'cohort', kind: [`${d}_enrol`], window: 'active', require: [{ kind: [`${d}_fu`], window: 'period', latestFlag: true }] },
    denominator: { type: 'cohort', kind: [`${d}_enrol`], window: 'active' },
  },
];

export const INDICATORS: IndicatorDef[] = [
  {
    id: 'record_rate', domain: 'public_health', name: { zh: '居民健康档案建档率', en: 'Health record rate' },
    formula: { zh: '截至期末建立健康档案的居民数 ÷ 辖区常住人口数 × 100%', en: 'residents with a health record at period end / permanent population x 100%' },
    unit: 'percent', period: 'year', levels: [...INST], target: 0.9,
    numerator: { type: 'count', kind: ['health_record'], window: 'to_end', distinct: true },
    denominator: { type: 'population', field: 'permanent' },
  },
  {
    id: 'record_use_rate', domain: 'public_health', name: { zh: '电子健康档案动态使用率', en: 'Electronic record dynamic use rate' },
    formula: { zh: '期内有诊疗、随访、体检等服务记录的建档居民数 ÷ 期末建档居民数 × 100%', en: 'residents with a record and any service entry in the period / residents with a record x 100%' },
    unit: 'percent', period: 'year', levels: [...ALL], target: 0.6, cases: true,
    numerator: { type: 'cohort', kind: ['health_record'], window: 'to_end', require: [{ kind: ACTIVITY_KINDS, window: 'period' }] },
    denominator: { type: 'cohort', kind: ['health_record'], window: 'to_end' },
  },
  ...chronic('htn', '高血压', 'Hypertension'),
  ...chronic('dm', '2型糖尿病', 'Type 2 diabetes'),
  {
    id: 'elderly_mgmt', domain: 'public_health', name: { zh: '老年人健康管理率', en: 'Elderly health management rate' },
    formula: { zh: '期内接受健康管理（体检及评估）的65岁及以上居民数 ÷ 辖区65岁及以上常住人口数 × 100%', en: 'residents 65+ with a health check in the period / permanent residents 65+ x 100%' },
    unit: 'percent', period: 'year', levels: [...INST], target: 0.7,
    numerator: { type: 'count', kind: ['elderly_check'], window: 'period', distinct: true },
    denominator: { type: 'population', field: 'elderly' },
  },
  {
    id: 'tcm_rate', domain: 'public_health', name: { zh: '老年人中医药健康管理率', en: 'TCM health management rate (65+)' },
    formula: { zh: '期内接受中医体质辨识的65岁及以上居民数 ÷ 辖区65岁及以上常住人口数 × 100%', en: 'residents 65+ with a TCM constitution assessment in the period / permanent residents 65+ x 100%' },
    unit: 'percent', period: 'year', levels: [...INST], target: 0.7,
    numerator: { type: 'count', kind: ['tcm'], window: 'period', distinct: true },
    denominator: { type: 'population', field: 'elderly' },
  },
  {
    id: 'contract_rate', domain: 'contract', name: { zh: '家庭医生签约率', en: 'Family doctor contract rate' },
    formula: { zh: '期内有效签约居民数 ÷ 辖区常住人口数 × 100%', en: 'residents with a contract in force during the period / permanent population x 100%' },
    unit: 'percent', period: 'year', levels: [...INST], target: 0.35,
    numerator: { type: 'count', kind: ['contract'], window: 'active', distinct: true },
    denominator: { type: 'population', field: 'permanent' },
  },
  {
    id: 'key_contract_rate', domain: 'contract', name: { zh: '重点人群签约率', en: 'Key-population contract rate' },
    formula: { zh: '期内有效签约的重点人群（老年人、慢病、孕产妇、儿童、残疾人等）数 ÷ 辖区重点人群数 × 100%', en: 'key-population residents with a contract in force / key population x 100%' },
    unit: 'percent', period: 'year', levels: [...INST], target: 0.6,
    numerator: { type: 'count', kind: ['contract'], window: 'active', distinct: true, where: [{ col: 'n1', op: '=', value: 1 }] },
    denominator: { type: 'population', field: 'key_pop' },
  },
  {
    id: 'renewal_rate', domain: 'contract', name: { zh: '续约率', en: 'Renewal rate' },
    formula: { zh: '上期签约居民中本期续约的人数 ÷ 上期有效签约居民数 × 100%', en: 'residents contracted in the previous period who renewed in this period / residents contracted in the previous period x 100%' },
    unit: 'percent', period: 'year', levels: [...ALL], target: 0.8, cases: true,
    numerator: { type: 'cohort', kind: ['contract'], window: 'prev_active', require: [{ kind: ['contract'], window: 'period', where: [{ col: 'flag', op: '=', value: 1 }] }] },
    denominator: { type: 'cohort', kind: ['contract'], window: 'prev_active' },
  },
  {
    id: 'fulfilment_rate', domain: 'contract', name: { zh: '履约率', en: 'Fulfilment rate' },
    formula: { zh: '期内获得约定服务（就诊、随访、体检或中医药服务）的签约居民数 ÷ 有效签约居民数 × 100%', en: 'contracted residents who received a contracted service in the period / residents with a contract in force x 100%' },
    unit: 'percent', period: 'year', levels: [...ALL], target: 0.9, cases: true,
    numerator: { type: 'cohort', kind: ['contract'], window: 'active', require: [{ kind: SERVICE_KINDS, window: 'period' }] },
    denominator: { type: 'cohort', kind: ['contract'], window: 'active' },
  },
  {
    id: 'contracted_visit_rate', domain: 'contract', name: { zh: '签约居民签约机构就诊率', en: 'Contracted visit rate' },
    formula: { zh: '签约居民在签约机构就诊人次 ÷ 签约居民在辖区基层机构就诊总人次 × 100%', en: 'visits of contracted residents at their contracted clinic / all their visits in the district x 100%' },
    unit: 'percent', period: 'month', levels: [...ALL], target: 0.6,
    numerator: { type: 'count', kind: ['visit'], window: 'period', require: [{ kind: ['contract'], window: 'active', sameClinic: true }] },
    denominator: { type: 'count', kind: ['visit'], window: 'period', require: [{ kind: ['contract'], window: 'active' }] },
  },
  {
    id: 'booked_visit_rate', domain: 'contract', name: { zh: '预约就诊率', en: 'Booked visit rate' },
    formula: { zh: '预约挂号人次 ÷ 挂号总人次（不含退号）× 100%', en: 'registrations made by appointment / all registrations (not cancelled) x 100%' },
    unit: 'percent', period: 'month', levels: [...ALL], target: 0.3,
    numerator: { type: 'count', kind: ['registration'], window: 'period', where: [{ col: 'flag', op: '=', value: 1 }] },
    denominator: { type: 'count', kind: ['registration'], window: 'period' },
  },
  {
    id: 'visits', domain: 'medical', name: { zh: '门急诊人次', en: 'Outpatient visits' },
    formula: { zh: '期内门诊、急诊、出诊、随访就诊记录数（不含已取消）', en: 'outpatient, emergency, home and follow-up encounters in the period (not cancelled)' },
    unit: 'count', period: 'month', levels: [...ALL],
    numerator: { type: 'count', kind: ['visit'], window: 'period' },
  },
  {
    id: 'prescriptions', domain: 'medical', name: { zh: '处方数', en: 'Prescriptions' },
    formula: { zh: '期内开具的处方（药品医嘱）数（不含作废）', en: 'prescriptions (drug orders) issued in the period, not voided' },
    unit: 'count', period: 'month', levels: [...ALL],
    numerator: { type: 'count', kind: ['rx'], window: 'period' },
  },
  {
    id: 'income', domain: 'medical', name: { zh: '医疗收入', en: 'Medical income' },
    formula: { zh: '期内收费明细金额合计（元，不含退费）', en: 'sum of charges in the period (yuan, refunds excluded)' },
    unit: 'yuan', period: 'month', levels: [...INST],
    numerator: { type: 'count', kind: ['charge'], window: 'period', sum: 'n1' },
  },
  {
    id: 'drug_income_share', domain: 'medical', name: { zh: '药品收入占比', en: 'Drug share of income' },
    formula: { zh: '药品收入 ÷ 医疗收入 × 100%', en: 'drug income / medical income x 100%' },
    unit: 'percent', period: 'month', levels: [...INST], target: 0.5, better: 'lower',
    numerator: { type: 'count', kind: ['charge'], window: 'period', sum: 'n1', where: [{ col: 'code', op: '=', value: 'drug' }] },
    denominator: { type: 'count', kind: ['charge'], window: 'period', sum: 'n1' },
  },
  {
    id: 'staff', domain: 'resources', name: { zh: '在岗人员数', en: 'Staff' },
    formula: { zh: '机构在岗人员数（数据管理员维护）', en: 'staff in post (entered by the data administrator)' },
    unit: 'count', period: 'year', levels: [...INST],
    numerator: { type: 'staffing', field: 'staff' },
  },
  {
    id: 'gps', domain: 'resources', name: { zh: '全科医生数', en: 'General practitioners' },
    formula: { zh: '注册全科医生人数', en: 'registered general practitioners' },
    unit: 'count', period: 'year', levels: [...INST],
    numerator: { type: 'staffing', field: 'gps' },
  },
  {
    id: 'doctor_nurse_ratio', domain: 'resources', name: { zh: '医护比', en: 'Doctor / nurse ratio' },
    formula: { zh: '执业（助理）医师数 ÷ 注册护士数', en: 'doctors / registered nurses' },
    unit: 'ratio', period: 'year', levels: [...INST],
    numerator: { type: 'staffing', field: 'doctors' },
    denominator: { type: 'staffing', field: 'nurses' },
  },
];

export const INDICATOR_BY_ID = new Map(INDICATORS.map((i) => [i.id, i]));
export const DOMAINS: { id: Domain; zh: string; en: string }[] = [
  { id: 'public_health', zh: '公共卫生', en: 'Public health' },
  { id: 'chronic', zh: '慢病管理', en: 'Chronic disease' },
  { id: 'contract', zh: '签约服务', en: 'Contract services' },
  { id: 'medical', zh: '基本医疗', en: 'Basic medical services' },
  { id: 'resources', zh: '卫生资源', en: 'Resources' },
];
