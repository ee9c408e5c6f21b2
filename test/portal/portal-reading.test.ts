/**
 * Remote reading in the portal (远程阅片, tender 1.5.2 §2): the district hospital's radiologist
 * lists the clinics' studies waiting for a report, opens one, sees its images as previews
 * rendered in a real preview thread (a JPEG baseline ultrasound made by dcmtk, an uncompressed DR)
 * and issues a report, which the clinics' report pull then carries back. Scope (a centre manager
 * sees their clinics' studies only), roles (only a radiologist reports), the report rules (empty
 * fields, order of statuses, a form opened before someone else's version), audit entries, generated
 * input in the filters and the report text, and the pages in Chromium (/tmp/ui-portal-reading*.png).
 */
import t from 'tap';
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openImagingIndex } from '../../central/imaging/index.ts';
import type { IndexedInstance } from '../../central/imaging/index-store.ts';
import { buildPart10 } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { run } from '../../device-drivers/dicom/test-support/harness.ts';
import { launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { browserLogin, Client, PASSWORD, startPortal } from './portal-server.ts';
import { createPortalUser } from '../../central/portal/index.ts';

const uid = () => `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`)}`;
const US = '1.2.840.10008.5.1.4.1.1.6.1';
const DX = '1.2.840.10008.5.1.4.1.1.1.1';

function pixels(rows: number, cols: number, bytes: 1 | 2): Buffer {
  const b = Buffer.alloc(rows * cols * bytes);
  for (let y = 0; y < rows; y++) for (let x = 0; x < cols; x++) {
    const v = x > cols / 3 && x < (2 * cols) / 3 && y > rows / 3 && y < (2 * rows) / 3 ? 1 : (x + y) / (rows + cols);
    if (bytes === 1) b[y * cols + x] = Math.round(v * 230); else b.writeUInt16LE(Math.round(v * 4000), (y * cols + x) * 2);
  }
  return b;
}

t.test('remote reading: list, study with previews, reports, scope, roles, audit', async (t) => {
  const p = await startPortal({ previews: true });
  t.teardown(() => p.close());
  const ix = openImagingIndex(p.wh);
  await ix.ready();

  // c01: an ultrasound study of two JPEG baseline images (dcmcjpeg, as US machines send them);
  // c02: a DR study, uncompressed 16-bit; c01: an older study already reported.
  const [us, dr, old] = [uid(), uid(), uid()];
  const put = async (clinicId: string, study: string, o: { sop: string; file: string; ts: string; modality: string; name: string; pid: string; acc: string; date: string; n: number; rows: number; cols: number; at?: string }) => {
    const i: IndexedInstance = {
      sopInstanceUid: o.sop, clinicId, studyInstanceUid: study, seriesInstanceUid: `${study}.1`, sopClassUid: o.modality === 'US' ? US : DX, transferSyntaxUid: o.ts,
      size: 1000, sha256: '0'.repeat(64), path: o.file, patientId: o.pid, patientName: o.name, patientBirthDate: '19580312', patientSex: 'F', accessionNumber: o.acc,
      modality: o.modality, studyDate: o.date, studyTime: '093000', studyDescription: o.modality === 'US' ? '腹部超声' : '胸部正位', seriesNumber: '1', instanceNumber: String(o.n),
      rows: o.rows, columns: o.cols, numberOfFrames: null, stationAe: `${o.modality}_ROOM1`, receivedAt: o.at ?? new Date().toISOString(),
    };
    await ix.upsertInstance(i);
  };
  const usSops: string[] = [];
  for (const n of [1, 2]) {
    const sop = uid();
    const raw = join(p.dir, `us-${n}.dcm`);
    writeFileSync(raw, buildPart10({ sopClassUid: US, sopInstanceUid: sop, studyInstanceUid: us, seriesInstanceUid: `${us}.1`, modality: 'US', rows: 240, columns: 320, pixels: pixels(240, 320, 1) }));
    const jpeg = join(p.dir, `us-${n}-jpeg.dcm`);
    t.equal((await run('dcmcjpeg', ['+eb', raw, jpeg])).code, 0, 'dcmcjpeg');
    await put('c01-xinhua', us, { sop, file: jpeg, ts: '1.2.840.10008.1.2.4.50', modality: 'US', name: '刘^淑英', pid: 'P-LIU', acc: 'ACC-US-1', date: '20261130', n, rows: 240, cols: 320 });
    usSops.push(sop);
  }
  const drSop = uid();
  const drFile = join(p.dir, 'dr.dcm');
  writeFileSync(drFile, buildPart10({ sopClassUid: DX, sopInstanceUid: drSop, studyInstanceUid: dr, seriesInstanceUid: `${dr}.1`, modality: 'DX', rows: 400, columns: 300, bitsAllocated: 16, bitsStored: 12, pixels: pixels(400, 300, 2) }));
  await put('c02-dongfeng', dr, { sop: drSop, file: drFile, ts: '1.2.840.10008.1.2.1', modality: 'DX', name: '陈^国强', pid: 'P-CHEN', acc: 'ACC-DR-1', date: '20261201', n: 1, rows: 400, cols: 300 });
  await put('c01-xinhua', old, { sop: uid(), file: drFile, ts: '1.2.840.10008.1.2.1', modality: 'DX', name: '王^建国', pid: 'P-WANG', acc: 'ACC-OLD', date: '20261101', n: 1, rows: 400, cols: 300 });
  await ix.addReport(old, { status: 'final', findings: '双肺纹理清晰', impression: '右下肺结节', positive: true, radiologist: '李医生' });
  // 刘淑英's ultrasound of last year at the same clinic, reported: shown beside this year's.
  const prior = uid();
  await put('c01-xinhua', prior, { sop: uid(), file: drFile, ts: '1.2.840.10008.1.2.1', modality: 'US', name: '刘^淑英', pid: 'P-LIU', acc: 'ACC-US-0', date: '20251015', n: 1, rows: 400, cols: 300, at: new Date(Date.now() - 86_400_000).toISOString() });
  await ix.addReport(prior, { status: 'final', findings: '胆囊壁上见一等回声附着，不随体位移动', impression: '胆囊息肉样病变', positive: true, radiologist: '区医院李医生' });

  // The radiologist lands on the reading list, which shows what waits for a report.
  const rad = await Client.login(p.url, 'radiologist', p.users.radiologist);
  const home = await rad.get('/portal');
  t.equal(home.status, 302, 'a radiologist has no overview page');
  t.equal(home.headers.get('location'), '/portal/imaging/studies', 'and lands on the reading list');
  const list = await (await rad.get('/portal/imaging/studies')).text();
  t.match(list, /陈国强[\s\S]*刘淑英/, 'both unreported studies, newest first');
  t.notMatch(list, /王建国/, 'the reported one is not in the waiting list');
  t.match(list, /class="bad"/, 'waiting studies are marked');
  const all = await (await rad.get('/portal/imaging/studies?status=all')).text();
  t.match(all, /王建国[\s\S]*正式报告（阳性）/, 'all studies: the reported one with its status');
  t.match(await (await rad.get('/portal/imaging/studies?status=all&id=ACC-US-1')).text(), /刘淑英/, 'found by accession number');
  t.notMatch(await (await rad.get('/portal/imaging/studies?status=all&id=ACC-US-1')).text(), /陈国强/, 'and only it');
  t.match(await (await rad.get(`/portal/imaging/studies?status=all&name=${encodeURIComponent('淑英')}`)).text(), /刘淑英/, 'found by part of the name');
  t.match(await (await rad.get(`/portal/imaging/studies?status=all&name=${encodeURIComponent('刘淑英')}`)).text(), /刘淑英/, 'found by the whole name typed without the DICOM separator');
  t.match(await (await rad.get('/portal/imaging/studies?status=all&modality=DX')).text(), /陈国强/, 'by modality');
  t.notMatch(await (await rad.get('/portal/imaging/studies?status=all&modality=DX')).text(), /刘淑英/, 'by modality only');
  t.match(await (await rad.get('/portal/imaging/studies?from=2026-13-01')).text(), /data-testid="studies-error">日期格式应为/, 'a bad date says so');
  t.equal((await rad.get('/portal/indicators')).status, 403, 'indicators are not theirs');

  // The study: images as previews (JPEG baseline decoded in the preview thread), the report form.
  const view = await (await rad.get(`/portal/imaging/studies/${us}`)).text();
  t.match(view, /刘淑英[\s\S]*P-LIU[\s\S]*ACC-US-1/, 'patient, ID and accession');
  t.equal((view.match(/preview\.png\?size=256/g) ?? []).length, 2, 'two thumbnails');
  t.match(view, /data-testid="report-form"/, 'a radiologist gets the report form');
  // 历史检查: the patient's earlier study at this clinic with its report, linked, to compare.
  t.match(view, new RegExp(`data-testid="priors"[\\s\\S]*历史检查（同一患者，本机构，1）[\\s\\S]*href="/portal/imaging/studies/${prior}">2025-10-15[\\s\\S]*正式报告（阳性）[\\s\\S]*胆囊息肉样病变（区医院李医生）`), 'the earlier study with its report');
  t.match(await (await rad.get(`/portal/imaging/studies/${dr}`)).text(), /该患者在本机构没有其他检查/, 'a patient without other studies: said so');
  t.match(await (await rad.get(`/portal/imaging/studies/${prior}`)).text(), new RegExp(`href="/portal/imaging/studies/${us}">2026-11-30`), 'and the other way round');
  // Report templates (报告模板) by modality: the form starts from the chosen one.
  t.match(view, /<option value="us-gallstone">腹部超声 · 胆囊结石<\/option>/, 'ultrasound templates offered for an ultrasound study');
  t.notMatch(view, /dx-chest-normal/, 'not the DR ones');
  const withTemplate = await (await rad.get(`/portal/imaging/studies/${us}?template=us-gallstone`)).text();
  t.match(withTemplate, /<textarea name="findings"[^>]*>胆囊大小正常，壁毛糙，腔内可见一强回声团，大小约__×__mm/, 'the template\'s findings in the form');
  t.match(withTemplate, /<textarea name="impression"[^>]*>胆囊结石。<\/textarea>/);
  t.match(withTemplate, /name="positive" value="1" checked/, 'and positive ticked, as the template says');
  t.match(withTemplate, /<option value="us-gallstone" selected/, 'the chosen template shown');
  t.notMatch(await (await rad.get(`/portal/imaging/studies/${us}?template=${encodeURIComponent('<script>')}`)).text(), /<textarea name="findings"[^>]*>[^<]/, 'an unknown template: an empty form');
  const thumb = await rad.get(`/portal/imaging/instances/${usSops[0]}/preview.png?size=256`);
  t.equal(thumb.status, 200);
  t.equal(thumb.headers.get('content-type'), 'image/png', 'the JPEG baseline image rendered');
  const big = Buffer.from(await (await rad.get(`/portal/imaging/instances/${usSops[0]}/preview.png?size=1024`)).arrayBuffer());
  t.same([big.readUInt32BE(16), big.readUInt32BE(20)], [320, 240], 'the full view at the image\'s own size (no upscaling)');
  const etag = thumb.headers.get('etag')!;
  const revalidated = await rad.req('GET', `/portal/imaging/instances/${usSops[0]}/preview.png?size=256`, undefined);
  t.ok(etag, 'previews carry an ETag');
  const r304 = await fetch(`${p.url}/portal/imaging/instances/${usSops[0]}/preview.png?size=256`, { headers: { cookie: rad.cookie, 'if-none-match': etag } });
  t.same([revalidated.status, r304.status], [200, 304], 'revalidated by ETag without a decode');

  // Reports: refused with the field named, then issued, then the order of statuses is kept.
  const form = (o: Record<string, string>) => rad.post(`/portal/imaging/studies/${us}/reports`, { status: 'final', findings: '肝脏大小形态正常，胆囊内见强回声伴声影', impression: '胆囊结石', positive: '1', after: '0', ...o });
  const empty = await form({ findings: '  ' });
  t.equal(empty.status, 400, 'empty findings refused');
  const emptyHtml = await empty.text();
  t.match(emptyHtml, /data-testid="report-error">检查所见：不能为空/, 'with the field named in Chinese');
  t.match(emptyHtml, /胆囊结石<\/textarea>/, 'and what was typed kept');
  const ok = await form({});
  t.equal(ok.status, 303, 'issued');
  const after = await (await rad.get(ok.headers.get('location')!)).text();
  t.match(after, /data-testid="report-notice"><p>第 1 版报告已签发/, 'the notice');
  t.match(after, /data-testid="report-status">正式报告（阳性）/, 'the study shows its report');
  const stored = await ix.reports(us);
  t.match(stored, [{ version: 1, status: 'final', positive: true, impression: '胆囊结石', radiologist: '区医院赵医生（radiologist）' }], 'stored in the archive\'s index, signed with the radiologist\'s name');
  const cursor = await ix.reportsForClinic('c01-xinhua', 0, 10);
  t.ok(cursor.some((r) => r.studyInstanceUid === us), 'and on the sending clinic\'s report cursor (the edge pulls it back)');
  const stale = await form({ after: '0', status: 'amended', impression: '胆囊多发结石' });
  t.equal(stale.status, 400, 'a form opened before version 1 cannot stack on it unseen');
  t.match(await stale.text(), /已有新版本报告（第 1 版）/);
  const backwards = await form({ after: '1', status: 'preliminary' });
  t.equal(backwards.status, 400, 'a preliminary report after a final one is refused');
  t.match(await backwards.text(), /报告类型顺序不对/);
  t.equal((await form({ after: '1', status: 'amended', impression: '胆囊多发结石' })).status, 303, 'an amendment is a new version');
  t.same((await ix.reports(us)).map((r) => [r.version, r.status, r.impression]), [[1, 'final', '胆囊结石'], [2, 'amended', '胆囊多发结石']], 'the earlier text kept');
  t.notMatch(await (await rad.get('/portal/imaging/studies')).text(), /刘淑英/, 'no longer waiting');

  // Generated report text is shown as text, never markup; generated filter text never fails the list.
  await fc.assert(fc.asyncProperty(fc.string({ minLength: 1, maxLength: 60 }).filter((s) => s.trim().length > 0), async (text) => {
    const v = (await ix.reports(us)).length;
    const r = await form({ after: String(v), status: 'amended', findings: text, impression: `<b>${text}</b>` });
    if (r.status !== 303) throw new Error(`report refused: ${r.status}`);
    const page = await (await rad.get(`/portal/imaging/studies/${us}`)).text();
    if (page.includes(`<b>${text}</b>`)) throw new Error('report text rendered as markup');
  }), { numRuns: 15 });
  await fc.assert(fc.asyncProperty(fc.record({ name: fc.string({ maxLength: 20 }), id: fc.string({ maxLength: 20 }), from: fc.string({ maxLength: 12 }), modality: fc.string({ maxLength: 4 }), offset: fc.string({ maxLength: 6 }) }), async (q) => {
    const r = await rad.get(`/portal/imaging/studies?status=all&${new URLSearchParams(q)}`);
    if (r.status !== 200) throw new Error(`list answered ${r.status} for ${JSON.stringify(q)}`);
  }), { numRuns: 40 });
  t.pass('generated report texts escaped; generated filters answered 200');

  // Scope and roles.
  const a = await Client.login(p.url, 'managera', p.users.managera);
  const mine = await (await a.get('/portal/imaging/studies?status=all')).text();
  t.match(mine, /刘淑英/, 'a centre manager sees their clinic\'s studies');
  t.notMatch(mine, /陈国强/, 'and not another centre\'s');
  t.equal((await a.get(`/portal/imaging/studies/${dr}`)).status, 404, 'another centre\'s study is not found');
  t.equal((await a.get(`/portal/imaging/instances/${drSop}/preview.png`)).status, 404, 'nor its images');
  t.notMatch(await (await a.get(`/portal/imaging/studies/${us}`)).text(), /report-form/, 'a manager reads reports but cannot write them');
  t.equal((await a.post(`/portal/imaging/studies/${us}/reports`, { status: 'amended', findings: 'x', impression: 'y', after: '2' })).status, 403, 'and a report posted anyway is refused');
  // Paging over a centre's two clinics: the merged list is cut into pages once, none lost or repeated.
  const many: string[] = [];
  for (let k = 0; k < 70; k++) {
    const st = uid();
    many.push(st);
    await put(k % 2 ? 's01-heping' : 'c01-xinhua', st, { sop: uid(), file: drFile, ts: '1.2.840.10008.1.2.1', modality: 'DX', name: `测试^${k}`, pid: `P-M${k}`, acc: `ACC-M${k}`, date: `202610${String(1 + (k % 28)).padStart(2, '0')}`, n: 1, rows: 400, cols: 300, at: new Date(Date.now() + 60_000 + k * 1000).toISOString() });
  }
  const uids = (html: string) => [...html.matchAll(/href="\/portal\/imaging\/studies\/([0-9.]+)"/g)].map((m) => m[1]!);
  const page1 = await (await a.get('/portal/imaging/studies?status=all')).text();
  const next = /data-testid="next-page" href="([^"]+)"|href="([^"]+)" data-testid="next-page"/.exec(page1);
  t.ok(next, 'a next page');
  const page2 = await (await a.get((next![1] ?? next![2]!).replaceAll('&amp;', '&'))).text();
  const seen = [...uids(page1), ...uids(page2)];
  t.equal(uids(page1).length, 50, 'fifty on the first page');
  t.same(uids(page1).slice(0, 3), [many[69], many[68], many[67]], 'latest arrivals first, across the two clinics');
  t.equal(new Set(seen).size, seen.length, 'no study on both pages');
  t.ok(many.every((st) => seen.includes(st)), 'every study of both clinics on one of the two pages');
  const aud = await Client.login(p.url, 'auditor', p.users.auditor);
  t.equal((await aud.get('/portal/imaging/studies')).status, 403, 'the auditor does not open patient images');
  t.equal((await rad.req('POST', `/portal/imaging/studies/${us}/reports`, { status: 'amended', findings: 'x', impression: 'y', after: '99' })).status, 403, 'no CSRF token: refused');

  const audit = p.wh.db.prepare("SELECT actor, action, target, outcome FROM audit_log WHERE action LIKE 'portal.imaging.%' ORDER BY id").all() as { actor: string; action: string; target: string; outcome: string }[];
  t.ok(audit.some((e) => e.action === 'portal.imaging.study.view' && e.actor === 'portal:radiologist' && e.target === `c01-xinhua ${us}`), 'study views audited');
  t.ok(audit.some((e) => e.action === 'portal.imaging.image.view' && e.target.includes(usSops[0]!)), 'full-size image views audited');
  t.ok(audit.some((e) => e.action === 'portal.imaging.report.add' && /^version 1 final positive/.test(e.outcome)), 'issued reports audited');
  t.ok(audit.some((e) => e.action === 'portal.imaging.report.add' && /^refused: findings too_small/.test(e.outcome)), 'refused ones too, with why');

  // In Chromium: the radiologist's list, the study with its previews, a report issued through the form.
  await using browser = await launchBrowser();
  const b = await browser.newPage();
  // A second radiologist (the first one's TOTP code of this half-minute is spent: replays are refused).
  const second = await createPortalUser(p.wh, { username: 'radiologist2', displayName: '区医院孙医生', password: PASSWORD, role: 'radiologist', orgId: 'district' });
  await browserLogin(b, p.url, 'radiologist2', second.secret, /\/portal\/imaging\/studies$/);
  await b.selectOption('[data-testid=studies-filter] select[name=status]', 'all');
  await b.fill('[data-testid=studies-filter] input[name=id]', 'ACC-DR-1');
  await b.click('[data-testid=studies-filter] button');
  await b.waitForURL(/status=all/);
  await b.screenshot({ path: screenshotPath('portal-reading-list'), fullPage: true });
  await b.click(`a[href="/portal/imaging/studies/${dr}"]`);
  await b.waitForFunction(() => [...document.querySelectorAll('[data-testid=thumbnails] img')].every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0));
  t.equal(await b.locator('[data-testid=thumbnails] img').count(), 1, 'the DR image shown');
  // A template chosen from the list (the page reloads with it, no script of the page's own).
  t.same(await b.locator('[data-testid=template-form] option').allInnerTexts(), ['（不用模板）', '胸部正位片 · 未见异常', '胸部正位片 · 肺纹理增粗', '腰椎正侧位片 · 退行性变'], 'DR templates for a DR study');
  await b.selectOption('[data-testid=template-form] select', 'dx-chest-normal');
  await b.waitForURL(/template=dx-chest-normal/);
  t.match(await b.inputValue('textarea[name=findings]'), /^胸廓对称，气管居中。/, 'the template\'s findings in the form');
  await b.fill('textarea[name=impression]', '心、肺、膈未见明显异常。请结合临床。');
  await b.screenshot({ path: screenshotPath('portal-reading-template'), fullPage: true });
  await b.click('[data-testid=report-form] button[type=submit]');
  await b.waitForURL(/saved=1/);
  t.match(await b.locator('[data-testid=report-status]').innerText(), /正式报告（阴性）/, 'issued from the browser: final, negative');
  t.match((await ix.reports(dr)).at(-1), { findings: /^胸廓对称，气管居中。/, impression: '心、肺、膈未见明显异常。请结合临床。', positive: false }, 'the template\'s text as edited, stored');
  await b.screenshot({ path: screenshotPath('portal-reading-study'), fullPage: true });
});
