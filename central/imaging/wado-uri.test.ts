/**
 * WADO-URI (wado-uri.ts): the parameters checked (hand-made cases and a fast-check property: any
 * query gives a request or a status with a reason, never an exception), and the route on stored
 * instances: JPEG by default (dcmtk's img2dcm reads it), PNG, a box to fit, another frame, a
 * window; application/dicom transcoded or as stored; refusals with their status and reason;
 * audited.
 */
import t from 'tap';
import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPart10, testUid } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { run } from '../../device-drivers/dicom/test-support/harness.ts';
import { mono16, rgb8 } from '../../device-drivers/dicom/test-support/pixels.ts';
import { jpegHeader } from '../../contracts/dicom/codecs.ts';
import { imagingApp } from './testkit.ts';
import { parseWadoUri } from './wado-uri.ts';

const ids = { requestType: 'WADO', studyUID: '1.2.3', seriesUID: '1.2.3.4', objectUID: '1.2.3.4.5' };

t.test('parameters', async (t) => {
  t.match(parseWadoUri(ids), { kind: 'image', format: 'jpeg', options: { format: 'jpeg' } }, 'image/jpeg by default');
  t.match(parseWadoUri({ ...ids, contentType: 'image/gif, image/png' }), { kind: 'image', format: 'png' }, 'the first type served');
  t.match(parseWadoUri({ ...ids, contentType: 'application/dicom' }), { kind: 'dicom', transferSyntax: '1.2.840.10008.1.2.1' }, 'application/dicom: Explicit VR Little Endian by default');
  t.match(parseWadoUri({ ...ids, contentType: 'application/dicom', transferSyntax: '*' }), { kind: 'dicom', transferSyntax: '*' });
  t.match(parseWadoUri({ ...ids, rows: '128', columns: '100', frameNumber: '2', windowCenter: '40', windowWidth: '400', imageQuality: '70' }),
    { kind: 'image', options: { box: { rows: 128, cols: 100 }, frame: 2, window: { center: 40, width: 400 }, quality: 70 } });
  for (const [q, why] of [
    [{ ...ids, requestType: 'wado' }, /requestType/],
    [{ ...ids, objectUID: undefined }, /objectUID is required/],
    [{ ...ids, studyUID: '1.2.x' }, /not a UID/],
    [{ ...ids, rows: '0' }, /rows must be a whole number/],
    [{ ...ids, rows: '1e3' }, /rows must be a whole number/],
    [{ ...ids, windowCenter: '40' }, /go together/],
    [{ ...ids, windowCenter: '40', windowWidth: '0' }, /at least 1/],
    [{ ...ids, region: '0,0,0.5,0.5' }, /region is not offered/],
    [{ ...ids, anonymize: 'yes' }, /anonymize/],
    [{ ...ids, contentType: 'application/dicom', rows: '64' }, /not to application\/dicom/],
    [{ ...ids, transferSyntax: '1.2.840.10008.1.2.1' }, /not to a rendered image/],
    [{ ...ids, contentType: 'image/png', imageQuality: '50' }, /image\/jpeg/],
  ] as const) t.match(parseWadoUri(q as Record<string, string | undefined>), { status: 400, detail: why }, String(why));
  t.match(parseWadoUri({ ...ids, contentType: 'image/gif' }), { status: 406, detail: /image\/jpeg.*image\/png.*application\/dicom/ }, 'a type not served: 406');

  const key = fc.constantFrom('requestType', 'studyUID', 'seriesUID', 'objectUID', 'contentType', 'rows', 'columns', 'frameNumber', 'windowCenter', 'windowWidth', 'imageQuality', 'transferSyntax', 'region', 'anonymize', 'annotation');
  const value = fc.oneof(fc.constantFrom('WADO', '1.2.3', 'image/jpeg', 'application/dicom', '*', '0', '1', '512', '-1', '1.5', 'NaN', ''), fc.string({ maxLength: 30 }));
  fc.assert(fc.property(fc.dictionary(key, value), fc.boolean(), (q, withIds) => {
    const r = parseWadoUri(withIds ? { ...ids, ...q } : q);
    if ('status' in r) return (r.status === 400 || r.status === 406) && r.detail.length > 0;
    if (r.kind === 'image') {
      const o = r.options;
      return (o.frame === undefined || (Number.isInteger(o.frame) && o.frame >= 1)) && (o.window === undefined || o.window.width >= 1)
        && (o.box?.rows === undefined || o.box.rows >= 1) && (o.box?.cols === undefined || o.box.cols >= 1);
    }
    return r.transferSyntax.length > 0;
  }), { numRuns: 2000 });
});

