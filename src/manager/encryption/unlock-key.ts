// The cluster's unlock key (autolock): 32 random bytes the operator holds,
// written like Swarm's SWMKEY-1-... as "FLTKEY-1-" and 52 characters of
// base32. It never touches a disk: it lives in the replicated store (itself
// encrypted at rest) and in the operator's password manager.
import { createHash, randomBytes } from 'node:crypto';

export const UNLOCK_KEY_PREFIX = 'FLTKEY-1-';
const KEY_BYTES = 32;
const B32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const UNLOCK_KEY_CHARS = Math.ceil((KEY_BYTES * 8) / 5);
const DIGEST_HEX = 16;

/** An unlock key that is malformed or is not the one a ring is wrapped by. One line, never echoing the key. */
export class InvalidUnlockKeyError extends Error {
  override readonly name = 'InvalidUnlockKeyError';
  constructor(detail: string) {
    super(`invalid unlock key: ${detail}`);
  }
}

function base32(b: Uint8Array): string {
  let out = '';
  let acc = 0;
  let bits = 0;
  for (const byte of b) {
    acc = (acc << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += B32[(acc >>> (bits - 5)) & 31];
      bits -= 5;
    }
    acc &= (1 << bits) - 1;
  }
  if (bits > 0) out += B32[(acc << (5 - bits)) & 31];
  return out;
}

/** A new unlock key, Swarm-like: "FLTKEY-1-" and 52 characters of base32 (32 random bytes). */
export function generateUnlockKey(): string {
  return UNLOCK_KEY_PREFIX + base32(randomBytes(KEY_BYTES));
}

/** The 32 bytes of an unlock key (surrounding whitespace and case ignored); InvalidUnlockKeyError saying what one looks like. */
export function parseUnlockKey(s: string): Buffer {
  const what = `an unlock key is ${UNLOCK_KEY_PREFIX} followed by ${UNLOCK_KEY_CHARS} characters of A-Z and 2-7, as it was printed when autolock was turned on (\`flotilla unlock-key\` on an unlocked manager shows it)`;
  if (typeof s !== 'string') throw new InvalidUnlockKeyError(what);
  const t = s.trim();
  if (!t.startsWith(UNLOCK_KEY_PREFIX)) throw new InvalidUnlockKeyError(what);
  const body = t.slice(UNLOCK_KEY_PREFIX.length).toUpperCase();
  if (body.length !== UNLOCK_KEY_CHARS || !/^[A-Z2-7]+$/.test(body)) throw new InvalidUnlockKeyError(what);
  const out = Buffer.alloc(KEY_BYTES);
  let acc = 0;
  let bits = 0;
  let n = 0;
  for (const ch of body) {
    acc = (acc << 5) | B32.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out[n++] = (acc >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
    acc &= (1 << bits) - 1;
  }
  // 52 characters carry 260 bits: the last 4 are zero in a key this program printed (one key, one spelling).
  if (acc !== 0 || n !== KEY_BYTES) throw new InvalidUnlockKeyError(`${what}; the last character is not one a key ends with: a typo?`);
  return out;
}

/** A short fingerprint of a key's bytes (never the key): what a wrapped ring records it was wrapped with. */
export function unlockDigest(key: Uint8Array): string {
  return createHash('sha256').update(key).digest('hex').slice(0, DIGEST_HEX);
}

/** unlockDigest of a key as written. */
export function unlockKeyDigest(key: string): string {
  return unlockDigest(parseUnlockKey(key));
}
