/**
 * Pure rules of the doctor's and nurse's workstations (no database, no clock unless passed):
 * drug specifications and dispensing quantities, execution lists for injections and
 * infusions, charge lines of a signed visit, notifiable infectious diseases and the
 * rabies exposure grades.
 */

// ---------------------------------------------------------------- drugs

export type Frequency = 'qd' | 'bid' | 'tid' | 'qid' | 'q8h' | 'q12h' | 'qn' | 'st' | 'prn';
export type Route = 'po' | 'ivgtt' | 'iv' | 'im' | 'sc' | 'id' | 'inh' | 'ext';

export const FREQUENCY: Record<Frequency, { perDay: number; zh: string; en: string }> = {
  qd: { perDay: 1, zh: '每日一次', en: 'once daily' },
  bid: { perDay: 2, zh: '每日两次', en: 'twice daily' },
  tid: { perDay: 3, zh: '每日三次', en: 'three times daily' },
  qid: { perDay: 4, zh: '每日四次', en: 'four times daily' },
  q8h: { perDay: 3, zh: '每8小时一次', en: 'every 8 h' },
  q12h: { perDay: 2, zh: '每12小时一次', en: 'every 12 h' },
  qn: { perDay: 1, zh: '每晚一次', en: 'at night' },
  st: { perDay: 1, zh: '立即（一次）', en: 'once, now' },
  // As needed: dispensed for at most one dose a day of the prescribed days.
  prn: { perDay: 1, zh: '必要时', en: 'as needed' },
};

/** Routes; `exec` routes are given by a nurse and appear on the execution list. */
export const ROUTE: Record<Route, { zh: string; en: string; exec: 'infusion' | 'injection' | null; treatmentCode: string | null }> = {
  po: { zh: '口服', en: 'oral', exec: null, treatmentCode: null },
  ivgtt: { zh: '静脉滴注', en: 'IV drip', exec: 'infusion', treatmentCode: '120400001' },
  iv: { zh: '静脉注射', en: 'IV injection', exec: 'injection', treatmentCode: '120400001' },
  im: { zh: '肌内注射', en: 'intramuscular', exec: 'injection', treatmentCode: '120400002' },
  sc: { zh: '皮下注射', en: 'subcutaneous', exec: 'injection', treatmentCode: '120400003' },
  id: { zh: '皮内注射', en: 'intradermal', exec: 'injection', treatmentCode: null },
  inh: { zh: '雾化吸入', en: 'inhalation', exec: null, treatmentCode: null },
  ext: { zh: '外用', en: 'topical', exec: null, treatmentCode: null },
};

/** The dictionary's Chinese route to a route code (default route of a drug). */
export function routeFromDictionary(zh: unknown): Route {
  const s = String(zh ?? '');
  const hit = (Object.entries(ROUTE) as [Route, (typeof ROUTE)[Route]][]).find(([, r]) => r.zh === s);
  if (hit) return hit[0];
  if (s.includes('静脉')) return 'ivgtt';
  if (s.includes('肌')) return 'im';
  if (s.includes('皮下')) return 'sc';
  return 'po';
}

/** Single-use containers (ampoule, bottle, vial) cannot be shared between doses: count per dose. */
const PER_DOSE_CONTAINER: ReadonlySet<Route> = new Set(['ivgtt', 'iv', 'im']);

export interface Content { amount: number; unit: string }
export interface DrugSpec {
  /** what one piece contains, e.g. [{5,'mg'}] or [{3,'ml'},{300,'单位'}] */
  contents: Content[];
  /** pieces in one sale unit (28 tablets in a box) */
  piecesPerUnit: number;
  /** unit of one piece (片, 粒, 袋) or the sale unit when a piece is the sale unit */
  pieceUnit: string;
}

const UNIT_ALIASES: Record<string, string> = { ug: 'μg', µg: 'μg', mL: 'ml', ML: 'ml', l: 'L', iu: 'IU', U: '单位', u: '单位', 万单位: '万单位' };
const norm = (u: string) => UNIT_ALIASES[u] ?? u;
/** Unit families: amounts convert within a family. */
const FACTOR: Record<string, { family: string; f: number }> = {
  μg: { family: 'mass', f: 1e-3 }, mg: { family: 'mass', f: 1 }, g: { family: 'mass', f: 1000 },
  ml: { family: 'volume', f: 1 }, L: { family: 'volume', f: 1000 },
  IU: { family: 'unit', f: 1 }, 单位: { family: 'unit', f: 1 }, 万单位: { family: 'unit', f: 10000 },
};

