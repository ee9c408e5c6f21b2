/**
 * Feature modules of the edge agent (devices, imaging, clinic workflows ...). Each module
 * brings its own migrations (a version range of its own), HTTP routes and pages, navigation
 * entries, metrics and background work; `agent.ts` starts them in this order.
 *
 * Migration version ranges: core 1-99, devices 100-199, imaging 200-299, clinic 300-399 (his 300-349, clinical 350-399), care 400-499, backup 500-549, empi 560-569.
 */
import type { NatsSource } from '../contracts/runtime/nats-link.ts';
import type { Hono } from 'hono';
import type { Registry } from 'prom-client';
import type { Logger, Migration } from '../contracts/runtime/index.ts';
import type { EdgeConfig } from './config.ts';
import type { EdgeStore } from './store/store.ts';
import type { Accounts, Role } from './web/accounts.ts';
import type { WebUi } from './web/app.tsx';
import { devicesModule } from './devices/index.ts';
import { imagingModule } from './imaging/index.ts';
import { hisModule } from './his/index.ts';
import { clinicalModule } from './his/clinical/index.ts';
import { careModule } from './care/index.ts';
import { backupModule } from './backup/index.ts';
import { empiEdgeModule } from './sync/empi.ts';

export interface NavItem {
  href: string;
  label: { 'zh-CN': string; en: string };
  /** Roles that see the entry (empty: everyone signed in). */
  roles: readonly Role[];
}

export interface EdgeModuleContext {
  config: EdgeConfig;
  store: EdgeStore;
  accounts: Accounts;
  // Hono's generic parameters vary per app; modules only add routes.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  app: Hono<any, any, any>;
  ui: WebUi;
  registry: Registry;
  /** The hub connection once it exists (the agent starts without it: contracts/runtime/nats-link.ts). */
  nc: NatsSource;
  log: Logger;
}

export interface EdgeModuleHandle {
  stop(): Promise<void>;
  /** Merged into /healthz. */
  health?: () => { ok: boolean; detail?: string };
}

export interface EdgeModule {
  name: string;
  migrations?: readonly Migration[];
  nav?: readonly NavItem[];
  start(ctx: EdgeModuleContext): Promise<EdgeModuleHandle>;
}

/** Registered modules, started in order. Append one line per module. */
export const edgeModules: EdgeModule[] = [
  devicesModule(),
  imagingModule,
  hisModule,
  clinicalModule,
  careModule,
  backupModule,
  empiEdgeModule,
];
