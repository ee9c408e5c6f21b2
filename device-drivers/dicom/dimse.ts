/**
 * The one place that touches dcmjs-dimse directly. Its public typings are usable; what is
 * typed here is (a) the naturalized element values dcmjs hands back as `unknown`, and
 * (b) the few internals the SCP hooks (documented against dcmjs-dimse 0.3.3, checked by
 * `dimse.test.ts` so an upgrade that moves them fails loudly).
 */
import dimse from 'dcmjs-dimse';
import type { Socket } from 'node:net';

export const { Scp, Client, Dataset, Implementation, constants, requests, responses, association, log: dimseLog, version: dimseVersion } = dimse;
export type DimseDataset = InstanceType<typeof Dataset>;
export type DimseAssociation = InstanceType<typeof association.Association>;
export type DimseCFindRequest = InstanceType<typeof requests.CFindRequest>;
export type DimseCEchoRequest = InstanceType<typeof requests.CEchoRequest>;
export type DimseCFindResponse = InstanceType<typeof responses.CFindResponse>;
export type DimseCEchoResponse = InstanceType<typeof responses.CEchoResponse>;
export type DimseNCreateRequest = InstanceType<typeof requests.NCreateRequest>;
export type DimseNCreateResponse = InstanceType<typeof responses.NCreateResponse>;
export type DimseNSetRequest = InstanceType<typeof requests.NSetRequest>;
export type DimseNSetResponse = InstanceType<typeof responses.NSetResponse>;
export type DimsePresentationContext = InstanceType<typeof association.PresentationContext>;
export type DimseScp = InstanceType<typeof Scp>;

/** Internals of dcmjs-dimse 0.3.3 `Network` the edge SCP relies on. */
export interface ScpInternals {
  socket: Socket;
  association?: DimseAssociation;
  lastPduTime?: number;
  /** Set by dcmjs-dimse's own Server; its association/PDU timeouts only run when true. */
  connected: boolean;
  connectedTime?: number;
  statistics: { addBytesReceived(n: number): void };
  _processPdu(pdu: Buffer): Promise<void>;
}

export function internals(scp: DimseScp): ScpInternals {
  // dcmjs-dimse keeps these as plain properties on the instance; the cast is the hook point.
  return scp as unknown as ScpInternals;
}

/** A naturalized dcmjs value as a plain string: strings, numbers, PN objects, first of arrays. */
export function elementString(v: unknown): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return String(v);
  if (Array.isArray(v)) return v.length ? elementString(v[0]) : '';
  if (typeof v === 'object') {
    const pn = v as { Alphabetic?: unknown; Ideographic?: unknown };
    const a = typeof pn.Alphabetic === 'string' ? pn.Alphabetic : '';
    const i = typeof pn.Ideographic === 'string' ? pn.Ideographic : '';
    return i && a ? `${a}=${i}` : a || i;
  }
  return undefined;
}

/** First item of a naturalized sequence, as a record of naturalized values. */
export function firstItem(v: unknown): Record<string, unknown> | undefined {
  if (!Array.isArray(v) || v.length === 0) return undefined;
  const x: unknown = v[0];
  return x && typeof x === 'object' ? (x as Record<string, unknown>) : undefined;
}

/**
 * dcmjs-dimse logs every association with `association.toString()` built eagerly (every proposed
 * presentation context by name: storescu proposes ~120), even when its log is silent: ~10 ms of
 * main-thread time per association on a busy machine. With its log silent (we always set it so)
 * the text goes nowhere, so a short one is built instead.
 */
export function quietAssociationText(): void {
  const proto = association.Association.prototype as { toString(): string; getCallingAeTitle(): string; getCalledAeTitle(): string };
  proto.toString = function (this: typeof proto) {
    return `association ${this.getCallingAeTitle()} -> ${this.getCalledAeTitle()}`;
  };
}
