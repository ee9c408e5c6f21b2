import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Timeouts here are liveness bounds (how long before we call a condition that never came
 * true a failure), never speed checks. They are stretched (x3 by default, TEST_WAIT_SCALE to
 * change it) so that a loaded 2-core CI machine does not fail a correct run; a broken run
 * only takes longer to report.
 */
export const WAIT_SCALE = Math.max(1, Number(process.env.TEST_WAIT_SCALE ?? 3) || 3);

/** Retry `fn` until it resolves, or throw the last error after `timeoutMs`. */
export async function retry<T>(fn: () => Promise<T>, timeoutMs = 20_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs * WAIT_SCALE;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      return await fn();
    } catch (e) {
      last = e;
      await sleep(everyMs);
    }
  }
  throw last instanceof Error ? last : new Error(String(last));
}

/** Poll `cond` until it is true; throws with `what` after `timeoutMs`. */
export async function waitFor(what: string, cond: () => boolean | Promise<boolean>, timeoutMs = 60_000, everyMs = 50): Promise<void> {
  const deadline = Date.now() + timeoutMs * WAIT_SCALE;
  while (Date.now() < deadline) {
    if (await cond()) return;
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs * WAIT_SCALE} ms waiting for ${what}`);
}
