// The durable storage of one Raft node: hard state, log entries and snapshot
// metadata in LevelDB (dir/raft.ldb), snapshot data in files (dir/snapshots/).
//
// Key layout (utf8 keys, binary values; every value starts with a format
// version byte, so a record written by an unknown format is a clear error):
//   m/hardstate              version u8 | term u64 | commit u64 | voteLen u16 | vote utf8
//   m/snapshot               version u8 | term u64 | index u64 | dataLen u64 | sha256[32] |
//                            voters (count u16, then len u16 + utf8 each) | learners (same)
//   e/<16-digit index>       version u8 | type u8 | term u64 | index u64 | dataLen u32 | data
//   m/purge                  version u8: present from a re-encryption until LevelDB was compacted
// Indexes are zero-padded decimal (16 digits hold every safe integer), so the
// lexicographic order of the keys is the numeric order of the log.
//
// Snapshot files, snapshots/snapshot-<term>-<index>.snap: a 64-byte header
//   magic "FLSN" | version u8 | 3 zero bytes | term u64 | index u64 | dataLen u64 | sha256[32]
// then the data. A file is written under a temporary name, fsynced, renamed
// and the directory fsynced before the LevelDB record that points to it is
// written, so the metadata never refers to a file that is not complete on
// disk. Only the snapshot the metadata names is kept: once the log is
// compacted past a snapshot, an older one cannot be used for anything.
//
// Start-up is strict: whatever is missing, truncated or does not decode or
// does not fit together stops the node with a StorageCorruptError naming the
// key or file, never a silent reset to an empty log.
//
// Encryption at rest (RaftStorageOptions.cipher, src/raft/cipher.ts): with a
// cipher, entry data and snapshot data are sealed, in format version 2:
//   e/<index>   version u8 (2) | type u8 | term u64 | index u64 | sealedLen u32 | sealed data
//               AAD: the record's first 18 bytes (version, type, term, index)
//   file        the 64-byte header with version 2 | sealed data; AAD: the header
//               (64 bytes from the magic "FLSN": never the AAD of an entry)
// The file header and the m/snapshot metadata keep the size and SHA-256 of the
// PLAINTEXT, so re-sealing a snapshot file under another key (temporary file,
// fsync, rename, fsync of the directory) leaves the metadata true: a crash in
// the middle leaves the old file or the new one, each opening with its key.
// The hard state (term, vote, commit) and the snapshot metadata (index, term,
// member ids, size, digest) hold no cluster objects and stay plaintext, so a
// node reads who it voted for without its keys. Versions 1 (plaintext) and 2
// both load; opening with a cipher a store that still holds version 1 records
// re-encrypts them (reencrypt()), then compacts LevelDB so that the old
// plaintext values do not linger in its .ldb/.log files (m/purge marks a
// compaction still owed, across a crash). A version 2 record and no cipher, or
// no key of the ring that opens it, is a StorageError saying what to do.
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { Level } from 'level';
import type { Logger } from 'pino';
import { CipherError, type RecordCipher } from './cipher.js';
import { EntryType, type ConfState, type Entry, type HardState, type Snapshot, type SnapshotMeta } from './types.js';

/** What start-up found on disk; the caller adds the bootstrap `conf` to make an InitialState. */
export interface InitialStateParts {
  hardState: HardState;
  snapshot: Snapshot | null;
  /** Entries after the snapshot, contiguous, in order. */
  entries: Entry[];
}

/** Step 1 of the Ready contract; a Ready itself fits. */
export interface ReadyToPersist {
  hardState: HardState | null;
  entries: Entry[];
  snapshot: Snapshot | null;
  /**
   * False when the Ready only records a new commit index: written without an
   * fsync (it can be rebuilt from the quorum; the next synced batch, in the
   * same LevelDB log, makes it durable too). Absent means true.
   */
  mustSync?: boolean;
}

export interface RaftStorageOptions {
  logger?: Logger;
  /**
   * Seal entry and snapshot data with it (format version 2); without it,
   * records are written in plaintext (version 1) and a sealed one does not load.
   */
  cipher?: RecordCipher;
  /**
   * For crash tests: called after each durable step of reencrypt(); a hook
   * that throws stops it right there, leaving the disk as a crash would.
   */
  onReencryptStep?: (step: ReencryptStep) => void;
}

export type ReencryptStep = 'snapshot-resealed' | 'entries-resealed';

