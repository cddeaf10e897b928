import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TokenBucket } from '../../src/common/token-bucket.js';

test('a token bucket gives its burst at once, then its rate, and saves no more than the burst', () => {
  const b = new TokenBucket(10, 3, 0);
  assert.deepEqual([b.take(0), b.take(0), b.take(0), b.take(0)], [true, true, true, false]);
  // 10 a second: one every 100 ms.
  assert.equal(b.take(50), false);
  assert.equal(b.take(100), true);
  assert.equal(b.take(100), false);
  // A long pause saves the burst, not more.
  assert.deepEqual([b.take(10_000), b.take(10_000), b.take(10_000), b.take(10_000)], [true, true, true, false]);
  // A clock going back gives nothing.
  assert.equal(b.take(5_000), false);
});

test('a token bucket refuses a rate or burst it cannot keep', () => {
  assert.throws(() => new TokenBucket(0, 1, 0), RangeError);
  assert.throws(() => new TokenBucket(1, 0, 0), RangeError);
  assert.throws(() => new TokenBucket(Number.NaN, 1, 0), RangeError);
});
