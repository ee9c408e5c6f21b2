/**
 * Retention: grandfather-father-son over backup points. Keep the newest point of each of the
 * last `daily` days, `weekly` ISO weeks and `monthly` months (UTC+8 calendar, the clinics'),
 * plus the newest `keepLast` points whatever their age. A chain (full + its incrementals)
 * is deleted when none of its points is kept; within a kept chain, only packs no kept
 * manifest references are deleted (the caller decides that after reading the manifests).
 */
import type { SnapshotName } from './manifest.ts';

export interface RetentionPolicy {
  daily: number;
  weekly: number;
  monthly: number;
  keepLast: number;
}

export const defaultRetention: RetentionPolicy = { daily: 7, weekly: 4, monthly: 6, keepLast: 2 };

const local = (d: Date) => new Date(d.getTime() + 8 * 3600_000);
const dayKey = (d: Date) => local(d).toISOString().slice(0, 10);
const monthKey = (d: Date) => local(d).toISOString().slice(0, 7);
function weekKey(d: Date): string {
  const t = local(d);
  const day = (t.getUTCDay() + 6) % 7; // Monday = 0
  const thursday = new Date(Date.UTC(t.getUTCFullYear(), t.getUTCMonth(), t.getUTCDate() - day + 3));
  const week1 = new Date(Date.UTC(thursday.getUTCFullYear(), 0, 4));
  const n = 1 + Math.round(((thursday.getTime() - week1.getTime()) / 86400_000 - 3 + ((week1.getUTCDay() + 6) % 7)) / 7);
  return `${thursday.getUTCFullYear()}-W${String(n).padStart(2, '0')}`;
}

export interface RetentionPlan {
  keep: SnapshotName[];
  drop: SnapshotName[];
  /** Chains with no kept point: all their objects go. */
  dropChains: string[];
  why: Map<string, string[]>;
}

export function planRetention(points: SnapshotName[], policy: RetentionPolicy): RetentionPlan {
  const sorted = [...points].sort((a, b) => b.at.getTime() - a.at.getTime());
  const why = new Map<string, string[]>();
  const mark = (p: SnapshotName, reason: string) => why.set(p.snapshotId, [...(why.get(p.snapshotId) ?? []), reason]);
  sorted.slice(0, policy.keepLast).forEach((p) => mark(p, 'latest'));
  const bucket = (n: number, key: (d: Date) => string, label: string) => {
    const seen = new Set<string>();
    for (const p of sorted) {
      const k = key(p.at);
      if (seen.has(k)) continue;
      if (seen.size >= n) break;
      seen.add(k);
      mark(p, `${label} ${k}`);
    }
  };
  bucket(policy.daily, dayKey, 'daily');
  bucket(policy.weekly, weekKey, 'weekly');
  bucket(policy.monthly, monthKey, 'monthly');
  const keep = sorted.filter((p) => why.has(p.snapshotId));
  const drop = sorted.filter((p) => !why.has(p.snapshotId));
  const keptChains = new Set(keep.map((p) => p.chainId));
  const dropChains = [...new Set(drop.map((p) => p.chainId))].filter((c) => !keptChains.has(c));
  return { keep, drop, dropChains, why };
}