/** Storage cannot be opened or written (e.g. the database is locked by another process, an I/O error). */
export class StorageError extends Error {
  override readonly name: string = 'StorageError';
  constructor(
    message: string,
    /** The file, directory or LevelDB key concerned. */
    readonly culprit: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What is on disk is missing, truncated, undecodable or contradicts itself. Never "fixed" by resetting. */
export class StorageCorruptError extends StorageError {
  override readonly name: string = 'StorageCorruptError';
}

// ------------------------------------------------------------------ layout

export const HARD_STATE_KEY = 'm/hardstate';
export const SNAPSHOT_META_KEY = 'm/snapshot';
/** Present while a compaction that drops superseded (plaintext or old-key) values is owed. */
export const PURGE_KEY = 'm/purge';
const ENTRY_PREFIX = 'e/';
/** Upper bound of the entry key range: '0' is the character after '/'. */
const ENTRY_END = 'e0';
const INDEX_DIGITS = 16;

export const FORMAT_VERSION = 1;
/** Entries and snapshot files whose data is sealed by a RecordCipher. */
export const SEALED_VERSION = 2;
const ENTRY_HEADER = 22;
const SNAP_FILE_HEADER = 64;
const SNAP_MAGIC = [0x46, 0x4c, 0x53, 0x4e]; // "FLSN"
const SHA_LEN = 32;

export function entryKey(index: number): string {
  return ENTRY_PREFIX + String(index).padStart(INDEX_DIGITS, '0');
}

export function snapshotFileName(term: number, index: number): string {
  return `snapshot-${term}-${index}.snap`;
}

const SNAP_FILE_RE = /^snapshot-\d+-\d+\.snap$/;
const ENTRY_KEY_RE = /^e\/\d{16}$/;

const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

/** A decoding failure; the caller names the key or file. */
class DecodeError extends Error {}

/** A sealed record and no cipher, or no key of the ring that opens it: the caller says what to do. */
class NoKeyError extends Error {}

function openSealed(cipher: RecordCipher | undefined, sealed: Uint8Array, aad: Uint8Array): Uint8Array {
  if (!cipher) throw new NoKeyError('it is encrypted (format version 2) and the storage was opened without a cipher');
  try {
    return cipher.open(sealed, aad);
  } catch (err) {
    if (err instanceof CipherError && err.reason === 'unknown-key') throw new NoKeyError(err.message);
    if (err instanceof CipherError) throw new DecodeError(err.message);
    throw err;
  }
}

/** The StorageError for a record that does not decode: what to do when a key is missing, corrupt otherwise. */
function decodeFailure(err: unknown, where: string, culprit: string, dir: string): StorageError {
  if (err instanceof NoKeyError) {
    return new StorageError(
      `${where} does not open: ${err.message}: open ${dir} with the data key ring it was written with (a manager's keys/ directory beside raft/); never remove a manager's keys/ without its raft/`,
      culprit,
      { cause: err },
    );
  }
  if (err instanceof StorageError) return err;
  return new StorageCorruptError(`${where} does not decode: ${errMessage(err)}`, culprit, { cause: err });
}

function checkU64(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`${what} ${n} is not a non-negative safe integer`);
}

class Writer {
  readonly buf: Uint8Array;
  private readonly view: DataView;
  private off = 0;
  constructor(size: number) {
    this.buf = new Uint8Array(size);
    this.view = new DataView(this.buf.buffer);
  }
  u8(n: number): void {
    this.view.setUint8(this.off, n);
    this.off += 1;
  }
  u16(n: number): void {
    this.view.setUint16(this.off, n);
    this.off += 2;
  }
  u32(n: number): void {
    this.view.setUint32(this.off, n);
    this.off += 4;
  }
  u64(n: number): void {
    this.view.setBigUint64(this.off, BigInt(n));
    this.off += 8;
  }
  bytes(b: Uint8Array): void {
    this.buf.set(b, this.off);
    this.off += b.byteLength;
  }
  done(): Uint8Array {
    if (this.off !== this.buf.byteLength) throw new Error(`encoder wrote ${this.off} of ${this.buf.byteLength} bytes`);
    return this.buf;
  }
}

class Reader {
  private readonly view: DataView;
  private off = 0;
  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }
  private need(n: number, what: string): void {
    if (this.off + n > this.buf.byteLength) {
      throw new DecodeError(`too short: ${this.buf.byteLength} bytes, ${what} needs ${this.off + n}`);
    }
  }
  version(accepted: readonly number[] = [FORMAT_VERSION]): number {
    this.need(1, 'the format version');
    const v = this.view.getUint8(this.off++);
    if (!accepted.includes(v)) throw new DecodeError(`unknown format version ${v} (this build reads version ${accepted.join(' and ')})`);
    return v;
  }
  u8(what: string): number {
    this.need(1, what);
    return this.view.getUint8(this.off++);
  }
  u16(what: string): number {
    this.need(2, what);
    const v = this.view.getUint16(this.off);
    this.off += 2;
    return v;
  }
  u32(what: string): number {
    this.need(4, what);
    const v = this.view.getUint32(this.off);
    this.off += 4;
    return v;
  }
  u64(what: string): number {
    this.need(8, what);
    const v = this.view.getBigUint64(this.off);
    this.off += 8;
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new DecodeError(`${what} ${v} is beyond the safe integer range`);
    return Number(v);
  }
  bytes(n: number, what: string): Uint8Array {
    this.need(n, what);
    // A copy in a plain Uint8Array (the source may be a Buffer, whose slice() is a view).
    const b = new Uint8Array(n);
    b.set(this.buf.subarray(this.off, this.off + n));
    this.off += n;
    return b;
  }
  str(what: string): string {
    const n = this.u16(`the length of ${what}`);
    try {
      return utf8d.decode(this.bytes(n, what));
    } catch (err) {
      if (err instanceof DecodeError) throw err;
      throw new DecodeError(`${what} is not valid UTF-8`);
    }
  }
  end(): void {
    if (this.off !== this.buf.byteLength) throw new DecodeError(`${this.buf.byteLength - this.off} unexpected trailing bytes`);
  }
}

function strBytes(s: string): Uint8Array {
  const b = utf8.encode(s);
  if (b.byteLength > 0xffff) throw new RangeError(`string of ${b.byteLength} bytes is too long to store`);
  return b;
}

// ----------------------------------------------------------------- records

export function encodeHardState(hs: HardState): Uint8Array {
  checkU64(hs.term, 'hard state term');
  checkU64(hs.commit, 'hard state commit');
  const vote = strBytes(hs.vote);
  const w = new Writer(1 + 8 + 8 + 2 + vote.byteLength);
  w.u8(FORMAT_VERSION);
  w.u64(hs.term);
  w.u64(hs.commit);
  w.u16(vote.byteLength);
  w.bytes(vote);
  return w.done();
}

