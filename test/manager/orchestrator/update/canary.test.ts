// Canaries transition by transition (issue 15): N tasks of the new spec beside
// the old ones, awaiting promotion once healthy for the monitor window (or
// promoting themselves), then the rest by the window; a failing canary runs
// the failure action without touching an old task.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type UpdateConfig } from '../../../../src/api/objects.js';
import type { Harness } from '../fixtures.js';
import { advance, agents, converge, expectView, failNewest, newImage, nothing, runningService, script } from '../script.js';

const oldKept = (ids: readonly string[]) => (h: Harness) => {
  for (const id of ids) {
    assert.equal(h.task(id).desiredState, TaskState.RUNNING, `old task ${id} desired RUNNING`);
    assert.equal(h.task(id).status.state, TaskState.RUNNING, `old task ${id} RUNNING`);
  }
};

test('canaries: beside the old tasks, awaiting promotion after the monitor window, nothing until promoted, then the rest by the window', async () => {
  const h = await runningService(4, { parallelism: 2, canary: 1, monitorMs: 5_000 });
  const old = h.live('s1').map((t) => t.id);
  await script(h, [
    ['new image: one canary beside the old tasks', newImage(), { state: 'updating', canary: 'deploying', old: 4, new: 1, stopping: 0 }, oldKept(old)],
    ['the canary RUNs', converge, { canary: 'deploying', old: 4, newRunning: 1, stopping: 0 }, oldKept(old)],
    ['monitor - 1', advance(4_999), { canary: 'deploying', old: 4, newRunning: 1 }],
    ['healthy for the monitor window', advance(1), { state: 'updating', canary: 'awaiting_promotion', old: 4, newRunning: 1, stopping: 0 }, oldKept(old)],
    ['an hour later: nothing more', advance(3_600_000), { state: 'updating', canary: 'awaiting_promotion', old: 4, newRunning: 1, stopping: 0, tasks: 5 }, oldKept(old)],
  ]);
  assert.match(h.service('s1').updateStatus?.message ?? '', /promote them with `flotilla service promote svc-s1`/);
  await script(h, [
    // Promoted: the canary slot's old task stops, and two more slots (parallelism 2).
    ['service promote', (x) => x.promote('s1'), { state: 'updating', canary: 'promoted', stopping: 3, old: 1, newRunning: 1 }],
    ['two more RUNNING: the last slot', agents, { canary: 'promoted', stopping: 1, old: 0, newRunning: 3 }],
    ['the last RUNNING', agents, { state: 'updating', newRunning: 4, stopping: 0 }],
    ['the last monitor window', advance(5_000), { state: 'completed', message: 'update completed', canary: 'promoted', newRunning: 4, tasks: 8 }],
  ]);
  h.liveBySlot('s1');
});

test('canaries with auto-promote promote themselves once healthy', async () => {
  const h = await runningService(3, { parallelism: 1, canary: 2, autoPromote: true, monitorMs: 5_000 });
  await script(h, [
    ['new image: two canaries', newImage(), { canary: 'deploying', old: 3, new: 2 }],
    ['they RUN', converge, { canary: 'deploying', old: 3, newRunning: 2 }],
    ['monitor - 1', advance(4_999), { canary: 'deploying', old: 3 }],
    ['healthy: promoted by itself', advance(1), { state: 'updating', canary: 'promoted', message: 'update in progress: canaries promoted' }],
    // Parallelism 1 does not hold back the canary slots: their new tasks already run, only their old ones stop.
    ['the canary slots drop their old tasks, one more slot', nothing, { canary: 'promoted', old: 0, newRunning: 2, stopping: 3 }],
    ['the last RUNNING', agents, { newRunning: 3, stopping: 0 }],
    ['completed', advance(5_000), { state: 'completed', canary: 'promoted' }],
  ]);
});

