/**
 * Rules as code, each expected value worked out by hand in the comments beside it,
 * boundary values on both sides of every bound.
 */
import t from 'tap';
import { bpControlled, bpUrgent, classifyBp } from './bp.ts';
import { addDays, addMonths, ageOn, daysBetween, isIsoDate, quarterStart } from './dates.ts';
import { classifyFbg, fbgControlled, glucoseUrgent } from './glucose.ts';
import { decideFollowup, dueState, firstDueAfterEnrolment, FollowupRuleError } from './followup.ts';
import { scoreSelfCare, selfCareLevel } from './selfcare.ts';
import { missingTcmAnswers, scoreTcm, transformedScore } from './tcm.ts';
import { ascvdBand, ascvdRisk, AscvdInputError, CHINA_PAR_2016, linearPredictor, MG_PER_MMOL_CHOLESTEROL, parseCoefficientSet, type AscvdInput, type CoefficientSet } from './ascvd.ts';
import { checkRecord, findDuplicates } from './qc.ts';
import { checkVitals, bmi } from './vitals.ts';

t.test('dates: month ends clamp, leap years, ages on the birthday', async (t) => {
  t.equal(addMonths('2026-01-31', 1), '2026-02-28', 'Jan 31 + 1 month: February 2026 has 28 days');
  t.equal(addMonths('2023-11-30', 3), '2024-02-29', '2024 is a leap year');
  t.equal(addMonths('2024-11-30', 3), '2025-02-28');
  t.equal(addMonths('2026-10-15', 3), '2027-01-15', 'crosses the year');
  t.equal(addDays('2026-12-25', 14), '2027-01-08', '25 + 14 = 39 = 31 + 8');
  t.equal(daysBetween('2026-02-20', '2026-03-06'), 14, '8 days left in Feb + 6');
  t.equal(ageOn('1961-03-15', '2026-03-14'), 64, 'day before the 65th birthday');
  t.equal(ageOn('1961-03-15', '2026-03-15'), 65, 'on the birthday');
  t.equal(quarterStart('2026-11-28'), '2026-10-01');
  t.equal(quarterStart('2026-03-31'), '2026-01-01');
  t.notOk(isIsoDate('2026-02-29'), '2026 is not a leap year');
  t.ok(isIsoDate('2024-02-29'));
});

t.test('BP classes: the higher of SBP and DBP class, bounds inclusive on the upper class', async (t) => {
  t.equal(classifyBp(119, 79), 'normal');
  t.equal(classifyBp(120, 79), 'high_normal', 'SBP 120 starts high-normal');
  t.equal(classifyBp(119, 80), 'high_normal', 'DBP 80 starts high-normal');
  t.equal(classifyBp(139, 89), 'high_normal');
  t.equal(classifyBp(140, 89), 'grade1');
  t.equal(classifyBp(139, 90), 'grade1');
  t.equal(classifyBp(159, 99), 'grade1');
  t.equal(classifyBp(160, 80), 'grade2');
  t.equal(classifyBp(179, 109), 'grade2');
  t.equal(classifyBp(180, 70), 'grade3');
  t.equal(classifyBp(110, 110), 'grade3', 'isolated diastolic 110');
  t.equal(classifyBp(130, 95), 'grade1', 'SBP high-normal, DBP grade 1 -> grade 1');
  t.ok(bpControlled(139, 89, 64)); t.notOk(bpControlled(140, 80, 64), '140 not < 140'); t.notOk(bpControlled(139, 90, 64), '90 not < 90');
  t.ok(bpControlled(149, 89, 65), '65+: < 150/90'); t.notOk(bpControlled(150, 80, 65)); t.notOk(bpControlled(145, 85, 64), 'same 145 at 64 is uncontrolled');
  t.notOk(bpUrgent(179, 109)); t.ok(bpUrgent(180, 60)); t.ok(bpUrgent(120, 110));
});

t.test('glucose classes, control and urgency', async (t) => {
  t.equal(classifyFbg(3.9), 'low'); t.equal(classifyFbg(3.91), 'normal'); t.equal(classifyFbg(6.09), 'normal');
  t.equal(classifyFbg(6.1), 'impaired'); t.equal(classifyFbg(6.99), 'impaired'); t.equal(classifyFbg(7.0), 'high');
  t.notOk(fbgControlled(3.9), 'hypoglycaemia is not control'); t.ok(fbgControlled(4.0)); t.ok(fbgControlled(6.99)); t.notOk(fbgControlled(7.0));
  t.notOk(glucoseUrgent(16.6)); t.ok(glucoseUrgent(16.7)); t.ok(glucoseUrgent(3.9)); t.notOk(glucoseUrgent(4.0));
});

