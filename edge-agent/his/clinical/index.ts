/**
 * The clinical workstations module ([clinic] issue): doctor's queue and visit, orders and
 * prescriptions, nurse execution. Migrations 350-399. (Skeleton: filled in by the [clinic] work.)
 */
import type { EdgeModule } from '../../modules.ts';

export const clinicalModule: EdgeModule = {
  name: 'clinical',
  migrations: [],
  nav: [],
  async start() {
    return { stop: async () => {} };
  },
};
