// The pure translations of the worker, no engine: task -> container-create
// body, engine log frames -> lines, container end -> task status, engine
// info -> node description, dockerode errors -> typed errors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TaskState } from '../../../../src/api/objects.js';
import { cpuShares, toCreateOptions } from '../../../../src/worker/exec/docker/container-spec.js';
import { toExecutorError } from '../../../../src/worker/exec/docker/docker-errors.js';
import { LogDemuxer } from '../../../../src/worker/exec/docker/docker-logs.js';
import { ContainerNotFoundError, EngineError, EngineUnavailableError, InvalidSpecError, type ContainerObservation } from '../../../../src/worker/exec/executor.js';
import { containerName } from '../../../../src/worker/exec/docker/labels.js';
import { describeNode } from '../../../../src/worker/exec/docker/node-description.js';
import { exitOutcome, formatBytes, shutdownOutcome, signalOfExitCode } from '../../../../src/worker/outcomes.js';
import { makeTask } from '../../engine.js';

const owner = { clusterId: 'c1', nodeId: 'n1' };

test('the create body: command -> Entrypoint, args -> Cmd, empty keeps the image defaults', () => {
  const both = toCreateOptions(makeTask({ command: ['/bin/app'], args: ['--port', '80'] }), owner);
  assert.deepEqual(both.Entrypoint, ['/bin/app']);
  assert.deepEqual(both.Cmd, ['--port', '80']);
  const neither = toCreateOptions(makeTask(), owner);
  assert.equal('Entrypoint' in neither, false);
  assert.equal('Cmd' in neither, false);
  assert.equal('WorkingDir' in neither, false);
  assert.equal('User' in neither, false);
  assert.equal('Healthcheck' in neither, false, "no healthcheck in the task: the image's applies");
});

test('the create body: health check in nanoseconds; [] inherits, NONE disables', () => {
  const hc = toCreateOptions(makeTask({ healthcheck: { test: ['CMD', 'true'], intervalMs: 300, timeoutMs: 1000, retries: 2, startPeriodMs: 50 } }), owner);
  assert.deepEqual(hc.Healthcheck, { Test: ['CMD', 'true'], Interval: 300_000_000, Timeout: 1_000_000_000, Retries: 2, StartPeriod: 50_000_000 });
  const inherit = toCreateOptions(makeTask({ healthcheck: { test: [], intervalMs: 500, timeoutMs: 0, retries: 0, startPeriodMs: 0 } }), owner);
  assert.deepEqual(inherit.Healthcheck?.Test, []);
  const none = toCreateOptions(makeTask({ healthcheck: { test: ['NONE'], intervalMs: 0, timeoutMs: 0, retries: 0, startPeriodMs: 0 } }), owner);
  assert.deepEqual(none.Healthcheck?.Test, ['NONE']);
});

test('the create body: ports (host and ingress alike), limits, reservations, restart policy', () => {
  const o = toCreateOptions(
    makeTask({
      ports: [
        { protocol: 'tcp', targetPort: 80, publishedPort: 8080, publishMode: 'host' },
        { protocol: 'udp', targetPort: 53, publishedPort: 0, publishMode: 'ingress' },
      ],
      memoryBytes: 1 << 26,
      nanoCpus: 1.5e9,
      reservedMemoryBytes: 1 << 25,
      reservedNanoCpus: 0.5e9,
      stopGracePeriodMs: 1500,
    }),
    owner,
  );
  assert.deepEqual(o.ExposedPorts, { '80/tcp': {}, '53/udp': {} });
  assert.deepEqual(o.HostConfig?.PortBindings, { '80/tcp': [{ HostIp: '', HostPort: '8080' }], '53/udp': [{ HostIp: '', HostPort: '' }] });
  assert.equal(o.HostConfig?.Memory, 1 << 26);
  assert.equal(o.HostConfig?.NanoCpus, 1.5e9);
  assert.equal(o.HostConfig?.MemoryReservation, 1 << 25);
  assert.equal(o.HostConfig?.CpuShares, 512);
  assert.deepEqual(o.HostConfig?.RestartPolicy, { Name: 'no' });
  assert.equal(o.StopTimeout, 2);
  assert.equal(cpuShares(0), 0);
  assert.equal(cpuShares(1), 2);
  assert.equal(cpuShares(1e9), 1024);
});

test('the create body: mounts; bad input is an InvalidSpecError', () => {
  const o = toCreateOptions(
    makeTask({
      mounts: [
        { type: 'bind', source: '/srv', target: '/data', readOnly: true },
        { type: 'volume', source: '', target: '/cache', readOnly: false },
      ],
    }),
    owner,
  );
  assert.deepEqual(o.HostConfig?.Mounts, [
    { Type: 'bind', Source: '/srv', Target: '/data', ReadOnly: true },
    { Type: 'volume', Source: '', Target: '/cache', ReadOnly: false },
  ]);
  assert.throws(() => toCreateOptions(makeTask({ mounts: [{ type: 'bind', source: 'rel', target: '/x', readOnly: false }] }), owner), InvalidSpecError);
  assert.throws(() => toCreateOptions(makeTask({ image: '' }), owner), /invalid container spec: no image/);
});

