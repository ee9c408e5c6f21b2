/**
 * Central side of backups ([backup] issue): off-site target for edge backups, central's own
 * backup scheduler and restore-drill status. (Skeleton: filled in by the [backup] work.)
 */
import type { Hono } from 'hono';
import type { CentralMountDeps, Mounted } from '../portal/index.ts';

// Hono's generic parameters vary per app; mounts only add routes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mountCentralBackup(_app: Hono<any, any, any>, _deps: CentralMountDeps): Promise<Mounted> {
  return { stop: async () => {} };
}
