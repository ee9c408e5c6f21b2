/**
 * instance-reader: the header and single frames read by position give what parsing the whole
 * file gives (dcmjs), for native and encapsulated pixel data, explicit and implicit VR, with and
 * without a Basic Offset Table, and for files dcmtk wrote (dcmcrle, dcmcjpeg multi-frame);
 * truncated and corrupted files give a DatasetError / InstanceReadError, never anything else.
 */
import t from 'tap';
import fc from 'fast-check';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildPart10, el, seq, testUid, tagHeader, type TestInstance } from '../../device-drivers/dicom/test-support/dataset-builder.ts';
import { run, tempDir } from '../../device-drivers/dicom/test-support/harness.ts';
import { isDatasetError } from './dataset-walker.ts';
import { parsePart10, readPart10 } from './dicom-file.ts';
import { open } from 'node:fs/promises';
import { InstanceReadError, nativeFrameLength, pixelDataSpans, readFirstFrame, readFrames, readLayout, readNativePixelData, readTrailing, type InstanceLayout } from './instance-reader.ts';

/** The bytes pixelDataSpans names, read and joined. */
async function spansBytes(path: string, l: InstanceLayout): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const spans = await pixelDataSpans(fh, l);
    const out = spans.map((s) => Buffer.alloc(s.length));
    for (let k = 0; k < spans.length; k++) await fh.read(out[k]!, 0, spans[k]!.length, spans[k]!.offset);
    return Buffer.concat(out);
  } finally {
    await fh.close();
  }
}

const US_MF = '1.2.840.10008.5.1.4.1.1.3.1';
const IMPLICIT = '1.2.840.10008.1.2';
const RLE = '1.2.840.10008.1.2.5';
const enc = { explicit: true };

const base = (o: Partial<TestInstance>): TestInstance => ({ sopClassUid: US_MF, sopInstanceUid: testUid(), studyInstanceUid: testUid(), seriesInstanceUid: testUid(), modality: 'US', ...o });
/** The kind of InstanceReadError a read ends with ('none' when it does not throw). */
const kindOf = async (p: Promise<unknown>) => { try { await p; return 'none'; } catch (e) { return e instanceof InstanceReadError ? e.kind : String(e); } };
/** Frame k of `frames` native frames of `len` bytes, each filled with its own pattern. */
const nativePixels = (frames: number, len: number) => Buffer.concat(Array.from({ length: frames }, (_, k) => Buffer.alloc(len, (k * 37 + 11) & 0xff)));

/** Replaces the encapsulated Pixel Data of a built file with fragments and a filled offset table. */
function withOffsetTable(file: Buffer, framesFragments: Buffer[][]): Buffer {
  const at = file.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42]));
  const items: Buffer[] = [];
  const offsets: number[] = [];
  let pos = 0;
  for (const frags of framesFragments) {
    offsets.push(pos);
    for (const f of frags) {
      const v = f.length % 2 ? Buffer.concat([f, Buffer.from([0])]) : f;
      items.push(tagHeader(0xfffee000, '', v.length, enc), v);
      pos += 8 + v.length;
    }
  }
  const bot = Buffer.alloc(offsets.length * 4);
  offsets.forEach((o, k) => bot.writeUInt32LE(o, k * 4));
  return Buffer.concat([file.subarray(0, at), tagHeader(0x7fe00010, 'OB', 0xffffffff, enc), tagHeader(0xfffee000, '', bot.length, enc), bot, ...items, tagHeader(0xfffee0dd, '', 0, enc)]);
}

