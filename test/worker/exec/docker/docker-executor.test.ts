// The Docker executor against the real engine: the task's spec lands on the
// container (command, env, dir, user, mounts, ports, limits, labels), unknown
// images are a clear error, logs, the stop grace period, OOM, engine errors.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DockerExecutor } from '../../../../src/worker/exec/docker/docker-executor.js';
import { connectEngine } from '../../../../src/worker/exec/docker/engine.js';
import { EngineUnavailableError, ImageNotFoundError, type LogEntry } from '../../../../src/worker/exec/executor.js';
import { LABEL_CLUSTER_ID, LABEL_NODE_ID, LABEL_SERVICE_ID, LABEL_SERVICE_NAME, LABEL_TASK_ID, LABEL_TASK_SLOT } from '../../../../src/worker/exec/docker/labels.js';
import { exitOutcome } from '../../../../src/worker/outcomes.js';
import { TaskState } from '../../../../src/api/objects.js';
import { httpText, makeTask, removeClusterContainers, removeClusterNetworks, requireEngine, shell, uniqueClusterId, waitFor } from '../../engine.js';

const engine = await requireEngine('docker-executor.test');
const skip = engine.skip;
const clusterId = uniqueClusterId('exec');
const owner = { clusterId, nodeId: 'node-1' };
const executor = new DockerExecutor({ docker: engine.docker, nodeId: owner.nodeId });
const volumeName = `${clusterId}-vol`;
const hostDir = mkdtempSync(join(tmpdir(), 'flotilla-exec-'));

after(async () => {
  if (skip) return;
  await removeClusterContainers(engine.docker, clusterId);
  await removeClusterNetworks(engine.docker, clusterId);
  await engine.docker.getVolume(volumeName).remove().catch(() => undefined);
  rmSync(hostDir, { recursive: true, force: true });
});

async function collect(it: AsyncIterable<LogEntry>): Promise<LogEntry[]> {
  const out: LogEntry[] = [];
  for await (const e of it) out.push(e);
  return out;
}