/** Convert `amount` of `from` into `to`; null when they are not of one family. */
export function convert(amount: number, from: string, to: string): number | null {
  const a = FACTOR[norm(from)];
  const b = FACTOR[norm(to)];
  if (norm(from) === norm(to)) return amount;
  if (!a || !b || a.family !== b.family) return null;
  return (amount * a.f) / b.f;
}

const NUM = '(\\d+(?:\\.\\d+)?)';
const AMOUNT_UNITS = '(mg|g|μg|ug|µg|ml|mL|L|IU|iu|U|单位|万单位)';
const PIECE_UNITS = '(片|粒|袋|支|瓶|丸|贴|包|枚|揿|喷|ml)';

/**
 * Parse a drug specification as written in the dictionary: '5mg*28片', '0.25g*24粒',
 * '3ml:300单位', '0.9% 250ml', '250IU', '100片', '10g*20袋'. `saleUnit` is the dictionary's
 * unit (盒, 瓶, 支): a spec without a piece count is one piece per sale unit.
 * Returns null for a spec it does not understand (then the doctor enters the quantity).
 */
export function parseSpec(spec: string, saleUnit: string): DrugSpec | null {
  const s = spec.replace(/\s+/g, ' ').replace(/[×xX]/g, '*').replace(/：/g, ':').trim();
  const re = new RegExp(`^(?:${NUM}%\\s*)?(?:${NUM}${AMOUNT_UNITS}(?::${NUM}${AMOUNT_UNITS})?)?\\s*(?:\\*?\\s*${NUM}${PIECE_UNITS}?)?$`);
  const m = re.exec(s);
  if (!m || s === '') return null;
  const [, , a1, u1, a2, u2, count, countUnit] = m;
  const contents: Content[] = [];
  if (a1 && u1) contents.push({ amount: Number(a1), unit: norm(u1) });
  if (a2 && u2) contents.push({ amount: Number(a2), unit: norm(u2) });
  if (count && countUnit === 'ml' && contents.length === 0) {
    // '0.9% 250ml': one bottle holds 250 ml
    return { contents: [{ amount: Number(count), unit: 'ml' }], piecesPerUnit: 1, pieceUnit: saleUnit };
  }
  if (count && !countUnit && contents.length > 0) return null; // '5mg*28' without a piece unit: ambiguous
  if (contents.length === 0 && !count) return null;
  return { contents, piecesPerUnit: count ? Number(count) : 1, pieceUnit: countUnit ? norm(countUnit) : saleUnit };
}

/** Units a dose may be written in for this drug: its contents' units and the piece unit. */
export function doseUnits(spec: DrugSpec | null, saleUnit: string): string[] {
  if (!spec) return [saleUnit];
  const units = [...spec.contents.map((c) => c.unit), spec.pieceUnit];
  return [...new Set(units)];
}

/** Pieces one dose takes, e.g. 1 g of a 0.5 g tablet = 2; null if the unit does not fit the drug. */
export function piecesPerDose(spec: DrugSpec, dose: number, doseUnit: string): number | null {
  if (norm(doseUnit) === spec.pieceUnit) return dose;
  for (const c of spec.contents) {
    const v = convert(dose, doseUnit, c.unit);
    if (v !== null) return v / c.amount;
  }
  return null;
}

/** Number of administrations: `st` is once, otherwise per-day × days. */
export function administrations(frequency: Frequency, days: number): number {
  return frequency === 'st' ? 1 : FREQUENCY[frequency].perDay * days;
}

export type QuantityResult = { ok: true; quantity: number; pieces: number; administrations: number } | { ok: false; field: 'dose' | 'doseUnit' | 'days'; message: string };

/**
 * Dispensing quantity in sale units: pieces = dose in pieces × administrations (rounded up;
 * for single-use containers given IV/IM each dose takes whole pieces), then whole sale units.
 * Example: amlodipine 5mg*28片, 5 mg qd × 30 days = 30 tablets = 2 boxes.
 */
