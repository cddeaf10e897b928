// The mapping of store changes to cluster events (src/manager/events/map.ts),
// transition by transition, against docker's shapes (moby daemon/events.go).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TaskState, type Network, type Node, type Service, type Task } from '../../../src/api/objects.js';
import { eventsOfChange, leaderChangeEvents, taskEventName, type EventNames } from '../../../src/manager/events/map.js';
import type { ObjectEvent } from '../../../src/manager/store/watch.js';
import { config, node, secret, service, task, T0 } from '../store-fixtures.js';

const network = (id: string, name: string): Network => ({ id, version: 0, createdAt: T0, updatedAt: T0, spec: { name, labels: {}, driver: 'overlay' } });

const NOW = T0 + 99_000;
const names: EventNames = { nodeName: (id) => (id === 'w1' ? 'host-w1' : undefined) };
const up = <T extends { updatedAt: number }>(o: T, at = T0 + 5_000): T => ({ ...structuredClone(o), updatedAt: at });
const map = (ev: ObjectEvent): ReturnType<typeof eventsOfChange> => eventsOfChange(ev, names, NOW);

test('service create, update, remove: docker shape, times from the object (now for a removal)', () => {
  const s = service('s1', 'web');
  assert.deepEqual(map({ kind: 'service', op: 'create', object: s, index: 7 }), [
    { type: 'service', action: 'create', actor: { id: 's1', attributes: { name: 'web' } }, timeMs: T0, index: 7 },
  ]);
  const bare = map({ kind: 'service', op: 'update', object: up(s), old: s, index: 8 });
  assert.deepEqual(bare, [{ type: 'service', action: 'update', actor: { id: 's1', attributes: { name: 'web' } }, timeMs: T0 + 5_000, index: 8 }]);
  assert.deepEqual(map({ kind: 'service', op: 'delete', object: s, index: 9 }), [
    { type: 'service', action: 'remove', actor: { id: 's1', attributes: { name: 'web' } }, timeMs: NOW, index: 9 },
  ]);
});

test('service update: replicas.old/new, image.old/new', () => {
  const s = service('s1', 'web');
  const scaled: Service = up(s);
  scaled.spec.mode = { replicated: { replicas: 5 } };
  assert.deepEqual(map({ kind: 'service', op: 'update', object: scaled, old: s, index: 8 })[0].actor.attributes, { name: 'web', 'replicas.old': '2', 'replicas.new': '5' });
  const image: Service = up(s);
  image.spec.taskTemplate.container.image = 'busybox:2';
  assert.deepEqual(map({ kind: 'service', op: 'update', object: image, old: s, index: 8 })[0].actor.attributes, { name: 'web', 'image.old': 'busybox:latest', 'image.new': 'busybox:2' });
  // replicated <-> global: no replicas attributes (docker logs an error and adds none).
  const global: Service = up(s);
  global.spec.mode = { global: {} };
  assert.deepEqual(map({ kind: 'service', op: 'update', object: global, old: s, index: 8 })[0].actor.attributes, { name: 'web' });
});

test('service update status: updatestate.new first, then old/new on each change; the canary phase beyond docker', () => {
  const s = service('s1', 'web');
  const st = { startedAt: T0, completedAt: 0, message: '', startVersion: 3, canary: 'none' as const };
  const updating: Service = { ...up(s), updateStatus: { ...st, state: 'updating' } };
  assert.deepEqual(map({ kind: 'service', op: 'update', object: updating, old: s, index: 8 })[0].actor.attributes, { name: 'web', 'updatestate.new': 'updating' });
  const same: Service = up(updating);
  assert.deepEqual(map({ kind: 'service', op: 'update', object: same, old: updating, index: 9 })[0].actor.attributes, { name: 'web' });
  const done: Service = { ...up(updating), updateStatus: { ...st, state: 'completed', completedAt: T0 + 9 } };
  assert.deepEqual(map({ kind: 'service', op: 'update', object: done, old: updating, index: 10 })[0].actor.attributes, { name: 'web', 'updatestate.old': 'updating', 'updatestate.new': 'completed' });
  const rollback: Service = { ...up(done), updateStatus: { ...st, state: 'rollback_started' } };
  assert.equal(map({ kind: 'service', op: 'update', object: rollback, old: done, index: 11 })[0].actor.attributes['updatestate.new'], 'rollback_started');
  const canary: Service = { ...up(updating), updateStatus: { ...st, state: 'updating', canary: 'awaiting_promotion' } };
  assert.deepEqual(map({ kind: 'service', op: 'update', object: canary, old: updating, index: 12 })[0].actor.attributes, { name: 'web', 'canary.old': 'none', 'canary.new': 'awaiting_promotion' });
});

test('node update: state, availability, role old/new; name is the hostname', () => {
  const n = node('w1');
  assert.deepEqual(map({ kind: 'node', op: 'create', object: n, index: 3 })[0].actor, { id: 'w1', attributes: { name: 'host-w1' } });
  const down: Node = { ...up(n), status: { ...n.status, state: 'down' } };
  assert.deepEqual(map({ kind: 'node', op: 'update', object: down, old: n, index: 4 })[0].actor.attributes, { name: 'host-w1', 'state.old': 'ready', 'state.new': 'down' });
  const drained: Node = { ...up(n), availability: 'drain', role: 'manager' };
  assert.deepEqual(map({ kind: 'node', op: 'update', object: drained, old: n, index: 5 })[0].actor.attributes, {
    name: 'host-w1',
    'availability.old': 'active',
    'availability.new': 'drain',
    'role.old': 'worker',
    'role.new': 'manager',
  });
  assert.equal(map({ kind: 'node', op: 'delete', object: n, index: 6 })[0].action, 'remove');
});

