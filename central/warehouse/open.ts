/** Opens the warehouse backend the central config selects (`CENTRAL_WAREHOUSE`). */
import { join } from 'node:path';
import type { CentralConfig } from '../config.ts';
import { PostgresWarehouse } from './postgres.ts';
import { SqliteWarehouse } from './sqlite.ts';
import type { Warehouse } from './types.ts';

export async function openWarehouse(config: Pick<CentralConfig, 'warehouse' | 'pgUrl' | 'dataDir'>): Promise<Warehouse> {
  if (config.warehouse === 'postgres') {
    if (!config.pgUrl) throw new Error('warehouse=postgres needs pgUrl (CENTRAL_PG_URL)');
    return PostgresWarehouse.open(config.pgUrl);
  }
  return new SqliteWarehouse(join(config.dataDir, 'warehouse.db'));
}
