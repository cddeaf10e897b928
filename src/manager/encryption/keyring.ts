// A manager's data key ring: the keys that seal what Raft stores of the
// cluster's state (src/raft/cipher.ts, src/raft/storage.ts), kept on disk
// wrapped by a key-encryption key (KEK). Two files in the ring's directory
// (the data dir's keys/, beside raft/; src/daemon/state.ts):
//
//   raft-dek.json   the data keys, wrapped (AES-256-GCM under the KEK), with a
//                   plaintext header saying how they are protected:
//     { "format": "flotilla-raft-dek", "version": 1,
//       "protection": { "kind": "node" } | { "kind": "unlock-key", "digest": <16 hex: sha256 of the key, shortened> },
//       "kdf": { "alg": "none" } | { "alg": "hkdf-sha256", "salt": <base64, 16 bytes> },
//       "cipher": "aes-256-gcm", "nonce": <base64, 12 bytes>, "sealed": <base64: ciphertext | tag[16]> }
//     sealed plaintext: { "current": <key id>, "keys": [{ "id": <u32>, "key": <base64, 32 bytes> }, ...] }
//     AAD: "flotilla-raft-dek v1 " + JSON of protection + " " + JSON of kdf (the header cannot be swapped).
//   raft-kek.key    the node KEK: 32 random bytes, mode 0600; only under kind 'node'.
//
// With autolock the KEK comes from the operator's unlock key (HKDF-SHA256 with
// the file's salt: the unlock key is 256 random bits, so no slow KDF is
// needed), and the unlock key never touches disk. No key material is logged.
//
// Every file is replaced atomically (src/common/atomic-file.ts) and each
// change is ordered so that a crash between two steps leaves a ring that opens:
// - create: the KEK file, then raft-dek.json (a KEK alone is no ring: load() says null).
// - protect, to the unlock key: the new raft-dek.json, then the KEK file is
//   removed (a KEK left beside an unlock-key ring is stale: load() removes it).
//   To the node KEK: the new KEK file first (the unlock-key ring does not use
//   it), then raft-dek.json wrapped by it.
// - rotate: the ring [old..., new] (current: new) is written, and only then
//   does the cipher seal with the new key; the storage re-seals everything
//   (reencrypt); then the ring [new] is written. A ring found with more than
//   one key was interrupted: the caller finishes it (finishRotation), which
//   re-seals again and retires the old keys. Every record on disk opens with
//   some key of the ring at every point.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { isAtomicTempFile, syncDir, writeFileAtomic } from '../../common/atomic-file.js';
import { AesGcmCipher, KEY_BYTES, keyIdHex, newKeyId, type RecordCipher } from '../../raft/cipher.js';
import { InvalidUnlockKeyError, parseUnlockKey, unlockDigest } from './unlock-key.js';

// Unlock keys are src/manager/encryption/unlock-key.ts's; re-exported for the ring's users.
export { generateUnlockKey, InvalidUnlockKeyError, parseUnlockKey, UNLOCK_KEY_PREFIX } from './unlock-key.js';

/** The wrapped data keys, in the ring's directory. */
export const DEK_FILE = 'raft-dek.json';
/** The node KEK, in the ring's directory (kind 'node' only). */
export const KEK_FILE = 'raft-kek.key';

const FORMAT = 'flotilla-raft-dek';
const VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const SALT_BYTES = 16;
const HKDF_INFO = 'flotilla raft-dek kek v1';
const DIGEST_HEX = 16;

export type KeyProtection = { kind: 'node' } | { kind: 'unlock-key'; unlockKey: string };

/** How a ring on disk is protected, as its header says (never the key itself). */
export type ProtectionInfo = { kind: 'node' } | { kind: 'unlock-key'; digest: string };

/** The ring's files are damaged, missing a part or do not belong together. */
export class KeyringError extends Error {
  override readonly name = 'KeyringError';
}

/** Where a test may stop a change of the ring, as a crash would (between two durable steps). */
export type KeyringStep =
  | 'create:kek-written'
  | 'protect:kek-written'
  | 'protect:wrapped'
  | 'protect:kek-removed'
  | 'rotate:extended'
  | 'rotate:reencrypted'
  | 'rotate:retired';

