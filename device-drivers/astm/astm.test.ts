import t from 'tap';
import fc from 'fast-check';
import { EventEmitter } from 'node:events';
import { createServer } from 'node:net';
import { builtinProfile } from '../profiles/load.ts';
import type { AstmProfile } from '../profiles/schema.ts';
import type { LabReading, Reading } from '../readings.ts';
import { ACK, EOT, ENQ, NAK, fromBuffer, messageToFrames, toBuffer } from './frame.ts';
import { AstmReceiver } from './receiver.ts';
import { AstmParseError, parseRecords } from './records.ts';
import { astmToReadings, decodeAstmText } from './results.ts';
import { sendAstmMessage, type ByteLink } from './sender.ts';
import { AstmDriver } from './driver.ts';
import { startAstmServer } from './server.ts';
import { buildAstmMessage, simulatedAstm, socketLink, startAstmSimulator } from '../simulators/astm-sender.ts';
import { rng } from '../simulators/values.ts';
import { openSerialPort, closeSerialPort } from './serial.ts';
import { ptyPair } from '../test/socat.ts';
import { waitFor } from '../../test/helpers/wait.ts';

/**
 * Reply and receive timeouts for peers that always answer: far longer than any stall of a
 * loaded machine, so retransmissions in these tests are driven by NAKs only (a timer firing
 * first would add a retransmission the test did not ask for).
 */
const NEVER_MS = 10 * 60_000;

const bio = builtinProfile('biochemistry-analyser') as AstmProfile;
const haem = builtinProfile('haematology-analyser') as AstmProfile;

// Fixed: records carry their build time, and a slow run must not see two different messages.
const SAMPLE_TIME = new Date(2024, 4, 1, 8, 30, 0);
const sample = () => buildAstmMessage('BS-240', {
  specimenId: '20240001',
  patientId: 'P42',
  patientName: '王五',
  results: [
    { testId: 'GLU', value: '5.6', unit: 'mmol/L' },
    { testId: 'K', value: '6.8', unit: 'mmol/L', flag: 'H' },
    { testId: 'NA', value: '999', unit: 'mmol/L' },
    { testId: 'XYZ', value: 'POS', unit: '' },
    { testId: 'ALT', value: '', unit: 'U/L', status: 'X' },
  ],
}, { gb: true, time: SAMPLE_TIME });

/** Two in-memory endpoints wired back to back, optionally chopping every write into single bytes. */
function linkPair(byteByByte = false): { a: ByteLink & EventEmitter; b: ByteLink & EventEmitter } {
  const a = new EventEmitter() as ByteLink & EventEmitter;
  const b = new EventEmitter() as ByteLink & EventEmitter;
  const deliver = (to: EventEmitter, buf: Buffer) => {
    if (!byteByByte) setImmediate(() => to.emit('data', buf));
    else for (const x of buf) setImmediate(() => to.emit('data', Buffer.from([x])));
  };
  a.write = (buf: Buffer) => { deliver(b, buf); return true; };
  b.write = (buf: Buffer) => { deliver(a, buf); return true; };
  return { a, b };
}

t.test('frames: build/parse round trip, checksum and frame number checks, ETB split', async (t) => {
  const f = toBuffer({ fn: 1, text: Buffer.from('H|\\^&\r'), final: true });
  t.same([...f.subarray(0, 2)], [0x02, 0x31]);
  // 0x31+0x48+0x7C+0x5C+0x5E+0x26+0x0D+0x03 = 0x1E5 -> 'E5'
  t.equal(f.subarray(-4, -2).toString(), 'E5', 'checksum computed by hand');
  const p = fromBuffer(f);
  t.ok(p.ok && p.frame.fn === 1 && p.frame.final && p.frame.text.toString() === 'H|\\^&\r');
  const bad = Buffer.from(f);
  bad[3] = 0x58;
  t.match(fromBuffer(bad), { ok: false, error: 'bad_checksum' });
  t.match(fromBuffer(f.subarray(0, 5)), { ok: false, error: 'incomplete' });
  const long = Buffer.from(`R|1|^^^GLU|${'9'.repeat(600)}\r`);
  const frames = messageToFrames([long]);
  t.equal(frames.length, 3);
  t.same(frames.map((x) => x[x.length - 5]), [0x17, 0x17, 0x03], 'ETB, ETB, ETX');
  fc.assert(fc.property(fc.uint8Array({ maxLength: 240 }).map((u) => Buffer.from(u.filter((x) => ![2, 3, 0x17, 0x0a].includes(x)))), fc.integer({ min: 0, max: 7 }), fc.boolean(), fc.nat(), (text, fn, final, pos) => {
    const b = toBuffer({ fn, text, final });
    const r = fromBuffer(b);
    if (!r.ok || r.frame.fn !== fn || r.frame.final !== final || !r.frame.text.equals(text)) return false;
    // flip one byte of FN/text/checksum: never accepted as the same frame
    const i = 1 + (pos % (b.length - 3));
    const c = Buffer.from(b);
    c[i] = c[i]! ^ 0x01;
    const q = fromBuffer(c);
    return !q.ok || !q.frame.text.equals(text) || q.frame.fn !== fn || q.frame.final !== final;
  }));
});

