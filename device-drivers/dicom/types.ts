/** Types the edge plugs into the DICOM layer: device registry, storage callback, worklist. */

/** A registered imaging device (the edge's device registry row). */
export interface DicomDevice {
  id?: string;
  aeTitle: string;
  /** IP address or host name the device connects from; '*' accepts any host. */
  host: string;
  port: number;
  modality: 'US' | 'DX' | 'CR' | 'OT';
  room?: string;
  enabled: boolean;
}

/** Why an association was rejected (association-policy.ts has the A-ASSOCIATE-RJ fields of each). */
export type RejectWhy = 'called-ae' | 'unknown-ae' | 'host-mismatch' | 'disabled' | 'limit' | 'unavailable';

/** One rejected association, as the SCP reports it to `onAssociationRejected`. */
export interface AssociationRefusal {
  reason: RejectWhy;
  /** The calling AE title the peer sent (trimmed; may be empty or anything a peer chooses). */
  callingAe: string;
  /** The AE title the peer called (ours unless reason is 'called-ae'). */
  calledAe: string;
  remoteHost: string;
  /** The device the calling AE is registered as, when it is (host-mismatch, disabled). */
  device: DicomDevice | null;
  at: string;
}

/** Looks a calling AE up in the registry; null when unknown (from this host). */
export type DeviceLookup = (callingAe: string, remoteHost: string) => DicomDevice | null | Promise<DicomDevice | null>;

/** Everything the edge indexes about one stored instance. */
export interface InstanceMeta {
  /** Final path of the durable Part 10 file. */
  path: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  transferSyntaxUid: string;
  /** Size of the whole file, in bytes (preamble + meta + dataset). */
  size: number;
  /** sha256 of the whole file, hex. */
  sha256: string;
  patientName?: string;
  patientId?: string;
  /** yyyyMMdd as sent */
  patientBirthDate?: string;
  patientSex?: string;
  accessionNumber?: string;
  modality?: string;
  studyDate?: string;
  studyTime?: string;
  studyDescription?: string;
  seriesNumber?: string;
  instanceNumber?: string;
  numberOfFrames?: number;
  /** As the device declared it (e.g. 'GB18030', 'GBK'); text fields above are decoded. */
  specificCharacterSet?: string;
  /** The StationAETitle attribute when present, else the calling AE of the association. */
  stationAe: string;
  callingAe: string;
  remoteHost: string;
  device: DicomDevice;
  receivedAt: string;
}

/** Awaited before the C-STORE response: resolve = indexed, throw = failure status to the device. */
/**
 * Called once the instance is complete at its final path. `renameDurable` settles when the
 * rename is on disk: already settled, unless the SCP runs with `indexDuringDirSync` (then the
 * directory fsync runs while this callback indexes; the device is answered after both).
 */
export type OnInstance = (meta: InstanceMeta, renameDurable: Promise<void>) => Promise<void>;

/** A scheduled imaging order as the worklist shows it. Dates yyyyMMdd, times HHmmss. */
export interface WorklistItem {
  patientName: string;
  patientId: string;
  patientBirthDate?: string;
  /** M, F, O */
  patientSex?: string;
  accessionNumber: string;
  studyInstanceUid?: string;
  requestedProcedureId: string;
  requestedProcedureDescription?: string;
  referringPhysicianName?: string;
  scheduledProcedureStep: {
    modality: string;
    stationAeTitle: string;
    startDate: string;
    startTime?: string;
    stepId: string;
    description?: string;
    performingPhysicianName?: string;
    stationName?: string;
  };
}

/**
 * Matching keys of a worklist query as the device sent them (DICOM strings: wildcards,
 * date ranges such as `20260101-20260131`). Absent or empty means "match anything".
 */
export interface WorklistQuery {
  patientName?: string;
  patientId?: string;
  patientBirthDate?: string;
  patientSex?: string;
  accessionNumber?: string;
  studyInstanceUid?: string;
  requestedProcedureId?: string;
  modality?: string;
  stationAeTitle?: string;
  startDate?: string;
  startTime?: string;
  stepId?: string;
  /** Who is asking, for providers that tailor the list per room. */
  callingAe: string;
  device: DicomDevice;
}

export type WorklistProvider = (query: WorklistQuery) => WorklistItem[] | Promise<WorklistItem[]>;

/**
 * A Modality Performed Procedure Step message (PS3.4 F.7): N-CREATE when the device starts an
 * examination, N-SET when it updates or ends it. `attributes` are the data set's elements as dcmjs
 * names them (keywords; sequences as arrays of items).
 */
export interface MppsMessage {
  kind: 'create' | 'set';
  sopInstanceUid: string;
  attributes: Record<string, unknown>;
  callingAe: string;
  device: DicomDevice;
}
/** The DIMSE status to answer (0 success) and, on failure, an Error Comment (64 characters reach the device). */
export interface MppsAnswer { status: number; comment?: string }
export type MppsProvider = (m: MppsMessage) => MppsAnswer | Promise<MppsAnswer>;

/** pino-compatible subset; the edge passes its logger. */
export interface DicomLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

export const silentLogger: DicomLogger = { info() {}, warn() {}, error() {} };
