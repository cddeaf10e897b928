// A restarted agent adopts the containers it owns (by label) instead of
// starting duplicates, keeps watching them, reports the ones that ended while it
// was away, starts the one it had created but not started, and removes the ones
// no longer assigned. Real DockerExecutor, real engine.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type Task } from '../../src/api/objects.js';
import { Agent } from '../../src/worker/agent.js';
import { DockerExecutor } from '../../src/worker/exec/docker/docker-executor.js';
import { Collector, removeClusterContainers, requireEngine, shell, uniqueClusterId, waitFor } from './engine.js';

const engine = await requireEngine('agent-adoption.test');
const skip = engine.skip;
const clusterId = uniqueClusterId('adopt');
const owner = { clusterId, nodeId: 'node-a' };
const executor = new DockerExecutor({ docker: engine.docker });

after(async () => {
  if (!skip) await removeClusterContainers(engine.docker, clusterId);
});

function newAgent(c: Collector): Agent {
  return new Agent({ executor, ...owner, reporter: c.reporter, batchMs: 20, healthPollMs: 100 });
}

/** The task as the store would hand it back: with the status the first agent reported. */
function asStored(t: Task, c: Collector): Task {
  const s = c.last(t.id);
  assert.ok(s, `no status for ${t.id}`);
  return { ...t, status: s };
}

test('a restarted agent adopts its running containers with no duplicate and removes the unassigned', { skip }, async () => {
  const opts = { nodeId: owner.nodeId, stopGracePeriodMs: 300 };
  const keep = shell('sleep 30', opts);
  const stopLater = shell("trap 'exit 0' TERM; while true; do sleep 0.1; done", opts);
  const dropped = shell('sleep 30', opts);
  const endsWhileAway = shell('sleep 1; exit 5', opts);
  const notStarted = shell('sleep 30', opts);

  // --- the first agent runs four tasks, then stops (containers keep running).
  const c1 = new Collector();
  const first = newAgent(c1);
  await first.start();
  await first.assign([keep, stopLater, dropped, endsWhileAway]);
  for (const t of [keep, stopLater, dropped, endsWhileAway]) await c1.reached(t.id, TaskState.RUNNING);
  await first.stop();
  // A container the agent created but did not start before it died.
  const notStartedId = await executor.prepare(notStarted, owner);
  const before = new Map((await executor.list(owner)).map((c) => [c.taskId, c.id]));
  assert.equal(before.size, 5);
  for (const t of [keep, stopLater, dropped]) assert.equal((await executor.inspect(before.get(t.id) ?? ''))?.running, true, 'stop() leaves containers running');
  await waitFor('the short task to end while no agent watches', async () => (await executor.inspect(before.get(endsWhileAway.id) ?? ''))?.running === false);

  // --- the second agent: same node, same cluster.
  const c2 = new Collector();
  const second = newAgent(c2);
  await second.start();
  try {
    const stored = [asStored(keep, c1), asStored(stopLater, c1), asStored(endsWhileAway, c1), { ...notStarted, status: { ...notStarted.status, state: TaskState.PREPARING } }];
    await second.assign(stored);

    await c2.reached(endsWhileAway.id, TaskState.COMPLETE);
    assert.equal(c2.last(endsWhileAway.id)?.state, TaskState.FAILED);
    assert.equal(c2.last(endsWhileAway.id)?.exitCode, 5);
    const started = await c2.reached(notStarted.id, TaskState.RUNNING);
    assert.equal(started.containerId, notStartedId);
    assert.deepEqual(c2.states(notStarted.id), [TaskState.STARTING, TaskState.RUNNING]);
    await waitFor('the unassigned container removed', async () => (await executor.inspect(before.get(dropped.id) ?? '')) === undefined);

    // No duplicates: the same containers, minus the dropped one.
    const now = await executor.list(owner);
    assert.deepEqual(now.map((c) => c.id).sort(), [...before.entries()].filter(([task]) => task !== dropped.id).map(([, id]) => id).sort());
    // Adopted running tasks: the store already says RUNNING in that container, so no news.
    await second.flush();
    for (const t of [keep, stopLater]) assert.deepEqual(c2.states(t.id), []);

    // And they are watched: killed from outside -> FAILED; desired SHUTDOWN -> SHUTDOWN.
    await engine.docker.getContainer(before.get(keep.id) ?? '').kill();
    await second.assign([...stored.filter((t) => t.id !== stopLater.id), { ...asStored(stopLater, c1), desiredState: TaskState.SHUTDOWN }]);
    const killed = await c2.reached(keep.id, TaskState.COMPLETE);
    assert.equal(killed.state, TaskState.FAILED);
    assert.equal(killed.exitCode, 137);
    const stopped = await c2.reached(stopLater.id, TaskState.SHUTDOWN);
    assert.equal(stopped.state, TaskState.SHUTDOWN);
    assert.equal(stopped.exitCode, 0);
  } finally {
    await second.stop();
  }
});
