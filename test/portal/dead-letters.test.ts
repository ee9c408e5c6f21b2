/**
 * The portal's view of the data flow's refusals and of the dictionaries each clinic holds:
 * messages central could not apply (made by the ingest's own check, `toItem`, from forged and
 * malformed bytes, then applied through the warehouse as the consumer does) appear on the fleet
 * page as a count per clinic and on the dead-letter page with their reason in Chinese, what to
 * do, and the message as received; a centre manager sees only their own clinic's; every view is
 * audited; whatever bytes a sender publishes, the page renders them as text (fast-check).
 * Screenshots: /tmp/ui-portal-fleet-dicts.png, /tmp/ui-portal-dead-letters.png.
 */
import t from 'tap';
import fc from 'fast-check';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { toItem } from '../../central/ingest/consumer.ts';
import { formatHlc } from '../../contracts/hlc.ts';
import { browserLogin, Client, startPortal } from './portal-server.ts';

const enc = (s: string) => new TextEncoder().encode(s);
const envelope = (clinicId: string, seq: number, payload: unknown) => JSON.stringify({
  recordId: `rec-${clinicId}-${seq}`, type: 'observation', clinicId, version: 1, seq, hlc: formatHlc({ ms: Date.parse('2026-12-01T08:00:00Z'), counter: seq % 1000, node: clinicId }), schemaVersion: 1, createdAt: '2026-12-01T08:00:00.000Z', payload,
});

