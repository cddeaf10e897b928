// The rolling update of a global service, transition by transition (issue 15):
// one slot per node, the same window, failure action and monitor window as a
// replicated service; a node that joins mid-update gets a task of the new spec
// and takes no part in the update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type UpdateConfig } from '../../../../src/api/objects.js';
import { Harness } from '../fixtures.js';
import { serviceSpec } from '../../store-fixtures.js';
import { advance, agents, expectView, failNewest, newImage, script, view } from '../script.js';

const NODES3 = ['n1', 'n2', 'n3'];

/** A global service s1 on n1..n3, every task RUNNING, with this update (and rollback) config. */
async function runningGlobal(update: Partial<UpdateConfig> = {}): Promise<Harness> {
  const h = new Harness();
  for (const n of NODES3) h.addNode(n);
  const spec = serviceSpec('x');
  h.global('s1', { updateConfig: { ...spec.updateConfig, ...update } });
  await h.reconcile();
  h.converge('s1', NODES3);
  await h.reconcile();
  expectView(h, { old: 0, newRunning: 3, tasks: 3 }, 'set-up');
  return h;
}

/** How many tasks of s1 each node has had. */
function perNode(h: Harness): Map<string, number> {
  const m = new Map<string, number>();
  for (const t of h.tasks('s1')) m.set(t.nodeId, (m.get(t.nodeId) ?? 0) + 1);
  return m;
}

test('global, stop-first, parallelism 1: node by node, each node updated once, then the monitor window', async () => {
  const h = await runningGlobal({ parallelism: 1, monitorMs: 5_000 });
  await script(h, [
    ['new image: one node\'s task stops', newImage(), { state: 'updating', stopping: 1, old: 2, new: 0 }],
    ['stopped: its new task RUNs, the next node\'s stops', agents, { state: 'updating', stopping: 1, old: 1, newRunning: 1 }],
    ['the same for the next node', agents, { stopping: 1, old: 0, newRunning: 2 }],
    ['the last node RUNs the new spec', agents, { stopping: 0, old: 0, newRunning: 3 }],
    ['monitor - 1', advance(4_999), { state: 'updating' }],
    ['completed', advance(1), { state: 'completed', message: 'update completed', newRunning: 3, tasks: 6 }],
  ]);
  assert.deepEqual([...perNode(h).entries()].sort(), [['n1', 2], ['n2', 2], ['n3', 2]], 'each node updated exactly once');
  h.liveByNode('s1');
});

test('global: a node that joins mid-update gets a task of the new spec and takes no part in the update', async () => {
  const h = await runningGlobal({ parallelism: 1, monitorMs: 5_000 });
  await script(h, [
    ['new image: one node\'s task stops', newImage(), { state: 'updating', stopping: 1, old: 2 }],
    ['n4 joins: a task of the new spec at once, outside the window', (x) => {
      x.addNode('n4');
    }, { state: 'updating', stopping: 1, old: 2, new: 1 }],
  ]);
  const n4 = h.live('s1').find((t) => t.nodeId === 'n4');
  assert.equal(n4?.spec.container.image, 'busybox:2', 'n4 runs the new spec');
  await script(h, [
    ['n4\'s task RUNs; n1 stopped: its new task', async (x) => {
      x.converge('s1', [...NODES3, 'n4']);
      await agents(x);
    }, { stopping: 1, old: 1, newRunning: 2 }],
    ['the next node', agents, { stopping: 1, old: 0, newRunning: 3 }],
    ['the last node', agents, { stopping: 0, old: 0, newRunning: 4 }],
    ['completed: n4\'s task was never part of it', advance(5_000), { state: 'completed', newRunning: 4, tasks: 7 }],
  ]);
  h.liveByNode('s1');
});

test('global, failure action rollback: a failing new task rolls every node back to the old spec', async () => {
  const h = await runningGlobal({ parallelism: 1, monitorMs: 5_000, failureAction: 'rollback' });
  await script(h, [
    ['new image: one node\'s task stops', newImage(), { state: 'updating', stopping: 1, old: 2 }],
    ['stopped: its new task RUNs, the next node\'s stops', agents, { state: 'updating', stopping: 1, old: 1, newRunning: 1 }],
    ['it FAILs within the monitor window: rolled back', (x) => {
      x.advance(1_000);
      failNewest(TaskState.FAILED)(x);
    }, { state: 'rollback_started', image: 'busybox:latest', previous: '', failures: 1 }],
  ]);
  // The node never touched runs the old spec, which is current again; the failed node and the one being stopped
  // get tasks of the old spec.
  await script(h, [
    ['the stopped node and the failed one get the old spec again', async (x) => {
      await agents(x);
      x.converge('s1', NODES3);
    }, { state: 'rollback_started', old: 0, newRunning: 3, stopping: 0 }],
    ['rollback monitor window', advance(5_000), { state: 'rollback_completed', message: 'rollback completed', old: 0, newRunning: 3 }],
  ]);
  assert.equal(view(h).failures, 1);
  h.liveByNode('s1');
});
