/** Property tests for every parser that takes agent or trap input, and counter maths. */
import t from 'tap';
import fc from 'fast-check';
import type { Varbind, Notification } from './snmp/net-snmp.ts';
import { counterStep } from './counters.ts';
import { parseInterfaces, parseStorage, parseCpuLoad } from './snmp/interfaces.ts';
import { decodeNotification } from './snmp/traps.ts';
import { splitTableOid, toBigInt, T } from './snmp/values.ts';

const oidArb = fc.array(fc.nat({ max: 40 }), { minLength: 1, maxLength: 14 }).map((a) => '1.3.6.1.2.1.' + a.join('.'));
const valueArb = fc.oneof(
  fc.integer(), fc.double(), fc.string(), fc.uint8Array({ maxLength: 12 }).map((u) => Buffer.from(u)),
  fc.constant(null), fc.constant(undefined), fc.bigInt(), fc.object(),
);
const typeArb = fc.oneof(fc.constantFrom(...Object.values(T)), fc.integer());
const varbindArb: fc.Arbitrary<Varbind> = fc.record({ oid: fc.oneof(oidArb, fc.constantFrom('1.3.6.1.2.1.2.2.1.8.3', '1.3.6.1.2.1.31.1.1.1.6.1', '1.3.6.1.2.1.31.1.1.1.1.1', '1.3.6.1.2.1.25.2.3.1.5.1', '1.3.6.1.2.1.25.3.3.1.2.196608')), type: typeArb, value: valueArb });

t.test('interface/storage/cpu parsers never throw and keep invariants', async (t) => {
  fc.assert(fc.property(fc.array(varbindArb, { maxLength: 60 }), fc.array(varbindArb, { maxLength: 60 }), (a, b) => {
    const ifs = parseInterfaces(a, b);
    for (const i of ifs) {
      if (!(Number.isSafeInteger(i.ifIndex) && i.ifIndex > 0)) return false;
      for (const c of Object.values(i.counters)) if (c.raw < 0n || c.raw >= 1n << 64n) return false;
      if (i.ifName.length === 0 || i.ifName.length > 64) return false;
    }
    for (const s of parseStorage([...a, ...b])) if (!(s.sizeBytes >= 0 && s.usedBytes >= 0)) return false;
    for (const c of parseCpuLoad([...a, ...b])) if (!(c.ratio >= 0 && c.ratio <= 1)) return false;
    return true;
  }), { numRuns: 500 });
});

t.test('Counter64 buffers decode; oversized buffers are rejected', async (t) => {
  t.equal(toBigInt({ oid: '1', type: T.Counter64, value: Buffer.from('03fa0a', 'hex') }), 0x03fa0an);
  t.equal(toBigInt({ oid: '1', type: T.Counter64, value: Buffer.alloc(0) }), 0n);
  t.equal(toBigInt({ oid: '1', type: T.Counter64, value: Buffer.alloc(9, 1) }), null);
  t.same(splitTableOid('1.3.6.1.2.1.2.2.1', '1.3.6.1.2.1.2.2.1.10.7'), { column: 10, index: '7' });
  t.equal(splitTableOid('1.3.6.1.2.1.2.2.1', '1.3.6.1.2.1.2.2.10.7'), null);
});

t.test('trap decoder never throws on arbitrary notifications', async (t) => {
  const pduArb = fc.record({
    type: fc.oneof(fc.constantFrom(164, 166, 167), fc.integer()),
    id: fc.integer(),
    varbinds: fc.array(fc.oneof(varbindArb, fc.record({ oid: fc.constant('1.3.6.1.6.3.1.1.4.1.0'), type: fc.constant(6), value: fc.oneof(fc.string(), fc.constant('1.3.6.1.6.3.1.1.5.3')) })), { maxLength: 8 }),
    generic: fc.option(fc.integer(), { nil: undefined }),
  });
  fc.assert(fc.property(pduArb, (pdu) => {
    const n = { pdu, rinfo: { address: '127.0.0.1', family: 'IPv4', port: 1, size: 1 } } as Notification;
    const r = decodeNotification(n);
    return r === null || (typeof r.kind === 'string' && typeof r.source === 'string');
  }), { numRuns: 500 });
  t.equal(decodeNotification({} as Notification), null);
});

t.test('counter steps: wraps, discontinuities and restarts never produce spikes', async (t) => {
  t.same(counterStep(undefined, 5n, 64, false), { delta: 0n, outcome: 'first' });
  t.same(counterStep(10n, 25n, 64, false), { delta: 15n, outcome: 'normal' });
  t.same(counterStep(2n ** 32n - 10n, 5n, 32, false), { delta: 15n, outcome: 'wrap' });
  t.same(counterStep(2n ** 32n - 10n, 5n, 32, false, 10n), { delta: 0n, outcome: 'discontinuity' }, 'implausible wrap = reset');
  t.same(counterStep(1000n, 5n, 64, false), { delta: 0n, outcome: 'discontinuity' });
  t.same(counterStep(1000n, 99999999n, 64, true), { delta: 0n, outcome: 'restart' });
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.boolean(), (a, b, r) => {
    const s = counterStep(a, b, 64, r);
    return s.delta >= 0n && (s.outcome !== 'normal' || s.delta === b - a) && (b >= a || s.delta === 0n);
  }));
  fc.assert(fc.property(fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }), fc.bigInt({ min: 0n, max: 2n ** 32n - 1n }), (a, b) => {
    const s = counterStep(a, b, 32, false);
    return s.delta >= 0n && s.delta < 2n ** 32n;
  }));
});
