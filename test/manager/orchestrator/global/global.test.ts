// The global orchestrator and node eligibility: one task per eligible node,
// joins, drain, pause, down, removal, placement constraints (Swarm semantics).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchConstraint as constraintMatches, matchConstraints as nodeMatchesConstraints } from '../../../../src/manager/constraint/match.js';
import { parseConstraints } from '../../../../src/api/constraint.js';
import { Placement } from '../../../../src/manager/constraint/usability.js';
import { TaskState, type ServiceSpec } from '../../../../src/api/objects.js';
import { Harness } from '../fixtures.js';
import { node, service, serviceSpec } from '../../store-fixtures.js';

function constrained(...constraints: string[]): Partial<ServiceSpec> {
  return { taskTemplate: { ...serviceSpec('x').taskTemplate, placement: { constraints, preferences: [] } } };
}

test('constraints: keys, == and !=, case-insensitive values, missing labels read as empty', () => {
  const n = node('abc123', {
    role: 'manager',
    labels: { zone: 'East', Disk: 'ssd' },
    description: { hostname: 'Host-1', cpus: 2, memoryBytes: 1, engineVersion: '24', platform: { os: 'linux', arch: 'x86_64' }, engineLabels: { storage: 'fast' } },
  });
  const m = (...c: string[]): boolean => nodeMatchesConstraints(parseConstraints(c), n);
  assert.equal(m('node.id==abc123'), true);
  assert.equal(m('node.id!=abc123'), false);
  assert.equal(m('node.hostname==host-1'), true, 'values compare case-insensitively');
  assert.equal(m('node.role==manager'), true);
  assert.equal(m('node.role!=worker'), true);
  assert.equal(m('node.role==worker'), false);
  assert.equal(m('node.platform.os==linux', 'node.platform.arch==x86_64'), true);
  assert.equal(m('node.platform.os==windows'), false);
  assert.equal(m('node.labels.zone==east'), true);
  assert.equal(m('NODE.LABELS.zone==east'), true, 'the prefix is case-insensitive');
  assert.equal(m('node.labels.ZONE==east'), false, 'the label name is not');
  assert.equal(m('node.labels.Disk==ssd'), true);
  assert.equal(m('node.labels.gpu==true'), false, 'a missing label fails ==');
  assert.equal(m('node.labels.gpu!=true'), true, 'and passes !=');
  assert.equal(m('engine.labels.storage==fast'), true);
  assert.equal(m('engine.labels.storage!=fast'), false);
  assert.equal(m('engine.labels.other!=x'), true);
  assert.equal(m('node.labels.zone==east', 'node.role==worker'), false, 'all must match');
  assert.equal(m(), true);
  const noEngine = node('n2');
  assert.equal(constraintMatches(parseConstraints(['engine.labels.storage!=fast'])[0], noEngine), true);
  assert.throws(() => parseConstraints(['node.foo==1']));
});

test('placement: keeps = up, not drained, matching; accepts = keeps and active', () => {
  const p = new Placement(service('s', 's', constrained('node.labels.zone==a')));
  const a = node('a', { labels: { zone: 'a' } });
  assert.equal(p.accepts(a), true);
  assert.equal(p.keeps({ ...a, availability: 'pause' }), true);
  assert.equal(p.accepts({ ...a, availability: 'pause' }), false);
  assert.equal(p.keeps({ ...a, availability: 'drain' }), false);
  assert.equal(p.keeps({ ...a, status: { ...a.status, state: 'down' } }), false);
  assert.equal(p.keeps({ ...a, status: { ...a.status, state: 'unknown' } }), true);
  assert.equal(p.keeps(undefined), false);
  assert.equal(p.keeps(node('b', { labels: { zone: 'b' } })), false);
});

test('global: one task per eligible node; a joining node gets one; mismatching nodes get none', async () => {
  const h = new Harness();
  h.addNode('n1', { labels: { gpu: 'yes' } });
  h.addNode('n2', { labels: { gpu: 'yes' } });
  h.addNode('n3');
  h.global('g', constrained('node.labels.gpu==yes'));
  await h.reconcile();
  const byNode = h.liveByNode('g');
  assert.deepEqual([...byNode.keys()].sort(), ['n1', 'n2']);
  for (const t of byNode.values()) {
    assert.equal(t.slot, 0);
    assert.equal(t.status.state, TaskState.PENDING);
    assert.equal(t.desiredState, TaskState.RUNNING);
  }
  const writes = h.ls.writes;
  await h.reconcile();
  assert.equal(h.ls.writes, writes, 'idempotent');

  h.addNode('n4', { labels: { gpu: 'yes' } });
  await h.reconcile();
  assert.deepEqual([...h.liveByNode('g').keys()].sort(), ['n1', 'n2', 'n4']);
  h.updateNode('n3', (n) => {
    n.labels = { gpu: 'yes' };
  });
  await h.reconcile();
  assert.deepEqual([...h.liveByNode('g').keys()].sort(), ['n1', 'n2', 'n3', 'n4']);
  h.updateNode('n3', (n) => {
    n.labels = {};
  });
  await h.reconcile();
  assert.deepEqual([...h.liveByNode('g').keys()].sort(), ['n1', 'n2', 'n4']);
});