t.test('follow-up decisions: control, urgent referral, 2-week revisit, two consecutive uncontrolled', async (t) => {
  const htn = { disease: 'HTN' as const, date: '2026-01-10', age: 60 };
  const ok = decideFollowup({ ...htn, sbp: 138, dbp: 88 }, []);
  t.same([ok.control, ok.bpClass, ok.urgentReferral, ok.nextDueDate, ok.referralReason], ['controlled', 'high_normal', false, '2026-04-10', undefined], '138/88 at 60: controlled, next in 3 months');
  const first = decideFollowup({ ...htn, sbp: 145, dbp: 85 }, []);
  t.same([first.control, first.nextDueDate, first.referralReason], ['uncontrolled', '2026-01-24', undefined], 'first uncontrolled: 10 + 14 = 24 January, no referral');
  const second = decideFollowup({ ...htn, sbp: 145, dbp: 85 }, [{ date: '2025-12-27', control: 'uncontrolled' }, { date: '2025-09-01', control: 'controlled' }]);
  t.match(second.referralReason, /连续两次控制不满意（上次 2025-12-27）/, 'two consecutive uncontrolled -> referral');
  t.equal(second.nextDueDate, '2026-01-24', 'and the referral is followed up within 2 weeks');
  const afterGood = decideFollowup({ ...htn, sbp: 145, dbp: 85 }, [{ date: '2025-12-27', control: 'controlled' }, { date: '2025-09-01', control: 'uncontrolled' }]);
  t.equal(afterGood.referralReason, undefined, 'only the latest previous follow-up counts');
  const future = decideFollowup({ ...htn, sbp: 145, dbp: 85 }, [{ date: '2026-02-01', control: 'uncontrolled' }]);
  t.equal(future.referralReason, undefined, 'a later follow-up is not "previous"');
  const urgent = decideFollowup({ ...htn, sbp: 182, dbp: 95 }, []);
  t.ok(urgent.urgentReferral); t.equal(urgent.bpClass, 'grade3'); t.match(urgent.urgentReasons[0], /182\/95/); t.match(urgent.referralReason, /^紧急转诊/); t.equal(urgent.nextDueDate, '2026-01-24');
  t.equal(decideFollowup({ ...htn, sbp: 179, dbp: 109 }, []).urgentReferral, false, '179/109 is not urgent');
  t.ok(decideFollowup({ ...htn, sbp: 130, dbp: 80, symptoms: ['chest_pain'] }, []).urgentReferral, 'an acute symptom alone is urgent');
  t.ok(decideFollowup({ ...htn, sbp: 142, dbp: 85, pregnantOrLactating: true }, []).urgentReferral, 'pregnant with BP >= 140/90');
  t.notOk(decideFollowup({ ...htn, sbp: 138, dbp: 85, pregnantOrLactating: true }, []).urgentReferral, 'pregnant with normal-range BP');
  t.equal(decideFollowup({ ...htn, age: 65, sbp: 148, dbp: 88 }, []).control, 'controlled', '148/88 at 65 is controlled');
  const adverse = decideFollowup({ ...htn, sbp: 130, dbp: 80, adverseReaction: true }, []);
  t.same([adverse.control, adverse.nextDueDate], ['adverse_reaction', '2026-01-24']);
  const compl = decideFollowup({ ...htn, sbp: 130, dbp: 80, newComplication: true }, []);
  t.same([compl.control, compl.nextDueDate], ['complication', '2026-01-24']); t.match(compl.referralReason, /并发症/);
  t.throws(() => decideFollowup({ ...htn, sbp: 130 }, []), FollowupRuleError, 'HTN follow-up needs both BP values');

  const dm = { disease: 'T2DM' as const, date: '2026-11-30', age: 58 };
  const dmOk = decideFollowup({ ...dm, fbg: 6.5, sbp: 130, dbp: 80 }, []);
  t.same([dmOk.control, dmOk.glucoseClass, dmOk.nextDueDate], ['controlled', 'impaired', '2027-02-28'], 'FBG 6.5 controlled; Nov 30 + 3 months clamps to Feb 28');
  t.equal(decideFollowup({ ...dm, fbg: 7.0 }, []).control, 'uncontrolled');
  t.ok(decideFollowup({ ...dm, fbg: 16.7 }, []).urgentReferral); t.notOk(decideFollowup({ ...dm, fbg: 16.6 }, []).urgentReferral);
  t.ok(decideFollowup({ ...dm, fbg: 3.9 }, []).urgentReferral, 'hypoglycaemia 3.9');
  t.ok(decideFollowup({ ...dm, fbg: 6.0, heartRate: 101 }, []).urgentReferral); t.notOk(decideFollowup({ ...dm, fbg: 6.0, heartRate: 100 }, []).urgentReferral);
  t.ok(decideFollowup({ ...dm, fbg: 6.0, temperatureC: 39.1 }, []).urgentReferral); t.notOk(decideFollowup({ ...dm, fbg: 6.0, temperatureC: 39 }, []).urgentReferral);
  t.notOk(decideFollowup({ ...htn, sbp: 130, dbp: 80, heartRate: 120 }, []).urgentReferral, 'heart rate is a T2DM trigger only');
  t.throws(() => decideFollowup({ ...dm }, []), FollowupRuleError);

  t.equal(firstDueAfterEnrolment('2026-01-10', false), '2026-01-24');
  t.equal(firstDueAfterEnrolment('2026-01-10', true), '2026-04-10');
  t.equal(dueState('2026-01-09', '2026-01-10'), 'overdue');
  t.equal(dueState('2026-01-10', '2026-01-10'), 'due_soon', 'due today is not overdue');
  t.equal(dueState('2026-01-17', '2026-01-10'), 'due_soon', 'within 7 days inclusive');
  t.equal(dueState('2026-01-18', '2026-01-10'), 'scheduled');
});

