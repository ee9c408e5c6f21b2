/**
 * Transcoding stored instances to Explicit VR Little Endian (transcode.ts), checked against dcmtk:
 * files compressed by dcmcjpeg / dcmcrle / dcmcjpls and implicit VR files written by dcmconv
 * come out as files dcmtk reads (dcmdump, dcm2pnm), with the original pixels (lossless) or
 * dcmtk's own decoding of them within a step or two (lossy), every other element unchanged
 * (GB18030 names byte for byte), and the implicit VR file's elements equal to dcmtk's own
 * conversion (`dcmconv +te`). Broken files give TranscodeError, never anything else.
 */
import t from 'tap';
import fc from 'fast-check';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPart10, el, seq, testUid, type TestInstance } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { run, tempDir } from '../../device-drivers/dicom/test-support/harness.ts';
import { mono16 as mono16Of, rgb8 as rgb8Of } from '../../device-drivers/dicom/test-support/pixels.ts';
import { parsePart10, str } from './dicom-file.ts';
import { EXPLICIT_LE, TranscodeError, transcodeFrames, transcodeInstance } from './transcode.ts';
import { PreviewRenderer } from './preview-pool.ts';

const ROWS = 48, COLS = 64;
const US_MF = '1.2.840.10008.5.1.4.1.1.3.1';
const DX = '1.2.840.10008.5.1.4.1.1.1.1';
const IMPLICIT = '1.2.840.10008.1.2';
/** 张三 in GB18030. */
const ZHANG_SAN = Buffer.from([0xd5, 0xc5, 0xc8, 0xfd]);

function mono8(frames: number): Buffer {
  const b = Buffer.alloc(ROWS * COLS * frames);
  for (let i = 0; i < b.length; i++) b[i] = Math.round(((i % COLS) + Math.floor(i / COLS) % ROWS) * 1.5 + Math.floor(i / (ROWS * COLS)) * 20) & 0xff;
  return b;
}
const mono16 = () => mono16Of(ROWS, COLS);
const rgb8 = () => rgb8Of(ROWS, COLS);
const instance = (over: Partial<TestInstance>) => buildPart10({
  sopClassUid: US_MF, sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', rows: ROWS, columns: COLS,
  specificCharacterSet: 'GB18030', patientName: ZHANG_SAN, ...over,
});
const pixelsOf = (file: Buffer) => {
  const v = parsePart10(file).dict['7FE00010']!.Value![0] as ArrayBuffer;
  return Buffer.from(v);
};
const maxDiff = (a: Buffer, b: Buffer) => { let m = 0; for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!)); return m; };

