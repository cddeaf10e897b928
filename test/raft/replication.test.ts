// Log replication: catching up, repairing divergent logs, fast backtracking,
// the current-term commit rule (Raft figure 8), batching, message size
// limits, the pipelining window and stale appends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryType, MessageType, Role, type Entry, type Message, type NodeId } from '../../src/raft/types.js';
import { TestCluster, carryOut, dec, enc, forceCampaign, recorder } from './cluster.js';

const logOf = (cl: TestCluster, id: NodeId): string[] => cl.core(id).log.entries.map((e) => `${e.index}/${e.term}/${dec(e.data)}`);
const appliedOf = (cl: TestCluster, id: NodeId): string[] => cl.applied.get(id)!.map((e) => dec(e.data));

function assertSameLogs(cl: TestCluster, ids: NodeId[]): void {
  const ref = logOf(cl, ids[0]);
  for (const id of ids.slice(1)) assert.deepEqual(logOf(cl, id), ref, `log of ${id} differs from ${ids[0]}`);
}

test('proposals are replicated to every node, committed and applied in order', () => {
  const cl = new TestCluster(['a', 'b', 'c', 'd', 'e'], {}, 1);
  cl.elect('a');
  const want: string[] = [];
  for (let i = 0; i < 20; i++) {
    const pos = cl.core('a').propose(enc(`v${i}`));
    assert.equal(pos.term, cl.core('a').term);
    want.push(`v${i}`);
    if (i % 3 === 0) cl.stabilize();
  }
  cl.stabilize();
  cl.tickAll(2);
  assertSameLogs(cl, ['a', 'b', 'c', 'd', 'e']);
  for (const id of ['a', 'b', 'c', 'd', 'e']) {
    assert.deepEqual(appliedOf(cl, id), want, id);
    assert.equal(cl.core(id).log.committed, cl.core('a').log.lastIndex(), id);
  }
});

test('proposal positions are consecutive and match where the entries land', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 2);
  cl.elect('a');
  const a = cl.core('a');
  const p1 = a.propose(enc('x'));
  const ps = a.proposeBatch([enc('y'), enc('z')]);
  assert.equal(ps[0].index, p1.index + 1);
  assert.equal(ps[1].index, p1.index + 2);
  cl.stabilize();
  cl.tickAll(1);
  for (const id of ['b', 'c']) {
    const log = cl.core(id).log;
    assert.equal(dec(log.entry(p1.index)!.data), 'x');
    assert.equal(dec(log.entry(ps[1].index)!.data), 'z');
    assert.equal(log.term(ps[1].index), ps[1].term);
  }
});

test('a follower with a divergent uncommitted tail from an old term gets it replaced', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 3);
  cl.elect('a');
  cl.core('a').propose(enc('base'));
  cl.stabilize();
  const oldTerm = cl.core('a').term;
  // a is cut off and keeps appending in its (now doomed) term.
  cl.isolate('a');
  for (let i = 0; i < 3; i++) cl.core('a').propose(enc(`lost${i}`));
  cl.stabilize();
  assert.equal(cl.core('a').log.lastTerm(), oldTerm);
  // b and c move on in a new term.
  forceCampaign(cl, 'b');
  assert.equal(cl.core('b').role, Role.Leader);
  for (let i = 0; i < 2; i++) cl.core('b').propose(enc(`new${i}`));
  cl.stabilize();
  assert.ok(cl.core('b').term > oldTerm);
  // Heal: a learns the new term from a heartbeat and has its tail replaced.
  cl.clearFilters();
  cl.tick('b', 3);
  assert.equal(cl.core('a').role, Role.Follower);
  assert.equal(cl.core('a').lead, 'b');
  assertSameLogs(cl, ['a', 'b', 'c']);
  for (const id of ['a', 'b', 'c']) {
    assert.ok(!logOf(cl, id).some((s) => s.includes('lost')), `${id} still holds an entry of the deposed leader`);
    assert.deepEqual(appliedOf(cl, id), ['base', 'new0', 'new1'], id);
  }
  // a's disk was rewritten too.
  const disk = cl.disks.get('a')!;
  assert.deepEqual(
    disk.entries.map((e) => `${e.index}/${e.term}/${dec(e.data)}`),
    logOf(cl, 'a'),
  );
});

