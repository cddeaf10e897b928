// Leadership transfer (TimeoutNow), and linearizable reads (ReadIndex) on
// the leader and through followers; NotLeaderError hints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NotLeaderError, ProposalDroppedError } from '../../src/raft/errors.js';
import { ConfChangeType, DEFAULT_CONFIG, MessageType, Role, type Message, type NodeId } from '../../src/raft/types.js';
import { TestCluster, carryOut, enc, forceCampaign, recorder, tickNodes } from './cluster.js';

const E = DEFAULT_CONFIG.electionTicks;

function settled(seed: number, ids: NodeId[] = ['a', 'b', 'c']): TestCluster {
  const cl = new TestCluster(ids, {}, seed);
  cl.elect('a');
  cl.tickAll(1);
  return cl;
}

/** Make c lag: Apps to c are lost while the leader appends n entries. */
function lagC(cl: TestCluster, n: number): void {
  cl.addFilter((m) => !(m.to === 'c' && m.type === MessageType.App));
  for (let i = 0; i < n; i++) {
    cl.core('a').propose(enc(`lag${i}`));
    cl.stabilize();
  }
  cl.clearFilters();
  assert.ok(cl.core('c').log.lastIndex() < cl.core('a').log.lastIndex(), 'setup: c lags');
}

// ------------------------------------------------------------------ transfer

test('transfer to an up-to-date follower happens at once through TimeoutNow', () => {
  const cl = settled(1);
  const a = cl.core('a');
  const term = a.term;
  a.transferLeadership('b');
  const rd = a.ready();
  const tn = rd.messages.filter((m) => m.type === MessageType.TimeoutNow);
  assert.equal(tn.length, 1);
  assert.equal(tn[0].to, 'b');
  carryOut(cl, 'a', rd);
  a.advance();
  cl.stabilize(); // no ticks needed
  const b = cl.core('b');
  assert.equal(b.role, Role.Leader);
  assert.equal(b.term, term + 1);
  assert.equal(a.role, Role.Follower);
  assert.equal(a.lead, 'b');
  assert.equal(cl.core('c').lead, 'b');
  assert.throws(() => a.propose(enc('x')), (e: unknown) => e instanceof NotLeaderError && e.leader === 'b');
});

test('transfer to a lagging follower waits until it has caught up, then sends TimeoutNow', () => {
  const cl = settled(2);
  lagC(cl, 5);
  const a = cl.core('a');
  const msgs = recorder(cl);
  const last = a.log.lastIndex();
  a.transferLeadership('c');
  assert.equal(a.status().transferee, 'c');
  cl.stabilize();
  for (let i = 0; i < E && cl.core('c').role !== Role.Leader; i++) cl.tickAll(1);
  assert.equal(cl.core('c').role, Role.Leader, 'the lagging transferee never took over');
  const tnAt = msgs.findIndex((m) => m.type === MessageType.TimeoutNow && m.to === 'c');
  assert.ok(tnAt >= 0);
  const caughtUpAt = msgs.findIndex((m) => m.type === MessageType.AppResp && m.from === 'c' && !m.reject && m.index === last);
  assert.ok(caughtUpAt >= 0 && caughtUpAt < tnAt, 'TimeoutNow went out before the transferee had the whole log');
  assert.ok(cl.core('c').log.lastIndex() > last);
});

test('proposals during a transfer are refused with the transferee as the place to retry', () => {
  const cl = settled(3);
  lagC(cl, 3);
  const a = cl.core('a');
  a.transferLeadership('c');
  const last = a.log.lastIndex();
  assert.throws(() => a.propose(enc('x')), (e: unknown) => e instanceof ProposalDroppedError && e.retryOn === 'c');
  assert.throws(() => a.proposeBatch([enc('x')]), ProposalDroppedError);
  assert.throws(() => a.proposeConfChange({ type: ConfChangeType.Remove, nodeId: 'b', context: new Uint8Array(0) }), ProposalDroppedError);
  assert.equal(a.log.lastIndex(), last, 'a refused proposal was appended');
});

test('a transfer to an unreachable node is abandoned after an election timeout; the old leader keeps leading', () => {
  const cl = settled(4);
  const a = cl.core('a');
  const term = a.term;
  cl.isolate('c');
  a.transferLeadership('c');
  cl.stabilize();
  tickNodes(cl, ['a', 'b'], E - 1);
  assert.equal(a.status().transferee, 'c', 'abandoned too early');
  assert.throws(() => a.propose(enc('x')), ProposalDroppedError);
  tickNodes(cl, ['a', 'b'], 1);
  assert.equal(a.status().transferee, '', 'the transfer was not abandoned after an election timeout');
  assert.equal(a.role, Role.Leader);
  assert.equal(a.term, term);
  a.propose(enc('after'));
  cl.stabilize();
  assert.equal(cl.core('b').log.lastIndex(), a.log.lastIndex());
});