export function decodeHardState(b: Uint8Array): HardState {
  const r = new Reader(b);
  r.version();
  const term = r.u64('term');
  const commit = r.u64('commit');
  const vote = r.str('vote');
  r.end();
  return { term, vote, commit };
}

/** The AAD of a sealed entry: the record's first 18 bytes (version, type, term, index), which bind it to its place. */
function entryAad(record: Uint8Array): Uint8Array {
  return record.subarray(0, ENTRY_AAD_BYTES);
}
const ENTRY_AAD_BYTES = 18;

/** The record of an entry: version 1 (plaintext) without a cipher, version 2 (sealed data) with one. */
export function encodeEntry(e: Entry, cipher?: RecordCipher): Uint8Array {
  checkU64(e.term, 'entry term');
  checkU64(e.index, 'entry index');
  if (e.type !== EntryType.Normal && e.type !== EntryType.ConfChange) throw new RangeError(`unknown entry type ${String(e.type)}`);
  if (e.data.byteLength > 0xffffffff) throw new RangeError(`entry ${e.index} data of ${e.data.byteLength} bytes is too large`);
  const head = new Writer(ENTRY_AAD_BYTES);
  head.u8(cipher ? SEALED_VERSION : FORMAT_VERSION);
  head.u8(e.type);
  head.u64(e.term);
  head.u64(e.index);
  const h = head.done();
  const data = cipher ? cipher.seal(e.data, entryAad(h)) : e.data;
  if (data.byteLength > 0xffffffff) throw new RangeError(`entry ${e.index} data of ${e.data.byteLength} bytes is too large`);
  const w = new Writer(ENTRY_HEADER + data.byteLength);
  w.bytes(h);
  w.u32(data.byteLength);
  w.bytes(data);
  return w.done();
}

/** Decode an entry record of either version; a sealed one needs the cipher (and a key of its ring) that opens it. */
export function decodeEntry(b: Uint8Array, cipher?: RecordCipher): Entry {
  return decodeEntryVersion(b, cipher).entry;
}

function decodeEntryVersion(b: Uint8Array, cipher: RecordCipher | undefined): { entry: Entry; version: number } {
  const r = new Reader(b);
  const version = r.version([FORMAT_VERSION, SEALED_VERSION]);
  const type = r.u8('type');
  if (type !== EntryType.Normal && type !== EntryType.ConfChange) throw new DecodeError(`unknown entry type ${type}`);
  const term = r.u64('term');
  const index = r.u64('index');
  const len = r.u32('data length');
  const stored = r.bytes(len, `${len} bytes of data`);
  r.end();
  const data = version === SEALED_VERSION ? openSealed(cipher, stored, entryAad(b)) : stored;
  return { entry: { term, index, type, data }, version };
}

interface SnapshotRecord {
  meta: SnapshotMeta;
  size: number;
  sha256: Uint8Array;
}

function encodeSnapshotMeta(rec: SnapshotRecord): Uint8Array {
  const { meta } = rec;
  checkU64(meta.term, 'snapshot term');
  checkU64(meta.index, 'snapshot index');
  const voters = meta.conf.voters.map(strBytes);
  const learners = meta.conf.learners.map(strBytes);
  if (voters.length > 0xffff || learners.length > 0xffff) throw new RangeError('too many members to store');
  let size = 1 + 8 + 8 + 8 + SHA_LEN + 2 + 2;
  for (const b of [...voters, ...learners]) size += 2 + b.byteLength;
  const w = new Writer(size);
  w.u8(FORMAT_VERSION);
  w.u64(meta.term);
  w.u64(meta.index);
  w.u64(rec.size);
  w.bytes(rec.sha256);
  for (const list of [voters, learners]) {
    w.u16(list.length);
    for (const b of list) {
      w.u16(b.byteLength);
      w.bytes(b);
    }
  }
  return w.done();
}

function decodeSnapshotMeta(b: Uint8Array): SnapshotRecord {
  const r = new Reader(b);
  r.version();
  const term = r.u64('term');
  const index = r.u64('index');
  const size = r.u64('data length');
  const sha256 = r.bytes(SHA_LEN, 'the SHA-256');
  const conf: ConfState = { voters: [], learners: [] };
  for (const list of [conf.voters, conf.learners]) {
    const n = r.u16('a member count');
    for (let i = 0; i < n; i++) list.push(r.str('a member id'));
  }
  r.end();
  return { meta: { term, index, conf }, size, sha256 };
}

function sha256(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(data).digest());
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) if (a[i] !== b[i]) return false;
  return true;
}

function snapshotFileHeader(rec: SnapshotRecord, version: number): Uint8Array {
  const w = new Writer(SNAP_FILE_HEADER);
  w.bytes(Uint8Array.from(SNAP_MAGIC));
  w.u8(version);
  w.bytes(new Uint8Array(3));
  w.u64(rec.meta.term);
  w.u64(rec.meta.index);
  w.u64(rec.size);
  w.bytes(rec.sha256);
  return w.done();
}

function errCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

function errMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Make a directory entry (create, rename, unlink) durable. */
async function syncDir(path: string): Promise<void> {
  const h = await fsp.open(path, 'r');
  try {
    await h.sync();
  } finally {
    await h.close();
  }
}

type Db = Level<string, Uint8Array>;
type Op = { type: 'put'; key: string; value: Uint8Array } | { type: 'del'; key: string };

/** What start-up read, beyond the parts the node needs. */
interface Loaded {
  parts: InitialStateParts;
  snapRec: SnapshotRecord | null;
  /** Records still in plaintext (version 1): entries, and the snapshot file. */
  plaintext: number;
  /** A compaction is owed (m/purge). */
  purgePending: boolean;
}

