/** Is now inside a daily HH:MM-HH:MM window in UTC+8 (the district's time zone)? */
export function inWindowUtc8(start: string, end: string, d = new Date()): boolean {
  const t = new Date(d.getTime() + 8 * 3600_000);
  const m = t.getUTCHours() * 60 + t.getUTCMinutes();
  const mins = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
  const a = mins(start);
  const b = mins(end);
  return a === b ? true : a < b ? m >= a && m < b : m >= a || m < b;
}