export function computeQuantity(spec: DrugSpec | null, line: { dose: number; doseUnit: string; frequency: Frequency; route: Route; days: number }): QuantityResult {
  if (!Number.isFinite(line.dose) || line.dose <= 0) return { ok: false, field: 'dose', message: '单次剂量必须大于0 / dose must be greater than 0' };
  if (!Number.isInteger(line.days) || line.days < 1 || line.days > 90) return { ok: false, field: 'days', message: '天数须为1-90的整数 / days: a whole number 1-90' };
  if (!spec) return { ok: false, field: 'doseUnit', message: '该药品规格无法自动计算数量 / cannot compute the quantity of this specification' };
  const per = piecesPerDose(spec, line.dose, line.doseUnit);
  if (per === null) return { ok: false, field: 'doseUnit', message: `剂量单位 ${line.doseUnit} 与药品规格不符（可用：${doseUnits(spec, spec.pieceUnit).join('、')}） / dose unit does not fit the drug` };
  const n = administrations(line.frequency, line.days);
  const eps = 1e-9;
  const pieces = PER_DOSE_CONTAINER.has(line.route) ? Math.ceil(per - eps) * n : Math.ceil(per * n - eps);
  const quantity = Math.ceil(pieces / spec.piecesPerUnit - eps);
  return { ok: true, quantity: Math.max(1, quantity), pieces, administrations: n };
}

// ---------------------------------------------------------------- prescription lines

export interface DrugInfo {
  code: string;
  name: string;
  spec: string;
  unit: string;
  route: Route;
  priceFen: number;
  volumeProcurement: boolean;
  active: boolean;
}

export interface RxLine {
  drugCode: string;
  drugName: string;
  spec: string;
  dose: number;
  doseUnit: string;
  frequency: Frequency;
  route: Route;
  days: number;
  quantity: number;
  unit: string;
  group?: number | undefined;
  volumeProcurement: boolean;
}

export type FieldErrors = Partial<Record<'drug' | 'dose' | 'doseUnit' | 'frequency' | 'route' | 'days' | 'quantity' | 'group', string>>;

const isFrequency = (s: string): s is Frequency => Object.prototype.hasOwnProperty.call(FREQUENCY, s);
const isRoute = (s: string): s is Route => Object.prototype.hasOwnProperty.call(ROUTE, s);

/**
 * Validate a prescription line from a form (all strings). `lookup` finds a drug by code or
 * exact name. The quantity is computed; a typed quantity overrides it when it is a positive
 * whole number (the doctor may round up to a full course). Errors are Chinese + English, per field.
 */
export function validateRxLine(raw: Record<string, unknown>, lookup: (codeOrName: string) => DrugInfo | null): { ok: true; line: RxLine } | { ok: false; errors: FieldErrors } {
  const s = (k: string) => (typeof raw[k] === 'string' ? (raw[k] as string).trim() : '');
  const errors: FieldErrors = {};
  const drugText = s('drug');
  const drug = drugText ? lookup(drugText) : null;
  if (!drugText) errors.drug = '请选择药品 / choose a drug';
  else if (!drug) errors.drug = `未知药品编码：${drugText.slice(0, 40)} / unknown drug code`;
  else if (!drug.active) errors.drug = `${drug.name} 已停用 / inactive drug`;
  const dose = Number(s('dose'));
  if (!s('dose') || !Number.isFinite(dose) || dose <= 0) errors.dose = '单次剂量必须大于0 / dose must be greater than 0';
  else if (dose > 100000) errors.dose = '单次剂量过大 / dose too large';
  const frequency = s('frequency');
  if (!isFrequency(frequency)) errors.frequency = '请选择频次 / choose a frequency';
  const routeText = s('route') || (drug ? drug.route : '');
  if (!isRoute(routeText)) errors.route = '请选择给药途径 / choose a route';
  const daysText = s('days') || '1';
  const days = Number(daysText);
  if (!/^\d+$/.test(daysText) || days < 1 || days > 90) errors.days = '天数须为1-90的整数 / days: a whole number 1-90';
  const groupText = s('group');
  const group = groupText ? Number(groupText) : undefined;
  if (groupText && (!/^\d+$/.test(groupText) || group! < 1 || group! > 99)) errors.group = '组号须为1-99的整数 / group: a whole number 1-99';
  const qText = s('quantity');
  const typedQ = qText ? Number(qText) : undefined;
  if (qText && (!Number.isFinite(typedQ) || typedQ! <= 0)) errors.quantity = '数量必须大于0，不能为负数 / quantity must be greater than 0';
  else if (qText && !Number.isInteger(typedQ)) errors.quantity = '数量须为整数 / quantity must be a whole number';
  if (Object.keys(errors).length > 0 || !drug) return { ok: false, errors };
  const doseUnit = s('doseUnit') || doseUnits(parseSpec(drug.spec, drug.unit), drug.unit)[0]!;
  const spec = parseSpec(drug.spec, drug.unit);
  const q = computeQuantity(spec, { dose, doseUnit, frequency: frequency as Frequency, route: routeText as Route, days });
  let quantity: number;
  if (q.ok) quantity = typedQ !== undefined ? Math.max(typedQ, 1) : q.quantity;
  else if (typedQ !== undefined && q.field === 'doseUnit' && !spec) quantity = typedQ;
  else return { ok: false, errors: { [q.field]: q.message } };
  if (quantity > 999) return { ok: false, errors: { quantity: '数量过大（最多999） / quantity too large' } };
  return {
    ok: true,
    line: { drugCode: drug.code, drugName: drug.name, spec: drug.spec, dose, doseUnit, frequency: frequency as Frequency, route: routeText as Route, days, quantity, unit: drug.unit, group, volumeProcurement: drug.volumeProcurement },
  };
}

