/**
 * The district managers' portal ([portal] issue), mounted under /portal: indicators over the
 * organisation hierarchy, QC, performance, fleet, uploads, dictionaries, users and audit.
 * `createPortalAdmin` (or `node --import tsx central/portal/setup.ts admin`) creates the first
 * account; `seedPortalDemo` seeds the demo district (organisation, population, staffing).
 */
import type { Hono } from 'hono';
import type { Logger } from '../../contracts/runtime/index.ts';
import { Analytics } from '../analytics/index.ts';
import { seedOrg } from '../analytics/org.ts';
import { ensureSchema } from '../analytics/schema.ts';
import { sqlFor } from '../analytics/sql.ts';
import type { CentralConfig } from '../config.ts';
import type { Warehouse } from '../warehouse/types.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import type { FactWorkerTarget } from '../analytics/worker-protocol.ts';
import { PortalAccounts, type PortalRole } from './accounts.ts';
import { portalApp, type HubState } from './app.tsx';
import type { ExchangeAvailability } from '../availability/index.ts';
import { runningCentralBackups } from '../backup/index.ts';
import { openImagingIndex } from '../imaging/index.ts';
import type { PreviewRenderer } from '../../contracts/dicom/preview-pool.ts';

export interface CentralMountDeps {
  config: CentralConfig;
  wh: Warehouse;
  log: Logger;
  /** central/imaging's preview thread (the portal's reading pages render through it); null: no previews. */
  previews?: PreviewRenderer | null;
  /** Central's link to the hub, for the fleet and dictionary pages (portal/app.tsx `HubState`). */
  hubState?: () => HubState;
  /** The clinics' data-exchange outage log, for the availability page. */
  availability?: ExchangeAvailability;
}

export interface Mounted {
  stop(): Promise<void>;
}

/** How often facts are brought up to date with applied records (pages show the as-of time). */
export const FACT_REFRESH_MS = 5_000;
/**
 * The fact worker starts this long after the portal is mounted: its first pass catches up with
 * everything applied while central was down, and would otherwise compete (CPU and SQLite's write
 * lock) with the rest of central's start-up.
 */
export const FACT_WORKER_DELAY_MS = 2_000;

export function portalAccounts(wh: Warehouse): PortalAccounts {
  return new PortalAccounts(sqlFor(wh), (actor, action, target, ip, outcome) => wh.audit({ actor: actor.startsWith('portal:') || actor === 'setup' ? actor : `portal:${actor}`, action, target, sourceIp: ip, outcome }));
}

// Hono's generic parameters vary per app; mounts only add routes.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function mountPortal(app: Hono<any, any, any>, deps: CentralMountDeps): Promise<Mounted & { analytics: Analytics }> {
  const analytics = await Analytics.open(deps.wh);
  const accounts = portalAccounts(deps.wh);
  // central/backup mounts after the portal: its status is looked up per request.
  // The image index lives in the warehouse's database (central/imaging mounts and migrates it first).
  const imaging = openImagingIndex(deps.wh);
  app.route('/portal', portalApp({
    analytics, wh: deps.wh, accounts,
    backupStatus: async () => (await runningCentralBackups.get(deps.config.dataDir)?.overview()) ?? null,
    imagingWorkload: async (from, to, clinicId) => { await imaging.ready(); return imaging.workload(from, to, clinicId); },
    imagingReports: async (from, to) => { await imaging.ready(); return imaging.reportActivity(from, to); },
    reading: { index: imaging, previews: deps.previews ?? null },
    ...(deps.hubState ? { hub: deps.hubState } : {}),
    ...(deps.availability ? { availability: deps.availability } : {}),
  }));
  // Fact extraction runs in a worker thread on its own connection, off the thread that ingests.
  analytics.start(FACT_REFRESH_MS, (e) => deps.log.error({ err: e.message }, 'portal facts refresh failed'), { worker: factWorkerTarget(deps), log: deps.log, workerDelayMs: FACT_WORKER_DELAY_MS });
  if ((await accounts.count()) === 0) deps.log.warn('portal has no account yet: create the first administrator with `node --import tsx central/portal/setup.ts admin` (see central/portal/README.md)');
  return { analytics, stop: () => analytics.stop() };
}

/** Where the fact worker opens its own connection (none: a `:memory:` warehouse, refreshed on the main thread). */
function factWorkerTarget(deps: CentralMountDeps): FactWorkerTarget | undefined {
  if (deps.wh instanceof SqliteWarehouse) return deps.wh.file === ':memory:' ? undefined : { kind: 'sqlite', file: deps.wh.file };
  if (deps.config.warehouse === 'postgres' && deps.config.pgUrl) return { kind: 'postgres', url: deps.config.pgUrl };
  return undefined;
}

/** Creates an account (the first administrator, or any account in scripts and tests); returns its TOTP secret and otpauth URI. */
export async function createPortalUser(wh: Warehouse, u: { username: string; displayName: string; password: string; role?: PortalRole; orgId?: string }): Promise<{ secret: string; uri: string }> {
  const db = sqlFor(wh);
  await ensureSchema(db);
  const a = await Analytics.open(wh);
  return portalAccounts(wh).create({ username: u.username, displayName: u.displayName, role: u.role ?? 'admin', orgId: u.orgId ?? a.org().root.id, password: u.password, enrolled: false }, 'setup', 'local');
}

/** The first administrator: refused when any portal account exists already. */
export async function createPortalAdmin(wh: Warehouse, u: { username: string; displayName: string; password: string }): Promise<{ secret: string; uri: string }> {
  await ensureSchema(sqlFor(wh));
  if ((await portalAccounts(wh).count()) > 0) throw new Error('portal accounts exist already: add users in the portal (用户管理) instead');
  return createPortalUser(wh, { ...u, role: 'admin' });
}

/** Demo district: 12 centres, 15 stations, 2 teams per centre, populations and staffing for `year`. Idempotent. */
export async function seedPortalDemo(wh: Warehouse, year = new Date().getFullYear()): Promise<void> {
  const db = sqlFor(wh);
  await ensureSchema(db);
  await seedOrg(db);
  const a = await Analytics.open(wh);
  let i = 0;
  for (const u of a.org().units) {
    if (u.level !== 'centre' && u.level !== 'station') continue;
    i++;
    const permanent = u.level === 'centre' ? 38_000 + ((i * 7919) % 20_000) : 9_000 + ((i * 3571) % 6_000);
    await db.run(`INSERT INTO an_population (org_id, year, permanent, elderly, key_pop, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, 'seed', ?) ON CONFLICT (org_id, year) DO NOTHING`,
      [u.id, year, permanent, Math.round(permanent * 0.16), Math.round(permanent * 0.3), new Date().toISOString()]);
    const doctors = u.level === 'centre' ? 20 + (i % 9) : 3 + (i % 3);
    await db.run(`INSERT INTO an_staffing (org_id, staff, doctors, gps, nurses, updated_by, updated_at) VALUES (?, ?, ?, ?, ?, 'seed', ?) ON CONFLICT (org_id) DO NOTHING`,
      [u.id, Math.round(doctors * 2.6), doctors, Math.ceil(doctors * 0.5), Math.round(doctors * 1.1), new Date().toISOString()]);
  }
}
