import t from 'tap';
import fc from 'fast-check';
import { hashPassword, NO_PASSWORD, verifyPassword } from './passwords.ts';

t.test('a hash verifies its own password only; the check runs off the event loop', async (t) => {
  const h = hashPassword('Test-pass-123');
  t.match(h, /^scrypt\$16384\$[A-Za-z0-9+/=]{24}\$[A-Za-z0-9+/=]{44}$/);
  t.not(hashPassword('Test-pass-123'), h, 'salted: the same password hashes differently');
  let ticked = false;
  setImmediate(() => { ticked = true; });
  t.equal(await verifyPassword('Test-pass-123', h), true);
  t.ok(ticked, 'the event loop went round while the password was checked');
  t.equal(await verifyPassword('Test-pass-124', h), false);
  t.equal(await verifyPassword('', h), false);
  t.equal(await verifyPassword('anything', NO_PASSWORD), false, 'NO_PASSWORD matches nothing');
});

t.test('a damaged stored hash is no match, never an exception', async (t) => {
  const h = hashPassword('Test-pass-123');
  const [, , salt, key] = h.split('$');
  for (const bad of ['', 'scrypt', 'bcrypt$16384$' + salt + '$' + key, `scrypt$abc$${salt}$${key}`, `scrypt$3$${salt}$${key}`, `scrypt$1048576$${salt}$${key}`,
    `scrypt$16384$${salt}$`, `scrypt$16384$${salt}$AAAA`, `scrypt$-16384$${salt}$${key}`]) {
    t.equal(await verifyPassword('Test-pass-123', bad), false, JSON.stringify(bad.slice(0, 30)));
  }
  await fc.assert(fc.asyncProperty(fc.string({ maxLength: 120 }), fc.string({ maxLength: 20 }), async (stored, plain) => (await verifyPassword(plain, stored)) === false), { numRuns: 200 });
});