test('fast backtracking: a follower with ~100 conflicting entries is repaired in a few round trips', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 4);
  cl.elect('a');
  for (let i = 0; i < 5; i++) cl.core('a').propose(enc(`base${i}`));
  cl.stabilize();
  cl.tickAll(1);
  // a, isolated, writes 100 entries in its old term that nobody else will ever have.
  cl.isolate('a');
  for (let i = 0; i < 100; i++) cl.core('a').propose(enc(`stale${i}`));
  cl.stabilize();
  // Two more terms go by without a: b leads, then c leads.
  forceCampaign(cl, 'b');
  for (let i = 0; i < 50; i++) cl.core('b').propose(enc(`b${i}`));
  cl.stabilize();
  forceCampaign(cl, 'c');
  assert.equal(cl.core('c').role, Role.Leader);
  for (let i = 0; i < 50; i++) cl.core('c').propose(enc(`c${i}`));
  cl.stabilize();
  assert.ok(cl.core('a').log.lastIndex() > cl.core('c').log.committed - 10, 'setup: a has a long stale tail');
  cl.clearFilters();
  const msgs = recorder(cl);
  for (let i = 0; i < 20 && logOf(cl, 'a').join() !== logOf(cl, 'c').join(); i++) cl.tick('c');
  assertSameLogs(cl, ['a', 'b', 'c']);
  const rejections = msgs.filter((m) => m.type === MessageType.AppResp && m.from === 'a' && m.reject).length;
  const apps = msgs.filter((m) => m.type === MessageType.App && m.to === 'a').length;
  assert.ok(rejections >= 1, 'setup: a must have rejected at least once');
  assert.ok(rejections < 10, `too many rejections (${rejections}): backtracking is not using the conflict term`);
  assert.ok(apps < 10, `too many App messages to a (${apps})`);
});

test('fast backtracking: a follower that merely lags 100 entries is found in one rejection', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 5);
  cl.elect('a');
  cl.stop('c');
  for (let i = 0; i < 100; i++) {
    cl.core('a').propose(enc(`x${i}`));
    cl.stabilize();
  }
  cl.start('c');
  const msgs = recorder(cl);
  cl.tickAll(3);
  cl.core('a').propose(enc('after'));
  cl.stabilize();
  cl.tickAll(2);
  assertSameLogs(cl, ['a', 'b', 'c']);
  const rejections = msgs.filter((m) => m.type === MessageType.AppResp && m.from === 'c' && m.reject).length;
  assert.ok(rejections <= 2, `too many rejections (${rejections}) for a follower that only lags`);
});

/**
 * Raft figure 8, steps (a)-(c), on 5 nodes: a (term t1) holds X on a and b;
 * e (term t2) holds its own entry at X's index; a wins a later term t3 and
 * replicates X to c (so X sits on a majority) while its no-op reaches b only.
 * maxEntriesPerMsg=1 lets the filters split X from the no-op.
 */
