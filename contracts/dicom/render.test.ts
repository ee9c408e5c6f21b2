/**
 * Previews of compressed and uncompressed instances. Compressed files are made by dcmtk
 * (dcmcjpeg, dcmcrle, dcmcjpls) from generated uncompressed ones, JPEG 2000 by OpenJPEG's encoder;
 * a lossless syntax must render exactly the pixels of its uncompressed original.
 */
import t from 'tap';
import fc from 'fast-check';
import { createRequire } from 'node:module';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { inflateSync } from 'node:zlib';
import { buildPart10, el, testUid, type TestInstance } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { run, tempDir } from '../../device-drivers/dicom/test-support/harness.ts';
import { mono16 as mono16Of, rgb8 as rgb8Of } from '../../device-drivers/dicom/test-support/pixels.ts';
import { parsePart10 } from './dicom-file.ts';
import { canPreview, RenderError, renderPreview } from './render.ts';
import { decodeFrame, j2kHeader, jpegHeader } from './codecs.ts';
import { PreviewBusyError, PreviewRenderer } from './preview-pool.ts';

/** Our PNGs (png.ts: 8-bit, filter 0 on every row) back to pixels. */
function pngPixels(png: Buffer): { w: number; h: number; ch: number; px: Uint8Array } {
  const w = png.readUInt32BE(16);
  const h = png.readUInt32BE(20);
  const ch = png[25] === 2 ? 3 : 1;
  const idat: Buffer[] = [];
  for (let i = 8; i < png.length;) {
    const len = png.readUInt32BE(i);
    if (png.toString('latin1', i + 4, i + 8) === 'IDAT') idat.push(png.subarray(i + 8, i + 8 + len));
    i += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const px = new Uint8Array(w * h * ch);
  for (let y = 0; y < h; y++) px.set(raw.subarray(y * (w * ch + 1) + 1, (y + 1) * (w * ch + 1)), y * w * ch);
  return { w, h, ch, px };
}

function meanAbsDiff(a: Uint8Array, b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! - b[i]!);
  return s / a.length;
}

