/**
 * Modality Worklist matching (PS3.4 C.2.2.2), pure. Keys follow `WorklistQuery`.
 * Universal matching: absent, empty or "*". Wildcards: * (any run) and ? (one character).
 * Dates: yyyyMMdd, ranges "a-b", "-b", "a-". Times: HHmm[ss], same ranges. Person names
 * match case-insensitively against the whole value or any component group
 * (alphabetic=ideographic). UIDs may be a backslash-separated list. Date and time are
 * matched independently (a combined date-time range is not supported).
 */
import type { WorklistItem, WorklistQuery } from './types.ts';

export function isUniversal(q: string | undefined): boolean {
  return q === undefined || q === '' || /^\*+$/.test(q);
}

const regexCache = new Map<string, RegExp>();

/** Single value with optional * and ? wildcards. */
export function matchWildcard(query: string | undefined, value: string | undefined, caseInsensitive = false): boolean {
  if (isUniversal(query)) return true;
  if (value === undefined) return false;
  const q = query!;
  if (!q.includes('*') && !q.includes('?')) return caseInsensitive ? q.toLowerCase() === value.toLowerCase() : q === value;
  const key = `${caseInsensitive ? 'i' : 's'}${q}`;
  let re = regexCache.get(key);
  if (!re) {
    const body = Array.from(q).map((c) => (c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&'))).join('');
    re = new RegExp(`^${body}$`, caseInsensitive ? 'isu' : 'su');
    if (regexCache.size > 1000) regexCache.clear();
    regexCache.set(key, re);
  }
  return re.test(value);
}

export function matchPersonName(query: string | undefined, value: string | undefined): boolean {
  if (isUniversal(query)) return true;
  if (value === undefined) return false;
  const candidates = [value, ...value.split('=')].map((v) => v.replace(/\^+$/, ''));
  const q = query!.replace(/\^+$/, '');
  return candidates.some((c) => c !== '' && matchWildcard(q, c, true));
}

/** Lower and upper bounds of a DA or TM range query, normalised for string comparison. */
function rangeBounds(q: string, norm: (s: string, upper: boolean) => string): [string, string] {
  const i = q.indexOf('-');
  if (i < 0) {
    return [norm(q, false), norm(q, true)];
  }
  const lo = q.slice(0, i);
  const hi = q.slice(i + 1);
  return [lo ? norm(lo, false) : '', hi ? norm(hi, true) : '\uffff'];
}

const normDate = (s: string): string => s.replace(/\./g, '').trim();
/** Times compare as HHmmss; a partial upper bound covers its whole unit (10 -> 105959). */
const normTime = (s: string, upper: boolean): string => {
  const t = s.replace(/:/g, '').trim().split('.')[0]!;
  return upper ? t.padEnd(6, '9') : t.padEnd(6, '0');
};

export function matchDate(query: string | undefined, value: string | undefined): boolean {
  if (isUniversal(query)) return true;
  if (!value) return false;
  const [lo, hi] = rangeBounds(query!.trim(), normDate);
  const v = normDate(value);
  return v >= lo && v <= hi;
}

export function matchTime(query: string | undefined, value: string | undefined): boolean {
  if (isUniversal(query)) return true;
  if (!value) return false;
  const [lo, hi] = rangeBounds(query!.trim(), normTime);
  const v = normTime(value, false);
  return v >= lo && v <= hi;
}

export function matchUidList(query: string | undefined, value: string | undefined): boolean {
  if (isUniversal(query)) return true;
  if (!value) return false;
  return query!.split('\\').map((s) => s.trim()).includes(value);
}

/** True when `item` satisfies every matching key of `q`. */
export function matchWorklistItem(q: Omit<WorklistQuery, 'callingAe' | 'device'>, item: WorklistItem): boolean {
  const sps = item.scheduledProcedureStep;
  return (
    matchPersonName(q.patientName, item.patientName) &&
    matchWildcard(q.patientId, item.patientId) &&
    matchDate(q.patientBirthDate, item.patientBirthDate) &&
    matchWildcard(q.patientSex, item.patientSex) &&
    matchWildcard(q.accessionNumber, item.accessionNumber) &&
    matchUidList(q.studyInstanceUid, item.studyInstanceUid) &&
    matchWildcard(q.requestedProcedureId, item.requestedProcedureId) &&
    matchWildcard(q.modality, sps.modality) &&
    matchWildcard(q.stationAeTitle, sps.stationAeTitle) &&
    matchDate(q.startDate, sps.startDate) &&
    matchTime(q.startTime, sps.startTime) &&
    matchWildcard(q.stepId, sps.stepId)
  );
}

/** Filters items, keeping order. */
export function filterWorklist(q: Omit<WorklistQuery, 'callingAe' | 'device'>, items: readonly WorklistItem[]): WorklistItem[] {
  return items.filter((it) => matchWorklistItem(q, it));
}