function figure8(): { cl: TestCluster; X: { index: number }; t1: number; t2: number; t3: number } {
  const cl = new TestCluster(['a', 'b', 'c', 'd', 'e'], { preVote: false, checkQuorum: false, maxEntriesPerMsg: 1 }, 6);
  cl.elect('a');
  cl.stabilize();
  const base = cl.core('a').log.lastIndex();
  const t1 = cl.core('a').term;
  // (a) a (term t1) replicates X at base+1 to b only.
  cl.addFilter((m) => !(m.from === 'a' && ['c', 'd', 'e'].includes(m.to)) && !(m.to === 'a' && ['c', 'd', 'e'].includes(m.from)));
  const X = cl.core('a').propose(enc('X'));
  assert.equal(X.index, base + 1);
  cl.stabilize();
  assert.equal(cl.core('b').log.term(X.index), t1);
  assert.equal(cl.core('a').log.committed, base);
  // (b) a crashes; e wins term t2 with c and d, and appends its no-op at base+1 (sent nowhere).
  cl.stop('a');
  cl.clearFilters();
  cl.addFilter((m) => !(m.from === 'e' && m.type === MessageType.App));
  cl.elect('e');
  const t2 = cl.core('e').term;
  assert.equal(cl.core('e').log.term(X.index), t2);
  cl.stop('e');
  cl.clearFilters();
  // (c) a restarts and wins a later term t3. It replicates X to c, but its own no-op only to b;
  //     d gets nothing.
  cl.start('a');
  cl.stabilize();
  cl.addFilter((m) => !(m.to === 'd' && m.type === MessageType.App));
  cl.addFilter(
    (m) =>
      !(m.to === 'c' && m.type === MessageType.App && m.entries.some((e) => e.term > t2) && (cl.cores.get('c')?.log.lastIndex() ?? 0) >= X.index),
  );
  cl.elect('a');
  const t3 = cl.core('a').term;
  assert.ok(t3 > t2);
  cl.tickAll(2);
  return { cl, X, t1, t2, t3 };
}

test('figure 8: an old-term entry on a majority is not committed until an entry of the current term is', () => {
  const { cl, X, t1, t3 } = figure8();
  const a = cl.core('a');
  assert.equal(a.role, Role.Leader);
  for (const id of ['a', 'b', 'c']) assert.equal(cl.core(id).log.term(X.index), t1, `setup: ${id} must hold X from term ${t1}`);
  assert.equal(a.log.term(X.index + 1), t3);
  assert.equal(cl.core('c').log.lastIndex(), X.index, 'setup: c must not have the new no-op');
  // X sits on a majority (a, b, c) but is from an older term: it must not be committed.
  assert.ok(a.log.committed < X.index, `X (term ${t1}) was committed by the term-${t3} leader through counting replicas`);
  for (const id of ['a', 'b', 'c', 'd']) {
    assert.ok(cl.core(id).log.committed < X.index, `${id} committed X`);
    assert.ok(!appliedOf(cl, id).includes('X'), `${id} applied X`);
  }
  // (e) once the current-term entry reaches a majority, X is committed with it.
  cl.clearFilters();
  cl.core('a').propose(enc('Y'));
  cl.stabilize();
  cl.tickAll(2);
  assert.ok(a.log.committed >= X.index + 2);
  for (const id of ['a', 'b', 'c', 'd']) assert.deepEqual(appliedOf(cl, id), ['X', 'Y'], id);
});

test('figure 8 (d): why it matters — the old-term entry on a majority can still be overwritten', () => {
  const { cl, X, t2 } = figure8();
  // a crashes before its own entry reaches a majority; e comes back and wins with c and d.
  cl.stop('a');
  cl.clearFilters();
  cl.start('e');
  cl.stabilize();
  cl.elect('e');
  cl.tickAll(3);
  const e = cl.core('e');
  assert.equal(e.role, Role.Leader);
  assert.ok(e.log.committed >= X.index);
  assert.equal(e.log.term(X.index), t2, 'e committed its own entry at X\'s index');
  for (const id of ['c', 'd']) assert.equal(cl.core(id).log.term(X.index), t2);
  // Nobody ever applied X: committing it earlier would have broken state machine safety.
  for (const id of ['b', 'c', 'd', 'e']) assert.ok(!appliedOf(cl, id).includes('X'), `${id} applied the overwritten X`);
});

