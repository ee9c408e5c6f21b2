/**
 * End to end with real nats-server, edge agent and central (portal mounted by startCentral): a
 * signed-in manager sees the edge in the fleet page under its institution and the facts loop runs.
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { createPortalUser, seedPortalDemo } from '../../central/portal/index.ts';
import { Client, PASSWORD } from './portal-server.ts';

t.test('portal inside a running central', async (t) => {
  const nats = await startNatsServer();
  const dirs = tempDir('portal-spine');
  const central = await centralInProcess(nats.url, `${dirs.dir}/central`);
  const edge = await edgeInProcess(nats.url, 'c01-xinhua', `${dirs.dir}/edge`);
  t.teardown(async () => { await edge.stop(); await central.stop(); await nats[Symbol.asyncDispose](); dirs.cleanup(); });
  await seedPortalDemo(central.wh, 2026);
  const { secret } = await createPortalUser(central.wh, { username: 'district', displayName: '区管理者', password: PASSWORD, role: 'district_manager', orgId: 'district' });
  const c = await Client.login(central.http.url, 'district', secret);
  // The edge's heartbeats reach central's fleet table; the portal shows them under the institution.
  let fleet = '';
  for (let i = 0; i < 60; i++) {
    fleet = await (await c.get('/portal/fleet')).text();
    if (/新华社区卫生服务中心/.test(fleet)) break; // the running portal re-reads the seeded tree within 5 s
    await new Promise((r) => setTimeout(r, 500));
  }
  t.match(fleet, /c01-xinhua/, 'fleet row from heartbeats');
  t.match(fleet, /新华社区卫生服务中心/, 'mapped to its institution');
  const uploads = await (await c.get('/portal/uploads')).text();
  t.match(uploads, /数据截至 \d{4}-/, 'the refresh loop ran (as-of time shown)');
});
