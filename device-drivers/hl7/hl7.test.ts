import t from 'tap';
import fc from 'fast-check';
import iconv from 'iconv-lite';
import { connect } from 'node:net';
import { builtinProfile } from '../profiles/load.ts';
import type { Hl7Profile } from '../profiles/schema.ts';
import type { Reading } from '../readings.ts';
import { buildOru } from './build.ts';
import { MllpFramer, toBuffer, fromBuffer } from './mllp.ts';
import { Hl7ParseError, parseHl7Time, parseMessage } from './message.ts';
import { oruToReadings } from './oru.ts';
import { singleProfileResolver, startMllpServer } from './server.ts';
import { MllpClient } from '../simulators/hl7-sender.ts';

const profile = builtinProfile('bedside-monitor-hl7') as Hl7Profile;

const sample = (controlId = 'C1', charset?: string) => buildOru({
  controlId,
  sendingApp: 'MINDRAY',
  sendingFacility: 'WARD3',
  patientId: 'P001',
  patientName: '张三',
  ...(charset ? { charset } : {}),
  observations: [
    { id: '8867-4', text: 'HR', value: 72, unit: '/min' },
    { id: '150456', text: 'MDC_PULS_OXIM_SAT_O2', value: 84, unit: '%' },
    { id: 'MDC_PRESS_BLD_NONINV_SYS', value: 400, unit: 'mm[Hg]' },
    { id: '99999-9', value: 1 },
  ],
});

t.test('parses ORU in UTF-8 and GB18030 to typed readings', async (t) => {
  for (const cs of ['UNICODE UTF-8', 'GB18030']) {
    const bytes = sample('C1', cs);
    if (cs === 'GB18030') t.ok(bytes.includes(iconv.encode('张三', 'gb18030')), 'name is GB18030-encoded');
    const msg = parseMessage(bytes);
    t.equal(msg.messageType, 'ORU^R01');
    t.equal(msg.controlId, 'C1');
    t.ok(msg.segments.find((s) => s.id === 'PID')?.fields[5]?.includes('张三'), `${cs}: Chinese name decoded`);
    const r = oruToReadings(msg, profile, 'dev1');
    t.equal(r.patientId, 'P001');
    t.equal(r.readings.length, 3);
    const [hr, spo2, sys] = r.readings;
    t.match(hr, { code: '8867-4', value: 72, interpretation: 'N', critical: false, implausible: false, patientId: 'P001' });
    t.match(spo2, { code: '59408-5', value: 84, interpretation: 'LL', critical: true });
    t.match(sys, { code: '8480-6', value: 400, implausible: true, critical: false });
    t.equal(r.problems.length, 1, 'unknown OBX reported');
  }
});

t.test('HL7 times and escapes', async (t) => {
  t.equal(parseHl7Time('20240102030405'), '2024-01-02T03:04:05.000+08:00');
  t.equal(parseHl7Time('20240102030405.12+0100'), '2024-01-02T03:04:05.120+01:00');
  t.equal(parseHl7Time('2024'), '2024-01-01T00:00:00.000+08:00');
  t.equal(parseHl7Time('20241399'), null);
  t.equal(parseHl7Time('abc'), null);
  const m = parseMessage(Buffer.from('MSH|^~\\&|A|B|||20240101||ORU^R01|X\\F\\1|P|2.5\rPID|1||ID\\S\\2\r'));
  t.equal(m.controlId, 'X\\F\\1', 'MSH-10 kept raw');
});

t.test('rejects non-HL7 and bad charsets with a reason', async (t) => {
  t.throws(() => parseMessage(Buffer.from('hello')), Hl7ParseError);
  t.throws(() => parseMessage(Buffer.from('MSH|^~\\&|A|B|||20240101||ORU^R01|1|P|2.5||||||EBCDIC\r')), { name: 'Hl7ParseError', message: /EBCDIC/ });
});

