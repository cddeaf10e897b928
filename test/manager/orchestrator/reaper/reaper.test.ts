// The task reaper: taskHistoryRetention per slot, never a live or stopping
// task, the newest task of an empty slot kept, tasks of deleted services.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLive } from '../../../../src/manager/orchestrator/index.js';
import { TaskState, type RestartPolicy, type ServiceSpec } from '../../../../src/api/objects.js';
import { Harness } from '../fixtures.js';
import { serviceSpec } from '../../store-fixtures.js';

function withPolicy(p: Partial<RestartPolicy>): Partial<ServiceSpec> {
  const t = serviceSpec('x').taskTemplate;
  return { taskTemplate: { ...t, restartPolicy: { ...t.restartPolicy, ...p } } };
}

/** Fail the live task of every slot `times` times (restart delay 0), running each replacement. */
async function churn(h: Harness, times: number): Promise<void> {
  for (let i = 0; i < times; i++) {
    for (const t of h.live('s1')) h.report(t.id, TaskState.FAILED, { exitCode: 1 });
    h.advance(1_000);
    await h.reconcile();
    h.converge('s1', ['n1']);
  }
}

test('keeps taskHistoryRetention non-live tasks per slot, the newest ones', async () => {
  const h = new Harness();
  h.setRetention(3);
  h.addNode('n1');
  h.replicated('s1', 2, withPolicy({ delayMs: 0 }));
  await h.reconcile();
  h.converge('s1', ['n1']);
  await churn(h, 6);
  await h.reconcile();
  for (const slot of [1, 2]) {
    const tasks = h.tasks('s1').filter((t) => t.slot === slot);
    assert.equal(tasks.filter(isLive).length, 1);
    const dead = tasks.filter((t) => !isLive(t)).sort((a, b) => a.createdAt - b.createdAt);
    assert.equal(dead.length, 3, `slot ${slot}: 3 kept`);
    assert.ok(dead.every((t) => t.createdAt >= h.now - 3_000 - 1_000), 'the newest ones');
  }
});

test('default retention is 5 without a cluster object; 0 keeps only what must stay', async () => {
  const h = new Harness();
  h.addNode('n1');
  h.replicated('s1', 1, withPolicy({ delayMs: 0 }));
  await h.reconcile();
  h.converge('s1', ['n1']);
  await churn(h, 7);
  await h.reconcile();
  assert.equal(h.tasks('s1').filter((t) => !isLive(t)).length, 5);
  h.setRetention(0);
  await h.reconcile();
  assert.equal(h.tasks('s1').length, 1);
});

test('never deletes a stopping task (its agent still needs it) nor the newest task of an empty slot', async () => {
  const h = new Harness();
  h.setRetention(0);
  h.addNode('n1');
  h.addNode('n2');
  h.replicated('s1', 2, withPolicy({ condition: 'none' }));
  await h.reconcile();
  h.converge('s1', ['n1', 'n2']);
  const onN1 = h.live('s1').find((t) => t.nodeId === 'n1')!;
  const onN2 = h.live('s1').find((t) => t.nodeId === 'n2')!;
  h.nodeState('n1', 'down');
  h.report(onN2.id, TaskState.FAILED, { exitCode: 1 });
  await h.reconcile();
  await h.reconcile();
  const stale = h.task(onN1.id);
  assert.equal(stale.desiredState, TaskState.SHUTDOWN);
  assert.equal(stale.status.state, TaskState.RUNNING, 'still stopping: kept');
  assert.equal(h.task(onN2.id).desiredState, TaskState.SHUTDOWN, 'the tombstone of an empty slot: kept');
  assert.equal(h.liveBySlot('s1').has(onN2.slot), false, 'and its slot stays empty');
  // The node comes back, its agent stops the task: now it goes.
  h.nodeState('n1', 'ready');
  h.stopRequested('s1');
  await h.reconcile();
  assert.equal(h.store.get('task', onN1.id), undefined);
});

test('a stopping task on a removed node is deleted', async () => {
  const h = new Harness();
  h.setRetention(0);
  h.addNode('n1');
  h.replicated('s1', 1);
  await h.reconcile();
  h.converge('s1', ['n1']);
  const t = h.live('s1')[0];
  h.removeNode('n1');
  await h.reconcile();
  await h.reconcile();
  assert.equal(h.store.get('task', t.id), undefined);
  assert.equal(h.live('s1').length, 1);
});
