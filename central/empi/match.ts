/**
 * Resident matching, pure functions (no I/O): normalisation, blocking keys, deterministic rules
 * and Fellegi–Sunter scoring. Nothing here throws on any input (fast-check in the tests).
 *
 * Deterministic: a GB 11643 ID number (document type 01, checksum valid), an insurance card
 * number or an e-health card id held by both residents means the same person, except that the
 * same ID number with a different name goes to review, and two different valid ID numbers are
 * never the same person (twins share everything else).
 *
 * Probabilistic: each field compares to a level (agree / partial / disagree / missing) whose
 * weight is log2(m/u), m = P(level | same person), u = P(level | different persons); missing
 * fields weigh 0. The sum is compared with two thresholds: auto-link, review, no link.
 */
import { pinyin } from '../../contracts/runtime/lazy-libs.ts';
import { checkResidentId } from '../../contracts/index.ts';

export interface Demographics {
  name?: unknown;
  sex?: unknown;
  birthDate?: unknown;
  idType?: unknown;
  idNumber?: unknown;
  insuranceCardNo?: unknown;
  healthCardId?: unknown;
  phone?: unknown;
  address?: unknown;
}

export type Level = 'agree' | 'partial' | 'disagree' | 'missing';
export type Field = 'name' | 'birthDate' | 'sex' | 'phone' | 'address';

/** m and u per field and level (partial only where a field has one). */
export const MU: Record<Field, Partial<Record<Exclude<Level, 'missing'>, { m: number; u: number }>>> = {
  // partial: same pinyin, different characters (王秀英 / 王秀瑛: homophones, typing errors)
  name: { agree: { m: 0.92, u: 0.001 }, partial: { m: 0.05, u: 0.005 }, disagree: { m: 0.03, u: 0.994 } },
  // partial: one of year, month, day differs, or day and month swapped
  birthDate: { agree: { m: 0.96, u: 0.0004 }, partial: { m: 0.03, u: 0.01 }, disagree: { m: 0.01, u: 0.9896 } },
  sex: { agree: { m: 0.98, u: 0.5 }, disagree: { m: 0.02, u: 0.5 } },
  phone: { agree: { m: 0.75, u: 0.0001 }, disagree: { m: 0.25, u: 0.9999 } },
  // agree: character-bigram Dice >= 0.85 after normalisation; partial: >= 0.6
  address: { agree: { m: 0.6, u: 0.01 }, partial: { m: 0.2, u: 0.05 }, disagree: { m: 0.2, u: 0.94 } },
};

export const weight = (f: Field, level: Level): number => {
  if (level === 'missing') return 0;
  const mu = MU[f][level];
  return mu ? Math.log2(mu.m / mu.u) : 0;
};

export interface Thresholds { autoLink: number; review: number }
/** Name + birth date + sex alone (22.0) is a review; with a phone or address agreeing it links. */
export const DEFAULT_THRESHOLDS: Thresholds = { autoLink: 24, review: 12 };

const str = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v : undefined);

/** Full-width ASCII to half-width, no spaces or middle dots, upper case for Latin letters. */
export function normName(v: unknown): string | undefined {
  const s = str(v);
  if (!s) return undefined;
  const n = s.replace(/[\uff01-\uff5e]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)).replace(/[\s·•．.\u3000-]/g, '').toUpperCase();
  return n || undefined;
}

const pinyinCache = new Map<string, string | undefined>();

/** Toneless pinyin of a name, surnames read as surnames (单 = shan); Latin letters kept. Memoised (names repeat). */
export function namePinyin(v: unknown): string | undefined {
  const n = normName(v);
  if (!n) return undefined;
  if (pinyinCache.has(n)) return pinyinCache.get(n);
  let py: string | undefined;
  try {
    py = pinyin(n, { toneType: 'none', type: 'array', mode: 'surname' }).join('').toLowerCase().replace(/[^a-z0-9]/g, '') || undefined;
  } catch {
    py = n.toLowerCase();
  }
  if (pinyinCache.size >= 50_000) pinyinCache.clear();
  pinyinCache.set(n, py);
  return py;
}

/** Mobile or landline digits without a +86 / 0086 prefix. */
export function normPhone(v: unknown): string | undefined {
  const s = str(v);
  if (!s) return undefined;
  let d = s.replace(/\D/g, '');
  if (d.startsWith('0086')) d = d.slice(4);
  else if (d.startsWith('86') && d.length === 13) d = d.slice(2);
  return d.length >= 7 ? d : undefined;
}

