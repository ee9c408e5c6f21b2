/**
 * Time features for the traffic baseline: one-hot hour of day, day of week, and
 * weekend x hour, in the clinics' local time. A linear model over these learns the
 * daily and weekly shape (business hours, lunch dip, quiet weekends).
 */
export const FEATURE_COUNT = 24 + 7 + 24;

export function timeFeatures(tMs: number, utcOffsetHours: number, out = new Float32Array(FEATURE_COUNT)): Float32Array {
  out.fill(0);
  const local = new Date(tMs + utcOffsetHours * 3600_000);
  const hour = local.getUTCHours();
  const dow = local.getUTCDay();
  out[hour] = 1;
  out[24 + dow] = 1;
  if (dow === 0 || dow === 6) out[31 + hour] = 1;
  return out;
}

/** log1p of a rate: traffic is multiplicative, so residuals are comparable day and night. */
export const toLog = (bytesPerSecond: number) => Math.log1p(Math.max(0, bytesPerSecond));
