// Failures of a rolling update transition by transition (issue 15): what
// counts (before RUNNING, within the monitor window), once per task, against
// the max failure ratio; the failure actions pause, continue and rollback
// (and a rollback that fails); the progress deadline.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type Service, type Task } from '../../../../src/api/objects.js';
import { updateAction } from '../../../../src/manager/store/store.js';
import type { Harness } from '../fixtures.js';
import { advance, agents, converge, expectView, failNewest, newImage, newest, nothing, runningService, script } from '../script.js';

/** The slot of the task being stopped (there must be one). */
function stoppingSlot(h: Harness): number {
  const t = h.tasks('s1').find((x) => x.desiredState > TaskState.RUNNING && x.status.state === TaskState.RUNNING);
  assert.ok(t, 'a task being stopped');
  return t.slot;
}

/** Remembers a task an action picked, for the rows after it. */
function pick(): { set: (t: Task) => void; id: () => string } {
  let id = '';
  return {
    set: (t) => {
      id = t.id;
    },
    id: () => id,
  };
}

test('pause: a new task REJECTED before RUNNING; the message; no new slot ever after; old tasks keep running; the restart policy goes on; a new spec resumes', async () => {
  const h = await runningService(3, { parallelism: 1 });
  const failed = pick();
  const oldIds = h.live('s1').map((t) => t.id);
  await script(h, [
    ['new image', newImage(), { state: 'updating', stopping: 1 }],
    ['stopped: its replacement', (x) => x.stopRequested('s1'), { new: 1, old: 2 }],
    ['REJECTED', failNewest(TaskState.REJECTED, failed.set), { state: 'paused', failures: 1, old: 2, oldRunning: 2, new: 0 }],
  ]);
  expectView(h, { message: `update paused due to failure or early termination of task ${failed.id()}` }, 'the message');
  assert.equal(h.task(failed.id()).updateFailure, true);
  assert.deepEqual(h.task(failed.id()).restart, { attempt: 1, delayMs: 5_000, nextAt: h.now + 5_000, reason: '' });
  await script(h, [
    ['restart delay - 1', advance(4_999), { state: 'paused', new: 0, old: 2, stopping: 0 }],
    ['restart delay: the restart policy refills the failed slot', advance(1), { state: 'paused', new: 1, old: 2, stopping: 0 }],
    ['it runs', converge, { state: 'paused', newRunning: 1, old: 2, stopping: 0 }],
    ['an hour later: no new slot', advance(3_600_000), { state: 'paused', newRunning: 1, oldRunning: 2, stopping: 0, tasks: 5 }],
    ['it fails again: restarted, still paused', failNewest(), { state: 'paused', new: 0, oldRunning: 2, stopping: 0 }],
  ]);
  for (const id of oldIds.filter((i) => h.task(i).desiredState !== TaskState.SHUTDOWN)) assert.equal(h.task(id).desiredState, TaskState.RUNNING);
  assert.equal(oldIds.filter((i) => h.task(i).desiredState === TaskState.RUNNING).length, 2, 'the two old tasks not yet replaced keep running');
  // A new spec: the control API resets the status (the harness does as it does) and the update resumes.
  await script(h, [
    // The failed slot, empty in its restart delay, is filled with the new spec at once: the update's first slot.
    ['a new spec', newImage('busybox:3'), { state: 'updating', message: 'update in progress', previous: 'busybox:2', new: 1, old: 2, stopping: 0 }],
    ['it runs: the next slot', converge, { state: 'updating', newRunning: 1, old: 1, stopping: 1 }],
  ]);
});

test('failures: within the monitor window after RUNNING counts, after it does not; each counts once; ratio 0.25 of 4 slots: 1 goes on, 2 pause', async () => {
  const h = await runningService(4, { parallelism: 1, monitorMs: 5_000, maxFailureRatio: 0.25 });
  await script(h, [
    ['new image', newImage(), { state: 'updating', stopping: 1 }],
    ['first slot RUNNING at t=0: the second starts', agents, { newRunning: 1, stopping: 1 }],
    // The second slot's new task is not created yet: the first slot's is the newest of the current spec.
    ['the first ends at 4.999 s: a failure, 1/4 is not > 0.25', (x) => {
      x.advance(4_999);
      failNewest(TaskState.FAILED)(x);
    }, { state: 'updating', failures: 1 }],
    ['counted once, pass after pass', nothing, { state: 'updating', failures: 1 }],
    ['and again', advance(1), { state: 'updating', failures: 1 }],
    ['second slot RUNNING at t=5 s: the third starts', agents, { state: 'updating', failures: 1, newRunning: 1, stopping: 1 }],
  ]);
  const secondTask = newest(h);
  const thirdSlot = stoppingSlot(h);
  await script(h, [
    ['the second ends 5.001 s after it ran: past its monitor window, no failure', (x) => {
      x.advance(5_001);
      x.report(secondTask.id, TaskState.FAILED, { exitCode: 1 });
    }, { state: 'updating', failures: 1 }],
  ]);
  assert.equal(h.task(secondTask.id).updateFailure, false);
  assert.equal(h.task(secondTask.id).restart?.attempt, 1, 'the restart policy handled it');
  const third = pick();
  await script(h, [
    ['the third slot stopped, its task created', (x) => x.stopRequested('s1'), { state: 'updating' }],
    ['REJECTED: 2 failures of 4 slots', (x) => {
      const t = x.liveBySlot('s1').get(thirdSlot);
      assert.ok(t, "the third slot's new task");
      third.set(t);
      x.report(t.id, TaskState.REJECTED);
    }, { state: 'paused', failures: 2 }],
  ]);
  expectView(h, { message: `update paused due to failure or early termination of task ${third.id()}` }, 'the last failure is named');
});