test('secrets, configs, networks: name only; the cluster object makes no event', () => {
  assert.deepEqual(map({ kind: 'secret', op: 'create', object: secret('x1', 'pw'), index: 2 })[0].actor, { id: 'x1', attributes: { name: 'pw' } });
  assert.deepEqual(map({ kind: 'config', op: 'update', object: up(config('c1', 'conf')), old: config('c1', 'conf'), index: 2 })[0].actor, { id: 'c1', attributes: { name: 'conf' } });
  assert.deepEqual(map({ kind: 'network', op: 'delete', object: network('n1', 'backend'), index: 2 })[0], {
    type: 'network',
    action: 'remove',
    actor: { id: 'n1', attributes: { name: 'backend' } },
    timeMs: NOW,
    index: 2,
  });
});

test('tasks: create with its state; an update is an event only when a state, the health or the node changed', () => {
  const s = service('s1', 'web');
  const t = task('t1', s);
  assert.deepEqual(map({ kind: 'task', op: 'create', object: t, index: 10 })[0].actor, {
    id: 't1',
    attributes: { name: 'web.1', 'service.id': 's1', 'service.name': 'web', state: 'new', desiredstate: 'running', slot: '1' },
  });
  const pending: Task = { ...up(t), status: { ...t.status, state: TaskState.PENDING } };
  const [ev] = map({ kind: 'task', op: 'update', object: pending, old: t, index: 11 });
  assert.deepEqual(ev.actor.attributes, { name: 'web.1', 'service.id': 's1', 'service.name': 'web', state: 'pending', desiredstate: 'running', slot: '1', 'state.old': 'new', 'state.new': 'pending' });
  const assigned: Task = { ...up(pending), nodeId: 'w1', status: { ...t.status, state: TaskState.ASSIGNED } };
  const a = map({ kind: 'task', op: 'update', object: assigned, old: pending, index: 12 })[0].actor.attributes;
  assert.equal(a['node.id'], 'w1');
  assert.equal(a['node.name'], 'host-w1');
  assert.equal(a['node.new'], 'w1');
  assert.equal(a['node.old'], '');
  // A new message, a container id: no event.
  const chatter: Task = { ...up(assigned), status: { ...assigned.status, message: 'preparing', containerId: 'abc' } };
  assert.deepEqual(map({ kind: 'task', op: 'update', object: chatter, old: assigned, index: 13 }), []);
  const shut: Task = { ...up(assigned), desiredState: TaskState.SHUTDOWN };
  assert.deepEqual(
    Object.entries(map({ kind: 'task', op: 'update', object: shut, old: assigned, index: 14 })[0].actor.attributes).filter(([k]) => k.includes('.old') || k.includes('.new')),
    [['desiredstate.old', 'running'], ['desiredstate.new', 'shutdown']],
  );
  const failed: Task = { ...up(assigned), status: { ...assigned.status, state: TaskState.FAILED, err: 'exit 1' } };
  assert.equal(map({ kind: 'task', op: 'update', object: failed, old: assigned, index: 15 })[0].actor.attributes.error, 'exit 1');
  const healthy: Task = { ...up(assigned), status: { ...assigned.status, health: 'healthy' } };
  assert.equal(map({ kind: 'task', op: 'update', object: healthy, old: assigned, index: 16 })[0].actor.attributes['health.new'], 'healthy');
  assert.equal(map({ kind: 'task', op: 'delete', object: shut, index: 17 })[0].action, 'remove');
  // A global service's task is named after its node.
  assert.equal(taskEventName({ ...t, slot: 0, nodeId: 'w9' }), 'web.w9');
});

test('leader changes: the new leader false -> true and the previous true -> false, once; none during an election', () => {
  assert.deepEqual(leaderChangeEvents(null, { leader: '', term: 1 }, names, NOW), []);
  assert.deepEqual(leaderChangeEvents(null, { leader: 'w1', term: 2 }, names, NOW), [
    { type: 'node', action: 'update', actor: { id: 'w1', attributes: { name: 'host-w1', 'leader.old': 'false', 'leader.new': 'true', term: '2' } }, timeMs: NOW, index: 0 },
  ]);
  assert.deepEqual(leaderChangeEvents({ leader: 'w1', term: 2 }, { leader: 'w1', term: 3 }, names, NOW), []);
  const moved = leaderChangeEvents({ leader: 'w1', term: 2 }, { leader: 'm2', term: 4 }, names, NOW);
  assert.deepEqual(
    moved.map((e) => [e.actor.id, e.actor.attributes['leader.old'], e.actor.attributes['leader.new'], e.actor.attributes.term]),
    [
      ['w1', 'true', 'false', '4'],
      ['m2', 'false', 'true', '4'],
    ],
  );
  assert.equal(moved[1].actor.attributes.name, undefined);
});