t.test('header and frames by position equal the whole-file parse', async (t) => {
  using dir = tempDir('inst-reader');
  const write = (name: string, b: Buffer) => { const p = join(dir.dir, name); writeFileSync(p, b); return p; };
  const frameLen = 32 * 24;
  const frag = (k: number, n: number) => Buffer.alloc(n, 0x40 + k);
  const cases: { name: string; file: Buffer; frames: Buffer[] }[] = [
    { name: 'native explicit, 5 frames', file: buildPart10(base({ rows: 24, columns: 32, frames: 5, pixels: nativePixels(5, frameLen) })), frames: [0, 1, 2, 3, 4].map((k) => Buffer.alloc(frameLen, (k * 37 + 11) & 0xff)) },
    { name: 'native implicit, 16-bit, 3 frames', file: buildPart10(base({ transferSyntaxUid: IMPLICIT, rows: 24, columns: 32, bitsAllocated: 16, frames: 3, pixels: nativePixels(3, frameLen * 2) })), frames: [0, 1, 2].map((k) => Buffer.alloc(frameLen * 2, (k * 37 + 11) & 0xff)) },
    {
      name: 'native, undefined-length sequence before Pixel Data',
      file: buildPart10(base({ rows: 24, columns: 32, frames: 2, pixels: nativePixels(2, frameLen), extra: (e) => [seq(0x00283010, [Buffer.concat([el(0x00283006, 'US', Buffer.alloc(4, 1), e), el(0x00281051, 'DS', '400 ', e)])], e, true)] })),
      frames: [0, 1].map((k) => Buffer.alloc(frameLen, (k * 37 + 11) & 0xff)),
    },
    { name: 'RLE, one fragment per frame, no offset table', file: buildPart10(base({ transferSyntaxUid: RLE, frames: 3, fragments: [frag(0, 100), frag(1, 64), frag(2, 30)] })), frames: [frag(0, 100), frag(1, 64), frag(2, 30)] },
    { name: 'RLE, single frame in three fragments', file: buildPart10(base({ transferSyntaxUid: RLE, fragments: [frag(0, 10), frag(1, 20), frag(2, 30)] })), frames: [Buffer.concat([frag(0, 10), frag(1, 20), frag(2, 30)])] },
    {
      name: 'JPEG baseline, offset table, frames of two fragments',
      file: withOffsetTable(buildPart10(base({ transferSyntaxUid: '1.2.840.10008.1.2.4.50', frames: 3, fragments: [frag(0, 4)] })), [[frag(0, 50), frag(1, 20)], [frag(2, 40)], [frag(3, 10), frag(4, 12)]]),
      frames: [Buffer.concat([frag(0, 50), frag(1, 20)]), frag(2, 40), Buffer.concat([frag(3, 10), frag(4, 12)])],
    },
  ];
  for (const c of cases) {
    const path = write(`${c.name.replace(/\W+/g, '-')}.dcm`, c.file);
    const l = await readLayout(path, { chunk: 100 }); // small reads: headers cut across chunks
    t.ok(l, `${c.name}: read by position`);
    const whole = parsePart10(c.file, { untilPixelData: true });
    delete whole.dict['7FE00010']; // dcmjs marks where it stopped
    t.same(l!.header.dict, whole.dict, `${c.name}: header = whole-file parse up to Pixel Data`);
    t.equal(l!.header.transferSyntaxUid, whole.transferSyntaxUid);
    const got = await readFrames(path, l!, c.frames.map((_, k) => k + 1));
    t.same(got.map((b) => b.toString('hex')), c.frames.map((b) => b.toString('hex')), `${c.name}: every frame`);
    const last = c.frames.length;
    t.same((await readFrames(path, l!, [last, 1]))[0], c.frames[last - 1], `${c.name}: frames in the order asked`);
    await t.rejects(readFrames(path, l!, [last + 1]), InstanceReadError, `${c.name}: a frame past the last`);
    const wholeFile = parsePart10(c.file);
    if (l!.header.transferSyntaxUid.startsWith('1.2.840.10008.1.2.4') || l!.header.transferSyntaxUid.endsWith('.5')) {
      t.equal(await kindOf(readNativePixelData(path, l!)), 'parse-whole', `${c.name}: encapsulated bulk data is left to the whole-file parse`);
    } else {
      t.same(await readNativePixelData(path, l!), Buffer.from(wholeFile.dict['7FE00010']!.Value![0] as ArrayBuffer), `${c.name}: Pixel Data by position = the whole-file parse's value`);
    }
    t.ok((await spansBytes(path, l!)).equals(Buffer.concat(wholeFile.dict['7FE00010']!.Value!.map((v) => Buffer.from(v as ArrayBuffer)))), `${c.name}: Pixel Data's spans hold the whole-file parse's bytes`);
    const first = await readFirstFrame(path);
    t.same(Buffer.from(first!.dict['7FE00010']!.Value![0] as ArrayBuffer), c.frames[0], `${c.name}: readFirstFrame holds frame 1`);
  }

  // More fragments than frames and no offset table: only the codestreams tell; the caller parses whole.
  const ambiguous = write('ambiguous.dcm', buildPart10(base({ transferSyntaxUid: RLE, frames: 2, fragments: [frag(0, 10), frag(1, 10), frag(2, 10)] })));
  const la = await readLayout(ambiguous);
  t.equal(await kindOf(readFrames(ambiguous, la!, [1])), 'parse-whole');
  t.equal(await readFirstFrame(ambiguous), null, 'readFirstFrame leaves it to the whole-file parse');

  // An offset table that does not match the fragments: a structure error, never another frame's bytes.
  const good = withOffsetTable(buildPart10(base({ transferSyntaxUid: '1.2.840.10008.1.2.4.50', frames: 3, fragments: [frag(0, 4)] })), [[frag(0, 50), frag(1, 20)], [frag(2, 40)], [frag(3, 10)]]);
  const botAt = good.indexOf(Buffer.from([0xfe, 0xff, 0x00, 0xe0, 12, 0, 0, 0])) + 8; // the 3-entry table's values
  const broken = (name: string, offsets: number[]) => {
    const b = Buffer.from(good);
    offsets.forEach((o, k) => b.writeUInt32LE(o, botAt + k * 4));
    return write(`bot-${name}.dcm`, b);
  };
  t.same((await readFrames(broken('ok', [0, 86, 134]), (await readLayout(broken('ok', [0, 86, 134])))!, [2]))[0], frag(2, 40), 'the table as written: frame 2');
  for (const [name, offsets, frame] of [
    ['not at an item', [0, 80, 134], 1],
    ['not at an item (next frame)', [0, 86, 130], 2],
    ['first entry not 0', [8, 86, 134], 2],
    ['decreasing', [0, 134, 86], 3],
    ['past the last fragment', [0, 86, 200], 2],
  ] as const) {
    const p = broken(name, [...offsets]);
    t.equal(await kindOf(readFrames(p, (await readLayout(p))!, [frame])), 'corrupt', `offset table ${name}: corrupt (frame ${frame})`);
  }

  // Files without a preamble, and deflated ones: null (the caller parses the whole file).
  const plain = buildPart10(base({}));
  t.equal(await readLayout(write('nopre.dcm', plain.subarray(132))), null, 'no DICM preamble: null');
  t.equal(await readLayout(write('deflated.dcm', buildPart10(base({ transferSyntaxUid: '1.2.840.10008.1.2.1.99' })))), null, 'deflated: null');
  t.equal(await readLayout(write('big-endian.dcm', buildPart10(base({ transferSyntaxUid: '1.2.840.10008.1.2.2' })))), null, 'big endian: null');

  // No Pixel Data at all (a structured report, say): header, no pixel.
  const noPixel = buildPart10(base({ rows: 2, columns: 2 }));
  const cut = noPixel.lastIndexOf(Buffer.from([0xe0, 0x7f, 0x10, 0x00]));
  const np = write('nopixel.dcm', noPixel.subarray(0, cut));
  const ln = await readLayout(np);
  t.equal(ln!.pixel, null, 'no Pixel Data');
  t.equal(await kindOf(readFrames(np, ln!, [1])), 'no-pixel-data');
  t.equal(nativeFrameLength(ln!.header), 4);
});

