// Snapshots: log compaction, shipping a snapshot to a follower that fell
// behind the compaction point, restarting from a snapshot, and refusing
// corrupt durable state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../src/testing/prng.js';
import { RaftCore, emptyMessage } from '../../src/raft/core/raft.js';
import {
  DEFAULT_CONFIG,
  EntryType,
  MessageType,
  type Entry,
  type HardState,
  type InitialState,
  type NodeId,
  type Snapshot,
} from '../../src/raft/types.js';
import { TestCluster, dec, enc, forceCampaign, recorder } from './cluster.js';

const logOf = (cl: TestCluster, id: NodeId): string[] => cl.core(id).log.entries.map((e) => `${e.index}/${e.term}/${dec(e.data)}`);

function grow(cl: TestCluster, leader: NodeId, n: number, prefix: string): void {
  for (let i = 0; i < n; i++) {
    cl.core(leader).propose(enc(`${prefix}${i}`));
    cl.stabilize();
  }
}

test('createSnapshot compacts the log: firstIndex moves past the snapshot, the rest stays', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 1);
  cl.elect('a');
  grow(cl, 'a', 10, 'v');
  cl.tickAll(1);
  const a = cl.core('a');
  const applied = a.status().applied;
  const last = a.log.lastIndex();
  const idx = applied - 3;
  const termAt = a.log.term(idx);
  const after = a.log.entries.filter((e) => e.index > idx).map((e) => `${e.index}/${e.term}`);
  const snap = cl.compact('a', idx);
  assert.equal(snap.meta.index, idx);
  assert.equal(snap.meta.term, termAt);
  assert.deepEqual(snap.meta.conf.voters, ['a', 'b', 'c']);
  assert.equal(a.status().firstIndex, idx + 1);
  assert.equal(a.log.lastIndex(), last);
  assert.equal(a.log.term(idx), termAt, 'the term at the snapshot index stays known');
  assert.equal(a.log.entry(idx), undefined);
  assert.equal(a.log.term(idx - 1), -1, 'entries before the snapshot are gone');
  assert.deepEqual(
    a.log.entries.map((e) => `${e.index}/${e.term}`),
    after,
  );
  // The cluster keeps working after compaction.
  grow(cl, 'a', 2, 'w');
  cl.tickAll(1);
  assert.deepEqual(logOf(cl, 'b').slice(-2), logOf(cl, 'a').slice(-2));
  // A second, later snapshot moves firstIndex again.
  cl.compact('a', a.status().applied);
  assert.equal(a.status().firstIndex, a.status().applied + 1);
});

test('createSnapshot beyond the applied index, or not after the current snapshot, is refused', () => {
  const cl = new TestCluster(['a'], {}, 2);
  cl.elect('a');
  grow(cl, 'a', 3, 'x');
  const a = cl.core('a');
  const applied = a.status().applied;
  assert.throws(() => a.createSnapshot(applied + 1, enc('s')), { name: 'InvalidRequestError' });
  // Committed and durable but not yet handed out for applying: still refused.
  a.propose(enc('y'));
  const rd1 = a.ready();
  a.advance();
  assert.ok(rd1.entries.length > 0);
  assert.ok(a.log.committed > a.log.applied, 'setup: committed but not applied');
  assert.throws(() => a.createSnapshot(a.log.committed, enc('s')), { name: 'InvalidRequestError' });
  assert.equal(a.status().firstIndex, 1, 'a refused snapshot must not compact anything');
  // A valid one, then the same index (or an older one) again.
  cl.stabilize();
  const snapAt = a.status().applied - 1;
  a.createSnapshot(snapAt, enc('s'));
  assert.throws(() => a.createSnapshot(snapAt, enc('s')), { name: 'InvalidRequestError' });
  assert.throws(() => a.createSnapshot(snapAt - 1, enc('s')), { name: 'InvalidRequestError' });
  assert.equal(a.status().firstIndex, snapAt + 1);
});