test('prepare puts the command, args, env, dir, user, mounts, limits and labels on the container', { skip }, async () => {
  writeFileSync(join(hostDir, 'in.txt'), 'from-the-host\n', { mode: 0o644 });
  chmodSync(hostDir, 0o755); // readable by the container's user (nobody)
  const task = makeTask({
    serviceName: 'api',
    slot: 3,
    command: ['sh', '-c'],
    args: ['echo "$GREETING $(id -u) $(pwd) $(cat /host/in.txt)"; ls -d /data /scratch'],
    env: ['GREETING=hello', 'EMPTY='],
    dir: '/tmp',
    user: 'nobody',
    mounts: [
      { type: 'bind', source: hostDir, target: '/host', readOnly: true },
      { type: 'volume', source: volumeName, target: '/data', readOnly: false },
      { type: 'volume', source: '', target: '/scratch', readOnly: false },
    ],
    memoryBytes: 64 * 1024 * 1024,
    nanoCpus: 0.5e9,
    reservedMemoryBytes: 32 * 1024 * 1024,
    reservedNanoCpus: 0.25e9,
    stopGracePeriodMs: 2500,
  });
  const id = await executor.prepare(task, owner);
  const info = await engine.docker.getContainer(id).inspect();
  assert.equal(info.Name, `/api.3.${task.id}`);
  assert.deepEqual(info.Config.Entrypoint, ['sh', '-c']);
  assert.equal(info.Config.Cmd.length, 1);
  assert.ok(info.Config.Env.includes('GREETING=hello'));
  assert.equal(info.Config.WorkingDir, '/tmp');
  assert.equal(info.Config.User, 'nobody');
  assert.deepEqual(
    Object.fromEntries(Object.entries(info.Config.Labels).filter(([k]) => k.startsWith('com.flotilla.'))),
    {
      [LABEL_CLUSTER_ID]: clusterId,
      [LABEL_NODE_ID]: 'node-1',
      [LABEL_SERVICE_ID]: 'svc-api',
      [LABEL_SERVICE_NAME]: 'api',
      [LABEL_TASK_ID]: task.id,
      [LABEL_TASK_SLOT]: '3',
    },
  );
  assert.equal(info.HostConfig.Memory, 64 * 1024 * 1024);
  assert.equal(info.HostConfig.NanoCpus, 0.5e9);
  assert.equal(info.HostConfig.MemoryReservation, 32 * 1024 * 1024);
  assert.equal(info.HostConfig.CpuShares, 256);
  assert.deepEqual(info.HostConfig.RestartPolicy, { Name: 'no', MaximumRetryCount: 0 });
  assert.equal((info.Config as { StopTimeout?: number }).StopTimeout, 3);

  // Prepare is idempotent per task: the same name gives back the same container.
  assert.equal(await executor.prepare(task, owner), id);

  await executor.start(id);
  const end = await executor.wait(id);
  assert.equal(end.exitCode, 0, `logs: ${JSON.stringify(await collect(executor.logs(id)))}`);
  const lines = (await collect(executor.logs(id))).map((e) => e.line);
  assert.deepEqual(lines, [`hello 65534 /tmp from-the-host`, '/data', '/scratch']);
  const mounts = (await engine.docker.getContainer(id).inspect()).Mounts;
  assert.ok(mounts.some((m) => m.Type === 'bind' && m.Destination === '/host' && m.RW === false));
  assert.ok(mounts.some((m) => m.Type === 'volume' && m.Name === volumeName && m.Destination === '/data'));
  assert.ok(mounts.some((m) => m.Type === 'volume' && m.Destination === '/scratch'));

  // The named volume outlives its container: a second task (as root) sees what the first wrote.
  const volume = { type: 'volume' as const, source: volumeName, target: '/data', readOnly: false };
  const writer = await executor.prepare(shell('echo kept > /data/f', { mounts: [volume] }), owner);
  await executor.start(writer);
  assert.equal((await executor.wait(writer)).exitCode, 0);
  await executor.remove(writer);
  const reader = await executor.prepare(shell('cat /data/f', { mounts: [volume] }), owner);
  await executor.start(reader);
  assert.equal((await executor.wait(reader)).exitCode, 0);
  assert.deepEqual((await collect(executor.logs(reader))).map((e) => e.line), ['kept']);
});

test('published ports (host and ingress) are bound on the host and answer', { skip }, async () => {
  const task = shell('mkdir -p /www && echo served > /www/index.html && exec httpd -f -p 8080 -h /www', {
    ports: [
      { protocol: 'tcp', targetPort: 8080, publishedPort: 0, publishMode: 'host' },
      { protocol: 'tcp', targetPort: 9090, publishedPort: 0, publishMode: 'ingress' },
    ],
  });
  const id = await executor.prepare(task, owner);
  await executor.start(id);
  try {
    const ports = (await engine.docker.getContainer(id).inspect()).NetworkSettings.Ports;
    const hostPort = ports['8080/tcp']?.[0]?.HostPort;
    assert.ok(hostPort, `8080/tcp not published: ${JSON.stringify(ports)}`);
    assert.ok(ports['9090/tcp']?.[0]?.HostPort, 'the ingress port is published as a host port');
    const body = await waitFor('the published port to serve', async () => (await httpText(`http://127.0.0.1:${hostPort}/index.html`)) || undefined, 15_000, 100);
    assert.equal(body.trim(), 'served');
  } finally {
    await executor.shutdown(id, 0);
  }
});

test('an image that is not present and cannot be pulled is a clear ImageNotFoundError', { skip }, async () => {
  const task = makeTask({ image: 'flotilla/no-such-image:never', command: ['true'] });
  const t0 = Date.now();
  await assert.rejects(executor.prepare(task, owner), (err: unknown) => {
    assert.ok(err instanceof ImageNotFoundError, String(err));
    assert.match(err.message, /^image not found: flotilla\/no-such-image:never is not present on this node and could not be pulled/);
    return true;
  });
  assert.ok(Date.now() - t0 < 20_000);
  const noPull = new DockerExecutor({ docker: engine.docker, pull: false });
  await assert.rejects(noPull.prepare(task, owner), /image not found: .*pulling is disabled/);
});