t.test('files dcmtk wrote: RLE and JPEG multi-frame with offset tables', async (t) => {
  using dir = tempDir('inst-reader-dcmtk');
  const src = join(dir.dir, 'native.dcm');
  const frames = 4;
  const len = 64 * 48;
  // Gradients, so the codecs have something to compress.
  const px = Buffer.concat(Array.from({ length: frames }, (_, k) => Buffer.from(Array.from({ length: len }, (_, i) => ((i % 64) * 3 + k * 40) & 0xff))));
  writeFileSync(src, buildPart10(base({ rows: 48, columns: 64, frames, pixels: px })));
  for (const [tool, args, name] of [['dcmcrle', [], 'rle'], ['dcmcjpeg', ['+el', '+un'], 'jpeg-lossless']] as const) {
    const out = join(dir.dir, `${name}.dcm`);
    const r = await run(tool, [...args, src, out]);
    t.equal(r.code, 0, `${tool}: ${r.stderr}`);
    const whole = await readPart10(out);
    const values = (whole.dict['7FE00010']!.Value ?? []) as ArrayBuffer[];
    t.equal(values.length, frames, `${name}: dcmjs sees ${frames} frames (dcmtk filled the offset table)`);
    const l = await readLayout(out);
    const got = await readFrames(out, l!, [1, 2, 3, 4]);
    t.same(got.map((b) => b.toString('hex')), values.map((v) => Buffer.from(v).toString('hex')), `${name}: frames by position = dcmjs's frames`);
    t.ok((await spansBytes(out, l!)).equals(Buffer.concat(values.map((v) => Buffer.from(v)))), `${name}: Pixel Data's spans hold dcmjs's bytes`);
  }
});

