// The max-replicas filter (Swarm's --replicas-max-per-node): at most N tasks
// of a service hold one node, counted as the pass places them, with SwarmKit's
// "max replicas per node limit exceed" when a task fits nowhere.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type Service } from '../../src/api/objects.js';
import { Scheduler } from '../../src/manager/scheduler/scheduler.js';
import { explainTask, requirementsKey } from '../../src/manager/scheduler/filters.js';
import { addTasks, changeTask, get, node, nodes, pending, perNode, replicas, reserving, running, setup, svcWith, waitFor } from './scheduler-fixtures.js';

const LIMIT_MESSAGE = 'no suitable node (max replicas per node limit exceed)';

function capped(id: string, max: number, constraints: string[] = []): Service {
  return svcWith(id, id, (t) => (t.placement = { constraints, preferences: [], ...(max === 0 ? {} : { maxReplicas: max }) }));
}

test('5 replicas, at most 2 per node, on 2 nodes: 4 placed, 1 pending with SwarmKit\'s message', async () => {
  const web = capped('web', 2);
  const { ls, sched } = setup(nodes(2), [web], replicas(web, 5));
  assert.equal(await sched.pass(), 4);
  assert.deepEqual(perNode(ls, 'web'), { n1: 2, n2: 2 });
  const left = get(ls, 'web-5');
  assert.equal(left.status.state, TaskState.PENDING);
  assert.equal(left.status.message, 'pending task scheduling');
  assert.equal(left.status.err, LIMIT_MESSAGE);
});

test('an update raising the limit lets the waiting task be placed', async () => {
  const web = capped('web', 2);
  const { ls } = setup(nodes(2), [web], replicas(web, 5));
  const sched = new Scheduler(ls.context(), { debounceMs: 2 });
  sched.start();
  try {
    await waitFor(() => get(ls, 'web-5').status.err === LIMIT_MESSAGE, 'web-5 waits at the limit');
    assert.deepEqual(perNode(ls, 'web'), { n1: 2, n2: 2 });
    // What the updater writes: the task carries the new spec (and its version).
    changeTask(ls, 'web-5', (t) => {
      t.spec.placement.maxReplicas = 3;
      t.specVersion += 1;
    });
    await waitFor(() => get(ls, 'web-5').status.state === TaskState.ASSIGNED, 'web-5 placed under the raised limit');
    assert.equal(get(ls, 'web-5').status.err, '');
    assert.equal(Object.values(perNode(ls, 'web')).reduce((a, b) => a + b, 0), 5);
    for (const n of Object.values(perNode(ls, 'web'))) assert.ok(n <= 3);
  } finally {
    await sched.stop();
  }
});

test('removing the limit (0) places everything; 0 is unlimited', async () => {
  const web = capped('web', 0);
  const { ls, sched } = setup(nodes(1), [web], replicas(web, 4));
  assert.equal(await sched.pass(), 4);
  assert.deepEqual(perNode(ls, 'web'), { n1: 4 });
});

test('tasks already holding a node count; finished and stopping ones do not', async () => {
  const web = capped('web', 1);
  const { ls, sched } = setup(nodes(3), [web], [
    running('r1', web, 'n1', { slot: 1 }),
    running('r2', web, 'n2', { slot: 2, desiredState: TaskState.SHUTDOWN }),
    running('r3', web, 'n3', { slot: 3, status: { state: TaskState.FAILED, message: '', err: 'x', timestamp: 0, containerId: '', exitCode: 1, health: 'none' } }),
  ]);
  addTasks(ls, replicas(web, 3, 'web-', 4));
  assert.equal(await sched.pass(), 2);
  assert.equal(get(ls, 'web-4').nodeId, 'n2');
  assert.equal(get(ls, 'web-5').nodeId, 'n3');
  assert.equal(get(ls, 'web-6').status.err, LIMIT_MESSAGE);
});

test('the limit is per service: another service still places on a full node', async () => {
  const a = capped('a', 1);
  const b = capped('b', 1);
  const { ls, sched } = setup(nodes(1), [a, b], [...replicas(a, 2), ...replicas(b, 2)]);
  assert.equal(await sched.pass(), 2);
  assert.equal(get(ls, 'a-1').nodeId, 'n1');
  assert.equal(get(ls, 'b-1').nodeId, 'n1');
  assert.equal(get(ls, 'a-2').status.err, LIMIT_MESSAGE);
  assert.equal(get(ls, 'b-2').status.err, LIMIT_MESSAGE);
});

test('the explanation has no node count and sorts among the other reasons as SwarmKit does', async () => {
  // n1 and n2 fail the constraint; n3 is at the limit.
  const web = capped('web', 1, ['node.labels.tier==front']);
  const { ls, sched } = setup([node('n1'), node('n2'), node('n3', { labels: { tier: 'front' } })], [web], replicas(web, 2));
  assert.equal(await sched.pass(), 1);
  assert.equal(get(ls, 'web-1').nodeId, 'n3');
  assert.equal(get(ls, 'web-2').status.err, 'no suitable node (scheduling constraints not satisfied on 2 nodes; max replicas per node limit exceed)');
});

test('an earlier filter wins: a node short of resources is not counted against the limit', async () => {
  const big = reserving('big', 'big', 3);
  big.spec.taskTemplate.placement.maxReplicas = 1;
  const { ls, sched } = setup(nodes(2), [big], replicas(big, 3));
  assert.equal(await sched.pass(), 2);
  // Both nodes also hold the limit, but resources come first in the pipeline.
  assert.equal(get(ls, 'big-3').status.err, 'no suitable node (insufficient resources on 2 nodes)');
});

test('explainTask (service ps) gives the same reason; the limit is part of the grouping key', () => {
  const web = capped('web', 1);
  const held = running('r1', web, 'n1', { slot: 1 });
  const waiting = pending('web-2', web, { slot: 2 });
  assert.equal(explainTask(waiting, nodes(1), [held, waiting]), LIMIT_MESSAGE);
  assert.equal(explainTask(waiting, nodes(2), [held, waiting]), '');
  const raised = pending('web-3', capped('web', 2), { slot: 3 });
  assert.notEqual(requirementsKey(waiting), requirementsKey(raised));
  assert.equal(explainTask(raised, nodes(1), [held, raised]), '');
});