test('the create body: secret and config files are read-only binds after the task\'s mounts; their data is nowhere in it', () => {
  const t = makeTask({ env: ['A=1'], mounts: [{ type: 'volume', source: 'v', target: '/data', readOnly: false }] });
  const task = { ...t, spec: { ...t.spec, container: { ...t.spec.container, secrets: [{ id: 'sec1', name: 'pw', target: 'pw', uid: '0', gid: '0', mode: 0o444 }] } } };
  const binds = [{ Type: 'bind' as const, Source: '/dev/shm/flotilla/n1/t1.00/0', Target: '/run/secrets/pw', ReadOnly: true }];
  const body = toCreateOptions(task, owner, undefined, [], binds);
  assert.deepEqual(body.HostConfig?.Mounts, [{ Type: 'volume', Source: 'v', Target: '/data', ReadOnly: false }, ...binds]);
  assert.deepEqual(body.Env, ['A=1']);
  assert.deepEqual(body.Labels, toCreateOptions(t, owner).Labels);
});

test("the create body: on a network, the image's ports are published for the virtual IP; a dnsrr task has none to publish them for", () => {
  const plane = { dataAddr: '10.0.0.5', dnsServer: '10.240.1.1', networkName: (id: string) => `flt-${id}` };
  const host = { protocol: 'tcp' as const, targetPort: 5432, publishedPort: 5432, publishMode: 'host' as const };
  const t = makeTask({ ports: [host] });
  const vip = { ...t, spec: { ...t.spec, networks: ['net1'] } };
  assert.deepEqual(toCreateOptions(vip, owner, plane, ['8080/tcp']).HostConfig?.PortBindings, {
    '5432/tcp': [{ HostIp: '', HostPort: '5432' }],
    '8080/tcp': [{ HostIp: '10.0.0.5', HostPort: '' }],
  });
  const rr = { ...vip, endpoint: { mode: 'dnsrr' as const, ports: [host] } };
  const body = toCreateOptions(rr, owner, plane, ['8080/tcp']);
  assert.deepEqual(body.HostConfig?.PortBindings, { '5432/tcp': [{ HostIp: '', HostPort: '5432' }] }, 'its host-mode port only');
  assert.deepEqual(body.ExposedPorts, { '5432/tcp': {} });
  assert.deepEqual(body.HostConfig?.Dns, ['10.240.1.1'], 'the node\'s DNS server answers its name');
});

test("the create body: the service's container labels, with flotilla's own winning a clash", () => {
  const t = makeTask();
  const own = toCreateOptions(t, owner).Labels ?? {};
  const clash = Object.keys(own)[0];
  const task = { ...t, spec: { ...t.spec, container: { ...t.spec.container, labels: { 'com.example.tier': 'db', [clash]: 'forged' } } } };
  const labels = toCreateOptions(task, owner).Labels ?? {};
  assert.equal(labels['com.example.tier'], 'db');
  assert.equal(labels[clash], own[clash]);
  assert.deepEqual(Object.keys(labels).sort(), [...Object.keys(own), 'com.example.tier'].sort());
});

test("the create body: the spec's exposed ports join the image's on the data address, for a task on a cluster network only", () => {
  const t = makeTask();
  const plane = { dataAddr: '127.0.0.9', dnsServer: '', networkName: (n: string) => `flotilla-${n}` };
  const onNet = { ...t, spec: { ...t.spec, networks: ['n1'], container: { ...t.spec.container, expose: ['6379/tcp', '53/udp'] } } };
  const body = toCreateOptions(onNet, owner, plane, ['80/tcp']);
  assert.deepEqual(Object.keys(body.ExposedPorts ?? {}).sort(), ['53/udp', '6379/tcp', '80/tcp']);
  assert.deepEqual(body.HostConfig?.PortBindings?.['6379/tcp'], [{ HostIp: '127.0.0.9', HostPort: '' }]);
  assert.deepEqual(body.HostConfig?.PortBindings?.['53/udp'], [{ HostIp: '127.0.0.9', HostPort: '' }]);
  // Without a cluster network there is no virtual IP to serve them: nothing is bound.
  const alone = { ...onNet, spec: { ...onNet.spec, networks: [] } };
  assert.deepEqual(toCreateOptions(alone, owner, plane, ['80/tcp']).HostConfig?.PortBindings ?? {}, {});
});

test('container names: <service>.<slot>.<task>, node id for a global task, unsafe characters replaced', () => {
  const t = makeTask({ serviceName: 'web', slot: 2 });
  assert.equal(containerName(t), `web.2.${t.id}`);
  const g = makeTask({ serviceName: 'agent', slot: 0, nodeId: 'n9' });
  assert.equal(containerName(g), `agent.n9.${g.id}`);
  const odd = makeTask({ serviceName: '_my svc', slot: 1 });
  assert.equal(containerName(odd), `t_my-svc.1.${odd.id}`);
});

function frame(stream: 1 | 2, text: string): Buffer {
  const payload = Buffer.from(text);
  const h = Buffer.alloc(8);
  h[0] = stream;
  h.writeUInt32BE(payload.length, 4);
  return Buffer.concat([h, payload]);
}

