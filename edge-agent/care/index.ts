/**
 * Public-health and family-doctor services ([care] issue). Migrations 400-499.
 * (Skeleton: filled in by the [care] work.)
 */
import type { EdgeModule } from '../modules.ts';

export const careModule: EdgeModule = {
  name: 'care',
  migrations: [],
  nav: [],
  async start() {
    return { stop: async () => {} };
  },
};
