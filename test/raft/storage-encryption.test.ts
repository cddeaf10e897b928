// RaftStorage with a cipher (encryption at rest): sealed records load back, no
// plaintext in any file (a byte scan that does find it in a plaintext store),
// what a missing or wrong key says, AAD binding, the migration of plaintext
// records, and reencrypt() stopped after each of its durable steps.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { AesGcmCipher } from '../../src/raft/cipher.js';
import {
  HARD_STATE_KEY,
  PURGE_KEY,
  RaftStorage,
  StorageCorruptError,
  StorageError,
  entryKey,
  snapshotFileName,
  type InitialStateParts,
  type RaftStorageOptions,
  type ReencryptStep,
} from '../../src/raft/storage.js';
import { rawDb, reopen, withDir } from './fixtures/storage-dir.js';
import { EntryType, type Entry, type Snapshot } from '../../src/raft/types.js';
import { scanFiles } from '../../src/testing/byte-scan.js';

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const MARKER = `MARKER-${randomBytes(8).toString('hex')}`;
const ent = (index: number, term: number, type = EntryType.Normal): Entry => ({ index, term, type, data: enc(`${MARKER} entry ${index} term ${term}`) });
const snapData = (index: number): Uint8Array => enc(`${MARKER} state up to ${index} `.repeat(20));
const snap = (index: number, term: number): Snapshot => ({ meta: { index, term, conf: { voters: ['a', 'b'], learners: ['c'] } }, data: snapData(index) });

const KEYS = new Map<number, Uint8Array>([1, 2, 3].map((id) => [id, randomBytes(32)]));
/** A cipher over the test's fixed keys: ring(current, ...others). */
function ring(current: number, ...others: number[]): AesGcmCipher {
  return new AesGcmCipher({ current, keys: new Map([current, ...others].map((id) => [id, KEYS.get(id)!])) });
}




/** Format versions of the stored entries, and of the snapshot file (0 if none). */
async function versions(dir: string): Promise<{ entries: number[]; snapshot: number; purge: boolean }> {
  const { entries, purge } = await rawDb(dir, async (db) => ({
    entries: (await db.values({ gte: 'e/', lt: 'e0' }).all()).map((v) => v[0]),
    purge: (await db.get(PURGE_KEY)) !== undefined,
  }));
  const files = (await fsp.readdir(join(dir, 'snapshots'))).filter((n) => n.endsWith('.snap'));
  const snapshot = files.length === 1 ? (await fsp.readFile(join(dir, 'snapshots', files[0])))[4] : 0;
  return { entries, snapshot, purge };
}

/** A log 1..30 in terms 1-3 with a snapshot at 12 (entries 13..30 stored), a conf change and an empty no-op among them. */
async function fill(dir: string, opts: RaftStorageOptions): Promise<InitialStateParts> {
  const st = await RaftStorage.open(dir, opts);
  const all: Entry[] = [];
  for (let i = 1; i <= 30; i++) {
    const e = ent(i, 1 + Math.floor(i / 10), i === 5 ? EntryType.ConfChange : EntryType.Normal);
    if (i === 21) e.data = new Uint8Array(0);
    all.push(e);
  }
  await st.save({ hardState: { term: 4, vote: 'a', commit: 10 }, entries: all.slice(0, 20), snapshot: null });
  await st.saveSnapshot(snap(12, 2));
  await st.save({ hardState: { term: 4, vote: 'a', commit: 30 }, entries: all.slice(20), snapshot: null });
  await st.close();
  return { hardState: { term: 4, vote: 'a', commit: 30 }, snapshot: snap(12, 2), entries: all.slice(12) };
}

test('sealed entries and snapshot round-trip through close and reopen; the hard state stays plaintext', async () => {
  await withDir(async (dir) => {
    const want = await fill(dir, { cipher: ring(1) });
    assert.deepEqual(await reopen(dir, { cipher: ring(1) }), want);
    const v = await versions(dir);
    assert.deepEqual(new Set(v.entries), new Set([2]), 'every entry record is version 2');
    assert.equal(v.snapshot, 2, 'the snapshot file is version 2');
    assert.equal(v.purge, false);
    const hs = await rawDb(dir, (db) => db.get(HARD_STATE_KEY));
    assert.equal(hs?.[0], 1, 'the hard state record is version 1 (no objects in it)');
  });
});

test('a byte scan finds the marker in no file of an encrypted store, and finds it in a plaintext one', async () => {
  await withDir(async (dir) => {
    await fill(join(dir, 'plain'), {});
    await fill(join(dir, 'sealed'), { cipher: ring(1) });
    const plain = scanFiles(join(dir, 'plain'), { marker: MARKER });
    assert.ok(plain.some((h) => h.file.startsWith('raft.ldb')), `plaintext entries show in LevelDB's files: ${JSON.stringify(plain)}`);
    assert.ok(plain.some((h) => h.file.startsWith('snapshots')), 'the plaintext snapshot shows');
    assert.deepEqual(scanFiles(join(dir, 'sealed'), { marker: MARKER }), []);
  });
});