t.test('self-care levels: 0-3, 4-8, 9-18, >= 19 inclusive', async (t) => {
  t.same([0, 3, 4, 8, 9, 18, 19, 37].map(selfCareLevel), ['independent', 'independent', 'mild', 'mild', 'moderate', 'moderate', 'dependent', 'dependent']);
  const s = (c: Record<string, number>) => scoreSelfCare({ eating: 0, grooming: 0, dressing: 0, toileting: 0, activity: 0, ...c });
  const r3 = s({ grooming: 1, toileting: 1, activity: 1 }); // 1 + 1 + 1 = 3
  t.ok(r3.ok && r3.total === 3 && r3.level === 'independent');
  const r4 = s({ grooming: 1, eating: 2 }); // 1 + 3 = 4
  t.ok(r4.ok && r4.total === 4 && r4.level === 'mild');
  const r8 = s({ toileting: 2, eating: 2 }); // 5 + 3 = 8
  t.ok(r8.ok && r8.total === 8 && r8.level === 'mild');
  const r9 = s({ activity: 2, toileting: 1, eating: 2 }); // 5 + 1 + 3 = 9
  t.ok(r9.ok && r9.total === 9 && r9.level === 'moderate');
  const r18 = s({ grooming: 3, toileting: 3, activity: 1 }); // 7 + 10 + 1 = 18
  t.ok(r18.ok && r18.total === 18 && r18.level === 'moderate');
  const r19 = s({ toileting: 3, activity: 2, eating: 2, grooming: 1 }); // 10 + 5 + 3 + 1 = 19
  t.ok(r19.ok && r19.total === 19 && r19.level === 'dependent');
  const max = s({ eating: 3, grooming: 3, dressing: 3, toileting: 3, activity: 3 }); // 5 + 7 + 5 + 10 + 10 = 37
  t.ok(max.ok && max.total === 37);
  const bad = scoreSelfCare({ eating: 0, grooming: 4 });
  t.same(bad, { ok: false, missing: ['grooming', 'dressing', 'toileting', 'activity'] }, 'missing and out-of-range items named');
});

