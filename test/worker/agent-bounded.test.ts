// The agent's own bounds with a HOLLOW executor (no engine): tasks are taken up
// a few at a time, the rest wait without a report or an executor call and shut
// down for free; stops are bounded too; a backlog of status updates keeps only
// each task's latest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../src/api/objects.js';
import { Agent } from '../../src/worker/agent.js';
import { StatusBatcher, type StatusUpdate } from '../../src/worker/status-batcher.js';
import { Collector, assertMonotonic, makeTask, waitFor } from './engine.js';
import { HollowExecutor } from './hollow-executor.js';

const owner = { clusterId: 'hollow-cluster', nodeId: 'node-1' };

test('5,000 tasks: at most maxConcurrentStarts prepared at once; the waiting ones report nothing until their turn; all run', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 20, maxBatch: 512, maxConcurrentStarts: 16 });
  await agent.start();
  const tasks = Array.from({ length: 5000 }, () => makeTask());
  for (const t of tasks) ex.script(t.id, { prepareMs: 2, exitAfterMs: 1 });
  await agent.assign(tasks);
  await waitFor('prepares under way', () => ex.open.prepare > 0, 2000, 1);
  await agent.flush();
  // Those not taken up yet have not been reported at all: they are still ASSIGNED in the store.
  const reported = new Set(c.batches.flat().map((u) => u.taskId));
  const { acquired, queued } = agent.stats().starts;
  assert.ok(queued > 0, 'some tasks are still waiting for their turn');
  assert.ok(reported.size <= acquired, `${reported.size} tasks reported, ${acquired} taken up`);
  await waitFor('all complete', () => agent.stats().starts.acquired === 5000 && agent.stats().starts.inFlight === 0, 60_000, 20);
  const completed = new Set<string>();
  await waitFor('all reported complete', () => {
    for (const u of c.batches.flat()) if (u.status.state === TaskState.COMPLETE) completed.add(u.taskId);
    return completed.size === tasks.length;
  }, 10_000, 100);
  await agent.stop();
  assert.ok(ex.peak.prepare <= 16, `${ex.peak.prepare} prepares at once`);
  assert.equal(ex.peak.prepare, 16, 'the slots were used');
  assert.equal(agent.stats().starts.peakInFlight, 16);
  for (const t of tasks.slice(0, 50)) assertMonotonic(c.states(t.id));
});

test('tasks shut down or unassigned while they wait for their turn: SHUTDOWN at once, no executor call', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 10, maxConcurrentStarts: 4 });
  await agent.start();
  const tasks = Array.from({ length: 400 }, () => makeTask());
  for (const t of tasks) ex.script(t.id, { prepareMs: 400 });
  await agent.assign(tasks);
  await waitFor('4 prepares under way', () => ex.open.prepare === 4, 2000, 1);
  const t0 = Date.now();
  // Half told to shut down, the other half taken away.
  const stay = tasks.slice(0, 200).map((t) => ({ ...t, desiredState: TaskState.SHUTDOWN }));
  await agent.assign(stay);
  await waitFor('all ended', () => tasks.every((t) => (c.last(t.id)?.state ?? 0) >= TaskState.SHUTDOWN), 2000, 5);
  const took = Date.now() - t0;
  assert.ok(took < 300, `the waiting tasks took ${took} ms to shut down (a prepare takes 400)`);
  assert.equal(ex.calls.filter((x) => x.startsWith('prepare:')).length, 4, 'only the 4 taken up were prepared');
  const waited = tasks.filter((t) => !ex.calls.includes(`prepare:${t.id}`));
  assert.equal(waited.length, 396);
  for (const t of waited) assert.deepEqual(c.states(t.id), [TaskState.SHUTDOWN]);
  for (const t of waited) assert.equal(c.last(t.id)?.message, 'shut down before it started');
  await agent.stop();
  assert.equal(ex.ids().length, 0);
});