t.test('MLLP framer: split at every byte boundary, garbage, oversize', async (t) => {
  const a = sample('A');
  const b = sample('B');
  const stream = Buffer.concat([Buffer.from('junk'), toBuffer(a), Buffer.from('\r\n'), toBuffer(b)]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const f = new MllpFramer();
    const ev = [...f.push(stream.subarray(0, cut)), ...f.push(stream.subarray(cut))];
    const frames = ev.filter((e) => e.type === 'frame');
    if (frames.length !== 2 || !frames[0]!.payload.equals(a) || !frames[1]!.payload.equals(b)) { t.fail(`cut at ${cut}`); return; }
  }
  const f1 = new MllpFramer();
  const byByte = [...stream].flatMap((x) => f1.push(Buffer.from([x])));
  t.same(byByte.filter((e) => e.type === 'frame').map((e) => (e as { payload: Buffer }).payload.toString()), [a.toString(), b.toString()], 'one byte at a time');
  t.same(byByte.filter((e) => e.type === 'garbage').reduce((s, e) => s + e.bytes, 0), 4, 'garbage counted');
  const f = new MllpFramer(100);
  const ev = f.push(Buffer.concat([toBuffer(Buffer.alloc(500, 0x41)), toBuffer(Buffer.from('MSH|ok'))]));
  t.same(ev.map((e) => e.type), ['oversize', 'frame']);
  t.equal(f.pending(), 0);
  t.same(fromBuffer(toBuffer(Buffer.from('x')))?.payload.toString(), 'x');
});

t.test('property: framer reassembles any chunking; parser never throws anything but Hl7ParseError', async (t) => {
  fc.assert(fc.property(
    fc.array(fc.uint8Array({ maxLength: 60 }).map((u) => Buffer.from(u.filter((x) => x !== 0x0b && x !== 0x1c))), { minLength: 1, maxLength: 5 }),
    fc.array(fc.nat(400), { maxLength: 10 }),
    (payloads, cuts) => {
      const stream = Buffer.concat(payloads.map((p) => toBuffer(p)));
      const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((x, y) => x - y);
      const f = new MllpFramer();
      const out: Buffer[] = [];
      let prev = 0;
      for (const p of [...points, stream.length]) {
        for (const e of f.push(stream.subarray(prev, p))) if (e.type === 'frame') out.push(e.payload);
        prev = p;
      }
      return out.length === payloads.length && out.every((b, i) => b.equals(payloads[i]!));
    },
  ));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.string({ maxLength: 200 }), (bytes, s) => {
    for (const input of [Buffer.from(bytes), Buffer.from(`MSH|^~\\&|${s}`), Buffer.concat([Buffer.from('MSH|^~\\&|A|B|||2024||ORU^R01|1|P|2.5\r'), Buffer.from(bytes)])]) {
      try {
        const m = parseMessage(input);
        oruToReadings(m, profile, 'x');
      } catch (e) {
        if (!(e instanceof Hl7ParseError)) throw e;
      }
    }
  }));
});

t.test('MLLP server: AA only after store resolved, AE on store failure, AR on garbage', async (t) => {
  const stored: Reading[][] = [];
  let failNext = false;
  let release: (() => void) | undefined;
  const srv = await startMllpServer({
    resolveDevice: singleProfileResolver(profile),
    store: async (r) => {
      if (failNext) { failNext = false; throw new Error('disk full'); }
      await new Promise<void>((res) => { release = res; });
      stored.push(r);
    },
    idleTimeoutMs: 300,
    maxFrameBytes: 4096,
  });
  t.teardown(() => srv.close());
  const c = await MllpClient.open('127.0.0.1', srv.port);
  t.teardown(() => c.close());

  let acked = false;
  const p = c.send(sample('M1')).then((a) => { acked = true; return a; });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(acked, false, 'no ACK while the store is pending');
  t.equal(stored.length, 0);
  release!();
  const a1 = await p;
  t.match(a1, { code: 'AA', controlId: 'M1' });
  t.equal(stored.length, 1);
  t.equal(stored[0]!.length, 3);

  failNext = true;
  const a2 = await c.send(sample('M2'));
  t.match(a2, { code: 'AE', controlId: 'M2' });
  t.match(a2.text, /disk full/);

  const a3 = await c.send(Buffer.from('this is not hl7'));
  t.equal(a3.code, 'AR');
  t.match(a3.text, /MSH/);

  const a4 = await c.send(Buffer.alloc(10_000, 0x41));
  t.equal(a4.code, 'AR');
  t.match(a4.text, /larger/);

  const bad = Buffer.from('MSH|^~\\&|A|B|||20240101||ADT^A01|Z9|P|2.5\rPID|1\r');
  const a5 = await c.send(bad);
  t.match(a5, { code: 'AR', controlId: 'Z9' });
  t.match(a5.text, /unsupported message type ADT\^A01/);

  // GB18030 message: ACK comes back in GB18030 and still parses
  const pg = c.send(sample('G1', 'GB18030'));
  await new Promise((r) => setTimeout(r, 20));
  release!();
  t.match(await pg, { code: 'AA', controlId: 'G1' });

  t.match(srv.counters, { accepted: 2, errors: 1, rejected: 3, oversize: 1, parseErrors: 1, storeErrors: 1 });
  t.match(srv.health(), [{ deviceId: 'MINDRAY@WARD3', state: 'up', readings: 6 }]);
});