/** At most this many entries, and bytes of records, prepared ahead of save(); beyond, prepare() does nothing. */
const MAX_PREPARED = 8192;
const MAX_PREPARED_BYTES = 32 << 20;

function sameEntry(a: Entry, b: Entry): boolean {
  if (a.index !== b.index || a.term !== b.term || a.type !== b.type) return false;
  if (a.data === b.data) return true;
  return Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength).equals(b.data);
}

/** Compact the whole database, if this LevelDB binding can (classic-level can: compactRange). */
function compactor(db: Db): (() => Promise<void>) | null {
  const c = (db as unknown as { compactRange?: (start: string, end: string) => Promise<void> }).compactRange;
  // Every key is ASCII: '\x00'..'\xff' spans them all.
  return typeof c === 'function' ? () => c.call(db, '\x00', '\xff') : null;
}

// ----------------------------------------------------------------- storage

export class RaftStorage {
  private readonly snapDir: string;
  private readonly log: Logger | null;
  private readonly initial: InitialStateParts;
  private readonly cipher: RecordCipher | undefined;
  private readonly onStep: ((step: ReencryptStep) => void) | undefined;
  /** Index and term of the stored snapshot (0, 0 if none). */
  private snapIndex: number;
  private snapTerm: number;
  /** Index of the last stored entry, or snapIndex when none is stored. Entries snapIndex+1..last are on disk. */
  private last: number;
  /** File name of the current snapshot, '' if none. */
  private snapFile: string;
  /** Size and digest (of the plaintext) of the current snapshot, null if none. */
  private snapRec: SnapshotRecord | null;
  /** Operations run one at a time, in call order, so that the indexes above stay true. */
  private tail: Promise<unknown> = Promise.resolve();
  /** Entry records encoded (sealed) ahead of save() by prepare(), by index. */
  private readonly prepared = new Map<number, { entry: Entry; record: Uint8Array }>();
  private preparedBytes = 0;
  /** A LevelDB compaction running beside the queue (reencrypt()); close() waits for it. */
  private compaction: Promise<void> = Promise.resolve();
  private closed = false;
  /** A write failed part way: what is on disk is no longer known, so nothing more is written. */
  private failed: unknown = null;

  private constructor(
    readonly dir: string,
    private readonly db: Db,
    loaded: Loaded,
    log: Logger | null,
    opts: RaftStorageOptions,
  ) {
    this.snapDir = join(dir, 'snapshots');
    this.log = log;
    this.cipher = opts.cipher;
    this.onStep = opts.onReencryptStep;
    const parts = loaded.parts;
    this.initial = parts;
    this.snapIndex = parts.snapshot ? parts.snapshot.meta.index : 0;
    this.snapTerm = parts.snapshot ? parts.snapshot.meta.term : 0;
    this.last = parts.entries.length > 0 ? parts.entries[parts.entries.length - 1].index : this.snapIndex;
    this.snapFile = parts.snapshot ? snapshotFileName(parts.snapshot.meta.term, parts.snapshot.meta.index) : '';
    this.snapRec = loaded.snapRec;
  }

  /**
   * Open (creating if missing) the storage in `dir` and read everything in it.
   * Throws StorageCorruptError if what is there is damaged, StorageError if it
   * cannot be opened at all (or a sealed record has no key to open it).
   * With a cipher, plaintext records left from before are re-encrypted here.
   */
  static async open(dir: string, opts: RaftStorageOptions = {}): Promise<RaftStorage> {
    const log = opts.logger ? opts.logger.child({ component: 'raft-storage' }) : null;
    const snapDir = join(dir, 'snapshots');
    const ldbPath = join(dir, 'raft.ldb');
    try {
      await fsp.mkdir(snapDir, { recursive: true });
    } catch (err) {
      throw new StorageError(`cannot create the storage directory ${snapDir}: ${errMessage(err)}`, snapDir, { cause: err });
    }

    // A database that is missing while snapshots exist was lost, not never made.
    let fresh = false;
    try {
      const st = await fsp.stat(ldbPath);
      if (!st.isDirectory()) throw new StorageCorruptError(`LevelDB path ${ldbPath} is not a directory`, ldbPath);
      fresh = (await fsp.readdir(ldbPath)).length === 0;
    } catch (err) {
      if (err instanceof StorageError) throw err;
      if (errCode(err) !== 'ENOENT') throw new StorageError(`cannot inspect LevelDB path ${ldbPath}: ${errMessage(err)}`, ldbPath, { cause: err });
      fresh = true;
    }
    if (fresh) {
      const snaps = (await fsp.readdir(snapDir)).filter((n) => SNAP_FILE_RE.test(n));
      if (snaps.length > 0) {
        throw new StorageCorruptError(`LevelDB database ${ldbPath} is missing or empty but ${snapDir} holds snapshot files (${snaps.join(', ')})`, ldbPath);
      }
    }

    // An existing database is never re-created: LevelDB would start an empty one in place of a damaged one.
    const db: Db = new Level<string, Uint8Array>(ldbPath, { keyEncoding: 'utf8', valueEncoding: 'view', createIfMissing: fresh });
    try {
      await db.open();
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause ?? err;
      const detail = errMessage(cause);
      if (errCode(cause) === 'LEVEL_CORRUPTION' || /corrupt/i.test(detail)) {
        throw new StorageCorruptError(`LevelDB database ${ldbPath} is corrupt: ${detail}`, ldbPath, { cause: err });
      }
      throw new StorageError(`cannot open LevelDB database ${ldbPath}: ${detail}`, ldbPath, { cause: err });
    }
    if (fresh) await syncDir(dir);

    let loaded: Loaded;
    try {
      loaded = await RaftStorage.read(db, dir, snapDir, opts.cipher);
    } catch (err) {
      await db.close().catch(() => undefined);
      throw err;
    }
    const s = new RaftStorage(dir, db, loaded, log, opts);
    await s.removeStaleSnapshotFiles(true);
    try {
      if (opts.cipher && loaded.plaintext > 0) {
        log?.warn({ dir, records: loaded.plaintext }, 'raft storage holds plaintext records: encrypting them');
        await s.reencrypt();
      } else if (loaded.purgePending) {
        await s.purge();
      }
    } catch (err) {
      await s.close().catch(() => undefined);
      throw err;
    }
    const { parts } = loaded;
    log?.info(
      {
        dir,
        term: parts.hardState.term,
        commit: parts.hardState.commit,
        snapshotIndex: s.snapIndex,
        lastIndex: s.last,
        entries: parts.entries.length,
        encrypted: opts.cipher !== undefined,
      },
      'raft storage opened',
    );
    return s;
  }

