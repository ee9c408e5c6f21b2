import t from 'tap';
import fc from 'fast-check';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { builtinProfile, parseProfile } from '../profiles/load.ts';
import type { ModbusProfile } from '../profiles/schema.ts';
import type { ObservationReading, Reading } from '../readings.ts';
import { DeviceTimeoutError, ModbusExceptionError } from '../errors.ts';
import { checkReadRequest, fromBuffer, ModbusFrameError, parseReadResponse, readRequestPdu, readResponsePdu, toBuffer, type ReadFunction } from './pdu.ts';
import { decodeRaw, encodeValue, planReads } from './registers.ts';
import { ModbusTcpClient } from './tcp-client.ts';
import { ModbusDriver } from './driver.ts';
import { startModbusSimulator } from '../simulators/modbus-sim.ts';

const bp = builtinProfile('bp-monitor') as ModbusProfile;
const glucose = builtinProfile('glucose-meter') as ModbusProfile;
const scale = builtinProfile('height-weight-scale') as ModbusProfile;
const thermo = builtinProfile('thermometer') as ModbusProfile;

t.test('PDU/MBAP codec: only read functions, quantity limits, byte counts', async (t) => {
  t.throws(() => readRequestPdu(0x06, 0, 1), ModbusFrameError, 'write single register refused');
  t.throws(() => readRequestPdu(0x10, 0, 1), ModbusFrameError);
  t.throws(() => readRequestPdu(3, 0, 126), /quantity 126/);
  t.throws(() => readRequestPdu(1, 0, 2001), /quantity/);
  t.throws(() => readRequestPdu(3, 65530, 10), /address/);
  t.same([...readRequestPdu(3, 0x10, 2)], [0x03, 0x00, 0x10, 0x00, 0x02]);
  const adu = toBuffer({ transactionId: 0x1234, unitId: 7, pdu: readRequestPdu(4, 1, 3) });
  t.same([...adu], [
    0x12, 0x34, // transaction id
    0x00, 0x00, // protocol id
    0x00, 0x06, // length: unit + 5-byte PDU
    0x07, // unit id
    0x04, 0x00, 0x01, 0x00, 0x03, // FC04, address 1, quantity 3
  ]);
  t.throws(() => fromBuffer(Buffer.from([0, 1, 0, 9, 0, 3, 1, 3, 0])), /protocol id 9/);
  t.throws(() => fromBuffer(Buffer.from([0, 1, 0, 0, 0x10, 0, 1, 3, 0])), /length 4096/);
  t.equal(fromBuffer(adu.subarray(0, 10)), null, 'incomplete');
  t.throws(() => parseReadResponse(Buffer.from([3, 4, 0, 1]), 3, 2), /byte count 4|PDU length/);
  t.throws(() => parseReadResponse(Buffer.from([3, 2, 0, 1]), 3, 2), /byte count 2, expected 4/);
  t.same(parseReadResponse(Buffer.from([0x83, 0x02]), 3, 2), { ok: false, exception: 2 });
  t.throws(() => parseReadResponse(Buffer.from([4, 2, 0, 1]), 3, 1), /does not match/);
});

