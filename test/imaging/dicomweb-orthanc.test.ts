/**
 * Central's DICOMweb with a real DICOMweb client: Orthanc (Debian package) with its DICOMweb
 * plugin (orthanc-dicomweb), configured with central's archive as a remote server, searches it
 * (QIDO-RS) and retrieves a study (WADO-RS) of three instances as clinics send them (JPEG baseline
 * from dcmcjpeg, Implicit VR, Explicit VR with a GB18030 name). Orthanc stores the files
 * byte-identical to what was sent (it asks `transfer-syntax=*`), reads the Chinese name and
 * renders the JPEG image. Central serves over real HTTP on an OS-chosen loopback port.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { buildPart10, testUid } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { run } from '../../device-drivers/dicom/test-support/harness.ts';
import { SqliteWarehouse } from '../../central/warehouse/sqlite.ts';
import { mountCentralImaging } from '../../central/imaging/index.ts';
import { listen } from '../../contracts/runtime/http.ts';

const PLUGIN_DIR = '/usr/lib/orthanc';
const plugin = existsSync(PLUGIN_DIR) ? readdirSync(PLUGIN_DIR).find((f) => f.startsWith('libOrthancDicomWeb.so')) : undefined;
const freePort = () => new Promise<number>((r) => { const s = createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => r(p)); }); });
/** 张三 in GB18030. */
const ZHANG_SAN = Buffer.from([0xd5, 0xc5, 0xc8, 0xfd]);

