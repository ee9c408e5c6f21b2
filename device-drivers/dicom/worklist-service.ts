/** Answers one Modality Worklist C-FIND from the caller's provider (pending + final responses). */
import type { ResolvedScpOptions } from './config.ts';
import type { DicomScpCounters } from './counters.ts';
import { Dataset, constants, responses, type DimseCFindRequest, type DimseCFindResponse } from './dimse.ts';
import type { DicomDevice } from './types.ts';
import { MODALITY_WORKLIST_FIND } from './uids.ts';
import { itemToElements, queryFromElements } from './worklist-dataset.ts';
import { filterWorklist } from './worklist-match.ts';

const { Status } = constants;

export async function answerWorklist(
  request: DimseCFindRequest,
  transferSyntaxUid: string,
  who: { callingAe: string; device: DicomDevice },
  opts: ResolvedScpOptions,
  counters: DicomScpCounters,
): Promise<DimseCFindResponse[]> {
  const done = (status: number, comment?: string): DimseCFindResponse => {
    const r = responses.CFindResponse.fromRequest(request);
    r.setStatus(status);
    if (comment) r.setErrorComment(comment.slice(0, 64));
    return r;
  };
  if (request.getAffectedSopClassUid() !== MODALITY_WORKLIST_FIND || !opts.worklistProvider) return [done(Status.SopClassNotSupported)];
  counters.worklistQueries++;
  try {
    const requested = request.getDataset()?.getElements() ?? {};
    const keys = queryFromElements(requested);
    const items = await opts.worklistProvider({ ...keys, callingAe: who.callingAe, device: who.device });
    const matches = filterWorklist(keys, items).slice(0, opts.maxWorklistMatches);
    counters.worklistMatches += matches.length;
    const out = matches.map((item) => {
      const r = responses.CFindResponse.fromRequest(request);
      r.setStatus(Status.Pending);
      r.setDataset(new Dataset(itemToElements(item, requested), transferSyntaxUid));
      return r;
    });
    out.push(done(Status.Success));
    return out;
  } catch (e) {
    counters.worklistFailures++;
    opts.log.error({ event: 'dicom.worklist.failed', err: (e as Error).message, callingAe: who.callingAe }, 'worklist query failed');
    // 0xC001: unable to process
    return [done(0xc001, 'worklist unavailable')];
  }
}
