import t from 'tap';
import fc from 'fast-check';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hono } from 'hono';
import { buildPart10, el, testUid } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { run } from '../../device-drivers/dicom/test-support/harness.ts';
import { SqliteWarehouse } from '../warehouse/sqlite.ts';
import { mountCentralImaging } from './index.ts';
import { MultipartError, parseMultipartRelated } from './stow.ts';

const US = '1.2.840.10008.5.1.4.1.1.6.1';

function multipart(boundary: string, parts: { type?: string; body: Buffer }[]): Buffer {
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: ${p.type ?? 'application/dicom'}\r\n\r\n`), p.body, Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return Buffer.concat(chunks);
}

t.test('multipart/related parser: parts, bodies with CRLF inside, errors', async (t) => {
  const a = Buffer.from('first\r\nstill first');
  const b = Buffer.from([0, 1, 2, 13, 10, 45, 45, 3]);
  const parts = parseMultipartRelated('multipart/related; type="application/dicom"; boundary=XyZ', multipart('XyZ', [{ body: a }, { body: b }]));
  t.equal(parts.length, 2);
  t.ok(parts[0]!.body.equals(a));
  t.ok(parts[1]!.body.equals(b));
  t.equal(parts[0]!.headers['content-type'], 'application/dicom');
  t.throws(() => parseMultipartRelated('multipart/form-data; boundary=a', Buffer.alloc(0)), MultipartError, 'form-data refused');
  t.throws(() => parseMultipartRelated('multipart/related; type="application/dicom+json"; boundary=a', Buffer.alloc(0)), /not supported/);
  t.throws(() => parseMultipartRelated('multipart/related; type="application/dicom"', Buffer.alloc(0)), /boundary missing/);
  const truncated = multipart('B', [{ body: a }]).subarray(0, 40);
  t.throws(() => parseMultipartRelated('multipart/related; boundary=B', truncated), /closing boundary|not terminated/);
});

t.test('multipart parser: arbitrary bodies give parts or a MultipartError, nothing else', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom('B', 'xx', '--'), (bytes, boundary) => {
    const body = Buffer.concat([Buffer.from(`--${boundary}\r\n`), Buffer.from(bytes)]);
    try {
      parseMultipartRelated(`multipart/related; boundary=${boundary}`, body);
    } catch (e) {
      if (!(e instanceof MultipartError)) throw e;
    }
  }), { numRuns: 500 });
  t.pass('500 generated bodies');
});

t.test('STOW-RS over HTTP: stored, failed, study mismatch, retrievable by WADO-RS', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stow-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(() => wh.close());
  const app = new Hono();
  mountCentralImaging(app, { wh, dataDir: dir });
  const study = testUid();
  const series = testUid();
  const mk = (st = study) => {
    const sop = testUid();
    return { sop, bytes: buildPart10({ sopClassUid: US, sopInstanceUid: sop, studyInstanceUid: st, seriesInstanceUid: series, modality: 'US', patientId: 'H1', studyDate: '20261128' }) };
  };
  const one = mk();
  const two = mk();
  const ct = 'multipart/related; type="application/dicom"; boundary=stow-boundary';
  const post = (path: string, body: Buffer) => app.request(`http://central${path}`, { method: 'POST', headers: { 'content-type': ct, 'x-clinic-id': 'district-hospital' }, body: new Uint8Array(body) });

  const r = await post('/api/imaging/dicomweb/studies', multipart('stow-boundary', [{ body: one.bytes }, { body: two.bytes }, { body: Buffer.from('not dicom at all') }]));
  t.equal(r.status, 202, 'some stored, one failed');
  const j = await r.json() as Record<string, { Value: Record<string, { Value?: unknown[] }>[] }>;
  t.same(j['00081199']!.Value.map((x) => x['00081155']!.Value![0]).sort(), [one.sop, two.sop].sort(), 'ReferencedSOPSequence lists both');
  t.equal(j['00081198']!.Value.length, 1, 'FailedSOPSequence lists the garbage part');
  t.equal(j['00081198']!.Value[0]!['00081197']!.Value![0], 0xc000, 'reason: cannot understand');

  const other = mk(testUid());
  const m = await post(`/api/imaging/dicomweb/studies/${study}`, multipart('stow-boundary', [{ body: other.bytes }]));
  t.equal(m.status, 409, 'instance of another study refused when the URL names a study');

  const bad = await app.request('http://central/api/imaging/dicomweb/studies', { method: 'POST', headers: { 'content-type': 'application/dicom' }, body: new Uint8Array(one.bytes) });
  t.equal(bad.status, 400, 'a bare application/dicom body is refused with a reason');
  t.match(await bad.text(), /multipart\/related/);

  const wado = await app.request(`http://central/api/imaging/dicomweb/studies/${study}/series/${series}/instances/${one.sop}`);
  t.equal(wado.status, 200);
  const raw = Buffer.from(await wado.arrayBuffer());
  t.ok(raw.includes(one.bytes), 'WADO-RS returns the stored bytes unchanged');
  const stored = readFileSync(join(dir, 'imaging', 'external.district-hospital', study, `${one.sop}.dcm`));
  t.ok(stored.equals(one.bytes), 'archived under external.<sender> (X-Clinic-Id names the sender; it cannot claim a clinic)');
  const bogus = await app.request('http://central/api/imaging/dicomweb/studies', { method: 'POST', headers: { 'content-type': ct, 'x-clinic-id': '../c01' }, body: new Uint8Array(multipart('stow-boundary', [{ body: mk().bytes }])) });
  t.equal(bogus.status, 400, 'an X-Clinic-Id that is not a plain name is refused');
});

