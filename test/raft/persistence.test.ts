// The persistence contract of Ready/advance: what must be durable before a
// message leaves, when the leader may count itself, restarts from what was
// persisted, and stepping between ready() and advance().
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../src/testing/prng.js';
import { RaftCore, emptyMessage } from '../../src/raft/core/raft.js';
import { DEFAULT_CONFIG, EntryType, MessageType, Role, type Entry, type Message, type NodeId, type Ready } from '../../src/raft/types.js';
import { TestCluster, carryOut, enc, processReady, type MemDisk } from './cluster.js';

const ent = (index: number, term: number, data = ''): Entry => ({ index, term, type: EntryType.Normal, data: enc(data) });

function app(from: NodeId, to: NodeId, term: number, prevIndex: number, prevTerm: number, entries: Entry[], commit: number): Message {
  return { ...emptyMessage(MessageType.App, from, to, term), index: prevIndex, logTerm: prevTerm, entries, commit };
}

/** A founding member of a, b, c whose bootstrap Ready has been carried out. */
function follower(id: NodeId): RaftCore {
  const core = new RaftCore(
    { ...DEFAULT_CONFIG, id, rng: new Prng(3) },
    { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [], conf: { voters: ['a', 'b', 'c'], learners: [] } },
  );
  core.ready();
  core.advance();
  return core;
}

/** A disk model that applies Readies as the runtime must. */
class Disk {
  entries: Entry[] = [];
  apply(rd: Ready): void {
    if (rd.entries.length > 0) {
      const first = rd.entries[0].index;
      this.entries = this.entries.filter((e) => e.index < first).concat(rd.entries);
    }
  }
  terms(): string {
    return this.entries.map((e) => `${e.index}/${e.term}`).join(' ');
  }
}

const termsOf = (core: RaftCore): string => core.log.entries.map((e) => `${e.index}/${e.term}`).join(' ');

// ------------------------------------------------------------- deterministic

test('a follower\'s AppResp accepting index i comes in the Ready that persists every entry up to i', () => {
  const b = follower('b');
  const last = b.log.lastIndex();
  const t = b.term + 1;
  b.step(app('a', 'b', t, last, b.log.lastTerm(), [ent(last + 1, t), ent(last + 2, t)], last));
  b.step(app('a', 'b', t, last + 2, t, [ent(last + 3, t)], last));
  const rd = b.ready();
  const acks = rd.messages.filter((m) => m.type === MessageType.AppResp && !m.reject);
  assert.deepEqual(acks.map((m) => m.index), [last + 2, last + 3]);
  assert.deepEqual(rd.entries.map((e) => e.index), [last + 1, last + 2, last + 3]);
  assert.equal(rd.hardState?.term, t, 'the new term is persisted with the acknowledgement');
  b.advance();
  // Nothing is persisted twice.
  b.step(app('a', 'b', t, last + 3, t, [ent(last + 4, t)], last + 3));
  const rd2 = b.ready();
  assert.deepEqual(rd2.entries.map((e) => e.index), [last + 4]);
  assert.equal(rd2.messages.find((m) => m.type === MessageType.AppResp)?.index, last + 4);
  b.advance();
});

test('a single-node leader commits its proposal only in the Ready after the one that persists it', () => {
  const cl = new TestCluster(['a'], {}, 1);
  cl.elect('a');
  cl.stabilize();
  const a = cl.core('a');
  const pos = a.propose(enc('x'));
  const rd1 = a.ready();
  assert.ok(rd1.entries.some((e) => e.index === pos.index), 'the proposal is persisted first');
  assert.ok(!rd1.committedEntries.some((e) => e.index === pos.index), 'applied before it was durable');
  assert.ok((rd1.hardState?.commit ?? 0) < pos.index);
  assert.ok(a.log.committed < pos.index, 'the leader counted itself before advance()');
  carryOut(cl, 'a', rd1);
  a.advance();
  assert.ok(a.log.committed >= pos.index);
  const rd2 = a.ready();
  assert.ok(rd2.committedEntries.some((e) => e.index === pos.index));
  assert.ok((rd2.hardState?.commit ?? 0) >= pos.index);
  assert.equal(rd2.entries.length, 0);
  carryOut(cl, 'a', rd2);
  a.advance();
});

