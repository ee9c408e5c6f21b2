/**
 * WADO-RS through central's routes in the transfer syntax the Accept header asks for: instances
 * stored as a device sent them (JPEG baseline from dcmcjpeg, Implicit VR, MPEG-2) are retrieved
 * in Explicit VR Little Endian by default (dcmtk reads the result), byte-identical with
 * `transfer-syntax=*`, refused with 406 and the reason when neither can be; frames likewise;
 * counted in the metrics and audited.
 */
import t from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Registry } from 'prom-client';
import { buildPart10, testUid } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { run } from '../../device-drivers/dicom/test-support/harness.ts';
import { imagingApp } from './testkit.ts';
import { parseMultipartRelated } from './stow.ts';

const ELE = '1.2.840.10008.1.2.1';
const JPEG = '1.2.840.10008.1.2.4.50';
const MPEG2 = '1.2.840.10008.1.2.4.100';
const ZHANG_SAN = Buffer.from([0xd5, 0xc5, 0xc8, 0xfd]);
const ROWS = 64, COLS = 80;

t.test('WADO-RS retrieve and frames in the transfer syntax asked for', async (t) => {
  const registry = new Registry();
  const { dir, wh, app, stow } = imagingApp(t, 'wado-ts', { registry });

  const study = testUid();
  const ids = () => ({ sop: testUid(), series: testUid() });
  const rgb = Buffer.alloc(ROWS * COLS * 3);
  for (let i = 0; i < rgb.length; i++) rgb[i] = (i % 251) ^ ((i / COLS) & 0x3f);
  // JPEG baseline as an ultrasound device sends it (dcmcjpeg), a Chinese name in GB18030.
  const us = ids();
  writeFileSync(join(dir, 'us.dcm'), buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.6.1', sopInstanceUid: us.sop, studyInstanceUid: study, seriesInstanceUid: us.series, modality: 'US', rows: ROWS, columns: COLS, samplesPerPixel: 3, pixels: rgb, specificCharacterSet: 'GB18030', patientName: ZHANG_SAN }));
  t.equal((await run('dcmcjpeg', ['+eb', '+un', join(dir, 'us.dcm'), join(dir, 'us-jpeg.dcm')])).code, 0, 'dcmcjpeg');
  const usJpeg = readFileSync(join(dir, 'us-jpeg.dcm'));
  // Implicit VR Little Endian DX, as older devices send it.
  const dx = ids();
  const dxPixels = Buffer.alloc(ROWS * COLS * 2);
  for (let i = 0; i < ROWS * COLS; i++) dxPixels.writeUInt16LE((i * 7) % 4096, i * 2);
  const dxImplicit = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: dx.sop, studyInstanceUid: study, seriesInstanceUid: dx.series, modality: 'DX', rows: ROWS, columns: COLS, bitsAllocated: 16, bitsStored: 12, pixels: dxPixels, transferSyntaxUid: '1.2.840.10008.1.2' });
  // MPEG-2 video (no decoder here): only as stored.
  const mp = ids();
  const mpeg = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.77.1.4.1', sopInstanceUid: mp.sop, studyInstanceUid: study, seriesInstanceUid: mp.series, modality: 'ES', rows: ROWS, columns: COLS, samplesPerPixel: 3, photometric: 'YBR_PARTIAL_420', transferSyntaxUid: MPEG2, fragments: [Buffer.alloc(64, 1)] });
  for (const body of [usJpeg, dxImplicit, mpeg]) t.equal(await stow(body), 200, 'stored by STOW-RS');

  const dw = `http://central/api/imaging/dicomweb/studies/${study}`;
  const get = async (path: string, accept?: string) => {
    const r = await app.request(`${dw}${path}`, accept ? { headers: { accept } } : {});
    const body = Buffer.from(await r.arrayBuffer());
    return { status: r.status, ct: r.headers.get('content-type') ?? '', body };
  };
  const parts = (r: { ct: string; body: Buffer }) => parseMultipartRelated(r.ct.replace(/type="[^"]*"/, 'type="application/dicom"'), r.body);

  // One instance, no transfer-syntax: Explicit VR Little Endian, which dcmtk reads.
  const dflt = await get(`/series/${us.series}/instances/${us.sop}`, 'multipart/related; type="application/dicom"');
  t.equal(dflt.status, 200);
  const [p] = parts(dflt);
  t.equal(p!.headers['content-type'], `application/dicom; transfer-syntax=${ELE}`, 'the part names its transfer syntax');
  writeFileSync(join(dir, 'got.dcm'), p!.body);
  const dump = await run('dcmdump', ['-q', join(dir, 'got.dcm')]);
  t.equal(dump.code, 0, 'dcmdump reads the transcoded instance');
  t.match(dump.stdout, /TransferSyntaxUID.*|LittleEndianExplicit/);
  t.match(dump.stdout, /\(0028,0004\) CS \[RGB\]/, 'decoded to RGB');
  t.match(dump.stdout, /\(7fe0,0010\) OB .*# 15360, 1 PixelData/, 'native pixel data, rows x columns x 3');
  t.ok(p!.body.includes(ZHANG_SAN), 'the GB18030 name byte for byte');
  t.equal((await run('dcm2pnm', ['-q', join(dir, 'got.dcm'), join(dir, 'got.ppm')])).code, 0, 'dcm2pnm renders it');

  // As stored: byte-identical.
  const star = await get(`/series/${us.series}/instances/${us.sop}`, 'multipart/related; type="application/dicom"; transfer-syntax=*');
  t.equal(star.status, 200);
  t.ok(parts(star)[0]!.body.equals(usJpeg), 'transfer-syntax=*: byte-identical to what was sent');
  t.equal(parts(star)[0]!.headers['content-type'], `application/dicom; transfer-syntax=${JPEG}`);
  const named = await get(`/series/${us.series}/instances/${us.sop}`, `multipart/related; type="application/dicom"; transfer-syntax=${JPEG}`);
  t.ok(parts(named)[0]!.body.equals(usJpeg), 'the stored UID named: byte-identical');

  // Neither: 406 with what can be had.
  const j2k = await get(`/series/${us.series}/instances/${us.sop}`, 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.91');
  t.equal(j2k.status, 406, 'JPEG 2000 asked of a JPEG instance: 406');
  t.match(JSON.parse(j2k.body.toString()), { error: 'not acceptable', detail: /transfer-syntax=\*.*Explicit VR Little Endian/ });
  const video = await get(`/series/${mp.series}/instances/${mp.sop}`);
  t.equal(video.status, 406, 'MPEG-2 in the default syntax: 406 (no decoder)');
  t.ok(parts(await get(`/series/${mp.series}/instances/${mp.sop}`, 'multipart/related; type="application/dicom"; transfer-syntax=*'))[0]!.body.equals(mpeg), 'MPEG-2 as stored');

  // A study: JPEG and Implicit VR both transcoded as the body is sent; the video refused as a whole.
  t.equal((await get('')).status, 406, 'the study with its video in the default syntax: 406 (one of three cannot be given)');
  const two = await get(`/series/${dx.series}`);
  t.equal(two.status, 200);
  const [dxPart] = parts(two);
  writeFileSync(join(dir, 'dx.dcm'), dxPart!.body);
  const dxDump = await run('dcmdump', ['-q', join(dir, 'dx.dcm')]);
  t.match(dxDump.stdout, /LittleEndianExplicit/, 'the Implicit VR DX in Explicit VR');
  t.match(dxDump.stdout, /\(0028,0100\) US 16/, 'with its VRs');
  const whole = await get('', 'multipart/related; type="application/dicom"; transfer-syntax=*');
  t.same(parts(whole).map((x) => x.body.length).sort(), [usJpeg.length, dxImplicit.length, mpeg.length].sort(), 'the whole study as stored');

  // Frames: decoded by default, as stored with *.
  const f = await get(`/series/${us.series}/instances/${us.sop}/frames/1`);
  t.equal(f.status, 200);
  t.match(f.ct, /type="application\/octet-stream"/);
  t.equal(parts(f)[0]!.body.length, ROWS * COLS * 3, 'frame 1 uncompressed');
  const fStored = await get(`/series/${us.series}/instances/${us.sop}/frames/1`, 'multipart/related; type="application/octet-stream"; transfer-syntax=*');
  t.match(fStored.ct, /transfer-syntax=1\.2\.840\.10008\.1\.2\.4\.50/, 'frame 1 as stored: typed JPEG');
  t.equal(parts(fStored)[0]!.body.readUInt16BE(0), 0xffd8, 'a JPEG stream (SOI)');
  t.equal((await get(`/series/${us.series}/instances/${us.sop}/frames/2`)).status, 404, 'frame 2 of 1: 404');
  t.equal((await get(`/series/${us.series}/instances/${us.sop}/frames/x`)).status, 400, 'a bad frame list: 400');
  t.equal((await get(`/series/${mp.series}/instances/${mp.sop}/frames/1`)).status, 406, 'video frames uncompressed: 406');

  const metrics = await registry.metrics();
  t.match(metrics, /central_imaging_wado_transcoded_total\{what="instances"\} 2/, 'instances transcoded: the US and the DX');
  t.match(metrics, /central_imaging_wado_transcoded_total\{what="frames"\} 1/);
  await new Promise((r) => setTimeout(r, 50)); // audit writes are not awaited by the routes
  const outcomes = (wh.db.prepare("SELECT outcome FROM audit_log WHERE action IN ('wado.retrieve', 'wado.frames') ORDER BY id").all() as { outcome: string }[]).map((r) => r.outcome);
  t.ok(outcomes.includes('ok (1, 1 in Explicit VR Little Endian)'), 'a transcoded retrieve is audited as such');
  t.ok(outcomes.some((o) => o.startsWith('refused 406')), 'refusals audited');
});