let stepHook: ((step: KeyringStep) => void) | null = null;

/**
 * For crash tests: called after each durable step of create/protect/rotate; a
 * hook that throws stops the change right there, leaving the disk as a crash
 * would. null to remove it.
 */
export function setKeyringStepHook(hook: ((step: KeyringStep) => void) | null): void {
  stepHook = hook;
}

function step(s: KeyringStep): void {
  stepHook?.(s);
}

// ----------------------------------------------------------------- files

/** The secret that wraps the ring: the node KEK, or the unlock key (the KEK is derived from it per write). */
type Wrapper = { kind: 'node'; kek: Buffer } | { kind: 'unlock-key'; unlockKey: Buffer; digest: string };

type Kdf = { alg: 'none' } | { alg: 'hkdf-sha256'; salt: string };

interface DekFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  protection: ProtectionInfo;
  kdf: Kdf;
  cipher: 'aes-256-gcm';
  nonce: string;
  sealed: string;
}

interface Ring {
  current: number;
  /** Oldest first; the current key is last. */
  order: number[];
  keys: Map<number, Buffer>;
}

function aadOf(protection: ProtectionInfo, kdf: Kdf): Buffer {
  return Buffer.from(`${FORMAT} v${VERSION} ${JSON.stringify(protection)} ${JSON.stringify(kdf)}`, 'utf8');
}

function kekFor(w: Wrapper, kdf: Kdf): Buffer {
  if (w.kind === 'node') return w.kek;
  if (kdf.alg !== 'hkdf-sha256') throw new KeyringError('an unlock-key ring needs the hkdf-sha256 kdf');
  return Buffer.from(hkdfSync('sha256', w.unlockKey, Buffer.from(kdf.salt, 'base64'), HKDF_INFO, KEY_BYTES));
}

function protectionOf(w: Wrapper): ProtectionInfo {
  return w.kind === 'node' ? { kind: 'node' } : { kind: 'unlock-key', digest: w.digest };
}

function wrap(ring: Ring, w: Wrapper): string {
  const protection = protectionOf(w);
  const kdf: Kdf = w.kind === 'node' ? { alg: 'none' } : { alg: 'hkdf-sha256', salt: randomBytes(SALT_BYTES).toString('base64') };
  const nonce = randomBytes(NONCE_BYTES);
  const plain = Buffer.from(JSON.stringify({ current: ring.current, keys: ring.order.map((id) => ({ id, key: ring.keys.get(id)!.toString('base64') })) }), 'utf8');
  const c = createCipheriv('aes-256-gcm', kekFor(w, kdf), nonce, { authTagLength: TAG_BYTES });
  c.setAAD(aadOf(protection, kdf));
  const sealed = Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
  plain.fill(0);
  const file: DekFile = { format: FORMAT, version: VERSION, protection, kdf, cipher: 'aes-256-gcm', nonce: nonce.toString('base64'), sealed: sealed.toString('base64') };
  return JSON.stringify(file, null, 2) + '\n';
}

const B64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

function b64(v: unknown, bytes: number | null, what: string, bad: (why: string) => KeyringError): Buffer {
  if (typeof v !== 'string' || !B64_RE.test(v)) throw bad(`${what} is not base64`);
  const b = Buffer.from(v, 'base64');
  if (bytes !== null && b.byteLength !== bytes) throw bad(`${what} has ${b.byteLength} bytes, not ${bytes}`);
  return b;
}

