/**
 * The FHIR interaction guide (tender 1.2.2: interaction documents per business scenario).
 * Scenarios are data: each step is a real request with the response it gets. The page renders
 * them; `test/central/fhir-guide.test.ts` runs every step against a running central and checks
 * the documented status and response fields, so the guide cannot drift from the server.
 *
 * `{{name}}` in a path, header or body is a value captured by an earlier step (or `{{apiToken}}`,
 * `{{base}}`, `{{today}}` supplied by the runner). In expected bodies `"…"` means "any value".
 */

export interface GuideStep {
  title: { zh: string; en: string };
  method: 'GET' | 'POST' | 'PUT';
  path: string;
  headers?: Record<string, string>;
  /** JSON body, or a form (application/x-www-form-urlencoded) when `form` is set. */
  body?: unknown;
  form?: Record<string, string>;
  expect: { status: number; body?: unknown };
  /** Values to keep for later steps: name -> dotted path in the response body (or `header:location`). */
  capture?: Record<string, string>;
  note?: { zh: string; en: string };
}

export interface GuideScenario {
  id: string;
  title: { zh: string; en: string };
  intro: { zh: string; en: string };
  steps: GuideStep[];
}

const ID = '11010519491231002X';
const json = { 'content-type': 'application/fhir+json' };
const bearer = { authorization: 'Bearer {{token}}' };

