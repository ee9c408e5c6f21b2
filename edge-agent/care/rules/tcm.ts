/**
 * TCM constitution identification for residents >= 65 (老年人中医药健康管理服务记录表,
 * national basic public health service specification, 3rd edition): 33 questions answered
 * 1 (没有/根本不) .. 5 (总是/非常), nine constitution types.
 *
 * Items per type (1-based question numbers), reversed items scored 6 - answer:
 *   balanced 平和质 1,2,4,5,13 (2,4,5,13 reversed); qi-deficiency 气虚质 2,3,4,14;
 *   yang-deficiency 阳虚质 11,12,13,29; yin-deficiency 阴虚质 10,21,26,31;
 *   phlegm-damp 痰湿质 9,16,28,32; damp-heat 湿热质 23,25,27,30;
 *   blood-stasis 血瘀质 19,22,24,33; qi-stagnation 气郁质 5,6,7,8; special 特禀质 15,17,18,20.
 *
 * Two decision methods, selectable (`method`):
 * - 'elderly-raw' (default): the 体质判定标准表 printed with the 老年人中医药健康管理服务记录表
 *   of the national specification, on raw sums, exactly as ../shared/DOMAIN.md gives it.
 *   Biased type: >= 11 是, 9-10 倾向是, <= 8 否. Balanced (平和质): >= 17 and every other type
 *   < 8 -> 是; >= 17 and every other type < 10 -> 基本是; otherwise 否. The form prints "<8" and
 *   "<10" (strict), so a biased type at exactly 8 (itself 否) still makes balanced only 基本是,
 *   and one at exactly 10 (倾向是) makes balanced 否.
 * - 'transformed' (ZYYXH/T 157-2009 general adult standard, for clinics that use it):
 *   transformed score = (raw - items) / (items x 4) x 100. Biased type: >= 40 yes, 30-39
 *   tendency, < 30 no. Balanced: >= 60 and every biased type < 30 -> yes; >= 60 and every
 *   biased type < 40 -> basically yes; otherwise no.
 * For the 4-item biased types both agree (raw 11 = 43.75, raw 10 = 37.5, raw 9 = 31.25,
 * raw 8 = 25), and balanced raw 17 = 60. They differ only for balanced when another type
 * scores exactly raw 8 (transformed: yes; national form: 基本是) or raw 10 (transformed:
 * basically; national form: 否).
 */
export const TCM_TYPES = ['balanced', 'qi_deficiency', 'yang_deficiency', 'yin_deficiency', 'phlegm_damp', 'damp_heat', 'blood_stasis', 'qi_stagnation', 'special'] as const;
export type TcmType = (typeof TCM_TYPES)[number];
export type TcmResult = 'yes' | 'tendency' | 'basically' | 'no';
export type TcmMethod = 'elderly-raw' | 'transformed';
/** Method names shown on the form and the settings page. */
export const TCM_METHOD_ZH: Record<TcmMethod, string> = {
  'elderly-raw': '原始分，国家规范《老年人中医药健康管理服务记录表》体质判定标准表（偏颇体质 ≥11 是、9~10 倾向是、≤8 否；平和质 ≥17 且其他 8 种均 <8 是、均 <10 基本是）',
  transformed: '转化分，中华中医药学会《中医体质分类与判定》（转化分 =（原始分−条目数）/（条目数×4）×100；≥40 是、30~39 倾向是；平和质 ≥60 且其他 <30 是、<40 基本是）',
};

export const TCM_TYPE_ZH: Record<TcmType, string> = { balanced: '平和质', qi_deficiency: '气虚质', yang_deficiency: '阳虚质', yin_deficiency: '阴虚质', phlegm_damp: '痰湿质', damp_heat: '湿热质', blood_stasis: '血瘀质', qi_stagnation: '气郁质', special: '特禀质' };
export const TCM_TYPE_EN: Record<TcmType, string> = { balanced: 'balanced', qi_deficiency: 'qi deficiency', yang_deficiency: 'yang deficiency', yin_deficiency: 'yin deficiency', phlegm_damp: 'phlegm-dampness', damp_heat: 'damp-heat', blood_stasis: 'blood stasis', qi_stagnation: 'qi stagnation', special: 'special (allergic)' };
export const TCM_RESULT_ZH: Record<TcmResult, string> = { yes: '是', tendency: '倾向是', basically: '基本是', no: '否' };