t.test('STOW-RS body limit: applied as the bytes arrive, with or without Content-Length', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'stow-limit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(() => wh.close());
  const app = new Hono();
  mountCentralImaging(app, { wh, dataDir: dir, stowMaxBytes: 64 * 1024 });
  const ct = 'multipart/related; type="application/dicom"; boundary=b';
  const small = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.7', sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'OT' });
  t.equal((await app.request('http://central/api/imaging/dicomweb/studies', { method: 'POST', headers: { 'content-type': ct }, body: new Uint8Array(multipart('b', [{ body: small }])) })).status, 200, 'a body under the limit is stored');
  let pulled = 0;
  const endless = new ReadableStream<Uint8Array>({
    pull(controller) {
      pulled++;
      controller.enqueue(new Uint8Array(16 * 1024));
      if (pulled > 1000) controller.close(); // 16 MB: far past the limit, were it all read
    },
  });
  const r = await app.request('http://central/api/imaging/dicomweb/studies', { method: 'POST', headers: { 'content-type': ct }, body: endless, duplex: 'half' } as RequestInit);
  t.equal(r.status, 413, 'a chunked body past the limit: 413');
  t.match(await r.text(), /limited to 65536 bytes/);
  t.ok(pulled < 10, `reading stopped at the limit (${pulled} chunks of 16 KiB pulled)`);
  await new Promise((res) => setTimeout(res, 50)); // the audit write is not awaited by the route
  const refusals = wh.db.prepare("SELECT outcome FROM audit_log WHERE action = 'stow.store' AND outcome LIKE 'refused%'").all() as { outcome: string }[];
  t.same(refusals.map((r) => r.outcome), ['refused: body over 65536 bytes'], 'the refusal is audited');
  const declared = await app.request('http://central/api/imaging/dicomweb/studies', { method: 'POST', headers: { 'content-type': ct, 'content-length': String(10 * 1024 * 1024) }, body: new Uint8Array(16) });
  t.equal(declared.status, 413, 'a declared Content-Length past the limit: 413 before reading');
});