test('global: drain shuts the task down; pause keeps it; a removed node loses it', async () => {
  const h = new Harness();
  h.addNode('n1');
  h.addNode('n2');
  h.addNode('n3');
  h.global('g');
  await h.reconcile();
  h.converge('g', []);
  const t1 = h.liveByNode('g').get('n1');
  assert.ok(t1);
  h.availability('n1', 'drain');
  await h.reconcile();
  assert.equal(h.task(t1.id).desiredState, TaskState.SHUTDOWN);
  assert.equal(h.liveByNode('g').has('n1'), false);
  h.availability('n1', 'active');
  await h.reconcile();
  assert.equal(h.liveByNode('g').has('n1'), false, 'undrained: waits for the old task to stop on the node');
  h.stopRequested('g');
  await h.reconcile();
  assert.notEqual(h.liveByNode('g').get('n1')?.id, t1.id);
  assert.equal(h.liveByNode('g').get('n1')?.status.state, TaskState.PENDING);

  h.availability('n2', 'pause');
  await h.reconcile();
  assert.equal(h.liveByNode('g').has('n2'), true, 'a paused node keeps its task');
  h.report(h.liveByNode('g').get('n2')!.id, TaskState.FAILED, { exitCode: 1 });
  h.advance(60_000);
  await h.reconcile();
  assert.equal(h.liveByNode('g').has('n2'), false, 'but gets no new one');

  const t3 = h.liveByNode('g').get('n3')!;
  h.removeNode('n3');
  await h.reconcile();
  assert.equal(h.task(t3.id).desiredState, TaskState.SHUTDOWN);
  assert.deepEqual([...h.liveByNode('g').keys()], ['n1']);
});

test('global: a down node loses its task and gets nothing; back up, a new task once the old one stopped', async () => {
  const h = new Harness();
  h.addNode('n1');
  h.addNode('n2');
  h.global('g');
  await h.reconcile();
  h.converge('g', []);
  const old = h.liveByNode('g').get('n1')!;
  h.nodeState('n1', 'down');
  await h.reconcile();
  assert.equal(h.task(old.id).desiredState, TaskState.SHUTDOWN);
  assert.deepEqual([...h.liveByNode('g').keys()], ['n2']);
  assert.equal(h.tasks('g').length, 2, 'nothing to replace on a down node');

  h.nodeState('n1', 'ready');
  await h.reconcile();
  assert.equal(h.liveByNode('g').has('n1'), false, 'the old task is still stopping');
  h.stopRequested('g');
  await h.reconcile();
  assert.equal(h.liveByNode('g').get('n1')?.status.state, TaskState.PENDING);
});

test('global: a stuck stopping task gives way after its grace period + margin', async () => {
  const h = new Harness({ stopMarginMs: 1_000 });
  h.addNode('n1');
  h.global('g');
  await h.reconcile();
  h.converge('g', []);
  h.updateService('g', (s) => {
    s.taskTemplate.container.image = 'busybox:2';
  });
  await h.reconcile();
  assert.equal(h.live('g').length, 0, 'stop-first: old one asked to stop');
  h.advance(10_000 + 999); // the old task's grace period + the margin
  await h.reconcile();
  assert.equal(h.live('g').length, 0);
  h.advance(1);
  await h.reconcile();
  assert.equal(h.live('g').length, 1);
});

test('global: failure restarts on the same node after the delay', async () => {
  const h = new Harness();
  h.addNode('n1');
  h.global('g');
  await h.reconcile();
  h.converge('g', []);
  const old = h.live('g')[0];
  h.report(old.id, TaskState.FAILED, { exitCode: 3 });
  await h.reconcile();
  assert.equal(h.live('g').length, 0);
  h.advance(5_000);
  await h.reconcile();
  assert.equal(h.liveByNode('g').get('n1')?.slot, 0);
});

test('global: leader change neither duplicates nor loses tasks', async () => {
  const h = new Harness();
  for (let i = 0; i < 5; i++) h.addNode(`n${i}`);
  h.global('g');
  await h.reconcile();
  h.converge('g', []);
  await h.newLeader();
  const writes = h.ls.writes;
  await h.reconcile();
  assert.equal(h.ls.writes, writes);
  assert.equal(h.liveByNode('g').size, 5);
  assert.ok(service('x', 'x').id);
});