test('a leader whose own write is needed for the quorum does not commit on a follower\'s ack before advance()', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 2);
  cl.elect('a');
  cl.tickAll(1);
  cl.stop('c');
  const a = cl.core('a');
  const pos = a.propose(enc('x'));
  const rd = a.ready();
  carryOut(cl, 'a', rd);
  // Deliver the App to b and b's ack to a while a's own write is still "in progress".
  const toB = cl.sent.filter((m) => m.to === 'b');
  cl.sent = [];
  for (const m of toB) cl.core('b').step(m);
  processReady(cl, 'b');
  const acks = cl.sent.filter((m) => m.to === 'a');
  cl.sent = [];
  for (const m of acks) a.step(m);
  assert.ok(acks.some((m) => m.type === MessageType.AppResp && m.index >= pos.index));
  assert.ok(a.log.committed < pos.index, 'committed with b alone (1 of 3) before its own write finished');
  a.advance();
  assert.ok(a.log.committed >= pos.index, 'a and b hold it durably: it should be committed now');
});

test('stepping between ready() and advance() is allowed; an entry truncated in between is re-persisted next', () => {
  const b = follower('b');
  const disk = new Disk();
  disk.entries = b.log.entries.slice();
  const base = b.log.lastIndex();
  const t2 = b.term + 1;
  b.step(app('a', 'b', t2, base, b.log.lastTerm(), [ent(base + 1, t2), ent(base + 2, t2), ent(base + 3, t2)], base));
  const rd1 = b.ready();
  assert.deepEqual(rd1.entries.map((e) => e.index), [base + 1, base + 2, base + 3]);
  // Before advance(): a leader of a newer term replaces base+2 and base+3.
  const t3 = t2 + 1;
  b.step(app('c', 'b', t3, base + 1, t2, [ent(base + 2, t3)], base));
  disk.apply(rd1);
  b.advance();
  const rd2 = b.ready();
  assert.ok(rd2.entries.some((e) => e.index === base + 2 && e.term === t3), 'the replacing entry was not handed out for persisting');
  disk.apply(rd2);
  b.advance();
  assert.equal(disk.terms(), termsOf(b), 'what is on disk differs from the log');
  const ack = rd2.messages.find((m) => m.type === MessageType.AppResp && m.to === 'c');
  assert.equal(ack?.index, base + 2);
  assert.equal(rd2.hardState?.term, t3);
  assert.equal(b.hasReady(), false);
});

test('an entry persisted earlier and truncated between a later ready() and advance() is re-persisted', () => {
  const b = follower('b');
  const disk = new Disk();
  disk.entries = b.log.entries.slice();
  const base = b.log.lastIndex();
  const t2 = b.term + 1;
  b.step(app('a', 'b', t2, base, b.log.lastTerm(), [ent(base + 1, t2), ent(base + 2, t2)], base));
  let rd = b.ready();
  disk.apply(rd);
  b.advance();
  b.step(app('a', 'b', t2, base + 2, t2, [ent(base + 3, t2)], base));
  rd = b.ready();
  // In between: base+2 (durable since the first Ready) and base+3 are replaced.
  const t3 = t2 + 1;
  b.step(app('c', 'b', t3, base + 1, t2, [ent(base + 2, t3)], base));
  disk.apply(rd);
  b.advance();
  rd = b.ready();
  disk.apply(rd);
  b.advance();
  assert.equal(disk.terms(), termsOf(b));
});

test('entries appended between ready() and advance() come out in the next Ready, and only they', () => {
  const b = follower('b');
  const base = b.log.lastIndex();
  const t = b.term + 1;
  b.step(app('a', 'b', t, base, b.log.lastTerm(), [ent(base + 1, t), ent(base + 2, t)], base));
  const rd1 = b.ready();
  b.step(app('a', 'b', t, base + 2, t, [ent(base + 3, t)], base));
  b.advance();
  const rd2 = b.ready();
  assert.deepEqual(rd1.entries.map((e) => e.index), [base + 1, base + 2]);
  assert.deepEqual(rd2.entries.map((e) => e.index), [base + 3]);
  assert.equal(rd2.messages.find((m) => m.type === MessageType.AppResp)?.index, base + 3);
  b.advance();
});