test('retiring 200 running tasks stops at most maxConcurrentStops containers at once', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 10, maxConcurrentStops: 8 });
  await agent.start();
  const tasks = Array.from({ length: 200 }, () => makeTask());
  for (const t of tasks) ex.script(t.id, { shutdownMs: 10 });
  await agent.assign(tasks);
  await waitFor('all running', () => tasks.every((t) => c.last(t.id)?.state === TaskState.RUNNING), 10_000, 10);
  await agent.assign([]);
  await waitFor('all removed', () => ex.ids().length === 0, 10_000, 10);
  await agent.stop();
  assert.ok(ex.peak.shutdown <= 8, `${ex.peak.shutdown} stops at once`);
  assert.equal(ex.peak.shutdown, 8);
  for (const t of tasks) assert.equal(c.last(t.id)?.state, TaskState.SHUTDOWN);
});

test('a task prepared while its desired state is READY frees its slot while it waits, and starts ahead of the queue', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 10, maxConcurrentStarts: 1 });
  await agent.start();
  const ready = makeTask({ desiredState: TaskState.READY });
  const others = Array.from({ length: 5 }, () => makeTask());
  for (const t of others) ex.script(t.id, { prepareMs: 50 });
  await agent.assign([ready, ...others]);
  await c.reached(ready.id, TaskState.READY, 2000);
  // Its slot went to the next task meanwhile.
  await c.reached(others[0].id, TaskState.PREPARING, 2000);
  await agent.assign([{ ...ready, desiredState: TaskState.RUNNING }, ...others]);
  await c.reached(ready.id, TaskState.RUNNING, 2000);
  // It started before the tasks still waiting for their first turn.
  const preparedBefore = ex.calls.slice(0, ex.calls.findIndex((x) => x.startsWith('start:hollow1'))).filter((x) => x.startsWith('prepare:')).length;
  assert.ok(preparedBefore <= 3, `${preparedBefore} tasks were prepared before it started`);
  await agent.stop();
});

test('the status batcher keeps only the latest update of a task under a backlog, and every update without one', async () => {
  const delivered: StatusUpdate[][] = [];
  let gate: (() => void) | undefined;
  const batcher = new StatusBatcher({
    batchMs: 5,
    maxBatch: 10,
    backlog: 20,
    report: async (u) => {
      delivered.push(u.map((x) => ({ taskId: x.taskId, status: { ...x.status } })));
      if (delivered.length === 1) await new Promise<void>((r) => (gate = r));
    },
  });
  const status = (state: TaskState) => ({ state, message: '', err: '', timestamp: 0, containerId: '', exitCode: 0, health: 'none' as const });
  // A first batch goes out and hangs; 100 tasks then move through three states.
  for (let i = 0; i < 10; i++) batcher.push({ taskId: `first${i}`, status: status(TaskState.ACCEPTED) });
  await waitFor('first batch in flight', () => gate !== undefined, 1000, 1);
  for (const state of [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.REJECTED]) {
    for (let i = 0; i < 100; i++) batcher.push({ taskId: `t${i}`, status: status(state) });
  }
  // The ACCEPTEDs queue (no older update of theirs waits); past the backlog of 20,
  // each later update replaces its task's waiting one in place.
  assert.equal(batcher.pending, 10 + 100);
  assert.equal(batcher.superseded, 200);
  gate?.();
  await batcher.flush();
  await batcher.close();
  const all = delivered.flat();
  assert.equal(all.length, 110);
  for (let i = 0; i < 100; i++) {
    const mine = all.filter((u) => u.taskId === `t${i}`);
    assert.deepEqual(mine.map((u) => u.status.state), [TaskState.REJECTED], `t${i}`);
  }

  // No backlog: every state goes out, in order.
  const seen: StatusUpdate[] = [];
  const calm = new StatusBatcher({ batchMs: 5, maxBatch: 10, report: async (u) => void seen.push(...u) });
  for (const state of [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.REJECTED]) calm.push({ taskId: 'x', status: status(state) });
  await calm.close();
  assert.deepEqual(seen.map((u) => u.status.state), [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.REJECTED]);
});