test('batching: 100 proposals between two ready() calls go out as one App per follower', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 7);
  cl.elect('a');
  cl.tickAll(1);
  const a = cl.core('a');
  const first = a.log.lastIndex() + 1;
  for (let i = 0; i < 100; i++) a.propose(enc(`m${i}`));
  const rd = a.ready();
  const apps = rd.messages.filter((m) => m.type === MessageType.App);
  assert.deepEqual(apps.map((m) => m.to).sort(), ['b', 'c'], 'expected exactly one App per follower');
  for (const m of apps) {
    assert.equal(m.entries.length, 100);
    assert.equal(m.entries[0].index, first);
    assert.equal(m.index, first - 1);
    assert.equal(m.logTerm, a.log.term(first - 1));
  }
  assert.equal(rd.entries.length, 100, 'the leader persists the batch in the same Ready');
  carryOut(cl, 'a', rd);
  a.advance();
  cl.stabilize();
  cl.tickAll(1);
  assertSameLogs(cl, ['a', 'b', 'c']);
  assert.equal(appliedOf(cl, 'c').length, 100);
});

test('proposeBatch is all-or-nothing and goes out in one App per follower', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 8);
  cl.elect('a');
  cl.tickAll(1);
  const a = cl.core('a');
  const pos = a.proposeBatch(Array.from({ length: 10 }, (_, i) => enc(`b${i}`)));
  assert.equal(pos.length, 10);
  const rd = a.ready();
  assert.equal(rd.messages.filter((m) => m.type === MessageType.App && m.to === 'b').length, 1);
  carryOut(cl, 'a', rd);
  a.advance();
  // A follower refuses the whole batch and appends nothing.
  const bLast = cl.core('b').log.lastIndex();
  assert.throws(() => cl.core('b').proposeBatch([enc('x'), enc('y')]), { name: 'NotLeaderError' });
  assert.equal(cl.core('b').log.lastIndex(), bLast);
});

function appsTo(msgs: Message[], to: NodeId): Message[] {
  return msgs.filter((m) => m.type === MessageType.App && m.to === to);
}

/** Apps that carry entries (an App with only a commit advance takes no room in the window). */
function entryAppsTo(msgs: Message[], to: NodeId): Message[] {
  return appsTo(msgs, to).filter((m) => m.entries.length > 0);
}

function assertCoversContiguously(apps: Message[], from: number, to: number): void {
  let next = from;
  for (const m of apps) {
    if (m.entries.length === 0) continue;
    assert.equal(m.entries[0].index, next, 'App messages must cover the new entries in order, without gaps');
    assert.equal(m.index, next - 1);
    next = m.entries[m.entries.length - 1].index + 1;
  }
  assert.equal(next, to + 1, 'App messages must cover every new entry');
}

test('maxEntriesPerMsg bounds the number of entries in one App', () => {
  const cl = new TestCluster(['a', 'b', 'c'], { maxEntriesPerMsg: 7 }, 9);
  cl.elect('a');
  cl.tickAll(1);
  const a = cl.core('a');
  const first = a.log.lastIndex() + 1;
  for (let i = 0; i < 30; i++) a.propose(enc(`e${i}`));
  const rd = a.ready();
  const apps = appsTo(rd.messages, 'b');
  for (const m of apps) assert.ok(m.entries.length <= 7, `App with ${m.entries.length} entries`);
  assert.equal(apps.length, 5);
  assertCoversContiguously(apps, first, first + 29);
  carryOut(cl, 'a', rd);
  a.advance();
  cl.stabilize();
  assertSameLogs(cl, ['a', 'b', 'c']);
});

test('maxBytesPerMsg bounds the data in one App, but an oversized entry still goes (alone)', () => {
  const cl = new TestCluster(['a', 'b', 'c'], { maxBytesPerMsg: 100 }, 10);
  cl.elect('a');
  cl.tickAll(1);
  const a = cl.core('a');
  const first = a.log.lastIndex() + 1;
  for (let i = 0; i < 10; i++) a.propose(new Uint8Array(30).fill(i));
  a.propose(new Uint8Array(500).fill(7));
  a.propose(new Uint8Array(30));
  const rd = a.ready();
  const apps = appsTo(rd.messages, 'c');
  for (const m of apps) {
    const bytes = m.entries.reduce((n, e) => n + e.data.byteLength, 0);
    assert.ok(m.entries.length === 1 || bytes <= 100, `App carries ${bytes} bytes in ${m.entries.length} entries`);
    assert.ok(m.entries.length >= 1);
  }
  const big = apps.find((m) => m.entries.some((e) => e.data.byteLength === 500));
  assert.ok(big);
  assert.equal(big.entries.length, 1, 'the oversized entry must travel alone');
  assertCoversContiguously(apps, first, first + 11);
  carryOut(cl, 'a', rd);
  a.advance();
  cl.stabilize();
  assertSameLogs(cl, ['a', 'b', 'c']);
});