export const TCM_ITEMS: Record<TcmType, readonly number[]> = {
  balanced: [1, 2, 4, 5, 13],
  qi_deficiency: [2, 3, 4, 14],
  yang_deficiency: [11, 12, 13, 29],
  yin_deficiency: [10, 21, 26, 31],
  phlegm_damp: [9, 16, 28, 32],
  damp_heat: [23, 25, 27, 30],
  blood_stasis: [19, 22, 24, 33],
  qi_stagnation: [5, 6, 7, 8],
  special: [15, 17, 18, 20],
};
export const TCM_REVERSED: Partial<Record<TcmType, readonly number[]>> = { balanced: [2, 4, 5, 13] };

/** The 33 questions of the elderly form (zh-CN). */
export const TCM_QUESTIONS: readonly string[] = [
  '您精力充沛吗？（指精神头足，乐于做事）',
  '您容易疲乏吗？（指体力如何，是否稍微活动一下或做一点家务劳动就感到累）',
  '您容易气短，呼吸短促，接不上气吗？',
  '您说话声音低弱无力吗？（指说话没有力气）',
  '您感到闷闷不乐、情绪低沉吗？（指心情不愉快，情绪低落）',
  '您容易精神紧张、焦虑不安吗？（指遇事是否心情紧张）',
  '您因为生活状态改变而感到孤独、失落吗？',
  '您容易感到害怕或受到惊吓吗？',
  '您感到身体超重不轻松吗？（感觉身体沉重）',
  '您眼睛干涩吗？',
  '您手脚发凉吗？（不包含因周围温度低或穿的少导致的手脚发冷）',
  '您胃脘部、背部或腰膝部怕冷吗？（指上腹部、背部、腰部或膝关节等，有一处或多处怕冷）',
  '您比一般人耐受不了寒冷吗？（指比别人容易害怕冬天或是夏天的冷空调、电扇等）',
  '您容易患感冒吗？（指每年感冒的次数）',
  '您没有感冒时也会鼻塞、流鼻涕吗？',
  '您有口粘口腻，或睡眠打鼾吗？',
  '您容易过敏（对药物、食物、气味、花粉或在季节交替、气候变化时）吗？',
  '您的皮肤容易起荨麻疹吗？（包括风团、风疹块、风疙瘩）',
  '您的皮肤在不知不觉中会出现青紫瘀斑、皮下出血吗？（指皮肤在没有外伤的情况下出现青一块紫一块的情况）',
  '您的皮肤一抓就红，并出现抓痕吗？（指被指甲或钝物划过后皮肤的反应）',
  '您皮肤或口唇干吗？',
  '您有肢体麻木或固定部位疼痛的感觉吗？',
  '您面部或鼻部有油腻感或者油亮发光吗？（指脸上或鼻子）',
  '您面色或目眶晦黯，或出现褐色斑块/斑点吗？',
  '您有皮肤湿疹、疮疖吗？',
  '您感到口干咽燥、总想喝水吗？',
  '您感到口苦或嘴里有异味吗？（指口苦或口臭）',
  '您腹部肥大吗？（指腹部脂肪肥厚）',
  '您吃（喝）凉的东西会感到不舒服或者怕吃（喝）凉的东西吗？（指不喜欢吃凉的食物，或吃了凉的食物后会不舒服）',
  '您有大便黏滞不爽、解不尽的感觉吗？（大便容易粘在马桶或便坑壁上）',
  '您容易大便干燥吗？',
  '您舌苔厚腻或有舌苔厚厚的感觉吗？（如果自我感觉不清楚可由调查员观察后填写）',
  '您舌下静脉瘀紫或增粗吗？（可由调查员辅助观察后填写）',
];
export const TCM_ANSWER_LABELS = ['没有（根本不/从来没有）', '很少（有一点/偶尔）', '有时（有些/少数时间）', '经常（相当/多数时间）', '总是（非常/每天）'];

