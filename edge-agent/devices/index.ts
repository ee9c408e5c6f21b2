/** The devices feature module of the edge agent: registry, drivers, binding, critical values. */
import { loadDevicesConfig, type DevicesConfig } from './config.ts';
import type { EdgeModule } from '../modules.ts';
import { Alerts } from './alerts.ts';
import { devicesApi } from './api.ts';
import { Ingest } from './ingest.ts';
import { DeviceManager } from './manager.ts';
import { registerDevicesMetrics } from './metrics.ts';
import { deviceMigrations } from './migrations.ts';
import { ProfileCatalog } from './profiles.ts';
import { CriticalRanges } from './ranges.ts';
import { DeviceRegistry } from './registry.ts';
import { mountDevicePages } from './routes.tsx';
import { LAB_ROLES, LabService } from './lab.ts';
import { mountLabPages } from './lab-routes.tsx';
import { VIEW_ROLES, type DevicesService } from './service.ts';

export type { DevicesService } from './service.ts';

/** Build the module; `config` overrides the EDGE_DEVICES_* environment (tests). */
export function devicesModule(config?: Partial<DevicesConfig>): EdgeModule {
  return {
    name: 'devices',
    migrations: deviceMigrations,
    nav: [{ href: '/devices', label: { 'zh-CN': '设备管理', en: 'Devices' }, roles: VIEW_ROLES }, { href: '/devices/lab', label: { 'zh-CN': '检验审核', en: 'Lab review' }, roles: LAB_ROLES }],
    async start(ctx) {
      const cfg = { ...loadDevicesConfig(), ...config };
      const db = ctx.store.db;
      const profiles = new ProfileCatalog(cfg.profileDir);
      const registry = new DeviceRegistry(db, ctx.accounts, profiles);
      const ranges = new CriticalRanges(db, ctx.accounts, profiles);
      const alerts = new Alerts(db, ctx.accounts);
      const ingest = new Ingest(ctx.store, ctx.accounts, profiles, ranges);
      const manager = new DeviceManager(cfg, registry, profiles, ingest, ctx.log);
      const lab = new LabService(ctx.store, ctx.accounts, profiles, ingest);
      const s: DevicesService = { db, registry, manager, ingest, alerts, ranges, profiles, lab };
      registry.onChange = (id) => { void manager.sync(id).catch((e: Error) => ctx.log.error({ device: id, err: e.message }, 'device sync failed')); };
      ingest.onCritical(() => ctx.log.warn({ open: alerts.openCount() }, 'critical value raised'));
      await manager.start();
      ctx.app.route('/api/devices', devicesApi(s, ctx.accounts));
      // Before the device pages: /devices/:id would otherwise take /devices/lab and /devices/trend.
      mountLabPages(ctx.ui, s, lab);
      mountDevicePages(ctx.ui, s);
      registerDevicesMetrics(ctx.registry, s);
      devicesByStore.set(ctx.store.clinicId, s);
      return {
        stop: async () => { devicesByStore.delete(ctx.store.clinicId); await manager.stop(); },
        health: () => ({ ok: true, detail: `${registry.list().filter((d) => d.enabled).length} device(s) enabled, ${ingest.unboundCount()} unbound reading(s), ${alerts.openCount()} open critical alert(s)` }),
      };
    },
  };
}

/** The running module per clinic id (tests and tools in the same process). */
export const devicesByStore = new Map<string, DevicesService>();