test('a vote granted between ready() and advance() is persisted in the next Ready', () => {
  const b = follower('b');
  b.tick();
  const rd1 = b.ready();
  const t = b.term + 1;
  b.step({ ...emptyMessage(MessageType.Vote, 'c', 'b', t), index: b.log.lastIndex(), logTerm: b.log.lastTerm() });
  b.advance();
  assert.equal(rd1.hardState, null);
  const rd2 = b.ready();
  assert.equal(rd2.hardState?.vote, 'c');
  assert.equal(rd2.hardState?.term, t);
  assert.ok(rd2.messages.some((m) => m.type === MessageType.VoteResp && !m.reject));
  b.advance();
});

test('ready() twice without advance() throws; advance() without ready() throws', () => {
  const b = follower('b');
  b.step(app('a', 'b', b.term + 1, b.log.lastIndex(), b.log.lastTerm(), [ent(b.log.lastIndex() + 1, b.term + 1)], 0));
  b.ready();
  assert.throws(() => b.ready());
  b.advance();
  assert.throws(() => b.advance());
  assert.equal(b.hasReady(), false);
});

test('a Ready reports hardState only when it changed', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 3);
  cl.elect('a');
  cl.tickAll(1);
  const b = cl.core('b');
  assert.equal(b.hasReady(), false);
  // A heartbeat alone changes nothing durable on b.
  cl.core('a').tick();
  const rdA = cl.core('a').ready();
  carryOut(cl, 'a', rdA);
  cl.core('a').advance();
  for (const m of cl.sent.filter((x) => x.to === 'b')) b.step(m);
  cl.sent = cl.sent.filter((x) => x.to !== 'b');
  const rd = b.ready();
  assert.equal(rd.hardState, null);
  assert.equal(rd.entries.length, 0);
  b.advance();
});

// ---------------------------------------------------------- randomized check

interface Opts {
  seed: number;
  steps: number;
  dropRate: number;
  /** After a node's Ready is carried out, restart it: 'none', 'followers' (leaders and candidates are spared) or a probability. */
  restartAfterReady: 'none' | 'followers' | number;
  /** Probability of a crash right after a step, before its Ready is persisted (state since the last Ready is lost). */
  crashBeforePersist: number;
  /** Probability, per event, that a random node compacts its log up to what it has applied. */
  compactRate?: number;
}

/**
 * Drive a cluster one event at a time (deliver one message in random order, or
 * tick one node, or propose), carrying out the recipient's Ready right after
 * each event, and check the persistence contract on every Ready.
 */
