/** SCP configuration: one typed object, defaults applied, validated at start (fail fast). */
import type { AssociationRefusal, DeviceLookup, DicomLogger, MppsProvider, OnInstance, WorklistProvider } from './types.ts';
import { STORAGE_SOP_CLASSES, STORAGE_TRANSFER_SYNTAXES } from './uids.ts';

export interface DicomScpOptions {
  /** Our AE title; associations calling another title are rejected (unless acceptAnyCalledAe). */
  aeTitle: string;
  /** Interface to bind (default 127.0.0.1; the edge sets 0.0.0.0 or its device-LAN address). */
  host?: string;
  /** 0 (default) lets the OS choose; read it back from `server.port`. */
  port?: number;
  /** Root directory for instance files: <storageDir>/<StudyInstanceUID>/<SOPInstanceUID>.dcm */
  storageDir: string;
  lookupDevice: DeviceLookup;
  onInstance: OnInstance;
  /** Without it, worklist C-FIND is not offered (presentation context rejected). */
  worklistProvider?: WorklistProvider;
  /** Without it, Modality Performed Procedure Step (N-CREATE / N-SET) is not offered. */
  mppsProvider?: MppsProvider;
  storageSopClasses?: readonly string[];
  storageTransferSyntaxes?: readonly string[];
  acceptAnyCalledAe?: boolean;
  /** Largest PDU we advertise and accept (bytes, default 64 KiB). */
  maxPduLength?: number;
  /** Largest dataset of one C-STORE (bytes, default 1 GiB); above it the association is aborted. */
  maxInstanceBytes?: number;
  /** Largest C-FIND identifier (bytes, default 64 KiB). */
  maxQueryBytes?: number;
  /** Header prefix held in memory before the file is opened (default 256 KiB). */
  maxHeaderBytes?: number;
  /** TCP connections at once (default 64); more are closed on accept. */
  maxConnections?: number;
  /** TCP connections at once from one address (default 16); more are closed on accept. */
  maxConnectionsPerHost?: number;
  /** Associations at once (default 16); more are rejected (transient, local limit exceeded). */
  maxAssociations?: number;
  /** Time from connect to A-ASSOCIATE-RQ (default 10 s). */
  associationTimeoutMs?: number;
  /** Time between PDUs inside an association (default 30 s). */
  pduTimeoutMs?: number;
  maxWorklistMatches?: number;
  /** fsync files and directories (default true). */
  fsync?: boolean;
  /**
   * Call onInstance right after the rename, while the directory fsync runs (default false:
   * after it). The device still gets success only after both; but a crash can leave an index
   * row whose rename was lost, so a caller that sets this must recover such rows at start
   * (the edge agent does: `edge-agent/imaging/recovery.ts`).
   */
  indexDuringDirSync?: boolean;
  /**
   * Where the file side of a C-STORE runs (sha256, temp file writes, fsync, rename, directory
   * flush; `store-offload.ts`). 'off' (default): on the main thread. 'lazy': in a worker thread
   * while more than one association is open, the worker started when a second association is
   * first accepted. 'eager': the same, the worker started with the SCP. 'all': every store in
   * the worker (tests).
   */
  storeWorker?: 'off' | 'lazy' | 'eager' | 'all';
  /**
   * Told of every rejected association (after the A-ASSOCIATE-RJ is sent), so the edge can
   * show the technician who tried to connect and why. Synchronous and must not throw (a throw
   * is logged and ignored); a flood calls it once per association, so keep it cheap.
   */
  onAssociationRejected?: (r: AssociationRefusal) => void;
  /**
   * Asked at the start of every C-STORE, before any of its data is written: a string refuses the
   * instance with 0xA700 (out of resources; the device keeps it and sends it again later) and that
   * text as the Error Comment (64 characters at most reach the device), counted as `no-space`.
   * The edge refuses while the storage disk is below its reserve (edge-agent/imaging/storage.ts).
   * Synchronous and cheap: called once per instance; a throw admits the instance (and is logged).
   */
  admitStore?: () => string | null;
  log?: DicomLogger;
}

export type ResolvedScpOptions = Required<Omit<DicomScpOptions, 'worklistProvider' | 'mppsProvider'>> & Pick<DicomScpOptions, 'worklistProvider' | 'mppsProvider'>;

export class DicomConfigError extends Error {
  override name = 'DicomConfigError';
  constructor(readonly field: string, message: string) {
    super(`dicom scp config: ${field}: ${message}`);
  }
}

export function resolveOptions(o: DicomScpOptions, log: DicomLogger): ResolvedScpOptions {
  if (!/^[\x21-\x5b\x5d-\x7e](?:[\x20-\x5b\x5d-\x7e]{0,15})$/.test(o.aeTitle) || o.aeTitle.length > 16) throw new DicomConfigError('aeTitle', 'must be 1-16 printable ASCII characters, no backslash');
  if (!o.storageDir) throw new DicomConfigError('storageDir', 'required');
  if (typeof o.lookupDevice !== 'function') throw new DicomConfigError('lookupDevice', 'must be a function');
  if (typeof o.onInstance !== 'function') throw new DicomConfigError('onInstance', 'must be a function');
  const r: ResolvedScpOptions = {
    host: '127.0.0.1',
    port: 0,
    storageSopClasses: Object.keys(STORAGE_SOP_CLASSES),
    storageTransferSyntaxes: STORAGE_TRANSFER_SYNTAXES,
    acceptAnyCalledAe: false,
    maxPduLength: 64 * 1024,
    maxInstanceBytes: 1024 * 1024 * 1024,
    maxQueryBytes: 64 * 1024,
    maxHeaderBytes: 256 * 1024,
    maxConnections: 64,
    maxConnectionsPerHost: 16,
    maxAssociations: 16,
    associationTimeoutMs: 10_000,
    pduTimeoutMs: 30_000,
    maxWorklistMatches: 1000,
    fsync: true,
    indexDuringDirSync: false,
    storeWorker: 'off',
    onAssociationRejected: () => {},
    admitStore: () => null,
    ...stripUndefined(o),
    aeTitle: o.aeTitle,
    storageDir: o.storageDir,
    lookupDevice: o.lookupDevice,
    onInstance: o.onInstance,
    log,
  };
  const positive: (keyof ResolvedScpOptions)[] = ['maxPduLength', 'maxInstanceBytes', 'maxQueryBytes', 'maxHeaderBytes', 'maxConnections', 'maxConnectionsPerHost', 'maxAssociations', 'associationTimeoutMs', 'pduTimeoutMs', 'maxWorklistMatches'];
  for (const k of positive) {
    const v = r[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new DicomConfigError(k, `must be a positive integer, got ${String(v)}`);
  }
  if (r.maxPduLength < 4096) throw new DicomConfigError('maxPduLength', 'must be at least 4096');
  if (!['off', 'lazy', 'eager', 'all'].includes(r.storeWorker)) throw new DicomConfigError('storeWorker', `must be off, lazy, eager or all, got ${String(r.storeWorker)}`);
  if (!Number.isInteger(r.port) || r.port < 0 || r.port > 65535) throw new DicomConfigError('port', 'must be 0-65535');
  return r;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
