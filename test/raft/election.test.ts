// Leader election: randomized timeouts, election safety, the election
// restriction, durable votes, pre-vote, check-quorum and the leader lease.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Prng } from '../../src/testing/prng.js';
import { RaftCore, emptyMessage, TRANSFER_CONTEXT } from '../../src/raft/core/raft.js';
import { DEFAULT_CONFIG, MessageType, Role, type Message, type NodeId, type RaftConfig, type Ready } from '../../src/raft/types.js';
import { TestCluster, enc, tickNodes } from './cluster.js';

const E = DEFAULT_CONFIG.electionTicks;

/** A bootstrapped core whose first Ready (the founding membership) has been carried out. */
function freshCore(id: NodeId, voters: NodeId[], cfg: Partial<Omit<RaftConfig, 'id' | 'rng'>> = {}, seed = 7): RaftCore {
  const core = new RaftCore(
    { ...DEFAULT_CONFIG, ...cfg, id, rng: new Prng(seed) },
    { hardState: { term: 0, vote: '', commit: 0 }, snapshot: null, entries: [], conf: { voters, learners: [] } },
  );
  core.ready();
  core.advance();
  return core;
}

function voteReq(from: NodeId, to: NodeId, term: number, lastIndex: number, lastTerm: number, type = MessageType.Vote): Message {
  return { ...emptyMessage(type, from, to, term), index: lastIndex, logTerm: lastTerm };
}

/** Wrap every core's ready() (re-wrapping after restarts) to watch each Ready as it comes out. */
function watchReadies(c: TestCluster, onReady: (id: NodeId, core: RaftCore, rd: Ready) => void): () => void {
  const wrapped = new WeakSet<RaftCore>();
  return () => {
    for (const [id, core] of c.cores) {
      if (wrapped.has(core)) continue;
      wrapped.add(core);
      const orig = core.ready.bind(core);
      core.ready = () => {
        const rd = orig();
        onReady(id, core, rd);
        return rd;
      };
    }
  };
}

test('election timeout is randomized in [electionTicks, 2*electionTicks) and varies with the seed', () => {
  const timeouts = new Set<number>();
  for (let seed = 1; seed <= 30; seed++) {
    const c = new TestCluster(['a', 'b', 'c'], {}, seed);
    c.stabilize(); // carry out the bootstrap Ready: the membership is known
    const a = c.core('a');
    let ticks = 0;
    while (a.role === Role.Follower && ticks < 3 * E) {
      a.tick();
      ticks++;
    }
    assert.notEqual(a.role, Role.Follower, `seed ${seed}: never campaigned`);
    assert.ok(ticks >= E, `seed ${seed}: campaigned after ${ticks} ticks, before electionTicks=${E}`);
    assert.ok(ticks < 2 * E, `seed ${seed}: campaigned after ${ticks} ticks, not within 2*electionTicks`);
    timeouts.add(ticks);
  }
  assert.ok(timeouts.size >= 3, `timeouts are not randomized across seeds: ${[...timeouts].join(',')}`);
});

test('each new term draws a new randomized timeout', () => {
  // Without pre-vote a lone node (no answers) campaigns again and again; its gaps must vary and stay in range.
  const c = new TestCluster(['a', 'b', 'c'], { preVote: false }, 3);
  c.stabilize();
  c.isolate('a');
  const a = c.core('a');
  const gaps: number[] = [];
  let last = a.term;
  let ticks = 0;
  for (let i = 0; i < 40 * E; i++) {
    a.tick();
    ticks++;
    if (a.term !== last) {
      gaps.push(ticks);
      ticks = 0;
      last = a.term;
    }
  }
  assert.ok(gaps.length >= 10);
  for (const g of gaps) assert.ok(g >= E && g < 2 * E, `gap ${g} out of [${E}, ${2 * E})`);
  assert.ok(new Set(gaps).size >= 3, `gaps do not vary: ${gaps.join(',')}`);
});

test('a three-node cluster elects exactly one leader that all followers know', () => {
  const c = new TestCluster(['a', 'b', 'c'], {}, 11);
  c.tickAll(3 * E);
  const leaders = [...c.cores.values()].filter((x) => x.role === Role.Leader);
  assert.equal(leaders.length, 1);
  const l = leaders[0];
  for (const x of c.cores.values()) {
    assert.equal(x.term, l.term);
    assert.equal(x.lead, l.id);
  }
});

