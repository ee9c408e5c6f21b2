/**
 * Answers Modality Performed Procedure Step N-CREATE / N-SET (PS3.4 F.7) from the caller's
 * provider: the device says it started an examination (IN PROGRESS), then that it completed or
 * discontinued it. The provider decides (it keeps the steps); a provider that throws is answered
 * 0x0110 (processing failure) and logged, never crashing the association.
 */
import type { ResolvedScpOptions } from './config.ts';
import type { DicomScpCounters } from './counters.ts';
import type { DimseNCreateRequest, DimseNCreateResponse, DimseNSetRequest, DimseNSetResponse } from './dimse.ts';
import type { DicomDevice } from './types.ts';
import { MPPS } from './uids.ts';
import { decodeText } from './charset.ts';

/**
 * The message's text in the characters the device meant. dcmjs-dimse decodes a request's strings
 * as Latin-1 whatever its Specific Character Set says (seen with ISO_IR 192 and GB18030): such a
 * string (every code unit below 256, some above 127) is turned back into its bytes and decoded by
 * the data set's character set (an item's own, if it has one). A string already holding wider
 * characters is kept.
 */
export function decodeAttributes(a: Record<string, unknown>, inherited?: string): Record<string, unknown> {
  const cs = typeof a.SpecificCharacterSet === 'string' || Array.isArray(a.SpecificCharacterSet) ? [a.SpecificCharacterSet].flat().join('\\') : inherited;
  if (!cs) return a;
  const fix = (v: unknown): unknown => {
    if (typeof v === 'string') return /[\x80-\xff]/.test(v) && !/[^\x00-\xff]/.test(v) ? decodeText(Buffer.from(v, 'latin1'), cs) : v;
    if (Array.isArray(v)) return v.map((x) => (x && typeof x === 'object' && !Array.isArray(x) && !ArrayBuffer.isView(x) && !(x instanceof ArrayBuffer) ? decodeAttributes(x as Record<string, unknown>, cs) : fix(x)));
    if (v && typeof v === 'object' && !ArrayBuffer.isView(v) && !(v instanceof ArrayBuffer)) return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, fix(x)]));
    return v;
  };
  return Object.fromEntries(Object.entries(a).map(([k, v]) => [k, fix(v)]));
}

/** PS3.7 C.4 statuses an MPPS SCP answers. */
export const MppsStatus = {
  Success: 0x0000,
  ProcessingFailure: 0x0110,
  DuplicateSopInstance: 0x0111,
  NoSuchSopInstance: 0x0112,
  NoSuchSopClass: 0x0118,
  InvalidAttributeValue: 0x0106,
  MissingAttributeValue: 0x0121,
} as const;

export async function answerMpps<R extends DimseNCreateResponse | DimseNSetResponse>(
  kind: 'create' | 'set',
  request: DimseNCreateRequest | DimseNSetRequest,
  response: R,
  who: { callingAe: string; device: DicomDevice },
  opts: ResolvedScpOptions,
  counters: DicomScpCounters,
): Promise<R> {
  const answer = (status: number, comment?: string): R => {
    response.setStatus(status);
    if (comment) response.setErrorComment(comment.slice(0, 64));
    if (status === MppsStatus.Success) counters.mppsOk++;
    else counters.mppsFailed++;
    return response;
  };
  const sopClass = kind === 'create' ? request.getAffectedSopClassUid() : request.getRequestedSopClassUid();
  if (sopClass !== MPPS || !opts.mppsProvider) return answer(MppsStatus.NoSuchSopClass, 'only MPPS is offered here');
  const sopInstanceUid = (kind === 'create' ? request.getAffectedSopInstanceUid() : request.getRequestedSopInstanceUid()) ?? '';
  if (!sopInstanceUid) return answer(MppsStatus.MissingAttributeValue, 'the MPPS SOP Instance UID is missing');
  try {
    const attributes = decodeAttributes((request.getDataset()?.getElements() ?? {}) as Record<string, unknown>);
    const r = await opts.mppsProvider({ kind, sopInstanceUid, attributes, callingAe: who.callingAe, device: who.device });
    if (kind === 'create' && r.status === MppsStatus.Success) response.setAffectedSopInstanceUid(sopInstanceUid);
    opts.log.info({ event: `dicom.mpps.${kind}`, callingAe: who.callingAe, sopInstanceUid, status: r.status, comment: r.comment }, `MPPS N-${kind === 'create' ? 'CREATE' : 'SET'} answered`);
    return answer(r.status, r.comment);
  } catch (e) {
    opts.log.error({ event: 'dicom.mpps.failed', err: (e as Error).message, callingAe: who.callingAe, sopInstanceUid }, 'MPPS message failed');
    return answer(MppsStatus.ProcessingFailure, 'the step could not be recorded; send it again');
  }
}