test('a failing canary with failure action pause: paused, every old task kept RUNNING', async () => {
  const h = await runningService(3, { parallelism: 1, canary: 1, monitorMs: 5_000 });
  const old = h.live('s1').map((t) => t.id);
  await script(h, [
    ['new image: a canary', newImage(), { canary: 'deploying', old: 3, new: 1 }],
    ['it RUNs', converge, { canary: 'deploying', newRunning: 1 }],
    ['it FAILs within the monitor window', (x) => {
      x.advance(2_000);
      failNewest(TaskState.FAILED)(x);
    }, { state: 'paused', canary: 'deploying', failures: 1, old: 3, oldRunning: 3, new: 0, stopping: 0 }, oldKept(old)],
    ['an hour later', advance(3_600_000), { state: 'paused', old: 3, oldRunning: 3, stopping: 0 }, oldKept(old)],
  ]);
  assert.match(h.service('s1').updateStatus?.message ?? '', /^update paused due to failure or early termination of task /);
});

test('a failing canary with failure action rollback: the canaries stop, every old task kept, rollback completed', async () => {
  const h = await runningService(4, { parallelism: 1, canary: 2, monitorMs: 5_000, failureAction: 'rollback' }, { monitorMs: 3_000 });
  const old = h.live('s1').map((t) => t.id);
  await script(h, [
    ['new image: two canaries', newImage(), { canary: 'deploying', old: 4, new: 2 }],
    ['they RUN', converge, { canary: 'deploying', newRunning: 2 }],
    ['one FAILs before its monitor window is over', (x) => {
      x.advance(1_000);
      failNewest(TaskState.FAILED)(x);
    }, { state: 'rollback_started', canary: 'none', image: 'busybox:latest', previous: '' }, oldKept(old)],
    // The old tasks are the current spec again; the other canary is outdated and stops.
    ['the other canary stops', nothing, { state: 'rollback_started', old: 0, newRunning: 4, stopping: 1 }, oldKept(old)],
    ['stopped', (x) => x.stopRequested('s1'), { state: 'rollback_started', old: 0, newRunning: 4, stopping: 0 }, oldKept(old)],
    ['rollback monitor window', advance(3_000), { state: 'rollback_completed', message: 'rollback completed', newRunning: 4, old: 0 }, oldKept(old)],
  ]);
  expectView(h, { tasks: 6 }, 'no task beside the 4 old ones and the 2 canaries');
});

test('a canary that ends within the failure ratio is restarted beside its old task after its restart delay', async () => {
  const h = await runningService(4, { parallelism: 1, canary: 1, monitorMs: 5_000, maxFailureRatio: 0.5 });
  const old = h.live('s1').map((t) => t.id);
  await script(h, [
    ['new image: a canary', newImage(), { canary: 'deploying', old: 4, new: 1 }],
    ['it RUNs', converge, { canary: 'deploying', newRunning: 1 }],
    ['it FAILs at once: 1/4 failures, within the ratio', failNewest(TaskState.FAILED), { state: 'updating', canary: 'deploying', failures: 1, old: 4, new: 0 }, oldKept(old)],
    ['restart delay - 1', advance(4_999), { canary: 'deploying', old: 4, new: 0 }],
    ['restart delay: a new canary in its slot', advance(1), { canary: 'deploying', old: 4, new: 1, stopping: 0 }, oldKept(old)],
    ['it RUNs', converge, { canary: 'deploying', newRunning: 1 }],
    ['healthy for the monitor window', advance(5_000), { canary: 'awaiting_promotion', old: 4, newRunning: 1, tasks: 6 }, oldKept(old)],
  ]);
  const slots = new Set(h.tasks('s1').filter((t) => !old.includes(t.id)).map((t) => t.slot));
  assert.equal(slots.size, 1, 'both canaries in one slot');
});

/** runningService's service, created with restart condition none: a task that ends is not restarted. */
const noRestarts = (replicas: number, update: Partial<UpdateConfig>): Promise<Harness> => runningService(replicas, update, {}, { condition: 'none' });

