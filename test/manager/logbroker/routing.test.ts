// The decisions of the log broker (src/manager/logbroker): where a manager
// gets a stream from (route.ts), where each node of a subscription stands
// (progress.ts), which lines a client has had (cursors.ts).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { LogCursors } from '../../../src/manager/logbroker/cursors.js';
import { NodeProgress } from '../../../src/manager/logbroker/progress.js';
import { resubscribeAfter, routeLogs } from '../../../src/manager/logbroker/route.js';

test('route: the leader reads itself; a follower forwards to the leader; none known: wait; a forwarded call is never forwarded again', () => {
  const v = { leading: false, leaderAddress: '10.0.0.1:4242', selfAddress: '10.0.0.2:4242', forwarded: false };
  assert.deepEqual(routeLogs({ ...v, leading: true }), { kind: 'local' });
  assert.deepEqual(routeLogs({ ...v, leading: true, forwarded: true }), { kind: 'local' });
  assert.deepEqual(routeLogs(v), { kind: 'forward', address: '10.0.0.1:4242' });
  assert.deepEqual(routeLogs({ ...v, leaderAddress: '' }), { kind: 'wait' });
  // This manager named as leader while its broker does not run (just elected, or just deposed): wait.
  assert.deepEqual(routeLogs({ ...v, leaderAddress: v.selfAddress }), { kind: 'wait' });
  assert.deepEqual(routeLogs({ ...v, forwarded: true }), { kind: 'refuse' });
  assert.deepEqual(routeLogs({ ...v, forwarded: true, leaderAddress: '' }), { kind: 'refuse' });
});

test('route: a stream broken by the leader\'s loss is subscribed again; a refusal is the client\'s', () => {
  for (const code of [grpc.status.UNAVAILABLE, grpc.status.CANCELLED, grpc.status.UNKNOWN, grpc.status.INTERNAL]) assert.equal(resubscribeAfter(code), true, grpc.status[code]);
  for (const code of [grpc.status.NOT_FOUND, grpc.status.INVALID_ARGUMENT, grpc.status.PERMISSION_DENIED, grpc.status.RESOURCE_EXHAUSTED, grpc.status.FAILED_PRECONDITION]) {
    assert.equal(resubscribeAfter(code), false, grpc.status[code]);
  }
});

test('progress: sent once a node has a session; given up on without one, or without an answer; finished when all are done or given up', () => {
  const p = new NodeProgress({ sessionWaitMs: 1_000, answerMs: 500 });
  const sessions = new Set(['a']);
  p.add('a', 0);
  p.add('b', 0);
  p.add('c', 0);
  assert.deepEqual(p.step(0, (n) => sessions.has(n)), [{ kind: 'send', nodeId: 'a' }]);
  assert.deepEqual(p.step(100, (n) => sessions.has(n)), [], 'nothing sent twice');
  sessions.add('b');
  assert.deepEqual(p.step(200, (n) => sessions.has(n)), [{ kind: 'send', nodeId: 'b' }], 'b reconnected in time');
  p.answered('a');
  assert.deepEqual(p.step(700, (n) => sessions.has(n)), [{ kind: 'give-up', nodeId: 'b', why: 'did not answer within 1s' }]);
  assert.equal(p.finished(), false);
  assert.deepEqual(p.step(1_000, (n) => sessions.has(n)), [{ kind: 'give-up', nodeId: 'c', why: 'has no session with the leader (down, or cut off)' }]);
  assert.equal(p.finished(), false, 'a is still sending');
  assert.equal(p.active('a'), true);
  p.done('a');
  assert.equal(p.finished(), true);
  assert.equal(p.lost('a'), false, 'a finished: nothing to warn about');
});

test('progress: a node whose stream breaks before it is done is lost once; a late answer of a given-up node changes nothing', () => {
  const p = new NodeProgress({ sessionWaitMs: 1_000, answerMs: 500 });
  p.add('a', 0);
  p.add('b', 0);
  p.step(0, () => true);
  p.answered('a');
  assert.equal(p.lost('a'), true);
  assert.equal(p.lost('a'), false);
  p.step(600, () => true);
  p.answered('b');
  assert.equal(p.active('b'), false);
  assert.equal(p.finished(), true);
});

const line = (taskId: string, timestamp: string, data: string): { taskId: string; timestamp: string; data: string } => ({ taskId, timestamp, data });

test('cursors: each line once, per task, across a resubscription that repeats the lines at the cursor', () => {
  const c = new LogCursors();
  assert.equal(c.admit(line('t1', '2024-01-01T00:00:01.000000000Z', 'a')), true);
  assert.equal(c.admit(line('t1', '2024-01-01T00:00:02.000000000Z', 'b')), true);
  assert.equal(c.admit(line('t1', '2024-01-01T00:00:02.000000000Z', 'c')), true, 'another line with the same timestamp');
  assert.equal(c.admit(line('t2', '2024-01-01T00:00:00.500000000Z', 'z')), true, 'tasks are independent');
  assert.deepEqual(c.list(), [
    { taskId: 't1', timestamp: '2024-01-01T00:00:02.000000000Z', seen: ['b', 'c'] },
    { taskId: 't2', timestamp: '2024-01-01T00:00:00.500000000Z', seen: ['z'] },
  ]);
  // The next leader's stream, from the cursors (the engine's since keeps the lines at the cursor).
  const again = new LogCursors(c.list());
  assert.equal(again.admit(line('t1', '2024-01-01T00:00:01.000000000Z', 'a')), false);
  assert.equal(again.admit(line('t1', '2024-01-01T00:00:02.000000000Z', 'b')), false);
  assert.equal(again.admit(line('t1', '2024-01-01T00:00:02.000000000Z', 'c')), false);
  assert.equal(again.admit(line('t1', '2024-01-01T00:00:02.000000000Z', 'd')), true);
  assert.equal(again.admit(line('t1', '2024-01-01T00:00:03Z', 'e')), true, 'a shorter fraction compares right');
  assert.equal(again.admit(line('t1', '2024-01-01T00:00:02.9Z', 'late')), false);
  assert.equal(again.admit(line('t3', '', 'no timestamp')), true);
});