test('continue: failures do not stop the update; a failed slot counts as done', async () => {
  const h = await runningService(3, { parallelism: 1, failureAction: 'continue' });
  await script(h, [
    ['new image', newImage(), { state: 'updating', stopping: 1, old: 2 }],
    ['stopped: its replacement', (x) => x.stopRequested('s1'), { new: 1, old: 2, stopping: 0 }],
    ['REJECTED: the next slot starts', failNewest(TaskState.REJECTED), { state: 'updating', failures: 1, stopping: 1, old: 1 }],
    ['stopped: its replacement', (x) => x.stopRequested('s1'), { new: 1, old: 1, stopping: 0 }],
    ['it RUNs then FAILs at once: the last slot starts', async (x) => {
      converge(x);
      await x.reconcile();
      failNewest(TaskState.FAILED)(x);
    }, { state: 'updating', failures: 2, stopping: 1, old: 0 }],
  ]);
});

test('rollback: spec <- previous spec, previous spec cleared, "update rolled back due to ...", by the rollback config; then rollback completed', async () => {
  const h = await runningService(4, { parallelism: 1, failureAction: 'rollback' }, { parallelism: 2, monitorMs: 2_000 });
  const failed = pick();
  await script(h, [
    ['new image', newImage(), { state: 'updating', stopping: 1 }],
    ['first slot RUNNING: the second starts', agents, { newRunning: 1, stopping: 1, old: 2 }],
    ['stopped: its replacement', (x) => x.stopRequested('s1'), { new: 2, old: 2 }],
    ['REJECTED: rolled back', failNewest(TaskState.REJECTED, failed.set), { state: 'rollback_started', image: 'busybox:latest', previous: '', failures: 1 }],
  ]);
  expectView(h, { message: `update rolled back due to failure or early termination of task ${failed.id()}`, canary: 'none' }, 'the message');
  await script(h, [
    // Rollback parallelism 2: the failed slot (refilled with the old spec) and the updated slot at once.
    ['two slots at a time', nothing, { state: 'rollback_started', stopping: 1, old: 0, new: 3 }],
    ['back', agents, { state: 'rollback_started', stopping: 0, newRunning: 4, old: 0 }],
    ['rollback monitor - 1', advance(1_999), { state: 'rollback_started' }],
    ['rollback completed', advance(1), { state: 'rollback_completed', message: 'rollback completed', image: 'busybox:latest', previous: '' }],
  ]);
  const perSlot = new Map<number, string[]>();
  for (const t of h.live('s1')) perSlot.set(t.slot, [...(perSlot.get(t.slot) ?? []), t.spec.container.image]);
  assert.deepEqual([...perSlot.values()].flat(), ['busybox:latest', 'busybox:latest', 'busybox:latest', 'busybox:latest']);
});

test('a rollback that fails pauses (rollback_paused) and never rolls back again', async () => {
  const h = await runningService(3, { parallelism: 1, failureAction: 'rollback' }, { parallelism: 1, failureAction: 'pause' });
  const failed = pick();
  await script(h, [
    ['new image', newImage(), { state: 'updating', stopping: 1 }],
    ['first slot RUNNING', agents, { newRunning: 1, stopping: 1 }],
    ['stopped: its replacement', (x) => x.stopRequested('s1'), { new: 2 }],
    ['REJECTED: rolled back', failNewest(TaskState.REJECTED), { state: 'rollback_started', image: 'busybox:latest' }],
    ['the rollback replaces a slot', nothing, { state: 'rollback_started' }],
    ['stopped: its replacement', async (x) => {
      x.stopRequested('s1');
      await x.reconcile();
      x.schedule('s1', ['n1']);
    }, { state: 'rollback_started' }],
    ['a task of the rollback is REJECTED', (x) => {
      const t = x.live('s1').find((y) => y.status.state === TaskState.ASSIGNED);
      assert.ok(t, 'a task of the rollback');
      failed.set(t);
      x.report(t.id, TaskState.REJECTED);
    }, { state: 'rollback_paused', image: 'busybox:latest', previous: '' }],
  ]);
  expectView(h, { message: `rollback paused due to failure or early termination of task ${failed.id()}` }, 'the message');
  await script(h, [['an hour later', advance(3_600_000), { state: 'rollback_paused', image: 'busybox:latest', stopping: 0 }]]);
});

