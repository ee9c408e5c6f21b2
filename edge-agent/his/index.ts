/**
 * The clinic HIS module ([clinic] issue): residents, schedule and registration, cashier,
 * pharmacy and statistics. Migrations 300-349. (Skeleton: filled in by the [clinic] work.)
 */
import type { EdgeModule } from '../modules.ts';

export const hisModule: EdgeModule = {
  name: 'his',
  migrations: [],
  nav: [],
  async start() {
    return { stop: async () => {} };
  },
};
