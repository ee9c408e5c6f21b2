/**
 * Prints the current TOTP code for a base32 secret (the demo's portal administrator, or any
 * account enrolled in the portal), so the demo can be tried without an authenticator app:
 *   node --import tsx scripts/totp.ts <base32 secret>     (npm run totp -- <secret>)
 * With no argument it reads the demo administrator's secret from .demo/portal.json.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import * as OTPAuth from 'otpauth';

const file = join(resolve(import.meta.dirname, '..'), '.demo', 'portal.json');
const secret = process.argv[2] ?? (existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as { secret: string }).secret : undefined);
if (!secret) {
  console.error('usage: totp.ts <base32 secret> (or run npm run demo first: it keeps the portal admin secret in .demo/portal.json)');
  process.exit(2);
}
const totp = new OTPAuth.TOTP({ secret: OTPAuth.Secret.fromBase32(secret.replace(/\s+/g, '').toUpperCase()), digits: 6, period: 30, algorithm: 'SHA1' });
const left = 30 - (Math.floor(Date.now() / 1000) % 30);
console.log(`${totp.generate()}  (valid for ${left} s more)`);