t.test('TCM constitution: raw sums, reversed balanced items, yes/tendency/no bounds, both methods (the national form\'s raw table is the default)', async (t) => {
  const base = () => Array.from({ length: 33 }, () => 1);
  const set = (a: number[], q: Record<number, number>) => { for (const [k, v] of Object.entries(q)) a[Number(k) - 1] = v; return a; };
  // All 1: balanced = 1 + (6-1)*4 = 21; every biased type = 4 -> balanced yes.
  const calm = scoreTcm(base(), 'elderly-raw');
  t.equal(calm.rawScores.balanced, 21); t.equal(calm.rawScores.special, 4);
  t.equal(calm.results.balanced, 'yes'); t.same(calm.constitutions, ['balanced']);
  // All 3: balanced = 3 + 3*4 = 15 (no); every biased = 12 (yes).
  const all3 = scoreTcm(Array.from({ length: 33 }, () => 3), 'elderly-raw');
  t.equal(all3.rawScores.balanced, 15); t.equal(all3.results.balanced, 'no'); t.equal(all3.constitutions.length, 8);
  // Special (15,17,18,20) only, others 1; balanced stays 21.
  const sp = (a: number[], m: 'elderly-raw' | 'transformed' = 'elderly-raw') => scoreTcm(set(base(), { 15: a[0]!, 17: a[1]!, 18: a[2]!, 20: a[3]! }), m);
  const s7 = sp([2, 2, 2, 1]); t.same([s7.rawScores.special, s7.results.special, s7.results.balanced], [7, 'no', 'yes'], 'special 7: balanced yes (all others < 8)');
  const s8 = sp([2, 2, 2, 2]); t.same([s8.rawScores.special, s8.results.special, s8.results.balanced], [8, 'no', 'basically'], 'special 8: no; balanced only basically (8 not < 8)');
  const s9 = sp([3, 2, 2, 2]); t.same([s9.results.special, s9.results.balanced, s9.tendencies], ['tendency', 'basically', ['special']], 'special 9: tendency');
  const s10 = sp([3, 3, 2, 2]); t.same([s10.results.special, s10.results.balanced], ['tendency', 'no'], 'special 10: tendency; balanced no (10 not < 10)');
  const s11 = sp([3, 3, 3, 2]); t.same([s11.results.special, s11.constitutions], ['yes', ['special']], 'special 11: yes');
  // Balanced exactly 17: q2 = 3 (rev 3), q5 = 3 (rev 3): 1 + 3 + 5 + 3 + 5 = 17; qi-deficiency 3+1+1+1 = 6, qi-stagnation 3+1+1+1 = 6.
  const b17 = scoreTcm(set(base(), { 2: 3, 5: 3 }), 'elderly-raw');
  t.same([b17.rawScores.balanced, b17.rawScores.qi_deficiency, b17.rawScores.qi_stagnation, b17.results.balanced], [17, 6, 6, 'yes']);
  // Balanced 16: q5 = 4 -> 1 + 3 + 5 + 2 + 5 = 16: no type at all.
  const b16 = scoreTcm(set(base(), { 2: 3, 5: 4 }), 'elderly-raw');
  t.same([b16.rawScores.balanced, b16.results.balanced, b16.constitutions], [16, 'no', []]);
  // Transformed: (raw - n) / (4n) * 100.
  t.equal(transformedScore(11, 4), 43.75); t.equal(transformedScore(8, 4), 25); t.equal(transformedScore(17, 5), 60);
  // Default (transformed): special raw 7 = 18.75, 8 = 25, 9 = 31.25, 10 = 37.5, 11 = 43.75; balanced 21 = 80.
  t.same(['7', '8', '9', '10', '11'].map((_, i) => { const r = sp([[2, 2, 2, 1], [2, 2, 2, 2], [3, 2, 2, 2], [3, 3, 2, 2], [3, 3, 3, 2]][i]!, 'transformed'); return `${r.results.special}/${r.results.balanced}`; }),
    ['no/yes', 'no/yes', 'tendency/basically', 'tendency/basically', 'yes/no'], 'transformed: balanced yes iff all others no, basically iff none yes');
  // Default = the national form's 体质判定标准表 (DOMAIN.md): "其他8种体质得分<8分" is strict.
  t.equal(scoreTcm(set(base(), { 15: 2, 17: 2, 18: 2, 20: 2 })).results.balanced, 'basically', 'default (national form): special exactly 8 -> balanced only 基本是');
  t.equal(scoreTcm(set(base(), { 15: 2, 17: 2, 18: 2, 20: 1 })).results.balanced, 'yes', 'default: special 7 < 8 -> balanced 是');
  t.equal(scoreTcm(set(base(), { 15: 3, 17: 3, 18: 2, 20: 2 })).results.balanced, 'no', 'default: special exactly 10 (not < 10) -> balanced 否');
  t.equal(scoreTcm(set(base(), { 15: 3, 17: 2, 18: 2, 20: 2 })).results.balanced, 'basically', 'default: special 9 < 10 -> balanced 基本是');
  t.equal(scoreTcm(set(base(), { 15: 3, 17: 3, 18: 2, 20: 2 })).results.special, 'tendency', 'default: biased 10 -> 倾向是');
  t.equal(scoreTcm(set(base(), { 2: 3, 5: 3 })).results.balanced, 'yes', 'balanced raw 17 (>= 17), others <= 6 -> yes');
  t.equal(scoreTcm(set(base(), { 2: 3, 5: 4 })).results.balanced, 'no', 'balanced raw 16 -> no');
  t.equal(scoreTcm(set(base(), { 2: 3, 5: 3 }), 'transformed').results.balanced, 'yes', 'transformed: balanced raw 17 = (17-5)/20*100 = 60 -> yes');
  t.equal(scoreTcm(set(base(), { 15: 2, 17: 2, 18: 2, 20: 2 }), 'transformed').results.balanced, 'yes', 'transformed: special 25 < 30 -> balanced yes (differs from raw)');
  t.equal(scoreTcm(set(base(), { 15: 3, 17: 3, 18: 2, 20: 2 }), 'transformed').results.balanced, 'basically', 'transformed: special 37.5 < 40 -> basically');
  t.equal(scoreTcm(set(base(), { 15: 3, 17: 3, 18: 3, 20: 2 }), 'transformed').results.special, 'yes', '43.75 >= 40');
  t.same(missingTcmAnswers([...base().slice(0, 30), 6, 0]), [31, 32, 33], 'answers 31 (6), 32 (0) and 33 (absent) are missing');
  t.throws(() => scoreTcm(base().slice(0, 32)));
});

