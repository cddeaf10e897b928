// Shared by the worker tests that need a real Docker engine: decides whether
// they run (engine reachable and the offline test image present), skip with a
// loud notice, or, under CI=true, fail. Also builds tasks and cleans up
// containers by cluster label, so each test file (and test) stays in its lane.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { get as httpGet } from 'node:http';
import type Docker from 'dockerode';
import { TaskState, type HealthCheck, type Mount, type PortConfig, type Task, type TaskStatus } from '../../src/api/objects.js';
import { connectEngine, pingEngine } from '../../src/worker/exec/docker/engine.js';
import { LABEL_CLUSTER_ID } from '../../src/worker/exec/docker/labels.js';
import type { StatusUpdate } from '../../src/worker/status-batcher.js';

export const TEST_IMAGE = process.env.FLOTILLA_TEST_IMAGE ?? 'flotilla/busybox:test';

export interface Engine {
  docker: Docker;
  /** A reason to skip, or false to run. */
  skip: string | false;
}

/**
 * Call once per test file, at top level. When the engine or the image is
 * missing: prints a loud notice and returns skip; under CI=true also registers
 * a failing test, so the suite cannot pass without the engine.
 */
export async function requireEngine(file: string): Promise<Engine> {
  const docker = connectEngine();
  const ping = await pingEngine(docker, 3000);
  let reason: string | undefined;
  if (!ping.ok) {
    reason = `no Docker engine reachable (${ping.reason}); run scripts/setup-machine.sh (as root) to install and start one`;
  } else {
    try {
      await docker.getImage(TEST_IMAGE).inspect();
    } catch {
      reason = `the Docker engine answers but the test image ${TEST_IMAGE} is missing; run scripts/setup-machine.sh to build it offline`;
    }
  }
  if (reason === undefined) return { docker, skip: false };
  if (process.env.CI === 'true') {
    test(`${file}: a Docker engine is required under CI=true`, () => assert.fail(reason));
  } else {
    process.stderr.write(`\n!!! SKIPPED: ${file}: ${reason}\n\n`);
  }
  return { docker, skip: reason };
}

/** A cluster id unique to this file and process: the label all its containers carry. */
/** `docker exec` in a container (as `user`, if given): stdout and stderr together (the engine's frames undone), and the exit code. */
export async function execIn(docker: Docker, containerId: string, cmd: string[], user = ''): Promise<{ out: string; code: number }> {
  const e = await docker.getContainer(containerId).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, ...(user ? { User: user } : {}) });
  const stream = await e.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  await new Promise<void>((resolve) => {
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('end', () => resolve());
    setTimeout(resolve, 10_000);
  });
  // The engine multiplexes stdout and stderr: an 8-byte frame header before each chunk.
  const raw = Buffer.concat(chunks);
  let out = '';
  for (let i = 0; i + 8 <= raw.length; ) {
    const len = raw.readUInt32BE(i + 4);
    out += raw.subarray(i + 8, i + 8 + len).toString('utf8');
    i += 8 + len;
  }
  const { ExitCode } = await e.inspect();
  return { out, code: ExitCode ?? -1 };
}

export function uniqueClusterId(name: string): string {
  return `t-${name}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

/** Removes every container labelled with `clusterId` (and their anonymous volumes). */
export async function removeClusterContainers(docker: Docker, clusterId: string): Promise<number> {
  const found = await docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } });
  await Promise.all(
    found.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => undefined),
    ),
  );
  return found.length;
}

/**
 * Removes the engine networks a cluster's nodes made for its networks (bridges labelled with `clusterId`):
 * left behind, they use up the engine's address pools, and one may overlap the container cluster's fixed subnet.
 */
export async function removeClusterNetworks(docker: Docker, clusterId: string): Promise<number> {
  const found = await docker.listNetworks({ filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } });
  await Promise.all(found.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)));
  return found.length;
}

export async function clusterContainers(docker: Docker, clusterId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_CLUSTER_ID}=${clusterId}`] } });
}

export interface TaskOptions {
  nodeId?: string;
  serviceName?: string;
  slot?: number;
  image?: string;
  command?: string[];
  args?: string[];
  env?: string[];
  dir?: string;
  user?: string;
  mounts?: Mount[];
  healthcheck?: HealthCheck;
  stopGracePeriodMs?: number;
  memoryBytes?: number;
  nanoCpus?: number;
  reservedMemoryBytes?: number;
  reservedNanoCpus?: number;
  ports?: PortConfig[];
  desiredState?: TaskState;
  status?: Partial<TaskStatus>;
}

