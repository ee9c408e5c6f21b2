/**
 * The backup manifest (one per backup point) and object naming.
 *
 * A repository (local directory or off-site target) holds flat objects:
 *   <snapshotId>.pack      new chunks of that backup point (each: nonce | AES-GCM ciphertext | tag)
 *   <snapshotId>.manifest  encrypted manifest, written LAST (a backup point exists once it does)
 * snapshotId = <chainId>_<time>_<kind>; chainId = "c" + time of the chain's full backup.
 * A full backup starts a new chain and shares no chunk with older chains; incrementals
 * reuse chunks of their chain (page-range deltas for SQLite, unchanged files for DICOM).
 */
import { z } from 'zod';

export const MANIFEST_FORMAT = 1;

export const chunkRefSchema = z.tuple([z.string().regex(/^[0-9a-f]{64}$/), z.string(), z.number().int().nonnegative(), z.number().int().positive()]);
/** [chunk id, pack (snapshotId), offset in pack, sealed length] */
export type ChunkRef = z.infer<typeof chunkRefSchema>;

export const fileEntrySchema = z.object({
  /** Path inside the backup ("/"-separated, relative, no ".."). */
  path: z.string().min(1).refine((p) => !p.startsWith('/') && !p.split('/').includes('..'), 'relative path without ..'),
  /** sqlite: consistent online snapshot (backup API); file: plain file; pgdump: pg_dump -Fc output. */
  kind: z.enum(['sqlite', 'file', 'pgdump']),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  mtimeMs: z.number(),
  mode: z.number().int(),
  chunks: z.array(chunkRefSchema),
});
export type FileEntry = z.infer<typeof fileEntrySchema>;

export const manifestSchema = z.object({
  format: z.literal(MANIFEST_FORMAT),
  snapshotId: z.string(),
  chainId: z.string(),
  kind: z.enum(['full', 'incremental']),
  parentId: z.string().nullable(),
  createdAt: z.string(),
  finishedAt: z.string(),
  source: z.object({
    system: z.enum(['edge', 'central']),
    /** Clinic id, or "central". */
    owner: z.string(),
    host: z.string(),
    appVersion: z.string(),
    /** Highest schema migration applied per database at backup time. */
    schema: z.record(z.string(), z.number()),
  }),
  files: z.array(fileEntrySchema),
  /** Every pack the files reference, with its size and sha256 (checked before restoring). */
  packs: z.record(z.string(), z.object({ size: z.number().int().nonnegative(), sha256: z.string() })),
  stats: z.object({ totalBytes: z.number(), newBytes: z.number(), packBytes: z.number(), newChunks: z.number(), reusedChunks: z.number(), durationMs: z.number() }),
  /** System-specific facts for drills (edge: lastSeq, receiptSeq, row counts; central: counts). */
  info: z.record(z.string(), z.unknown()),
});
export type Manifest = z.infer<typeof manifestSchema>;

export type SnapshotKind = Manifest['kind'];

export interface SnapshotName {
  snapshotId: string;
  chainId: string;
  at: Date;
  kind: SnapshotKind;
}

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace('.', '');

export function newSnapshotId(kind: SnapshotKind, chainId: string | null, at = new Date()): SnapshotName {
  const chain = kind === 'full' || !chainId ? `c${stamp(at)}` : chainId;
  return { snapshotId: `${chain}_${stamp(at)}_${kind === 'full' ? 'full' : 'incr'}`, chainId: chain, at, kind };
}

const NAME = /^(c\d{8}T\d{9}Z)_(\d{8}T\d{9}Z)_(full|incr)$/;

export function parseSnapshotId(id: string): SnapshotName | null {
  const m = NAME.exec(id);
  if (!m) return null;
  const t = m[2]!;
  const at = new Date(`${t.slice(0, 4)}-${t.slice(4, 6)}-${t.slice(6, 8)}T${t.slice(9, 11)}:${t.slice(11, 13)}:${t.slice(13, 15)}.${t.slice(15, 18)}Z`);
  return { snapshotId: id, chainId: m[1]!, at, kind: m[3] === 'full' ? 'full' : 'incremental' };
}

export const packName = (snapshotId: string) => `${snapshotId}.pack`;
export const manifestName = (snapshotId: string) => `${snapshotId}.manifest`;
/** Object names a target accepts: no path separators, no dot files. */
export const OBJECT_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
