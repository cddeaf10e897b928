// The rolling update transition by transition (issue 15): its stored status,
// Swarm's defaults, the window (parallelism, a slot done only once RUNNING,
// the delay from the last RUNNING), start-first, writes mid-update that must
// not change its pace, and a leader change mid-update.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateUpdateConfig } from '../../../../src/api/validate.js';
import { TaskState } from '../../../../src/api/objects.js';
import { Harness } from '../fixtures.js';
import { NODES, advance, agents, converge, expectView, newImage, newTasks, nothing, runningService, script, serving, view } from '../script.js';

test('update status: started with its start version, completed one monitor window after the last slot', async () => {
  const h = await runningService(2, { parallelism: 1, monitorMs: 5_000 });
  const t0 = h.now;
  await script(h, [
    ['new image', newImage(), { state: 'updating', message: 'update in progress', canary: 'none', old: 1, stopping: 1 }],
    ['first slot RUNNING: the second starts', agents, { state: 'updating', old: 0, newRunning: 1, stopping: 1 }],
    ['second slot RUNNING: the last monitor window', agents, { state: 'updating', old: 0, newRunning: 2, stopping: 0 }],
    ['monitor - 1 ms', advance(4_999), { state: 'updating', message: 'update in progress' }],
    ['monitor over', advance(1), { state: 'completed', message: 'update completed', newRunning: 2, tasks: 4 }],
    ['nothing more', advance(60_000), { state: 'completed', tasks: 4 }],
  ]);
  const st = h.service('s1').updateStatus;
  assert.ok(st);
  assert.equal(st.completedAt, h.now - 60_000);
  assert.equal(st.startedAt, t0, 'started by the pass that saw the new spec');
});

test('update status: the start version is the spec version the update started at', async () => {
  const h = await runningService(2);
  const svc = newImage()(h);
  await h.reconcile();
  assert.equal(h.service('s1').updateStatus?.startVersion, svc.specVersion);
  for (const t of newTasks(h)) assert.ok(t.specVersion >= svc.specVersion);
});

test('rollback: rollback_started, then "rollback completed", by the rollback config', async () => {
  const h = await runningService(4, { parallelism: 1 }, { parallelism: 2, monitorMs: 1_000 });
  await script(h, [['new image', newImage(), { state: 'updating', stopping: 1 }]]);
  for (let i = 0; i < 4; i++) {
    await agents(h);
    await h.reconcile();
  }
  h.advance(5_000);
  await script(h, [
    ['updated', nothing, { state: 'completed', newRunning: 4, image: 'busybox:2', previous: 'busybox:latest' }],
    ['service rollback', (x) => x.rollback('s1'), { state: 'rollback_started', message: 'manually requested rollback', image: 'busybox:latest', stopping: 2, old: 2 }],
    ['two slots at a time (rollback parallelism 2)', agents, { state: 'rollback_started', stopping: 2, newRunning: 2, old: 0 }],
    ['all back', agents, { state: 'rollback_started', newRunning: 4, stopping: 0 }],
    ['rollback monitor - 1', advance(999), { state: 'rollback_started' }],
    ['rollback monitor over', advance(1), { state: 'rollback_completed', message: 'rollback completed', image: 'busybox:latest', previous: 'busybox:2' }],
  ]);
});

test('a scale or a label change writes no update status', async () => {
  const h = await runningService(2);
  const labels = (x: Harness): unknown => x.updateService('s1', (s) => (s.labels = { a: 'b' }));
  await script(h, [
    ['scale up', (x) => x.scale('s1', 3), { state: 'none', new: 3 }],
    ['scale down', (x) => x.scale('s1', 2), { state: 'none', new: 2 }],
    ['a label', labels, { state: 'none', new: 2 }],
  ]);
  // Also once an update has completed (the control API clears the status on any later spec change).
  await script(h, [['new image', newImage(), { state: 'updating' }]]);
  for (let i = 0; i < 2; i++) {
    await agents(h);
    await h.reconcile();
  }
  h.advance(5_000);
  await script(h, [
    ['completed', nothing, { state: 'completed' }],
    ['scale', (x) => x.scale('s1', 3), { state: 'none', new: 3 }],
  ]);
  const v = h.service('s1').version;
  await h.reconcile();
  assert.equal(h.service('s1').version, v, 'no write to the service');
});

