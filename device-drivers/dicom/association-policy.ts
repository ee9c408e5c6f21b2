/** Who may associate, and which presentation contexts we accept. Pure decisions. */
import type { DicomDevice } from './types.ts';
import { MODALITY_WORKLIST_FIND, MPPS, UNCOMPRESSED_TRANSFER_SYNTAXES, VERIFICATION } from './uids.ts';

import type { RejectWhy } from './types.ts';
export type { RejectWhy };

/** A-ASSOCIATE-RJ fields (PS3.8 9.3.4) per reason. */
export const REJECT_FIELDS: Record<RejectWhy, { result: number; source: number; reason: number }> = {
  // result 1 permanent / 2 transient; source 1 service user / 3 service provider (presentation)
  'called-ae': { result: 1, source: 1, reason: 7 }, // called AE title not recognized
  'unknown-ae': { result: 1, source: 1, reason: 3 }, // calling AE title not recognized
  'host-mismatch': { result: 1, source: 1, reason: 3 },
  // a disabled device may be enabled again: transient, no reason given
  disabled: { result: 2, source: 1, reason: 1 },
  limit: { result: 2, source: 3, reason: 2 }, // local limit exceeded
  // the registry lookup failed (e.g. database busy): try again later
  unavailable: { result: 2, source: 3, reason: 1 }, // temporary congestion
};

/** Strips the IPv4-mapped IPv6 prefix so '::ffff:10.0.0.5' compares equal to '10.0.0.5'. */
export function normaliseHost(h: string): string {
  return h.startsWith('::ffff:') ? h.slice(7) : h;
}

export function checkDevice(device: DicomDevice | null, remoteHost: string): RejectWhy | null {
  if (!device) return 'unknown-ae';
  if (device.host && device.host !== '*' && normaliseHost(device.host) !== normaliseHost(remoteHost)) return 'host-mismatch';
  if (!device.enabled) return 'disabled';
  return null;
}

/**
 * The transfer syntax to accept for a proposed context, or null to reject it.
 * Follows the proposer's order (devices list their preferred syntax first).
 */
export function chooseTransferSyntax(abstractSyntax: string, proposed: readonly string[], storageClasses: ReadonlySet<string>, storageSyntaxes: readonly string[], worklist: boolean, mpps = false): string | null | 'abstract-not-supported' {
  let allowed: readonly string[];
  if (storageClasses.has(abstractSyntax)) allowed = storageSyntaxes;
  else if (abstractSyntax === VERIFICATION || (worklist && abstractSyntax === MODALITY_WORKLIST_FIND) || (mpps && abstractSyntax === MPPS)) allowed = UNCOMPRESSED_TRANSFER_SYNTAXES;
  else return 'abstract-not-supported';
  return proposed.find((ts) => allowed.includes(ts)) ?? null;
}
