// Orchestration end to end: 3 managers and 3 workers as real daemons on
// loopback (127.0.0.90-95:7490), running tasks as real containers on the
// Docker engine, driven through the CLI. The managers are drained, so tasks
// land on the workers, as an operator of a small cluster would set it up.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DaemonCluster } from '../../src/testing/daemon-cluster.js';
import { TaskState, type Node, type Task } from '../../src/api/objects.js';
import { connectEngine } from '../../src/worker/exec/docker/engine.js';
import { LABEL_CLUSTER_ID, LABEL_SERVICE_NAME, LABEL_TASK_ID } from '../../src/worker/exec/docker/labels.js';
import { requireEngine, TEST_IMAGE } from '../worker/engine.js';

const engine = await requireEngine('test/cluster/orchestration.test.ts');
const skip = engine.skip !== false;
const base = mkdtempSync(join(tmpdir(), 'flotilla-orch-'));
const c = new DaemonCluster({ baseDir: base, firstHost: 90, port: 7490, nodeStatusMs: 500 });
const docker = connectEngine();
let clusterId = '';
const W = [3, 4, 5];

before(async () => {
  if (skip) return;
  await c.init(0);
  await c.join(1, 'manager');
  await c.join(2, 'manager');
  for (const i of W) await c.join(i, 'worker');
  let seen: Node[] = [];
  await c.waitFor(
    async () => {
      seen = await nodes(0).catch(() => seen);
      return seen.filter((n) => n.status.state === 'ready' && n.description.engineVersion).length === 6;
    },
    30_000,
    'six ready nodes with their engine',
  ).catch((err: unknown) => {
    throw new Error(`${String(err)}; last seen: ${JSON.stringify(seen.map((n) => [n.role, n.status.state, n.status.message, n.description.engineVersion]))}`);
  });
  for (const n of (await nodes(0)).filter((x) => x.role === 'manager')) await c.cliOk(0, ['node', 'update', '--availability', 'drain', n.id]);
  clusterId = (JSON.parse((await c.cliOk(0, ['cluster', 'info', '--format', 'json'])).stdout) as { cluster: { id: string } }).cluster.id;
});

after(async () => {
  await c.stop();
  if (clusterId) {
    for (const info of await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })) {
      await docker.getContainer(info.Id).remove({ force: true }).catch(() => undefined);
    }
  }
  if (process.env.KEEP_CLUSTER_DIRS !== '1') rmSync(base, { recursive: true, force: true });
});

/** The stored nodes, through manager `via`. */
async function nodes(via: number): Promise<Node[]> {
  return c.storedNodes(via);
}

/** The stored tasks of `service`, through manager `via`. */
async function tasks(via: number, service: string): Promise<Task[]> {
  return c.storedTasks(via, service);
}

function running(ts: readonly Task[]): Task[] {
  return ts.filter((t) => t.desiredState === TaskState.RUNNING && t.status.state === TaskState.RUNNING);
}

/** Live tasks per slot: a slot never has two for long. */
function slotsRunningTwice(ts: readonly Task[]): number[] {
  const count = new Map<number, number>();
  for (const t of running(ts)) count.set(t.slot, (count.get(t.slot) ?? 0) + 1);
  return [...count].filter(([, n]) => n > 1).map(([s]) => s);
}

async function waitRunning(via: number, service: string, n: number, timeoutMs = 60_000): Promise<Task[]> {
  let last: Task[] = [];
  await c.waitFor(
    async () => {
      last = await tasks(via, service).catch(() => []);
      const r = running(last);
      return r.length === n && new Set(r.map((t) => t.slot)).size === n && slotsRunningTwice(last).length === 0;
    },
    timeoutMs,
    `${n} running tasks of ${service} (last: ${running(last).length})`,
  );
  return running(last);
}

