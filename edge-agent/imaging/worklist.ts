/** Modality Worklist: open imaging orders of the asking device's modality, with resident data. */
import type { WorklistItem, WorklistProvider } from '../../device-drivers/dicom/index.ts';
import { isAwaitingImages, type ImagingRepo } from './repo.ts';

const SEX: Record<string, string> = { '1': 'M', '2': 'F' };

export function worklistProvider(repo: ImagingRepo): WorklistProvider {
  return (q) => {
    const items: WorklistItem[] = [];
    for (const o of repo.openOrders()) {
      if (!isAwaitingImages(o.status)) continue;
      // A device sees orders of its modality (OT devices see all), for its AE or for any room.
      if (q.device.modality !== 'OT' && q.device.modality !== o.modality) continue;
      if (o.stationAe && o.stationAe !== q.device.aeTitle) continue;
      items.push({
        patientName: o.residentName ?? '',
        patientId: o.residentId,
        patientBirthDate: o.residentBirthDate?.replaceAll('-', ''),
        patientSex: SEX[o.residentSex ?? ''] ?? 'O',
        accessionNumber: o.accessionNumber,
        studyInstanceUid: o.studyInstanceUid,
        requestedProcedureId: o.accessionNumber,
        requestedProcedureDescription: o.display,
        scheduledProcedureStep: {
          modality: o.modality,
          stationAeTitle: o.stationAe ?? q.device.aeTitle,
          startDate: o.scheduledDate,
          startTime: o.scheduledTime ?? undefined,
          stepId: o.accessionNumber,
          description: o.display,
          stationName: q.device.room,
        },
      });
    }
    return items;
  };
}