t.test('property: codec round trips; random bytes only raise ModbusFrameError', async (t) => {
  fc.assert(fc.property(fc.constantFrom<ReadFunction>(1, 2, 3, 4), fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 1, maxLength: 125 }), fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 247 }), (fcode, vals, tid, unit) => {
    const values = fcode <= 2 ? vals.map((v) => v & 1) : vals;
    const pdu = readResponsePdu(fcode, values);
    const wire = toBuffer({ transactionId: tid, unitId: unit, pdu });
    const r = fromBuffer(wire);
    if (!r || r.length !== wire.length || r.adu.transactionId !== tid || r.adu.unitId !== unit) return false;
    const p = parseReadResponse(r.adu.pdu, fcode, values.length);
    return p.ok && p.values.every((v, i) => v === values[i]);
  }));
  fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), fc.constantFrom<ReadFunction>(1, 2, 3, 4), fc.integer({ min: 1, max: 125 }), (bytes, fcode, q) => {
    try {
      const r = fromBuffer(bytes);
      if (r) parseReadResponse(r.adu.pdu, fcode, q);
      parseReadResponse(bytes, fcode, q);
    } catch (e) {
      if (!(e instanceof ModbusFrameError)) throw e;
    }
  }));
  fc.assert(fc.property(fc.integer(), fc.integer(), fc.integer(), (f, a, q) => {
    try { checkReadRequest(f, a, q); return [1, 2, 3, 4].includes(f) && q >= 1 && q <= 2000 && a >= 0; } catch (e) { return e instanceof ModbusFrameError; }
  }));
});

t.test('register map: planning and value encoding round trip', async (t) => {
  t.same(planReads(bp).map((b) => [b.fc, b.address, b.quantity]), [[3, 0, 3]]);
  t.same(planReads(glucose).map((b) => [b.fc, b.address, b.quantity]), [[1, 0, 1], [4, 0, 2]]);
  t.same(planReads(scale).map((b) => [b.fc, b.address, b.quantity]), [[3, 0, 4]]);
  for (const p of [bp, glucose, scale, thermo]) {
    for (const q of p.quantities) {
      for (const order of ['big', 'little'] as const) {
        fc.assert(fc.property(fc.double({ min: q.plausible.low ?? 0, max: q.plausible.high ?? 100, noNaN: true }), (v) => {
          const words = encodeValue(q, v, order);
          const back = decodeRaw(q, words, 0, order) * q.scale + q.offset;
          return Math.abs(back - v) <= (q.dataType === 'float32' ? Math.abs(v) * 1e-6 + 1e-6 : q.dataType === 'bool' ? 1 : q.scale / 2 + 1e-9);
        }), { numRuns: 50 });
      }
    }
  }
  const p = parseProfile({ ...bp, quantities: [{ ...bp.quantities[0], key: 'big', modbus: { table: 'holding', address: 200 } }, ...bp.quantities] });
  t.equal(planReads(p as ModbusProfile).length, 2, 'far addresses split into two reads');
});

t.test('driver polls the simulator: readings, interpretation, health', async (t) => {
  const sim = await startModbusSimulator({ profile: scale, seed: 1, mix: { criticalRate: 0, implausibleRate: 0 } });
  t.teardown(() => sim.stop());
  sim.set('height', 172.3);
  sim.set('weight', 68.45);
  sim.set('bmi', 23.1);
  const stored: Reading[] = [];
  const d = new ModbusDriver({ deviceId: 'scale-1', profile: scale, transport: { type: 'tcp', host: '127.0.0.1', port: sim.port }, pollIntervalMs: 50 });
  await d.start({ store: async (r) => { stored.push(...r); } });
  t.teardown(() => d.stop());
  while (stored.length < 9) await new Promise((r) => setTimeout(r, 10));
  const byKey = Object.fromEntries(stored.slice(0, 3).map((r) => [r.quantity, r as ObservationReading]));
  t.match(byKey.height, { code: '8302-2', value: 172.3, unit: 'cm', deviceId: 'scale-1', implausible: false });
  t.match(byKey.weight, { code: '29463-7', value: 68.45, unit: 'kg' });
  t.match(byKey.bmi, { code: '39156-5', value: 23.1, interpretation: 'N' });
  t.match(d.health(), [{ deviceId: 'scale-1', state: 'up' }]);
  t.ok(d.counters().polls! >= 3);
  t.match(await d.testConnection(), { ok: true, detail: /height=172.3/ });
  t.equal(d.state(), 'running');
});

