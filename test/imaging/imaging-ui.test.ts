/** The 影像 pages in Chromium: device registration + C-ECHO, order form, worklist status, study thumbnails, reconciliation. */
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { clinicToken } from '../../contracts/clinic-token.ts';
import { edgeLogin, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { addResident, imaging, imagingEnv, run, testUid, writeInstance } from './fixtures.ts';
import { buildPart10 } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { writeFileSync } from 'node:fs';

t.test('imaging UI: devices, echo, order, worklist status, study thumbnails, reconciliation (zh-CN)', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-ui');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('imgui');
  imagingEnv({ AE_TITLE: 'EDGE_UI', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: central.http.url, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: clinicToken('test-token-0123456789', clinic), FORWARD_RETRY_MAX_MS: '300' });
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { clinicName: '新华社区卫生服务中心', adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const img = imaging(edge);
  const port = img.scp!.port;
  const resident = addResident(edge, 21, '王建国');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  await page.waitForSelector('[data-testid=sync-card]');
  t.ok(await page.locator('header nav a', { hasText: '影像' }).count(), 'nav has 影像');

  // Devices: register the US room, a loop-back entry for the echo test, and a dead one.
  await page.goto(`${edge.http.url}/imaging/devices`);
  const register = async (ae: string, host: string, p: number, modality: string, room: string) => {
    await page.fill('#ae', ae);
    await page.fill('#host', host);
    await page.fill('#port', String(p));
    await page.selectOption('#modality', modality);
    await page.fill('#room', room);
    await page.click('button.primary');
  };
  await register('US_ROOM1', '127.0.0.1', 104, 'US', 'B超室');
  t.match(await page.locator('.notice').innerText(), /已登记设备 US_ROOM1/);
  await register('EDGE_UI', '127.0.0.1', port, 'OT', '本机（自检）');
  await register('DEAD_DR', '127.0.0.1', 1, 'DX', '放射科');
  await register('US_ROOM1', '127.0.0.1', 104, 'US', '');
  t.match(await page.locator('.error').innerText(), /已登记/, 'duplicate AE refused');
  await page.click('[data-testid="echo-EDGE_UI"]');
  t.match(await page.locator('[data-testid=echo-result]').innerText(), /连接成功/, 'C-ECHO to a live SCP succeeds');
  await page.click('[data-testid="echo-DEAD_DR"]');
  t.match(await page.locator('[data-testid=echo-result]').innerText(), /连接失败.*cannot connect/, 'C-ECHO to a closed port: failure in words');
  await page.screenshot({ path: screenshotPath('imaging-devices'), fullPage: true });

  // One registry: the DICOM devices are the devices module's rows, listed on 设备管理 as well;
  // its register form points DICOM devices here, and its 测试连接 is a C-ECHO; disabling there
  // makes the SCP refuse the device.
  await page.goto(`${edge.http.url}/devices`);
  const table = await page.locator('[data-testid=devices-table]').innerText();
  for (const ae of ['US_ROOM1', 'EDGE_UI', 'DEAD_DR']) t.match(table, new RegExp(ae), `${ae} listed on 设备管理`);
  t.equal(await page.locator('#profileId option[value="dicom-modality"]').count(), 0, 'no second DICOM registration form');
  t.match(await page.locator('[data-testid=dicom-hint]').innerText(), /影像 › DICOM 设备/);
  await page.screenshot({ path: screenshotPath('imaging-devices-registry'), fullPage: true });
  const selfId = img.repo.deviceByAe('EDGE_UI')!.id;
  await page.goto(`${edge.http.url}/devices/${selfId}`);
  await page.click('[data-testid=test-button]');
  t.match(await page.locator('[data-testid=test-result]').innerText(), /C-ECHO ok/, '设备管理 › 测试连接 on a DICOM device is a C-ECHO');
  await page.click('[data-testid=toggle-button]');
  const refused = await run('echoscu', ['-aet', 'EDGE_UI', '-aec', 'EDGE_UI', '127.0.0.1', String(port)]);
  t.not(refused.code, 0, 'disabled on 设备管理: the SCP refuses the association');
  await page.goto(`${edge.http.url}/imaging/devices`);
  t.match(await page.locator('tr[data-ae="EDGE_UI"]').innerText(), /停用/, 'and 影像 › DICOM 设备 shows it disabled');
  await page.click('tr[data-ae="EDGE_UI"] button:has-text("启用")');
  t.equal((await run('echoscu', ['-aet', 'EDGE_UI', '-aec', 'EDGE_UI', '127.0.0.1', String(port)])).code, 0, 'enabled again here: accepted');

  // A study nobody ordered, before any order exists: listed for reconciliation, with no order to
  // link to yet and the way to create one.
  const files = join(tmp.dir, 'files');
  mkdirSync(files);
  const stray = writeInstance(files, { modality: 'US', name: '赵丽', patientId: 'UNKNOWN-1' });
  t.equal((await run('storescu', ['-aet', 'US_ROOM1', '-aec', 'EDGE_UI', '127.0.0.1', String(port), stray.path], { env: { TCP_NODELAY: '1' } })).code, 0);
  await page.goto(`${edge.http.url}/imaging/reconcile`);
  t.match(await page.locator(`tr[data-study="${stray.study}"] [data-testid=no-open-orders]`).innerText(), /没有待检的影像申请可关联[\s\S]*先新建申请/, 'no open order: says so and links to the order form');
  t.equal(await page.locator(`tr[data-study="${stray.study}"] select`).count(), 0, 'no empty choice offered');
  t.equal(await page.locator('[data-testid=reconcile-count]').innerText(), '1', 'the sub-navigation counts the studies waiting');
  t.equal(await page.locator('[data-testid=imaging-subnav] a[aria-current=page]').innerText(), '待核对1', 'and marks the page it is on');
  await page.screenshot({ path: screenshotPath('imaging-reconcile-empty'), fullPage: true });
  await page.click(`tr[data-study="${stray.study}"] a[href="/imaging#new-order"]`);
  t.ok(await page.locator('#new-order #resident').isVisible(), 'the link leads to the order form');

  // Order through the form (by ID number), then the US room fetches the worklist and sends images.
  await page.goto(`${edge.http.url}/imaging`);
  await page.fill('#resident', 'NO-SUCH');
  await page.click('button.primary');
  t.match(await page.locator('.error').innerText(), /找不到居民/, 'unknown resident refused');
  await page.fill('#resident', resident.idNumber);
  await page.selectOption('#procedure', 'US-ABD');
  await page.selectOption('#station', 'US_ROOM1');
  await page.fill('#stime', '09:30');
  await page.click('button.primary');
  t.match(await page.locator('.notice').innerText(), /已创建检查申请/);
  t.match(await page.locator('[data-testid=worklist]').innerText(), /王建国[\s\S]*已预约/, 'worklist shows the order as 已预约');
  const order = img.repo.openOrders()[0]!;

  const series = testUid();
  const sent = [1, 2, 3].map(() => writeInstance(files, { modality: 'US', name: '王建国', patientId: order.residentId, accession: order.accessionNumber, study: order.studyInstanceUid, series }));
  // The same room's JPEG baseline image (as most ultrasound machines send): previewed. (+un: dcmtk
  // would otherwise give the lossy copy a new SOP Instance UID.)
  const jpegSrc = writeInstance(files, { modality: 'US', name: '王建国', patientId: order.residentId, accession: order.accessionNumber, study: order.studyInstanceUid, series, instanceNumber: 4 });
  const jpeg = join(files, 'jpeg-baseline.dcm');
  t.equal((await run('dcmcjpeg', ['+eb', '+un', jpegSrc.path, jpeg])).code, 0, 'dcmcjpeg made a JPEG baseline file');
  // A JPEG 2000 instance whose codestream is cut off after its first marker: stored and forwarded
  // as received; its thumbnail says why there is no preview.
  const j2kSop = testUid();
  const j2k = join(files, 'j2k.dcm');
  writeFileSync(j2k, buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUid: j2kSop, studyInstanceUid: order.studyInstanceUid, seriesInstanceUid: series, modality: 'US', transferSyntaxUid: '1.2.840.10008.1.2.4.90', accessionNumber: order.accessionNumber, patientId: order.residentId, pixels: Buffer.from([0xff, 0x4f, 0xff, 0x51, 0, 0]) }));
  const r = await run('storescu', ['-aet', 'US_ROOM1', '-aec', 'EDGE_UI', '127.0.0.1', String(port), ...sent.map((f) => f.path)], { env: { TCP_NODELAY: '1' } });
  t.equal(r.code, 0, r.stderr);
  const rj = await run('storescu', ['-xv', '-aet', 'US_ROOM1', '-aec', 'EDGE_UI', '127.0.0.1', String(port), j2k], { env: { TCP_NODELAY: '1' } });
  t.equal(rj.code, 0, `JPEG 2000 stored as received: ${rj.stderr}`);
  const rb = await run('storescu', ['-xy', '-aet', 'US_ROOM1', '-aec', 'EDGE_UI', '127.0.0.1', String(port), jpeg], { env: { TCP_NODELAY: '1' } });
  t.equal(rb.code, 0, `JPEG baseline stored as received: ${rb.stderr}`);
  await waitFor('forwarded', () => img.repo.forwardStats().pending === 0, 20_000);
  await page.goto(`${edge.http.url}/imaging`);
  t.match(await page.locator(`[data-accession="${order.accessionNumber}"]`).innerText(), /已上传 5 张/, 'worklist shows 已上传');
  await page.screenshot({ path: screenshotPath('imaging-worklist'), fullPage: true });

  // Study view with thumbnails, the compressed ones decoded in the edge's preview thread; the cut-off
  // J2K instance's tile says why there is no preview.
  await page.click(`a[href="/imaging/studies/${order.studyInstanceUid}"]`);
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=thumbnails] img')].every((i) => (i as HTMLImageElement).complete));
  const loaded = await page.$$eval('[data-testid=thumbnails] img', (imgs) => imgs.map((i) => ({ src: (i as HTMLImageElement).src, w: (i as HTMLImageElement).naturalWidth })));
  t.equal(loaded.length, 5, 'five thumbnails');
  t.ok(loaded.every((i) => i.w > 0), 'every tile shows a picture');
  const answers = await Promise.all(loaded.map(async (i) => { const r = await page.request.get(i.src); return { sop: i.src.split('/').at(-2), status: r.status(), type: r.headers()['content-type'] ?? '', body: (await r.body()).toString('utf8') }; }));
  t.same(answers.filter((a) => a.status === 200 && a.type === 'image/png').length, 4, 'three uncompressed and the JPEG baseline rendered as PNG');
  const j2kTile = answers.find((a) => a.sop === j2kSop);
  t.equal(j2kTile?.status, 415, 'the cut-off JPEG 2000: 415');
  t.match(j2kTile?.type, /image\/svg\+xml/, 'with a picture of the reason');
  t.match(j2kTile?.body, /图像数据不完整或已损坏/, "the reason in Chinese");
  const large = await page.request.get(`${edge.http.url}/imaging/instances/${jpegSrc.sop}/preview.png?size=1024`);
  const largeBody = await large.body();
  t.same([large.status(), largeBody.readUInt32BE(16), largeBody.readUInt32BE(20)], [200, 128, 96], 'the tile opens the large view, at most the image\'s own size');
  t.equal(await page.locator(`a[href$="${jpegSrc.sop}/preview.png?size=1024"] img`).count(), 1, 'the tile links to it');
  const rendered = img.repo.instance(jpegSrc.sop)!;
  const revalidated = await page.request.get(`${edge.http.url}/imaging/instances/${jpegSrc.sop}/preview.png?size=1024`, { headers: { 'if-none-match': large.headers().etag ?? '' } });
  t.same([revalidated.status(), large.headers().etag], [304, `"${rendered.sha256.slice(0, 32)}-1024"`], 'a browser holding it revalidates by ETag (the instance\'s sha256): 304, no decode');
  t.same((await page.locator('[data-testid=ts]').allInnerTexts()).sort(), ['JPEG 2000 lossless', 'JPEG baseline', '未压缩', '未压缩', '未压缩'], 'transfer syntaxes named, "uncompressed" in Chinese');
  const metrics = await (await fetch(`${edge.http.url}/metrics`)).text();
  t.match(metrics, /edge_imaging_previews_total\{outcome="rendered",clinic="[^"]+"\} [4-9]/, 'previews counted: rendered');
  t.match(metrics, /edge_imaging_previews_total\{outcome="unsupported",clinic="[^"]+"\} [1-9]/, 'previews counted: refused with a reason');
  await page.screenshot({ path: screenshotPath('imaging-study'), fullPage: true });

  // Reconciliation: the stray study is linked by hand. More orders for the choice: another of
  // 王建国's, and one of 赵丽's (the name in the stray images), which is offered first.
  const zhao = addResident(edge, 22, '赵丽');
  const newOrder = (residentId: string, code: string, display: string) => edge.store.transactAsync((tx) => img.repo.createOrder(tx, { residentId, modality: 'US', code, display, stationAe: null, scheduledDate: order.scheduledDate, scheduledTime: null, requestedBy: 'admin' }, testUid()));
  const thy = await newOrder(resident.residentId, 'US-THY', '甲状腺超声');
  const zhaoOrder = await newOrder(zhao.residentId, 'US-CAR', '颈动脉超声');
  await page.goto(`${edge.http.url}/imaging/reconcile`);
  t.match(await page.locator('[data-testid=studies]').innerText(), /赵丽[\s\S]*UNKNOWN-1[\s\S]*未匹配/, 'stray study listed with the name in the images');
  const select = page.locator(`tr[data-study="${stray.study}"] select`);
  t.equal(await select.inputValue(), '', 'nothing pre-selected');
  t.same(await select.locator('optgroup[data-group=likely] option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value)), [zhaoOrder.orderId], 'the order of the person named in the images offered first');
  t.match(await select.locator('optgroup[data-group=likely] option').innerText(), /赵丽 · 颈动脉超声 · \d{4}-\d{2}-\d{2}（姓名、检查类型(、日期)?相符）/, 'with what matches');
  const others = await select.locator('optgroup[data-group=others] option').evaluateAll((os) => os.map((o) => (o as HTMLOptionElement).value));
  t.ok(others.includes(thy.orderId) && others.includes(order.orderId), 'the other open orders after them');
  await page.screenshot({ path: screenshotPath('imaging-reconcile'), fullPage: true });
  await page.click(`tr[data-study="${stray.study}"] button`);
  t.equal(img.repo.study(stray.study)!.orderId, null, 'the browser does not submit without a choice (required)');
  const empty = await page.request.post(`${edge.http.url}/imaging/reconcile`, { form: { study: stray.study, order: '' } });
  t.equal(empty.status(), 400, 'an empty choice posted anyway: refused');
  t.match(await empty.text(), /请选择要关联的申请/);
  await page.selectOption(`tr[data-study="${stray.study}"] select`, zhaoOrder.orderId);
  await page.click(`tr[data-study="${stray.study}"] button`);
  t.match(await page.locator('.notice').innerText(), /已关联/);
  t.equal(img.repo.study(stray.study)!.matchKind, 'manual');
  t.equal(img.repo.study(stray.study)!.resolvedBy, 'admin');
  t.equal(img.repo.study(stray.study)!.residentId, zhao.residentId);
  t.equal(await page.locator('[data-testid=reconcile-count]').count(), 0, 'nothing left to reconcile: no count');
  const again = await page.request.post(`${edge.http.url}/imaging/reconcile`, { form: { study: stray.study, order: thy.orderId } });
  t.equal(again.status(), 400, 'a second link from a stale page: refused');
  t.match(await again.text(), new RegExp(`该检查已关联到申请 ${zhaoOrder.accessionNumber}`), 'saying to which order, in Chinese');
  t.equal(img.repo.study(stray.study)!.orderId, zhaoOrder.orderId, 'the first link stands');

  // 王建国's thyroid order was entered by mistake: cancelled from the worklist (after a confirm),
  // it leaves the devices' worklist and the reconciliation choices; an order with images cannot be.
  const usWorklist = async () => {
    const r = await run('findscu', ['-v', '-W', '-aet', 'US_ROOM1', '-aec', 'EDGE_UI', '-k', 'AccessionNumber', '-k', 'ScheduledProcedureStepSequence[0].Modality=US', '127.0.0.1', String(port)]);
    t.equal(r.code, 0, r.stderr);
    return r.stdout + r.stderr;
  };
  t.match(await usWorklist(), new RegExp(thy.accessionNumber), 'before: the US room\'s worklist lists the order');
  await page.goto(`${edge.http.url}/imaging`);
  t.equal(await page.locator(`[data-testid="cancel-${order.accessionNumber}"]`).count(), 0, 'no cancel button on an order with images');
  page.once('dialog', (d) => void d.accept());
  await page.click(`[data-testid="cancel-${thy.accessionNumber}"]`);
  t.match(await page.locator('.notice').first().innerText(), new RegExp(`已取消申请 ${thy.accessionNumber}`));
  t.match(await page.locator(`tr[data-accession="${thy.accessionNumber}"]`).innerText(), /已取消/, 'the row stays, marked 已取消');
  await page.screenshot({ path: screenshotPath('imaging-worklist-cancelled'), fullPage: true });
  t.equal(img.repo.order(thy.orderId)!.status, 'cancelled');
  t.notOk(img.repo.openOrders().some((o) => o.orderId === thy.orderId), 'no longer open: not offered for reconciliation');
  t.notMatch(await usWorklist(), new RegExp(thy.accessionNumber), 'after: the worklist no longer lists it');
  const withImages = await page.request.post(`${edge.http.url}/imaging/orders/${order.orderId}/cancel`);
  t.equal(withImages.status(), 400, 'an order with images: refused');
  t.match(await withImages.text(), /已收到图像，不能取消/);
  t.equal(img.repo.order(order.orderId)!.status, 'in-progress', 'and left as it was');
  const twice = await page.request.post(`${edge.http.url}/imaging/orders/${thy.orderId}/cancel`);
  t.equal(twice.status(), 400, 'cancelled twice (a second tab): refused');
  t.match(await twice.text(), /已取消，无需再取消/);

  // 王建国's abdominal examination is done: the technician completes it from the worklist (after a
  // confirm). It leaves the open orders, the order's new version goes out on the spine.
  t.equal(await page.locator(`[data-testid="complete-${thy.accessionNumber}"]`).count(), 0, 'no complete button on a cancelled order');
  const seqBefore = edge.store.stats().lastSeq;
  page.once('dialog', (d) => void d.accept());
  await page.click(`[data-testid="complete-${order.accessionNumber}"]`);
  t.match(await page.locator('.notice').first().innerText(), new RegExp(`检查 ${order.accessionNumber}（王建国，腹部超声（肝胆胰脾））已完成`));
  t.match(await page.locator(`tr[data-accession="${order.accessionNumber}"]`).innerText(), /检查完成 · \d+ 张/, 'the row says completed, with the number of images');
  t.equal(await page.locator(`[data-testid="complete-${order.accessionNumber}"]`).count(), 0, 'no button any more');
  await page.screenshot({ path: screenshotPath('imaging-worklist-completed'), fullPage: true });
  t.equal(img.repo.order(order.orderId)!.status, 'completed');
  t.notOk(img.repo.openOrders().some((o) => o.orderId === order.orderId), 'no longer open');
  const emitted = edge.store.db.prepare<[string], { payload: string }>('SELECT payload FROM records WHERE type = \'order\' AND record_id = ? ORDER BY version DESC LIMIT 1').get(order.orderId);
  t.match(JSON.parse(emitted!.payload), { status: 'completed' }, 'the order\'s new version recorded');
  t.ok(edge.store.stats().lastSeq > seqBefore, 'and queued for central');
  const completedTwice = await page.request.post(`${edge.http.url}/imaging/orders/${order.orderId}/complete`);
  t.equal(completedTwice.status(), 400, 'completed twice (a second tab): refused');
  t.match(await completedTwice.text(), /已完成/);
  t.equal(img.repo.order(zhaoOrder.orderId)!.status, 'in-progress', '赵丽\'s order holds the study linked by hand');
  t.equal((await page.request.post(`${edge.http.url}/imaging/orders/${zhaoOrder.orderId}/complete`)).status(), 200, 'an order with a study linked by hand can be completed');
  t.equal(img.repo.order(zhaoOrder.orderId)!.status, 'completed');
  const fresh = await newOrder(zhao.residentId, 'US-BRE', '乳腺超声');
  const notStarted = await page.request.post(`${edge.http.url}/imaging/orders/${fresh.orderId}/complete`);
  t.equal(notStarted.status(), 400, 'an order without images: refused');
  t.match(await notStarted.text(), /还没有收到图像，不能标记完成/);
  t.equal(img.repo.order(fresh.orderId)!.status, 'scheduled', 'and left as it was');

  // English is there too; a nurse may view but not register devices.
  await page.goto(`${edge.http.url}/imaging?lang=en`);
  t.match(await page.locator('h1').first().innerText(), /Imaging worklist/);
  await page.goto(`${edge.http.url}/imaging?lang=zh-CN`);
  const audit = edge.accounts.recentAudit(200).map((a) => `${a.action} ${a.outcome}`);
  for (const a of ['imaging.device.create ok', 'imaging.device.echo ok', 'device.create ok', 'device.test ok', 'device.disable ok', 'device.enable ok', 'imaging.order.create ok', 'imaging.order.cancel ok', 'imaging.study.view ok', 'imaging.reconcile ok']) t.ok(audit.includes(a), `audited: ${a}`);
  console.log(`[ui] screenshots ${['devices', 'devices-registry', 'worklist', 'study', 'reconcile-empty', 'reconcile'].map((n) => screenshotPath(`imaging-${n}`)).join(' ')}`);
});
