// Crash-loop back-off transition by transition (issue 15): the decision
// written on the task when its end is handled (task.restart), the delay
// doubling per consecutive failure up to maxDelayMs, the reset after a long
// enough run, Swarm's fixed delay, the slots left empty on purpose, and a
// decision of an earlier leader waited for from the new term start.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type RestartDecision, type RestartPolicy, type ServiceSpec, type Task } from '../../../../src/api/objects.js';
import { backoffDelay } from '../../../../src/manager/orchestrator/restart/restart.js';
import { Harness } from '../fixtures.js';
import { serviceSpec } from '../../store-fixtures.js';

function withPolicy(p: Partial<RestartPolicy>): Partial<ServiceSpec> {
  const t = serviceSpec('x').taskTemplate;
  return { taskTemplate: { ...t, restartPolicy: { ...t.restartPolicy, ...p } } };
}

async function running(policy: Partial<RestartPolicy>): Promise<Harness> {
  const h = new Harness();
  h.addNode('n1');
  h.replicated('s1', 1, withPolicy(policy));
  await h.reconcile();
  h.converge('s1', ['n1']);
  // The pass that sees it RUNNING: from then on it has run, by this leader's clock.
  await h.reconcile();
  return h;
}

/** The slot's one live task. */
function live(h: Harness): Task {
  const [t, ...more] = h.live('s1');
  assert.ok(t, 'a live task');
  assert.equal(more.length, 0, 'one live task');
  return t;
}

/** The task ends (exit 1 unless told), one pass handles it: its restart decision. */
async function fail(h: Harness, state: TaskState = TaskState.FAILED, exitCode = 1): Promise<{ task: Task; restart: RestartDecision | undefined }> {
  const t = live(h);
  h.report(t.id, state, { exitCode });
  await h.reconcile();
  const after = h.task(t.id);
  assert.equal(after.desiredState, TaskState.SHUTDOWN, 'handled: desired SHUTDOWN');
  return { task: after, restart: after.restart };
}

/** No replacement 1 ms before `delayMs`, one exactly at it; it then runs (and a pass sees it RUNNING). */
async function replacedAfter(h: Harness, delayMs: number, what: string): Promise<void> {
  h.advance(delayMs - 1);
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, `${what}: none 1 ms before ${delayMs} ms`);
  h.advance(1);
  await h.reconcile();
  assert.equal(h.live('s1').length, 1, `${what}: the replacement at ${delayMs} ms`);
  assert.equal(live(h).createdAt, h.now);
  h.converge('s1', ['n1']);
  await h.reconcile();
}

test('backoffDelay: delay x 2^(attempt-1), capped at maxDelayMs; maxDelayMs <= delayMs is a fixed delay', () => {
  const p: RestartPolicy = { condition: 'any', delayMs: 5_000, maxAttempts: 0, windowMs: 0, maxDelayMs: 30_000 };
  assert.deepEqual([1, 2, 3, 4, 5, 100].map((a) => backoffDelay(p, a)), [5_000, 10_000, 20_000, 30_000, 30_000, 30_000]);
  assert.deepEqual([1, 2, 3].map((a) => backoffDelay({ ...p, maxDelayMs: 5_000 }, a)), [5_000, 5_000, 5_000]);
  assert.deepEqual([1, 2, 3].map((a) => backoffDelay({ ...p, maxDelayMs: 1_000 }, a)), [5_000, 5_000, 5_000]);
  assert.deepEqual([1, 2].map((a) => backoffDelay({ ...p, delayMs: 0 }, a)), [0, 0]);
});

test('consecutive failures: attempt 1, 2, 3, ...; delay 5 s, 10 s, 20 s, capped at maxDelayMs; the replacement exactly after it', async () => {
  const h = await running({ condition: 'any', delayMs: 5_000, maxDelayMs: 30_000 });
  const want = [5_000, 10_000, 20_000, 30_000, 30_000];
  for (let i = 0; i < want.length; i++) {
    h.advance(1_000); // ran 1 s: not long enough to reset the count
    const { restart } = await fail(h);
    assert.deepEqual(restart, { attempt: i + 1, delayMs: want[i], nextAt: h.now + want[i], reason: '' }, `failure ${i + 1}`);
    await replacedAfter(h, want[i], `failure ${i + 1}`);
  }
  assert.equal(h.tasks('s1').length, want.length + 1, 'one task per failure, in the same slot');
  assert.deepEqual(new Set(h.tasks('s1').map((t) => t.slot)), new Set([1]));
});