/** Parse and check the header of raft-dek.json (not the sealed part). */
function parseDekFile(text: string, path: string): DekFile {
  const bad = (why: string): KeyringError => new KeyringError(`${path}: ${why}: the key ring is damaged (restore the data dir's keys/ from a backup)`);
  let x: unknown;
  try {
    x = JSON.parse(text);
  } catch (err) {
    throw bad(`not valid JSON (${(err as Error).message})`);
  }
  if (typeof x !== 'object' || x === null || Array.isArray(x)) throw bad('not an object');
  const o = x as Record<string, unknown>;
  if (o.format !== FORMAT) throw bad(`format is ${JSON.stringify(o.format)}, not ${FORMAT}`);
  if (o.version !== VERSION) throw bad(`unknown version ${JSON.stringify(o.version)} (this flotilla reads ${VERSION})`);
  if (o.cipher !== 'aes-256-gcm') throw bad(`unknown cipher ${JSON.stringify(o.cipher)}`);
  const p = o.protection as Record<string, unknown> | null;
  let protection: ProtectionInfo;
  if (typeof p !== 'object' || p === null) throw bad('protection is missing');
  if (p.kind === 'node') protection = { kind: 'node' };
  else if (p.kind === 'unlock-key' && typeof p.digest === 'string' && new RegExp(`^[0-9a-f]{${DIGEST_HEX}}$`).test(p.digest)) protection = { kind: 'unlock-key', digest: p.digest };
  else throw bad(`protection ${JSON.stringify(p)} is neither {"kind":"node"} nor {"kind":"unlock-key","digest":...}`);
  const k = o.kdf as Record<string, unknown> | null;
  let kdf: Kdf;
  if (typeof k !== 'object' || k === null) throw bad('kdf is missing');
  if (k.alg === 'none' && protection.kind === 'node') kdf = { alg: 'none' };
  else if (k.alg === 'hkdf-sha256' && protection.kind === 'unlock-key') {
    b64(k.salt, SALT_BYTES, 'kdf.salt', bad);
    kdf = { alg: 'hkdf-sha256', salt: k.salt as string };
  } else throw bad(`kdf ${JSON.stringify(k)} does not fit protection ${protection.kind}`);
  b64(o.nonce, NONCE_BYTES, 'nonce', bad);
  const sealed = b64(o.sealed, null, 'sealed', bad);
  if (sealed.byteLength < TAG_BYTES) throw bad('sealed is too short');
  return { format: FORMAT, version: VERSION, protection, kdf, cipher: 'aes-256-gcm', nonce: o.nonce as string, sealed: o.sealed as string };
}

/** Open the sealed part with `w`; null when it does not authenticate (wrong KEK or damage). */
function unwrap(file: DekFile, w: Wrapper, path: string): Ring | null {
  const sealed = Buffer.from(file.sealed, 'base64');
  const d = createDecipheriv('aes-256-gcm', kekFor(w, file.kdf), Buffer.from(file.nonce, 'base64'), { authTagLength: TAG_BYTES });
  d.setAAD(aadOf(file.protection, file.kdf));
  d.setAuthTag(sealed.subarray(sealed.byteLength - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([d.update(sealed.subarray(0, sealed.byteLength - TAG_BYTES)), d.final()]);
  } catch {
    return null;
  }
  const bad = (why: string): KeyringError => new KeyringError(`${path}: the unwrapped key ring ${why}: the key ring is damaged`);
  let x: unknown;
  try {
    x = JSON.parse(plain.toString('utf8'));
  } catch {
    throw bad('is not valid JSON');
  } finally {
    plain.fill(0);
  }
  const o = x as { current?: unknown; keys?: unknown };
  if (typeof o !== 'object' || o === null || !Array.isArray(o.keys) || o.keys.length === 0) throw bad('has no keys');
  const ring: Ring = { current: 0, order: [], keys: new Map() };
  for (const k of o.keys as unknown[]) {
    const e = k as { id?: unknown; key?: unknown };
    if (typeof e !== 'object' || e === null || typeof e.id !== 'number' || !Number.isInteger(e.id) || e.id <= 0 || e.id > 0xffffffff) throw bad('has a key without a valid id');
    if (ring.keys.has(e.id)) throw bad(`lists key ${keyIdHex(e.id)} twice`);
    ring.keys.set(e.id, b64(e.key, KEY_BYTES, `key ${keyIdHex(e.id)}`, (why) => bad(why)));
    ring.order.push(e.id);
  }
  if (typeof o.current !== 'number' || !ring.keys.has(o.current)) throw bad('names a current key it does not hold');
  ring.current = o.current;
  // The current key last: the order the ring is written in after a rotation.
  ring.order = [...ring.order.filter((id) => id !== ring.current), ring.current];
  return ring;
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

async function readKek(path: string, dekPath: string, log: Logger | undefined): Promise<Buffer> {
  let kek: Buffer;
  try {
    kek = await readFile(path);
  } catch (err) {
    if (errCode(err) === 'ENOENT') {
      throw new KeyringError(`${path} is missing, and the data keys in ${dekPath} are wrapped by it: restore it from a backup of this data dir (without it the manager's Raft data cannot be read)`);
    }
    throw new KeyringError(`cannot read ${path}: ${(err as Error).message}`);
  }
  if (kek.byteLength !== KEY_BYTES) throw new KeyringError(`${path} has ${kek.byteLength} bytes, not ${KEY_BYTES}: the key ring is damaged`);
  try {
    const st = await stat(path);
    if ((st.mode & 0o077) !== 0) {
      await chmod(path, 0o600);
      log?.warn({ file: path, mode: (st.mode & 0o777).toString(8) }, 'the node key-encryption key was readable by others: set its mode to 0600');
    }
  } catch {
    // The key was read; its mode is checked again at the next start.
  }
  return kek;
}

/** Remove what an interrupted atomic write left (a copy of a wrapped ring or a KEK under a temporary name). */
async function removeTempFiles(dir: string): Promise<void> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const n of names) if ((n.startsWith(DEK_FILE) || n.startsWith(KEK_FILE)) && isAtomicTempFile(n)) await rm(join(dir, n), { force: true });
}

