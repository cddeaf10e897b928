// AesGcmCipher: round trips, the envelope, a ring of several keys, a wrong key
// and every kind of tampering.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { AesGcmCipher, CipherError, SEAL_OVERHEAD, sealedKeyId, type KeyRingSpec } from '../../src/raft/cipher.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ring = (current: number, ...ids: number[]): KeyRingSpec => ({ current, keys: new Map(ids.map((id) => [id, keyOf(id)])) });
const keys = new Map<number, Uint8Array>();
function keyOf(id: number): Uint8Array {
  if (!keys.has(id)) keys.set(id, randomBytes(32));
  return keys.get(id)!;
}

test('seal then open returns the plaintext, for empty, small and large records', () => {
  const c = new AesGcmCipher(ring(7, 7));
  for (const n of [0, 1, 256, 100_000]) {
    const plain = randomBytes(n);
    const aad = enc(`place ${n}`);
    const sealed = c.seal(plain, aad);
    assert.equal(sealed.byteLength, n + SEAL_OVERHEAD);
    assert.equal(sealedKeyId(sealed), 7);
    assert.deepEqual(Buffer.from(c.open(sealed, aad)), plain);
  }
});

test('the same plaintext seals differently every time (random nonces) and hides the plaintext', () => {
  const c = new AesGcmCipher(ring(1, 1));
  const plain = enc('MARKER-'.repeat(10));
  const a = c.seal(plain, enc('x'));
  const b = c.seal(plain, enc('x'));
  assert.notDeepEqual(a, b);
  assert.equal(Buffer.from(a).includes(Buffer.from('MARKER-')), false);
  const nonces = new Set<string>();
  for (let i = 0; i < 2000; i++) nonces.add(Buffer.from(c.seal(plain, enc('x')).subarray(5, 17)).toString('hex'));
  assert.equal(nonces.size, 2000, 'no nonce repeats across refills of the nonce pool');
});

test('a ring opens records of every key it holds and seals with the current one; it follows setRing live', () => {
  const old = new AesGcmCipher(ring(1, 1));
  const r1 = old.seal(enc('one'), enc('a'));
  const c = new AesGcmCipher(ring(2, 1, 2));
  const r2 = c.seal(enc('two'), enc('a'));
  assert.equal(sealedKeyId(r2), 2);
  assert.deepEqual(c.open(r1, enc('a')), enc('one'));
  assert.deepEqual(c.open(r2, enc('a')), enc('two'));
  c.setRing(ring(2, 2));
  assert.throws(() => c.open(r1, enc('a')), (e: unknown) => e instanceof CipherError && e.reason === 'unknown-key' && e.keyId === 1 && /00000001/.test(e.message));
  assert.deepEqual(c.open(r2, enc('a')), enc('two'));
  c.setRing(ring(3, 2, 3));
  assert.equal(sealedKeyId(c.seal(enc('three'), enc('a'))), 3);
  assert.throws(() => new AesGcmCipher({ current: 9, keys: new Map([[1, keyOf(1)]]) }), /current key 00000009 is not in the ring/);
  assert.throws(() => new AesGcmCipher({ current: 1, keys: new Map([[1, new Uint8Array(16)]]) }), /16 bytes, not 32/);
});

test('a wrong key with the same id does not open a record: CipherError auth', () => {
  const a = new AesGcmCipher({ current: 5, keys: new Map([[5, randomBytes(32)]]) });
  const b = new AesGcmCipher({ current: 5, keys: new Map([[5, randomBytes(32)]]) });
  const sealed = a.seal(enc('secret'), enc('p'));
  assert.throws(() => b.open(sealed, enc('p')), (e: unknown) => e instanceof CipherError && e.reason === 'auth' && !e.message.includes('\n'));
});

test('any altered byte, a different AAD, truncation or an unknown algorithm is refused', () => {
  const c = new AesGcmCipher(ring(1, 1));
  const aad = enc('entry 5 term 2');
  const sealed = c.seal(enc('the payload of a record'), aad);
  for (let i = 0; i < sealed.byteLength; i++) {
    const t = Uint8Array.from(sealed);
    t[i] ^= 0x01;
    assert.throws(() => c.open(t, aad), CipherError, `byte ${i} flipped`);
  }
  assert.throws(() => c.open(sealed, enc('entry 6 term 2')), (e: unknown) => e instanceof CipherError && e.reason === 'auth');
  assert.throws(() => c.open(sealed.subarray(0, sealed.byteLength - 1), aad), (e: unknown) => e instanceof CipherError && e.reason === 'auth');
  assert.throws(() => c.open(sealed.subarray(0, 10), aad), (e: unknown) => e instanceof CipherError && e.reason === 'format');
  const alg = Uint8Array.from(sealed);
  alg[0] = 9;
  assert.throws(() => c.open(alg, aad), (e: unknown) => e instanceof CipherError && e.reason === 'format' && /unknown cipher 9/.test(e.message));
});