t.test('E1394 records to lab readings (GB18030, flags, unknown tests, X status)', async (t) => {
  const text = decodeAstmText(Buffer.concat(sample()));
  t.match(text, /王五/);
  const res = astmToReadings(text, bio);
  t.equal(res.sender, 'BS-240');
  t.equal(res.terminated, true);
  t.equal(res.readings.length, 4);
  const [glu, k, na, xyz] = res.readings as LabReading[];
  t.match(glu, { testCode: '14749-6', value: '5.6', numericValue: 5.6, flag: 'N', specimenId: '20240001', patientId: 'P42', status: 'final', unit: 'mmol/L', critical: false });
  t.match(k, { testCode: '2823-3', flag: 'HH', critical: true });
  t.match(na, { implausible: true, critical: false });
  t.match(xyz, { testCode: 'LOCAL:XYZ', value: 'POS' });
  t.equal(res.problems.length, 2, 'unknown test and X status reported');
  t.throws(() => parseRecords('garbage'), AstmParseError);
  t.throws(() => parseRecords('H|\\^&\rZ|1\r'), AstmParseError);
  fc.assert(fc.property(fc.string({ maxLength: 300 }), fc.uint8Array({ maxLength: 200 }), (s, u) => {
    for (const input of [s, `H|\\^&|||X\r${s}`, `H|\\^&\rP|1\rO|1|S1\rR|1|^^^GLU|${s}\rL|1\r`, decodeAstmText(u)]) {
      try { astmToReadings(input, bio); } catch (e) { if (!(e instanceof AstmParseError)) throw e; }
    }
  }));
});

async function session(byteByByte: boolean, opts: { corruptFirst?: boolean; failStoreOnce?: boolean; garbage?: boolean } = {}) {
  const { a, b } = linkPair(byteByByte);
  const stored: Buffer[] = [];
  let fail = opts.failStoreOnce ?? false;
  const rx = new AstmReceiver({
    write: (x) => b.write(x),
    onMessage: async (bytes) => { if (fail) { fail = false; throw new Error('db busy'); } stored.push(bytes); },
    receiveTimeoutMs: NEVER_MS,
  });
  b.on('data', (x: Buffer) => rx.push(x));
  let corrupt = opts.corruptFirst ?? false;
  const link: ByteLink = {
    write: (x: Buffer) => {
      if (opts.garbage) a.write(Buffer.from('\xff\x00zz'));
      if (corrupt && x[0] === 0x02) { corrupt = false; const c = Buffer.from(x); c[2] = c[2]! ^ 0x20; return a.write(c); }
      return a.write(x);
    },
    on: (e, f) => a.on(e, f),
    off: (e, f) => a.off(e, f),
  };
  const r = await sendAstmMessage(link, sample(), { replyTimeoutMs: NEVER_MS, enqRetryMs: 10 });
  rx.close();
  return { r, stored, counters: rx.counters };
}

t.test('E1381 receiver: normal, byte-by-byte, checksum NAK + retransmit, store failure NAK, garbage', async (t) => {
  const whole = Buffer.concat(sample());
  const s1 = await session(false);
  t.equal(s1.stored.length, 1);
  t.ok(s1.stored[0]!.equals(whole), 'message bytes reassembled');
  const s2 = await session(true);
  t.ok(s2.stored[0]!.equals(whole), 'byte by byte');
  const s3 = await session(false, { corruptFirst: true });
  t.equal(s3.r.retransmits, 1);
  t.equal(s3.counters.checksumErrors, 1);
  t.ok(s3.stored[0]!.equals(whole));
  const s4 = await session(false, { failStoreOnce: true });
  t.equal(s4.counters.storeErrors, 1);
  t.equal(s4.stored.length, 1, 'stored on the retransmission, once');
  t.equal(s4.r.retransmits, 1);
  const s5 = await session(false, { garbage: true });
  t.ok(s5.counters.garbageBytes > 0);
  t.equal(s5.stored.length, 1);
});