test('at most one leader per term, and granted votes are durable before they leave (random drops, many seeds)', () => {
  for (let seed = 1; seed <= 12; seed++) {
    const ids = ['a', 'b', 'c', 'd', 'e'];
    const c = new TestCluster(ids, { preVote: seed % 2 === 0, checkQuorum: seed % 3 !== 0 }, seed);
    const rng = new Prng(1000 + seed);
    const leaderOf = new Map<number, NodeId>();
    const note = (term: number, id: NodeId): void => {
      const prev = leaderOf.get(term);
      assert.ok(prev === undefined || prev === id, `seed ${seed}: two leaders in term ${term}: ${prev} and ${id}`);
      leaderOf.set(term, id);
    };
    const wrap = watchReadies(c, (id, core, rd) => {
      if (rd.softState?.role === Role.Leader) note(core.term, id);
      const hs = rd.hardState ?? c.disks.get(id)!.hardState;
      for (const m of rd.messages) {
        if (m.type === MessageType.VoteResp && !m.reject) {
          assert.equal(hs.term, m.term, `seed ${seed}: ${id} grants a vote in term ${m.term} but persists term ${hs.term}`);
          assert.equal(hs.vote, m.to, `seed ${seed}: ${id} grants a vote to ${m.to} but persists vote '${hs.vote}'`);
        }
      }
    });
    let dropRate = 0.2;
    c.addFilter(() => rng.float() >= dropRate);
    for (let round = 0; round < 300; round++) {
      if (round % 50 === 0) dropRate = rng.float() * 0.6;
      wrap();
      for (const core of c.cores.values()) core.tick();
      c.stabilize();
      for (const core of c.cores.values()) if (core.role === Role.Leader) note(core.term, core.id);
    }
    assert.ok(leaderOf.size > 0, `seed ${seed}: no leader was ever elected`);
  }
});

test('a candidate with a stale log cannot win: voters refuse it', () => {
  // checkQuorum off so that the refusal comes from the log comparison, not from a lease.
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: false, preVote: false }, 5);
  c.elect('a');
  c.isolate('c');
  for (let i = 0; i < 5; i++) c.core('a').propose(enc(`x${i}`));
  c.stabilize();
  const b = c.core('b');
  assert.ok(b.log.lastIndex() > c.core('c').log.lastIndex());
  // The up-to-date check directly: b answers c's vote request with a rejection.
  const cc = c.core('c');
  b.step(voteReq('c', 'b', b.term + 1, cc.log.lastIndex(), cc.log.lastTerm()));
  const rd = b.ready();
  const resp = rd.messages.find((m) => m.type === MessageType.VoteResp && m.to === 'c');
  assert.ok(resp, 'b must answer the vote request');
  assert.equal(resp.reject, true);
  assert.equal(rd.hardState?.vote ?? '', '', 'b must not record a vote for a stale candidate');
  b.advance();
  // And a whole election: a is gone, c (stale) campaigns alone for a long time and never wins.
  c.stop('a');
  c.clearFilters();
  const bLast = b.log.lastIndex();
  for (let i = 0; i < 10 * E; i++) {
    c.tick('c');
    assert.notEqual(cc.role, Role.Leader, 'the stale candidate became leader');
  }
  assert.equal(b.log.lastIndex(), bLast, 'b lost entries to a stale candidate');
  // b (up to date) can still win with c's vote.
  c.elect('b');
  assert.equal(c.core('c').lead, 'b');
});

test('the up-to-date check compares last term first, then last index', () => {
  const b = freshCore('b', ['a', 'b', 'c']);
  const last = b.log.lastIndex();
  const lastTerm = b.log.lastTerm();
  const ask = (from: NodeId, index: number, logTerm: number): boolean => {
    b.step(voteReq(from, 'b', b.term + 1, index, logTerm));
    const rd = b.ready();
    b.advance();
    const resp = rd.messages.find((m) => m.type === MessageType.VoteResp);
    assert.ok(resp);
    return !resp.reject;
  };
  assert.equal(ask('a', last - 1, lastTerm), false, 'shorter log in the same term must be refused');
  assert.equal(ask('c', last + 5, lastTerm - 1), false, 'longer log with an older last term must be refused');
  assert.equal(ask('a', last, lastTerm), true, 'an equal log must be granted');
});

test('a granted vote and the hardState recording it come out in the same Ready', () => {
  const b = freshCore('b', ['a', 'b', 'c']);
  const term = b.term + 1;
  b.step(voteReq('a', 'b', term, b.log.lastIndex(), b.log.lastTerm()));
  const rd = b.ready();
  const resp = rd.messages.find((m) => m.type === MessageType.VoteResp);
  assert.ok(resp);
  assert.equal(resp.reject, false);
  assert.equal(resp.term, term);
  assert.ok(rd.hardState, 'the vote must be persisted with the response');
  assert.equal(rd.hardState.vote, 'a');
  assert.equal(rd.hardState.term, term);
  b.advance();
  // A second candidate in the same term is refused; the first one asking again is granted again.
  b.step(voteReq('c', 'b', term, b.log.lastIndex(), b.log.lastTerm()));
  b.step(voteReq('a', 'b', term, b.log.lastIndex(), b.log.lastTerm()));
  const rd2 = b.ready();
  b.advance();
  const toC = rd2.messages.find((m) => m.type === MessageType.VoteResp && m.to === 'c');
  const toA = rd2.messages.find((m) => m.type === MessageType.VoteResp && m.to === 'a');
  assert.equal(toC?.reject, true);
  assert.equal(toA?.reject, false);
  assert.equal(b.vote, 'a');
});