test('a sealed store opened without a cipher, or with a ring that lacks its key, is a one-line StorageError saying what to do', async () => {
  await withDir(async (dir) => {
    await fill(dir, { cipher: ring(1) });
    const oneLine = (re: RegExp) => (err: unknown) => {
      assert.ok(err instanceof StorageError, String(err));
      assert.ok(!(err instanceof StorageCorruptError), `not reported as corruption: ${(err as Error).message}`);
      assert.ok(!err.message.includes('\n'), 'one line');
      assert.match(err.message, re);
      assert.match(err.message, /data key ring it was written with/);
      return true;
    };
    await assert.rejects(reopen(dir), oneLine(/without a cipher/));
    await assert.rejects(reopen(dir, { cipher: ring(2) }), oneLine(/sealed with data key 00000001, which the key ring \(00000002\) does not hold/));
    // The same key id with another key: the records do not authenticate, which is damage.
    const other = new AesGcmCipher({ current: 1, keys: new Map([[1, randomBytes(32)]]) });
    await assert.rejects(reopen(dir, { cipher: other }), (err: unknown) => err instanceof StorageCorruptError && /does not authenticate/.test(err.message));
    // Nothing was changed by the failed attempts.
    assert.equal((await reopen(dir, { cipher: ring(1) })).entries.length, 18);
  });
});

test('a sealed record moved to another place does not open: the AAD binds it to its index and term', async () => {
  await withDir(async (dir) => {
    await fill(dir, { cipher: ring(1) });
    await rawDb(dir, async (db) => {
      const rec = Uint8Array.from((await db.get(entryKey(25)))!);
      // Entry 25's record, relabelled as entry 26 (same term) in its plaintext header.
      new DataView(rec.buffer).setBigUint64(10, 26n);
      await db.put(entryKey(26), rec);
    });
    await assert.rejects(reopen(dir, { cipher: ring(1) }), (err: unknown) => err instanceof StorageCorruptError && err.culprit === entryKey(26) && /does not authenticate/.test(err.message));
  });
});

test('opening a plaintext store with a cipher encrypts every record, and the compaction leaves no plaintext in any file', async () => {
  await withDir(async (dir) => {
    const want = await fill(dir, {});
    assert.ok(scanFiles(dir, { marker: MARKER }).length > 0, 'the plaintext is on disk before');
    assert.deepEqual(await reopen(dir, { cipher: ring(1) }), want, 'the migrated store loads the same');
    const v = await versions(dir);
    assert.deepEqual(new Set(v.entries), new Set([2]));
    assert.equal(v.snapshot, 2);
    assert.equal(v.purge, false, 'the compaction is done');
    assert.deepEqual(scanFiles(dir, { marker: MARKER }), [], 'no plaintext left in .log/.ldb files or snapshots');
    assert.deepEqual(await reopen(dir, { cipher: ring(1) }), want);
    await assert.rejects(reopen(dir), StorageError, 'it no longer opens without the key');
  });
});

/** A hook that stops reencrypt() after `at`, as a crash there would. */
function crashAt(at: ReencryptStep): (step: ReencryptStep) => void {
  return (step) => {
    if (step === at) throw new Error(`simulated crash after ${step}`);
  };
}

test('reencrypt stopped after the snapshot is re-sealed: the store opens with the ring of both keys, and finishing it retires the old one', async () => {
  await withDir(async (dir) => {
    const want = await fill(dir, { cipher: ring(1) });
    const st = await RaftStorage.open(dir, { cipher: ring(2, 1), onReencryptStep: crashAt('snapshot-resealed') });
    await assert.rejects(st.reencrypt(), /simulated crash after snapshot-resealed/);
    await st.close();
    // Half-way: the snapshot is sealed by key 2, the entries by key 1.
    await assert.rejects(reopen(dir, { cipher: ring(1) }), /sealed with data key 00000002/);
    await assert.rejects(reopen(dir, { cipher: ring(2) }), /sealed with data key 00000001/);
    const both = await RaftStorage.open(dir, { cipher: ring(2, 1) });
    assert.deepEqual(both.load(), want);
    await both.reencrypt();
    await both.close();
    assert.deepEqual(await reopen(dir, { cipher: ring(2) }), want);
    assert.deepEqual(scanFiles(dir, { marker: MARKER }), []);
  });
});

