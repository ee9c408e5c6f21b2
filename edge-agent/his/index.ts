/**
 * The clinic HIS module ([clinic] issue): residents, schedule and registration, cashier,
 * pharmacy and statistics. Migrations 300-349.
 *
 * Shared with the clinical workstations (edge-agent/his/clinical):
 * - `setRegistrationStatus(tx, id, status)` from `registrations.ts`
 * - `addCharges(tx, lines)` from `charges.ts`
 * - `stockOf(db, drugCode)` from `stock.ts`
 */
import type { EdgeModule } from '../modules.ts';
import { hisMigrations } from './migrations.ts';
import { backfillExt } from './residents.ts';
import { CASH_ROLES, mountHisPages, PHARM_ROLES, REG_ROLES, STATS_ROLES } from './routes.tsx';

export { setRegistrationStatus, type RegistrationStatus } from './registrations.ts';
export { addCharges, type ChargeInput } from './charges.ts';
export { stockOf } from './stock.ts';
export { HisError } from './errors.ts';
export { seedHisDemo } from './seed.ts';

export const hisModule: EdgeModule = {
  name: 'his',
  migrations: hisMigrations,
  nav: [
    { href: '/his/registration', label: { 'zh-CN': '挂号', en: 'Registration' }, roles: REG_ROLES },
    { href: '/his/cashier', label: { 'zh-CN': '收费', en: 'Cashier' }, roles: CASH_ROLES },
    { href: '/his/pharmacy', label: { 'zh-CN': '药房', en: 'Pharmacy' }, roles: PHARM_ROLES },
    { href: '/his/stats', label: { 'zh-CN': '统计', en: 'Statistics' }, roles: STATS_ROLES },
  ],
  async start(ctx) {
    mountHisPages(ctx.ui, ctx.store, ctx.accounts, ctx.config.clinicName);
    // Residents written by others (central, simulator) get their search keys shortly after.
    let timer: NodeJS.Timeout | null = null;
    let lastRowid = 0;
    const backfill = () => {
      timer = null;
      try {
        const before = lastRowid;
        // 10 ms slices with a pause after each: device readings and requests run in between.
        lastRowid = backfillExt(ctx.store.db, lastRowid, 200, 10).lastRowid;
        if (lastRowid !== before && !timer) timer = setTimeout(backfill, 20);
      } catch (e) { ctx.log.warn({ err: (e as Error).message }, 'his: resident search keys backfill failed'); }
    };
    const onWritten = () => { if (!timer) timer = setTimeout(backfill, 1000); };
    ctx.store.on('written', onWritten);
    backfill();
    return {
      stop: async () => { ctx.store.off('written', onWritten); if (timer) clearTimeout(timer); },
      health: () => ({ ok: true }),
    };
  },
};
