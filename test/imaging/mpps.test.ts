/**
 * MPPS end to end on a running edge agent: a device (dcmjs-dimse's client; dcmtk has no MPPS SCU)
 * reports examinations started, completed and discontinued; storescu sends the images.
 * - COMPLETED after the images: the order is completed at once (检查完成), and central receives
 *   the order's new version over the spine.
 * - COMPLETED before the images, listing two: the worklist shows them missing (设备记录 2 张，已收到
 *   0/1 张); the order completes as the last of them is filed.
 * - DISCONTINUED: the order is left as it was, the worklist shows why.
 * - Refusals with their PS3.4 status: a duplicate step, an unknown one, one already ended.
 * - The worklist page in Chromium shows the device's steps (screenshot `ui-imaging-mpps.png`).
 */
import t from 'tap';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { edgeLogin, launchBrowser, screenshotPath } from '../helpers/browser.ts';
import { waitFor } from '../helpers/wait.ts';
import { addResident, imaging, imagingEnv, run, writeInstance } from './fixtures.ts';
import { newUid } from '../../edge-agent/imaging/index.ts';
import { mppsScu, type MppsSend } from '../../device-drivers/dicom/test-support/mpps-scu.ts';
import { clinicToken } from '../../contracts/clinic-token.ts';

t.test('MPPS: devices report examinations; orders follow; the worklist shows it', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-mpps');
  t.teardown(tmp.cleanup);
  const central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const clinic = clinicName('mpps');
  imagingEnv({ AE_TITLE: 'EDGE_MPPS', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: central.http.url, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: clinicToken('test-token-0123456789', clinic), FORWARD_RETRY_MAX_MS: '300' });
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`, { adminPassword: 'Admin-Pass-2026' });
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const img = imaging(edge);
  const port = img.scp!.port;
  img.repo.addDevice({ aeTitle: 'US_ROOM1', host: '127.0.0.1', port: 104, modality: 'US', room: 'B超室', enabled: true });

  const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10).replaceAll('-', '');
  const people = [addResident(edge, 31, '张伟'), addResident(edge, 32, '李秀英'), addResident(edge, 33, '王芳'), addResident(edge, 34, '刘洋')];
  const [after, before, stopped, ongoing] = await edge.store.transactAsync((tx) => people.map((p, k) =>
    img.repo.createOrder(tx, { residentId: p.residentId, modality: 'US', code: 'US-ABD', display: '腹部超声', stationAe: null, scheduledDate: today, scheduledTime: `${String(9 + k).padStart(2, '0')}0000`, requestedBy: 'test' }, newUid())!));
  const step = (order: { accessionNumber: string; studyInstanceUid: string }, residentId: string) => ({
    PerformedProcedureStepStatus: 'IN PROGRESS', PerformedStationAETitle: 'US_ROOM1', Modality: 'US', PatientID: residentId,
    PerformedProcedureStepStartDate: today, PerformedProcedureStepStartTime: '090500',
    ScheduledStepAttributesSequence: [{ AccessionNumber: order.accessionNumber, StudyInstanceUID: order.studyInstanceUid }],
  });
  const send = (m: MppsSend[]) => mppsScu(port, 'US_ROOM1', 'EDGE_MPPS', m);
  const [u1, u2, u3] = [newUid(), newUid(), newUid()];
  t.same(await send([
    { kind: 'create', uid: u1, attributes: step(after!, people[0]!.residentId) },
    { kind: 'create', uid: u2, attributes: step(before!, people[1]!.residentId) },
    { kind: 'create', uid: u3, attributes: step(stopped!, people[2]!.residentId) },
    { kind: 'create', uid: newUid(), attributes: step(ongoing!, people[3]!.residentId) },
  ]), { statuses: [0, 0, 0, 0], comments: ['', '', '', ''] }, 'four examinations started');
  t.same(img.repo.order(after!.orderId)!.status, 'scheduled', 'a started step does not change the order (its images decide)');

  // The images of the first examination, then its step completed: the order completes at once.
  const files = join(tmp.dir, 'files');
  mkdirSync(files);
  const storescu = (paths: string[]) => run('storescu', ['-aet', 'US_ROOM1', '-aec', 'EDGE_MPPS', '127.0.0.1', String(port), ...paths], { env: { TCP_NODELAY: '1' } });
  const series1 = newUid();
  const first = [1, 2].map((n) => writeInstance(files, { modality: 'US', name: '张伟', patientId: people[0]!.residentId, accession: after!.accessionNumber, study: after!.studyInstanceUid, series: series1, instanceNumber: n }));
  t.equal((await storescu(first.map((f) => f.path))).code, 0, 'storescu: the first examination\'s two images');
  await waitFor('the order has its images', () => img.repo.order(after!.orderId)!.status === 'in-progress', 10_000);
  const done = (uid: string, series: string, images: string[]) => ({
    kind: 'set' as const, uid,
    attributes: { PerformedProcedureStepStatus: 'COMPLETED', PerformedProcedureStepEndDate: today, PerformedProcedureStepEndTime: '091500', PerformedSeriesSequence: [{ SeriesInstanceUID: series, ReferencedImageSequence: images.map((sop) => ({ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.6.1', ReferencedSOPInstanceUID: sop })) }] },
  });
  t.same(await send([done(u1, series1, first.map((f) => f.sop))]), { statuses: [0], comments: [''] }, 'COMPLETED');
  t.equal(img.repo.order(after!.orderId)!.status, 'completed', 'the order is completed (检查完成)');
  await waitFor('central receives the completed order', () => {
    const row = central.wh.db.prepare("SELECT payload FROM records WHERE type = 'order' AND record_id = ? ORDER BY version DESC LIMIT 1").get(after!.orderId) as { payload: string } | undefined;
    return !!row && (JSON.parse(row.payload) as { status: string }).status === 'completed';
  }, 15_000);
  t.pass('central holds the completed order (a new version over the spine)');

  // The second examination's step completes before its two images: the order waits for both.
  const series2 = newUid();
  const late = [1, 2].map((n) => writeInstance(files, { modality: 'US', name: '李秀英', patientId: people[1]!.residentId, accession: before!.accessionNumber, study: before!.studyInstanceUid, series: series2, instanceNumber: n }));
  t.same(await send([done(u2, series2, late.map((f) => f.sop))]), { statuses: [0], comments: [''] }, 'COMPLETED before the images, listing two');
  t.equal(img.repo.order(before!.orderId)!.status, 'scheduled', 'no images yet: the order waits');

  // The third is discontinued, with the device's reason.
  t.same(await send([{ kind: 'set', uid: u3, attributes: { SpecificCharacterSet: 'ISO_IR 192', PerformedProcedureStepStatus: 'DISCONTINUED', PerformedProcedureStepDiscontinuationReasonCodeSequence: [{ CodeValue: '110514', CodingSchemeDesignator: 'DCM', CodeMeaning: '患者拒绝检查' }] } }]), { statuses: [0], comments: [''] }, 'DISCONTINUED');
  t.equal(img.repo.order(stopped!.orderId)!.status, 'scheduled', 'a discontinued step leaves the order to the technician');

  // Refusals, as PS3.4 says.
  const refused = await send([
    { kind: 'create', uid: u1, attributes: step(after!, people[0]!.residentId) },
    { kind: 'set', uid: newUid(), attributes: { PerformedProcedureStepStatus: 'COMPLETED' } },
    { kind: 'set', uid: u3, attributes: { PerformedProcedureStepStatus: 'COMPLETED' } },
    { kind: 'create', uid: newUid(), attributes: { ...step(stopped!, people[2]!.residentId), PerformedProcedureStepStatus: 'FINISHED' } },
  ]);
  t.match(refused, { statuses: [0x0111, 0x0112, 0x0110, 0x0106] }, 'duplicate step, unknown step, an ended step changed, a status not defined');
  t.match(refused, { comments: [/exists already/, /no such/, /DISCONTINUED/, /FINISHED/] }, 'each with a comment the device shows');
  t.equal(img.scp!.counters.mppsOk, 7);
  t.equal(img.scp!.counters.mppsFailed, 4);
  const metrics = await (await fetch(`${edge.http.url}/metrics`)).text();
  t.match(metrics, /device_dicom_mpps_total\{[^}]*result="ok"[^}]*\} 7/, 'counted in the edge\'s metrics');
  t.match(metrics, /device_dicom_mpps_total\{[^}]*result="refused"[^}]*\} 4/);

  // The worklist in Chromium, before the late images come.
  await using browser = await launchBrowser();
  const page = await browser.newPage();
  await edgeLogin(page, edge.http.url, 'admin', 'Admin-Pass-2026');
  await page.goto(`${edge.http.url}/imaging`);
  const row = (acc: string) => page.locator(`tr[data-accession="${acc}"]`);
  t.match(await row(after!.accessionNumber).innerText(), /检查完成 · 2 张/, 'first: 检查完成 with its two images');
  t.match(await row(before!.accessionNumber).innerText(), /设备记录 2 张，已收到 0 张/, 'second: the device made two images, none here yet');
  t.match(await row(stopped!.accessionNumber).innerText(), /设备：已中止（患者拒绝检查）/, 'third: discontinued, with the reason');
  t.match(await row(ongoing!.accessionNumber).innerText(), /已预约\s*设备：检查中/, 'fourth: under way at the device');
  await page.screenshot({ path: screenshotPath('imaging-mpps'), fullPage: true });

  // The late images: the first filed leaves one missing; the second completes the order.
  t.equal((await storescu([late[0]!.path])).code, 0, 'storescu: the second examination\'s first image');
  await waitFor('the first late image filed', () => img.repo.order(before!.orderId)!.status === 'in-progress', 10_000);
  await page.reload();
  t.match(await row(before!.accessionNumber).innerText(), /已收图 1 张[\s\S]*设备记录 2 张，已收到 1 张/, 'second: one of two here, the other shown missing');
  await page.screenshot({ path: screenshotPath('imaging-mpps-missing'), fullPage: false });
  t.equal((await storescu([late[1]!.path])).code, 0, 'storescu: its second image');
  await waitFor('the order completes with the last listed image', () => img.repo.order(before!.orderId)!.status === 'completed', 10_000);
  await page.reload();
  t.match(await row(before!.accessionNumber).innerText(), /检查完成 · 2 张/, 'second: 检查完成 once both came');
  t.notMatch(await row(before!.accessionNumber).innerText(), /设备记录/, 'nothing missing any more');
});