  /** Read and cross-check everything; throws StorageCorruptError naming the first thing wrong. */
  private static async read(db: Db, dir: string, snapDir: string, cipher: RecordCipher | undefined): Promise<Loaded> {
    let hardState: HardState = { term: 0, vote: '', commit: 0 };
    const hsRaw = await db.get(HARD_STATE_KEY);
    if (hsRaw !== undefined) {
      try {
        hardState = decodeHardState(hsRaw);
      } catch (err) {
        throw new StorageCorruptError(`LevelDB key ${HARD_STATE_KEY}: hard state record does not decode: ${errMessage(err)}`, HARD_STATE_KEY, { cause: err });
      }
    }

    let plaintext = 0;
    let snapshot: Snapshot | null = null;
    let snapRec: SnapshotRecord | null = null;
    const metaRaw = await db.get(SNAPSHOT_META_KEY);
    if (metaRaw !== undefined) {
      let rec: SnapshotRecord;
      try {
        rec = decodeSnapshotMeta(metaRaw);
      } catch (err) {
        throw new StorageCorruptError(`LevelDB key ${SNAPSHOT_META_KEY}: snapshot metadata does not decode: ${errMessage(err)}`, SNAPSHOT_META_KEY, { cause: err });
      }
      const file = await readSnapshotFile(dir, snapDir, rec, cipher);
      if (file.version === FORMAT_VERSION) plaintext++;
      snapshot = { meta: rec.meta, data: file.data };
      snapRec = rec;
    }

    const snapIndex = snapshot ? snapshot.meta.index : 0;
    const snapTerm = snapshot ? snapshot.meta.term : 0;
    const entries: Entry[] = [];
    let prevTerm = snapTerm;
    for await (const [key, value] of db.iterator({ gte: ENTRY_PREFIX, lt: ENTRY_END })) {
      if (!ENTRY_KEY_RE.test(key)) throw new StorageCorruptError(`LevelDB key ${JSON.stringify(key)} is not a valid entry key`, key);
      const keyIndex = Number(key.slice(ENTRY_PREFIX.length));
      let e: Entry;
      try {
        const d = decodeEntryVersion(value, cipher);
        e = d.entry;
        if (d.version === FORMAT_VERSION) plaintext++;
      } catch (err) {
        throw decodeFailure(err, `LevelDB key ${key}: entry record`, key, dir);
      }
      if (e.index !== keyIndex) throw new StorageCorruptError(`LevelDB key ${key}: holds entry ${e.index}, not ${keyIndex}`, key);
      const expect = entries.length > 0 ? entries[entries.length - 1].index + 1 : snapIndex + 1;
      if (e.index !== expect) {
        if (entries.length === 0) {
          throw new StorageCorruptError(
            `LevelDB key ${key}: the first entry is ${e.index} but it must be ${expect}, right after the ${snapshot ? `snapshot at ${snapIndex}` : 'start of the log'}`,
            key,
          );
        }
        throw new StorageCorruptError(`LevelDB key ${key}: gap in the log: entry ${e.index} follows entry ${expect - 1} (${e.index - 1 === expect ? `entry ${expect} is` : `entries ${expect}..${e.index - 1} are`} missing)`, key);
      }
      if (e.term < prevTerm) {
        throw new StorageCorruptError(`LevelDB key ${key}: entry ${e.index} has term ${e.term}, below the term ${prevTerm} before it`, key);
      }
      prevTerm = e.term;
      entries.push(e);
    }

    const lastIndex = entries.length > 0 ? entries[entries.length - 1].index : snapIndex;
    if (hardState.commit > lastIndex) {
      throw new StorageCorruptError(`LevelDB key ${HARD_STATE_KEY}: hard state commit ${hardState.commit} is beyond the last index ${lastIndex}`, HARD_STATE_KEY);
    }
    if (hardState.term < prevTerm) {
      throw new StorageCorruptError(
        `LevelDB key ${HARD_STATE_KEY}: hard state term ${hardState.term} is below the term ${prevTerm} of the last ${entries.length > 0 ? 'entry' : 'snapshot'}${hsRaw === undefined ? ' (the hard state record is missing)' : ''}`,
        HARD_STATE_KEY,
      );
    }
    const purgePending = (await db.get(PURGE_KEY)) !== undefined;
    return { parts: { hardState, snapshot, entries }, snapRec, plaintext, purgePending };
  }

  /** What was on disk at open(). Later writes are not reflected. */
  load(): InitialStateParts {
    return this.initial;
  }

  /** Index of the stored snapshot, 0 if none. */
  get snapshotIndex(): number {
    return this.snapIndex;
  }

  /** Index of the last stored entry (the snapshot index when the log after it is empty). */
  get lastIndex(): number {
    return this.last;
  }

