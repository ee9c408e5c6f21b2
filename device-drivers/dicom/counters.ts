/** Counters kept by the SCP, exposed on the server object (the edge maps them to metrics). */
export interface DicomScpCounters {
  connections: number;
  connectionsRefused: number;
  activeConnections: number;
  activeAssociations: number;
  associationsAccepted: number;
  associationsRejected: number;
  rejectedUnknownAe: number;
  rejectedHostMismatch: number;
  rejectedDisabled: number;
  rejectedCalledAe: number;
  rejectedLimit: number;
  rejectedUnavailable: number;
  aborts: number;
  protocolErrors: number;
  timeouts: number;
  echoes: number;
  storesOk: number;
  storesFailed: number;
  storesTooLarge: number;
  storesMalformed: number;
  /** C-STOREs refused or failed for lack of disk space (admitStore's refusals, ENOSPC/EDQUOT). */
  storesNoSpace: number;
  /** C-STOREs whose file side ran in the store worker (store-offload.ts). */
  storesInWorker: number;
  bytesStored: number;
  worklistQueries: number;
  worklistMatches: number;
  worklistFailures: number;
  /** MPPS N-CREATE / N-SET messages answered with success, and those refused or failed. */
  mppsOk: number;
  mppsFailed: number;
}

export function newCounters(): DicomScpCounters {
  return {
    connections: 0, connectionsRefused: 0, activeConnections: 0, activeAssociations: 0,
    associationsAccepted: 0, associationsRejected: 0, rejectedUnknownAe: 0, rejectedHostMismatch: 0,
    rejectedDisabled: 0, rejectedCalledAe: 0, rejectedLimit: 0, rejectedUnavailable: 0, aborts: 0, protocolErrors: 0,
    timeouts: 0, echoes: 0, storesOk: 0, storesFailed: 0, storesTooLarge: 0, storesMalformed: 0, storesNoSpace: 0, storesInWorker: 0,
    bytesStored: 0, worklistQueries: 0, worklistMatches: 0, worklistFailures: 0, mppsOk: 0, mppsFailed: 0,
  };
}
