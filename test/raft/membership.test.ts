// Membership changes: learners, promotion, removal, one change at a time,
// removing the leader through a hand-over, invalid changes, and membership
// restored from a snapshot.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProposalDroppedError } from '../../src/raft/errors.js';
import { emptyMessage } from '../../src/raft/core/raft.js';
import { ConfChangeType, DEFAULT_CONFIG, MessageType, Role, type ConfChange, type NodeId } from '../../src/raft/types.js';
import { TestCluster, carryOut, dec, enc, forceCampaign, processReady, recorder, tickNodes } from './cluster.js';

const E = DEFAULT_CONFIG.electionTicks;
const cc = (type: ConfChangeType, nodeId: NodeId): ConfChange => ({ type, nodeId, context: new Uint8Array(0) });
const appliedOf = (cl: TestCluster, id: NodeId): string[] => cl.applied.get(id)!.map((e) => dec(e.data));
const logOf = (cl: TestCluster, id: NodeId): string[] => cl.core(id).log.entries.map((e) => `${e.index}/${e.term}`);

/** Apply a conf change through the leader and wait until every live node applied it. */
function change(cl: TestCluster, leader: NodeId, c: ConfChange): void {
  cl.core(leader).proposeConfChange(c);
  cl.stabilize();
  cl.tickAll(2);
}

/** 3 voters a, b, c plus d that starts with an empty log and no membership, added as a learner. */
function withLearner(seed: number): TestCluster {
  const cl = new TestCluster(['a', 'b', 'c', 'd'], {}, seed, ['a', 'b', 'c']);
  cl.elect('a');
  cl.core('a').propose(enc('first'));
  cl.stabilize();
  change(cl, 'a', cc(ConfChangeType.AddLearner, 'd'));
  return cl;
}

test('a new node starts with no membership and never campaigns on its own', () => {
  const cl = new TestCluster(['a', 'b', 'c', 'd'], {}, 1, ['a', 'b', 'c']);
  cl.stabilize();
  const d = cl.core('d');
  assert.deepEqual(d.status().conf, { voters: [], learners: [] });
  for (let i = 0; i < 5 * E; i++) d.tick();
  assert.equal(d.role, Role.Follower);
  assert.equal(d.term, 0);
});