t.test('dcmtk-compressed instances transcode to files dcmtk reads, with the original pixels', async (t) => {
  using tmp = tempDir('transcode-');
  const originals: Record<string, { file: Buffer; pixels: Buffer }> = {};
  const add = (name: string, pixels: Buffer, over: Partial<TestInstance>) => { originals[name] = { pixels, file: instance({ pixels, ...over }) }; };
  add('mono8x3', mono8(3), { bitsAllocated: 8, frames: 3 });
  add('mono16', mono16(), { sopClassUid: DX, modality: 'DX', bitsAllocated: 16, bitsStored: 12 });
  add('rgb8', rgb8(), { bitsAllocated: 8, samplesPerPixel: 3 });
  const variants = [
    { tool: 'dcmcjpeg', args: [] as string[], ts: '1.2.840.10008.1.2.4.70', lossless: true },
    { tool: 'dcmcjpeg', args: ['+el'], ts: '1.2.840.10008.1.2.4.57', lossless: true },
    { tool: 'dcmcrle', args: [], ts: '1.2.840.10008.1.2.5', lossless: true },
    { tool: 'dcmcjpls', args: [], ts: '1.2.840.10008.1.2.4.80', lossless: true },
    { tool: 'dcmcjpls', args: ['+en'], ts: '1.2.840.10008.1.2.4.81', lossless: false },
    { tool: 'dcmcjpeg', args: ['+eb'], ts: '1.2.840.10008.1.2.4.50', lossless: false, only: ['mono8x3', 'rgb8'] },
  ];
  for (const [name, o] of Object.entries(originals)) {
    const src = join(tmp.dir, `${name}.dcm`);
    writeFileSync(src, o.file);
    for (const v of variants) {
      if (v.only && !v.only.includes(name)) continue;
      const label = `${name} ${v.tool} ${v.args.join(' ')} (${v.ts})`;
      const stored = join(tmp.dir, `${name}-${v.ts}.dcm`);
      t.equal((await run(v.tool, [...v.args, src, stored])).code, 0, `${label}: made by dcmtk`);
      const out = await transcodeInstance(stored);
      const outPath = `${stored}.ele.dcm`;
      writeFileSync(outPath, out);
      const dump = await run('dcmdump', ['-q', outPath]);
      t.equal(dump.code, 0, `${label}: dcmdump reads the result`);
      t.match(dump.stdout, /\(0002,0010\) UI =LittleEndianExplicit/, `${label}: Explicit VR Little Endian`);
      t.equal((await run('dcm2pnm', ['-q', outPath, `${outPath}.pnm`])).code, 0, `${label}: dcm2pnm renders it`);
      const f = parsePart10(out);
      t.equal(f.transferSyntaxUid, EXPLICIT_LE);
      t.ok(out.includes(ZHANG_SAN), `${label}: the GB18030 name is kept byte for byte`);
      t.ok(out.includes(Buffer.from('GB18030')), `${label}: Specific Character Set GB18030 kept`);
      const px = pixelsOf(out);
      t.equal(px.length, o.pixels.length, `${label}: native pixel data of every frame`);
      if (v.lossless) {
        t.ok(px.equals(o.pixels), `${label}: the original pixels`);
      } else {
        // dcmtk's own decoding of the stored file is the reference of a lossy one.
        const ref = join(tmp.dir, `${name}-${v.ts}-dcmtk.dcm`);
        const dec = v.tool === 'dcmcjpeg' ? 'dcmdjpeg' : 'dcmdjpls';
        t.equal((await run(dec, [stored, ref])).code, 0, `${label}: ${dec}`);
        const d = maxDiff(px, pixelsOf(readFileSync(ref)));
        t.ok(d <= 2, `${label}: within ${d} of dcmtk's decoding`);
        t.equal(str(f.dict, '00282110'), '01', `${label}: marked lossy`);
      }
      if (name === 'rgb8') {
        t.equal(str(f.dict, '00280004'), 'RGB', `${label}: RGB`);
        t.equal(Number(f.dict['00280006']?.Value?.[0]), 0, `${label}: colour by pixel`);
      }
      if (name === 'mono8x3') {
        const frames = await transcodeFrames(stored, [3, 1]);
        t.same(frames.map((b) => b.length), [ROWS * COLS, ROWS * COLS], `${label}: frames 3 and 1 decoded alone`);
        t.ok(Buffer.concat(frames).equals(Buffer.concat([px.subarray(2 * ROWS * COLS), px.subarray(0, ROWS * COLS)])), `${label}: the same pixels as in the whole file`);
        await t.rejects(transcodeFrames(stored, [4]), /not in the instance/, `${label}: frame 4 of 3`);
      }
    }
  }
});

