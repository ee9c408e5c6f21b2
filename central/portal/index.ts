/**
 * The district managers' portal ([portal] issue), mounted under /portal.
 * (Skeleton: filled in by the [portal] work.)
 */
import type { Hono } from 'hono';
import type { Logger } from '../../contracts/runtime/index.ts';
import type { CentralConfig } from '../config.ts';
import type { Warehouse } from '../warehouse/types.ts';

export interface CentralMountDeps {
  config: CentralConfig;
  wh: Warehouse;
  log: Logger;
}

export interface Mounted {
  stop(): Promise<void>;
}

// Hono's generic parameters vary per app; mounts only add routes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mountPortal(_app: Hono<any, any, any>, _deps: CentralMountDeps): Promise<Mounted> {
  return { stop: async () => {} };
}
