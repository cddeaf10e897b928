// The agent's bookkeeping with a HOLLOW executor (no engine): batched reports,
// states never going backwards, the store's status as a floor, retiring tasks,
// shutdown before start, rejections. Real containers: agent-docker.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../src/api/objects.js';
import { Agent } from '../../src/worker/agent.js';
import { ImageNotFoundError } from '../../src/worker/exec/executor.js';
import { StatusBatcher, type StatusUpdate } from '../../src/worker/status-batcher.js';
import { Collector, assertMonotonic, makeTask, waitFor } from './engine.js';
import { HollowExecutor } from './hollow-executor.js';

const owner = { clusterId: 'hollow-cluster', nodeId: 'node-1' };

function newAgent(executor: HollowExecutor, collector: Collector, batchMs = 20): Agent {
  return new Agent({ executor, ...owner, reporter: collector.reporter, batchMs, healthPollMs: 10 });
}

test('a task goes ACCEPTED -> PREPARING -> STARTING -> RUNNING -> COMPLETE, each reported once, with time stamps', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 20, clock: () => 1234 });
  await agent.start();
  const t = makeTask();
  ex.script(t.id, { exitAfterMs: 30, exitCode: 0 });
  await agent.assign([t]);
  await c.reached(t.id, TaskState.COMPLETE, 2000);
  await agent.stop();
  assert.deepEqual(c.states(t.id), [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.STARTING, TaskState.RUNNING, TaskState.COMPLETE]);
  assert.ok(c.updates(t.id).every((s) => s.timestamp === 1234));
  assert.equal(c.last(t.id)?.containerId, ex.ids()[0]);
});

test('reports are batched by time and by count', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = new Agent({ executor: ex, ...owner, reporter: c.reporter, batchMs: 200, maxBatch: 16 });
  await agent.start();
  const tasks = Array.from({ length: 20 }, () => makeTask());
  for (const t of tasks) ex.script(t.id, { exitAfterMs: 5 });
  await agent.assign(tasks);
  await waitFor('all tasks complete', () => tasks.every((t) => c.states(t.id).includes(TaskState.COMPLETE)), 3000);
  await agent.stop();
  const total = c.batches.reduce((n, b) => n + b.length, 0);
  assert.equal(total, 20 * 5);
  assert.ok(c.batches.every((b) => b.length <= 16), `batch sizes ${c.batches.map((b) => b.length).join(',')}`);
  assert.ok(c.batches.length <= 12, `${total} updates took ${c.batches.length} reports`);
  for (const t of tasks) assertMonotonic(c.states(t.id));
});

test('never reports a state behind one already reported (health flapping back to "starting")', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = newAgent(ex, c);
  await agent.start();
  const t = makeTask();
  ex.script(t.id, { health: ['starting', 'healthy', 'starting', 'healthy', 'unhealthy'] });
  await agent.assign([t]);
  const end = await c.reached(t.id, TaskState.FAILED, 2000);
  await agent.stop();
  assertMonotonic(c.states(t.id));
  // STARTING twice: "starting the container", then "waiting for the health check".
  assert.deepEqual(c.states(t.id), [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.STARTING, TaskState.STARTING, TaskState.RUNNING, TaskState.FAILED]);
  assert.deepEqual(
    c.updates(t.id).map((u) => u.health),
    ['none', 'none', 'none', 'starting', 'healthy', 'unhealthy'],
  );
  assert.equal(end.health, 'unhealthy');
  assert.match(end.message, /^unhealthy: the health check failed 3 times in a row; last check output: "probe failed"/);
});

test("the store's observed state is a floor; a terminal task is not run again", async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = newAgent(ex, c);
  await agent.start();
  const done = makeTask({ status: { state: TaskState.COMPLETE, message: 'finished' } });
  const lost = makeTask({ status: { state: TaskState.RUNNING, containerId: 'c0ffee' } });
  await agent.assign([done, lost]);
  await c.reached(lost.id, TaskState.FAILED, 2000);
  await agent.flush();
  await agent.stop();
  assert.deepEqual(c.states(done.id), []);
  assert.ok(!ex.calls.some((x) => x.includes(done.id)), 'a finished task is not prepared again');
  // A task the store believes started, with no container here: FAILED, not a silent re-run.
  assert.deepEqual(c.states(lost.id), [TaskState.FAILED]);
  assert.match(c.last(lost.id)?.message ?? '', /container c0ffee is gone from this node/);
});

test('desired SHUTDOWN before the start: SHUTDOWN without creating a container; during a pull: the pull is abandoned', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = newAgent(ex, c);
  await agent.start();
  const early = makeTask({ desiredState: TaskState.SHUTDOWN });
  const pulling = makeTask();
  ex.script(pulling.id, { prepareMs: 5000 });
  await agent.assign([early, pulling]);
  await c.reached(pulling.id, TaskState.PREPARING, 2000);
  await agent.assign([early, { ...pulling, desiredState: TaskState.SHUTDOWN }]);
  await c.reached(pulling.id, TaskState.SHUTDOWN, 2000);
  await c.reached(early.id, TaskState.SHUTDOWN, 2000);
  await agent.stop();
  // Shut down before its turn came: never accepted, no engine call, straight to SHUTDOWN.
  assert.deepEqual(c.states(early.id), [TaskState.SHUTDOWN]);
  assert.deepEqual(c.states(pulling.id), [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.SHUTDOWN]);
  assert.equal(ex.ids().length, 0);
});