test('an added learner catches up (log, commit, membership learned from the log)', () => {
  const cl = withLearner(2);
  const a = cl.core('a');
  const d = cl.core('d');
  assert.deepEqual(a.status().conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
  assert.deepEqual(d.status().conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
  assert.deepEqual(logOf(cl, 'd'), logOf(cl, 'a'));
  assert.equal(d.log.committed, a.log.committed);
  assert.deepEqual(appliedOf(cl, 'd'), ['first']);
  assert.equal(d.lead, 'a');
  cl.core('a').propose(enc('second'));
  cl.stabilize();
  cl.tickAll(1);
  assert.deepEqual(appliedOf(cl, 'd'), ['first', 'second']);
});

test('a learner does not count for commit: 3 voters + 1 learner with 2 voters down commits nothing', () => {
  const cl = withLearner(3);
  cl.stop('b');
  cl.stop('c');
  const a = cl.core('a');
  const committed = a.log.committed;
  const pos = a.propose(enc('x'));
  cl.stabilize();
  tickNodes(cl, ['a', 'd'], 3);
  assert.equal(cl.core('d').log.term(pos.index), pos.term, 'setup: the learner holds the entry');
  assert.equal(a.log.committed, committed, 'the learner was counted toward the commit quorum');
  assert.ok(!appliedOf(cl, 'a').includes('x'));
  assert.ok(!appliedOf(cl, 'd').includes('x'));
});

test('a learner\'s vote does not count, and it is not asked for one', () => {
  const cl = withLearner(4);
  cl.stop('a');
  cl.stop('c');
  const msgs = recorder(cl);
  forceCampaign(cl, 'b');
  const b = cl.core('b');
  assert.equal(b.role, Role.Candidate);
  assert.ok(!msgs.some((m) => m.type === MessageType.Vote && m.to === 'd'), 'a learner was asked to vote');
  // Even a granted vote from the learner does not make b win.
  b.step({ ...emptyMessage(MessageType.VoteResp, 'd', 'b', b.term) });
  assert.equal(b.role, Role.Candidate, 'a learner\'s vote was counted');
});

test('a learner does not count for check-quorum: the leader with only the learner steps down', () => {
  const cl = withLearner(5);
  cl.stop('b');
  cl.stop('c');
  tickNodes(cl, ['a', 'd'], 2 * E + 1);
  assert.notEqual(cl.core('a').role, Role.Leader);
});

test('a learner never campaigns, even without a leader', () => {
  const cl = withLearner(6);
  cl.stop('a');
  cl.stop('b');
  cl.stop('c');
  const d = cl.core('d');
  const term = d.term;
  for (let i = 0; i < 5 * E; i++) d.tick();
  assert.equal(d.role, Role.Follower);
  assert.equal(d.term, term);
});

test('a promoted learner counts for commit (3+1: with c down, commit needs d)', () => {
  const cl = withLearner(7);
  change(cl, 'a', cc(ConfChangeType.Promote, 'd'));
  assert.deepEqual(cl.core('a').status().conf, { voters: ['a', 'b', 'c', 'd'], learners: [] });
  assert.deepEqual(cl.core('d').status().conf, { voters: ['a', 'b', 'c', 'd'], learners: [] });
  cl.stop('c');
  const pos = cl.core('a').propose(enc('y'));
  cl.stabilize();
  cl.tickAll(1);
  // 4 voters, quorum 3: a, b and d.
  assert.ok(cl.core('a').log.committed >= pos.index);
  assert.ok(appliedOf(cl, 'd').includes('y'));
  // Without d it does not commit: d is really one of the three.
  cl.stop('d');
  const pos2 = cl.core('a').propose(enc('z'));
  cl.stabilize();
  cl.tick('a', 1);
  assert.ok(cl.core('a').log.committed < pos2.index);
});

test('promotion in a 2-voter cluster: the promoted learner turns a stuck cluster into a live one', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 8, ['a', 'b']);
  cl.elect('a');
  change(cl, 'a', cc(ConfChangeType.AddLearner, 'c'));
  // With b down, a and the learner c cannot commit.
  cl.stop('b');
  const p1 = cl.core('a').propose(enc('p1'));
  cl.stabilize();
  assert.ok(cl.core('a').log.committed < p1.index);
  // b comes back, the change goes through, b goes again: now a and c suffice.
  cl.start('b');
  cl.stabilize();
  cl.core('a').propose(enc('kick'));
  cl.stabilize();
  cl.tickAll(2);
  change(cl, 'a', cc(ConfChangeType.Promote, 'c'));
  cl.stop('b');
  const p2 = cl.core('a').propose(enc('p2'));
  cl.stabilize();
  tickNodes(cl, ['a', 'c'], 2);
  assert.ok(cl.core('a').log.committed >= p2.index);
  assert.ok(appliedOf(cl, 'c').includes('p2'));
});

test('a promoted node can campaign and lead', () => {
  const cl = withLearner(9);
  change(cl, 'a', cc(ConfChangeType.Promote, 'd'));
  cl.stop('a');
  forceCampaign(cl, 'd');
  assert.equal(cl.core('d').role, Role.Leader);
  cl.core('d').propose(enc('from-d'));
  cl.stabilize();
  cl.tickAll(1);
  assert.ok(appliedOf(cl, 'b').includes('from-d'));
});

test('removing a voter: the quorum shrinks and the removed node gets nothing more', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 10);
  cl.elect('a');
  change(cl, 'a', cc(ConfChangeType.Remove, 'c'));
  assert.deepEqual(cl.core('a').status().conf, { voters: ['a', 'b'], learners: [] });
  assert.ok(!('c' in cl.core('a').status().progress));
  const msgs = recorder(cl);
  cl.core('a').propose(enc('after'));
  cl.stabilize();
  cl.tickAll(2);
  assert.ok(!msgs.some((m) => m.to === 'c' && m.from === 'a'), 'the leader still talks to a removed node');
  assert.ok(appliedOf(cl, 'b').includes('after'));
  // Quorum is now 2 of 2: b down blocks commits.
  cl.stop('b');
  const pos = cl.core('a').propose(enc('blocked'));
  cl.stabilize();
  assert.ok(cl.core('a').log.committed < pos.index);
});

