/**
 * Data-exchange availability end to end (real nats-server, edge agent, central; Chromium): a
 * clinic's appliance stopped, then the hub stopped, each counted as an outage with its side;
 * the API and the portal's monthly page report them.
 */
import t from 'tap';
import { setTimeout as sleep } from 'node:timers/promises';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { writeActivity } from '../helpers/activity.ts';
import { createPortalUser, seedPortalDemo } from '../../central/portal/index.ts';
import type { AvailabilityReport, Outage } from '../../central/availability/index.ts';
import { browserLogin } from './portal-server.ts';

const auth = { authorization: 'Bearer test-token-0123456789' };
type Answer = AvailabilityReport & { outages: Outage[] };

t.test('outages of a clinic and of the hub, in the API and on the portal', async (t) => {
  await using ns = await startNatsServer();
  const dirs = tempDir('portal-avail');
  t.teardown(dirs.cleanup);
  // A silence of 4 s counts (2 min in production; 8 of the test edge's heartbeats: a loaded machine's
  // pauses of a second or two, with central, the edge and Chromium in one process, must not open
  // outages of their own), checked every 200 ms; records waiting 15 s at a clinic that beats (a stuck
  // relay; 2 min in production) would count too: more than a loaded machine's transient lag.
  let central = await centralInProcess(ns.url, `${dirs.dir}/central`, { exchangeSilenceMs: 4000, exchangeCheckMs: 200, exchangeStallMs: 15_000 });
  t.teardown(() => central.stop());
  let edge = await edgeInProcess(ns.url, 'c01-xinhua', `${dirs.dir}/edge`);
  t.teardown(() => edge.stop());
  await seedPortalDemo(central.wh, 2026);
  const { secret } = await createPortalUser(central.wh, { username: 'ops', displayName: '运维', password: 'Portal-Test-2026!', role: 'admin', orgId: 'district' });
  await waitFor('fleet row', async () => (await central.wh.fleet()).some((f) => f.clinicId === 'c01-xinhua'), 20_000);
  await sleep(4100); // central has been listening longer than a silence: a silence now is the clinic's
  writeActivity(edge, 300, 17); // the clinic's records: the loss rate's denominator
  const report = async () => (await (await fetch(`${central.http.url}/api/availability`, { headers: auth })).json()) as Answer;
  const row = async () => (await report()).clinics.find((c) => c.clinicId === 'c01-xinhua')!;
  t.equal((await row()).outages, 0, 'no outage while the clinic beats');

  // The clinic's appliance stops for a few seconds.
  await edge.stop();
  const stoppedAt = Date.now();
  await waitFor('outage opened', async () => (await row()).downSince !== null, 10_000);
  // Read once the outage is open: no heartbeat can still be on its way.
  const lastBeat = (await central.wh.fleet()).find((f) => f.clinicId === 'c01-xinhua')!.lastHeartbeatAt!;
  await sleep(1500);
  const restarting = Date.now(); // the agent's first heartbeat goes out during its start
  edge = await edgeInProcess(ns.url, 'c01-xinhua', `${dirs.dir}/edge`);
  const back = Date.now();
  await waitFor('outage closed by the next heartbeat', async () => (await row()).downSince === null, 10_000);
  const first = (await report()).outages[0]!;
  t.equal(first.cause, 'clinic', 'the clinic side: central was listening');
  // Exact bounds, not timings: from the last heartbeat before the stop to a heartbeat after the restart.
  t.equal(first.startedAt, lastBeat, 'the outage starts at the clinic\'s last heartbeat');
  t.ok(Date.parse(first.endedAt!) >= restarting, 'and ends at a heartbeat after the restart');
  t.pass(`outage of ${((Date.parse(first.endedAt!) - Date.parse(first.startedAt)) / 1000).toFixed(1)} s for an appliance down ${((back - stoppedAt) / 1000).toFixed(1)} s`);

  // The hub goes down: central stops hearing every clinic; the clinic goes on writing.
  await ns.stop();
  const written = writeActivity(edge, 500, 18);
  await waitFor('second outage opened', async () => (await report()).outages.length === 2, 15_000);
  await ns.restart();
  await waitFor('the records written during the outage applied', async () => (await central.wh.watermark('c01-xinhua')).appliedSeq === written, 30_000);
  await waitFor('second outage closed', async () => (await row()).downSince === null, 30_000);
  const r = await report();
  const c01 = r.clinics.find((c) => c.clinicId === 'c01-xinhua')!;
  t.same(c01.byCause, { clinic: 1, district: 1, planned: 0 }, 'one on each side');
  t.equal(r.outages[1]!.cause, 'district', 'the hub outage is the district side');
  t.ok(c01.availability < 0.999 && !c01.meetsTarget, `availability since the clinic's first heartbeat ${(c01.availability * 100).toFixed(1)} %: target not met`);
  t.same([c01.lostRecords, c01.refusedRecords], [0, 0], 'nothing lost or refused: the outages delayed the records, they did not lose them');
  t.same([c01.records, c01.lossRate, c01.recordsCountedFrom], [written, 0, null], `every record of the clinic counted (${written}, from its first), loss rate 0`);
  t.ok(c01.downtimeSeconds > 0 && c01.longestOutageSeconds <= c01.downtimeSeconds, `downtime ${c01.downtimeSeconds.toFixed(1)} s, longest ${c01.longestOutageSeconds.toFixed(1)} s`);

  // Central itself is down for a while (restarted): the time it heard nothing counts too, the district side's.
  await central.stop();
  await sleep(4500);
  central = await centralInProcess(ns.url, `${dirs.dir}/central`, { exchangeSilenceMs: 4000, exchangeCheckMs: 200, exchangeStallMs: 15_000 });
  await waitFor('the outage of central\'s own downtime, closed by the first heartbeat', async () => { const a = await report(); return a.outages.length === 3 && a.outages[2]!.endedAt !== null; }, 20_000);
  const third = (await report()).outages[2]!;
  t.equal(third.cause, 'district', 'central down: the district side');
  t.ok((Date.parse(third.endedAt!) - Date.parse(third.startedAt)) / 1000 >= 4.5, `back-dated to the last heartbeat before central stopped (${((Date.parse(third.endedAt!) - Date.parse(third.startedAt)) / 1000).toFixed(1)} s, central down at least 4.5 s)`);

  const metrics = await (await fetch(`${central.http.url}/metrics`)).text();
  const ratio = Number(/^central_clinic_exchange_availability_ratio\{clinic="c01-xinhua"\} (\S+)$/m.exec(metrics)?.[1]);
  t.ok(ratio > 0 && ratio < 0.999, `metrics: 30-day availability ${ratio.toFixed(3)} (ExchangeAvailabilityBelowTarget alerts on it)`);
  t.match(metrics, /^central_clinic_exchange_down\{clinic="c01-xinhua"\} 0$/m, 'metrics: not down now');
  t.match(metrics, /^central_clinic_exchange_longest_outage_seconds\{clinic="c01-xinhua"\} [1-9]/m, 'metrics: the longest outage');
  t.match(metrics, /^central_clinic_exchange_loss_ratio\{clinic="c01-xinhua"\} 0$/m, 'metrics: loss ratio 0 (ExchangeLossAboveTarget alerts on it)');
  t.match(metrics, new RegExp(`^central_clinic_exchange_records\\{clinic="c01-xinhua"\\} ${written}$`, 'm'), 'metrics: the records it is taken over');

  // Bad periods: a clear refusal.
  for (const q of ['from=yesterday', 'from=2026-03-02&to=2026-03-01', 'to=2026-13-01']) {
    const res = await fetch(`${central.http.url}/api/availability?${q}`, { headers: auth });
    t.equal(res.status, 400, `${q}: 400`);
    t.match(((await res.json()) as { detail: string }).detail, /date|before/, 'with the reason');
  }
  t.equal((await fetch(`${central.http.url}/api/availability`)).status, 401, 'the API needs the token');

  // Planned maintenance through the API: declared, listed, held in the metrics, cancelled; refusals with the reason.
  const api = (method: string, path: string, body?: unknown) => fetch(`${central.http.url}${path}`, { method, headers: { ...auth, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const soon = Date.now();
  const declared = await api('POST', '/api/maintenance', { clinicId: 'c01-xinhua', startsAt: new Date(soon).toISOString(), endsAt: new Date(soon + 3600_000).toISOString(), reason: '机房断电检修', declaredBy: '网络运维 张工' });
  t.equal(declared.status, 201, 'declared: 201');
  const w = (await declared.json()) as { id: number; clinicId: string; cancelledAt: string | null };
  t.same([w.clinicId, w.cancelledAt], ['c01-xinhua', null]);
  for (const [body, why] of [
    [{ clinicId: 'c01-xinhua', startsAt: new Date(soon - 7200_000).toISOString(), endsAt: new Date(soon - 3600_000).toISOString(), reason: 'x', declaredBy: 'ops' }, /over/],
    [{ clinicId: 'c99-nowhere', startsAt: new Date(soon).toISOString(), endsAt: new Date(soon + 3600_000).toISOString(), reason: 'x', declaredBy: 'ops' }, /unknown clinic/],
    [{ clinicId: null, startsAt: 'soon', endsAt: new Date(soon + 3600_000).toISOString(), reason: 'x', declaredBy: 'ops' }, /ISO/],
  ] as const) {
    const res = await api('POST', '/api/maintenance', body);
    t.equal(res.status, 400, `refused: ${why}`);
    t.match(((await res.json()) as { detail: string }).detail, why, 'with the reason');
  }
  t.equal((await api('POST', '/api/maintenance', { clinicId: null })).status, 400, 'a body missing fields: 400');
  t.same(((await (await api('GET', '/api/maintenance')).json()) as { id: number }[]).map((x) => x.id), [w.id], 'listed');
  // The service gauges share one read per second: waited for, not read once.
  const gauge = (re: RegExp, what: string) => waitFor(what, async () => re.test(await (await fetch(`${central.http.url}/metrics`)).text()), 5000).then(() => t.pass(what));
  await gauge(/^central_clinic_maintenance\{clinic="c01-xinhua"\} 1$/m, 'metrics: in maintenance (its alerts hold)');
  const cancelled = await api('DELETE', `/api/maintenance/${w.id}`);
  t.equal(cancelled.status, 200, 'cancelled');
  t.ok(((await cancelled.json()) as { cancelledAt: string | null }).cancelledAt, 'with the time');
  t.equal((await api('DELETE', '/api/maintenance/987654')).status, 404, 'an unknown window: 404');
  await gauge(/^central_clinic_maintenance\{clinic="c01-xinhua"\} 0$/m, 'metrics: no longer');
  t.equal((await fetch(`${central.http.url}/api/maintenance`)).status, 401, 'the maintenance API needs the token');

  // Out of service through the API: retired, its gauges gone and its alerts held, refusals, back.
  t.equal((await api('POST', '/api/fleet/c01-xinhua/retire', { reason: '', retiredBy: 'ops' })).status, 400, 'no reason: 400');
  t.equal((await api('POST', '/api/fleet/c99-nowhere/retire', { reason: '撤并', retiredBy: 'ops' })).status, 400, 'unknown clinic: 400');
  t.equal((await api('POST', '/api/fleet/c01-xinhua/retire', { reason: '站点撤并', retiredBy: 'ops' })).status, 201, 'retired');
  t.equal((await api('POST', '/api/fleet/c01-xinhua/retire', { reason: 'again', retiredBy: 'ops' })).status, 400, 'not twice');
  t.same(((await (await api('GET', '/api/fleet-retired')).json()) as { clinicId: string }[]).map((r) => r.clinicId), ['c01-xinhua'], 'listed');
  await gauge(/^central_clinic_retired\{clinic="c01-xinhua"\} 1$/m, 'metrics: retired (its alerts hold)');
  // (the availability gauges share one report per second)
  await waitFor('the availability gauges drop the clinic', async () => !/^central_clinic_exchange_availability_ratio\{clinic="c01-xinhua"\}/m.test(await (await fetch(`${central.http.url}/metrics`)).text()), 5000);
  t.pass('no availability gauge for a clinic out of service');
  t.equal((await api('DELETE', '/api/fleet/c01-xinhua/retire')).status, 200, 'back in service');
  t.equal((await api('DELETE', '/api/fleet/c01-xinhua/retire')).status, 404, 'not out of service any more: 404');
  await gauge(/^central_clinic_retired\{clinic="c01-xinhua"\} 0$/m, 'metrics: in service');
  const spec = (await (await fetch(`${central.http.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
  t.ok(spec.paths['/api/availability'], 'documented in OpenAPI');
  t.ok(spec.paths['/api/maintenance'] && spec.paths['/api/maintenance/{id}'], 'maintenance documented in OpenAPI');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await browserLogin(page, central.http.url, 'ops', secret);
  await page.goto(`${central.http.url}/portal/fleet`);
  await page.click('[data-testid=fleet-availability-link]');
  await page.waitForURL(/\/portal\/availability$/);
  const line = page.locator('[data-testid=table-availability] tbody tr', { hasText: 'c01-xinhua' });
  const text = (await line.textContent()) ?? '';
  t.match(text, /新华社区卫生服务中心/, 'the institution');
  t.match(text, /机构侧 1；区级侧（中心\/交换平台） 2/, 'outages by side');
  t.match(text, /✗/, 'target not met');
  t.match(text, /正常/, 'exchanging now');
  t.match(text, new RegExp(`${written}.*0\\.000%`), 'records and loss rate');
  t.equal(await page.locator('[data-testid=table-outages] tbody tr').count(), 3, 'the three outages listed');
  t.match(await page.locator('[data-testid=availability-summary]').textContent(), /1 个机构未达标/, 'the summary counts the clinics that miss the target');
  await page.screenshot({ path: screenshotPath('portal-availability'), fullPage: true });
  await page.goto(`${central.http.url}/portal/availability?month=2025-01&lang=en`);
  t.match(await page.locator('[data-testid=table-availability] tbody tr', { hasText: 'c01-xinhua' }).textContent(), /100\.000%/, 'a month before the clinic joined: nothing counted against it');
  await page.goto(`${central.http.url}/portal/availability?month=bogus`);
  t.match(await page.locator('input[name=month]').inputValue(), /^\d{4}-\d{2}$/, 'a bogus month falls back to this month');
});