  /** Whether records are sealed (a cipher was given). */
  get encrypted(): boolean {
    return this.cipher !== undefined;
  }

  /**
   * Encode (seal) entries ahead of the save() that will write them, typically
   * while the previous save is being synced: sealing is then off the path of
   * the next write. save() uses a prepared record only for the very same
   * entry (index, term, type, data), and reencrypt() drops them all (they may
   * be sealed by a retired key). Without a cipher, nothing to gain: a no-op.
   */
  prepare(entries: readonly Entry[]): void {
    if (!this.cipher || this.closed || this.failed !== null) return;
    if (this.prepared.size + entries.length > MAX_PREPARED) return;
    for (const e of entries) {
      if (e.index <= this.snapIndex) continue;
      const had = this.prepared.get(e.index);
      if (had && sameEntry(had.entry, e)) continue;
      if (this.preparedBytes + e.data.byteLength > MAX_PREPARED_BYTES) return;
      let record: Uint8Array;
      try {
        record = encodeEntry(e, this.cipher);
      } catch {
        // save() encodes it again and reports what is wrong.
        return;
      }
      if (had) this.preparedBytes -= had.record.byteLength;
      this.prepared.set(e.index, { entry: e, record });
      this.preparedBytes += record.byteLength;
    }
  }

  private dropPrepared(upTo: number): void {
    if (this.prepared.size === 0) return;
    for (const [i, p] of this.prepared) {
      if (i > upTo) continue;
      this.prepared.delete(i);
      this.preparedBytes -= p.record.byteLength;
    }
  }

  /**
   * Step 1 of the Ready contract as one synced LevelDB batch: a received
   * snapshot (its file is written first) replaces the whole log; entries at
   * i.. replace what is stored from i on; then the hard state.
   */
  save(rd: ReadyToPersist): Promise<void> {
    return this.run(() => this.doSave(rd));
  }

  private async doSave(rd: ReadyToPersist): Promise<void> {
    const { snapshot, entries, hardState } = rd;
    if (!snapshot && entries.length === 0 && !hardState) return;

    // Check the whole Ready against what is stored before touching the disk.
    let base = this.snapIndex;
    let last = this.last;
    if (snapshot) {
      if (snapshot.meta.index <= this.snapIndex) {
        throw new Error(`raft storage: received snapshot at ${snapshot.meta.index} is not after the stored snapshot at ${this.snapIndex}`);
      }
      base = snapshot.meta.index;
      last = base;
    }
    if (entries.length > 0) {
      const first = entries[0].index;
      if (first <= base) throw new Error(`raft storage: entry ${first} is at or below the snapshot index ${base}`);
      if (first > last + 1) throw new Error(`raft storage: entry ${first} would leave a gap after the last stored entry ${last}`);
      for (let i = 1; i < entries.length; i++) {
        if (entries[i].index !== first + i) throw new Error(`raft storage: entries are not contiguous: ${entries[i].index} follows ${first + i - 1}`);
      }
    }
    const newLast = entries.length > 0 ? entries[entries.length - 1].index : last;
    if (hardState && hardState.commit > newLast) {
      throw new Error(`raft storage: hard state commit ${hardState.commit} is beyond the last index ${newLast}`);
    }

    const ops: Op[] = [];
    let rec: SnapshotRecord | null = null;
    if (snapshot) {
      rec = { meta: snapshot.meta, size: snapshot.data.byteLength, sha256: sha256(snapshot.data) };
      ops.push({ type: 'put', key: SNAPSHOT_META_KEY, value: encodeSnapshotMeta(rec) });
      for (let i = this.snapIndex + 1; i <= this.last; i++) ops.push({ type: 'del', key: entryKey(i) });
    }
    // Sealed here, in the queue: a rotation's reencrypt() queued before this write re-seals nothing of it,
    // and this write seals with the key current when it runs.
    for (const e of entries) ops.push({ type: 'put', key: entryKey(e.index), value: this.recordOf(e) });
    // Whatever was stored after the last new entry belongs to a log that was overwritten.
    if (entries.length > 0) {
      for (let i = newLast + 1; i <= last; i++) ops.push({ type: 'del', key: entryKey(i) });
    }
    // The hard state holds no cluster object (term, vote, commit): it stays plaintext.
    if (hardState) ops.push({ type: 'put', key: HARD_STATE_KEY, value: encodeHardState(hardState) });

    await this.write(async () => {
      if (snapshot && rec) await this.writeSnapshotFile(rec, snapshot.data);
      await this.db.batch(ops, { sync: rd.mustSync !== false || snapshot !== null || entries.length > 0 });
    });

    if (snapshot && rec) {
      this.snapIndex = snapshot.meta.index;
      this.snapTerm = snapshot.meta.term;
      this.snapFile = snapshotFileName(snapshot.meta.term, snapshot.meta.index);
      this.snapRec = rec;
      this.log?.info({ index: this.snapIndex, term: this.snapTerm, bytes: snapshot.data.byteLength }, 'stored a snapshot received from the leader');
    }
    this.last = newLast;
    this.dropPrepared(newLast);
    if (snapshot) await this.removeStaleSnapshotFiles(false);
  }

  /** The record of `e`: prepared ahead if it was, encoded now otherwise. */
  private recordOf(e: Entry): Uint8Array {
    const p = this.prepared.get(e.index);
    if (p && sameEntry(p.entry, e)) return p.record;
    return encodeEntry(e, this.cipher);
  }

  /**
   * Persist an application snapshot (from RaftCore.createSnapshot) and drop
   * the entries it covers: the file first, then one synced batch with the new
   * metadata and the deletions; then the previous snapshot file is removed.
   */
  saveSnapshot(s: Snapshot): Promise<void> {
    return this.run(() => this.doSaveSnapshot(s));
  }

