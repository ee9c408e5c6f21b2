/**
 * After the data set is complete: publish the temp file durably, hand the index fields to
 * the caller's onInstance, and turn any failure into the C-STORE status for the device.
 * Two halves: `publishTemp` (rename + directory flush; runs where the sink runs, on the main
 * thread or in the store worker) and `completeCommit` (onInstance and the status; always on
 * the main thread).
 */
import { renameSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDirShared, unlinkQuiet } from './atomic-file.ts';
import type { ResolvedScpOptions } from './config.ts';
import type { DicomScpCounters } from './counters.ts';
import { InstanceError, ioError, StoreStatus, type InstanceSink, type StoredTemp } from './instance-sink.ts';
import type { DicomDevice, InstanceMeta } from './types.ts';

export interface StoreOutcome {
  code: number;
  comment?: string;
}

/** A complete instance at its final path; `renameDurable` settles when the directory flush does. */
export interface PublishedInstance {
  stored: Omit<StoredTemp, 'tempPath'>;
  renameDurable: Promise<void>;
}

/**
 * Waits for the sink's temp file (data durable), renames it to its final name and starts the
 * directory flush. Rejects (with the sink's InstanceError, or an `io` one) when the instance
 * was refused, aborted or could not be written; a temp file is never left behind by a failed rename.
 */
export async function publishTemp(sink: InstanceSink, syncRename = false): Promise<PublishedInstance> {
  const t = await sink.done;
  try {
    // synchronous in the store worker (its thread may block for a metadata update), as its writes
    if (syncRename) renameSync(t.tempPath, t.finalPath);
    else await rename(t.tempPath, t.finalPath);
  } catch (e) {
    await unlinkQuiet(t.tempPath);
    throw ioError('cannot publish instance', e);
  }
  const renameDurable = fsyncDirShared(dirname(t.finalPath));
  renameDurable.catch(() => {}); // awaited by completeCommit; not an unhandled rejection meanwhile
  const { tempPath: _, ...stored } = t;
  return { stored, renameDurable };
}

export interface StoreIdentity {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
}

export function commitInstance(
  sink: InstanceSink,
  sopClassUid: string,
  who: { callingAe: string; remoteHost: string; device: DicomDevice },
  opts: ResolvedScpOptions,
  counters: DicomScpCounters,
): Promise<StoreOutcome> {
  return completeCommit(publishTemp(sink), { sopClassUid, sopInstanceUid: sink.sopInstanceUid, transferSyntaxUid: sink.transferSyntaxUid }, who, opts, counters);
}

/** onInstance once the instance is published, then the status for the device (success only when the rename is durable too). */
export async function completeCommit(
  published: Promise<PublishedInstance>,
  id: StoreIdentity,
  who: { callingAe: string; remoteHost: string; device: DicomDevice },
  opts: ResolvedScpOptions,
  counters: DicomScpCounters,
): Promise<StoreOutcome> {
  try {
    const { stored: t, renameDurable } = await published;
    if (!opts.indexDuringDirSync) await renameDurable;
    const f = t.fields;
    const meta: InstanceMeta = {
      ...f,
      path: t.finalPath,
      studyInstanceUid: f.studyInstanceUid!,
      seriesInstanceUid: f.seriesInstanceUid!,
      sopInstanceUid: f.sopInstanceUid!,
      sopClassUid: id.sopClassUid,
      transferSyntaxUid: id.transferSyntaxUid,
      size: t.size,
      sha256: t.sha256,
      stationAe: f.stationAe ?? who.callingAe,
      callingAe: who.callingAe,
      remoteHost: who.remoteHost,
      device: who.device,
      receivedAt: new Date().toISOString(),
    };
    try {
      await opts.onInstance(meta, renameDurable);
    } catch (e) {
      throw new InstanceError(`index callback failed: ${(e as Error).message}`, StoreStatus.OutOfResources, 'callback', { cause: e });
    }
    // With indexDuringDirSync the directory flush ran beside the index; success needs both.
    await renameDurable;
    counters.storesOk++;
    counters.bytesStored += t.size;
    return { code: StoreStatus.Success };
  } catch (e) {
    counters.storesFailed++;
    const ie = e instanceof InstanceError ? e : new InstanceError((e as Error).message, StoreStatus.OutOfResources, 'io', { cause: e });
    if (ie.reason === 'bad-dataset' || ie.reason === 'bad-uid' || ie.reason === 'mismatch') counters.storesMalformed++;
    if (ie.reason === 'no-space') counters.storesNoSpace++;
    opts.log.warn({ event: 'dicom.store.failed', reason: ie.reason, message: ie.message, callingAe: who.callingAe, sopInstanceUid: id.sopInstanceUid }, 'C-STORE failed');
    return { code: ie.status, comment: ie.message };
  }
}
