/**
 * Remote reading (tender 1.5.2 §2): a clinic's study reaches central, a district radiologist
 * reports on it through central's API, and the report (with its amendment) comes back to the
 * clinic's study page; a report pulled after an edge restart is not duplicated.
 */
import t from 'tap';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { edgeLogin, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { addResident, imaging, imagingEnv, run, writeInstance } from './fixtures.ts';
import { newUid } from '../../edge-agent/imaging/index.ts';
import { validateR4 } from '../central/fhir-validate.ts';
import { clinicToken } from '../../contracts/index.ts';

const TOKEN = 'test-token-0123456789';

t.test('radiologist report at central reaches the clinic study page', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-report');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('rep');
  imagingEnv({ AE_TITLE: 'EDGE_REP', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: central.http.url, UPLOAD_TOKEN: clinicToken(TOKEN, clinic), REPORT_PULL_MS: '300', FORWARD_RETRY_MAX_MS: '300' });
  let edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { imagingEnv({ UPLOAD_TOKEN: undefined, REPORT_PULL_MS: undefined }); await edge.stop(); await central.stop(); });
  imaging(edge).repo.addDevice({ aeTitle: 'US_R', host: '127.0.0.1', port: 104, modality: 'US', room: 'B超室', enabled: true });
  // An ordered examination: the device echoes the order's accession number and study UID.
  const chen = addResident(edge, 21, '陈静');
  const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10).replaceAll('-', '');
  const order = await edge.store.transactAsync((tx) => imaging(edge).repo.createOrder(tx, { residentId: chen.residentId, modality: 'US', code: 'US-ABD', display: '腹部超声', stationAe: null, scheduledDate: today, scheduledTime: '090000', requestedBy: 'test' }, newUid()));
  const f = writeInstance(tmp.dir, { modality: 'US', name: '陈静', patientId: chen.residentId, accession: order.accessionNumber, study: order.studyInstanceUid });
  t.equal((await run('storescu', ['-aet', 'US_R', '-aec', 'EDGE_REP', '127.0.0.1', String(imaging(edge).scp!.port), f.path])).code, 0);
  await waitFor('study archived at central', async () => !!central.wh.db.prepare('SELECT 1 FROM imaging_instances WHERE study_instance_uid = ?').get(f.study), 20_000);
  const orderStatus = () => imaging(edge).repo.order(order.orderId)!.status;
  t.equal(orderStatus(), 'in-progress', 'images received: the order is under way');
  const centralOrder = () => (central.wh.db.prepare<[string], { payload: string }>("SELECT payload FROM records WHERE type = 'order' AND record_id = ? ORDER BY version DESC LIMIT 1").get(order.orderId));

  const report = (body: Record<string, unknown>) => fetch(`${central.http.url}/api/imaging/studies/${f.study}/reports`, {
    method: 'POST', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  t.equal((await report({ status: 'preliminary', findings: '胆囊内见强回声团。', impression: '胆囊结石？待复核', positive: true, radiologist: '区医院 王医生' })).status, 201);
  await waitFor('preliminary report at the edge', async () => imaging(edge).reports.forStudy(f.study).length === 1, 10_000);
  t.equal(orderStatus(), 'in-progress', 'a preliminary report does not end the examination');
  t.equal((await report({ status: 'final', findings: '胆囊内见一强回声团，后伴声影，随体位移动。', impression: '胆囊结石', positive: true, radiologist: '区医院 王医生' })).status, 201);
  await waitFor('report at the edge', async () => imaging(edge).reports.forStudy(f.study).length === 2, 10_000);
  t.equal(orderStatus(), 'completed', 'the final report completes the order, in the same transaction as the report');
  t.equal(imaging(edge).reports.counters.ordersCompleted, 1);
  await waitFor('the completed order at central (on the spine)', async () => (JSON.parse(centralOrder()?.payload ?? '{}') as { status?: string }).status === 'completed', 20_000);
  t.equal((await report({ status: 'amended', findings: '胆囊内见一强回声团，后伴声影。', impression: '胆囊结石，建议外科随诊', positive: true, radiologist: '区医院 王医生' })).status, 201);
  await waitFor('amendment at the edge', async () => imaging(edge).reports.forStudy(f.study).length === 3, 10_000);
  t.equal(imaging(edge).reports.counters.ordersCompleted, 1, 'an amendment of a completed examination completes nothing more');

  // Another clinic's token sees none of this clinic's reports.
  const other = await (await fetch(`${central.http.url}/archive/reports?after=0`, { headers: { authorization: `Bearer ${clinicToken(TOKEN, 'other-clinic')}` } })).json() as { reports: unknown[] };
  t.same(other.reports, [], 'reports are per clinic');
  t.equal((await fetch(`${central.http.url}/archive/reports`)).status, 401, 'no token, no reports');

  // The report through FHIR for the district's other systems: a radiology DiagnosticReport of the
  // patient, with the study referenced, read by id and searched, valid R4.
  const fhir = async (path: string) => {
    const r = await fetch(`${central.http.url}/fhir/${path}`, { headers: { authorization: `Bearer ${TOKEN}`, accept: 'application/fhir+json' } });
    return { status: r.status, body: await r.json() as Record<string, unknown> };
  };
  await waitFor('the study record at central', async () => (await fhir(`ImagingStudy?patient=${chen.residentId}`)).body.total === 1, 20_000);
  const found = await fhir(`DiagnosticReport?patient=${chen.residentId}`);
  t.equal(found.status, 200);
  const entries = (found.body.entry as { resource: Record<string, unknown> }[] | undefined) ?? [];
  const rad = entries.map((e) => e.resource).find((r) => (r.category as { coding: { code: string }[] }[])[0]!.coding[0]!.code === 'RAD');
  t.match(rad, { resourceType: 'DiagnosticReport', id: f.study, status: 'amended', code: { coding: [{ system: 'http://loinc.org', code: '18748-4' }] }, subject: { reference: `Patient/${chen.residentId}` },
    imagingStudy: [{ reference: `ImagingStudy/${f.study}` }], conclusion: '胆囊结石，建议外科随诊', performer: [{ display: '区医院 王医生' }], meta: { versionId: '3' } }, 'the current version as a radiology DiagnosticReport');
  const form = (rad!.presentedForm as { contentType: string; data: string }[])[0]!;
  t.match(Buffer.from(form.data, 'base64').toString('utf8'), /^检查所见：胆囊内见一强回声团，后伴声影。\n诊断意见：胆囊结石，建议外科随诊/, 'findings and impression as text');
  validateR4(rad as Parameters<typeof validateR4>[0]);
  const read = await fhir(`DiagnosticReport/${f.study}`);
  t.same([read.status, read.body.id, read.body.status], [200, f.study, 'amended'], 'read by id (the ImagingStudy\'s)');
  t.equal(((await fhir(`DiagnosticReport?patient=${chen.residentId}&code=18748-4`)).body.total), 1, 'code 18748-4: radiology reports only');
  t.equal(((await fhir(`DiagnosticReport?patient=${chen.residentId}&status=final`)).body.total), 0, 'by status');
  t.equal(((await fhir(`DiagnosticReport?patient=${chen.residentId}&code=2345-7`)).body.total), 0, 'a lab code: none');

  // Restart: the cursor resumes, nothing is pulled twice.
  await edge.stop();
  edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  await imaging(edge).reports.pull();
  t.equal(imaging(edge).reports.forStudy(f.study).length, 3, 'no duplicate after restart');
  t.equal(orderStatus(), 'completed');

  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  await page.goto(`${edge.http.url}/imaging/studies/${f.study}`);
  const card = await page.locator('[data-testid=report]').innerText();
  t.match(card, /诊断报告/);
  t.match(card, /修订报告/, 'the amendment is shown as the current report');
  t.match(card, /建议外科随诊/);
  t.match(card, /阳性/);
  t.match(card, /历史版本/, 'the earlier version is listed');
  t.match(card, /· \d{4}\/\d{1,2}\/\d{1,2} \d{2}:\d{2}:\d{2}/, 'the report time in China time, as the clinic\'s other times');
  t.notMatch(card, /UTC/);
  await page.screenshot({ path: screenshotPath('imaging-report'), fullPage: true });

  // 影像检查报告单 for the patient: from the study page, laid out for printing (A4, no navigation).
  await Promise.all([page.waitForURL(/\/report$/), page.click('[data-testid=print-report]')]);
  t.equal(await page.locator('[data-testid=sheet-name]').innerText(), '陈静', 'the resident\'s name');
  t.match(await page.locator('[data-testid=report-sheet]').innerText(), /超声检查报告单[\s\S]*腹部超声[\s\S]*修订报告 · v3/, 'the sheet title by modality, the procedure, the report\'s version');
  t.equal(await page.locator('[data-testid=sheet-impression]').innerText(), '胆囊结石，建议外科随诊', 'the current impression');
  await page.waitForFunction(() => [...document.querySelectorAll('[data-testid=sheet-images] img')].every((i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0));
  t.equal(await page.locator('[data-testid=sheet-images] img').count(), 1, 'the study\'s image on the sheet');
  await page.emulateMedia({ media: 'print' });
  t.equal(await page.locator('header').first().isVisible(), false, 'printed without the navigation');
  t.equal(await page.locator('[data-testid=print]').isVisible(), false, 'nor the buttons');
  await page.screenshot({ path: screenshotPath('imaging-report-sheet'), fullPage: true });
  const pdf = await page.pdf({ format: 'A4' });
  t.ok(pdf.subarray(0, 5).toString() === '%PDF-' && pdf.length > 10_000, `prints as a PDF (${pdf.length} bytes, A4)`);
  await page.emulateMedia({ media: 'screen' });
  const unknown = await page.request.get(`${edge.http.url}/imaging/studies/2.25.404/report`);
  t.equal(unknown.status(), 404, 'an unknown study: 404');
});
