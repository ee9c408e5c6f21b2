/**
 * Per-clinic HTTP credentials for edge -> central uploads (imaging archive, backups): a
 * token `<clinicId>.<mac>` where mac = HMAC-SHA256(secret, "clinic-upload\0" + clinicId),
 * base64url. Central verifies it with its secret and learns WHICH clinic is calling, so an
 * edge can upload only as itself (the shared API token cannot prove that); provisioning or
 * the demo mints one per clinic. Rotating the secret revokes every clinic token at once.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

const CLINIC_ID = /^[a-z0-9][a-z0-9-]{1,31}$/;

function mac(secret: string, clinicId: string): Buffer {
  return createHmac('sha256', secret).update(`clinic-upload\0${clinicId}`).digest();
}

/** Mints the upload token of one clinic. */
export function clinicToken(secret: string, clinicId: string): string {
  if (!CLINIC_ID.test(clinicId)) throw new Error(`clinic id "${clinicId}" is not valid (a-z, 0-9, -; 2-32 characters)`);
  if (secret.length < 16) throw new Error('the upload secret must be at least 16 characters');
  return `${clinicId}.${mac(secret, clinicId).toString('base64url')}`;
}

/** The clinic a token was minted for, or null when it is not a valid token for this secret. */
export function verifyClinicToken(secret: string, token: string): string | null {
  const dot = token.lastIndexOf('.');
  if (dot <= 0) return null;
  const clinicId = token.slice(0, dot);
  if (!CLINIC_ID.test(clinicId)) return null;
  const got = Buffer.from(token.slice(dot + 1), 'base64url');
  const want = mac(secret, clinicId);
  return got.length === want.length && timingSafeEqual(got, want) ? clinicId : null;
}
