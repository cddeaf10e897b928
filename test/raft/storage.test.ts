// RaftStorage on a real LevelDB in a fresh temporary directory per test:
// round trips, the Ready rules (suffix overwrite, received snapshot), log
// compaction, strict start-up on every kind of damage, a randomized model
// test, and a kill -9 durability test with a child process.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Prng } from '../../src/testing/prng.js';
import { RaftCore } from '../../src/raft/core/raft.js';
import {
  HARD_STATE_KEY,
  RaftStorage,
  SNAPSHOT_META_KEY,
  StorageCorruptError,
  StorageError,
  encodeEntry,
  encodeHardState,
  entryKey,
  snapshotFileName,
  type InitialStateParts,
} from '../../src/raft/storage.js';
import { rawDb, reopen, withDir } from './fixtures/storage-dir.js';
import { DEFAULT_CONFIG, EntryType, Role, type ConfState, type Entry, type HardState, type Snapshot } from '../../src/raft/types.js';
import { SNAPSHOT_LAG, WRITER_CONF, writerEntry, writerSnapshotData, writerTerm } from './fixtures/storage-writer.js';

const CONF: ConfState = { voters: ['a', 'b', 'c'], learners: [] };
const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const ent = (index: number, term: number, data = `e${index}t${term}`, type = EntryType.Normal): Entry => ({ index, term, type, data: enc(data) });
const range = (from: number, to: number, term: number): Entry[] => Array.from({ length: to - from + 1 }, (_, i) => ent(from + i, term));
const snap = (index: number, term: number, data = `snapshot at ${index}`): Snapshot => ({ meta: { index, term, conf: { voters: ['a', 'b'], learners: ['c'] } }, data: enc(data) });
const hs = (term: number, commit: number, vote = 'a'): HardState => ({ term, vote, commit });
const EMPTY: InitialStateParts = { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] };




const entryKeys = (dir: string): Promise<string[]> => rawDb(dir, (db) => db.keys({ gte: 'e/', lt: 'e0' }).all());

function accepted(parts: InitialStateParts, id = 'a'): RaftCore {
  return new RaftCore({ ...DEFAULT_CONFIG, id, rng: new Prng(1) }, { ...parts, conf: CONF });
}

// ------------------------------------------------------------- round trips

test('empty storage loads as an empty log, and an empty Ready writes nothing', async () => {
  await withDir(async (dir) => {
    const st = await RaftStorage.open(join(dir, 'node'));
    assert.deepEqual(st.load(), EMPTY);
    await st.save({ hardState: null, entries: [], snapshot: null });
    await st.close();
    assert.deepEqual(await rawDb(join(dir, 'node'), (db) => db.keys().all()), []);
    const parts = await reopen(join(dir, 'node'));
    assert.deepEqual(parts, EMPTY);
    // An empty disk plus the bootstrap membership is a brand-new founding member.
    const core = accepted(parts);
    assert.deepEqual(core.log.entries.map((e) => e.type), [EntryType.ConfChange, EntryType.ConfChange, EntryType.ConfChange]);
  });
});

test('hard state, entries and a snapshot round-trip through close and reopen exactly', async () => {
  await withDir(async (dir) => {
    const st = await RaftStorage.open(dir);
    const s = snap(4, 2, '\u0000binary\u00ff state');
    const entries = [ent(5, 2), ent(6, 3, '', EntryType.Normal), ent(7, 3, 'cc', EntryType.ConfChange), ent(8, 3, 'x'.repeat(5000))];
    await st.save({ snapshot: s, entries, hardState: hs(3, 6, 'b') });
    assert.equal(st.snapshotIndex, 4);
    assert.equal(st.lastIndex, 8);
    await st.close();
    const parts = await reopen(dir);
    assert.deepEqual(parts, { hardState: hs(3, 6, 'b'), snapshot: s, entries });
    const core = accepted(parts);
    assert.equal(core.log.snapIndex, 4);
    assert.equal(core.log.lastIndex(), 8);
    assert.equal(core.log.committed, 6);
    assert.equal(core.status().term, 3);
  });
});

