/** Property tests of the streaming dataset walker (the parser we own for received instances). */
import t from 'tap';
import fc from 'fast-check';
import { DatasetError, DatasetWalker } from './dataset-walker.ts';
import { el, encapsulated, seq, type Enc } from '../../device-drivers/dicom/test-support/dataset-builder.ts';

interface GenElement {
  tag: number;
  bytes: Buffer;
  /** Captured value for plain elements; undefined for sequences and pixel data. */
  value?: Buffer;
}

const GROUPS = [0x0008, 0x0010, 0x0018, 0x0020, 0x0028, 0x0040];
const PLAIN_VRS = ['LO', 'SH', 'CS', 'UI', 'PN', 'US', 'OB', 'UT'];

/** An element value: even length as DICOM requires. */
const valueArb = fc.uint8Array({ maxLength: 40 }).map((a) => (a.length % 2 ? Buffer.concat([Buffer.from(a), Buffer.from([0])]) : Buffer.from(a)));

function itemArb(enc: Enc, depth: number): fc.Arbitrary<Buffer> {
  return fc.array(elementArb(enc, depth), { maxLength: 4 }).map((els) => Buffer.concat(sortUnique(els).map((e) => e.bytes)));
}

function elementArb(enc: Enc, depth: number): fc.Arbitrary<GenElement> {
  const tag = fc.tuple(fc.constantFrom(...GROUPS), fc.integer({ min: 0x0010, max: 0xfff0 })).map(([g, e]) => ((g << 16) >>> 0) + e);
  const plain = fc.tuple(tag, fc.constantFrom(...PLAIN_VRS), valueArb).map(([tg, vr, v]): GenElement => ({ tag: tg, bytes: el(tg, vr, v, enc), value: v }));
  if (depth <= 0) return plain;
  const sq = fc.tuple(tag, fc.array(itemArb(enc, depth - 1), { maxLength: 3 }), fc.boolean()).map(([tg, items, undef]): GenElement => ({ tag: tg, bytes: seq(tg, items, enc, undef) }));
  return fc.oneof({ weight: 3, arbitrary: plain }, { weight: 1, arbitrary: sq });
}

function sortUnique(els: GenElement[]): GenElement[] {
  const seen = new Set<number>();
  return els.sort((a, b) => a.tag - b.tag).filter((e) => (seen.has(e.tag) ? false : (seen.add(e.tag), true)));
}

const datasetArb = fc.boolean().chain((explicit) => {
  const enc = { explicit };
  return fc.tuple(fc.array(elementArb(enc, 3), { maxLength: 12 }), fc.option(fc.array(valueArb, { minLength: 1, maxLength: 3 }))).map(([els, frags]) => {
    const top = sortUnique(els);
    if (frags && explicit) top.push({ tag: 0x7fe00010, bytes: encapsulated(frags) });
    return { explicit, top, bytes: Buffer.concat(top.map((e) => e.bytes)) };
  });
});

/** Split points for feeding a buffer in chunks. */
const splitsArb = fc.array(fc.nat(), { maxLength: 6 });