async function containersOf(service: string): Promise<string[]> {
  const list = await docker.listContainers({ filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`, `${LABEL_SERVICE_NAME}=${service}`], status: ['running'] } });
  return list.map((x) => x.Labels[LABEL_TASK_ID]);
}

const idx = (addr: string): number => c.nodes.findIndex((d) => d.address === addr);

test('a 6-replica service converges to 6 running containers spread over the workers; scale to 9 and to 2', { skip }, async () => {
  const create = await c.cliOk(1, ['service', 'create', '--name', 'web', '--replicas', '6', '--stop-grace-period', '1s', TEST_IMAGE, 'sleep', '3600']);
  assert.match(create.stdout, /overall progress: 6 out of 6 tasks/);
  assert.match(create.stdout, /verify: Service converged/);
  const r = await waitRunning(0, 'web', 6);
  const ns = await nodes(0);
  const workerIds = ns.filter((n) => n.role === 'worker').map((n) => n.id);
  const perNode = workerIds.map((id) => r.filter((t) => t.nodeId === id).length);
  assert.deepEqual(perNode, [2, 2, 2], 'spread evenly over the three workers');
  await c.waitFor(async () => (await containersOf('web')).length === 6, 20_000, 'six containers');
  assert.deepEqual((await containersOf('web')).sort(), r.map((t) => t.id).sort(), 'one container per running task');

  await c.cliOk(2, ['service', 'scale', 'web=9']);
  const nine = await waitRunning(0, 'web', 9);
  assert.deepEqual(workerIds.map((id) => nine.filter((t) => t.nodeId === id).length), [3, 3, 3]);
  await c.cliOk(0, ['service', 'scale', 'web=2']);
  const two = await waitRunning(0, 'web', 2);
  assert.deepEqual(two.map((t) => t.slot).sort(), [1, 2], 'scale-down removes the highest slots');
  await c.waitFor(async () => (await containersOf('web')).length === 2, 30_000, 'only two containers left');
});

test('docker kill of a task container: a replacement runs in the same slot', { skip }, async () => {
  const before = await waitRunning(0, 'web', 2);
  const victim = before[0];
  const [info] = await docker.listContainers({ filters: { label: [`${LABEL_TASK_ID}=${victim.id}`] } });
  assert.ok(info, 'the task has a container');
  await docker.getContainer(info.Id).kill();
  await c.waitFor(
    async () => running(await tasks(0, 'web')).some((t) => t.slot === victim.slot && t.id !== victim.id),
    30_000,
    'a replacement in the same slot',
  );
  const all = await tasks(0, 'web');
  const old = all.find((t) => t.id === victim.id);
  assert.equal(old?.status.state, TaskState.FAILED);
  assert.equal(old?.desiredState, TaskState.SHUTDOWN);
  assert.equal(old?.status.exitCode, 137);
  await waitRunning(0, 'web', 2);
});

test('kill -9 of a worker daemon: its tasks are replaced on the other workers', { skip }, async () => {
  await c.cliOk(0, ['service', 'scale', 'web=6']);
  const r = await waitRunning(0, 'web', 6);
  const victimNode = r[0].nodeId;
  const vi = idx((await nodes(0)).find((n) => n.id === victimNode)?.status.address ?? '');
  assert.ok(vi >= 3);
  const t0 = Date.now();
  await c.kill(vi);
  await c.waitFor(
    async () => {
      const now = running(await tasks(0, 'web'));
      return now.length === 6 && now.every((t) => t.nodeId !== victimNode);
    },
    30_000,
    'all six replicas running on the other workers',
  );
  const seconds = (Date.now() - t0) / 1000;
  process.stderr.write(`# rescheduling after kill -9 of a worker: ${seconds.toFixed(2)} s\n`);
  assert.equal((await nodes(0)).find((n) => n.id === victimNode)?.status.state, 'down');
  // When the worker comes back its stale tasks are shut down: no slot runs twice.
  await c.restart(vi);
  await c.waitFor(async () => (await nodes(0)).find((n) => n.id === victimNode)?.status.state === 'ready', 20_000, 'the worker back');
  await c.waitFor(async () => (await containersOf('web')).length === 6, 30_000, 'exactly six containers once the stale ones are stopped');
  assert.deepEqual(slotsRunningTwice(await tasks(0, 'web')), []);
});

test('kill -9 of the leader during a scale: a new leader finishes it, no slot running twice', { skip }, async () => {
  const leader = (await nodes(0)).find((n) => n.managerStatus?.leader);
  assert.ok(leader);
  const li = idx(leader.status.address);
  const other = [0, 1, 2].find((i) => i !== li) ?? 0;
  const scale = c.cli(other, ['service', 'scale', '--detach', 'web=10']);
  await new Promise((res) => setTimeout(res, 150));
  await c.kill(li);
  await scale;
  // Whether the scale landed before the kill or not, an operator retries it; then the new leader converges.
  await c.waitFor(async () => (await c.cli(other, ['service', 'scale', '--detach', 'web=10'])).code === 0, 30_000, 'the scale through the new leader');
  const r = await waitRunning(other, 'web', 10, 60_000);
  assert.deepEqual(r.map((t) => t.slot).sort((a, b) => a - b), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  await c.restart(li);
  await c.waitReady(li);
});

test('draining a worker moves its tasks; pause keeps them', { skip }, async () => {
  const r = await waitRunning(0, 'web', 10);
  const target = r[0].nodeId;
  await c.cliOk(0, ['node', 'update', '--availability', 'drain', target]);
  await c.waitFor(async () => {
    const now = running(await tasks(0, 'web'));
    return now.length === 10 && now.every((t) => t.nodeId !== target);
  }, 30_000, 'the drained node to hold no running task');
  await c.cliOk(0, ['node', 'update', '--availability', 'active', target]);
  // Pause: the node takes no new tasks, but keeps the ones it runs.
  const now = running(await tasks(0, 'web'));
  const paused = now[0].nodeId;
  const kept = now.filter((t) => t.nodeId === paused).map((t) => t.id).sort();
  await c.cliOk(0, ['node', 'update', '--availability', 'pause', paused]);
  await c.cliOk(0, ['service', 'scale', 'web=12']);
  const twelve = await waitRunning(0, 'web', 12);
  assert.deepEqual(twelve.filter((t) => t.nodeId === paused).map((t) => t.id).sort(), kept, 'a paused node keeps its tasks and gets no new one');
  await c.cliOk(0, ['node', 'update', '--availability', 'active', paused]);
  await c.cliOk(0, ['service', 'rm', 'web']);
  await c.waitFor(async () => (await containersOf('web')).length === 0, 30_000, 'the removed service\'s containers gone');
});

test('a global service follows nodes joining and leaving; an impossible constraint leaves tasks pending with the reason', { skip }, async () => {
  await c.cliOk(0, ['service', 'create', '--name', 'agent', '--mode', 'global', '--constraint', 'node.role==worker', TEST_IMAGE, 'sleep', '3600']);
  const three = await c.waitFor(async () => running(await tasks(0, 'agent')).length === 3, 30_000, 'one task per worker').then(() => tasks(0, 'agent'));
  assert.equal(new Set(running(three).map((t) => t.nodeId)).size, 3);
  // A new worker joins: it gets one.
  await c.join(6, 'worker');
  await c.waitFor(async () => running(await tasks(0, 'agent')).length === 4, 30_000, 'a task on the new worker');
  // It leaves (drained, then removed): its task goes.
  const joined = (await nodes(0)).find((n) => n.status.address === c.node(6).address);
  assert.ok(joined);
  await c.cliOk(0, ['node', 'update', '--availability', 'drain', joined.id]);
  await c.waitFor(async () => running(await tasks(0, 'agent')).length === 3, 30_000, 'the drained worker\'s task shut down');
  await c.kill(6);
  await c.cliOk(0, ['node', 'rm', '--force', joined.id]);

  const impossible = await c.cli(0, ['service', 'create', '--detach', '--name', 'nowhere', '--constraint', 'node.labels.zone==mars', TEST_IMAGE, 'sleep', '3600']);
  assert.equal(impossible.code, 0, impossible.stderr);
  await c.waitFor(async () => (await tasks(0, 'nowhere')).some((t) => t.status.state === TaskState.PENDING && /no suitable node/.test(t.status.err)), 20_000, 'a pending task with the reason');
  const ps = await c.cliOk(0, ['service', 'ps', '--no-trunc', 'nowhere']);
  assert.match(ps.stdout, /no suitable node/);
  assert.match(ps.stdout, /constraint/);
});