test('logs: stdout and stderr, tail, timestamps, follow', { skip }, async () => {
  const id = await executor.prepare(shell('echo one; echo two >&2; echo three; sleep 0.6; echo four'), owner);
  await executor.start(id);
  const ac = new AbortController();
  const followed = collect(executor.logs(id, { follow: true, signal: ac.signal }));
  await executor.wait(id);
  const all = await followed;
  assert.deepEqual(
    all.map((e) => `${e.stream}:${e.line}`).sort(),
    ['stdout:one', 'stderr:two', 'stdout:three', 'stdout:four'].sort(),
  );
  const tail = await collect(executor.logs(id, { tail: 1 }));
  assert.deepEqual(tail.map((e) => e.line), ['four']);
  const onlyErr = await collect(executor.logs(id, { stdout: false, timestamps: true }));
  assert.equal(onlyErr.length, 1);
  assert.equal(onlyErr[0].line, 'two');
  assert.match(onlyErr[0].timestamp ?? '', /^\d{4}-\d{2}-\d{2}T/);
});

test('shutdown honours the grace period: TERM, wait, then KILL', { skip }, async () => {
  // PID 1 ignores TERM: only the KILL after the grace period ends it.
  const stubborn = await executor.prepare(shell("trap '' TERM; while true; do sleep 0.1; done", { stopGracePeriodMs: 1500 }), owner);
  // Exits cleanly on TERM.
  const polite = await executor.prepare(shell("trap 'exit 0' TERM; while true; do sleep 0.1; done"), owner);
  await Promise.all([executor.start(stubborn), executor.start(polite)]);
  await new Promise((r) => setTimeout(r, 300)); // let the traps be installed
  const [a, b] = await Promise.all([
    (async () => {
      const t0 = Date.now();
      const r = await executor.shutdown(stubborn, 1500);
      return { r, took: Date.now() - t0 };
    })(),
    (async () => {
      const t0 = Date.now();
      const r = await executor.shutdown(polite, 1500);
      return { r, took: Date.now() - t0 };
    })(),
  ]);
  assert.equal(a.r.forced, true);
  assert.equal(a.r.container.exitCode, 137);
  assert.ok(a.took >= 1500, `stopped after ${a.took} ms, before the 1500 ms grace period`);
  assert.ok(a.took < 5000, `took ${a.took} ms`);
  assert.equal(b.r.forced, false);
  assert.equal(b.r.container.exitCode, 0);
  assert.ok(b.took < 1500, `a container that stops on TERM took ${b.took} ms`);
  // Shutting down a stopped container is a no-op.
  assert.equal((await executor.shutdown(polite, 1500)).forced, false);
});

test('exit codes, an OOM kill and a kill from outside come back from wait, with a message a person can act on', { skip }, async () => {
  const failing = await executor.prepare(shell('exit 3'), owner);
  const hog = await executor.prepare(shell('a=xxxxxxxxxxxxxxxx; while true; do a=$a$a; done', { memoryBytes: 8 * 1024 * 1024 }), owner);
  const victim = await executor.prepare(shell('sleep 30', { memoryBytes: 64 * 1024 * 1024 }), owner);
  await Promise.all([executor.start(failing), executor.start(hog), executor.start(victim)]);
  const killed = executor.wait(victim);
  await engine.docker.getContainer(victim).kill();
  const [f, h, k] = await Promise.all([executor.wait(failing), executor.wait(hog), killed]);
  assert.equal(f.exitCode, 3);
  assert.equal(f.running, false);
  assert.deepEqual(exitOutcome(f), { state: TaskState.FAILED, message: 'exited with non-zero code 3', err: 'exited with non-zero code 3', exitCode: 3 });
  // The engine's OOMKilled flag, or (when the engine missed the OOM) the inference from its events.
  assert.ok(h.oomKilled || h.oomSuspected, `not seen as OOM: ${JSON.stringify(h)}`);
  assert.equal(h.exitCode, 137);
  assert.equal(h.memoryLimitBytes, 8 * 1024 * 1024);
  assert.match(exitOutcome(h).message, /^out of memory.*memory limit of 8 MiB/);
  // SIGKILL through the engine, memory limit or not, is not an OOM.
  assert.equal(k.exitCode, 137);
  assert.equal(k.oomKilled || k.oomSuspected, false);
  assert.match(exitOutcome(k).message, /^exited with code 137 \(killed by SIGKILL\)/);
});