function runContract(o: Opts): { cl: TestCluster; committed: Map<number, string> } {
  const ids = ['a', 'b', 'c'];
  const cl = new TestCluster(ids, { maxEntriesPerMsg: 3, maxInflight: 4 }, o.seed);
  const rng = new Prng(o.seed * 7919 + 13);
  const queue: Message[] = [];
  const committed = new Map<number, string>(); // index -> term/data of everything any node applied
  let proposed = 0;
  const diskTerm = (d: MemDisk, i: number): number => {
    if (d.snapshot && d.snapshot.meta.index === i) return d.snapshot.meta.term;
    const e = d.entries.find((x) => x.index === i);
    return e ? e.term : -1;
  };
  /** Entries inside a snapshot are committed state: held, whatever their term. */
  const inSnapshot = (d: MemDisk, i: number): boolean => d.snapshot !== null && i <= d.snapshot.meta.index;
  const where = (id: NodeId, what: string): string => `seed ${o.seed}: ${id}: ${what}`;

  let healing = false;
  let checking = false; // the founders' bootstrap entries are committed by construction: check from the first event on
  const handle = (id: NodeId, mayRestart = true): void => {
    const core = cl.cores.get(id);
    if (!core || !core.hasReady()) return;
    const rd = core.ready();
    carryOut(cl, id, rd); // persist (and queue the messages, which we take below)
    const disk = cl.disks.get(id)!;
    const onDisk = new Map(disk.entries.map((e) => [e.index, e.term]));
    // 1. What the messages claim must be durable now.
    for (const m of rd.messages) {
      if (m.type === MessageType.AppResp && !m.reject && m.term === core.term) {
        for (let i = 1; i <= m.index; i++) {
          if (inSnapshot(disk, i)) continue;
          if (onDisk.get(i) === core.log.term(i) || (disk.snapshot?.meta.index === i && disk.snapshot.meta.term === core.log.term(i))) continue;
          assert.equal(diskTerm(disk, i), core.log.term(i), where(id, `acks ${m.index} to ${m.to} but entry ${i} is not durable as in its log`));
        }
      }
      if (m.type === MessageType.VoteResp && !m.reject) {
        assert.equal(disk.hardState.term, m.term, where(id, `grants a vote in term ${m.term} with durable term ${disk.hardState.term}`));
        assert.equal(disk.hardState.vote, m.to, where(id, `grants a vote to ${m.to} with durable vote '${disk.hardState.vote}'`));
      }
      if (m.type === MessageType.Vote) {
        assert.equal(disk.hardState.term, m.term, where(id, 'asks for votes before persisting its term'));
        assert.equal(disk.hardState.vote, id, where(id, 'asks for votes before persisting its self-vote'));
      }
    }
    // 2. Applied entries: durable on a majority, agreed by everyone, and the durable commit covers them.
    for (const e of rd.committedEntries) {
      if (!checking) continue;
      const holders = ids.filter((n) => inSnapshot(cl.disks.get(n)!, e.index) || diskTerm(cl.disks.get(n)!, e.index) === e.term).length;
      assert.ok(holders >= 2, where(id, `applies ${e.index}/${e.term} held durably by only ${holders} node(s)`));
      const key = `${e.term}/${Buffer.from(e.data).toString('hex')}`;
      const prev = committed.get(e.index);
      assert.ok(prev === undefined || prev === key, where(id, `applies ${key} at ${e.index} where another node applied ${prev}`));
      committed.set(e.index, key);
    }
    if (rd.committedEntries.length > 0) {
      const top = rd.committedEntries[rd.committedEntries.length - 1].index;
      assert.ok(disk.hardState.commit >= top, where(id, `applies up to ${top} with durable commit ${disk.hardState.commit}`));
    }
    core.advance();
    queue.push(...cl.sent);
    cl.sent = [];
    // 3. A restart right after a Ready loses nothing.
    const restart =
      mayRestart &&
      !healing &&
      (o.restartAfterReady === 'followers' ? core.role === Role.Follower : typeof o.restartAfterReady === 'number' && rng.float() < o.restartAfterReady);
    if (restart) {
      const before = { term: core.term, vote: core.vote, log: termsOf(core) };
      const commit = core.log.committed; // may already be past the durable commit (a leader learns in advance())
      cl.stop(id);
      const again = cl.start(id);
      assert.deepEqual(
        { term: again.term, vote: again.vote, log: termsOf(again) },
        before,
        where(id, 'durable state after a restart differs from the state it acknowledged'),
      );
      assert.equal(again.log.committed, disk.hardState.commit);
      assert.ok(again.log.committed <= commit);
      handle(id, false);
    }
  };

  const maybeCrash = (id: NodeId): boolean => {
    if (healing || rng.float() >= o.crashBeforePersist) return false;
    cl.stop(id);
    cl.start(id);
    handle(id, false);
    return true;
  };

  for (const id of ids) handle(id, false);
  checking = true;
  for (let step = 0; step < o.steps; step++) {
    const r = rng.float();
    if (r < 0.55 && queue.length > 0) {
      const m = queue.splice(rng.int(queue.length), 1)[0];
      if (rng.float() < o.dropRate) continue;
      if (rng.float() < 0.03) queue.push(m); // duplicate
      const to = cl.cores.get(m.to);
      if (!to) continue;
      to.step(m);
      if (!maybeCrash(m.to)) handle(m.to);
    } else if (o.compactRate && r >= 0.55 && r < 0.55 + o.compactRate) {
      const id = ids[rng.int(ids.length)];
      const core = cl.core(id);
      const upTo = Math.min(core.status().applied, core.log.stable);
      if (upTo > core.log.snapIndex) cl.compact(id, upTo);
    } else if (r < 0.85) {
      const id = ids[rng.int(ids.length)];
      cl.core(id).tick();
      if (!maybeCrash(id)) handle(id);
    } else {
      const leader = cl.leader();
      if (!leader) continue;
      try {
        leader.propose(enc(`p${proposed++}`));
      } catch {
        continue; // e.g. a transfer in progress or back-pressure
      }
      if (!maybeCrash(leader.id)) handle(leader.id);
    }
  }
  // Heal: no more drops or crashes; deliver everything in order and tick.
  healing = true;
  for (let round = 0; round < 100; round++) {
    for (let n = 0; queue.length > 0; n++) {
      assert.ok(n < 20_000, `seed ${o.seed}: messages keep bouncing without ticks (livelock)`);
      const m = queue.shift()!;
      const to = cl.cores.get(m.to);
      if (!to) continue;
      to.step(m);
      handle(m.to);
    }
    for (const id of ids) {
      cl.core(id).tick();
      handle(id);
    }
  }
  if (process.env.RAFT_TEST_DEBUG) console.log(`seed ${o.seed}: applied ${committed.size}, proposed ${proposed}, last ${cl.leader()?.log.lastIndex()}`);
  return { cl, committed };
}