export function normAddress(v: unknown): string | undefined {
  const s = str(v);
  if (!s) return undefined;
  const n = s.replace(/[\uff01-\uff5e]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xfee0)).replace(/[\s,，。.、;；:：()（）\-#号]/g, '').toUpperCase();
  return n || undefined;
}

function bigrams(s: string): Map<string, number> {
  const m = new Map<string, number>();
  const chars = [...s];
  if (chars.length === 1) m.set(chars[0]!, 1);
  for (let i = 0; i + 1 < chars.length; i++) {
    const g = chars[i]! + chars[i + 1]!;
    m.set(g, (m.get(g) ?? 0) + 1);
  }
  return m;
}

/** Sørensen–Dice coefficient over character bigrams, 0..1. */
export function dice(a: string, b: string): number {
  if (a === b) return 1;
  const A = bigrams(a);
  const B = bigrams(b);
  let inter = 0;
  let na = 0;
  let nb = 0;
  for (const [g, n] of A) { na += n; inter += Math.min(n, B.get(g) ?? 0); }
  for (const n of B.values()) nb += n;
  return na + nb === 0 ? 0 : (2 * inter) / (na + nb);
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** A valid GB 11643 ID number (document type 01) in canonical 18-character form. */
export function validIdCard(d: Demographics): string | undefined {
  const t = str(d.idType) ?? '01';
  const n = str(d.idNumber);
  if (t !== '01' || !n) return undefined;
  const c = checkResidentId(n);
  return c.ok ? c.id : undefined;
}

export function compareField(f: Field, a: Demographics, b: Demographics): Level {
  switch (f) {
    case 'name': {
      const x = normName(a.name);
      const y = normName(b.name);
      if (!x || !y) return 'missing';
      if (x === y) return 'agree';
      const px = namePinyin(x);
      return px !== undefined && px === namePinyin(y) ? 'partial' : 'disagree';
    }
    case 'birthDate': {
      const x = str(a.birthDate);
      const y = str(b.birthDate);
      const mx = x ? DATE.exec(x) : null;
      const my = y ? DATE.exec(y) : null;
      if (!mx || !my) return 'missing';
      if (x === y) return 'agree';
      const diff = [1, 2, 3].filter((i) => mx[i] !== my[i]).length;
      const swapped = mx[1] === my[1] && mx[2] === my[3] && mx[3] === my[2];
      return diff === 1 || swapped ? 'partial' : 'disagree';
    }
    case 'sex': {
      const x = str(a.sex);
      const y = str(b.sex);
      // 0 unknown and 9 unspecified say nothing.
      if (x !== '1' && x !== '2') return 'missing';
      if (y !== '1' && y !== '2') return 'missing';
      return x === y ? 'agree' : 'disagree';
    }
    case 'phone': {
      const x = normPhone(a.phone);
      const y = normPhone(b.phone);
      if (!x || !y) return 'missing';
      return x === y ? 'agree' : 'disagree';
    }
    case 'address': {
      const x = normAddress(a.address);
      const y = normAddress(b.address);
      if (!x || !y) return 'missing';
      const s = dice(x, y);
      return s >= 0.85 ? 'agree' : s >= 0.6 ? 'partial' : 'disagree';
    }
  }
}

export type Deterministic = 'idNumber' | 'insuranceCardNo' | 'healthCardId';

export interface MatchResult {
  /** Sum of the field weights. */
  score: number;
  fields: Record<Field, { level: Level; weight: number }>;
  /** Identifiers both hold with the same value. */
  deterministic: Deterministic[];
  /** Both hold valid ID numbers and they differ: never the same person. */
  idConflict: boolean;
  decision: 'link' | 'review' | 'no-link';
  reasons: string[];
}

const FIELDS: Field[] = ['name', 'birthDate', 'sex', 'phone', 'address'];

/** Compare two residents. Never throws. */
export function match(a: Demographics, b: Demographics, t: Thresholds = DEFAULT_THRESHOLDS): MatchResult {
  const fields = {} as MatchResult['fields'];
  let score = 0;
  for (const f of FIELDS) {
    const level = compareField(f, a, b);
    const w = weight(f, level);
    fields[f] = { level, weight: w };
    score += w;
  }
  const deterministic: Deterministic[] = [];
  const ida = validIdCard(a);
  const idb = validIdCard(b);
  if (ida && ida === idb) deterministic.push('idNumber');
  for (const k of ['insuranceCardNo', 'healthCardId'] as const) {
    const x = str(a[k])?.trim().toUpperCase();
    if (x && x === str(b[k])?.trim().toUpperCase()) deterministic.push(k);
  }
  const idConflict = !!ida && !!idb && ida !== idb;
  const reasons: string[] = [];
  let decision: MatchResult['decision'];
  if (idConflict) {
    decision = deterministic.length ? 'review' : 'no-link';
    reasons.push(deterministic.length ? `different ID numbers but the same ${deterministic.join(', ')}` : 'different ID numbers');
  } else if (deterministic.length) {
    if (fields.name.level === 'disagree') {
      decision = 'review';
      reasons.push(`same ${deterministic.join(', ')} but a different name`);
    } else {
      decision = 'link';
      reasons.push(`same ${deterministic.join(', ')}`);
    }
  } else {
    decision = score >= t.autoLink ? 'link' : score >= t.review ? 'review' : 'no-link';
    reasons.push(`score ${score.toFixed(2)} (${decision === 'link' ? '>=' : '<'} auto-link ${t.autoLink}${decision === 'no-link' ? `, < review ${t.review}` : ''})`);
  }
  return { score, fields, deterministic, idConflict, decision, reasons };
}

/** Blocking keys: candidates are residents sharing at least one. */
export function blockingKeys(d: Demographics): string[] {
  const keys = new Set<string>();
  const id = validIdCard(d);
  if (id) keys.add(`id:${id}`);
  const ins = str(d.insuranceCardNo)?.trim().toUpperCase();
  if (ins) keys.add(`ins:${ins}`);
  const ehc = str(d.healthCardId)?.trim().toUpperCase();
  if (ehc) keys.add(`ehc:${ehc}`);
  const dob = str(d.birthDate);
  const okDob = dob !== undefined && DATE.test(dob);
  if (okDob) keys.add(`dob:${dob}`);
  const tel = normPhone(d.phone);
  if (tel) keys.add(`tel:${tel}`);
  // Common names (张伟) are shared by thousands: the name blocks with a part of the birth date,
  // year or month-day, so a typo in one of them still finds the candidate.
  const py = namePinyin(d.name);
  if (py && okDob) {
    keys.add(`py:${py}:${dob!.slice(0, 4)}`);
    keys.add(`pm:${py}:${dob!.slice(5)}`);
  } else if (py) keys.add(`py:${py}`);
  return [...keys].map((k) => k.slice(0, 200));
}