test('entries at i.. replace the stored ones from i and delete the rest', async () => {
  await withDir(async (dir) => {
    const st = await RaftStorage.open(dir);
    await st.save({ hardState: hs(1, 3), entries: range(1, 10, 1), snapshot: null });
    await st.save({ hardState: hs(2, 3), entries: [ent(5, 2), ent(6, 2)], snapshot: null });
    assert.equal(st.lastIndex, 6);
    // Appending after the overwrite, then overwriting a single entry in the middle.
    await st.save({ hardState: null, entries: [ent(7, 2), ent(8, 2)], snapshot: null });
    await st.save({ hardState: hs(3, 3), entries: [ent(4, 3)], snapshot: null });
    await st.close();
    const parts = await reopen(dir);
    assert.deepEqual(parts.entries, [...range(1, 3, 1), ent(4, 3)]);
    assert.deepEqual(parts.hardState, hs(3, 3));
    assert.deepEqual(await entryKeys(dir), [1, 2, 3, 4].map(entryKey));
    accepted(parts);
  });
});

test('a Ready with a received snapshot wipes the whole log and the log restarts after it', async () => {
  await withDir(async (dir) => {
    const st = await RaftStorage.open(dir);
    await st.save({ hardState: hs(1, 10), entries: range(1, 30, 1), snapshot: null });
    // A snapshot from the leader below our last index (our suffix conflicted), with entries after it.
    const s = snap(20, 3);
    await st.save({ snapshot: s, entries: [ent(21, 3), ent(22, 4)], hardState: hs(4, 20) });
    assert.equal(st.lastIndex, 22);
    await st.close();
    const parts = await reopen(dir);
    assert.deepEqual(parts, { hardState: hs(4, 20), snapshot: s, entries: [ent(21, 3), ent(22, 4)] });
    assert.deepEqual(await entryKeys(dir), [entryKey(21), entryKey(22)]);
    assert.deepEqual(await fsp.readdir(join(dir, 'snapshots')), [snapshotFileName(3, 20)]);
    accepted(parts);
  });
});

test('saveSnapshot compacts entries <= index, keeps only the newest snapshot file, and a reopen sees snapshot + later entries', async () => {
  await withDir(async (dir) => {
    const st = await RaftStorage.open(dir);
    await st.save({ hardState: hs(2, 8), entries: [...range(1, 5, 1), ...range(6, 10, 2)], snapshot: null });
    const s1 = snap(4, 1, 'state@4');
    await st.saveSnapshot(s1);
    assert.deepEqual(await fsp.readdir(join(dir, 'snapshots')), [snapshotFileName(1, 4)]);
    const s2 = snap(7, 2, 'state@7');
    await st.saveSnapshot(s2);
    assert.equal(st.snapshotIndex, 7);
    assert.deepEqual(await fsp.readdir(join(dir, 'snapshots')), [snapshotFileName(2, 7)]);
    await st.save({ hardState: hs(2, 11), entries: [ent(11, 2)], snapshot: null });
    await st.close();
    const parts = await reopen(dir);
    assert.deepEqual(parts, { hardState: hs(2, 11), snapshot: s2, entries: range(8, 11, 2) });
    assert.deepEqual(await entryKeys(dir), [8, 9, 10, 11].map(entryKey));
    accepted(parts);
  });
});

test('a Ready that breaks the contract is refused before anything is written', async () => {
  await withDir(async (dir) => {
    const st = await RaftStorage.open(dir);
    await st.save({ hardState: hs(1, 2), entries: range(1, 3, 1), snapshot: null });
    await assert.rejects(st.save({ hardState: null, entries: [ent(5, 1)], snapshot: null }), /gap after the last stored entry 3/);
    await assert.rejects(st.save({ hardState: null, entries: [ent(4, 1), ent(6, 1)], snapshot: null }), /not contiguous/);
    await assert.rejects(st.save({ hardState: hs(1, 9), entries: [], snapshot: null }), /commit 9 is beyond the last index 3/);
    await st.saveSnapshot(snap(2, 1));
    await assert.rejects(st.save({ hardState: null, entries: [ent(2, 1)], snapshot: null }), /at or below the snapshot index 2/);
    await assert.rejects(st.saveSnapshot(snap(2, 1)), /not after the stored snapshot/);
    // Still usable: contract errors do not poison the storage.
    await st.save({ hardState: null, entries: [ent(4, 1)], snapshot: null });
    await st.close();
    await assert.rejects(st.save({ hardState: hs(1, 1), entries: [], snapshot: null }), StorageError);
    assert.deepEqual((await reopen(dir)).entries, [ent(3, 1), ent(4, 1)]);
  });
});

