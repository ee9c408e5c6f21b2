/** Messages between the `Relay` (main thread) and its worker (`relay-worker.ts`). */
import type { NatsTls } from '../../contracts/runtime/nats-tls.ts';
import type { RelayCounters, RelayOptions, RelayState } from './relay-core.ts';

/** How the worker opens its own NATS connection (the same user as the agent's). */
export interface RelayConnection {
  servers: string[];
  name: string;
  user?: string;
  pass?: string;
  inboxPrefix: string;
  /** TLS to the hub (the district CA's PEM), as the agent's own connection; the worker builds the option (a function does not cross threads). */
  tls?: NatsTls;
}

export interface RelayWorkerData {
  file: string;
  clinicId: string;
  receiptSeq: number;
  connection: RelayConnection;
  opts: Partial<RelayOptions>;
  /** The store's durability bound (shared memory; see `EdgeStore.durability`). */
  durability: BigInt64Array;
}

export type ToWorker = { t: 'kick' } | { t: 'receipt'; seq: number } | { t: 'stop' };

export type FromWorker =
  | { t: 'ready' }
  | { t: 'status'; state: RelayState; counters: RelayCounters }
  | { t: 'log'; level: 'warn' | 'error'; obj: object; msg: string }
  | { t: 'stopped' }
  | { t: 'fatal'; message: string };
