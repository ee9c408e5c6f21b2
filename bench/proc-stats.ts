/**
 * What the benches read of their processes on Linux (/proc): CPU time of a process and of each of
 * its threads, peak RSS, and central's warehouse batch sizes from its /metrics; and the median
 * they report of a series of runs.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { metricNames } from '../contracts/index.ts';

/** Peak resident set (VmHWM) of a process, MB, or '?'. */
export function rssMb(pid: number | undefined): string {
  if (!pid) return '?';
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const hwm = /VmHWM:\s+(\d+)/.exec(s)?.[1];
    return hwm ? (Number(hwm) / 1024).toFixed(0) : '?';
  } catch { return '?'; }
}

/** Central's warehouse batches so far (sum and count of its records-per-transaction histogram), or null. */
export async function centralBatches(url: string): Promise<{ sum: number; count: number } | null> {
  try {
    const text = await (await fetch(`${url}/metrics`)).text();
    const num = (name: string) => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
    const sum = num(`${metricNames.central.ingestBatchRecords}_sum`), count = num(`${metricNames.central.ingestBatchRecords}_count`);
    return Number.isFinite(sum) && Number.isFinite(count) ? { sum, count } : null;
  } catch { return null; }
}

/** CPU time (user + system) of a process so far, ms; every thread of it (Linux /proc). */
export function cpuMs(pid: number | undefined): number {
  if (!pid) return NaN;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 (utime, stime) in clock ticks; rest[0] is field 3.
    return ((Number(rest[11]) + Number(rest[12])) * 1000) / 100;
  } catch { return NaN; }
}

/** CPU time (ms) of each thread of a process so far, by thread id, with its name (Linux /proc). */
export function threadCpuMs(pid: number | undefined): Map<string, { name: string; ms: number }> {
  const out = new Map<string, { name: string; ms: number }>();
  if (!pid) return out;
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
        const name = f.slice(f.indexOf('(') + 1, f.lastIndexOf(')'));
        const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
        out.set(tid, { name, ms: ((Number(rest[11]) + Number(rest[12])) * 1000) / 100 });
      } catch { /* thread ended */ }
    }
  } catch { /* process ended */ }
  return out;
}

/** Per-thread CPU per 1,000 records between two `threadCpuMs` snapshots, largest first (threads under 2% left out). */
export function threadCpuNote(a: Map<string, { name: string; ms: number }>, b: Map<string, { name: string; ms: number }>, n: number): string {
  const rows = [...b].map(([tid, t]) => ({ tid, name: t.name, ms: t.ms - (a.get(tid)?.ms ?? 0) }));
  const total = rows.reduce((s, r) => s + r.ms, 0);
  return rows.filter((r) => r.ms > total * 0.02).sort((x, y) => y.ms - x.ms).map((r) => `${r.name}/${r.tid} ${((r.ms / n) * 1000).toFixed(0)}`).join(', ');
}

/** Median of a non-empty list (the mean of the middle two for an even count). */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
