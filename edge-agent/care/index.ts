/**
 * Public-health and family-doctor services ([care] issue). Migrations 400-499.
 * Health records (WS 365) with QC, hypertension / type 2 diabetes management, elderly and TCM
 * management, health education, family-doctor teams, packages and contracts, referrals,
 * screening. Everything is a record on the spine (contracts/records-care.ts).
 */
import type { EdgeModule } from '../modules.ts';
import { registerFollowerMetrics } from '../sync/follower.ts';
import { careMigrations } from './migrations.ts';
import { CARE_ROLES, mountCarePages } from './routes.tsx';
import { CareService } from './service.ts';
import { CareTransfers, TransferSync } from './transfer.ts';

export { CareService } from './service.ts';
export { seedCareDemo } from './seed.ts';
export { CareTransfers, TransferSync } from './transfer.ts';

/** The running service per clinic id (tests and tools in the same process). */
export const careByClinic = new Map<string, CareService>();
/** The running transfer consumer per clinic id (tests). */
export const transferSyncs = new Map<string, TransferSync>();

export const careModule: EdgeModule = {
  name: 'care',
  migrations: careMigrations,
  nav: [
    { href: '/care/records', label: { 'zh-CN': '健康档案', en: 'Health records' }, roles: CARE_ROLES },
    { href: '/care/transfers', label: { 'zh-CN': '档案迁入', en: 'Record transfers' }, roles: CARE_ROLES },
    { href: '/care/due', label: { 'zh-CN': '慢病随访', en: 'Follow-ups' }, roles: CARE_ROLES },
    { href: '/care/contracts', label: { 'zh-CN': '家医签约', en: 'Contracts' }, roles: CARE_ROLES },
    { href: '/care/screening', label: { 'zh-CN': '人群筛查', en: 'Screening' }, roles: CARE_ROLES },
  ],
  async start(ctx) {
    const s = new CareService(ctx.store, ctx.accounts, ctx.store.clinicId, ctx.config.clinicName);
    const transfers = new CareTransfers(s);
    mountCarePages(ctx.ui, s, transfers);
    careByClinic.set(ctx.store.clinicId, s);
    // Health-record migrations addressed to this clinic, and decisions on ours (from central).
    const sync = new TransferSync(transfers, ctx.store.db, ctx.nc, ctx.store.clinicId, ctx.log);
    const unregister = registerFollowerMetrics(ctx.registry, sync.follower);
    sync.start();
    transferSyncs.set(ctx.store.clinicId, sync);
    return {
      stop: async () => { await sync.stop(); unregister(); transferSyncs.delete(ctx.store.clinicId); careByClinic.delete(ctx.store.clinicId); },
      // Cheap: /healthz is polled often; the due list is computed on its page.
      // Names parked transfer messages (sync_dead_letter); unhealthy only while the follower is blocked.
      health: () => { const f = sync.follower.health(); return { ok: f.ok, detail: `${(ctx.store.db.prepare("SELECT count(*) AS n FROM records WHERE type = 'chronic_enrolment' AND json_extract(payload, '$.status') = 'active'").get() as { n: number }).n} patient(s) in chronic-disease management; record transfers: ${f.detail}` }; },
    };
  },
};
