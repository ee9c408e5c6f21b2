import t from 'tap';
import { loadCentralConfig } from '../../central/config.ts';
import { ConfigError } from '../../contracts/runtime/index.ts';

const base = { CENTRAL_DATA_DIR: '/tmp/x', CENTRAL_API_TOKEN: 'test-token-0123456789' };

t.test('warehouse backend from CENTRAL_WAREHOUSE / CENTRAL_PG_URL', async (t) => {
  t.equal(loadCentralConfig(undefined, base).warehouse, 'sqlite', 'SQLite by default');
  const pg = loadCentralConfig(undefined, { ...base, CENTRAL_WAREHOUSE: 'postgres', CENTRAL_PG_URL: 'postgres://central@db:5432/warehouse' });
  t.same({ w: pg.warehouse, u: pg.pgUrl }, { w: 'postgres', u: 'postgres://central@db:5432/warehouse' });
  t.throws(() => loadCentralConfig(undefined, { ...base, CENTRAL_WAREHOUSE: 'postgres' }), ConfigError);
  t.throws(() => loadCentralConfig(undefined, { ...base, CENTRAL_WAREHOUSE: 'postgres' }), /pgUrl \(env CENTRAL_PG_URL\): required when warehouse is postgres/);
  t.throws(() => loadCentralConfig(undefined, { ...base, CENTRAL_WAREHOUSE: 'mysql' }), /warehouse \(env CENTRAL_WAREHOUSE\)/);
});
