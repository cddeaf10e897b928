// The agent with the real DockerExecutor against the real engine: the "done
// when" list of the worker issue. Tests run concurrently; each has its own
// node id (so its own containers), and the file its own cluster id.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState, type Task } from '../../src/api/objects.js';
import { Agent } from '../../src/worker/agent.js';
import { DockerExecutor } from '../../src/worker/exec/docker/docker-executor.js';
import type { Owner } from '../../src/worker/exec/executor.js';
import { Collector, TEST_IMAGE, assertMonotonic, removeClusterContainers, requireEngine, shell, uniqueClusterId, waitFor } from './engine.js';

const engine = await requireEngine('agent-docker.test');
const skip = engine.skip;
const clusterId = uniqueClusterId('agent');
const executor = new DockerExecutor({ docker: engine.docker });
const hcImage = `flotilla/busybox:hc-${clusterId}`;

after(async () => {
  if (skip) return;
  await removeClusterContainers(engine.docker, clusterId);
  await engine.docker.getImage(hcImage).remove().catch(() => undefined);
});

let nodes = 0;

/** An agent of its own (own node id) for one test; its containers are removed afterwards. */
async function withAgent(fn: (agent: Agent, c: Collector, owner: Owner) => Promise<void>): Promise<void> {
  const owner = { clusterId, nodeId: `node-${++nodes}` };
  const c = new Collector();
  const agent = new Agent({ executor, ...owner, reporter: c.reporter, batchMs: 20, healthPollMs: 100 });
  await agent.start();
  try {
    await fn(agent, c, owner);
  } finally {
    await agent.stop();
    for (const ct of await executor.list(owner)) await executor.remove(ct.id);
  }
}

function on(owner: Owner, task: Task): Task {
  return { ...task, nodeId: owner.nodeId };
}

async function inspect(containerId: string) {
  return engine.docker.getContainer(containerId).inspect();
}

