/**
 * Password hashes of the edge's and the portal's local accounts (MLPS 3: stored salted and
 * slow to guess): scrypt with N = 16384, r = 8, p = 1, a 16-byte salt and a 32-byte key, stored
 * as `scrypt$N$salt$key` (base64) so that a later cost can verify older hashes.
 *
 * A check costs ~50 ms of CPU on purpose. It runs on libuv's thread pool (`crypto.scrypt`), not
 * on the event loop: a synchronous check held the edge agent's loop (its DICOM and device
 * connections, every page) for those 50 ms per login, and a morning's logins one after another.
 */
import { randomBytes, scrypt, scryptSync, timingSafeEqual, type ScryptOptions } from 'node:crypto';

const N = 16384;

function scryptAsync(plain: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => scrypt(plain, salt, keylen, opts, (e, key) => (e ? reject(e) : resolve(key))));
}

/** A new hash. Synchronous: used when an administrator creates or resets an account (rare). */
export function hashPassword(plain: string): string {
  const salt = randomBytes(16);
  return `scrypt$${N}$${salt.toString('base64')}$${scryptSync(plain, salt, 32, { N, r: 8, p: 1 }).toString('base64')}`;
}

/** A hash that matches no password, to spend a real check's time on an unknown user name. */
export const NO_PASSWORD = `scrypt$${N}$${Buffer.alloc(16).toString('base64')}$${Buffer.alloc(32).toString('base64')}`;

/**
 * Whether `plain` matches `stored`, checked off the event loop. A malformed stored value, or a
 * cost that is not a power of two in 2^10..2^16, is no match (never an exception: a damaged row must not break login).
 */
export async function verifyPassword(plain: string, stored: string): Promise<boolean> {
  const [kind, n, salt, key] = stored.split('$');
  const cost = Number(n);
  if (kind !== 'scrypt' || !salt || !key || !Number.isInteger(cost) || cost < 1024 || cost > 1 << 16 || (cost & (cost - 1)) !== 0) return false;
  const want = Buffer.from(key, 'base64');
  if (want.length < 16) return false;
  // scrypt needs 128 * r * N bytes (16 MiB for ours); Node refuses above `maxmem` (32 MiB by default).
  const got = await scryptAsync(plain, Buffer.from(salt, 'base64'), want.length, { N: cost, r: 8, p: 1, maxmem: 2 * 128 * 8 * cost });
  return timingSafeEqual(want, got);
}