// ---------------------------------------------------------------- execution list

export interface ExecSeries {
  /** line numbers (1-based) of the prescription lines given together */
  lines: number[];
  route: Route;
  kind: 'infusion' | 'injection';
  frequency: Frequency;
  days: number;
  total: number;
  drugs: { drugCode: string; drugName: string; dose: number; doseUnit: string }[];
}

export interface ExecTask {
  seriesIndex: number;
  sequence: number;
  total: number;
  /** days after the visit (0 = today) */
  dayOffset: number;
}

/**
 * The administrations a nurse gives for a prescription: every line with an injection or
 * infusion route; lines with the same group number and route run together (one bottle).
 * Each series is given `administrations(frequency, days)` times, taken from its first line.
 */
export function executionSeries(lines: readonly RxLine[]): ExecSeries[] {
  const out: ExecSeries[] = [];
  const byGroup = new Map<string, ExecSeries>();
  lines.forEach((l, i) => {
    const exec = ROUTE[l.route].exec;
    if (!exec) return;
    const key = l.group !== undefined ? `${l.group}:${l.route}` : null;
    const drug = { drugCode: l.drugCode, drugName: l.drugName, dose: l.dose, doseUnit: l.doseUnit };
    const existing = key ? byGroup.get(key) : undefined;
    if (existing) {
      existing.lines.push(i + 1);
      existing.drugs.push(drug);
      return;
    }
    const s: ExecSeries = { lines: [i + 1], route: l.route, kind: exec, frequency: l.frequency, days: l.days, total: administrations(l.frequency, l.days), drugs: [drug] };
    out.push(s);
    if (key) byGroup.set(key, s);
  });
  return out;
}

/** Tasks of the series in order: per day `perDay` administrations. */
export function executionTasks(series: readonly ExecSeries[]): ExecTask[] {
  const tasks: ExecTask[] = [];
  series.forEach((s, si) => {
    const perDay = s.frequency === 'st' ? 1 : FREQUENCY[s.frequency].perDay;
    for (let k = 0; k < s.total; k++) tasks.push({ seriesIndex: si, sequence: k + 1, total: s.total, dayOffset: Math.floor(k / perDay) });
  });
  return tasks;
}

// ---------------------------------------------------------------- charges

export interface ChargeLine {
  sourceKind: 'prescription' | 'lab' | 'imaging' | 'treatment';
  /** drug code or charge item code */
  itemCode: string;
  quantity: number;
  /** which line of the visit it prices (prescription line no, lab/imaging order id) */
  ref: string;
}

/** Charge items of the imaging procedures the imaging module offers (national service price codes). */
export const IMAGING_CHARGE: Record<string, string> = {
  'US-ABD': '220201001', 'US-THY': '220201002', 'US-CAR': '220201003', 'DX-CHEST': '210102001', 'DX-LSPINE': '210102002',
};