t.test('Orthanc retrieves a study from central over DICOMweb', async (t) => {
  if (!plugin) throw new Error(`no libOrthancDicomWeb.so in ${PLUGIN_DIR}: install the Debian package orthanc-dicomweb (scripts/ensure-system.sh does)`);
  const dir = mkdtempSync(join(tmpdir(), 'dicomweb-orthanc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(() => wh.close());
  const app = new Hono();
  // What the client sent, observed (not answered) before central's routes.
  const seen: { path: string; accept: string; authorization: string }[] = [];
  app.use('*', async (c, next) => {
    seen.push({ path: new URL(c.req.url).pathname, accept: c.req.header('accept') ?? '', authorization: c.req.header('authorization') ?? '' });
    await next();
  });
  const imaging = mountCentralImaging(app, { wh, dataDir: dir });
  t.teardown(() => imaging.stop());
  const server = await listen(app, '127.0.0.1', 0);
  t.teardown(() => server.close());

  const study = testUid();
  const common = { studyInstanceUid: study, rows: 64, columns: 80, patientId: 'P-ORTHANC-1', specificCharacterSet: 'GB18030', patientName: ZHANG_SAN };
  const rgb = Buffer.alloc(64 * 80 * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i * 5) % 251;
  writeFileSync(join(dir, 'us.dcm'), buildPart10({ ...common, sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', samplesPerPixel: 3, pixels: rgb }));
  t.equal((await run('dcmcjpeg', ['+eb', '+un', join(dir, 'us.dcm'), join(dir, 'us-jpeg.dcm')])).code, 0, 'dcmcjpeg');
  const sent = [
    readFileSync(join(dir, 'us-jpeg.dcm')),
    buildPart10({ ...common, sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'DX', bitsAllocated: 16, bitsStored: 12, transferSyntaxUid: '1.2.840.10008.1.2' }),
    buildPart10({ ...common, sopClassUid: '1.2.840.10008.5.1.4.1.1.7', sopInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'OT' }),
  ];
  const body = Buffer.concat([...sent.flatMap((b) => [Buffer.from('--b\r\nContent-Type: application/dicom\r\n\r\n'), b, Buffer.from('\r\n')]), Buffer.from('--b--\r\n')]);
  const stow = await fetch(`${server.url}/api/imaging/dicomweb/studies`, { method: 'POST', headers: { 'content-type': 'multipart/related; type="application/dicom"; boundary=b' }, body });
  t.equal(stow.status, 200, 'three instances stored at central (STOW-RS)');

  const httpPort = await freePort();
  const config = {
    Name: 'dicomweb-client', StorageDirectory: join(dir, 'orthanc'), IndexDirectory: join(dir, 'orthanc'), Plugins: [join(PLUGIN_DIR, plugin!)],
    HttpPort: httpPort, RemoteAccessAllowed: false, AuthenticationEnabled: false, DicomServerEnabled: false,
    DicomWeb: { Enable: true, Root: '/dicom-web/', Servers: { central: { Url: `${server.url}/api/imaging/dicomweb/`, HttpHeaders: { Authorization: 'Bearer district-hospital-viewer' } } } },
  };
  writeFileSync(join(dir, 'orthanc.json'), JSON.stringify(config));
  const logFile = join(dir, 'orthanc.log');
  const orthanc = spawn('/usr/sbin/Orthanc', [join(dir, 'orthanc.json'), `--logfile=${logFile}`], { stdio: 'ignore' });
  t.teardown(() => { orthanc.kill('SIGKILL'); });
  const o = `http://127.0.0.1:${httpPort}`;
  for (let k = 0; ; k++) {
    if (orthanc.exitCode !== null) throw new Error(`Orthanc exited: ${readFileSync(logFile, 'utf8').slice(-1500)}`);
    const up = await fetch(`${o}/system`).then((r) => r.ok, () => false);
    if (up) break;
    if (k > 300) throw new Error('Orthanc did not start in 30 s');
    await new Promise((r) => setTimeout(r, 100));
  }

  // QIDO-RS through Orthanc's client.
  const q = await fetch(`${o}/dicom-web/servers/central/get`, { method: 'POST', body: JSON.stringify({ Uri: '/studies', Arguments: { PatientID: 'P-ORTHANC-1' } }) });
  t.equal(q.status, 200, 'QIDO-RS through Orthanc');
  const studies = await q.json() as Record<string, { Value?: unknown[] }>[];
  t.same(studies.map((s) => s['0020000D']?.Value?.[0]), [study], 'the study found by Patient ID');

  // WADO-RS retrieve of the study into Orthanc.
  const r = await fetch(`${o}/dicom-web/servers/central/retrieve`, { method: 'POST', body: JSON.stringify({ Resources: [{ Study: study }] }) });
  t.equal(r.status, 200, `WADO-RS retrieve through Orthanc ${r.ok ? '' : await r.text()}`);
  const ids = await (await fetch(`${o}/instances`)).json() as string[];
  t.equal(ids.length, 3, 'Orthanc holds the three instances');
  const files = await Promise.all(ids.map(async (id) => Buffer.from(await (await fetch(`${o}/instances/${id}/file`)).arrayBuffer())));
  t.same(files.map((f) => f.toString('base64')).sort(), sent.map((f) => f.toString('base64')).sort(), 'each file byte-identical to what the clinic sent');
  const tags = await (await fetch(`${o}/instances/${ids[0]}/simplified-tags`)).json() as { PatientName?: string };
  t.equal(tags.PatientName, '张三', 'Orthanc reads the GB18030 name');
  const jpegId = ids[files.findIndex((f) => f.equals(sent[0]!))]!;
  const preview = await fetch(`${o}/instances/${jpegId}/preview`);
  t.equal(preview.status, 200, 'Orthanc renders the JPEG image it retrieved');
  t.equal(Buffer.from(await preview.arrayBuffer()).readUInt32BE(0), 0x89504e47, 'a PNG');

  const retrieves = seen.filter((s) => s.path === `/api/imaging/dicomweb/studies/${study}`);
  t.ok(retrieves.length >= 1, 'Orthanc asked central for the study');
  t.match(retrieves[0]!.accept, /type="application\/dicom".*transfer-syntax=\*/, `its Accept: ${retrieves[0]!.accept}`);
  t.equal(retrieves[0]!.authorization, 'Bearer district-hospital-viewer', 'with the configured credentials');
});
