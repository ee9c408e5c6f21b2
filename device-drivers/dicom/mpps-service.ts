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
    const attributes = (request.getDataset()?.getElements() ?? {}) as Record<string, unknown>;
    const r = await opts.mppsProvider({ kind, sopInstanceUid, attributes, callingAe: who.callingAe, device: who.device });
    if (kind === 'create' && r.status === MppsStatus.Success) response.setAffectedSopInstanceUid(sopInstanceUid);
    opts.log.info({ event: `dicom.mpps.${kind}`, callingAe: who.callingAe, sopInstanceUid, status: r.status, comment: r.comment }, `MPPS N-${kind === 'create' ? 'CREATE' : 'SET'} answered`);
    return answer(r.status, r.comment);
  } catch (e) {
    opts.log.error({ event: 'dicom.mpps.failed', err: (e as Error).message, callingAe: who.callingAe, sopInstanceUid }, 'MPPS message failed');
    return answer(MppsStatus.ProcessingFailure, 'the step could not be recorded; send it again');
  }
}
