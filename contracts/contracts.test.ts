import t from 'tap';
import fc from 'fast-check';
import { HybridLogicalClock, checkEnvelope, checkResidentId, compareHlc, idCheckChar, makeResidentId, parseHlc } from './index.ts';

t.test('GB 11643: known IDs, derived birth date and sex, any single-digit change is caught', async (t) => {
  const c = checkResidentId('11010519491231002X');
  t.same(c, { ok: true, id: '11010519491231002X', birthDate: '1949-12-31', sex: '2', areaCode: '110105' });
  t.equal(checkResidentId('110105194912310021').ok, false, 'wrong check character');
  t.equal(checkResidentId('110105194902300026').ok, false, 'impossible date');
  const old = checkResidentId('110105491231002');
  t.ok(old.ok && old.id.length === 18, '15-digit ID upgraded to 18 digits');
  fc.assert(fc.property(fc.date({ min: new Date('1900-01-01'), max: new Date('2025-12-31'), noInvalidDate: true }), fc.integer({ min: 0, max: 999 }), fc.integer({ min: 0, max: 16 }), fc.integer({ min: 1, max: 9 }), (birth, seqNo, pos, delta) => {
    const id = makeResidentId('440305', birth, seqNo);
    const ok = checkResidentId(id);
    if (!ok.ok || ok.sex !== (seqNo % 2 === 1 ? '1' : '2')) return false;
    const mutated = id.slice(0, pos) + String((Number(id[pos]) + delta) % 10) + id.slice(pos + 1);
    return !checkResidentId(mutated).ok || idCheckChar(mutated.slice(0, 17)) === mutated[17];
  }), { numRuns: 2000 });
});

t.test('HLC: monotonic under clock skew, merges remote time, refuses absurd drift', async (t) => {
  let now = 1_000_000;
  const a = new HybridLogicalClock('a', () => now);
  const s1 = a.tick();
  now -= 500; // wall clock jumps backwards
  const s2 = a.tick();
  t.ok(compareHlc(s2, s1) > 0, 'still increases when the wall clock goes back');
  const b = new HybridLogicalClock('b', () => now);
  const r = b.receive(s2);
  t.ok(compareHlc(r, s2) > 0, 'receive event after the remote event');
  t.throws(() => b.receive(`${String(now + 3_600_000).padStart(15, '0')}.00000.x`), /ahead of the local clock/);
  fc.assert(fc.property(fc.array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 200 }), (jumps) => {
    let w = 5_000_000;
    const c = new HybridLogicalClock('n', () => w);
    let prev = c.tick();
    for (const j of jumps) { w += j; const next = c.tick(); if (compareHlc(next, prev) <= 0) return false; prev = next; }
    return parseHlc(prev).node === 'n';
  }));
});

t.test('envelope check never throws on arbitrary bytes and names a reason', async (t) => {
  fc.assert(fc.property(fc.uint8Array({ maxLength: 2048 }), (bytes) => {
    const r = checkEnvelope(bytes, { clinicId: 'c01', type: 'observation' });
    return r.ok === false && typeof r.reason === 'string';
  }), { numRuns: 3000 });
  fc.assert(fc.property(fc.json(), (s) => {
    const r = checkEnvelope(new TextEncoder().encode(s), { clinicId: 'c01', type: 'observation' });
    return r.ok === false && r.detail.length > 0;
  }), { numRuns: 2000 });
  t.pass('6,000 generated inputs rejected with a reason, no exception');
});