test('a real single-node core runs on the storage, and a restarted core resumes from it', async () => {
  await withDir(async (dir) => {
    const conf: ConfState = { voters: ['a'], learners: [] };
    const cfg = { ...DEFAULT_CONFIG, id: 'a', rng: new Prng(5) };
    let st = await RaftStorage.open(dir);
    const core = new RaftCore(cfg, { ...st.load(), conf });
    const drive = async (): Promise<void> => {
      while (core.hasReady()) {
        const rd = core.ready();
        await st.save(rd);
        core.advance();
      }
    };
    await drive();
    for (let i = 0; i < 50 && core.status().role !== Role.Leader; i++) {
      core.tick();
      await drive();
    }
    assert.equal(core.status().role, Role.Leader);
    for (let i = 0; i < 5; i++) core.propose(enc(`cmd ${i}`));
    await drive();
    await st.saveSnapshot(core.createSnapshot(core.log.applied, enc('kv state')));
    for (let i = 5; i < 8; i++) core.propose(enc(`cmd ${i}`));
    await drive();
    const before = core.status();
    await st.close();

    st = await RaftStorage.open(dir);
    const parts = st.load();
    await st.close();
    assert.deepEqual(parts.snapshot?.data, enc('kv state'));
    const again = new RaftCore({ ...cfg, rng: new Prng(6) }, { ...parts, conf });
    const after = again.status();
    assert.equal(after.term, before.term);
    assert.equal(after.lastIndex, before.lastIndex);
    assert.equal(after.commit, before.commit);
    assert.equal(again.log.snapIndex, core.log.snapIndex);
    assert.deepEqual(again.log.entries, core.log.entries);
  });
});

// ------------------------------------------------------------ strict start-up

/** A storage with a snapshot at 5 (term 2), entries 6..10 (terms 2, 2, 3, 3, 3), commit 8. */
async function populated(dir: string): Promise<void> {
  const st = await RaftStorage.open(dir);
  await st.save({ hardState: hs(3, 8), entries: [...range(1, 7, 2), ...range(8, 10, 3)], snapshot: null });
  await st.saveSnapshot(snap(5, 2, 'the state machine at 5'.repeat(20)));
  await st.close();
}

const SNAP_FILE = snapshotFileName(2, 5);