t.test('E1381 receiver: timeout abandons a half message; random bytes never throw', async (t) => {
  const out: number[] = [];
  const stored: Buffer[] = [];
  const rx = new AstmReceiver({ write: (b) => out.push(...b), onMessage: async (b) => { stored.push(b); }, receiveTimeoutMs: 100 });
  rx.push(Buffer.from([ENQ]));
  const frames = messageToFrames(sample());
  rx.push(frames[0]!);
  await waitFor('receive timeout', () => rx.counters.timeouts > 0);
  t.equal(rx.counters.timeouts, 1);
  rx.push(Buffer.from([ENQ]));
  for (const f of frames) rx.push(f);
  rx.push(Buffer.from([EOT]));
  await waitFor('message stored', () => stored.length > 0);
  t.equal(stored.length, 1, 'a fresh session after the timeout works');
  t.same(out.filter((x) => x === NAK), []);
  t.ok(out.every((x) => x === ACK));
  rx.close();
  await fc.assert(fc.asyncProperty(fc.array(fc.uint8Array({ maxLength: 64 }), { maxLength: 20 }), async (chunks) => {
    const r2 = new AstmReceiver({ write: () => undefined, onMessage: async () => undefined, receiveTimeoutMs: 1000 });
    for (const c of chunks) r2.push(Buffer.concat([Buffer.from([c.length % 3 === 0 ? ENQ : 0x02]), c]));
    await new Promise((r) => setImmediate(r));
    r2.close();
  }), { numRuns: 200 });
});

t.test('ASTM over TCP: simulator -> server -> store, several analysers', async (t) => {
  const stored: Reading[] = [];
  const srv = await startAstmServer({ profile: haem, store: async (r) => { stored.push(...r); } });
  t.teardown(() => srv.close());
  const sims = await Promise.all([1, 2, 3].map((i) => startAstmSimulator({ host: '127.0.0.1', port: srv.port, profile: haem, intervalMs: 10, sender: `BC-${i}`, seed: i })));
  t.teardown(() => Promise.all(sims.map((s) => s.stop())));
  await waitFor('three messages from each analyser', () => sims.every((s) => s.sent >= 3 || s.failed > 0), 300_000, 20);
  await Promise.all(sims.map((s) => s.stop({ finishMessage: true })));
  t.ok(sims.every((s) => s.sent >= 3 && s.failed === 0));
  t.equal(new Set(stored.map((r) => r.deviceId)).size, 3);
  t.equal(stored.length, sims.reduce((n, s) => n + s.sent, 0) * haem.quantities.length, 'every result stored once');
  t.equal(srv.state.counters.naks, 0);
});

t.test('ASTM over a serial port (socat pty pair) through the same driver', async (t) => {
  const pty = await ptyPair();
  t.teardown(() => pty.close());
  const stored: Reading[] = [];
  const drv = new AstmDriver({ profile: bio, transport: { type: 'serial', path: pty.a, baudRate: 115200 } });
  await drv.start({ store: async (r) => { stored.push(...r); } });
  t.teardown(() => drv.stop());
  const port = await openSerialPort({ path: pty.b, baudRate: 115200 });
  t.teardown(() => closeSerialPort(port));
  const m = simulatedAstm(bio, rng(7));
  const link: ByteLink = { write: (b) => port.write(b), on: (e, f) => port.on(e, f), off: (e, f) => port.off(e, f) };
  await sendAstmMessage(link, buildAstmMessage('BS-SERIAL', m.sample), { replyTimeoutMs: NEVER_MS });
  // the last frame is ACKed only after the store resolved: everything is stored by now
  t.equal(stored.length, bio.quantities.length);
  t.match(drv.health(), [{ deviceId: 'BS-SERIAL', state: 'up' }]);
  t.equal((await drv.read()).length, bio.quantities.length);
  t.match(await drv.testConnection(), { ok: true });
});

