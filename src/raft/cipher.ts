// Authenticated encryption of the records Raft storage keeps on disk (log
// entries, snapshot data). The storage only knows RecordCipher; what the keys
// are and where they come from is the caller's business (a manager's data key
// ring, src/manager/encryption/keyring.ts).
//
// AesGcmCipher: AES-256-GCM over a key ring { key id -> 32-byte key, current
// key id }. A sealed record names the key that sealed it, so a ring that still
// holds an older key (a rotation in progress) opens records of both:
//
//   alg u8 (1 = AES-256-GCM) | key id u32 BE | nonce[12] (random) | ciphertext | tag[16]
//
// The additional authenticated data (AAD) is not stored: the caller passes the
// same bytes to seal() and open(), binding a record to its place (a log entry
// to its index and term), so that a record moved or copied elsewhere does not
// open. Random 96-bit nonces: well within GCM's bounds for the number of
// records one key seals between rotations (2^32 records keep the chance of a
// nonce collision under 2^-32).
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, randomFillSync, type KeyObject } from 'node:crypto';

/** Seals and opens storage records. */
export interface RecordCipher {
  /** Encrypt and authenticate `plain`, bound to `aad` (which is not stored). */
  seal(plain: Uint8Array, aad: Uint8Array): Uint8Array;
  /** The plaintext of `sealed`; throws CipherError when no key opens it or it was altered, or `aad` differs. */
  open(sealed: Uint8Array, aad: Uint8Array): Uint8Array;
}

/** Why a record does not open. */
export type CipherFailure = 'format' | 'unknown-key' | 'auth';

/** A sealed record that does not open: not a sealed record, sealed by a key the ring lacks, or altered. */
export class CipherError extends Error {
  override readonly name = 'CipherError';
  constructor(
    message: string,
    readonly reason: CipherFailure,
    /** The key id the record names (absent when the record is too short to name one). */
    readonly keyId?: number,
  ) {
    super(message);
  }
}

export const ALG_AES_256_GCM = 1;
export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = 1 + 4 + NONCE_BYTES;
/** Bytes a sealed record adds to its plaintext. */
export const SEAL_OVERHEAD = HEADER_BYTES + TAG_BYTES;

/** A key ring as the cipher uses it: every key that may open a record, and the one that seals. */
export interface KeyRingSpec {
  current: number;
  keys: ReadonlyMap<number, Uint8Array>;
}

/** Key ids are u32, written in hex in messages. */
export function keyIdHex(id: number): string {
  return id.toString(16).padStart(8, '0');
}

/** A new random key id not in `taken`. */
export function newKeyId(taken: Iterable<number> = []): number {
  const used = new Set(taken);
  for (;;) {
    const id = randomBytes(4).readUInt32BE(0);
    if (id !== 0 && !used.has(id)) return id;
  }
}

/** Nonces are drawn from a buffer of random bytes refilled in blocks: one CSPRNG call per 256 records. */
const NONCE_POOL_BYTES = NONCE_BYTES * 256;

export class AesGcmCipher implements RecordCipher {
  private keys = new Map<number, KeyObject>();
  private currentId = 0;
  private currentKey: KeyObject | null = null;
  private readonly pool = Buffer.allocUnsafeSlow(NONCE_POOL_BYTES);
  private poolOff = NONCE_POOL_BYTES;

  constructor(ring: KeyRingSpec) {
    this.setRing(ring);
  }

  /** Replace the ring (a rotation): later seals use the new current key; records of any key in it open. */
  setRing(ring: KeyRingSpec): void {
    const keys = new Map<number, KeyObject>();
    for (const [id, key] of ring.keys) {
      if (!Number.isInteger(id) || id < 0 || id > 0xffffffff) throw new RangeError(`key id ${id} is not a u32`);
      if (key.byteLength !== KEY_BYTES) throw new RangeError(`key ${keyIdHex(id)} has ${key.byteLength} bytes, not ${KEY_BYTES}`);
      keys.set(id, createSecretKey(key));
    }
    const current = keys.get(ring.current);
    if (!current) throw new RangeError(`the current key ${keyIdHex(ring.current)} is not in the ring`);
    this.keys = keys;
    this.currentId = ring.current;
    this.currentKey = current;
  }

  get currentKeyId(): number {
    return this.currentId;
  }

  /** The ids of the keys that open records. */
  keyIds(): number[] {
    return [...this.keys.keys()];
  }

  seal(plain: Uint8Array, aad: Uint8Array): Uint8Array {
    // From Node's buffer pool: a sealed record is short-lived (the storage copies it into its record).
    const out = Buffer.allocUnsafe(SEAL_OVERHEAD + plain.byteLength);
    out[0] = ALG_AES_256_GCM;
    out.writeUInt32BE(this.currentId, 1);
    if (this.poolOff + NONCE_BYTES > NONCE_POOL_BYTES) {
      randomFillSync(this.pool);
      this.poolOff = 0;
    }
    this.pool.copy(out, 5, this.poolOff, this.poolOff + NONCE_BYTES);
    this.poolOff += NONCE_BYTES;
    const c = createCipheriv('aes-256-gcm', this.currentKey!, out.subarray(5, HEADER_BYTES), { authTagLength: TAG_BYTES });
    c.setAAD(aad);
    let off = HEADER_BYTES;
    off += c.update(plain).copy(out, off);
    off += c.final().copy(out, off);
    c.getAuthTag().copy(out, off);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  }

  open(sealed: Uint8Array, aad: Uint8Array): Uint8Array {
    if (sealed.byteLength < SEAL_OVERHEAD) throw new CipherError(`sealed record of ${sealed.byteLength} bytes is shorter than the ${SEAL_OVERHEAD}-byte envelope`, 'format');
    const b = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (b[0] !== ALG_AES_256_GCM) throw new CipherError(`unknown cipher ${b[0]} (this build reads AES-256-GCM, ${ALG_AES_256_GCM})`, 'format');
    const id = b.readUInt32BE(1);
    const key = this.keys.get(id);
    if (!key) {
      throw new CipherError(`sealed with data key ${keyIdHex(id)}, which the key ring (${this.keyIds().map(keyIdHex).join(', ')}) does not hold`, 'unknown-key', id);
    }
    const d = createDecipheriv('aes-256-gcm', key, b.subarray(5, HEADER_BYTES), { authTagLength: TAG_BYTES });
    d.setAAD(aad);
    d.setAuthTag(b.subarray(b.byteLength - TAG_BYTES));
    const body = b.subarray(HEADER_BYTES, b.byteLength - TAG_BYTES);
    const out = Buffer.allocUnsafeSlow(body.byteLength);
    let off = d.update(body).copy(out, 0);
    try {
      off += d.final().copy(out, off);
    } catch {
      throw new CipherError(`does not authenticate with data key ${keyIdHex(id)}: altered, damaged, or moved from another place`, 'auth', id);
    }
    return new Uint8Array(out.buffer, out.byteOffset, off);
  }
}

/** The key id a sealed record names, or null if it is not a sealed record. */
export function sealedKeyId(sealed: Uint8Array): number | null {
  if (sealed.byteLength < SEAL_OVERHEAD || sealed[0] !== ALG_AES_256_GCM) return null;
  return new DataView(sealed.buffer, sealed.byteOffset, sealed.byteLength).getUint32(1);
}