test('a candidate persists its own vote and new term in the Ready that carries its vote requests', () => {
  const a = freshCore('a', ['a', 'b', 'c'], { preVote: false });
  const t0 = a.term;
  while (a.role === Role.Follower) a.tick();
  assert.equal(a.role, Role.Candidate);
  const rd = a.ready();
  const reqs = rd.messages.filter((m) => m.type === MessageType.Vote);
  assert.deepEqual(reqs.map((m) => m.to).sort(), ['b', 'c']);
  assert.ok(rd.hardState);
  assert.equal(rd.hardState.term, t0 + 1);
  assert.equal(rd.hardState.vote, 'a');
  for (const m of reqs) assert.equal(m.term, t0 + 1);
});

test('a restarted voter remembers its vote and does not vote twice in a term', () => {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: false }, 9);
  c.stabilize();
  const b = c.core('b');
  const term = b.term + 1;
  b.step(voteReq('a', 'b', term, b.log.lastIndex(), b.log.lastTerm()));
  c.isolate('a'); // keep a's own machinery out of this
  c.stabilize();
  c.stop('b');
  const b2 = c.start('b');
  assert.equal(b2.term, term);
  assert.equal(b2.vote, 'a');
  b2.step(voteReq('c', 'b', term, b2.log.lastIndex() + 10, b2.log.lastTerm()));
  const rd = b2.ready();
  const resp = rd.messages.find((m) => m.type === MessageType.VoteResp);
  assert.equal(resp?.reject, true, 'a restarted node voted twice in one term');
});

test('pre-vote: an isolated node does not raise its term, and its return does not disturb the leader', () => {
  // checkQuorum off, so the pre-vote alone is what protects the cluster.
  const c = new TestCluster(['a', 'b', 'c'], { preVote: true, checkQuorum: false }, 21);
  c.elect('a');
  const term = c.core('a').term;
  c.isolate('c');
  for (let i = 0; i < 3; i++) c.core('a').propose(enc(`p${i}`));
  c.stabilize();
  c.tickAll(10 * E);
  assert.equal(c.core('c').term, term, 'the isolated node raised its term despite pre-vote');
  assert.equal(c.core('a').role, Role.Leader);
  c.clearFilters();
  c.tickAll(10 * E);
  for (const x of c.cores.values()) assert.equal(x.term, term, `${x.id} changed term after the heal`);
  assert.equal(c.core('a').role, Role.Leader);
  assert.equal(c.core('c').lead, 'a');
  // (Whether c then catches up while the cluster is idle is checked in replication.test.ts.)
});

test('pre-vote + check-quorum (defaults): an isolated up-to-date node rejoins without a term bump', () => {
  const c = new TestCluster(['a', 'b', 'c'], {}, 22);
  c.elect('a');
  const term = c.core('a').term;
  c.isolate('c');
  c.tickAll(10 * E);
  assert.equal(c.core('c').term, term);
  c.clearFilters();
  c.tickAll(10 * E);
  for (const x of c.cores.values()) assert.equal(x.term, term, `${x.id} changed term after the heal`);
  assert.equal(c.core('a').role, Role.Leader);
});

test('without pre-vote an isolated node raises its term and disrupts the cluster when it returns', () => {
  const c = new TestCluster(['a', 'b', 'c'], { preVote: false, checkQuorum: false }, 23);
  c.elect('a');
  const term = c.core('a').term;
  c.isolate('c');
  c.tickAll(10 * E);
  assert.ok(c.core('c').term > term, 'without pre-vote the isolated node should keep campaigning');
  c.clearFilters();
  c.tickAll(5 * E);
  assert.ok(c.core('a').term > term, 'the returning node should have bumped the cluster term');
  const leaders = [...c.cores.values()].filter((x) => x.role === Role.Leader);
  assert.equal(leaders.length, 1);
});

test('check-quorum: a leader cut off from the quorum steps down within 2*electionTicks', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true }, 31);
  c.elect('a');
  c.tickAll(3); // some heartbeats, so the followers count as recently active
  c.isolate('a');
  const a = c.core('a');
  let ticks = 0;
  while (a.role === Role.Leader && ticks < 5 * E) {
    c.tick('a');
    ticks++;
  }
  assert.notEqual(a.role, Role.Leader, 'the isolated leader never stepped down');
  assert.ok(ticks >= E && ticks <= 2 * E, `stepped down after ${ticks} ticks, expected within [${E}, ${2 * E}]`);
  assert.equal(a.lead, '');
  assert.throws(() => a.propose(enc('x')), { name: 'NotLeaderError' });
});

