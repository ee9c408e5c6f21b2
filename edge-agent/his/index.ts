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

export { setRegistrationStatus, type RegistrationStatus } from './registrations.ts';
export { addCharges, type ChargeInput } from './charges.ts';
export { stockOf } from './stock.ts';
export { HisError } from './errors.ts';

export const hisModule: EdgeModule = {
  name: 'his',
  migrations: hisMigrations,
  nav: [],
  async start() {
    return { stop: async () => {} };
  },
};