test('pipelining: with maxInflight=N the leader sends at most N Apps to a silent follower, then resumes on answers', () => {
  const N = 3;
  const cl = new TestCluster(['a', 'b', 'c'], { maxInflight: N }, 11);
  cl.elect('a');
  cl.tickAll(1);
  assert.equal(cl.core('a').status().progress.c.state, 'replicate');
  // Hold back everything addressed to c (kept in cl.dropped, delivered later).
  cl.addFilter((m) => m.to !== 'c');
  for (let i = 0; i < 10; i++) {
    cl.core('a').propose(enc(`p${i}`));
    cl.stabilize();
  }
  cl.tick('a', 3);
  const held = cl.dropped.filter((m) => m.to === 'c');
  assert.equal(entryAppsTo(held, 'c').length, N, `expected exactly ${N} Apps with entries in flight to c`);
  // Meanwhile b got everything and it is committed.
  assert.equal(cl.core('b').log.lastIndex(), cl.core('a').log.lastIndex());
  assert.equal(cl.core('a').log.committed, cl.core('a').log.lastIndex());
  // c answers: deliver what was held, in order.
  cl.clearFilters();
  const msgs = recorder(cl);
  cl.dropped.length = 0;
  for (const m of held) cl.core('c').step(m);
  cl.stabilize();
  assert.ok(entryAppsTo(msgs, 'c').length > 0, 'the leader did not resume sending after the answers');
  assertSameLogs(cl, ['a', 'b', 'c']);
});

test('pipelining: in replicate state several Apps are outstanding at once (no stop-and-wait)', () => {
  const cl = new TestCluster(['a', 'b', 'c'], { maxInflight: 8 }, 12);
  cl.elect('a');
  cl.tickAll(1);
  cl.addFilter((m) => m.to !== 'b');
  for (let i = 0; i < 5; i++) {
    cl.core('a').propose(enc(`q${i}`));
    cl.stabilize();
  }
  assert.equal(entryAppsTo(cl.dropped, 'b').length, 5);
});

test('a stale or duplicated App whose entries the follower holds does not truncate what follows', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 13);
  cl.elect('a');
  cl.tickAll(1);
  // Keep everything uncommitted: a follower ignores the entries of an App below its commit index,
  // so only uncommitted entries exercise the no-truncation rule.
  cl.addFilter((m) => m.type !== MessageType.AppResp);
  const msgs = recorder(cl);
  cl.core('a').proposeBatch([enc('1'), enc('2')]);
  cl.stabilize();
  cl.core('a').proposeBatch([enc('3'), enc('4')]);
  cl.stabilize();
  const b = cl.core('b');
  const before = logOf(cl, 'b');
  const lastBefore = b.log.lastIndex();
  const early = appsTo(msgs, 'b').find((m) => m.entries.length === 2 && dec(m.entries[0].data) === '1');
  assert.ok(early, 'setup: the first App to b was recorded');
  assert.ok(b.log.committed <= early.index, 'setup: the entries must be uncommitted on b');
  // Re-deliver the old App, and a prefix-only copy of it.
  b.step(early);
  b.step({ ...early, entries: early.entries.slice(0, 1) });
  assert.deepEqual(logOf(cl, 'b'), before, 'a duplicate App truncated the log');
  assert.equal(b.log.lastIndex(), lastBefore);
  const rd = b.ready();
  assert.equal(rd.entries.length, 0, 'nothing new to persist after a duplicate App');
  const resps = rd.messages.filter((m) => m.type === MessageType.AppResp);
  assert.ok(resps.length >= 1);
  for (const r of resps) assert.equal(r.reject, false);
  assert.equal(resps[0].index, early.index + 2, 'the ack covers exactly what the duplicate carried');
  b.advance();
  cl.clearFilters();
  cl.tickAll(2);
  assertSameLogs(cl, ['a', 'b', 'c']);
  // The same duplicate once everything is committed changes nothing either.
  const committedLog = logOf(cl, 'b');
  b.step(early);
  cl.stabilize();
  assert.deepEqual(logOf(cl, 'b'), committedLog);
});

