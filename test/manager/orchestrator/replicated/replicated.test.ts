// The replicated orchestrator: slots 1..replicas filled, scale up and down,
// node down / drain / pause, leader change, tasks of deleted services.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../../../src/api/objects.js';
import { createAction } from '../../../../src/manager/store/store.js';
import { buildOrchestrators } from '../../../../src/manager/orchestrator/index.js';
import { MAX_TX_IN_FLIGHT } from '../../../../src/manager/orchestrator/loop.js';
import { Harness, slots, until } from '../fixtures.js';
import { serviceSpec, task } from '../../store-fixtures.js';

test('3 replicas: 3 PENDING tasks in slots 1..3, as the task contract says', async () => {
  const h = new Harness();
  const s = h.replicated('s1', 3, { endpoint: { ports: [{ protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'ingress' }] } });
  await h.reconcile();
  const tasks = h.tasks('s1');
  assert.deepEqual(slots(tasks), [1, 2, 3]);
  for (const t of tasks) {
    assert.equal(t.serviceId, 's1');
    assert.equal(t.nodeId, '');
    assert.equal(t.desiredState, TaskState.RUNNING);
    assert.equal(t.status.state, TaskState.PENDING);
    assert.equal(t.status.message, 'pending task scheduling');
    assert.equal(t.status.timestamp, h.now);
    assert.equal(t.createdAt, h.now);
    assert.equal(t.specVersion, s.version);
    assert.deepEqual(t.spec, s.spec.taskTemplate);
    assert.deepEqual(t.endpoint, s.spec.endpoint);
    assert.deepEqual(t.serviceAnnotations, { name: 'svc-s1' });
  }
  assert.equal(new Set(tasks.map((t) => t.id)).size, 3);
  // A second pass has nothing to do.
  const writes = h.ls.writes;
  await h.reconcile();
  assert.equal(h.ls.writes, writes);
});

test('scale up fills the new slots; scale down shuts down the highest slots', async () => {
  const h = new Harness();
  h.addNode('n1');
  h.replicated('s1', 3);
  await h.reconcile();
  h.converge('s1', ['n1']);
  h.scale('s1', 5);
  await h.reconcile();
  assert.deepEqual([...h.liveBySlot('s1').keys()].sort(), [1, 2, 3, 4, 5]);
  h.converge('s1', ['n1']);
  const before = new Set(h.tasks('s1').map((t) => t.id));

  h.scale('s1', 2);
  await h.reconcile();
  assert.deepEqual([...h.liveBySlot('s1').keys()].sort(), [1, 2]);
  const all = h.tasks('s1');
  assert.ok(all.every((t) => before.has(t.id)), 'scale-down creates nothing');
  for (const t of all.filter((t) => t.slot > 2)) {
    assert.equal(t.desiredState, TaskState.SHUTDOWN);
    assert.equal(t.status.state, TaskState.RUNNING, 'the agent stops it: observed state untouched');
  }
  // The agents stop them; nothing is refilled.
  h.stopRequested('s1');
  await h.reconcile();
  assert.deepEqual([...h.liveBySlot('s1').keys()].sort(), [1, 2]);
  assert.equal(h.tasks('s1').length, 5);
});

test('scaling down unscheduled tasks marks them shut down (no agent will)', async () => {
  const h = new Harness();
  h.replicated('s1', 4);
  await h.reconcile();
  h.scale('s1', 1);
  await h.reconcile();
  const gone = h.tasks('s1').filter((t) => t.slot > 1);
  assert.equal(gone.length, 3);
  for (const t of gone) {
    assert.equal(t.desiredState, TaskState.SHUTDOWN);
    assert.equal(t.status.state, TaskState.SHUTDOWN);
  }
  h.scale('s1', 3);
  await h.reconcile();
  assert.deepEqual([...h.liveBySlot('s1').keys()].sort(), [1, 2, 3], 'slots 2 and 3 get new tasks at once');
});