/**
 * What a signed visit charges: each drug line its quantity; each lab and imaging order one
 * item; each injection/infusion series its treatment fee per administration (静脉输液 per
 * bottle, 肌肉/皮下注射 per injection). Treatment fees without a charge item are left out.
 */
export function chargeLinesFor(v: { rx: readonly RxLine[]; labs: readonly { orderId: string; itemCode: string }[]; imaging: readonly { orderId: string; procedureCode: string }[] }): ChargeLine[] {
  const out: ChargeLine[] = [];
  v.rx.forEach((l, i) => out.push({ sourceKind: 'prescription', itemCode: l.drugCode, quantity: l.quantity, ref: String(i + 1) }));
  for (const l of v.labs) out.push({ sourceKind: 'lab', itemCode: l.itemCode, quantity: 1, ref: l.orderId });
  for (const o of v.imaging) {
    const code = IMAGING_CHARGE[o.procedureCode];
    if (code) out.push({ sourceKind: 'imaging', itemCode: code, quantity: 1, ref: o.orderId });
  }
  executionSeries(v.rx).forEach((s) => {
    const code = ROUTE[s.route].treatmentCode;
    if (code) out.push({ sourceKind: 'treatment', itemCode: code, quantity: s.total, ref: s.lines.join('+') });
  });
  return out;
}

// ---------------------------------------------------------------- infectious diseases

export interface Notifiable {
  /** ICD-10 prefixes (3 or 4 characters, compared without the dot's extension) */
  prefixes: string[];
  zh: string;
  cls: 'A' | 'B' | 'C';
  /** hours allowed for the direct network report */
  hours: 2 | 24;
}

/**
 * Notifiable infectious diseases (法定传染病, 传染病防治法 and NHC announcements) with ICD-10
 * prefixes. Class A and the B diseases managed as A (pulmonary anthrax, SARS, polio, H7N9 ...)
 * are reported within 2 hours, the others within 24 hours. (check: keep in step with the
 * current NHC list; COVID-19 has been class B managed as B since 2023.)
 */
