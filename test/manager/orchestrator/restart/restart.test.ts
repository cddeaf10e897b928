// The restart supervisor: restart in the same slot after the delay, the
// conditions, maxAttempts within the window, slots left empty on purpose
// across leader changes, and the timers of a started orchestrator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type RestartPolicy, type ServiceSpec } from '../../../../src/api/objects.js';
import { Harness, until } from '../fixtures.js';
import { serviceSpec } from '../../store-fixtures.js';

function withPolicy(p: Partial<RestartPolicy>): Partial<ServiceSpec> {
  const t = serviceSpec('x').taskTemplate;
  return { taskTemplate: { ...t, restartPolicy: { ...t.restartPolicy, ...p } } };
}

/** A one-replica service, scheduled and RUNNING on n1. */
async function running(policy: Partial<RestartPolicy>, replicas = 1): Promise<Harness> {
  const h = new Harness();
  h.addNode('n1');
  h.replicated('s1', replicas, withPolicy(policy));
  await h.reconcile();
  h.converge('s1', ['n1']);
  return h;
}

test('a FAILED task: desiredState SHUTDOWN at once, a replacement in the same slot after the delay', async () => {
  const h = await running({ condition: 'any', delayMs: 5_000 }, 2);
  const old = h.liveBySlot('s1').get(2);
  assert.ok(old);
  h.report(old.id, TaskState.FAILED, { exitCode: 1 });
  await h.reconcile();
  assert.equal(h.task(old.id).desiredState, TaskState.SHUTDOWN);
  assert.equal(h.liveBySlot('s1').has(2), false, 'no replacement before the delay');
  h.advance(4_999);
  await h.reconcile();
  assert.equal(h.liveBySlot('s1').has(2), false);
  h.advance(1);
  await h.reconcile();
  const repl = h.liveBySlot('s1').get(2);
  assert.ok(repl && repl.id !== old.id);
  assert.equal(repl.status.state, TaskState.PENDING);
  assert.equal(repl.nodeId, '');
  assert.equal(repl.createdAt, h.now);
  assert.equal(h.live('s1').length, 2);
});

test('the restart delay survives a leader change: the new leader waits the whole delay from its term start', async () => {
  const h = await running({ condition: 'any', delayMs: 5_000 });
  const old = h.live('s1')[0];
  h.report(old.id, TaskState.FAILED, { exitCode: 1 });
  await h.reconcile();
  h.advance(3_000);
  await h.newLeader();
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, 'still in the delay');
  // Issue 15 (6): the old leader's decision time is another clock's; the new leader measures the delay from its
  // own term start (t=3 s), so it waits at least as long as the old one would have, never less: nothing at 5 s.
  h.advance(2_000);
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, 'the delay restarted at the new term');
  h.advance(2_999);
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, '1 ms before the delay is over from the term start');
  h.advance(1);
  await h.reconcile();
  assert.equal(h.live('s1').length, 1);
});

test('delay 0: the end and the replacement commit in one transaction', async () => {
  const h = await running({ condition: 'any', delayMs: 0 });
  const old = h.live('s1')[0];
  h.report(old.id, TaskState.REJECTED);
  const writes = h.ls.writes;
  await h.reconcile();
  assert.equal(h.ls.writes - writes, 1);
  assert.equal(h.task(old.id).desiredState, TaskState.SHUTDOWN);
  assert.equal(h.liveBySlot('s1').get(1)?.status.state, TaskState.PENDING);
});

test('condition none leaves the slot empty, also after a leader change', async () => {
  const h = await running({ condition: 'none', delayMs: 0 });
  const old = h.live('s1')[0];
  h.report(old.id, TaskState.FAILED, { exitCode: 2 });
  await h.reconcile();
  assert.equal(h.task(old.id).desiredState, TaskState.SHUTDOWN);
  assert.equal(h.live('s1').length, 0);
  h.advance(60_000);
  await h.reconcile();
  assert.equal(h.live('s1').length, 0);
  await h.newLeader();
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, 'still empty under a new leader');
  // A scale-only update does not bring it back either.
  h.scale('s1', 2);
  await h.reconcile();
  assert.deepEqual([...h.liveBySlot('s1').keys()], [2]);
  // A spec change does (as `docker service update` re-runs finished tasks).
  h.updateService('s1', (spec) => {
    spec.taskTemplate.container.env = ['A=2'];
  });
  await h.reconcile();
  assert.equal(h.liveBySlot('s1').has(1), true);
});

test('on-failure: COMPLETE with exit code 0 leaves the slot empty, FAILED restarts', async () => {
  const h = await running({ condition: 'on-failure', delayMs: 0 }, 2);
  const [a, b] = [h.liveBySlot('s1').get(1), h.liveBySlot('s1').get(2)];
  assert.ok(a && b);
  h.report(a.id, TaskState.COMPLETE, { exitCode: 0 });
  h.report(b.id, TaskState.FAILED, { exitCode: 137 });
  await h.reconcile();
  assert.equal(h.liveBySlot('s1').has(1), false);
  assert.equal(h.liveBySlot('s1').has(2), true);
  await h.newLeader();
  await h.reconcile();
  assert.equal(h.liveBySlot('s1').has(1), false);
});