/** Rows of [how long the task ran (ms), the attempt, the delay] for consecutive ends of the slot's task. */
async function runs(h: Harness, rows: ReadonlyArray<readonly [number, number, number]>): Promise<void> {
  for (const [ran, attempt, delayMs] of rows) {
    h.advance(ran);
    const { restart } = await fail(h);
    assert.deepEqual([restart?.attempt, restart?.delayMs], [attempt, delayMs], `ran ${ran} ms`);
    await replacedAfter(h, delayMs, `ran ${ran} ms`);
  }
}

test('a task that ran max(10 s, maxDelayMs) starts the count again', async () => {
  await runs(await running({ condition: 'any', delayMs: 1_000, maxDelayMs: 30_000 }), [
    [1_000, 1, 1_000],
    [1_000, 2, 2_000],
    [29_999, 3, 4_000], // past 10 s, not maxDelayMs
    [30_000, 1, 1_000], // maxDelayMs: healthy, the count starts again
    [1_000, 2, 2_000],
  ]);
  // A max delay under 10 s: 10 s of running starts the count again.
  await runs(await running({ condition: 'any', delayMs: 1_000, maxDelayMs: 4_000 }), [
    [1_000, 1, 1_000],
    [9_999, 2, 2_000],
    [9_999, 3, 4_000],
    [9_999, 4, 4_000],
    [10_000, 1, 1_000],
  ]);
});

test('maxDelayMs <= delayMs: a fixed delay, as in Swarm', async () => {
  const h = await running({ condition: 'any', delayMs: 5_000, maxDelayMs: 5_000 });
  for (let i = 1; i <= 3; i++) {
    const { restart } = await fail(h);
    assert.deepEqual([restart?.attempt, restart?.delayMs], [i, 5_000]);
    await replacedAfter(h, 5_000, `failure ${i}`);
  }
});

test('condition none, on-failure with exit 0, max attempts: the reason on the task, the slot left empty', async () => {
  const cases: Array<[string, Partial<RestartPolicy>, TaskState, number, RegExp]> = [
    ['condition none', { condition: 'none' }, TaskState.FAILED, 1, /^restart condition is none$/],
    ['on-failure, exit 0', { condition: 'on-failure' }, TaskState.COMPLETE, 0, /^completed with exit code 0 \(restart condition on-failure\)$/],
  ];
  for (const [what, policy, state, exitCode, reason] of cases) {
    const h = await running({ delayMs: 0, ...policy });
    const { restart } = await fail(h, state, exitCode);
    assert.ok(restart, what);
    assert.match(restart.reason, reason, what);
    assert.deepEqual([restart.attempt, restart.delayMs, restart.nextAt], [0, 0, 0], what);
    h.advance(600_000);
    await h.reconcile();
    assert.equal(h.live('s1').length, 0, `${what}: slot left empty`);
  }
  const h = await running({ condition: 'any', delayMs: 0, maxAttempts: 2 });
  for (let i = 1; i <= 2; i++) {
    const { restart } = await fail(h);
    assert.equal(restart?.reason, '', `restart ${i}`);
    h.converge('s1', ['n1']);
    await h.reconcile();
  }
  const { restart } = await fail(h);
  assert.equal(restart?.reason, 'restarted 2 time(s): maxAttempts 2 reached');
  h.advance(600_000);
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, 'max attempts: slot left empty');
});

test('a back-off decided by an earlier leader waits its whole delay from the new term start', async () => {
  const h = await running({ condition: 'any', delayMs: 5_000, maxDelayMs: 60_000 });
  for (const d of [5_000, 10_000]) {
    await fail(h);
    await replacedAfter(h, d, 'warm-up');
  }
  const { restart } = await fail(h);
  assert.deepEqual([restart?.attempt, restart?.delayMs], [3, 20_000]);
  h.advance(15_000);
  await h.newLeader();
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, 'the new leader: still in the delay');
  h.advance(5_000);
  await h.reconcile();
  assert.equal(h.live('s1').length, 0, 'the old leader would have restarted it now: the new one counts from its term start');
  await replacedAfter(h, 15_000, 'from the term start');
  // The count goes on under the new leader (the decision is in the store).
  h.advance(1_000);
  const next = await fail(h);
  assert.deepEqual([next.restart?.attempt, next.restart?.delayMs], [4, 40_000]);
});