let seq = 0;

/** A task as the dispatcher would hand it to this node (ASSIGNED, desired RUNNING). */
export function makeTask(o: TaskOptions = {}): Task {
  seq++;
  const id = `task${process.pid}x${seq}${randomBytes(2).toString('hex')}`;
  return {
    id,
    version: 1,
    createdAt: 0,
    updatedAt: 0,
    serviceId: `svc-${o.serviceName ?? 'web'}`,
    slot: o.slot ?? seq,
    nodeId: o.nodeId ?? 'node-1',
    desiredState: o.desiredState ?? TaskState.RUNNING,
    status: { state: TaskState.ASSIGNED, message: 'assigned', err: '', timestamp: 0, containerId: '', exitCode: 0, health: 'none', ...o.status },
    specVersion: 1,
    spec: {
      container: {
        image: o.image ?? TEST_IMAGE,
        command: o.command ?? [],
        args: o.args ?? [],
        env: o.env ?? [],
        dir: o.dir ?? '',
        user: o.user ?? '',
        mounts: o.mounts ?? [],
        ...(o.healthcheck ? { healthcheck: o.healthcheck } : {}),
        stopGracePeriodMs: o.stopGracePeriodMs ?? 500,
      },
      resources: {
        limits: { nanoCpus: o.nanoCpus ?? 0, memoryBytes: o.memoryBytes ?? 0 },
        reservations: { nanoCpus: o.reservedNanoCpus ?? 0, memoryBytes: o.reservedMemoryBytes ?? 0 },
      },
      restartPolicy: { condition: 'none', delayMs: 0, maxAttempts: 0, windowMs: 0, maxDelayMs: 300_000 },
      placement: { constraints: [], preferences: [] },
      forceUpdate: 0,
    },
    serviceAnnotations: { name: o.serviceName ?? 'web' },
    endpoint: { ports: o.ports ?? [] },
    updateFailure: false,
  };
}

/** `sh -c script` as a task's command. */
export function shell(script: string, o: TaskOptions = {}): Task {
  return makeTask({ ...o, command: ['sh', '-c', script] });
}

/** Polls `probe` until it returns something other than undefined/false, or fails after `timeoutMs`. */
export async function waitFor<T>(what: string, probe: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 10_000, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/**
 * One HTTP GET that always settles: the body, or '' on any error, reset or
 * `timeoutMs` of silence. A held (ref'd) timer guards it, because a probe of a
 * port that docker-proxy accepts before the container listens can leave
 * fetch's promise pending with nothing keeping the event loop alive, which
 * ends the test file mid-test (seen in CI).
 */
export function httpText(url: string, timeoutMs = 2_000): Promise<string> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (body: string): void => {
      if (done) return;
      done = true;
      clearTimeout(guard);
      req.destroy();
      resolve(body);
    };
    const guard = setTimeout(() => finish(''), timeoutMs);
    const req = httpGet(url, { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => finish(res.statusCode === 200 ? body : ''));
      res.on('error', () => finish(''));
      res.on('close', () => finish(''));
    });
    req.on('error', () => finish(''));
  });
}

/** A reporter that keeps every update, for assertions. */
export class Collector {
  readonly batches: StatusUpdate[][] = [];
  readonly reporter = async (updates: StatusUpdate[]): Promise<void> => {
    this.batches.push(updates.map((u) => ({ taskId: u.taskId, status: { ...u.status } })));
  };

  updates(taskId: string): TaskStatus[] {
    return this.batches.flat().filter((u) => u.taskId === taskId).map((u) => u.status);
  }

  states(taskId: string): TaskState[] {
    return this.updates(taskId).map((s) => s.state);
  }

  last(taskId: string): TaskStatus | undefined {
    const u = this.updates(taskId);
    return u[u.length - 1];
  }

  /** Waits until the task has reported a state >= `state`; returns that status. */
  reached(taskId: string, state: TaskState, timeoutMs = 10_000): Promise<TaskStatus> {
    return waitFor(`task ${taskId} to reach state ${state}`, () => this.updates(taskId).find((s) => s.state >= state), timeoutMs);
  }
}

/** States only move forward. */
export function assertMonotonic(states: TaskState[]): void {
  for (let i = 1; i < states.length; i++) assert.ok(states[i] >= states[i - 1], `state went backwards: ${states.join(' -> ')}`);
}