test('a follower behind the compaction point receives a Snap, installs it, then replicates normally', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 3);
  cl.elect('a');
  grow(cl, 'a', 3, 'before');
  cl.tickAll(1);
  cl.isolate('c');
  grow(cl, 'a', 20, 'gap');
  cl.tickAll(1);
  const a = cl.core('a');
  const snap = cl.compact('a', a.status().applied);
  assert.ok(snap.meta.index > cl.core('c').log.lastIndex() + 1, 'setup: c is behind the compaction point');
  cl.clearFilters();
  const msgs = recorder(cl);
  // Traffic resumes; the leader finds that c needs entries it no longer has.
  cl.tickAll(2);
  grow(cl, 'a', 1, 'resume');
  cl.tickAll(2);
  const snaps = msgs.filter((m) => m.type === MessageType.Snap && m.to === 'c');
  assert.equal(snaps.length, 1, 'exactly one snapshot should have been shipped');
  assert.equal(snaps[0].snapshot?.meta.index, snap.meta.index);
  const c = cl.core('c');
  assert.equal(c.log.snapIndex, snap.meta.index);
  assert.equal(c.log.snapTerm, snap.meta.term);
  assert.equal(c.status().firstIndex, snap.meta.index + 1);
  assert.deepEqual(logOf(cl, 'c'), logOf(cl, 'a'), 'entries after the snapshot must match the leader');
  assert.equal(c.log.committed, a.log.committed);
  assert.equal(c.status().applied, a.log.committed);
  assert.deepEqual(c.status().conf, a.status().conf);
  // The snapshot was persisted.
  assert.equal(cl.disks.get('c')!.snapshot?.meta.index, snap.meta.index);
  // After it, replication goes on by App.
  const before = msgs.length;
  grow(cl, 'a', 3, 'after');
  cl.tickAll(1);
  const later = msgs.slice(before);
  assert.ok(later.some((m) => m.type === MessageType.App && m.to === 'c' && m.entries.length > 0));
  assert.ok(!later.some((m) => m.type === MessageType.Snap));
  assert.deepEqual(logOf(cl, 'c'), logOf(cl, 'a'));
  assert.deepEqual(
    cl.applied.get('c')!.map((e) => dec(e.data)),
    ['before0', 'before1', 'before2', 'resume0', 'after0', 'after1', 'after2'],
    'c applies what it had before, then only what comes after the snapshot',
  );
  assert.equal(a.status().progress.c.state, 'replicate');
});

test('the Ready that installs a snapshot on a follower carries its acknowledgement, and applied jumps to it', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 4);
  cl.elect('a');
  grow(cl, 'a', 5, 'x');
  cl.tickAll(1);
  const snap = cl.compact('a', cl.core('a').status().applied);
  // Hand-deliver a Snap to a brand-new, empty node that is told it is a member.
  cl.stop('c');
  cl.disks.set('c', { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [] });
  const c = cl.start('c');
  const a = cl.core('a');
  c.step({ ...emptyMessage(MessageType.Snap, 'a', 'c', a.term), snapshot: snap });
  const rd = c.ready();
  assert.equal(rd.snapshot?.meta.index, snap.meta.index);
  const ack = rd.messages.find((m) => m.type === MessageType.AppResp);
  assert.ok(ack);
  assert.equal(ack.reject, false);
  assert.equal(ack.index, snap.meta.index);
  assert.equal(rd.committedEntries.length, 0, 'entries covered by the snapshot are not handed out again');
  c.advance();
  assert.equal(c.status().applied, snap.meta.index);
  assert.equal(c.log.committed, snap.meta.index);
  assert.deepEqual(c.status().conf.voters, ['a', 'b', 'c']);
  assert.equal(c.hasReady(), false);
});

test('a snapshot the follower already covers is not installed (only its commit moves)', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 5);
  cl.elect('a');
  cl.addFilter((m) => m.type !== MessageType.AppResp || m.from !== 'b');
  grow(cl, 'a', 5, 'x');
  cl.tickAll(1);
  cl.clearFilters();
  const b = cl.core('b');
  const a = cl.core('a');
  const snap = cl.compact('a', a.status().applied);
  const bLog = logOf(cl, 'b');
  b.step({ ...emptyMessage(MessageType.Snap, 'a', 'b', a.term), snapshot: snap });
  const rd = b.ready();
  assert.equal(rd.snapshot, null, 'b already holds the snapshot\'s entries: nothing to install');
  b.advance();
  assert.deepEqual(logOf(cl, 'b'), bLog);
  assert.ok(b.log.committed >= snap.meta.index);
});