test('check-quorum: a leader that hears from a quorum stays, even with one follower down', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true }, 32);
  c.elect('a');
  const term = c.core('a').term;
  c.isolate('c');
  tickNodes(c, ['a', 'b'], 10 * E);
  assert.equal(c.core('a').role, Role.Leader);
  assert.equal(c.core('a').term, term);
});

test('without check-quorum an isolated leader keeps believing it leads', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: false }, 33);
  c.elect('a');
  c.isolate('a');
  c.tick('a', 5 * E);
  assert.equal(c.core('a').role, Role.Leader);
});

test('lease: with check-quorum a follower that hears its leader ignores a disruptive vote request', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true, preVote: false }, 41);
  c.elect('a');
  c.tickAll(1);
  const b = c.core('b');
  const term = b.term;
  for (const type of [MessageType.Vote, MessageType.PreVote]) {
    b.step(voteReq('c', 'b', term + 5, b.log.lastIndex() + 100, term + 4, type));
    assert.equal(b.term, term, 'the follower adopted the disruptive term');
    assert.equal(b.lead, 'a');
    const rd = b.ready();
    b.advance();
    assert.equal(rd.messages.length, 0, 'the follower answered a vote request during its lease');
    assert.equal(rd.hardState, null);
  }
  // The leader ignores it too.
  const a = c.core('a');
  a.step(voteReq('c', 'a', term + 5, a.log.lastIndex() + 100, term + 4));
  assert.equal(a.role, Role.Leader);
  assert.equal(a.term, term);
});

test('lease: a vote forced by a leadership transfer overrides the lease', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true }, 42);
  c.elect('a');
  const b = c.core('b');
  const term = b.term;
  b.step({ ...voteReq('c', 'b', term + 1, b.log.lastIndex(), b.log.lastTerm()), context: TRANSFER_CONTEXT });
  const rd = b.ready();
  b.advance();
  const resp = rd.messages.find((m) => m.type === MessageType.VoteResp);
  assert.equal(resp?.reject, false);
  assert.equal(b.term, term + 1);
  assert.equal(b.vote, 'c');
});

test('lease expired: a follower that has not heard its leader for electionTicks grants a vote', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: true, preVote: false }, 43);
  c.elect('a');
  c.stop('a');
  const b = c.core('b');
  // Tick b up to (not past) its own election, so the lease has run out.
  for (let i = 0; i < E; i++) b.tick();
  assert.equal(b.role, Role.Follower, 'test setup: with this seed b must not time out at exactly electionTicks');
  const term = b.term;
  b.step(voteReq('c', 'b', term + 1, b.log.lastIndex(), b.log.lastTerm()));
  const rd = b.ready();
  const resp = rd.messages.find((m) => m.type === MessageType.VoteResp);
  assert.equal(resp?.reject, false);
  assert.equal(rd.hardState?.vote, 'c');
});

test('without check-quorum a follower grants a vote for a higher term at once (no lease)', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: false, preVote: false }, 44);
  c.elect('a');
  const b = c.core('b');
  const term = b.term;
  b.step(voteReq('c', 'b', term + 1, b.log.lastIndex(), b.log.lastTerm()));
  assert.equal(b.term, term + 1);
  assert.equal(b.vote, 'c');
});

test('a pre-vote never changes the voter\'s term or vote', () => {
  const c = new TestCluster(['a', 'b', 'c'], { checkQuorum: false }, 45);
  c.elect('a');
  c.stop('a');
  const b = c.core('b');
  const { term, vote } = b;
  b.step(voteReq('c', 'b', term + 1, b.log.lastIndex(), b.log.lastTerm(), MessageType.PreVote));
  const rd = b.ready();
  const resp = rd.messages.find((m) => m.type === MessageType.PreVoteResp);
  assert.equal(resp?.reject, false, 'an up-to-date pre-candidate should get the pre-vote');
  assert.equal(resp?.term, term + 1);
  assert.equal(b.term, term);
  assert.equal(b.vote, vote);
  assert.equal(rd.hardState, null);
});

test('a node that is not a voter never campaigns', () => {
  const c = new TestCluster(['a', 'b', 'c', 'd'], {}, 46, ['a', 'b', 'c']);
  c.stabilize();
  const d = c.core('d');
  for (let i = 0; i < 5 * E; i++) d.tick();
  assert.equal(d.role, Role.Follower);
  assert.equal(d.term, 0);
});