t.test('an Implicit VR file gets its VRs: the same elements as dcmtk\'s own conversion', async (t) => {
  using tmp = tempDir('transcode-implicit-');
  const enc = { explicit: false };
  const item = Buffer.concat([el(0x00080100, 'SH', 'T-A0100', enc), el(0x00080102, 'SH', 'SRT', enc), el(0x00080104, 'LO', 'Abdomen', enc)]);
  const file = instance({
    transferSyntaxUid: IMPLICIT, bitsAllocated: 16, bitsStored: 12, sopClassUid: DX, modality: 'DX', pixels: mono16(),
    extra: (e) => [el(0x00281050, 'DS', '2048', e), el(0x00281051, 'DS', '4096', e)],
  });
  // A sequence of defined and one of undefined length, a private block, a value above 64 KiB.
  const ds = file.subarray(132 + file.readUInt32LE(140) + 12);
  const extra = Buffer.concat([
    seq(0x00082218, [item], enc),
    seq(0x00400275, [Buffer.concat([seq(0x00400008, [item], enc, true), el(0x00401001, 'SH', 'RP-1', enc)])], enc, true),
    el(0x00090010, 'LO', 'ACME 1.0', enc), el(0x00091001, 'LO', 'vendor value', enc),
  ]);
  // Inserted after the 0008 group's elements and before 0010 (tag order).
  const at = ds.indexOf(Buffer.from([0x10, 0x00, 0x10, 0x00]));
  const implicit = Buffer.concat([file.subarray(0, file.length - ds.length), ds.subarray(0, at), extra, ds.subarray(at)]);
  const src = join(tmp.dir, 'implicit.dcm');
  writeFileSync(src, implicit);
  t.equal((await run('dcmdump', ['-q', src])).code, 0, 'dcmtk reads the implicit VR source');
  const ours = join(tmp.dir, 'ours.dcm');
  writeFileSync(ours, await transcodeInstance(src));
  const theirs = join(tmp.dir, 'dcmtk.dcm');
  t.equal((await run('dcmconv', ['+te', '-e', src, theirs])).code, 0, 'dcmconv +te -e (sequences of undefined length, as here)');
  // Element by element (tag, VR, value) as dcmdump prints them; lengths and meta differ by design
  // (dcmconv's implementation UID).
  const elements = async (p: string) => (await run('dcmdump', ['-q', '-M', p])).stdout.split('\n')
    .filter((l) => /^\s*\([0-9a-f]{4},[0-9a-f]{4}\)/.test(l) && !/^\(0002,/.test(l)).map((l) => l.replace(/#.*$/, '').trim());
  const a = await elements(ours);
  const b = await elements(theirs);
  t.ok(a.length > 30, `${a.length} elements`);
  t.same(a, b, 'the same tags, VRs and values as dcmtk gives');
  const out = readFileSync(ours);
  t.ok(out.includes(ZHANG_SAN), 'the GB18030 name byte for byte');
  t.ok(pixelsOf(out).equals(mono16()), 'the pixel data unchanged');
});

t.test('broken files give TranscodeError, never another error', async (t) => {
  using tmp = tempDir('transcode-fuzz-');
  const src = join(tmp.dir, 'src.dcm');
  writeFileSync(src, instance({ pixels: rgb8(), bitsAllocated: 8, samplesPerPixel: 3 }));
  const bases: Buffer[] = [];
  for (const [tool, args] of [['dcmcjpeg', ['+eb']], ['dcmcrle', []], ['dcmconv', ['+ti']]] as const) {
    const p = join(tmp.dir, `${tool}.dcm`);
    await run(tool, [...args, src, p]);
    bases.push(readFileSync(p));
  }
  const p = join(tmp.dir, 'case.dcm');
  let failed = 0;
  let ok = 0;
  await fc.assert(fc.asyncProperty(
    fc.nat(bases.length - 1), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 8 }), fc.option(fc.nat(), { nil: undefined }),
    async (k, flips, cut) => {
      const b = Buffer.from(bases[k]!);
      for (const [at, v] of flips) b[132 + (at % (b.length - 132))] = v;
      writeFileSync(p, cut === undefined ? b : b.subarray(0, 132 + (cut % (b.length - 132))));
      try {
        await transcodeInstance(p);
        ok++;
      } catch (e) {
        if (!(e instanceof TranscodeError)) throw e;
        failed++;
      }
    }), { numRuns: 300 });
  t.ok(failed > 0 && ok > 0, `${ok} transcoded, ${failed} refused with a reason`);
});

t.test('through the preview thread: the same bytes, errors as TranscodeError', async (t) => {
  using tmp = tempDir('transcode-pool-');
  const src = join(tmp.dir, 'src.dcm');
  writeFileSync(src, instance({ pixels: mono8(2), bitsAllocated: 8, frames: 2 }));
  const stored = join(tmp.dir, 'rle.dcm');
  await run('dcmcrle', [src, stored]);
  const pool = new PreviewRenderer();
  t.teardown(() => pool.close());
  const [viaThread] = await pool.transcode(stored);
  t.ok(viaThread!.equals(await transcodeInstance(stored)), 'the whole file');
  const frames = await pool.transcode(stored, [2]);
  t.ok(frames[0]!.equals(mono8(2).subarray(ROWS * COLS)), 'frame 2');
  const broken = join(tmp.dir, 'broken.dcm');
  writeFileSync(broken, readFileSync(stored).subarray(0, 400));
  await t.rejects(pool.transcode(broken), TranscodeError, 'a cut file');
  t.equal(pool.stats.transcoded, 2);
  t.equal(pool.stats.unsupported, 1);
});