// ------------------------------------------------------------------ ring

export type LoadedKeyring = null | { locked: false; keyring: DataKeyring } | { locked: true; unlock(unlockKey: string): Promise<DataKeyring> };

export class DataKeyring {
  /** Seals with the current key; opens with any key in the ring; follows rotations live. */
  readonly cipher: RecordCipher;
  private readonly aes: AesGcmCipher;
  private readonly dekPath: string;
  private readonly kekPath: string;
  private readonly log?: Logger;
  /** Changes of the ring run one at a time. */
  private queue: Promise<unknown> = Promise.resolve();

  private constructor(
    readonly dir: string,
    private ring: Ring,
    private wrapper: Wrapper,
    log?: Logger,
  ) {
    this.dekPath = join(dir, DEK_FILE);
    this.kekPath = join(dir, KEK_FILE);
    this.log = log?.child({ component: 'keyring' });
    this.aes = new AesGcmCipher({ current: ring.current, keys: ring.keys });
    this.cipher = this.aes;
  }

  /** Create a fresh ring (one new data key) if none exists; throws if one exists. */
  static async create(dir: string, protection: KeyProtection, log?: Logger): Promise<DataKeyring> {
    const wrapper = toWrapper(protection);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const dekPath = join(dir, DEK_FILE);
    try {
      await stat(dekPath);
      throw new KeyringError(`${dekPath} already exists: this data dir has a key ring (load it rather than create one)`);
    } catch (err) {
      if (err instanceof KeyringError) throw err;
      if (errCode(err) !== 'ENOENT') throw new KeyringError(`cannot inspect ${dekPath}: ${(err as Error).message}`);
    }
    const id = newKeyId();
    const ring: Ring = { current: id, order: [id], keys: new Map([[id, randomBytes(KEY_BYTES)]]) };
    // The KEK before the ring that it wraps: a KEK without raft-dek.json is no ring (load() says null).
    if (wrapper.kind === 'node') {
      await writeFileAtomic(join(dir, KEK_FILE), wrapper.kek, 0o600);
      step('create:kek-written');
    } else {
      await rm(join(dir, KEK_FILE), { force: true });
    }
    await writeFileAtomic(dekPath, wrap(ring, wrapper), 0o600);
    const k = new DataKeyring(dir, ring, wrapper, log);
    k.log?.info({ key: keyIdHex(id), protection: protection.kind }, 'created the data key ring');
    return k;
  }

