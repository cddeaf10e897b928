import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateUnlockKey, InvalidUnlockKeyError, parseUnlockKey, unlockKeyDigest, UNLOCK_KEY_PREFIX } from '../../../src/manager/encryption/unlock-key.js';

test('an unlock key is FLTKEY-1- and 52 base32 characters of 32 random bytes; it parses back', () => {
  const a = generateUnlockKey();
  const b = generateUnlockKey();
  assert.match(a, /^FLTKEY-1-[A-Z2-7]{52}$/);
  assert.notEqual(a, b);
  assert.equal(parseUnlockKey(a).length, 32);
  // Pasted with a newline, or in lower case: the same key.
  assert.deepEqual(parseUnlockKey(` ${a}\n`), parseUnlockKey(a));
  assert.deepEqual(parseUnlockKey(UNLOCK_KEY_PREFIX + a.slice(UNLOCK_KEY_PREFIX.length).toLowerCase()), parseUnlockKey(a));
  assert.equal(unlockKeyDigest(a), unlockKeyDigest(`${a}\n`));
  assert.notEqual(unlockKeyDigest(a), unlockKeyDigest(b));
  assert.ok(!a.includes(unlockKeyDigest(a)));
});

test('anything else is refused in one line that says what a key looks like and never echoes the input', () => {
  const good = generateUnlockKey();
  const body = good.slice(UNLOCK_KEY_PREFIX.length);
  for (const bad of ['', 'SWMKEY-1-' + body, good.slice(0, -1), good + 'A', UNLOCK_KEY_PREFIX + body.slice(0, -1) + '1', UNLOCK_KEY_PREFIX + body.slice(0, -1) + 'Z']) {
    assert.throws(
      () => parseUnlockKey(bad),
      (err: unknown) => err instanceof InvalidUnlockKeyError && /^invalid unlock key: an unlock key is FLTKEY-1- followed by 52/.test(err.message) && !err.message.includes('\n') && (bad === '' || !err.message.includes(bad)),
      JSON.stringify(bad),
    );
  }
});