test("Swarm's defaults: parallelism 1, delay 0, failure action pause, monitor 5 s, max failure ratio 0, stop-first", async () => {
  const d = validateUpdateConfig(undefined);
  assert.deepEqual(
    { parallelism: d.parallelism, delayMs: d.delayMs, failureAction: d.failureAction, monitorMs: d.monitorMs, maxFailureRatio: d.maxFailureRatio, order: d.order },
    { parallelism: 1, delayMs: 0, failureAction: 'pause', monitorMs: 5_000, maxFailureRatio: 0, order: 'stop-first' },
  );
  const h = await runningService(3, d);
  await script(h, [
    // stop-first, one slot: the old task stops before its replacement exists.
    ['new image', newImage(), { state: 'updating', stopping: 1, old: 2, new: 0 }],
    // delay 0: the next slot starts in the pass that sees the first RUNNING.
    ['first slot RUNNING', agents, { stopping: 1, newRunning: 1, old: 1 }],
    // ratio 0: one failure pauses.
    ['stopped, its replacement created', (x) => x.stopRequested('s1'), { new: 2, newRunning: 1 }],
    ['it is rejected', (x) => x.report(newTasks(x).find((t) => t.status.state === TaskState.PENDING)!.id, TaskState.REJECTED), { state: 'paused', failures: 1 }],
  ]);
  // Monitor 5 s: a task that ends 5 s after it ran still counts (checked in failure.test.ts); the last window is 5 s.
});

test('window: at most parallelism slots in flight; a slot is done only once its new task is RUNNING', async () => {
  const h = await runningService(5, { parallelism: 2 });
  await script(h, [
    ['new image', newImage(), { stopping: 2, old: 3 }],
    ['stopped: two new tasks', (x) => x.stopRequested('s1'), { stopping: 0, new: 2, old: 3 }],
    ['scheduled, not RUNNING: still in flight', (x) => x.schedule('s1', NODES), { stopping: 0, new: 2, newRunning: 0, old: 3 }],
    ['one RUNNING: one more slot', (x) => x.report(newTasks(x)[0].id, TaskState.RUNNING), { stopping: 1, newRunning: 1, old: 2 }],
    ['the other RUNNING: one more', (x) => x.report(newTasks(x).find((t) => t.status.state !== TaskState.RUNNING)!.id, TaskState.RUNNING), { stopping: 2, newRunning: 2, old: 1 }],
  ]);
});

test('window: parallelism 0 updates every slot at once', async () => {
  const h = await runningService(6, { parallelism: 0 });
  await script(h, [
    ['new image', newImage(), { stopping: 6, old: 0 }],
    ['all replaced', agents, { newRunning: 6, stopping: 0 }],
  ]);
});

test('window: the delay counts from the last slot that became RUNNING', async () => {
  const h = await runningService(4, { parallelism: 2, delayMs: 10_000 });
  await script(h, [
    ['new image', newImage(), { stopping: 2 }],
    ['stopped, scheduled', async (x) => {
      x.stopRequested('s1');
      await x.reconcile();
      x.schedule('s1', NODES);
    }, { new: 2, newRunning: 0, stopping: 0 }],
    ['first RUNNING at t=0', (x) => x.report(newTasks(x)[0].id, TaskState.RUNNING), { newRunning: 1, stopping: 0 }],
    ['second RUNNING at t=3 s', async (x) => {
      x.advance(3_000);
      x.report(newTasks(x).find((t) => t.status.state !== TaskState.RUNNING)!.id, TaskState.RUNNING);
    }, { newRunning: 2, stopping: 0 }],
    ['10 s after the first, 7 s after the last', advance(7_000), { stopping: 0, old: 2 }],
    ['1 ms before the delay from the last', advance(2_999), { stopping: 0, old: 2 }],
    ['the delay from the last RUNNING', advance(1), { stopping: 2, old: 0 }],
  ]);
});

test('start-first: never fewer serving tasks than replicas; the old task stops once the new one RUNs', async () => {
  const h = await runningService(3, { parallelism: 1, order: 'start-first' });
  const atLeast3 = (x: Harness): void => assert.ok(serving(x) >= 3, `serving ${serving(x)} >= 3`);
  await script(h, [
    ['new image: a new task beside an old one', newImage(), { old: 3, new: 1, stopping: 0 }, atLeast3],
    ['scheduled, not RUNNING: the old one keeps running', (x) => x.schedule('s1', NODES), { old: 3, new: 1, oldRunning: 3 }, atLeast3],
    ['RUNNING: its old task stops, the next slot starts', (x) => x.runAssigned('s1'), { old: 2, new: 2, newRunning: 1, stopping: 1 }, atLeast3],
    ['second RUNNING', converge, { old: 1, new: 3, newRunning: 2 }, atLeast3],
    ['third RUNNING', converge, { old: 0, new: 3, newRunning: 3 }, atLeast3],
  ]);
  h.liveBySlot('s1');
});