  /** Read the ring: open it (kind 'node') or report that it needs the unlock key. Missing files: null. */
  static async load(dir: string, log?: Logger): Promise<LoadedKeyring> {
    const dekPath = join(dir, DEK_FILE);
    const kekPath = join(dir, KEK_FILE);
    let text: string;
    try {
      text = await readFile(dekPath, 'utf8');
    } catch (err) {
      if (errCode(err) === 'ENOENT') return null;
      throw new KeyringError(`cannot read ${dekPath}: ${(err as Error).message}`);
    }
    const file = parseDekFile(text, dekPath);
    await removeTempFiles(dir);
    if (file.protection.kind === 'node') {
      const wrapper: Wrapper = { kind: 'node', kek: await readKek(kekPath, dekPath, log) };
      const ring = unwrap(file, wrapper, dekPath);
      if (!ring) throw new KeyringError(`${dekPath} does not open with ${kekPath}: the two files do not belong together, or are damaged`);
      const k = new DataKeyring(dir, ring, wrapper, log);
      k.noteLoaded();
      return { locked: false, keyring: k };
    }
    // A KEK beside an unlock-key ring is stale (left by an interrupted protect()): the ring is not wrapped by it.
    const digest = file.protection.digest;
    await removeStaleKek(kekPath, dir, log);
    return {
      locked: true,
      unlock: async (unlockKey: string): Promise<DataKeyring> => {
        const key = parseUnlockKey(unlockKey);
        if (!timingSafeEqual(Buffer.from(unlockDigest(key)), Buffer.from(digest))) throw new InvalidUnlockKeyError('it is not the key this manager is locked with');
        const wrapper: Wrapper = { kind: 'unlock-key', unlockKey: key, digest };
        const ring = unwrap(file, wrapper, dekPath);
        if (!ring) throw new KeyringError(`${dekPath} does not open with the unlock key whose digest it names: the file is damaged`);
        const k = new DataKeyring(dir, ring, wrapper, log);
        k.noteLoaded();
        return k;
      },
    };
  }

  private noteLoaded(): void {
    this.log?.info({ current: keyIdHex(this.ring.current), keys: this.ring.order.length, protection: this.wrapper.kind }, 'loaded the data key ring');
    if (this.rotating) this.log?.warn({ keys: this.ring.order.map(keyIdHex) }, 'a data key rotation was interrupted: it must be finished');
  }

  get protection(): ProtectionInfo {
    return protectionOf(this.wrapper);
  }

  /** Is the ring wrapped by this unlock key. */
  matches(unlockKey: string): boolean {
    if (this.wrapper.kind !== 'unlock-key') return false;
    let key: Buffer;
    try {
      key = parseUnlockKey(unlockKey);
    } catch {
      return false;
    }
    return timingSafeEqual(key, this.wrapper.unlockKey);
  }

  /** The ids of the data keys, oldest first (the current one last). Not secret. */
  get keyIds(): number[] {
    return [...this.ring.order];
  }

  /** More than one key: a rotation is under way (or was interrupted, and finishRotation() must finish it). */
  get rotating(): boolean {
    return this.ring.order.length > 1;
  }

  /**
   * Re-wrap the same data keys under another protection, crash-safely (new
   * wrap file first, then remove/add raft-kek.key; a crash leaves a ring that
   * opens with the old or the new protection).
   */
  protect(p: KeyProtection): Promise<void> {
    return this.serial(async () => {
      const next = toWrapper(p);
      if (next.kind === 'node' && this.wrapper.kind === 'node') return;
      if (next.kind === 'node') {
        // The new KEK first: the ring on disk (unlock key) does not use that file.
        await writeFileAtomic(this.kekPath, next.kek, 0o600);
        step('protect:kek-written');
        await writeFileAtomic(this.dekPath, wrap(this.ring, next), 0o600);
        step('protect:wrapped');
      } else {
        await writeFileAtomic(this.dekPath, wrap(this.ring, next), 0o600);
        step('protect:wrapped');
        if (this.wrapper.kind === 'node') {
          await rm(this.kekPath, { force: true });
          await syncDir(this.dir);
          step('protect:kek-removed');
        }
      }
      this.wrapper = next;
      this.log?.info({ protection: next.kind }, 'the data key ring is now protected by a new key');
    });
  }

