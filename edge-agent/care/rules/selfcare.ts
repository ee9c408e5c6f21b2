/**
 * Elderly self-care ability assessment (老年人生活自理能力评估表), national specification:
 * five items, each with 4 columns (可自理 / 轻度依赖 / 中度依赖 / 不能自理):
 *   eating 0/0/3/5, grooming 0/1/3/7, dressing 0/0/3/5, toileting 0/1/5/10, activity 0/1/5/10.
 * Total 0-3 independent, 4-8 mild, 9-18 moderate, >= 19 dependent (inclusive bounds).
 */
export const SELF_CARE_ITEMS = {
  eating: { zh: '进餐：使用餐具将饭菜送入口、咀嚼、吞咽等活动', scores: [0, 0, 3, 5] },
  grooming: { zh: '梳洗：梳头、洗脸、刷牙、剃须、洗澡等活动', scores: [0, 1, 3, 7] },
  dressing: { zh: '穿衣：穿衣裤、袜子、鞋子等活动', scores: [0, 0, 3, 5] },
  toileting: { zh: '如厕：小便、大便等活动及自控', scores: [0, 1, 5, 10] },
  activity: { zh: '活动：站立、室内行走、上下楼梯、户外活动', scores: [0, 1, 5, 10] },
} as const;
export type SelfCareItem = keyof typeof SELF_CARE_ITEMS;
export type SelfCareLevel = 'independent' | 'mild' | 'moderate' | 'dependent';
export const SELF_CARE_LEVEL_ZH: Record<SelfCareLevel, string> = { independent: '可自理（0~3分）', mild: '轻度依赖（4~8分）', moderate: '中度依赖（9~18分）', dependent: '不能自理（≥19分）' };
export const SELF_CARE_LEVEL_EN: Record<SelfCareLevel, string> = { independent: 'independent (0-3)', mild: 'mildly dependent (4-8)', moderate: 'moderately dependent (9-18)', dependent: 'dependent (>= 19)' };
export const SELF_CARE_COLUMNS_ZH = ['可自理', '轻度依赖', '中度依赖', '不能自理'];

export function selfCareLevel(total: number): SelfCareLevel {
  if (total <= 3) return 'independent';
  if (total <= 8) return 'mild';
  if (total <= 18) return 'moderate';
  return 'dependent';
}

/** Score from the column chosen per item (0..3). Missing or out-of-range columns are listed by item. */
export function scoreSelfCare(columns: Partial<Record<SelfCareItem, number>>): { ok: true; scores: Record<SelfCareItem, number>; total: number; level: SelfCareLevel } | { ok: false; missing: SelfCareItem[] } {
  const missing: SelfCareItem[] = [];
  const scores = {} as Record<SelfCareItem, number>;
  for (const k of Object.keys(SELF_CARE_ITEMS) as SelfCareItem[]) {
    const c = columns[k];
    if (c === undefined || !Number.isInteger(c) || c < 0 || c > 3) { missing.push(k); continue; }
    scores[k] = SELF_CARE_ITEMS[k].scores[c]!;
  }
  if (missing.length) return { ok: false, missing };
  const total = Object.values(scores).reduce((a, b) => a + b, 0);
  return { ok: true, scores, total, level: selfCareLevel(total) };
}