describe('agent with the Docker executor', { concurrency: true }, () => {
  it('runs a task to COMPLETE with its exit code; an unassigned task has its container removed', { skip }, () =>
    withAgent(async (agent, c, owner) => {
      const t = on(owner, shell('echo hello; sleep 0.2'));
      await agent.assign([t]);
      const end = await c.reached(t.id, TaskState.COMPLETE);
      assert.deepEqual(c.states(t.id), [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.STARTING, TaskState.RUNNING, TaskState.COMPLETE]);
      assert.equal(end.state, TaskState.COMPLETE);
      assert.equal(end.exitCode, 0);
      assert.equal(end.message, 'finished (exit code 0)');
      assert.match(end.containerId, /^[0-9a-f]{64}$/);
      assert.ok(c.updates(t.id).slice(2).every((s) => s.containerId === end.containerId));
      // Kept while assigned (its logs can be read), removed once it is not.
      const lines: string[] = [];
      for await (const e of executor.logs(end.containerId)) lines.push(e.line);
      assert.deepEqual(lines, ['hello']);
      await agent.assign([]);
      await waitFor('the container removed', async () => (await executor.inspect(end.containerId)) === undefined);
    }));

  it('a failing command ends FAILED with its exit code', { skip }, () =>
    withAgent(async (agent, c, owner) => {
      const t = on(owner, shell('echo boom >&2; exit 3'));
      await agent.assign([t]);
      const end = await c.reached(t.id, TaskState.COMPLETE);
      assert.equal(end.state, TaskState.FAILED);
      assert.equal(end.exitCode, 3);
      assert.equal(end.message, 'exited with non-zero code 3');
      assert.equal(end.err, 'exited with non-zero code 3');
      assertMonotonic(c.states(t.id));
    }));

  it('a container killed from outside is reported FAILED with exit code 137', { skip }, () =>
    withAgent(async (agent, c, owner) => {
      const t = on(owner, shell('sleep 30', { memoryBytes: 64 * 1024 * 1024 }));
      await agent.assign([t]);
      const running = await c.reached(t.id, TaskState.RUNNING);
      await engine.docker.getContainer(running.containerId).kill();
      const end = await c.reached(t.id, TaskState.COMPLETE);
      assert.equal(end.state, TaskState.FAILED);
      assert.equal(end.exitCode, 137);
      assert.match(end.message, /^exited with code 137 \(killed by SIGKILL\) without flotilla asking it to stop/);
    }));

  it("a task's healthcheck: RUNNING only once healthy; turning unhealthy stops the container and fails the task", { skip }, () =>
    withAgent(async (agent, c, owner) => {
      // Failures in the start period do not count; the first pass ends it. Healthy for 4 s: a loaded machine's
      // engine may take over a second per check (seen in CI with 1.5 s: the task went from STARTING to FAILED).
      const t = on(
        owner,
        shell('sleep 0.7; touch /tmp/ok; sleep 4; rm /tmp/ok; sleep 30', {
          healthcheck: { test: ['CMD-SHELL', 'test -f /tmp/ok || { echo no-file; exit 1; }'], intervalMs: 300, timeoutMs: 1000, retries: 2, startPeriodMs: 5000 },
          stopGracePeriodMs: 300,
        }),
      );
      await agent.assign([t]);
      const end = await c.reached(t.id, TaskState.COMPLETE, 15_000);
      const updates = c.updates(t.id);
      assertMonotonic(updates.map((u) => u.state));
      const waiting = updates.find((u) => u.state === TaskState.STARTING && u.health === 'starting');
      const running = updates.find((u) => u.state === TaskState.RUNNING);
      assert.ok(waiting, 'STARTING while the check has not passed yet');
      assert.equal(running?.health, 'healthy', 'RUNNING only once healthy');
      assert.ok(running.timestamp - waiting.timestamp >= 400, `RUNNING ${running.timestamp - waiting.timestamp} ms after STARTING`);
      assert.equal(end.state, TaskState.FAILED);
      assert.equal(end.health, 'unhealthy');
      assert.match(end.message, /^unhealthy: the health check failed 2 times in a row; last check output: "no-file"; the container was stopped/);
      assert.equal((await inspect(end.containerId)).State.Running, false);
    }));

  it("the image's HEALTHCHECK is used when the task has none", { skip }, async () => {
    const base = await engine.docker.createContainer({ Image: TEST_IMAGE, Cmd: ['true'], Labels: { 'com.flotilla.cluster.id': clusterId } });
    await base.commit({ repo: 'flotilla/busybox', tag: `hc-${clusterId}`, changes: 'HEALTHCHECK --interval=300ms --timeout=1s --start-period=5s --retries=1 CMD test -f /tmp/ok' });
    await base.remove();
    await withAgent(async (agent, c, owner) => {
      const t = on(owner, shell('sleep 0.5; touch /tmp/ok; sleep 1; rm /tmp/ok; sleep 30', { image: hcImage, stopGracePeriodMs: 300 }));
      await agent.assign([t]);
      const end = await c.reached(t.id, TaskState.COMPLETE, 15_000);
      assert.ok(c.updates(t.id).some((u) => u.state === TaskState.RUNNING && u.health === 'healthy'));
      assert.equal(end.state, TaskState.FAILED);
      assert.match(end.message, /^unhealthy/);
    });
  });

  it('desired SHUTDOWN stops the container honouring the grace period (TERM ignored -> KILL after 1500 ms)', { skip }, () =>
    withAgent(async (agent, c, owner) => {
      const t = on(owner, shell("trap '' TERM; while true; do sleep 0.1; done", { stopGracePeriodMs: 1500 }));
      await agent.assign([t]);
      await c.reached(t.id, TaskState.RUNNING);
      await new Promise((r) => setTimeout(r, 200)); // the trap is installed
      const t0 = Date.now();
      await agent.assign([{ ...t, desiredState: TaskState.SHUTDOWN }]);
      const end = await c.reached(t.id, TaskState.SHUTDOWN);
      const took = Date.now() - t0;
      assert.ok(took >= 1500, `stopped after ${took} ms`);
      assert.equal(end.state, TaskState.SHUTDOWN);
      assert.equal(end.exitCode, 137);
      assert.equal(end.message, 'shut down: did not stop within its 1500 ms grace period, killed with SIGKILL (exit code 137)');
      const info = await inspect(end.containerId);
      assert.equal(info.State.Running, false);
    }));

  it('memory and CPU limits are set on the container', { skip }, () =>
    withAgent(async (agent, c, owner) => {
      const t = on(owner, shell('sleep 30', { memoryBytes: 64 * 1024 * 1024, nanoCpus: 0.5e9 }));
      await agent.assign([t]);
      const running = await c.reached(t.id, TaskState.RUNNING);
      const info = await inspect(running.containerId);
      assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
      assert.equal(info.HostConfig.NanoCpus, 0.5e9);
      assert.equal(info.Config.Labels['com.flotilla.task.id'], t.id);
      assert.equal(info.Name, `/web.${t.slot}.${t.id}`);
    }));

  it('a task that runs out of memory is FAILED with "out of memory"', { skip }, () =>
    withAgent(async (agent, c, owner) => {
      const t = on(owner, shell('a=xxxxxxxxxxxxxxxx; while true; do a=$a$a; done', { memoryBytes: 8 * 1024 * 1024 }));
      await agent.assign([t]);
      const end = await c.reached(t.id, TaskState.COMPLETE);
      assert.equal(end.state, TaskState.FAILED);
      assert.equal(end.exitCode, 137);
      assert.match(end.message, /^out of memory.*memory limit of 8 MiB/);
    }));

  it('an unknown image is a clear REJECTED', { skip }, () =>
    withAgent(async (agent, c, owner) => {
      const t = on(owner, shell('true', { image: 'flotilla/does-not-exist:1.0' }));
      await agent.assign([t]);
      const end = await c.reached(t.id, TaskState.COMPLETE);
      assert.deepEqual(c.states(t.id), [TaskState.ACCEPTED, TaskState.PREPARING, TaskState.REJECTED]);
      assert.match(end.err, /^image not found: flotilla\/does-not-exist:1.0 is not present on this node and could not be pulled/);
      assert.equal(end.containerId, '');
      assert.deepEqual(await executor.list(owner), []);
    }));

  it('a command that cannot be executed is FAILED with the engine\'s reason', { skip }, () =>
    withAgent(async (agent, c, owner) => {
      const t = on(owner, { ...shell('true'), spec: { ...shell('true').spec, container: { ...shell('true').spec.container, command: ['/no/such/binary'] } } });
      await agent.assign([t]);
      const end = await c.reached(t.id, TaskState.COMPLETE);
      assert.equal(end.state, TaskState.FAILED);
      assert.match(end.message, /no such file or directory/i);
    }));

  it('describe reports the node', { skip }, () =>
    withAgent(async (agent) => {
      const d = await agent.describe();
      assert.ok(d.hostname && d.cpus >= 1 && d.memoryBytes > 0 && d.engineVersion !== 'unknown');
    }));
});