  /**
   * protect() and rotate() as one change, for autolock turned on: the ring
   * [old..., new] (current = new) is written wrapped by the new protection in
   * one atomic write, then the KEK file goes, then everything is re-sealed and
   * the old keys retired. A crash after the first write leaves a ring under the
   * new protection that is mid-rotation, which Manager.start finishes: the data
   * key a key file on disk once wrapped is never left the current one.
   */
  protectAndRotate(p: KeyProtection, reencrypt: () => Promise<void>): Promise<void> {
    return this.serial(async () => {
      const next = toWrapper(p);
      const id = newKeyId(this.ring.order);
      const keys = new Map(this.ring.keys);
      keys.set(id, randomBytes(KEY_BYTES));
      const extended: Ring = { current: id, order: [...this.ring.order, id], keys };
      if (next.kind === 'node') await writeFileAtomic(this.kekPath, next.kek, 0o600);
      await writeFileAtomic(this.dekPath, wrap(extended, next), 0o600);
      step('protect:wrapped');
      if (next.kind === 'unlock-key' && this.wrapper.kind === 'node') {
        await rm(this.kekPath, { force: true });
        await syncDir(this.dir);
        step('protect:kek-removed');
      }
      this.wrapper = next;
      this.setRing(extended);
      this.log?.info({ protection: next.kind, key: keyIdHex(id) }, 'the data key ring is now protected by a new key; rotating the data key');
      await this.reencryptAndRetire(reencrypt);
    });
  }

  /**
   * Rotate the data key: persist ring [old..., new] (current = new), await
   * reencrypt(), persist ring [new]. At load, a ring with more than one key
   * means a rotation was interrupted: the caller finishes it with finishRotation(reencrypt).
   */
  rotate(reencrypt: () => Promise<void>): Promise<void> {
    return this.serial(async () => {
      const id = newKeyId(this.ring.order);
      const keys = new Map(this.ring.keys);
      keys.set(id, randomBytes(KEY_BYTES));
      const extended: Ring = { current: id, order: [...this.ring.order, id], keys };
      // On disk before anything is sealed with the new key.
      await writeFileAtomic(this.dekPath, wrap(extended, this.wrapper), 0o600);
      this.setRing(extended);
      step('rotate:extended');
      this.log?.info({ key: keyIdHex(id), keys: extended.order.length }, 'rotating the data key: re-encrypting with the new key');
      await this.reencryptAndRetire(reencrypt);
    });
  }

  /** Finish an interrupted rotation: re-encrypt with the current key, then drop the older keys. No-op if none is under way. */
  finishRotation(reencrypt: () => Promise<void>): Promise<void> {
    return this.serial(async () => {
      if (!this.rotating) return;
      this.log?.info({ key: keyIdHex(this.ring.current), retiring: this.ring.order.slice(0, -1).map(keyIdHex) }, 'finishing an interrupted data key rotation');
      await this.reencryptAndRetire(reencrypt);
    });
  }

  private async reencryptAndRetire(reencrypt: () => Promise<void>): Promise<void> {
    await reencrypt();
    step('rotate:reencrypted');
    const id = this.ring.current;
    const retired: Ring = { current: id, order: [id], keys: new Map([[id, this.ring.keys.get(id)!]]) };
    await writeFileAtomic(this.dekPath, wrap(retired, this.wrapper), 0o600);
    this.setRing(retired);
    step('rotate:retired');
    this.log?.info({ key: keyIdHex(id) }, 'data key rotated: older keys retired');
  }

  private setRing(ring: Ring): void {
    this.aes.setRing({ current: ring.current, keys: ring.keys });
    this.ring = ring;
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn);
    this.queue = p.catch(() => undefined);
    return p;
  }
}

function toWrapper(p: KeyProtection): Wrapper {
  if (p.kind === 'node') return { kind: 'node', kek: randomBytes(KEY_BYTES) };
  if (p.kind === 'unlock-key') {
    const key = parseUnlockKey(p.unlockKey);
    return { kind: 'unlock-key', unlockKey: key, digest: unlockDigest(key) };
  }
  throw new TypeError(`unknown key protection ${JSON.stringify((p as { kind: unknown }).kind)}`);
}

async function removeStaleKek(kekPath: string, dir: string, log: Logger | undefined): Promise<void> {
  try {
    await stat(kekPath);
  } catch {
    return;
  }
  await rm(kekPath, { force: true });
  await syncDir(dir);
  log?.warn({ file: kekPath }, 'removed a node key-encryption key left beside a ring protected by an unlock key');
}