t.test('MLLP server: many connections, byte-split frames, silent peer closed', async (t) => {
  const stored: Reading[] = [];
  const srv = await startMllpServer({ resolveDevice: singleProfileResolver(profile), store: async (r) => { stored.push(...r); }, idleTimeoutMs: 200 });
  t.teardown(() => srv.close());
  // a silent peer
  const silent = connect(srv.port, '127.0.0.1');
  const closed = new Promise<void>((r) => silent.on('close', () => r()));
  // 10 clients sending 5 messages each, concurrently
  await Promise.all(Array.from({ length: 10 }, async (_, i) => {
    const c = await MllpClient.open('127.0.0.1', srv.port);
    for (let j = 0; j < 5; j++) t.equal((await c.send(sample(`K${i}-${j}`))).code, 'AA');
    c.close();
  }));
  t.equal(stored.length, 150);
  // one message byte by byte
  const c = await MllpClient.open('127.0.0.1', srv.port);
  const framed = toBuffer(sample('BYTE'));
  const ackP = new Promise<void>((resolve) => {
    const s = connect(srv.port, '127.0.0.1', async () => {
      for (const b of framed) { s.write(Buffer.from([b])); }
    });
    s.on('data', (d) => { if (d.includes(Buffer.from('MSA|AA|BYTE'))) { s.destroy(); resolve(); } });
  });
  await ackP;
  c.close();
  await closed;
  t.ok(srv.counters.idleClosed >= 1, 'silent peer was closed');
  t.equal(stored.length, 153);
});

t.test('MLLP server: a store slower than storeTimeoutMs gets AE; the connection keeps working', async (t) => {
  let slow = true;
  const srv = await startMllpServer({
    resolveDevice: singleProfileResolver(profile),
    store: async () => { if (slow) await new Promise((r) => setTimeout(r, 400)); },
    storeTimeoutMs: 100,
  });
  t.teardown(() => srv.close());
  const c = await MllpClient.open('127.0.0.1', srv.port);
  t.teardown(() => c.close());
  const a = await c.send(sample('S1'));
  t.match(a, { code: 'AE', text: /did not finish in 100 ms/ });
  slow = false;
  t.match(await c.send(sample('S2')), { code: 'AA' });
  t.equal(srv.counters.storeErrors, 1);
});

t.test('ORU variants monitors send: R30, LF separators, SN values, MDC names, deleted results', async (t) => {
  const text = [
    'MSH|^~\\&|MON|BED7|||20240501120000||ORU^R30|V1|P|2.6',
    'PID|||ID77',
    'OBR|1|||X|||20240501115900',
    'OBX|1|SN|8480-6^NIBP sys^LN||>^185|mm[Hg]||HH|||F',
    'OBX|2|NM|^MDC_RESP_RATE^MDC||14|/min||N|||F',
    'OBX|3|NM|8867-4||88|/min||N|||X',
    'OBX|4|ST|9279-1||n/a|/min||N|||F',
  ].join('\n');
  const msg = parseMessage(Buffer.from(text));
  t.equal(msg.messageType, 'ORU^R30');
  const r = oruToReadings(msg, profile, 'bed7');
  t.match(r.readings, [
    { code: '8480-6', value: 185, critical: true, at: '2024-05-01T11:59:00.000+08:00', patientId: 'ID77' },
    { code: '9279-1', value: 14 },
  ]);
  t.equal(r.problems.length, 2, 'X status and non-numeric value reported');
});