test('remove deletes the container; inspect and remove of a missing container are not errors', { skip }, async () => {
  const id = await executor.prepare(shell('sleep 30'), owner);
  await executor.start(id);
  await executor.remove(id);
  assert.equal(await executor.inspect(id), undefined);
  await executor.remove(id);
  await assert.rejects(executor.health(id), /does not exist/);
});

test('an engine network whose cluster network is gone is removed once its last container is (a stack rm stops its tasks after its networks go)', { skip }, async () => {
  const networkId = `prune-${clusterId.slice(-10)}`;
  const engineNetworks = async (): Promise<string[]> =>
    (await engine.docker.listNetworks({ filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } })).map((n) => n.Name).filter((n) => n.endsWith(networkId));
  const task = shell('sleep 30');
  task.spec.networks = [networkId];
  const id = await executor.prepare(task, owner);
  await executor.start(id);
  assert.equal((await engineNetworks()).length, 1);
  await executor.pruneNetworks(clusterId, new Set([networkId]));
  assert.equal((await engineNetworks()).length, 1, 'a network the cluster still has stays');
  await executor.pruneNetworks(clusterId, new Set());
  assert.equal((await engineNetworks()).length, 1, 'in use: the engine refuses its removal');
  const other = await executor.prepare(shell('true'), owner);
  await executor.remove(other);
  assert.equal((await engineNetworks()).length, 1, 'still in use after another container went');
  await executor.remove(id);
  await waitFor('the stranded network to go', async () => (await engineNetworks()).length === 0 || undefined);
});

test('list finds the containers of an owner only', { skip }, async () => {
  const mine = await executor.prepare(shell('true'), owner);
  const other = await executor.prepare(shell('true', { nodeId: 'node-2' }), { clusterId, nodeId: 'node-2' });
  const listed = (await executor.list(owner)).map((c) => c.id);
  assert.ok(listed.includes(mine));
  assert.ok(!listed.includes(other));
  await executor.remove(other);
});

test('describe reports the engine: cpus, memory, version, platform, labels, hostname', { skip }, async () => {
  const d = await new DockerExecutor({ docker: engine.docker, hostname: 'worker-7' }).describe();
  assert.equal(d.hostname, 'worker-7');
  assert.ok(d.cpus >= 1);
  assert.ok(d.memoryBytes > 64 * 1024 * 1024);
  assert.match(d.engineVersion, /^\d+\.\d+/);
  assert.equal(d.platform.os, 'linux');
  assert.ok(d.platform.arch.length > 0);
  assert.equal(typeof d.engineLabels, 'object');
});

test('an engine that does not answer is an EngineUnavailableError naming the endpoint', async () => {
  const dead = new DockerExecutor({ docker: connectEngine({ socketPath: '/nonexistent/docker.sock' }) });
  await assert.rejects(dead.inspect('abc'), (err: unknown) => {
    assert.ok(err instanceof EngineUnavailableError, String(err));
    assert.match(err.message, /unix:\/\/\/nonexistent\/docker.sock is not reachable/);
    return true;
  });
  await assert.rejects(dead.prepare(makeTask(), owner), EngineUnavailableError);
});