test('a restart from a disk holding a snapshot and later entries restores term, vote, commit, log and membership', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 6);
  cl.elect('a');
  grow(cl, 'a', 8, 'x');
  cl.tickAll(1);
  const b = cl.core('b');
  const snap = cl.compact('b', b.status().applied - 2);
  grow(cl, 'a', 4, 'y');
  cl.tickAll(1);
  const before = { term: b.term, vote: b.vote, commit: b.log.committed, log: logOf(cl, 'b'), last: b.log.lastIndex() };
  cl.stop('b');
  const disk = cl.disks.get('b')!;
  assert.equal(disk.snapshot?.meta.index, snap.meta.index);
  assert.equal(disk.entries[0].index, snap.meta.index + 1);
  const b2 = cl.start('b');
  assert.equal(b2.term, before.term);
  assert.equal(b2.vote, before.vote);
  assert.equal(b2.log.committed, before.commit);
  assert.equal(b2.log.snapIndex, snap.meta.index);
  assert.equal(b2.log.snapTerm, snap.meta.term);
  assert.equal(b2.log.lastIndex(), before.last);
  assert.deepEqual(logOf(cl, 'b'), before.log);
  assert.deepEqual(b2.status().conf.voters, ['a', 'b', 'c'], 'membership comes from the snapshot');
  // Entries after the snapshot are handed out again for applying (the app restored the snapshot).
  assert.equal(b2.status().applied, snap.meta.index);
  const rd = b2.ready();
  assert.deepEqual(
    rd.committedEntries.map((e) => e.index),
    Array.from({ length: before.commit - snap.meta.index }, (_, i) => snap.meta.index + 1 + i),
  );
  assert.equal(rd.entries.length, 0, 'nothing to re-persist after a restart');
  b2.advance();
  // It rejoins and keeps replicating.
  cl.stabilize();
  grow(cl, 'a', 2, 'z');
  cl.tickAll(1);
  assert.deepEqual(logOf(cl, 'b'), logOf(cl, 'a').filter((s) => Number(s.split('/')[0]) > snap.meta.index));
});

test('a restart from a disk holding only a snapshot (no entries after it) works', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 7);
  cl.elect('a');
  grow(cl, 'a', 3, 'x');
  cl.tickAll(1);
  const c = cl.core('c');
  const idx = c.status().applied;
  assert.equal(idx, c.log.lastIndex());
  cl.compact('c', idx);
  cl.stop('c');
  const c2 = cl.start('c');
  assert.equal(c2.log.lastIndex(), idx);
  assert.equal(c2.log.entries.length, 0);
  assert.equal(c2.log.committed, idx);
  cl.stabilize();
  grow(cl, 'a', 2, 'y');
  cl.tickAll(1);
  assert.deepEqual(logOf(cl, 'c'), logOf(cl, 'a').filter((s) => Number(s.split('/')[0]) > idx));
});

// ------------------------------------------------------------ corrupt state

const ent = (index: number, term: number): Entry => ({ index, term, type: EntryType.Normal, data: new Uint8Array(0) });
const hs = (term: number, commit: number, vote = ''): HardState => ({ term, vote, commit });
const snapAt = (index: number, term: number): Snapshot => ({ meta: { index, term, conf: { voters: ['a', 'b', 'c'], learners: [] } }, data: new Uint8Array(0) });

function build(init: InitialState): RaftCore {
  return new RaftCore({ ...DEFAULT_CONFIG, id: 'a', rng: new Prng(1) }, init);
}
const noConf = { voters: [], learners: [] };

test('a well-formed initial state is accepted', () => {
  const core = build({ hardState: hs(3, 4), snapshot: snapAt(2, 2), entries: [ent(3, 2), ent(4, 3), ent(5, 3)], conf: noConf });
  assert.equal(core.log.lastIndex(), 5);
  assert.equal(core.log.committed, 4);
  assert.equal(core.term, 3);
});

