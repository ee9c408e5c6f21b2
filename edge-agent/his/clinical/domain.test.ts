import t from 'tap';
import fc from 'fast-check';
import {
  chargeLinesFor, computeQuantity, convert, executionSeries, executionTasks, infectiousReminders, notifiableFor, parseSpec, parseVitals,
  rabiesActions, registersFor, validateRxLine, type DrugInfo, type RxLine,
} from './domain.ts';

t.test('drug specifications', async (t) => {
  t.same(parseSpec('5mg*28片', '盒'), { contents: [{ amount: 5, unit: 'mg' }], piecesPerUnit: 28, pieceUnit: '片' });
  t.same(parseSpec('0.25g*24粒', '盒'), { contents: [{ amount: 0.25, unit: 'g' }], piecesPerUnit: 24, pieceUnit: '粒' });
  t.same(parseSpec('3ml:300单位', '支'), { contents: [{ amount: 3, unit: 'ml' }, { amount: 300, unit: '单位' }], piecesPerUnit: 1, pieceUnit: '支' });
  t.same(parseSpec('0.9% 250ml', '瓶'), { contents: [{ amount: 250, unit: 'ml' }], piecesPerUnit: 1, pieceUnit: '瓶' });
  t.same(parseSpec('250IU', '支'), { contents: [{ amount: 250, unit: 'IU' }], piecesPerUnit: 1, pieceUnit: '支' });
  t.same(parseSpec('100片', '瓶'), { contents: [], piecesPerUnit: 100, pieceUnit: '片' });
  t.same(parseSpec('10g*20袋', '盒'), { contents: [{ amount: 10, unit: 'g' }], piecesPerUnit: 20, pieceUnit: '袋' });
  t.equal(parseSpec('一盒若干', '盒'), null, 'unknown spec');
  t.equal(parseSpec('', '盒'), null);
  t.equal(convert(1, 'g', 'mg'), 1000);
  t.equal(convert(500, 'mg', 'g'), 0.5);
  t.equal(convert(1, 'g', 'ml'), null, 'mass does not convert to volume');
});

t.test('dispensing quantities (hand-worked)', async (t) => {
  const q = (spec: string, unit: string, dose: number, doseUnit: string, frequency: 'qd' | 'bid' | 'tid' | 'st' | 'prn', route: 'po' | 'ivgtt' | 'im' | 'sc', days: number) =>
    computeQuantity(parseSpec(spec, unit), { dose, doseUnit, frequency, route, days });
  // amlodipine 5 mg qd x 30 d = 30 tablets = 2 boxes of 28
  t.match(q('5mg*28片', '盒', 5, 'mg', 'qd', 'po', 30), { ok: true, pieces: 30, quantity: 2, administrations: 30 });
  // metformin 1 g bid x 14 d = 2 tablets x 28 = 56 = 2 boxes of 30
  t.match(q('0.5g*30片', '盒', 1, 'g', 'bid', 'po', 14), { ok: true, pieces: 56, quantity: 2 });
  // amoxicillin 0.5 g tid x 5 d = 30 capsules = 2 boxes of 24
  t.match(q('0.25g*24粒', '盒', 500, 'mg', 'tid', 'po', 5), { ok: true, pieces: 30, quantity: 2 });
  // half tablets pool: 2.5 mg qd x 28 d = 14 tablets = 1 box
  t.match(q('5mg*28片', '盒', 2.5, 'mg', 'qd', 'po', 28), { ok: true, pieces: 14, quantity: 1 });
  // saline 250 ml ivgtt qd x 3 d = 3 bottles
  t.match(q('0.9% 250ml', '瓶', 250, 'ml', 'qd', 'ivgtt', 3), { ok: true, pieces: 3, quantity: 3 });
  // single-use containers by IV/IM: 100 ml of a 250 ml bottle bid x 2 d still takes 4 bottles
  t.match(q('0.9% 250ml', '瓶', 100, 'ml', 'bid', 'ivgtt', 2), { ok: true, pieces: 4, quantity: 4 });
  // insulin pen (multi-dose, sc): 8 units tid x 30 d = 720 units / 300 = 2.4 -> 3 pens
  t.match(q('3ml:300单位', '支', 8, '单位', 'tid', 'sc', 30), { ok: true, pieces: 3, quantity: 3 });
  // rabies vaccine st: one dose today
  t.match(q('0.5ml', '支', 0.5, 'ml', 'st', 'im', 7), { ok: true, pieces: 1, quantity: 1, administrations: 1 });
  // doses in pieces: 3 tablets tid x 7 d = 63 of 100 = 1 bottle
  t.match(q('100片', '瓶', 3, '片', 'tid', 'po', 7), { ok: true, pieces: 63, quantity: 1 });
  // prn: at most one dose a day
  t.match(q('0.3g*20粒', '盒', 0.3, 'g', 'prn', 'po', 3), { ok: true, pieces: 3, quantity: 1 });
  t.match(q('5mg*28片', '盒', 5, 'ml', 'qd', 'po', 3), { ok: false, field: 'doseUnit' }, 'a volume dose for a tablet is refused');
  t.match(q('5mg*28片', '盒', -5, 'mg', 'qd', 'po', 3), { ok: false, field: 'dose' });
  t.match(q('5mg*28片', '盒', 5, 'mg', 'qd', 'po', 0), { ok: false, field: 'days' });
});