test('reencrypt stopped after the entries batch: everything opens with the new key, and the owed compaction runs at the next open', async () => {
  await withDir(async (dir) => {
    const want = await fill(dir, { cipher: ring(1) });
    const st = await RaftStorage.open(dir, { cipher: ring(2, 1), onReencryptStep: crashAt('entries-resealed') });
    await assert.rejects(st.reencrypt(), /simulated crash after entries-resealed/);
    await st.close();
    assert.equal((await versions(dir)).purge, true, 'the compaction is owed');
    assert.deepEqual(await reopen(dir, { cipher: ring(2) }), want);
    assert.equal((await versions(dir)).purge, false, 'done at open');
  });
});

test('a snapshot re-seal interrupted before its rename leaves a temporary file that the next open removes', async () => {
  await withDir(async (dir) => {
    const want = await fill(dir, { cipher: ring(1) });
    const tmp = join(dir, 'snapshots', `${snapshotFileName(2, 12)}.4242.tmp`);
    await fsp.writeFile(tmp, randomBytes(100));
    assert.deepEqual(await reopen(dir, { cipher: ring(2, 1) }), want);
    await assert.rejects(fsp.stat(tmp), /ENOENT/);
  });
});

test('a migration stopped half-way is done again at the next open', async () => {
  await withDir(async (dir) => {
    const want = await fill(dir, {});
    await assert.rejects(RaftStorage.open(dir, { cipher: ring(1), onReencryptStep: crashAt('snapshot-resealed') }), /simulated crash/);
    assert.deepEqual(await versions(dir).then((v) => [new Set(v.entries), v.snapshot]), [new Set([1]), 2], 'sealed snapshot, plaintext entries');
    assert.deepEqual(await reopen(dir, { cipher: ring(1) }), want);
    const v = await versions(dir);
    assert.deepEqual([new Set(v.entries), v.snapshot, v.purge], [new Set([2]), 2, false]);
    assert.deepEqual(scanFiles(dir, { marker: MARKER }), []);
  });
});

test('writes queued around a reencrypt are sealed with the new key: after it, the old key is not needed', async () => {
  await withDir(async (dir) => {
    const want = await fill(dir, { cipher: ring(1) });
    const cipher = ring(1);
    const st = await RaftStorage.open(dir, { cipher });
    // A rotation: the ring gains key 2 (current) before the re-seal; writes keep coming meanwhile.
    cipher.setRing({ current: 2, keys: new Map([1, 2].map((id) => [id, KEYS.get(id)!])) });
    const more = [31, 32, 33, 34].map((i) => ent(i, 4));
    const ops = [
      st.save({ hardState: { term: 4, vote: 'a', commit: 30 }, entries: more.slice(0, 2), snapshot: null }),
      st.reencrypt(),
      st.save({ hardState: { term: 4, vote: 'a', commit: 32 }, entries: more.slice(2), snapshot: null }),
      st.saveSnapshot(snap(20, 3)),
    ];
    await Promise.all(ops);
    cipher.setRing({ current: 2, keys: new Map([[2, KEYS.get(2)!]]) });
    await st.close();
    const got = await reopen(dir, { cipher: ring(2) });
    assert.deepEqual(got.snapshot, snap(20, 3));
    assert.deepEqual(got.entries, [...want.entries.filter((e) => e.index > 20), ...more]);
  });
});

test('entries prepared ahead are written as saved, a different entry at a prepared index is not replaced by the prepared one, and a rotation drops what was prepared with the old key', async () => {
  await withDir(async (dir) => {
    const want = await fill(dir, { cipher: ring(1) });
    const cipher = ring(1);
    const st = await RaftStorage.open(dir, { cipher });
    const next = [31, 32, 33].map((i) => ent(i, 4));
    st.prepare(next);
    // Index 33 ends up holding another entry (say, another leader's) than the one prepared.
    const other: Entry = { index: 33, term: 4, type: EntryType.Normal, data: enc('another leader') };
    await st.save({ hardState: { term: 4, vote: 'a', commit: 30 }, entries: [next[0], next[1], other], snapshot: null });
    // Prepared with key 1, saved after a rotation to key 2 retired it.
    const later = [34, 35].map((i) => ent(i, 4));
    st.prepare(later);
    cipher.setRing({ current: 2, keys: new Map([1, 2].map((id) => [id, KEYS.get(id)!])) });
    await st.reencrypt();
    cipher.setRing({ current: 2, keys: new Map([[2, KEYS.get(2)!]]) });
    await st.save({ hardState: null, entries: later, snapshot: null });
    await st.close();
    const got = await reopen(dir, { cipher: ring(2) });
    assert.deepEqual(got.entries, [...want.entries, next[0], next[1], other, ...later]);
  });
});