export const NOTIFIABLE: readonly Notifiable[] = [
  { prefixes: ['A20'], zh: '鼠疫', cls: 'A', hours: 2 },
  { prefixes: ['A00'], zh: '霍乱', cls: 'A', hours: 2 },
  { prefixes: ['U04'], zh: '传染性非典型肺炎', cls: 'B', hours: 2 },
  { prefixes: ['A80'], zh: '脊髓灰质炎', cls: 'B', hours: 2 },
  { prefixes: ['J09'], zh: '人感染高致病性禽流感', cls: 'B', hours: 2 },
  { prefixes: ['A22.1'], zh: '肺炭疽', cls: 'B', hours: 2 },
  { prefixes: ['U07.1'], zh: '新型冠状病毒感染', cls: 'B', hours: 24 },
  { prefixes: ['B20', 'B21', 'B22', 'B23', 'B24', 'Z21'], zh: '艾滋病（HIV感染）', cls: 'B', hours: 24 },
  { prefixes: ['B15', 'B16', 'B17', 'B18', 'B19'], zh: '病毒性肝炎', cls: 'B', hours: 24 },
  { prefixes: ['B05'], zh: '麻疹', cls: 'B', hours: 24 },
  { prefixes: ['A98.5'], zh: '流行性出血热', cls: 'B', hours: 24 },
  { prefixes: ['A82'], zh: '狂犬病', cls: 'B', hours: 24 },
  { prefixes: ['A83.0'], zh: '流行性乙型脑炎', cls: 'B', hours: 24 },
  { prefixes: ['A90', 'A91'], zh: '登革热', cls: 'B', hours: 24 },
  { prefixes: ['A22'], zh: '炭疽', cls: 'B', hours: 24 },
  { prefixes: ['A03', 'A06.0'], zh: '细菌性和阿米巴性痢疾', cls: 'B', hours: 24 },
  { prefixes: ['A15', 'A16', 'A17', 'A18', 'A19'], zh: '肺结核', cls: 'B', hours: 24 },
  { prefixes: ['A01'], zh: '伤寒和副伤寒', cls: 'B', hours: 24 },
  { prefixes: ['A39'], zh: '流行性脑脊髓膜炎', cls: 'B', hours: 24 },
  { prefixes: ['A37'], zh: '百日咳', cls: 'B', hours: 24 },
  { prefixes: ['A36'], zh: '白喉', cls: 'B', hours: 24 },
  { prefixes: ['A33'], zh: '新生儿破伤风', cls: 'B', hours: 24 },
  { prefixes: ['A38'], zh: '猩红热', cls: 'B', hours: 24 },
  { prefixes: ['A23'], zh: '布鲁氏菌病', cls: 'B', hours: 24 },
  { prefixes: ['A54'], zh: '淋病', cls: 'B', hours: 24 },
  { prefixes: ['A50', 'A51', 'A52', 'A53'], zh: '梅毒', cls: 'B', hours: 24 },
  { prefixes: ['A27'], zh: '钩端螺旋体病', cls: 'B', hours: 24 },
  { prefixes: ['B65'], zh: '血吸虫病', cls: 'B', hours: 24 },
  { prefixes: ['B50', 'B51', 'B52', 'B53', 'B54'], zh: '疟疾', cls: 'B', hours: 24 },
  { prefixes: ['B04'], zh: '猴痘', cls: 'B', hours: 24 },
  { prefixes: ['J10', 'J11'], zh: '流行性感冒', cls: 'C', hours: 24 },
  { prefixes: ['B26'], zh: '流行性腮腺炎', cls: 'C', hours: 24 },
  { prefixes: ['B06'], zh: '风疹', cls: 'C', hours: 24 },
  { prefixes: ['B30.3'], zh: '急性出血性结膜炎', cls: 'C', hours: 24 },
  { prefixes: ['A30'], zh: '麻风病', cls: 'C', hours: 24 },
  { prefixes: ['A75'], zh: '流行性和地方性斑疹伤寒', cls: 'C', hours: 24 },
  { prefixes: ['B55'], zh: '黑热病', cls: 'C', hours: 24 },
  { prefixes: ['B67'], zh: '包虫病', cls: 'C', hours: 24 },
  { prefixes: ['B74'], zh: '丝虫病', cls: 'C', hours: 24 },
  { prefixes: ['B08.4'], zh: '手足口病', cls: 'C', hours: 24 },
  // Infectious diarrhoea other than cholera, dysentery, typhoid and paratyphoid.
  { prefixes: ['A02', 'A04', 'A05', 'A08', 'A09'], zh: '其它感染性腹泻病', cls: 'C', hours: 24 },
];

/** The notifiable disease an ICD-10 code belongs to (longest matching prefix), or null. */
export function notifiableFor(code: string): Notifiable | null {
  const c = code.trim().toUpperCase();
  let best: { n: Notifiable; len: number } | null = null;
  for (const n of NOTIFIABLE) {
    for (const p of n.prefixes) {
      if (c.startsWith(p) && (!best || p.length > best.len)) best = { n, len: p.length };
    }
  }
  return best?.n ?? null;
}

/** Reminders for a visit's diagnoses: each notifiable disease once, with its code. */
export function infectiousReminders(codes: readonly string[]): { code: string; disease: Notifiable }[] {
  const seen = new Set<string>();
  const out: { code: string; disease: Notifiable }[] = [];
  for (const code of codes) {
    const n = notifiableFor(code);
    if (n && !seen.has(n.zh)) { seen.add(n.zh); out.push({ code, disease: n }); }
  }
  return out;
}

/** Which of the fever / diarrhoea / dog-bite registers a visit belongs in (发热/腹泻/犬伤登记). */
export function registersFor(input: { codes: readonly string[]; temperature?: number | null }): ('fever' | 'diarrhoea' | 'dog_bite')[] {
  const out = new Set<'fever' | 'diarrhoea' | 'dog_bite'>();
  const codes = input.codes.map((c) => c.toUpperCase());
  if ((input.temperature ?? 0) >= 37.3 || codes.some((c) => c.startsWith('R50'))) out.add('fever');
  if (codes.some((c) => /^(A0[0-9]|K52|K59\.1|R19\.7)/.test(c))) out.add('diarrhoea');
  if (codes.some((c) => /^(W54|A82|Z20\.3|Z24\.2)/.test(c))) out.add('dog_bite');
  return [...out];
}