test('failure action rollback without a previous spec pauses, saying so', async () => {
  const h = await runningService(2, { parallelism: 1, failureAction: 'rollback' });
  newImage()(h);
  // A service written without a previous spec (e.g. by a release before issue 15).
  const s = structuredClone(h.service('s1'));
  delete s.previousSpec;
  h.ls.applyNow([updateAction('service', s as Service)]);
  const failed = pick();
  await script(h, [
    ['the update starts', nothing, { state: 'updating', previous: '', stopping: 1 }],
    ['stopped: its replacement', (x) => x.stopRequested('s1'), { new: 1 }],
    ['REJECTED', failNewest(TaskState.REJECTED, failed.set), { state: 'paused', image: 'busybox:2' }],
  ]);
  expectView(h, { message: `update paused due to failure or early termination of task ${failed.id()}: no previous spec to roll back to` }, 'the message');
});

test('progress deadline: no slot done for the deadline runs the failure action; a slot done resets it', async () => {
  const h = await runningService(3, { parallelism: 1, progressDeadlineMs: 60_000 });
  const assigned = async (x: Harness): Promise<void> => {
    x.stopRequested('s1');
    await x.reconcile();
    x.schedule('s1', ['n1']);
  };
  await script(h, [
    ['new image at t=0', newImage(), { state: 'updating', stopping: 1 }],
    ['its task ASSIGNED, never RUNNING', assigned, { state: 'updating', new: 1, newRunning: 0 }],
    ['t=50 s: it RUNs: a slot done', (x) => {
      x.advance(50_000);
      x.runAssigned('s1');
    }, { state: 'updating', newRunning: 1, stopping: 1 }],
    ['the next one ASSIGNED, never RUNNING', assigned, { state: 'updating', new: 2, newRunning: 1 }],
    ['t=60 s: not the deadline from the last slot done', advance(10_000), { state: 'updating' }],
    ['t=110 s - 1 ms', advance(49_999), { state: 'updating' }],
    ['t=110 s: the deadline', advance(1), { state: 'paused', message: 'update paused because no task of it became RUNNING within its progress deadline of 1m' }],
    ['paused for good', advance(600_000), { state: 'paused', stopping: 0, old: 1 }],
  ]);
});

test('start-first: a new task that fails beside its old one pauses the update with the old one still serving', async () => {
  const h = await runningService(2, { parallelism: 1, order: 'start-first' });
  const old = h.live('s1').map((t) => t.id);
  await script(h, [
    ['new image: a new task beside an old one', newImage(), { state: 'updating', old: 2, new: 1 }],
    ['REJECTED', failNewest(TaskState.REJECTED), { state: 'paused', failures: 1, old: 2, oldRunning: 2, new: 0, stopping: 0 }],
    ['an hour later: nothing replaced', advance(3_600_000), { state: 'paused', old: 2, oldRunning: 2, new: 0, stopping: 0, tasks: 3 }],
  ]);
  for (const id of old) assert.equal(h.task(id).desiredState, TaskState.RUNNING);
});

test('progress deadline: the update delay and a canary monitor window are not counted against it', async () => {
  const h = await runningService(3, { parallelism: 1, delayMs: 120_000, progressDeadlineMs: 60_000 });
  await script(h, [
    ['new image at t=0', newImage(), { state: 'updating', stopping: 1 }],
    ['first slot RUNNING at t=0', agents, { state: 'updating', newRunning: 1, stopping: 0 }],
    ['t=119.999 s: in the update delay, longer than the deadline', advance(119_999), { state: 'updating', stopping: 0, old: 2 }],
    ['t=120 s: the next slot', advance(1), { state: 'updating', stopping: 1, old: 1 }],
    ['its task ASSIGNED, never RUNNING', async (x) => {
      x.stopRequested('s1');
      await x.reconcile();
      x.schedule('s1', ['n1']);
    }, { state: 'updating', new: 2, newRunning: 1 }],
    ['t=180 s - 1 ms', advance(59_999), { state: 'updating' }],
    ['t=180 s: the deadline from the delay\'s end', advance(1), { state: 'paused', message: 'update paused because no task of it became RUNNING within its progress deadline of 1m' }],
  ]);
  const c = await runningService(2, { canary: 1, monitorMs: 120_000, progressDeadlineMs: 60_000 });
  await script(c, [
    ['new image: a canary', newImage(), { state: 'updating', canary: 'deploying', new: 1 }],
    ['it RUNs', converge, { canary: 'deploying', newRunning: 1 }],
    ['past the deadline, within the monitor window', advance(90_000), { state: 'updating', canary: 'deploying' }],
    ['healthy', advance(30_000), { state: 'updating', canary: 'awaiting_promotion' }],
  ]);
});
