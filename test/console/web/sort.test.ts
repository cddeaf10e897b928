// The console's orders match docker's listings.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compareTasksNewestFirst, eventsNewestFirst, isCurrent, naturalCompare, sortNodes, sortServices, splitTasks } from '../../../src/console/web/sort.js';
import type { ClusterEvent } from '../../../src/console/web/types.js';
import { iso, node, service, T0, task } from './fixtures.js';

test('natural order: digit runs compare as numbers', () => {
  const names = ['web10', 'web2', 'api', 'web1', 'web02', 'Web3', 'web'];
  assert.deepEqual([...names].sort(naturalCompare), ['Web3', 'api', 'web', 'web1', 'web2', 'web02', 'web10']);
  assert.equal(naturalCompare('a', 'a'), 0);
  assert.ok(naturalCompare('node-9', 'node-10') < 0);
  assert.ok(naturalCompare('x1y2', 'x1y10') < 0);
});

test('services by name, nodes by hostname', () => {
  const s = sortServices([service('1', { name: 'web10' }), service('2', { name: 'web9' }), service('3', { name: 'db' })]);
  assert.deepEqual(s.map((x) => x.name), ['db', 'web9', 'web10']);
  const n = sortNodes([node('a', { hostname: 'node-10' }), node('b', { hostname: 'node-2' })]);
  assert.deepEqual(n.map((x) => x.hostname), ['node-2', 'node-10']);
});

test('tasks: the current ones first, each group by slot then newest first (docker service ps)', () => {
  const tasks = [
    task('old1', { slot: 1, desiredState: 'shutdown', state: 'failed', createdAt: iso(T0) }),
    task('cur2', { slot: 2, createdAt: iso(T0 + 5000) }),
    task('cur1', { slot: 1, createdAt: iso(T0 + 9000) }),
    task('mid1', { slot: 1, desiredState: 'shutdown', state: 'shutdown', createdAt: iso(T0 + 4000) }),
    task('old10', { slot: 10, desiredState: 'remove', createdAt: iso(T0) }),
    task('old2', { slot: 2, desiredState: 'shutdown', createdAt: iso(T0 + 1000) }),
  ];
  const { current, history } = splitTasks(tasks);
  assert.deepEqual(current.map((t) => t.id), ['cur1', 'cur2']);
  assert.deepEqual(history.map((t) => t.id), ['mid1', 'old1', 'old2', 'old10']);
  assert.ok(isCurrent(task('x', { desiredState: 'ready' })));
  assert.ok(!isCurrent(task('x', { desiredState: 'shutdown' })));
});

test('global tasks (slot 0) group by node', () => {
  const { current } = splitTasks([task('b', { slot: 0, nodeId: 'n2' }), task('a', { slot: 0, nodeId: 'n1' })]);
  assert.deepEqual(current.map((t) => t.id), ['a', 'b']);
});

test('newest first, for a slot history and the timeline (with a type filter)', () => {
  const t = [task('a', { createdAt: iso(T0) }), task('b', { createdAt: iso(T0 + 1) })].sort(compareTasksNewestFirst);
  assert.deepEqual(t.map((x) => x.id), ['b', 'a']);
  const ev = (id: string, type: ClusterEvent['type']): ClusterEvent => ({ type, action: 'create', id, name: id, time: iso(T0), attributes: {} });
  const events = [ev('1', 'service'), ev('2', 'node'), ev('3', 'service')];
  assert.deepEqual(eventsNewestFirst(events, '').map((e) => e.id), ['3', '2', '1']);
  assert.deepEqual(eventsNewestFirst(events, 'service').map((e) => e.id), ['3', '1']);
  assert.deepEqual(eventsNewestFirst(events, 'secret'), []);
});