/** Short guidance per type (情志调摄、饮食调养、起居调摄、运动保健、穴位保健), printed with the result. */
export const TCM_GUIDANCE_ZH: Record<TcmType, string> = {
  balanced: '饮食有节、劳逸结合、生活规律、坚持锻炼；保持现状。',
  qi_deficiency: '多食益气健脾食物（黄豆、白扁豆、鸡肉、山药）；避免过劳，柔缓运动（太极、八段锦）；按揉足三里、气海。',
  yang_deficiency: '多食温阳食物（羊肉、韭菜、生姜），少食生冷；注意保暖，日光下适度运动；艾灸关元、命门。',
  yin_deficiency: '多食甘凉滋润食物（百合、银耳、鸭肉），少食辛辣；保证睡眠，避免熬夜；中小强度运动，按揉太溪、三阴交。',
  phlegm_damp: '饮食清淡，控制总量，少食肥甘厚味；居处避潮湿，坚持有氧运动；按揉丰隆、足三里。',
  damp_heat: '饮食清淡，多食绿豆、冬瓜、苦瓜，戒烟限酒；避免湿热环境；中高强度运动；按揉支沟、阴陵泉。',
  blood_stasis: '多食活血食物（山楂、黑木耳、玫瑰花）；保持心情舒畅，避免久坐，适度运动促进气血运行；按揉期门、血海。',
  qi_stagnation: '多参加社交活动，保持心情开朗；多食行气食物（黄花菜、陈皮、玫瑰花）；多户外运动；按揉合谷、太冲。',
  special: '避免接触已知过敏原，饮食清淡均衡；季节交替时注意防护，起居规律；按揉足三里、风门。',
};

export interface TcmOutcome {
  rawScores: Record<TcmType, number>;
  transformed: Record<TcmType, number>;
  results: Record<TcmType, TcmResult>;
  /** Types judged yes (balanced: yes or basically yes) */
  constitutions: TcmType[];
  /** Biased types judged tendency */
  tendencies: TcmType[];
}

/** Missing or invalid answers, by 1-based question number (empty when all 33 are 1..5). */
export function missingTcmAnswers(answers: readonly (number | undefined | null)[]): number[] {
  const m: number[] = [];
  for (let q = 1; q <= 33; q++) { const a = answers[q - 1]; if (a === undefined || a === null || !Number.isInteger(a) || a < 1 || a > 5) m.push(q); }
  return m;
}

export function transformedScore(raw: number, items: number): number {
  return ((raw - items) / (items * 4)) * 100;
}

export function scoreTcm(answers: readonly number[], method: TcmMethod = 'elderly-raw'): TcmOutcome {
  const missing = missingTcmAnswers(answers);
  if (missing.length) throw new RangeError(`missing answers: ${missing.join(',')}`);
  const raw = {} as Record<TcmType, number>;
  const tr = {} as Record<TcmType, number>;
  for (const t of TCM_TYPES) {
    const rev = TCM_REVERSED[t] ?? [];
    raw[t] = TCM_ITEMS[t].reduce((s, q) => s + (rev.includes(q) ? 6 - answers[q - 1]! : answers[q - 1]!), 0);
    tr[t] = transformedScore(raw[t], TCM_ITEMS[t].length);
  }
  const biased = TCM_TYPES.filter((t) => t !== 'balanced');
  const results = {} as Record<TcmType, TcmResult>;
  for (const t of biased) {
    if (method === 'elderly-raw') results[t] = raw[t] >= 11 ? 'yes' : raw[t] >= 9 ? 'tendency' : 'no';
    else results[t] = tr[t] >= 40 ? 'yes' : tr[t] >= 30 ? 'tendency' : 'no';
  }
  if (method === 'elderly-raw') {
    const maxOther = Math.max(...biased.map((t) => raw[t]));
    results.balanced = raw.balanced >= 17 && maxOther < 8 ? 'yes' : raw.balanced >= 17 && maxOther < 10 ? 'basically' : 'no';
  } else {
    const maxOther = Math.max(...biased.map((t) => tr[t]));
    results.balanced = tr.balanced >= 60 && maxOther < 30 ? 'yes' : tr.balanced >= 60 && maxOther < 40 ? 'basically' : 'no';
  }
  const constitutions = TCM_TYPES.filter((t) => results[t] === 'yes' || results[t] === 'basically');
  const tendencies = biased.filter((t) => results[t] === 'tendency');
  return { rawScores: raw, transformed: tr, results, constitutions, tendencies };
}