  private async doSaveSnapshot(s: Snapshot): Promise<void> {
    const { index, term } = s.meta;
    if (index <= this.snapIndex) throw new Error(`raft storage: snapshot at ${index} is not after the stored snapshot at ${this.snapIndex}`);
    const rec: SnapshotRecord = { meta: s.meta, size: s.data.byteLength, sha256: sha256(s.data) };
    const ops: Op[] = [{ type: 'put', key: SNAPSHOT_META_KEY, value: encodeSnapshotMeta(rec) }];
    const upTo = Math.min(index, this.last);
    for (let i = this.snapIndex + 1; i <= upTo; i++) ops.push({ type: 'del', key: entryKey(i) });

    await this.write(async () => {
      await this.writeSnapshotFile(rec, s.data);
      await this.db.batch(ops, { sync: true });
    });

    const dropped = upTo - this.snapIndex;
    this.snapIndex = index;
    this.snapTerm = term;
    this.snapFile = snapshotFileName(term, index);
    this.snapRec = rec;
    if (this.last < index) this.last = index;
    this.log?.info({ index, term, bytes: s.data.byteLength, compacted: dropped }, 'stored an application snapshot and compacted the log');
    await this.removeStaleSnapshotFiles(false);
  }

  /**
   * Re-seal everything stored with the cipher's current key (a data key
   * rotation, or plaintext records from before encryption), in the queue of
   * writes: the snapshot file first (temporary file, fsync, rename, fsync of
   * the directory: the metadata, over the plaintext, stays true), then every
   * stored entry in one synced batch. A crash at any point leaves records that
   * open with the old key or the new one (so the ring must keep both until
   * this resolves) or plaintext ones. Then LevelDB is compacted, so that the
   * superseded values leave its files.
   */
  async reencrypt(): Promise<void> {
    const rewrote = await this.run(() => this.doReencrypt());
    if (rewrote) await this.purge();
  }

  private async doReencrypt(): Promise<boolean> {
    const cipher = this.cipher;
    if (!cipher) throw new StorageError(`raft storage in ${this.dir} has no cipher to re-encrypt with`, this.dir);
    let entries = 0;
    let snapshot = false;
    // Prepared records may be sealed by a key the rotation is retiring: later saves seal anew, with the current key.
    this.prepared.clear();
    this.preparedBytes = 0;
    await this.write(async () => {
      if (this.snapRec) {
        const { data } = await readSnapshotFile(this.dir, this.snapDir, this.snapRec, cipher);
        await this.writeSnapshotFile(this.snapRec, data);
        snapshot = true;
        this.onStep?.('snapshot-resealed');
      }
      const ops: Op[] = [];
      for await (const [key, value] of this.db.iterator({ gte: ENTRY_PREFIX, lt: ENTRY_END })) {
        let e: Entry;
        try {
          e = decodeEntry(value, cipher);
        } catch (err) {
          throw decodeFailure(err, `LevelDB key ${key}: entry record`, key, this.dir);
        }
        ops.push({ type: 'put', key, value: encodeEntry(e, cipher) });
      }
      entries = ops.length;
      if (entries > 0 || snapshot) {
        // In the same batch: a crash before the compaction has it done at the next open.
        ops.push({ type: 'put', key: PURGE_KEY, value: Uint8Array.of(FORMAT_VERSION) });
        await this.db.batch(ops, { sync: true });
        this.onStep?.('entries-resealed');
      }
    });
    this.log?.info({ entries, snapshot }, 'raft storage re-encrypted with the current data key');
    return entries > 0 || snapshot;
  }

  /**
   * Compact LevelDB so that superseded values (plaintext, or sealed by a
   * retired key) are dropped from its files; then clear m/purge. Runs beside
   * the queue (LevelDB compacts while writes go on). A failure is logged:
   * nothing is lost, and the next open tries again.
   */
  private async purge(): Promise<void> {
    const compact = compactor(this.db);
    if (!compact) {
      this.log?.warn({ dir: this.dir }, 'this LevelDB binding cannot compact: superseded records stay in its files until LevelDB compacts them by itself');
      return;
    }
    const started = Date.now();
    const p = compact();
    this.compaction = p.catch(() => undefined);
    try {
      await p;
      await this.run(() => this.write(() => this.db.del(PURGE_KEY, { sync: true })));
      this.log?.info({ ms: Date.now() - started }, 'raft storage compacted: superseded records dropped');
    } catch (err) {
      this.log?.warn({ err, dir: this.dir }, 'raft storage compaction failed; it is tried again at the next open');
    }
  }