test('condition any restarts a task that COMPLETEd', async () => {
  const h = await running({ condition: 'any', delayMs: 0 });
  h.report(h.live('s1')[0].id, TaskState.COMPLETE, { exitCode: 0 });
  await h.reconcile();
  assert.equal(h.live('s1').length, 1);
});

test('maxAttempts within the window: restarting stops, also under a new leader', async () => {
  const h = await running({ condition: 'any', delayMs: 0, maxAttempts: 2, windowMs: 60_000 });
  for (let i = 0; i < 2; i++) {
    h.report(h.live('s1')[0].id, TaskState.FAILED, { exitCode: 1 });
    h.advance(1_000);
    await h.reconcile();
    assert.equal(h.live('s1').length, 1, `restart ${i + 1}`);
    h.converge('s1', ['n1']);
  }
  h.report(h.live('s1')[0].id, TaskState.FAILED, { exitCode: 1 });
  h.advance(1_000);
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, 'gave up after 2 restarts');
  h.advance(120_000);
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, 'a given-up slot stays empty');
  await h.newLeader();
  await h.reconcile();
  assert.equal(h.live('s1').length, 0);
  assert.equal(h.tasks('s1').length, 3);
});

test('maxAttempts counts only the restarts within the window', async () => {
  const h = await running({ condition: 'any', delayMs: 0, maxAttempts: 2, windowMs: 10_000 });
  for (let i = 0; i < 6; i++) {
    h.report(h.live('s1')[0].id, TaskState.FAILED, { exitCode: 1 });
    h.advance(6_000); // failures 6 s apart: at most one earlier restart in any 10 s window
    await h.reconcile();
    assert.equal(h.live('s1').length, 1, `failure ${i + 1} restarted`);
    h.converge('s1', ['n1']);
  }
});

test('maxAttempts beyond the history retention is still counted by this leader', async () => {
  const h = await running({ condition: 'any', delayMs: 0, maxAttempts: 4 });
  h.setRetention(1);
  for (let i = 0; i < 4; i++) {
    h.report(h.live('s1')[0].id, TaskState.FAILED, { exitCode: 1 });
    await h.reconcile();
    assert.equal(h.live('s1').length, 1, `restart ${i + 1}`);
    h.converge('s1', ['n1']);
  }
  assert.ok(h.tasks('s1').length <= 2, 'history reaped');
  h.report(h.live('s1')[0].id, TaskState.FAILED, { exitCode: 1 });
  await h.reconcile();
  assert.equal(h.live('s1').length, 0);
});

test('a task stopped on request is not restarted by the policy, a scale-down is not undone', async () => {
  const h = await running({ condition: 'on-failure', delayMs: 10_000 }, 2);
  h.scale('s1', 1);
  await h.reconcile();
  h.stopRequested('s1');
  await h.reconcile();
  assert.deepEqual([...h.liveBySlot('s1').keys()], [1]);
  h.advance(20_000);
  await h.reconcile();
  assert.deepEqual([...h.liveBySlot('s1').keys()], [1]);
});

test('started: the replacement comes on its timer; stop() cancels pending restarts', async () => {
  const h = new Harness({ debounceMs: 2 });
  h.addNode('n1');
  h.replicated('s1', 2, withPolicy({ condition: 'any', delayMs: 40 }));
  // Real time for this one.
  h.ls.time = Date.now();
  const ctx = h.ls.context();
  ctx.now = () => Date.now();
  const { buildOrchestrators } = await import('../../../../src/manager/orchestrator/index.js');
  const orch = buildOrchestrators(ctx, { debounceMs: 2 });
  for (const c of orch.controllers) c.start();
  try {
    await until(() => h.live('s1').length === 2, 2_000, 'two tasks');
    h.ls.time = Date.now();
    h.converge('s1', ['n1']);
    const [a, b] = h.live('s1');
    h.ls.time = Date.now();
    h.report(a.id, TaskState.FAILED, { exitCode: 1 });
    await until(() => h.task(a.id).desiredState === TaskState.SHUTDOWN, 2_000, 'the failed task shut down');
    assert.equal(h.liveBySlot('s1').has(a.slot), false);
    await until(() => h.liveBySlot('s1').has(a.slot), 2_000, 'the replacement');

    h.ls.time = Date.now();
    h.report(b.id, TaskState.FAILED, { exitCode: 1 });
    await until(() => h.task(b.id).desiredState === TaskState.SHUTDOWN, 2_000, 'the second failure handled');
  } finally {
    for (const c of orch.controllers) await c.stop();
  }
  const count = h.tasks('s1').length;
  await new Promise((r) => setTimeout(r, 80));
  assert.equal(h.tasks('s1').length, count, 'no restart after stop()');
});