t.test('elements after Pixel Data (trailing padding, a private group): parsed on their own, as the whole-file parse gives them', async (t) => {
  using dir = tempDir('inst-reader-trailing');
  const trailing = (e: { explicit: boolean }) => Buffer.concat([el(0x7fe10010, 'LO', 'ACME 1.0', e), el(0x7fe11001, 'OB', Buffer.from([1, 2, 3, 4, 5, 6]), e), el(0xfffcfffc, 'OB', Buffer.alloc(10), e)]);
  const cases = [
    { name: 'native explicit', file: buildPart10(base({ rows: 2, columns: 4, frames: 2, pixels: nativePixels(2, 8) })), e: { explicit: true } },
    { name: 'native implicit', file: buildPart10(base({ transferSyntaxUid: IMPLICIT, rows: 2, columns: 4, frames: 2, pixels: nativePixels(2, 8) })), e: { explicit: false } },
    { name: 'RLE', file: buildPart10(base({ transferSyntaxUid: RLE, frames: 2, fragments: [Buffer.alloc(20, 1), Buffer.alloc(30, 2)] })), e: { explicit: true } },
    {
      name: 'JPEG with an offset table, last frame in two fragments',
      file: withOffsetTable(buildPart10(base({ transferSyntaxUid: '1.2.840.10008.1.2.4.50', frames: 3, fragments: [Buffer.alloc(4)] })), [[Buffer.alloc(50, 1)], [Buffer.alloc(40, 2)], [Buffer.alloc(10, 3), Buffer.alloc(12, 4)]]),
      e: { explicit: true },
    },
  ];
  for (const c of cases) {
    const plain = join(dir.dir, `${c.name}-plain.dcm`);
    writeFileSync(plain, c.file);
    t.same(await readTrailing(plain, (await readLayout(plain))!), {}, `${c.name}: nothing after Pixel Data`);
    const bytes = Buffer.concat([c.file, trailing(c.e)]);
    const path = join(dir.dir, `${c.name}.dcm`);
    writeFileSync(path, bytes);
    const l = (await readLayout(path))!;
    const got = await readTrailing(path, l);
    const whole = parsePart10(bytes).dict;
    const after = Object.fromEntries(Object.entries(whole).filter(([tag]) => tag.toUpperCase() > '7FE00010'));
    t.same(Object.keys(got).sort(), ['7FE10010', '7FE11001', 'FFFCFFFC'], `${c.name}: the three trailing elements`);
    t.same(got, after, `${c.name}: = the whole-file parse's elements after Pixel Data`);
    t.same(await readFrames(path, l, [2]), await readFrames(plain, (await readLayout(plain))!, [2]), `${c.name}: frames unchanged by what follows`);
  }
  // Trailing bytes that are not elements: a structure error, never a crash.
  const bad = join(dir.dir, 'bad.dcm');
  writeFileSync(bad, Buffer.concat([cases[0]!.file, Buffer.from([0xfc, 0xff, 0xfc, 0xff, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0x7f])]));
  const err = await readTrailing(bad, (await readLayout(bad))!).then(() => null, (e: unknown) => e);
  t.ok(isDatasetError(err), `a trailing element longer than the file: a structure error (${(err as Error | null)?.message})`);
});

t.test('truncated and corrupted files: a structure error, never a crash or a hang (generated)', async (t) => {
  using dir = tempDir('inst-reader-fuzz');
  const sources = [
    buildPart10(base({ rows: 8, columns: 8, frames: 3, pixels: nativePixels(3, 64), extra: (e) => [seq(0x00283010, [el(0x00281051, 'DS', '40', e)], e, true)] })),
    buildPart10(base({ transferSyntaxUid: RLE, frames: 2, fragments: [Buffer.alloc(20, 1), Buffer.alloc(30, 2)] })),
    buildPart10(base({ transferSyntaxUid: IMPLICIT, rows: 4, columns: 4 })),
    Buffer.concat([
      withOffsetTable(buildPart10(base({ transferSyntaxUid: '1.2.840.10008.1.2.4.50', frames: 2, fragments: [Buffer.alloc(4)] })), [[Buffer.alloc(30, 1)], [Buffer.alloc(10, 2), Buffer.alloc(12, 3)]]),
      el(0xfffcfffc, 'OB', Buffer.alloc(8), enc),
    ]),
  ];
  const path = join(dir.dir, 'f.dcm');
  let n = 0;
  await fc.assert(fc.asyncProperty(fc.integer({ min: 0, max: sources.length - 1 }), fc.nat(), fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.boolean(),
    async (which, cutAt, flips, cut) => {
      n++;
      const b = Buffer.from(sources[which]!);
      for (const [at, v] of flips) b[132 + (at % (b.length - 132))] = v;
      writeFileSync(path, cut ? b.subarray(0, 132 + (cutAt % (b.length - 132))) : b);
      try {
        const l = await readLayout(path, { chunk: 64 });
        if (l?.pixel) await readFrames(path, l, [1]);
        if (l?.pixel) await spansBytes(path, l);
        if (l?.pixel) await readTrailing(path, l);
        await readFirstFrame(path);
      } catch (e) {
        if (!(isDatasetError(e) || e instanceof InstanceReadError)) throw e;
      }
    }), { numRuns: 400 });
  t.equal(n, 400, '400 generated files: read, or refused with a structure error');
});