/** A scripted Modbus TCP "device": `answer` decides the reply bytes for each request. */
async function fakeDevice(answer: (req: Buffer, sock: Socket) => Buffer | null | 'close') {
  const socks = new Set<Socket>();
  const srv = createServer((s) => {
    socks.add(s);
    s.on('close', () => socks.delete(s));
    s.on('error', () => undefined);
    s.on('data', (req) => {
      const a = answer(req, s);
      if (a === 'close') s.destroy();
      else if (a) s.write(a);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  return { port: (srv.address() as AddressInfo).port, close: () => new Promise<void>((r) => { for (const s of socks) s.destroy(); srv.close(() => r()); }) };
}

t.test('bad devices: exception, wrong protocol id, wrong byte count, silence, slow, stale', async (t) => {
  const reply = (req: Buffer, pdu: number[], o: { proto?: number; unit?: number; tid?: number } = {}) => {
    const b = Buffer.from([0, 0, 0, 0, 0, 0, 0, ...pdu]);
    b.writeUInt16BE(o.tid ?? req.readUInt16BE(0), 0);
    b.writeUInt16BE(o.proto ?? 0, 2);
    b.writeUInt16BE(pdu.length + 1, 4);
    b[6] = o.unit ?? req[6]!;
    return b;
  };
  let mode = 'exception';
  const dev = await fakeDevice((req, s) => {
    switch (mode) {
      case 'exception': return reply(req, [req[7]! | 0x80, 0x02]);
      case 'proto': return reply(req, [3, 2, 0, 1], { proto: 5 });
      case 'count': return reply(req, [3, 4, 0, 1, 0, 2]);
      case 'silent': return null;
      case 'unit': return reply(req, [3, 2, 0, 1], { unit: 9 });
      case 'slow': setTimeout(() => s.write(reply(req, [3, 2, 0, 42])), 150); return null;
      case 'split': { const b = reply(req, [3, 2, 0, 7]); for (let i = 0; i < b.length; i++) setTimeout(() => s.write(b.subarray(i, i + 1)), i); return null; }
      default: return reply(req, [3, 2, 0, 1]);
    }
  });
  t.teardown(() => dev.close());
  let c = await ModbusTcpClient.connect('127.0.0.1', dev.port);
  await t.rejects(c.read(1, 3, 0, 1, 500), ModbusExceptionError);
  t.equal(c.open, true, 'exception keeps the connection');
  mode = 'count';
  await t.rejects(c.read(1, 3, 0, 1, 500), /byte count 4, expected 2/);
  mode = 'unit';
  await t.rejects(c.read(1, 3, 0, 1, 500), /unit 9/);
  mode = 'silent';
  await t.rejects(c.read(1, 3, 0, 1, 100), DeviceTimeoutError);
  await t.rejects(c.read(1, 3, 0, 1, 100), /no answer from unit 1/);
  mode = 'slow';
  await t.rejects(c.read(1, 3, 0, 1, 50), DeviceTimeoutError, 'slow device times out');
  mode = 'ok';
  await new Promise((r) => setTimeout(r, 150));
  t.same(await c.read(1, 3, 0, 1, 500), [1], 'late answer to the timed-out request is discarded');
  t.ok(c.counters.staleResponses >= 1);
  mode = 'split';
  t.same(await c.read(1, 3, 0, 1, 1000), [7], 'response split at every byte');
  mode = 'proto';
  await t.rejects(c.read(1, 3, 0, 1, 500), /protocol id 5/);
  t.equal(c.open, false, 'bad MBAP drops the connection');
  t.match(c.counters, { exceptions: 1, badFrames: 3, timeouts: 3 });
  await c.close();
  c = await ModbusTcpClient.connect('127.0.0.1', dev.port);
  await c.close();
});

t.test('driver: exception keeps device up; unreachable device reconnects with backoff', async (t) => {
  const sim = await startModbusSimulator({ profile: thermo, seed: 3 });
  const port = sim.port;
  const stored: Reading[] = [];
  const d = new ModbusDriver({ deviceId: 'thermo-1', profile: thermo, transport: { type: 'tcp', host: '127.0.0.1', port }, pollIntervalMs: 30, timeoutMs: 200, backoff: { initialMs: 20, maxMs: 100 }, failuresBeforeReconnect: 1 });
  await d.start({ store: async (r) => { stored.push(...r); } });
  t.teardown(() => d.stop());
  while (stored.length < 2) await new Promise((r) => setTimeout(r, 10));
  await sim.stop();
  await new Promise((r) => setTimeout(r, 300));
  t.match(d.health(), [{ state: 'down' }]);
  t.equal(d.state(), 'degraded');
  const n = stored.length;
  const sim2 = await startModbusSimulator({ profile: thermo, port, seed: 4 });
  t.teardown(() => sim2.stop());
  const deadline = Date.now() + 5000;
  while (stored.length <= n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.ok(stored.length > n, 'polling resumed after the device came back');
  t.match(d.health(), [{ state: 'up' }]);
  t.ok(d.counters().connectFailures! >= 1);
  t.ok(d.counters().reconnects! >= 1);

  const ex = await fakeDevice((req) => Buffer.from([req[0]!, req[1]!, 0, 0, 0, 3, req[6]!, req[7]! | 0x80, 0x02]));
  t.teardown(() => ex.close());
  const d2 = new ModbusDriver({ deviceId: 'ex', profile: bp, transport: { type: 'tcp', host: '127.0.0.1', port: ex.port } });
  await t.rejects(d2.read(), ModbusExceptionError);
  t.match(await d2.testConnection(), { ok: false, detail: /illegal data address/ });
  await d2.stop();
});

t.test('one failing device does not disturb the others; store failures are retried', async (t) => {
  const sims = await Promise.all([1, 2, 3].map((i) => startModbusSimulator({ profile: bp, seed: i })));
  t.teardown(() => Promise.all(sims.map((s) => s.stop())));
  const got = new Map<string, number>();
  let failStore = 3;
  const ctx = { store: async (r: Reading[]) => { if (r[0]!.deviceId === 'bp-2' && failStore-- > 0) throw new Error('db locked'); for (const x of r) got.set(x.deviceId, (got.get(x.deviceId) ?? 0) + 1); } };
  const drivers = sims.map((s, i) => new ModbusDriver({ deviceId: `bp-${i + 1}`, profile: bp, transport: { type: 'tcp', host: '127.0.0.1', port: s.port }, pollIntervalMs: 20 }));
  const dead = new ModbusDriver({ deviceId: 'bp-dead', profile: bp, transport: { type: 'tcp', host: '127.0.0.1', port: 1 }, pollIntervalMs: 20, backoff: { initialMs: 10, maxMs: 50 } });
  for (const d of [...drivers, dead]) await d.start(ctx);
  t.teardown(() => Promise.all([...drivers, dead].map((d) => d.stop())));
  const deadline = Date.now() + 5000;
  while ([1, 2, 3].some((i) => (got.get(`bp-${i}`) ?? 0) < 15) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.ok([1, 2, 3].every((i) => (got.get(`bp-${i}`) ?? 0) >= 15), 'healthy devices kept polling');
  t.equal(drivers[1]!.counters().storeErrors, 3);
  t.equal(drivers[1]!.counters().droppedBatches, 0, 'failed batches were retried, none dropped');
  t.match(dead.health(), [{ state: 'down' }]);
});

t.test('discovery: scans unit ids behind one address', async (t) => {
  const sim = await startModbusSimulator({ profile: bp, unitId: 3, seed: 1 });
  t.teardown(() => sim.stop());
  const d = new ModbusDriver({ deviceId: 'scan', profile: bp, transport: { type: 'tcp', host: '127.0.0.1', port: sim.port } });
  const found = await d.discover({ units: [1, 2, 3, 4], timeoutMs: 100 });
  t.same(found.map((f) => f.address), ['unit 3']);
});
