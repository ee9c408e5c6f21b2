/**
 * NATS hub configuration with one user per clinic edge. A clinic may publish only under
 * its own `clinic.<id>.>` subjects, read only its own receipts and inbox, and use only the
 * JetStream API calls the dictionary consumer needs (no stream admin, no other clinic).
 */
import bcrypt from 'bcryptjs';
import { CLINIC_ID_PATTERN, STREAMS, subjects } from '../contracts/index.ts';

export interface NatsUser {
  user: string;
  /** bcrypt hash; nats-server verifies it, so the hub never stores a plaintext password. */
  passwordHash: string;
  publish: string[];
  subscribe: string[];
}

export function clinicPermissions(clinicId: string): { publish: string[]; subscribe: string[] } {
  if (!CLINIC_ID_PATTERN.test(clinicId)) throw new Error(`clinicId "${clinicId}": lower-case letters, digits and dashes, 2-32 characters`);
  const d = STREAMS.dictionaries;
  const e = STREAMS.empi;
  const tr = STREAMS.transfers;
  return {
    publish: [
      `clinic.${clinicId}.>`,
      '$JS.API.INFO',
      `$JS.API.STREAM.INFO.${d}`,
      `$JS.API.CONSUMER.CREATE.${d}`,
      `$JS.API.CONSUMER.CREATE.${d}.>`,
      `$JS.API.CONSUMER.INFO.${d}.>`,
      `$JS.API.CONSUMER.DELETE.${d}.>`,
      `$JS.API.CONSUMER.MSG.NEXT.${d}.>`,
      // EMPI person changes: a consumer only on its own subject (the filter is part of the
      // create subject, and nats-server checks it against the request), then read/inspect/delete.
      `$JS.API.STREAM.INFO.${e}`,
      `$JS.API.CONSUMER.CREATE.${e}.*.${subjects.empi(clinicId)}`,
      `$JS.API.CONSUMER.INFO.${e}.>`,
      `$JS.API.CONSUMER.DELETE.${e}.>`,
      `$JS.API.CONSUMER.MSG.NEXT.${e}.>`,
      // Health-record migrations (care): the same, on its own `central.transfer.<id>` only.
      `$JS.API.STREAM.INFO.${tr}`,
      `$JS.API.CONSUMER.CREATE.${tr}.*.${subjects.transfer(clinicId)}`,
      `$JS.API.CONSUMER.INFO.${tr}.>`,
      `$JS.API.CONSUMER.DELETE.${tr}.>`,
      `$JS.API.CONSUMER.MSG.NEXT.${tr}.>`,
    ],
    subscribe: [subjects.receipt(clinicId), `${subjects.inboxPrefix(clinicId)}.>`],
  };
}

export function hashPassword(plain: string, rounds = 10): string {
  return bcrypt.hashSync(plain, rounds);
}

export function clinicUser(clinicId: string, passwordHash: string): NatsUser {
  return { user: `clinic-${clinicId}`, passwordHash, ...clinicPermissions(clinicId) };
}

export function centralUser(passwordHash: string): NatsUser {
  return { user: 'central', passwordHash, publish: ['>'], subscribe: ['>'] };
}

const q = (s: string) => JSON.stringify(s);

/** The `authorization { users = [...] }` block of the hub's nats-server config. */
export function renderAuthorization(users: NatsUser[]): string {
  const lines = users.map((u) => `    { user: ${q(u.user)}, password: ${q(u.passwordHash)}, permissions: { publish: { allow: [${u.publish.map(q).join(', ')}] }, subscribe: { allow: [${u.subscribe.map(q).join(', ')}] } } }`);
  return `authorization {\n  users = [\n${lines.join('\n')}\n  ]\n}\n`;
}
