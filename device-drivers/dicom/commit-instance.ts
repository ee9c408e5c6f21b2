/**
 * After the data set is complete: publish the temp file durably, hand the index fields to
 * the caller's onInstance, and turn any failure into the C-STORE status for the device.
 */
import { rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fsyncDirShared, unlinkQuiet } from './atomic-file.ts';
import type { ResolvedScpOptions } from './config.ts';
import type { DicomScpCounters } from './counters.ts';
import { InstanceError, StoreStatus, type InstanceSink } from './instance-sink.ts';
import type { DicomDevice, InstanceMeta } from './types.ts';

export interface StoreOutcome {
  code: number;
  comment?: string;
}

export async function commitInstance(
  sink: InstanceSink,
  sopClassUid: string,
  who: { callingAe: string; remoteHost: string; device: DicomDevice },
  opts: ResolvedScpOptions,
  counters: DicomScpCounters,
): Promise<StoreOutcome> {
  let tempPath = '';
  try {
    const t = await sink.done;
    tempPath = t.tempPath;
    // The temp file's data is on disk (sink.done): rename it, then make the rename durable.
    await rename(t.tempPath, t.finalPath);
    tempPath = '';
    const renameDurable = fsyncDirShared(dirname(t.finalPath));
    renameDurable.catch(() => {}); // awaited below; not an unhandled rejection meanwhile
    if (!opts.indexDuringDirSync) await renameDurable;
    const f = t.fields;
    const meta: InstanceMeta = {
      ...f,
      path: t.finalPath,
      studyInstanceUid: f.studyInstanceUid!,
      seriesInstanceUid: f.seriesInstanceUid!,
      sopInstanceUid: f.sopInstanceUid!,
      sopClassUid,
      transferSyntaxUid: sink.transferSyntaxUid,
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
    if (tempPath) await unlinkQuiet(tempPath);
    counters.storesFailed++;
    const ie = e instanceof InstanceError ? e : new InstanceError((e as Error).message, StoreStatus.OutOfResources, 'io', { cause: e });
    if (ie.reason === 'bad-dataset' || ie.reason === 'bad-uid' || ie.reason === 'mismatch') counters.storesMalformed++;
    opts.log.warn({ event: 'dicom.store.failed', reason: ie.reason, message: ie.message, callingAe: who.callingAe, sopInstanceUid: sink.sopInstanceUid }, 'C-STORE failed');
    return { code: ie.status, comment: ie.message };
  }
}