test('removing a learner', () => {
  const cl = withLearner(11);
  change(cl, 'a', cc(ConfChangeType.Remove, 'd'));
  assert.deepEqual(cl.core('a').status().conf, { voters: ['a', 'b', 'c'], learners: [] });
});

test('a second conf change while one is pending is refused with ProposalDroppedError', () => {
  const cl = new TestCluster(['a', 'b', 'c', 'd', 'e'], {}, 12, ['a', 'b', 'c']);
  cl.elect('a');
  cl.tickAll(1);
  const a = cl.core('a');
  a.proposeConfChange(cc(ConfChangeType.AddLearner, 'd'));
  assert.throws(() => a.proposeConfChange(cc(ConfChangeType.AddLearner, 'e')), ProposalDroppedError);
  // Committed but not yet applied (a has not called ready() since): still refused.
  const deliver = (): void => {
    const batch = cl.sent;
    cl.sent = [];
    for (const m of batch) cl.cores.get(m.to)?.step(m);
  };
  const rd = a.ready();
  carryOut(cl, 'a', rd);
  a.advance();
  const pending = rd.entries[rd.entries.length - 1].index;
  deliver(); // Apps to b and c
  processReady(cl, 'b');
  processReady(cl, 'c');
  deliver(); // their acks to a
  assert.ok(a.log.committed >= pending, 'setup: the first change is committed');
  assert.ok(a.status().applied < pending, 'setup: the first change is not applied yet');
  assert.throws(() => a.proposeConfChange(cc(ConfChangeType.AddLearner, 'e')), ProposalDroppedError);
  cl.stabilize();
  cl.tickAll(1);
  // Applied: the next one goes through.
  a.proposeConfChange(cc(ConfChangeType.AddLearner, 'e'));
  cl.stabilize();
  cl.tickAll(1);
  assert.deepEqual(a.status().conf.learners, ['d', 'e']);
});

test('a new leader refuses conf changes until it applied its log', () => {
  const cl = new TestCluster(['a', 'b', 'c', 'd'], {}, 13, ['a', 'b', 'c']);
  cl.elect('a');
  cl.tickAll(1);
  // b holds an entry nobody knows to be committed (it could be a conf change), then becomes leader.
  cl.addFilter((m) => m.type !== MessageType.AppResp);
  cl.core('a').propose(enc('unknown-fate'));
  cl.stabilize();
  forceCampaign(cl, 'b');
  const b = cl.core('b');
  assert.equal(b.role, Role.Leader);
  assert.ok(b.status().applied < b.log.lastIndex() - 1, 'setup: b has entries it has not applied');
  assert.throws(() => b.proposeConfChange(cc(ConfChangeType.AddLearner, 'd')), ProposalDroppedError);
  cl.clearFilters();
  cl.tickAll(2);
  b.proposeConfChange(cc(ConfChangeType.AddLearner, 'd'));
});

test('removing the leader itself hands leadership over first, then the new leader removes it', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 14);
  cl.elect('a');
  cl.core('a').propose(enc('x'));
  cl.stabilize();
  cl.tickAll(1);
  const a = cl.core('a');
  let err: unknown;
  try {
    a.proposeConfChange(cc(ConfChangeType.Remove, 'a'));
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof ProposalDroppedError, `expected ProposalDroppedError, got ${String(err)}`);
  const to = err.retryOn;
  assert.ok(to === 'b' || to === 'c', `retryOn should name the transferee, got '${to}'`);
  assert.equal(a.status().transferee, to);
  // The hand-over happens without waiting for a timeout.
  cl.stabilize();
  const t = cl.core(to);
  assert.equal(t.role, Role.Leader, 'the transferee did not take over');
  assert.equal(a.role, Role.Follower);
  assert.equal(a.lead, to);
  // Retry there.
  cl.tickAll(1);
  t.proposeConfChange(cc(ConfChangeType.Remove, 'a'));
  cl.stabilize();
  cl.tickAll(1);
  assert.deepEqual(t.status().conf.voters, [to === 'b' ? 'b' : 'c', to === 'b' ? 'c' : 'b'].sort());
  t.propose(enc('without-a'));
  cl.stabilize();
  cl.tickAll(1);
  const other = to === 'b' ? 'c' : 'b';
  assert.ok(appliedOf(cl, other).includes('without-a'));
});