function assertConverged(cl: TestCluster, committed: Map<number, string>, seed: number): void {
  const leader = cl.leader();
  assert.ok(leader, `seed ${seed}: no leader after healing`);
  const from = Math.max(...[...cl.cores.values()].map((c) => c.log.snapIndex)) + 1;
  const tail = (core: RaftCore): string =>
    core.log.entries
      .filter((e) => e.index >= from)
      .map((e) => `${e.index}/${e.term}`)
      .join(' ');
  for (const core of cl.cores.values()) {
    assert.equal(core.log.lastIndex(), leader.log.lastIndex(), `seed ${seed}: ${core.id} did not converge`);
    assert.equal(tail(core), tail(leader), `seed ${seed}: ${core.id} did not converge`);
    assert.equal(core.log.committed, leader.log.committed, `seed ${seed}: ${core.id} commit differs`);
  }
  // Nothing that was ever applied anywhere got lost (entries inside the leader's snapshot are settled).
  for (const [i, key] of committed) {
    if (i <= leader.log.snapIndex) continue;
    const e = leader.log.entry(i);
    assert.ok(e, `seed ${seed}: applied entry ${i} is gone`);
    assert.equal(`${e.term}/${Buffer.from(e.data).toString('hex')}`, key, `seed ${seed}: applied entry ${i} changed`);
  }
}

test('persistence contract under random delivery order, drops, duplicates and crashes', () => {
  for (let seed = 1; seed <= 6; seed++) {
    const { cl, committed } = runContract({ seed, steps: 1200, dropRate: 0.1, restartAfterReady: 0.05, crashBeforePersist: 0.03 });
    assert.ok(committed.size > 3, `seed ${seed}: too little progress (${committed.size} entries applied)`);
    assertConverged(cl, committed, seed);
  }
});

test('persistence contract with log compaction (followers catch up through snapshots)', () => {
  for (let seed = 31; seed <= 35; seed++) {
    const { cl, committed } = runContract({ seed, steps: 1200, dropRate: 0.1, restartAfterReady: 0.05, crashBeforePersist: 0.03, compactRate: 0.02 });
    assert.ok(committed.size > 3, `seed ${seed}: too little progress (${committed.size} entries applied)`);
    assertConverged(cl, committed, seed);
  }
});

test('restart (stop + start from disk) of every follower after every Ready never loses acknowledged entries', () => {
  for (let seed = 11; seed <= 13; seed++) {
    const { cl, committed } = runContract({ seed, steps: 800, dropRate: 0, restartAfterReady: 'followers', crashBeforePersist: 0 });
    assert.ok(committed.size > 10, `seed ${seed}: too little progress (${committed.size} entries applied)`);
    assertConverged(cl, committed, seed);
  }
});

test('frequent restarts of any node (leaders included) keep durable state equal to what was acknowledged', () => {
  for (let seed = 21; seed <= 24; seed++) {
    const { cl, committed } = runContract({ seed, steps: 1500, dropRate: 0.05, restartAfterReady: 0.25, crashBeforePersist: 0.05 });
    assertConverged(cl, committed, seed);
  }
});

