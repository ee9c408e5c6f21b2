/**
 * A page whose stored results are not computed yet (a period nobody opened, or right after a bulk
 * load) does not keep the browser waiting: the fact worker computes them while the page answers
 * "being computed" with the data's as-of time and reloads itself; the reload shows the values.
 * PORTAL_COMPUTE_WAIT_MS=0 here so the answer does not depend on how fast the machine is.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, startPortal } from './portal-server.ts';

t.test('first computation: "being computed" page, then the values', async (t) => {
  const p = await startPortal();
  t.teardown(async () => { delete process.env.PORTAL_COMPUTE_WAIT_MS; await p.close(); });
  for (let i = 0; p.analytics.worker?.mode !== 'ready'; i++) { if (i > 3000) throw new Error('fact worker not ready'); await sleep(20); }
  const c = await Client.login(p.url, 'district', p.users.district);
  process.env.PORTAL_COMPUTE_WAIT_MS = '0';
  const path = '/portal/indicators/htn_standard_mgmt?org=district&period=2019';
  const r = await c.get(path);
  const html = await r.text();
  t.equal(r.status, 202, 'answered before the computation ends');
  t.match(html, /data-testid="computing"/, 'says it is being computed');
  t.match(html, /<meta http-equiv="refresh" content="5"/, 'reloads itself');
  t.match(html, /data-testid="as-of"/, 'shows the as-of time of the data');
  // The computation went on in the worker: the reload shows the page.
  let page = '';
  for (let i = 0; i < 500; i++) {
    const again = await c.get(path);
    page = await again.text();
    if (again.status === 200) break;
    await sleep(50);
  }
  t.match(page, /data-testid="value"/, 'the reload shows the value');
  t.equal(p.analytics.engine.computing.size, 0, 'nothing left computing');

  // The same for a case list nobody opened for that period (built chunk by chunk meanwhile).
  const cases = '/portal/indicators/htn_standard_mgmt/cases?org=district&period=2026-05&failing=0';
  const r2 = await c.get(cases);
  t.equal(r2.status, 202, 'case list: answered before the stored list is built');
  t.match(await r2.text(), /data-testid="computing"/);
  let list = '';
  for (let i = 0; i < 500; i++) {
    const again = await c.get(cases);
    list = await again.text();
    if (again.status === 200) break;
    await sleep(50);
  }
  t.match(list, /个案（共 \d+ 人）/, 'the reload shows the list');
  t.equal(p.analytics.computingSince(), null, 'nothing left building');
});