async function expectCorrupt(dir: string, message: RegExp, culprit: string): Promise<void> {
  await assert.rejects(RaftStorage.open(dir), (err: unknown) => {
    assert.ok(err instanceof StorageCorruptError, `expected StorageCorruptError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.ok(err.message.includes(culprit), `message ${JSON.stringify(err.message)} does not name ${culprit}`);
    assert.ok(err.culprit.endsWith(culprit));
    return true;
  });
}

const corruptions: { name: string; damage: (dir: string) => Promise<void>; message: RegExp; culprit: (dir: string) => string }[] = [
  {
    name: 'the snapshot file the metadata names is missing',
    damage: (dir) => fsp.unlink(join(dir, 'snapshots', SNAP_FILE)),
    message: /is missing/,
    culprit: (dir) => join(dir, 'snapshots', SNAP_FILE),
  },
  {
    name: 'the snapshot file is truncated',
    damage: async (dir) => {
      const p = join(dir, 'snapshots', SNAP_FILE);
      await fsp.truncate(p, (await fsp.stat(p)).size - 7);
    },
    message: /truncated: \d+ of \d+ bytes/,
    culprit: (dir) => join(dir, 'snapshots', SNAP_FILE),
  },
  {
    name: 'the snapshot file is cut inside its header',
    damage: (dir) => fsp.truncate(join(dir, 'snapshots', SNAP_FILE), 20),
    message: /truncated: 20 bytes, shorter than the 64-byte header/,
    culprit: (dir) => join(dir, 'snapshots', SNAP_FILE),
  },
  {
    name: 'the snapshot data does not match its checksum',
    damage: async (dir) => {
      const p = join(dir, 'snapshots', SNAP_FILE);
      const b = await fsp.readFile(p);
      b[b.length - 3] ^= 0x40;
      await fsp.writeFile(p, b);
    },
    message: /checksum mismatch/,
    culprit: (dir) => join(dir, 'snapshots', SNAP_FILE),
  },
  {
    name: 'the snapshot metadata does not decode',
    damage: (dir) => rawDb(dir, (db) => db.put(SNAPSHOT_META_KEY, Uint8Array.from([1, 0, 0]))),
    message: /snapshot metadata does not decode: too short/,
    culprit: () => SNAPSHOT_META_KEY,
  },
  {
    name: 'an entry record has an unknown format version',
    damage: (dir) => rawDb(dir, (db) => db.put(entryKey(7), Uint8Array.from([9, ...encodeEntry(ent(7, 2)).subarray(1)]))),
    message: /entry record does not decode: unknown format version 9/,
    culprit: () => entryKey(7),
  },
  {
    name: 'an entry record is too short',
    damage: (dir) => rawDb(dir, (db) => db.put(entryKey(7), encodeEntry(ent(7, 2, 'abcdef')).subarray(0, 25))),
    message: /entry record does not decode: too short/,
    culprit: () => entryKey(7),
  },
  {
    name: 'an entry record holds another index than its key',
    damage: (dir) => rawDb(dir, (db) => db.put(entryKey(7), encodeEntry(ent(70, 2)))),
    message: /holds entry 70, not 7/,
    culprit: () => entryKey(7),
  },
  {
    name: 'a gap in the entry indexes',
    damage: (dir) => rawDb(dir, (db) => db.del(entryKey(8))),
    message: /gap in the log: entry 9 follows entry 7/,
    culprit: () => entryKey(9),
  },
  {
    name: 'the first entry is not right after the snapshot (one missing)',
    damage: (dir) => rawDb(dir, (db) => db.del(entryKey(6))),
    message: /the first entry is 7 but it must be 6, right after the snapshot at 5/,
    culprit: () => entryKey(7),
  },
  {
    name: 'the first entry is not right after the snapshot (a covered one left behind)',
    damage: (dir) => rawDb(dir, (db) => db.put(entryKey(5), encodeEntry(ent(5, 2)))),
    message: /the first entry is 5 but it must be 6/,
    culprit: () => entryKey(5),
  },
  {
    name: 'entry terms decrease',
    damage: (dir) => rawDb(dir, (db) => db.put(entryKey(9), encodeEntry(ent(9, 1)))),
    message: /entry 9 has term 1, below the term 3 before it/,
    culprit: () => entryKey(9),
  },
  {
    name: 'the hard state commit is beyond the last index',
    damage: (dir) => rawDb(dir, (db) => db.put(HARD_STATE_KEY, encodeHardState(hs(3, 50)))),
    message: /commit 50 is beyond the last index 10/,
    culprit: () => HARD_STATE_KEY,
  },
  {
    name: 'the hard state record does not decode',
    damage: (dir) => rawDb(dir, (db) => db.put(HARD_STATE_KEY, Uint8Array.from([1, 2, 3]))),
    message: /hard state record does not decode: too short/,
    culprit: () => HARD_STATE_KEY,
  },
  {
    name: 'the hard state record has trailing bytes',
    damage: (dir) => rawDb(dir, (db) => db.put(HARD_STATE_KEY, Uint8Array.from([...encodeHardState(hs(3, 8)), 0]))),
    message: /hard state record does not decode: 1 unexpected trailing bytes/,
    culprit: () => HARD_STATE_KEY,
  },
  {
    name: 'the hard state record is missing while entries exist',
    damage: (dir) => rawDb(dir, (db) => db.del(HARD_STATE_KEY)),
    message: /hard state term 0 is below the term 3 of the last entry \(the hard state record is missing\)/,
    culprit: () => HARD_STATE_KEY,
  },
  {
    name: 'the LevelDB database was deleted but snapshot files remain',
    damage: (dir) => fsp.rm(join(dir, 'raft.ldb'), { recursive: true }),
    message: /is missing or empty but .* holds snapshot files/,
    culprit: (dir) => join(dir, 'raft.ldb'),
  },
];

test('start-up stops with a StorageCorruptError naming the culprit, and never resets', async (t) => {
  for (const c of corruptions) {
    await t.test(c.name, async () => {
      await withDir(async (dir) => {
        await populated(dir);
        await c.damage(dir);
        await expectCorrupt(dir, c.message, c.culprit(dir));
        // Failing is all it did: the damage is still there, nothing was reset.
        await expectCorrupt(dir, c.message, c.culprit(dir));
      });
    });
  }
});

test('a repaired record opens again with the original log: the failed start-up changed nothing', async () => {
  await withDir(async (dir) => {
    await populated(dir);
    await rawDb(dir, (db) => db.put(HARD_STATE_KEY, encodeHardState(hs(3, 50))));
    await expectCorrupt(dir, /commit 50/, HARD_STATE_KEY);
    await rawDb(dir, (db) => db.put(HARD_STATE_KEY, encodeHardState(hs(3, 8))));
    const parts = await reopen(dir);
    assert.deepEqual(parts.entries, [ent(6, 2), ent(7, 2), ent(8, 3), ent(9, 3), ent(10, 3)]);
    assert.equal(parts.snapshot?.meta.index, 5);
  });
});

test('an unopenable LevelDB path gives a clear error naming it', async () => {
  await withDir(async (dir) => {
    await fsp.writeFile(join(dir, 'raft.ldb'), 'not a database');
    await expectCorrupt(dir, /is not a directory/, join(dir, 'raft.ldb'));
  });
  await withDir(async (dir) => {
    // A non-empty database directory that LevelDB does not recognise is not silently re-created.
    await fsp.mkdir(join(dir, 'raft.ldb'));
    await fsp.writeFile(join(dir, 'raft.ldb', 'junk'), 'x');
    await assert.rejects(RaftStorage.open(dir), (err: unknown) => err instanceof StorageError && err.message.includes(join(dir, 'raft.ldb')));
  });
  await withDir(async (dir) => {
    // Held by another open storage: a StorageError (not corruption) naming the path.
    const st = await RaftStorage.open(dir);
    try {
      await assert.rejects(RaftStorage.open(dir), (err: unknown) => {
        assert.ok(err instanceof StorageError && !(err instanceof StorageCorruptError), String(err));
        assert.ok(err.message.includes(join(dir, 'raft.ldb')), err.message);
        return true;
      });
    } finally {
      await st.close();
    }
  });
});

test('leftover temporary and unreferenced snapshot files are removed at open', async () => {
  await withDir(async (dir) => {
    await populated(dir);
    const sd = join(dir, 'snapshots');
    await fsp.writeFile(join(sd, `${snapshotFileName(3, 9)}.123.tmp`), 'half written');
    await fsp.writeFile(join(sd, snapshotFileName(3, 9)), 'renamed but never recorded');
    await fsp.writeFile(join(sd, 'README'), 'not ours');
    await reopen(dir);
    assert.deepEqual((await fsp.readdir(sd)).sort(), ['README', SNAP_FILE]);
  });
});

// ------------------------------------------------------------ model test

/** The same operations on an in-memory disk (as test/sim/node.ts persists them). */
class Model {
  hardState: HardState = { term: 0, vote: '', commit: 0 };
  snapshot: Snapshot | null = null;
  entries: Entry[] = [];
  get snapIndex(): number {
    return this.snapshot ? this.snapshot.meta.index : 0;
  }
  get lastIndex(): number {
    return this.entries.length > 0 ? this.entries[this.entries.length - 1].index : this.snapIndex;
  }
  termAt(i: number): number {
    return i === this.snapIndex ? (this.snapshot?.meta.term ?? 0) : this.entries[i - this.snapIndex - 1].term;
  }
  save(rd: { hardState: HardState | null; entries: Entry[]; snapshot: Snapshot | null }): void {
    if (rd.snapshot) {
      this.snapshot = rd.snapshot;
      this.entries = [];
    }
    if (rd.entries.length > 0) this.entries = this.entries.filter((e) => e.index < rd.entries[0].index).concat(rd.entries);
    if (rd.hardState) this.hardState = { ...rd.hardState };
  }
  saveSnapshot(s: Snapshot): void {
    this.snapshot = s;
    this.entries = this.entries.filter((e) => e.index > s.meta.index);
  }
  parts(): InitialStateParts {
    return { hardState: { ...this.hardState }, snapshot: this.snapshot, entries: this.entries.slice() };
  }
}

test('many random Readies, snapshots and reopens match an in-memory model (seeded)', async () => {
  await withDir(async (dir) => {
    const rng = new Prng(20240611);
    const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => rng.int(256));
    const model = new Model();
    let st = await RaftStorage.open(dir);
    let term = 1;
    let vote = 'a';
    const check = async (): Promise<void> => {
      await st.close();
      st = await RaftStorage.open(dir);
      assert.deepEqual(st.load(), model.parts());
      assert.equal(st.lastIndex, model.lastIndex);
      assert.equal(st.snapshotIndex, model.snapIndex);
      accepted(st.load());
    };
    for (let step = 1; step <= 240; step++) {
      const commit = model.hardState.commit;
      const r = rng.float();
      if (r < 0.06) {
        // A snapshot from the leader, past our commit; maybe with entries after it.
        term += rng.int(2);
        const at = Math.max(commit, model.snapIndex) + rng.range(1, 6);
        const s: Snapshot = { meta: { index: at, term, conf: { voters: ['a', 'b', rng.pick(['c', 'd'])], learners: [] } }, data: bytes(rng.int(300)) };
        const entries = Array.from({ length: rng.int(3) }, (_, i) => ({ index: at + 1 + i, term, type: EntryType.Normal, data: bytes(rng.int(20)) }));
        const rd = { snapshot: s, entries, hardState: { term, vote, commit: at } };
        await st.save(rd);
        model.save(rd);
      } else if (r < 0.14 && commit > model.snapIndex) {
        const at = rng.range(model.snapIndex + 1, commit);
        const s: Snapshot = { meta: { index: at, term: model.termAt(at), conf: CONF }, data: bytes(rng.int(200)) };
        await st.saveSnapshot(s);
        model.saveSnapshot(s);
      } else {
        let hardState: HardState | null = null;
        if (rng.chance(0.15)) {
          term++;
          vote = rng.pick(['a', 'b', 'c', '']);
          hardState = { term, vote, commit };
        }
        // Append, or overwrite an uncommitted suffix.
        const lo = Math.max(commit, model.snapIndex) + 1;
        const from = rng.chance(0.25) ? rng.range(lo, model.lastIndex + 1) : model.lastIndex + 1;
        const entries = Array.from({ length: rng.int(5) }, (_, i) => ({
          index: from + i,
          term,
          type: rng.chance(0.1) ? EntryType.ConfChange : EntryType.Normal,
          data: bytes(rng.int(40)),
        }));
        const last = entries.length > 0 ? from + entries.length - 1 : model.lastIndex;
        if (rng.chance(0.5) && last > commit) hardState = { term, vote, commit: rng.range(commit + 1, last) };
        // A new term must reach the disk with (or before) the first entry of that term.
        if (!hardState && model.hardState.term !== term) hardState = { term, vote, commit };
        const rd = { hardState, entries, snapshot: null };
        await st.save(rd);
        model.save(rd);
      }
      if (step % 60 === 0) await check();
    }
    await check();
    await st.close();
    assert.ok(model.snapIndex > 0 && model.entries.length > 0, 'the run exercised snapshots and a log');
    const files = await fsp.readdir(join(dir, 'snapshots'));
    assert.deepEqual(files, [snapshotFileName(model.snapshot!.meta.term, model.snapIndex)]);
  });
});

// ------------------------------------------------------------ durability

test('kill -9 of a writer loses no acknowledged entry', async () => {
  await withDir(async (dir) => {
    const script = fileURLToPath(new URL('./fixtures/storage-writer.js', import.meta.url));
    const child = spawn(process.execPath, [script, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
    const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
    // Let it run ~300 ms once it is writing, then pull the plug.
    const deadline = Date.now() + 2000;
    while (!out.includes('\n') && Date.now() < deadline && child.exitCode === null) await new Promise((r) => setTimeout(r, 10));
    assert.ok(out.includes('\n'), `the writer acknowledged nothing: ${err}`);
    await new Promise((r) => setTimeout(r, 300));
    child.kill('SIGKILL');
    await exited;
    assert.equal(child.signalCode, 'SIGKILL', `the writer stopped by itself: ${err}`);

    // Only complete lines are acknowledgements.
    const acked = out.split('\n').slice(0, -1).map(Number);
    assert.deepEqual(acked, acked.map((_, i) => i + 1), 'acknowledgements are 1, 2, 3, ...');
    const top = acked[acked.length - 1];

    const st = await RaftStorage.open(dir);
    const parts = st.load();
    await st.close();
    const snapIndex = parts.snapshot ? parts.snapshot.meta.index : 0;
    if (parts.snapshot) {
      assert.deepEqual(parts.snapshot.meta, { index: snapIndex, term: writerTerm(snapIndex), conf: WRITER_CONF });
      assert.deepEqual(parts.snapshot.data, writerSnapshotData(snapIndex));
      assert.ok(snapIndex <= top, 'a snapshot is only taken of acknowledged entries');
    }
    assert.ok(top >= SNAPSHOT_LAG, `too few writes to mean anything (${top})`);
    const byIndex = new Map(parts.entries.map((e) => [e.index, e]));
    for (let i = snapIndex + 1; i <= top; i++) assert.deepEqual(byIndex.get(i), writerEntry(i), `acknowledged entry ${i}`);
    // At most the Ready in flight when it died went further.
    assert.ok(parts.entries.length === 0 || parts.entries[parts.entries.length - 1].index <= top + 1);
    assert.ok(parts.hardState.commit >= top - 1);
    accepted(parts, 'w');
  });
});