t.test('ASTM server: garbage and silent peers do not disturb an analyser; oversize and slow store are NAKed', async (t) => {
  const stored: Reading[] = [];
  let slow = false;
  // a slow store does not finish before the test ends: always far slower than the store timeout
  let release: () => void = () => undefined;
  const released = new Promise<void>((r) => { release = r; });
  const srv = await startAstmServer({ profile: bio, store: async (r) => { if (slow) await released; stored.push(...r); }, storeTimeoutMs: 100, receiveTimeoutMs: NEVER_MS });
  t.teardown(() => { release(); return srv.close(); });
  const { connect } = await import('node:net');
  const junk = connect(srv.port, '127.0.0.1');
  junk.on('error', () => undefined);
  await new Promise((r) => junk.once('connect', r));
  junk.write(Buffer.from([0x05, 0x02, 0x31, 0xff, 0xfe, 0x03, 0x30, 0x30, 0x0d, 0x0a, 0x02, ...Buffer.alloc(400, 0x41)]));
  const silent = connect(srv.port, '127.0.0.1');
  silent.on('error', () => undefined);
  t.teardown(() => { junk.destroy(); silent.destroy(); });
  const s = connect(srv.port, '127.0.0.1');
  s.on('error', () => undefined);
  await new Promise((r) => s.once('connect', r));
  const m = simulatedAstm(bio, rng(1));
  await sendAstmMessage(socketLink(s), buildAstmMessage('GOOD', m.sample), { replyTimeoutMs: NEVER_MS });
  t.equal(stored.length, bio.quantities.length, 'the good analyser got through');
  await waitFor('garbage frames NAKed', () => srv.state.counters.naks >= 2);
  t.ok(srv.state.counters.naks >= 2, 'garbage frames NAKed');
  slow = true;
  const res = sendAstmMessage(socketLink(s), buildAstmMessage('GOOD', simulatedAstm(bio, rng(2)).sample), { replyTimeoutMs: NEVER_MS, maxAttempts: 2 });
  await t.rejects(res, /not acknowledged after 2 attempts/, 'slow store: last frame NAKed until the sender gives up');
  t.ok(srv.state.counters.storeErrors >= 2);
  s.destroy();

  const rx = new AstmReceiver({ write: () => undefined, onMessage: async () => undefined, maxMessageBytes: 300 });
  rx.push(Buffer.from([ENQ]));
  for (const f of messageToFrames(sample())) rx.push(f);
  await new Promise((r) => setImmediate(r));
  t.ok(rx.counters.oversize >= 1, 'oversized message abandoned and counted');
  rx.close();
});

t.test('a send ends at once when its signal aborts (link closed, sender stopping), not after 6 x 15 s of retransmits', async (t) => {
  // A receiver that takes the ENQ and then goes silent (a cable pulled mid-message).
  const { a, b } = linkPair();
  b.on('data', (x: Buffer) => { if (x[0] === ENQ) b.write(Buffer.from([ACK])); });
  const ac = new AbortController();
  const started = Date.now();
  const sending = sendAstmMessage(a, sample(), { signal: ac.signal });
  setTimeout(() => ac.abort(new Error('connection closed')), 50);
  await t.rejects(sending, /send aborted: connection closed/, 'rejected with the reason');
  t.ok(Date.now() - started < 15_000, 'before the first reply timeout');
  await t.rejects(sendAstmMessage(a, sample(), { signal: AbortSignal.abort(new Error('stopped')) }), /send aborted: stopped/, 'an aborted signal: nothing sent');

  // The simulator stopped while the receiver holds a frame unanswered: it stops now, and its
  // process is not kept alive by retransmit timers (the suite's simulators test used to hang ~90 s).
  const silent = await new Promise<import('node:net').Server>((res) => {
    const srv = createServer((s) => s.on('data', (x) => { if (x[0] === ENQ) s.write(Buffer.from([ACK])); }));
    srv.listen(0, '127.0.0.1', () => res(srv));
  });
  t.teardown(() => silent.close());
  const port = (silent.address() as import('node:net').AddressInfo).port;
  const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
  const before = timers();
  const sim = await startAstmSimulator({ host: '127.0.0.1', port, profile: builtinProfile('biochemistry-analyser') as AstmProfile, intervalMs: 10, seed: 3 });
  await waitFor('the first frame sent and left unanswered', async () => timers() > before, 5000);
  const t0 = Date.now();
  await sim.stop();
  t.ok(Date.now() - t0 < 3000, `stop() returns promptly (${Date.now() - t0} ms)`);
  t.equal(timers(), before, 'no reply or retransmit timer left running after stop');
  t.equal(sim.sent, 0, 'nothing counted as sent');
  t.equal(sim.failed, 0, 'a send ended by stop() is not counted as failed');
});