t.test('the route on stored instances', async (t) => {
  const { dir, wh, app, stow } = imagingApp(t, 'wado-uri');

  const study = testUid();
  // A JPEG baseline ultrasound image (dcmcjpeg) and a two-frame 12-bit DX (native).
  const us = { series: testUid(), sop: testUid() };
  writeFileSync(join(dir, 'us.dcm'), buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUid: us.sop, studyInstanceUid: study, seriesInstanceUid: us.series, modality: 'US', rows: 96, columns: 128, samplesPerPixel: 3, pixels: rgb8(96, 128) }));
  t.equal((await run('dcmcjpeg', ['+eb', '+un', join(dir, 'us.dcm'), join(dir, 'us-jpeg.dcm')])).code, 0);
  const usJpeg = readFileSync(join(dir, 'us-jpeg.dcm'));
  const dx = { series: testUid(), sop: testUid() };
  const frame2 = Buffer.alloc(96 * 128 * 2);
  for (let i = 0; i < 96 * 128; i++) frame2.writeUInt16LE(4095 - ((i * 13) % 4096), i * 2);
  const dxFile = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: dx.sop, studyInstanceUid: study, seriesInstanceUid: dx.series, modality: 'DX', rows: 96, columns: 128, bitsAllocated: 16, bitsStored: 12, frames: 2, pixels: Buffer.concat([mono16(96, 128), frame2]) });
  t.equal(await stow(usJpeg, dxFile), 200, 'stored');
  const wado = async (o: { series: string; sop: string }, extra: Record<string, string> = {}) => {
    const q = new URLSearchParams({ requestType: 'WADO', studyUID: study, seriesUID: o.series, objectUID: o.sop, ...extra });
    const r = await app.request(`http://central/api/imaging/wado?${q}`);
    return { status: r.status, type: r.headers.get('content-type') ?? '', body: Buffer.from(await r.arrayBuffer()) };
  };
  const pngSize = (b: Buffer) => [b.readUInt32BE(16), b.readUInt32BE(20)];

  const jpeg = await wado(us);
  t.equal(jpeg.status, 200);
  t.equal(jpeg.type, 'image/jpeg', 'image/jpeg by default');
  t.match(jpegHeader(jpeg.body), { width: 128, height: 96, comps: 3, precision: 8 }, 'a colour JPEG of the image\'s size');
  writeFileSync(join(dir, 'got.jpg'), jpeg.body);
  const conv = await run('img2dcm', [join(dir, 'got.jpg'), join(dir, 'got.dcm')]);
  t.equal(conv.code, 0, `dcmtk's img2dcm reads the JPEG ${conv.stderr.slice(0, 200)}`);
  const small = await wado(us, { rows: '48', imageQuality: '40' });
  t.match(jpegHeader(small.body), { width: 64, height: 48 }, 'rows=48: fitted, aspect kept');

  const png = await wado(dx, { contentType: 'image/png', columns: '64' });
  t.equal(png.type, 'image/png');
  t.same(pngSize(png.body), [64, 48], 'columns=64: 64 x 48');
  const f1 = await wado(dx, { contentType: 'image/png' });
  const f2 = await wado(dx, { contentType: 'image/png', frameNumber: '2' });
  t.same(pngSize(f2.body), [128, 96]);
  t.notOk(f1.body.equals(f2.body), 'frame 2 is not frame 1');
  const windowed = await wado(dx, { contentType: 'image/png', windowCenter: '500', windowWidth: '200' });
  t.notOk(windowed.body.equals(f1.body), 'a window of its own changes the image');
  t.equal((await wado(dx, { frameNumber: '3' })).status, 404, 'frame 3 of 2: 404');

  const ele = await wado(us, { contentType: 'application/dicom' });
  t.equal(ele.type, 'application/dicom');
  writeFileSync(join(dir, 'ele.dcm'), ele.body);
  t.match((await run('dcmdump', ['-q', join(dir, 'ele.dcm')])).stdout, /LittleEndianExplicit/, 'application/dicom: transcoded to Explicit VR Little Endian');
  t.ok((await wado(us, { contentType: 'application/dicom', transferSyntax: '1.2.840.10008.1.2.4.50' })).body.equals(usJpeg), 'the stored syntax: byte-identical');
  const j2k = await wado(us, { contentType: 'application/dicom', transferSyntax: '1.2.840.10008.1.2.4.91' });
  t.equal(j2k.status, 406, 'a syntax it cannot give: 406');
  t.match(JSON.parse(j2k.body.toString()), { detail: /transfer-syntax=\*/ });
  t.equal((await wado({ series: us.series, sop: testUid() })).status, 404, 'an unknown object: 404');
  t.equal((await wado({ series: dx.series, sop: us.sop })).status, 404, 'an object of another series: 404');
  t.equal((await wado(us, { region: '0,0,1,1' })).status, 400, 'region: 400');

  await new Promise((r) => setTimeout(r, 50)); // audit writes are not awaited by the route
  const outcomes = (wh.db.prepare("SELECT outcome FROM audit_log WHERE action = 'wado.uri' ORDER BY id").all() as { outcome: string }[]).map((r) => r.outcome);
  t.ok(outcomes.includes('ok image/jpeg') && outcomes.includes('ok image/png frame 2') && outcomes.some((o) => o.startsWith('refused 406')), 'audited with outcomes');
});