const DRUGS: DrugInfo[] = [
  { code: '86980000000001', name: '苯磺酸氨氯地平片', spec: '5mg*28片', unit: '盒', route: 'po', priceFen: 1260, volumeProcurement: true, active: true },
  { code: '86980000000002', name: '氯化钠注射液', spec: '0.9% 250ml', unit: '瓶', route: 'ivgtt', priceFen: 380, volumeProcurement: false, active: true },
  { code: '86980000000003', name: '头孢呋辛酯片', spec: '0.25g*12片', unit: '盒', route: 'po', priceFen: 1890, volumeProcurement: true, active: true },
];
const lookup = (s: string) => DRUGS.find((d) => d.code === s || d.name === s) ?? null;

t.test('prescription line validation gives Chinese messages per field', async (t) => {
  const ok = validateRxLine({ drug: '苯磺酸氨氯地平片', dose: '5', doseUnit: 'mg', frequency: 'qd', days: '30' }, lookup);
  t.match(ok, { ok: true, line: { drugCode: '86980000000001', quantity: 2, route: 'po', volumeProcurement: true } });
  const bad = validateRxLine({ drug: '86999999999999', dose: '5', frequency: 'qd', days: '3' }, lookup);
  t.match(bad, { ok: false, errors: { drug: /未知药品编码/ } });
  const neg = validateRxLine({ drug: '86980000000001', dose: '5', doseUnit: 'mg', frequency: 'qd', days: '3', quantity: '-2' }, lookup);
  t.match(neg, { ok: false, errors: { quantity: /数量必须大于0/ } });
  const negDose = validateRxLine({ drug: '86980000000001', dose: '-1', frequency: 'qd', days: '3' }, lookup);
  t.match(negDose, { ok: false, errors: { dose: /单次剂量必须大于0/ } });
  const typed = validateRxLine({ drug: '86980000000001', dose: '5', doseUnit: 'mg', frequency: 'qd', days: '3', quantity: '2' }, lookup);
  t.match(typed, { ok: true, line: { quantity: 2 } }, 'a typed quantity overrides the computed one');
});

t.test('fast-check: form input never throws and never yields a non-positive quantity', async () => {
  const field = fc.oneof(fc.string(), fc.constantFrom('5', '-1', '0', '1e309', 'NaN', '2.5', ' 3 ', '999999', 'qd', 'tid', 'st', 'po', 'ivgtt', 'mg', 'ml', '片', '苯磺酸氨氯地平片', '86980000000002'));
  fc.assert(fc.property(fc.record({ drug: field, dose: field, doseUnit: field, frequency: field, route: field, days: field, quantity: field, group: field }, { requiredKeys: [] }), (raw) => {
    const r = validateRxLine(raw, lookup);
    if (r.ok) {
      if (!(Number.isInteger(r.line.quantity) && r.line.quantity >= 1 && r.line.quantity <= 999)) throw new Error(`bad quantity ${r.line.quantity}`);
      if (!(r.line.dose > 0)) throw new Error('bad dose');
    } else if (Object.keys(r.errors).length === 0) throw new Error('refused without a message');
  }), { numRuns: 2000 });
});

const rx = (over: Partial<RxLine>): RxLine => ({ drugCode: 'x', drugName: 'x', spec: '', dose: 1, doseUnit: '支', frequency: 'qd', route: 'po', days: 1, quantity: 1, unit: '支', volumeProcurement: false, ...over });