test('a canary that fails within the ratio and is not restarted (condition none): its slot is through, the other canary is promoted', async () => {
  const h = await noRestarts(4, { parallelism: 1, canary: 2, monitorMs: 5_000, failureAction: 'continue' });
  const old = h.live('s1').map((t) => t.id);
  await script(h, [
    ['new image: two canaries', newImage(), { state: 'updating', canary: 'deploying', old: 4, new: 2 }, oldKept(old)],
    ['they RUN', converge, { canary: 'deploying', newRunning: 2 }],
    ['one FAILs at once: counted, failure action continue, condition none: not restarted', failNewest(TaskState.FAILED), { state: 'updating', canary: 'deploying', failures: 1, old: 4, new: 1 }, oldKept(old)],
    ['an hour later: nothing replaces it', advance(3_600_000), { canary: 'awaiting_promotion', old: 4, newRunning: 1, tasks: 6 }, oldKept(old)],
  ]);
});

test('a canary that ends after its monitor window and is not restarted: it had proven itself, awaiting promotion', async () => {
  const h = await noRestarts(3, { parallelism: 1, canary: 1, monitorMs: 5_000 });
  const old = h.live('s1').map((t) => t.id);
  await script(h, [
    ['new image: a canary', newImage(), { state: 'updating', canary: 'deploying', old: 3, new: 1 }, oldKept(old)],
    ['it RUNs', converge, { canary: 'deploying', newRunning: 1 }],
    ['monitor - 1', advance(4_999), { canary: 'deploying' }],
    // The same pass that sees it healthy sees it gone: no failure (past its window), and nothing more to wait for.
    ['it exits 0 1 ms after its window', (x) => {
      x.advance(2);
      failNewest(TaskState.COMPLETE)(x);
    }, { state: 'updating', canary: 'awaiting_promotion', failures: 0, old: 3, new: 0 }, oldKept(old)],
    ['promoted: the rest by the window', (x) => x.promote('s1'), { state: 'updating', canary: 'promoted', stopping: 1 }],
  ]);
});

test('leader changes in the canary phase: no second canary, the monitor window from the new term start, the promotion kept', async () => {
  const h = await runningService(4, { parallelism: 2, canary: 1, monitorMs: 5_000 });
  const old = h.live('s1').map((t) => t.id);
  const leaderAt = (ms: number) => async (x: Harness): Promise<void> => {
    x.advance(ms);
    await x.newLeader();
  };
  await script(h, [
    ['new image: a canary', newImage(), { canary: 'deploying', old: 4, new: 1 }],
    ['new leader before it RUNs: no second canary', leaderAt(0), { canary: 'deploying', old: 4, new: 1, tasks: 5 }],
    ['it RUNs at t=0', converge, { canary: 'deploying', newRunning: 1 }],
    ['new leader at t=3 s', leaderAt(3_000), { canary: 'deploying', old: 4, newRunning: 1, tasks: 5 }, oldKept(old)],
    ['t=5 s: the old leader would have found it healthy', advance(2_000), { canary: 'deploying' }],
    ['1 ms before 5 s from the term start', advance(2_999), { canary: 'deploying' }],
    ['5 s from the term start: healthy', advance(1), { canary: 'awaiting_promotion', old: 4, newRunning: 1, tasks: 5 }, oldKept(old)],
    ['new leader while it awaits promotion: nothing moves', leaderAt(1_000), { state: 'updating', canary: 'awaiting_promotion', old: 4, newRunning: 1, tasks: 5 }, oldKept(old)],
    ['an hour later', advance(3_600_000), { canary: 'awaiting_promotion', tasks: 5 }, oldKept(old)],
    ['promoted, then a new leader: the rest by the window', async (x) => {
      x.promote('s1');
      await x.newLeader();
    }, { state: 'updating', canary: 'promoted', stopping: 3, old: 1, newRunning: 1 }],
    ['two more RUNNING: the last slot', agents, { canary: 'promoted', stopping: 1, old: 0, newRunning: 3 }],
    ['the last RUNNING', agents, { newRunning: 4, stopping: 0 }],
    ['completed', advance(5_000), { state: 'completed', canary: 'promoted', tasks: 8 }],
  ]);
  h.liveBySlot('s1');
});