/**
 * Rabies post-exposure prophylaxis by exposure grade (狂犬病暴露预防处置工作规范 2016):
 * I touching/feeding, licks on intact skin -> nothing after reliable history;
 * II nibbling of uncovered skin, minor scratches without bleeding -> wound care + vaccine;
 * III bites or scratches through the skin, licks on broken skin or mucosa -> wound care + vaccine + immunoglobulin.
 */
export function rabiesActions(grade: 'I' | 'II' | 'III'): { woundCare: boolean; vaccine: boolean; immunoglobulin: boolean } {
  return { woundCare: grade !== 'I', vaccine: grade !== 'I', immunoglobulin: grade === 'III' };
}

// ---------------------------------------------------------------- vital signs

export interface VitalDef { key: string; code: string; zh: string; en: string; unit: string; min: number; max: number }

/** Vital signs a nurse enters; LOINC codes as the device profiles use them; plausible input ranges. */
export const VITALS: readonly VitalDef[] = [
  { key: 'temperature', code: '8310-5', zh: '体温', en: 'Temperature', unit: 'Cel', min: 34, max: 43.5 },
  { key: 'systolic', code: '8480-6', zh: '收缩压', en: 'Systolic BP', unit: 'mm[Hg]', min: 50, max: 280 },
  { key: 'diastolic', code: '8462-4', zh: '舒张压', en: 'Diastolic BP', unit: 'mm[Hg]', min: 20, max: 180 },
  { key: 'pulse', code: '8867-4', zh: '脉搏', en: 'Pulse', unit: '/min', min: 20, max: 250 },
  { key: 'respiration', code: '9279-1', zh: '呼吸', en: 'Respiration', unit: '/min', min: 4, max: 80 },
  { key: 'spo2', code: '59408-5', zh: '血氧饱和度', en: 'SpO2', unit: '%', min: 50, max: 100 },
  { key: 'weight', code: '29463-7', zh: '体重', en: 'Weight', unit: 'kg', min: 0.5, max: 300 },
  { key: 'height', code: '8302-2', zh: '身高', en: 'Height', unit: 'cm', min: 30, max: 250 },
  { key: 'glucose', code: '14743-9', zh: '指尖血糖', en: 'Capillary glucose', unit: 'mmol/L', min: 0.5, max: 40 },
];

/** Parse a vitals form: empty fields are skipped; out-of-range or non-numeric get a message per field. */
export function parseVitals(raw: Record<string, unknown>): { values: { def: VitalDef; value: number }[]; errors: Record<string, string> } {
  const values: { def: VitalDef; value: number }[] = [];
  const errors: Record<string, string> = {};
  for (const def of VITALS) {
    const text = typeof raw[def.key] === 'string' ? (raw[def.key] as string).trim() : '';
    if (!text) continue;
    const v = Number(text);
    if (!/^-?\d+(\.\d+)?$/.test(text) || !Number.isFinite(v)) errors[def.key] = `${def.zh}须为数字 / ${def.en} must be a number`;
    else if (v < def.min || v > def.max) errors[def.key] = `${def.zh}超出可录入范围 ${def.min}-${def.max} / ${def.en} out of range`;
    else values.push({ def, value: v });
  }
  const sys = values.find((x) => x.def.key === 'systolic')?.value;
  const dia = values.find((x) => x.def.key === 'diastolic')?.value;
  if (sys !== undefined && dia !== undefined && dia >= sys) errors.diastolic = '舒张压应低于收缩压 / diastolic must be below systolic';
  if (values.length === 0 && Object.keys(errors).length === 0) errors.form = '请至少录入一项体征 / enter at least one vital sign';
  return { values, errors };
}

/** Interpretation of a vital sign (N/L/H), for the observation record. */
export function interpretVital(key: string, v: number): 'N' | 'L' | 'H' {
  const r: Record<string, [number, number]> = { temperature: [36, 37.2], systolic: [90, 139], diastolic: [60, 89], pulse: [60, 100], respiration: [12, 20], spo2: [95, 100], glucose: [3.9, 7.8] };
  const range = r[key];
  if (!range) return 'N';
  return v < range[0] ? 'L' : v > range[1] ? 'H' : 'N';
}