test('an App that overlaps what the follower holds and extends it appends only the new part', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 14);
  cl.elect('a');
  cl.tickAll(1);
  const a = cl.core('a');
  const b = cl.core('b');
  // Keep the new entry uncommitted (a follower ignores Apps below its commit index).
  cl.addFilter((m) => m.type !== MessageType.AppResp);
  a.propose(enc('1'));
  cl.stabilize();
  const prev = b.log.lastIndex() - 1;
  assert.ok(b.log.committed <= prev, 'setup: the last entry of b must be uncommitted');
  const held: Entry[] = [b.log.entry(prev + 1)!, { term: a.term, index: prev + 2, type: EntryType.Normal, data: enc('2') }];
  // Not through a: build the overlapping App by hand, as a leader would send it.
  b.step({
    type: MessageType.App,
    from: 'a',
    to: 'b',
    term: a.term,
    logTerm: b.log.term(prev),
    index: prev,
    entries: held,
    commit: 0,
    reject: false,
    rejectHint: 0,
    snapshot: null,
    context: '',
  });
  const rd = b.ready();
  assert.deepEqual(
    rd.entries.map((e) => e.index),
    [prev + 2],
    'only the entry beyond what b already holds needs persisting',
  );
  const resp = rd.messages.find((m) => m.type === MessageType.AppResp);
  assert.equal(resp?.reject, false);
  assert.equal(resp?.index, prev + 2);
  b.advance();
  assert.equal(dec(b.log.entry(prev + 2)!.data), '2');
});

test('heartbeats carry a commit index bounded by what the follower is known to hold', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 15);
  cl.elect('a');
  cl.tickAll(1);
  cl.addFilter((m) => !(m.to === 'c' && m.type === MessageType.App));
  for (let i = 0; i < 5; i++) cl.core('a').propose(enc(`h${i}`));
  cl.stabilize();
  const msgs = recorder(cl);
  cl.tick('a', 2);
  const cMatch = cl.core('a').status().progress.c.match;
  const hbs = msgs.filter((m) => m.type === MessageType.Heartbeat && m.to === 'c');
  assert.ok(hbs.length > 0);
  for (const m of hbs) assert.ok(m.commit <= cMatch, `heartbeat to c carries commit ${m.commit} beyond its match ${cMatch}`);
  assert.ok(cl.core('c').log.committed <= cl.core('c').log.lastIndex());
});

test('followers learn the commit index (by App or heartbeat) and apply everything', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 16);
  cl.elect('a');
  cl.core('a').propose(enc('k'));
  cl.stabilize();
  cl.tickAll(1);
  for (const id of ['b', 'c']) {
    assert.equal(cl.core(id).log.committed, cl.core('a').log.committed);
    assert.deepEqual(appliedOf(cl, id), ['k']);
  }
});

test('an idle follower whose in-flight Apps were lost catches up through heartbeats alone', () => {
  // The leader is in replicate state for c and optimistically advanced c's next; the Apps were
  // lost. With no further proposals, the heartbeat answers from c (showing it lags) must lead the
  // leader to probe c again, as etcd-io/raft does (sendAppend on MsgHeartbeatResp when match < last).
  const cl = new TestCluster(['a', 'b', 'c'], {}, 17);
  cl.elect('a');
  cl.tickAll(1);
  cl.addFilter((m) => !(m.to === 'c' && m.type === MessageType.App));
  for (let i = 0; i < 3; i++) {
    cl.core('a').propose(enc(`lost${i}`));
    cl.stabilize();
  }
  assert.ok(cl.core('c').log.lastIndex() < cl.core('a').log.lastIndex());
  cl.clearFilters();
  cl.tickAll(3 * 10);
  assert.equal(
    cl.core('c').log.lastIndex(),
    cl.core('a').log.lastIndex(),
    `c is stuck at ${cl.core('c').log.lastIndex()} while the leader is at ${cl.core('a').log.lastIndex()} (progress: ${JSON.stringify(cl.core('a').status().progress.c)})`,
  );
  assert.deepEqual(appliedOf(cl, 'c'), ['lost0', 'lost1', 'lost2']);
});