function chunks(buf: Buffer, cuts: number[]): Buffer[] {
  const pts = [...new Set(cuts.map((c) => (buf.length ? c % buf.length : 0)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of pts) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out;
}

function walk(buf: Buffer | Buffer[], explicit: boolean, capture?: Set<number>): DatasetWalker {
  const w = new DatasetWalker({ explicitVr: explicit, capture });
  for (const c of Array.isArray(buf) ? buf : [buf]) w.push(c);
  w.finish();
  return w;
}

t.test('valid datasets walk to the end in any chunking and capture top-level values', async (t) => {
  fc.assert(
    fc.property(datasetArb, splitsArb, ({ explicit, top, bytes }, cuts) => {
      const capture = new Set(top.filter((e) => e.value).map((e) => e.tag));
      const w = walk(chunks(bytes, cuts), explicit, capture);
      if (w.offset !== bytes.length) return false;
      for (const e of top) if (e.value && !w.values.get(e.tag)?.equals(e.value)) return false;
      return true;
    }),
    { numRuns: 400 },
  );
  t.pass();
});

t.test('a dataset cut anywhere but an element boundary is rejected', async (t) => {
  fc.assert(
    fc.property(datasetArb.filter((d) => d.bytes.length > 0), fc.nat(), ({ explicit, top, bytes }, n) => {
      const cut = n % bytes.length;
      const boundaries = new Set<number>([0]);
      let off = 0;
      for (const e of top) boundaries.add((off += e.bytes.length));
      try {
        walk(bytes.subarray(0, cut), explicit);
        return boundaries.has(cut);
      } catch (e) {
        return e instanceof DatasetError && !boundaries.has(cut);
      }
    }),
    { numRuns: 400 },
  );
  t.pass();
});

t.test('random bytes only ever raise DatasetError, with bounded captured memory', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2000 }), fc.boolean(), splitsArb, (a, explicit, cuts) => {
      const w = new DatasetWalker({ explicitVr: explicit, capture: new Set([0x00100010, 0x00080018]), maxCaptureBytes: 64 });
      try {
        for (const c of chunks(Buffer.from(a), cuts)) w.push(c);
        w.finish();
      } catch (e) {
        if (!(e instanceof DatasetError)) throw e;
      }
      return [...w.values.values()].every((v) => v.length <= 64);
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

t.test('hand-made fixtures', async (t) => {
  const explicit = { explicit: true };
  // deep nesting: 17 undefined-length sequences
  let nested = el(0x00100020, 'LO', 'X', explicit);
  for (let i = 0; i < 17; i++) nested = seq(0x00400100, [nested], explicit, true);
  t.throws(() => walk(nested, true), /nested deeper than 16/);
  const deep = new DatasetWalker({ explicitVr: true, maxDepth: 40 });
  deep.push(nested);
  t.doesNotThrow(() => deep.finish(), 'the same bytes pass with a higher limit (depth counts sequence and item levels)');

  const declaredTooLong = Buffer.from([
    0x10, 0x00, 0x10, 0x00, // (0010,0010) PatientName
    0x50, 0x4e, // VR "PN"
    0x10, 0x00, // length 16
    0x41, 0x42, // only 2 bytes follow
  ]);
  t.throws(() => walk(declaredTooLong, true), /short of a declared length/);

  const badVr = Buffer.from([
    0x10, 0x00, 0x10, 0x00, // (0010,0010)
    0x00, 0x01, // not a VR
    0x02, 0x00, 0x41, 0x42,
  ]);
  t.throws(() => walk(badVr, true), /invalid VR/);

  const strayDelimiter = Buffer.from([
    0xfe, 0xff, 0x0d, 0xe0, // (FFFE,E00D) item delimiter at top level
    0x00, 0x00, 0x00, 0x00,
  ]);
  t.throws(() => walk(strayDelimiter, false), /item delimiter at top level/);

  const unterminatedSeq = Buffer.from([
    0x40, 0x00, 0x00, 0x01, // (0040,0100)
    0x53, 0x51, 0x00, 0x00, // "SQ", reserved
    0xff, 0xff, 0xff, 0xff, // undefined length, then nothing
  ]);
  t.throws(() => walk(unterminatedSeq, true), /inside a seq/);

  const undefinedOnText = Buffer.from([
    0x10, 0x00, 0x10, 0x00, 0x55, 0x54, 0x00, 0x00, // (0010,0010) UT
    0xff, 0xff, 0xff, 0xff, // undefined length on a text VR
  ]);
  t.throws(() => walk(undefinedOnText, true), /undefined length on VR UT/);

  // the pixel data marker tells the SCP the header is complete
  const w = new DatasetWalker({ explicitVr: true });
  w.push(encapsulated([Buffer.from([1, 2, 3, 4])]));
  t.ok(w.pastHeader);
  w.finish();
});
