/**
 * Edge backup scheduler and status ([backup] issue). Migrations 500-549.
 * (Skeleton: filled in by the [backup] work.)
 */
import type { EdgeModule } from '../modules.ts';

export const backupModule: EdgeModule = {
  name: 'backup',
  migrations: [],
  nav: [],
  async start() {
    return { stop: async () => {} };
  },
};