export const fhirGuide: GuideScenario[] = [
  {
    id: 'access',
    title: { zh: '接入：注册第三方客户端并获取访问令牌', en: 'Access: register a client and get a token' },
    intro: {
      zh: '区卫健局管理员为第三方（如区医院 LIS、可穿戴设备厂商）登记客户端并分配 SMART 系统权限；第三方用 client_credentials 换取短期访问令牌。',
      en: 'The district administrator registers the third party with SMART system scopes; the third party exchanges its credentials for a short-lived token.',
    },
    steps: [
      {
        title: { zh: '管理员登记客户端（管理接口，使用中心 API 令牌）', en: 'Administrator registers the client (management API token)' },
        method: 'POST', path: '/api/oauth/clients', headers: { authorization: 'Bearer {{apiToken}}', 'content-type': 'application/json' },
        body: { clientId: 'district-lis', name: '区医院检验系统', scopes: ['system/Patient.read', 'system/Patient.write', 'system/Observation.read', 'system/Observation.write', 'system/Encounter.read', 'system/Condition.read'] },
        expect: { status: 201, body: { clientId: 'district-lis', clientSecret: '…' } },
        capture: { secret: 'clientSecret' },
        note: { zh: '密钥只显示这一次，请妥善保存。', en: 'The secret is shown once.' },
      },
      {
        title: { zh: '第三方换取访问令牌', en: 'The third party gets an access token' },
        method: 'POST', path: '/fhir/auth/token',
        form: { grant_type: 'client_credentials', client_id: 'district-lis', client_secret: '{{secret}}', scope: 'system/Patient.write system/Patient.read system/Observation.write system/Observation.read system/Encounter.read system/Condition.read' },
        expect: { status: 200, body: { access_token: '…', token_type: 'Bearer', expires_in: '…' } },
        capture: { token: 'access_token' },
        note: { zh: '令牌过期后返回 401，重新申请即可；越权访问返回 403 并说明所需权限。', en: 'Expired: 401, ask again; outside the scopes: 403 naming the scope needed.' },
      },
    ],
  },
  {
    id: 'register-resident',
    title: { zh: '登记居民（Patient，条件创建）', en: 'Register a resident (conditional create)' },
    intro: {
      zh: '以身份证号为条件创建居民：已存在则返回原记录（不会重复建档）。身份证号按 GB 11643 校验，出生日期须与证号一致。',
      en: 'Create with If-None-Exist on the ID card number: an existing resident is returned, never duplicated. The number is checked (GB 11643) and must match the birth date.',
    },
    steps: [
      {
        title: { zh: '创建居民', en: 'Create the resident' },
        method: 'POST', path: '/fhir/Patient', headers: { ...json, ...bearer, 'if-none-exist': `identifier=http://district-health.cn/fhir/sid/cn-id-card|${ID}` },
        body: {
          resourceType: 'Patient',
          identifier: [{ system: 'http://district-health.cn/fhir/sid/cn-id-card', value: ID }],
          name: [{ text: '张秀兰' }], gender: 'female', birthDate: '1949-12-31',
          telecom: [{ system: 'phone', value: '13800138000' }],
        },
        expect: { status: 201, body: { resourceType: 'Patient', id: '…', birthDate: '1949-12-31', gender: 'female' } },
        capture: { patientId: 'id' },
      },
      {
        title: { zh: '再次提交同一居民：返回已有记录', en: 'The same resident again: the existing one is returned' },
        method: 'POST', path: '/fhir/Patient', headers: { ...json, ...bearer, 'if-none-exist': `identifier=http://district-health.cn/fhir/sid/cn-id-card|${ID}` },
        body: { resourceType: 'Patient', identifier: [{ system: 'http://district-health.cn/fhir/sid/cn-id-card', value: ID }], name: [{ text: '张秀兰' }], gender: 'female', birthDate: '1949-12-31' },
        expect: { status: 200, body: { resourceType: 'Patient', id: '{{patientId}}' } },
      },
      {
        title: { zh: '证号校验位错误：422 并指出字段', en: 'A wrong check digit: 422 naming the element' },
        method: 'POST', path: '/fhir/Patient', headers: { ...json, ...bearer },
        body: { resourceType: 'Patient', identifier: [{ system: 'http://district-health.cn/fhir/sid/cn-id-card', value: '110105194912310021' }], name: [{ text: '李四' }], gender: 'male', birthDate: '1949-12-31' },
        expect: { status: 422, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: '…', diagnostics: '…' }] } },
        note: { zh: '任何错误都返回 OperationOutcome，不会部分写入。', en: 'Every error is an OperationOutcome; nothing is half-written.' },
      },
    ],
  },
  {
    id: 'push-lab-result',
    title: { zh: '推送检验结果（Observation，laboratory）', en: 'Push a lab result (Observation, laboratory)' },
    intro: {
      zh: '上级医院或第三方检验机构推送结果：类别 laboratory，LOINC 编码，标本条码为标本标识。结果进入区域数据中心，并出现在居民摘要中。',
      en: 'A hospital or lab pushes a result: category laboratory, LOINC code, the specimen barcode as specimen identifier. It enters the warehouse and the resident summary.',
    },
    steps: [
      {
        title: { zh: '推送空腹血糖结果', en: 'Push a fasting glucose result' },
        method: 'POST', path: '/fhir/Observation', headers: { ...json, ...bearer },
        body: {
          resourceType: 'Observation', status: 'final',
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
          code: { coding: [{ system: 'http://loinc.org', code: '1558-6', display: '空腹血糖' }] },
          subject: { reference: 'Patient/{{patientId}}' },
          effectiveDateTime: '{{today}}T08:30:00+08:00',
          valueQuantity: { value: 7.8, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' },
          interpretation: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation', code: 'H' }] }],
          referenceRange: [{ text: '3.9-6.1' }],
          specimen: { identifier: { system: 'http://district-health.cn/fhir/sid/specimen/district-lab', value: 'S20261128001' } },
        },
        expect: { status: 201, body: { resourceType: 'Observation', id: '…', status: 'final' } },
        capture: { observationId: 'id' },
      },
      {
        title: { zh: '缺少标本条码：422', en: 'Without a specimen barcode: 422' },
        method: 'POST', path: '/fhir/Observation', headers: { ...json, ...bearer },
        body: {
          resourceType: 'Observation', status: 'final',
          category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
          code: { coding: [{ system: 'http://loinc.org', code: '1558-6' }] }, subject: { reference: 'Patient/{{patientId}}' },
          effectiveDateTime: '{{today}}T08:30:00+08:00', valueQuantity: { value: 7.8, unit: 'mmol/L' },
        },
        expect: { status: 422, body: { resourceType: 'OperationOutcome' } },
      },
    ],
  },
  {
    id: 'resident-summary',
    title: { zh: '获取居民摘要', en: "Fetch a resident's summary" },
    intro: {
      zh: '按身份证号找到居民，再取其就诊、诊断和观察/检验结果。检索结果为 Bundle（searchset），带分页链接；_count 最大 1000。',
      en: 'Find the resident by ID card number, then their encounters, diagnoses and observations/results. Results are searchset Bundles with paging links.',
    },
    steps: [
      {
        title: { zh: '按身份证号检索居民', en: 'Find the resident by ID card number' },
        method: 'GET', path: `/fhir/Patient?identifier=http://district-health.cn/fhir/sid/cn-id-card|${ID}`, headers: bearer,
        expect: { status: 200, body: { resourceType: 'Bundle', type: 'searchset', total: 1, entry: [{ resource: { resourceType: 'Patient', id: '{{patientId}}' } }] } },
      },
      {
        title: { zh: '居民的检验与观察结果（含居民本身）', en: "The resident's results, with the Patient included" },
        method: 'GET', path: '/fhir/Observation?patient=Patient/{{patientId}}&_include=Observation:patient', headers: bearer,
        expect: { status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Observation', id: '{{observationId}}' }, search: { mode: 'match' } }] } },
      },
      {
        title: { zh: '居民的就诊记录', en: "The resident's encounters" },
        method: 'GET', path: '/fhir/Encounter?patient={{patientId}}', headers: bearer,
        expect: { status: 200, body: { resourceType: 'Bundle', type: 'searchset' } },
      },
      {
        title: { zh: '居民的诊断', en: "The resident's diagnoses" },
        method: 'GET', path: '/fhir/Condition?patient={{patientId}}', headers: bearer,
        expect: { status: 200, body: { resourceType: 'Bundle', type: 'searchset' } },
      },
      {
        title: { zh: '不支持的检索参数：400，并说明原因', en: 'An unsupported search parameter: 400 with the reason' },
        method: 'GET', path: '/fhir/Observation?patient={{patientId}}&colour=red', headers: bearer,
        expect: { status: 400, body: { resourceType: 'OperationOutcome' } },
      },
    ],
  },
  {
    id: 'new-results',
    title: { zh: '获取新结果（订阅方式：按时间增量查询）', en: 'New results (subscription by incremental query)' },
    intro: {
      zh: '本服务暂不提供 FHIR Subscription 推送；订阅方按时间增量查询：记住上次查询的日期，以 date=ge<日期> 轮询（建议每 5 分钟），按 id 去重。',
      en: 'FHIR Subscription push is not offered; a subscriber polls with date=ge<last date> (every 5 minutes is plenty) and de-duplicates by id.',
    },
    steps: [
      {
        title: { zh: '今天以来的新结果', en: 'Results since today' },
        method: 'GET', path: '/fhir/Observation?patient={{patientId}}&date=ge{{today}}&_count=100', headers: bearer,
        expect: { status: 200, body: { resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { id: '{{observationId}}' } }] } },
      },
      {
        title: { zh: '能力声明（支持的资源、检索参数与安全机制）', en: 'CapabilityStatement (resources, search parameters, security)' },
        method: 'GET', path: '/fhir/metadata',
        expect: { status: 200, body: { resourceType: 'CapabilityStatement', fhirVersion: '4.0.1' } },
      },
    ],
  },
  {
    id: 'push-diagnostic-report',
    title: { zh: '区医院 LIS 推送检验报告（DiagnosticReport）', en: 'The district hospital LIS pushes a lab report (DiagnosticReport)' },
    intro: {
      zh: '一份检验报告及其各项结果一次提交：结果以 contained 的检验 Observation 放在报告内，由 result 以 "#id" 引用。每项结果成为该客户端的检验结果记录，报告按新 id 读回。未随报告提交的结果（Observation/<id>）不接受；任何一项不合格则整份报告不写入，返回 OperationOutcome。',
      en: 'A report and its results in one request: the results are contained laboratory Observations referenced from result as "#id". Each becomes a lab result record of the client; the report reads back under its new id. Results not sent inside the report (Observation/<id>) are refused; if any result fails, nothing is written and an OperationOutcome says why.',
    },
    steps: [
      {
        title: { zh: '管理员为报告推送登记客户端', en: 'Administrator registers a client for reports' },
        method: 'POST', path: '/api/oauth/clients', headers: { authorization: 'Bearer {{apiToken}}', 'content-type': 'application/json' },
        body: { clientId: 'district-lis-reports', name: '区医院检验报告', scopes: ['system/DiagnosticReport.write', 'system/DiagnosticReport.read', 'system/Observation.write'] },
        expect: { status: 201, body: { clientId: 'district-lis-reports', clientSecret: '…' } },
        capture: { reportSecret: 'clientSecret' },
      },
      {
        title: { zh: '获取访问令牌', en: 'Get an access token' },
        method: 'POST', path: '/fhir/auth/token',
        form: { grant_type: 'client_credentials', client_id: 'district-lis-reports', client_secret: '{{reportSecret}}', scope: 'system/DiagnosticReport.write system/DiagnosticReport.read system/Observation.write' },
        expect: { status: 200, body: { access_token: '…', token_type: 'Bearer' } },
        capture: { reportToken: 'access_token' },
      },
      {
        title: { zh: '推送报告（两项结果）', en: 'Push the report (two results)' },
        method: 'POST', path: '/fhir/DiagnosticReport', headers: { ...json, authorization: 'Bearer {{reportToken}}' },
        body: {
          resourceType: 'DiagnosticReport', status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '24326-1', display: '电解质' }] },
          subject: { reference: 'Patient/{{patientId}}' }, effectiveDateTime: '{{today}}T10:00:00+08:00',
          specimen: [{ identifier: { system: 'http://district-hospital.example/specimen', value: 'SP-20260302-01' } }],
          contained: [
            { resourceType: 'Observation', id: 'k', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '2823-3', display: '血钾' }] }, valueQuantity: { value: 4.1, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' } },
            { resourceType: 'Observation', id: 'na', status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '2951-2', display: '血钠' }] }, valueQuantity: { value: 140, unit: 'mmol/L', system: 'http://unitsofmeasure.org', code: 'mmol/L' } },
          ],
          result: [{ reference: '#k' }, { reference: '#na' }],
        },
        expect: { status: 201, body: { resourceType: 'DiagnosticReport', id: '…', status: 'final', subject: { reference: 'Patient/{{patientId}}' } } },
        capture: { reportId: 'id' },
        note: { zh: '结果的患者、时间、标本未单独填写时取报告上的值。', en: "A result without its own subject, time or specimen takes the report's." },
      },
      {
        title: { zh: '读回报告', en: 'Read the report back' },
        method: 'GET', path: '/fhir/DiagnosticReport/{{reportId}}', headers: { authorization: 'Bearer {{reportToken}}' },
        expect: { status: 200, body: { resourceType: 'DiagnosticReport', id: '{{reportId}}', status: 'final' } },
      },
      {
        title: { zh: '引用未随报告提交的结果：422', en: 'A result not sent with the report: 422' },
        method: 'POST', path: '/fhir/DiagnosticReport', headers: { ...json, authorization: 'Bearer {{reportToken}}' },
        body: { resourceType: 'DiagnosticReport', status: 'final', code: { text: '电解质' }, subject: { reference: 'Patient/{{patientId}}' }, result: [{ reference: 'Observation/{{observationId}}' }] },
        expect: { status: 422, body: { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported' }] } },
      },
    ],
  },
];

/** Replaces `{{name}}` in strings (deeply) with captured values. */
export function fill<T>(v: T, vars: Record<string, string>): T {
  if (typeof v === 'string') return v.replace(/\{\{(\w+)\}\}/g, (m, k: string) => vars[k] ?? m) as T;
  if (Array.isArray(v)) return v.map((x) => fill(x, vars)) as T;
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fill(x, vars)])) as T;
  return v;
}

/**
 * Does `actual` contain `expected`? Objects: every expected key, recursively; arrays: every
 * expected element matches some actual element; `"…"`: any present value.
 */
export function contains(actual: unknown, expected: unknown): boolean {
  if (expected === '…') return actual !== undefined;
  if (Array.isArray(expected)) return Array.isArray(actual) && expected.every((e) => actual.some((a) => contains(a, e)));
  if (expected && typeof expected === 'object') {
    if (!actual || typeof actual !== 'object') return false;
    return Object.entries(expected).every(([k, e]) => contains((actual as Record<string, unknown>)[k], e));
  }
  return actual === expected;
}