test('log frames split into lines per stream, across chunk boundaries, with timestamps', () => {
  const d = new LogDemuxer(false);
  const all = Buffer.concat([frame(1, 'hel'), frame(2, 'oops\n'), frame(1, 'lo\nwor'), frame(1, 'ld')]);
  const out = [...d.push(all.subarray(0, 5)), ...d.push(all.subarray(5, 20)), ...d.push(all.subarray(20)), ...d.end()];
  assert.deepEqual(out, [
    { stream: 'stderr', line: 'oops' },
    { stream: 'stdout', line: 'hello' },
    { stream: 'stdout', line: 'world' },
  ]);
  const ts = new LogDemuxer(true);
  assert.deepEqual(ts.push(frame(1, '2024-01-02T03:04:05.123456789Z hi there\n')), [{ stream: 'stdout', line: 'hi there', timestamp: '2024-01-02T03:04:05.123456789Z' }]);
  const raw = new LogDemuxer(false);
  assert.deepEqual([...raw.push(Buffer.from('tty text\nmore')), ...raw.end()], [
    { stream: 'stdout', line: 'tty text' },
    { stream: 'stdout', line: 'more' },
  ]);
});

const ended: ContainerObservation = {
  id: 'c'.repeat(64),
  name: 'x',
  labels: {},
  taskId: 't',
  status: 'exited',
  running: false,
  exitCode: 0,
  oomKilled: false,
  oomSuspected: false,
  error: '',
  health: 'none',
  healthOutput: '',
  failingStreak: 0,
  memoryLimitBytes: 0,
  stopGracePeriodMs: 10_000,
  startedAt: 1,
  finishedAt: 2,
};

test('how a container ended reads as a task status', () => {
  assert.deepEqual(exitOutcome(ended), { state: TaskState.COMPLETE, message: 'finished (exit code 0)', err: '', exitCode: 0 });
  assert.equal(exitOutcome({ ...ended, exitCode: 1 }).message, 'exited with non-zero code 1');
  assert.match(exitOutcome({ ...ended, exitCode: 143 }).message, /killed by SIGTERM/);
  assert.match(exitOutcome({ ...ended, exitCode: 137, oomKilled: true, memoryLimitBytes: 64 << 20 }).message, /^out of memory: .*limit of 64 MiB/);
  assert.match(exitOutcome({ ...ended, exitCode: 137, oomSuspected: true, memoryLimitBytes: 8 << 20 }).message, /^out of memory \(most likely\): .*8 MiB/);
  assert.match(exitOutcome({ ...ended, exitCode: 127, error: 'exec: "nope": executable file not found in $PATH' }).message, /^the engine could not run the container: exec: "nope"/);
  const forced = shutdownOutcome({ container: { ...ended, exitCode: 137 }, forced: true }, 1500);
  assert.deepEqual(forced, { state: TaskState.SHUTDOWN, message: 'shut down: did not stop within its 1500 ms grace period, killed with SIGKILL (exit code 137)', err: '', exitCode: 137 });
  assert.equal(signalOfExitCode(137), 'SIGKILL');
  assert.equal(signalOfExitCode(3), undefined);
  assert.equal(formatBytes(1536), '1.5 KiB');
});

test('node description from the engine info', () => {
  const d = describeNode({ NCPU: 8, MemTotal: 16e9, ServerVersion: '20.10.24', OSType: 'linux', Architecture: 'x86_64', Labels: ['zone=a', 'ssd'] }, 'h1');
  assert.deepEqual(d, { hostname: 'h1', cpus: 8, memoryBytes: 16e9, engineVersion: '20.10.24', platform: { os: 'linux', arch: 'x86_64' }, engineLabels: { zone: 'a', ssd: '' } });
  assert.deepEqual(describeNode({}, 'h2').platform, { os: 'linux', arch: 'unknown' });
});

test('dockerode errors become typed errors that keep the engine message', () => {
  const http = Object.assign(new Error('(HTTP code 400) bad parameter - invalid mount config: bind source path does not exist: /nope '), {
    statusCode: 400,
    json: { message: 'invalid mount config for type "bind": bind source path does not exist: /nope' },
  });
  const e = toExecutorError(http, 'create the container', 'unix:///var/run/docker.sock');
  assert.ok(e instanceof EngineError);
  assert.equal(e.message, 'docker engine error while trying to create the container: invalid mount config for type "bind": bind source path does not exist: /nope');
  const gone = toExecutorError(Object.assign(new Error('x'), { statusCode: 404 }), 'start', 'e', 'abc');
  assert.ok(gone instanceof ContainerNotFoundError);
  const down = toExecutorError(Object.assign(new Error('connect ECONNREFUSED /var/run/docker.sock'), { code: 'ECONNREFUSED' }), 'list', 'unix:///var/run/docker.sock');
  assert.ok(down instanceof EngineUnavailableError);
  assert.match(down.message, /^the Docker engine at unix:\/\/\/var\/run\/docker.sock is not reachable: connect ECONNREFUSED/);
});
