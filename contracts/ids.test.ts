import t from 'tap';
import fc from 'fast-check';
import { z } from 'zod';
import { uuidv7, uuidv7Time } from './ids.ts';

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

t.test('UUIDv7: RFC 9562 layout, valid UUID, carries its millisecond', async (t) => {
  const at = Date.UTC(2026, 10, 29, 8, 0, 0, 123) + 10_000_000; // later than any id this process made
  const id = uuidv7(at);
  t.match(id, V7, id);
  t.ok(z.uuid().safeParse(id).success, 'zod accepts it as a UUID');
  t.equal(uuidv7Time(id), at, 'timestamp round-trips');
  t.equal(uuidv7Time('9b2f8a9e-3c1d-4f5e-8a7b-1c2d3e4f5a6b'), null, 'a v4 id has no v7 time');
});

t.test('ids strictly increase in creation order, also within a millisecond and when the clock steps back', async (t) => {
  fc.assert(fc.property(fc.array(fc.integer({ min: -5, max: 5 }), { minLength: 1, maxLength: 400 }), (steps) => {
    let now = Date.now() + 20_000_000;
    let prev = uuidv7(now);
    for (const s of steps) {
      now += s; // same ms (0), forwards, or backwards (NTP step)
      const id = uuidv7(now);
      if (!V7.test(id) || !(id > prev)) return false;
      prev = id;
    }
    return true;
  }), { numRuns: 200 });
  const many = Array.from({ length: 50_000 }, () => uuidv7());
  t.equal(new Set(many).size, many.length, '50,000 ids in a tight loop are distinct');
  t.ok(many.every((x, i) => i === 0 || many[i - 1]! < x), 'and sorted as created');
});