test('a transfer requested on a follower is forwarded to the leader', () => {
  const cl = settled(5);
  const msgs = recorder(cl);
  cl.core('b').transferLeadership('c');
  cl.stabilize();
  assert.ok(msgs.some((m) => m.type === MessageType.TransferLeader && m.from === 'b' && m.to === 'a' && m.context === 'c'));
  assert.equal(cl.core('c').role, Role.Leader);
  assert.equal(cl.core('a').role, Role.Follower);
});

test('transfer: to self is a no-op, to a non-voter is InvalidRequestError, without a leader NotLeaderError', () => {
  const cl = new TestCluster(['a', 'b', 'c', 'd'], {}, 6, ['a', 'b', 'c']);
  cl.stabilize();
  assert.throws(() => cl.core('b').transferLeadership('c'), NotLeaderError);
  cl.elect('a');
  cl.core('a').proposeConfChange({ type: ConfChangeType.AddLearner, nodeId: 'd', context: new Uint8Array(0) });
  cl.stabilize();
  cl.tickAll(1);
  const a = cl.core('a');
  a.transferLeadership('a');
  assert.equal(a.status().transferee, '');
  assert.equal(a.role, Role.Leader);
  assert.throws(() => a.transferLeadership('d'), { name: 'InvalidRequestError' });
  assert.throws(() => a.transferLeadership('zz'), { name: 'InvalidRequestError' });
  assert.equal(a.status().transferee, '');
  // A follower forwarding a bad transferee does not disturb the leader.
  cl.core('b').transferLeadership('zz');
  cl.stabilize();
  assert.equal(a.role, Role.Leader);
  assert.equal(a.status().transferee, '');
});

// ---------------------------------------------------------------- ReadIndex

test('ReadIndex on the leader is answered only after a quorum acknowledged the heartbeat', () => {
  const cl = settled(7);
  const a = cl.core('a');
  a.propose(enc('w'));
  cl.stabilize();
  const commit = a.log.committed;
  // Hold back heartbeat answers.
  cl.addFilter((m) => m.type !== MessageType.HeartbeatResp);
  a.readIndex('r1');
  cl.stabilize();
  assert.deepEqual(cl.readStates.get('a'), [], 'answered without any acknowledgement');
  const hbs = cl.dropped.filter((m) => m.type === MessageType.HeartbeatResp && m.context === 'r1');
  assert.equal(hbs.length, 2, 'both followers should have answered the read heartbeat');
  cl.clearFilters();
  // One follower's answer makes a quorum (2 of 3 with the leader).
  a.step(hbs[0]);
  cl.stabilize();
  assert.deepEqual(cl.readStates.get('a'), [{ index: commit, context: 'r1' }]);
  // The second answer does not produce a second ReadState.
  a.step(hbs[1]);
  cl.stabilize();
  assert.equal(cl.readStates.get('a')!.length, 1);
});

test('ReadIndex: a heartbeat answer from only a minority is not enough (5 nodes)', () => {
  const cl = settled(8, ['a', 'b', 'c', 'd', 'e']);
  const a = cl.core('a');
  cl.addFilter((m) => m.type !== MessageType.HeartbeatResp);
  a.readIndex('r5');
  cl.stabilize();
  const hbs = cl.dropped.filter((m) => m.type === MessageType.HeartbeatResp && m.context === 'r5');
  assert.equal(hbs.length, 4);
  a.step(hbs[0]);
  cl.stabilize();
  assert.deepEqual(cl.readStates.get('a'), [], 'answered with 2 of 5');
  a.step(hbs[1]);
  cl.stabilize();
  assert.equal(cl.readStates.get('a')!.length, 1);
});

test('ReadIndex on an isolated leader is never answered', () => {
  const cl = settled(9);
  const a = cl.core('a');
  cl.isolate('a');
  a.readIndex('lost');
  cl.stabilize();
  cl.tick('a', E - 1);
  assert.deepEqual(cl.readStates.get('a'), []);
});