test('corrupt initial state is refused with CorruptStateError', () => {
  const cases: [string, InitialState][] = [
    ['commit beyond the last index', { hardState: hs(2, 4), snapshot: null, entries: [ent(1, 1), ent(2, 2), ent(3, 2)], conf: noConf }],
    ['commit beyond the last index (snapshot only)', { hardState: hs(2, 6), snapshot: snapAt(5, 2), entries: [], conf: noConf }],
    ['gap in the entries', { hardState: hs(2, 1), snapshot: null, entries: [ent(1, 1), ent(2, 1), ent(4, 2)], conf: noConf }],
    ['entries not starting at 1', { hardState: hs(2, 0), snapshot: null, entries: [ent(2, 1), ent(3, 1)], conf: noConf }],
    ['entries not starting right after the snapshot', { hardState: hs(2, 5), snapshot: snapAt(5, 2), entries: [ent(7, 2)], conf: noConf }],
    ['entries overlapping the snapshot', { hardState: hs(2, 5), snapshot: snapAt(5, 2), entries: [ent(5, 2), ent(6, 2)], conf: noConf }],
    ['decreasing terms', { hardState: hs(3, 1), snapshot: null, entries: [ent(1, 1), ent(2, 3), ent(3, 2)], conf: noConf }],
    ['first entry older than the snapshot term', { hardState: hs(3, 5), snapshot: snapAt(5, 3), entries: [ent(6, 2)], conf: noConf }],
    ['hard state term below the last entry term', { hardState: hs(1, 1), snapshot: null, entries: [ent(1, 1), ent(2, 2)], conf: noConf }],
    ['duplicate index', { hardState: hs(2, 1), snapshot: null, entries: [ent(1, 1), ent(1, 1)], conf: noConf }],
  ];
  for (const [name, init] of cases) {
    assert.throws(() => build(init), { name: 'CorruptStateError' }, name);
  }
});

/**
 * c holds an uncommitted tail from a deposed leader that is LONGER than the new leader's log; the
 * new leader compacted its whole log, so c gets a snapshot. Installing it replaces c's whole log in
 * memory (RaftLog.restore); returns the cluster right after c carried out that Ready.
 */
function installOverStaleTail(): { cl: TestCluster; snap: Snapshot; oldTerm: number } {
  const cl = new TestCluster(['a', 'b', 'c', 'd', 'e'], {}, 8);
  cl.elect('a');
  cl.tickAll(1);
  const oldTerm = cl.core('a').term;
  cl.addFilter((m) => !(m.from === 'a' && m.to !== 'c') && !(m.from === 'c' && m.to === 'a'));
  for (let i = 0; i < 5; i++) cl.core('a').propose(enc(`stale${i}`));
  cl.stabilize();
  cl.stop('a');
  cl.clearFilters();
  cl.isolate('c');
  forceCampaign(cl, 'b');
  assert.equal(cl.core('b').role, 'leader');
  grow(cl, 'b', 2, 'new');
  cl.tickAll(1);
  const b = cl.core('b');
  const snap = cl.compact('b', b.status().applied);
  assert.ok(snap.meta.index < cl.core('c').log.lastIndex(), 'setup: c\'s stale tail reaches beyond the snapshot');
  assert.equal(cl.core('c').log.lastTerm(), oldTerm);
  cl.clearFilters();
  cl.tickAll(2);
  const c = cl.core('c');
  assert.equal(c.log.snapIndex, snap.meta.index, 'setup: c installed the snapshot');
  assert.equal(c.log.lastIndex(), snap.meta.index, 'setup: c holds nothing after the snapshot');
  return { cl, snap, oldTerm };
}

test('after installing a snapshot over a conflicting tail, storage holds no entry the core discarded', () => {
  const { cl } = installOverStaleTail();
  const c = cl.core('c');
  const disk = cl.disks.get('c')!;
  assert.deepEqual(
    disk.entries.map((e) => `${e.index}/${e.term}`),
    c.log.entries.map((e) => `${e.index}/${e.term}`),
    'entries of the replaced log are still stored after the installed snapshot',
  );
});

test('a follower that installed a snapshot over a conflicting tail can restart from its disk', () => {
  const { cl, snap } = installOverStaleTail();
  cl.stop('c');
  const c2 = cl.start('c');
  assert.equal(c2.log.snapIndex, snap.meta.index);
  assert.equal(c2.log.lastIndex(), snap.meta.index);
});