  /** Wait for pending writes, then close the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.tail;
    await this.compaction;
    await this.db.close();
    this.log?.debug({ dir: this.dir }, 'raft storage closed');
  }

  // -------------------------------------------------------------- internals

  private run<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StorageError(`raft storage in ${this.dir} is closed`, this.dir));
    const p = this.tail.then(() => {
      if (this.failed !== null) {
        throw new StorageError(`raft storage in ${this.dir} failed earlier and accepts no more writes: ${errMessage(this.failed)}`, this.dir, { cause: this.failed });
      }
      return op();
    });
    this.tail = p.catch(() => undefined);
    return p;
  }

  /** Run disk writes; after a failure the storage refuses every later write. */
  private async write(fn: () => Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      this.failed = err;
      this.log?.error({ err, dir: this.dir }, 'raft storage write failed');
      if (err instanceof StorageError) throw err;
      throw new StorageError(`raft storage write in ${this.dir} failed: ${errMessage(err)}`, this.dir, { cause: err });
    }
  }

  /**
   * Write the file under a temporary name, fsync it, rename it in place, fsync the directory.
   * With a cipher the data is sealed (version 2), the header (with the plaintext's size and digest) as AAD.
   */
  private async writeSnapshotFile(rec: SnapshotRecord, data: Uint8Array): Promise<void> {
    const name = snapshotFileName(rec.meta.term, rec.meta.index);
    const path = join(this.snapDir, name);
    const tmp = `${path}.${process.pid}.tmp`;
    const header = snapshotFileHeader(rec, this.cipher ? SEALED_VERSION : FORMAT_VERSION);
    const body = this.cipher ? this.cipher.seal(data, header) : data;
    const h = await fsp.open(tmp, 'w');
    try {
      await h.writeFile(header);
      await h.writeFile(body);
      await h.sync();
    } finally {
      await h.close();
    }
    await fsp.rename(tmp, path);
    await syncDir(this.snapDir);
  }

  /**
   * Remove snapshot files the metadata does not name and temporary files left
   * by a crash. Only ever called once the metadata is durable; a failure to
   * remove is logged (the next open tries again).
   */
  private async removeStaleSnapshotFiles(atOpen: boolean): Promise<void> {
    let names: string[];
    try {
      names = await fsp.readdir(this.snapDir);
    } catch (err) {
      this.log?.warn({ err, dir: this.snapDir }, 'cannot list the snapshot directory');
      return;
    }
    for (const name of names) {
      const stale = (SNAP_FILE_RE.test(name) && name !== this.snapFile) || (name.startsWith('snapshot-') && name.endsWith('.tmp'));
      if (!stale) continue;
      try {
        await fsp.unlink(join(this.snapDir, name));
        if (atOpen) this.log?.warn({ file: name }, 'removed a snapshot file left over from an interrupted write');
        else this.log?.debug({ file: name }, 'removed an old snapshot file');
      } catch (err) {
        this.log?.warn({ err, file: name }, 'cannot remove an old snapshot file');
      }
    }
  }
}

/** Read and verify the file the snapshot metadata names; a sealed one is opened with `cipher`. */
async function readSnapshotFile(dir: string, snapDir: string, rec: SnapshotRecord, cipher: RecordCipher | undefined): Promise<{ data: Uint8Array; version: number }> {
  const { term, index } = rec.meta;
  const path = join(snapDir, snapshotFileName(term, index));
  let buf: Buffer;
  try {
    buf = await fsp.readFile(path);
  } catch (err) {
    if (errCode(err) === 'ENOENT') {
      throw new StorageCorruptError(`snapshot file ${path} is missing (LevelDB key ${SNAPSHOT_META_KEY} names the snapshot at index ${index}, term ${term})`, path, { cause: err });
    }
    throw new StorageError(`cannot read snapshot file ${path}: ${errMessage(err)}`, path, { cause: err });
  }
  const corrupt = (what: string): StorageCorruptError => new StorageCorruptError(`snapshot file ${path}: ${what}`, path);
  if (buf.byteLength < SNAP_FILE_HEADER) throw corrupt(`truncated: ${buf.byteLength} bytes, shorter than the ${SNAP_FILE_HEADER}-byte header`);
  for (let i = 0; i < SNAP_MAGIC.length; i++) if (buf[i] !== SNAP_MAGIC[i]) throw corrupt('bad magic bytes: not a snapshot file');
  const version = buf[4];
  if (version !== FORMAT_VERSION && version !== SEALED_VERSION) {
    throw corrupt(`unknown format version ${version} (this build reads versions ${FORMAT_VERSION} and ${SEALED_VERSION})`);
  }
  const r = new Reader(new Uint8Array(buf.buffer, buf.byteOffset + 8, SNAP_FILE_HEADER - 8));
  let hTerm: number, hIndex: number, hSize: number, hSha: Uint8Array;
  try {
    hTerm = r.u64('term');
    hIndex = r.u64('index');
    hSize = r.u64('data length');
    hSha = r.bytes(SHA_LEN, 'the SHA-256');
  } catch (err) {
    throw corrupt(`header does not decode: ${errMessage(err)}`);
  }
  if (hTerm !== term || hIndex !== index) throw corrupt(`header is for index ${hIndex}, term ${hTerm}, not index ${index}, term ${term}`);
  if (hSize !== rec.size) throw corrupt(`header says ${hSize} bytes of data, the metadata ${rec.size}`);
  if (!sameBytes(hSha, rec.sha256)) throw corrupt(`header SHA-256 ${hex(hSha)} differs from the metadata's ${hex(rec.sha256)}`);
  let data: Uint8Array;
  if (version === SEALED_VERSION) {
    try {
      data = openSealed(cipher, buf.subarray(SNAP_FILE_HEADER), buf.subarray(0, SNAP_FILE_HEADER));
    } catch (err) {
      throw decodeFailure(err, `snapshot file ${path}`, path, dir);
    }
    if (data.byteLength !== hSize) throw corrupt(`holds ${data.byteLength} bytes of data, the header says ${hSize}`);
  } else {
    const have = buf.byteLength - SNAP_FILE_HEADER;
    if (have < hSize) throw corrupt(`truncated: ${have} of ${hSize} bytes of data`);
    if (have > hSize) throw corrupt(`${have - hSize} unexpected bytes after the ${hSize} bytes of data`);
    data = new Uint8Array(hSize);
    data.set(buf.subarray(SNAP_FILE_HEADER));
  }
  const sum = sha256(data);
  if (!sameBytes(sum, rec.sha256)) throw corrupt(`checksum mismatch: the data's SHA-256 is ${hex(sum)}, expected ${hex(rec.sha256)}`);
  return { data, version };
}