test('node down: its tasks are shut down and replaced at once in the same slots; back up: nothing new', async () => {
  const h = new Harness();
  h.addNode('n1');
  h.addNode('n2');
  h.replicated('s1', 4);
  await h.reconcile();
  h.converge('s1', ['n1', 'n2']);
  const onN1 = h.live('s1').filter((t) => t.nodeId === 'n1');
  assert.equal(onN1.length, 2);

  h.nodeState('n1', 'down');
  const writes = h.ls.writes;
  await h.reconcile();
  assert.equal(h.ls.writes - writes, 1, 'shut-downs and replacements in one transaction');
  for (const old of onN1) {
    const t = h.task(old.id);
    assert.equal(t.desiredState, TaskState.SHUTDOWN);
    const repl = h.liveBySlot('s1').get(old.slot);
    assert.ok(repl && repl.id !== old.id, `slot ${old.slot} has a new task`);
    assert.equal(repl.nodeId, '');
    assert.equal(repl.status.state, TaskState.PENDING);
  }
  assert.equal(h.liveBySlot('s1').size, 4);
  h.converge('s1', ['n2']);

  const count = h.tasks('s1').length;
  h.nodeState('n1', 'ready');
  await h.reconcile();
  assert.equal(h.tasks('s1').length, count, 'nothing created when the node comes back');
  // Its agent stops the stale tasks; still nothing new.
  h.stopRequested('s1');
  await h.reconcile();
  assert.equal(h.tasks('s1').length, count);
  assert.equal(h.liveBySlot('s1').size, 4);
});

test('drain moves tasks at once; pause keeps them; a removed node loses them', async () => {
  const h = new Harness();
  h.addNode('n1');
  h.addNode('n2');
  h.addNode('n3');
  h.replicated('s1', 3);
  await h.reconcile();
  h.converge('s1', ['n1', 'n2', 'n3']);

  h.availability('n1', 'pause');
  await h.reconcile();
  assert.equal(h.live('s1').filter((t) => t.nodeId === 'n1').length, 1, 'pause keeps the task');

  h.availability('n1', 'drain');
  await h.reconcile();
  const bySlot = h.liveBySlot('s1');
  assert.equal(bySlot.size, 3);
  assert.equal([...bySlot.values()].filter((t) => t.nodeId === 'n1').length, 0);
  assert.equal([...bySlot.values()].filter((t) => t.status.state === TaskState.PENDING).length, 1);
  h.converge('s1', ['n2']);

  const onN3 = h.live('s1').find((t) => t.nodeId === 'n3');
  assert.ok(onN3);
  h.removeNode('n3');
  await h.reconcile();
  assert.equal(h.task(onN3.id).desiredState, TaskState.SHUTDOWN);
  assert.equal(h.liveBySlot('s1').get(onN3.slot)?.status.state, TaskState.PENDING);
});

test('a node that stops matching the placement constraints loses its tasks', async () => {
  const h = new Harness();
  h.addNode('n1', { labels: { zone: 'a' } });
  h.replicated('s1', 1, {
    taskTemplate: { ...serviceSpec('x').taskTemplate, placement: { constraints: ['node.labels.zone==a'], preferences: [] } },
  });
  await h.reconcile();
  h.converge('s1', ['n1']);
  const t1 = h.live('s1')[0];
  h.updateNode('n1', (n) => {
    n.labels = { zone: 'b' };
  });
  await h.reconcile();
  assert.equal(h.task(t1.id).desiredState, TaskState.SHUTDOWN);
  // The node is up: the new task waits for the old one to stop first.
  assert.equal(h.live('s1').length, 0);
  h.stopRequested('s1');
  await h.reconcile();
  assert.equal(h.liveBySlot('s1').get(1)?.status.state, TaskState.PENDING);
});

