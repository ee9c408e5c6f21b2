/** Messages between `FactWorkerHost` (central's main thread) and `fact-worker.ts`. */
import type { RefreshResult } from './facts.ts';

/** Where the worker opens its own connection to the warehouse. */
export type FactWorkerTarget = { kind: 'sqlite'; file: string } | { kind: 'postgres'; url: string };

export interface FactWorkerData {
  target: FactWorkerTarget;
  /** Refresh every this many ms (0: only on request). */
  intervalMs: number;
  /** Records per fact batch (one transaction each). */
  batch: number;
  /** SQLite: the write gate shared with the main thread's writers (central/warehouse/write-gate.ts). */
  writeGate?: SharedArrayBuffer;
}

export interface PassResult extends RefreshResult {
  /** `an_meta.facts_gen` after the pass. */
  gen: number;
  /** fd_team records added organisation units. */
  orgChanged: boolean;
  warmed: number;
  /** The worker's fact batches so far and the time their transactions took. */
  tx: { batches: number; txMs: number; txMaxMs: number };
}

export type ToFactWorker =
  | { t: 'refresh'; id: number; warm: boolean }
  /** Compute and store (an_agg) a fact measure's rows for a period unless stored: a page's first computation, off the main thread. */
  | { t: 'load'; id: number; mkey: string; period: string }
  | { t: 'stop' }
  /** Test hook: throw an uncaught exception in the worker. */
  | { t: 'crash' };

export type FromFactWorker =
  | { t: 'ready' }
  | { t: 'refreshed'; r: PassResult; id?: number }
  | { t: 'loaded'; id: number }
  | { t: 'error'; message: string; id?: number }
  | { t: 'fatal'; message: string }
  | { t: 'stopped' };
