import t from 'tap';
import fc from 'fast-check';
import { HybridLogicalClock, SEQ_LOST_TYPE, checkEnvelope, checkResidentId, compareHlc, idCheckChar, makeResidentId, parseHlc } from './index.ts';

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

t.test('seq_lost (an edge re-seeding central): lost_at_source with its seq; a bad payload is schema; only on its own subject', async (t) => {
  const reseedAt = '2026-11-30T02:00:00.000Z';
  const bytes = (o: { seq?: number; type?: string; clinicId?: string; schemaVersion?: number; payload: unknown }) => new TextEncoder().encode(JSON.stringify({
    recordId: `seq-lost-${o.seq ?? 42}`, type: o.type ?? SEQ_LOST_TYPE, clinicId: o.clinicId ?? 'c01', seq: o.seq ?? 42, version: 1,
    hlc: '001764468000000.00000.c01', schemaVersion: o.schemaVersion ?? 1, createdAt: reseedAt, payload: o.payload,
  }));
  const onLost = { clinicId: 'c01', type: SEQ_LOST_TYPE };

  const sup = checkEnvelope(bytes({ payload: { reason: 'superseded', reseedAt } }), onLost);
  t.match(sup, { ok: false, reason: 'lost_at_source', partial: { clinicId: 'c01', seq: 42 } }, 'superseded: lost_at_source, bound to its seq');
  if (!sup.ok) {
    t.match(sup.detail, /^seq 42 re-seeded by the edge at 2026-11-30T02:00:00.000Z/, 'the detail names the seq and the re-seed');
    t.match(sup.detail, /superseded by a later version\)$/);
  }
  const named = checkEnvelope(bytes({ seq: 7, payload: { reason: 'superseded', reseedAt, recordId: 'r-9', type: 'resident' } }), onLost);
  t.match(named, { ok: false, reason: 'lost_at_source', partial: { seq: 7 }, detail: /^seq 7 .*superseded by a later version of resident r-9/ }, 'the record that superseded it, when known');
  const notKept = checkEnvelope(bytes({ seq: 3, payload: { reason: 'not_kept', reseedAt } }), onLost);
  t.match(notKept, { ok: false, reason: 'lost_at_source', partial: { clinicId: 'c01', seq: 3 }, detail: /^seq 3 .*the edge kept no record of what it held/ }, 'not_kept: lost_at_source');
  t.notMatch(notKept.ok ? '' : notKept.detail, /superseded/);

  for (const [what, payload] of [
    ['an unknown reason', { reason: 'deleted', reseedAt }],
    ['no reseedAt', { reason: 'superseded' }],
    ['reseedAt not a time', { reason: 'not_kept', reseedAt: 'yesterday' }],
    ['a record id too long', { reason: 'superseded', reseedAt, recordId: 'x'.repeat(65) }],
    ['no payload object', null],
  ] as const) {
    const c = checkEnvelope(bytes({ seq: 9, payload }), onLost);
    t.match(c, { ok: false, reason: 'schema', partial: { clinicId: 'c01', seq: 9 } }, `${what}: schema (still takes its seq)`);
  }

  // Only a seq_lost envelope on a seq_lost subject is lost_at_source.
  const good = bytes({ payload: { reason: 'superseded', reseedAt } });
  t.match(checkEnvelope(good, { clinicId: 'c01', type: 'observation' }), { ok: false, reason: 'unknown_type', detail: /unknown record type seq_lost/, partial: { seq: 42 } }, 'seq_lost on a record subject: unknown_type (seq_lost is no record type)');
  const obsOnLost = new TextEncoder().encode(JSON.stringify({ recordId: 'o-1', type: 'observation', clinicId: 'c01', seq: 5, version: 1, hlc: '001764468000000.00000.c01', schemaVersion: 1, createdAt: reseedAt, payload: { observationId: 'o-1', code: '8867-4', display: 'Heart rate', value: 60, unit: '/min', effectiveAt: reseedAt } }));
  t.match(checkEnvelope(obsOnLost, { clinicId: 'c01', type: 'observation' }), { ok: true }, '(that observation is valid on its own subject)');
  t.match(checkEnvelope(obsOnLost, onLost), { ok: false, reason: 'type_mismatch', partial: { seq: 5 } }, 'a record on the seq_lost subject: type_mismatch, not lost_at_source');
  // The checks before it still come first.
  t.match(checkEnvelope(bytes({ clinicId: 'c02', payload: { reason: 'superseded', reseedAt } }), onLost), { ok: false, reason: 'clinic_mismatch' }, 'another clinic\'s seq_lost: clinic_mismatch');
  t.match(checkEnvelope(bytes({ schemaVersion: 2, payload: { reason: 'superseded', reseedAt } }), onLost), { ok: false, reason: 'unsupported_schema_version' });
});