const ROWS = 96, COLS = 128;
const US = '1.2.840.10008.5.1.4.1.1.6.1';
const DX = '1.2.840.10008.5.1.4.1.1.1.1';
/** Smooth gradients with a bright square: what JPEG baseline keeps well. */
function mono8(): Buffer {
  const b = Buffer.alloc(ROWS * COLS);
  for (let y = 0; y < ROWS; y++) for (let x = 0; x < COLS; x++) b[y * COLS + x] = x > 40 && x < 80 && y > 30 && y < 60 ? 230 : Math.round(((x + y) / (ROWS + COLS)) * 200);
  return b;
}
const mono16 = () => mono16Of(ROWS, COLS);
const rgb8 = () => rgb8Of(ROWS, COLS);
function instance(over: Partial<TestInstance>): Buffer {
  return buildPart10({ sopClassUid: US, sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', rows: ROWS, columns: COLS, ...over });
}
const render = (file: Buffer, size = 256) => renderPreview(parsePart10(file), size);
type J2KEncoder = { getDecodedBuffer(fi: object): Uint8Array; setDecompositions(n: number): void; encode(): void; getEncodedBuffer(): Uint8Array; delete(): void };
/** OpenJPEG's encoder (the full build of the package whose decoder the product uses). */
async function j2kEncoder(): Promise<J2KEncoder> {
  const m = await (createRequire(import.meta.url)('@cornerstonejs/codec-openjpeg/wasmjs') as (o: object) => Promise<{ J2KEncoder: new () => J2KEncoder }>)({ print: () => {}, printErr: () => {} });
  return new m.J2KEncoder();
}
async function j2kEncode(px: Buffer, w: number, h: number, bits: number, comps: number, levels = 5): Promise<Buffer> {
  const e = await j2kEncoder();
  e.getDecodedBuffer({ width: w, height: h, bitsPerSample: bits, componentCount: comps, isSigned: false, isUsingColorTransform: comps === 3 }).set(px);
  e.setDecompositions(levels);
  e.encode();
  const out = Buffer.from(e.getEncodedBuffer());
  e.delete();
  return out;
}
const us = (n: number) => { const b = Buffer.alloc(2); b.writeUInt16LE(n); return b; };

t.test('dcmtk-compressed instances render as their uncompressed originals', async (t) => {
  using tmp = tempDir('render-');
  const originals: Record<string, Buffer> = {
    // A fixed window, so that the lossy syntaxes' slightly different range does not move it.
    mono8: instance({ pixels: mono8(), bitsAllocated: 8, extra: (enc) => [el(0x00281050, 'DS', '128', enc), el(0x00281051, 'DS', '256', enc)] }),
    mono16: instance({ sopClassUid: DX, modality: 'DX', pixels: mono16(), bitsAllocated: 16, bitsStored: 12 }),
    rgb8: instance({ pixels: rgb8(), bitsAllocated: 8, samplesPerPixel: 3 }),
  };
  const variants: { tool: string; args: string[]; name: string; ts: string; lossless: boolean; only?: string[] }[] = [
    { tool: 'dcmcjpeg', args: [], name: 'JPEG lossless SV1', ts: '1.2.840.10008.1.2.4.70', lossless: true },
    { tool: 'dcmcjpeg', args: ['+el'], name: 'JPEG lossless', ts: '1.2.840.10008.1.2.4.57', lossless: true },
    { tool: 'dcmcrle', args: [], name: 'RLE', ts: '1.2.840.10008.1.2.5', lossless: true },
    { tool: 'dcmcjpls', args: [], name: 'JPEG-LS lossless', ts: '1.2.840.10008.1.2.4.80', lossless: true },
    { tool: 'dcmcjpls', args: ['+en'], name: 'JPEG-LS near-lossless', ts: '1.2.840.10008.1.2.4.81', lossless: false },
    { tool: 'dcmcjpeg', args: ['+eb'], name: 'JPEG baseline', ts: '1.2.840.10008.1.2.4.50', lossless: false, only: ['mono8', 'rgb8'] },
  ];
  for (const [kind, file] of Object.entries(originals)) {
    const src = join(tmp.dir, `${kind}.dcm`);
    writeFileSync(src, file);
    const want = pngPixels(await render(file));
    for (const v of variants) {
      if (v.only && !v.only.includes(kind)) continue;
      const out = join(tmp.dir, `${kind}-${v.tool}${v.args.join('')}.dcm`);
      const r = await run(v.tool, [...v.args, src, out]);
      t.equal(r.code, 0, `${v.tool} ${v.args.join(' ')} ${kind}: ${r.stderr}`);
      const compressed = readFileSync(out);
      const f = parsePart10(compressed);
      t.equal(f.transferSyntaxUid, v.ts, `${kind} ${v.name}: transfer syntax`);
      t.ok(canPreview(f.transferSyntaxUid), `${v.name} is previewable`);
      const got = pngPixels(await render(compressed));
      t.same([got.w, got.h, got.ch], [want.w, want.h, want.ch], `${kind} ${v.name}: size and channels`);
      const diff = meanAbsDiff(got.px, want.px);
      if (v.lossless) t.equal(diff, 0, `${kind} ${v.name}: pixel-identical to the uncompressed rendering`);
      else t.ok(diff < 3, `${kind} ${v.name}: close to the uncompressed rendering (mean |diff| ${diff.toFixed(2)})`);
    }
  }
});

t.test('JPEG 2000 (OpenJPEG): lossless at full size, a lower resolution level for small previews', async (t) => {
  const encode = (px: Buffer, w: number, h: number, bits: number, comps: number) => j2kEncode(px, w, h, bits, comps);
  const m16 = mono16();
  const native = instance({ sopClassUid: DX, modality: 'DX', pixels: m16, bitsAllocated: 16, bitsStored: 12 });
  const j2k = instance({ sopClassUid: DX, modality: 'DX', bitsAllocated: 16, bitsStored: 12, transferSyntaxUid: '1.2.840.10008.1.2.4.90', pixels: await encode(m16, COLS, ROWS, 16, 1) });
  t.same(pngPixels(await render(j2k)).px, pngPixels(await render(native)).px, '16-bit lossless: identical to the uncompressed rendering');
  const rgb = rgb8();
  const rgbNative = instance({ pixels: rgb, samplesPerPixel: 3 });
  const rgbJ2k = instance({ samplesPerPixel: 3, photometric: 'YBR_RCT', transferSyntaxUid: '1.2.840.10008.1.2.4.90', pixels: await encode(rgb, COLS, ROWS, 8, 3) });
  t.same(pngPixels(await render(rgbJ2k)).px, pngPixels(await render(rgbNative)).px, 'YBR_RCT colour: identical RGB');

  // A DR-sized frame: for a 256-pixel preview the coarsest level still >= 256 pixels is 2 (1,600 / 4).
  const W = 1600, H = 1200;
  const big = Buffer.alloc(W * H * 2);
  for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) big.writeUInt16LE(Math.round(((x + y) / (W + H)) * 4000), (y * W + x) * 2);
  const code = await encode(big, W, H, 16, 1);
  t.same(j2kHeader(code), { width: W, height: H, comps: 1, precision: 16, levels: 5 }, 'SIZ and COD read');
  const dec = await decodeFrame('1.2.840.10008.1.2.4.90', code, { rows: H, cols: W, spp: 1, bitsAllocated: 16, signed: false }, 256);
  t.same([dec.cols, dec.rows], [400, 300], 'decoded at level 2 (400 x 300), not 1,600 x 1,200');
  const bigFile = instance({ sopClassUid: DX, modality: 'DX', rows: H, columns: W, bitsAllocated: 16, transferSyntaxUid: '1.2.840.10008.1.2.4.90', pixels: code });
  const small = pngPixels(await render(bigFile, 256));
  const ref = pngPixels(await render(instance({ sopClassUid: DX, modality: 'DX', rows: H, columns: W, bitsAllocated: 16, pixels: big }), 256));
  t.same([small.w, small.h], [256, 192], 'preview fits 256');
  t.ok(meanAbsDiff(small.px, ref.px) < 2, `close to the full-resolution rendering (mean |diff| ${meanAbsDiff(small.px, ref.px).toFixed(2)})`);
});

t.test('photometric interpretations and stored bits', async (t) => {
  // YBR_FULL: grey and pure red.
  const ybr = Buffer.alloc(ROWS * COLS * 3);
  for (let i = 0; i < ROWS * COLS; i++) ybr.set(i < ROWS * COLS / 2 ? [128, 128, 128] : [76, 85, 255], i * 3);
  const y = pngPixels(await render(instance({ samplesPerPixel: 3, photometric: 'YBR_FULL', pixels: ybr })));
  t.same([...y.px.subarray(0, 3)], [128, 128, 128], 'YBR_FULL grey');
  const last = y.px.subarray(y.px.length - 3);
  t.ok(last[0]! > 250 && last[1]! < 5 && last[2]! < 5, `YBR_FULL red (${[...last]})`);
  // YBR_FULL_422 uncompressed: Y1 Y2 Cb Cr per two pixels.
  const y422 = Buffer.alloc(ROWS * COLS * 2);
  for (let p = 0; p < ROWS * COLS / 2; p++) y422.set([50, 200, 128, 128], p * 4);
  const y2 = pngPixels(await render(instance({ samplesPerPixel: 3, photometric: 'YBR_FULL_422', pixels: y422 })));
  t.same([...y2.px.subarray(0, 6)], [50, 50, 50, 200, 200, 200], 'YBR_FULL_422: each pixel its own Y');
  // Colour by plane.
  const planes = Buffer.alloc(ROWS * COLS * 3);
  planes.fill(10, 0, ROWS * COLS); planes.fill(20, ROWS * COLS, 2 * ROWS * COLS); planes.fill(30, 2 * ROWS * COLS);
  t.same([...pngPixels(await render(instance({ samplesPerPixel: 3, planar: true, pixels: planes }))).px.subarray(0, 3)], [10, 20, 30], 'RGB by plane');
  // PALETTE COLOR (Doppler): 256 entries of 16 bits.
  const lut = (f: (i: number) => number) => { const b = Buffer.alloc(512); for (let i = 0; i < 256; i++) b.writeUInt16LE(f(i), i * 2); return b; };
  const desc = Buffer.concat([us(256), us(0), us(16)]);
  const pal = Buffer.alloc(ROWS * COLS);
  for (let i = 0; i < pal.length; i++) pal[i] = i % 256;
  const palette = instance({
    pixels: pal, photometric: 'PALETTE COLOR', extra: (enc) => [
      el(0x00281101, 'US', desc, enc), el(0x00281102, 'US', desc, enc), el(0x00281103, 'US', desc, enc),
      el(0x00281201, 'OW', lut((i) => i * 256), enc), el(0x00281202, 'OW', lut((i) => (255 - i) * 256), enc), el(0x00281203, 'OW', lut(() => 0x8000), enc),
    ],
  });
  const p = pngPixels(await render(palette, 1024));
  t.equal(p.ch, 3, 'palette renders RGB');
  t.same([...p.px.subarray(3 * 5, 3 * 6)], [5, 250, 128], 'entry 5 through the three tables');
  // MONOCHROME1 inverts.
  const m1 = pngPixels(await render(instance({ photometric: 'MONOCHROME1', pixels: Buffer.alloc(ROWS * COLS, 0), extra: (enc) => [el(0x00281050, 'DS', '128', enc), el(0x00281051, 'DS', '256', enc)] })));
  t.equal(m1.px[0], 255, 'MONOCHROME1: 0 is white');
  // Signed 12 of 16 bits with junk above bit 11: only the stored bits count.
  const s16 = Buffer.alloc(ROWS * COLS * 2);
  for (let i = 0; i < ROWS * COLS; i++) s16.writeUInt16LE(i % 2 ? 0xf000 | 0x800 : 0x5000 | 0x7ff, i * 2); // -2048 and +2047
  const sg = pngPixels(await render(instance({ sopClassUid: DX, modality: 'DX', bitsAllocated: 16, bitsStored: 12, signed: true, pixels: s16, extra: (enc) => [el(0x00281050, 'DS', '0', enc), el(0x00281051, 'DS', '4096', enc)] }), 1024));
  t.same([sg.px[0], sg.px[1]], [255, 0], '+2047 white, -2048 black whatever the bits above Bits Stored');
});

t.test('multi-frame encapsulated data without an offset table: frame 1 only', async (t) => {
  using tmp = tempDir('render-mf-');
  const f1 = Buffer.alloc(ROWS * COLS, 40);
  const f2 = Buffer.alloc(ROWS * COLS, 200);
  const src = join(tmp.dir, 'mf.dcm');
  writeFileSync(src, instance({ pixels: Buffer.concat([f1, f2]), frames: 2 }));
  for (const [tool, args] of [['dcmcrle', []], ['dcmcjpeg', []]] as const) {
    const out = join(tmp.dir, `mf-${tool}.dcm`);
    t.equal((await run(tool, [...args, src, out])).code, 0, tool);
    const px = pngPixels(await render(readFileSync(out), 1024)).px;
    t.ok(px.every((v) => v === px[0]), `${tool}: one frame's flat value`);
  }
  // JPEG frames split over two fragments each (four fragments, two frames, no offset table).
  const one = join(tmp.dir, 'one.dcm');
  writeFileSync(one, instance({ pixels: mono8() }));
  const jl = join(tmp.dir, 'one-jl.dcm');
  t.equal((await run('dcmcjpeg', [one, jl])).code, 0);
  const frame = Buffer.from(parsePart10(readFileSync(jl)).dict['7FE00010']!.Value![0] as ArrayBuffer);
  const cut = Math.floor(frame.length / 4) * 2; // even: fragments are padded to even lengths
  const split = instance({ frames: 2, transferSyntaxUid: '1.2.840.10008.1.2.4.70', fragments: [frame.subarray(0, cut), frame.subarray(cut), frame.subarray(0, cut), frame.subarray(cut)] });
  t.same(pngPixels(await render(split)).px, pngPixels(await render(readFileSync(one))).px, 'frame 1 put together from its two fragments');
});

t.test('what cannot be rendered says why (RenderError), never another error', async (t) => {
  await t.rejects(render(instance({ transferSyntaxUid: '1.2.840.10008.1.2.4.100', pixels: Buffer.from([0, 0, 1, 0xb3]) })), { name: 'RenderError', message: /MPEG-2.*stored unchanged/ });
  t.notOk(canPreview('1.2.840.10008.1.2.4.100'), 'MPEG-2 not previewable');
  await t.rejects(render(instance({ pixels: Buffer.alloc(10) })), { name: 'RenderError', message: /truncated/ }, 'native pixel data short of one frame');
  await t.rejects(render(instance({ rows: 60000, columns: 60000, pixels: Buffer.alloc(10) })), { name: 'RenderError', message: /preview limit/ }, 'absurd size refused before any allocation');
  await t.rejects(render(instance({ photometric: 'HSV', pixels: mono8() })), { name: 'RenderError', message: /HSV/ });
  // A JPEG frame whose SOF says another size than Rows/Columns.
  using tmp = tempDir('render-bad-');
  const src = join(tmp.dir, 'a.dcm');
  writeFileSync(src, instance({ pixels: mono8() }));
  const out = join(tmp.dir, 'a-jb.dcm');
  await run('dcmcjpeg', ['+eb', src, out]);
  const frame = Buffer.from(parsePart10(readFileSync(out)).dict['7FE00010']!.Value![0] as ArrayBuffer);
  t.same(jpegHeader(frame), { precision: 8, height: ROWS, width: COLS, comps: 1 }, 'SOF read');
  const lying = instance({ rows: 4000, columns: 4000, transferSyntaxUid: '1.2.840.10008.1.2.4.50', pixels: frame });
  await t.rejects(render(lying), { name: 'RenderError', message: /128 x 96 pixels but the header's Columns x Rows say 4000 x 4000/ });
});

t.test('generated corruptions of every codec\'s frames: a PNG or a RenderError, and the codecs keep working', async (t) => {
  using tmp = tempDir('render-fuzz-');
  const src = join(tmp.dir, 'src.dcm');
  writeFileSync(src, instance({ pixels: mono8() }));
  const samples: { ts: string; frame: Buffer; bits?: number }[] = [];
  for (const [tool, args, ts] of [['dcmcjpeg', ['+eb'], '1.2.840.10008.1.2.4.50'], ['dcmcjpeg', [], '1.2.840.10008.1.2.4.70'], ['dcmcjpls', [], '1.2.840.10008.1.2.4.80'], ['dcmcrle', [], '1.2.840.10008.1.2.5']] as const) {
    const out = join(tmp.dir, `${tool}${args.join('')}.dcm`);
    await run(tool, [...args, src, out]);
    samples.push({ ts, frame: Buffer.from(parsePart10(readFileSync(out)).dict['7FE00010']!.Value![0] as ArrayBuffer) });
  }
  samples.push({ ts: '1.2.840.10008.1.2.4.90', frame: await j2kEncode(mono8(), COLS, ROWS, 8, 1) });
  const src16 = join(tmp.dir, 'src16.dcm');
  writeFileSync(src16, instance({ sopClassUid: DX, modality: 'DX', pixels: mono16(), bitsAllocated: 16, bitsStored: 12 }));
  await run('dcmcjpeg', [src16, join(tmp.dir, 'jl16.dcm')]);
  const jl16 = { ts: '1.2.840.10008.1.2.4.70', frame: Buffer.from(parsePart10(readFileSync(join(tmp.dir, 'jl16.dcm'))).dict['7FE00010']!.Value![0] as ArrayBuffer), bits: 16 };
  samples.push(jl16);
  let rendered = 0, refused = 0;
  await fc.assert(fc.asyncProperty(
    fc.integer({ min: 0, max: samples.length - 1 }),
    fc.oneof(
      fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
      fc.record({ kind: fc.constant('flip' as const), flips: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 12 }) }),
      fc.record({ kind: fc.constant('random' as const), bytes: fc.uint8Array({ minLength: 0, maxLength: 400 }) }),
    ),
    async (which, m) => {
      const s = samples[which]!;
      let frame = Buffer.from(s.frame);
      if (m.kind === 'truncate') frame = frame.subarray(0, m.at % frame.length);
      else if (m.kind === 'flip') for (const [at, v] of m.flips) frame[at % frame.length] = v;
      else frame = Buffer.from(m.bytes);
      try {
        const png = await render(instance({ transferSyntaxUid: s.ts, bitsAllocated: s.bits ?? 8, pixels: frame.length ? frame : Buffer.from([0, 0]) }));
        t.ok(png.subarray(1, 4).toString() === 'PNG');
        rendered++;
      } catch (e) {
        if (!(e instanceof RenderError)) throw e;
        refused++;
      }
    },
  ), { numRuns: 300 });
  t.ok(refused > 0, `${rendered} rendered, ${refused} refused with a reason`);
  for (const s of samples) t.ok((await render(instance({ transferSyntaxUid: s.ts, bitsAllocated: s.bits ?? 8, pixels: s.frame }))).length > 0, `${s.ts} decodes again after the corrupt frames`);
});

t.test('PreviewRenderer: a thread of its own, bounded queue, time-out', async (t) => {
  using tmp = tempDir('render-pool-');
  const good = join(tmp.dir, 'good.dcm');
  writeFileSync(good, instance({ pixels: mono8() }));
  const pool = new PreviewRenderer({ maxQueue: 2, timeoutMs: 20_000 });
  t.teardown(() => pool.close());
  const png = await pool.render(good, 64);
  t.equal(pngPixels(png).w, 64, 'rendered in the thread');
  await t.rejects(pool.render(join(tmp.dir, 'missing.dcm'), 64), { code: 'ENOENT' }, 'missing file');
  const mpeg = join(tmp.dir, 'mpeg.dcm');
  writeFileSync(mpeg, instance({ transferSyntaxUid: '1.2.840.10008.1.2.4.100', pixels: Buffer.from([0, 0, 1, 0xb3]) }));
  await t.rejects(pool.render(mpeg, 64), RenderError, 'RenderError crosses the thread');
  const three = [pool.render(good, 64), pool.render(good, 64), pool.render(good, 64)];
  const settled = await Promise.allSettled(three);
  t.same(settled.map((s) => s.status), ['fulfilled', 'fulfilled', 'rejected'], 'the third beyond maxQueue 2 is refused');
  t.ok((settled[2] as PromiseRejectedResult).reason instanceof PreviewBusyError, 'PreviewBusyError');
  t.match(pool.stats, { rendered: 3, unsupported: 1, failed: 1, refusedBusy: 1, threadStarts: 1 });
  const small = new PreviewRenderer({ maxFileBytes: 1000 });
  t.teardown(() => small.close());
  // Header and frame 1 are read by position (instance-reader.ts): no file-size limit applies.
  t.equal(pngPixels(await small.render(good, 64)).w, 64, 'a file read by position renders whatever its size');
  // Frames only the codestreams tell apart (more fragments than frames, no offset table): the
  // whole file would be parsed; above the limit it is refused unread.
  const ambiguous = join(tmp.dir, 'ambiguous-rle.dcm');
  writeFileSync(ambiguous, instance({ transferSyntaxUid: '1.2.840.10008.1.2.5', frames: 2, fragments: [Buffer.alloc(400, 1), Buffer.alloc(400, 2), Buffer.alloc(400, 3)] }));
  await t.rejects(small.render(ambiguous, 64), { name: 'RenderError', kind: 'too-large', message: /previews read files up to 0 MB whole/ }, 'a file to be read whole above the limit is not read');
});

t.test('PreviewRenderer: a render past its time-out is stopped and the requests behind it still answered', async (t) => {
  using tmp = tempDir('render-timeout-');
  const W = 1200, H = 1200;
  const noise = Buffer.alloc(W * H * 2);
  let r = 12345;
  for (let i = 0; i < noise.length; i++) { r ^= r << 13; r ^= r >>> 17; r ^= r << 5; noise[i] = r & 0xff; } // ~1 s to decode in full
  const slow = join(tmp.dir, 'slow.dcm');
  writeFileSync(slow, instance({ sopClassUid: DX, modality: 'DX', rows: H, columns: W, bitsAllocated: 16, transferSyntaxUid: '1.2.840.10008.1.2.4.90', pixels: await j2kEncode(noise, W, H, 16, 1, 1) }));
  const good = join(tmp.dir, 'good.dcm');
  writeFileSync(good, instance({ pixels: mono8() }));
  const errors: string[] = [];
  const pool = new PreviewRenderer({ timeoutMs: 300, onThreadError: (err) => errors.push(err.message) });
  t.teardown(() => pool.close());
  await pool.render(good, 32); // thread up and warm: the time-out is the decode's, not the start's
  const [a, b] = await Promise.allSettled([pool.render(slow, 4096), pool.render(good, 32)]);
  t.equal(a.status, 'rejected');
  t.match((a as PromiseRejectedResult).reason, { name: 'RenderError', message: /longer than/ }, 'the slow one is stopped with a reason');
  t.equal(b.status, 'fulfilled', 'the one behind it is answered by a new thread');
  t.match(pool.stats, { timedOut: 1, threadStarts: 2 });
  t.match(errors.join(' '), /timed out/);
});