t.test('WADO-RS frames and bulk data: native multi-frame cut per frame, errors named', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'frames-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(() => wh.close());
  const app = new Hono();
  mountCentralImaging(app, { wh, dataDir: dir });
  const [study, series, sop] = [testUid(), testUid(), testUid()];
  // 3 frames of 4x2 8-bit pixels, frame k filled with the value k.
  const pixels = Buffer.concat([1, 2, 3].map((k) => Buffer.alloc(8, k)));
  const bytes = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.3.1', sopInstanceUid: sop, studyInstanceUid: study, seriesInstanceUid: series, modality: 'US', rows: 2, columns: 4, bitsAllocated: 8, frames: 3, pixels });
  const st = await app.request('http://central/api/imaging/dicomweb/studies', { method: 'POST', headers: { 'content-type': 'multipart/related; boundary=b' }, body: new Uint8Array(multipart('b', [{ body: bytes }])) });
  t.equal(st.status, 200, 'multi-frame US stored by STOW-RS');

  const base = `http://central/api/imaging/dicomweb/studies/${study}/series/${series}/instances/${sop}`;
  const r = await app.request(`${base}/frames/3,1`);
  t.equal(r.status, 200);
  const ct = r.headers.get('content-type') ?? '';
  t.match(ct, /multipart\/related; type="application\/octet-stream"/);
  const parts = parseMultipartRelated(ct.replace('type="application/octet-stream"', 'type="application/dicom"'), Buffer.from(await r.arrayBuffer()));
  t.same(parts.map((p) => [...p.body]), [Array(8).fill(3), Array(8).fill(1)], 'frames 3 and 1, in the order asked');

  t.equal((await app.request(`${base}/frames/4`)).status, 404, 'frame beyond the instance');
  const zero = await app.request(`${base}/frames/0`);
  t.equal(zero.status, 400, 'frame numbers start at 1');
  t.match(await zero.text(), /start at 1/);
  const many = await app.request(`${base}/frames/${Array(10_001).fill(1).join(',')}`);
  t.equal(many.status, 400, 'more than 10,000 frames in one request: 400');
  t.match(await many.text(), /at most 10000, ask in several/);
  const repeated = await app.request(`${base}/frames/${Array(3000).fill('2,3').join(',')}`);
  const rp6000 = parseMultipartRelated((repeated.headers.get('content-type') ?? '').replace('type="application/octet-stream"', 'type="application/dicom"'), Buffer.from(await repeated.arrayBuffer()));
  t.equal(rp6000.length, 6000, '6,000 parts from one file handle');
  t.ok(rp6000.every((p, k) => p.body.equals(Buffer.alloc(8, k % 2 ? 3 : 2))), 'each the frame asked');

  const meta = await (await app.request(`${base}/metadata`)).json() as Record<string, { BulkDataURI?: string }>[];
  const uri = meta[0]!['7FE00010']!.BulkDataURI!;
  t.match(uri, /\/bulkdata\/7FE00010$/, 'metadata points pixel data at the bulkdata endpoint');
  const bulk = await app.request(`http://central${new URL(uri).pathname}`);
  t.equal(bulk.status, 200, 'the BulkDataURI from the metadata resolves');
  const bp = parseMultipartRelated((bulk.headers.get('content-type') ?? '').replace('application/octet-stream', 'application/dicom'), Buffer.from(await bulk.arrayBuffer()));
  t.ok(bp[0]!.body.equals(pixels), 'bulk data is the whole pixel data');
  t.equal((await app.request(`${base}/bulkdata/nothex`)).status, 400);

  // Encapsulated (RLE, one fragment per frame): the fragments' bytes joined, read from the file.
  const fragments = [Buffer.alloc(40, 7), Buffer.alloc(4, 8), Buffer.alloc(1500, 9)]; // even: items are padded
  const rle = { sop: testUid(), series: testUid() };
  const rleBytes = buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.3.1', sopInstanceUid: rle.sop, studyInstanceUid: study, seriesInstanceUid: rle.series, modality: 'US', rows: 2, columns: 4, bitsAllocated: 8, frames: 3, transferSyntaxUid: '1.2.840.10008.1.2.5', fragments });
  t.equal((await app.request('http://central/api/imaging/dicomweb/studies', { method: 'POST', headers: { 'content-type': 'multipart/related; boundary=b' }, body: new Uint8Array(multipart('b', [{ body: rleBytes }])) })).status, 200);
  const rleBulk = await app.request(`http://central/api/imaging/dicomweb/studies/${study}/series/${rle.series}/instances/${rle.sop}/bulkdata/7FE00010`);
  t.equal(rleBulk.status, 200);
  const rleBody = Buffer.from(await rleBulk.arrayBuffer());
  t.equal(Number(rleBulk.headers.get('content-length')), rleBody.length, 'Content-Length is the body length');
  const rp = parseMultipartRelated((rleBulk.headers.get('content-type') ?? '').replace('application/octet-stream', 'application/dicom'), rleBody);
  t.ok(rp[0]!.body.equals(Buffer.concat(fragments)), 'encapsulated bulk data: the fragments joined, without item headers');
  const rleFrames = await app.request(`http://central/api/imaging/dicomweb/studies/${study}/series/${rle.series}/instances/${rle.sop}/frames/3,1,3`, { headers: { accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' } });
  t.match(rleFrames.headers.get('content-type') ?? '', /transfer-syntax=1\.2\.840\.10008\.1\.2\.5/, 'encapsulated frames asked as stored (transfer-syntax=*): typed with their transfer syntax');
  // Without transfer-syntax the frames are decoded to native; these fragments are not RLE: 406 saying why.
  const undecodable = await app.request(`http://central/api/imaging/dicomweb/studies/${study}/series/${rle.series}/instances/${rle.sop}/frames/1`);
  t.equal(undecodable.status, 406, 'native frames asked of an undecodable RLE instance: 406');
  t.match(await undecodable.json(), { error: 'not acceptable', detail: /RLE|segment|header/i });
  const fp = parseMultipartRelated((rleFrames.headers.get('content-type') ?? '').replace(/application\/octet-stream; transfer-syntax=[0-9.]+/, 'application/dicom'), Buffer.from(await rleFrames.arrayBuffer()));
  t.same(fp.map((p) => p.body.toString('hex')), [fragments[2]!, fragments[0]!, fragments[2]!].map((b) => b.toString('hex')), 'encapsulated frames 3, 1, 3 as stored (one file handle for all)');

  // Elements after Pixel Data (a private group, trailing padding): in the metadata, their bulk data
  // read from the bytes after Pixel Data; a path the file does not hold: 404.
  const tail = { sop: testUid(), series: testUid() };
  const tailBytes = Buffer.concat([
    buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.3.1', sopInstanceUid: tail.sop, studyInstanceUid: study, seriesInstanceUid: tail.series, modality: 'US', rows: 2, columns: 4, bitsAllocated: 8, frames: 3, pixels }),
    el(0x7fe10010, 'LO', 'ACME 1.0', { explicit: true }), el(0x7fe11001, 'OB', Buffer.from([1, 2, 3, 4, 5, 6]), { explicit: true }), el(0xfffcfffc, 'OB', Buffer.alloc(10), { explicit: true }),
  ]);
  t.equal((await app.request('http://central/api/imaging/dicomweb/studies', { method: 'POST', headers: { 'content-type': 'multipart/related; boundary=b' }, body: new Uint8Array(multipart('b', [{ body: tailBytes }])) })).status, 200);
  const tailBase = `http://central/api/imaging/dicomweb/studies/${study}/series/${tail.series}/instances/${tail.sop}`;
  const tailMeta = (await (await app.request(`${tailBase}/metadata`)).json() as Record<string, { Value?: unknown[]; BulkDataURI?: string }>[])[0]!;
  t.same(tailMeta['7FE10010']?.Value, ['ACME 1.0'], 'metadata: the element after Pixel Data');
  t.match(tailMeta['7FE11001']?.BulkDataURI ?? '', /\/bulkdata\/7FE11001$/, 'metadata: its binary one as a BulkDataURI');
  t.ok(tailMeta['FFFCFFFC'], 'metadata: the trailing padding');
  const tailBulk = await app.request(`http://central${new URL(tailMeta['7FE11001']!.BulkDataURI!).pathname}`);
  const tb = parseMultipartRelated((tailBulk.headers.get('content-type') ?? '').replace('application/octet-stream', 'application/dicom'), Buffer.from(await tailBulk.arrayBuffer()));
  t.same([...tb[0]!.body], [1, 2, 3, 4, 5, 6], 'its bulk data');
  t.equal((await app.request(`${tailBase}/bulkdata/7FE11002`)).status, 404, 'a tag after Pixel Data the file does not hold: 404');
  t.equal((await app.request(`${tailBase}/bulkdata/00091001`)).status, 404, 'a tag before it the file does not hold: 404');

  // A stored file cut short after it was indexed: refused with the reason, not a partial body.
  const storedPath = join(dir, 'imaging', 'external.unknown', study, `${sop}.dcm`);
  const onDisk = existsSync(storedPath) ? storedPath : findFile(dir, `${sop}.dcm`);
  truncateSync(onDisk, statSync(onDisk).size - 10);
  const cut = await app.request(`${base}/bulkdata/7FE00010`);
  t.equal(cut.status, 404, 'a truncated file: 404');
  t.match(await cut.text(), /cannot be read|past the end/, 'with the reason');
  const f1 = await app.request(`${base}/frames/1`);
  t.equal(f1.status, 404, 'any frame of the damaged file: 404 (the file is refused as a whole)');
  t.match(await f1.text(), /declares 24 bytes, the file holds 14/, 'naming the damage');
});

t.test('imaging routes appear in the OpenAPI document', async (t) => {
  const { OpenAPIHono } = await import('@hono/zod-openapi');
  const dir = mkdtempSync(join(tmpdir(), 'imaging-oas-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(() => wh.close());
  const app = new OpenAPIHono();
  mountCentralImaging(app, { wh, dataDir: dir });
  app.doc31('/openapi.json', { openapi: '3.1.0', info: { title: 't', version: '1' } });
  const doc = await (await app.request('http://central/openapi.json')).json() as { paths: Record<string, Record<string, { responses: Record<string, unknown> }>> };
  const paths = Object.keys(doc.paths);
  for (const p of ['/api/imaging/dicomweb/studies', '/api/imaging/dicomweb/studies/{study}/series/{series}/instances/{sop}/frames/{frames}', '/api/imaging/studies/{study}/reports', '/archive/instances/{sop}', '/api/imaging/stats', '/api/imaging/wado']) {
    t.ok(paths.includes(p), `${p} documented`);
  }
  t.notOk(paths.includes('/api/imaging/instances/{sop}'), 'the shared-token upload route (clinic from X-Clinic-Id) is gone');
  t.ok(doc.paths['/api/imaging/dicomweb/studies']!.post!.responses['202'], 'STOW-RS partial-failure status documented');
  t.ok(doc.paths['/api/imaging/dicomweb/studies/{study}/series/{series}/instances/{sop}']!.get!.responses['406'], 'WADO-RS: 406 (no acceptable transfer syntax) documented');
  t.ok(doc.paths['/api/imaging/wado']!.get!.responses['400'], 'WADO-URI documented with its refusals');
});

t.test('WADO-RS rendered: compressed instances decoded in the preview thread; what cannot be says why (415)', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'rendered-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const wh = new SqliteWarehouse(join(dir, 'warehouse.db'));
  t.teardown(() => wh.close());
  const app = new Hono();
  const imaging = mountCentralImaging(app, { wh, dataDir: dir });
  t.teardown(() => imaging.previews.close());
  const [study, series] = [testUid(), testUid()];
  // A 16-bit DR image compressed by dcmtk (JPEG-LS lossless), as a DR console sends it.
  const rows = 300, cols = 240;
  const px = Buffer.alloc(rows * cols * 2);
  for (let i = 0; i < rows * cols; i++) px.writeUInt16LE((i % cols) * 16, i * 2);
  const native = join(dir, 'dx.dcm');
  const dxSop = testUid();
  writeFileSync(native, buildPart10({ sopClassUid: '1.2.840.10008.5.1.4.1.1.1.1', sopInstanceUid: dxSop, studyInstanceUid: study, seriesInstanceUid: series, modality: 'DX', rows, columns: cols, bitsAllocated: 16, bitsStored: 12, pixels: px }));
  const jls = join(dir, 'dx-jls.dcm');
  t.equal((await run('dcmcjpls', [native, jls])).code, 0, 'dcmcjpls');
  const cutSop = testUid();
  const cut = buildPart10({ sopClassUid: US, sopInstanceUid: cutSop, studyInstanceUid: study, seriesInstanceUid: series, modality: 'US', transferSyntaxUid: '1.2.840.10008.1.2.4.90', pixels: Buffer.from([0xff, 0x4f, 0xff, 0x51, 0, 0]) });
  const ct = 'multipart/related; type="application/dicom"; boundary=r';
  const stow = await app.request('http://central/api/imaging/dicomweb/studies', { method: 'POST', headers: { 'content-type': ct, 'x-clinic-id': 'district-hospital' }, body: new Uint8Array(multipart('r', [{ body: readFileSync(jls) }, { body: cut }])) });
  t.equal(stow.status, 200, 'both stored as received');
  const png = await app.request(`http://central/api/imaging/dicomweb/studies/${study}/series/${series}/instances/${dxSop}/rendered?size=120`);
  t.equal(png.status, 200, 'JPEG-LS rendered');
  t.equal(png.headers.get('content-type'), 'image/png');
  const body = Buffer.from(await png.arrayBuffer());
  t.same([body.readUInt32BE(16), body.readUInt32BE(20)], [96, 120], 'fits 120 pixels, aspect kept');
  const refused = await app.request(`http://central/api/imaging/dicomweb/studies/${study}/series/${series}/instances/${cutSop}/rendered`);
  t.equal(refused.status, 415, 'cut-off JPEG 2000: 415');
  t.match(await refused.json(), { error: 'cannot render', detail: /JPEG 2000 frame 1 has no readable frame header/ });
  t.match(imaging.previews.stats, { rendered: 1, unsupported: 1 });
  await new Promise((r) => setTimeout(r, 50)); // audit writes are not awaited by the route
  const audit = wh.db.prepare("SELECT target, outcome FROM audit_log WHERE action = 'wado.rendered' ORDER BY id").all() as { target: string; outcome: string }[];
  t.match(audit, [{ target: dxSop, outcome: 'ok' }, { target: cutSop, outcome: /^unsupported: JPEG 2000/ }], 'each preview audited with its outcome');
});

/** The path of the file called `name` under `dir`. */
function findFile(dir: string, name: string): string {
  const hit = (readdirSync(dir, { recursive: true }) as string[]).find((p) => p.endsWith(name));
  if (!hit) throw new Error(`${name} not under ${dir}`);
  return join(dir, hit);
}
