/** Calendar arithmetic on `yyyy-MM-dd` strings (clinic-local dates, no time zones involved). */

const pad = (n: number) => String(n).padStart(2, '0');

export function isIsoDate(s: string): boolean {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(s)) return false;
  const [y, m, d] = s.split('-').map(Number) as [number, number, number];
  const dt = new Date(Date.UTC(y, m - 1, d));
  return dt.getUTCFullYear() === y && dt.getUTCMonth() === m - 1 && dt.getUTCDate() === d;
}

function parse(s: string): Date {
  if (!isIsoDate(s)) throw new RangeError(`not a date: ${s}`);
  const [y, m, d] = s.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(y, m - 1, d));
}

const fmt = (d: Date) => `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;

export function addDays(s: string, n: number): string {
  const d = parse(s);
  d.setUTCDate(d.getUTCDate() + n);
  return fmt(d);
}

/** Add calendar months; a day that does not exist in the target month becomes its last day (01-31 + 1 month = 02-28/29). */
export function addMonths(s: string, n: number): string {
  const d = parse(s);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() + n;
  const last = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  return fmt(new Date(Date.UTC(y, m, Math.min(d.getUTCDate(), last))));
}

export function daysBetween(from: string, to: string): number {
  return Math.round((parse(to).getTime() - parse(from).getTime()) / 86_400_000);
}

/** Age in completed years on `on`. */
export function ageOn(birthDate: string, on: string): number {
  const b = parse(birthDate); const o = parse(on);
  let age = o.getUTCFullYear() - b.getUTCFullYear();
  if (o.getUTCMonth() < b.getUTCMonth() || (o.getUTCMonth() === b.getUTCMonth() && o.getUTCDate() < b.getUTCDate())) age--;
  return age;
}

/** First day of the calendar quarter containing `s`. */
export function quarterStart(s: string): string {
  const d = parse(s);
  return `${d.getUTCFullYear()}-${pad(Math.floor(d.getUTCMonth() / 3) * 3 + 1)}-01`;
}

/** Today's date in the process's local time zone (the edge runs in the clinic's zone). */
export function today(now = new Date()): string {
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}
