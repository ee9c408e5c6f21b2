/** Reporting periods: month `2026-03`, quarter `2026-Q1`, year `2026`; half-open day ranges. */
export type PeriodKind = 'month' | 'quarter' | 'year';

export interface Period {
  kind: PeriodKind;
  key: string;
  /** First day, yyyy-MM-dd (inclusive). */
  from: string;
  /** Day after the last day (exclusive). */
  to: string;
  year: number;
  months: number;
}

const pad = (n: number) => String(n).padStart(2, '0');
const first = (y: number, m: number) => `${y}-${pad(m)}-01`;
const addMonths = (y: number, m: number, k: number): [number, number] => {
  const t = y * 12 + (m - 1) + k;
  return [Math.floor(t / 12), (t % 12) + 1];
};

export function parsePeriod(key: string): Period {
  let m: RegExpMatchArray | null;
  if ((m = key.match(/^(\d{4})-(\d{2})$/))) {
    const y = Number(m[1]);
    const mo = Number(m[2]);
    if (mo < 1 || mo > 12) throw new Error(`bad month ${key}`);
    const [ny, nm] = addMonths(y, mo, 1);
    return { kind: 'month', key, from: first(y, mo), to: first(ny, nm), year: y, months: 1 };
  }
  if ((m = key.match(/^(\d{4})-Q([1-4])$/))) {
    const y = Number(m[1]);
    const q = Number(m[2]);
    const [ny, nm] = addMonths(y, (q - 1) * 3 + 1, 3);
    return { kind: 'quarter', key, from: first(y, (q - 1) * 3 + 1), to: first(ny, nm), year: y, months: 3 };
  }
  if ((m = key.match(/^(\d{4})$/))) {
    const y = Number(m[1]);
    return { kind: 'year', key, from: first(y, 1), to: first(y + 1, 1), year: y, months: 12 };
  }
  throw new Error(`period must be yyyy, yyyy-Qn or yyyy-MM: ${key}`);
}

/** The period before (month-on-month / quarter-on-quarter / year-on-year for years). */
export function previousPeriod(p: Period): Period {
  return shift(p, -1);
}

/** Same period one year earlier (YoY). */
export function yearAgo(p: Period): Period {
  if (p.kind === 'year') return parsePeriod(String(p.year - 1));
  if (p.kind === 'quarter') return parsePeriod(`${p.year - 1}-${p.key.slice(5)}`);
  return parsePeriod(`${p.year - 1}-${p.key.slice(5)}`);
}

export function shift(p: Period, k: number): Period {
  if (p.kind === 'year') return parsePeriod(String(p.year + k));
  if (p.kind === 'quarter') {
    const q = Number(p.key.slice(6)) - 1 + k;
    const y = p.year + Math.floor(q / 4);
    return parsePeriod(`${y}-Q${((q % 4) + 4) % 4 + 1}`);
  }
  const [y, m] = addMonths(p.year, Number(p.key.slice(5)), k);
  return parsePeriod(`${y}-${pad(m)}`);
}

/** `n` periods ending with `p` (oldest first), for trend charts. */
export function trailing(p: Period, n: number): Period[] {
  return Array.from({ length: n }, (_, i) => shift(p, i - n + 1));
}

export function currentPeriodKey(kind: PeriodKind, now = new Date()): string {
  const d = new Date(now.getTime() + 8 * 3600_000);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + 1;
  return kind === 'year' ? String(y) : kind === 'quarter' ? `${y}-Q${Math.ceil(m / 3)}` : `${y}-${pad(m)}`;
}
