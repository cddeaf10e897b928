import assert from 'node:assert/strict';
import test from 'node:test';
import { TaskState, type Task } from '../../../src/api/objects.js';
import { diffSnapshots, serviceView, snapshotOf, taskView, type ClusterFacts } from '../../../src/console/server/views.js';
import { node, service, task, T0 } from '../../manager/store-fixtures.js';

const facts: ClusterFacts = { id: 'c1', name: 'default', createdAt: T0, leaderId: 'm1', term: 3, raftIndex: 42, managers: [{ nodeId: 'm1', addr: '10.0.0.1:4242', leader: true, reachability: 'reachable' }] };
const running = (id: string, svc: ReturnType<typeof service>, over: Partial<Task> = {}): Task =>
  task(id, svc, { nodeId: 'n1', status: { state: TaskState.RUNNING, message: 'started', err: '', timestamp: T0 + 5_000, containerId: 'c-' + id, exitCode: 0, health: 'none' }, ...over });

test('a service counts running tasks of its desired ones; an update counts the tasks of its spec', () => {
  const svc = service('s1', 'web', { mode: { replicated: { replicas: 3 } } });
  const tasks = [running('t1', svc), running('t2', svc, { slot: 2 }), task('t3', svc, { slot: 3 }), running('t0', svc, { desiredState: TaskState.SHUTDOWN })];
  let v = serviceView(svc, tasks);
  assert.equal(v.desired, 3);
  assert.equal(v.running, 2);
  assert.equal(v.mode, 'replicated');
  assert.equal(v.updateStatus, null);
  const updating = { ...svc, version: 9, specVersion: 9, updateStatus: { state: 'updating' as const, startedAt: T0, completedAt: 0, message: 'update in progress', startVersion: 9, canary: 'none' as const } };
  v = serviceView(updating, [running('t1', svc, { specVersion: 9 }), running('t2', svc, { slot: 2, specVersion: 4 })]);
  assert.deepEqual(v.updateStatus, { state: 'updating', startedAt: new Date(T0).toISOString(), completedAt: null, message: 'update in progress', updated: 1, total: 3 });
  const global = service('s2', 'agent', { mode: { global: {} } });
  v = serviceView(global, [running('g1', global, { slot: 0, nodeId: 'n1' }), task('g2', global, { slot: 0, nodeId: 'n2' })]);
  assert.deepEqual([v.mode, v.desired, v.running], ['global', 2, 1]);
});

test("a task in docker's words; an exit code only once it stopped", () => {
  const svc = service('s1', 'web');
  const t = taskView(running('t1', svc), 'web');
  assert.deepEqual([t.name, t.state, t.desiredState, t.exitCode, t.stateSince], ['web.1', 'running', 'running', null, new Date(T0 + 5_000).toISOString()]);
  const failed = taskView(task('t2', svc, { slot: 0, nodeId: 'n7', status: { state: TaskState.FAILED, message: 'started', err: 'task: non-zero exit (3)', timestamp: T0, containerId: 'c', exitCode: 3, health: 'none' } }), 'web');
  assert.deepEqual([failed.name, failed.state, failed.error, failed.exitCode], ['web.n7', 'failed', 'task: non-zero exit (3)', 3]);
});

test('a patch holds what changed, object by object, and null when nothing did', () => {
  const svc = service('s1', 'web');
  const a = snapshotOf(1, facts, [node('n1')], [svc], [task('t1', svc)]);
  assert.equal(diffSnapshots(a, snapshotOf(2, facts, [node('n1')], [svc], [task('t1', svc)])), null);
  const b = snapshotOf(2, { ...facts, term: 4 }, [node('n1', { status: { state: 'down', message: 'heartbeat failure', address: '10.0.0.1' } })], [svc], [running('t1', svc), task('t2', svc, { slot: 2 })]);
  const p = diffSnapshots(a, b);
  assert.ok(p);
  assert.equal(p.revision, 2);
  assert.equal(p.cluster?.term, 4);
  assert.deepEqual(p.upsert.nodes?.map((n) => [n.id, n.state]), [['n1', 'down']]);
  assert.deepEqual(p.upsert.tasks?.map((t) => [t.id, t.state]), [['t1', 'running'], ['t2', 'new']]);
  assert.equal(p.upsert.services?.[0].running, 1);
  const c = snapshotOf(3, { ...facts, term: 4 }, b.nodes.length ? [node('n1', { status: { state: 'down', message: 'heartbeat failure', address: '10.0.0.1' } })] : [], [], []);
  const q = diffSnapshots(b, c);
  assert.deepEqual(q?.remove, { services: ['s1'], tasks: ['t1', 't2'] });
  assert.deepEqual(q?.upsert, {});
  assert.equal(q?.cluster, undefined);
  assert.equal(c.cluster.managers[0].hostname, '');
  assert.equal(snapshotOf(1, facts, [node('m1')], [], []).cluster.managers[0].hostname, 'host-m1');
});