test('ReadIndex requests queued before a confirmation are answered together', () => {
  const cl = settled(10);
  const a = cl.core('a');
  cl.addFilter((m) => m.type !== MessageType.HeartbeatResp);
  a.readIndex('q1');
  a.propose(enc('between'));
  cl.stabilize();
  a.readIndex('q2');
  cl.stabilize();
  cl.clearFilters();
  const late = cl.dropped.find((m) => m.type === MessageType.HeartbeatResp && m.context === 'q2');
  assert.ok(late);
  a.step(late);
  cl.stabilize();
  const rs = cl.readStates.get('a')!;
  assert.deepEqual(rs.map((r) => r.context).sort(), ['q1', 'q2']);
  const q1 = rs.find((r) => r.context === 'q1')!;
  const q2 = rs.find((r) => r.context === 'q2')!;
  assert.ok(q1.index <= q2.index);
});

test('ReadIndex on a follower is forwarded and answered with the leader\'s commit index', () => {
  const cl = settled(11);
  const a = cl.core('a');
  const pos = a.propose(enc('w'));
  cl.stabilize();
  const msgs = recorder(cl);
  cl.core('b').readIndex('fr');
  cl.stabilize();
  assert.ok(msgs.some((m) => m.type === MessageType.ReadIndex && m.from === 'b' && m.to === 'a'));
  assert.ok(msgs.some((m) => m.type === MessageType.ReadIndexResp && m.to === 'b'));
  assert.deepEqual(cl.readStates.get('b'), [{ index: a.log.committed, context: 'fr' }]);
  assert.ok(a.log.committed >= pos.index, 'the read index covers the acknowledged write');
  assert.deepEqual(cl.readStates.get('a'), [], 'the leader must not report the follower\'s read as its own');
});

test('a follower\'s ReadIndex through an isolated leader is not answered', () => {
  const cl = settled(12);
  // b can reach a, but a cannot reach c, and b's read needs a quorum of a's heartbeat.
  cl.addFilter((m) => !(m.type === MessageType.HeartbeatResp && m.to === 'a'));
  cl.core('b').readIndex('nope');
  cl.stabilize();
  assert.deepEqual(cl.readStates.get('b'), []);
});

test('a new leader defers ReadIndex until it has committed an entry of its term', () => {
  const cl = settled(13);
  // b wins, but cannot commit its no-op yet.
  cl.addFilter((m) => m.type !== MessageType.AppResp);
  forceCampaign(cl, 'b');
  const b = cl.core('b');
  assert.equal(b.role, Role.Leader);
  assert.notEqual(b.log.term(b.log.committed), b.term, 'setup: nothing of the new term committed');
  const msgs = recorder(cl);
  b.readIndex('early');
  cl.stabilize();
  assert.deepEqual(cl.readStates.get('b'), []);
  assert.ok(!msgs.some((m: Message) => m.type === MessageType.Heartbeat && m.context === 'early'), 'the read was started before the first commit');
  cl.clearFilters();
  cl.tickAll(2);
  const rs = cl.readStates.get('b')!;
  assert.equal(rs.length, 1);
  assert.equal(rs[0].context, 'early');
  assert.equal(b.log.term(rs[0].index), b.term, 'the read index must be at least the new term\'s first commit');
});

test('single-node ReadIndex is answered at once, in the next Ready', () => {
  const cl = new TestCluster(['a'], {}, 14);
  cl.elect('a');
  cl.stabilize();
  const a = cl.core('a');
  a.propose(enc('x'));
  cl.stabilize();
  a.readIndex('solo');
  const rd = a.ready();
  assert.deepEqual(rd.readStates, [{ index: a.log.committed, context: 'solo' }]);
  a.advance();
});

test('readIndex without a known leader throws NotLeaderError', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 15);
  cl.stabilize();
  assert.throws(() => cl.core('b').readIndex('x'), (e: unknown) => e instanceof NotLeaderError && e.leader === '');
  // And after the leader is lost (check-quorum step-down).
  cl.elect('a');
  cl.isolate('a');
  cl.tick('a', 2 * E + 1);
  assert.notEqual(cl.core('a').role, Role.Leader);
  assert.throws(() => cl.core('a').readIndex('y'), NotLeaderError);
});

test('propose on a follower throws NotLeaderError with the leader hint and term', () => {
  const cl = settled(16);
  const b = cl.core('b');
  assert.throws(
    () => b.propose(enc('x')),
    (e: unknown) => e instanceof NotLeaderError && e.leader === 'a' && e.term === cl.core('a').term,
  );
  // Before any election the hint is empty.
  const fresh = new TestCluster(['a', 'b', 'c'], {}, 17);
  fresh.stabilize();
  assert.throws(() => fresh.core('a').propose(enc('x')), (e: unknown) => e instanceof NotLeaderError && e.leader === '');
});
