// The updater: rolling updates by parallelism with the delay between batches,
// stop-first and start-first, scale-only updates, leader change mid-update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SpecMatcher } from '../../../../src/manager/orchestrator/index.js';
import { TaskState, type Service, type UpdateConfig } from '../../../../src/api/objects.js';
import { Harness } from '../fixtures.js';
import { serviceSpec } from '../../store-fixtures.js';

async function runningService(replicas: number, update: Partial<UpdateConfig>): Promise<Harness> {
  const h = new Harness();
  h.addNode('n1');
  h.addNode('n2');
  const spec = serviceSpec('x');
  h.replicated('s1', replicas, { updateConfig: { ...spec.updateConfig, ...update } });
  await h.reconcile();
  h.converge('s1', ['n1', 'n2']);
  return h;
}

function newImage(h: Harness, image = 'busybox:2'): Service {
  return h.updateService('s1', (s) => {
    s.taskTemplate.container.image = image;
  });
}

const current = (h: Harness): number => {
  const m = new SpecMatcher(h.store.get('service', 's1') as Service);
  return h.live('s1').filter((t) => m.isCurrent(t)).length;
};

test('a scale-only update restarts nothing', async () => {
  const h = await runningService(3, {});
  const ids = h.live('s1').map((t) => t.id);
  h.scale('s1', 4);
  await h.reconcile();
  h.converge('s1', ['n1']);
  h.scale('s1', 3);
  await h.reconcile();
  for (const id of ids) assert.equal(h.task(id).desiredState, TaskState.RUNNING, 'old tasks keep running');
  h.updateService('s1', (s) => {
    s.updateConfig.parallelism = 3;
    s.labels = { a: 'b' };
  });
  await h.reconcile();
  for (const id of ids) assert.equal(h.task(id).desiredState, TaskState.RUNNING, 'service labels and update config are not the task spec');
});

test('stop-first rolling update: parallelism at a time, the delay between batches', async () => {
  const h = await runningService(5, { parallelism: 2, delayMs: 10_000, order: 'stop-first' });
  const svc = newImage(h);
  const batches: number[] = [];
  for (let round = 0; round < 10 && current(h) < 5; round++) {
    await h.reconcile();
    const stopping = h.tasks('s1').filter((t) => t.desiredState === TaskState.SHUTDOWN && t.status.state === TaskState.RUNNING);
    batches.push(stopping.length);
    assert.ok(stopping.length <= 2, 'at most parallelism tasks at a time');
    // Nothing new in those slots until the old tasks have stopped.
    for (const t of stopping) assert.equal(h.liveBySlot('s1').has(t.slot), false);
    h.stopRequested('s1');
    await h.reconcile();
    const fresh = h.live('s1').filter((t) => t.status.state === TaskState.PENDING);
    assert.equal(fresh.length, stopping.length, 'replaced in the same slots');
    for (const t of fresh) assert.equal(t.specVersion, svc.version);
    h.converge('s1', ['n1', 'n2']);
    // The next batch waits for the delay.
    await h.reconcile();
    if (current(h) < 5) {
      assert.equal(h.tasks('s1').filter((t) => t.desiredState === TaskState.SHUTDOWN && t.status.state === TaskState.RUNNING).length, 0, 'no batch before the delay');
      h.advance(9_999);
      await h.reconcile();
      assert.equal(h.tasks('s1').filter((t) => t.desiredState === TaskState.SHUTDOWN && t.status.state === TaskState.RUNNING).length, 0);
      h.advance(1);
    }
    assert.equal(h.liveBySlot('s1').size, 5);
  }
  assert.deepEqual(batches, [2, 2, 1]);
  assert.equal(current(h), 5);
  assert.equal(h.tasks('s1').length, 10);
});