test('a label change or a scale mid-update does not speed it up: the window and the delay stand', async () => {
  const h = await runningService(4, { parallelism: 1, delayMs: 10_000 });
  await script(h, [
    ['new image', newImage(), { state: 'updating', stopping: 1 }],
    ['first slot RUNNING at t=0', agents, { newRunning: 1, stopping: 0, old: 3 }],
    ['a label at t=4 s', (x) => {
      x.advance(4_000);
      x.updateService('s1', (s) => (s.labels = { a: 'b' }));
    }, { state: 'updating', stopping: 0, old: 3, previous: 'busybox:latest' }],
    ['the update config rewritten at t=6 s', (x) => {
      x.advance(2_000);
      x.updateService('s1', (s) => (s.updateConfig = { ...s.updateConfig, monitorMs: 5_001 }));
    }, { state: 'updating', stopping: 0, old: 3 }],
    ['scale to 5 at t=8 s', (x) => {
      x.advance(2_000);
      x.scale('s1', 5);
    }, { state: 'updating', stopping: 0, old: 3, new: 2 }],
    ['1 ms before the delay', advance(1_999), { stopping: 0, old: 3 }],
    ['the delay', advance(1), { stopping: 1, old: 2 }],
  ]);
});

test('a leader change mid-update: the new leader goes on from the store, each slot updated once, delays from its term start', async () => {
  const h = await runningService(3, { parallelism: 1, delayMs: 5_000 });
  const leader = async (x: Harness): Promise<void> => {
    await x.newLeader();
  };
  await script(h, [
    ['new image', newImage(), { state: 'updating', stopping: 1 }],
    ['new leader while the first slot stops', leader, { state: 'updating', stopping: 1, old: 2 }],
    ['first slot RUNNING at t=0', agents, { newRunning: 1, stopping: 0, old: 2 }],
    ['new leader at t=3 s', async (x) => {
      x.advance(3_000);
      await x.newLeader();
    }, { stopping: 0, old: 2 }],
    ['t=5 s: the old leader would have gone on', advance(2_000), { stopping: 0, old: 2 }],
    ['1 ms before 5 s from the term start', advance(2_999), { stopping: 0, old: 2 }],
    ['5 s from the term start', advance(1), { stopping: 1, old: 1 }],
    ['new leader, second slot RUNNING', async (x) => {
      await x.newLeader();
      await agents(x);
    }, { newRunning: 2, stopping: 0, old: 1 }],
    ['the delay', advance(5_000), { stopping: 1, old: 0 }],
    ['third slot RUNNING', agents, { newRunning: 3 }],
    ['new leader: the last monitor window from its term start', async (x) => {
      x.advance(4_000);
      await x.newLeader();
    }, { state: 'updating' }],
    ['old leader would have completed', advance(1_000), { state: 'updating' }],
    ['completed', advance(4_000), { state: 'completed', message: 'update completed', tasks: 6 }],
  ]);
  const perSlot = new Map<number, number>();
  for (const t of h.tasks('s1')) perSlot.set(t.slot, (perSlot.get(t.slot) ?? 0) + 1);
  assert.deepEqual([...perSlot.entries()].sort(), [[1, 2], [2, 2], [3, 2]], 'each slot updated exactly once');
  expectView(h, { newRunning: 3, old: 0 }, 'end');
  assert.equal(view(h).failures, 0);
});

test('a task of the update that fails in the last monitor window pauses it instead of completing', async () => {
  const h = await runningService(2, { parallelism: 1, monitorMs: 5_000 });
  await script(h, [
    ['new image', newImage(), { state: 'updating', stopping: 1 }],
    ['first slot RUNNING', agents, { newRunning: 1, stopping: 1 }],
    ['second slot RUNNING: the last monitor window', agents, { newRunning: 2, stopping: 0, state: 'updating' }],
    ['one ends 4 s into it', (x) => {
      x.advance(4_000);
      x.report(newTasks(x)[0].id, TaskState.FAILED, { exitCode: 1 });
    }, { state: 'paused', failures: 1 }],
    ['no completion later', advance(60_000), { state: 'paused' }],
  ]);
});