t.test('ASCVD: Cox formula with a hand-checkable coefficient set, bands, units', async (t) => {
  const test: CoefficientSet = {
    name: 'test', source: 'hand-worked', verified: false, lipidUnit: 'mmol/L', ageMin: 20, ageMax: 120,
    male: { coef: { lnAge: 1 }, s10: 0.9, meanSum: Math.log(50) },
    female: { coef: { smoker: 1 }, s10: 0.99, meanSum: 0 },
  };
  const p: AscvdInput = { sex: '1', age: 50, sbp: 130, onBpTreatment: false, totalCholesterol: 5, hdlCholesterol: 1.3, waistCm: 80, smoker: false, diabetes: false, region: 'south', area: 'urban', familyHistory: false };
  // age 50: exp(ln50 - ln50) = 1 -> 1 - 0.9 = 10.0 % (high, the bound)
  t.same(ascvdRisk(test, p), { riskPercent: 10, band: 'high', verified: false });
  // age 25: exp(ln 0.5) = 0.5 -> 1 - 0.9^0.5 = 1 - 0.948683 = 5.13 % -> 5.1 (medium)
  t.equal(ascvdRisk(test, { ...p, age: 25 }).riskPercent, 5.1);
  // age 100: exp(ln 2) = 2 -> 1 - 0.81 = 19.0 %
  t.equal(ascvdRisk(test, { ...p, age: 100 }).riskPercent, 19);
  // woman non-smoker: 1 - 0.99 = 1.0 %; smoker: 1 - 0.99^e = 1 - exp(2.71828 * -0.0100503) = 1 - 0.973050 = 2.69 % -> 2.7
  t.equal(ascvdRisk(test, { ...p, sex: '2' }).riskPercent, 1);
  t.equal(ascvdRisk(test, { ...p, sex: '2', smoker: true }).riskPercent, 2.7);
  // mg/dL fitted lipids: TC 5 mmol/L = 5 / 0.0259 = 193.05 mg/dL (the paper's factor); with meanSum = ln(193.05) the risk is 1 - s10.
  t.equal(Math.round(5 * MG_PER_MMOL_CHOLESTEROL * 100) / 100, 193.05);
  const mg: CoefficientSet = { ...test, lipidUnit: 'mg/dL', male: { coef: { lnTc: 1 }, s10: 0.95, meanSum: Math.log(5 / 0.0259) } };
  t.equal(ascvdRisk(mg, p).riskPercent, 5);
  t.same([4.9, 5, 9.9, 10].map(ascvdBand), ['low', 'medium', 'medium', 'high']);
  t.throws(() => ascvdRisk({ ...test, ageMin: 35, ageMax: 74 }, { ...p, age: 75 }), AscvdInputError);
  t.throws(() => parseCoefficientSet('{"name":"x","source":"y","lipidUnit":"mmol/L","male":{"coef":{"bogus":1},"s10":0.9,"meanSum":1},"female":{"coef":{},"s10":0.9,"meanSum":1}}'), /coef/);
  t.equal(parseCoefficientSet(JSON.stringify(test)).male.s10, 0.9);
});