t.test('dead letters and dictionary versions in the portal', async (t) => {
  const p = await startPortal();
  t.teardown(() => p.close());
  const wh = p.wh;

  // Dictionaries: drugs published twice at central; c01 reports v1 of it, c02 the latest of all.
  const items = [{ code: 'X01', name: '阿司匹林肠溶片', active: true, attrs: {} }];
  await wh.saveDictionary('drugs', items);
  const v2 = await wh.saveDictionary('drugs', items);
  await wh.saveDictionary('departments', [{ code: 'D01', name: '全科', active: true, attrs: {} }]);
  const latest = new Map((await wh.latestDictionaries()).map((d) => [d.name, d.version]));
  const held = Object.fromEntries(latest);
  const hb = (clinicId: string, dictionaries: Record<string, number>) => wh.recordHeartbeat({ clinicId, agentVersion: '0.1.0', at: new Date().toISOString(), lastSeq: 0, receiptSeq: 0, outboxDepth: 0, oldestPendingAgeSec: 0, relayState: 'connected', dictionaries });
  await hb('c01-xinhua', { ...held, drugs: v2.version - 1 });
  await hb('c02-dongfeng', held);

  // Refused messages, as the consumer makes them from what arrives on the subjects.
  const items1 = [
    toItem({ subject: 'clinic.c01-xinhua.rec.observation', data: enc('{"not json') }),
    toItem({ subject: 'clinic.c01-xinhua.rec.observation', data: enc(envelope('c02-dongfeng', 7, {})) }),
    // A record of c02's that fails its schema, at the clinic's next seq: refused, and it takes its place in the sequence (no gap).
    toItem({ subject: 'clinic.c02-dongfeng.rec.observation', data: enc(envelope('c02-dongfeng', (await wh.watermark('c02-dongfeng')).appliedSeq + 1, { residentId: 'R1', name: '张<b>三</b>', value: 'x' })) }),
  ];
  t.same(items1.map((i) => i.kind === 'dead' && [i.reason, i.clinicId]), [['not_json', 'c01-xinhua'], ['clinic_mismatch', 'c01-xinhua'], ['schema', 'c02-dongfeng']],
    'each refusal names its reason and the clinic of the subject it came on (the publishing clinic)');
  await wh.ingest(items1);

  // HTTP: the district manager sees all, a centre manager only their clinic's.
  const district = await Client.login(p.url, 'district', p.users.district);
  const fleet = await (await district.get('/portal/fleet')).text();
  t.match(fleet, new RegExp(`药品 v${v2.version - 1}（最新 v${v2.version}）`), 'the clinic behind on a dictionary shows which one and the latest version');
  t.match(fleet, new RegExp(`均为最新（${latest.size} 种）`), 'the clinic holding every latest version says so');
  t.match(fleet, /查看无法入库的消息（3）/, 'the refused messages are counted on the fleet page');
  const all = await (await district.get('/portal/dead-letters')).text();
  for (const [re, what] of [[/不是 JSON/, 'not_json named in Chinese'], [/机构不符（疑似伪造）/, 'clinic_mismatch named'], [/内容不符合数据规范/, 'schema named'], [/作为安全事件核查/, 'what to do about a forged one'], [/张&lt;b&gt;三&lt;\/b&gt;/, 'the message as received, escaped']] as const) t.match(all, re, what);
  t.notMatch(all, /张<b>三/, 'no markup from a message reaches the page');
  const filtered = await (await district.get('/portal/dead-letters?reason=schema')).text();
  t.equal((filtered.match(/data-testid="dead-letter"/g) ?? []).length, 1, 'filter by reason');
  const a = await Client.login(p.url, 'managera', p.users.managera);
  const mine = await (await a.get('/portal/dead-letters')).text();
  t.equal((mine.match(/data-testid="dead-letter"/g) ?? []).length, 2, 'a centre manager sees the two of their clinic');
  t.notMatch(mine, /c02-dongfeng.rec/, 'and not another clinic\'s');
  const other = await (await a.get('/portal/dead-letters?clinic=c02-dongfeng')).text();
  t.equal((other.match(/data-testid="dead-letter"/g) ?? []).length, 0, 'asking for another clinic by name gives nothing');
  const qc = await Client.login(p.url, 'qcofficer', p.users.qc);
  t.equal((await qc.get('/portal/dead-letters')).status, 403, 'a QC officer (no fleet permission) is refused');
  const audited = wh.db.prepare<[], { actor: string; target: string }>("SELECT actor, target FROM audit_log WHERE action = 'portal.dead-letters.view' ORDER BY id").all();
  t.ok(audited.some((r) => r.actor === 'portal:managera' && /clinic=c02-dongfeng/.test(r.target)), 'each view is audited with its filter');
  t.ok(audited.some((r) => r.actor === 'portal:district' && /ids=\d+,\d+,\d+/.test(r.target)), 'and the messages it showed');

  // Whatever bytes arrive on a subject: refused or applied, the page answers and shows them as text.
  // Bytes, JSON of any shape, and envelopes with any payload at an already used seq (refused, and
  // logged as a collision too), so that most reasons come up.
  const anyMessage = fc.constantFrom('observation', 'resident', 'nope').chain((type) => fc.tuple(fc.constant(type), fc.oneof(
    fc.uint8Array({ maxLength: 700 }),
    fc.json({ maxDepth: 3 }).map(enc),
    fc.object({ maxDepth: 2 }).map((payload) => enc(envelope('c01-xinhua', 1, payload).replace('"type":"observation"', `"type":${JSON.stringify(type)}`))),
  )));
  await fc.assert(fc.asyncProperty(anyMessage, async ([type, bytes]) => {
    const before = (await wh.deadLetters(1))[0]?.id ?? 0;
    await wh.ingest([toItem({ subject: `clinic.c01-xinhua.rec.${type}`, data: bytes })]);
    const res = await district.get('/portal/dead-letters?clinic=c01-xinhua');
    const html = await res.text();
    const newest = (await wh.deadLetters(1))[0]!;
    return res.status === 200 && newest.id > before && html.includes(`>${newest.id}<`) && !/<script/i.test(html.replace(/<script src="[^"]*"><\/script>/g, ''));
  }), { numRuns: 25 });
  t.pass('25 generated messages refused, each listed, the page intact');
  t.ok(fleetRowsState(await (await district.get('/portal/fleet')).text()), 'no clinic shows a gap: every refused record with its seq took its place');

  // In the browser: fleet -> the dead-letter page, filter, open one message, export.
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await browserLogin(page, p.url, 'admin', p.users.admin);
  await page.goto(`${p.url}/portal/fleet`);
  await page.screenshot({ path: screenshotPath('portal-fleet-dicts'), fullPage: true });
  const rows = await page.locator('[data-testid=table-fleet] tbody tr').allTextContents();
  t.ok(rows.some((r) => r.includes('c01-xinhua') && r.includes(`药品 v${v2.version - 1}`)), 'fleet row of c01 names the dictionary it lacks');
  await page.click('[data-testid=fleet-dead-link]');
  await page.waitForURL(/\/portal\/dead-letters$/);
  await page.selectOption('[data-testid=dead-letters-filter] select[name=reason]', 'clinic_mismatch');
  await page.click('[data-testid=dead-letters-filter] button');
  await page.waitForURL(/reason=clinic_mismatch/);
  t.equal(await page.locator('[data-testid=dead-letter]').count(), 1, 'the filter form narrows the list');
  await page.click('[data-testid=dead-letter] details summary');
  t.match(await page.textContent('[data-testid=dead-letter] details pre'), /"clinicId":"c02-dongfeng"/, 'the forged envelope as received');
  await page.screenshot({ path: screenshotPath('portal-dead-letters'), fullPage: true });
  const [download] = await Promise.all([page.waitForEvent('download'), page.click('[data-testid=export-dead-letters]')]);
  t.ok(await download.path(), 'the list exports to Excel');
});

/** No fleet row is in the gap state (缺号). */
function fleetRowsState(html: string): boolean {
  return !/<td class="">缺号<\/td>/.test(html);
}