test('the next batch waits until the new tasks are RUNNING', async () => {
  const h = await runningService(4, { parallelism: 1, delayMs: 0 });
  newImage(h);
  await h.reconcile();
  h.stopRequested('s1');
  await h.reconcile();
  assert.equal(h.tasks('s1').length, 5);
  await h.reconcile();
  h.schedule('s1', ['n1']);
  await h.reconcile();
  assert.equal(h.tasks('s1').filter((t) => t.desiredState === TaskState.SHUTDOWN && t.status.state === TaskState.RUNNING).length, 0, 'new task only ASSIGNED: batch in flight');
  h.runAssigned('s1');
  await h.reconcile();
  assert.equal(h.tasks('s1').filter((t) => t.desiredState === TaskState.SHUTDOWN && t.status.state === TaskState.RUNNING).length, 1, 'next batch');
});

test('start-first: the new task starts beside the old one, which stops once the new one runs', async () => {
  const h = await runningService(2, { parallelism: 1, delayMs: 0, order: 'start-first' });
  const old = h.live('s1');
  newImage(h);
  await h.reconcile();
  assert.equal(h.live('s1').length, 3, 'one extra task beside its old one');
  const pair = h.live('s1').filter((t) => t.slot === h.live('s1').find((x) => x.status.state === TaskState.PENDING)!.slot);
  assert.equal(pair.length, 2);
  await h.reconcile();
  assert.equal(h.live('s1').length, 3, 'stable while the new one is not RUNNING');
  h.converge('s1', ['n1']);
  await h.reconcile();
  assert.equal(h.live('s1').length, 3, 'old one of the first slot shut down, next slot started');
  h.converge('s1', ['n1']);
  await h.reconcile();
  assert.equal(h.live('s1').length, 2);
  assert.equal(current(h), 2);
  for (const t of old) assert.equal(h.task(t.id).desiredState, TaskState.SHUTDOWN);
  h.liveBySlot('s1');
});

test('parallelism 0 updates every task at once', async () => {
  const h = await runningService(6, { parallelism: 0 });
  newImage(h);
  await h.reconcile();
  assert.equal(h.tasks('s1').filter((t) => t.desiredState === TaskState.SHUTDOWN).length, 6);
  h.stopRequested('s1');
  await h.reconcile();
  assert.equal(current(h), 6);
  h.liveBySlot('s1');
});

test('an update carries on under a new leader, batch by batch', async () => {
  const h = await runningService(3, { parallelism: 1, delayMs: 5_000 });
  newImage(h);
  await h.reconcile();
  h.stopRequested('s1');
  await h.newLeader();
  await h.reconcile();
  h.converge('s1', ['n1']);
  await h.newLeader();
  await h.reconcile();
  assert.equal(current(h), 1);
  assert.equal(h.live('s1').length, 3, 'delay not over: no new batch');
  h.advance(5_000);
  await h.newLeader();
  await h.reconcile();
  // Issue 15 (6): the new leader cannot tell from the store, by its own clock, when the first slot's task became
  // RUNNING; it counts the delay from its term start (t=5 s): never a shorter delay than the old leader's.
  assert.equal(current(h), 1);
  assert.equal(h.live('s1').length, 3, 'the delay restarted at the new term: no new batch yet');
  h.advance(4_999);
  await h.reconcile();
  assert.equal(h.live('s1').length, 3, '1 ms before the delay is over from the term start');
  h.advance(1);
  await h.reconcile();
  assert.equal(h.live('s1').length, 2, 'second batch: one old task stopping');
  h.liveBySlot('s1');
});

test('an update to a new spec and back: tasks of the old spec count as current again', async () => {
  const h = await runningService(2, { parallelism: 0 });
  const ids = h.live('s1').map((t) => t.id);
  newImage(h, 'busybox:latest'); // same image as before: a spec-equal update
  await h.reconcile();
  for (const id of ids) assert.equal(h.task(id).desiredState, TaskState.RUNNING);
});

test('a change of the placement constraints is a rolling update, not a mass shutdown', async () => {
  const h = await runningService(4, { parallelism: 1, delayMs: 0 });
  h.updateService('s1', (s) => {
    s.taskTemplate.placement.constraints = ['node.hostname==nowhere'];
  });
  await h.reconcile();
  assert.equal(h.tasks('s1').filter((t) => t.desiredState === TaskState.SHUTDOWN).length, 1, 'one at a time');
});
