/** Converts between dcmjs naturalized worklist identifiers and the typed query / items. */
import { elementString, firstItem } from './dimse.ts';
import type { WorklistItem, WorklistQuery } from './types.ts';

export type QueryKeys = Omit<WorklistQuery, 'callingAe' | 'device'>;

/** Reads the matching keys from a C-FIND identifier (naturalized by dcmjs). */
export function queryFromElements(el: Record<string, unknown>): QueryKeys {
  const sps = firstItem(el.ScheduledProcedureStepSequence) ?? {};
  const q: QueryKeys = {
    patientName: elementString(el.PatientName),
    patientId: elementString(el.PatientID),
    patientBirthDate: elementString(el.PatientBirthDate),
    patientSex: elementString(el.PatientSex),
    accessionNumber: elementString(el.AccessionNumber),
    studyInstanceUid: elementString(el.StudyInstanceUID),
    requestedProcedureId: elementString(el.RequestedProcedureID),
    modality: elementString(sps.Modality),
    stationAeTitle: elementString(sps.ScheduledStationAETitle),
    startDate: elementString(sps.ScheduledProcedureStepStartDate),
    startTime: elementString(sps.ScheduledProcedureStepStartTime),
    stepId: elementString(sps.ScheduledProcedureStepID),
  };
  for (const k of Object.keys(q) as (keyof QueryKeys)[]) {
    const v = q[k];
    if (v === undefined || v.trim() === '') delete q[k];
    else q[k] = v.trim();
  }
  return q;
}

const TOP: Record<string, (i: WorklistItem) => string | undefined> = {
  PatientName: (i) => i.patientName,
  PatientID: (i) => i.patientId,
  PatientBirthDate: (i) => i.patientBirthDate,
  PatientSex: (i) => i.patientSex,
  AccessionNumber: (i) => i.accessionNumber,
  StudyInstanceUID: (i) => i.studyInstanceUid,
  RequestedProcedureID: (i) => i.requestedProcedureId,
  RequestedProcedureDescription: (i) => i.requestedProcedureDescription,
  ReferringPhysicianName: (i) => i.referringPhysicianName,
};

const SPS: Record<string, (s: WorklistItem['scheduledProcedureStep']) => string | undefined> = {
  Modality: (s) => s.modality,
  ScheduledStationAETitle: (s) => s.stationAeTitle,
  ScheduledProcedureStepStartDate: (s) => s.startDate,
  ScheduledProcedureStepStartTime: (s) => s.startTime,
  ScheduledProcedureStepID: (s) => s.stepId,
  ScheduledProcedureStepDescription: (s) => s.description,
  ScheduledPerformingPhysicianName: (s) => s.performingPhysicianName,
  ScheduledStationName: (s) => s.stationName,
};

/**
 * The response identifier for one item: the keys the query asked for (that we know), in
 * UTF-8 (`ISO_IR 192`, the only charset dcmjs writes). If the query has no keys at all
 * or asks for the step sequence without items, every known key is returned.
 */
export function itemToElements(item: WorklistItem, requested: Record<string, unknown>): Record<string, unknown> {
  const askedKeys = Object.keys(requested).filter((k) => !k.startsWith('_'));
  const all = askedKeys.length === 0;
  const out: Record<string, unknown> = { SpecificCharacterSet: 'ISO_IR 192' };
  for (const [k, get] of Object.entries(TOP)) if (all || k in requested) out[k] = get(item) ?? '';
  if (all || 'ScheduledProcedureStepSequence' in requested) {
    const reqSps = firstItem(requested.ScheduledProcedureStepSequence);
    const allSps = !reqSps || Object.keys(reqSps).filter((k) => !k.startsWith('_')).length === 0;
    const sps: Record<string, unknown> = {};
    for (const [k, get] of Object.entries(SPS)) if (allSps || k in reqSps) sps[k] = get(item.scheduledProcedureStep) ?? '';
    out.ScheduledProcedureStepSequence = [sps];
  }
  return out;
}