test('leader change: a new orchestrator neither duplicates nor loses slots', async () => {
  const h = new Harness();
  h.addNode('n1');
  h.replicated('s1', 5);
  await h.reconcile();
  h.converge('s1', ['n1']);
  const ids = h.tasks('s1').map((t) => t.id);

  await h.newLeader();
  const writes = h.ls.writes;
  await h.reconcile();
  assert.equal(h.ls.writes, writes, 'nothing to do');
  assert.deepEqual(h.tasks('s1').map((t) => t.id), ids);

  // Slots lost while no leader ran (a node went down): the new leader fills exactly those.
  h.nodeState('n1', 'down');
  h.scale('s1', 6);
  await h.newLeader();
  await h.reconcile();
  assert.deepEqual([...h.liveBySlot('s1').keys()].sort(), [1, 2, 3, 4, 5, 6]);
  await h.newLeader();
  await h.reconcile();
  assert.equal(h.live('s1').length, 6);
});

test('two leaders in turn on a half-written plan: still one live task per slot', async () => {
  const h = new Harness({ maxActionsPerTx: 10 });
  h.replicated('s1', 95);
  // The first leader loses leadership right after its first transaction lands;
  // the transactions it had in flight then (pipelined) land too, no more.
  const ctx = h.ls.context();
  const first = buildOrchestrators(
    {
      ...ctx,
      write: async (actions) => {
        const r = await ctx.write(actions);
        void first.replicated.stop();
        return r;
      },
    },
    { maxActionsPerTx: 10 },
  );
  await first.replicated.reconcile();
  assert.equal(h.live('s1').length, 10 * MAX_TX_IN_FLIGHT, 'the transactions in flight (of 10 each) landed');
  await h.reconcile();
  assert.equal(h.liveBySlot('s1').size, 95);
  assert.equal(h.live('s1').length, 95);
});

test('tasks whose service is gone are deleted', async () => {
  const h = new Harness();
  const s = h.replicated('s1', 2);
  h.ls.applyNow([createAction('task', task('orphan1', s, { slot: 1 })), createAction('task', task('orphan2', s, { slot: 2 }))]);
  h.deleteService('s1');
  await h.reconcile();
  assert.equal(h.tasks('s1').length, 0);
  assert.equal(h.store.count('task'), 0);
});

test('a write that conflicts with a concurrent status update is re-planned from the store', async () => {
  const h = new Harness();
  h.addNode('n1');
  h.addNode('n2');
  h.replicated('s1', 4);
  await h.reconcile();
  h.converge('s1', ['n1', 'n2']);
  h.nodeState('n1', 'down');
  const ctx = h.ls.context();
  let calls = 0;
  const orch = buildOrchestrators({
    ...ctx,
    write: async (actions) => {
      if (calls++ === 0) {
        // The agent's last report lands between the orchestrator's read and its write.
        const t = h.live('s1').find((x) => x.nodeId === 'n1')!;
        h.report(t.id, TaskState.RUNNING, { message: 'still running' });
      }
      return ctx.write(actions);
    },
  });
  await orch.replicated.reconcile();
  assert.equal(calls, 2, 'one conflict, one retry');
  assert.equal(h.liveBySlot('s1').size, 4);
  assert.equal(h.live('s1').filter((t) => t.nodeId === 'n1').length, 0);
  assert.equal(h.tasks('s1').length, 6);
});

test('started: watch events drive debounced passes, one transaction for a burst', async () => {
  const h = new Harness();
  h.addNode('n1');
  const ctx = h.ls.context();
  const orch = buildOrchestrators(ctx, { debounceMs: 5 });
  for (const c of orch.controllers) c.start();
  try {
    h.replicated('s1', 100);
    await until(() => h.live('s1').length === 100, 2_000, '100 tasks');
    assert.equal(h.ls.writes, 1);
    h.converge('s1', ['n1']);
    h.nodeState('n1', 'down');
    await until(() => h.live('s1').every((t) => t.nodeId === '') && h.live('s1').length === 100, 2_000, 'replacements');
    h.scale('s1', 3);
    await until(() => h.live('s1').length === 3, 2_000, 'scale down');
    h.liveBySlot('s1');
  } finally {
    for (const c of orch.controllers) await c.stop();
  }
});