test('a restarted follower that lost nothing resumes replication', () => {
  const cl = new TestCluster(['a', 'b', 'c'], {}, 18);
  cl.elect('a');
  cl.core('a').propose(enc('r0'));
  cl.stabilize();
  cl.stop('b');
  cl.core('a').propose(enc('r1'));
  cl.stabilize();
  cl.start('b');
  cl.stabilize();
  cl.core('a').propose(enc('r2'));
  cl.stabilize();
  cl.tickAll(2);
  assertSameLogs(cl, ['a', 'b', 'c']);
  assert.deepEqual(appliedOf(cl, 'b'), ['r0', 'r1', 'r2']);
});

test('back-pressure: proposals are refused while maxUncommittedBytes are uncommitted, and accepted once applied', () => {
  const cl = new TestCluster(['a', 'b', 'c'], { maxUncommittedBytes: 100 }, 19);
  cl.elect('a');
  cl.tickAll(1);
  const a = cl.core('a');
  cl.addFilter((m) => m.type !== MessageType.App);
  a.propose(new Uint8Array(60));
  a.propose(new Uint8Array(30));
  cl.stabilize();
  assert.throws(() => a.propose(new Uint8Array(20)), { name: 'ProposalDroppedError' });
  // A single proposal larger than the limit is accepted when nothing else is pending (else it could never go).
  cl.clearFilters();
  cl.tickAll(3);
  assert.equal(a.status().applied, a.log.lastIndex(), 'setup: everything applied');
  a.propose(new Uint8Array(20));
  cl.stabilize();
  cl.tickAll(1);
  a.propose(new Uint8Array(500));
  assert.throws(() => a.propose(new Uint8Array(1)), { name: 'ProposalDroppedError' });
});

test('maxCommittedBytesPerReady hands a committed backlog out in slices, in order, at least one entry each', () => {
  const cl = new TestCluster(['a', 'b', 'c'], { maxCommittedBytesPerReady: 25 }, 7);
  cl.elect('a');
  const a = cl.core('a');
  const c = cl.core('c');
  // c hears nothing while ten entries of 10 bytes and one of 40 commit on a and b.
  cl.isolate('c');
  for (let i = 0; i < 10; i++) a.propose(enc(`entry-${String(i).padStart(4, '0')}`));
  a.propose(enc('x'.repeat(40)));
  cl.stabilize();
  cl.clearFilters();
  // Record the committed entries of each of c's Readies while everything reaches it.
  const slices: number[][] = [];
  const ready = c.ready.bind(c);
  c.ready = () => {
    const rd = ready();
    const data = rd.committedEntries.filter((e) => e.type === EntryType.Normal && e.data.length > 0);
    if (data.length > 0) slices.push(data.map((e) => e.data.length));
    return rd;
  };
  cl.tickAll(2);
  cl.stabilize();
  assert.equal(cl.core('c').log.applied, a.log.committed);
  assert.deepEqual(appliedOf(cl, 'c'), appliedOf(cl, 'a'), 'the same entries, in the same order');
  assert.ok(slices.length >= 5, `handed out in slices (got ${JSON.stringify(slices)})`);
  for (const s of slices) assert.ok(s.length === 1 || s.reduce((n, b) => n + b, 0) <= 25, `a slice over the limit holds one entry: ${JSON.stringify(s)}`);
  assert.ok(slices.some((s) => s.length === 1 && s[0] === 40), 'an entry larger than the limit still goes, alone');
});
