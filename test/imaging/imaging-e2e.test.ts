/**
 * Issue 5 end to end with real peers: findscu -W gets the orders; storescu sends US and DX
 * (GB18030 names) to the edge SCP; the study is indexed, matched and replicated as an
 * `imaging_study` record; the files reach central and come back byte-identical through
 * WADO-RS; images sent while central is down arrive after it returns; unknown AE refused.
 */
import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startNatsServer } from '../helpers/nats-server.ts';
import { centralInProcess, clinicName, edgeInProcess, tempDir } from '../helpers/spine.ts';
import { clinicToken } from '../../contracts/clinic-token.ts';
import { waitFor } from '../helpers/wait.ts';
import { addResident, imaging, imagingEnv, multipartParts, run, writeInstance } from './fixtures.ts';
import { newUid } from '../../edge-agent/imaging/index.ts';
import type { Central } from '../../central/app.ts';
import { parsePart10 } from '../../contracts/dicom/dicom-file.ts';

const TOKEN = 'test-token-0123456789';
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

t.test('imaging: worklist, C-STORE, match, spine record, forwarding, DICOMweb, central outage', async (t) => {
  await using ns = await startNatsServer();
  const tmp = tempDir('img-e2e');
  t.teardown(tmp.cleanup);
  let central: Central = await centralInProcess(ns.url, `${tmp.dir}/central`);
  const centralPort = central.http.port;
  const clinic = clinicName('img');
  const uploadToken = clinicToken(TOKEN, clinic);
  imagingEnv({ AE_TITLE: 'EDGE_E2E', HOST: '127.0.0.1', PORT: '0', CENTRAL_URL: central.http.url, CENTRAL_TOKEN: undefined, UPLOAD_TOKEN: uploadToken, FORWARD_RETRY_MAX_MS: '300', FORWARD_RATE: '4000000' });
  const edge = await edgeInProcess(ns.url, clinic, `${tmp.dir}/edge`);
  t.teardown(async () => { await edge.stop(); await central.stop(); });
  const img = imaging(edge);
  const port = img.scp!.port;

  // Registry and orders (the clinic module will create orders; here through the repository).
  img.repo.addDevice({ aeTitle: 'US_ROOM1', host: '127.0.0.1', port: 104, modality: 'US', room: 'B超室', enabled: true });
  img.repo.addDevice({ aeTitle: 'DR_ROOM1', host: '127.0.0.1', port: 104, modality: 'DX', room: '放射科', enabled: true });
  const zhang = addResident(edge, 11, '张伟');
  const li = addResident(edge, 12, '李秀英');
  const today = new Date(Date.now() + 8 * 3600_000).toISOString().slice(0, 10).replaceAll('-', '');
  const [usOrder, dxOrder] = await edge.store.transactAsync((tx) => [
    img.repo.createOrder(tx, { residentId: zhang.residentId, modality: 'US', code: 'US-ABD', display: '腹部超声', stationAe: null, scheduledDate: today, scheduledTime: '090000', requestedBy: 'test' }, newUid()),
    img.repo.createOrder(tx, { residentId: li.residentId, modality: 'DX', code: 'DX-CHEST', display: '胸部正位片', stationAe: 'DR_ROOM1', scheduledDate: today, scheduledTime: '100000', requestedBy: 'test' }, newUid()),
  ]);

  // findscu -W as each room: each sees its modality's order, Chinese names intact.
  const find = async (ae: string) => {
    const out = join(tmp.dir, `find-${ae}`);
    mkdirSync(out);
    const keys = ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'AccessionNumber', 'StudyInstanceUID', 'RequestedProcedureID',
      'ScheduledProcedureStepSequence[0].Modality', 'ScheduledProcedureStepSequence[0].ScheduledStationAETitle', `ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=${today}`];
    const r = await run('findscu', ['-W', '-aet', ae, '-aec', 'EDGE_E2E', '-X', '-od', out, ...keys.flatMap((k) => ['-k', k]), '127.0.0.1', String(port)]);
    t.equal(r.code, 0, `findscu as ${ae}: ${r.stderr}`);
    return Promise.all(readdirSync(out).sort().map(async (f) => (await run('dcmdump', ['+U8', join(out, f)])).stdout));
  };
  const usWl = await find('US_ROOM1');
  t.equal(usWl.length, 1, 'US room: one worklist item');
  t.match(usWl[0], /张伟/, 'Chinese name in the worklist');
  t.match(usWl[0], new RegExp(usOrder!.accessionNumber));
  t.match(usWl[0], new RegExp(usOrder!.studyInstanceUid.replaceAll('.', '\\.')));
  const drWl = await find('DR_ROOM1');
  t.equal(drWl.length, 1, 'DR room: one worklist item');
  t.match(drWl[0], /李秀英/);

  // The devices copy accession, study UID and patient ID from the worklist.
  const files = join(tmp.dir, 'files');
  mkdirSync(files);
  const series = newUid();
  const us1 = writeInstance(files, { modality: 'US', name: '张伟', patientId: zhang.residentId, accession: usOrder!.accessionNumber, study: usOrder!.studyInstanceUid, series });
  const us2 = writeInstance(files, { modality: 'US', name: '张伟', patientId: zhang.residentId, accession: usOrder!.accessionNumber, study: usOrder!.studyInstanceUid, series, charset: 'GBK' });
  const dx1 = writeInstance(files, { modality: 'DX', name: '李秀英', patientId: li.residentId, accession: dxOrder!.accessionNumber, study: dxOrder!.studyInstanceUid });
  const stray = writeInstance(files, { modality: 'US', name: '王芳', patientId: 'NO-SUCH-PATIENT' });
  const storescu = (ae: string, paths: string[]) => run('storescu', ['-aet', ae, '-aec', 'EDGE_E2E', '127.0.0.1', String(port), ...paths], { env: { TCP_NODELAY: '1' } });
  const [a, b] = await Promise.all([storescu('US_ROOM1', [us1.path, us2.path, stray.path]), storescu('DR_ROOM1', [dx1.path])]);
  t.equal(a.code, 0, `storescu US: ${a.stderr}`);
  t.equal(b.code, 0, `storescu DX: ${b.stderr}`);
  const rejected = await storescu('UNKNOWN_AE', [us1.path]);
  t.not(rejected.code, 0, 'unregistered AE: storescu fails');
  t.match(rejected.stderr, /Calling AE Title Not Recognized|rejected/i, 'association rejected: calling AE not recognised');
  const edgeMetrics = await (await fetch(`${edge.http.url}/metrics`)).text();
  t.match(edgeMetrics, /device_dicom_instances_stored_total\{modality="US",clinic="[^"]+"\} 3/, 'stored instances counted by modality');
  t.match(edgeMetrics, /device_dicom_associations_total\{result="rejected",clinic="[^"]+"\} 1/, 'the rejected association is counted');

  // Indexed and matched at the edge.
  const usStudy = img.repo.study(usOrder!.studyInstanceUid)!;
  t.equal(usStudy.orderId, usOrder!.orderId, 'US study matched to its order');
  t.equal(usStudy.matchKind, 'accession+study');
  t.equal(usStudy.instances, 2);
  t.equal(usStudy.patientName, '张伟', 'GB18030 name decoded');
  t.equal(img.repo.study(dxOrder!.studyInstanceUid)!.orderId, dxOrder!.orderId, 'DX study matched');
  const unrec = img.repo.unreconciled();
  t.same(unrec.map((s) => s.studyInstanceUid), [stray.study], 'the stray study waits in the reconciliation list');
  t.equal(unrec[0]!.patientName, '王芳');
  t.equal(img.repo.order(usOrder!.orderId)!.status, 'in-progress', 'order moved to in-progress');
  const stored = img.repo.instance(us1.sop)!;
  t.equal(stored.sha256, sha(readFileSync(stored.path)), 'index sha256 is the file');

  // Replicated to central as imaging_study records, files forwarded.
  const wh = central.wh;
  const studyRecord = async (uid: string) => (wh.db.prepare('SELECT payload FROM records WHERE type = ? AND record_id = ? ORDER BY version DESC LIMIT 1').get('imaging_study', uid) as { payload: string } | undefined);
  await waitFor('imaging_study record at central', async () => JSON.parse((await studyRecord(usOrder!.studyInstanceUid))?.payload ?? '{}').instanceCount === 2, 20_000);
  const rec = JSON.parse((await studyRecord(usOrder!.studyInstanceUid))!.payload) as { residentId: string; accessionNumber: string; modality: string };
  t.same({ residentId: rec.residentId, accessionNumber: rec.accessionNumber, modality: rec.modality }, { residentId: zhang.residentId, accessionNumber: usOrder!.accessionNumber, modality: 'US' }, 'record carries the matched resident');
  await waitFor('all instances forwarded', () => img.repo.forwardStats().pending === 0 && img.repo.forwardStats().done === 4, 20_000);

  // DICOMweb.
  const api = (path: string, headers: Record<string, string> = {}) => fetch(`${central.http.url}/api/imaging/dicomweb${path}`, { headers: { authorization: `Bearer ${TOKEN}`, ...headers } });
  t.equal((await fetch(`${central.http.url}/api/imaging/dicomweb/studies`)).status, 401, 'DICOMweb needs the bearer token');
  const studies = await (await api(`/studies?PatientID=${zhang.residentId}`)).json() as Record<string, { Value?: unknown[] }>[];
  t.equal(studies.length, 1, 'QIDO by PatientID');
  t.same(studies[0]!['00100010']!.Value, [{ Alphabetic: '张伟' }], 'QIDO: Chinese name');
  t.equal(studies[0]!['00201208']!.Value![0], 2, 'QIDO: two instances');
  t.equal(((await (await api(`/studies?PatientName=${encodeURIComponent('李*')}&StudyDate=20260101-20991231`)).json()) as unknown[]).length, 1, 'QIDO by name wildcard and date range');
  const series1 = await (await api(`/studies/${usOrder!.studyInstanceUid}/series`)).json() as unknown[];
  t.equal(series1.length, 1, 'QIDO series');
  const inst = await (await api(`/studies/${usOrder!.studyInstanceUid}/series/${series}/instances`)).json() as unknown[];
  t.equal(inst.length, 2, 'QIDO instances');
  const wado = await api(`/studies/${usOrder!.studyInstanceUid}/series/${series}/instances/${us1.sop}`, { accept: 'multipart/related; type="application/dicom"' });
  t.equal(wado.status, 200);
  const parts = multipartParts(Buffer.from(await wado.arrayBuffer()), wado.headers.get('content-type') ?? '');
  t.equal(parts.length, 1, 'one part');
  t.equal(sha(parts[0]!), stored.sha256, 'WADO-RS bytes identical to the file the edge stored');
  const sentDataset = us1.bytes.subarray(132 + 12 + us1.bytes.readUInt32LE(140));
  t.ok(parts[0]!.subarray(parts[0]!.length - sentDataset.length).equals(sentDataset), 'the dataset is byte-identical to what storescu sent (only the file meta group is the edge\'s)');
  const meta = await (await api(`/studies/${usOrder!.studyInstanceUid}/series/${series}/instances/${us2.sop}/metadata`)).json() as Record<string, { Value?: unknown[]; BulkDataURI?: string }>[];
  t.same(meta[0]!['00100010']!.Value, [{ Alphabetic: '张伟' }], 'metadata: GBK-labelled name decoded');
  t.match(meta[0]!['7FE00010']!.BulkDataURI, /bulkdata/, 'pixel data as BulkDataURI');
  // The BulkDataURI over HTTP: the pixel data storescu sent, sent part by part with its length.
  const bulk = await fetch(`${central.http.url}${new URL(meta[0]!['7FE00010']!.BulkDataURI!).pathname}`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const bulkBody = Buffer.from(await bulk.arrayBuffer());
  t.equal(Number(bulk.headers.get('content-length')), bulkBody.length, 'bulk data: Content-Length matches the body');
  const sentPixels = Buffer.from(parsePart10(us2.bytes).dict['7FE00010']!.Value![0] as ArrayBuffer);
  t.ok(multipartParts(bulkBody, bulk.headers.get('content-type') ?? '')[0]!.equals(sentPixels), `bulk data over HTTP = the pixel data storescu sent (${sentPixels.length} bytes)`);
  const png = await api(`/studies/${dxOrder!.studyInstanceUid}/series/${dx1.series}/instances/${dx1.sop}/rendered`);
  t.equal(png.headers.get('content-type'), 'image/png');
  t.ok(Buffer.from(await png.arrayBuffer()).subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])), 'rendered PNG');
  const stats = await (await fetch(`${central.http.url}/api/imaging/stats?from=2000-01-01&to=2099-12-31`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as { clinicId: string; stationAe: string; studies: number; instances: number }[];
  const usStats = stats.find((s) => s.clinicId === edge.config.clinicId && s.stationAe === 'US_ROOM1');
  t.same({ studies: usStats?.studies, instances: usStats?.instances }, { studies: 2, instances: 3 }, 'workload per device and day');
  const again = await fetch(`${central.http.url}/archive/instances/${us1.sop}`, { method: 'PUT', body: readFileSync(stored.path), headers: { authorization: `Bearer ${uploadToken}`, 'x-content-sha256': stored.sha256 } });
  t.equal(again.status, 200, 'a repeated upload is idempotent (200, nothing rewritten)');
  // The shared API token cannot upload under a clinic it names: the old header-trusting route is gone.
  const legacy = await fetch(`${central.http.url}/api/imaging/instances/${us1.sop}`, { method: 'PUT', body: readFileSync(stored.path), headers: { authorization: `Bearer ${TOKEN}`, 'x-clinic-id': 'other-clinic', 'x-content-sha256': stored.sha256 } });
  t.equal(legacy.status, 404, 'no upload with the shared token and X-Clinic-Id');
  const corrupt = await fetch(`${central.http.url}/archive/instances/${us1.sop}`, { method: 'PUT', body: readFileSync(stored.path), headers: { authorization: `Bearer ${uploadToken}`, 'x-content-sha256': '0'.repeat(64) } });
  t.equal(corrupt.status, 422, 'a sha256 mismatch is refused');

  // Central down: the clinic keeps storing; everything arrives once central is back.
  await central.stop();
  const late = [0, 1, 2].map(() => writeInstance(files, { modality: 'DX', name: '李秀英', patientId: li.residentId, accession: dxOrder!.accessionNumber, study: dxOrder!.studyInstanceUid, series: dx1.series }));
  const c = await storescu('DR_ROOM1', late.map((f) => f.path));
  t.equal(c.code, 0, 'C-STORE succeeds while central is down');
  await waitFor('upload attempts fail', () => (img.repo.instance(late[0]!.sop)?.fwdAttempts ?? 0) > 0, 10_000);
  t.equal(img.repo.forwardStats().pending, 3, 'three instances wait');
  central = await centralInProcess(ns.url, `${tmp.dir}/central`, { httpPort: centralPort });
  await waitFor('late instances forwarded', () => img.repo.forwardStats().pending === 0, 30_000);
  const lateSeries = await (await fetch(`${central.http.url}/api/imaging/dicomweb/studies/${dxOrder!.studyInstanceUid}/series/${dx1.series}/instances`, { headers: { authorization: `Bearer ${TOKEN}` } })).json() as unknown[];
  t.equal(lateSeries.length, 4, 'all DX instances at central after the outage');
  await waitFor('record with 4 DX instances at central', async () => JSON.parse((central.wh.db.prepare('SELECT payload FROM records WHERE type = ? AND record_id = ? ORDER BY version DESC LIMIT 1').get('imaging_study', dxOrder!.studyInstanceUid) as { payload: string } | undefined)?.payload ?? '{}').instanceCount === 4, 20_000);
});
