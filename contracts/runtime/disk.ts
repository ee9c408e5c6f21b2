/**
 * Disk amounts in settings and the free space of a file system, for the processes that keep
 * files (the edge's image store, central's image archive).
 */
import { statfs } from 'node:fs/promises';
import { z } from 'zod';

/** A disk amount: bytes, or with a binary unit (`512M`, `1G`, `1.5GiB`), or a share of the file system (`10%`). */
export type DiskAmount = { bytes: number } | { percent: number };

const UNITS: Record<string, number> = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

export function parseDiskAmount(s: string): DiskAmount | null {
  const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(s);
  if (pct) return Number(pct[1]) < 100 ? { percent: Number(pct[1]) } : null;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(s);
  if (!m) return null;
  const bytes = Math.round(Number(m[1]) * UNITS[m[2]!.toUpperCase()]!);
  return Number.isSafeInteger(bytes) ? { bytes } : null;
}

/** The amount in bytes on a file system of `total` bytes. */
export const diskBytes = (a: DiskAmount, total: number): number => ('bytes' in a ? a.bytes : Math.round((total * a.percent) / 100));

/** A zod setting for a disk amount (string or number of bytes), with the accepted forms in its error. */
export const diskAmountSetting = (dflt: string) => z.union([z.string(), z.number()]).default(dflt).transform((v, ctx) => {
  const a = parseDiskAmount(String(v));
  if (!a) ctx.addIssue({ code: 'custom', message: `"${String(v)}" is not a disk amount: bytes, with a unit (512M, 1G, 1.5GiB) or a share of the disk below 100 (10%)` });
  return a ?? { bytes: 0 };
});

export interface DiskReading { free: number; total: number }

/** Free space for unprivileged writers (bavail) and the size of the file system holding `dir`. */
export async function readDisk(dir: string): Promise<DiskReading> {
  const s = await statfs(dir);
  return { free: s.bavail * s.bsize, total: s.blocks * s.bsize };
}

/** "120 GiB" / "1.5 GiB" / "730 MiB": what a person reads in a refusal or on a page. */
export const gib = (n: number): string =>
  n >= 10 * 1024 ** 3 ? `${Math.round(n / 1024 ** 3)} GiB` : n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GiB` : `${Math.round(n / 1024 ** 2)} MiB`;

/** Is this a "disk full" error (ENOSPC, or a quota: EDQUOT)? */
export const isDiskFull = (e: unknown): boolean => {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
};