test('an entry persisted but not yet known committed survives a crash and is committed after the restart', () => {
  const cl = new TestCluster(['a'], {}, 4);
  cl.elect('a');
  cl.stabilize();
  const a = cl.core('a');
  const pos = a.propose(enc('x'));
  const rd = a.ready();
  carryOut(cl, 'a', rd); // the entry is durable...
  a.advance(); // ...and now committed in memory, but the commit is not durable yet: crash.
  assert.ok(a.log.committed >= pos.index);
  assert.ok(cl.disks.get('a')!.hardState.commit < pos.index);
  cl.stop('a');
  const a2 = cl.start('a');
  assert.equal(a2.log.term(pos.index), pos.term, 'the durable entry was lost');
  cl.elect('a');
  cl.stabilize();
  assert.ok(a2.log.committed >= pos.index);
  assert.ok(cl.applied.get('a')!.some((e) => e.index === pos.index));
});

test('a three-node cluster where every node restarts from disk keeps its committed entries', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 5);
  cl.elect('a');
  for (let i = 0; i < 5; i++) cl.core('a').propose(enc(`k${i}`));
  cl.stabilize();
  cl.tickAll(1);
  const committed = cl.core('a').log.committed;
  const log = termsOf(cl.core('a'));
  for (const id of ['a', 'b', 'c']) {
    cl.stop(id);
    cl.start(id);
  }
  cl.stabilize();
  for (const id of ['a', 'b', 'c']) {
    assert.equal(termsOf(cl.core(id)), log, id);
    assert.equal(cl.core(id).log.committed, committed, id);
    assert.deepEqual(cl.core(id).status().conf.voters, ['a', 'b', 'c'], `${id}: membership rebuilt from the log`);
  }
  cl.tickAll(3 * DEFAULT_CONFIG.electionTicks);
  const leader = cl.leader();
  assert.ok(leader);
  leader.propose(enc('after'));
  cl.stabilize();
  cl.tickAll(1);
  for (const id of ['a', 'b', 'c']) assert.ok(cl.applied.get(id)!.some((e) => new TextDecoder().decode(e.data) === 'after'), id);
});

test('Ready.mustSync is false only for a commit-only change; only a leader keeping term and vote may send before persisting', () => {
  // Single node: campaigning changes term and vote (sync, nothing may leave first).
  const c = new TestCluster(['a']);
  const a = c.core('a');
  // The bootstrap Ready (membership entries) comes first; only then can the node campaign.
  carryOut(c, 'a', a.ready());
  a.advance();
  for (let i = 0; i < 100 && a.role !== 'leader'; i++) a.tick();
  let rd = a.ready();
  assert.equal(rd.hardState?.vote, 'a');
  assert.equal(rd.mustSync, true);
  assert.equal(rd.messagesMayPrecedePersist, false, 'the Ready that records the vote');
  carryOut(c, 'a', rd);
  a.advance();
  while (a.hasReady()) {
    carryOut(c, 'a', a.ready());
    a.advance();
  }
  // A leader's Ready with a new entry: must sync; its messages may leave first.
  a.propose(enc('x'));
  rd = a.ready();
  assert.equal(rd.entries.length, 1);
  assert.equal(rd.mustSync, true);
  assert.equal(rd.messagesMayPrecedePersist, true);
  carryOut(c, 'a', rd);
  a.advance();
  // The next Ready only moves commit (the leader counted its own durable copy): no fsync needed.
  rd = a.ready();
  assert.equal(rd.entries.length, 0);
  assert.ok(rd.hardState && rd.hardState.commit > 0);
  assert.equal(rd.committedEntries.length, 1);
  assert.equal(rd.mustSync, false);
  a.advance();

  // A follower learning a new commit from a heartbeat: no fsync, and it never sends first.
  const t = new TestCluster(['p', 'q', 'r']);
  t.elect('p');
  t.stabilize();
  // q gets the new entry, but no message that tells it the entry is committed.
  t.addFilter((m) => !(m.from === 'p' && m.to === 'q' && m.entries.length === 0));
  t.core('p').propose(enc('y'));
  t.stabilize();
  const q = t.core('q');
  const p = t.core('p');
  assert.ok(q.log.lastIndex() === p.log.committed && q.log.committed < p.log.committed, 'q holds the entry but not its commit');
  t.clearFilters();
  q.step({ ...emptyMessage(MessageType.Heartbeat, 'p', 'q', p.term), commit: p.log.committed });
  const frd = q.ready();
  assert.equal(frd.hardState?.commit, p.log.committed);
  assert.equal(frd.entries.length, 0);
  assert.equal(frd.mustSync, false);
  assert.equal(frd.messagesMayPrecedePersist, false);
});