t.test('execution list from a prescription', async (t) => {
  const lines = [
    rx({ drugCode: 'A', route: 'po', days: 7 }),
    rx({ drugCode: 'NS', route: 'ivgtt', group: 1, frequency: 'qd', days: 3, dose: 250, doseUnit: 'ml' }),
    rx({ drugCode: 'ABX', route: 'ivgtt', group: 1, frequency: 'bid', days: 5, dose: 1.5, doseUnit: 'g' }),
    rx({ drugCode: 'IM', route: 'im', frequency: 'bid', days: 2 }),
    rx({ drugCode: 'VAC', route: 'im', frequency: 'st', days: 1 }),
  ];
  const series = executionSeries(lines);
  t.equal(series.length, 3, 'oral line skipped; group 1 is one bottle; two IM series');
  t.same(series[0]!.lines, [2, 3]);
  t.equal(series[0]!.total, 3, 'group takes frequency and days of its first line: qd x 3');
  t.same(series[0]!.drugs.map((d) => d.drugCode), ['NS', 'ABX']);
  t.equal(series[1]!.total, 4, 'bid x 2 days');
  t.equal(series[2]!.total, 1, 'st once');
  const tasks = executionTasks(series);
  t.equal(tasks.length, 8);
  t.same(tasks.filter((x) => x.seriesIndex === 1).map((x) => x.dayOffset), [0, 0, 1, 1], 'two a day');
  t.same(tasks.filter((x) => x.seriesIndex === 0).map((x) => [x.sequence, x.dayOffset]), [[1, 0], [2, 1], [3, 2]]);

  const charges = chargeLinesFor({ rx: lines, labs: [{ orderId: 'L1', itemCode: '250101015' }], imaging: [{ orderId: 'I1', procedureCode: 'DX-CHEST' }, { orderId: 'I2', procedureCode: 'XX' }] });
  t.same(charges, [
    { sourceKind: 'prescription', itemCode: 'A', quantity: 1, ref: '1' },
    { sourceKind: 'prescription', itemCode: 'NS', quantity: 1, ref: '2' },
    { sourceKind: 'prescription', itemCode: 'ABX', quantity: 1, ref: '3' },
    { sourceKind: 'prescription', itemCode: 'IM', quantity: 1, ref: '4' },
    { sourceKind: 'prescription', itemCode: 'VAC', quantity: 1, ref: '5' },
    { sourceKind: 'lab', itemCode: '250101015', quantity: 1, ref: 'L1' },
    { sourceKind: 'imaging', itemCode: '210102001', quantity: 1, ref: 'I1' },
    { sourceKind: 'treatment', itemCode: '120400001', quantity: 3, ref: '2+3' },
    { sourceKind: 'treatment', itemCode: '120400002', quantity: 4, ref: '4' },
    { sourceKind: 'treatment', itemCode: '120400002', quantity: 1, ref: '5' },
  ], 'drugs, lab, imaging with a charge item, treatment fee per administration');
});

t.test('infectious-disease reminders', async (t) => {
  t.match(notifiableFor('A09.900'), { zh: '其它感染性腹泻病', cls: 'C', hours: 24 });
  t.match(notifiableFor('A00.900'), { zh: '霍乱', cls: 'A', hours: 2 });
  t.match(notifiableFor('a15.000'), { zh: '肺结核', cls: 'B' }, 'case-insensitive');
  t.match(notifiableFor('A22.100'), { zh: '肺炭疽', hours: 2 }, 'longest prefix wins (pulmonary anthrax over anthrax)');
  t.match(notifiableFor('A22.000'), { zh: '炭疽', hours: 24 });
  t.match(notifiableFor('J11.100'), { zh: '流行性感冒', cls: 'C' });
  t.equal(notifiableFor('I10.x00'), null);
  t.equal(notifiableFor('J06.900'), null, 'common cold is not notifiable');
  t.equal(notifiableFor('B01.900'), null, 'varicella is not on the national list');
  t.same(infectiousReminders(['I10.x00', 'B18.100', 'B16.900', 'A09.900']).map((r) => [r.code, r.disease.zh]), [['B18.100', '病毒性肝炎'], ['A09.900', '其它感染性腹泻病']], 'one reminder per disease');
  t.same(registersFor({ codes: ['J06.900'], temperature: 38.2 }), ['fever']);
  t.same(registersFor({ codes: ['J06.900'], temperature: 37.2 }), []);
  t.same(registersFor({ codes: ['A09.900', 'R50.900'] }).sort(), ['diarrhoea', 'fever']);
  t.same(registersFor({ codes: ['T14.100', 'W54.x00'] }), ['dog_bite']);
  t.same(rabiesActions('I'), { woundCare: false, vaccine: false, immunoglobulin: false });
  t.same(rabiesActions('II'), { woundCare: true, vaccine: true, immunoglobulin: false });
  t.same(rabiesActions('III'), { woundCare: true, vaccine: true, immunoglobulin: true });
});

t.test('vital signs form', async (t) => {
  const r = parseVitals({ temperature: '38.5', systolic: '150', diastolic: '95', pulse: '', spo2: 'abc', weight: '-3' });
  t.same(r.values.map((v) => [v.def.code, v.value]), [['8310-5', 38.5], ['8480-6', 150], ['8462-4', 95]]);
  t.match(r.errors, { spo2: /须为数字/, weight: /超出可录入范围/ });
  t.match(parseVitals({ systolic: '80', diastolic: '90' }).errors, { diastolic: /舒张压应低于收缩压/ });
  t.match(parseVitals({}).errors, { form: /至少录入一项/ });
  fc.assert(fc.property(fc.dictionary(fc.constantFrom('temperature', 'systolic', 'diastolic', 'pulse', 'spo2', 'glucose'), fc.oneof(fc.string(), fc.double().map(String))), (raw) => {
    const p = parseVitals(raw);
    for (const v of p.values) if (!(v.value >= v.def.min && v.value <= v.def.max)) throw new Error('out of range accepted');
  }), { numRuns: 1000 });
});
