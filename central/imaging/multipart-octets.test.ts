// WADO-RS binary bodies (frames, bulk data) with parts sent straight from a file range: the bytes
// on the wire are the file's, the Content-Length is exact, the file handle is closed when the
// part is sent or the client goes away, and a file that shrank fails the body instead of padding it.
import t from 'tap';
import fc from 'fast-check';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FileHandle } from 'node:fs/promises';
import { multipartOctets, type FileRange, type OctetPart } from './dicomweb.ts';
import { parseMultipartRelated } from './stow.ts';

const dir = mkdtempSync(join(tmpdir(), 'multipart-octets-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));

async function drain(body: ReadableStream<Uint8Array>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of body as unknown as AsyncIterable<Uint8Array>) out.push(Buffer.from(c));
  return Buffer.concat(out);
}
const range = (fh: FileHandle, offset: number, length: number): FileRange => ({ fh, spans: [{ offset, length }], length });
const parse = (contentType: string, body: Buffer) => parseMultipartRelated(contentType.replace('application/octet-stream', 'application/dicom'), body);

t.test('a file range of several MiB between buffer parts is sent byte for byte, and its handle closed', async (t) => {
  const file = join(dir, 'big.bin');
  const bytes = randomBytes(3 * (1 << 20) + 12_345);
  writeFileSync(file, bytes);
  const fh = await open(file, 'r');
  const head = Buffer.from('first part');
  const m = multipartOctets([head, range(fh, 100, bytes.length - 200), Buffer.alloc(0)], 'application/octet-stream');
  const body = await drain(m.body);
  t.equal(body.length, m.length, 'Content-Length is the body length');
  const parts = parse(m.contentType, body);
  t.equal(parts.length, 3);
  t.ok(parts[0]!.body.equals(head));
  t.ok(parts[1]!.body.equals(bytes.subarray(100, bytes.length - 100)), 'the range is the file bytes from offset to offset + length');
  t.equal(parts[2]!.body.length, 0);
  t.equal(fh.fd, -1, 'the handle is closed once its part is sent');
});

t.test('parts sharing one handle (the frames of one instance): closed after the last of them', async (t) => {
  const file = join(dir, 'frames.bin');
  const bytes = randomBytes(2 << 20);
  writeFileSync(file, bytes);
  const fh = await open(file, 'r');
  const m = multipartOctets([range(fh, 1 << 20, 1000), range(fh, 0, 1 << 20), range(fh, 5, 0)], 'application/octet-stream');
  const reader = m.body.getReader();
  const got: Buffer[] = [];
  for (let k = 0; k < 3; k++) got.push(Buffer.from((await reader.read()).value!)); // header, frame 1, CRLF
  t.not(fh.fd, -1, 'still open while later parts need it');
  for (let r = await reader.read(); !r.done; r = await reader.read()) got.push(Buffer.from(r.value));
  const parts = parse(m.contentType, Buffer.concat(got));
  t.same(parts.map((p) => p.body.length), [1000, 1 << 20, 0]);
  t.ok(parts[0]!.body.equals(bytes.subarray(1 << 20, (1 << 20) + 1000)) && parts[1]!.body.equals(bytes.subarray(0, 1 << 20)), 'each part its own bytes, in the order given');
  t.equal(fh.fd, -1, 'closed after the last part');
});

t.test('a client that goes away mid-body: every handle still open is closed', async (t) => {
  const file = join(dir, 'abandoned.bin');
  writeFileSync(file, randomBytes(4 << 20));
  const a = await open(file, 'r');
  const b = await open(file, 'r');
  const m = multipartOctets([range(a, 0, 4 << 20), range(b, 0, 1 << 20)], 'application/octet-stream');
  const reader = m.body.getReader();
  await reader.read(); // the first part's header
  const first = await reader.read(); // 1 MiB of the first range
  t.equal(first.value?.length, 1 << 20, 'a range is read one MiB per pull');
  await reader.cancel();
  t.equal(a.fd, -1, 'the range being sent is closed');
  t.equal(b.fd, -1, 'the range not reached yet is closed');
});

t.test('a file that shrank after the response began fails the body with the reason, never pads it', async (t) => {
  const file = join(dir, 'shrunk.bin');
  writeFileSync(file, randomBytes(3 << 20));
  const fh = await open(file, 'r');
  const m = multipartOctets([range(fh, 0, 3 << 20)], 'application/octet-stream');
  const reader = m.body.getReader();
  await reader.read();
  await reader.read(); // first MiB
  truncateSync(file, (1 << 20) + 10);
  await t.rejects(reader.read(), /stored file ended \d+ bytes before the part's end/);
  t.equal(fh.fd, -1, 'the handle is closed after the failure');
});

t.test('generated parts: buffers and ranges of several spans in any mix come back as sent', async (t) => {
  const file = join(dir, 'gen.bin');
  const bytes = randomBytes(3 << 20);
  writeFileSync(file, bytes);
  const span = fc.tuple(fc.nat(bytes.length), fc.nat(bytes.length)).map(([x, y]) => ({ offset: Math.min(x, y), length: Math.abs(x - y) }));
  await fc.assert(fc.asyncProperty(
    fc.array(fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((u) => ({ kind: 'buf' as const, b: Buffer.from(u) })),
      fc.array(span, { maxLength: 4 }).map((spans) => ({ kind: 'range' as const, spans })),
    ), { minLength: 1, maxLength: 5 }),
    async (spec) => {
      const handles: FileHandle[] = [];
      const parts: OctetPart[] = [];
      for (const s of spec) {
        if (s.kind === 'buf') parts.push(s.b);
        else {
          const fh = await open(file, 'r');
          handles.push(fh);
          parts.push({ fh, spans: s.spans, length: s.spans.reduce((n, x) => n + x.length, 0) });
        }
      }
      const m = multipartOctets(parts, 'application/octet-stream');
      const body = await drain(m.body);
      if (body.length !== m.length) return false;
      const got = parse(m.contentType, body);
      const want = spec.map((s) => (s.kind === 'buf' ? s.b : Buffer.concat(s.spans.map((x) => bytes.subarray(x.offset, x.offset + x.length)))));
      return got.length === want.length && got.every((p, k) => p.body.equals(want[k]!)) && handles.every((h) => h.fd === -1);
    },
  ), { numRuns: 40 });
  t.pass('40 generated bodies');
});
