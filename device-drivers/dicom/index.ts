/** Public surface of the edge DICOM layer (the only import point for other folders). */
export { startDicomScp, type DicomScpServer } from './server.ts';
export { DicomConfigError, type DicomScpOptions } from './config.ts';
export type { DicomScpCounters } from './counters.ts';
export { echo, echo as dicomEcho, type EchoTarget, type EchoResult } from './echo.ts';
export { matchOrder, type OrderCandidate, type OrderMatch, type InstanceKeys } from './order-match.ts';
export { matchWorklistItem, filterWorklist, matchWildcard, matchPersonName, matchDate, matchTime } from './worklist-match.ts';
export { InstanceError, StoreStatus } from './instance-sink.ts';
export { DatasetError, isDatasetError } from '../../contracts/dicom/dataset-walker.ts';
export { PduError, isPduError } from './pdu.ts';
export { STORAGE_SOP_CLASSES, STORAGE_TRANSFER_SYNTAXES, VERIFICATION, MODALITY_WORKLIST_FIND, MPPS, isValidUid } from './uids.ts';
export type { AssociationRefusal, RejectWhy, DicomDevice, DeviceLookup, InstanceMeta, OnInstance, WorklistItem, WorklistQuery, WorklistProvider, DicomLogger, MppsMessage, MppsAnswer, MppsProvider } from './types.ts';