test('removing the leader hands over to the most caught-up voter', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 15);
  cl.elect('a');
  cl.tickAll(1);
  cl.addFilter((m) => !(m.to === 'b' && m.type === MessageType.App));
  cl.core('a').propose(enc('only-c'));
  cl.stabilize();
  cl.clearFilters();
  assert.throws(
    () => cl.core('a').proposeConfChange(cc(ConfChangeType.Remove, 'a')),
    (e: unknown) => e instanceof ProposalDroppedError && e.retryOn === 'c',
  );
});

test('invalid conf changes are InvalidRequestError', () => {
  const cl = new TestCluster(['a', 'b', 'c', 'd'], {}, 16, ['a', 'b', 'c']);
  cl.elect('a');
  change(cl, 'a', cc(ConfChangeType.AddLearner, 'd'));
  const a = cl.core('a');
  const bad: [string, ConfChange][] = [
    ['add an existing voter as learner', cc(ConfChangeType.AddLearner, 'b')],
    ['add an existing learner again', cc(ConfChangeType.AddLearner, 'd')],
    ['promote a voter', cc(ConfChangeType.Promote, 'b')],
    ['promote a non-member', cc(ConfChangeType.Promote, 'zz')],
    ['remove a non-member', cc(ConfChangeType.Remove, 'zz')],
    ['add a voter directly', cc(ConfChangeType.AddVoter, 'zz')],
  ];
  const last = a.log.lastIndex();
  for (const [name, c] of bad) assert.throws(() => a.proposeConfChange(c), { name: 'InvalidRequestError' }, name);
  assert.equal(a.log.lastIndex(), last, 'a refused change must not be appended');
  // Refusal does not block the next valid change.
  a.proposeConfChange(cc(ConfChangeType.Promote, 'd'));
});

test('removing the last voter is InvalidRequestError', () => {
  const cl = new TestCluster(['a'], {}, 17);
  cl.elect('a');
  cl.tickAll(1);
  assert.throws(() => cl.core('a').proposeConfChange(cc(ConfChangeType.Remove, 'a')), { name: 'InvalidRequestError' });
  assert.equal(cl.core('a').role, Role.Leader);
});

test('a conf change proposed on a follower is NotLeaderError', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 18);
  cl.elect('a');
  assert.throws(() => cl.core('b').proposeConfChange(cc(ConfChangeType.Remove, 'c')), { name: 'NotLeaderError' });
});

test('membership after a snapshot is restored from the snapshot meta (restart)', () => {
  const cl = withLearner(19);
  change(cl, 'a', cc(ConfChangeType.Promote, 'd'));
  change(cl, 'a', cc(ConfChangeType.Remove, 'c'));
  const b = cl.core('b');
  const snap = cl.compact('b', b.status().applied);
  assert.deepEqual(snap.meta.conf, { voters: ['a', 'b', 'd'], learners: [] });
  cl.stop('b');
  const b2 = cl.start('b');
  assert.deepEqual(b2.status().conf, { voters: ['a', 'b', 'd'], learners: [] });
  // And it works as a voter in that membership.
  cl.stabilize();
  cl.core('a').propose(enc('post'));
  cl.stabilize();
  cl.tickAll(1);
  assert.ok(appliedOf(cl, 'b').includes('post'));
});

