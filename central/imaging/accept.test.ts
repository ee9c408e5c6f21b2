/**
 * WADO-RS transfer syntax negotiation (accept.ts): the ranges viewers send, q-values, the default,
 * and a fast-check property that no header makes it throw and that its answer is always one the
 * server can give.
 */
import t from 'tap';
import fc from 'fast-check';
import { choose, partType, wantedSyntaxes } from './accept.ts';

const ELE = '1.2.840.10008.1.2.1';
const ILE = '1.2.840.10008.1.2';
const JPEG = '1.2.840.10008.1.2.4.50';
const J2K = '1.2.840.10008.1.2.4.91';
const MPEG2 = '1.2.840.10008.1.2.4.100';
const dicom = (accept: string | undefined, stored: string) => choose(wantedSyntaxes(accept, 'application/dicom'), stored, 'application/dicom').give;
const frames = (accept: string | undefined, stored: string) => choose(wantedSyntaxes(accept, 'application/octet-stream'), stored, 'application/octet-stream').give;

t.test('instances: the default is Explicit VR Little Endian, * the stored bytes', async (t) => {
  t.equal(dicom(undefined, ELE), 'stored', 'no Accept, stored explicit: as stored');
  t.equal(dicom(undefined, JPEG), 'transcode', 'no Accept, stored JPEG: transcoded');
  t.equal(dicom('multipart/related; type="application/dicom"', ILE), 'transcode', 'no transfer-syntax: the default, Implicit VR transcoded');
  t.equal(dicom('multipart/related; type="application/dicom"; transfer-syntax=*', JPEG), 'stored', 'transfer-syntax=*');
  t.equal(dicom(`multipart/related; type=application/dicom; transfer-syntax=${JPEG}`, JPEG), 'stored', 'the stored UID named (type unquoted)');
  t.equal(dicom(`multipart/related; type="application/dicom"; transfer-syntax=${J2K}`, JPEG), 'refuse', 'only another compressed syntax: refused');
  t.equal(dicom(`multipart/related; type="application/dicom"; transfer-syntax=${J2K}, multipart/related; type="application/dicom"; transfer-syntax=${ELE}; q=0.5`, JPEG), 'transcode', 'a second range by q');
  t.equal(dicom(`multipart/related; type="application/dicom"; transfer-syntax=${ELE}, multipart/related; type="application/dicom"; transfer-syntax=*; q=0.9`, JPEG), 'transcode', 'the higher q wins, even when it costs a transcoding');
  t.equal(dicom(`multipart/related; type="application/dicom"; transfer-syntax=${ELE}; q=0.5, multipart/related; type="application/dicom"; transfer-syntax=*`, JPEG), 'stored', 'q=1 by default');
  t.equal(dicom(`multipart/related; type="application/dicom"; transfer-syntax=*; q=0`, JPEG), 'refuse', 'q=0 excludes');
  t.equal(dicom('application/dicom+json', JPEG), 'refuse', 'another media type: nothing acceptable');
  t.equal(dicom('*/*', MPEG2), 'refuse', 'MPEG-2 cannot be decoded: only as stored');
  t.equal(dicom('*/*; transfer-syntax=*', MPEG2), 'stored');
  t.equal(dicom('application/dicom', JPEG), 'transcode', 'a bare application/dicom range');
  const r = choose(wantedSyntaxes(`multipart/related; type="application/dicom"; transfer-syntax=${J2K}`, 'application/dicom'), JPEG, 'application/dicom');
  t.match(r, { give: 'refuse', detail: /stored in transfer syntax 1\.2\.840\.10008\.1\.2\.4\.50.*transfer-syntax=\*.*Explicit VR Little Endian/ }, 'the refusal says what can be had');
});

t.test('frames: native stored frames are uncompressed already', async (t) => {
  t.equal(frames(undefined, ELE), 'stored');
  t.equal(frames(undefined, ILE), 'stored', 'implicit VR frames: the same bytes');
  t.equal(frames('multipart/related; type="application/octet-stream"', JPEG), 'transcode', 'compressed frames decoded by default');
  t.equal(frames('multipart/related; type="application/octet-stream"; transfer-syntax=*', JPEG), 'stored', 'as stored (what OHIF asks)');
  t.equal(frames(`multipart/related; type="application/octet-stream"; transfer-syntax=${JPEG}`, ELE), 'refuse', 'no encoder: native frames cannot be given as JPEG');
  t.equal(partType('application/octet-stream', ELE), 'application/octet-stream');
  t.equal(partType('application/octet-stream', JPEG), `application/octet-stream; transfer-syntax=${JPEG}`);
  t.equal(partType('application/dicom', ELE), `application/dicom; transfer-syntax=${ELE}`);
});

t.test('any header: never throws; the choice is one the server can give', async (t) => {
  const uid = fc.constantFrom(ELE, ILE, JPEG, J2K, MPEG2, '*', '1.2.840.10008.1.2.5', 'bogus', '');
  const range = fc.record({
    media: fc.constantFrom('multipart/related', '*/*', 'application/dicom', 'application/octet-stream', 'image/jpeg', 'multipart/*', 'text/html'),
    type: fc.option(fc.constantFrom('application/dicom', '"application/dicom"', 'application/octet-stream', 'application/dicom+json'), { nil: undefined }),
    ts: fc.option(uid, { nil: undefined }),
    q: fc.option(fc.constantFrom('1', '0.5', '0', '2', 'x', '0.001'), { nil: undefined }),
  }).map((r) => [r.media, r.type !== undefined ? `type=${r.type}` : null, r.ts !== undefined ? `transfer-syntax=${r.ts}` : null, r.q !== undefined ? `q=${r.q}` : null].filter(Boolean).join('; '));
  const header = fc.oneof(fc.array(range, { maxLength: 5 }).map((rs) => rs.join(', ')), fc.string({ maxLength: 200 }), fc.string({ unit: 'grapheme', maxLength: 50 }));
  fc.assert(fc.property(header, fc.constantFrom(ELE, ILE, JPEG, J2K, MPEG2, '1.2.840.10008.1.2.2'), fc.constantFrom('application/dicom' as const, 'application/octet-stream' as const), (h, stored, part) => {
    const wanted = wantedSyntaxes(h, part);
    for (const w of wanted) if (!(w.q > 0 && w.q <= 1)) return false;
    for (let k = 1; k < wanted.length; k++) if (wanted[k]!.q > wanted[k - 1]!.q) return false;
    const c = choose(wanted, stored, part);
    if (c.give === 'stored') return wanted.some((w) => w.ts === '*' || w.ts === stored || (part === 'application/octet-stream' && w.ts === ELE && [ELE, ILE, '1.2.840.10008.1.2.2'].includes(stored)));
    if (c.give === 'transcode') return wanted.some((w) => w.ts === ELE) && stored !== MPEG2 && stored !== '1.2.840.10008.1.2.2';
    return c.detail.length > 0 && !wanted.some((w) => w.ts === '*' || w.ts === stored);
  }), { numRuns: 2000 });
  t.pass('2,000 generated Accept headers');
});
