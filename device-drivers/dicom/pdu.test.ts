/** Property and fixture tests of PDU framing and structural checks. */
import t from 'tap';
import fc from 'fast-check';
import { checkPdu, PduError, PduFramer, PduType, pduToBuffer, pdvValue, readPduHeader, readPdvs, readPdvSlices } from './pdu.ts';
import { associateRq, pdata } from './test-support/raw-peer.ts';

const pduArb = fc.oneof(
  fc.tuple(fc.integer({ min: 0, max: 127 }).map((n) => n * 2 + 1), fc.uint8Array({ maxLength: 300 }), fc.boolean(), fc.boolean()).map(([pc, v, c, l]) => pdata(pc, Buffer.from(v), c, l)),
  fc.constant(pduToBuffer(PduType.ReleaseRq, Buffer.alloc(4))),
  fc.constant(pduToBuffer(PduType.Abort, Buffer.from([0, 0, 2, 0]))),
  fc.constant(associateRq('A', 'B', [{ id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] }])),
);

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const pts = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of pts) {
    out.push(buf.subarray(prev, p));
    prev = p;
  }
  out.push(buf.subarray(prev));
  return out.filter((b) => b.length);
}

t.test('framing returns the same PDUs however the stream is chunked', async (t) => {
  fc.assert(
    fc.property(fc.array(pduArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (pdus, cuts) => {
      const f = new PduFramer(4096);
      const out: Buffer[] = [];
      for (const c of split(Buffer.concat(pdus), cuts)) out.push(...f.push(c));
      return out.length === pdus.length && out.every((p, i) => p.equals(pdus[i]!)) && f.bufferedBytes === 0 && out.every((p) => (checkPdu(p), true));
    }),
    { numRuns: 300 },
  );
  t.pass();
});

t.test('arbitrary bytes: only PduError, never more buffered than one PDU plus a chunk', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 3000 }), fc.array(fc.nat(), { maxLength: 10 }), (bytes, cuts) => {
      const max = 1024;
      const f = new PduFramer(max);
      try {
        for (const c of split(Buffer.from(bytes), cuts)) {
          for (const p of f.push(c)) {
            try {
              checkPdu(p);
            } catch (e) {
              if (!(e instanceof PduError)) throw e;
            }
          }
          if (f.bufferedBytes > 6 + max + c.length) return false;
        }
      } catch (e) {
        if (!(e instanceof PduError)) throw e;
      }
      return true;
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

t.test('PDV lists that do not add up are rejected', async (t) => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 200 }), (body) => {
      try {
        const pdvs = readPdvs(Buffer.from(body));
        // accepted: lengths must account for every byte
        return pdvs.reduce((n, p) => n + 6 + p.value.length, 0) === body.length;
      } catch (e) {
        return e instanceof PduError;
      }
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

t.test('framed PDUs are views into the chunks (no copy) and hold the same bytes however the stream is chunked', async (t) => {
  fc.assert(
    fc.property(fc.array(pduArb, { minLength: 1, maxLength: 6 }), fc.array(fc.nat(), { maxLength: 10 }), (pdus, cuts) => {
      const f = new PduFramer(4096);
      const chunks = split(Buffer.concat(pdus), cuts);
      const out = chunks.flatMap((c) => f.pushFramed(c));
      const views = out.every((p) => p.parts.every((part) => chunks.some((c) => c.buffer === part.buffer && part.byteOffset >= c.byteOffset && part.byteOffset + part.length <= c.byteOffset + c.length)));
      return views && out.length === pdus.length && out.every((p, i) => p.type === pdus[i]![0] && p.length === pdus[i]!.length - 6 && Buffer.concat(p.parts).equals(pdus[i]!));
    }),
    { numRuns: 300 },
  );
  t.pass();
});

t.test('PDVs read from a body in pieces equal those read from the whole body; the same bodies are refused', async (t) => {
  const pdvBody = fc.array(fc.tuple(fc.integer({ min: 0, max: 127 }).map((n) => n * 2 + 1), fc.uint8Array({ maxLength: 200 }), fc.boolean(), fc.boolean()), { minLength: 1, maxLength: 4 })
    .map((items) => Buffer.concat(items.map(([pc, v, c, l]) => pdata(pc, Buffer.from(v), c, l).subarray(6))));
  // valid bodies, and random bytes (mostly invalid)
  const body = fc.oneof(pdvBody, fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)), pdvBody.chain((b) => fc.nat({ max: b.length }).map((n) => b.subarray(0, n))));
  fc.assert(
    fc.property(body, fc.array(fc.nat(), { maxLength: 8 }), fc.nat({ max: 6 }), (b, cuts, skip) => {
      const whole = (() => { try { return readPdvs(b); } catch (e) { if (e instanceof PduError) return e; throw e; } })();
      // the same body after `skip` header bytes, in pieces
      const pieces = split(Buffer.concat([Buffer.alloc(skip, 0xee), b]), cuts);
      const sliced = (() => { try { return readPdvSlices(pieces, b.length, skip); } catch (e) { if (e instanceof PduError) return e; throw e; } })();
      if (whole instanceof PduError || sliced instanceof PduError) return whole instanceof PduError && sliced instanceof PduError && whole.message === sliced.message;
      return whole.length === sliced.length && whole.every((w, i) => {
        const s = sliced[i]!;
        return w.presentationContextId === s.presentationContextId && w.command === s.command && w.last === s.last && s.length === w.value.length && pdvValue(s).equals(w.value);
      });
    }),
    { numRuns: 1000 },
  );
  t.pass();
});

t.test('fixtures', async (t) => {
  t.same(readPduHeader(Buffer.from([
    0x04, // P-DATA-TF
    0x00, // reserved
    0x00, 0x01, 0x00, 0x00, // length 65536
  ])), { type: 4, length: 65536 });
  t.equal(readPduHeader(Buffer.from([0x04, 0x00, 0x00])), null, 'short header');
  const f = new PduFramer(16384);
  t.throws(() => f.push(Buffer.from([
    0x04, 0x00, // P-DATA-TF
    0xff, 0xff, 0xff, 0xff, // declares 4 GiB
  ])), { code: 'too-large' });
  t.throws(() => new PduFramer(16384).push(Buffer.from([0x08, 0, 0, 0, 0, 0])), { code: 'unknown-type' });
  t.throws(() => new PduFramer(16384).push(Buffer.from([
    0x05, 0x00, // A-RELEASE-RQ
    0x00, 0x00, 0x00, 0x08, // must be 4
  ])), { code: 'too-large' });
  t.throws(() => checkPdu(Buffer.from([
    0x01, 0x00, 0x00, 0x00, 0x00, 0x04, // A-ASSOCIATE-RQ with a 4-byte body
    0x00, 0x01, 0x00, 0x00,
  ])), /< 68 bytes/);
  t.throws(() => readPdvs(Buffer.from([
    0x00, 0x00, 0x00, 0x01, // PDV length 1 (< 2)
    0x01, 0x03,
  ])), /< 2/);
  t.throws(() => readPdvs(Buffer.from([
    0x00, 0x00, 0x00, 0x02, // PDV length 2
    0x01, 0x07, // message control header with reserved bits set
  ])), /message control header/);
});