t.test('China-PAR 2016 (published table) reproduces the paper\'s worked examples', async (t) => {
  // Worked example of the paper (Supplemental Table 1 and Table 2, as reprinted in
  // zwbao/longevity-skills skills/china-par-ascvd-risk/scripts/presets.py): untreated SBP 130,
  // TC 210 mg/dL, HDL-C 55 mg/dL, waist 80 cm, non-smoker, diabetes, urban northern China, no
  // family history. Our input is in mmol/L: mg/dL x 0.0259 (the paper's factor).
  const ex = (sex: '1' | '2', age: number): AscvdInput => ({ sex, age, sbp: 130, onBpTreatment: false, totalCholesterol: 210 * 0.0259, hdlCholesterol: 55 * 0.0259, waistCm: 80, smoker: false, diabetes: true, region: 'north', area: 'urban', familyHistory: false });
  const table2 = { '1': { 40: 2.2, 50: 5.4, 60: 11.0, 70: 19.6 }, '2': { 40: 2.4, 50: 5.4, 60: 10.1, 70: 17.1 } } as const;
  for (const sex of ['1', '2'] as const) {
    for (const [age, printed] of Object.entries(table2[sex])) {
      const r = ascvdRisk(CHINA_PAR_2016, ex(sex, Number(age)));
      // The paper prints one decimal; the derived constants reproduce it within 0.1 point.
      t.ok(Math.abs(r.riskPercent - printed) <= 0.1 + 1e-9, `${sex === '1' ? 'man' : 'woman'} ${age}: ${r.riskPercent} % vs printed ${printed} %`);
      t.equal(r.verified, true);
    }
  }
  // The men's individual sum of the worked example is printed as 142.04 (terms 130.88 + 127.28 + 3.32 - 2.78 - 3.12 + 0.36 + 0.48 - 0.16 - 114.21).
  t.ok(Math.abs(linearPredictor(CHINA_PAR_2016, ex('1', 60)) - 142.04) < 0.015, 'men: sum 142.04');
  // The women's sum is printed as 119.22.
  t.ok(Math.abs(linearPredictor(CHINA_PAR_2016, ex('2', 60)) - 119.22) < 0.015, 'women: sum 119.22');
  // 60-year-old man: 1 - 0.9707 ^ exp(142.04 - 140.68) = 1 - 0.9707 ^ 3.896 = 10.9 .. 11.0 % -> high (>= 10).
  t.equal(ascvdRisk(CHINA_PAR_2016, ex('1', 60)).band, 'high');
  // 2019 Chinese guideline, appendix 1: man of 40, north, urban, waist 80, TC 5.2, HDL-C 1.3 mmol/L,
  // BP 145/80 untreated, no diabetes, non-smoker, family history: the official calculator gives 4.7 % (low).
  const g = ascvdRisk(CHINA_PAR_2016, { sex: '1', age: 40, sbp: 145, onBpTreatment: false, totalCholesterol: 5.2, hdlCholesterol: 1.3, waistCm: 80, smoker: false, diabetes: false, region: 'north', area: 'urban', familyHistory: true });
  t.ok(Math.abs(g.riskPercent - 4.7) <= 0.2 + 1e-9, `guideline example (the source reports 4.87)  ${g.riskPercent} % vs 4.7 %`);
  t.equal(g.band, 'low');
  // Treated SBP uses the treated terms: the same man treated at 130 differs from untreated.
  t.not(ascvdRisk(CHINA_PAR_2016, { ...ex('1', 60), onBpTreatment: true }).riskPercent, ascvdRisk(CHINA_PAR_2016, ex('1', 60)).riskPercent);
  // Outside the derivation ages the engine refuses rather than extrapolates.
  t.throws(() => ascvdRisk(CHINA_PAR_2016, ex('1', 75)), AscvdInputError);
  // The table survives the settings round trip.
  t.same(parseCoefficientSet(JSON.stringify(CHINA_PAR_2016)), CHINA_PAR_2016);
});