test('a prepare error rejects the task with its message', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = newAgent(ex, c);
  await agent.start();
  const t = makeTask({ image: 'nope:1' });
  ex.script(t.id, { prepareError: new ImageNotFoundError('nope:1', 'no registry') });
  await agent.assign([t]);
  const s = await c.reached(t.id, TaskState.REJECTED, 2000);
  await agent.stop();
  assert.equal(s.state, TaskState.REJECTED);
  assert.equal(s.err, 'image not found: nope:1 is not present on this node and could not be pulled (no registry)');
});

test('a task that leaves the assignment is stopped and its container removed; desired REMOVE too', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = newAgent(ex, c);
  await agent.start();
  const a = makeTask();
  const b = makeTask();
  await agent.assign([a, b]);
  await c.reached(a.id, TaskState.RUNNING, 2000);
  await c.reached(b.id, TaskState.RUNNING, 2000);
  const [ida, idb] = [c.last(a.id)?.containerId, c.last(b.id)?.containerId];
  await agent.assign([{ ...b, desiredState: TaskState.REMOVE }]);
  await waitFor('both containers removed', () => ex.ids().length === 0, 2000);
  await agent.stop();
  assert.equal(c.last(a.id)?.state, TaskState.SHUTDOWN);
  assert.equal(c.last(b.id)?.state, TaskState.SHUTDOWN);
  assert.ok(ex.calls.includes(`remove:${ida}`) && ex.calls.includes(`remove:${idb}`));
});

test('after a restart: adopts by label, reports an adopted container that ended, removes the unassigned', async () => {
  const ex = new HollowExecutor();
  const running = makeTask({ status: { state: TaskState.RUNNING } });
  const ended = makeTask({ status: { state: TaskState.RUNNING } });
  const gone = makeTask();
  const runningId = ex.plant(running, owner, { status: 'running', running: true });
  ex.plant(ended, owner, { status: 'exited', running: false, exitCode: 2 });
  const goneId = ex.plant(gone, owner, { status: 'running', running: true });
  const foreign = ex.plant(makeTask(), { clusterId: 'other', nodeId: 'node-1' }, { status: 'running', running: true });
  const c = new Collector();
  const agent = newAgent(ex, c);
  await agent.start();
  await agent.assign([running, ended]);
  await c.reached(ended.id, TaskState.FAILED, 2000);
  await waitFor('the unassigned container removed', () => !ex.ids().includes(goneId), 2000);
  await agent.flush();
  await agent.stop();
  assert.ok(!ex.calls.some((x) => x.startsWith('prepare:')), 'nothing new was created');
  // One RUNNING (same state as the store's) naming the adopted container; no earlier state.
  assert.deepEqual(c.states(running.id), [TaskState.RUNNING]);
  assert.equal(c.last(running.id)?.containerId, runningId);
  assert.equal(c.last(ended.id)?.exitCode, 2);
  assert.ok(ex.ids().includes(runningId) && ex.ids().includes(foreign));
});

test('a failing reporter is retried in order; nothing is lost', async () => {
  const seen: StatusUpdate[][] = [];
  let failures = 3;
  const batcher = new StatusBatcher({
    batchMs: 5,
    maxBatch: 4,
    retryMs: 5,
    report: async (u) => {
      if (failures-- > 0) throw new Error('dispatcher unavailable');
      seen.push(u);
    },
  });
  const status = { state: TaskState.RUNNING, message: '', err: '', timestamp: 0, containerId: '', exitCode: 0, health: 'none' as const };
  for (let i = 0; i < 10; i++) batcher.push({ taskId: `t${i}`, status });
  await waitFor('all delivered', () => seen.flat().length === 10, 2000);
  await batcher.close();
  assert.deepEqual(seen.flat().map((u) => u.taskId), Array.from({ length: 10 }, (_, i) => `t${i}`));
  assert.ok(seen.every((b) => b.length <= 4));
});

test('describe and assign before start', async () => {
  const agent = newAgent(new HollowExecutor(), new Collector());
  await assert.rejects(agent.assign([]), /agent not started/);
  assert.equal((await agent.describe()).hostname, 'hollow');
});

test('changes to the assignment set: new tasks run, changed ones follow their desired state, removed ones go, the rest is left alone', async () => {
  const ex = new HollowExecutor();
  const c = new Collector();
  const agent = newAgent(ex, c);
  await agent.start();
  const [a, b, d, e] = [makeTask(), makeTask(), makeTask(), makeTask()];
  await agent.assign([a, b]);
  await c.reached(a.id, TaskState.RUNNING, 2000);
  await c.reached(b.id, TaskState.RUNNING, 2000);
  // A change names only what changed: a and b are not in it and keep running.
  await agent.assignChanges([d], []);
  await c.reached(d.id, TaskState.RUNNING, 2000);
  const idb = c.last(b.id)?.containerId;
  await agent.assignChanges([{ ...d, desiredState: TaskState.SHUTDOWN }, { ...e, desiredState: TaskState.REMOVE }], [b.id]);
  await c.reached(d.id, TaskState.SHUTDOWN, 2000);
  await waitFor('b removed', () => ex.calls.includes(`remove:${idb}`), 2000);
  await agent.flush();
  assert.equal(c.last(a.id)?.state, TaskState.RUNNING);
  assert.equal(c.last(b.id)?.state, TaskState.SHUTDOWN);
  // A task first seen with desired REMOVE is not started.
  assert.deepEqual(c.states(e.id), []);
  assert.equal(ex.ids().length, 2, 'a running, d stopped but kept (for its logs)');
  await agent.stop();
});