test('a snapshot taken at an index before a conf change records the membership as of that index', () => {
  const cl = withLearner(20);
  const a = cl.core('a');
  const beforePromote = a.status().applied;
  change(cl, 'a', cc(ConfChangeType.Promote, 'd'));
  assert.ok(a.status().applied > beforePromote);
  const snap = a.createSnapshot(beforePromote, enc('s'));
  assert.deepEqual(snap.meta.conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
  const snap2 = a.createSnapshot(a.status().applied, enc('s2'));
  assert.deepEqual(snap2.meta.conf, { voters: ['a', 'b', 'c', 'd'], learners: [] });
});

test('a node restored by a Snap takes the membership in it', () => {
  const cl = withLearner(21);
  change(cl, 'a', cc(ConfChangeType.Promote, 'd'));
  cl.isolate('c');
  for (let i = 0; i < 5; i++) {
    cl.core('a').propose(enc(`g${i}`));
    cl.stabilize();
  }
  change(cl, 'a', cc(ConfChangeType.Remove, 'b'));
  cl.compact('a', cl.core('a').status().applied);
  cl.clearFilters();
  cl.core('a').propose(enc('wake'));
  cl.stabilize();
  cl.tickAll(2);
  const c = cl.core('c');
  assert.ok(c.log.snapIndex > 0, 'setup: c should have received a snapshot');
  assert.deepEqual(c.status().conf, { voters: ['a', 'c', 'd'], learners: [] });
});

test('a restart without a snapshot rebuilds membership by re-applying the log', () => {
  const cl = withLearner(22);
  cl.stop('d');
  const d = cl.start('d');
  cl.stabilize();
  assert.deepEqual(d.status().conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
});

test('an applied conf change no longer counts against maxUncommittedBytes', () => {
  // appendProposals() adds the bytes of every proposed entry, conf changes included, to the
  // uncommitted total; takeCommitted() must release them once the entry is committed and applied.
  const cl = new TestCluster(['a', 'b', 'c', 'd'], { maxUncommittedBytes: 64 }, 23, ['a', 'b', 'c']);
  cl.elect('a');
  cl.tickAll(1);
  const a = cl.core('a');
  a.proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 'd', context: new Uint8Array(50) });
  cl.stabilize();
  cl.tickAll(2);
  assert.deepEqual(a.status().conf.learners, ['d']);
  assert.equal(a.status().applied, a.log.lastIndex(), 'setup: nothing is uncommitted any more');
  // Nothing is uncommitted: a 30-byte proposal must be accepted.
  assert.doesNotThrow(() => a.propose(new Uint8Array(30)), 'the applied conf change still counts as uncommitted bytes');
});

test('a leader that applies its own removal (proposed by its predecessor) steps down; the rest elect a new leader', () => {
  const cl = new TestCluster(['a', 'b', 'c', 'd', 'e'], {}, 24);
  cl.elect('a');
  cl.tickAll(1);
  // a proposes removing b, but cannot commit it (acks are lost); then a crashes.
  cl.addFilter((m) => !(m.type === MessageType.AppResp && m.to === 'a'));
  cl.core('a').proposeConfChange(cc(ConfChangeType.Remove, 'b'));
  cl.stabilize();
  cl.stop('a');
  cl.clearFilters();
  // b (which holds the removal) wins; committing its no-op commits the removal of b itself.
  forceCampaign(cl, 'b');
  const b = cl.core('b');
  cl.stabilize();
  assert.deepEqual(b.status().conf.voters, ['a', 'c', 'd', 'e']);
  assert.notEqual(b.role, Role.Leader, 'a leader that is no longer a voter must stop leading');
  // b never campaigns again; c, d, e (3 of the 4 voters) elect a leader that commits.
  for (let i = 0; i < 6 * E && !['c', 'd', 'e'].some((id) => cl.core(id).role === Role.Leader); i++) cl.tickAll(1);
  const leader = cl.leader();
  assert.ok(leader && leader.id !== 'b', 'no new leader among the remaining voters');
  const pos = leader.propose(enc('after-removal'));
  cl.stabilize();
  assert.ok(leader.log.committed >= pos.index);
  assert.notEqual(b.role, Role.Leader);
});

test('a learner added after the log was compacted catches up through a snapshot', () => {
  const cl = new TestCluster(['a', 'b', 'c', 'd'], {}, 25, ['a', 'b', 'c']);
  cl.elect('a');
  for (let i = 0; i < 5; i++) cl.core('a').propose(enc(`pre${i}`));
  cl.stabilize();
  cl.tickAll(1);
  const snap = cl.compact('a', cl.core('a').status().applied);
  const msgs = recorder(cl);
  change(cl, 'a', cc(ConfChangeType.AddLearner, 'd'));
  cl.core('a').propose(enc('post'));
  cl.stabilize();
  cl.tickAll(2);
  const d = cl.core('d');
  assert.ok(msgs.some((m) => m.type === MessageType.Snap && m.to === 'd'), 'the learner should have been sent the snapshot');
  assert.equal(d.log.snapIndex, snap.meta.index);
  assert.equal(d.log.lastIndex(), cl.core('a').log.lastIndex());
  assert.deepEqual(d.status().conf, { voters: ['a', 'b', 'c'], learners: ['d'] });
  assert.deepEqual(appliedOf(cl, 'd'), ['post']);
});
