// The cluster's unlock key (autolock): 32 random bytes the operator holds,
// written like Swarm's SWMKEY-1-... as "FLTKEY-1-" and 52 characters of
// base32. It never touches a disk: it lives in the replicated store (itself
// encrypted at rest) and in the operator's password manager.
import { createHash, randomBytes } from 'node:crypto';

export const UNLOCK_KEY_PREFIX = 'FLTKEY-1-';
const KEY_BYTES = 32;
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
const ENCODED_LENGTH = Math.ceil((KEY_BYTES * 8) / 5);

/** A key that is not an unlock key, or not the one that wraps this node's data key. One line, safe to show (never echoes the key). */
export class InvalidUnlockKeyError extends Error {
  override readonly name = 'InvalidUnlockKeyError';
}

function base32(b: Uint8Array): string {
  let out = '';
  let bits = 0;
  let value = 0;
  for (const byte of b) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += ALPHABET[(value << (5 - bits)) & 31];
  return out;
}

export function generateUnlockKey(): string {
  return UNLOCK_KEY_PREFIX + base32(randomBytes(KEY_BYTES));
}

/** The key's 32 bytes; InvalidUnlockKeyError saying what one looks like. Surrounding whitespace is ignored (a pasted line). */
export function parseUnlockKey(text: string): Buffer {
  const s = text.trim();
  const bad = (): InvalidUnlockKeyError =>
    new InvalidUnlockKeyError(`invalid unlock key: an unlock key is ${UNLOCK_KEY_PREFIX} followed by ${ENCODED_LENGTH} letters and digits (\`flotilla unlock-key\` on an unlocked manager shows it)`);
  if (!s.startsWith(UNLOCK_KEY_PREFIX)) throw bad();
  const body = s.slice(UNLOCK_KEY_PREFIX.length).toUpperCase();
  if (body.length !== ENCODED_LENGTH) throw bad();
  const out = Buffer.alloc(KEY_BYTES);
  let bits = 0;
  let value = 0;
  let n = 0;
  for (const ch of body) {
    const v = ALPHABET.indexOf(ch);
    if (v < 0) throw bad();
    value = ((value << 5) | v) & 0xfff;
    bits += 5;
    if (bits >= 8) {
      out[n++] = (value >>> (bits - 8)) & 0xff;
      bits -= 8;
    }
  }
  // The last character's spare bits must be zero: one key has one spelling.
  if (n !== KEY_BYTES || (value & ((1 << bits) - 1)) !== 0) throw bad();
  return out;
}

/** A short fingerprint of a key (never the key): what a wrapped data key records it was wrapped with. */
export function unlockKeyDigest(key: string): string {
  return createHash('sha256').update(parseUnlockKey(key)).digest('hex').slice(0, 16);
}
