/** Imaging module configuration: defaults <- EDGE_DICOM_CONFIG file <- EDGE_DICOM_* environment. */
import { join } from 'node:path';
import { z } from 'zod';
import { loadConfig } from '../../contracts/runtime/index.ts';
import { diskAmountSetting as diskAmount } from '../../contracts/runtime/disk.ts';
export { diskBytes, parseDiskAmount, type DiskAmount } from '../../contracts/runtime/disk.ts';

const window = /^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$/;

export const imagingConfigSchema = z.object({
  enabled: z.enum(['true', 'false', '1', '0']).default('true').transform((v) => v === 'true' || v === '1'),
  /**
   * Index transactions in a worker thread (index-writer.ts): `lazy` starts it when two
   * associations first overlap, `eager` at start-up, which waits for it (a long-running appliance
   * whose devices often send at once), `off` keeps every commit on the main thread.
   */
  indexWorker: z.enum(['lazy', 'eager', 'off']).default('lazy'),
  /**
   * The SCP's store worker (device-drivers/dicom/store-offload.ts: sha256, temp file, fsync,
   * rename, directory flush in a worker thread while several associations receive): `lazy` starts
   * it when two associations first overlap, `eager` at start-up, `off` (default) keeps it all on
   * the main thread. Off by default until a quiet-machine bench shows it pays: it takes ~30% of
   * the event loop's CPU per instance away, but the process total was higher in most runs on a
   * busy machine (see the dicom README).
   */
  storeWorker: z.enum(['lazy', 'eager', 'off']).default('off'),
  /** Our AE title (what devices put in "called AE"). */
  aeTitle: z.string().regex(/^[\x20-\x5b\x5d-\x7e]{1,16}$/, '1-16 printable ASCII characters, no backslash').default('DPC_EDGE'),
  host: z.string().default('0.0.0.0'),
  /**
   * 0 = OS-chosen. The default is 0 so that agents started by tests and demos never fight
   * over one port; production sets EDGE_DICOM_PORT (e.g. 11112) and a warning says so otherwise.
   */
  port: z.coerce.number().int().min(0).max(65535).default(0),
  /** Default <dataDir>/dicom. */
  storageDir: z.string().optional(),
  /** Central base URL (e.g. http://central:8080); empty: instances are kept and forwarded once it is set. */
  centralUrl: z.string().url().optional(),
  /** Central's shared API token: not used for uploads (accepted so older env files still load). */
  centralToken: z.string().optional(),
  /**
   * This clinic's upload token (`contracts/clinic-token.ts`, minted by provisioning/demo).
   * Instances go to `/archive/instances` under it; without it they are kept and not forwarded.
   */
  uploadToken: z.string().optional(),
  /** Upload rate inside the forwarding windows (bytes/s, 0 = unlimited). */
  forwardRate: z.coerce.number().int().min(0).default(0),
  /** Comma-separated local time windows "HH:MM-HH:MM" (may wrap midnight); empty = always. */
  forwardWindows: z.string().default('').refine((s) => s.split(',').map((w) => w.trim()).filter(Boolean).every((w) => window.test(w)), 'comma-separated HH:MM-HH:MM'),
  /** Upload rate outside the windows (bytes/s, 0 = paused until the next window). */
  forwardOffWindowRate: z.coerce.number().int().min(0).default(0),
  forwardConcurrency: z.coerce.number().int().min(1).max(8).default(2),
  /**
   * Instances larger than this go up in parts of this size (resumable: an upload cut by the network
   * goes on from where central's copy ends, not from 0). Default 8 MiB.
   */
  forwardChunkBytes: z.coerce.number().int().min(64 * 1024).max(1024 ** 3).default(8 * 1024 * 1024),
  /** Longest wait between retries of one instance (ms). */
  forwardRetryMaxMs: z.coerce.number().int().min(100).default(30_000),
  /**
   * A study's record goes to central when the study has been quiet this long (ms); the first
   * instance of a study is recorded at once. 0 = one record version per instance.
   */
  /** How often radiologist reports are pulled from central (ms; needs centralUrl + uploadToken). */
  reportPullMs: z.coerce.number().int().min(200).default(60_000),
  studyRecordQuietMs: z.coerce.number().int().min(0).max(600_000).default(2_000),
  /**
   * Free space kept on the image disk for everything else (the clinic's database, logs, backups):
   * below it, new instances are refused with 0xA700 (the device keeps them and sends them again)
   * until eviction or the technician makes room. Default 1G.
   */
  diskReserve: diskAmount('1G'),
  /**
   * Below this much free space, instances already held by the central archive are removed from
   * this disk, those uploaded longest ago first, until a quarter more is free. Never an instance
   * still waiting for upload. Default 10% of the file system (at least twice the reserve).
   */
  evictBelowFree: diskAmount('10%'),
  /** Also remove uploaded instances this many days after their upload, room or not (0 = keep while there is room). */
  keepDays: z.coerce.number().int().min(0).max(36_500).default(0),
  /** How often free space is read (statfs); also after every 64 MiB received and after each eviction. */
  diskCheckMs: z.coerce.number().int().min(200).max(600_000).default(5_000),
});
export type ImagingConfig = Omit<z.infer<typeof imagingConfigSchema>, 'storageDir'> & { storageDir: string };

export function loadImagingConfig(dataDir: string, env?: NodeJS.ProcessEnv): ImagingConfig {
  const c = loadConfig(imagingConfigSchema, { prefix: 'EDGE_DICOM_', env });
  return { ...c, storageDir: c.storageDir ?? join(dataDir, 'dicom') };
}

/** Parses "19:00-07:00,12:00-13:30" into minute ranges; wrapping ranges are allowed. */
export function parseWindows(s: string): { from: number; to: number }[] {
  return s.split(',').map((w) => w.trim()).filter(Boolean).map((w) => {
    const [a, b] = w.split('-') as [string, string];
    const m = (x: string) => Number(x.slice(0, 2)) * 60 + Number(x.slice(3, 5));
    return { from: m(a), to: m(b) };
  });
}

/** Is `d` (local time) inside any window? No windows = always. */
export function inWindow(windows: readonly { from: number; to: number }[], d: Date): boolean {
  if (windows.length === 0) return true;
  const m = d.getHours() * 60 + d.getMinutes();
  return windows.some((w) => (w.from <= w.to ? m >= w.from && m < w.to : m >= w.from || m < w.to));
}