t.test('health-record QC names exactly what is wrong', async (t) => {
  // 11010519491231002X: born 1949-12-31, 17th digit 2 (even) -> female.
  const res = { residentId: 'r1', name: '王秀兰', sex: '2', birthDate: '1949-12-31', idType: '01', idNumber: '11010519491231002X', phone: '13800138000' };
  const rec = { healthRecordNo: '11010500100100001', status: 'active', createdDate: '2026-01-05', doctorCode: 'dr.li', residenceType: '1', currentAddress: '新华路1号', aboBloodGroup: '3' };
  t.same(checkRecord(res, rec, '2026-03-01'), [], 'a complete, consistent record has no issue');
  const issues = checkRecord({ ...res, sex: '1', birthDate: '1949-12-30', phone: '12345' }, { ...rec, currentAddress: '', createdDate: '2026-03-02' }, '2026-03-01');
  const z = issues.map((i) => `${i.kind}:${i.field}:${i.zh}`);
  t.ok(z.includes('completeness:currentAddress:现住址未填写'));
  t.ok(z.includes('logic:createdDate:建档日期 2026-03-02 晚于今天（2026-03-01）'));
  t.ok(z.includes('logic:phone:本人电话「12345」格式不正确（手机 11 位，或区号-座机号）'));
  t.ok(z.includes('consistency:birthDate:出生日期 1949-12-30 与身份证号中的出生日期 1949-12-31 不一致'));
  t.ok(z.includes('consistency:sex:性别（男）与身份证号第17位（女）不一致'));
  t.equal(issues.length, 5, `exactly these five: ${z.join(' | ')}`);
  t.match(checkRecord({ ...res, idType: '03', birthDate: '2026-03-02' }, rec, '2026-03-01').map((i) => i.zh).join(), /出生日期 2026-03-02 晚于今天/);
  t.match(checkRecord(res, { ...rec, status: 'cancelled', cancelReason: 'duplicate', cancelledDate: '2026-02-01' }, '2026-03-01').map((i) => i.zh).join(), /必须注明合并到的档案编号/);
  const d = findDuplicates(res, [
    { residentId: 'r2', name: '王秀兰', sex: '2', birthDate: '1950-01-01', idNumber: '11010519491231002x' },
    { residentId: 'r3', name: '王秀兰', sex: '2', birthDate: '1949-12-31', idNumber: '' },
    { residentId: 'r4', name: '王秀兰', sex: '2', birthDate: '1951-01-01', idNumber: '', phone: '13800138000' },
    { residentId: 'r5', name: '李秀兰', sex: '2', birthDate: '1949-12-31', idNumber: '' },
    { residentId: 'r1', name: '王秀兰', sex: '2', birthDate: '1949-12-31', idNumber: '11010519491231002X' },
  ]);
  t.same(d.map((x) => [x.otherResidentId, x.certainty, x.field]), [['r2', 'certain', 'idNumber'], ['r3', 'likely', 'name'], ['r4', 'likely', 'phone']], 'same ID (case-insensitive X), same name+sex+birth, same name+phone; not r5, not itself');
});

t.test('vitals plausibility messages', async (t) => {
  t.same(checkVitals({ sbp: 300, dbp: 200 }), {}, '300/200 is at the limit');
  t.match(checkVitals({ sbp: 301, dbp: 90 }).sbp, /收缩压 301 mmHg 超出可信范围（50~300 mmHg）/);
  t.match(checkVitals({ sbp: 120, dbp: 120 }).dbp, /舒张压（120）必须低于收缩压（120）/);
  t.match(checkVitals({ sbp: 120.5, dbp: 80 }).sbp, /整数/);
  t.match(checkVitals({ sbp: 120 }).dbp, /同时填写/);
  t.match(checkVitals({ fbg: 33.4 }).fbg, /空腹血糖 33.4 mmol\/L 超出可信范围/);
  t.same(checkVitals({ fbg: 1.0 }), {});
  t.match(checkVitals({ sbp: NaN, dbp: 80 }).sbp, /必须是数字/);
  t.equal(bmi(70, 175), 22.9, '70 / 1.75^2 = 22.857');
});
