/** Turns the captured raw header values of a received dataset into index fields. */
import { decodeAscii, decodeText } from './charset.ts';

export const Tag = {
  SpecificCharacterSet: 0x00080005,
  SopClassUid: 0x00080016,
  SopInstanceUid: 0x00080018,
  StudyDate: 0x00080020,
  StudyTime: 0x00080030,
  AccessionNumber: 0x00080050,
  StationAeTitle: 0x00080055,
  Modality: 0x00080060,
  StudyDescription: 0x00081030,
  PatientName: 0x00100010,
  PatientId: 0x00100020,
  PatientBirthDate: 0x00100030,
  PatientSex: 0x00100040,
  StudyInstanceUid: 0x0020000d,
  SeriesInstanceUid: 0x0020000e,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
  NumberOfFrames: 0x00280008,
  PerformedStationAeTitle: 0x00400241,
} as const;

export const CAPTURED_TAGS: ReadonlySet<number> = new Set(Object.values(Tag));

/** Every top-level tag the index needs is below this one. */
export const LAST_INDEXED_TAG = Tag.PerformedStationAeTitle;

export interface HeaderFields {
  specificCharacterSet?: string;
  sopClassUid?: string;
  sopInstanceUid?: string;
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
  studyDate?: string;
  studyTime?: string;
  accessionNumber?: string;
  stationAe?: string;
  modality?: string;
  studyDescription?: string;
  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  patientSex?: string;
  seriesNumber?: string;
  instanceNumber?: string;
  numberOfFrames?: number;
}

export function headerFields(values: ReadonlyMap<number, Buffer>): HeaderFields {
  const cs = values.has(Tag.SpecificCharacterSet) ? decodeAscii(values.get(Tag.SpecificCharacterSet)!) : undefined;
  const ascii = (t: number): string | undefined => {
    const v = values.get(t);
    if (!v) return undefined;
    const s = decodeAscii(v);
    return s === '' ? undefined : s;
  };
  const text = (t: number): string | undefined => {
    const v = values.get(t);
    if (!v) return undefined;
    const s = decodeText(v, cs);
    return s === '' ? undefined : s;
  };
  const frames = ascii(Tag.NumberOfFrames);
  const out: HeaderFields = {
    specificCharacterSet: cs || undefined,
    sopClassUid: ascii(Tag.SopClassUid),
    sopInstanceUid: ascii(Tag.SopInstanceUid),
    studyInstanceUid: ascii(Tag.StudyInstanceUid),
    seriesInstanceUid: ascii(Tag.SeriesInstanceUid),
    studyDate: ascii(Tag.StudyDate),
    studyTime: ascii(Tag.StudyTime),
    accessionNumber: text(Tag.AccessionNumber),
    stationAe: ascii(Tag.StationAeTitle) ?? ascii(Tag.PerformedStationAeTitle),
    modality: ascii(Tag.Modality),
    studyDescription: text(Tag.StudyDescription),
    patientName: text(Tag.PatientName),
    patientId: text(Tag.PatientId),
    patientBirthDate: ascii(Tag.PatientBirthDate),
    patientSex: ascii(Tag.PatientSex),
    seriesNumber: ascii(Tag.SeriesNumber),
    instanceNumber: ascii(Tag.InstanceNumber),
    numberOfFrames: frames !== undefined && /^\d+$/.test(frames) ? Number(frames) : undefined,
  };
  for (const k of Object.keys(out) as (keyof HeaderFields)[]) if (out[k] === undefined) delete out[k];
  return out;
}
